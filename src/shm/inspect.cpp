// inspect.cpp: see inspect.hpp (the lock protocol and what "read-only" means are described
// there).
#include "shm/inspect.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <thread>

#include "os/os.hpp"
#include "os/throw.hpp"
#include "shm/allocator.hpp"
#include "shm/robust_mutex.hpp"
#include "shm/shard.hpp"

namespace shmkv::detail {

namespace inspect {
namespace {

// glibc's robust-mutex encoding (x86-64): the futex word holds the owner TID plus these bits;
// __owner holds the TID too, or one of the two markers below.
constexpr unsigned kFutexOwnerDied = 0x40000000u;
constexpr unsigned kFutexTidMask = 0x3fffffffu;
constexpr int kOwnerInconsistent = 0x7fffffff;    // PTHREAD_MUTEX_INCONSISTENT
constexpr int kOwnerNotRecoverable = 0x7ffffffe;  // PTHREAD_MUTEX_NOTRECOVERABLE

// A relaxed atomic load of a plain field another process may be writing.
template <typename T>
T Load(const T& field) {
  return __atomic_load_n(&field, __ATOMIC_RELAXED);
}

int ThreadGroupOf(int tid) {
  std::ifstream in("/proc/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, 5, "Tgid:") == 0) {
      int tgid = std::atoi(line.c_str() + 5);
      return tgid > 0 ? tgid : tid;
    }
  }
  return tid;
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Reads the record at `off` into rc (lengths and expiry) after the library's own check of its
// block and lengths (Segment::TryRecord). False if it cannot be followed safely.
bool ReadRecord(const ShardRef& r, std::uint64_t off, RecordCopy* rc) {
  RecordRef ref;
  if (r.seg->TryRecord(off, r.index, &ref) != nullptr) return false;
  rc->offset = off;
  rc->key_len = ref.key_len;
  rc->value_len = ref.value_len;
  rc->expires_ms = ref.expires_ms();
  return true;
}

std::string_view KeyBytes(const ShardRef& r, const RecordCopy& rc) {
  return {reinterpret_cast<const char*>(r.seg->base() + rc.offset + kRecordHeaderBytes),
          rc.key_len};
}

// Chunk heads owned by each shard, from one pass over the chunk table.
std::vector<std::vector<std::uint64_t>> HeadsByShard(const Inspector& in) {
  const Segment& seg = *in.segment();
  std::vector<std::vector<std::uint64_t>> out(in.shard_count());
  for (std::uint64_t c = 0; c < seg.geo().chunk_count; ++c) {
    std::uint64_t ident = seg.ident(c)->load(std::memory_order_relaxed);
    if (ident == 0 || IdentClass(ident) == kClassContinuation) continue;
    if (IdentOwner(ident) < out.size()) out[IdentOwner(ident)].push_back(c);
  }
  return out;
}

// Fills the arena fields of s from the heads in `candidates` (re-verified here, under whatever
// lock the caller holds). Falls back to a full scan when they no longer add up to the shard's
// chunk_count (the shard gained chunks since the candidates were listed).
void ReadArena(const ShardRef& r, const std::vector<std::uint64_t>* candidates, ShardSnapshot* s) {
  const Segment& seg = *r.seg;
  auto scan = [&](const std::vector<std::uint64_t>& heads) {
    std::uint64_t chunks = 0;
    s->slabs = s->spans = s->largest_free_block = 0;
    for (std::uint64_t c : heads) {
      std::uint64_t ident = seg.ident(c)->load(std::memory_order_relaxed);
      if (ident == 0 || IdentOwner(ident) != r.index) continue;
      std::uint16_t cls = IdentClass(ident);
      if (cls == kClassContinuation) continue;
      chunks += IdentSpan(ident);
      if (cls == kClassLarge) {
        ++s->spans;
        continue;
      }
      if (cls >= kNumClasses) continue;
      ++s->slabs;
      const ChunkInfo* ci = seg.chunk(c);
      if (Load(ci->free_head) != 0 || Load(ci->carved) < BlocksPerSlab(cls))
        s->largest_free_block = std::max<std::uint64_t>(s->largest_free_block, kSizeClasses[cls]);
    }
    return chunks;
  };
  if (candidates && scan(*candidates) == s->chunk_count) {
    s->has_arena = true;
    return;
  }
  scan(ChunksOwnedBy(seg, r.index));
  s->has_arena = true;
}

ShardSnapshot Snapshot(const Inspector& in, std::uint32_t shard, unsigned detail,
                       const Policy& policy, std::uint64_t now_ms,
                       const std::vector<std::uint64_t>* arena_candidates) {
  ShardSnapshot s;
  s.index = shard;
  s.capacity = in.segment()->geo().slots_per_shard;
  s.visit = VisitShard(in, shard, policy, [&](const ShardRef& r, Access) {
    const ShardHeader* h = r.h;
    s.seq = h->seq.load(std::memory_order_acquire);
    s.count = h->count.load(std::memory_order_relaxed);
    s.ttl_count = Load(h->ttl_count);
    s.used_bytes = Load(h->used_bytes);
    s.chunk_count = Load(h->chunk_count);
    s.max_psl_bound = Load(h->max_psl);
    s.counters.gets = Load(h->gets);
    s.counters.hits = Load(h->hits);
    s.counters.misses = Load(h->misses);
    s.counters.sets = Load(h->sets);
    s.counters.deletes = Load(h->deletes);
    s.counters.cas_success = Load(h->cas_success);
    s.counters.cas_failure = Load(h->cas_failure);
    s.counters.lock_waits = Load(h->lock_waits);
    s.counters.recoveries = Load(h->recoveries);
    if (detail & kTable) {
      s.has_table = true;
      s.records.clear();
      s.psl_histogram.clear();
      s.occupied = s.expired = s.psl_sum = s.psl_max = s.unreadable = 0;
      for (std::uint64_t i = 0; i < r.cap; ++i) {
        const Slot slot{Load(r.slots[i].word)};
        const std::uint64_t rec = slot.rec();
        if (slot.word == 0) continue;
        ++s.occupied;
        const std::uint32_t psl = slot.psl();
        RecordCopy rc;
        if (psl >= r.cap || !ReadRecord(r, rec, &rc)) {
          ++s.unreadable;
          continue;
        }
        rc.slot = i;
        rc.psl = psl;
        if (psl >= s.psl_histogram.size()) s.psl_histogram.resize(psl + 1);
        ++s.psl_histogram[psl];
        s.psl_sum += psl;
        s.psl_max = std::max(s.psl_max, psl);
        if (rc.expires_ms != 0 && rc.expires_ms <= now_ms) ++s.expired;
        if ((detail & kKeys) == kKeys) rc.key.assign(KeyBytes(r, rc));
        s.records.push_back(std::move(rc));
      }
    }
    if (detail & kArena) ReadArena(r, arena_candidates, &s);
  });
  return s;
}

}  // namespace

const char* LockKindName(LockKind k) {
  switch (k) {
    case LockKind::free:
      return "free";
    case LockKind::held:
      return "held";
    case LockKind::dead_holder:
      return "dead";
    case LockKind::unrecoverable:
      return "unrecoverable";
  }
  return "?";
}

const char* AccessName(Access a) {
  switch (a) {
    case Access::locked:
      return "locked";
    case Access::dead_holder:
      return "dead-holder";
    case Access::busy:
      return "busy";
    case Access::owner_died:
      return "owner-died";
    case Access::no_write_access:
      return "read-only";
  }
  return "?";
}

std::string LockInfo::Describe() const {
  switch (kind) {
    case LockKind::free:
      return "free";
    case LockKind::held:
      return "held by pid " + std::to_string(pid) +
             (tid != pid ? " (tid " + std::to_string(tid) + ")" : std::string());
    case LockKind::dead_holder:
      return tid ? "held by dead pid " + std::to_string(pid) + " (repair pending)"
                 : std::string("held by a dead process (repair pending)");
    case LockKind::unrecoverable:
      return "unrecoverable (a dead holder's lock was released without repair)";
  }
  return "?";
}

bool ThreadAlive(int tid) {
  // ProcessStartTime reads /proc/<tid>/stat, which exists for every thread id, and returns 0
  // for a missing entry or a zombie.
  return tid > 0 && os::ProcessStartTime(static_cast<pid_t>(tid)) != 0;
}

LockInfo ProbeLock(const pthread_mutex_t* mutex) {
  LockInfo li;
  const unsigned word =
      static_cast<unsigned>(__atomic_load_n(&mutex->__data.__lock, __ATOMIC_ACQUIRE));
  const int owner = __atomic_load_n(&mutex->__data.__owner, __ATOMIC_RELAXED);
  if (owner == kOwnerNotRecoverable) {
    li.kind = LockKind::unrecoverable;
    return li;
  }
  if (word & kFutexOwnerDied) {
    // The kernel cleared the TID from the futex word when the holder died; glibc's owner field
    // still names it, unless a later locker got EOWNERDEAD and died too ("inconsistent").
    li.kind = LockKind::dead_holder;
    li.tid = owner == kOwnerInconsistent ? 0 : MutexOwnerTid(mutex);
    li.pid = li.tid;
    return li;
  }
  const int tid = static_cast<int>(word & kFutexTidMask);
  if (tid == 0) return li;
  li.tid = tid;
  if (!ThreadAlive(tid)) {
    // Gone without the kernel marking the futex (yet): as good as dead for us.
    li.kind = LockKind::dead_holder;
    li.pid = tid;
    return li;
  }
  li.kind = LockKind::held;
  li.pid = ThreadGroupOf(tid);
  return li;
}

// --- Inspector ---

std::unique_ptr<Inspector> Inspector::Attach(const std::string& name, bool read_only_mapping) {
  Segment::ValidateName(name);
  const std::string path = os::SegmentPath(name);
  bool writable = !read_only_mapping;
  int fd = -1;
  try {
    fd = os::OpenExisting(path, writable);
  } catch (const Error& e) {
    if (!writable || e.code_value() != errc::permission_denied) throw;
    fd = os::OpenExisting(path, false);
    writable = false;
  }
  std::uint8_t* base = nullptr;
  std::uint64_t size = 0;
  try {
    size = os::FileSize(fd, path);
    if (size == 0)
      Throw(errc::not_found, path + " is not initialized (its creator died before finishing)");
    base = static_cast<std::uint8_t*>(os::Map(fd, size, writable, path));
    if (Segment::BlankHeader(base, size))
      Throw(errc::not_found, path + " is not initialized (its creator died before finishing)");
    // The library's own validation, so both tools give the same code for the same damage.
    const Geometry geo = Segment::CheckHeader(base, size, path);
    std::unique_ptr<Segment> seg = Segment::AdoptUnregistered(name, fd, base, size, geo);
    return std::unique_ptr<Inspector>(new Inspector(std::move(seg), writable));
  } catch (...) {
    if (base) os::Unmap(base, size);
    os::Close(fd);
    throw;
  }
}

bool Inspector::Removed() const {
  return !os::StillLinked(seg_->fd()) || !os::SameFile(seg_->fd(), os::SegmentPath(seg_->name()));
}

// --- visiting a shard ---

// For a holder of the shard's mutex (word_lock.hpp): whether the word lock reads 0 by
// `deadline`. Unlike the library's lockers, never clears a dead holder's token.
static bool WordLockFree(const ShardHeader* h, std::chrono::steady_clock::time_point deadline) {
  FenceAfterMutexAcquired();
  while (h->word_lock.load(std::memory_order_acquire) != 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

Visit VisitShard(const Inspector& in, std::uint32_t shard, const Policy& policy,
                 const std::function<void(const ShardRef&, Access)>& fn) {
  const ShardRef ref = ShardRef::Of(in.segment(), shard);
  pthread_mutex_t* mutex = &ref.h->mutex;
  CheckRobustKind(mutex, LockName{in.segment()->name(), "shard", shard});
  Visit v;
  v.lock = ProbeLock(mutex);

  auto without_lock = [&](Access a) {
    v.access = a;
    const std::uint64_t before = ref.h->seq.load(std::memory_order_acquire);
    fn(ref, a);
    std::atomic_thread_fence(std::memory_order_acquire);
    const std::uint64_t after = ref.h->seq.load(std::memory_order_relaxed);
    v.seq_odd = (before & 1) != 0;
    v.changed = before != after;
    return v;
  };
  if (!in.writable()) return without_lock(Access::no_write_access);
  const bool dead = v.lock.kind == LockKind::dead_holder || v.lock.kind == LockKind::unrecoverable;
  if (dead && !policy.force_trylock) return without_lock(Access::dead_holder);

  // The trylock runs on a thread of its own: on EOWNERDEAD that thread exits holding the mutex,
  // which hands the "owner died" state back to the next locker (see inspect.hpp).
  enum class Outcome { locked, owner_died, busy, dead, unrecoverable } outcome = Outcome::busy;
  std::exception_ptr error;
  std::uint64_t seq = 0;
  LockInfo last = v.lock;
  std::thread worker([&] {
    const auto deadline = std::chrono::steady_clock::now() + policy.lock_budget;
    for (int attempt = 0;; ++attempt) {
      int rc = pthread_mutex_trylock(mutex);
      if ((rc == 0 || rc == EOWNERDEAD) && !WordLockFree(ref.h, deadline)) {
        // An increment under the word lock may be half done: the shard is busy, as if locked.
        // The word is never cleared here (inspect repairs nothing); a dead holder's token stays
        // for the library's next locker.
        if (rc == 0) pthread_mutex_unlock(mutex);  // on EOWNERDEAD: left held, as below
        outcome = Outcome::busy;
        return;
      }
      if (rc == 0 || rc == EOWNERDEAD) {
        seq = ref.h->seq.load(std::memory_order_acquire);
        outcome = rc == 0 ? Outcome::locked : Outcome::owner_died;
        try {
          fn(ref, rc == 0 ? Access::locked : Access::owner_died);
        } catch (...) {
          error = std::current_exception();
        }
        if (rc == 0) pthread_mutex_unlock(mutex);
        return;  // on EOWNERDEAD: leave still holding it; thread exit marks it owner-died
      }
      if (rc == ENOTRECOVERABLE) {
        outcome = Outcome::unrecoverable;
        return;
      }
      if (rc != EBUSY) {
        outcome = Outcome::busy;
        return;
      }
      if (attempt >= 32) {
        last = ProbeLock(mutex);
        if (last.kind == LockKind::dead_holder && !policy.force_trylock) {
          outcome = Outcome::dead;
          return;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
          outcome = Outcome::busy;
          return;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      } else {
        CpuRelax();
      }
    }
  });
  worker.join();
  if (error) std::rethrow_exception(error);
  switch (outcome) {
    case Outcome::locked:
      v.access = Access::locked;
      v.seq_odd = (seq & 1) != 0;  // free but odd: a repair is pending
      return v;
    case Outcome::owner_died:
      v.access = Access::owner_died;
      v.lock.kind = LockKind::dead_holder;
      v.seq_odd = (seq & 1) != 0;
      return v;
    case Outcome::dead:
      v.lock = last;
      return without_lock(Access::dead_holder);
    case Outcome::unrecoverable:
      v.lock.kind = LockKind::unrecoverable;
      v.lock.tid = v.lock.pid = 0;
      return without_lock(Access::dead_holder);
    case Outcome::busy:
      break;
  }
  v.lock = last.kind == LockKind::free ? v.lock : last;
  return without_lock(Access::busy);
}

// --- snapshots ---

Counters& Counters::operator+=(const Counters& o) {
  gets += o.gets;
  hits += o.hits;
  misses += o.misses;
  sets += o.sets;
  deletes += o.deletes;
  cas_success += o.cas_success;
  cas_failure += o.cas_failure;
  lock_waits += o.lock_waits;
  recoveries += o.recoveries;
  return *this;
}

ShardSnapshot SnapshotShard(const Inspector& in, std::uint32_t shard, unsigned detail,
                            const Policy& policy, std::uint64_t now_ms) {
  return Snapshot(in, shard, detail, policy, now_ms, nullptr);
}

std::vector<ShardSnapshot> SnapshotAll(const Inspector& in, unsigned detail, const Policy& policy,
                                       std::uint64_t now_ms) {
  std::vector<std::vector<std::uint64_t>> heads;
  if (detail & kArena) heads = HeadsByShard(in);
  std::vector<ShardSnapshot> out;
  out.reserve(in.shard_count());
  for (std::uint32_t i = 0; i < in.shard_count(); ++i)
    out.push_back(Snapshot(in, i, detail, policy, now_ms, heads.empty() ? nullptr : &heads[i]));
  return out;
}

std::vector<ProcessEntry> Processes(const Inspector& in) {
  std::vector<ProcessEntry> out;
  for (std::uint32_t i = 0; i < kMaxProcesses; ++i) {
    const ProcessSlot* p = in.segment()->process(i);
    std::uint64_t pid = p->pid_word.load(std::memory_order_acquire);
    if (pid == 0 || pid == kReclaiming) continue;
    std::uint64_t start = p->start_time.load(std::memory_order_acquire);
    out.push_back({i, static_cast<std::int32_t>(pid), start,
                   p->attached_unix_ms.load(std::memory_order_relaxed),
                   os::ProcessAlive(static_cast<pid_t>(pid), start)});
  }
  return out;
}

ChunkPool ScanChunks(const Inspector& in) {
  ChunkPool pool;
  pool.total = in.segment()->geo().chunk_count;
  std::uint64_t run = 0;
  for (std::uint64_t c = 0; c < pool.total; ++c) {
    if (in.segment()->ident(c)->load(std::memory_order_relaxed) != 0) {
      run = 0;
      continue;
    }
    ++pool.free;
    pool.largest_free_run = std::max(pool.largest_free_run, ++run);
  }
  return pool;
}

// --- single key ---

std::uint32_t ShardOfKey(const Inspector& in, std::string_view key) {
  const Geometry& g = in.segment()->geo();
  return ShardOf(g, HashKey(g.hash_seed, key));
}

Lookup GetKey(const Inspector& in, std::string_view key, const Policy& policy) {
  Lookup out;
  const Geometry& g = in.segment()->geo();
  const std::uint64_t hash = HashKey(g.hash_seed, key);
  const std::uint32_t tag = KeyHash{hash}.tag();
  out.shard = ShardOf(g, hash);
  out.visit = VisitShard(in, out.shard, policy, [&](const ShardRef& r, Access access) {
    auto take = [&](std::uint64_t slot_index) {
      RecordCopy rc;
      const Slot slot{Load(r.slots[slot_index].word)};
      const std::uint64_t off = slot.rec();
      if (!ReadRecord(r, off, &rc) || KeyBytes(r, rc) != key) return false;
      rc.slot = slot_index;
      rc.psl = slot.psl();
      rc.key.assign(key);
      const auto* rh = r.seg->At<RecordHeader>(off);
      out.value.assign(reinterpret_cast<const char*>(rh + 1) + rc.key_len, rc.value_len);
      out.value_complete = Load(rh->value_len) == rc.value_len;
      out.record = std::move(rc);
      out.found = true;
      return true;
    };
    if (access == Access::locked) {
      // Under the lock the library's own probe sequence is exact.
      Shard shard(r);
      std::uint64_t slot = shard.Find(key, KeyHash{hash});
      if (slot != kNotFound) take(slot);
      return;
    }
    // Without a usable lock the table may be mid-mutation: look at every slot with the tag.
    for (std::uint64_t i = 0; i < r.cap; ++i) {
      const Slot slot{Load(r.slots[i].word)};
      if (slot.word != 0 && slot.tag() == tag && take(i)) return;
    }
  });
  if (out.visit.access != Access::locked && out.visit.changed) out.value_complete = false;
  return out;
}

// --- invariants ---

ShardCheck CheckShard(const Inspector& in, std::uint32_t shard, const Policy& policy) {
  ShardCheck out;
  out.index = shard;
  for (int attempt = 0; attempt < 3; ++attempt) {
    out.violations.clear();
    out.checked = true;
    out.visit = VisitShard(in, shard, policy, [&](const ShardRef& r, Access access) {
      if (access == Access::busy) {
        out.checked = false;  // a live holder may be mid-write: do not chase its offsets
        return;
      }
      try {
        Shard(r).CheckInvariants(&out.violations);
      } catch (const Error& e) {  // a structure too damaged to walk further
        if (e.code() != errc::corrupted) throw;
        out.violations.push_back(e.what());
      }
    });
    // Only a read without the lock can see the shard move under it; then try again.
    if (!out.visit.changed) break;
  }
  return out;
}

}  // namespace inspect
}  // namespace shmkv::detail
