// usage.ts: every declaration of index.d.ts used as a program would, with the types it must
// give; node_typescript runs `tsc -p tsconfig.json` (strict) over it. Type-checked, never run.
import * as assert from "node:assert";
import {
  openKv, destroy, segmentExists, version, errorCodes, Kv, ShmkvError, StoreFullError,
  InvalidArgumentError, KeyTooLongError, ValueTooLargeError, NotANumberError, OverflowError,
  ClosedError, ReadOnlyError, AlreadyExistsError, NotFoundError, IncompatibleLayoutError,
  PermissionDeniedError, CorruptedError, BusyError, LimitExceededError, IoError,
  UnavailableError, OutcomeUnknownError, BrokenError, Info, Stats, RecoveryReport,
} from "shmkv";

const kv = openKv({ name: "t", sizeBytes: 1 << 20, openMode: "create_or_attach", maxKeyBytes: 64 });
const text: string | null = kv.get("k");
const written: string | Buffer = kv.set("k", "v", { ttl: 1000 });
kv.set(Buffer.from("k"), new Uint8Array([1]) as Buffer);
const present: boolean = kv.exists("k");
const existed: boolean = kv.delete("k") && kv.deleteIfExists("k");
const expired: boolean = kv.expire("k", 0);
const left: number | null = kv.ttl("k");
const n: number = kv.incrementBy("n") + kv.incrementBy("n", 2);
const big: bigint = kv.incrementBy("n", 2n);
const got: { value: string; loaded: boolean } = kv.getOrSet("g", "v", { ttl: 5 });
const swapped: { previous: string | null; loaded: boolean } = kv.swap("s", "v");
const cas: boolean = kv.compareAndSwap("l", null, "me") && kv.compareAndSwap("l", "me", "you", { ttl: 1 });
const detailed = kv.compareAndSwapDetailed("l", undefined, "x");
const reason: "swapped" | "mismatch" = detailed.reason;
const current: string | null = detailed.current;
const cad: boolean = kv.compareAndDelete("l", "x") && kv.setIfAbsent("a", "1", { ttl: 2 });
const many: { key: string; exists: boolean; value: string | null }[] = kv.getMany(["a", Buffer.from("b")]);
const w: number = kv.setMany({ a: "1" }).written + kv.setMany([["a", "1"]]).written +
  kv.setMany(new Map([["a", "1"]]), { ttl: 3 }).written;
const dm: { deleted: number; missing: number } = kv.deleteMany(["a"]);
const dp: { deleted: number; done: boolean } = kv.deleteByPrefix({ prefix: "a", limit: 1 });
const dr: boolean = kv.deleteRange({ from: "a", to: "b", limit: 0 }).done;
const list: { key: string; value: string }[] = kv.list({ prefix: "a", limit: 2, from: "a", to: "b" });
const keys: string[] = kv.listKeys({ prefix: "a" });
const page = kv.scan({ prefix: "a", limit: 10, cursor: "" });
const cursor: string = page.cursor;
const keyPage: string[] = kv.scanKeys({ cursor: page.cursor }).keys;
const count: number = kv.count({ prefix: "a", from: "a", to: "z" }) + kv.count() + kv.size();
const rk: string | null = kv.randomKey({ prefix: "a" });
const rks: string[] = kv.randomKeys({ prefix: "a", count: 3, unique: false });
const popped: { key: string; value: string } | null = kv.popRandom({ prefix: "a" });
const poppedMany: { key: string; value: string }[] = kv.popRandomMany({ prefix: "a", count: 2 });
const claim: { id: string; key: string; token: number; expiresAt: number; entry: { key: string; value: string } } | null =
  kv.claimKey("job:1", { ttl: 1000 }) ?? kv.claimRandom({ prefix: "job:", ttl: 1000 });
const claimDone: boolean = claim !== null && kv.renewClaim(claim, { ttl: 5 }) && kv.releaseClaim(claim) &&
  kv.completeClaim({ key: "job:1", token: 1 }, { deleteKey: false });
const lockToken: number | null = kv.lock("L", { ttl: 1000, wait: 10 });
const unlocked: boolean = lockToken !== null && kv.unlock("L", lockToken);
const permit: number | null = kv.acquire("S", { permits: 2, wait: 0 });
const permitReleased: boolean = permit !== null && kv.releasePermit("S", permit);
const appeared: boolean = kv.waitFor("k", { timeout: 10 });
const waited: { key: string; value: string } | null = kv.popRandomWait({ prefix: "job:", timeout: 10 });
const arrival: number | null = kv.barrier("B", { parties: 2, timeout: 10 });
const cleared: true = kv.clear();
const info: Info = kv.info();
const fingerprint: bigint = info.layoutFingerprint;
const engine: "shm" | "redis" = info.engine;
const redisUrl: string | undefined = info.redis?.url;
const grantKinds: string[] = info.coordination.grants.map((g) => `${g.kind} ${g.holderPid} ${g.leaseLeftMs}`);
const indexValid: boolean = info.orderedIndex.valid;
const stats: Stats = kv.stats();
const problems: string[] = kv.checkInvariants();
const backup: { totalEntries: number; bytesWritten: number } = kv.backup({ fileName: "/tmp/b" });
const restored: number = kv.restore({ fileName: "/tmp/b", maxEntries: 10, maxBytes: 0 }).totalEntries;
const exported: number = kv.exportJSONL({ fileName: "/tmp/j", jsonValues: true }).exported;
const imported: number = kv.importJSONL({ fileName: "/tmp/j", replace: true }).imported;
kv.sync();
const snapshot: number = kv.snapshot().bytesWritten;
const report: RecoveryReport = kv.recoveryReport();
const later: Promise<string | null> = kv.promises.get("k");
const laterCount: Promise<number> = kv.promises.incrementBy("n", 1);
const closed: boolean = kv.closed;
const name: string = kv.name + kv.url + kv.serialization;
kv.close();

const json = openKv({ name: "j", serialization: "json", url: "unix:///tmp/redis.sock", connectTimeout: 100 });
json.set("o", { a: [1, 2] });
const anything: unknown = json.get("o");
const buffers = openKv({ serialization: "buffer", persistenceDirectory: "/tmp/p", fsync: "always" });
const bytes: Buffer | null = buffers.get("k");

destroy("t");
destroy("t", { url: "redis://127.0.0.1:6379" });
const exists: boolean = segmentExists("t", { url: undefined });
const v: string = version;
const codes: string[] = errorCodes.map((c) => `${c.name} ${c.number} ${c.className} ${c.description}`);
const handleClass: Kv<any, any> = Kv.prototype;

try {
  kv.get("");
} catch (e) {
  if (e instanceof ShmkvError) {
    const code: string = e.code;
    const errno: number = e.errno;
    assert.ok(e instanceof Error && code.length > 0 && errno > 0);
  }
}
const classes: (typeof ShmkvError)[] = [StoreFullError, InvalidArgumentError, KeyTooLongError,
  ValueTooLargeError, NotANumberError, OverflowError, ClosedError, ReadOnlyError,
  AlreadyExistsError, NotFoundError, IncompatibleLayoutError, PermissionDeniedError,
  CorruptedError, BusyError, LimitExceededError, IoError, UnavailableError, OutcomeUnknownError,
  BrokenError];

export {
  text, written, present, existed, expired, left, n, big, got, swapped, cas, current, cad, many,
  w, dm, dp, dr, list, keys, cursor, keyPage, count, rk, rks, popped, poppedMany, cleared,
  claimDone, unlocked, permitReleased, appeared, waited, arrival, grantKinds, indexValid,
  fingerprint, engine, redisUrl, stats, problems, backup, restored, exported, imported, snapshot,
  report, later, laterCount, closed, name, anything, bytes, exists, v, codes, handleClass, classes,
};
