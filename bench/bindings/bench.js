// bench.js: single-thread ops/s of the Node binding's get and incrementBy (see run.sh, which
// runs the same workload through the Python and Lua bindings).
//   node bench.js STORE OPS     (SHMKV_NODE_ADDON: the built addon)
"use strict";

const shmkv = require("../../bindings/node");

const [name, opsText] = process.argv.slice(2);
const ops = Number(opsText);
const KEYS = 100000;
const kv = shmkv.openKv({ name, sizeBytes: 64 << 20 });
const value = "v".repeat(100);
const keys = [];
for (let i = 0; i < KEYS; i++) keys.push(`key:${String(i).padStart(8, "0")}`);
for (const k of keys) kv.set(k, value);
const order = keys.map((_, i) => keys[(i * 7919) % KEYS]);  // a fixed permutation of the keys

function time(label, body) {
  const start = process.hrtime.bigint();
  const check = body();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`node ${label} ${Math.round(ops / seconds)} ops/s (check ${check})`);
}

time("get", () => {
  let bytes = 0;
  for (let i = 0; i < ops; i++) bytes += kv.get(order[i % KEYS]).length;
  return bytes;
});
time("incrementBy", () => {
  let sum = 0;
  for (let i = 0; i < ops; i++) sum += kv.incrementBy(order[i % 1000] + ":n", 1);
  return sum;
});
kv.close();
