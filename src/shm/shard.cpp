// shard.cpp: see shard.hpp for the invariants. Crash points mark every window between two writes
// that matter; tests kill the process at each of them and check Repair().
#include "shm/shard.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "os/crashpoint.hpp"
#include "os/os.hpp"
#include "os/throw.hpp"
#include "shm/allocator.hpp"
#include "shm/coordination.hpp"
#include "shm/decimal_word.hpp"
#include "shm/robust_mutex.hpp"

namespace shmkv::detail {
namespace {

std::uint64_t Lsn(const RecordHeader* r) {
  return r->state_lsn.load(std::memory_order_relaxed) >> 2;
}
RecordState StateOf(const RecordHeader* r) {
  return RecordState(r->state_lsn.load(std::memory_order_relaxed) & 3);
}
void SetState(RecordHeader* r, std::uint64_t lsn, RecordState st) {
  r->state_lsn.store((lsn << 2) | st, std::memory_order_release);
}

std::string Hex32(std::uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// The aligned 8-byte word holding the whole value of r, or nullptr when the value is empty or
// spans two words; *shift is the value's bit offset in it. Such a value is rewritten with one
// atomic store of the word, so a crash leaves the old or the new bytes and needs no undo.
std::uint64_t* ValueWord(const RecordRef& r, unsigned* shift) {
  const std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(r.h + 1) + r.key_len;
  if (r.value_len == 0 || (addr & 7) + r.value_len > 8) return nullptr;
  *shift = 8 * static_cast<unsigned>(addr & 7);
  return reinterpret_cast<std::uint64_t*>(addr & ~std::uintptr_t(7));
}

// The one-word update of Replace and IncrementInWord: the value word, then the checksum. A
// crash between the two leaves a new value under the old checksum, so the record is named in
// rehash_rec (one store) around them and Repair recomputes its checksum (Shard::Repair).
void RewriteWord(ShardHeader* sh, const RecordRef& r, std::atomic_ref<std::uint64_t> word,
                 std::uint64_t bytes, std::uint32_t checksum) {
  sh->rehash_rec = r.off;
  CrashBarrier();
  SHMKV_CRASH_POINT("word.marked");
  word.store(bytes, std::memory_order_relaxed);
  CrashBarrier();
  SHMKV_CRASH_POINT("word.written");
  r.h->checksum = checksum;
  CrashBarrier();
  SHMKV_CRASH_POINT("word.checksummed");
  sh->rehash_rec = 0;
}

}  // namespace

KeyHash Shard::Hash(std::string_view key) const {
  return {HashKey(s_.seg->geo().hash_seed, key)};
}

std::uint64_t Shard::NewRecord(std::string_view key, const NewValue& new_value,
                               std::uint64_t expires_ms, std::uint64_t home) {
  const std::string_view value = new_value.bytes;
  std::uint64_t bytes = kRecordHeaderBytes + key.size() + value.size();
  std::uint64_t off = AllocHomeRecord(s_, bytes, home);
  if (off == 0) off = AllocRecord(s_, bytes);
  if (off == 0)
    Throw(errc::store_full,
          "segment '" + s_.seg->name() + "' is full: no room for a " + std::to_string(bytes) +
              "-byte record (key " + std::to_string(key.size()) + " + value " +
              std::to_string(value.size()) + " bytes); delete keys or create a larger segment");
  SHMKV_CRASH_POINT("record.allocated");
  auto* r = s_.seg->At<RecordHeader>(off);  // the allocator checked the block and its size
  r->key_len = static_cast<std::uint32_t>(key.size());
  r->value_len = static_cast<std::uint32_t>(value.size());
  r->expires_ms.store(expires_ms, std::memory_order_relaxed);
  r->dense_pos = 0;
  r->checksum = new_value.checksum;
  std::memcpy(reinterpret_cast<char*>(r + 1), key.data(), key.size());
  if (!value.empty())
    std::memcpy(reinterpret_cast<char*>(r + 1) + key.size(), value.data(), value.size());
  CrashBarrier();
  SHMKV_CRASH_POINT("record.written");
  SetState(r, s_.h->seq.load(std::memory_order_relaxed), kLive);  // commit
  SHMKV_CRASH_POINT("record.committed");
  return off;
}

std::uint32_t Shard::ProbeAfterInsert(std::uint64_t home) const {
  std::uint32_t carried = 0, longest = 0;  // TableInsert's walk, without its writes
  std::uint64_t idx = home;
  for (std::uint64_t step = 0; step < s_.cap; ++step) {
    const Slot slot = s_.slots[idx];
    if (slot.word == 0) return std::max(longest, carried);
    if (slot.psl() < carried) {
      longest = std::max(longest, carried);
      carried = slot.psl();
    }
    ++carried;
    if (++idx == s_.cap) idx = 0;
  }
  return ~0u;  // no empty slot
}

void Shard::TableInsert(std::uint64_t rec_off, std::uint32_t tag, std::uint64_t home) {
  std::uint64_t rec = rec_off;
  std::uint32_t psl = 0;
  std::uint64_t idx = home;
  for (std::uint64_t step = 0;; ++step) {
    if (step == s_.cap || psl > kMaxProbe) [[unlikely]]  // ProbeAfterInsert said there was room
      s_.seg->Corrupted("shard " + std::to_string(s_.index) + " table", idx,
                        "has no slot within the longest probe, though one was found before");
    Slot& slot = s_.slots[idx];
    if (slot.word == 0) {
      slot = Slot::Make(rec, tag, psl);
      s_.h->max_psl = std::max(s_.h->max_psl, psl);
      return;
    }
    if (slot.psl() < psl) {
      const Slot displaced = slot;
      slot = Slot::Make(rec, tag, psl);
      s_.h->max_psl = std::max(s_.h->max_psl, psl);
      rec = displaced.rec(), tag = displaced.tag(), psl = displaced.psl();
      SHMKV_CRASH_POINT("table.displaced");
    }
    ++psl;
    if (++idx == s_.cap) idx = 0;
  }
}

void Shard::DenseAppend(std::uint64_t rec_off) {
  const std::uint64_t pos = count();
  if (pos >= s_.dense_cap) [[unlikely]]
    s_.seg->Corrupted("shard " + std::to_string(s_.index) + " count", pos,
                      "fills the dense index, but a record is still to be added");
  s_.dense[pos] = rec_off;
  s_.seg->At<RecordHeader>(rec_off)->dense_pos = static_cast<std::uint32_t>(pos);
  s_.h->count.store(pos + 1, std::memory_order_relaxed);
}

std::uint32_t Shard::CheckedDensePos(const RecordRef& rec) const {
  const std::uint32_t pos = rec.h->dense_pos;
  if (pos >= count() || s_.dense[pos] != rec.off) [[unlikely]]
    s_.seg->Corrupted("shard " + std::to_string(s_.index) + " dense_pos", pos,
                      "of the record at " + std::to_string(rec.off) +
                          " does not lead back to it in the dense index");
  return pos;
}

void Shard::DenseRemove(std::uint32_t pos) {
  const std::uint64_t last = count() - 1;  // pos < count(): checked by CheckedDensePos
  if (pos != last) {
    const RecordRef moved = LiveAt(last);
    s_.dense[pos] = moved.off;
    moved.h->dense_pos = pos;
    SHMKV_CRASH_POINT("dense.moved");
  }
  s_.h->count.store(last, std::memory_order_relaxed);
}

void Shard::Insert(std::string_view key, KeyHash h, const NewValue& value,
                   std::uint64_t expires_ms) {
  const std::uint64_t n = count();
  if ((n + 1) * 100 > s_.cap * kMaxLoadPercent)
    Throw(errc::store_full, "segment '" + s_.seg->name() + "' shard " + std::to_string(s_.index) +
                                " hash table is full (" + std::to_string(n) + " keys in " +
                                std::to_string(s_.cap) +
                                " slots); create the segment with a larger max_keys");
  // An insert lengthens a probe by one at most (robin hood: an entry stops at the first slot
  // poorer than it), so the walk that tells exactly runs only near the limit.
  if (s_.h->max_psl >= kMaxProbe && ProbeAfterInsert(Home(h)) > kMaxProbe) [[unlikely]]
    Throw(errc::store_full, "segment '" + s_.seg->name() + "' shard " + std::to_string(s_.index) +
                                " hash table has no slot within " + std::to_string(kMaxProbe) +
                                " of the key's home (" + std::to_string(n) + " keys in " +
                                std::to_string(s_.cap) + " slots)");
  IndexWriter index(s_.seg, key, IndexWriter::Change::insert);  // store_full, busy here too
  std::uint64_t off = NewRecord(key, value, expires_ms, Home(h));
  TableInsert(off, h.tag(), Home(h));
  SHMKV_CRASH_POINT("insert.in_table");
  DenseAppend(off);
  if (expires_ms) AddTtlRecords(1);
  index.Insert(key, off);
  SHMKV_CRASH_POINT("insert.done");
  NotifyInsert(s_.seg, key);  // wait_for, pop_random_wait: one load while nobody waits
}

void Shard::Replace(std::uint64_t slot, const RecordRef& old, const NewValue& new_value,
                    std::uint64_t expires_ms) {
  const std::string_view value = new_value.bytes;
  const std::uint64_t old_expires = old.expires_ms();
  char* value_area = reinterpret_cast<char*>(old.h + 1) + old.key_len;
  unsigned shift = 0;
  std::uint64_t* value_word = nullptr;
  if (value.size() == old.value_len && expires_ms == old_expires &&
      (value_word = ValueWord(old, &shift)) != nullptr) {
    // Same length and expiry, inside one word (a counter usually is): one atomic store, then
    // the checksum, with the record named in rehash_rec around both. The record's lsn stays:
    // no second record of the key exists to be ordered.
    std::atomic_ref<std::uint64_t> word(*value_word);
    std::uint64_t bytes = word.load(std::memory_order_relaxed);
    std::memcpy(reinterpret_cast<char*>(&bytes) + shift / 8, value.data(), value.size());
    RewriteWord(s_.h, old, word, bytes, new_value.checksum);
    return;
  }
  if (old.value_len <= kUndoMax &&
      value.size() <= old.block_bytes - kRecordHeaderBytes - old.key_len) {
    // In place, under an undo record: a crash restores the old value from it.
    ShardHeader* sh = s_.h;
    sh->undo_state_lsn = old.h->state_lsn.load(std::memory_order_relaxed);
    sh->undo_checksum = old.h->checksum;
    sh->undo_expires_ms = old_expires;
    sh->undo_value_len = old.value_len;
    std::memcpy(sh->undo_bytes, value_area, old.value_len);
    CrashBarrier();
    sh->undo_rec = old.off;
    CrashBarrier();
    SHMKV_CRASH_POINT("replace.undo_saved");
    if (!value.empty()) std::memcpy(value_area, value.data(), value.size());
    // An atomic store: an insert into the ordered index reads this record's lengths
    // (TryRecord, relaxed atomic loads) under its own shard's lock, not this one's.
    __atomic_store_n(&old.h->value_len, static_cast<std::uint32_t>(value.size()), __ATOMIC_RELAXED);
    SHMKV_CRASH_POINT("replace.in_place_length");
    old.h->checksum = new_value.checksum;
    old.h->expires_ms.store(expires_ms, std::memory_order_relaxed);
    SetState(old.h, s_.h->seq.load(std::memory_order_relaxed), kLive);
    CrashBarrier();
    SHMKV_CRASH_POINT("replace.in_place_written");
    sh->undo_rec = 0;
    AddTtlRecords(int(expires_ms != 0) - int(old_expires != 0));
    return;
  }
  const std::uint32_t dense_pos = CheckedDensePos(old);                 // before the first write
  IndexWriter index(s_.seg, old.key(), IndexWriter::Change::relocate);  // busy here too
  // Placed as before checksums existed (the home blocks of slot 0, rarely free), not in the
  // key's own home blocks: only the checksum needs the key's hash here.
  std::uint64_t off = NewRecord(old.key(), new_value, expires_ms, 0);  // throws store_full
  auto* r = s_.seg->At<RecordHeader>(off);
  r->dense_pos = dense_pos;
  const Slot was = s_.slots[slot];
  s_.slots[slot] = Slot::Make(off, was.tag(), was.psl());  // one store: readers see either
  SHMKV_CRASH_POINT("replace.slot_swapped");
  s_.dense[dense_pos] = off;
  SHMKV_CRASH_POINT("replace.dense_swapped");
  index.Relocate(old.key(), old.off, off);
  SetState(old.h, Lsn(old.h), kDead);
  SHMKV_CRASH_POINT("replace.old_dead");
  AddTtlRecords(int(expires_ms != 0) - int(old_expires != 0));
  FreeRecord(s_, old.off);
}

void Shard::Put(std::string_view key, KeyHash h, std::string_view value, std::uint64_t expires_ms) {
  const NewValue new_value(h, value);  // first: see NewValue
  RecordRef rec;
  const std::uint64_t slot = Find(key, h, &rec);
  if (slot == kNotFound) {
    Insert(key, h, new_value, expires_ms);
    return;
  }
  const bool was_expired = rec.expires_ms() != 0 && rec.Expired(os::NowUnixMs());
  Replace(slot, rec, new_value, expires_ms);
  if (was_expired) NotifyInsert(s_.seg, key);  // to wait_for and pop_random_wait, a new key
}

bool Shard::EraseKey(std::string_view key, KeyHash h) {
  RecordRef rec;
  const std::uint64_t slot = Find(key, h, &rec);
  if (slot == kNotFound) return false;
  Erase(slot, rec);
  return true;
}

std::uint64_t Shard::SlotOf(const RecordRef& rec) const {
  RecordRef found;
  const std::uint64_t slot = Find(rec.key(), Hash(rec.key()), &found);
  if (slot == kNotFound || found.off != rec.off) [[unlikely]]
    s_.seg->Corrupted("shard " + std::to_string(s_.index) + " dense record", rec.off,
                      "is not the record its key's table slot leads to");
  return slot;
}

bool Shard::IncrementInWord(const RecordRef& r, KeyHash h, std::int64_t delta,
                            std::int64_t* result) {
  const unsigned digits = r.value_len;
  unsigned shift = 0;
  std::uint64_t* value_word = ValueWord(r, &shift);
  if (value_word == nullptr) return false;
  std::atomic_ref<std::uint64_t> word(*value_word);
  const std::uint64_t old_word = word.load(std::memory_order_relaxed);
  const std::int64_t current = ParseDigitsWord(old_word >> shift, digits);
  std::int64_t next;
  if (current < 0 || __builtin_add_overflow(current, delta, &next) ||
      next < static_cast<std::int64_t>(digits == 1 ? 0 : kPow10[digits - 1]) ||
      next >= static_cast<std::int64_t>(kPow10[digits]))
    return false;
  const std::uint64_t mask = (digits == 8 ? ~0ull : (1ull << (8 * digits)) - 1) << shift;
  const std::uint64_t text = FormatDigitsWord(static_cast<std::uint32_t>(next), digits);
  RewriteWord(s_.h, r, word, (old_word & ~mask) | (text << shift),
              RecordChecksum(h.hash, &text, digits));
  *result = next;
  return true;
}

bool Shard::IncrementUnderWordLock(std::string_view key, KeyHash h, std::int64_t delta,
                                   std::int64_t* result) {
  ShardHeader* sh = s_.h;
  // A mutex of another kind was overwritten: corrupted here too, as for every locked operation.
  CheckRobustKind(&sh->mutex, LockName{s_.seg->name(), "shard", s_.index});
  WordLock lock(&sh->word_lock, WordLockToken());
  if (!lock.held() || RobustMutexHeld(&sh->mutex) || (sh->seq.load(std::memory_order_relaxed) & 1))
    return false;
  SHMKV_CRASH_POINT("word_lock.taken");
  RecordRef rec;
  if (Find(key, h, &rec) == kNotFound) return false;
  if (s_.seg->verify_reads()) VerifyChecksum(rec, h);
  if (rec.expires_ms() != 0 && rec.Expired(os::NowUnixMs())) return false;
  BeginWrite();
  const bool done = IncrementInWord(rec, h, delta, result);
  if (done) ++sh->sets;
  EndWrite();
  return done;
}

void Shard::Erase(std::uint64_t slot, const RecordRef& rec) {
  const std::uint32_t dense_pos = CheckedDensePos(rec);              // before the first write
  IndexWriter index(s_.seg, rec.key(), IndexWriter::Change::erase);  // its leaf; busy here too
  RecordHeader* r = rec.h;
  SetState(r, Lsn(r), kDead);  // commit
  SHMKV_CRASH_POINT("erase.dead");
  std::uint64_t idx = slot;
  for (std::uint64_t step = 0; step < s_.cap; ++step) {  // backward-shift deletion
    std::uint64_t next = idx + 1 == s_.cap ? 0 : idx + 1;
    const Slot n = s_.slots[next];
    if (n.word == 0 || n.psl() == 0 || step + 1 == s_.cap) {
      s_.slots[idx] = Slot{0};
      break;
    }
    s_.slots[idx] = Slot::Make(n.rec(), n.tag(), n.psl() - 1);
    SHMKV_CRASH_POINT("erase.shifted");
    idx = next;
  }
  DenseRemove(dense_pos);
  if (rec.expires_ms() != 0) AddTtlRecords(-1);
  index.Erase(rec.key(), rec.off);  // before the block is freed: the index may read its key
  SHMKV_CRASH_POINT("erase.unindexed");
  FreeRecord(s_, rec.off);
}

void Shard::SetExpiry(const RecordRef& rec, std::uint64_t expires_ms) {
  const std::uint64_t old = rec.expires_ms();
  AddTtlRecords(int(expires_ms != 0) - int(old != 0));
  rec.h->expires_ms.store(expires_ms, std::memory_order_relaxed);
}

void Shard::Clear() {
  Index().MarkStale();  // cheaper than erasing each key; the next ordered read rebuilds it
  ReleaseShardChunks(s_);
  SHMKV_CRASH_POINT("clear.chunks_freed");
  std::memset(static_cast<void*>(s_.slots), 0, s_.cap * sizeof(Slot));
  ShardHeader* h = s_.h;
  h->count.store(0, std::memory_order_relaxed);
  h->ttl_count = 0;
  h->max_psl = h->reclaim_cursor = 0;
}

std::uint32_t Shard::ReclaimExpired(std::uint64_t now_ms, std::uint32_t budget) {
  if (s_.h->ttl_count == 0) return 0;
  std::uint32_t reclaimed = 0;
  for (std::uint32_t look = 0; look < budget * 4 && count() > 0; ++look) {
    std::uint64_t pos = s_.h->reclaim_cursor % count();
    const RecordRef r = LiveAt(pos);
    if (r.Expired(now_ms)) {
      Erase(SlotOf(r), r);
      if (++reclaimed == budget) break;
    } else {
      s_.h->reclaim_cursor = static_cast<std::uint32_t>(pos + 1);
    }
  }
  return reclaimed;
}

void Shard::Repair(bool owner_died) {
  ShardHeader* h = s_.h;
  std::uint64_t seq = h->seq.load(std::memory_order_relaxed);
  if (seq & 1) {
    if (h->rehash_rec != 0) {
      // A one-word update was cut between its value word and its checksum (RewriteWord): the
      // word holds the old or the new value, whole; give that record, and only it, the
      // checksum of what it holds. An offset that is not a record of this shard is dropped.
      RecordRef r;
      if (s_.seg->TryRecord(h->rehash_rec, s_.index, &r) == nullptr) {
        r.h->checksum = RecordChecksum(Hash(r.key()).hash, r.value().data(), r.value_len);
        CrashBarrier();
        SHMKV_CRASH_POINT("repair.rehashed");
      }
      h->rehash_rec = 0;
    }
    if (h->undo_rec != 0) {
      // The undo record is applied only to a block of this shard whose key and saved value fit
      // it; anything else was not written by Replace and is dropped (Rebuild then checks every
      // record as it is).
      BlockSpan block;
      const std::uint64_t off = h->undo_rec;
      const std::uint32_t value_len = h->undo_value_len;
      if (s_.seg->TryBlock(off, s_.index, &block) == nullptr && value_len <= kUndoMax) {
        auto* r = s_.seg->At<RecordHeader>(off);
        const std::uint32_t key_len = r->key_len;
        if (key_len >= 1 && key_len <= s_.seg->geo().max_key_bytes &&
            kRecordHeaderBytes + key_len + value_len <= block.bytes) {
          std::memcpy(reinterpret_cast<char*>(r + 1) + key_len, h->undo_bytes, value_len);
          __atomic_store_n(&r->value_len, value_len, __ATOMIC_RELAXED);  // as in Replace
          r->checksum = h->undo_checksum;
          r->expires_ms.store(h->undo_expires_ms, std::memory_order_relaxed);
          r->state_lsn.store(h->undo_state_lsn, std::memory_order_relaxed);
          CrashBarrier();
          SHMKV_CRASH_POINT("repair.undo_applied");
        }
      }
      h->undo_rec = 0;
    }
    Rebuild();
    SHMKV_CRASH_POINT("repair.rebuilt");
    h->seq.store(seq + 1, std::memory_order_release);
  }
  if (owner_died) ++h->recoveries;
}

void Shard::Rebuild() {
  Index().MarkStale();  // the dead holder may have changed this shard without the index
  std::memset(static_cast<void*>(s_.slots), 0, s_.cap * sizeof(Slot));
  s_.h->count.store(0, std::memory_order_relaxed);
  s_.h->ttl_count = 0;
  s_.h->max_psl = 0;
  s_.h->reclaim_cursor = 0;
  std::vector<RecordRef> live;
  ForEachBlock(s_, [&](std::uint64_t off, std::uint64_t) {
    auto* r = s_.seg->At<RecordHeader>(off);
    if (StateOf(r) != kLive) return;
    RecordRef ref;
    if (s_.seg->TryRecord(off, s_.index, &ref) == nullptr)
      live.push_back(ref);
    else
      SetState(r, Lsn(r), kDead);  // lengths that do not fit its block: not a record we wrote
  });
  SHMKV_CRASH_POINT("repair.table_cleared");
  for (const RecordRef& r : live) {
    KeyHash h = Hash(r.key());
    RecordRef other;
    std::uint64_t slot = Find(r.key(), h, &other);
    if (slot == kNotFound) {
      if (count() + 1 > s_.dense_cap || ProbeAfterInsert(Home(h)) > kMaxProbe) {
        SetState(r.h, Lsn(r.h), kDead);
        continue;
      }
      TableInsert(r.off, h.tag(), Home(h));
      DenseAppend(r.off);
      if (r.expires_ms()) ++s_.h->ttl_count;
      continue;
    }
    // Two live records for one key: an overwrite was cut short. The newer one wins.
    if (Lsn(r.h) > Lsn(other.h)) {
      r.h->dense_pos = other.h->dense_pos;
      s_.dense[r.h->dense_pos % s_.dense_cap] = r.off;
      s_.slots[slot] = Slot::Make(r.off, h.tag(), s_.slots[slot].psl());
      s_.h->ttl_count += (r.expires_ms() != 0) - (other.expires_ms() != 0);
      SetState(other.h, Lsn(other.h), kDead);
    } else {
      SetState(r.h, Lsn(r.h), kDead);
    }
  }
  SHMKV_CRASH_POINT("repair.records_indexed");
  RebuildShardArena(s_);
}

void Shard::RaiseChecksum(const RecordRef& rec, KeyHash h) const {
  s_.seg->Corrupted("shard " + std::to_string(s_.index) + " record at offset", rec.off,
                    "(key '" + PrintableBytes(rec.key()) + "') fails its checksum (stored " +
                        Hex32(rec.h->checksum) + ", computed " +
                        Hex32(RecordChecksum(h.hash, rec.value().data(), rec.value_len)) + ")");
}

void Shard::CheckInvariants(std::vector<std::string>* out) const {
  const std::string where = "shard " + std::to_string(s_.index) + ": ";
  if (s_.h->seq.load() & 1) out->push_back(where + "seq is odd outside a mutation");
  if (s_.h->undo_rec != 0) out->push_back(where + "undo record left behind");
  if (s_.h->rehash_rec != 0)
    out->push_back(where + "checksum rewrite of the record at " + std::to_string(s_.h->rehash_rec) +
                   " left behind");
  const std::uint64_t n = s_.h->count.load(std::memory_order_relaxed);
  if (n > s_.dense_cap) {
    out->push_back(where + "count " + std::to_string(n) + " exceeds capacity");
    return;
  }
  std::vector<std::uint64_t> in_table;
  std::uint64_t with_ttl = 0;
  for (std::uint64_t i = 0; i < s_.cap; ++i) {
    const Slot slot = s_.slots[i];
    if (slot.word == 0) continue;
    const std::uint64_t off = slot.rec();
    std::string at = where + "slot " + std::to_string(i) + ": ";
    BlockSpan block;
    if (const char* why = s_.seg->TryBlock(off, s_.index, &block)) {
      out->push_back(at + "record offset " + std::to_string(off) + " " + why);
      continue;
    }
    if (const RecordState st = StateOf(s_.seg->At<RecordHeader>(off)); st != kLive) {
      out->push_back(at + "points at a record that is not live (state " + std::to_string(st) + ")");
      continue;
    }
    RecordRef r;
    if (const char* why = s_.seg->TryRecord(off, s_.index, &r)) {
      out->push_back(at + "record at " + std::to_string(off) + " " + why);
      continue;
    }
    KeyHash h = Hash(r.key());
    if (h.tag() != slot.tag()) out->push_back(at + "tag does not match the key's hash");
    if (!ChecksumMatches(r, h))
      out->push_back(at + "record at offset " + std::to_string(off) + " (key '" +
                     PrintableBytes(r.key()) + "') fails its checksum (stored " +
                     Hex32(r.h->checksum) + ", computed " +
                     Hex32(RecordChecksum(h.hash, r.value().data(), r.value_len)) + ")");
    std::uint64_t home = Home(h);
    std::uint64_t psl = i >= home ? i - home : i + s_.cap - home;
    if (psl != slot.psl())
      out->push_back(at + "psl " + std::to_string(slot.psl()) + " but the key is " +
                     std::to_string(psl) + " from home");
    if (slot.psl() > s_.h->max_psl) out->push_back(at + "psl above the shard's max_psl");
    if (slot.psl() > 0) {
      const Slot prev = s_.slots[i == 0 ? s_.cap - 1 : i - 1];
      if (prev.word == 0 || prev.psl() + 1 < slot.psl())
        out->push_back(at + "robin-hood order broken (previous slot is poorer)");
    }
    if (r.h->dense_pos >= n || s_.dense[r.h->dense_pos] != off)
      out->push_back(at + "dense index back-pointer " + std::to_string(r.h->dense_pos) +
                     " is wrong");
    if (r.expires_ms()) ++with_ttl;
    in_table.push_back(off);
  }
  if (in_table.size() != n)
    out->push_back(where + "count " + std::to_string(n) + " but " +
                   std::to_string(in_table.size()) + " slots are used");
  std::sort(in_table.begin(), in_table.end());
  if (std::adjacent_find(in_table.begin(), in_table.end()) != in_table.end())
    out->push_back(where + "a record is referenced by two slots");
  std::vector<std::uint64_t> in_dense(s_.dense, s_.dense + n);
  std::sort(in_dense.begin(), in_dense.end());
  if (in_dense != in_table)
    out->push_back(where + "dense index does not hold exactly the records of the table");
  if (with_ttl != s_.h->ttl_count)
    out->push_back(where + "ttl_count " + std::to_string(s_.h->ttl_count) + " but " +
                   std::to_string(with_ttl) + " records have a TTL");
  std::uint64_t live_blocks = 0;
  ForEachBlock(s_, [&](std::uint64_t off, std::uint64_t) {
    if (StateOf(s_.seg->At<RecordHeader>(off)) == kLive) {
      ++live_blocks;
      if (!std::binary_search(in_table.begin(), in_table.end(), off))
        out->push_back(where + "live record at offset " + std::to_string(off) +
                       " is not in the table (lost)");
    }
  });
  if (live_blocks != in_table.size())
    out->push_back(where + std::to_string(live_blocks) + " live records in the arena but " +
                   std::to_string(in_table.size()) + " in the table");
  CheckShardArena(s_, out);
}

namespace {

// The offset of key's LIVE record if it is in one of the key's two home blocks, else 0. The
// reads race with writers: the caller accepts the answer only under an even, unchanged seq.
// Then a LIVE record is its key's only one (two exist only inside an overwrite), so it is the
// record the table leads to, and this skips the slot. Lengths are checked against the block.
// Records carry no tag: the key itself is compared (its line is in cache with the header).
[[maybe_unused]] std::uint64_t FindInHomeBlocks(const ShardRef& s, std::string_view key,
                                                KeyHash h) {
  if (s.home_off == 0 || kRecordHeaderBytes + key.size() > s.home_block_bytes) return 0;
  const std::uint64_t home = HomeSlot(h, s.cap);
  for (std::uint64_t slot : {home, home ^ 1}) {
    if (slot >= s.cap) continue;
    const std::uint64_t off = s.HomeBlock(slot);
    const std::uint8_t* rec = s.seg->base() + off;
    std::uint64_t state;
    std::uint32_t key_len, value_len;
    std::memcpy(&state, rec + offsetof(RecordHeader, state_lsn), sizeof state);
    std::memcpy(&key_len, rec + offsetof(RecordHeader, key_len), sizeof key_len);
    std::memcpy(&value_len, rec + offsetof(RecordHeader, value_len), sizeof value_len);
    if ((state & 3) == kLive && key_len == key.size() &&
        value_len <= s.home_block_bytes - kRecordHeaderBytes - key_len &&
        KeyBytesEqual(rec + kRecordHeaderBytes, key))
      return off;
  }
  return 0;
}

// Whether the record at rec (racy reads: the caller's seq check decides) holds the checksum
// of the value_len bytes at value. Out of line: the hashing code stays out of the reader's
// loop when verify_reads is off.
[[gnu::noinline, maybe_unused]] bool SourceMatches(KeyHash h, const std::uint8_t* rec,
                                                   const std::uint8_t* value,
                                                   std::uint32_t value_len) {
  std::uint32_t checksum;
  std::memcpy(&checksum, rec + offsetof(RecordHeader, checksum), sizeof checksum);
  return checksum == RecordChecksum(h.hash, value, value_len);
}

// A slot read without the shard lock: one relaxed load of its word (whole, maybe stale).
[[maybe_unused]] Slot LoadSlot(const Slot& slot) {  // unused under TSan (readers locked)
  return {__atomic_load_n(&slot.word, __ATOMIC_RELAXED)};
}

}  // namespace

// OptimisticGet, compiled twice: without verification the reader is the same code as before
// checksums existed (a branch on `verify` inside the loop, even never taken, cost a few % of
// get throughput by changing the loop's code).
template <bool verify>
bool OptimisticGetImpl(const ShardRef& s, std::string_view key, KeyHash h, std::string* value,
                       bool* found) {
#if defined(__SANITIZE_THREAD__)
  (void)s, (void)key, (void)h, (void)value, (void)found;
  return false;  // the optimistic copy races with writers by design; TSan checks the locked path
#else
  PrefetchLine(&s.slots[HomeSlot(h, s.cap)]);  // both in flight at once: the slot is needed
  PrefetchHomeBlocks(s, h);                    // when the record is not in a home block
  const std::uint32_t tag = h.tag();
  const std::uint8_t* base = s.seg->base();
  for (int attempt = 0; attempt < 8; ++attempt) {
    const std::uint64_t seq = s.h->seq.load(std::memory_order_acquire);
    if (seq & 1) {
      __builtin_ia32_pause();
      continue;
    }
    bool sane = true;
    std::uint64_t rec = FindInHomeBlocks(s, key, h);  // validated: in bounds, lengths fit
    std::uint32_t value_len = 0;
    if (rec != 0) {
      std::memcpy(&value_len, base + rec + offsetof(RecordHeader, value_len), sizeof value_len);
    } else {
      const std::uint64_t max_probe = std::min<std::uint64_t>(
          std::atomic_ref<std::uint32_t>(s.h->max_psl).load(std::memory_order_relaxed), s.cap - 1);
      std::uint64_t idx = HomeSlot(h, s.cap);
      for (std::uint64_t d = 0; d <= max_probe; ++d) {
        const Slot slot = LoadSlot(s.slots[idx]);  // whole, but maybe stale: seq tells
        if (slot.word == 0 || slot.psl() < d) break;
        if (slot.tag() == tag) {
          // The block and lengths are checked as the locked path checks them; a failure here
          // may be a record changed meanwhile, so it is retried, and the locked path gives the
          // verdict.
          RecordRef r;
          const std::uint64_t off = slot.rec();
          if (s.seg->TryRecord(off, s.index, &r) != nullptr) {
            sane = false;
            break;
          }
          if (r.key_len == key.size() && KeyBytesEqual(base + off + kRecordHeaderBytes, key)) {
            rec = off;
            value_len = r.value_len;
            break;
          }
        }
        if (++idx == s.cap) idx = 0;
      }
    }
    std::uint64_t expires = 0;
    bool intact = true;
    if (rec != 0 && sane) {
      const std::uint8_t* bytes = base + rec + kRecordHeaderBytes + key.size();
      std::memcpy(&expires, base + rec + offsetof(RecordHeader, expires_ms), sizeof expires);
      if constexpr (verify) intact = SourceMatches(h, base + rec, bytes, value_len);
      value->assign(reinterpret_cast<const char*>(bytes), value_len);
    }
    bool hit = rec != 0;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.h->seq.load(std::memory_order_relaxed) != seq || !sane) continue;
    // The checksum was computed over the same bytes as the copy, in the same seq window: once
    // seq is found even and unchanged they were one writer-free snapshot, so a mismatch is
    // not a race but damage, and the locked path raises it. (Hashing the shared bytes rather
    // than the fresh copy avoids reloading the copy's just-written lines.)
    if (verify && !intact) [[unlikely]]
      return false;
    if (hit && expires != 0 && expires <= os::NowUnixMs()) hit = false;
    *found = hit;
    return true;
  }
  return false;
#endif
}

bool OptimisticGet(const ShardRef& s, std::string_view key, KeyHash h, std::string* value,
                   bool* found) {
  return s.seg->verify_reads() ? OptimisticGetImpl<true>(s, key, h, value, found)
                               : OptimisticGetImpl<false>(s, key, h, value, found);
}

bool OptimisticValue(const ShardRef& s, const RecordRef& rec, std::string* value) {
#if defined(__SANITIZE_THREAD__)
  (void)s, (void)rec, (void)value;
  return false;  // races with writers by design, as OptimisticGet
#else
  const std::uint8_t* base = s.seg->base();
  const std::uint64_t room = rec.block_bytes - kRecordHeaderBytes - rec.key_len;  // TryRecord's
  for (int attempt = 0; attempt < 4; ++attempt) {
    const std::uint64_t seq = s.h->seq.load(std::memory_order_acquire);
    if (seq & 1) {
      __builtin_ia32_pause();
      continue;
    }
    std::uint32_t value_len;
    std::memcpy(&value_len, base + rec.off + offsetof(RecordHeader, value_len), sizeof value_len);
    if (value_len > room) return false;
    value->assign(reinterpret_cast<const char*>(base + rec.off + kRecordHeaderBytes + rec.key_len),
                  value_len);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.h->seq.load(std::memory_order_relaxed) == seq) return true;
  }
  return false;
#endif
}

void PrefetchSlots(const ShardRef& s, KeyHash h) {
  const std::uint64_t home = HomeSlot(h, s.cap);
  __builtin_prefetch(&s.slots[home]);
  if (home + 3 < s.cap) __builtin_prefetch(&s.slots[home + 3]);  // the run may cross a line
  PrefetchHomeBlocks(s, h);
}

void PrefetchRecord(const ShardRef& s, KeyHash h) {
#if defined(__SANITIZE_THREAD__)
  (void)s, (void)h;  // reads slots without the lock, as OptimisticGet does: off under TSan
#else
  const std::uint64_t arena_lo = s.seg->geo().off_arena;
  const std::uint64_t arena_hi = s.seg->geo().arena_end;
  std::uint64_t idx = HomeSlot(h, s.cap);
  for (int d = 0; d < 4; ++d) {
    const Slot slot = LoadSlot(s.slots[idx]);  // racy by design: a hint only
    if (slot.word == 0) return;
    if (slot.tag() == h.tag()) {
      if (slot.rec() >= arena_lo && slot.rec() + 3 * kCacheLine <= arena_hi) {
        const std::uint8_t* rec = s.seg->base() + slot.rec();
        __builtin_prefetch(rec);
        __builtin_prefetch(rec + kCacheLine);
        __builtin_prefetch(rec + 2 * kCacheLine);
      }
      return;
    }
    if (++idx == s.cap) idx = 0;
  }
#endif
}

void ShardLock::LockSlow(int first) {
  ShardHeader* h = shard_.header();
  const LockName name{shard_.ref().seg->name(), "shard", shard_.ref().index};
  bool waited = false;
  bool owner_died =
      first != 0 && LockRobustAfter(first, &h->mutex, name, &waited) == LockResult::owner_died;
  FenceAfterMutexAcquired();
  bool holder_gone = false;
  try {
    // Before seq is read: a live word-lock holder may be between its two seq bumps.
    holder_gone = WaitForWordLockRelease(&h->word_lock, name);
  } catch (...) {
    if (owner_died) MarkConsistent(&h->mutex);  // the repair is left to the next locker
    UnlockRobust(&h->mutex);
    throw;
  }
  if (owner_died || holder_gone || (h->seq.load(std::memory_order_relaxed) & 1)) {
    try {
      shard_.Repair(owner_died || holder_gone);  // counted in recoveries either way
    } catch (...) {
      // Repair needs the allocator lock. If that failed, seq is still odd and the next locker
      // repairs the shard; the mutex itself must stay usable.
      if (owner_died) MarkConsistent(&h->mutex);
      UnlockRobust(&h->mutex);
      throw;
    }
    if (owner_died) MarkConsistent(&h->mutex);
  }
  if (waited) ++h->lock_waits;
}

}  // namespace shmkv::detail
