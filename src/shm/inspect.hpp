// inspect.hpp: a read-only view of a live segment, for shmkv-inspect and the tests (internal).
//
// What "read-only" means here, precisely:
// - Attaching does not go through Segment::Open: it does not claim a ProcessSlot and does not
//   reclaim the slots of dead processes (that would hide exactly what an inspector is asked to
//   show). Nothing in the segment is ever written, with one exception: the lock word of a shard
//   mutex while we hold it with pthread_mutex_trylock, for as long as it takes to copy that one
//   shard's metadata (or to run its invariant check). The mapping is read-write only because a
//   process-shared mutex cannot be taken through a read-only mapping; if the file may not be
//   opened for writing, or the caller asks for it (Attach(name, true), shmkv-inspect
//   --no-lock), the mapping is read-only and every shard is read without its lock.
// - Shard locks: we never call ShardLock / LockRobust (they repair a shard whose holder died:
//   a mutation). Per shard, first ProbeLock() reads the mutex state without touching it
//   (futex word + glibc's owner field, MutexOwnerTid). A holder that is dead (the kernel set
//   FUTEX_OWNER_DIED, or /proc/<tid> is gone or a zombie), an inconsistent or an unrecoverable
//   mutex is never locked: the shard is read without the lock and reported as "held by dead
//   pid N (repair pending)"; the next real locker repairs it exactly as if we had not looked.
// - Otherwise we pthread_mutex_trylock with a short bounded retry (Policy::lock_budget). On
//   success we copy and unlock at once. If a live holder keeps the lock past the budget, the
//   shard is read without the lock and marked approximate (and names the holder).
// - The race: the holder may die between the probe and our trylock, which then returns
//   EOWNERDEAD and makes us the owner of a dead shard. Unlocking without
//   pthread_mutex_consistent() would make the mutex unrecoverable for everyone, and marking it
//   consistent without repairing would skip the repair (and its recoveries count): both
//   mutate. So every trylock runs on a short-lived thread of its own; on EOWNERDEAD that thread
//   reads the shard (approximate) and exits still holding the mutex. The kernel's robust-futex
//   exit handling then sets FUTEX_OWNER_DIED again, so the next locker gets EOWNERDEAD and
//   repairs, as it would have. (The only trace: glibc's owner field now reads "inconsistent"
//   instead of the dead tid, so a later inspection cannot name the original holder.)
// - Snapshot reads without the lock are bounds-checked (an offset outside the arena or a
//   length above the segment's limits is counted as unreadable, never followed), so a
//   concurrent writer can make numbers approximate but cannot make us fault. ShardHeader::seq
//   is read before and after: a change, or an odd value, is reported. CheckShard is different:
//   it runs the library's CheckInvariants, which trusts chunk idents, so it runs unlocked only
//   when nobody can be writing (dead holder) or when asked to (read-only mapping), and it is
//   retried when seq moved; a shard whose live holder keeps the lock is not checked.
// - Locks are probed through glibc's private pthread_mutex_t fields (x86-64 / glibc layout),
//   like MutexOwnerTid: for diagnostics only. A holder in another PID namespace looks dead.
#pragma once

#include <pthread.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shm/layout.hpp"
#include "shm/segment.hpp"
#include "shm/shard_ref.hpp"

namespace shmkv::detail::inspect {

// --- locks ---

enum class LockKind {
  free,
  held,           // held by a live thread
  dead_holder,    // the holder died; the next locker repairs (repair pending)
  unrecoverable,  // someone unlocked a dead holder's mutex without marking it consistent
};
const char* LockKindName(LockKind k);  // "free", "held", "dead", "unrecoverable"

struct LockInfo {
  LockKind kind = LockKind::free;
  int tid = 0;  // holder thread id; 0 when unknown (e.g. free, or inconsistent owner field)
  int pid = 0;  // holder process id (thread group); equals tid when it cannot be looked up
  // "free", "held by pid N", "held by pid N (tid T)", "held by dead pid N (repair pending)"...
  std::string Describe() const;
};

// Reads a robust mutex's state without locking it.
LockInfo ProbeLock(const pthread_mutex_t* mutex);
// True if thread `tid` exists and is not a zombie.
bool ThreadAlive(int tid);

// How a shard's data was read.
enum class Access {
  locked,           // under the shard lock: exact
  dead_holder,      // without the lock: its holder is dead (or the mutex is unrecoverable)
  busy,             // without the lock: a live holder kept it past the retry budget
  owner_died,       // the holder died just before our trylock; read as the (dead) owner
  no_write_access,  // without the lock: the segment could only be mapped read-only
};
const char* AccessName(Access a);  // "locked", "dead-holder", "busy", "owner-died", "read-only"

struct Policy {
  std::chrono::microseconds lock_budget{std::chrono::milliseconds(20)};
  // Test only: trylock even when the probe says the holder is dead (exercises the EOWNERDEAD
  // path, which otherwise needs the holder to die inside a microsecond window).
  bool force_trylock = false;
};

// --- attaching ---

class Inspector {
 public:
  // Maps /dev/shm/shmkv.<name> and validates its header. Throws shmkv::Error: not_found (absent
  // or never finished), incompatible_layout, corrupted (size mismatch), permission_denied.
  // read_only_mapping: map PROT_READ even when the file is writable, so no shard is ever
  // locked and any write would fault (shmkv-inspect --no-lock).
  static std::unique_ptr<Inspector> Attach(const std::string& name, bool read_only_mapping = false);

  Segment* segment() const { return seg_.get(); }
  const SegmentHeader& header() const { return *seg_->header(); }
  const std::string& name() const { return seg_->name(); }
  bool writable() const { return writable_; }
  std::uint32_t shard_count() const { return seg_->geo().shard_count; }
  // True once the file was unlinked or replaced by another segment of the same name.
  bool Removed() const;

 private:
  Inspector(std::unique_ptr<Segment> seg, bool writable)
      : seg_(std::move(seg)), writable_(writable) {}
  std::unique_ptr<Segment> seg_;
  bool writable_;
};

// What happened while a shard was visited.
struct Visit {
  LockInfo lock;  // the lock as found (the last probe)
  Access access = Access::locked;
  bool seq_odd = false;  // a mutation was in progress (or its holder died in the middle)
  bool changed = false;  // without the lock: seq moved while we read
  bool approximate() const { return access != Access::locked || seq_odd || changed; }
};

// Runs fn(shard, access) once, with the shard locked if the policy allows (see the top
// comment), else without the lock; `access` says which. fn must only read; unless access is
// Access::locked it must bounds-check what it follows. Exceptions from fn propagate (after the
// lock, if taken, is released).
Visit VisitShard(const Inspector& in, std::uint32_t shard, const Policy& policy,
                 const std::function<void(const ShardRef&, Access)>& fn);

// --- snapshots ---

struct Counters {
  std::uint64_t gets = 0, hits = 0, misses = 0, sets = 0, deletes = 0;
  std::uint64_t cas_success = 0, cas_failure = 0, lock_waits = 0, recoveries = 0;
  Counters& operator+=(const Counters& o);
  std::uint64_t ops() const { return gets + sets + deletes + cas_success + cas_failure; }
};

struct RecordCopy {
  std::uint64_t slot = 0;
  std::uint32_t psl = 0;
  std::uint64_t offset = 0;
  std::uint32_t key_len = 0, value_len = 0;
  std::uint64_t expires_ms = 0;  // 0 = never
  std::string key;               // Detail::keys only
};

enum Detail : unsigned {
  kHeader = 0,    // ShardHeader fields and counters only (cheapest: watch)
  kTable = 1,     // + every slot: probe lengths, record sizes, expiries
  kKeys = 2 | 1,  // + key bytes
  kArena = 4,     // + the shard's slabs/spans: free bytes and largest free block
};

struct ShardSnapshot {
  std::uint32_t index = 0;
  std::uint64_t capacity = 0;  // slots in the table
  Visit visit;
  std::uint64_t seq = 0;
  std::uint64_t count = 0;  // records in the table (expired included)
  std::uint64_t ttl_count = 0, used_bytes = 0, chunk_count = 0;
  std::uint32_t max_psl_bound = 0;  // ShardHeader::max_psl (an upper bound)
  Counters counters;

  // kTable
  bool has_table = false;
  std::uint64_t occupied = 0;  // slots in use
  std::uint64_t expired = 0;   // records whose expiry has passed (not reclaimed yet)
  std::uint64_t psl_sum = 0;
  std::uint32_t psl_max = 0;
  std::vector<std::uint64_t> psl_histogram;  // [psl] -> slots
  std::uint64_t unreadable = 0;              // slots whose record failed the bounds checks
  std::vector<RecordCopy> records;           // in slot order

  // kArena
  bool has_arena = false;
  std::uint64_t slabs = 0, spans = 0;
  std::uint64_t largest_free_block = 0;  // bytes of the largest free slab block (0: none)

  std::uint64_t live() const { return count >= expired ? count - expired : 0; }
  std::uint64_t arena_bytes() const { return chunk_count * kChunkBytes; }
  std::uint64_t free_bytes() const {
    return arena_bytes() > used_bytes ? arena_bytes() - used_bytes : 0;
  }
  double load_factor() const { return capacity ? double(count) / double(capacity) : 0.0; }
  double mean_psl() const { return occupied ? double(psl_sum) / double(occupied) : 0.0; }
};

ShardSnapshot SnapshotShard(const Inspector& in, std::uint32_t shard, unsigned detail,
                            const Policy& policy, std::uint64_t now_ms);
// Every shard in turn (one lock at a time); with kArena the chunk table is scanned once.
std::vector<ShardSnapshot> SnapshotAll(const Inspector& in, unsigned detail, const Policy& policy,
                                       std::uint64_t now_ms);

struct ProcessEntry {
  std::uint32_t slot;
  std::int32_t pid;
  std::uint64_t start_time;
  std::uint64_t attached_unix_ms;
  bool alive;
};
// The process registry as it is (dead entries included; nothing is reclaimed).
std::vector<ProcessEntry> Processes(const Inspector& in);

struct ChunkPool {
  std::uint64_t total = 0, free = 0;
  std::uint64_t largest_free_run = 0;  // chunks
};
// Scans the ident of every chunk (atomic reads, no lock): an instant's picture.
ChunkPool ScanChunks(const Inspector& in);

// --- single key ---

struct Lookup {
  std::uint32_t shard = 0;
  Visit visit;
  bool found = false;
  RecordCopy record;
  std::string value;
  bool value_complete = false;  // false: the value could not be read consistently
};
Lookup GetKey(const Inspector& in, std::string_view key, const Policy& policy);

// --- invariants ---

struct ShardCheck {
  std::uint32_t index = 0;
  Visit visit;
  bool checked = true;  // false: a live holder kept the lock; the shard was not checked
  std::vector<std::string> violations;  // "shard N: slot M: what" (Shard::CheckInvariants)
};
// Shard::CheckInvariants for one shard: under the lock, or without it when the holder is dead
// (read-only: nothing is repaired). A shard whose live holder keeps the lock past the policy's
// budget is not checked (an unlocked check could chase a half-written offset).
ShardCheck CheckShard(const Inspector& in, std::uint32_t shard, const Policy& policy);

// Hash of a key under the segment's seed and the shard it routes to.
std::uint32_t ShardOfKey(const Inspector& in, std::string_view key);

}  // namespace shmkv::detail::inspect
