// shm_engine.cpp: the shared-memory engine's lifecycle and single-key operations (ShmEngine, see
// shm_engine.hpp); its other operations are in shm_engine_multi.cpp and backup.cpp.
//
// Every operation locks exactly one shard (the key's), so single-key operations are
// linearizable. Arguments arrive checked (the front, store.cpp). Mutations run inside a
// WriteScope and raise before their first write, so an error changes nothing. Expired records are
// treated as absent by every read and replaced or erased by writes; each write also reclaims a few
// expired records of its shard, and a set (Put below) all of them when it finds the segment full.
#include "engine/shm_engine.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>

#include "engine/int64_text.hpp"
#include "os/os.hpp"

namespace shmkv {

using detail::Journaled;
using detail::kNotFound;
using detail::Shard;
using detail::ShardLock;
using detail::WriteScope;

namespace {

constexpr std::uint32_t kReclaimPerWrite = 2;

// Finds a key, treating an expired record as absent; *rec is its (checked) record. With
// Options::verify_reads, a record whose checksum fails raises corrupted (every read and
// read-modify-write finds its key here).
std::uint64_t FindLive(Shard& shard, std::string_view key, detail::KeyHash h,
                       detail::RecordRef* rec, std::uint64_t* now_ms = nullptr) {
  std::uint64_t slot = shard.Find(key, h, rec);
  if (slot == kNotFound) return kNotFound;
  if (shard.verify_reads()) shard.VerifyChecksum(*rec, h);
  if (rec->expires_ms() == 0) return slot;
  std::uint64_t now = detail::os::NowUnixMs();
  if (now_ms) *now_ms = now;
  return rec->Expired(now) ? kNotFound : slot;
}

// Writes value at key: replaces a present (or expired) record, else inserts. A segment found
// full may be full of expired records that writes have not reclaimed yet, a few at a time: then
// every expired record of the shard is reclaimed and the write tried once more (a refusal
// changes nothing, so the retry starts from where the first try did).
void Put(Shard& shard, std::string_view key, detail::KeyHash h, std::string_view value,
         std::uint64_t expires) {
  if (shard.header()->ttl_count) shard.ReclaimExpired(detail::os::NowUnixMs(), kReclaimPerWrite);
  try {
    shard.Put(key, h, value, expires);
  } catch (const Error& e) {
    if (e.code_value() != errc::store_full || shard.header()->ttl_count == 0) throw;
    const auto all = static_cast<std::uint32_t>(std::min<std::uint64_t>(shard.count(), 1u << 28));
    if (shard.ReclaimExpired(detail::os::NowUnixMs(), all) == 0) throw;
    shard.Put(key, h, value, expires);
  }
  ++shard.header()->sets;
}

// The prologue of every single-key write, written once: the key's route, the journal scope
// (declared before the lock, so that it commits after the lock is released; see Journaled) and
// the key's shard lock, which first asks for the key's slot unless the caller knows it is hot.
// The operation then finds what it needs and applies its change with Write, Erase or SetExpiry,
// which log it (write-ahead) and apply it under the shard's write scope.
class KeyWriter {
 public:
  enum class Prefetch { slot, none };
  KeyWriter(detail::ShmEngine& im, std::string_view key, Prefetch prefetch = Prefetch::slot)
      : key_(key),
        route_(im.RouteOf(key)),
        journal_(im),
        lock_(im.segment(), route_.shard, prefetch == Prefetch::slot ? &route_.hash : nullptr) {}

  Shard& shard() { return lock_.shard(); }
  detail::KeyHash hash() const { return route_.hash; }
  Journaled& journal() { return journal_; }

  // Inserts the key, or replaces its record (live or expired).
  void Write(std::string_view value, std::uint64_t expires) {
    journal_.Set(key_, value, expires);
    WriteScope write(shard());
    Put(shard(), key_, route_.hash, value, expires);
  }
  // Removes the key's record `rec` in `slot`.
  void Erase(std::uint64_t slot, const detail::RecordRef& rec) {
    journal_.Del(key_);
    WriteScope write(shard());
    shard().Erase(slot, rec);
  }
  void SetExpiry(const detail::RecordRef& rec, std::uint64_t expires) {
    journal_.Set(key_, rec.value(), expires);  // the after-image
    WriteScope write(shard());
    shard().SetExpiry(rec, expires);
  }

 private:
  std::string_view key_;
  detail::ShmEngine::Route route_;
  Journaled journal_;
  ShardLock lock_;
};

// A read-modify-write's prologue: KeyWriter, then the key's live record if any.
class LockedKey : public KeyWriter {
 public:
  LockedKey(detail::ShmEngine& im, std::string_view key)
      : KeyWriter(im, key), slot_(FindLive(shard(), key, hash(), &rec_)) {}

  bool found() const { return slot_ != kNotFound; }
  // The live record (when found()).
  const detail::RecordRef& record() const { return rec_; }
  void Erase() {
    KeyWriter::Erase(slot_, rec_);
    ++shard().header()->deletes;
  }
  void SetExpiry(std::uint64_t expires) { KeyWriter::SetExpiry(rec_, expires); }

 private:
  detail::RecordRef rec_;
  std::uint64_t slot_;
};

}  // namespace

std::uint64_t detail::ShmEngine::ExpiryFor(std::chrono::milliseconds ttl) {
  return ttl.count() <= 0 ? 0 : detail::os::NowUnixMs() + static_cast<std::uint64_t>(ttl.count());
}

std::uint64_t detail::RandomU64() {
  // Reseeded in a forked child (os::ForkGeneration), so children draw different numbers.
  thread_local std::uint64_t state = 0;
  thread_local std::uint64_t generation = ~0ull;
  const std::uint64_t now = detail::os::ForkGeneration();
  if (generation != now) {
    generation = now;
    state = detail::os::RandomSeed();
  }
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);  // splitmix64
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// --- lifecycle (opening: recovery.cpp) ---

void detail::ShmEngine::AdoptLimits(const std::string& name) {
  limits_.name = name;
  limits_.max_key_bytes = geo().max_key_bytes;
  limits_.max_value_bytes = geo().max_value_bytes;
  limits_.read_only = read_only;
}

void detail::ShmEngine::Close() {
  const std::string err = CloseLog();
  if (seg) {
    FlushAllReads();
    seg.reset();
  }
  if (!err.empty()) detail::Throw(errc::io_error, err);
}
void detail::ShmEngine::FlushReads(std::uint32_t shard) {
  PendingReads& p = pending_reads[shard];
  std::uint64_t gets = p.gets.exchange(0, std::memory_order_relaxed);
  std::uint64_t hits = std::min(p.hits.exchange(0, std::memory_order_relaxed), gets);
  detail::ShardHeader* h = seg->shard(shard);
  std::atomic_ref<std::uint64_t>(h->gets).fetch_add(gets, std::memory_order_relaxed);
  std::atomic_ref<std::uint64_t>(h->hits).fetch_add(hits, std::memory_order_relaxed);
  std::atomic_ref<std::uint64_t>(h->misses).fetch_add(gets - hits, std::memory_order_relaxed);
}

void detail::ShmEngine::FlushAllReads() noexcept {
  if (!pending_reads || !seg) return;
  for (std::uint32_t s = 0; s < seg->geo().shard_count; ++s) FlushReads(s);
}

// --- single key ---

bool detail::ShmEngine::Get(std::string_view key, std::string* value) {
  return ReadValue(key, RouteOf(key), value);
}

bool detail::ShmEngine::ReadValue(std::string_view key, const Route& route, std::string* value) {
  bool found = false;
  if (detail::OptimisticGet(detail::ShardRef::Of(segment(), route.shard), key, route.hash, value,
                            &found)) {
    CountRead(route.shard, found);
    if (!found) value->clear();
    return found;
  }
  ShardLock lock(segment(), route.shard);
  Shard& shard = lock.shard();
  detail::RecordRef rec;
  std::uint64_t slot = FindLive(shard, key, route.hash, &rec);
  CountRead(route.shard, slot != kNotFound);
  if (slot == kNotFound) {
    value->clear();
    return false;
  }
  value->assign(rec.value());
  return true;
}

void detail::ShmEngine::Set(std::string_view key, std::string_view value,
                            std::chrono::milliseconds ttl) {
  const std::uint64_t expires = ExpiryFor(ttl);
  KeyWriter(*this, key).Write(value, expires);
}

bool detail::ShmEngine::Exists(std::string_view key) {
  auto route = RouteOf(key);
  std::string value;
  bool found = false;
  if (detail::OptimisticGet(detail::ShardRef::Of(segment(), route.shard), key, route.hash, &value,
                            &found))
    return found;
  ShardLock lock(segment(), route.shard, &route.hash);
  detail::RecordRef rec;
  return FindLive(lock.shard(), key, route.hash, &rec) != kNotFound;
}

bool detail::ShmEngine::Del(std::string_view key) {
  KeyWriter k(*this, key);
  detail::RecordRef rec;
  const std::uint64_t slot = k.shard().Find(key, k.hash(), &rec);  // an expired record too
  if (slot == kNotFound) return false;
  const bool live = rec.expires_ms() == 0 || !rec.Expired(detail::os::NowUnixMs());
  k.Erase(slot, rec);
  if (live) ++k.shard().header()->deletes;
  return live;
}

// --- counters ---

std::int64_t detail::ShmEngine::IncrementBy(std::string_view key, std::int64_t delta) {
#if !defined(__SANITIZE_THREAD__)
  // The hot path of a store that does not journal: the shard's word lock instead of its mutex.
  // Off under ThreadSanitizer, which does not see the word lock synchronise with glibc's lock
  // word.
  if (!log) {
    const Route route = RouteOf(key);
    std::int64_t result;
    if (Shard(detail::ShardRef::Of(segment(), route.shard))
            .IncrementUnderWordLock(key, route.hash, delta, &result))
      return result;
  }
#endif
  KeyWriter k(*this, key, KeyWriter::Prefetch::none);  // counters are usually cache-hot
  Shard& shard = k.shard();
  Journaled& journal = k.journal();
  const detail::KeyHash hash = k.hash();
  detail::RecordRef rec;
  std::uint64_t slot = FindLive(shard, key, hash, &rec);
  char buf[24];
  std::int64_t result;
  if (!journal.active() && slot != kNotFound) {
    WriteScope write(shard);
    if (shard.IncrementInWord(rec, hash, delta, &result)) {  // the hot path
      ++shard.header()->sets;
      return result;
    }
  }
  // Persistent, or the value does not fit in place: the result is computed (and journaled)
  // before anything changes.
  std::int64_t current = 0;
  std::uint64_t expires = 0;
  if (slot != kNotFound) {
    std::string_view v = rec.value();
    if (!detail::ParseInt64(v, &current))
      detail::Throw(errc::not_a_number,
                    "value of key '" + std::string(key) + "' is not a decimal int64: '" +
                        std::string(v.substr(0, 64)) + (v.size() > 64 ? "...'" : "'"));
    expires = rec.expires_ms();
  }
  if (__builtin_add_overflow(current, delta, &result))
    detail::Throw(errc::overflow, "incrementing key '" + std::string(key) + "' (" +
                                      std::to_string(current) + ") by " + std::to_string(delta) +
                                      " overflows int64");
  const std::string_view text(
      buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, result).ptr - buf));
  journal.Set(key, text, expires);
  WriteScope write(shard);
  std::int64_t in_place;
  if (slot != kNotFound && journal.active() && shard.IncrementInWord(rec, hash, delta, &in_place)) {
    ++shard.header()->sets;
  } else if (slot != kNotFound) {
    shard.Replace(slot, rec, detail::NewValue(hash, text), expires);
    ++shard.header()->sets;
  } else {
    Put(shard, key, hash, text, expires);
  }
  return result;
}

// --- atomic helpers ---

// TTL rule (store.hpp): a stored value gets the ttl passed (0 = none), never the old one's.
GetOrSetResult detail::ShmEngine::GetOrSet(std::string_view key, std::string_view value,
                                           std::chrono::milliseconds ttl) {
  const std::uint64_t expires = ExpiryFor(ttl);
  LockedKey k(*this, key);
  if (k.found()) return {std::string(k.record().value()), true};
  k.Write(value, expires);
  return {std::string(value), false};
}

SwapResult detail::ShmEngine::Swap(std::string_view key, std::string_view value,
                                   std::chrono::milliseconds ttl) {
  const std::uint64_t expires = ExpiryFor(ttl);
  LockedKey k(*this, key);
  SwapResult result{std::nullopt, false};
  if (k.found()) result = {std::string(k.record().value()), true};
  k.Write(value, expires);
  return result;
}

bool detail::ShmEngine::CompareAndSwap(std::string_view key,
                                       std::optional<std::string_view> expected,
                                       std::string_view value, std::chrono::milliseconds ttl,
                                       std::optional<std::string>* mismatch) {
  const std::uint64_t expires = ExpiryFor(ttl);
  LockedKey k(*this, key);
  const bool match = expected ? k.found() && k.record().value() == *expected : !k.found();
  if (!match) {
    ++k.shard().header()->cas_failure;
    if (mismatch != nullptr && k.found()) mismatch->emplace(k.record().value());
    return false;
  }
  k.Write(value, expires);
  ++k.shard().header()->cas_success;
  return true;
}

bool detail::ShmEngine::CompareAndDelete(std::string_view key, std::string_view expected) {
  LockedKey k(*this, key);
  if (!k.found() || k.record().value() != expected) {
    ++k.shard().header()->cas_failure;
    return false;
  }
  k.Erase();
  ++k.shard().header()->cas_success;
  return true;
}

bool detail::ShmEngine::SetIfAbsent(std::string_view key, std::string_view value,
                                    std::chrono::milliseconds ttl) {
  const std::uint64_t expires = ExpiryFor(ttl);
  LockedKey k(*this, key);
  if (k.found()) return false;
  k.Write(value, expires);
  return true;
}

// --- TTL ---

bool detail::ShmEngine::Expire(std::string_view key, std::chrono::milliseconds ttl) {
  const std::uint64_t expires = ExpiryFor(ttl);
  LockedKey k(*this, key);
  if (!k.found()) return false;
  k.SetExpiry(expires);
  return true;
}

std::optional<std::chrono::milliseconds> detail::ShmEngine::Ttl(std::string_view key) {
  auto route = RouteOf(key);
  ShardLock lock(segment(), route.shard, &route.hash);
  Shard& shard = lock.shard();
  std::uint64_t now = 0;
  detail::RecordRef rec;
  std::uint64_t slot = FindLive(shard, key, route.hash, &rec, &now);
  if (slot == kNotFound) return std::nullopt;
  std::uint64_t expires = rec.expires_ms();
  if (expires == 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(expires - now));
}

}  // namespace shmkv
