// index.d.ts: TypeScript declarations of shmkv's Node.js binding (index.js; the contract is at
// its top). Every method of Kv is synchronous; Kv.promises has the same ones returning Promises.
/// <reference types="node" />

export type Key = string | Buffer | Uint8Array;
/** What a write takes: a string or Buffer (serialization "string", "buffer"), any JSON value ("json"). */
export type Serialization = "string" | "buffer" | "json";

export interface OpenOptions {
  /** 1-200 of [A-Za-z0-9._-]; default "default". */
  name?: string;
  /** A Redis (>= 7.0) server: "redis://[[user]:password@]host[:port][/db]" or "unix:///path/redis.sock[?db=N]". */
  url?: string;
  /** How values are written and read back; default "string". */
  serialization?: Serialization;
  openMode?: "create_or_attach" | "create_only" | "attach_only" | "read_only";
  sizeBytes?: number;
  shards?: number;
  maxKeys?: number;
  homeBlockBytes?: number;
  orderedIndex?: boolean;
  mode?: number;
  trustedGroup?: number;
  verifyReads?: boolean;
  maxKeyBytes?: number;
  maxValueBytes?: number;
  /** Milliseconds (Redis only). */
  connectTimeout?: number;
  /** Milliseconds, 0 = no limit (Redis only). */
  commandTimeout?: number;
  persistenceDirectory?: string;
  fsync?: "always" | "interval" | "never";
  /** Milliseconds. */
  snapshotInterval?: number;
  /** Milliseconds. */
  fsyncInterval?: number;
  keepSnapshots?: number;
}

/** ttl in milliseconds; absent or 0 = no expiry. */
export interface TtlOptions {
  ttl?: number;
}
export interface RangeOptions {
  prefix?: Key;
  /** Only keys >= from. */
  from?: Key;
  /** Only keys < to. */
  to?: Key;
}
export interface ListOptions extends RangeOptions {
  /** At most this many; 0 or absent = all. */
  limit?: number;
}
export interface ScanOptions extends ListOptions {
  /** A cursor a previous page returned; "" or absent = from the start. */
  cursor?: string;
}

export interface Entry<V> {
  key: string;
  value: V;
}
export interface GetOrSetResult<V> {
  value: V;
  /** true: the key existed and value is the stored one; false: ours was stored. */
  loaded: boolean;
}
export interface SwapResult<V> {
  previous: V | null;
  loaded: boolean;
}
export interface CasDetailedResult<V> {
  swapped: boolean;
  reason: "swapped" | "mismatch";
  existed: boolean;
  /** What the key holds after the call; null when absent. */
  current: V | null;
}
export interface ScanPage<V> {
  entries: Entry<V>[];
  /** "" once done. */
  cursor: string;
  done: boolean;
}
export interface KeyScanPage {
  keys: string[];
  cursor: string;
  done: boolean;
}
export interface DeleteResult {
  deleted: number;
  /** No matching key remains. */
  done: boolean;
}
export interface GetManyEntry<V> {
  key: string;
  exists: boolean;
  value: V | null;
}
export interface BackupSummary {
  totalEntries: number;
  bytesWritten: number;
}
export interface RestoreSummary {
  totalEntries: number;
  bytes: number;
  duplicates: number;
  expired: number;
}
/** A claim on a key (xk6-kv's shape); pass it back to renewClaim, releaseClaim, completeClaim. */
export interface Claim<V> {
  /** "claim-<token>" */
  id: string;
  key: string;
  /** Fencing token: a call with a token that no longer holds the claim changes nothing. */
  token: number;
  /** This process's clock at the call plus the lease (Unix milliseconds). */
  expiresAt: number;
  /** The key and its value when it was claimed. */
  entry: Entry<V>;
}
export interface ClaimRef {
  key: string;
  token: number;
}
export interface ProcessInfo {
  pid: number;
  startTime: number;
  alive: boolean;
}
export interface RedisInfo {
  url: string;
  serverVersion: string;
  indexEntries: number;
  expiringEntries: number;
  usedMemory: number;
  maxmemory: number;
}
export interface OrderedIndexInfo {
  enabled: boolean;
  /** false: stale, rebuilt by the next ordered read */
  valid: boolean;
  height: number;
  entries: number;
  nodeBytes: number;
  rebuilds: number;
  lastRebuildUs: number;
}
/** One entry of the coordination table. */
export interface GrantInfo {
  kind: "claim" | "lock" | "permit" | "barrier" | "arrival";
  /** The first bytes (at most 8) of the key or name. */
  nameHead: string;
  nameBytes: number;
  token: number;
  /** 0: held by nobody (a barrier's state). */
  holderPid: number;
  holderAlive: boolean;
  /** -1: no lease; 0: lapsed. */
  leaseLeftMs: number;
}
export interface CoordinationInfo {
  capacity: number;
  used: number;
  lastToken: number;
  waiters: number;
  recoveries: number;
  grants: GrantInfo[];
}
export interface Info {
  engine: "shm" | "redis";
  name: string;
  maxKeyBytes: number;
  maxValueBytes: number;
  liveKeys: number;
  layoutVersion: number;
  layoutFingerprint: bigint;
  createdUnixMs: number;
  sizeBytes: number;
  shards: number;
  maxKeys: number;
  arenaBytes: number;
  arenaUsedBytes: number;
  homeBlockBytes: number;
  homeRecords: number;
  processes: ProcessInfo[];
  orderedIndex: OrderedIndexInfo;
  coordination: CoordinationInfo;
  redis: RedisInfo | null;
}
export interface Stats {
  gets: number;
  hits: number;
  misses: number;
  sets: number;
  deletes: number;
  casSuccess: number;
  casFailure: number;
  lockWaits: number;
  recoveries: number;
}
export interface RecoveryReport {
  performed: boolean;
  directory: string;
  snapshot: string;
  snapshotSeq: number;
  snapshotEntries: number;
  rejectedSnapshots: string[];
  journalFiles: number;
  recordsApplied: number;
  recordsSkipped: number;
  truncated: string[];
  truncatedBytes: number;
  skipped: string[];
  skippedBytes: number;
  notes: string[];
  entries: number;
  nextSeq: number;
  durationUs: number;
}

/** V: what reads return (string, Buffer, or any JSON value); W: what writes take. */
export interface KvMethods<V, W> {
  get(key: Key): V | null;
  set(key: Key, value: W, options?: TtlOptions): W;
  exists(key: Key): boolean;
  /** true if the key existed. */
  delete(key: Key): boolean;
  deleteIfExists(key: Key): boolean;
  /** Sets the TTL in milliseconds (0 removes it); false if the key is absent. */
  expire(key: Key, ttl: number): boolean;
  /** Milliseconds left; Infinity without expiry; null when absent. */
  ttl(key: Key): number | null;
  /** A number delta (default 1) gives a number, a bigint delta a bigint (exact past 2^53). */
  incrementBy<D extends number | bigint = number>(key: Key, delta?: D): D extends bigint ? bigint : number;
  getOrSet(key: Key, value: W, options?: TtlOptions): GetOrSetResult<V>;
  swap(key: Key, value: W, options?: TtlOptions): SwapResult<V>;
  /** oldValue null or undefined: only if the key is absent. */
  compareAndSwap(key: Key, oldValue: W | null | undefined, newValue: W, options?: TtlOptions): boolean;
  compareAndSwapDetailed(key: Key, oldValue: W | null | undefined, newValue: W, options?: TtlOptions): CasDetailedResult<V>;
  compareAndDelete(key: Key, oldValue: W): boolean;
  setIfAbsent(key: Key, value: W, options?: TtlOptions): boolean;
  getMany(keys: Key[]): GetManyEntry<V>[];
  setMany(entries: Record<string, W> | Map<Key, W> | Array<[Key, W]>, options?: TtlOptions): { written: number };
  deleteMany(keys: Key[]): { deleted: number; missing: number };
  deleteByPrefix(options: { prefix: Key; limit?: number }): DeleteResult;
  deleteRange(options: ListOptions): DeleteResult;
  list(options?: ListOptions): Entry<V>[];
  listKeys(options?: ListOptions): string[];
  scan(options?: ScanOptions): ScanPage<V>;
  scanKeys(options?: ScanOptions): KeyScanPage;
  count(options?: RangeOptions): number;
  randomKey(options?: { prefix?: Key }): string | null;
  /** count 1..1,000,000; unique defaults to true. */
  randomKeys(options: { prefix?: Key; count: number; unique?: boolean }): string[];
  popRandom(options?: { prefix?: Key }): Entry<V> | null;
  popRandomMany(options: { prefix?: Key; count: number }): Entry<V>[];
  /** ttl: the lease in milliseconds (default 30000). null: absent, or claimed by a live holder. */
  claimKey(key: Key, options?: { ttl?: number }): Claim<V> | null;
  claimRandom(options?: { prefix?: Key; ttl?: number }): Claim<V> | null;
  renewClaim(claim: ClaimRef, options?: { ttl?: number }): boolean;
  releaseClaim(claim: ClaimRef): boolean;
  /** Ends the claim and deletes the key (deleteKey: false gives it back instead). */
  completeClaim(claim: ClaimRef, options?: { deleteKey?: boolean }): boolean;
  /** A lock's token, or null when another live holder kept it for all of wait (ms, default 0). */
  lock(name: Key, options?: { ttl?: number; wait?: number }): number | null;
  unlock(name: Key, token: number): boolean;
  /** A permit of a semaphore of `permits` permits, or null after wait (ms, default 0). */
  acquire(name: Key, options: { permits: number; wait?: number }): number | null;
  releasePermit(name: Key, token: number): boolean;
  /** true once the key exists; false after timeout (ms, default 0). Blocks this thread. */
  waitFor(key: Key, options?: { timeout?: number }): boolean;
  /** popRandom, waiting up to timeout (ms, default 0) for a key. Blocks this thread. */
  popRandomWait(options?: { prefix?: Key; timeout?: number }): Entry<V> | null;
  /** This arrival's index (0 .. parties - 1), or null after timeout; BrokenError if a party died. */
  barrier(name: Key, options: { parties: number; timeout?: number }): number | null;
  size(): number;
  clear(): true;
  info(): Info;
  stats(): Stats;
  checkInvariants(): string[];
  backup(options: { fileName: string }): BackupSummary;
  restore(options: { fileName: string; maxEntries?: number; maxBytes?: number }): RestoreSummary;
  exportJSONL(options: { fileName: string; jsonValues?: boolean }): { exported: number; fileName: string; bytesWritten: number };
  /** Adds the entries (replace: true replaces the whole content instead). */
  importJSONL(options: { fileName: string; maxEntries?: number; maxBytes?: number; replace?: boolean }): {
    imported: number; fileName: string; bytesRead: number; duplicates: number; expired: number;
  };
  sync(): void;
  snapshot(): BackupSummary;
  recoveryReport(): RecoveryReport;
  close(): void;
}

/** KvMethods returning Promises (incrementBy spelt out: a mapped type loses its generic). */
type Promised<T> = {
  [K in Exclude<keyof T, "incrementBy">]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<R> : never;
} & {
  incrementBy<D extends number | bigint = number>(key: Key, delta?: D): Promise<D extends bigint ? bigint : number>;
};

export interface Kv<V = string, W = string | Buffer> extends KvMethods<V, W> {
  readonly name: string;
  readonly url: string;
  readonly serialization: Serialization;
  readonly closed: boolean;
  /** The same methods, returning Promises (for ports of xk6-kv scripts). */
  readonly promises: Promised<KvMethods<V, W>>;
}

/** The class of the handles openKv returns (not to be constructed directly). */
export const Kv: { readonly prototype: Kv<any, any> };

export function openKv(options: OpenOptions & { serialization: "json" }): Kv<any, any>;
export function openKv(options: OpenOptions & { serialization: "buffer" }): Kv<Buffer, string | Buffer>;
export function openKv(options?: OpenOptions): Kv<string, string | Buffer>;
export function destroy(name: string, options?: { url?: string }): void;
export function segmentExists(name: string, options?: { url?: string }): boolean;
export const version: string;
export const errorCodes: ReadonlyArray<{ name: string; number: number; description: string; className: string }>;

/** Every error of the library; .code is the code's name ("store_full"), .errno its number. */
export class ShmkvError extends Error {
  readonly code: string;
  readonly errno: number;
}
// One class per code of include/shmkv/error_codes.h (node_bindings' errors test checks the list).
export class InvalidArgumentError extends ShmkvError {}
export class KeyTooLongError extends ShmkvError {}
export class ValueTooLargeError extends ShmkvError {}
export class StoreFullError extends ShmkvError {}
export class NotANumberError extends ShmkvError {}
export class OverflowError extends ShmkvError {}
export class ClosedError extends ShmkvError {}
export class ReadOnlyError extends ShmkvError {}
export class AlreadyExistsError extends ShmkvError {}
export class NotFoundError extends ShmkvError {}
export class IncompatibleLayoutError extends ShmkvError {}
export class PermissionDeniedError extends ShmkvError {}
export class CorruptedError extends ShmkvError {}
export class BusyError extends ShmkvError {}
export class LimitExceededError extends ShmkvError {}
export class IoError extends ShmkvError {}
export class UnavailableError extends ShmkvError {}
export class OutcomeUnknownError extends ShmkvError {}
export class BrokenError extends ShmkvError {}
