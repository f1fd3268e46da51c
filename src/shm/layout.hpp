// layout.hpp: every structure that lives in the shared segment, and its constants.
//
// Invariants:
// - Everything here is trivially copyable and standard layout, addressed by byte offsets from
//   the segment base (never pointers): each process maps the segment at its own address.
// - Segment map (offsets in SegmentHeader, 64-byte aligned except off_dense, which follows the
//   slots and is only 8-byte aligned; the arena is chunk aligned):
//     [SegmentHeader][ProcessSlot x kMaxProcesses][ShardHeader x shards][ChunkInfo x chunks]
//     [atomic u64 ident x chunks][Slot x slots_per_shard x shards]
//     [u64 dense x DenseCapacity(slots_per_shard) x shards][arena chunks]
//   The chunk idents (owner, class, span) are an array of their own, apart from the rest of
//   ChunkInfo: every record a reader follows is checked against its chunk's ident, and at 8
//   bytes a chunk (400 KB for a 200 MB arena, a quarter of the 32-byte ChunkInfo that held it
//   up to layout version 4) the array stays in cache far better than the chunk table.
//   With home blocks (home_block_bytes != 0) the first shards x home_chunks_per_shard arena
//   chunks are home chunks: shard s owns chunks [s * home_chunks_per_shard, (s + 1) * ...),
//   slabs of the home block's class created with the segment and never released. Block i of
//   shard s's home chunks is the home block of the shard's slot i (see shard_ref.hpp).
// - The header's config fields are written once by the creator before the segment is published
//   (link() to its final name) and never change afterwards, so reading them needs no lock.
// - Each shard's table, dense index, counters and the ChunkInfo of chunks it owns are guarded by
//   the shard's robust mutex. A chunk's ident (its owner) changes only under alloc_mutex too.
// - Home blocks only decide where a record is put: a record whose key's home slot has a free
//   home block is written there, so a reader can fetch the slot and the record at once. Any
//   record may be in any block; nothing depends on a key being in its home block.
// - Records are the source of truth: a shard's table, dense index and slab lists can be rebuilt
//   by walking the records in the chunks the shard owns (see shard.cpp, Rebuild). That is how a
//   shard is repaired after its lock holder died.
// - ShardHeader::seq is odd while a mutation of that shard is in progress. An odd seq found on
//   EOWNERDEAD means the dead holder was mid-mutation: the shard is rebuilt.
// - Every LIVE record carries a checksum of its key and value (RecordChecksum, key_hash.hpp):
//   whenever seq is even, RecordHeader::checksum matches the record's bytes. A mismatch is
//   corruption, never a state a crash leaves: the writers that rewrite a checksum apart from the
//   record's commit (in-place updates) name the record first in the ShardHeader (rehash_rec,
//   undo_rec), so Repair fixes exactly that record and no other.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace shmkv::detail {

using u8 = std::uint8_t;
using u16 = std::uint16_t;
using u32 = std::uint32_t;
using u64 = std::uint64_t;

inline constexpr u64 kMagic = 0x31474553564b4d53ull;  // "SMKVSEG1" little-endian
// 2: persistence fields; 3: home blocks; 4: checksums (SegmentHeader::config_checksum;
// RecordHeader::checksum replaces the tag, ShardHeader::rehash_rec, undo_checksum); 5: chunk
// idents in a dense array of their own (SegmentHeader::off_idents), out of ChunkInfo; 6: the
// ordered index (SegmentHeader::index, index_enabled, index_inner_chunks; kClassIndexNode); 7: the
// coordination table (SegmentHeader::coord: claims, locks, semaphore permits); 8: grant word and
// key watches in the coordination header, 128-byte process slots; 9: size classes in 8-byte
// steps from 64 to 256 bytes (ShardHeader::partial_head has one entry per class); 10: index
// nodes from the arena's end (SegmentHeader::index_alloc_top), no backing watermark; 11: 8-byte
// slots (Slot), dense arrays of DenseCapacity entries; 12: the word lock (ShardHeader::word_lock)
inline constexpr u32 kLayoutVersion = 12;
inline constexpr std::size_t kCacheLine = 64;
inline constexpr u32 kMaxProcesses = 256;
inline constexpr u64 kChunkBytes = 4096;    // arena allocation unit (a slab spans one or more)
inline constexpr u32 kUndoMax = 128;        // largest value updated in place (with undo)
inline constexpr u32 kMaxLoadPercent = 90;  // a shard refuses new keys above this load

// Slab size classes (record bytes incl. header). A slab of class c spans SlabChunks(c) chunks
// (at least 8 blocks); larger records take a span of whole chunks of their own. Steps of 8
// bytes from 64 to 256, where most keys and values of a load test fall (a 148-byte record
// takes 152 bytes, not 160), then four steps per doubling. Blocks stay 8-byte aligned.
inline constexpr u32 kSizeClasses[] = {
    32,  48,  64,   72,   80,   88,   96,   104,  112,  120,  128,  136,  144,  152,  160, 168,
    176, 184, 192,  200,  208,  216,  224,  232,  240,  248,  256,  320,  384,  448,  512, 640,
    768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192};
inline constexpr u32 kNumClasses = sizeof(kSizeClasses) / sizeof(kSizeClasses[0]);
static_assert(
    [] {
      for (u32 c : kSizeClasses)
        if (c % 8 != 0) return false;
      return true;
    }(),
    "a block must keep its record's 8-byte words aligned (Segment::TryBlock checks it)");
inline constexpr u16 kClassLarge = 0xFFFE;         // ident: head of a large record's span
inline constexpr u16 kClassContinuation = 0xFFFF;  // ident: non-head chunk of a span
inline constexpr u16 kClassIndexNode = 0xFFFD;     // ident: an ordered-index node (its head)
inline constexpr u32 kMinBlocksPerSlab = 8;

constexpr u32 SlabChunks(u32 cls) {
  u64 bytes = kSizeClasses[cls] * u64(kMinBlocksPerSlab);
  return static_cast<u32>((bytes < kChunkBytes ? kChunkBytes : bytes + kChunkBytes - 1) /
                          kChunkBytes);
}
constexpr u32 BlocksPerSlab(u32 cls) {
  return static_cast<u32>(SlabChunks(cls) * kChunkBytes / kSizeClasses[cls]);
}
// Per class, computed at compile time so that the check on every record a reader follows
// (Segment::TryBlock) costs no division: the bytes of a slab's blocks, and the rounded-up
// reciprocal of the block size, with which `offset * r <= r - 1` tells whether an offset below
// 2^32 is a multiple of it (Lemire, "Faster remainder by direct computation", 2019).
struct ClassBounds {
  u32 slab_chunks;
  u32 blocks_bytes;  // BlocksPerSlab * block size: the end of the last block in the slab
  u64 reciprocal;
};
inline constexpr auto kClassBounds = [] {
  struct {
    ClassBounds c[kNumClasses];
  } t{};
  for (u32 i = 0; i < kNumClasses; ++i)
    t.c[i] = {SlabChunks(i), BlocksPerSlab(i) * kSizeClasses[i], ~0ull / kSizeClasses[i] + 1};
  return t;
}();
constexpr bool IsBlockMultiple(u64 offset, u32 cls) {
  const u64 r = kClassBounds.c[cls].reciprocal;
  return offset * r <= r - 1;
}
static_assert(IsBlockMultiple(160 * 7, 14) && !IsBlockMultiple(160 * 7 + 16, 14) &&
                  kSizeClasses[14] == 160,
              "the reciprocal test must agree with the remainder");

enum class SegmentState : u32 { creating = 0, ready = 1 };

// The ordered index's state word. off: the segment keeps no index (Options::ordered_index
// false). valid: the tree holds exactly the records of every shard's table. stale: it may not
// (a lock holder died, an index node was found damaged, or a node could not be allocated):
// writers leave it alone, readers rebuild it from the records before using it.
enum class IndexState : u32 { off = 0, valid = 1, stale = 2 };

// The ordered index's root and bookkeeping, in the segment header. Everything but `state` and
// `ttl_records` is guarded by `mutex` (robust; lock order: shard -> index -> alloc).
struct alignas(kCacheLine) IndexHeader {
  pthread_mutex_t mutex;
  std::atomic<u32> state;  // IndexState; set to stale without the lock (any shard repair)
  u32 height;              // levels: 0 = empty, 1 = the root is a leaf
  u64 root;                // segment offset of the root node, 0 = empty
  u64 entries;             // records indexed
  u64 nodes;               // arena chunks held by index nodes
  u64 rebuilds;            // rebuilds from the records, since creation
  u64 last_rebuild_us;     // how long the last one took
  u64 last_rebuild_keys;   // and how many records it indexed
  // Nodes allocated ahead of need (counted in `nodes`), so that an insert knows before it
  // changes anything that its splits will find room: one leaf, and an inner node per level
  // plus one for a new root (at most kIndexSpareInner).
  u32 spare_leaf_count, spare_inner_count;
  u64 spare_leaf;
  u64 spare_inner[8];
  // Records with an expiry, over all shards (each shard's ttl_count summed): count() skips the
  // walk over its range for expired keys when this is zero. Changed with atomic adds by the
  // shards' writers under their own locks; recomputed by a rebuild.
  alignas(kCacheLine) std::atomic<u64> ttl_records;
};

// An ordered-index node: whole arena chunks (a leaf one chunk, an inner node
// Geometry::index_inner_chunks), owned by IndexOwner with class kClassIndexNode in the head
// chunk's ident. The header is followed by `count` entries: LeafEntry in a leaf, InnerEntry in an
// inner node, whose separators lie at the node's end (key_off, key_len; holes left by children
// dropped in place stay until the node is rewritten). Every key below
// a node starts with its `prefix`; a partial is the 8 key bytes after it, big-endian, zero
// padded (docs/design.md "Ordered index").
inline constexpr u32 kIndexLeafMagic = 0x464c5849;   // "IXLF"
inline constexpr u32 kIndexInnerMagic = 0x4e495849;  // "IXIN"
inline constexpr u32 kIndexMaxPrefix = 32;
struct IndexNodeHeader {
  u32 magic;
  u32 count;
  u32 prefix_len;
  u32 pad;
  u64 next, prev;  // leaf chain, 0 = none
  u8 prefix[kIndexMaxPrefix];
};
struct IndexLeafEntry {
  u64 partial;
  u64 rec;  // the record's segment offset
};
struct IndexInnerEntry {
  u64 child;    // the child node's segment offset
  u64 count;    // entries in the child's subtree
  u64 partial;  // separator bytes [prefix_len, prefix_len + 8)
  u32 key_off;  // the separator's bytes, from the node's start (none for entry 0)
  u32 key_len;
};
static_assert(sizeof(IndexNodeHeader) == 64 && sizeof(IndexLeafEntry) == 16 &&
              sizeof(IndexInnerEntry) == 32);

// Record states, in the low 2 bits of RecordHeader::state_lsn.
enum RecordState : u64 { kFree = 0, kPending = 1, kLive = 2, kDead = 3 };

// --- Coordination (shm/coordination.hpp; docs/design.md "Coordination"): claims on keys, named
// locks and semaphore permits, each one entry of a fixed table in the segment header, held by a
// process (pid and start time) until it gives it back, its lease runs out or it dies.
inline constexpr u32 kCoordSlots = 2048;                   // entries (a power of two)
inline constexpr u32 kCoordMaxHeld = kCoordSlots / 8 * 7;  // the most held at once: short probes
inline constexpr u32 kCoordNameHead = 8;  // name bytes kept for info and shmkv-inspect
// claim, lock, permit: a grant held by a process. barrier: a barrier's state (no holder, never
// lapses; aux = generation | broken generation << 32). arrival: a process waiting at a barrier
// (aux = the generation it arrived in).
enum class CoordKind : u16 { claim = 1, lock = 2, permit = 3, barrier = 4, arrival = 5 };
struct CoordEntry {
  // 0 = free. The fencing token of the grant, unique in the store: written last when an entry
  // is made (release), so a half-made entry is free; a moved entry is written at its new
  // position before it is cleared at the old one (a crash between leaves a duplicate, which the
  // repair drops).
  std::atomic<u64> token;
  u64 id_lo, id_hi;  // XXH3-128 of (kind, name) with the store's hash seed: the identity
  u64 holder_start;  // the holder's start time (/proc/PID/stat field 22)
  u64 deadline_ms;   // CLOCK_MONOTONIC ms when the lease runs out; 0 = no lease
  u64 aux;           // barrier and arrival: see CoordKind
  u32 holder_pid;    // 0 = no holder (a barrier's state)
  u16 kind;          // CoordKind
  u16 name_len;      // the name's length (at most 65535 shown)
  char name_head[kCoordNameHead];  // its first bytes, for display only
};
// What sleepers in wait_for and pop_random_wait wait for: a key prefix (wait_for's key is the
// prefix of itself and of longer keys), kept as its first kKeyWatchBytes bytes (a longer one is
// cut: more wake-ups for it, never fewer), with a futex word of its own. An insert moves only the
// words of the watches its key starts with. A watch with no sleepers is free, and is reused
// under the coordination lock; the last one is kept for the empty prefix, which every key
// matches, and takes the sleepers of any prefix when the others are all in use. Every field is
// an atomic: inserts read watches without a lock while a sleeper may be setting one up.
inline constexpr u32 kKeyWatches = 32;
inline constexpr u32 kKeyWatchBytes = 24;
inline constexpr u32 kEveryKeyWatch = kKeyWatches - 1;
struct KeyWatch {
  std::atomic<u32> word;      // futex word of its sleepers
  std::atomic<u32> sleepers;  // 0 = free
  std::atomic<u32> len;       // prefix bytes kept, at most kKeyWatchBytes
  u32 pad;
  std::atomic<u64> bytes[kKeyWatchBytes / 8];  // the prefix, zero-padded, 8 bytes a word
};
struct CoordHeader {
  // Guards the table and next_token. Lock order: shard -> coord; nothing is locked under it.
  alignas(kCacheLine) pthread_mutex_t mutex;
  std::atomic<u64> seq;   // odd while the table is being changed (a dead holder: repair)
  u64 next_token;         // the last token handed out
  std::atomic<u32> used;  // entries in use: pop_random's one-load check for claims
  u32 pad;
  u64 recoveries;  // repairs after a holder of the mutex died
  // Sleepers in lock, acquire and barrier wait on grant_word, moved when something held is
  // given back (or a holder is found dead) or a barrier moves; grant_sleepers counts them.
  alignas(kCacheLine) std::atomic<u32> grant_word;
  std::atomic<u32> grant_sleepers;
  // Sleepers in wait_for and pop_random_wait wait on a key watch's word; key_sleepers counts
  // them all, so that an insert with none pays one load and a branch (Shard::Insert). A watch's
  // word also moves when a claim is given back (pop_random skips claimed keys).
  alignas(kCacheLine) std::atomic<u32> key_sleepers;
  alignas(kCacheLine) KeyWatch key_watches[kKeyWatches];
  alignas(kCacheLine) CoordEntry entries[kCoordSlots];
};
static_assert(sizeof(CoordEntry) == 64, "one coordination entry per cache line");
static_assert(sizeof(KeyWatch) == 40);
static_assert((kCoordSlots & (kCoordSlots - 1)) == 0, "kCoordSlots is a power of two");

struct SegmentHeader {
  u64 magic;
  u32 layout_version;
  std::atomic<u32> state;  // SegmentState; ready is stored (release) last by the creator
  u64 fingerprint;         // LayoutFingerprint() of the creating build
  u64 size_bytes;
  u64 created_unix_ms;
  u64 hash_seed;
  u32 shard_count;  // power of two
  u32 shard_bits;   // log2(shard_count)
  u32 max_key_bytes;
  u32 max_value_bytes;
  u64 slots_per_shard;
  u64 chunk_count;
  u64 off_processes, off_shards, off_chunks, off_idents, off_slots, off_dense, off_arena;
  u32 home_block_bytes;       // 0 = no home blocks, else a size class of at most one chunk
  u32 home_blocks_per_chunk;  // kChunkBytes / home_block_bytes
  u64 home_chunks_per_shard;  // enough chunks for slots_per_shard home blocks
  u64 home_chunk_magic;       // ~0 / home_blocks_per_chunk + 1: divides by a multiplication
  u32 index_enabled;          // 1 = the ordered index is kept (Options::ordered_index)
  u32 index_inner_chunks;     // chunks of an inner index node (IndexInnerChunks(max_key_bytes))
  char name[208];
  // XXH3-64 of the configuration above and of the persistence configuration below (see
  // ConfigChecksum), written when the segment is sealed, before publication: a configuration
  // word changed afterwards (a hash seed, a key limit, the persistence directory) is refused
  // at attach instead of being believed.
  u64 config_checksum;

  // Global chunk allocator: guards the ident of every chunk. Taken after a shard lock,
  // never before one (lock order: shard -> alloc).
  alignas(kCacheLine) pthread_mutex_t alloc_mutex;
  u64 alloc_hint;        // chunk index where the next search for record chunks starts
  u64 chunks_in_use;     // chunks with a non-zero ident
  u64 alloc_recoveries;  // times alloc_mutex was repaired after its holder died
  // Ordered-index nodes are taken from the arena's end downward, away from the record slabs
  // that grow from its start: a node freed among slabs would leave a one-chunk hole that no
  // multi-chunk slab can use (allocator.cpp, AllocChunks).
  u64 index_alloc_top;  // the next downward search starts at chunk index_alloc_top - 1;
                        // 0 = at the last chunk

  // --- Persistence (persistence.cpp; docs/design.md "Persistence"). Configuration: written by
  // the creator (the recoverer) before publication, never changed (covered by
  // config_checksum); all zero = memory only.
  u32 persist_enabled;
  u32 persist_fsync;  // FsyncPolicy of attachers that pass no PersistenceOptions
  u64 persist_snapshot_interval_ms;
  u64 persist_fsync_interval_ms;
  u32 persist_keep_snapshots;
  u32 persist_pad;
  char persist_dir[1024];  // absolute directory path, NUL-terminated

  // Next journal sequence number. fetch_add'ed while holding the key's shard lock, so the order
  // of a shard's journal records is its order of mutations. Alone on its cache line: every
  // journaled write bounces it between cores.
  alignas(kCacheLine) std::atomic<u64> journal_seq;

  // Snapshot election: read by every journaled write, written once per snapshot.
  alignas(kCacheLine) std::atomic<u64> snapshot_due_ms;  // CLOCK_MONOTONIC ms of the next one
  std::atomic<u64> snapshot_lease;  // 0 = free, else pid << 32 | deadline (CLOCK_MONOTONIC s)
  std::atomic<u64> snapshot_gen;    // +1 per completed snapshot: writers rotate their journals
  std::atomic<u64> last_snapshot_seq;
  std::atomic<u64> last_snapshot_unix_ms;
  std::atomic<u64> backup_lease;  // as snapshot_lease; held by a running backup or restore

  // --- Ordered index (shm/ordered_index.hpp; docs/design.md "Ordered index").
  IndexHeader index;

  // --- Coordination table (shm/coordination.hpp).
  CoordHeader coord;
};

// One attached process. pid_word: 0 = free, kReclaiming while a dead process's slot is being
// freed, else the pid. Claimed with a CAS from 0.
inline constexpr u64 kReclaiming = ~0ull;
struct alignas(kCacheLine) ProcessSlot {
  std::atomic<u64> pid_word;
  std::atomic<u64> start_time;  // /proc/PID/stat field 22, to tell a reused pid apart
  std::atomic<u64> attached_unix_ms;
  // This registration's sleepers, also counted in CoordHeader (grant_sleepers; key_sleepers and
  // each key watch's sleepers): when the process is found dead, its counts are taken back from
  // there (ReclaimDeadProcesses), so a waiter killed while it slept leaves no wake-ups for
  // writers to pay, and its key watches free.
  std::atomic<u32> grant_waiting;
  std::atomic<u16> key_waiting[kKeyWatches];
};

struct alignas(kCacheLine) ShardHeader {
  pthread_mutex_t mutex;  // robust, process-shared; guards everything of this shard (as does
                          // word_lock, below, for one increment in place)
  std::atomic<u64> seq;   // odd while a mutation is in progress; bumped twice per mutation
  // The record whose value word and checksum are being rewritten by a one-word update
  // (Replace's word path, IncrementInWord), 0 = none. Set (one store) before the value word,
  // cleared after the checksum: Repair recomputes that record's checksum, since a crash
  // between the two stores leaves a new value under the old checksum. On the mutex's line,
  // which the counter hot path touches anyway.
  u64 rehash_rec;
  // The word lock (word_lock.hpp): 0, or the token of a process changing the shard without
  // the mutex (an in-place increment); a mutex holder waits for 0. On the mutex's line too.
  std::atomic<u64> word_lock;

  alignas(kCacheLine) std::atomic<u64> count;  // records in the table (expired ones included)
  u64 ttl_count;                               // records in the table with an expiry
  u64 used_bytes;                              // bytes of blocks holding LIVE records
  u64 chunk_count;                             // chunks owned (span chunks included)
  u32 max_psl;         // upper bound of every slot's probe distance since the last rebuild
  u32 reclaim_cursor;  // dense position where the next lazy TTL reclaim looks
  u32 partial_head[kNumClasses];  // per class: 1 + chunk index of a slab with free blocks

  // Undo record of an in-place value update (see shard.cpp); undo_rec == 0 means none.
  u64 undo_rec;
  u64 undo_state_lsn;
  u64 undo_expires_ms;
  u32 undo_value_len;
  u32 undo_checksum;  // the record's checksum before the update
  u8 undo_bytes[kUndoMax];

  // Operation counters. sets, deletes, cas_*, lock_waits and recoveries change under the
  // mutex; gets, hits and misses do not: lock-free reads count per process and add their counts
  // here with atomic adds every 256 reads and at close (ShmEngine::FlushReads).
  u64 gets, hits, misses, sets, deletes, cas_success, cas_failure, lock_waits, recoveries;
};

// The slab bookkeeping of one 4 KiB arena chunk, meaningful in a slab's head chunk only (24
// bytes). Who owns the chunk is its ident, in the dense array at off_idents (see MakeIdent).
struct ChunkInfo {
  u32 used;       // slab: blocks holding a non-free record
  u32 free_head;  // slab: 1 + index of the first free block (free blocks link through rec+8)
  u32 carved;     // slab: blocks [0, carved) have a valid state word; the rest are untouched
  u32 next;       // slab: 1 + chunk index of the next slab in the shard's partial list
  u32 prev;       // slab: 1 + chunk index of the previous one
  u32 pad;        // keeps the size a multiple of 8
};

// A chunk's ident: one std::atomic<u64> per chunk in the array at SegmentHeader::off_idents,
// entry i for arena chunk i. 0 = free. Else: bits 0..31 owner shard + 1, bits 32..47 size class
// index (or kClassLarge / kClassContinuation), bits 48..63 span length in chunks (heads) or
// distance back to the head (continuations).
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

// Hash table slot: one 8-byte word, so that a cache line holds eight and a lock-free reader
// loads a slot whole (a torn slot cannot be read). 0 = empty. Bits 0..39: the record's offset in
// 8-byte units (blocks are 8-byte aligned; kMaxSegmentBytes keeps every offset in range); bits
// 40..51: the key's tag (hash bits 32..43, KeyHash::tag); bits 52..63: the probe distance from
// the home slot (at most kMaxProbe: a key that would push one further is refused, store_full).
struct Slot {
  u64 word;
  u64 rec() const { return (word & ((u64(1) << 40) - 1)) << 3; }
  u32 tag() const { return static_cast<u32>(word >> 40) & 0xfff; }
  u32 psl() const { return static_cast<u32>(word >> 52); }
  static Slot Make(u64 rec, u32 tag, u32 psl) {
    return {(rec >> 3) | (u64(tag & 0xfff) << 40) | (u64(psl) << 52)};
  }
};
inline constexpr u32 kMaxProbe = 0xfff;
inline constexpr u64 kMaxSegmentBytes = u64(1) << 43;  // 8 TiB: offsets fit a slot's 40 bits

// Entries of a shard's dense array: one per key the table may hold (kMaxLoadPercent of its slots).
constexpr u64 DenseCapacity(u64 slots_per_shard) {
  return slots_per_shard * kMaxLoadPercent / 100;
}

// Header of a record block; key bytes then value bytes follow.
struct RecordHeader {
  std::atomic<u64> state_lsn;  // RecordState in bits 0..1, shard seq of the last write above
  u32 key_len;
  u32 value_len;
  std::atomic<u64> expires_ms;  // unix ms; 0 = never (not covered by the checksum)
  u32 dense_pos;                // index of this record in the shard's dense array
  // RecordChecksum(key hash, value): covers the key bytes and key_len (through the key's
  // hash) and the value bytes and value_len. Not covered: state_lsn (the commit word),
  // expires_ms (SetExpiry stays one store) and dense_pos (check_invariants checks it against
  // the dense index). Replaced the key's tag (a copy of the slot's, recomputable from the key).
  u32 checksum;
};

inline constexpr u64 kRecordHeaderBytes = sizeof(RecordHeader);

template <typename T>
constexpr bool kShareable = std::is_trivially_copyable_v<T>&& std::is_standard_layout_v<T>;
static_assert(kShareable<ProcessSlot> && kShareable<ChunkInfo> && kShareable<Slot>,
              "shared structs must be trivially copyable and standard layout");
static_assert(std::is_standard_layout_v<SegmentHeader> && std::is_standard_layout_v<ShardHeader> &&
                  std::is_standard_layout_v<IndexHeader>,
              "shared headers must be standard layout (they hold pthread mutexes)");
static_assert(
    std::atomic<u64>::is_always_lock_free && std::atomic<u32>::is_always_lock_free,
    "atomics in shared memory must be lock free, or they are not atomic across processes");
static_assert(sizeof(std::atomic<u64>) == 8, "atomic<u64> must be a plain 8-byte word");
static_assert(sizeof(Slot) == 8, "eight slots per cache line");
static_assert(sizeof(RecordHeader) == 32 && sizeof(ChunkInfo) == 24, "fixed record/chunk headers");
static_assert(offsetof(ShardHeader, word_lock) + 8 <= kCacheLine,
              "rehash_rec and word_lock share the mutex's cache line (the counter hot path writes "
              "them)");
static_assert(kChunkBytes % 4096 == 0 && BlocksPerSlab(kNumClasses - 1) >= kMinBlocksPerSlab,
              "chunks are whole pages; a slab holds at least kMinBlocksPerSlab blocks");

// A hash of everything that must agree between two builds sharing a segment.
constexpr u64 LayoutFingerprint() {
  u64 h = 1469598103934665603ull;
  auto mix = [&h](u64 v) { h = (h ^ v) * 1099511628211ull; };
  mix(sizeof(SegmentHeader));
  mix(sizeof(ShardHeader));
  mix(sizeof(ProcessSlot));
  mix(sizeof(ChunkInfo));
  mix(sizeof(Slot));
  mix(sizeof(RecordHeader));
  mix(sizeof(pthread_mutex_t));
  mix(sizeof(void*));
  mix(kCacheLine);
  mix(kChunkBytes);
  mix(kUndoMax);
  mix(kMaxProcesses);
  mix(kNumClasses);
  mix(kCoordSlots);
  mix(sizeof(CoordEntry));
  for (u32 c : kSizeClasses) mix(c);
  return h;
}

}  // namespace shmkv::detail
