// index.js: shmkv for Node.js, with xk6-kv's names and shapes (docs/bindings.md "Node.js",
// docs/migrating-from-xk6-kv.md).
//
//   const { openKv } = require("shmkv");
//   const kv = openKv({ name: "loadtest" });      // create or attach /dev/shm/shmkv.loadtest
//   kv.set("greeting", "hello", { ttl: 30000 });  // TTLs in milliseconds
//   kv.incrementBy("requests", 1);                // atomic across every process and thread
//
// Contract. Calls are synchronous (an operation takes well under a microsecond; a Promise per
// call would only add to it); `kv.promises` has the same methods returning Promises, for
// drop-in ports of xk6-kv scripts. A handle belongs to the thread that opened it: each worker thread (and
// each process: after child_process.fork, or a fork() of the C library, in which an inherited
// handle raises ClosedError) opens its own. Keys are strings or Buffers (their UTF-8 bytes or
// their bytes) and come back as strings. Values are strings or Buffers with serialization
// "string" (the default; reads give strings) or "buffer" (reads give Buffers), and any JSON
// value with "json" (stored as JSON.stringify's text, read back with JSON.parse). A missing key
// is null, a lost compare-and-swap false: expected outcomes are values. Real errors are
// ShmkvError subclasses, one per shmkv error code, generated from the library's table
// (StoreFullError with .code "store_full"), with the library's message naming the value.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const native = require(path.resolve(process.env.SHMKV_NODE_ADDON || path.join(__dirname, "shmkv.node")));

// --- errors: one class per code of include/shmkv/error_codes.h ---

class ShmkvError extends Error {}
ShmkvError.prototype.name = "ShmkvError";

// "not_a_number" -> "NotANumberError", "io_error" -> "IoError" (the Python binding's names).
function className(code) {
  const words = code.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  return words.endsWith("Error") ? words : words + "Error";
}

const errors = { ShmkvError };
const classesByNumber = [];
for (const { name: code, number, description } of native.errorCodes) {
  const cls = {
    [className(code)]: class extends ShmkvError {
      constructor(message) {
        super(message);
        this.code = code;
        this.errno = number;
      }
    },
  }[className(code)];
  cls.prototype.name = className(code);
  cls.code = code;
  cls.description = description;
  errors[className(code)] = cls;
  classesByNumber[number] = cls;
}
native.setErrorClasses(classesByNumber);

function invalid(message) {
  return new errors.InvalidArgumentError(message);
}

function describe(value) {
  if (value === null || value === undefined) return String(value);
  if (typeof value === "string") return `string '${value.length > 40 ? value.slice(0, 40) + "..." : value}'`;
  if (Array.isArray(value)) return "array";
  return `${typeof value} ${typeof value === "object" ? "" : String(value)}`.trim();
}

// Options objects: an unknown name is a typo, refused with the names that are known.
function options(value, known, where) {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw invalid(`${where}: options must be an object; got ${describe(value)}`);
  }
  for (const name of Object.keys(value)) {
    if (!known.includes(name)) {
      throw invalid(`${where}: unknown option '${name}' (known: ${known.join(", ")})`);
    }
  }
  return value;
}

// --- values ---

const SERIALIZATIONS = {
  string: { buffers: false, encode: (v) => v, decode: (v) => v },
  buffer: { buffers: true, encode: (v) => v, decode: (v) => v },
  json: {
    buffers: false,
    encode(v) {
      let text;
      try {
        text = JSON.stringify(v === undefined ? null : v);
      } catch (e) {
        throw invalid(`value cannot be serialized as JSON: ${e.message}`);
      }
      if (text === undefined) throw invalid(`value cannot be serialized as JSON: ${describe(v)}`);
      return text;
    },
    decode(v) {
      try {
        return JSON.parse(v);
      } catch (e) {
        throw new errors.CorruptedError(`stored value is not JSON (${e.message}): '${v.slice(0, 40)}'`);
      }
    },
  },
};

function decodeNullable(decode, v) {
  return v === null ? null : decode(v);
}

// xk6-kv's scan cursor: the base64 of the last key returned; "" = from the start (and, in a
// result, nothing after it).
function cursorIn(cursor) {
  if (cursor === undefined || cursor === null || cursor === "") return "";
  if (typeof cursor !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(cursor) || cursor.length % 4 !== 0) {
    throw invalid(`cursor must be a cursor returned by scan (base64); got ${describe(cursor)}`);
  }
  return Buffer.from(cursor, "base64");
}

function cursorOut(page) {
  return page.done ? "" : page.cursor.toString("base64");
}

// --- the handle ---

const OPEN_OPTIONS = [
  "name", "url", "serialization", "openMode", "sizeBytes", "shards", "maxKeys", "homeBlockBytes",
  "orderedIndex", "mode", "trustedGroup", "verifyReads", "maxKeyBytes", "maxValueBytes",
  "connectTimeout", "commandTimeout", "persistenceDirectory", "fsync", "snapshotInterval",
  "fsyncInterval", "keepSnapshots",
];
const TTL = ["ttl"];
const RANGE = ["prefix", "from", "to"];
const DEFAULT_LEASE = 30000;  // a claim's or a lock's lease when no ttl is given (xk6-kv's)

// xk6-kv's claim shape from the addon's {key, value, token}.
function claimObject(c, ttl, decode) {
  if (c === null) return null;
  return {
    id: `claim-${c.token}`, key: c.key, token: c.token, expiresAt: Date.now() + ttl,
    entry: { key: c.key, value: decode(c.value) },
  };
}

function claimKey(claim) {
  if (!claim || typeof claim !== "object" || typeof claim.key !== "string") {
    throw invalid(`claim must be a claim returned by claimKey or claimRandom; got ${describe(claim)}`);
  }
  return claim.key;
}


class Kv {
  constructor(store, opts, serialization) {
    this._store = store;
    this._ser = SERIALIZATIONS[serialization];
    this.name = opts.name;
    this.url = opts.url || "";
    this.serialization = serialization;
    this._promises = null;
  }

  get closed() {
    return !this._store.isOpen();
  }

  // Every method again, returning Promises (rejected with the same errors): await-able as
  // xk6-kv's. The plain methods are synchronous; `await` works on them too.
  get promises() {
    if (!this._promises) {
      const p = {};
      for (const m of handleMethods()) {
        p[m] = (...args) => {
          try {
            return Promise.resolve(this[m](...args));
          } catch (e) {
            return Promise.reject(e);
          }
        };
      }
      this._promises = Object.freeze(p);
    }
    return this._promises;
  }

  // --- single keys ---
  get(key) {
    return decodeNullable(this._ser.decode, this._store.get(key));
  }
  set(key, value, opts) {
    this._store.set(key, this._ser.encode(value), options(opts, TTL, "set").ttl);
    return value;
  }
  exists(key) {
    return this._store.exists(key);
  }
  // true if the key existed (xk6-kv's delete always answers true; deleteIfExists says which).
  delete(key) {
    return this._store.delete(key);
  }
  deleteIfExists(key) {
    return this._store.delete(key);
  }
  expire(key, ttl) {
    return this._store.expire(key, ttl);
  }
  // Milliseconds left; Infinity without expiry; null when the key is absent.
  ttl(key) {
    return this._store.ttl(key);
  }

  // --- counters and atomic helpers ---
  // A number delta gives a number, a bigint delta a bigint (exact past 2^53).
  incrementBy(key, delta = 1) {
    return this._store.incrementBy(key, delta);
  }
  getOrSet(key, value, opts) {
    const r = this._store.getOrSet(key, this._ser.encode(value), options(opts, TTL, "getOrSet").ttl);
    return { value: this._ser.decode(r.value), loaded: r.loaded };
  }
  swap(key, value, opts) {
    const r = this._store.swap(key, this._ser.encode(value), options(opts, TTL, "swap").ttl);
    return { previous: decodeNullable(this._ser.decode, r.previous), loaded: r.loaded };
  }
  // oldValue null or undefined: only if the key is absent.
  compareAndSwap(key, oldValue, newValue, opts) {
    const expected = oldValue === null || oldValue === undefined ? null : this._ser.encode(oldValue);
    return this._store.compareAndSwap(key, expected, this._ser.encode(newValue),
      options(opts, TTL, "compareAndSwap").ttl);
  }
  // {swapped, current, existed, reason}: current is what the key holds after the call (the
  // value that failed the comparison on a mismatch, null when absent).
  compareAndSwapDetailed(key, oldValue, newValue, opts) {
    const expected = oldValue === null || oldValue === undefined ? null : this._ser.encode(oldValue);
    const r = this._store.compareAndSwapDetailed(key, expected, this._ser.encode(newValue),
      options(opts, TTL, "compareAndSwapDetailed").ttl);
    return {
      swapped: r.swapped,
      reason: r.swapped ? "swapped" : "mismatch",
      existed: r.swapped ? expected !== null : r.current !== null,
      current: decodeNullable(this._ser.decode, r.current),
    };
  }
  compareAndDelete(key, oldValue) {
    return this._store.compareAndDelete(key, this._ser.encode(oldValue));
  }
  setIfAbsent(key, value, opts) {
    return this._store.setIfAbsent(key, this._ser.encode(value), options(opts, TTL, "setIfAbsent").ttl);
  }

  // --- batches ---
  // [{key, exists, value}] in the order of keys (value null when absent).
  getMany(keys) {
    const values = this._store.getMany(keys);
    return values.map((v, i) => ({
      key: typeof keys[i] === "string" ? keys[i] : Buffer.from(keys[i]).toString(),
      exists: v !== null,
      value: decodeNullable(this._ser.decode, v),
    }));
  }
  // entries: an object {key: value}, a Map or an array of [key, value] pairs. {written}
  setMany(entries, opts) {
    let pairs;
    if (entries instanceof Map || Array.isArray(entries)) pairs = [...entries];
    else if (entries && typeof entries === "object") pairs = Object.entries(entries);
    else throw invalid(`setMany: entries must be an object, a Map or an array of pairs; got ${describe(entries)}`);
    const written = this._store.setMany(pairs.map((p) => p[0]), pairs.map((p) => this._ser.encode(p[1])),
      options(opts, TTL, "setMany").ttl);
    return { written };
  }
  // {deleted, missing}
  deleteMany(keys) {
    const deleted = this._store.deleteMany(keys);
    return { deleted, missing: keys.length - deleted };
  }
  // {deleted, done}; limit 0 or absent = every match.
  deleteByPrefix(opts) {
    const o = options(opts, ["prefix", "limit"], "deleteByPrefix");
    return this._store.deletePrefix(o.prefix, o.limit);
  }
  deleteRange(opts) {
    const o = options(opts, [...RANGE, "limit"], "deleteRange");
    return this._store.deleteRange(o.prefix ?? "", o.from ?? "", o.to ?? "", o.limit);
  }

  // --- ordered reads ---
  list(opts) {
    const o = options(opts, [...RANGE, "limit"], "list");
    const entries = this._store.list(o.prefix ?? "", o.from ?? "", o.to ?? "", o.limit);
    for (const e of entries) e.value = this._ser.decode(e.value);
    return entries;
  }
  listKeys(opts) {
    const o = options(opts, [...RANGE, "limit"], "listKeys");
    return this._store.listKeys(o.prefix ?? "", o.from ?? "", o.to ?? "", o.limit);
  }
  // {entries, cursor, done}: pass cursor back for the next page ("" once done).
  scan(opts) {
    const o = options(opts, [...RANGE, "limit", "cursor"], "scan");
    const page = this._store.scan(o.prefix ?? "", o.from ?? "", o.to ?? "", o.limit, cursorIn(o.cursor));
    for (const e of page.entries) e.value = this._ser.decode(e.value);
    return { entries: page.entries, cursor: cursorOut(page), done: page.done };
  }
  scanKeys(opts) {
    const o = options(opts, [...RANGE, "limit", "cursor"], "scanKeys");
    const page = this._store.scanKeys(o.prefix ?? "", o.from ?? "", o.to ?? "", o.limit, cursorIn(o.cursor));
    return { keys: page.keys, cursor: cursorOut(page), done: page.done };
  }
  count(opts) {
    const o = options(opts, RANGE, "count");
    return this._store.count(o.prefix ?? "", o.from ?? "", o.to ?? "");
  }

  // --- random ---
  // A key, or null when none matches.
  randomKey(opts) {
    return this._store.randomKey(options(opts, ["prefix"], "randomKey").prefix ?? "");
  }
  // count keys (1..1,000,000); unique (default true, as xk6-kv): no key twice.
  randomKeys(opts) {
    const o = options(opts, ["prefix", "count", "unique"], "randomKeys");
    return this._store.randomKeys(o.count, o.prefix ?? "", o.unique ?? true);
  }
  // {key, value} removed atomically (never handed out twice), or null.
  popRandom(opts) {
    const e = this._store.popRandom(options(opts, ["prefix"], "popRandom").prefix ?? "");
    if (e !== null) e.value = this._ser.decode(e.value);
    return e;
  }
  popRandomMany(opts) {
    const o = options(opts, ["prefix", "count"], "popRandomMany");
    const entries = this._store.popRandomMany(o.prefix ?? "", o.count);
    for (const e of entries) e.value = this._ser.decode(e.value);
    return entries;
  }

  // --- coordination: claims (xk6-kv's), locks and semaphores ---
  // A claim is {id, key, token, expiresAt, entry: {key, value}} (xk6-kv's shape; expiresAt is
  // this process's clock at the call plus ttl, a bound the store may end the lease after), or
  // null when the key is absent or claimed by another live holder. ttl: the lease in
  // milliseconds, default 30000 (xk6-kv's). A claimed key stays in the store; claimKey,
  // claimRandom and popRandom of anyone leave it alone until the claim ends, or its holder dies.
  claimKey(key, opts) {
    const ttl = options(opts, TTL, "claimKey").ttl ?? DEFAULT_LEASE;
    return claimObject(this._store.claim(key, ttl), ttl, this._ser.decode);
  }
  claimRandom(opts) {
    const o = options(opts, ["prefix", "ttl"], "claimRandom");
    const ttl = o.ttl ?? DEFAULT_LEASE;
    return claimObject(this._store.claimRandom(o.prefix ?? "", ttl), ttl, this._ser.decode);
  }
  // false when the claim's token no longer holds it (its lease ran out and someone else took it).
  renewClaim(claim, opts) {
    return this._store.renew(claimKey(claim), claim.token, options(opts, TTL, "renewClaim").ttl ?? DEFAULT_LEASE);
  }
  releaseClaim(claim) {
    return this._store.release(claimKey(claim), claim.token);
  }
  // Ends the claim and deletes the key, atomically (deleteKey: false gives it back instead).
  completeClaim(claim, opts) {
    const deleteKey = options(opts, ["deleteKey"], "completeClaim").deleteKey ?? true;
    return deleteKey ? this._store.complete(claimKey(claim), claim.token)
      : this._store.release(claimKey(claim), claim.token);
  }
  // A named lock: its token, or null when another live holder kept it for all of wait
  // (milliseconds, default 0: do not wait). Waiting blocks this thread, kv.promises.lock too
  // (each Artillery worker is a thread: its virtual users all wait); a holder's death or lease
  // end wakes the waiter.
  lock(name, opts) {
    const o = options(opts, ["ttl", "wait"], "lock");
    return this._store.lock(name, o.ttl ?? DEFAULT_LEASE, o.wait);
  }
  unlock(name, token) {
    return this._store.unlock(name, token);
  }
  // A permit of the semaphore `name` with `permits` permits (pass the same count everywhere):
  // its token, or null after wait. Held until releasePermit or the holder's death.
  acquire(name, opts) {
    const o = options(opts, ["permits", "wait"], "acquire");
    return this._store.acquire(name, o.permits, o.wait);
  }
  releasePermit(name, token) {
    return this._store.releasePermit(name, token);
  }

  // --- waiting without polling: each blocks this thread up to timeout (milliseconds, default
  // 0: do not wait), kv.promises included, and is woken by the write it waits for ---
  // true once key exists (at once if it does); false after timeout.
  waitFor(key, opts) {
    return this._store.waitFor(key, options(opts, ["timeout"], "waitFor").timeout);
  }
  // popRandom, waiting up to timeout for a key with the prefix: {key, value} or null.
  popRandomWait(opts) {
    const o = options(opts, ["prefix", "timeout"], "popRandomWait");
    const e = this._store.popRandomWait(o.prefix ?? "", o.timeout);
    if (e !== null) e.value = this._ser.decode(e.value);
    return e;
  }
  // Waits until `parties` arrivals (processes or threads; pass the same count everywhere) have
  // reached the barrier `name`: this arrival's index 0 .. parties - 1, or null after timeout.
  // A party that dies while the others wait breaks the round: they raise BrokenError.
  barrier(name, opts) {
    const o = options(opts, ["parties", "timeout"], "barrier");
    return this._store.barrier(name, o.parties, o.timeout);
  }

  // --- whole store ---
  size() {
    return this._store.size();
  }
  clear() {
    this._store.clear();
    return true;
  }
  info() {
    return this._store.info();
  }
  stats() {
    return this._store.stats();
  }
  checkInvariants() {
    return this._store.checkInvariants();
  }
  // {totalEntries, bytesWritten}
  backup(opts) {
    const o = options(opts, ["fileName"], "backup");
    const r = this._store.backup(o.fileName);
    return { totalEntries: r.entries, bytesWritten: r.bytes };
  }
  // {totalEntries, bytes, duplicates, expired}
  restore(opts) {
    const o = options(opts, ["fileName", "maxEntries", "maxBytes"], "restore");
    const r = this._store.restore(o.fileName, o.maxEntries, o.maxBytes);
    return { totalEntries: r.entries, bytes: r.bytes, duplicates: r.duplicates, expired: r.expired };
  }
  // JSON lines, one {"key", "value"} object a line (xk6-kv's format). jsonValues defaults to
  // true with serialization "json": values are written as the JSON documents they are.
  // {exported, fileName, bytesWritten} as xk6-kv's.
  exportJSONL(opts) {
    const o = options(opts, ["fileName", "jsonValues"], "exportJSONL");
    const r = this._store.exportJsonl(o.fileName, o.jsonValues ?? this.serialization === "json");
    return { exported: r.entries, fileName: o.fileName, bytesWritten: fs.statSync(o.fileName).size };
  }
  // Adds the file's entries to the store, replacing the keys it names, as xk6-kv's does; with
  // replace: true the file replaces the whole content instead (all or nothing, as restore).
  // The whole file is checked before anything is written. {imported, fileName, bytesRead,
  // duplicates, expired}
  importJSONL(opts) {
    const o = options(opts, ["fileName", "maxEntries", "maxBytes", "replace"], "importJSONL");
    const r = this._store.importJsonl(o.fileName, o.maxEntries, o.maxBytes, !(o.replace ?? false));
    return {
      imported: r.entries, fileName: o.fileName, bytesRead: fs.statSync(o.fileName).size,
      duplicates: r.duplicates, expired: r.expired,
    };
  }
  sync() {
    this._store.sync();
  }
  snapshot() {
    const r = this._store.snapshot();
    return { totalEntries: r.entries, bytesWritten: r.bytes };
  }
  recoveryReport() {
    return this._store.recoveryReport();
  }
  close() {
    this._store.close();
  }
}

// The methods kv.promises wraps: every operation of a handle.
function handleMethods() {
  return Object.getOwnPropertyNames(Kv.prototype).filter(
    (m) => m !== "constructor" && typeof Object.getOwnPropertyDescriptor(Kv.prototype, m).value === "function");
}

// openKv({name, url, serialization, ...}): opens (creating it if needed) the store `name`:
// this host's shared memory, or the Redis server `url` names. Sizes, times in milliseconds.
function openKv(opts) {
  const o = options(opts, OPEN_OPTIONS, "openKv");
  const serialization = o.serialization ?? "string";
  if (!Object.hasOwn(SERIALIZATIONS, serialization)) {
    throw invalid(`openKv: serialization must be string, buffer or json; got ${describe(serialization)}`);
  }
  const nativeOptions = { ...o, name: o.name ?? "default", buffers: SERIALIZATIONS[serialization].buffers };
  delete nativeOptions.serialization;
  return new Kv(native.open(nativeOptions), nativeOptions, serialization);
}

// Removes the store `name` (on the server opts.url names, else this host's segment).
function destroy(name, opts) {
  native.destroy(name, options(opts, ["url"], "destroy").url);
}

function segmentExists(name, opts) {
  return native.segmentExists(name, options(opts, ["url"], "segmentExists").url);
}

module.exports = {
  openKv,
  destroy,
  segmentExists,
  version: native.version,
  errorCodes: native.errorCodes.map((c) => ({ ...c, className: className(c.name) })),
  Kv,
  ...errors,
};
