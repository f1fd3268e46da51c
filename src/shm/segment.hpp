// segment.hpp: one process's mapping of a shmkv segment (internal).
//
// Invariants:
// - A segment is built under a temporary name and published with link() to /dev/shm/shmkv.<name>
//   only once its header says ready, so an opener never sees a half-built segment. A file at the
//   final name that is empty or whose whole header is zero (left by some other writer) is
//   replaced under flock(LOCK_EX); any other file is never replaced: a damaged header is
//   errc::corrupted and the file is left for shmkv-inspect.
// - Trust: another process, a bug or a hostile user may have written anything anywhere in the
//   segment. Attach refuses a file that users other than us may write (os::CheckTrusted) and
//   validates the header once (CheckHeader); from then on the geometry is a private copy, and
//   every index, offset and length read from shared memory is checked by the accessors below
//   before it is followed.
// - The mapping stays in place until the Segment is destroyed; it is never remapped or resized,
//   so offsets followed under a lock always stay mapped (unmapping while holding a robust mutex
//   would defeat it).
// - Each Segment claims one ProcessSlot (pid + start time) on attach and frees it on close;
//   slots of dead processes are reclaimed by the next opener.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "os/os.hpp"
#include "shm/layout.hpp"
#include "shmkv/options.hpp"

namespace shmkv::detail {

// The header's configuration, validated once at attach (CheckHeader: every offset and count
// recomputed from the sizes and compared) and copied into process memory. Everything that
// locates a structure in the segment reads this copy, never the shared header again, so a
// header overwritten after attach cannot steer an access out of the mapping.
struct Geometry {
  std::uint64_t size_bytes = 0;
  std::uint64_t hash_seed = 0;
  std::uint32_t shard_count = 0, shard_bits = 0;
  std::uint32_t max_key_bytes = 0, max_value_bytes = 0;
  std::uint64_t slots_per_shard = 0, chunk_count = 0;
  std::uint64_t off_processes = 0, off_shards = 0, off_chunks = 0, off_idents = 0, off_slots = 0,
                off_dense = 0, off_arena = 0;
  std::uint64_t arena_end = 0;  // off_arena + chunk_count * kChunkBytes
  std::uint32_t home_block_bytes = 0, home_blocks_per_chunk = 0;
  std::uint64_t home_chunks_per_shard = 0, home_chunk_magic = 0;
  std::uint32_t home_class = 0;  // the size class of a home block (when home_block_bytes != 0)
  std::uint32_t index_inner_chunks = 0;  // chunks of an ordered-index inner node
  bool index_enabled = false;            // the segment keeps an ordered index
};

// Raises key_too_long (an empty key too) or value_too_large for an entry that breaks the
// segment's limits, naming `where` and both sizes.
[[noreturn]] void RaiseEntryLimits(const Geometry& g, std::size_t key_bytes,
                                   std::size_t value_bytes, const std::string& where);
// Checks an entry read from a file (a snapshot, a journal record, a backup being restored)
// against the segment's key and value limits before it is put into a shard. where() names the
// entry; it is called only for an error. Operations get the same checks, on the caller's
// arguments, in the front (api/store.cpp).
template <class Where>
void CheckEntryLimits(const Geometry& g, std::string_view key, std::string_view value,
                      Where&& where) {
  if (key.empty() || key.size() > g.max_key_bytes || value.size() > g.max_value_bytes) [[unlikely]]
    RaiseEntryLimits(g, key.size(), value.size(), where());
}

// Refuses, before any file exists, a creation that a filesystem with `space` cannot hold, given
// the bytes the creation reserves at once (docs/design.md "What a creation reserves"):
// invalid_argument when size_bytes is larger than the whole filesystem (the store could never
// fill), store_full when the reservation is larger than its free bytes; each names both byte
// counts. A size_bytes above the free bytes with a reservation below them passes: writes then
// fail with store_full once the filesystem is full (the arena's posix_fallocate), never with
// SIGBUS. A filesystem without a size limit (total 0) passes.
void CheckRoomForCreation(const Options& options, std::uint64_t reservation,
                          const os::FileSystemSpace& space);

// Where a record's block lies, as its chunk's bookkeeping says (see Segment::Block).
struct BlockSpan {
  std::uint64_t bytes = 0;  // block size: a size class, or a large record's whole span
  std::uint64_t head = 0;   // head chunk of the slab or span
};

// A record whose block and lengths were checked (Segment::Record). The key and value are read
// through the lengths copied here, never re-read from the shared header, so a writer changing
// them afterwards cannot stretch a read past the block.
struct RecordRef {
  RecordHeader* h = nullptr;
  std::uint64_t off = 0;
  std::uint32_t key_len = 0, value_len = 0;
  std::uint64_t block_bytes = 0;

  std::string_view key() const { return {reinterpret_cast<const char*>(h + 1), key_len}; }
  std::string_view value() const {
    return {reinterpret_cast<const char*>(h + 1) + key_len, value_len};
  }
  std::uint64_t expires_ms() const { return h->expires_ms.load(std::memory_order_relaxed); }
  bool Expired(std::uint64_t now_ms) const {
    const std::uint64_t e = expires_ms();
    return e != 0 && e <= now_ms;
  }
};

// The unit in which a handle backs the arena with memory (BackArena).
inline constexpr std::uint64_t kBackingGroupBytes = 256u << 10;

class Segment {
 public:
  // Called on a segment this opener built, before it is published (persistence recovery fills
  // it here): nobody else can see it yet. An exception discards the segment and leaves Open.
  using BeforePublish = std::function<void(Segment&)>;

  // Creates or attaches according to options.open_mode. Throws shmkv::Error.
  static std::unique_ptr<Segment> Open(const Options& options,
                                       const BeforePublish& before_publish = {});
  static void Destroy(const std::string& name);
  static void ValidateName(const std::string& name);
  // Wraps a mapping the caller validated (geo from CheckHeader), without registering this
  // process (read-only tools). The Segment owns fd and mapping from then on.
  static std::unique_ptr<Segment> AdoptUnregistered(std::string name, int fd, std::uint8_t* base,
                                                    std::uint64_t size, const Geometry& geo);
  // Validates a mapped segment header against itself and the file size: magic, version and
  // fingerprint (incompatible_layout), then state, every count and offset (corrupted, naming
  // the field). Returns the geometry to use from then on.
  // True for a file whose header is all zero (or shorter than a header and all zero): what a
  // creator that died between creating and writing leaves. Nothing else is ever rebuilt.
  static bool BlankHeader(const std::uint8_t* base, std::uint64_t file_size);
  static Geometry CheckHeader(const std::uint8_t* base, std::uint64_t file_size,
                              const std::string& path);

  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  const std::string& name() const { return name_; }
  int fd() const { return fd_; }
  // Which backing groups of the segment this handle has posix_fallocated (allocator.cpp,
  // BackArena). Kept in the process: what the segment says cannot lead it to touch an unbacked
  // page (SIGBUS on a full /dev/shm).
  std::vector<bool>& backed_groups() { return backed_groups_; }
  SegmentHeader* header() const { return reinterpret_cast<SegmentHeader*>(base_); }
  std::uint8_t* base() const { return base_; }
  std::uint64_t size() const { return size_; }

  const Geometry& geo() const { return geo_; }

  // --- Checked access: every index, offset and length read from the segment reaches memory
  // through one of these, which throw errc::corrupted naming the segment, the structure, the
  // field and the bad value (Corrupted). Indexes computed from the geometry need no check.
  ShardHeader* shard(std::uint32_t i) const {
    if (i >= geo_.shard_count) [[unlikely]]
      OutOfRange("shard index", i, "shard_count", geo_.shard_count);
    return At<ShardHeader>(geo_.off_shards) + i;
  }
  ChunkInfo* chunk(std::uint64_t i) const {
    if (i >= geo_.chunk_count) [[unlikely]]
      OutOfRange("chunk index", i, "chunk_count", geo_.chunk_count);
    return At<ChunkInfo>(geo_.off_chunks) + i;
  }
  // Chunk i's ident (layout.hpp, MakeIdent): who owns it, its class and span.
  std::atomic<std::uint64_t>* ident(std::uint64_t i) const {
    if (i >= geo_.chunk_count) [[unlikely]]
      OutOfRange("chunk index", i, "chunk_count", geo_.chunk_count);
    return At<std::atomic<std::uint64_t>>(geo_.off_idents) + i;
  }
  ProcessSlot* process(std::uint32_t i) const {
    return At<ProcessSlot>(geo_.off_processes) + (i % kMaxProcesses);
  }
  Slot* slots(std::uint32_t shard) const {
    return At<Slot>(geo_.off_slots) +
           std::uint64_t(shard & (geo_.shard_count - 1)) * geo_.slots_per_shard;
  }
  std::uint64_t* dense(std::uint32_t shard) const {
    return At<std::uint64_t>(geo_.off_dense) +
           std::uint64_t(shard & (geo_.shard_count - 1)) * DenseCapacity(geo_.slots_per_shard);
  }
  // The block that starts at `off` in a chunk owned by `shard`, per its chunk's ident (and its
  // head's, for a continuation chunk): the offset is inside the arena, the chunk belongs to the
  // shard with a valid class, and `off` is a block boundary of its slab or the start of its
  // span. TryBlock returns the reason it is not (nullptr if it is); Block throws corrupted,
  // naming `what` (the field the offset was read from).
  const char* TryBlock(std::uint64_t off, std::uint32_t shard, BlockSpan* out) const noexcept;
  BlockSpan Block(std::uint64_t off, std::uint32_t shard, const char* what) const;
  // The record at `off`, after checking that its block is as Block says and that its header,
  // key (1..max_key_bytes) and value (up to max_value_bytes) lie inside that block. Its key
  // and value may then be read and a value of up to the block's room written.
  const char* TryRecord(std::uint64_t off, std::uint32_t shard, RecordRef* out) const noexcept;
  // Inline, so that the RecordRef is built in registers: returned from a call, it went through
  // the stack, and reading it back stalled every locked lookup (a failed store forward).
  RecordRef Record(std::uint64_t off, std::uint32_t shard, const char* what) const {
    RecordRef r;
    if (const char* why = TryRecord(off, shard, &r)) [[unlikely]]
      BadRecord(off, shard, what, why);
    return r;
  }
  // Whether off lies in shard's home chunks (one compare; false when there are none) and, for
  // IsHomeBlock, is a block boundary there. Home chunks belong to their shard for the segment's
  // life and hold blocks of the geometry's size, so a home block is checked from the geometry
  // alone, with no chunk ident to read: TryRecord does so.
  bool InHomeChunks(std::uint64_t off, std::uint32_t shard) const noexcept {
    const std::uint64_t region = geo_.home_chunks_per_shard * kChunkBytes;
    return off - (geo_.off_arena + shard * region) < region;
  }
  bool IsHomeBlock(std::uint64_t off, std::uint32_t shard) const noexcept {
    if (!InHomeChunks(off, shard)) return false;
    const std::uint64_t within = (off - geo_.off_arena) % kChunkBytes;
    return within < std::uint64_t(geo_.home_blocks_per_chunk) * geo_.home_block_bytes &&
           IsBlockMultiple(within, geo_.home_class);
  }
  [[noreturn, gnu::cold]] void BadRecord(std::uint64_t off, std::uint32_t shard, const char* what,
                                         const char* why) const;
  // Throws errc::corrupted: "segment 'S': <what> <value> <why>".
  [[noreturn, gnu::cold]] void Corrupted(const std::string& what, std::uint64_t value,
                                         const std::string& why) const;
  // The same for "<what> <value> is not below <limit_name> <limit>" (out of line: the checks
  // that call it stay small enough to inline).
  [[noreturn, gnu::cold]] void OutOfRange(const char* what, std::uint64_t value,
                                          const char* limit_name, std::uint64_t limit) const;

  // Unchecked: for offsets computed from the geometry, or already checked.
  template <typename T>
  T* At(std::uint64_t offset) const {
    return reinterpret_cast<T*>(base_ + offset);
  }

  // Options::verify_reads of the handle that opened this mapping (process-local).
  bool verify_reads() const { return verify_reads_; }
  void set_verify_reads(bool on) { verify_reads_ = on; }

  // Frees registry slots of processes that are no longer alive (and takes their sleepers off
  // CoordHeader: grant_sleepers, key_sleepers, the key watches). Returns how many.
  std::uint32_t ReclaimDeadProcesses();
  // This handle's registry slot, or null when the registry was full.
  ProcessSlot* registry_slot() const {
    return registry_slot_ < 0 ? nullptr : process(static_cast<std::uint32_t>(registry_slot_));
  }

 private:
  Segment(std::string name, int fd, std::uint8_t* base, std::uint64_t size, const Geometry& geo);
  void Register();

  std::string name_;
  int fd_;
  std::uint8_t* base_;
  std::uint64_t size_;
  Geometry geo_;
  std::int32_t registry_slot_ = -1;
  bool verify_reads_ = false;
  std::vector<bool> backed_groups_;
};

// Inline: every read follows one record through these.
inline const char* Segment::TryBlock(std::uint64_t off, std::uint32_t shard,
                                     BlockSpan* out) const noexcept {
  if (off < geo_.off_arena || off >= geo_.arena_end) return "is outside the arena";
  if (off % 8 != 0) return "is not a block boundary";  // every class is a multiple of 8
  // The caller reads the record next: ask for it now, so that its miss overlaps the chunk
  // ident's below instead of following it (two misses in a row cost a get ~15 %).
  __builtin_prefetch(base_ + off);
  const std::atomic<std::uint64_t>* idents = At<std::atomic<std::uint64_t>>(geo_.off_idents);
  std::uint64_t head = (off - geo_.off_arena) / kChunkBytes;  // below chunk_count: off is inside
  std::uint64_t ident = idents[head].load(std::memory_order_relaxed);
  if (IdentClass(ident) == kClassContinuation) {
    const std::uint64_t distance = IdentSpan(ident);
    if (distance == 0 || distance > head) return "is in a continuation chunk with no head";
    const std::uint64_t head_ident = idents[head - distance].load(std::memory_order_relaxed);
    if (IdentClass(head_ident) == kClassContinuation || IdentSpan(head_ident) <= distance ||
        IdentOwner(head_ident) != IdentOwner(ident))
      return "is in a continuation chunk its head does not cover";
    head -= distance;
    ident = head_ident;
  }
  if (ident == 0) return "is in a free chunk";
  if (IdentOwner(ident) != shard) return "is in a chunk of another shard";
  const std::uint16_t cls = IdentClass(ident);
  const std::uint64_t span = IdentSpan(ident);
  if (span == 0 || head + span > geo_.chunk_count) return "is in a span that runs past the arena";
  const std::uint64_t within = off - (geo_.off_arena + head * kChunkBytes);
  if (cls == kClassLarge) {
    if (within != 0) return "is not the start of its span";
    out->bytes = span * kChunkBytes;
  } else if (cls < kNumClasses) {
    const ClassBounds& c = kClassBounds.c[cls];
    if (span != c.slab_chunks) return "is in a slab of the wrong length";
    if (within >= c.blocks_bytes || !IsBlockMultiple(within, cls))
      return "is not a block boundary of its slab";
    out->bytes = kSizeClasses[cls];
  } else {
    return "is in a chunk of no valid size class";
  }
  out->head = head;
  return nullptr;
}

inline const char* Segment::TryRecord(std::uint64_t off, std::uint32_t shard,
                                      RecordRef* out) const noexcept {
  std::uint64_t block_bytes = geo_.home_block_bytes;
  if (!IsHomeBlock(off, shard)) {
    BlockSpan block;
    if (const char* why = TryBlock(off, shard, &block)) return why;
    block_bytes = block.bytes;
  }
  auto* r = At<RecordHeader>(off);
  const std::uint32_t key_len = __atomic_load_n(&r->key_len, __ATOMIC_RELAXED);
  const std::uint32_t value_len = __atomic_load_n(&r->value_len, __ATOMIC_RELAXED);
  if (key_len < 1 || key_len > geo_.max_key_bytes) return "holds a key length outside 1..max_key";
  if (value_len > geo_.max_value_bytes) return "holds a value length above max_value_bytes";
  if (kRecordHeaderBytes + key_len + value_len > block_bytes)
    return "holds a key and value longer than its block";
  *out = {r, off, key_len, value_len, block_bytes};
  return nullptr;
}

}  // namespace shmkv::detail
