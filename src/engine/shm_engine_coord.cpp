// shm_engine_coord.cpp: the shared-memory engine's coordination operations (ShmEngine,
// shm_engine.hpp): claims on keys, named locks and semaphore permits, kept in the segment's
// coordination table (shm/coordination.hpp).
//
// Locking: a claim's operations that look at the key (claim, complete) hold the key's shard lock
// and take the coordination lock under it; the others take the coordination lock alone. Nothing
// here sleeps under a lock: lock and acquire sleep on the table's futex word after releasing it
// (SleepOnTable), woken by a release, by a holder's exit (an ExitWatch on its pidfd) or at the
// first lease end.
//
// Crash behaviour: grants are not journaled. They belong to live processes, and a store
// recovered from disk starts with none, as every holder of the old segment is gone.
#include <algorithm>

#include "engine/shm_engine.hpp"
#include "os/os.hpp"
#include "shm/coordination.hpp"

namespace shmkv::detail {

namespace {

constexpr int kClaimAttempts = 64;

std::uint64_t DeadlineAfter(std::uint64_t now_ms, std::chrono::milliseconds lease) {
  return now_ms + static_cast<std::uint64_t>(lease.count());
}

// What keeps a lock or a semaphore from being granted: the holders' pids and the first lease end.
struct Blockers {
  std::vector<pid_t> pids;
  std::uint64_t first_lease_end_ms = ~0ull;
};

Blockers BlockersOf(const std::vector<CoordEntry*>& live) {
  Blockers b;
  for (const CoordEntry* e : live) {
    b.pids.push_back(static_cast<pid_t>(e->holder_pid));
    if (e->deadline_ms != 0) b.first_lease_end_ms = std::min(b.first_lease_end_ms, e->deadline_ms);
  }
  return b;
}

// Sleeps until the table's futex word moves past `seen` (a release, a holder found dead), a
// blocker exits, the first blocker's lease ends, or `until_ms`.
void SleepOnTable(Segment* seg, std::uint32_t seen, const Blockers& b, std::uint64_t until_ms) {
  CoordHeader& c = seg->header()->coord;
  const std::uint64_t wake_ms = std::min(until_ms, b.first_lease_end_ms);
  const std::uint64_t now = CoordNowMs();
  if (wake_ms <= now) return;
  c.waiters.fetch_add(1, std::memory_order_seq_cst);
  struct Leave {
    CoordHeader& c;
    ~Leave() { c.waiters.fetch_sub(1, std::memory_order_seq_cst); }
  } leave{c};
  os::ExitWatch watch(b.pids, &c.wake_word);
  os::FutexWait(&c.wake_word, seen, std::chrono::milliseconds(wake_ms - now));
}

// The grant of kind/name: granted when fewer than `limit` live grants exist, else waits for one
// to end until `wait` runs out. Returns the token, or nullopt.
std::optional<std::uint64_t> GrantOrWait(Segment* seg, CoordKind kind, std::string_view name,
                                         std::uint32_t limit, std::uint64_t lease_ms,
                                         std::chrono::milliseconds wait) {
  const CoordId id = CoordIdOf(*seg, kind, name);
  const std::uint64_t until = CoordNowMs() + static_cast<std::uint64_t>(wait.count());
  for (;;) {
    // Read before looking: a release after the look moves the word, so the sleep returns at once.
    const std::uint32_t seen = seg->header()->coord.wake_word.load(std::memory_order_seq_cst);
    Blockers blockers;
    {
      CoordLock lock(seg);
      CoordTable table(seg);
      const std::uint64_t now = CoordNowMs();
      const std::vector<CoordEntry*> live = table.Live(id, now);
      if (live.size() < limit)
        return table.Grant(id, name, ThisHolder(), lease_ms ? now + lease_ms : 0);
      blockers = BlockersOf(live);
    }
    if (CoordNowMs() >= until) return std::nullopt;
    SleepOnTable(seg, seen, blockers, until);
  }
}

// Ends the grant of kind/name with this token; true if the token still held it.
bool EndGrant(Segment* seg, CoordKind kind, std::string_view name, std::uint64_t token) {
  CoordLock lock(seg);
  CoordTable table(seg);
  CoordEntry* e = table.WithToken(CoordIdOf(*seg, kind, name), token);
  if (e == nullptr) return false;
  const bool held = table.IsLive(*e, CoordNowMs());
  table.Drop(e);
  return held;
}

}  // namespace

bool ShmEngine::Claimed(std::string_view key) {
  Segment* seg = segment();
  if (CoordTable::Used(*seg) == 0) return false;
  CoordLock lock(seg);
  return !CoordTable(seg).Live(CoordIdOf(*seg, CoordKind::claim, key), CoordNowMs()).empty();
}

std::optional<Claim> ShmEngine::ClaimKey(std::string_view key, std::chrono::milliseconds lease) {
  Segment* seg = segment();
  const Route route = RouteOf(key);
  ShardLock shard_lock(seg, route.shard, &route.hash);
  Shard& shard = shard_lock.shard();
  RecordRef r;
  if (shard.Find(key, route.hash, &r) == kNotFound || r.Expired(os::NowUnixMs()))
    return std::nullopt;
  if (shard.verify_reads()) shard.VerifyChecksum(r, route.hash);
  CoordLock lock(seg);
  CoordTable table(seg);
  const CoordId id = CoordIdOf(*seg, CoordKind::claim, key);
  const std::uint64_t now = CoordNowMs();
  if (!table.Live(id, now).empty()) return std::nullopt;
  const std::uint64_t token = table.Grant(id, key, ThisHolder(), DeadlineAfter(now, lease));
  return Claim{std::string(key), std::string(r.value()), token};
}

std::optional<Claim> ShmEngine::ClaimRandom(std::string_view prefix,
                                            std::chrono::milliseconds lease) {
  // A uniform draw among the unclaimed keys; one claimed or deleted by another process between
  // the draw and the claim is drawn again.
  for (int attempt = 0; attempt < kClaimAttempts; ++attempt) {
    std::optional<std::string> key = DrawKey(prefix, true);
    if (!key) return std::nullopt;
    if (std::optional<Claim> c = ClaimKey(*key, lease)) return c;
  }
  return std::nullopt;
}

bool ShmEngine::Renew(std::string_view key, std::uint64_t token, std::chrono::milliseconds lease) {
  Segment* seg = segment();
  CoordLock lock(seg);
  CoordTable table(seg);
  CoordEntry* e = table.WithToken(CoordIdOf(*seg, CoordKind::claim, key), token);
  if (e == nullptr) return false;
  const std::uint64_t now = CoordNowMs();
  if (!table.IsLive(*e, now)) {
    table.Drop(e);
    return false;
  }
  e->deadline_ms = DeadlineAfter(now, lease);
  return true;
}

bool ShmEngine::Release(std::string_view key, std::uint64_t token) {
  return EndGrant(segment(), CoordKind::claim, key, token);
}

bool ShmEngine::Complete(std::string_view key, std::uint64_t token) {
  Segment* seg = segment();
  const CoordId id = CoordIdOf(*seg, CoordKind::claim, key);
  Journaled journal(*this);
  const Route route = RouteOf(key);
  ShardLock shard_lock(seg, route.shard, &route.hash);
  Shard& shard = shard_lock.shard();
  {
    CoordLock lock(seg);
    CoordTable table(seg);
    CoordEntry* e = table.WithToken(id, token);
    if (e == nullptr) return false;
    if (!table.IsLive(*e, CoordNowMs())) {
      table.Drop(e);
      return false;
    }
  }
  // The key goes first (a failed journal leaves the claim held), then the claim. Nobody can
  // claim or pop the key in between: both need its shard lock, held here throughout.
  RecordRef r;
  const std::uint64_t slot = shard.Find(key, route.hash, &r);
  if (slot != kNotFound && !r.Expired(os::NowUnixMs())) TakeEntry(journal, shard, slot, r);
  CoordLock lock(seg);
  CoordTable table(seg);
  if (CoordEntry* e = table.WithToken(id, token)) table.Drop(e);
  return true;
}

std::optional<std::uint64_t> ShmEngine::Lock(std::string_view name, std::chrono::milliseconds lease,
                                             std::chrono::milliseconds wait) {
  return GrantOrWait(segment(), CoordKind::lock, name, 1, static_cast<std::uint64_t>(lease.count()),
                     wait);
}

bool ShmEngine::Unlock(std::string_view name, std::uint64_t token) {
  return EndGrant(segment(), CoordKind::lock, name, token);
}

std::optional<std::uint64_t> ShmEngine::Acquire(std::string_view semaphore, std::uint32_t permits,
                                                std::chrono::milliseconds wait) {
  return GrantOrWait(segment(), CoordKind::permit, semaphore, permits, 0, wait);
}

bool ShmEngine::ReleasePermit(std::string_view semaphore, std::uint64_t token) {
  return EndGrant(segment(), CoordKind::permit, semaphore, token);
}

}  // namespace shmkv::detail
