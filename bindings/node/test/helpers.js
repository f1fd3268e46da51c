// helpers.js: what the Node binding's tests share: a unique store name per test (other test runs
// share /dev/shm), a store opened for one test and destroyed after it, a scratch directory, and
// a redis-server of the test's own on a unix socket.
"use strict";

const assert = require("node:assert/strict");
const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");

const shmkv = require("..");

let counter = 0;
function uniqueName(tag) {
  return `node-test-${tag}-${process.pid}-${++counter}`;
}

// Opens a fresh store; t.after destroys it.
function freshStore(t, tag, options = {}) {
  const name = uniqueName(tag);
  const kv = shmkv.openKv({ name, sizeBytes: 8 << 20, ...options });
  t.after(() => {
    kv.close();
    if (shmkv.segmentExists(name, { url: options.url })) shmkv.destroy(name, { url: options.url });
  });
  return kv;
}

function scratchDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shmkv-node-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Asserts that fn throws an instance of cls whose code is `code` and whose message contains
// every string of `mentions`.
function assertThrowsCode(fn, cls, code, ...mentions) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e && e.name}: ${e && e.message}`);
    assert.ok(e instanceof shmkv.ShmkvError && e instanceof Error);
    assert.equal(e.code, code);
    for (const m of mentions) assert.ok(e.message.includes(m), `'${e.message}' does not name '${m}'`);
    return true;
  });
}

// Whether a server on the unix socket answers PING (false on any error).
function answersPing(socket) {
  return new Promise((resolve) => {
    const c = net.createConnection(socket);
    let reply = "";
    const done = (ok) => {
      c.destroy();
      resolve(ok);
    };
    c.on("connect", () => c.write("PING\r\n"));
    c.on("data", (d) => {
      reply += d.toString();
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
    c.on("error", () => done(false));
  });
}

// Starts `redis-server --port 0 --unixsocket <tmp>/redis.sock`; resolves to {url, stop}, or to
// null when redis-server is not installed (then the caller skips, unless SHMKV_REQUIRE_REDIS is
// set). The caller registers stop with t.after once the stores on it are registered (node:test
// runs after hooks in the order they were added).
async function startRedis() {
  if (spawnSync("redis-server", ["--version"]).error) {
    if (process.env.SHMKV_REQUIRE_REDIS) throw new Error("redis-server not found: apt-get install redis-server");
    return null;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shmkv-node-redis-"));
  const socket = path.join(dir, "redis.sock");
  const server = spawn("redis-server", ["--port", "0", "--unixsocket", socket, "--save", "",
    "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
  const stop = () => {
    server.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // Ready when it answers PING: the socket file appears at bind(), before listen(), and a
  // connection in between is refused.
  for (let i = 0; i < 500; i++) {
    if (await answersPing(socket)) return { url: `unix://${socket}`, stop };
    await new Promise((r) => setTimeout(r, 10));
  }
  stop();
  throw new Error("redis-server did not answer PING on its socket in 5 s");
}

module.exports = { shmkv, uniqueName, freshStore, scratchDir, assertThrowsCode, startRedis };
