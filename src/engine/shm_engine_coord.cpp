// shm_engine_coord.cpp: the shared-memory engine's coordination operations (ShmEngine,
// shm_engine.hpp): claims on keys, named locks and semaphore permits, kept in the segment's
// coordination table (shm/coordination.hpp).
//
// Locking: a claim's operations that look at the key (claim, complete) hold the key's shard lock
// and take the coordination lock under it; the others take the coordination lock alone. Nothing
// here sleeps under a lock: lock, acquire and barrier sleep on the grant futex word, wait_for and
// pop_random_wait on the word of their key watch, after releasing it (TableWaiter). They are woken
// by a release or a barrier's end (grants), an insert of a key with their prefix or a claim given
// back (key watches), the exit of a process they wait on (an ExitWatch on its pidfd) or at the
// first lease end. A barrier's round is a state entry (its generation) and one arrival entry per
// waiting party; a party found dead ends the round as broken.
//
// Crash behaviour: grants are not journaled. They belong to live processes, and a store
// recovered from disk starts with none, as every holder of the old segment is gone.
#include <algorithm>
#include <optional>

#include "engine/shm_engine.hpp"
#include "os/os.hpp"
#include "shm/coordination.hpp"

namespace shmkv::detail {

namespace {

constexpr int kClaimAttempts = 64;

std::uint64_t DeadlineAfter(std::uint64_t now_ms, std::chrono::milliseconds lease) {
  return now_ms + static_cast<std::uint64_t>(lease.count());
}

// What keeps a grant from a waiter: the holders' pids to watch for exit (each once, this
// process left out: its own exit ends the wait anyway) and the first lease end.
struct Blockers {
  std::vector<pid_t> pids;
  std::uint64_t first_lease_end_ms = ~0ull;
};

Blockers BlockersOf(const std::vector<CoordEntry*>& live) {
  Blockers b;
  const pid_t me = ThisHolder().pid;
  for (const CoordEntry* e : live) {
    if (e->deadline_ms != 0) b.first_lease_end_ms = std::min(b.first_lease_end_ms, e->deadline_ms);
    const auto pid = static_cast<pid_t>(e->holder_pid);
    if (pid != me && std::find(b.pids.begin(), b.pids.end(), pid) == b.pids.end())
      b.pids.push_back(pid);
  }
  return b;
}

// What holds back a pop_random_wait on prefix when every key it could pop is claimed: the live
// claims on keys that may start with it. Nothing when the table is empty.
Blockers ClaimsUnder(Segment* seg, std::string_view prefix) {
  if (CoordTable::Used(*seg) == 0) return {};
  CoordLock lock(seg);
  return BlockersOf(CoordTable(seg).LiveWithPrefix(CoordKind::claim, prefix, CoordNowMs()));
}

// A sleeper, counted from before its first look until it is done, so that a release, a barrier
// move or an insert either happens before a look (which sees it) or sees the sleeper counted
// (and wakes it). Sleepers in lock, acquire and barrier wait on the grant word (counted in
// grant_sleepers and this handle's registry slot); sleepers in wait_for and pop_random_wait on the
// key watch of their key or prefix (AddKeyWatcher), which only the inserts of keys with that
// prefix (and given-back claims) move.
class TableWaiter {
 public:
  explicit TableWaiter(Segment* seg)
      : seg_(seg), word_(&seg->header()->coord.grant_word), watch_(kNoWatch) {
    CountGrantSleeper(seg, +1);
  }
  TableWaiter(Segment* seg, std::string_view prefix)
      : seg_(seg), watch_(AddKeyWatcher(seg, prefix)) {
    word_ = &seg->header()->coord.key_watches[watch_].word;
  }
  ~TableWaiter() {
    if (watch_ != kNoWatch) {
      RemoveKeyWatcher(seg_, watch_);
      return;
    }
    CountGrantSleeper(seg_, -1);
  }
  TableWaiter(const TableWaiter&) = delete;
  TableWaiter& operator=(const TableWaiter&) = delete;

  // Read before each look.
  std::uint32_t Seen() const { return word_->load(std::memory_order_seq_cst); }
  // Sleeps until the word moves past `seen`, a process of `watch` exits, or `until_ms`. The
  // first sleep of a wait that has processes to watch goes without the watch, for at most
  // kUnwatchedSleep: most such waits end sooner with a release, and starting the watch's thread
  // costs about 27 us (docs/benchmarks.md "Coordination"); a holder's death is then seen at the
  // next look, at most kUnwatchedSleep (1 ms) later.
  void Sleep(std::uint32_t seen, const std::vector<pid_t>& watch, std::uint64_t until_ms) {
    const std::uint64_t now = CoordNowMs();
    if (until_ms <= now) return;
    std::chrono::nanoseconds sleep = std::chrono::milliseconds(until_ms - now);
    std::optional<os::ExitWatch> exits;
    if (!watch.empty() && !watched_) {
      watched_ = true;
      sleep = std::min<std::chrono::nanoseconds>(sleep, kUnwatchedSleep);
    } else if (!watch.empty()) {
      exits.emplace(watch, word_);
    }
    os::FutexWait(word_, seen, sleep);
  }

 private:
  static constexpr std::chrono::milliseconds kUnwatchedSleep{1};
  static constexpr std::uint32_t kNoWatch = ~0u;
  Segment* seg_;
  std::atomic<std::uint32_t>* word_;
  std::uint32_t watch_;
  bool watched_ = false;  // the first sleep with processes to watch is behind us
};

std::uint64_t Until(std::chrono::milliseconds wait) {
  return CoordNowMs() + static_cast<std::uint64_t>(wait.count());
}

// The grant of kind/name: granted when fewer than `limit` live grants exist, else waits for one
// to end until `wait` runs out. Returns the token, or nullopt.
std::optional<std::uint64_t> GrantOrWait(Segment* seg, CoordKind kind, std::string_view name,
                                         std::uint32_t limit, std::uint64_t lease_ms,
                                         std::chrono::milliseconds wait) {
  const CoordId id = CoordIdOf(*seg, kind, name);
  const std::uint64_t until = Until(wait);
  std::optional<TableWaiter> waiter;  // counted only once a first look failed
  for (;;) {
    const std::uint32_t seen = waiter ? waiter->Seen() : 0;
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
    if (!waiter) {
      waiter.emplace(seg);  // and look again before sleeping
      continue;
    }
    waiter->Sleep(seen, blockers.pids, std::min(until, blockers.first_lease_end_ms));
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

// --- barriers: a state entry (generation, last broken generation) and one arrival entry per
// waiting process, in the table like grants. The state lives while a round is open; a round that
// ends with every party there drops it, unless a round of that name was ever broken (the sleepers
// of a broken round must still find the state that says so). Each new state's generation comes
// from the store's token counter, so it differs from that of every earlier round a sleeper may
// still wait on: a sleeper whose round's state is gone, or shows another generation that is not
// its broken one, passed.

std::uint32_t Generation(const CoordEntry& state) {
  return static_cast<std::uint32_t>(state.aux);
}
std::uint32_t BrokenGeneration(const CoordEntry& state) {
  return static_cast<std::uint32_t>(state.aux >> 32);
}

// The barrier's state entry, made with a fresh generation when no round is open.
CoordEntry* BarrierState(Segment* seg, CoordTable& table, const CoordId& id,
                         std::string_view name) {
  std::vector<CoordEntry*> found = table.All(id);
  if (found.empty()) {
    // The token this entry is about to take: above every generation handed out before.
    const auto generation = static_cast<std::uint32_t>(seg->header()->coord.next_token + 1) | 1u;
    table.Grant(id, name, CoordHolder{}, 0, generation);
    found = table.All(id);
  }
  return found.front();
}

std::vector<CoordEntry*> ArrivalsOf(CoordTable& table, const CoordId& arrival_id,
                                    std::uint32_t generation) {
  std::vector<CoordEntry*> out;
  for (CoordEntry* e : table.All(arrival_id))
    if (static_cast<std::uint32_t>(e->aux) == generation) out.push_back(e);
  return out;
}

// Drops the barrier's state entry unless a round of it was ever broken (its late sleepers must
// find the state that says so).
void DropStateUnlessBroken(CoordTable& table, const CoordId& state_id) {
  std::vector<CoordEntry*> states = table.All(state_id);  // an earlier pointer may have moved
  if (!states.empty() && BrokenGeneration(*states.front()) == 0) table.Drop(states.front());
}

// Ends the round `generation`: the next generation starts (recording it as broken, or not) and
// every arrival entry goes (dropped from the table's end first: earlier entries stay put). A
// round that was not broken, of a barrier never broken, takes its state with it.
void EndRound(CoordTable& table, CoordEntry* state, const CoordId& state_id,
              const CoordId& arrival_id, std::uint32_t generation, bool broken) {
  const std::uint64_t last_broken = broken ? generation : BrokenGeneration(*state);
  state->aux = (last_broken << 32) | static_cast<std::uint32_t>(generation + 1);
  std::vector<CoordEntry*> arrivals = table.All(arrival_id);
  for (auto it = arrivals.rbegin(); it != arrivals.rend(); ++it) table.Drop(*it);
  DropStateUnlessBroken(table, state_id);
}

// A party of the round that died breaks it: returns that party's pid (the round ended), or 0.
std::uint32_t BreakIfPartyDied(CoordTable& table, CoordEntry* state, const CoordId& state_id,
                               const CoordId& arrival_id, std::uint32_t generation) {
  const std::uint64_t now = CoordNowMs();
  for (CoordEntry* e : ArrivalsOf(table, arrival_id, generation)) {
    if (table.IsLive(*e, now)) continue;
    const std::uint32_t pid = e->holder_pid;
    EndRound(table, state, state_id, arrival_id, generation, true);
    return pid;
  }
  return 0;
}

[[noreturn]] void RaiseBroken(std::string_view name, std::uint32_t generation,
                              std::uint32_t dead_pid) {
  Throw(errc::broken, "barrier '" + PrintableBytes(name) + "' round " + std::to_string(generation) +
                          " is broken: a party" +
                          (dead_pid ? " (pid " + std::to_string(dead_pid) + ")" : std::string()) +
                          " died while the others waited");
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

// --- waiting ---

bool ShmEngine::WaitFor(std::string_view key, std::chrono::milliseconds timeout) {
  if (Exists(key)) return true;  // no need to count as a waiter
  Segment* seg = segment();
  const std::uint64_t until = Until(timeout);
  const Route route = RouteOf(key);
  TableWaiter waiter(seg, key);  // the watch of the key itself
  for (;;) {
    const std::uint32_t seen = waiter.Seen();
    {
      // Under the shard lock: an insert not seen here sees this waiter counted.
      ShardLock lock(seg, route.shard, &route.hash);
      RecordRef r;
      if (lock.shard().Find(key, route.hash, &r) != kNotFound && !r.Expired(os::NowUnixMs()))
        return true;
    }
    if (CoordNowMs() >= until) return false;
    waiter.Sleep(seen, {}, until);
  }
}

std::optional<Entry> ShmEngine::PopRandomWait(std::string_view prefix,
                                              std::chrono::milliseconds timeout) {
  if (std::optional<Entry> e = PopRandom(prefix)) return e;
  Segment* seg = segment();
  const std::uint64_t until = Until(timeout);
  TableWaiter waiter(seg, prefix);
  for (;;) {
    const std::uint32_t seen = waiter.Seen();
    // pop_random's "none" comes from a look under the index lock or the shard locks.
    if (std::optional<Entry> e = PopRandom(prefix)) return e;
    if (CoordNowMs() >= until) return std::nullopt;
    // A claimed key comes free when its claim lapses, which moves no word: the sleep ends at
    // the first lease end, or when a holder exits.
    const Blockers claims = ClaimsUnder(seg, prefix);
    waiter.Sleep(seen, claims.pids, std::min(until, claims.first_lease_end_ms));
  }
}

std::optional<std::size_t> ShmEngine::Barrier(std::string_view name, std::uint32_t parties,
                                              std::chrono::milliseconds timeout) {
  Segment* seg = segment();
  const CoordId state_id = CoordIdOf(*seg, CoordKind::barrier, name);
  const CoordId arrival_id = CoordIdOf(*seg, CoordKind::arrival, name);
  const std::uint64_t until = Until(timeout);
  const CoordHolder me = ThisHolder();
  TableWaiter waiter(seg);
  std::uint32_t generation;
  std::size_t index;
  std::uint64_t token;
  {
    CoordLock lock(seg);
    CoordTable table(seg);
    CoordEntry* state = BarrierState(seg, table, state_id, name);
    if (BreakIfPartyDied(table, state, state_id, arrival_id, Generation(*state)) != 0)
      state = BarrierState(seg, table, state_id, name);  // a new round starts with this arrival
    generation = Generation(*state);
    index = ArrivalsOf(table, arrival_id, generation).size();
    if (index + 1 >= parties) {
      EndRound(table, state, state_id, arrival_id, generation, false);
      NotifyGrants(seg);
      return index;
    }
    token = table.Grant(arrival_id, name, me, 0, generation);
  }
  for (;;) {
    const std::uint32_t seen = waiter.Seen();
    std::vector<pid_t> watch;
    {
      CoordLock lock(seg);
      CoordTable table(seg);
      const std::vector<CoordEntry*> states = table.All(state_id);
      if (states.empty()) return index;  // the round ended, and its state went with it
      CoordEntry* state = states.front();
      if (Generation(*state) != generation) {
        if (BrokenGeneration(*state) == generation) RaiseBroken(name, generation, 0);
        return index;
      }
      if (const std::uint32_t dead =
              BreakIfPartyDied(table, state, state_id, arrival_id, generation))
        RaiseBroken(name, generation, dead);
      if (CoordNowMs() >= until) {
        if (CoordEntry* mine = table.WithToken(arrival_id, token)) table.Drop(mine);
        // The last to leave an unfinished round of a barrier never broken takes its state.
        if (ArrivalsOf(table, arrival_id, generation).empty())
          DropStateUnlessBroken(table, state_id);
        return std::nullopt;
      }
      for (const CoordEntry* e : ArrivalsOf(table, arrival_id, generation))
        if (e->holder_pid != me.pid) watch.push_back(static_cast<pid_t>(e->holder_pid));
    }
    waiter.Sleep(seen, watch, until);
  }
}

}  // namespace shmkv::detail
