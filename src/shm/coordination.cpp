// coordination.cpp: see coordination.hpp for the table's rules and crash behaviour.
//
// The table is open addressing with linear probing from the identity's home slot, and deletion
// by backward shift (no tombstones), so the grants of one identity (a semaphore's permits) sit in
// one run from their home to the next free slot. Changes bracket seq (odd while changing), and
// crash points mark each step the crash-point test kills at.
#include "shm/coordination.hpp"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <set>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "os/crashpoint.hpp"
#include "os/os.hpp"
#include "os/throw.hpp"
#include "shm/robust_mutex.hpp"

namespace shmkv::detail {
namespace {

const char* KindName(std::uint16_t kind) {
  switch (static_cast<CoordKind>(kind)) {
    case CoordKind::claim:
      return "claim";
    case CoordKind::lock:
      return "lock";
    case CoordKind::permit:
      return "permit";
    case CoordKind::barrier:
      return "barrier";
    case CoordKind::arrival:
      return "arrival";
  }
  return nullptr;
}

bool SameId(const CoordEntry& e, const CoordId& id) {
  return e.id_lo == id.lo && e.id_hi == id.hi && e.kind == static_cast<std::uint16_t>(id.kind);
}

// Copies every field but the token, then publishes the token (a copy is free until then).
void CopyEntry(CoordEntry* to, const CoordEntry& from) {
  to->id_lo = from.id_lo;
  to->id_hi = from.id_hi;
  to->holder_start = from.holder_start;
  to->deadline_ms = from.deadline_ms;
  to->aux = from.aux;
  to->holder_pid = from.holder_pid;
  to->kind = from.kind;
  to->name_len = from.name_len;
  std::memcpy(to->name_head, from.name_head, sizeof to->name_head);
  to->token.store(from.token.load(std::memory_order_relaxed), std::memory_order_release);
}

// True when slot k lies cyclically in (i, j]: an entry at j with home k may not move to i.
bool CyclicallyBetween(std::uint32_t i, std::uint32_t k, std::uint32_t j) {
  return i <= j ? (i < k && k <= j) : (i < k || k <= j);
}

}  // namespace

CoordId CoordIdOf(const Segment& seg, CoordKind kind, std::string_view name) {
  const XXH128_hash_t h = XXH3_128bits_withSeed(
      name.data(), name.size(),
      seg.geo().hash_seed ^ (0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(kind)));
  return {h.low64, h.high64, kind};
}

CoordHolder ThisHolder() {
  thread_local std::uint64_t generation = ~0ull;
  thread_local CoordHolder me;
  if (generation != os::ForkGeneration()) {
    generation = os::ForkGeneration();
    me.pid = static_cast<std::uint32_t>(os::Pid());
    me.start = os::ProcessStartTime(os::Pid());
  }
  return me;
}

std::uint64_t CoordNowMs() {
  return os::NowMonotonicNs() / 1000000;
}

void NotifyGrants(Segment* seg) {
  CoordHeader& c = seg->header()->coord;
  c.grant_word.fetch_add(1, std::memory_order_seq_cst);
  if (c.grant_sleepers.load(std::memory_order_seq_cst) != 0) os::FutexWakeAll(&c.grant_word);
}

namespace {

constexpr std::uint32_t kWatchWords = kKeyWatchBytes / 8;

// The first kKeyWatchBytes bytes of s (zero-padded), as a key watch keeps a prefix.
struct WatchHead {
  std::uint64_t words[kWatchWords] = {};
  explicit WatchHead(std::string_view s) {
    std::memcpy(words, s.data(), std::min<std::size_t>(s.size(), kKeyWatchBytes));
  }
};

// Whether the first `len` bytes of head are w's prefix. A damaged length (above
// kKeyWatchBytes) matches: a wake-up too many, never one too few.
bool WatchMatches(const KeyWatch& w, std::uint32_t len, const WatchHead& head) {
  if (len > kKeyWatchBytes) return true;
  for (std::uint32_t i = 0; i * 8 < len; ++i) {
    const std::uint32_t rest = len - i * 8;
    const std::uint64_t mask = rest >= 8 ? ~0ull : (1ull << (8 * rest)) - 1;
    if ((head.words[i] & mask) != (w.bytes[i].load(std::memory_order_relaxed) & mask)) return false;
  }
  return true;
}

void Wake(KeyWatch& w) {
  w.word.fetch_add(1, std::memory_order_seq_cst);
  os::FutexWakeAll(&w.word);
}

// One sleeper more (+1) or less (-1) in the shared counts and in this handle's registry slot's
// count (null: no slot). The slot counts last going up and first going down, so that a process
// killed in between leaves a sleeper too many in the shared counts (a wake-up too many), never one
// the reclaimer takes back although it was not counted (which would hide a live sleeper).
template <class SlotCount>
void CountSleeper(std::initializer_list<std::atomic<std::uint32_t>*> shared, SlotCount* slot,
                  int delta) {
  if (delta < 0 && slot) slot->fetch_sub(1, std::memory_order_seq_cst);
  for (std::atomic<std::uint32_t>* count : shared)
    delta > 0 ? count->fetch_add(1, std::memory_order_seq_cst)
              : count->fetch_sub(1, std::memory_order_seq_cst);
  if (delta > 0 && slot) slot->fetch_add(1, std::memory_order_seq_cst);
}

// A sleeper on key watch `watch`: counted in the watch, in key_sleepers and in the slot.
void Count(Segment* seg, std::uint32_t watch, int delta) {
  CoordHeader& c = seg->header()->coord;
  ProcessSlot* slot = seg->registry_slot();
  CountSleeper({&c.key_watches[watch].sleepers, &c.key_sleepers},
               slot ? &slot->key_waiting[watch] : nullptr, delta);
}

// Under CoordLock: the watch that has sleepers on prefix (non-empty), else the first free one,
// set up for it, else the every-key watch.
std::uint32_t FindOrSetUpWatch(CoordHeader& c, std::string_view prefix) {
  const auto len = static_cast<std::uint32_t>(std::min<std::size_t>(prefix.size(), kKeyWatchBytes));
  const WatchHead head(prefix);
  std::uint32_t free = kEveryKeyWatch;
  for (std::uint32_t i = 0; i < kEveryKeyWatch; ++i) {
    const KeyWatch& w = c.key_watches[i];
    if (w.sleepers.load(std::memory_order_relaxed) == 0)
      free = std::min(free, i);
    else if (w.len.load(std::memory_order_relaxed) == len && WatchMatches(w, len, head))
      return i;
  }
  if (free != kEveryKeyWatch) {
    KeyWatch& w = c.key_watches[free];
    w.len.store(len, std::memory_order_relaxed);
    for (std::uint32_t i = 0; i < kWatchWords; ++i)
      w.bytes[i].store(head.words[i], std::memory_order_relaxed);
  }
  return free;
}

}  // namespace

void CountGrantSleeper(Segment* seg, int delta) {
  ProcessSlot* slot = seg->registry_slot();
  CountSleeper({&seg->header()->coord.grant_sleepers}, slot ? &slot->grant_waiting : nullptr,
               delta);
}

void NotifyEveryKeyWatch(Segment* seg) {
  for (KeyWatch& w : seg->header()->coord.key_watches)
    if (w.sleepers.load(std::memory_order_seq_cst) != 0) Wake(w);
}

void NotifyKeyWatches(Segment* seg, std::string_view key) {
  const WatchHead head(key);
  for (KeyWatch& w : seg->header()->coord.key_watches) {
    if (w.sleepers.load(std::memory_order_seq_cst) == 0) continue;
    const std::uint32_t len = w.len.load(std::memory_order_relaxed);
    if (&w == &seg->header()->coord.key_watches[kEveryKeyWatch] ||  // its length is not read
        ((len <= key.size() || len > kKeyWatchBytes) && WatchMatches(w, len, head)))
      Wake(w);
  }
}

std::uint32_t AddKeyWatcher(Segment* seg, std::string_view prefix) {
  if (prefix.empty()) {
    Count(seg, kEveryKeyWatch, +1);
    return kEveryKeyWatch;
  }
  CoordLock lock(seg);
  const std::uint32_t watch = FindOrSetUpWatch(seg->header()->coord, prefix);
  Count(seg, watch, +1);  // under the lock, so that no other sleeper takes the watch as free
  return watch;
}

void RemoveKeyWatcher(Segment* seg, std::uint32_t watch) {
  Count(seg, watch % kKeyWatches, -1);
}

// --- CoordLock

CoordLock::CoordLock(Segment* seg) : seg_(seg) {
  CoordHeader& c = seg->header()->coord;
  bool waited = false;
  const bool died = LockRobust(&c.mutex, LockName{seg->name(), "coordination", -1}, &waited) ==
                    LockResult::owner_died;
  if (died || (c.seq.load(std::memory_order_relaxed) & 1)) {
    try {
      CoordTable(seg).Repair();
    } catch (...) {
      if (died) MarkConsistent(&c.mutex);
      UnlockRobust(&c.mutex);
      throw;
    }
    if (died) {
      ++c.recoveries;
      MarkConsistent(&c.mutex);
    }
  }
}

CoordLock::~CoordLock() {
  UnlockRobust(&seg_->header()->coord.mutex);
}

// --- CoordTable

CoordTable::CoordTable(Segment* seg) : seg_(seg), h_(&seg->header()->coord) {}

void CoordTable::CheckEntry(const CoordEntry& e, std::uint32_t i) const {
  if (KindName(e.kind) == nullptr) [[unlikely]]
    seg_->Corrupted("coordination entry " + std::to_string(i) + " kind", e.kind,
                    "is not a kind of grant (1 claim .. 5 arrival)");
}

bool CoordTable::IsLive(const CoordEntry& e, std::uint64_t now_ms) const {
  if (e.token.load(std::memory_order_acquire) == 0) return false;
  if (e.deadline_ms != 0 && now_ms >= e.deadline_ms) return false;
  if (e.holder_pid == 0) return true;  // a barrier's state: held by nobody
  const CoordHolder me = ThisHolder();
  if (e.holder_pid == me.pid && e.holder_start == me.start) return true;
  return os::ProcessAlive(static_cast<pid_t>(e.holder_pid), e.holder_start);
}

std::vector<CoordEntry*> CoordTable::All(const CoordId& id) {
  std::vector<CoordEntry*> all;
  const std::uint32_t home = id.lo & (kCoordSlots - 1);
  for (std::uint32_t n = 0; n < kCoordSlots; ++n) {
    CoordEntry& e = At(home + n);
    if (e.token.load(std::memory_order_acquire) == 0) break;
    CheckEntry(e, (home + n) & (kCoordSlots - 1));
    if (SameId(e, id)) all.push_back(&e);
  }
  return all;
}

std::vector<CoordEntry*> CoordTable::LiveWithPrefix(CoordKind kind, std::string_view prefix,
                                                    std::uint64_t now_ms) {
  std::vector<CoordEntry*> live;
  const std::size_t compared = std::min<std::size_t>(prefix.size(), kCoordNameHead);
  for (std::uint32_t i = 0; i < kCoordSlots; ++i) {
    CoordEntry& e = At(i);
    if (e.token.load(std::memory_order_acquire) == 0) continue;
    CheckEntry(e, i);
    if (e.kind == static_cast<std::uint16_t>(kind) && e.name_len >= prefix.size() &&
        std::memcmp(e.name_head, prefix.data(), compared) == 0 && IsLive(e, now_ms))
      live.push_back(&e);
  }
  return live;
}

std::vector<CoordEntry*> CoordTable::Live(const CoordId& id, std::uint64_t now_ms) {
  std::vector<CoordEntry*> live;
  std::vector<CoordEntry*> lapsed;
  for (CoordEntry* e : All(id)) (IsLive(*e, now_ms) ? live : lapsed).push_back(e);
  // Dropping shifts later entries back: drop from the run's end, then look again for the live.
  if (lapsed.empty()) return live;
  for (auto it = lapsed.rbegin(); it != lapsed.rend(); ++it) Drop(*it);
  return Live(id, now_ms);
}

CoordEntry* CoordTable::WithToken(const CoordId& id, std::uint64_t token) {
  const std::uint32_t home = id.lo & (kCoordSlots - 1);
  for (std::uint32_t n = 0; n < kCoordSlots; ++n) {
    CoordEntry& e = At(home + n);
    const std::uint64_t t = e.token.load(std::memory_order_acquire);
    if (t == 0) return nullptr;
    CheckEntry(e, (home + n) & (kCoordSlots - 1));
    if (t == token && SameId(e, id)) return &e;
  }
  return nullptr;
}

std::uint64_t CoordTable::Grant(const CoordId& id, std::string_view name, const CoordHolder& holder,
                                std::uint64_t deadline_ms, std::uint64_t aux) {
  if (h_->used.load(std::memory_order_relaxed) >= kCoordMaxHeld)
    Throw(errc::limit_exceeded, "segment '" + seg_->name() + "': " + std::to_string(kCoordMaxHeld) +
                                    " claims, locks and permits are held already (the "
                                    "coordination table's limit); give some back first");
  CoordEntry e{};
  e.id_lo = id.lo;
  e.id_hi = id.hi;
  e.kind = static_cast<std::uint16_t>(id.kind);
  e.holder_pid = holder.pid;
  e.holder_start = holder.start;
  e.deadline_ms = deadline_ms;
  e.aux = aux;
  e.name_len = static_cast<std::uint16_t>(std::min<std::size_t>(name.size(), 0xffff));
  std::memcpy(e.name_head, name.data(), std::min<std::size_t>(name.size(), kCoordNameHead));
  const std::uint64_t token = h_->next_token + 1;
  e.token.store(token, std::memory_order_relaxed);
  h_->seq.fetch_add(1, std::memory_order_acq_rel);
  SHMKV_CRASH_POINT("coord.grant_begun");
  h_->next_token = token;
  Place(e);
  SHMKV_CRASH_POINT("coord.granted");
  h_->used.fetch_add(1, std::memory_order_release);
  h_->seq.fetch_add(1, std::memory_order_release);
  return token;
}

void CoordTable::Place(const CoordEntry& e) {
  for (std::uint32_t n = 0; n < kCoordSlots; ++n) {
    CoordEntry& slot = At(Home(e) + n);
    if (slot.token.load(std::memory_order_relaxed) == 0) {
      CopyEntry(&slot, e);
      return;
    }
  }
  seg_->Corrupted("coordination table used", h_->used.load(), "leaves no free slot");
}

void CoordTable::Drop(CoordEntry* e) {
  std::uint32_t hole = static_cast<std::uint32_t>(e - h_->entries);
  const std::uint16_t dropped_kind = e->kind;
  h_->seq.fetch_add(1, std::memory_order_acq_rel);
  SHMKV_CRASH_POINT("coord.drop_begun");
  // Backward shift: each later entry of the run that may move back to the hole does, and leaves
  // a hole of its own; the last hole is cleared.
  for (std::uint32_t j = (hole + 1) & (kCoordSlots - 1); j != hole;
       j = (j + 1) & (kCoordSlots - 1)) {
    CoordEntry& next = At(j);
    if (next.token.load(std::memory_order_relaxed) == 0) break;
    CheckEntry(next, j);
    if (CyclicallyBetween(hole, Home(next), j)) continue;
    CopyEntry(&At(hole), next);
    SHMKV_CRASH_POINT("coord.shifted");
    hole = j;
  }
  At(hole).token.store(0, std::memory_order_release);
  SHMKV_CRASH_POINT("coord.dropped");
  h_->used.fetch_sub(1, std::memory_order_release);
  h_->seq.fetch_add(1, std::memory_order_release);
  NotifyGrants(seg_);
  if (dropped_kind == static_cast<std::uint16_t>(CoordKind::claim))
    NotifyEveryKeyWatch(seg_);  // its key may be popped now
}

void CoordTable::Repair() {
  auto kept = std::make_unique<CoordEntry[]>(kCoordSlots);
  std::uint32_t n = 0;
  std::set<std::uint64_t> tokens;
  std::uint64_t max_token = h_->next_token;
  for (std::uint32_t i = 0; i < kCoordSlots; ++i) {
    const CoordEntry& e = h_->entries[i];
    const std::uint64_t t = e.token.load(std::memory_order_relaxed);
    if (t == 0 || KindName(e.kind) == nullptr || !tokens.insert(t).second) continue;
    CopyEntry(&kept[n++], e);
    max_token = std::max(max_token, t);
  }
  for (CoordEntry& e : h_->entries) e.token.store(0, std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < n; ++i) Place(kept[i]);
  SHMKV_CRASH_POINT("coord.repaired");
  h_->next_token = max_token;
  h_->used.store(n, std::memory_order_release);
  const std::uint64_t seq = h_->seq.load(std::memory_order_relaxed);
  h_->seq.store(seq + (seq & 1), std::memory_order_release);
  NotifyGrants(seg_);         // a dead holder's grants may be free now
  NotifyEveryKeyWatch(seg_);  // and its claimed keys
}

void CoordTable::Check(std::vector<std::string>* out) const {
  const std::string where = "coordination table: ";
  if (h_->seq.load(std::memory_order_relaxed) & 1)
    out->push_back(where + "seq is odd (a change was cut short and not repaired)");
  for (std::uint32_t i = 0; i < kKeyWatches; ++i) {
    const std::uint32_t len = h_->key_watches[i].len.load(std::memory_order_relaxed);
    if (len > (i == kEveryKeyWatch ? 0 : kKeyWatchBytes))
      out->push_back(where + "key watch " + std::to_string(i) + ": prefix length " +
                     std::to_string(len) + " (at most " +
                     std::to_string(i == kEveryKeyWatch ? 0 : kKeyWatchBytes) + ")");
  }
  std::uint32_t used = 0;
  std::set<std::uint64_t> tokens;
  for (std::uint32_t i = 0; i < kCoordSlots; ++i) {
    const CoordEntry& e = h_->entries[i];
    const std::uint64_t t = e.token.load(std::memory_order_relaxed);
    if (t == 0) continue;
    ++used;
    const std::string at = where + "entry " + std::to_string(i) + ": ";
    if (KindName(e.kind) == nullptr) out->push_back(at + "kind " + std::to_string(e.kind));
    if (t > h_->next_token)
      out->push_back(at + "token " + std::to_string(t) + " is above next_token " +
                     std::to_string(h_->next_token));
    if (!tokens.insert(t).second) out->push_back(at + "token " + std::to_string(t) + " twice");
    for (std::uint32_t k = Home(e); k != i; k = (k + 1) & (kCoordSlots - 1)) {
      if (h_->entries[k].token.load(std::memory_order_relaxed) == 0) {
        out->push_back(at + "unreachable: free slot " + std::to_string(k) +
                       " between its home and it");
        break;
      }
    }
  }
  if (used != h_->used.load(std::memory_order_relaxed))
    out->push_back(where + "used " + std::to_string(h_->used.load()) + " but " +
                   std::to_string(used) + " entries hold a token");
}

CoordView ViewCoordination(const Segment& seg) {
  const CoordHeader& c = seg.header()->coord;
  CoordView v;
  v.used = c.used.load(std::memory_order_relaxed);
  v.waiters = c.grant_sleepers.load(std::memory_order_relaxed) +
              c.key_sleepers.load(std::memory_order_relaxed);
  v.last_token = c.next_token;
  v.recoveries = c.recoveries;
  const std::uint64_t now = CoordNowMs();
  const CoordHolder me = ThisHolder();
  for (const CoordEntry& e : c.entries) {
    const std::uint64_t token = e.token.load(std::memory_order_acquire);
    if (token == 0) continue;
    const char* kind = KindName(e.kind);
    const bool alive = e.holder_pid == 0 ||
                       (e.holder_pid == me.pid && e.holder_start == me.start) ||
                       os::ProcessAlive(static_cast<pid_t>(e.holder_pid), e.holder_start);
    const std::int64_t left =
        e.deadline_ms == 0
            ? -1
            : static_cast<std::int64_t>(e.deadline_ms > now ? e.deadline_ms - now : 0);
    v.grants.push_back({kind ? kind : "damaged",
                        std::string(e.name_head, std::min<std::size_t>(e.name_len, kCoordNameHead)),
                        e.name_len, token, e.holder_pid, alive, left});
  }
  for (const KeyWatch& w : c.key_watches) {
    const std::uint32_t sleepers = w.sleepers.load(std::memory_order_relaxed);
    if (sleepers == 0) continue;
    std::uint64_t words[kWatchWords];
    for (std::uint32_t i = 0; i < kWatchWords; ++i)
      words[i] = w.bytes[i].load(std::memory_order_relaxed);
    const std::uint32_t len = std::min(w.len.load(std::memory_order_relaxed), kKeyWatchBytes);
    v.watches.push_back({std::string(reinterpret_cast<const char*>(words), len), sleepers});
  }
  return v;
}

}  // namespace shmkv::detail
