-- shmkv.lua: LuaJIT FFI binding of shmkv's C API (include/shmkv/shmkv.h).
--
--   local shmkv = require "shmkv"          -- LUA_PATH must reach this file
--   local kv = shmkv.open("loadtest")      -- or shmkv.open(name, {size_bytes = ..., ...})
--   local kv = shmkv.open("lt", {url = "redis://10.0.0.5:6379"})  -- a store on a Redis server
--   kv:set("k", "v")                      -- keys and values are Lua strings (any bytes)
--   local n = kv:incr("requests")
--   local value, loaded = kv:get_or_set("order:42", "me")
--   local token = kv:pop_random("token:")
--   local page, cursor, done = kv:scan_keys("user:", 100, nil, "user:m", "user:t")
--
-- The library is loaded from $SHMKV_LIBRARY (a path to libshmkv.so), else as "shmkv" from the
-- dynamic loader's path. Works in wrk scripts (wrk embeds LuaJIT): open one handle per wrk
-- thread, in init().
--
-- Errors are raised as strings "shmkv.<name>(<code>): <message>", e.g.
-- "shmkv.key_too_long(-2): key is 300 bytes; max_key_bytes is 64" (strings, so that wrk and
-- other hosts print them); shmkv.error_code(err) returns code, name from such a string. Wrong
-- argument types are reported as shmkv.invalid_argument(-1) with Lua's "bad argument" wording.
-- TTLs are seconds (numbers, fractions allowed); 0 or nil means no expiry.
-- Ranges: list, list_keys, scan, scan_keys, count and delete_range take prefix, from and to
-- (nil or "" = no such bound) and select the keys with the prefix that are >= from and < to; a
-- non-empty to below from raises shmkv.invalid_argument naming both.
local ffi = require "ffi"

local M = {}

local ok_cdef, cdef_err = pcall(ffi.cdef, [[
typedef struct shmkv_store shmkv_store;
typedef struct shmkv_options {
  int32_t open_mode; uint32_t shards; uint64_t size_bytes; uint32_t max_key_bytes;
  uint32_t max_value_bytes; uint64_t max_keys; uint32_t mode; uint32_t home_block_bytes;
  int64_t trusted_group; const char* persistence_directory; int32_t fsync_policy;
  uint32_t keep_snapshots; int64_t snapshot_interval_ms; int64_t fsync_interval_ms;
  const char* url; int64_t connect_timeout_ms; int64_t command_timeout_ms;
} shmkv_options;
typedef struct shmkv_recovery_report {
  int32_t performed; uint32_t reserved; uint64_t snapshot_seq; uint64_t snapshot_entries;
  uint64_t journal_files; uint64_t records_applied; uint64_t records_skipped;
  uint64_t truncated_bytes; uint64_t skipped_bytes; uint64_t entries; uint64_t next_seq;
  uint64_t duration_us;
} shmkv_recovery_report;
typedef struct shmkv_info {
  char name[208]; uint32_t layout_version; uint32_t shards; uint64_t layout_fingerprint;
  uint64_t created_unix_ms; uint64_t size_bytes; uint32_t max_key_bytes; uint32_t max_value_bytes;
  uint64_t max_keys; uint64_t arena_bytes; uint64_t arena_used_bytes; uint64_t live_keys;
  uint64_t processes; uint64_t recoveries; uint32_t home_block_bytes; uint32_t pad;
  uint64_t home_records; char engine[16]; uint32_t coordination_capacity;
  uint32_t coordination_used; uint64_t coordination_last_token; uint32_t coordination_waiters;
  uint32_t pad2; uint64_t coordination_recoveries;
} shmkv_info;
typedef struct shmkv_grant_info {
  char kind[16]; char name_head[8]; uint32_t name_head_len; uint32_t name_bytes; uint64_t token;
  int32_t holder_pid; int32_t holder_alive; int64_t lease_left_ms;
} shmkv_grant_info;
int shmkv_info_grants(shmkv_store*, shmkv_grant_info* arr, size_t cap, size_t* count);
typedef struct shmkv_stats {
  uint64_t gets, hits, misses, sets, deletes, cas_success, cas_failure, lock_waits, recoveries;
} shmkv_stats;
const char* shmkv_errname(int code);
const char* shmkv_strerror(int code);
const char* shmkv_last_error(void);
int shmkv_last_error_code(void);
const char* shmkv_version(void);
void shmkv_free(void* p);
void shmkv_options_init(shmkv_options* options);
int shmkv_open(const char* name, const shmkv_options* options, size_t options_size,
               shmkv_store** out);
void shmkv_close(shmkv_store* store);
int shmkv_open_url(const char* url, const char* name, const shmkv_options* options,
                   size_t options_size, shmkv_store** out);
int shmkv_destroy_url(const char* url, const char* name);
int shmkv_segment_exists_url(const char* url, const char* name);
int shmkv_get(shmkv_store*, const void* key, size_t key_len, void* buf, size_t cap, size_t* len);
int shmkv_set(shmkv_store*, const void* key, size_t key_len, const void* value, size_t value_len,
              int64_t ttl_ms);
int shmkv_set_if_absent(shmkv_store*, const void* key, size_t key_len, const void* value,
                        size_t value_len, int64_t ttl_ms);
int shmkv_exists(shmkv_store*, const void* key, size_t key_len);
int shmkv_delete(shmkv_store*, const void* key, size_t key_len);
int shmkv_incr(shmkv_store*, const void* key, size_t key_len, int64_t delta, int64_t* result);
int shmkv_get_or_set_ttl(shmkv_store*, const void* key, size_t key_len, const void* value,
                         size_t value_len, int64_t ttl_ms, void* buf, size_t cap, size_t* len);
int shmkv_swap_ttl(shmkv_store*, const void* key, size_t key_len, const void* value,
                   size_t value_len, int64_t ttl_ms, void** previous, size_t* previous_len);
int shmkv_cas_ttl(shmkv_store*, const void* key, size_t key_len, const void* expected,
                  size_t expected_len, const void* value, size_t value_len, int64_t ttl_ms);
int shmkv_cas_detailed(shmkv_store*, const void* key, size_t key_len, const void* expected,
                       size_t expected_len, const void* value, size_t value_len, int64_t ttl_ms,
                       void* buf, size_t cap, size_t* len, int* present);
int shmkv_cad(shmkv_store*, const void* key, size_t key_len, const void* expected,
              size_t expected_len);
int shmkv_expire(shmkv_store*, const void* key, size_t key_len, int64_t ttl_ms);
int shmkv_ttl(shmkv_store*, const void* key, size_t key_len, int64_t* ttl_ms);
typedef struct shmkv_range {
  const void* prefix; size_t prefix_len; const void* from; size_t from_len; const void* to;
  size_t to_len;
} shmkv_range;
int shmkv_scan_buf_range(shmkv_store*, const shmkv_range* range, const void* cursor,
                         size_t cursor_len, size_t limit, void* buf, size_t cap, size_t* used,
                         size_t* count, int* done);
int shmkv_scan_keys_buf(shmkv_store*, const shmkv_range* range, const void* cursor,
                        size_t cursor_len, size_t limit, void* buf, size_t cap, size_t* used,
                        size_t* count, int* done);
int shmkv_count_range(shmkv_store*, const shmkv_range* range, uint64_t* count);
int shmkv_delete_prefix(shmkv_store*, const void* prefix, size_t prefix_len, size_t limit,
                        uint64_t* deleted, int* done);
int shmkv_delete_range(shmkv_store*, const shmkv_range* range, size_t limit, uint64_t* deleted,
                       int* done);
int shmkv_clear(shmkv_store*);
int shmkv_random_key(shmkv_store*, const void* prefix, size_t prefix_len, void* buf, size_t cap,
                     size_t* len);
int shmkv_pop_random(shmkv_store*, const void* prefix, size_t prefix_len, void** key,
                     size_t* key_len, void** value, size_t* value_len);
int shmkv_pop_random_many(shmkv_store*, const void* prefix, size_t prefix_len, size_t n,
                          void** entries, size_t* entries_len);
int shmkv_claim(shmkv_store*, const void* key, size_t key_len, int64_t lease_ms, void** value,
                size_t* value_len, uint64_t* token);
int shmkv_claim_random(shmkv_store*, const void* prefix, size_t prefix_len, int64_t lease_ms,
                       void** key, size_t* key_len, void** value, size_t* value_len,
                       uint64_t* token);
int shmkv_renew(shmkv_store*, const void* key, size_t key_len, uint64_t token, int64_t lease_ms);
int shmkv_release(shmkv_store*, const void* key, size_t key_len, uint64_t token);
int shmkv_complete(shmkv_store*, const void* key, size_t key_len, uint64_t token);
int shmkv_lock(shmkv_store*, const void* name, size_t name_len, int64_t lease_ms, int64_t wait_ms,
               uint64_t* token);
int shmkv_unlock(shmkv_store*, const void* name, size_t name_len, uint64_t token);
int shmkv_acquire(shmkv_store*, const void* name, size_t name_len, uint32_t permits,
                  int64_t wait_ms, uint64_t* token);
int shmkv_release_permit(shmkv_store*, const void* name, size_t name_len, uint64_t token);
int shmkv_wait_for(shmkv_store*, const void* key, size_t key_len, int64_t timeout_ms);
int shmkv_pop_random_wait(shmkv_store*, const void* prefix, size_t prefix_len, int64_t timeout_ms,
                          void** key, size_t* key_len, void** value, size_t* value_len);
int shmkv_barrier(shmkv_store*, const void* name, size_t name_len, uint32_t parties,
                  int64_t timeout_ms, uint32_t* index);
int shmkv_info_get(shmkv_store*, shmkv_info* info, size_t info_size);
int shmkv_stats_get(shmkv_store*, shmkv_stats* stats, size_t stats_size);
int shmkv_size(shmkv_store*, uint64_t* count);
int shmkv_backup(shmkv_store*, const char* path, uint64_t* entries, uint64_t* bytes);
int shmkv_restore(shmkv_store*, const char* path, uint64_t max_entries, uint64_t max_bytes,
                  uint64_t* entries, uint64_t* bytes);
int shmkv_get_many(shmkv_store*, const void* const* keys, const size_t* key_lens, size_t n,
                   void** values, size_t* values_len, size_t* found);
int shmkv_set_many(shmkv_store*, const void* const* keys, const size_t* key_lens,
                   const void* const* values, const size_t* value_lens, size_t n, int64_t ttl_ms);
int shmkv_delete_many(shmkv_store*, const void* const* keys, const size_t* key_lens, size_t n,
                      uint64_t* deleted);
int shmkv_random_keys(shmkv_store*, const void* prefix, size_t prefix_len, size_t count,
                      int unique, void** keys, size_t* keys_len);
int shmkv_check_invariants(shmkv_store*, void** report, size_t* report_len);
int shmkv_sync(shmkv_store*);
int shmkv_snapshot(shmkv_store*, uint64_t* entries, uint64_t* bytes);
int shmkv_recovery_report_get(shmkv_store*, shmkv_recovery_report* report, size_t report_size,
                              void** messages, size_t* messages_len);
int shmkv_export_jsonl(shmkv_store*, const char* path, uint64_t* entries, uint64_t* bytes);
int shmkv_import_jsonl(shmkv_store*, const char* path, uint64_t max_entries, uint64_t max_bytes,
                       uint64_t* entries, uint64_t* bytes, uint64_t* duplicates);
]])
if not ok_cdef and not pcall(ffi.typeof, "shmkv_info") then error(cdef_err) end

local function load_library()
  local path = os.getenv("SHMKV_LIBRARY")
  if path and path ~= "" then
    local ok, lib = pcall(ffi.load, path)
    if not ok then error("shmkv: cannot load SHMKV_LIBRARY=" .. path .. ": " .. tostring(lib), 0) end
    return lib, path
  end
  for _, name in ipairs({"shmkv", "libshmkv.so.0"}) do
    local ok, lib = pcall(ffi.load, name)
    if ok then return lib, name end
  end
  error("shmkv: libshmkv.so not found; set SHMKV_LIBRARY to its path (or install shmkv)", 0)
end

local C, library_path = load_library()
M.library_path = library_path
M.version = ffi.string(C.shmkv_version())

-- Codes (shmkv.h): M.codes.key_too_long == -2 ...
local ETOOSMALL = -100
M.codes = {}
do  -- every code the library names (its SHMKV_ERROR_CODES table), from 0 downwards
  local code = 0
  while ffi.string(C.shmkv_errname(code)) ~= "unknown" do
    M.codes[ffi.string(C.shmkv_errname(code))] = code
    code = code - 1
  end
end
M.codes.too_small, M.codes.no_memory = -100, -101

local function raise(code, message, level)
  error(string.format("shmkv.%s(%d): %s", ffi.string(C.shmkv_errname(code)), code, message),
        (level or 1) + 1)
end

local function check(rc)
  if rc < 0 then raise(rc, ffi.string(C.shmkv_last_error()), 3) end
  return rc
end

-- Returns code, name of an error raised by this module (nil if err is not one).
function M.error_code(err)
  local name, code = tostring(err):match("shmkv%.([%w_]+)%((%-?%d+)%)")
  if not name then return nil end
  return tonumber(code), name
end

local EINVAL = M.codes.invalid_argument

-- depth: 4 when called from an argument helper called by a method, 3 from the method itself.
local function bad_arg(n, fname, what, expected, got, depth)
  raise(EINVAL, string.format("bad argument #%d to '%s' (%s: %s expected, got %s)", n, fname,
                              what, expected, got), depth or 4)
end

local function str_arg(v, n, fname, what)
  if type(v) ~= "string" then bad_arg(n, fname, what, "string", type(v)) end
  return v
end

local function count_arg(v, n, fname, what)
  if v == nil then return 0 end
  if type(v) ~= "number" then bad_arg(n, fname, what, "number", type(v)) end
  if v ~= v or v ~= math.floor(v) or v == math.huge then
    raise(EINVAL, string.format("%s is %s; it must be a whole number", what, tostring(v)), 3)
  end
  if v < 0 then raise(EINVAL, string.format("%s is %d; it must be >= 0", what, v), 3) end
  return v
end

-- Seconds (what: "ttl" unless given; also a lease or a wait) as milliseconds; nil = 0.
local function ttl_arg(v, n, fname, what)
  what = what or "ttl"
  if v == nil then return 0 end
  if type(v) ~= "number" then bad_arg(n, fname, what, "number (seconds)", type(v)) end
  if v ~= v or v < 0 or v == math.huge then
    raise(EINVAL, what .. " is " .. tostring(v) .. "; it must be >= 0 seconds (finite)", 3)
  end
  return math.ceil(v * 1000)  -- a positive TTL never rounds down to "no expiry"
end

-- count_arg within uint32_t (permits, parties).
local function u32_arg(v, n, fname, what)
  v = count_arg(v, n, fname, what)
  if v > 0xffffffff then
    raise(EINVAL, string.format("%s is %d; it must be at most 4294967295", what, v), 3)
  end
  return v
end

local MAX_EXACT = 2 ^ 53

local function int_arg(v, n, fname, what)
  if type(v) == "cdata" and ffi.istype("int64_t", v) then return v end
  if type(v) ~= "number" then bad_arg(n, fname, what, "integer", type(v)) end
  if v ~= math.floor(v) or v >= MAX_EXACT or v <= -MAX_EXACT then
    raise(EINVAL, string.format("%s is %s; it must be a whole number within +-2^53 (or an " ..
                                "int64_t cdata)", what, tostring(v)), 3)
  end
  return v
end

-- A file path or a url (what) for the C API (a C string): no NUL byte, which would cut it short.
local function c_string_arg(v, n, fname, what)
  if type(v) ~= "string" then bad_arg(n, fname, what, "string", type(v)) end
  if v:find("\0", 1, true) then
    raise(EINVAL, string.format("%s %q contains a NUL byte", what, v), 3)
  end
  return v
end

local function name_arg(v, fname)
  if type(v) ~= "string" then bad_arg(1, fname, "name", "string", type(v)) end
  return v
end

-- Per-Lua-state scratch: wrk runs one Lua state per thread, so this is never shared.
local size_out = ffi.new("size_t[1]")
local size_out2 = ffi.new("size_t[1]")
local ptr_out = ffi.new("void*[1]")
local ptr_out2 = ffi.new("void*[1]")
local i64_out = ffi.new("int64_t[1]")
local u64_out = ffi.new("uint64_t[1]")
local u64_out2 = ffi.new("uint64_t[1]")
local int_out = ffi.new("int[1]")
local buf_cap = 4096
local buf = ffi.new("char[?]", buf_cap)

local function grow(n)
  if n > buf_cap then
    buf_cap = n
    buf = ffi.new("char[?]", buf_cap)
  end
end

local function take(p, n)
  local s = ffi.string(p, n)
  C.shmkv_free(p)
  return s
end

-- Reads and frees a block of n NUL-terminated messages of the C API.
local function messages_of(block, n)
  local out, p, off = {}, ffi.cast("const char*", block), 0
  for i = 1, n do
    out[i] = ffi.string(p + off)
    off = off + #out[i] + 1
  end
  if block ~= nil then C.shmkv_free(block) end
  return out
end

local Store = {}
Store.__index = Store
M.Store = Store

local OPEN_MODES = {create_or_attach = 0, create_only = 1, attach_only = 2, read_only = 3}
local FSYNC_POLICIES = {always = 0, interval = 1, never = 2}

-- An interval in seconds (a number > 0) as milliseconds.
local function interval_arg(v, what)
  if type(v) ~= "number" then bad_arg(2, "open", what, "number (seconds)", type(v), 4) end
  if v ~= v or v <= 0 or v == math.huge then
    raise(EINVAL, what .. " is " .. tostring(v) .. "; it must be > 0 seconds (finite)", 3)
  end
  return math.ceil(v * 1000)
end

-- shmkv.open(name [, options]): options = {open_mode = "create_or_attach" | "create_only" |
-- "attach_only" | "read_only", size_bytes, shards, max_key_bytes, max_value_bytes, max_keys,
-- home_block_bytes, file_mode, trusted_group}. Sizes apply only when the segment is created.
-- Persistence (persistence.hpp): persistence_directory (nil = memory only), fsync = "always" |
-- "interval" (default) | "never", snapshot_interval and fsync_interval (seconds; default 30 and
-- 0.1), keep_snapshots (default 2); the last four need persistence_directory.
-- Where the store lives: url = nil or "" (this host's shared memory, the default), or a Redis
-- (>= 7.0) server, "redis://[[user]:password@]host[:port][/db]" or
-- "unix:///path/redis.sock[?db=N]": every method then works the same, and may also raise
-- shmkv.unavailable (the server cannot be reached) or shmkv.outcome_unknown (the connection was
-- lost after a write was sent). On a server the segment's options are refused
-- (shmkv.invalid_argument naming the option); connect_timeout (default 2) and command_timeout
-- (default 10; 0 = no limit) are seconds. $SHMKV_URL is not read here (the shmkv command reads
-- it): pass url = os.getenv("SHMKV_URL") to follow it.
function M.open(name, options)
  name_arg(name, "open")
  if options ~= nil and type(options) ~= "table" then
    bad_arg(2, "open", "options", "table", type(options), 3)
  end
  options = options or {}
  local o = ffi.new("shmkv_options")
  C.shmkv_options_init(o)
  for k, v in pairs(options) do
    if k == "open_mode" then
      if OPEN_MODES[v] == nil then
        raise(EINVAL, "open_mode " .. tostring(v) .. " is not one of create_or_attach, " ..
                      "create_only, attach_only, read_only", 2)
      end
      o.open_mode = OPEN_MODES[v]
    elseif k == "file_mode" then
      o.mode = count_arg(v, 2, "open", "file_mode")
    elseif k == "persistence_directory" then
      o.persistence_directory = c_string_arg(v, 2, "open", "path")
    elseif k == "fsync" then
      if FSYNC_POLICIES[v] == nil then
        raise(EINVAL, "fsync " .. tostring(v) .. " is not one of always, interval, never", 2)
      end
      o.fsync_policy = FSYNC_POLICIES[v]
    elseif k == "snapshot_interval" or k == "fsync_interval" then
      o[k .. "_ms"] = interval_arg(v, k)
    elseif k == "keep_snapshots" then
      o.keep_snapshots = count_arg(v, 2, "open", k)
    elseif k == "url" then
      o.url = c_string_arg(v, 2, "open", "url")
    elseif k == "connect_timeout" then
      o.connect_timeout_ms = interval_arg(v, k)
    elseif k == "command_timeout" then
      o.command_timeout_ms = v == 0 and 0 or interval_arg(v, k)
    elseif k == "size_bytes" or k == "shards" or k == "max_key_bytes" or
           k == "max_value_bytes" or k == "max_keys" or k == "home_block_bytes" or
           k == "trusted_group" then
      o[k] = count_arg(v, 2, "open", k)
    else
      raise(EINVAL, "unknown option '" .. tostring(k) .. "'", 2)
    end
  end
  if options.persistence_directory == nil then
    for _, k in ipairs({"fsync", "snapshot_interval", "fsync_interval", "keep_snapshots"}) do
      if options[k] ~= nil then
        raise(EINVAL, k .. " is set but persistence_directory is not (a memory-only store has " ..
                      "no journal or snapshots)", 2)
      end
    end
  end
  local out = ffi.new("shmkv_store*[1]")
  check(C.shmkv_open_url(o.url, name, o, ffi.sizeof(o), out))
  local h = ffi.gc(out[0], C.shmkv_close)
  local info = ffi.new("shmkv_info")
  check(C.shmkv_info_get(h, info, ffi.sizeof(info)))
  return setmetatable({h = h, name = name, max_key_bytes = info.max_key_bytes,
                       max_value_bytes = info.max_value_bytes}, Store)
end

-- shmkv.destroy(name [, url]): removes the store (the segment, or with url every key of the
-- store on that server).
function M.destroy(name, url)
  name_arg(name, "destroy")
  if url ~= nil then c_string_arg(url, 2, "destroy", "url") end
  check(C.shmkv_destroy_url(url, name))
end

-- shmkv.segment_exists(name [, url]): true if the store exists (the segment, or on the server).
function M.segment_exists(name, url)
  name_arg(name, "segment_exists")
  if url ~= nil then c_string_arg(url, 2, "segment_exists", "url") end
  return check(C.shmkv_segment_exists_url(url, name)) == 1
end

local function handle(self, fname)
  if getmetatable(self) ~= Store then
    raise(EINVAL, string.format("calling '%s' on bad self (shmkv store expected, got %s; use " ..
                                "store:%s(...))", fname, type(self), fname), 3)
  end
  local h = self.h
  if h == nil then raise(M.codes.closed, "store '" .. self.name .. "' is closed", 3) end
  return h
end

local function key_arg(self, k, n, fname)
  if type(k) ~= "string" then bad_arg(n, fname, "key", "string", type(k)) end
  local len = #k
  if len == 0 then
    raise(EINVAL, "key is empty; keys are 1.." .. self.max_key_bytes .. " bytes", 3)
  end
  if len > self.max_key_bytes then
    raise(M.codes.key_too_long, string.format("key is %d bytes; max_key_bytes is %d", len,
                                              self.max_key_bytes), 3)
  end
  return k
end

local function value_arg(self, v, n, fname)
  if type(v) ~= "string" then bad_arg(n, fname, "value", "string", type(v)) end
  if #v > self.max_value_bytes then
    raise(M.codes.value_too_large, string.format("value is %d bytes; max_value_bytes is %d", #v,
                                                 self.max_value_bytes), 3)
  end
  return v
end

function Store:close()
  local h = self.h
  if h ~= nil then
    self.h = nil
    C.shmkv_close(ffi.gc(h, nil))
  end
end

function Store:is_open() return self.h ~= nil end

-- Value at key, or nil.
function Store:get(key)
  local h = handle(self, "get")
  key_arg(self, key, 1, "get")
  while true do
    local rc = C.shmkv_get(h, key, #key, buf, buf_cap, size_out)
    if rc == 1 then return ffi.string(buf, size_out[0]) end
    if rc == 0 then return nil end
    if rc ~= ETOOSMALL then check(rc) end
    grow(tonumber(size_out[0]))
  end
end

function Store:set(key, value, ttl)
  local h = handle(self, "set")
  key_arg(self, key, 1, "set")
  value_arg(self, value, 2, "set")
  check(C.shmkv_set(h, key, #key, value, #value, ttl_arg(ttl, 3, "set")))
end

-- true if stored, false if the key was present.
function Store:set_if_absent(key, value, ttl)
  local h = handle(self, "set_if_absent")
  key_arg(self, key, 1, "set_if_absent")
  value_arg(self, value, 2, "set_if_absent")
  return check(C.shmkv_set_if_absent(h, key, #key, value, #value,
                                     ttl_arg(ttl, 3, "set_if_absent"))) == 1
end

function Store:exists(key)
  local h = handle(self, "exists")
  key_arg(self, key, 1, "exists")
  return check(C.shmkv_exists(h, key, #key)) == 1
end

-- true if the key existed.
function Store:delete(key)
  local h = handle(self, "delete")
  key_arg(self, key, 1, "delete")
  return check(C.shmkv_delete(h, key, #key)) == 1
end

-- Adds delta (default 1) to the decimal int64 at key; returns the new value as a number
-- (exact up to 2^53; use incr64 for the int64_t cdata).
function Store:incr(key, delta)
  local h = handle(self, "incr")
  key_arg(self, key, 1, "incr")
  if delta == nil then delta = 1 end
  check(C.shmkv_incr(h, key, #key, int_arg(delta, 2, "incr", "delta"), i64_out))
  return tonumber(i64_out[0])
end

function Store:incr64(key, delta)
  local h = handle(self, "incr64")
  key_arg(self, key, 1, "incr64")
  if delta == nil then delta = 1 end
  check(C.shmkv_incr(h, key, #key, int_arg(delta, 2, "incr64", "delta"), i64_out))
  return i64_out[0] + 0LL  -- a copy: i64_out is reused
end

-- TTL rule (Redis's): a call that stores a value gives the key the ttl it is passed (0/nil = no
-- expiry) and drops the TTL it had: set, swap, cas, and get_or_set / set_if_absent when they
-- store. A key they leave alone keeps its TTL; incr keeps the TTL.

-- value, loaded: the existing value and true (the key keeps its TTL), or the given value (now
-- stored with ttl) and false.
function Store:get_or_set(key, value, ttl)
  local h = handle(self, "get_or_set")
  key_arg(self, key, 1, "get_or_set")
  value_arg(self, value, 2, "get_or_set")
  local ms = ttl_arg(ttl, 3, "get_or_set")
  while true do
    local rc = C.shmkv_get_or_set_ttl(h, key, #key, value, #value, ms, buf, buf_cap, size_out)
    if rc == 0 then return value, false end
    if rc == 1 then return ffi.string(buf, size_out[0]), true end
    if rc ~= ETOOSMALL then check(rc) end
    grow(tonumber(size_out[0]))
  end
end

-- Stores value with ttl; returns the previous value, or nil if the key was absent.
function Store:swap(key, value, ttl)
  local h = handle(self, "swap")
  key_arg(self, key, 1, "swap")
  value_arg(self, value, 2, "swap")
  local ms = ttl_arg(ttl, 3, "swap")
  if check(C.shmkv_swap_ttl(h, key, #key, value, #value, ms, ptr_out, size_out)) == 0 then
    return nil
  end
  return take(ptr_out[0], size_out[0])
end

-- Compare-and-swap: stores value with ttl if key holds expected (nil = only if absent); false
-- changed nothing.
function Store:cas(key, expected, value, ttl)
  local h = handle(self, "cas")
  key_arg(self, key, 1, "cas")
  if expected ~= nil then str_arg(expected, 2, "cas", "expected") end
  value_arg(self, value, 3, "cas")
  return check(C.shmkv_cas_ttl(h, key, #key, expected, expected and #expected or 0, value,
                               #value, ttl_arg(ttl, 4, "cas"))) == 1
end

-- cas that also says what the key holds: swapped, current. current is the value stored when
-- swapped, else the value that failed the comparison (read under the same lock; nil if the key
-- is absent), so a retry needs no second read.
function Store:cas_detailed(key, expected, value, ttl)
  local h = handle(self, "cas_detailed")
  key_arg(self, key, 1, "cas_detailed")
  if expected ~= nil then str_arg(expected, 2, "cas_detailed", "expected") end
  value_arg(self, value, 3, "cas_detailed")
  local ms = ttl_arg(ttl, 4, "cas_detailed")
  while true do
    local rc = C.shmkv_cas_detailed(h, key, #key, expected, expected and #expected or 0, value,
                                    #value, ms, buf, buf_cap, size_out, int_out)
    if rc == 1 then return true, value end
    if rc == 0 then
      if int_out[0] == 0 then return false, nil end
      return false, ffi.string(buf, size_out[0])
    end
    if rc ~= ETOOSMALL then check(rc) end
    grow(tonumber(size_out[0]))
  end
end

-- Compare-and-delete: deletes key if it holds expected.
function Store:cad(key, expected)
  local h = handle(self, "cad")
  key_arg(self, key, 1, "cad")
  str_arg(expected, 2, "cad", "expected")
  return check(C.shmkv_cad(h, key, #key, expected, #expected)) == 1
end

-- Sets key's TTL in seconds (0/nil removes it); false if the key is absent.
function Store:expire(key, ttl)
  local h = handle(self, "expire")
  key_arg(self, key, 1, "expire")
  return check(C.shmkv_expire(h, key, #key, ttl_arg(ttl, 2, "expire"))) == 1
end

-- Remaining seconds; math.huge if the key has no expiry; nil if absent.
function Store:ttl(key)
  local h = handle(self, "ttl")
  key_arg(self, key, 1, "ttl")
  if check(C.shmkv_ttl(h, key, #key, i64_out)) == 0 then return nil end
  local ms = tonumber(i64_out[0])
  if ms == 0 then return math.huge end
  return ms / 1000
end

local u32pair = ffi.new("uint32_t[2]")

-- The records of the C API's *_buf functions and of shmkv_pop_random_many at base + off: an
-- entry (uint32 key_len, uint32 value_len, key, value) or a key (uint32 key_len, key). Each
-- returns the item, its key and the offset of the next record.
local function entry_record(base, off)
  ffi.copy(u32pair, base + off, 8)
  local kl, vl = u32pair[0], u32pair[1]
  local k = ffi.string(base + off + 8, kl)
  return {key = k, value = ffi.string(base + off + 8 + kl, vl)}, k, off + 8 + kl + vl
end

local function key_record(base, off)
  ffi.copy(u32pair, base + off, 4)
  local k = ffi.string(base + off + 4, u32pair[0])
  return k, k, off + 4 + u32pair[0]
end

-- The shmkv_range of the arguments prefix, from, to (argument numbers n_prefix, n_from and
-- n_from + 1), in a per-state scratch structure. It points into the strings: use it before
-- the method that made it returns (which keeps them alive).
local range_out = ffi.new("shmkv_range")
local function range_arg(fname, prefix, from, to, n_prefix, n_from)
  prefix = prefix == nil and "" or str_arg(prefix, n_prefix, fname, "prefix")
  from = from == nil and "" or str_arg(from, n_from, fname, "from")
  to = to == nil and "" or str_arg(to, n_from + 1, fname, "to")
  range_out.prefix, range_out.prefix_len = prefix, #prefix
  range_out.from, range_out.from_len = from, #from
  range_out.to, range_out.to_len = to, #to
  return range_out
end

-- One scan page through a *_buf function (c_scan_buf), its records read by `record`.
local function scan_page(self, fname, c_scan_buf, record, prefix, limit, cursor, from, to)
  local h = handle(self, fname)
  local range = range_arg(fname, prefix, from, to, 1, 4)
  limit = count_arg(limit, 2, fname, "limit")
  cursor = cursor == nil and "" or str_arg(cursor, 3, fname, "cursor")
  local items = {}
  while limit == 0 or #items < limit do
    local want = limit == 0 and 0 or limit - #items
    local rc = c_scan_buf(h, range, cursor, #cursor, want, buf, buf_cap, size_out, size_out2,
                          int_out)
    if rc == ETOOSMALL then
      grow(tonumber(size_out[0]))
    else
      check(rc)
      local off = 0
      for _ = 1, tonumber(size_out2[0]) do
        items[#items + 1], cursor, off = record(buf, off)
      end
      if int_out[0] == 1 then return items, cursor, true end
    end
  end
  return items, cursor, false
end

-- One page: entries ({key=, value=} tables, byte order of keys), next cursor, done; of the keys
-- with the prefix in [from, to) (see Ranges above).
function Store:scan(prefix, limit, cursor, from, to)
  return scan_page(self, "scan", C.shmkv_scan_buf_range, entry_record, prefix, limit, cursor,
                   from, to)
end

-- As scan, without the values: keys (strings), next cursor, done.
function Store:scan_keys(prefix, limit, cursor, from, to)
  return scan_page(self, "scan_keys", C.shmkv_scan_keys_buf, key_record, prefix, limit, cursor,
                   from, to)
end

-- Entries with the prefix in [from, to) (at most limit; 0/nil = all).
function Store:list(prefix, limit, from, to)
  local entries = self:scan(prefix, limit, nil, from, to)
  return entries
end

-- The keys list would return, without the values.
function Store:list_keys(prefix, limit, from, to)
  local keys = self:scan_keys(prefix, limit, nil, from, to)
  return keys
end

-- Live keys with the prefix in [from, to).
function Store:count(prefix, from, to)
  local h = handle(self, "count")
  check(C.shmkv_count_range(h, range_arg("count", prefix, from, to, 1, 2), u64_out))
  return tonumber(u64_out[0])
end

-- Deletes up to limit (0/nil = all) keys with the prefix: deleted, done.
function Store:delete_prefix(prefix, limit)
  local h = handle(self, "delete_prefix")
  str_arg(prefix, 1, "delete_prefix", "prefix")
  limit = count_arg(limit, 2, "delete_prefix", "limit")
  check(C.shmkv_delete_prefix(h, prefix, #prefix, limit, u64_out, int_out))
  return tonumber(u64_out[0]), int_out[0] == 1
end

-- Deletes up to limit (0/nil = all) keys with the prefix in [from, to): deleted, done. At least
-- one of prefix, from and to must be given (clear() deletes every key).
function Store:delete_range(prefix, limit, from, to)
  local h = handle(self, "delete_range")
  local range = range_arg("delete_range", prefix, from, to, 1, 3)
  limit = count_arg(limit, 2, "delete_range", "limit")
  check(C.shmkv_delete_range(h, range, limit, u64_out, int_out))
  return tonumber(u64_out[0]), int_out[0] == 1
end

function Store:clear()
  check(C.shmkv_clear(handle(self, "clear")))
end

-- Batches: every key and value is checked first (one bad entry raises, nothing is written);
-- each key is applied atomically, the batch as a whole is not.

-- The C arrays of a batch (pointers and lengths) of the strings list[1..n]; they point into the
-- strings, which the caller's table keeps alive during the call.
local function batch_arrays(list, n)
  local ptrs, lens = ffi.new("const void*[?]", n), ffi.new("size_t[?]", n)
  for i = 1, n do
    ptrs[i - 1], lens[i - 1] = list[i], #list[i]
  end
  return ptrs, lens
end

local function keys_arg(self, keys, fname)
  if type(keys) ~= "table" then bad_arg(1, fname, "keys", "table", type(keys)) end
  for i = 1, #keys do key_arg(self, keys[i], 1, fname) end
  return keys
end

-- values, found: values[i] is the value of keys[i] (nil if absent); found counts the present.
function Store:get_many(keys)
  local h = handle(self, "get_many")
  keys_arg(self, keys, "get_many")
  local n = #keys
  local ptrs, lens = batch_arrays(keys, n)
  check(C.shmkv_get_many(h, ptrs, lens, n, ptr_out, size_out, size_out2))
  local values, block, off = {}, ffi.cast("const char*", ptr_out[0]), 0
  for i = 1, n do  -- uint32 found, uint32 value_len, value
    ffi.copy(u32pair, block + off, 8)
    if u32pair[0] == 1 then values[i] = ffi.string(block + off + 8, u32pair[1]) end
    off = off + 8 + u32pair[1]
  end
  C.shmkv_free(ptr_out[0])
  return values, tonumber(size_out2[0])
end

-- Stores every key = value of pairs (a table of string keys and values), each with the TTL
-- (seconds; 0/nil = no expiry).
function Store:set_many(pairs_, ttl)
  local h = handle(self, "set_many")
  if type(pairs_) ~= "table" then bad_arg(1, "set_many", "pairs", "table", type(pairs_), 3) end
  local keys, values = {}, {}
  for k, v in pairs(pairs_) do
    keys[#keys + 1] = key_arg(self, k, 1, "set_many")
    values[#values + 1] = value_arg(self, v, 1, "set_many")
  end
  local kp, kl = batch_arrays(keys, #keys)
  local vp, vl = batch_arrays(values, #values)
  check(C.shmkv_set_many(h, kp, kl, vp, vl, #keys, ttl_arg(ttl, 2, "set_many")))
end

-- Deletes the keys (an array of strings); returns how many existed.
function Store:delete_many(keys)
  local h = handle(self, "delete_many")
  keys_arg(self, keys, "delete_many")
  local ptrs, lens = batch_arrays(keys, #keys)
  check(C.shmkv_delete_many(h, ptrs, lens, #keys, u64_out))
  return tonumber(u64_out[0])
end

function Store:size()
  check(C.shmkv_size(handle(self, "size"), u64_out))
  return tonumber(u64_out[0])
end

-- backup and export_jsonl: c_write(h, path, &entries, &bytes); returns entries, bytes.
local function write_file(self, fname, c_write, path)
  local h = handle(self, fname)
  c_string_arg(path, 1, fname, "path")
  check(c_write(h, path, u64_out, u64_out2))
  return tonumber(u64_out[0]), tonumber(u64_out2[0])
end

-- The arguments of restore and import_jsonl: the handle, max_entries and max_bytes (0/nil = no
-- limit) checked.
local function load_args(self, fname, path, max_entries, max_bytes)
  local h = handle(self, fname)
  c_string_arg(path, 1, fname, "path")
  return h, count_arg(max_entries, 2, fname, "max_entries"),
         count_arg(max_bytes, 3, fname, "max_bytes")
end

-- Writes a consistent point-in-time copy of the store to path (a temporary file, then rename:
-- an existing file at path stays intact on failure): entries, bytes (the file's size).
-- shmkv.busy while another backup or restore of this store runs.
function Store:backup(path)
  return write_file(self, "backup", C.shmkv_backup, path)
end

-- Replaces the whole content with the backup at path, all or nothing: entries, bytes (key +
-- value bytes restored). max_entries / max_bytes (0/nil = no limit) refuse a larger file with
-- shmkv.limit_exceeded; a missing file is shmkv.not_found, a foreign or corrupt one
-- shmkv.corrupted; in each case nothing changes.
function Store:restore(path, max_entries, max_bytes)
  local h, most_entries, most_bytes = load_args(self, "restore", path, max_entries, max_bytes)
  check(C.shmkv_restore(h, path, most_entries, most_bytes, u64_out, u64_out2))
  return tonumber(u64_out[0]), tonumber(u64_out2[0])
end

-- Persistence (a store opened with persistence_directory; see persistence.hpp).

-- Makes every mutation this handle acknowledged durable (journal write + fdatasync); a
-- memory-only store: does nothing.
function Store:sync()
  check(C.shmkv_sync(handle(self, "sync")))
end

-- Writes a snapshot into the persistence directory now: entries, bytes. shmkv.invalid_argument
-- for a memory-only store, shmkv.busy while one is running.
function Store:snapshot()
  check(C.shmkv_snapshot(handle(self, "snapshot"), u64_out, u64_out2))
  return tonumber(u64_out[0]), tonumber(u64_out2[0])
end

-- What the recovery that created this handle's segment did: a table with the fields of
-- shmkv::RecoveryReport (performed = false when the segment existed or persistence is off;
-- directory and snapshot strings; rejected_snapshots, truncated, skipped and notes arrays).
function Store:recovery_report()
  local r = ffi.new("shmkv_recovery_report")
  local n = check(C.shmkv_recovery_report_get(handle(self, "recovery_report"), r, ffi.sizeof(r),
                                              ptr_out, size_out))
  local out = {performed = r.performed == 1, directory = "", snapshot = "",
               rejected_snapshots = {}, truncated = {}, skipped = {}, notes = {}}
  for _, f in ipairs({"snapshot_seq", "snapshot_entries", "journal_files", "records_applied",
                      "records_skipped", "truncated_bytes", "skipped_bytes", "entries",
                      "next_seq", "duration_us"}) do
    out[f] = tonumber(r[f])
  end
  for _, message in ipairs(messages_of(ptr_out[0], n)) do  -- "<field>: <text>"
    local field, text = message:match("^([%w_]+): (.*)$")
    if type(out[field]) == "table" then
      out[field][#out[field] + 1] = text
    else
      out[field] = text
    end
  end
  return out
end

-- Writes the store as JSONL (one JSON object per line) to path, atomically: entries, bytes.
function Store:export_jsonl(path)
  return write_file(self, "export_jsonl", C.shmkv_export_jsonl, path)
end

-- Replaces the whole content with the JSONL file at path, all or nothing (as restore):
-- entries, bytes, duplicates (lines replaced by a later one for the same key). A malformed line
-- raises shmkv.corrupted naming its line and column.
function Store:import_jsonl(path, max_entries, max_bytes)
  local h, most_entries, most_bytes = load_args(self, "import_jsonl", path, max_entries,
                                                max_bytes)
  local duplicates = ffi.new("uint64_t[1]")
  check(C.shmkv_import_jsonl(h, path, most_entries, most_bytes, u64_out, u64_out2, duplicates))
  return tonumber(u64_out[0]), tonumber(u64_out2[0]), tonumber(duplicates[0])
end

-- A uniformly random live key with the prefix, or nil.
function Store:random_key(prefix)
  local h = handle(self, "random_key")
  prefix = prefix == nil and "" or str_arg(prefix, 1, "random_key", "prefix")
  grow(self.max_key_bytes)  -- a key always fits
  if check(C.shmkv_random_key(h, prefix, #prefix, buf, buf_cap, size_out)) == 0 then
    return nil
  end
  return ffi.string(buf, size_out[0])
end

-- Atomically removes a random live entry with the prefix: key, value (nil if none).
function Store:pop_random(prefix)
  local h = handle(self, "pop_random")
  prefix = prefix == nil and "" or str_arg(prefix, 1, "pop_random", "prefix")
  if check(C.shmkv_pop_random(h, prefix, #prefix, ptr_out, size_out, ptr_out2, size_out2)) == 0
  then
    return nil
  end
  local key = take(ptr_out[0], size_out[0])
  return key, take(ptr_out2[0], size_out2[0])
end

-- Pops up to n (1..1,000,000) entries with the prefix as n pop_random calls would: an array of
-- {key=, value=} tables (shorter when fewer match; empty when none).
function Store:pop_random_many(prefix, n)
  local h = handle(self, "pop_random_many")
  prefix = prefix == nil and "" or str_arg(prefix, 1, "pop_random_many", "prefix")
  n = count_arg(n, 2, "pop_random_many", "n")
  local popped = check(C.shmkv_pop_random_many(h, prefix, #prefix, n, ptr_out, size_out))
  local entries, block, off, _ = {}, ffi.cast("const char*", ptr_out[0]), 0, nil
  for i = 1, popped do entries[i], _, off = entry_record(block, off) end
  C.shmkv_free(ptr_out[0])
  return entries
end

-- count (1..1,000,000) keys drawn uniformly from the live keys with the prefix (an array; empty
-- when none matches); unique = true: no key twice (then at most the matching keys).
function Store:random_keys(count, prefix, unique)
  local h = handle(self, "random_keys")
  count = count_arg(count, 1, "random_keys", "count")
  prefix = prefix == nil and "" or str_arg(prefix, 2, "random_keys", "prefix")
  local drawn = check(C.shmkv_random_keys(h, prefix, #prefix, count, unique and 1 or 0, ptr_out,
                                          size_out))
  local keys, block, off, _ = {}, ffi.cast("const char*", ptr_out[0]), 0, nil
  for i = 1, drawn do keys[i], _, off = key_record(block, off) end
  C.shmkv_free(ptr_out[0])
  return keys
end

-- Coordination: claims, locks and semaphores (shared-memory stores; a url's server raises
-- shmkv.invalid_argument). Each grant is held by this process until it is given back, its lease
-- runs out, or the process dies: the next attempt by anyone then takes it, without waiting for
-- the lease. Leases and waits are seconds (a lease > 0; a wait nil or 0 = do not wait). Tokens
-- are numbers (exact: a store issues fewer than 2^53) and only grow (fencing): a call with a
-- token that no longer holds the grant changes nothing and returns false.
local token_out = ffi.new("uint64_t[1]")

local function token_arg(v, n, fname)
  if type(v) == "cdata" and (ffi.istype("uint64_t", v) or ffi.istype("int64_t", v)) then
    return v
  end
  if v == nil then bad_arg(n, fname, "token", "number", "nil") end
  return count_arg(v, n, fname, "token")
end

-- The table of a claim: its key, its value (a malloc'ed copy, freed here) and token_out's token.
local function claim_of(key, value_ptr, value_len)
  return {key = key, value = take(value_ptr, value_len), token = tonumber(token_out[0])}
end

-- Claims the live key: {key =, value =, token =}, or nil if it is absent or claimed by another
-- live holder. The key stays in the store (get and list see it); claim, claim_random and
-- pop_random of anyone leave it alone until the claim ends.
function Store:claim(key, lease)
  local h = handle(self, "claim")
  key_arg(self, key, 1, "claim")
  local ms = ttl_arg(lease, 2, "claim", "lease")
  if check(C.shmkv_claim(h, key, #key, ms, ptr_out, size_out, token_out)) == 0 then return nil end
  return claim_of(key, ptr_out[0], size_out[0])
end

-- Claims a key drawn uniformly from the live unclaimed keys with the prefix: a claim table as
-- claim's, or nil if there is none.
function Store:claim_random(prefix, lease)
  local h = handle(self, "claim_random")
  prefix = prefix == nil and "" or str_arg(prefix, 1, "claim_random", "prefix")
  local ms = ttl_arg(lease, 2, "claim_random", "lease")
  if check(C.shmkv_claim_random(h, prefix, #prefix, ms, ptr_out, size_out, ptr_out2, size_out2,
                                token_out)) == 0 then
    return nil
  end
  return claim_of(take(ptr_out[0], size_out[0]), ptr_out2[0], size_out2[0])
end

-- Extends the claim the token still holds to lease from now; false if it no longer holds it.
function Store:renew(key, token, lease)
  local h = handle(self, "renew")
  key_arg(self, key, 1, "renew")
  return check(C.shmkv_renew(h, key, #key, token_arg(token, 2, "renew"),
                             ttl_arg(lease, 3, "renew", "lease"))) == 1
end

-- The calls that end a grant by its token (release, complete, unlock, release_permit): true if
-- the token held it, false (nothing changed) if not.
local function end_grant(self, fname, c_end, name, token)
  local h = handle(self, fname)
  key_arg(self, name, 1, fname)
  return check(c_end(h, name, #name, token_arg(token, 2, fname))) == 1
end

-- Gives the claim back (the key returns to the pool); false if the token no longer holds it.
function Store:release(key, token)
  return end_grant(self, "release", C.shmkv_release, key, token)
end

-- Ends the claim and deletes the key, atomically; false (nothing deleted) if the token no longer
-- holds it.
function Store:complete(key, token)
  return end_grant(self, "complete", C.shmkv_complete, key, token)
end

-- Takes the named lock for lease: its token, or nil when another live holder kept it for all of
-- wait. A waiter sleeps on a futex, woken by unlock, by the holder's exit or at its lease end.
function Store:lock(name, lease, wait)
  local h = handle(self, "lock")
  key_arg(self, name, 1, "lock")
  local lease_ms = ttl_arg(lease, 2, "lock", "lease")
  local wait_ms = ttl_arg(wait, 3, "lock", "wait")
  if check(C.shmkv_lock(h, name, #name, lease_ms, wait_ms, token_out)) == 0 then return nil end
  return tonumber(token_out[0])
end

-- true if the token held the lock and released it.
function Store:unlock(name, token)
  return end_grant(self, "unlock", C.shmkv_unlock, name, token)
end

-- A permit of the counting semaphore with `permits` permits (pass the same count everywhere):
-- its token, or nil after wait. A permit has no lease: it is held until release_permit or this
-- process's death.
function Store:acquire(semaphore, permits, wait)
  local h = handle(self, "acquire")
  key_arg(self, semaphore, 1, "acquire")
  permits = u32_arg(permits, 2, "acquire", "permits")
  local wait_ms = ttl_arg(wait, 3, "acquire", "wait")
  if check(C.shmkv_acquire(h, semaphore, #semaphore, permits, wait_ms, token_out)) == 0 then
    return nil
  end
  return tonumber(token_out[0])
end

-- true if the token held a permit and gave it back.
function Store:release_permit(semaphore, token)
  return end_grant(self, "release_permit", C.shmkv_release_permit, semaphore, token)
end

-- Waiting without polling (shared-memory stores): a futex in the segment that writers move while
-- anyone waits. timeout: seconds (nil or 0 = do not wait).

-- true once key exists (at once if it does); false after timeout.
function Store:wait_for(key, timeout)
  local h = handle(self, "wait_for")
  key_arg(self, key, 1, "wait_for")
  return check(C.shmkv_wait_for(h, key, #key, ttl_arg(timeout, 2, "wait_for", "timeout"))) == 1
end

-- pop_random(prefix), waiting up to timeout for a key to pop: key, value (nil after timeout).
function Store:pop_random_wait(prefix, timeout)
  local h = handle(self, "pop_random_wait")
  prefix = prefix == nil and "" or str_arg(prefix, 1, "pop_random_wait", "prefix")
  local ms = ttl_arg(timeout, 2, "pop_random_wait", "timeout")
  if check(C.shmkv_pop_random_wait(h, prefix, #prefix, ms, ptr_out, size_out, ptr_out2,
                                   size_out2)) == 0 then
    return nil
  end
  local key = take(ptr_out[0], size_out[0])
  return key, take(ptr_out2[0], size_out2[0])
end

local index_out = ffi.new("uint32_t[1]")

-- Waits until `parties` processes have arrived at the barrier (pass the same count everywhere):
-- this arrival's index, 0 .. parties - 1 (the last to arrive gets parties - 1), or nil after
-- timeout (the arrival is withdrawn). Reusable. A party that dies while the others wait breaks
-- the round: they raise shmkv.broken.
function Store:barrier(name, parties, timeout)
  local h = handle(self, "barrier")
  key_arg(self, name, 1, "barrier")
  parties = u32_arg(parties, 2, "barrier", "parties")
  local ms = ttl_arg(timeout, 3, "barrier", "timeout")
  if check(C.shmkv_barrier(h, name, #name, parties, ms, index_out)) == 0 then return nil end
  return tonumber(index_out[0])
end

-- Verifies every shard's invariants: an array of messages, one per violation (empty: healthy).
function Store:check_invariants()
  local violations = check(C.shmkv_check_invariants(handle(self, "check_invariants"), ptr_out,
                                                    size_out))
  return messages_of(ptr_out[0], violations)
end

-- info's coordination: the table's counts and its entries, each {kind =, name_head = (the
-- first bytes, at most 8, of the name), name_bytes =, token =, holder_pid = (0: nobody),
-- holder_alive =, lease_left_ms = (-1: no lease)}.
local function coordination_of(self, i)
  local cap, grants = i.coordination_used + 16, nil
  while true do  -- again with the count it asks for when the table grew meanwhile
    grants = ffi.new("shmkv_grant_info[?]", cap)
    local rc = C.shmkv_info_grants(handle(self, "info"), grants, cap, size_out)
    if rc ~= ETOOSMALL then
      check(rc)
      break
    end
    cap = tonumber(size_out[0])
  end
  local out = {}
  for k = 0, tonumber(size_out[0]) - 1 do
    local g = grants[k]
    out[k + 1] = {kind = ffi.string(g.kind), name_head = ffi.string(g.name_head, g.name_head_len),
                  name_bytes = g.name_bytes, token = tonumber(g.token),
                  holder_pid = g.holder_pid, holder_alive = g.holder_alive == 1,
                  lease_left_ms = tonumber(g.lease_left_ms)}
  end
  return {capacity = i.coordination_capacity, used = i.coordination_used,
          last_token = tonumber(i.coordination_last_token), waiters = i.coordination_waiters,
          recoveries = tonumber(i.coordination_recoveries), grants = out}
end

function Store:info()
  local i = ffi.new("shmkv_info")
  check(C.shmkv_info_get(handle(self, "info"), i, ffi.sizeof(i)))
  return {
    name = ffi.string(i.name), layout_version = i.layout_version, shards = i.shards,
    layout_fingerprint = i.layout_fingerprint, created_unix_ms = tonumber(i.created_unix_ms),
    size_bytes = tonumber(i.size_bytes), max_key_bytes = i.max_key_bytes,
    max_value_bytes = i.max_value_bytes, max_keys = tonumber(i.max_keys),
    arena_bytes = tonumber(i.arena_bytes), arena_used_bytes = tonumber(i.arena_used_bytes),
    live_keys = tonumber(i.live_keys), processes = tonumber(i.processes),
    recoveries = tonumber(i.recoveries), engine = ffi.string(i.engine),
    coordination = coordination_of(self, i),
  }
end

function Store:stats()
  local s = ffi.new("shmkv_stats")
  check(C.shmkv_stats_get(handle(self, "stats"), s, ffi.sizeof(s)))
  local out = {}
  for _, f in ipairs({"gets", "hits", "misses", "sets", "deletes", "cas_success", "cas_failure",
                      "lock_waits", "recoveries"}) do
    out[f] = tonumber(s[f])
  end
  return out
end

return M
