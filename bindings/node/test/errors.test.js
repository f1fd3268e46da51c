// errors.test.js: the Node binding's errors are Error subclasses, one per code of the library's
// table (include/shmkv/error_codes.h), with the code's name in .code and a message naming the
// offending value; a failed call changes nothing. index.d.ts declares the same classes.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const test = require("node:test");

const { shmkv, freshStore, scratchDir, uniqueName, assertThrowsCode } = require("./helpers");

const ROOT = path.join(__dirname, "..", "..", "..");

test("one class per code of error_codes.h, exported and declared in index.d.ts", () => {
  const header = fs.readFileSync(path.join(ROOT, "include", "shmkv", "error_codes.h"), "utf8");
  const table = [...header.matchAll(/^\s*X\(([a-z_]+), [A-Z_]+, (\d+),/gm)].map((m) => [m[1], Number(m[2])]);
  assert.ok(table.length >= 18);
  assert.deepEqual(shmkv.errorCodes.map((c) => [c.name, c.number]), table);
  const declarations = fs.readFileSync(path.join(__dirname, "..", "index.d.ts"), "utf8");
  const declared = [...declarations.matchAll(/^export class (\w+) extends ShmkvError/gm)].map((m) => m[1]);
  assert.deepEqual(declared, shmkv.errorCodes.map((c) => c.className));
  for (const { name, number, className } of shmkv.errorCodes) {
    const cls = shmkv[className];
    assert.equal(typeof cls, "function", className);
    const e = new cls("m");
    assert.ok(e instanceof shmkv.ShmkvError && e instanceof Error);
    assert.equal(e.code, name);
    assert.equal(e.errno, number);
    assert.equal(e.name, className);
  }
  assert.equal(shmkv.StoreFullError.code, "store_full");
  assert.equal(shmkv.IoError.code, "io_error");
  assert.equal(shmkv.NotANumberError.code, "not_a_number");
});

test("argument errors name the value and change nothing", (t) => {
  const kv = freshStore(t, "args", { maxKeyBytes: 16, maxValueBytes: 64 });
  kv.set("k", "before");
  assertThrowsCode(() => kv.set("", "v"), shmkv.InvalidArgumentError, "invalid_argument", "empty");
  assertThrowsCode(() => kv.set(42, "v"), shmkv.InvalidArgumentError, "invalid_argument", "key", "number 42");
  assertThrowsCode(() => kv.set("k", { a: 1 }), shmkv.InvalidArgumentError, "invalid_argument", "value", "object");
  assertThrowsCode(() => kv.set("k", "v", { ttl: -5 }), shmkv.InvalidArgumentError, "invalid_argument", "ttl", "-5");
  assertThrowsCode(() => kv.set("k", "v", { ttl: 1.5 }), shmkv.InvalidArgumentError, "invalid_argument", "1.5");
  assertThrowsCode(() => kv.set("k", "v", { tll: 5 }), shmkv.InvalidArgumentError, "invalid_argument", "tll");
  assertThrowsCode(() => kv.set("k".repeat(17), "v"), shmkv.KeyTooLongError, "key_too_long", "17", "16");
  assertThrowsCode(() => kv.set("k", "v".repeat(65)), shmkv.ValueTooLargeError, "value_too_large", "65", "64");
  assertThrowsCode(() => kv.incrementBy("k", 1), shmkv.NotANumberError, "not_a_number", "k");
  assertThrowsCode(() => kv.incrementBy("n", 0.5), shmkv.InvalidArgumentError, "invalid_argument", "0.5");
  assertThrowsCode(() => kv.incrementBy("n", 2 ** 60), shmkv.InvalidArgumentError, "invalid_argument", "delta");
  kv.set("max", "9223372036854775807");
  assertThrowsCode(() => kv.incrementBy("max", 1n), shmkv.OverflowError, "overflow");
  assertThrowsCode(() => kv.randomKeys({ count: 0 }), shmkv.InvalidArgumentError, "invalid_argument", "0");
  assertThrowsCode(() => kv.list({ from: "b", to: "a" }), shmkv.InvalidArgumentError, "invalid_argument");
  assertThrowsCode(() => kv.scan({ cursor: "not base64!" }), shmkv.InvalidArgumentError, "invalid_argument", "cursor");
  assertThrowsCode(() => kv.deleteByPrefix({ prefix: "" }), shmkv.InvalidArgumentError, "invalid_argument");
  assertThrowsCode(() => kv.setMany([["a", "1"], ["", "2"]]), shmkv.InvalidArgumentError, "invalid_argument");
  assertThrowsCode(() => kv.getMany("k"), shmkv.InvalidArgumentError, "invalid_argument", "array");
  assert.equal(kv.get("k"), "before");
  assert.equal(kv.exists("a"), false);  // the batch wrote nothing
  assert.equal(kv.get("max"), "9223372036854775807");
});

test("json serialization refuses what JSON cannot hold", (t) => {
  const kv = freshStore(t, "jsonerr", { serialization: "json" });
  assertThrowsCode(() => kv.set("k", 1n), shmkv.InvalidArgumentError, "invalid_argument", "JSON");
  assertThrowsCode(() => kv.set("k", () => 1), shmkv.InvalidArgumentError, "invalid_argument", "JSON");
  const raw = shmkv.openKv({ name: kv.name });
  raw.set("text", "not json");
  raw.close();
  assertThrowsCode(() => kv.get("text"), shmkv.CorruptedError, "corrupted", "not json");
});

test("open errors: options, modes, missing and existing stores", (t) => {
  const name = uniqueName("open");
  assertThrowsCode(() => shmkv.openKv({ name, sizeByte: 1 }), shmkv.InvalidArgumentError, "invalid_argument", "sizeByte");
  assertThrowsCode(() => shmkv.openKv({ name, serialization: "xml" }), shmkv.InvalidArgumentError, "invalid_argument", "xml");
  assertThrowsCode(() => shmkv.openKv({ name, openMode: "sometimes" }), shmkv.InvalidArgumentError, "invalid_argument", "sometimes");
  assertThrowsCode(() => shmkv.openKv({ name: "bad name!" }), shmkv.InvalidArgumentError, "invalid_argument", "bad name!");
  assertThrowsCode(() => shmkv.openKv({ name, openMode: "attach_only" }), shmkv.NotFoundError, "not_found", name);
  assertThrowsCode(() => shmkv.destroy(name), shmkv.NotFoundError, "not_found", name);
  const kv = freshStore(t, "exists");
  assertThrowsCode(() => shmkv.openKv({ name: kv.name, openMode: "create_only" }), shmkv.AlreadyExistsError, "already_exists", kv.name);
  assertThrowsCode(() => shmkv.openKv({ name, url: "redis://127.0.0.1:1", sizeBytes: 1 << 20 }),
    shmkv.InvalidArgumentError, "invalid_argument", "size_bytes");
  assert.equal(shmkv.segmentExists(name), false);
});

test("read_only, closed, store_full, restore errors", (t) => {
  const kv = freshStore(t, "states", { sizeBytes: 1 << 20, maxValueBytes: 60000 });
  kv.set("k", "v");
  const ro = shmkv.openKv({ name: kv.name, openMode: "read_only" });
  assertThrowsCode(() => ro.set("k", "w"), shmkv.ReadOnlyError, "read_only");
  assert.equal(ro.get("k"), "v");
  ro.close();
  assertThrowsCode(() => ro.get("k"), shmkv.ClosedError, "closed");
  const big = "x".repeat(50000);
  assert.throws(() => {
    for (let i = 0; i < 1000; i++) kv.set(`big:${i}`, big);
  }, (e) => e instanceof shmkv.StoreFullError && e.code === "store_full");
  const dir = scratchDir(t);
  const missing = path.join(dir, "missing.backup");
  assertThrowsCode(() => kv.restore({ fileName: missing }), shmkv.NotFoundError, "not_found", missing);
  fs.writeFileSync(path.join(dir, "junk"), "junk");
  assertThrowsCode(() => kv.restore({ fileName: path.join(dir, "junk") }), shmkv.CorruptedError, "corrupted");
  assertThrowsCode(() => kv.importJSONL({ fileName: missing }), shmkv.NotFoundError, "not_found", missing);
  assert.equal(kv.get("k"), "v");
});

test("the native handle cannot be made or borrowed outside openKv", (t) => {
  const kv = freshStore(t, "native");
  const NativeStore = Object.getPrototypeOf(kv._store).constructor;
  assertThrowsCode(() => new NativeStore(), shmkv.InvalidArgumentError, "invalid_argument", "openKv");
  assert.throws(() => kv._store.get.call({}, "k"), TypeError);  // V8 checks the receiver
});
