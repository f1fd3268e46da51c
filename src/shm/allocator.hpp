// allocator.hpp: arena memory for records (internal).
//
// Two levels. (1) The global chunk table: 4 KiB chunks handed to shards as slabs (one size
// class each) or as multi-chunk spans (one large record each). Guarded by the robust
// SegmentHeader::alloc_mutex, always taken while holding a shard mutex (order: shard -> alloc).
// (2) Within a shard, slabs of fixed-size blocks with per-chunk free lists and a per-class list of
// slabs that have room, all guarded by the shard mutex. (3) Optionally, home chunks (layout.hpp):
// slabs made with the segment, one block per table slot, taken by position (AllocHomeRecord),
// never on a free or slab list and never released.
//
// Crash behaviour: a chunk's ident (layout.hpp) is the only word that says who owns it. A span is
// claimed tail-first and released head-first, so a holder killed midway leaves only
// continuation chunks without a head, which RepairChunkTable() frees. Everything else a shard
// keeps about its chunks (used counts, free lists, slab lists) is rebuilt from the records by
// the shard repair (shard.cpp), so it need not be crash-consistent.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "shm/shard_ref.hpp"

namespace shmkv::detail {

// Size-class index for a record of `bytes`, or -1 when it needs a span.
int SizeClassFor(std::uint64_t bytes);
// Chunks of the span AllocRecord takes for a record of `bytes` that has no size class.
inline std::uint64_t SpanChunks(std::uint64_t bytes) {
  return (bytes + kChunkBytes - 1) / kChunkBytes;
}
// The table slots whose home blocks a record of `bytes` whose key's home is table slot `slot` may
// take, in the order AllocHomeRecord tries them (it takes the first free one). Returns how many
// were written to out: 0 when the record never goes to a home block.
inline int HomeBlockCandidates(const ShardRef& s, std::uint64_t bytes, std::uint64_t slot,
                               std::uint64_t out[2]) {
  if (s.home_off == 0 || bytes > s.home_block_bytes) return 0;
  int n = 0;
  for (std::uint64_t candidate : {slot, slot ^ 1})
    if (candidate < s.cap) out[n++] = candidate;
  return n;
}

// Returns the offset of a block of at least `bytes` for shard `s` whose state word is kFree,
// or 0 when the segment has no room. Requires the shard mutex.
std::uint64_t AllocRecord(const ShardRef& s, std::uint64_t bytes);
// Returns a free home block for a record whose key's home is table slot `slot`: the slot's own,
// else that of its buddy slot (slot ^ 1), marked in use (its state word is kFree). 0 when the
// segment has no home blocks, `bytes` does not fit in one, or both are taken. Requires the
// shard mutex.
std::uint64_t AllocHomeRecord(const ShardRef& s, std::uint64_t bytes, std::uint64_t slot);
// Returns a block (state already kDead or kPending) to the shard. Requires the shard mutex.
void FreeRecord(const ShardRef& s, std::uint64_t rec_off);

// Ordered-index nodes (ordered_index.hpp) take whole chunks from the same pool. Their idents
// carry owner IndexOwner (one past the last shard, so no shard's walk or record check accepts
// them) and class kClassIndexNode. Returns the offset of n fresh consecutive chunks, 0 when the
// segment has no room. Requires the index lock (order: index -> alloc).
inline std::uint32_t IndexOwner(const Segment& seg) {
  return seg.geo().shard_count;
}
std::uint64_t AllocIndexNode(Segment& seg, std::uint32_t chunks);

// Gives a whole list of chunks (heads of spans or slabs) back to the global pool.
void FreeChunks(Segment& seg, const std::vector<std::uint64_t>& heads);

// Calls fn(rec_off, block_bytes) for every block of shard s that has a valid state word: each
// carved slab block and each span head. Requires the shard mutex.
void ForEachBlock(const ShardRef& s, const std::function<void(std::uint64_t, std::uint64_t)>& fn);

// Rebuilds the shard's arena bookkeeping (free lists, used counts, slab lists, used_bytes,
// chunk_count) from the record states: kLive blocks are in use, every other block becomes kFree.
// Chunks left empty go back to the global pool. Requires the shard mutex.
void RebuildShardArena(const ShardRef& s);

// Verifies the shard's arena bookkeeping; appends one line per violation.
void CheckShardArena(const ShardRef& s, std::vector<std::string>* out);

// Records of the shard stored in their home blocks. Requires the shard mutex.
std::uint64_t HomeRecords(const ShardRef& s);

// Empties the shard's arena: its chunks go back to the global pool, except its home chunks, whose
// blocks become free. Resets the shard's arena bookkeeping. Requires the shard mutex.
void ReleaseShardChunks(const ShardRef& s);

// Prepares refilling an arena that is about to be emptied (restore): backs the first `chunks`
// chunks after the home chunks with memory (posix_fallocate) and restarts the chunk search at
// the first of them. Once every non-home chunk is free, allocations that free nothing in between
// then take consecutive chunks with no gap, so `chunks` of them cannot fail. Returns false,
// having changed nothing, when the memory cannot be reserved. Requires every shard mutex.
bool PrepareArenaFill(Segment& seg, std::uint64_t chunks);

// Lists the chunk heads owned by a shard (slabs and span heads).
std::vector<std::uint64_t> ChunksOwnedBy(const Segment& seg, std::uint32_t shard);

}  // namespace shmkv::detail
