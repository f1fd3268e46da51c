// redis.test.js: the Node binding on the Redis engine (openKv({url})), against a redis-server of
// the test's own on a unix socket: the basic operations, the errors, and two forked processes
// sharing the store by url. Skipped without redis-server unless SHMKV_REQUIRE_REDIS is set.
"use strict";

const assert = require("node:assert/strict");
const { fork } = require("node:child_process");
const test = require("node:test");

const { shmkv, freshStore, startRedis, assertThrowsCode } = require("./helpers");

test("the Redis engine through openKv({url})", async (t) => {
  const redis = await startRedis();
  if (!redis) return t.skip("redis-server is not installed");
  const { url } = redis;
  let kv;
  try {
    kv = freshStore(t, "redis", { url, sizeBytes: undefined, serialization: "json" });
  } finally {
    t.after(redis.stop);  // after the store's own clean-up
  }
  assert.equal(kv.info().engine, "redis");
  assert.equal(kv.url, url);
  kv.set("o", { a: 1 }, { ttl: 60000 });
  assert.deepEqual(kv.get("o"), { a: 1 });
  assert.ok(kv.ttl("o") > 59000);
  assert.equal(kv.incrementBy("n", 5), 5);
  assert.deepEqual(kv.getOrSet("g", "x"), { value: "x", loaded: false });
  assert.equal(kv.compareAndSwap("leader", null, "me"), true);
  assert.equal(kv.compareAndSwap("leader", null, "you"), false);
  kv.setMany({ "token:1": 1, "token:2": 2, "token:3": 3 });
  assert.deepEqual(kv.listKeys({ prefix: "token:" }), ["token:1", "token:2", "token:3"]);
  assert.equal(kv.scan({ prefix: "token:", limit: 2 }).entries.length, 2);
  const popped = kv.popRandom({ prefix: "token:" });
  assert.equal(Number(popped.key.slice(6)), popped.value);
  assert.equal(kv.count({ prefix: "token:" }), 2);
  assert.equal(kv.size(), 6);
  assertThrowsCode(() => kv.incrementBy("o", 1), shmkv.NotANumberError, "not_a_number");
  assert.equal(shmkv.segmentExists(kv.name, { url }), true);

  const children = await Promise.all([0, 1].map((i) => new Promise((resolve, reject) => {
    const child = fork(`${__dirname}/shared_worker.js`, [kv.name, "500", String(i), url], { stdio: "inherit" });
    child.on("message", resolve);
    child.on("exit", (code) => code !== 0 && reject(new Error(`child exited ${code}`)));
  })));
  assert.equal(kv.get("counter"), 1000);
  assert.equal(children.filter((r) => r.leader).length, 0);  // "leader" was taken above
  assert.equal(children.flatMap((r) => r.tokens).length, 2);
});

test("an unreachable server is UnavailableError naming its address", () => {
  assertThrowsCode(() => shmkv.openKv({ name: "node-unreachable", url: "unix:///nonexistent/redis.sock", connectTimeout: 200 }),
    shmkv.UnavailableError, "unavailable", "/nonexistent/redis.sock");
});
