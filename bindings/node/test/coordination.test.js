// coordination.test.js: claims (xk6-kv's claimKey, claimRandom, renewClaim, releaseClaim,
// completeClaim), locks, semaphores, waitFor, popRandomWait and barriers through the Node
// binding, within one process and across processes made by child_process.fork: a holder that
// dies gives its grants up at once, a waiter blocked in lock() wakes when the holder unlocks,
// waitFor and popRandomWait wake on another process's insert, three processes meet at a barrier.
"use strict";

const assert = require("node:assert/strict");
const { fork } = require("node:child_process");
const test = require("node:test");

const { shmkv, freshStore, assertThrowsCode, startRedis } = require("./helpers");

const HOLDER = `${__dirname}/grant_holder.js`;

// Runs grant_holder.js; resolves with its first message once it has sent it, and with its exit
// code at the end ({message, exited}).
function holder(args) {
  const child = fork(HOLDER, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const message = new Promise((resolve, reject) => {
    child.once("message", resolve);
    child.once("error", reject);
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return { child, message, exited };
}

test("claims: the xk6-kv shape, claimed keys left alone, release, complete, renew", (t) => {
  const kv = freshStore(t, "claims", { serialization: "json" });
  kv.setMany({ "job:1": { n: 1 }, "job:2": { n: 2 } });
  assert.equal(kv.claimKey("job:absent"), null);
  const before = Date.now();
  const claim = kv.claimKey("job:1", { ttl: 60000 });
  assert.equal(claim.key, "job:1");
  assert.equal(claim.id, `claim-${claim.token}`);
  assert.deepEqual(claim.entry, { key: "job:1", value: { n: 1 } });
  assert.ok(claim.expiresAt >= before + 60000 && claim.expiresAt <= Date.now() + 60000);
  assert.equal(kv.claimKey("job:1"), null);  // held
  assert.equal(kv.get("job:1").n, 1);  // still readable
  assert.equal(kv.claimRandom({ prefix: "job:" }).key, "job:2");  // the only free one
  assert.equal(kv.claimRandom({ prefix: "job:" }), null);
  assert.equal(kv.popRandom({ prefix: "job:" }), null);  // pops leave claimed keys alone
  assert.equal(kv.renewClaim(claim, { ttl: 60000 }), true);
  assert.equal(kv.releaseClaim(claim), true);
  assert.equal(kv.releaseClaim(claim), false);  // the token no longer holds it
  assert.equal(kv.renewClaim(claim), false);
  const again = kv.claimKey("job:1");
  assert.ok(again.token > claim.token);  // fencing: tokens only grow
  assert.equal(kv.completeClaim(claim), false);  // a stale token deletes nothing
  assert.equal(kv.completeClaim(again), true);
  assert.equal(kv.exists("job:1"), false);
  assert.equal(kv.claimKey("job:2"), null);  // still claimed by claimRandom above
});

test("completeClaim with deleteKey: false gives the key back", (t) => {
  const kv = freshStore(t, "complete");
  kv.set("k", "v");
  const claim = kv.claimKey("k");
  assert.equal(kv.completeClaim(claim, { deleteKey: false }), true);
  assert.equal(kv.get("k"), "v");
  assert.notEqual(kv.claimKey("k"), null);
});

test("locks and semaphores in one process", (t) => {
  const kv = freshStore(t, "locks");
  const token = kv.lock("L", { ttl: 60000 });
  assert.equal(typeof token, "number");
  assert.equal(kv.lock("L"), null);  // wait 0: do not wait
  assert.equal(kv.unlock("L", token + 1), false);
  assert.equal(kv.unlock("L", token), true);
  assert.equal(kv.unlock("L", token), false);
  const a = kv.acquire("S", { permits: 2 });
  const b = kv.acquire("S", { permits: 2 });
  assert.ok(a !== null && b !== null && a !== b);
  assert.equal(kv.acquire("S", { permits: 2 }), null);
  assert.equal(kv.releasePermit("S", a), true);
  assert.notEqual(kv.acquire("S", { permits: 2 }), null);
  const coordination = kv.info().coordination;  // what info() shows of the held grants
  const permits = coordination.grants.filter((g) => g.kind === "permit");
  assert.equal(permits.length, 2);
  assert.ok(permits.every((g) => g.holderPid === process.pid && g.holderAlive && g.nameHead === "S"));
  assert.ok(coordination.lastToken >= b && coordination.used >= 2);
});

test("coordination errors name the value", (t) => {
  const kv = freshStore(t, "coorderr");
  kv.set("k", "v");
  assertThrowsCode(() => kv.claimKey("k", { ttl: 0 }), shmkv.InvalidArgumentError, "invalid_argument", "0");
  assertThrowsCode(() => kv.lock("L", { ttl: -1 }), shmkv.InvalidArgumentError, "invalid_argument", "-1");
  assertThrowsCode(() => kv.acquire("S", { permits: 0 }), shmkv.InvalidArgumentError, "invalid_argument", "permits");
  assertThrowsCode(() => kv.releaseClaim("k"), shmkv.InvalidArgumentError, "invalid_argument", "claim");
  assertThrowsCode(() => kv.unlock("L", -1), shmkv.InvalidArgumentError, "invalid_argument", "token");
  assertThrowsCode(() => kv.claimRandom({ prefix: "k", lease: 5 }), shmkv.InvalidArgumentError, "invalid_argument", "lease");
});

test("a forked holder that dies gives up its claim, lock and permit at once", async (t) => {
  const kv = freshStore(t, "death");
  kv.set("job:1", "a");
  const h = holder([kv.name, "hold"]);
  const held = await h.message;
  assert.deepEqual(held, { claimed: "job:1", locked: true, permit: true });
  assert.equal(kv.claimKey("job:1"), null);
  assert.equal(kv.lock("L"), null);
  assert.equal(kv.acquire("S", { permits: 1 }), null);
  h.child.kill("SIGKILL");
  await h.exited;
  // The leases are an hour: only the holder's death frees them.
  assert.notEqual(kv.claimKey("job:1"), null);
  assert.notEqual(kv.lock("L"), null);
  assert.notEqual(kv.acquire("S", { permits: 1 }), null);
  assert.deepEqual(kv.checkInvariants(), []);
});

test("lock({wait}) blocks until the forked holder unlocks", async (t) => {
  const kv = freshStore(t, "wait");
  const h = holder([kv.name, "unlock-soon"]);
  assert.deepEqual(await h.message, { locked: true });
  const token = kv.lock("L", { wait: 60000 });  // the holder unlocks after 100 ms
  assert.equal(typeof token, "number");
  assert.equal(await h.exited, 0);
  assert.equal(kv.unlock("L", token), true);
});

test("waitFor and popRandomWait wake on a forked writer's insert", async (t) => {
  const kv = freshStore(t, "waitfor");
  assert.equal(kv.waitFor("never", { timeout: 10 }), false);
  assert.equal(kv.popRandomWait({ prefix: "job:", timeout: 10 }), null);
  const h = holder([kv.name, "write-soon"]);
  assert.deepEqual(await h.message, { ready: true });
  assert.equal(kv.waitFor("appeared", { timeout: 60000 }), true);  // written 100 ms later
  assert.deepEqual(kv.popRandomWait({ prefix: "job:", timeout: 60000 }), { key: "job:late", value: "work" });
  assert.equal(await h.exited, 0);
});

test("barrier: three forked parties each get an index of the round", async (t) => {
  const kv = freshStore(t, "barrier");
  const parties = [0, 1, 2].map(() => holder([kv.name, "barrier", "3"]));
  const indexes = await Promise.all(parties.map((p) => p.message));
  assert.deepEqual(indexes.map((m) => m.index).sort(), [0, 1, 2]);
  assert.equal(kv.barrier("lonely", { parties: 2, timeout: 10 }), null);  // withdrawn after 10 ms
  for (const p of parties) assert.equal(await p.exited, 0);
});

test("on the Redis engine: claims, fencing and locks, as on shared memory", async (t) => {
  const redis = await startRedis();
  if (!redis) return t.skip("redis-server is not installed");
  let kv;
  try {
    kv = freshStore(t, "coordredis", { url: redis.url, sizeBytes: undefined });
  } finally {
    t.after(redis.stop);
  }
  kv.set("k", "v");
  const claim = kv.claimKey("k");
  assert.equal(claim.entry.value, "v");
  assert.equal(kv.claimKey("k"), null);  // held
  assert.equal(kv.popRandom({ prefix: "k" }), null);  // claimed keys are not popped
  const token = kv.lock("L");
  assert.ok(token > claim.token);
  assert.equal(kv.lock("L"), null);
  assert.equal(kv.completeClaim(claim), true);
  assert.equal(kv.exists("k"), false);
  assert.equal(kv.unlock("L", token), true);
});