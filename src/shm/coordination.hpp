// coordination.hpp: the coordination table in the segment header (layout.hpp CoordHeader): who
// holds which claim on a key, which named lock and which semaphore permits (internal).
//
// A grant is one entry: the identity of what is held (kind and name, as a 128-bit hash), its
// holder (pid and start time), its lease deadline and its fencing token. An entry counts only
// while it is live: its lease has not run out and its holder is alive (os::ProcessAlive, so a
// pid reused by another process does not count). Lapsed entries are dropped by whoever meets
// them, under the lock, so a SIGKILLed holder's grants are free at the next attempt, without
// waiting for a lease.
//
// Sleepers (lock, acquire, barrier) wait on the grant word; wait_for and pop_random_wait on a key
// watch, one futex word per watched prefix, so an insert wakes only the sleepers of its prefixes
// (NotifyInsert) and pays one load and a branch while none sleep.
//
// Locking: CoordLock guards the whole table and the setting up of key watches; it is taken under a
// key's shard lock (claims) or alone, never with a shard lock taken under it (order: shard ->
// coord). A holder of the lock that died mid-change (seq odd) leaves a table that the next locker
// rebuilds from its committed entries (Repair). Every entry read is checked before use (kind, home
// position); a damaged one raises corrupted from the operations, and is reported by Check.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shm/layout.hpp"
#include "shm/segment.hpp"

namespace shmkv::detail {

struct CoordId {
  std::uint64_t lo = 0, hi = 0;
  CoordKind kind = CoordKind::claim;
};
CoordId CoordIdOf(const Segment& seg, CoordKind kind, std::string_view name);

// A process as the holder of a grant.
struct CoordHolder {
  std::uint32_t pid = 0;
  std::uint64_t start = 0;
};
// This process (its start time read once per fork generation).
CoordHolder ThisHolder();

// CLOCK_MONOTONIC ms: lease deadlines are on this clock, the same for every process of the host.
std::uint64_t CoordNowMs();

class CoordLock {
 public:
  explicit CoordLock(Segment* seg);
  ~CoordLock();
  CoordLock(const CoordLock&) = delete;
  CoordLock& operator=(const CoordLock&) = delete;

 private:
  Segment* seg_;
};

// The table. Every member but the figures requires CoordLock.
class CoordTable {
 public:
  explicit CoordTable(Segment* seg);

  // Every entry of id, live or lapsed, in table order.
  std::vector<CoordEntry*> All(const CoordId& id);
  // The live grants of id, after dropping its lapsed ones (lease over, holder dead).
  std::vector<CoordEntry*> Live(const CoordId& id, std::uint64_t now_ms);
  // The live grants of `kind` whose name may start with prefix: the first kCoordNameHead bytes
  // kept of each name are compared, so a longer prefix may list more than its own, never fewer.
  // Lapsed ones are left where they are. Reads the whole table.
  std::vector<CoordEntry*> LiveWithPrefix(CoordKind kind, std::string_view prefix,
                                          std::uint64_t now_ms);
  // The entry of id with this token, live or lapsed, or null.
  CoordEntry* WithToken(const CoordId& id, std::uint64_t token);
  bool IsLive(const CoordEntry& e, std::uint64_t now_ms) const;
  // A new grant of id to `holder` until deadline_ms (0 = no lease); returns its token. Raises
  // limit_exceeded when the table is full.
  std::uint64_t Grant(const CoordId& id, std::string_view name, const CoordHolder& holder,
                      std::uint64_t deadline_ms, std::uint64_t aux = 0);
  // Ends a grant; wakes the grant word's sleepers, and the key watches' for a claim.
  void Drop(CoordEntry* e);

  // Rebuilds the table from its committed entries (after a holder of the lock died mid-change):
  // duplicates of one token and entries of no known kind are dropped.
  void Repair();
  // Appends one line per violated invariant.
  void Check(std::vector<std::string>* out) const;

  // Lock-free figure: entries in use (a hint; 0 means no claim can be in the way).
  static std::uint32_t Used(const Segment& seg) {
    return seg.header()->coord.used.load(std::memory_order_acquire);
  }

 private:
  static std::uint32_t Home(const CoordEntry& e) { return e.id_lo & (kCoordSlots - 1); }
  CoordEntry& At(std::uint32_t i) const { return h_->entries[i & (kCoordSlots - 1)]; }
  void CheckEntry(const CoordEntry& e, std::uint32_t i) const;  // raises corrupted
  void Place(const CoordEntry& e);                              // into the first free slot

  Segment* seg_;
  CoordHeader* h_;
};

// What the table holds, read without its lock (info takes the lock first; shmkv-inspect reads a
// moment's view). Entries of no known kind are shown as "damaged".
struct CoordView {
  std::uint32_t used = 0, waiters = 0;
  std::uint64_t last_token = 0, recoveries = 0;
  struct Grant {
    const char* kind;
    std::string name_head;
    std::uint32_t name_bytes;
    std::uint64_t token;
    std::uint32_t holder_pid;
    bool holder_alive;
    std::int64_t lease_left_ms;  // -1: no lease
  };
  std::vector<Grant> grants;
  // The key watches that have sleepers: the prefix bytes kept (empty for the every-key watch).
  struct Watch {
    std::string prefix;
    std::uint32_t sleepers;
  };
  std::vector<Watch> watches;
};
CoordView ViewCoordination(const Segment& seg);

// Moves the grant word and wakes its sleepers (lock, acquire, barrier) when there are any.
void NotifyGrants(Segment* seg);
// One sleeper on the grant word more (+1) or less (-1): in grant_sleepers and in this handle's
// registry slot (counted there last, uncounted first; see AddKeyWatcher).
void CountGrantSleeper(Segment* seg, int delta);
// Moves the word of every key watch that has sleepers and wakes them (a claim given back, a
// repair).
void NotifyEveryKeyWatch(Segment* seg);
// Moves the word of every key watch with sleepers whose prefix `key` starts with, and wakes them.
void NotifyKeyWatches(Segment* seg, std::string_view key);
// After a shard inserted `key` (it still holds the shard lock, and the index lock if the index is
// kept): wakes the wait_for and pop_random_wait sleepers whose prefix the key has, so that they
// look again. A sleeper counts itself before it looks under the shard or index lock, so an insert
// either is seen by its look or sees it counted. Nobody else is woken, and an insert pays one
// load and a branch while no key watch has sleepers.
inline void NotifyInsert(Segment* seg, std::string_view key) {
  if (seg->header()->coord.key_sleepers.load(std::memory_order_relaxed) != 0) [[unlikely]]
    NotifyKeyWatches(seg, key);
}
// One more sleeper on the key watch of `prefix`, counted in the watch, in key_sleepers and in
// this handle's registry slot: a watch of the same prefix, else a free one set up for it, else
// the every-key watch. Takes CoordLock. Returns the watch's index.
std::uint32_t AddKeyWatcher(Segment* seg, std::string_view prefix);
// Takes back what AddKeyWatcher counted (no lock).
void RemoveKeyWatcher(Segment* seg, std::uint32_t watch);

}  // namespace shmkv::detail
