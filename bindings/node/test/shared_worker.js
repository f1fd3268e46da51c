// shared_worker.js: one participant of multiprocess.test.js, run as a forked process or as a
// worker thread: opens its own handle on the store, increments "counter" N times, pops tokens
// until none is left and runs for leader once; reports {pid, me, leader, tokens}.
//   argv: STORE N INDEX [URL]   (URL: the store is on that Redis server)
"use strict";

const { isMainThread, parentPort } = require("node:worker_threads");
const shmkv = require("..");

const [name, n, index, url] = process.argv.slice(2);
const me = `${isMainThread ? "process" : "thread"}-${index}-${process.pid}`;
const kv = shmkv.openKv({ name, url, openMode: url ? undefined : "attach_only" });
const leader = kv.compareAndSwap("leader", null, me);
const tokens = [];
for (let i = 0; i < Number(n); i++) {
  kv.incrementBy("counter", 1);
  const token = kv.popRandom({ prefix: "token:" });
  if (token) tokens.push(token.key);
}
for (let token = kv.popRandom({ prefix: "token:" }); token; token = kv.popRandom({ prefix: "token:" })) {
  tokens.push(token.key);
}
kv.close();
const result = { pid: process.pid, me, leader, tokens };
if (isMainThread) process.send(result, () => process.disconnect());
else parentPort.postMessage(result);
