// shard.hpp: one shard's robin-hood table, dense key index and records (internal).
//
// Invariants (all under the shard mutex, or under the shard's word lock for an increment in place,
// IncrementUnderWordLock: the two exclude each other, see word_lock.hpp):
// - Table: open addressing with linear probing and robin-hood ordering; deletion shifts the
//   following run back (no tombstones). A slot's psl is its distance from the key's home bucket;
//   an occupied slot at psl p > 0 follows an occupied slot at psl >= p - 1.
// - Every LIVE record of the shard is referenced by exactly one slot and sits at
//   dense[rec.dense_pos]; dense[0, count) holds exactly the records in the table.
// - A mutation brackets its writes with BeginWrite()/EndWrite(): seq is odd in between. Record
//   bytes are written before the record is committed (state kLive, one 8-byte store); an
//   overwrite writes a new record and retires the old one, except small values updated in place
//   under an undo record, and same-length values inside one aligned 8-byte word, written by one
//   atomic store. So a holder killed at any instruction leaves records from which Repair()
//   rebuilds the exact old or new state of the key it was changing.
// - Checksums: a record's checksum (RecordChecksum: its key's hash and its value) is written
//   before the record is committed; an in-place update saves the old one in the undo record;
//   a one-word update names the record in ShardHeader::rehash_rec before its value word and
//   clears it after the new checksum, so Repair recomputes that one checksum. Repair never
//   recomputes any other: a mismatch outside those windows is corruption and stays visible to
//   CheckInvariants (and to reads, when Options::verify_reads).
#pragma once

#include <pthread.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shm/key_hash.hpp"
#include "shm/ordered_index.hpp"
#include "shm/robust_mutex.hpp"
#include "shm/shard_ref.hpp"
#include "shm/word_lock.hpp"

namespace shmkv::detail {

inline constexpr std::uint64_t kNotFound = ~0ull;

struct KeyHash {
  std::uint64_t hash;
  // Hash bits 32..43, kept in the slot (Slot::tag): below the shard's bits (48..63 at most), so
  // the keys of one shard do not share them.
  std::uint32_t tag() const { return static_cast<std::uint32_t>(hash >> 32) & 0xfff; }
};

// The key's home slot in a table of `cap` slots: its low 32 hash bits scaled to the table (the
// shard comes from the top bits, so the two are independent).
inline std::uint64_t HomeSlot(KeyHash h, std::uint64_t cap) {
  return (std::uint64_t(std::uint32_t(h.hash)) * cap) >> 32;
}

// A value about to be written, with its record checksum (RecordChecksum under its key's hash).
// Writers make it before they look the key up: the hash then runs while the slot and record
// misses are outstanding, instead of after them.
struct NewValue {
  NewValue(KeyHash h, std::string_view v)
      : bytes(v), checksum(RecordChecksum(h.hash, v.data(), v.size())) {}
  std::string_view bytes;
  std::uint32_t checksum;
};

class ShardLock;

class Shard {
 public:
  explicit Shard(const ShardRef& ref) : s_(ref) {}

  // Slot index holding `key`, or kNotFound (expired records are found too). A slot with the
  // key's tag must lead into the arena, with room for the header and the key, or this throws
  // corrupted; the record returned was checked in full (Segment::Record) and is copied to *rec.
  std::uint64_t Find(std::string_view key, KeyHash h, RecordRef* rec) const {
    const Geometry& g = s_.seg->geo();
    const std::uint8_t* base = s_.seg->base();
    std::uint64_t idx = Home(h);
    const std::uint32_t tag = h.tag();
    for (std::uint64_t d = 0; d < s_.cap; ++d) {
      const Slot slot = s_.slots[idx];
      if (slot.word == 0 || slot.psl() < d) return kNotFound;
      if (slot.tag() == tag) {
        const std::uint64_t off = slot.rec();
        if (off < g.off_arena || off >= g.arena_end ||
            g.arena_end - off < kRecordHeaderBytes + key.size()) [[unlikely]]
          *rec = s_.Record(off, "slot record");  // throws: names the offset and why
        // The check of a match reads the record's chunk ident, unless the record is in a home
        // chunk (Segment::IsHomeBlock): ask for the ident with the record.
        if (!s_.seg->InHomeChunks(off, s_.index))
          __builtin_prefetch(s_.seg->At<std::atomic<std::uint64_t>>(g.off_idents) +
                             (off - g.off_arena) / kChunkBytes);
        const auto* r = reinterpret_cast<const RecordHeader*>(base + off);
        if (r->key_len == key.size() && KeyBytesEqual(r + 1, key)) {
          *rec = s_.Record(off, "slot record");
          return idx;
        }
      }
      if (++idx == s_.cap) idx = 0;
    }
    return kNotFound;
  }
  std::uint64_t Find(std::string_view key, KeyHash h) const {
    RecordRef unused;
    return Find(key, h, &unused);
  }
  // The record in occupied slot `slot` (checked).
  RecordRef RecordAt(std::uint64_t slot) const {
    return s_.Record(s_.slots[slot % s_.cap].rec(), "slot record");
  }

  // The mutations below require BeginWrite() first. They throw store_full before changing
  // anything when there is no room.
  void BeginWrite() {
    std::uint64_t s = s_.h->seq.load(std::memory_order_relaxed);
    s_.h->seq.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
  }
  void EndWrite() {
    std::uint64_t s = s_.h->seq.load(std::memory_order_relaxed);
    s_.h->seq.store(s + 1, std::memory_order_release);
  }
  // Inserts a key known to be absent; value was made with the key's hash h.
  void Insert(std::string_view key, KeyHash h, const NewValue& value, std::uint64_t expires_ms);
  // Replaces the value (and expiry) of the record in `slot`; `old` is that record, as Find or
  // RecordAt returned it, and value was made with its key's hash.
  void Replace(std::uint64_t slot, const RecordRef& old, const NewValue& value,
               std::uint64_t expires_ms);
  // Adds delta to the value of `rec` (key hash h) if it is 1..8 unsigned ASCII digits inside
  // one aligned 8-byte word and the sum has as many digits, with one atomic store of the word
  // and one of the checksum (as Replace's one-word case: a crash leaves the old or the new
  // value, and Repair recomputes the checksum). Otherwise returns false, changing nothing.
  bool IncrementInWord(const RecordRef& rec, KeyHash h, std::int64_t delta, std::int64_t* result);
  // IncrementInWord on the live record of key, under the shard's word lock instead of its mutex
  // (word_lock.hpp; no BeginWrite first). Returns false, having changed nothing, when another
  // process holds the word lock or the mutex, seq is odd (a dead writer's work is left: the locked
  // path repairs it), the key is absent or expired, or its value does not fit in place; the
  // caller then takes the locked path. Throws corrupted as Find does (releasing the word lock).
  bool IncrementUnderWordLock(std::string_view key, KeyHash h, std::int64_t delta,
                              std::int64_t* result);
  // Inserts key, or replaces its value and expiry when present (expired or not). The one way
  // an entry enters a shard: the engine's writes, recovery (snapshot entries and journal
  // records) and restore all come through here, after checking the entry against the limits
  // (the front for operations, CheckEntryLimits for what is read from a file).
  void Put(std::string_view key, KeyHash h, std::string_view value, std::uint64_t expires_ms);
  // Removes the record in `slot` (`rec`, as Find or RecordAt returned it).
  void Erase(std::uint64_t slot, const RecordRef& rec);
  // Removes key if present (expired or not); returns whether it was.
  bool EraseKey(std::string_view key, KeyHash h);
  // The slot of the record `rec` found in the dense index (LiveAt): its key's slot, which must
  // lead back to it, or corrupted.
  std::uint64_t SlotOf(const RecordRef& rec) const;
  // Sets the expiry of record `rec` (one 8-byte store).
  void SetExpiry(const RecordRef& rec, std::uint64_t expires_ms);
  // Removes every record of the shard and returns its chunks to the pool.
  void Clear();
  // Erases up to `budget` expired records near the reclaim cursor. Returns how many.
  std::uint32_t ReclaimExpired(std::uint64_t now_ms, std::uint32_t budget);

  // Records in the table: dense[0, count()) (checked against the dense array's capacity).
  std::uint64_t count() const {
    const std::uint64_t n = s_.h->count.load(std::memory_order_relaxed);
    if (n > s_.dense_cap) [[unlikely]]
      s_.seg->OutOfRange("shard count", n, "its dense array's entries + 1,", s_.dense_cap + 1);
    return n;
  }
  // The record at dense position i < count() (checked).
  RecordRef LiveAt(std::uint64_t i) const {
    return s_.Record(s_.dense[i % s_.dense_cap], "dense record");
  }
  ShardHeader* header() const { return s_.h; }

  // Whether rec's stored checksum matches its key (whose hash is h) and value.
  static bool ChecksumMatches(const RecordRef& rec, KeyHash h) {
    return rec.h->checksum == RecordChecksum(h.hash, rec.value().data(), rec.value_len);
  }
  // Throws errc::corrupted, naming the shard, the key and the offset, unless it matches.
  void VerifyChecksum(const RecordRef& rec, KeyHash h) const {
    if (!ChecksumMatches(rec, h)) [[unlikely]]
      RaiseChecksum(rec, h);
  }
  void VerifyChecksum(const RecordRef& rec) const { VerifyChecksum(rec, Hash(rec.key())); }
  // Options::verify_reads of this process's handle: readers verify what they return.
  bool verify_reads() const { return s_.seg->verify_reads(); }
  const ShardRef& ref() const { return s_; }

  // Brings a shard whose lock holder died (or left seq odd) back to a consistent state.
  void Repair(bool owner_died);
  // Appends one line per violated invariant.
  void CheckInvariants(std::vector<std::string>* out) const;

  KeyHash Hash(std::string_view key) const;

 private:
  std::uint64_t Home(KeyHash h) const { return HomeSlot(h, s_.cap); }
  // A committed record of key and value in a home block of slot `home` if one is free, else
  // in a slab or span.
  std::uint64_t NewRecord(std::string_view key, const NewValue& value, std::uint64_t expires_ms,
                          std::uint64_t home);
  // The longest probe distance that inserting a key whose home is `home` would leave (~0u
  // when no slot is empty): above kMaxProbe, the key is refused before anything changes.
  std::uint32_t ProbeAfterInsert(std::uint64_t home) const;
  void TableInsert(std::uint64_t rec_off, std::uint32_t tag, std::uint64_t home);
  void DenseAppend(std::uint64_t rec_off);
  // rec's position in the dense index, after checking that it leads back to rec.
  std::uint32_t CheckedDensePos(const RecordRef& rec) const;
  void DenseRemove(std::uint32_t pos);
  void Rebuild();
  OrderedIndex Index() const { return OrderedIndex(s_.seg); }
  // Adds delta to the shard's records with an expiry, and to the index's count of them.
  void AddTtlRecords(int delta) {
    s_.h->ttl_count += static_cast<std::uint64_t>(static_cast<std::int64_t>(delta));
    if (delta != 0) Index().AddTtlRecords(delta);
  }
  [[noreturn, gnu::cold]] void RaiseChecksum(const RecordRef& rec, KeyHash h) const;

  ShardRef s_;
};

// Lock-free lookup (seqlock reader): copies the value of `key` without taking the shard mutex,
// looking first in the key's home blocks and then through the table, validating every offset
// and length it follows against the segment's bounds, and accepts the
// result only if the shard's seq was even and unchanged around the read. With
// Segment::verify_reads it then checks the record's checksum against the bytes it copied: a
// mismatch under an even, unchanged seq is real corruption, and it returns false so that the
// locked path raises it. Returns false when it
// could not get a consistent read in a few attempts (a writer kept the shard busy, or died
// mid-write leaving seq odd): the caller then takes the lock, which also repairs. On true,
// *found tells whether the key was present and unexpired; the value is in *value.
bool OptimisticGet(const ShardRef& s, std::string_view key, KeyHash h, std::string* value,
                   bool* found);

// The value of a record reached through the ordered index (whose lock keeps the record from
// being freed, not from being rewritten in place), copied as OptimisticGet copies one: inside an
// even, unchanged window of the shard's seq, its length checked against the record's block.
// False when a writer kept the shard busy or the length does not fit: the caller then reads
// through the shard lock, which gives the verdict on damage.
bool OptimisticValue(const ShardRef& s, const RecordRef& rec, std::string* value);

// Cache hints for batched reads; no correctness role (the reads that follow validate
// everything). PrefetchSlots asks for the home slot's cache lines; PrefetchRecord reads the
// first slots from home without synchronisation and asks for the record of the first tag
// match, if its offset is inside the arena.
void PrefetchSlots(const ShardRef& s, KeyHash h);

// A prefetch the compiler keeps. GCC treats __builtin_prefetch as free of side effects, so it
// deems an inline function made only of prefetches pure and deletes calls to it.
inline void PrefetchLine(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p);
#endif
}

// Asks for the first three and the last cache line of a block (blocks are not line aligned).
inline void PrefetchBlock(const std::uint8_t* block, std::uint32_t bytes) {
  PrefetchLine(block);
  if (bytes > kCacheLine) PrefetchLine(block + kCacheLine);
  if (bytes > 2 * kCacheLine) PrefetchLine(block + 2 * kCacheLine);
  PrefetchLine(block + bytes - 1);
}

// Asks for the two home blocks a record of h's key may be in (no-op without home blocks): when
// it is in one, the record arrives with the slot instead of after it.
inline void PrefetchHomeBlocks(const ShardRef& s, KeyHash h) {
  if (s.home_off == 0) return;
  const std::uint64_t home = HomeSlot(h, s.cap);
  PrefetchBlock(s.seg->base() + s.HomeBlock(home), s.home_block_bytes);
  if (const std::uint64_t buddy = home ^ 1; buddy < s.cap)
    PrefetchBlock(s.seg->base() + s.HomeBlock(buddy), s.home_block_bytes);
}
void PrefetchRecord(const ShardRef& s, KeyHash h);

// Holds a shard's robust mutex; repairs the shard first when the previous holder died.
class ShardLock {
 public:
  ShardLock(Segment* seg, std::uint32_t index) : shard_(ShardRef::Of(seg, index)) { Lock(); }
  // The same, for an operation on one key: asks for the key's slot and home blocks first (unless
  // prefetch is null), so that their cache misses overlap taking the lock.
  ShardLock(Segment* seg, std::uint32_t index, const KeyHash* prefetch)
      : shard_(ShardRef::Of(seg, index)) {
    if (prefetch) PrefetchSlots(shard_.ref(), *prefetch);
    Lock();
  }
  ~ShardLock() { UnlockRobust(&shard_.header()->mutex); }
  ShardLock(const ShardLock&) = delete;
  ShardLock& operator=(const ShardLock&) = delete;
  Shard& shard() { return shard_; }

 private:
  // The uncontended, healthy case inline; contention, a dead holder or an odd seq go to LockSlow.
  void Lock() {
    ShardHeader* h = shard_.header();
    CheckRobustKind(&h->mutex, LockName{shard_.ref().seg->name(), "shard", shard_.ref().index});
    int rc = pthread_mutex_trylock(&h->mutex);
    FenceAfterMutexAcquired();  // then the word lock: see word_lock.hpp
    if (rc != 0 || h->word_lock.load(std::memory_order_acquire) != 0 ||
        (h->seq.load(std::memory_order_relaxed) & 1))
      LockSlow(rc);
  }
  void LockSlow(int first);
  Shard shard_;
};

// Brackets a mutation of a locked shard (seq odd inside).
class WriteScope {
 public:
  explicit WriteScope(detail::Shard& s) : s_(s) { s_.BeginWrite(); }
  ~WriteScope() { s_.EndWrite(); }
  WriteScope(const WriteScope&) = delete;
  WriteScope& operator=(const WriteScope&) = delete;

 private:
  detail::Shard& s_;
};

inline std::uint32_t ShardOf(const Geometry& g, std::uint64_t hash) {
  return g.shard_bits == 0 ? 0 : static_cast<std::uint32_t>(hash >> (64 - g.shard_bits));
}

}  // namespace shmkv::detail
