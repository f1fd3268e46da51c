// tour.js: the Node.js column of the operation table (docs/bindings.md "Every operation, every
// surface"): calls every operation of require("shmkv") once, checks its result, and prints
// "called NAME" after each check passed (tests/surfaces/check_table.py compares the names with
// the table). A failed check throws: node exits non-zero.
//
//   node tour.js STORE_NAME SCRATCH_DIR   (SHMKV_NODE_ADDON as for the tests)
"use strict";

const assert = require("node:assert/strict");
const path = require("node:path");

const shmkv = require("../../bindings/node");

const [name, scratch] = process.argv.slice(2);
const called = (what) => console.log(`called ${what}`);

if (shmkv.segmentExists(name)) shmkv.destroy(name);
let kv = shmkv.openKv({ name, sizeBytes: 16 << 20 });
called("openKv");
assert.ok(shmkv.segmentExists(name));
called("segmentExists");

kv.set("k", "v", { ttl: 3600000 });
assert.equal(kv.get("k"), "v");
called("set");
called("get");
assert.ok(kv.exists("k") && !kv.exists("nope"));
called("exists");
assert.ok(kv.ttl("k") > 3500000);
called("ttl");
assert.ok(kv.expire("k", 0) && kv.ttl("k") === Infinity);
called("expire");
assert.ok(kv.delete("k") && !kv.delete("k"));
called("delete");
kv.set("k", "v");
assert.ok(kv.deleteIfExists("k") && !kv.deleteIfExists("k"));
called("deleteIfExists");
assert.equal(kv.incrementBy("n", 5), 5);
called("incrementBy");
assert.deepEqual(kv.getOrSet("g", "first"), { value: "first", loaded: false });
called("getOrSet");
assert.deepEqual(kv.swap("g", "second"), { previous: "first", loaded: true });
called("swap");
assert.ok(kv.compareAndSwap("g", "second", "third") && !kv.compareAndSwap("g", "second", "x"));
called("compareAndSwap");
const outcome = kv.compareAndSwapDetailed("g", "then", "x");
assert.ok(!outcome.swapped && outcome.current === "third");
called("compareAndSwapDetailed");
assert.ok(!kv.compareAndDelete("g", "second") && kv.compareAndDelete("g", "third"));
called("compareAndDelete");
assert.ok(kv.setIfAbsent("a", "1") && !kv.setIfAbsent("a", "2"));
called("setIfAbsent");

kv.setMany({ "job:1": "a", "job:2": "b", "job:3": "c", "user:1": "u" });
called("setMany");
assert.deepEqual(kv.getMany(["job:1", "nope"]).map((e) => e.value), ["a", null]);
called("getMany");
assert.equal(kv.count({ prefix: "job:" }), 3);
assert.equal(kv.count({ from: "job:2", to: "job:3" }), 1);
called("count");
assert.deepEqual(kv.list({ prefix: "job:", limit: 2 }), [{ key: "job:1", value: "a" }, { key: "job:2", value: "b" }]);
called("list");
assert.deepEqual(kv.listKeys({ prefix: "job:" }), ["job:1", "job:2", "job:3"]);
called("listKeys");
const page = kv.scan({ prefix: "job:", limit: 2 });
assert.ok(page.entries.length === 2 && !page.done);
assert.equal(kv.scan({ prefix: "job:", limit: 2, cursor: page.cursor }).entries[0].key, "job:3");
called("scan");
assert.deepEqual(kv.scanKeys({ prefix: "user:", limit: 5 }).keys, ["user:1"]);
called("scanKeys");
assert.equal(kv.randomKey({ prefix: "user:" }), "user:1");
called("randomKey");
assert.deepEqual(kv.randomKeys({ prefix: "job:", count: 5 }).sort(), ["job:1", "job:2", "job:3"]);
called("randomKeys");
assert.deepEqual(kv.popRandom({ prefix: "user:" }), { key: "user:1", value: "u" });
called("popRandom");
assert.equal(kv.popRandomMany({ prefix: "job:", count: 2 }).length, 2);
called("popRandomMany");
// Coordination (issue 16): one process takes and gives back each kind of grant.
kv.set("c:1", "one");
kv.set("c:2", "two");
const claim = kv.claimKey("c:1", { ttl: 60000 });
assert.ok(claim && claim.entry.value === "one" && claim.token > 0);
called("claimKey");
assert.ok(kv.renewClaim(claim, { ttl: 60000 }));
called("renewClaim");
assert.ok(kv.releaseClaim(claim) && !kv.releaseClaim(claim));
called("releaseClaim");
const drawn = kv.claimRandom({ prefix: "c:", ttl: 60000 });
assert.ok(drawn && (drawn.key === "c:1" || drawn.key === "c:2"));
called("claimRandom");
assert.ok(kv.completeClaim(drawn) && !kv.exists(drawn.key));
called("completeClaim");
const lockToken = kv.lock("leader", { ttl: 60000 });
assert.ok(lockToken && kv.lock("leader", { ttl: 60000 }) === null);
called("lock");
assert.ok(kv.unlock("leader", lockToken));
called("unlock");
const permit = kv.acquire("db", { permits: 1 });
assert.ok(permit && kv.acquire("db", { permits: 1 }) === null);
called("acquire");
assert.ok(kv.releasePermit("db", permit));
called("releasePermit");
kv.set("ready", "1");
assert.ok(kv.waitFor("ready") && !kv.waitFor("absent", { timeout: 1 }));
called("waitFor");
kv.set("q:1", "x");
assert.deepEqual(kv.popRandomWait({ prefix: "q:", timeout: 1 }), { key: "q:1", value: "x" });
called("popRandomWait");
assert.equal(kv.barrier("start", { parties: 1 }), 0);
called("barrier");
kv.deleteByPrefix({ prefix: "c:" });
kv.delete("ready");
assert.deepEqual(kv.deleteMany(["job:1", "job:2", "job:3"]), { deleted: 1, missing: 2 });
called("deleteMany");
kv.set("t:1", "x");
kv.set("u:1", "z");
assert.equal(kv.deleteRange({ prefix: "t:" }).deleted, 1);
called("deleteRange");
assert.equal(kv.deleteByPrefix({ prefix: "u:" }).deleted, 1);
called("deleteByPrefix");
assert.equal(kv.size(), 2);
called("size");
assert.equal(kv.info().name, name);
called("info");
assert.ok(kv.stats().sets > 0);
called("stats");

try {
  kv.set("", "v");
  assert.fail("an empty key was accepted");
} catch (e) {
  assert.ok(e instanceof shmkv.InvalidArgumentError && e instanceof shmkv.ShmkvError);
  assert.equal(e.code, "invalid_argument");
  assert.equal(e.errno, 1);
}
called("ShmkvError.code");
called("ShmkvError.errno");
assert.equal(shmkv.errorCodes.find((c) => c.name === "store_full").className, "StoreFullError");
called("errorCodes");
assert.match(shmkv.version, /^\d+\.\d+\.\d+$/);
called("version");
assert.deepEqual(kv.checkInvariants(), []);
called("checkInvariants");
const jsonl = path.join(scratch, "tour.jsonl");
assert.equal(kv.exportJSONL({ fileName: jsonl }).exported, 2);
called("exportJSONL");
assert.equal(kv.importJSONL({ fileName: jsonl, replace: true }).imported, 2);
called("importJSONL");
const backup = path.join(scratch, "tour.backup");
assert.equal(kv.backup({ fileName: backup }).totalEntries, 2);
called("backup");
assert.equal(kv.clear(), true);
assert.equal(kv.size(), 0);
called("clear");
assert.equal(kv.restore({ fileName: backup }).totalEntries, 2);
assert.equal(kv.get("a"), "1");
called("restore");
kv.close();
assert.ok(kv.closed);
called("close");
called("closed");
shmkv.destroy(name);
assert.ok(!shmkv.segmentExists(name));
called("destroy");

// A persistent store: sync, snapshot, and the recovery that rebuilds it.
const directory = path.join(scratch, "persist");
kv = shmkv.openKv({ name, sizeBytes: 16 << 20, persistenceDirectory: directory });
kv.set("durable", "yes");
kv.sync();
called("sync");
assert.equal(kv.snapshot().totalEntries, 1);
called("snapshot");
kv.close();
shmkv.destroy(name);
kv = shmkv.openKv({ name, sizeBytes: 16 << 20, persistenceDirectory: directory });
assert.ok(kv.recoveryReport().performed && kv.get("durable") === "yes");
called("recoveryReport");
kv.close();
shmkv.destroy(name);
