// shard_ref.hpp: a process-local view of one shard's shared structures (internal).
// Valid while the Segment lives. All access to what it points at requires the shard's mutex.
// Built from the segment's validated geometry only: its pointers and the home-block formula
// stay inside the mapping whatever the segment holds. Records are reached through
// Segment::Record (checked), never from an offset alone.
#pragma once

#include <cstdint>

#include "shm/layout.hpp"
#include "shm/segment.hpp"

namespace shmkv::detail {

struct ShardRef {
  Segment* seg;
  std::uint32_t index;
  ShardHeader* h;
  Slot* slots;
  std::uint64_t* dense;
  std::uint64_t cap;               // slots in the table
  std::uint64_t dense_cap;         // entries in the dense array (DenseCapacity(cap))
  std::uint64_t home_off;          // offset of the shard's first home chunk; 0 = none
  std::uint32_t home_block_bytes;  // as SegmentHeader
  std::uint32_t home_blocks_per_chunk;
  std::uint64_t home_chunk_magic;  // as SegmentHeader

  static ShardRef Of(Segment* seg, std::uint32_t i) {
    const Geometry& g = seg->geo();
    return {seg,
            i,
            seg->shard(i),
            seg->slots(i),
            seg->dense(i),
            g.slots_per_shard,
            DenseCapacity(g.slots_per_shard),
            g.home_block_bytes ? g.off_arena + i * g.home_chunks_per_shard * kChunkBytes : 0,
            g.home_block_bytes,
            g.home_blocks_per_chunk,
            g.home_chunk_magic};
  }
  RecordRef Record(std::uint64_t off, const char* what) const {
    return seg->Record(off, index, what);
  }
  // Offset of the home block of table slot `slot` (only when home_off != 0). The division is a
  // multiplication by a rounded-up reciprocal (Lemire), exact for slots below 2^32.
  std::uint64_t HomeBlock(std::uint64_t slot) const {
    const auto chunk =
        static_cast<std::uint64_t>((static_cast<unsigned __int128>(home_chunk_magic) * slot) >> 64);
    return home_off + chunk * kChunkBytes +
           (slot - chunk * home_blocks_per_chunk) * home_block_bytes;
  }
};

// True for the home chunks at the start of the arena (layout.hpp): they stay with their shard
// for the segment's life.
inline bool IsHomeChunk(const Segment& seg, std::uint64_t chunk) {
  return chunk < seg.geo().home_chunks_per_shard * seg.geo().shard_count;
}

// For an offset inside the arena (checked by the caller, as Segment::Block does).
inline std::uint64_t ChunkOf(const Segment& seg, std::uint64_t off) {
  return (off - seg.geo().off_arena) / kChunkBytes;
}
inline std::uint64_t ChunkOffset(const Segment& seg, std::uint64_t chunk) {
  return seg.geo().off_arena + chunk * kChunkBytes;
}

// Orders the stores before it ahead of the stores after it, as a process killed in between
// leaves them (x86-64 keeps store order; this stops the compiler from reordering).
inline void CrashBarrier() {
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

}  // namespace shmkv::detail
