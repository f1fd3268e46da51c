// shmkv/store.hpp: the store handle and its operations.
//
// A Store is a move-only handle on one named store: a shared-memory segment of this host, or,
// when Options::url is set, a store on a Redis server that processes on several hosts share.
// Any number of processes (and threads within them) may open the same name; every single-key
// operation is linearizable across all of them. A Store object may be shared by threads of one
// process. It must not be used across fork(): a child opens its own handle; in a child, every
// operation on the parent's handle raises `closed`, and closing or destroying it leaves the
// parent's state alone.
//
// Errors (shmkv::Error, see error.hpp). Every operation may raise `closed` on a closed handle;
// every key argument may raise `invalid_argument` (empty key) or `key_too_long`; every mutation
// may raise `read_only`, `value_too_large` and `store_full`, in which case nothing changed; on a
// persistent store every mutation may also raise `io_error` (its journal or its last snapshot
// failed: nothing changed; see sync()). Operations that can raise more say so. Any operation
// that reads the segment may raise `corrupted` when what it follows there is impossible; with
// Options::verify_reads, every read also raises `corrupted` for a record whose checksum fails
// (naming the shard, the key and the offset), and check_invariants() reports such records
// either way. Returned strings and vectors are copies: they stay valid after the entry changes.
//
// On Redis (Options::url) every operation may also raise `unavailable` (the server cannot be
// reached; nothing was sent) and a mutation `outcome_unknown` (the connection was lost after it
// was sent: it may have been applied). The operations and their results are the same on both
// engines, but for what concerns the segment or the disk: info()'s shared-memory figures and
// stats() are zero, sync() does nothing and snapshot() raises invalid_argument (durability is
// the server's configuration), backup() and restore() are not isolated from concurrent writers,
// and a restore the server runs out of memory for stops midway (store_full). docs/design.md
// "The Redis engine".
//
// Multi-key operations are not atomic across the store: set_many and delete_many apply one key
// at a time (each key atomically); delete_prefix, delete_range, clear, list, list_keys, scan,
// scan_keys, count and size apply shard by shard (each shard's part is atomic); the whole is not
// a snapshot. pop_random_many pops one key at a time, each pop atomic.
//
// Ranges. list, list_keys, scan, scan_keys, count and delete_range select the keys that start
// with `prefix`, are >= `from` and are < `to` (each empty = no such bound): a key must satisfy
// all three. Bounds compare in byte order (unsigned bytes, as keys sort) and may be longer than
// max_key_bytes (a bound is compared, never stored). A non-empty `to` below `from` raises
// invalid_argument naming both, and nothing changes; `to == from` is an empty range.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shmkv/error.hpp"
#include "shmkv/export.h"
#include "shmkv/options.hpp"
#include "shmkv/persistence.hpp"

namespace shmkv {

namespace detail {
class Engine;  // the storage behind a Store (internal)
}  // namespace detail

struct Entry {
  std::string key;
  std::string value;
  bool operator==(const Entry&) const = default;
};

// A claim on a key (claim, claim_random): the key, its value when it was claimed, and the
// fencing token every later call about this claim passes (renew, release, complete).
struct Claim {
  std::string key;
  std::string value;
  std::uint64_t token;
  bool operator==(const Claim&) const = default;
};

struct GetOrSetResult {
  std::string value;  // the value now stored
  bool loaded;        // true if the key existed (value is the old one), false if we stored ours
};

// compare_and_swap_detailed's result.
struct CasOutcome {
  bool swapped;  // true: the key held the expected value (or was absent, as asked) and now holds
                 // the new one
  // What the key holds after the call: the new value when swapped, else the value that failed
  // the comparison (nullopt: the key is absent).
  std::optional<std::string> current;
};

struct SwapResult {
  std::optional<std::string> previous;  // the value replaced, if any
  bool loaded;                          // true if the key existed
};

struct ListOptions {
  std::string prefix;     // only keys starting with these bytes
  std::size_t limit = 0;  // at most this many entries; 0 = all
  std::string from{};     // only keys >= from; empty = no lower bound
  std::string to{};       // only keys < to; empty = no upper bound
};

struct ScanOptions {
  std::string prefix;
  std::size_t limit = 0;  // page size; 0 = all remaining
  std::string cursor;     // resume strictly after this key; empty = from the start
  std::string from{};     // only keys >= from; empty = no lower bound
  std::string to{};       // only keys < to; empty = no upper bound
};

// The keys count and delete_range select (see "Ranges" above); all empty = every key.
// The `{}` initializers on from and to (here and in ListOptions, ScanOptions) let callers write
// the older positional forms, {prefix} or {prefix, limit}, without -Wmissing-field-initializers.
struct KeyRange {
  std::string prefix;  // only keys starting with these bytes
  std::string from{};  // only keys >= from; empty = no lower bound
  std::string to{};    // only keys < to; empty = no upper bound
};

struct ScanPage {
  std::vector<Entry> entries;  // in byte order of keys
  std::string cursor;          // pass back to continue; the last key returned
  bool done;                   // true when no key after cursor matched
};

// scan_keys' page: ScanPage without the values.
struct KeyScanPage {
  std::vector<std::string> keys;  // in byte order
  std::string cursor;             // pass back to continue; the last key returned
  bool done;                      // true when no key after cursor matched
};

struct DeletePrefixResult {
  std::size_t deleted;
  bool done;  // true if no key with the prefix (in the range) remains
};

struct ShardInfo {
  std::uint64_t live_keys;     // keys in the table, expired ones included until reclaimed
  std::uint64_t capacity;      // slots in the shard's hash table
  std::uint64_t arena_bytes;   // bytes of arena chunks the shard holds
  std::uint64_t used_bytes;    // bytes of those occupied by records
  std::uint32_t max_probe;     // longest probe sequence in the table
  std::uint64_t home_records;  // records in a home block (Options::home_block_bytes)
  std::uint64_t recoveries;    // times the shard was repaired after its lock holder died
};

struct ProcessInfo {
  std::int32_t pid;
  std::uint64_t start_time;  // process start time in clock ticks since boot (/proc/PID/stat)
  bool alive;
};

// The ordered index of keys (Options::ordered_index), as Store::info() found it.
struct OrderedIndexInfo {
  bool enabled;                   // the store keeps one
  bool valid;                     // false: stale, rebuilt by the next ordered read
  std::uint32_t height;           // levels of the tree
  std::uint64_t entries;          // keys indexed (expired ones included until reclaimed)
  std::uint64_t node_bytes;       // arena bytes its nodes take (in arena_used_bytes too)
  std::uint64_t rebuilds;         // rebuilds from the records since creation
  std::uint64_t last_rebuild_us;  // how long the last one took
};

// One entry of the coordination table (claims, locks, permits, barriers), as info() found it.
struct GrantInfo {
  std::string kind;            // "claim", "lock", "permit", "barrier" (a round's state), "arrival"
  std::string name_head;       // the first bytes (at most 8) of the key or name
  std::uint32_t name_bytes;    // the name's length
  std::uint64_t token;         // the fencing token
  std::int32_t holder_pid;     // 0: held by nobody (a barrier's state), or on Redis
  bool holder_alive;           // false: free at the next attempt
  std::int64_t lease_left_ms;  // -1: no lease; 0: lapsed
  std::uint64_t holder_client = 0;  // on Redis: the holder's client id (CLIENT ID), else 0
};

// The coordination table (Store::claim, lock, acquire, barrier and the waits).
struct CoordinationInfo {
  std::uint32_t capacity;    // grants that can be held at once (0 on Redis: no limit)
  std::uint32_t used;        // entries in use (lapsed ones included until someone meets them)
  std::uint64_t last_token;  // the last fencing token handed out
  std::uint32_t waiters;     // processes sleeping on its futex word now (Redis: in {name}:w)
  std::uint64_t recoveries;  // repairs after a holder of its lock died (0 on Redis)
  std::vector<GrantInfo> grants;
};

// The shared-memory engine's part of Info (Info inherits it, as Options does its options).
struct SharedMemoryInfo {
  std::uint32_t layout_version;
  std::uint64_t layout_fingerprint;
  std::uint64_t created_unix_ms;
  std::uint64_t size_bytes;
  std::uint32_t shards;
  std::uint64_t max_keys;              // total hash-table slots over all shards
  std::uint64_t arena_bytes;           // bytes available for records
  std::uint64_t arena_used_bytes;      // bytes held by shards (whole chunks), home chunks included
  std::uint32_t home_block_bytes;      // 0 = no home blocks
  std::uint64_t home_records;          // as ShardInfo::home_records, summed
  std::vector<ShardInfo> shard;        // per-shard load
  std::vector<ProcessInfo> processes;  // attached processes (registry)
  OrderedIndexInfo ordered_index;
  CoordinationInfo coordination;
};

// The Redis engine's part of Info.
struct RedisInfo {
  std::string url;                 // Options::url, without a password
  std::string server_version;      // redis_version of INFO server
  std::uint64_t index_entries;     // members of the ordered index {name}:i (expired ones included
                                   // until a write drops them)
  std::uint64_t expiring_entries;  // members of the expiry index {name}:e (keys with a TTL)
  std::uint64_t used_memory;       // the server's used_memory (every store on it)
  std::uint64_t maxmemory;         // the server's maxmemory (0 = no limit)
};

// What Store::info() reports: what every engine knows, then (inherited) the shared-memory
// engine's own figures (zero on another engine), and the Redis engine's when it is the engine.
struct Info : SharedMemoryInfo {
  std::string engine;  // "shm" (the shared-memory segment) or "redis"
  std::optional<RedisInfo> redis;
  std::string name;
  std::uint32_t max_key_bytes;
  std::uint32_t max_value_bytes;
  std::uint64_t live_keys;  // as ShardInfo::live_keys, summed
};

// Operation counters since creation, summed over shards.
struct Stats {
  std::uint64_t gets = 0, hits = 0, misses = 0, sets = 0, deletes = 0;
  std::uint64_t cas_success = 0, cas_failure = 0;
  std::uint64_t lock_waits = 0, recoveries = 0;
};

class SHMKV_API Store {
 public:
  // Creates or attaches the segment Options::name according to Options::open_mode.
  // Raises invalid_argument (bad name or option, or an option that conflicts with the existing
  // segment's: see options.hpp), already_exists, not_found,
  // incompatible_layout, permission_denied, store_full (no room in /dev/shm), io_error.
  static Store open(const Options& options);

  // Removes the named segment. Processes still attached keep their mapping until they close.
  // Raises invalid_argument, not_found, permission_denied.
  static void destroy(const std::string& name);
  // Removes the store options.name on the engine options.url names (the segment when it is
  // empty; on Redis, every key of the store). Handles still open on a Redis store see it empty
  // (and it is created again by the next open). Raises as destroy(name), and unavailable.
  static void destroy(const Options& options);

  // True if a segment with this name exists.
  static bool segment_exists(const std::string& name);
  // True if the store options.name exists on the engine options.url names.
  static bool segment_exists(const Options& options);

  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store();

  // Detaches. Idempotent; afterwards every call raises errc::closed. A persistent store first
  // flushes this handle's journal (fdatasync unless the policy is never) and, when a snapshot
  // is overdue or journals pile up, writes one. Raises io_error (naming the file and errno, the
  // handle being closed anyway) when a journal or snapshot failure of this handle was not cured
  // by a later snapshot: some of its writes may then not be on disk (they are in the segment).
  // The destructor closes too, but cannot report.
  void close();
  bool is_open() const noexcept;

  // --- single key ---
  std::optional<std::string> get(std::string_view key);
  // The same into a caller-owned buffer (its capacity is reused: no allocation once it is large
  // enough). Returns false, leaving *value empty, when the key is absent or expired.
  bool get(std::string_view key, std::string* value);
  // ttl zero = no expiry; otherwise the key expires ttl from now. Any previous TTL is replaced.
  //
  // TTL rule (Redis's): an operation that writes a new value gives the key the ttl it is passed
  // (zero = no expiry), dropping the TTL it had: set, swap, compare_and_swap, get_or_set and
  // set_if_absent (the last two only when they store). increment_by keeps the key's TTL.
  void set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl = {});
  bool exists(std::string_view key);
  bool del(std::string_view key);  // true if it existed

  // --- counters ---
  // Adds delta to the decimal int64 stored at key (absent counts as 0) and returns the result.
  // Raises not_a_number (stored value is not an ASCII decimal int64) or overflow; then nothing
  // changes. A TTL on the key is kept.
  std::int64_t increment_by(std::string_view key, std::int64_t delta);

  // --- atomic helpers ---
  // Their results say what happened ([[nodiscard]]: dropping one is a bug), as pop_random's.
  // A ttl (zero = no expiry) applies to the value the call stores; a negative one raises
  // invalid_argument and nothing changes.
  // The value at key, or, if absent, stores value with ttl. A present key keeps its value and
  // its TTL.
  [[nodiscard]] GetOrSetResult get_or_set(std::string_view key, std::string_view value,
                                          std::chrono::milliseconds ttl = {});
  // Stores value with ttl and returns the previous value. The previous TTL is dropped (Redis
  // GETSET): pass the ttl the key should keep.
  [[nodiscard]] SwapResult swap(std::string_view key, std::string_view value,
                                std::chrono::milliseconds ttl = {});
  // expected == std::nullopt: succeeds only if the key is absent. On success the key holds
  // value with ttl; its previous TTL is dropped (as set). On failure nothing changes.
  [[nodiscard]] bool compare_and_swap(std::string_view key,
                                      std::optional<std::string_view> expected,
                                      std::string_view value, std::chrono::milliseconds ttl = {});
  // compare_and_swap that also says what the key holds (xk6-kv's compareAndSwapDetailed): on a
  // mismatch, current is the value read under the same lock as the comparison (the one that
  // made it fail; nullopt if the key is absent), so callers need no second read to retry.
  [[nodiscard]] CasOutcome compare_and_swap_detailed(std::string_view key,
                                                     std::optional<std::string_view> expected,
                                                     std::string_view value,
                                                     std::chrono::milliseconds ttl = {});
  [[nodiscard]] bool compare_and_delete(std::string_view key, std::string_view expected);
  // Stores value with ttl only if the key is absent; a present key keeps its value and TTL.
  [[nodiscard]] bool set_if_absent(std::string_view key, std::string_view value,
                                   std::chrono::milliseconds ttl = {});

  // --- TTL ---
  // Sets a key's TTL (zero removes it). False if the key is absent.
  bool expire(std::string_view key, std::chrono::milliseconds ttl);
  // Remaining time to live: nullopt if the key is absent; zero if it has no expiry.
  std::optional<std::chrono::milliseconds> ttl(std::string_view key);

  // --- batches (validated first: one bad entry raises and nothing is written) ---
  std::vector<std::optional<std::string>> get_many(const std::vector<std::string>& keys);
  // The same into caller-owned results (an engaged entry's string capacity is reused): out gets
  // keys.size() entries. Returns how many keys were found. Hashes a group of keys and prefetches
  // their slots and records before reading them, so the cache misses of a batch overlap: several
  // times the throughput of single gets when the store is larger than the CPU cache.
  std::size_t get_many(std::span<const std::string_view> keys,
                       std::vector<std::optional<std::string>>* out);
  void set_many(const std::vector<std::pair<std::string, std::string>>& pairs,
                std::chrono::milliseconds ttl = {});
  std::size_t delete_many(const std::vector<std::string>& keys);
  // Deletes up to limit keys starting with prefix (limit 0 = all). An empty prefix raises
  // invalid_argument (it would delete every key): clear() does that.
  DeletePrefixResult delete_prefix(std::string_view prefix, std::size_t limit = 0);
  // Deletes up to limit keys in the range (limit 0 = all); done is false when a key in it
  // remains. A range with no prefix, from or to raises invalid_argument (it would delete every
  // key): clear() does that. An inverted range raises invalid_argument (see "Ranges").
  DeletePrefixResult delete_range(const KeyRange& range, std::size_t limit = 0);

  // --- ordered reads (byte order; cost O(keys in store) per call) ---
  // The options' prefix, from and to select a range (see "Ranges"); an inverted one raises
  // invalid_argument.
  std::vector<Entry> list(const ListOptions& options = {});
  ScanPage scan(const ScanOptions& options);
  // The same keys as list and scan, without copying the values.
  std::vector<std::string> list_keys(const ListOptions& options = {});
  KeyScanPage scan_keys(const ScanOptions& options);
  // Live keys in the range.
  std::size_t count(const KeyRange& range);
  std::size_t count(std::string_view prefix = {});  // count({prefix})

  // --- random ---
  // A key drawn uniformly from the live keys starting with prefix; nullopt if none.
  std::optional<std::string> random_key(std::string_view prefix = {});
  // The largest count random_keys accepts (the bound xk6-kv has).
  static constexpr std::size_t kMaxRandomKeys = 1'000'000;
  // count keys; unique = no key twice (then at most the number of matching keys are returned).
  // count must be 1..kMaxRandomKeys (1,000,000); otherwise raises invalid_argument naming it.
  std::vector<std::string> random_keys(std::size_t count, std::string_view prefix = {},
                                       bool unique = false);
  // Atomically picks a uniformly random live key with the prefix and removes it. Two processes
  // never pop the same entry.
  [[nodiscard]] std::optional<Entry> pop_random(std::string_view prefix = {});
  // Pops up to n entries as n pop_random calls would (each pop atomic, a uniformly random live
  // key with the prefix among those left; two processes never pop the same entry): fewer when
  // fewer match. n must be 1..kMaxRandomKeys; otherwise raises invalid_argument naming it.
  [[nodiscard]] std::vector<Entry> pop_random_many(std::string_view prefix, std::size_t n);

  // --- coordination: claims, locks and semaphores ---
  // Each grant is held by this process until it gives it back, its lease runs out, or the
  // process dies: the next attempt by anyone finds a dead holder (pid and start time) and takes
  // its place, without waiting for the lease. Tokens come from one counter per store and only
  // grow (fencing): a call with a token that no longer holds the grant changes nothing and
  // returns false. lease must be positive; names follow the key limits (1..max_key_bytes).
  // At most 1,792 grants are held at once in a store (limit_exceeded beyond).
  // On Redis (Options::url) a holder is its handle's connection to the server: a process that
  // dies is found by the first attempt after the server has dropped its connection (which
  // follows the death as soon as the server reads the closed socket), and a waiter it held up
  // sees the death within about a second; there is no limit on grants (docs/design.md
  // "Coordination on Redis").
  //
  // A claimed key stays in the store: get, list and the rest see it, but claim, claim_random and
  // pop_random of anyone leave it alone until the claim ends. A claim is on the key's name.
  // Claims the live key; nullopt if it is absent or claimed by another live holder.
  std::optional<Claim> claim(std::string_view key, std::chrono::milliseconds lease);
  // Claims a key drawn uniformly from the live unclaimed keys with the prefix; nullopt if none.
  std::optional<Claim> claim_random(std::string_view prefix, std::chrono::milliseconds lease);
  // Extends a claim this token still holds to `lease` from now; false if it no longer holds it.
  bool renew(std::string_view key, std::uint64_t token, std::chrono::milliseconds lease);
  // Gives the claim back (the key returns to the pool); false if the token no longer holds it.
  bool release(std::string_view key, std::uint64_t token);
  // Ends the claim and deletes the key, atomically; false (nothing deleted) if the token no
  // longer holds the claim.
  bool complete(std::string_view key, std::uint64_t token);

  // A named lock: its token, or nullopt when another live holder kept it for all of `wait`
  // (0: do not wait). A waiter sleeps on a futex in the segment, woken by unlock, by the
  // holder's exit (watched through a pidfd after the first millisecond) or when the holder's
  // lease runs out: it never polls. Not fair: a holder that unlocks and locks again at once may
  // get it again before a woken waiter runs.
  std::optional<std::uint64_t> lock(std::string_view name, std::chrono::milliseconds lease,
                                    std::chrono::milliseconds wait);
  bool unlock(std::string_view name, std::uint64_t token);
  // A permit of a counting semaphore with `permits` permits (at most that many live holders; pass
  // the same count everywhere): its token, or nullopt after `wait`. Held until release_permit or
  // the holder's death (no lease).
  std::optional<std::uint64_t> acquire(std::string_view semaphore, std::uint32_t permits,
                                       std::chrono::milliseconds wait);
  bool release_permit(std::string_view semaphore, std::uint64_t token);

  // --- waiting, without polling: a futex in the segment that inserts move while anyone waits
  // (a writer with no waiter pays one load and a branch) ---
  // True once key exists (at once if it does); false after `timeout`.
  bool wait_for(std::string_view key, std::chrono::milliseconds timeout);
  // pop_random(prefix), waiting up to `timeout` for a key to pop; nullopt after it.
  [[nodiscard]] std::optional<Entry> pop_random_wait(std::string_view prefix,
                                                     std::chrono::milliseconds timeout);
  // Waits until `parties` processes have arrived at the barrier `name` (pass the same count
  // everywhere); returns this arrival's index, 0 .. parties - 1 (the last to arrive gets
  // parties - 1), or nullopt after `timeout` (the arrival is withdrawn). Reusable: the next
  // arrivals start a new round. A party that dies while the others wait breaks the round: they
  // raise errc::broken (not a hang), and the next arrivals start a new round.
  std::optional<std::size_t> barrier(std::string_view name, std::uint32_t parties,
                                     std::chrono::milliseconds timeout);

  // --- whole store ---
  std::size_t size();  // live (unexpired) keys
  void clear();
  Info info();
  Stats stats();

  // --- persistence, backup and restore (see persistence.hpp) ---
  // Writes a consistent point-in-time snapshot of the store (one shard lock at a time; each
  // shard exactly as it was at its turn) to path atomically: a temporary file in the same
  // directory, fdatasync, rename, directory fsync; a failure or a kill leaves any file at path
  // intact. Works with or without persistence. Raises busy while another backup or restore of
  // this store runs (any process), permission_denied, io_error (disk full included).
  BackupResult backup(const std::string& path);
  // Replaces the whole content with the snapshot or backup at path (entries already expired are
  // skipped). Everything is verified first: a missing file (not_found), a foreign or corrupt file
  // (corrupted, naming the offset), a newer format (incompatible_layout), a file over the budget
  // (limit_exceeded), entries over this store's key/value limits or more than fits (store_full)
  // leave the content untouched. A key given more than once keeps its last entry (counted in
  // RestoreResult::duplicates). A path that is not a regular file (FIFO, directory, device) is
  // invalid_argument. The fit check is exact: it replays the allocator's placement (home blocks,
  // slabs, spans) of an empty store, so a refused restore changes nothing and an accepted one
  // cannot run out of room midway. It holds every shard lock while it replaces the content:
  // other readers and writers wait for it (busy after 30 s) and see the old content or the new,
  // never a mix.
  // Raises busy while a backup or restore runs.
  RestoreResult restore(const std::string& path, const RestoreOptions& options = {});
  // What the recovery that created this handle's segment did (performed == false otherwise).
  RecoveryReport recovery_report();
  // Persistent store: makes every mutation this handle acknowledged so far durable (write +
  // fdatasync of its journal), and fdatasyncs the journal files other handles wrote (what they
  // still buffer in memory is theirs to flush). After a journal or snapshot failure of this
  // handle, first writes a snapshot (it holds every applied mutation), after which writes are
  // accepted again. Memory only: does nothing. Raises io_error (naming the file and errno).
  void sync();
  // Persistent store: writes a snapshot into the persistence directory now (as the periodic one
  // does, but in the calling thread). Raises invalid_argument for a memory-only store, busy if a
  // snapshot is running, io_error (naming the file and errno; disk full included).
  BackupResult snapshot();

  // Verifies every shard's invariants (table, records, index array, arena accounting).
  // Returns one line per violation; empty when healthy. Takes each shard lock in turn.
  std::vector<std::string> check_invariants();

 private:
  explicit Store(std::unique_ptr<detail::Engine> engine);
  // The engine, after the fork guard: raises errc::closed on a closed or moved-from handle and
  // on one inherited across fork().
  detail::Engine& engine();
  std::unique_ptr<detail::Engine> engine_;
};

}  // namespace shmkv
