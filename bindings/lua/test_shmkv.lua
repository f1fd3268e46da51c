-- test_shmkv.lua: tests of the LuaJIT module (run by run_tests.sh: luajit test_shmkv.lua).
-- Needs LUA_PATH reaching shmkv.lua and SHMKV_LIBRARY (or an installed libshmkv.so).
local shmkv = require "shmkv"

local passed, failed = 0, 0
local name_counter = 0

local function unique_name()
  name_counter = name_counter + 1
  local pid = io.open("/proc/self/stat"):read("*l"):match("^(%d+)")
  return string.format("lua-%s-%d", pid, name_counter)
end

local function test(title, fn)
  local name = unique_name()
  local store = shmkv.open(name, {size_bytes = 8 * 1024 * 1024, shards = 4, max_key_bytes = 64,
                                  max_value_bytes = 4096})
  local ok, err = xpcall(function() fn(store, name) end, debug.traceback)
  store:close()
  pcall(shmkv.destroy, name)
  if ok then
    passed = passed + 1
  else
    failed = failed + 1
    io.stderr:write("FAILED: ", title, "\n", tostring(err), "\n")
  end
end

local function eq(got, want, what)
  if got ~= want then
    error(string.format("%s: got %s, want %s", what or "value", tostring(got), tostring(want)), 2)
  end
end

-- os.execute's success (a number in Lua 5.1 / LuaJIT without 5.2 compat, else true).
local function succeeded(status) return status == 0 or status == true end

-- Calls fn, which must raise a shmkv error with the given code name; returns the message.
local function raises(name, fn, pattern)
  local ok, err = pcall(fn)
  if ok then error("expected shmkv." .. name .. ", nothing was raised", 2) end
  local code, got = shmkv.error_code(err)
  if got ~= name then error("expected shmkv." .. name .. ", got: " .. tostring(err), 2) end
  if code ~= shmkv.codes[name] then error("bad code in " .. err, 2) end
  if pattern and not tostring(err):find(pattern, 1, true) then
    error("message '" .. tostring(err) .. "' lacks '" .. pattern .. "'", 2)
  end
  return err
end

test("set, get, delete, exists; binary strings", function(s)
  s:set("k", "v")
  eq(s:get("k"), "v")
  eq(s:get("missing"), nil)
  eq(s:exists("k"), true)
  eq(s:delete("k"), true)
  eq(s:delete("k"), false)
  eq(s:exists("k"), false)
  local blob = "\0\1\255bin\0"
  s:set("b\0k", blob)
  eq(s:get("b\0k"), blob)
  s:set("e", "")
  eq(s:get("e"), "")
  local big = string.rep("x", 4096)  -- the scratch buffer grows as needed
  s:set("big", big)
  eq(s:get("big"), big)
  eq(s:set_if_absent("n", "a"), true)
  eq(s:set_if_absent("n", "b"), false)
end)

test("counters", function(s)
  eq(s:incr("c"), 1)
  eq(s:incr("c", 41), 42)
  eq(s:incr("c", -50), -8)
  eq(tostring(s:incr64("c", 1)), "-7LL")
  s:set("t", "abc")
  raises("not_a_number", function() s:incr("t") end, "'abc'")
  s:set("max", "9223372036854775807")
  raises("overflow", function() s:incr("max") end)
  eq(s:incr64("max", 0), 9223372036854775807LL)
end)

test("get_or_set, swap, cas, cad", function(s)
  local v, loaded = s:get_or_set("o", "first")
  eq(v, "first"); eq(loaded, false)
  v, loaded = s:get_or_set("o", "second")
  eq(v, "first"); eq(loaded, true)
  local big = string.rep("y", 4000)
  s:set("big", big)
  eq(s:get_or_set("big", "z"), big)
  eq(s:swap("w", "one"), nil)
  eq(s:swap("w", "two"), "one")
  eq(s:cas("c", nil, "v1"), true)
  eq(s:cas("c", nil, "v2"), false)
  eq(s:cas("c", "v1", ""), true)
  eq(s:cas("c", "", "v3"), true)
  eq(s:cad("c", "no"), false)
  eq(s:cad("c", "v3"), true)
end)

test("ttl and expire", function(s)
  eq(s:ttl("k"), nil)
  s:set("k", "v")
  eq(s:ttl("k"), math.huge)
  eq(s:expire("k", 60), true)
  local t = s:ttl("k")
  assert(t > 50 and t <= 60, "ttl " .. t)
  eq(s:expire("k", 0), true)
  eq(s:ttl("k"), math.huge)
  eq(s:expire("missing", 1), false)
  s:set("short", "v", 0.02)
  local deadline = os.clock() + 5
  repeat until s:get("short") == nil or os.clock() > deadline
  eq(s:get("short"), nil, "expired key")
end)

test("scan, list, count, delete_prefix, clear, size", function(s)
  for i = 0, 29 do s:set(string.format("p:%02d", i), "v" .. i) end
  s:set("q:0", "x")
  local all = s:list("p:")
  eq(#all, 30)
  eq(all[1].key, "p:00"); eq(all[1].value, "v0")
  eq(all[30].key, "p:29")
  eq(#s:list(nil, 5), 5)
  eq(#s:list(), 31)
  local keys, cursor, pages = {}, nil, 0
  while true do
    local entries, next_cursor, done = s:scan("p:", 7, cursor)
    for _, e in ipairs(entries) do keys[#keys + 1] = e.key end
    pages = pages + 1
    if done then break end
    cursor = next_cursor
  end
  eq(pages, 5); eq(#keys, 30)
  for i = 2, #keys do assert(keys[i - 1] < keys[i], "scan order") end
  eq(s:count("p:"), 30); eq(s:count(), 31); eq(s:size(), 31)
  local deleted, done = s:delete_prefix("p:", 10)
  eq(deleted, 10); eq(done, false)
  deleted, done = s:delete_prefix("p:")
  eq(deleted, 20); eq(done, true)
  raises("invalid_argument", function() s:delete_prefix("") end, "use clear()")
  raises("invalid_argument", function() s:delete_prefix("", 1) end, "prefix is empty")
  eq(s:size(), 1, "an empty prefix deleted nothing")
  s:clear()
  eq(s:size(), 0)
end)

test("backup and restore", function(s)
  local path = os.tmpname()  -- an empty file: the backup replaces it
  local ok, err = pcall(function()
    for i = 1, 20 do s:set("b:" .. i, "v" .. i) end
    s:set("bin\0k", "\0\255")
    local entries, bytes = s:backup(path)
    eq(entries, 21, "backup entries")
    assert(bytes > 0, "backup bytes")
    s:set("b:1", "changed"); s:set("later", "x"); s:delete("b:2")
    entries, bytes = s:restore(path)
    eq(entries, 21, "restore entries")
    assert(bytes > 0, "restore bytes")
    eq(s:size(), 21); eq(s:get("b:1"), "v1"); eq(s:get("b:2"), "v2"); eq(s:get("later"), nil)
    eq(s:get("bin\0k"), "\0\255")
    s:set("after", "y")
    raises("limit_exceeded", function() s:restore(path, 5) end)
    raises("limit_exceeded", function() s:restore(path, nil, 10) end)
    raises("not_found", function() s:restore(path .. ".none") end, path .. ".none")
    raises("invalid_argument", function() s:backup("") end, "path is empty")
    raises("invalid_argument", function() s:restore("a\0b") end, "NUL byte")
    raises("invalid_argument", function() s:backup(3) end,
           "bad argument #1 to 'backup' (path: string expected, got number)")
    raises("invalid_argument", function() s:restore(path, -1) end, "max_entries is -1")
    eq(s:size(), 22, "the failed restores changed nothing")
    eq(s:get("after"), "y")
  end)
  os.remove(path)
  if not ok then error(err, 0) end
end)

test("random_key and pop_random", function(s)
  eq(s:random_key(), nil)
  eq(s:pop_random(), nil)
  local tokens = {}
  for i = 1, 40 do
    tokens["tok:" .. i] = true
    s:set("tok:" .. i, "v" .. i)
  end
  s:set("other", "x")
  assert(tokens[s:random_key("tok:")])
  local popped = 0
  while true do
    local k, v = s:pop_random("tok:")
    if not k then break end
    assert(tokens[k], "popped an unknown or repeated token " .. k)
    eq(v, "v" .. k:sub(5))
    tokens[k] = nil
    popped = popped + 1
  end
  eq(popped, 40)
  eq(next(tokens), nil)
end)

test("info and stats", function(s, name)
  s:set("a", "1")
  s:get("a")
  local i = s:info()
  eq(i.name, name); eq(i.shards, 4); eq(i.max_key_bytes, 64); eq(i.live_keys, 1)
  eq(i.engine, "shm")
  assert(i.processes >= 1)
  assert(s:stats().sets >= 1)
end)

test("bad arguments are raised with the shmkv code and Lua's wording", function(s, name)
  raises("invalid_argument", function() s:set(1, "v") end,
         "bad argument #1 to 'set' (key: string expected, got number)")
  raises("invalid_argument", function() s:set("k", nil) end,
         "bad argument #2 to 'set' (value: string expected, got nil)")
  raises("invalid_argument", function() s:get() end, "got nil")
  raises("invalid_argument", function() s.get("k") end, "calling 'get' on bad self")
  raises("invalid_argument", function() s:list("", -1) end, "limit is -1; it must be >= 0")
  raises("invalid_argument", function() s:scan("", 1.5) end, "limit is 1.5")
  raises("invalid_argument", function() s:list("", "3") end, "number expected, got string")
  raises("invalid_argument", function() s:set("k", "v", -1) end, "ttl is -1")
  raises("invalid_argument", function() s:set("k", "v", "10") end, "got string")
  raises("invalid_argument", function() s:incr("k", 0.5) end, "delta is 0.5")
  raises("invalid_argument", function() s:incr("k", "1") end, "got string")
  raises("invalid_argument", function() s:get("") end, "key is empty")
  raises("invalid_argument", function() s:cad("k", nil) end, "expected: string expected")
  local err = raises("key_too_long", function() s:set(string.rep("k", 65), "v") end,
                     "key is 65 bytes; max_key_bytes is 64")
  assert(err:find("test_shmkv.lua", 1, true), "error points at the caller: " .. err)
  raises("value_too_large", function() s:set("k", string.rep("v", 4097)) end,
         "value is 4097 bytes; max_value_bytes is 4096")
  raises("invalid_argument", function() shmkv.open("bad/name") end, "bad/name")
  raises("invalid_argument", function() shmkv.open(name, {open_mode = "sideways"}) end,
         "open_mode sideways")
  raises("invalid_argument", function() shmkv.open(name, {colour = 1}) end, "unknown option")
  raises("invalid_argument", function() shmkv.open(name, {shards = -4}) end, "shards is -4")
  raises("not_found", function() shmkv.open(name .. "-none", {open_mode = "attach_only"}) end)
  raises("already_exists", function() shmkv.open(name, {open_mode = "create_only"}) end)
  eq(s:size(), 0, "nothing was written by the failed calls")
end)

test("read-only and closed handles", function(s, name)
  s:set("k", "v")
  local ro = shmkv.open(name, {open_mode = "read_only"})
  eq(ro:get("k"), "v")
  raises("read_only", function() ro:set("k", "x") end, name)
  ro:close()
  ro:close()
  eq(ro:is_open(), false)
  raises("closed", function() ro:get("k") end, "is closed")
end)

test("ranges: list, list_keys, scan, scan_keys, count, delete_range", function(s)
  for _, k in ipairs({"a:1", "a:2", "a:3", "b:1", "b:2", "c", "\0z", "\255z"}) do s:set(k, "v") end
  local function keys_of(entries)
    local out = {}
    for i, e in ipairs(entries) do out[i] = e.key end
    return table.concat(out, " ")
  end
  eq(keys_of(s:list(nil, nil, "a:2", "b:2")), "a:2 a:3 b:1")
  eq(table.concat(s:list_keys(nil, nil, "a:2", "b:2"), " "), "a:2 a:3 b:1")
  eq(table.concat(s:list_keys("b", nil, "a", "b:2"), " "), "b:1")
  eq(table.concat(s:list_keys(nil, 2, "a:2"), " "), "a:2 a:3")
  eq(s:list_keys(nil, nil, nil, "\1")[1], "\0z")
  eq(s:list_keys(nil, nil, "\255")[1], "\255z")
  eq(s:count(nil, "a:2", "c"), 4); eq(s:count("a", nil, "a:3"), 2); eq(s:count(nil, "b", "b"), 0)
  local keys, cursor = {}, nil
  while true do
    local page, next_cursor, done = s:scan_keys(nil, 2, cursor, "a", "c")
    local entries, entries_cursor, entries_done = s:scan(nil, 2, cursor, "a", "c")
    eq(keys_of(entries), table.concat(page, " "))
    eq(entries_cursor, next_cursor); eq(entries_done, done)
    for _, k in ipairs(page) do keys[#keys + 1] = k end
    if done then break end
    cursor = next_cursor
  end
  eq(table.concat(keys, " "), "a:1 a:2 a:3 b:1 b:2")
  raises("invalid_argument", function() s:list(nil, nil, "b", "a") end, "to 'a' is below from 'b'")
  raises("invalid_argument", function() s:delete_range() end, "clear()")
  raises("invalid_argument", function() s:count(nil, 3) end, "string expected, got number")
  eq(s:size(), 8)
  local deleted, done = s:delete_range(nil, 2, "a:2", "b:2")
  eq(deleted, 2); eq(done, false)
  deleted, done = s:delete_range(nil, nil, "a:2", "b:2")
  eq(deleted, 1); eq(done, true)
  eq(table.concat(s:list_keys("a"), " "), "a:1")
end)

test("pop_random_many", function(s)
  for i = 1, 40 do s:set("tok:" .. i, "v" .. i) end
  s:set("other", "x")
  local seen = {}
  local first = s:pop_random_many("tok:", 25)
  eq(#first, 25)
  for _, e in ipairs(first) do
    eq(e.value, "v" .. e.key:sub(5)); eq(seen[e.key], nil); seen[e.key] = true
  end
  local rest = s:pop_random_many("tok:", 100)
  eq(#rest, 15)
  for _, e in ipairs(rest) do eq(seen[e.key], nil); seen[e.key] = true end
  eq(#s:pop_random_many("tok:", 3), 0)
  raises("invalid_argument", function() s:pop_random_many("", 0) end, "n is 0")
  raises("invalid_argument", function() s:pop_random_many("", 1000001) end, "n is 1000001")
  eq(s:size(), 1)
  eq(s:get("other"), "x")
end)

test("processes share one store (luajit children)", function(s, name)
  for i = 1, 300 do s:set("token:" .. i, "t") end
  local child = [[
    local shmkv = require "shmkv"
    local s = shmkv.open(arg[1])
    for _ = 1, 500 do s:incr("hits") end
    local n = 0
    if arg[2] == "batches" then  -- pop_random_many against the others' single pops
      while true do
        local batch = s:pop_random_many("token:", 5)
        if #batch == 0 then break end
        n = n + #batch
      end
    else
      while s:pop_random("token:") do n = n + 1 end
    end
    io.write(n)
  ]]
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(child)
  f:close()
  local pipes = {}
  for i = 1, 3 do
    local mode = i == 2 and "batches" or "single"
    pipes[i] = assert(io.popen("luajit " .. script .. " " .. name .. " " .. mode))
  end
  local total = 0
  for i = 1, 3 do
    total = total + assert(tonumber(pipes[i]:read("*a")), "child output")
    pipes[i]:close()
  end
  os.remove(script)
  eq(s:get("hits"), "1500")
  eq(total, 300, "tokens popped by the children together")
  eq(s:count("token:"), 0)
end)

test("claims: claim, claim_random, renew, release, complete, fenced by tokens", function(s)
  local LONG = 60  -- seconds: never runs out here
  eq(s:claim("acct:1", LONG), nil, "an absent key")
  s:set("acct:1", "alice")
  local c = s:claim("acct:1", LONG)
  eq(c.key, "acct:1"); eq(c.value, "alice"); eq(c.token > 0, true, "token > 0")
  eq(s:get("acct:1"), "alice", "a claimed key stays visible")
  eq(s:claim("acct:1", LONG), nil, "held")
  eq(s:claim_random("acct:", LONG), nil, "held")
  eq(s:pop_random("acct:"), nil, "held")
  eq(s:renew("acct:1", c.token + 1, LONG), false)
  eq(s:release("acct:1", c.token + 1), false)
  eq(s:complete("acct:1", c.token + 1), false)
  eq(s:renew("acct:1", c.token, LONG), true)
  eq(s:release("acct:1", c.token), true)
  eq(s:release("acct:1", c.token), false, "given back already")
  local again = s:claim_random("acct:", LONG)
  eq(again.key, "acct:1"); eq(again.value, "alice"); eq(again.token > c.token, true, "grows")
  eq(s:complete("acct:1", c.token), false)
  eq(s:complete("acct:1", again.token), true)
  eq(s:get("acct:1"), nil)
  s:set("k", "v")
  raises("invalid_argument", function() s:claim("k", 0) end, "lease 0 ms")
  raises("invalid_argument", function() s:claim("k", -1) end, "lease is -1")
  raises("invalid_argument", function() s:release("k") end, "token")
  raises("invalid_argument", function() s:lock("l", 10, "soon") end, "wait")
  raises("invalid_argument", function() s:acquire("sem", 0) end, "permits is 0")
  eq(#s:check_invariants(), 0)
end)

-- Starts a luajit child that opens the store as s and runs `body` (Lua source, with ffi and
-- ffi.C.pause at hand), in which ready() tells the parent it is under way. Returns the child's
-- pid once it called ready(), and the pipe of its standard output.
local function child(name, body)
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([[
    local ffi = require "ffi"
    ffi.cdef "int pause(void);"
    local shmkv = require "shmkv"
    local s = shmkv.open(arg[1])
    local function ready()
      io.write(io.open("/proc/self/stat"):read("*l"):match("^(%d+)"), "\n")
      io.stdout:flush()
    end
  ]] .. body)
  f:close()
  local pipe = assert(io.popen("exec luajit " .. script .. " " .. name))
  local pid = assert(pipe:read("*l"), "the child did not get under way")
  os.remove(script)
  return pid, pipe
end

-- A child that holds what `take` (Lua source using s, which must succeed) took until killed.
local function holder(name, take)
  return child(name, "assert(" .. take .. ") ready() ffi.C.pause()")
end

test("a SIGKILLed process's claim, lock and permit are free at the next attempt", function(s, name)
  local LONG = 60  -- the holder's leases never run out here: only its death frees them
  s:set("acct:1", "alice")
  local pid, pipe = holder(name, 's:claim("acct:1", 60) and s:lock("leader", 60) and ' ..
                                 's:acquire("db", 1)')
  eq(s:claim("acct:1", LONG), nil, "held by a live process")
  eq(s:lock("leader", LONG, 0.03), nil, "timed out")
  eq(s:acquire("db", 1), nil, "the only permit is held")
  -- The parent waits 20 s against a 60 s lease: only the holder's death lets it in.
  assert(succeeded(os.execute("(sleep 0.1; kill -9 " .. pid .. ") &")))
  local token = s:lock("leader", LONG, 20)
  pipe:close()
  assert(token, "the lock after the holder was killed")
  eq(s:claim("acct:1", LONG) ~= nil, true, "the claim after the holder was killed")
  local permit = s:acquire("db", 1, 20)
  eq(permit > token, true, "a later token")
  eq(s:unlock("leader", token + 1), false)
  eq(s:unlock("leader", token), true)
  eq(s:unlock("leader", token), false)
  eq(s:release_permit("db", permit), true)
  eq(s:release_permit("db", permit), false)
  -- info lists what is held: the claim this process took after the holder's death.
  local coord = s:info().coordination
  eq(coord.used, 1, "grants in use")
  eq(coord.capacity > 0, true, "capacity")
  local g = coord.grants[1]
  eq(g.kind, "claim"); eq(g.name_head, "acct:1"); eq(g.name_bytes, 6)
  eq(g.holder_alive, true); eq(g.lease_left_ms > 0, true, "lease left")
end)

test("wait_for, pop_random_wait and barrier across processes", function(s, name)
  eq(s:wait_for("ready", 0), false)
  eq(s:pop_random_wait("job:", 0), nil)
  raises("invalid_argument", function() s:wait_for("ready", -1) end, "timeout is -1")
  raises("invalid_argument", function() s:barrier("b", 0) end, "parties is 0")
  eq(s:barrier("b", 1), 0)
  -- A child writes after pauses; the parent waits 20 s for each: only the writes end the waits.
  local _, writer = child(name, 'ready() os.execute("sleep 0.1") s:set("ready", "1") ' ..
                                'os.execute("sleep 0.1") s:set("job:7", "payload")')
  eq(s:wait_for("ready", 20), true)
  local key, value = s:pop_random_wait("job:", 20)
  eq(key, "job:7"); eq(value, "payload")
  writer:close()
  -- Two processes pass a 2-party barrier with the indices 0 and 1.
  local _, other = child(name, 'ready() io.write(s:barrier("pair", 2, 20))')
  local mine = s:barrier("pair", 2, 20)
  local theirs = tonumber(other:read("*a"))
  other:close()
  eq(mine + theirs, 1, "the indices 0 and 1")
  -- A party SIGKILLed while the parent waits breaks the round: shmkv.broken, not a hang.
  local victim, victim_pipe = child(name, 'ready() s:barrier("trio", 3, 60)')
  os.execute("sleep 0.05")  -- it has arrived and sleeps
  assert(succeeded(os.execute("(sleep 0.1; kill -9 " .. victim .. ") &")))
  raises("broken", function() s:barrier("trio", 3, 20) end)  -- 20 s: only the death ends it
  victim_pipe:close()
  eq(s:barrier("trio", 1), 0, "the next round starts fresh")
end)

-- Damages the record holding marker in the segment: its checksum no longer matches.
local function flip_byte_of(name, marker)
  local f = assert(io.open("/dev/shm/shmkv." .. name, "r+b"))
  local at = assert(f:read("*a"):find(marker, 1, true), "marker in the segment")
  f:seek("set", at - 1)
  f:write("X")
  f:close()
end

test("get_many, set_many, delete_many", function(s)
  s:set_many({a = "1", ["b\0b"] = "", c = "33"}, 60)
  local t = s:ttl("b\0b")
  eq(t > 0 and t <= 60, true, "ttl of a set_many key")
  local values, found = s:get_many({"c", "missing", "b\0b", "a"})
  eq(found, 3)
  eq(values[1], "33"); eq(values[2], nil); eq(values[3], ""); eq(values[4], "1")
  local none, zero = s:get_many({})
  eq(next(none), nil); eq(zero, 0)
  -- One bad entry refuses the whole batch; nothing is written.
  raises("key_too_long", function() s:set_many({new = "v", [string.rep("k", 65)] = "v"}) end,
         "65 bytes")
  raises("invalid_argument", function() s:get_many({""}) end, "key is empty")
  raises("invalid_argument", function() s:set_many({new = "v"}, -1) end)
  raises("invalid_argument", function() s:get_many("a") end, "table expected")
  eq(s:get("new"), nil)
  eq(s:delete_many({"a", "missing", "c"}), 2)
  eq(s:size(), 1)
end)

test("random_keys", function(s)
  for i = 0, 4 do s:set("u:" .. i, "v") end
  s:set("other", "x")
  local drawn = s:random_keys(20, "u:")
  eq(#drawn, 20)
  for _, k in ipairs(drawn) do eq(k:sub(1, 2), "u:") end
  local unique = s:random_keys(20, "u:", true)
  table.sort(unique)
  eq(table.concat(unique, ","), "u:0,u:1,u:2,u:3,u:4")
  eq(#s:random_keys(3, "none:"), 0)
  raises("invalid_argument", function() s:random_keys(0) end, "count is 0")
  raises("invalid_argument", function() s:random_keys(1000001) end, "1000001")
end)

test("cas, swap, get_or_set, set_if_absent take a TTL; incr keeps it", function(s)
  local hour = 3600
  s:set("k", "v", hour)
  eq(s:cas("k", "v", "w"), true)
  eq(s:ttl("k"), math.huge, "a store without a TTL drops the old one")
  eq(s:cas("k", "w", "x", hour), true)
  eq(s:ttl("k") > hour - 60, true, "cas with a TTL")
  eq(s:cas("k", "nope", "y", 5), false)
  eq(s:ttl("k") > hour - 60, true, "a lost cas changes nothing")
  eq(s:swap("k", "s", 2 * hour), "x")
  eq(s:ttl("k") > hour, true, "swap with a TTL")
  eq(s:swap("k", "t"), "s")
  eq(s:ttl("k"), math.huge)
  s:set("n", "1", hour)
  eq(s:incr("n"), 2)
  eq(s:ttl("n") > hour - 60, true, "incr keeps the TTL")
  local v, loaded = s:get_or_set("g", "first", hour)
  eq(v, "first"); eq(loaded, false)
  v, loaded = s:get_or_set("g", "second")
  eq(v, "first"); eq(loaded, true)
  eq(s:ttl("g") > hour - 60, true, "a loaded key keeps its TTL")
  eq(s:set_if_absent("a", "v", hour), true)
  eq(s:set_if_absent("a", "w"), false)
  eq(s:ttl("a") > hour - 60, true)
  raises("invalid_argument", function() s:cas("k", "t", "z", -1) end, "ttl is -1")
  raises("invalid_argument", function() s:swap("k", "z", -1) end)
  raises("invalid_argument", function() s:get_or_set("h", "z", math.huge) end)
  eq(s:get("k"), "t"); eq(s:get("h"), nil)
end)

test("cas_detailed returns the current value", function(_, name)
  local big = string.rep("x", 20000)  -- larger than the module's buffer so far: a retry
  local s = shmkv.open(name .. "-big", {size_bytes = 8 * 1024 * 1024, shards = 4,
                                        max_value_bytes = 65536})
  s:set("k", big)
  local swapped, current = s:cas_detailed("k", "other", "new")
  eq(swapped, false); eq(current, big)
  swapped, current = s:cas_detailed("k", nil, "new")
  eq(swapped, false); eq(current, big)
  swapped, current = s:cas_detailed("missing", "a", "new")
  eq(swapped, false); eq(current, nil)
  eq(s:get("missing"), nil); eq(s:get("k"), big)
  swapped, current = s:cas_detailed("k", big, "new", 3600)
  eq(swapped, true); eq(current, "new")
  eq(s:ttl("k") > 3500, true, "cas_detailed with a TTL")
  raises("invalid_argument", function() s:cas_detailed("k", "new", "v", -1) end)
  s:close()
  shmkv.destroy(name .. "-big")
end)

test("check_invariants lists violations", function(s, name)
  for i = 1, 50 do s:set("k" .. i, string.rep("v", i)) end
  eq(#s:check_invariants(), 0)
  s:set("damaged", "lua-check-invariants-marker")
  flip_byte_of(name, "lua-check-invariants-marker")
  local report = s:check_invariants()
  eq(#report >= 1, true, "violations reported")
  eq(report[1]:find("damaged", 1, true) ~= nil, true, report[1])
end)

-- A fresh directory path (not created) under /tmp, and a function that removes it.
local function temp_dir()
  local path = string.format("/tmp/shmkv-lua-%s", unique_name())
  return path, function() os.execute("rm -rf '" .. path .. "'") end
end

do
  local name = unique_name()
  local dir, remove_dir = temp_dir()
  local ok, err = xpcall(function()
    raises("invalid_argument", function() shmkv.open(name, {fsync = "always"}) end,
           "persistence_directory is not")
    raises("invalid_argument", function()
      shmkv.open(name, {persistence_directory = dir, fsync = "sometimes"})
    end, "fsync sometimes")
    raises("invalid_argument", function()
      shmkv.open(name, {persistence_directory = dir, snapshot_interval = 0})
    end, "snapshot_interval is 0")
    eq(shmkv.segment_exists(name), false)
    local options = {size_bytes = 8 * 1024 * 1024, shards = 4, persistence_directory = dir,
                     fsync = "always", snapshot_interval = 3600, fsync_interval = 0.05,
                     keep_snapshots = 3}
    local s = shmkv.open(name, options)
    eq(s:recovery_report().performed, true, "created from an empty directory")
    for i = 1, 20 do s:set("k" .. i, "v") end
    eq(s:snapshot(), 20)
    s:set("after", "snapshot")  -- in the journal only
    s:sync()
    s:close()
    shmkv.destroy(name)
    s = shmkv.open(name, options)
    local r = s:recovery_report()
    eq(r.performed, true)
    eq(r.directory, dir)
    eq(r.snapshot:sub(1, #dir), dir)
    eq(r.snapshot_entries, 20); eq(r.entries, 21)
    eq(r.records_applied >= 1, true, "journal records applied")
    eq(#r.truncated, 0); eq(#r.skipped, 0)
    eq(s:get("after"), "snapshot")
    s:close()
  end, debug.traceback)
  pcall(shmkv.destroy, name)
  remove_dir()
  if ok then passed = passed + 1 else
    failed = failed + 1
    io.stderr:write("FAILED: persistence options, sync, snapshot, recovery_report\n", err, "\n")
  end
end

test("memory only: sync does nothing, snapshot is refused, nothing recovered", function(s)
  s:sync()
  raises("invalid_argument", function() s:snapshot() end)
  local r = s:recovery_report()
  eq(r.performed, false); eq(r.directory, ""); eq(#r.notes, 0)
end)

test("JSONL export and import", function(s)
  local dir, remove_dir = temp_dir()
  os.execute("mkdir -m 700 '" .. dir .. "'")
  local ok, err = pcall(function()
    s:set("text", "hello")
    s:set("bin\255", "\0\1")
    local path = dir .. "/dump.jsonl"
    local entries, bytes = s:export_jsonl(path)
    eq(entries, 2); eq(bytes, 15)
    s:clear()
    s:set("other", "x")
    local dups
    entries, bytes, dups = s:import_jsonl(path)
    eq(entries, 2); eq(bytes, 15); eq(dups, 0)
    eq(s:get("text"), "hello"); eq(s:get("bin\255"), "\0\1")
    eq(s:get("other"), nil, "replaced, as restore does")
    local f = assert(io.open(dir .. "/dup.jsonl", "w"))
    f:write('{"key":"a","value":"1"}\n{"key":"a","value":"2"}\n')
    f:close()
    entries, bytes, dups = s:import_jsonl(dir .. "/dup.jsonl")
    eq(dups, 1); eq(s:get("a"), "2")
    f = assert(io.open(dir .. "/bad.jsonl", "w"))
    f:write('{"key":"b","value":"1"}\n{"key":\n')
    f:close()
    raises("corrupted", function() s:import_jsonl(dir .. "/bad.jsonl") end, "line 2")
    raises("not_found", function() s:import_jsonl(dir .. "/none.jsonl") end, "none.jsonl")
    raises("limit_exceeded", function() s:import_jsonl(path, 1) end)
    eq(s:get("a"), "2"); eq(s:get("b"), nil)
  end)
  remove_dir()
  if not ok then error(err, 0) end
end)

do
  local name = unique_name()
  eq(shmkv.segment_exists(name), false)
  local s = shmkv.open(name, {size_bytes = 4 * 1024 * 1024, shards = 4})
  eq(shmkv.segment_exists(name), true)
  s:close()
  shmkv.destroy(name)
  eq(shmkv.segment_exists(name), false)
  local code, cname = shmkv.error_code("x.lua:3: shmkv.store_full(-4): no room")
  eq(code, -4); eq(cname, "store_full")
  eq(shmkv.error_code("other error"), nil)
  eq(shmkv.codes.invalid_argument, -1); eq(shmkv.codes.io_error, -16); eq(shmkv.codes.ok, 0)
  eq(shmkv.version:match("^%d+%.%d+%.%d+$") ~= nil, true)
end

-- --- A store on a Redis server, by url: each test runs a redis-server of its own (no TCP port,
-- nothing saved), stopped after it. Without redis-server installed they are skipped, unless
-- SHMKV_REQUIRE_REDIS is set (then they fail).

local have_redis = succeeded(os.execute("command -v redis-server >/dev/null 2>&1"))
local require_redis = (os.getenv("SHMKV_REQUIRE_REDIS") or "") ~= ""

-- Starts redis-server on <dir>/redis.sock; returns its url and a function that stops it.
local function start_redis()
  local dir = temp_dir()
  assert(succeeded(os.execute("mkdir -p '" .. dir .. "'")))
  local sock, pidfile = dir .. "/redis.sock", dir .. "/redis.pid"
  assert(succeeded(os.execute(string.format(
    "redis-server --port 0 --unixsocket '%s' --save '' --appendonly no --dir '%s' " ..
    "--daemonize yes --pidfile '%s' >/dev/null", sock, dir, pidfile))), "redis-server failed")
  local url = "unix://" .. sock
  -- Ready when an open stops raising unavailable (bounded: a server that never listens fails).
  local probe = unique_name()
  for _ = 1, 1000 do
    local ok, err = pcall(shmkv.open, probe, {url = url})
    if ok then
      err:close()
      shmkv.destroy(probe, url)
      break
    end
    if select(2, shmkv.error_code(err)) ~= "unavailable" then error(err) end
    os.execute("sleep 0.01")
  end
  local function stop()
    local f = io.open(pidfile)
    local pid = f and f:read("*n")
    if f then f:close() end
    if pid then
      os.execute("kill " .. pid)
      for _ = 1, 1000 do  -- until it has exited (the socket is gone)
        if not succeeded(os.execute("kill -0 " .. pid .. " 2>/dev/null")) then break end
        os.execute("sleep 0.01")
      end
    end
    os.execute("rm -rf '" .. dir .. "'")
  end
  return url, stop, sock
end

local function redis_test(title, fn)
  if not have_redis then
    if require_redis then
      failed = failed + 1
      io.stderr:write("FAILED: ", title, ": redis-server is not on PATH and SHMKV_REQUIRE_REDIS ",
                      "is set\n")
    else
      io.stderr:write("skipped (redis-server is not installed): ", title, "\n")
    end
    return
  end
  local url, stop, sock = start_redis()
  local ok, err = xpcall(function() fn(url, unique_name(), stop, sock) end, debug.traceback)
  stop()
  if ok then passed = passed + 1 else
    failed = failed + 1
    io.stderr:write("FAILED: ", title, "\n", tostring(err), "\n")
  end
end

redis_test("claims and locks on a server, fenced by tokens", function(url, name)
  local LONG = 60
  local s = shmkv.open(name, {url = url})
  s:set("acct:1", "alice")
  local c = s:claim("acct:1", LONG)
  eq(c.key, "acct:1"); eq(c.value, "alice"); eq(c.token > 0, true, "token > 0")
  eq(s:claim("acct:1", LONG), nil, "held")
  eq(s:pop_random("acct:"), nil, "a claimed key is not popped")
  eq(s:release("acct:1", c.token + 1), false)
  local t = s:lock("leader", LONG)
  eq(t > c.token, true, "tokens grow")
  eq(s:lock("leader", LONG), nil, "held")
  eq(s:unlock("leader", t), true)
  eq(s:complete("acct:1", c.token), true)
  eq(s:get("acct:1"), nil)
  s:close()
end)

redis_test("open by url: every kind of operation, destroy and segment_exists", function(url, name)
  eq(shmkv.segment_exists(name, url), false)
  local s = shmkv.open(name, {url = url})
  eq(s:info().engine, "redis"); eq(s:info().name, name)
  eq(shmkv.segment_exists(name, url), true)
  eq(shmkv.segment_exists(name), false, "no segment in /dev/shm")
  s:set("user:1", "ann")
  s:set("user:2", "\0bob\255")
  eq(s:get("user:1"), "ann"); eq(s:get("user:2"), "\0bob\255")
  eq(s:incr("hits", 5), 5); eq(s:incr("hits", -2), 3)
  raises("not_a_number", function() s:incr("user:1") end)
  local entries = s:list("user:")
  eq(#entries, 2); eq(entries[1].key, "user:1"); eq(entries[2].value, "\0bob\255")
  eq(s:count(), 3)
  local popped = {}
  for _ = 1, 2 do
    local k, v = s:pop_random("user:")
    popped[k] = v
  end
  eq(popped["user:1"], "ann"); eq(popped["user:2"], "\0bob\255")
  eq(s:pop_random("user:"), nil)
  local other = shmkv.open(name, {url = url, open_mode = "attach_only"})
  eq(other:get("hits"), "3", "a second handle sees the store")
  other:close()
  raises("invalid_argument", function() shmkv.open(name, {url = url, shards = 4}) end, "shards")
  raises("invalid_argument", function() shmkv.open(name, {url = url, connect_timeout = 0}) end,
         "connect_timeout")
  raises("invalid_argument", function() shmkv.open(name, {url = 5}) end, "url: string expected")
  s:close()
  shmkv.destroy(name, url)
  eq(shmkv.segment_exists(name, url), false)
  raises("not_found", function() shmkv.destroy(name, url) end, name)
end)

redis_test("a server that goes away is unavailable, naming its address", function(url, name, stop,
                                                                                  sock)
  local s = shmkv.open(name, {url = url, connect_timeout = 0.5, command_timeout = 0})
  s:set("k", "v")
  stop()
  raises("unavailable", function() s:get("k") end, sock)
  s:close()
  raises("unavailable", function() shmkv.open(name, {url = url}) end, sock)
  raises("unavailable", function() shmkv.segment_exists(name, url) end)
  raises("unavailable", function() shmkv.destroy(name, url) end)
end)

redis_test("a write whose reply is lost is outcome_unknown", function(url, name, _, sock)
  -- CLIENT PAUSE WRITE holds every write (60 s, far beyond the 0.2 s command timeout); reads
  -- still run. The set was sent, so whether it happens is unknown.
  local s = shmkv.open(name, {url = url, command_timeout = 0.2})
  s:set("k", "before")
  local function redis_cli(args)
    assert(succeeded(os.execute("redis-cli -s '" .. sock .. "' " .. args .. " >/dev/null")),
           "redis-cli " .. args)
  end
  redis_cli("CLIENT PAUSE 60000 WRITE")
  local ok, err = pcall(function()
    raises("outcome_unknown", function() s:set("k", "after") end)
    eq(s:get("k"), "before", "the held write has not run")
  end)
  redis_cli("CLIENT UNPAUSE")
  s:close()
  if not ok then error(err, 0) end
end)

do  -- the error names every surface shares
  eq(shmkv.codes.unavailable, -17); eq(shmkv.codes.outcome_unknown, -18)
end

print(string.format("lua_bindings: %d passed, %d failed (libshmkv %s from %s)", passed, failed,
                    shmkv.version, shmkv.library_path))
os.exit(failed == 0 and 0 or 1)
