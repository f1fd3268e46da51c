// multiprocess.test.js: processes made by child_process.fork and worker threads share one store
// through handles of their own: exact counter totals, tokens popped once each, one leader; and
// a handle cannot be handed to a worker (each thread opens its own).
"use strict";

const assert = require("node:assert/strict");
const { fork } = require("node:child_process");
const test = require("node:test");
const { Worker } = require("node:worker_threads");

const { shmkv, freshStore } = require("./helpers");

const CHILD = `${__dirname}/shared_worker.js`;

function runChildren(count, args) {
  return Promise.all(Array.from({ length: count }, (_, i) => new Promise((resolve, reject) => {
    const child = fork(CHILD, [...args, String(i)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let result = null;
    child.on("message", (m) => { result = m; });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(result) : reject(new Error(`child ${i} exited ${code}`))));
  })));
}

function runWorkers(count, args) {
  return Promise.all(Array.from({ length: count }, (_, i) => new Promise((resolve, reject) => {
    const worker = new Worker(CHILD, { argv: [...args, String(i)] });
    let result = null;
    worker.on("message", (m) => { result = m; });
    worker.on("error", reject);
    worker.on("exit", (code) => (code === 0 ? resolve(result) : reject(new Error(`worker ${i} exited ${code}`))));
  })));
}

function seedTokens(kv, n) {
  const tokens = {};
  for (let i = 0; i < n; i++) tokens[`token:${i}`] = String(i);
  kv.setMany(tokens);
}

function checkShared(kv, results, participants, increments, tokens) {
  assert.equal(Number(kv.get("counter")), participants * increments);
  const popped = results.flatMap((r) => r.tokens);
  assert.equal(popped.length, tokens);
  assert.equal(new Set(popped).size, tokens, "a token was popped twice");
  assert.equal(kv.count({ prefix: "token:" }), 0);
  const leaders = results.filter((r) => r.leader);
  assert.equal(leaders.length, 1);
  assert.equal(kv.get("leader"), leaders[0].me);
  assert.deepEqual(kv.checkInvariants(), []);
}

test("child_process.fork: 4 processes share counters, tokens and a leader", async (t) => {
  const kv = freshStore(t, "fork");
  seedTokens(kv, 400);
  const results = await runChildren(4, [kv.name, "2000"]);
  checkShared(kv, results, 4, 2000, 400);
  assert.equal(new Set(results.map((r) => r.pid)).size, 4);
});

test("worker_threads: 4 threads, a handle each, share the same store", async (t) => {
  const kv = freshStore(t, "threads");
  seedTokens(kv, 400);
  const results = await runWorkers(4, [kv.name, "2000"]);
  checkShared(kv, results, 4, 2000, 400);
  assert.deepEqual(new Set(results.map((r) => r.pid)), new Set([process.pid]));
});

test("a handle posted to a worker arrives as a plain object that cannot be used", async (t) => {
  const kv = freshStore(t, "post");
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    try { workerData.get("k"); parentPort.postMessage("used"); }
    catch (e) { parentPort.postMessage(e.constructor.name); }`;
  let message;
  try {
    const worker = new Worker(code, { eval: true, workerData: kv._store });
    message = await new Promise((resolve) => worker.on("message", resolve));
  } catch (e) {
    message = e.name;  // structured clone refuses it outright
  }
  assert.notEqual(message, "used");
});
