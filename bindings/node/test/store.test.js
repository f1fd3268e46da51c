// store.test.js: every method of the Node binding on a shared-memory store, through
// require("shmkv") as a user calls it: results, shapes (xk6-kv's), serializations and TTLs.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const test = require("node:test");

const { shmkv, freshStore, scratchDir, uniqueName } = require("./helpers");

test("single keys: set, get, exists, delete, deleteIfExists", (t) => {
  const kv = freshStore(t, "single");
  assert.equal(kv.get("k"), null);
  assert.equal(kv.set("k", "v"), "v");
  assert.equal(kv.get("k"), "v");
  assert.equal(kv.exists("k"), true);
  assert.equal(kv.exists("nope"), false);
  assert.equal(kv.delete("k"), true);
  assert.equal(kv.delete("k"), false);
  kv.set("k2", "v");
  assert.equal(kv.deleteIfExists("k2"), true);
  assert.equal(kv.deleteIfExists("k2"), false);
  kv.set("utf8:é", "ünïcødé");
  assert.equal(kv.get("utf8:é"), "ünïcødé");
  kv.set(Buffer.from("bin"), Buffer.from([0x00, 0xff, 0x41]));
  assert.equal(kv.exists("bin"), true);
  kv.set(Buffer.from("xxsub").subarray(2), new Uint8Array([0x61, 0x62, 0x63]).subarray(1));  // views
  assert.equal(kv.get("sub"), "bc");
  kv.set("empty", "");
  assert.equal(kv.get("empty"), "");
});

test("string keys and values of every length round-trip as their UTF-8 bytes", (t) => {
  const kv = freshStore(t, "utf8");
  // Around the 256-byte inline buffer the addon copies keys into, with 1-4 byte characters
  // that a truncated copy could not split.
  for (const ch of ["a", "é", "€", "😀"]) {
    for (let bytes = 240; bytes <= 270; bytes++) {
      const key = "k".repeat(bytes % Buffer.byteLength(ch)) + ch.repeat(Math.floor(bytes / Buffer.byteLength(ch)));
      kv.set(key, key);
      assert.equal(kv.get(Buffer.from(key)), key);
      assert.equal(kv.exists(key), true);
    }
  }
  assert.equal(kv.size(), 4 * 31);
  assert.ok(kv.listKeys().every((k) => kv.get(k) === k));
});

test("serialization buffer gives Buffers back, byte for byte", (t) => {
  const kv = freshStore(t, "buffer", { serialization: "buffer" });
  const bytes = Buffer.from([0x00, 0xff, 0x41, 0x80]);
  kv.set("b", bytes);
  assert.deepEqual(kv.get("b"), bytes);
  assert.ok(Buffer.isBuffer(kv.popRandom({ prefix: "b" }).value));
});

test("serialization json stores JSON text and parses it back", (t) => {
  const kv = freshStore(t, "json", { serialization: "json" });
  kv.set("o", { a: 1, b: [true, null, "x"] });
  assert.deepEqual(kv.get("o"), { a: 1, b: [true, null, "x"] });
  kv.set("u", undefined);  // stored as null, as xk6-kv does
  assert.equal(kv.get("u"), null);
  assert.equal(kv.exists("u"), true);
  assert.equal(kv.incrementBy("n", 41), 41);  // counters are plain decimal: a JSON number
  assert.equal(kv.get("n"), 41);
  assert.equal(kv.compareAndSwap("o", { a: 1, b: [true, null, "x"] }, { a: 2 }), true);
  assert.deepEqual(kv.getOrSet("o", "ignored"), { value: { a: 2 }, loaded: true });
  assert.deepEqual(kv.list({ prefix: "o" }), [{ key: "o", value: { a: 2 } }]);
  const raw = shmkv.openKv({ name: kv.name });  // the bytes another binding sees
  assert.equal(raw.get("o"), '{"a":2}');
  raw.close();
});

test("incrementBy: numbers, bigints, default delta 1", (t) => {
  const kv = freshStore(t, "incr");
  assert.equal(kv.incrementBy("c"), 1);
  assert.equal(kv.incrementBy("c", 10), 11);
  assert.equal(kv.incrementBy("c", -12), -1);
  assert.equal(kv.incrementBy("big", 2n ** 62n), 2n ** 62n);
  assert.equal(kv.incrementBy("big", 1n), 2n ** 62n + 1n);
  assert.equal(kv.get("big"), "4611686018427387905");
});

test("getOrSet, swap, compareAndSwap, compareAndSwapDetailed, compareAndDelete, setIfAbsent", (t) => {
  const kv = freshStore(t, "atomic");
  assert.deepEqual(kv.getOrSet("g", "first"), { value: "first", loaded: false });
  assert.deepEqual(kv.getOrSet("g", "second"), { value: "first", loaded: true });
  assert.deepEqual(kv.swap("s", "one"), { previous: null, loaded: false });
  assert.deepEqual(kv.swap("s", "two"), { previous: "one", loaded: true });
  assert.equal(kv.compareAndSwap("leader", null, "me"), true);
  assert.equal(kv.compareAndSwap("leader", undefined, "you"), false);
  assert.equal(kv.compareAndSwap("leader", "me", "you"), true);
  assert.equal(kv.compareAndSwap("leader", "me", "x"), false);
  assert.deepEqual(kv.compareAndSwapDetailed("leader", "me", "x"),
    { swapped: false, reason: "mismatch", existed: true, current: "you" });
  assert.deepEqual(kv.compareAndSwapDetailed("absent", "me", "x"),
    { swapped: false, reason: "mismatch", existed: false, current: null });
  assert.deepEqual(kv.compareAndSwapDetailed("leader", "you", "them"),
    { swapped: true, reason: "swapped", existed: true, current: "them" });
  assert.equal(kv.compareAndDelete("leader", "you"), false);
  assert.equal(kv.compareAndDelete("leader", "them"), true);
  assert.equal(kv.exists("leader"), false);
  assert.equal(kv.setIfAbsent("once", "1"), true);
  assert.equal(kv.setIfAbsent("once", "2"), false);
  assert.equal(kv.get("once"), "1");
});

test("TTLs in milliseconds: set, expire, ttl, and the TTL rule", (t) => {
  const kv = freshStore(t, "ttl");
  kv.set("t", "v", { ttl: 60000 });
  const left = kv.ttl("t");
  assert.ok(left > 59000 && left <= 60000, `ttl ${left}`);
  assert.equal(kv.expire("t", 0), true);
  assert.equal(kv.ttl("t"), Infinity);
  assert.equal(kv.ttl("nope"), null);
  assert.equal(kv.expire("nope", 1000), false);
  kv.set("gone", "v", { ttl: 1 });
  const until = Date.now() + 5;
  while (Date.now() < until);  // the key expires 1 ms after the set
  assert.equal(kv.get("gone"), null);
  kv.set("keep", "1", { ttl: 60000 });
  kv.incrementBy("keep", 1);  // keeps the TTL
  assert.ok(kv.ttl("keep") > 59000);
  kv.swap("keep", "x");  // drops it
  assert.equal(kv.ttl("keep"), Infinity);
  kv.getOrSet("a1", "v", { ttl: 60000 });
  kv.setIfAbsent("a2", "v", { ttl: 60000 });
  kv.compareAndSwap("a3", null, "v", { ttl: 60000 });
  kv.swap("a4", "v", { ttl: 60000 });
  for (const k of ["a1", "a2", "a3", "a4"]) assert.ok(kv.ttl(k) > 59000, k);
});

test("batches: getMany, setMany, deleteMany", (t) => {
  const kv = freshStore(t, "batch");
  assert.deepEqual(kv.setMany({ "m:1": "one", "m:2": "two" }), { written: 2 });
  assert.deepEqual(kv.setMany(new Map([["m:3", "three"]]), { ttl: 60000 }), { written: 1 });
  assert.deepEqual(kv.setMany([["m:4", "four"]]), { written: 1 });
  assert.ok(kv.ttl("m:3") > 59000);
  assert.deepEqual(kv.getMany(["m:1", "nope", "m:4"]), [
    { key: "m:1", exists: true, value: "one" },
    { key: "nope", exists: false, value: null },
    { key: "m:4", exists: true, value: "four" }]);
  assert.deepEqual(kv.deleteMany(["m:1", "m:2", "nope"]), { deleted: 2, missing: 1 });
  assert.equal(kv.count({ prefix: "m:" }), 2);
});

test("ordered reads: list, listKeys, scan, scanKeys, count, ranges", (t) => {
  const kv = freshStore(t, "ordered");
  for (const k of ["job:1", "job:2", "job:3", "user:a", "user:m", "user:z"]) kv.set(k, `v-${k}`);
  assert.deepEqual(kv.list({ prefix: "job:", limit: 2 }),
    [{ key: "job:1", value: "v-job:1" }, { key: "job:2", value: "v-job:2" }]);
  assert.deepEqual(kv.listKeys({ prefix: "user:", from: "user:m" }), ["user:m", "user:z"]);
  assert.deepEqual(kv.listKeys({ from: "job:2", to: "user:m" }), ["job:2", "job:3", "user:a"]);
  assert.equal(kv.list().length, 6);
  assert.equal(kv.count(), 6);
  assert.equal(kv.count({ prefix: "job:" }), 3);
  assert.equal(kv.count({ from: "job:2", to: "job:3" }), 1);

  const seen = [];
  let cursor = "";
  let pages = 0;
  for (;;) {
    const page = kv.scan({ prefix: "job:", limit: 2, cursor });
    pages++;
    seen.push(...page.entries.map((e) => e.key));
    if (page.done) {
      assert.equal(page.cursor, "");
      break;
    }
    assert.equal(typeof page.cursor, "string");
    cursor = page.cursor;
  }
  assert.deepEqual(seen, ["job:1", "job:2", "job:3"]);
  assert.equal(pages, 2);
  const keys = kv.scanKeys({ prefix: "user:", limit: 10 });
  assert.deepEqual(keys, { keys: ["user:a", "user:m", "user:z"], cursor: "", done: true });
});

test("deletes by prefix and range", (t) => {
  const kv = freshStore(t, "deletes");
  for (const k of ["a:1", "a:2", "a:3", "b:1", "log:2024-01", "log:2025-01"]) kv.set(k, "v");
  assert.deepEqual(kv.deleteByPrefix({ prefix: "a:", limit: 2 }), { deleted: 2, done: false });
  assert.deepEqual(kv.deleteByPrefix({ prefix: "a:" }), { deleted: 1, done: true });
  assert.deepEqual(kv.deleteRange({ from: "log:2024", to: "log:2025" }), { deleted: 1, done: true });
  assert.deepEqual(kv.listKeys(), ["b:1", "log:2025-01"]);
});

test("random: randomKey, randomKeys, popRandom, popRandomMany", (t) => {
  const kv = freshStore(t, "random");
  assert.equal(kv.randomKey(), null);
  assert.equal(kv.popRandom(), null);
  for (let i = 0; i < 10; i++) kv.set(`tok:${i}`, `v${i}`);
  kv.set("other", "x");
  assert.match(kv.randomKey({ prefix: "tok:" }), /^tok:\d$/);
  const unique = kv.randomKeys({ prefix: "tok:", count: 20 });  // unique by default: all 10
  assert.equal(new Set(unique).size, 10);
  assert.equal(unique.length, 10);
  assert.equal(kv.randomKeys({ prefix: "tok:", count: 20, unique: false }).length, 20);
  const popped = kv.popRandom({ prefix: "tok:" });
  assert.match(popped.key, /^tok:\d$/);
  assert.equal(popped.value, `v${popped.key.slice(4)}`);
  assert.equal(kv.exists(popped.key), false);
  const many = kv.popRandomMany({ prefix: "tok:", count: 100 });
  assert.equal(many.length, 9);
  assert.equal(new Set(many.map((e) => e.key)).size, 9);
  assert.deepEqual(kv.listKeys(), ["other"]);
});

test("whole store: size, clear, info, stats, checkInvariants", (t) => {
  const kv = freshStore(t, "whole");
  kv.set("a", "1");
  kv.set("b", "2");
  assert.equal(kv.size(), 2);
  const info = kv.info();
  assert.equal(info.engine, "shm");
  assert.equal(info.name, kv.name);
  assert.equal(info.sizeBytes, 8 << 20);
  assert.equal(info.liveKeys, 2);
  assert.equal(typeof info.layoutFingerprint, "bigint");
  assert.ok(info.processes.some((p) => p.pid === process.pid && p.alive));
  assert.equal(info.redis, null);
  assert.equal(info.orderedIndex.enabled, true);
  assert.equal(info.coordination.grants.length, 0);
  kv.get("a");
  kv.get("nope");
  const stats = kv.stats();
  assert.ok(stats.sets >= 2 && stats.hits >= 1 && stats.misses >= 1, JSON.stringify(stats));
  assert.deepEqual(kv.checkInvariants(), []);
  assert.equal(kv.clear(), true);
  assert.equal(kv.size(), 0);
});

test("backup, restore, exportJSONL, importJSONL", (t) => {
  const kv = freshStore(t, "backup", { serialization: "json" });
  const dir = scratchDir(t);
  kv.set("a", { x: 1 });
  kv.set("b", "text");
  const file = path.join(dir, "kv.backup");
  assert.equal(kv.backup({ fileName: file }).totalEntries, 2);
  assert.ok(fs.statSync(file).size > 0);
  kv.clear();
  assert.deepEqual(kv.restore({ fileName: file }),
    { totalEntries: 2, bytes: 2 + '{"x":1}'.length + '"text"'.length, duplicates: 0, expired: 0 });
  assert.deepEqual(kv.get("a"), { x: 1 });

  const jsonl = path.join(dir, "kv.jsonl");
  assert.deepEqual(kv.exportJSONL({ fileName: jsonl }),
    { exported: 2, fileName: jsonl, bytesWritten: fs.statSync(jsonl).size });
  const lines = fs.readFileSync(jsonl, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.find((l) => l.key === "a").value, { x: 1 });  // xk6-kv's format
  kv.set("a", "changed");
  kv.set("c", 3);
  const merged = kv.importJSONL({ fileName: jsonl });  // adds, as xk6-kv's
  assert.equal(merged.imported, 2);
  assert.equal(merged.bytesRead, fs.statSync(jsonl).size);
  assert.deepEqual(kv.get("a"), { x: 1 });
  assert.equal(kv.get("c"), 3);
  assert.equal(kv.importJSONL({ fileName: jsonl, replace: true }).imported, 2);  // replaces
  assert.equal(kv.exists("c"), false);
  assert.equal(kv.size(), 2);
});

test("persistence: sync, snapshot and recoveryReport after the segment is gone", (t) => {
  const dir = scratchDir(t);
  const name = uniqueName("persist");
  t.after(() => shmkv.segmentExists(name) && shmkv.destroy(name));  // registered first: also after a failure
  const kv = shmkv.openKv({ name, sizeBytes: 8 << 20, persistenceDirectory: path.join(dir, "p"), fsync: "always" });
  kv.set("durable", "yes");
  kv.sync();
  assert.equal(kv.snapshot().totalEntries, 1);
  kv.close();
  shmkv.destroy(name);
  const again = shmkv.openKv({ name, persistenceDirectory: path.join(dir, "p") });
  t.after(() => again.close());
  const report = again.recoveryReport();
  assert.equal(report.performed, true);
  assert.equal(report.entries, 1);
  assert.equal(again.get("durable"), "yes");
});

test("promises: every method again, resolving or rejecting", async (t) => {
  const kv = freshStore(t, "promises");
  assert.ok(kv.promises.set("k", "v") instanceof Promise);
  assert.equal(await kv.promises.get("k"), "v");
  assert.equal(await kv.promises.incrementBy("n", 2), 2);
  assert.deepEqual(await kv.promises.getOrSet("k", "w"), { value: "v", loaded: true });
  await assert.rejects(kv.promises.get(""), shmkv.InvalidArgumentError);
  assert.equal(await kv.get("k"), "v");  // await on a plain call works too
  const methods = Object.getOwnPropertyNames(shmkv.Kv.prototype)
    .filter((m) => m !== "constructor" && typeof Object.getOwnPropertyDescriptor(shmkv.Kv.prototype, m).value === "function");
  assert.deepEqual(Object.keys(kv.promises).sort(), methods.sort());
});

test("index.d.ts declares every method of a handle, and nothing else", () => {
  const dts = fs.readFileSync(path.join(__dirname, "..", "index.d.ts"), "utf8");
  const block = dts.slice(dts.indexOf("export interface KvMethods"), dts.indexOf("/** KvMethods returning Promises"));
  const declared = [...block.matchAll(/^  (\w+)(?:<[^>]*>)?\(/gm)].map((m) => m[1]);
  const methods = Object.getOwnPropertyNames(shmkv.Kv.prototype)
    .filter((m) => m !== "constructor" && typeof Object.getOwnPropertyDescriptor(shmkv.Kv.prototype, m).value === "function");
  assert.deepEqual([...new Set(declared)].sort(), methods.sort());
});

test("open, close, closed, destroy, segmentExists, version", (t) => {
  const name = uniqueName("lifecycle");
  t.after(() => shmkv.segmentExists(name) && shmkv.destroy(name));
  assert.equal(shmkv.segmentExists(name), false);
  const kv = shmkv.openKv({ name, openMode: "create_only", sizeBytes: 4 << 20 });
  assert.equal(shmkv.segmentExists(name), true);
  assert.equal(kv.name, name);
  assert.equal(kv.closed, false);
  const second = shmkv.openKv({ name, openMode: "attach_only" });
  second.set("shared", "yes");
  assert.equal(kv.get("shared"), "yes");
  second.close();
  kv.close();
  kv.close();  // idempotent
  assert.equal(kv.closed, true);
  shmkv.destroy(name);
  assert.equal(shmkv.segmentExists(name), false);
  assert.match(shmkv.version, /^\d+\.\d+\.\d+$/);
});
