-- shared_state.lua: a wrk script whose threads (and several wrk processes) share state through
-- shmkv: one request counter and one token pool for the whole test.
--
--   SHMKV_EXAMPLE_STORE=<store> LUA_PATH='<repo>/bindings/lua/?.lua;;' \
--   SHMKV_LIBRARY=<build>/bindings/libshmkv.so wrk -t4 -c8 -d5s -s shared_state.lua <url>
--
-- The store must exist (run_example.py creates it and seeds token:<n> keys). Each request:
--   - counts itself with incr("requests") (and its response with incr("responses"));
--   - takes a token with pop_random("token:") while any is left: no two requests, in any
--     thread of any wrk process, get the same token. It records the use with
--     get_or_set("used:<token>", "<pid>/<thread>"), which would report a second use, and
--     requests /token/<token>; afterwards it requests /plain.
-- done() adds this process's totals (wrk's own count) to the store for the final check.
local ffi = require "ffi"
local shmkv = require "shmkv"

ffi.cdef [[ int getpid(void); ]]

local STORE = os.getenv("SHMKV_EXAMPLE_STORE") or "wrk-example"
local kv, me
local verify_call_pending = false

-- Main Lua state, once per thread before its init(): number the threads.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

-- Each thread's own Lua state: one store handle per thread.
function init(args)
  kv = shmkv.open(STORE, {open_mode = "attach_only"})
  me = string.format("%d/%d", ffi.C.getpid(), thread_number)
  -- wrk calls request() once in the first thread's state, right after init, only to check the
  -- request it builds (it is never sent): keep that call free of side effects.
  verify_call_pending = thread_number == 1
end

function request()
  if verify_call_pending then
    verify_call_pending = false
    return wrk.format("GET", "/plain")
  end
  kv:incr("requests")
  local token = kv:pop_random("token:")
  if token then
    local _, used_before = kv:get_or_set("used:" .. token, me)
    if used_before then kv:incr("tokens:reused") end
    return wrk.format("GET", "/token/" .. token:sub(#"token:" + 1))
  end
  return wrk.format("GET", "/plain")
end

function response(status, headers, body)
  kv:incr("responses")
  if status ~= 200 then kv:incr("bad_status") end
end

-- Main Lua state, after the run.
function done(summary, latency, requests)
  local store = shmkv.open(STORE, {open_mode = "attach_only"})
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  store:incr("wrk:requests", summary.requests)
  store:incr("wrk:socket_errors", socket_errors)
  store:incr("wrk:processes")
  io.write(string.format("wrk pid %d: %d requests completed, %d socket errors; shared counter " ..
                         "now %s requests, %d tokens left\n", ffi.C.getpid(), summary.requests,
                         socket_errors, store:get("requests"), store:count("token:")))
  store:close()
end
