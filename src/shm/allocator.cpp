// allocator.cpp: see allocator.hpp for the design and crash behaviour.
#include "shm/allocator.hpp"

#include <algorithm>
#include <cstring>

#include "os/crashpoint.hpp"
#include "os/os.hpp"
#include "shm/robust_mutex.hpp"

namespace shmkv::detail {
namespace {

std::uint32_t& FreeLink(RecordHeader* rec) {
  return rec->key_len;
}  // a free block's next link

void SetState(RecordHeader* rec, RecordState state) {
  rec->state_lsn.store(state, std::memory_order_release);
}

// True when head chunk c's ident describes a slab or span that lies inside the arena: a valid
// class, the span length its class implies, and no chunk past the last. Whatever fails this is
// not followed (ForEachBlock skips it, the rebuild frees it, the check reports it).
bool HeadValid(const Segment& seg, std::uint64_t c, std::uint64_t ident) {
  const std::uint16_t cls = IdentClass(ident);
  const std::uint64_t span = IdentSpan(ident);
  if (span == 0 || c + span > seg.geo().chunk_count) return false;
  return cls == kClassLarge || (cls < kNumClasses && span == SlabChunks(cls));
}

// The slab that shard s's list of class cls starts with (partial_head), checked to be a slab of
// that shard and class with room (the free list and carved count inside the slab).
std::uint64_t PartialSlab(const ShardRef& s, std::uint16_t cls) {
  const std::uint64_t c = s.h->partial_head[cls] - 1;
  const ChunkInfo* ci = s.seg->chunk(c);  // checked index
  const std::uint64_t ident = s.seg->ident(c)->load(std::memory_order_relaxed);
  const std::uint32_t blocks = BlocksPerSlab(cls);
  if (ident != MakeIdent(s.index, cls, static_cast<std::uint16_t>(SlabChunks(cls))) ||
      ci->carved > blocks || ci->free_head > ci->carved ||
      (ci->free_head == 0 && ci->carved == blocks) || IsHomeChunk(*s.seg, c)) [[unlikely]]
    s.seg->Corrupted(
        "shard " + std::to_string(s.index) + " partial_head[" + std::to_string(cls) + "] chunk", c,
        "is not a slab of this shard and class with a free block");
  return c;
}

// True if continuation chunk c (with `ident`) belongs to a live head of the same owner.
bool ContinuationValid(const Segment& seg, std::uint64_t c, std::uint64_t ident) {
  std::uint64_t dist = IdentSpan(ident);
  if (dist == 0 || dist > c) return false;  // so c - dist is a valid chunk index
  std::uint64_t head = seg.ident(c - dist)->load(std::memory_order_acquire);
  return head != 0 && IdentClass(head) != kClassContinuation &&
         IdentOwner(head) == IdentOwner(ident) && IdentSpan(head) > dist;
}

// Makes the chunk table consistent after a holder of alloc_mutex died: a continuation chunk not
// covered by a head of the same owner is freed; chunks_in_use is recounted.
void RepairChunkTable(Segment& seg) {
  SegmentHeader* sh = seg.header();
  std::uint64_t in_use = 0;
  for (std::uint64_t c = 0; c < seg.geo().chunk_count; ++c) {
    std::uint64_t ident = seg.ident(c)->load(std::memory_order_acquire);
    if (ident == 0) continue;
    if (IdentClass(ident) == kClassContinuation && !ContinuationValid(seg, c, ident)) {
      seg.ident(c)->store(0, std::memory_order_release);
      continue;
    }
    ++in_use;
  }
  sh->chunks_in_use = in_use;
}

class AllocLock {
 public:
  explicit AllocLock(Segment& seg) : seg_(seg) {
    bool waited = false;
    pthread_mutex_t* m = &seg.header()->alloc_mutex;
    if (LockRobust(m, LockName{seg.name(), "allocator", -1}, &waited) == LockResult::owner_died) {
      RepairChunkTable(seg);
      ++seg.header()->alloc_recoveries;
      MarkConsistent(m);
    }
  }
  ~AllocLock() { UnlockRobust(&seg_.header()->alloc_mutex); }

 private:
  Segment& seg_;
};

// Makes sure the segment is backed by memory over [begin, end) (no SIGBUS there): every
// backing group of kBackingGroupBytes it touches that this handle has not backed yet is
// posix_fallocated, a run of them in one call. Nothing in the segment says what is backed, so
// that a word another process overwrote cannot make this one touch an unbacked page of a full
// /dev/shm; a group another process backed costs one call over pages that exist. False when
// posix_fallocate fails. Requires alloc_mutex.
bool BackArena(Segment& seg, std::uint64_t begin, std::uint64_t end) {
  std::vector<bool>& backed = seg.backed_groups();
  const std::uint64_t size = seg.geo().size_bytes;
  end = std::min(end, size);
  for (std::uint64_t g = begin / kBackingGroupBytes; g * kBackingGroupBytes < end;) {
    if (g < backed.size() && backed[g]) {
      ++g;
      continue;
    }
    std::uint64_t last = g;  // the run of groups not backed yet
    while ((last + 1) * kBackingGroupBytes < end && last + 1 < backed.size() && !backed[last + 1])
      ++last;
    const std::uint64_t from = g * kBackingGroupBytes;
    const std::uint64_t to = std::min((last + 1) * kBackingGroupBytes, size);
    if (os::Fallocate(seg.fd(), from, to - from) != 0) return false;
    for (; g <= last; ++g)
      if (g < backed.size()) backed[g] = true;
  }
  return true;
}

// Claims n consecutive free chunks for `shard` as class `cls`. Record chunks are searched
// upward from alloc_hint, index nodes (from_top) downward from index_alloc_top, each pass
// wrapping once round the table: the two kinds stay apart, so a freed index node is not a
// one-chunk hole between slabs that a multi-chunk slab could never use. A free run that cannot
// be backed (/dev/shm full) is passed over, and so is the rest of its backing group, so that
// chunks freed where memory is already backed are found. Returns the first chunk index + 1, or
// 0 when there is no room.
std::uint64_t AllocChunks(Segment& seg, std::uint32_t shard, std::uint16_t cls, std::uint32_t n,
                          bool from_top = false) {
  AllocLock lock(seg);
  SegmentHeader* sh = seg.header();
  const Geometry& g = seg.geo();
  const std::uint64_t total = g.chunk_count;
  if (n == 0 || n > total) return 0;
  std::uint64_t refused_group = ~0ull;  // the last backing group posix_fallocate refused
  auto backed = [&](std::uint64_t first) {
    const std::uint64_t begin = g.off_arena + first * kChunkBytes;
    const std::uint64_t end = begin + n * kChunkBytes;
    if (begin / kBackingGroupBytes == refused_group ||
        (end - 1) / kBackingGroupBytes == refused_group)
      return false;
    if (BackArena(seg, begin, end)) return true;
    refused_group = (end - 1) / kBackingGroupBytes;
    return false;
  };
  std::uint64_t found = total, run = 0;
  if (!from_top) {
    for (std::uint64_t step = 0, c = sh->alloc_hint < total ? sh->alloc_hint : 0; step < total + n;
         ++step, ++c) {
      if (c == total) {
        c = 0;
        run = 0;
      }
      run = seg.ident(c)->load(std::memory_order_relaxed) != 0 ? 0 : run + 1;
      if (run == n) {
        if (backed(c + 1 - n)) {
          found = c + 1 - n;
          break;
        }
        run = 0;
      }
    }
  } else {
    const std::uint64_t top = sh->index_alloc_top;
    for (std::uint64_t step = 0, c = top >= 1 && top <= total ? top - 1 : total - 1;
         step < total + n; ++step, --c) {
      if (c == ~0ull) {
        c = total - 1;
        run = 0;
      }
      run = seg.ident(c)->load(std::memory_order_relaxed) != 0 ? 0 : run + 1;
      if (run == n) {
        if (backed(c)) {
          found = c;
          break;
        }
        run = 0;
      }
    }
  }
  if (found == total) return 0;
  ChunkInfo* head = seg.chunk(found);
  if (cls == kClassLarge) {
    SetState(seg.At<RecordHeader>(ChunkOffset(seg, found)), kFree);
  } else {
    head->used = head->free_head = head->carved = head->next = head->prev = 0;
  }
  for (std::uint64_t i = n - 1; i >= 1; --i) {
    seg.ident(found + i)->store(MakeIdent(shard, kClassContinuation, static_cast<std::uint16_t>(i)),
                                std::memory_order_release);
  }
  CrashBarrier();
  SHMKV_CRASH_POINT("alloc.span_tail_claimed");
  seg.ident(found)->store(MakeIdent(shard, cls, static_cast<std::uint16_t>(n)),
                          std::memory_order_release);
  sh->chunks_in_use += n;
  (from_top ? sh->index_alloc_top : sh->alloc_hint) = from_top ? found : found + n;
  return found + 1;
}

}  // namespace

std::uint64_t AllocIndexNode(Segment& seg, std::uint32_t chunks) {
  const std::uint64_t c =
      AllocChunks(seg, IndexOwner(seg), kClassIndexNode, chunks, /*from_top=*/true);
  return c == 0 ? 0 : ChunkOffset(seg, c - 1);
}

namespace {

void ListUnlink(const ShardRef& s, std::uint16_t cls, std::uint64_t c) {
  ChunkInfo* ci = s.seg->chunk(c);
  if (ci->prev)
    s.seg->chunk(ci->prev - 1)->next = ci->next;
  else
    s.h->partial_head[cls] = ci->next;
  if (ci->next) s.seg->chunk(ci->next - 1)->prev = ci->prev;
  ci->next = ci->prev = 0;
}

void ListPush(const ShardRef& s, std::uint16_t cls, std::uint64_t c) {
  ChunkInfo* ci = s.seg->chunk(c);
  ci->prev = 0;
  ci->next = s.h->partial_head[cls];
  if (ci->next) s.seg->chunk(ci->next - 1)->prev = static_cast<std::uint32_t>(c + 1);
  s.h->partial_head[cls] = static_cast<std::uint32_t>(c + 1);
}

}  // namespace

int SizeClassFor(std::uint64_t bytes) {
  for (std::uint32_t i = 0; i < kNumClasses; ++i)
    if (kSizeClasses[i] >= bytes) return static_cast<int>(i);
  return -1;
}

std::uint64_t AllocRecord(const ShardRef& s, std::uint64_t bytes) {
  Segment& seg = *s.seg;
  int cls_index = SizeClassFor(bytes);
  if (cls_index < 0) {
    std::uint64_t n = SpanChunks(bytes);
    if (n > 0xffff) return 0;
    std::uint64_t c = AllocChunks(seg, s.index, kClassLarge, static_cast<std::uint32_t>(n));
    if (c == 0) return 0;
    s.h->chunk_count += n;
    s.h->used_bytes += n * kChunkBytes;
    return ChunkOffset(seg, c - 1);
  }
  auto cls = static_cast<std::uint16_t>(cls_index);
  if (s.h->partial_head[cls] == 0) {
    std::uint64_t c = AllocChunks(seg, s.index, cls, SlabChunks(cls));
    if (c != 0) {
      s.h->chunk_count += SlabChunks(cls);
      ListPush(s, cls, c - 1);
    } else {
      // No chunk left for a new slab: take a free block of a larger class this shard already
      // has (space freed by big records stays usable by small ones, at the cost of slack).
      do {
        if (++cls == kNumClasses) return 0;
      } while (s.h->partial_head[cls] == 0);
    }
  }
  std::uint32_t size = kSizeClasses[cls];
  std::uint64_t c = PartialSlab(s, cls);
  ChunkInfo* ci = seg.chunk(c);
  std::uint64_t base = ChunkOffset(seg, c);
  std::uint64_t off;
  if (ci->free_head) {
    off = base + std::uint64_t(ci->free_head - 1) * size;
    ci->free_head = FreeLink(seg.At<RecordHeader>(off));
  } else {
    off = base + std::uint64_t(ci->carved) * size;
    SetState(seg.At<RecordHeader>(off), kFree);
    CrashBarrier();
    ++ci->carved;
  }
  ++ci->used;
  s.h->used_bytes += size;
  if (ci->free_head == 0 && ci->carved == BlocksPerSlab(cls)) ListUnlink(s, cls, c);
  return off;
}

std::uint64_t AllocHomeRecord(const ShardRef& s, std::uint64_t bytes, std::uint64_t slot) {
  std::uint64_t candidates[2];
  const int n = HomeBlockCandidates(s, bytes, slot, candidates);
  for (int i = 0; i < n; ++i) {
    const std::uint64_t off = s.HomeBlock(candidates[i]);
    if ((s.seg->At<RecordHeader>(off)->state_lsn.load(std::memory_order_relaxed) & 3) != kFree)
      continue;
    ++s.seg->chunk(ChunkOf(*s.seg, off))->used;
    s.h->used_bytes += s.home_block_bytes;
    return off;
  }
  return 0;
}

void FreeRecord(const ShardRef& s, std::uint64_t rec_off) {
  Segment& seg = *s.seg;
  std::uint64_t c = seg.Block(rec_off, s.index, "freed record").head;
  ChunkInfo* ci = seg.chunk(c);
  std::uint64_t ident = seg.ident(c)->load(std::memory_order_relaxed);
  std::uint16_t cls = IdentClass(ident);
  auto* rec = seg.At<RecordHeader>(rec_off);
  SetState(rec, kFree);
  if (IsHomeChunk(seg, c)) {  // home blocks are found by position, never listed or released
    --ci->used;
    s.h->used_bytes -= kSizeClasses[cls];
    return;
  }
  if (cls == kClassLarge) {
    std::uint64_t n = IdentSpan(ident);
    s.h->chunk_count -= n;
    s.h->used_bytes -= n * kChunkBytes;
    FreeChunks(seg, {c});
    return;
  }
  std::uint32_t size = kSizeClasses[cls];
  bool was_full = ci->free_head == 0 && ci->carved == BlocksPerSlab(cls);
  FreeLink(rec) = ci->free_head;
  ci->free_head = static_cast<std::uint32_t>((rec_off - ChunkOffset(seg, c)) / size + 1);
  --ci->used;
  s.h->used_bytes -= size;
  if (was_full) ListPush(s, cls, c);
  // Keep one slab per class to avoid churning the global pool; return other empty ones.
  if (ci->used == 0 && !(s.h->partial_head[cls] == c + 1 && ci->next == 0)) {
    ListUnlink(s, cls, c);
    s.h->chunk_count -= SlabChunks(cls);
    FreeChunks(seg, {c});
  }
}

void FreeChunks(Segment& seg, const std::vector<std::uint64_t>& heads) {
  if (heads.empty()) return;
  AllocLock lock(seg);
  for (std::uint64_t c : heads) {
    std::uint64_t ident = seg.ident(c)->load(std::memory_order_relaxed);
    std::uint64_t n = IdentSpan(ident);
    // An index node freed above the downward search's start moves the start up to it, so
    // index nodes stay packed at the arena's end.
    SegmentHeader* sh = seg.header();
    const std::uint64_t total = seg.geo().chunk_count;
    const std::uint64_t top = sh->index_alloc_top == 0 ? total : sh->index_alloc_top;
    if (IdentOwner(ident) == IndexOwner(seg) && c + n > top && c + n <= total)
      sh->index_alloc_top = c + n;
    seg.ident(c)->store(0, std::memory_order_release);
    CrashBarrier();
    SHMKV_CRASH_POINT("alloc.span_head_released");
    for (std::uint64_t i = 1; i < n; ++i) seg.ident(c + i)->store(0, std::memory_order_release);
    seg.header()->chunks_in_use -= n;
  }
}

std::uint64_t HomeRecords(const ShardRef& s) {
  const std::uint64_t per_shard = s.seg->geo().home_chunks_per_shard;
  std::uint64_t n = 0;
  for (std::uint64_t c = s.index * per_shard; c < (s.index + 1) * per_shard; ++c)
    n += s.seg->chunk(c)->used;
  return n;
}

void ReleaseShardChunks(const ShardRef& s) {
  Segment& seg = *s.seg;
  std::vector<std::uint64_t> to_free;
  for (std::uint64_t c : ChunksOwnedBy(seg, s.index)) {
    if (!IsHomeChunk(seg, c)) {
      to_free.push_back(c);
      continue;
    }
    ChunkInfo* ci = seg.chunk(c);
    ci->carved = s.home_blocks_per_chunk;  // a home chunk is carved whole
    for (std::uint32_t i = 0; i < ci->carved; ++i)
      SetState(seg.At<RecordHeader>(ChunkOffset(seg, c) + std::uint64_t(i) * s.home_block_bytes),
               kFree);
    ci->used = 0;
  }
  FreeChunks(seg, to_free);
  std::fill(std::begin(s.h->partial_head), std::end(s.h->partial_head), 0u);
  s.h->used_bytes = 0;
  s.h->chunk_count = seg.geo().home_chunks_per_shard;
}

bool PrepareArenaFill(Segment& seg, std::uint64_t chunks) {
  AllocLock lock(seg);
  const Geometry& g = seg.geo();
  const std::uint64_t first = g.home_chunks_per_shard * g.shard_count;
  if (chunks > g.chunk_count - first) return false;
  if (!BackArena(seg, g.off_arena, g.off_arena + (first + chunks) * kChunkBytes)) return false;
  seg.header()->alloc_hint = first;
  return true;
}

std::vector<std::uint64_t> ChunksOwnedBy(const Segment& seg, std::uint32_t shard) {
  std::vector<std::uint64_t> out;
  const std::uint64_t total = seg.geo().chunk_count;
  for (std::uint64_t c = 0; c < total; ++c) {
    std::uint64_t ident = seg.ident(c)->load(std::memory_order_acquire);
    if (ident != 0 && IdentOwner(ident) == shard && IdentClass(ident) != kClassContinuation)
      out.push_back(c);
  }
  return out;
}

void ForEachBlock(const ShardRef& s, const std::function<void(std::uint64_t, std::uint64_t)>& fn) {
  for (std::uint64_t c : ChunksOwnedBy(*s.seg, s.index)) {
    std::uint64_t ident = s.seg->ident(c)->load(std::memory_order_acquire);
    if (!HeadValid(*s.seg, c, ident)) continue;
    std::uint16_t cls = IdentClass(ident);
    std::uint64_t base = ChunkOffset(*s.seg, c);
    if (cls == kClassLarge) {
      fn(base, std::uint64_t(IdentSpan(ident)) * kChunkBytes);
    } else {
      std::uint32_t carved = std::min(s.seg->chunk(c)->carved, BlocksPerSlab(cls));
      for (std::uint32_t i = 0; i < carved; ++i)
        fn(base + std::uint64_t(i) * kSizeClasses[cls], kSizeClasses[cls]);
    }
  }
}

void RebuildShardArena(const ShardRef& s) {
  Segment& seg = *s.seg;
  std::fill(std::begin(s.h->partial_head), std::end(s.h->partial_head), 0u);
  s.h->used_bytes = 0;
  s.h->chunk_count = 0;
  std::vector<std::uint64_t> to_free, garbage;
  for (std::uint64_t c : ChunksOwnedBy(seg, s.index)) {
    ChunkInfo* ci = seg.chunk(c);
    std::uint64_t ident = seg.ident(c)->load(std::memory_order_acquire);
    std::uint16_t cls = IdentClass(ident);
    auto* head_rec = seg.At<RecordHeader>(ChunkOffset(seg, c));
    if (!HeadValid(seg, c, ident)) {  // a garbage class or span: nothing in it can be trusted
      garbage.push_back(c);
      continue;
    }
    if (cls == kClassLarge) {
      if ((head_rec->state_lsn.load(std::memory_order_relaxed) & 3) == kLive) {
        s.h->chunk_count += IdentSpan(ident);
        s.h->used_bytes += std::uint64_t(IdentSpan(ident)) * kChunkBytes;
      } else {
        to_free.push_back(c);
      }
      continue;
    }
    std::uint32_t size = kSizeClasses[cls], blocks = BlocksPerSlab(cls);
    const bool home = IsHomeChunk(seg, c);  // every block carved, no free list, kept when empty
    ci->carved = home ? blocks : std::min(ci->carved, blocks);
    ci->used = 0;
    ci->free_head = 0;
    for (std::uint32_t i = ci->carved; i-- > 0;) {
      auto* rec = seg.At<RecordHeader>(ChunkOffset(seg, c) + std::uint64_t(i) * size);
      if ((rec->state_lsn.load(std::memory_order_relaxed) & 3) == kLive) {
        ++ci->used;
      } else {
        SetState(rec, kFree);
        if (home) continue;
        FreeLink(rec) = ci->free_head;
        ci->free_head = i + 1;
      }
    }
    if (home) {
      s.h->chunk_count += 1;
      s.h->used_bytes += std::uint64_t(ci->used) * size;
      continue;
    }
    if (ci->used == 0) {
      to_free.push_back(c);
      continue;
    }
    s.h->chunk_count += IdentSpan(ident);
    s.h->used_bytes += std::uint64_t(ci->used) * size;
    ci->next = ci->prev = 0;
    if (ci->free_head != 0 || ci->carved < blocks) ListPush(s, cls, c);
  }
  FreeChunks(seg, to_free);
  if (!garbage.empty()) {  // heads whose span is unknown: only the head chunk is freed
    AllocLock lock(seg);
    for (std::uint64_t c : garbage) {
      seg.ident(c)->store(0, std::memory_order_release);
      --seg.header()->chunks_in_use;
    }
  }
}

void CheckShardArena(const ShardRef& s, std::vector<std::string>* out) {
  Segment& seg = *s.seg;
  std::string where = "shard " + std::to_string(s.index) + ": ";
  std::uint64_t chunks = 0, used_bytes = 0;
  std::vector<std::uint64_t> partial_expected;
  for (std::uint64_t c : ChunksOwnedBy(seg, s.index)) {
    ChunkInfo* ci = seg.chunk(c);
    std::uint64_t ident = seg.ident(c)->load(std::memory_order_acquire);
    std::uint16_t cls = IdentClass(ident);
    if (!HeadValid(seg, c, ident)) {
      out->push_back(where + "chunk " + std::to_string(c) + " has invalid size class " +
                     std::to_string(cls) + " or span " + std::to_string(IdentSpan(ident)));
      continue;
    }
    if (cls == kClassLarge) {
      std::uint16_t span = IdentSpan(ident);
      for (std::uint16_t i = 1; i < span; ++i) {
        std::uint64_t cont = seg.ident(c + i)->load(std::memory_order_relaxed);
        if (IdentClass(cont) != kClassContinuation || IdentOwner(cont) != s.index ||
            IdentSpan(cont) != i)
          out->push_back(where + "chunk " + std::to_string(c + i) +
                         " should continue the span at chunk " + std::to_string(c));
      }
      chunks += span;
      auto* rec = seg.At<RecordHeader>(ChunkOffset(seg, c));
      if ((rec->state_lsn.load(std::memory_order_relaxed) & 3) != kLive)
        out->push_back(where + "span at chunk " + std::to_string(c) +
                       " holds no live record (leaked)");
      used_bytes += std::uint64_t(span) * kChunkBytes;
      continue;
    }
    for (std::uint16_t i = 1; i < IdentSpan(ident); ++i) {
      std::uint64_t cont = seg.ident(c + i)->load(std::memory_order_relaxed);
      if (IdentClass(cont) != kClassContinuation || IdentOwner(cont) != s.index ||
          IdentSpan(cont) != i)
        out->push_back(where + "chunk " + std::to_string(c + i) +
                       " should continue the slab at chunk " + std::to_string(c));
    }
    chunks += IdentSpan(ident);
    std::uint32_t size = kSizeClasses[cls], blocks = BlocksPerSlab(cls);
    if (ci->carved > blocks) {
      out->push_back(where + "chunk " + std::to_string(c) + " carved " +
                     std::to_string(ci->carved) + " > " + std::to_string(blocks));
      continue;
    }
    std::uint32_t live = 0, free_listed = 0;
    for (std::uint32_t i = 0; i < ci->carved; ++i)
      if ((seg.At<RecordHeader>(ChunkOffset(seg, c) + std::uint64_t(i) * size)->state_lsn.load() &
           3) == kLive)
        ++live;
    if (IsHomeChunk(seg, c)) {
      if (ci->carved != blocks || ci->free_head != 0)
        out->push_back(where + "home chunk " + std::to_string(c) + " has carved " +
                       std::to_string(ci->carved) + " and free list " +
                       std::to_string(ci->free_head) + "; expected " + std::to_string(blocks) +
                       " and none");
      if (live != ci->used)
        out->push_back(where + "home chunk " + std::to_string(c) + " used " +
                       std::to_string(ci->used) + " but holds " + std::to_string(live) +
                       " live records");
      used_bytes += std::uint64_t(ci->used) * size;
      continue;
    }
    for (std::uint32_t f = ci->free_head; f != 0 && free_listed <= blocks; ++free_listed) {
      if (f > ci->carved) {
        out->push_back(where + "chunk " + std::to_string(c) +
                       " free list points past the carved blocks");
        break;
      }
      auto* rec = seg.At<RecordHeader>(ChunkOffset(seg, c) + std::uint64_t(f - 1) * size);
      if ((rec->state_lsn.load() & 3) != kFree) {
        out->push_back(where + "chunk " + std::to_string(c) + " block " + std::to_string(f - 1) +
                       " is on the free list but not free");
        break;
      }
      f = FreeLink(rec);
    }
    if (live != ci->used)
      out->push_back(where + "chunk " + std::to_string(c) + " used " + std::to_string(ci->used) +
                     " but holds " + std::to_string(live) + " live records");
    if (free_listed + live != ci->carved)
      out->push_back(where + "chunk " + std::to_string(c) + ": " + std::to_string(live) +
                     " live + " + std::to_string(free_listed) + " free-listed != " +
                     std::to_string(ci->carved) + " carved blocks (space leaked)");
    used_bytes += std::uint64_t(ci->used) * size;
    if (ci->free_head != 0 || ci->carved < blocks) partial_expected.push_back(c);
  }
  if (chunks != s.h->chunk_count)
    out->push_back(where + "chunk_count " + std::to_string(s.h->chunk_count) + " but owns " +
                   std::to_string(chunks) + " chunks");
  if (used_bytes != s.h->used_bytes)
    out->push_back(where + "used_bytes " + std::to_string(s.h->used_bytes) +
                   " but blocks in use hold " + std::to_string(used_bytes));
  std::vector<std::uint64_t> listed;
  for (std::uint32_t cls = 0; cls < kNumClasses; ++cls) {
    std::uint32_t prev = 0;
    for (std::uint32_t c = s.h->partial_head[cls];
         c != 0 && listed.size() <= seg.geo().chunk_count;) {
      ChunkInfo* ci = seg.chunk(c - 1);
      std::uint64_t ident = seg.ident(c - 1)->load();
      if (ident == 0 || IdentOwner(ident) != s.index || IdentClass(ident) != cls) {
        out->push_back(where + "slab list of class " + std::to_string(cls) + " holds chunk " +
                       std::to_string(c - 1) + " of another owner/class");
        break;
      }
      if (ci->prev != prev)
        out->push_back(where + "slab list back link wrong at chunk " + std::to_string(c - 1));
      listed.push_back(c - 1);
      prev = c;
      c = ci->next;
    }
  }
  std::sort(listed.begin(), listed.end());
  if (listed != partial_expected)
    out->push_back(where + "slab lists hold " + std::to_string(listed.size()) + " chunks; " +
                   std::to_string(partial_expected.size()) + " chunks have free blocks");
}

}  // namespace shmkv::detail
