// shard_ref.hpp: a process-local view of one shard's shared structures (internal).
// Valid while the Segment lives. All access to what it points at requires the shard's mutex.
#pragma once

#include <cstdint>

#include "layout.hpp"
#include "segment.hpp"

namespace shmkv::detail {

struct ShardRef {
  Segment* seg;
  std::uint32_t index;
  ShardHeader* h;
  Slot* slots;
  std::uint64_t* dense;
  std::uint64_t cap;               // slots in the table
  std::uint64_t home_off;          // offset of the shard's first home chunk; 0 = none
  std::uint32_t home_block_bytes;  // as SegmentHeader
  std::uint32_t home_blocks_per_chunk;
  std::uint64_t home_chunk_magic;  // as SegmentHeader

  static ShardRef Of(Segment* seg, std::uint32_t i) {
    SegmentHeader* sh = seg->header();
    std::uint64_t cap = sh->slots_per_shard;
    return {seg,
            i,
            seg->shard(i),
            seg->At<Slot>(sh->off_slots) + i * cap,
            seg->At<std::uint64_t>(sh->off_dense) + i * cap,
            cap,
            sh->home_block_bytes ? sh->off_arena + i * sh->home_chunks_per_shard * kChunkBytes : 0,
            sh->home_block_bytes,
            sh->home_blocks_per_chunk,
            sh->home_chunk_magic};
  }
  RecordHeader* Rec(std::uint64_t off) const { return seg->At<RecordHeader>(off); }
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
  const SegmentHeader* sh = seg.header();
  return chunk < sh->home_chunks_per_shard * sh->shard_count;
}

inline std::uint64_t ChunkOf(const Segment& seg, std::uint64_t off) {
  return (off - seg.header()->off_arena) / kChunkBytes;
}
inline std::uint64_t ChunkOffset(const Segment& seg, std::uint64_t chunk) {
  return seg.header()->off_arena + chunk * kChunkBytes;
}

// ChunkInfo::ident packing.
inline std::uint64_t MakeIdent(std::uint32_t shard, std::uint16_t cls, std::uint16_t span) {
  return (std::uint64_t(shard) + 1) | (std::uint64_t(cls) << 32) | (std::uint64_t(span) << 48);
}
inline std::uint32_t IdentOwner(std::uint64_t ident) {
  return std::uint32_t(ident) - 1;
}  // valid if ident != 0
inline std::uint16_t IdentClass(std::uint64_t ident) {
  return std::uint16_t(ident >> 32);
}
inline std::uint16_t IdentSpan(std::uint64_t ident) {
  return std::uint16_t(ident >> 48);
}

// The head chunk of the span or slab that chunk c belongs to.
inline std::uint64_t HeadChunk(const Segment& seg, std::uint64_t c) {
  std::uint64_t ident = seg.chunk(c)->ident.load(std::memory_order_relaxed);
  return IdentClass(ident) == kClassContinuation ? c - IdentSpan(ident) : c;
}

// Orders the stores before it ahead of the stores after it, as a process killed in between
// leaves them (x86-64 keeps store order; this stops the compiler from reordering).
inline void CrashBarrier() {
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

}  // namespace shmkv::detail
