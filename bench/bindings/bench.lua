-- bench.lua: single-thread ops/s of the LuaJIT binding's get and incr (see run.sh).
--   luajit bench.lua STORE OPS     (SHMKV_LIBRARY, SHMKV_LUA_DIR as for the tests)
package.path = (os.getenv("SHMKV_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local shmkv = require("shmkv")
local ffi = require("ffi")
ffi.cdef [[ struct bench_timespec { long sec; long nsec; };
             int clock_gettime(int clk, struct bench_timespec *ts); ]]
local ts = ffi.new("struct bench_timespec")
local function now() ffi.C.clock_gettime(1, ts) return tonumber(ts.sec) + tonumber(ts.nsec) * 1e-9 end

local name, ops = arg[1], tonumber(arg[2])
local KEYS = 100000
local kv = shmkv.open(name, {size_bytes = 64 * 1024 * 1024})
local value = string.rep("v", 100)
local keys, order, counters = {}, {}, {}
for i = 0, KEYS - 1 do keys[i] = string.format("key:%08d", i) kv:set(keys[i], value) end
for i = 0, KEYS - 1 do order[i] = keys[(i * 7919) % KEYS] end  -- the permutation bench.js uses
for i = 0, 999 do counters[i] = order[i] .. ":n" end

local function timed(label, body)
  local start = now()
  local check = body()
  print(string.format("lua %s %d ops/s (check %s)", label, math.floor(ops / (now() - start) + 0.5), check))
end

timed("get", function()
  local total = 0
  for i = 0, ops - 1 do total = total + #kv:get(order[i % KEYS]) end
  return total
end)
timed("incr", function()
  local total = 0
  for i = 0, ops - 1 do total = total + kv:incr(counters[i % 1000], 1) end
  return total
end)
kv:close()
