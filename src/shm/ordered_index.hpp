// ordered_index.hpp: the store-wide ordered index of keys, a B+tree with subtree counts in the
// segment (internal).
//
// What it holds: one leaf entry per record in any shard's table (expired ones included, until
// reclaimed), in byte order of keys. A leaf entry is 16 bytes: the 8 key bytes that follow the
// leaf's prefix (big-endian, zero padded) and the record's offset; the key itself stays in the
// record. Inner entries hold a child, its subtree's entry count (order statistics: the rank of
// a key and the key of a rank in O(log n)) and a separator, a copy of the shortest key prefix
// that divides two neighbouring children. Nodes are whole arena chunks (a leaf one chunk, an
// inner node IndexInnerChunks), owned by IndexOwner in their idents. docs/design.md "Ordered
// index" has the node layout and why one store-wide tree.
//
// Locking: IndexHeader::mutex (robust) guards every node and the header but `state` and
// `ttl_records`. Lock order: shard -> index -> alloc. A shard's writers change the index while
// holding their shard lock (Shard::Insert, Erase, the out-of-place Replace), taking the index
// lock before they change anything (IndexWriter); readers hold the index lock alone and never
// take a shard lock under it. While a record is in the index it is
// not freed (its writer removes it from the index first), so a reader holding the index lock
// may read its key; its value may change in place, so readers take values through the shard.
//
// Crash and damage: the index is derived data. Whatever may leave it wrong marks it stale: its
// lock's holder died (EOWNERDEAD), a shard was repaired after its holder died mid-write, a node
// read failed its checks, or a node could not be allocated. Writers then leave it alone; the
// next ordered read rebuilds it from the records (Rebuild: every shard lock, then the index
// lock) and falls back to walking the shards only when the rebuild finds no room. So a writer's
// index step never fails the write once it has begun, and the index needs no crash-consistent
// write order. Before it begins, an index lock not acquired within the lock watchdog fails the
// write with busy naming the index lock (the write changed nothing): the wait is not hidden
// inside the shard lock, where it would show only as the shard's holder stalling.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shm/segment.hpp"
#include "shmkv/error.hpp"

namespace shmkv::detail {

// What IndexTree raises for a node, separator or entry that fails its checks: errc::corrupted,
// and a sign for readers that a rebuild from the records cures it (records' own damage is a
// plain Error).
class IndexDamaged : public Error {
 public:
  using Error::Error;
};

// Chunks of an inner node for a segment's key limit: room for at least four separators of the
// longest key, so that a split always leaves each half two or more.
std::uint32_t IndexInnerChunks(std::uint32_t max_key_bytes);

// A position in the leaf level: leaf node offset and entry index (Seek, Next).
struct IndexCursor {
  std::uint64_t leaf = 0;
  std::uint32_t pos = 0;
};

class OrderedIndex {
 public:
  explicit OrderedIndex(Segment* seg) : seg_(seg), h_(&seg->header()->index) {}

  // off when the segment keeps no index; a state word other than valid reads as stale.
  IndexState state() const {
    if (!seg_->geo().index_enabled) return IndexState::off;
    return h_->state.load(std::memory_order_acquire) == std::uint32_t(IndexState::valid)
               ? IndexState::valid
               : IndexState::stale;
  }
  // Without the lock: from then on writers leave the tree alone and readers rebuild it first.
  void MarkStale() noexcept;
  // Records with an expiry, over all shards (IndexHeader::ttl_records).
  std::uint64_t ttl_records() const { return h_->ttl_records.load(std::memory_order_relaxed); }
  void AddTtlRecords(std::int64_t delta) noexcept {
    if (state() != IndexState::off)
      h_->ttl_records.fetch_add(static_cast<std::uint64_t>(delta), std::memory_order_relaxed);
  }

  // Rebuilds the tree from every shard's table, replacing what was there, and marks it valid.
  // Requires every shard lock (the records must hold still); takes the index lock. Returns
  // false, leaving it stale, when the arena has no room for the nodes. Raises corrupted for a
  // damaged record (as any walk of the shards does).
  bool Rebuild();
  // Frees every node and marks the index stale (restore empties the shards under it).
  // Requires every shard lock; takes the index lock.
  void Discard();

  // --- Readers: require the index lock (IndexLock) and state() == valid. They raise corrupted
  // for a node or record that fails its checks; the caller marks the index stale and retries.
  std::uint64_t entries() const { return h_->entries; }
  // Entries whose key is below `key`.
  std::uint64_t Rank(std::string_view key) const;
  // The entry of rank r < entries(): where it is, and its record (checked).
  IndexCursor Seek(std::uint64_t rank) const;
  RecordRef RecordAt(const IndexCursor& c) const;
  // Moves to the next entry in key order; false at the end.
  bool Next(IndexCursor* c) const;

  // Appends one line per violated invariant: node checks, key order (within and across
  // leaves), subtree counts, the leaf chain, prefixes, and that the tree holds exactly the
  // records of the shards' tables (`records`: every shard's dense offsets, collected under the
  // shard locks). Requires the index lock; the caller holds every shard lock.
  void CheckInvariants(const std::vector<std::uint64_t>& records,
                       std::vector<std::string>* out) const;

  // Figures for info and shmkv-inspect.
  struct Figures {
    IndexState state;
    std::uint32_t height;
    std::uint64_t entries, chunks, rebuilds, last_rebuild_us, last_rebuild_keys;
  };
  Figures Describe() const;

 private:
  friend class IndexTree;
  Segment* seg_;
  IndexHeader* h_;
};

// Holds the index lock. A dead previous holder marks the index stale (its tree may be half
// changed) before the lock is made consistent again.
class IndexLock {
 public:
  explicit IndexLock(Segment* seg);
  ~IndexLock();
  IndexLock(const IndexLock&) = delete;
  IndexLock& operator=(const IndexLock&) = delete;

 private:
  Segment* seg_;
};

// A key's insert into or erase from a shard, or the move of its record (the out-of-place
// Replace), as the index sees it; by a shard's writer holding its shard lock. Made before the
// shard changes anything, it takes the index lock (when the index is valid) and asks for the
// cache lines of the key's leaf, so that they arrive while the shard does its part. It raises
// busy, naming the index lock, when the lock is not acquired within the watchdog (a damaged
// lock marks the index stale instead). For an insert it first makes sure the nodes a split may
// take are allocated, raising store_full otherwise: a full arena refuses the write whole
// instead of leaving a key out of the index. Insert(), Erase() and Relocate() then change the
// tree; they never fail the write (a failure marks the index stale).
class IndexWriter {
 public:
  enum class Change { insert, erase, relocate };
  IndexWriter(Segment* seg, std::string_view key, Change change);
  void Insert(std::string_view key, std::uint64_t rec_off) noexcept;
  // rec_off's record must still hold its key (before it is freed).
  void Erase(std::string_view key, std::uint64_t rec_off) noexcept;
  // The key's entry now leads to new_off instead of old_off.
  void Relocate(std::string_view key, std::uint64_t old_off, std::uint64_t new_off) noexcept;

 private:
  OrderedIndex index_;
  std::optional<IndexLock> lock_;
};

}  // namespace shmkv::detail
