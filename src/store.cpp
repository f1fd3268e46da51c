// store.cpp: Store lifecycle and single-key operations.
//
// Every operation locks exactly one shard (the key's), so single-key operations are
// linearizable. Mutations run inside a WriteScope; they validate and raise before the first
// write, so an error changes nothing. Expired records are treated as absent by every read and
// replaced or erased by writes; each write also reclaims a few expired records of its shard.
#include <pthread.h>

#include <atomic>
#include <charconv>
#include <cstring>

#include "os.hpp"
#include "store_impl.hpp"

namespace shmkv {

using detail::kNotFound;
using detail::Shard;
using detail::ShardLock;

namespace {

constexpr std::uint32_t kReclaimPerWrite = 2;

bool ParseInt64(std::string_view s, std::int64_t* out) {
  if (s.empty()) return false;
  // Counters are short: up to 18 digits cannot overflow, so parse them without from_chars'
  // per-digit overflow checks.
  const bool negative = s[0] == '-';
  const std::size_t digits = s.size() - negative;
  if (digits >= 1 && digits <= 18) {
    std::int64_t v = 0;
    for (std::size_t i = negative; i < s.size(); ++i) {
      const unsigned d = static_cast<unsigned char>(s[i]) - unsigned('0');
      if (d > 9) return false;
      v = v * 10 + d;
    }
    *out = negative ? -v : v;
    return true;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

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

// Writes value at key: replaces a present (or expired) record, else inserts.
void Put(Shard& shard, std::string_view key, detail::KeyHash h, std::string_view value,
         std::uint64_t expires) {
  if (shard.header()->ttl_count) shard.ReclaimExpired(detail::os::NowUnixMs(), kReclaimPerWrite);
  shard.Put(key, h, value, expires);
  ++shard.header()->sets;
}

}  // namespace

std::uint64_t Store::Impl::ExpiryFor(std::chrono::milliseconds ttl) {
  if (ttl.count() < 0)
    detail::Throw(errc::invalid_argument, "ttl " + std::to_string(ttl.count()) + " ms is negative");
  return ttl.count() == 0 ? 0 : detail::os::NowUnixMs() + static_cast<std::uint64_t>(ttl.count());
}

namespace {
// Bumped in every child after fork(), so per-thread generators reseed there (getpid() is a
// system call on glibc; checking it per draw would cost more than the draw).
std::atomic<std::uint64_t> fork_generation{1};
}  // namespace

std::uint64_t RandomU64() {
  static const int registered =
      pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); });
  (void)registered;
  thread_local std::uint64_t state = 0;
  thread_local std::uint64_t generation = 0;
  std::uint64_t now = fork_generation.load(std::memory_order_relaxed);
  if (generation != now) {
    generation = now;
    state = detail::os::RandomSeed();
  }
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);  // splitmix64
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// --- lifecycle ---

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

Store Store::open(const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->read_only = options.open_mode == OpenMode::read_only;
  detail::OpenStore(*impl, options);  // segment (recovered from disk if need be) + journaling
  return Store(std::move(impl));
}

void Store::destroy(const std::string& name) {
  detail::Segment::Destroy(name);
}

bool Store::segment_exists(const std::string& name) {
  detail::Segment::ValidateName(name);
  return detail::os::Exists(detail::os::SegmentPath(name));
}

void Store::close() {
  std::string err;
  if (impl_) err = impl_->ClosePersistence();
  if (impl_ && impl_->seg) {
    impl_->FlushAllReads();
    impl_->seg.reset();
  }
  if (!err.empty()) detail::Throw(errc::io_error, err);
}

void Store::Impl::RaiseBadKey(std::string_view key) {
  const std::uint32_t max = geo().max_key_bytes;
  if (key.empty())
    detail::Throw(errc::invalid_argument,
                  "key is empty; keys are 1.." + std::to_string(max) + " bytes");
  detail::Throw(errc::key_too_long, "key is " + std::to_string(key.size()) +
                                        " bytes; max_key_bytes is " + std::to_string(max));
}

void Store::Impl::FlushReads(std::uint32_t shard) {
  PendingReads& p = pending_reads[shard];
  std::uint64_t gets = p.gets.exchange(0, std::memory_order_relaxed);
  std::uint64_t hits = std::min(p.hits.exchange(0, std::memory_order_relaxed), gets);
  detail::ShardHeader* h = seg->shard(shard);
  std::atomic_ref<std::uint64_t>(h->gets).fetch_add(gets, std::memory_order_relaxed);
  std::atomic_ref<std::uint64_t>(h->hits).fetch_add(hits, std::memory_order_relaxed);
  std::atomic_ref<std::uint64_t>(h->misses).fetch_add(gets - hits, std::memory_order_relaxed);
}

void Store::Impl::FlushAllReads() noexcept {
  if (!pending_reads || !seg) return;
  for (std::uint32_t s = 0; s < seg->geo().shard_count; ++s) FlushReads(s);
}

bool Store::is_open() const noexcept {
  return impl_ && impl_->seg;
}

Store::Impl& Store::impl() {
  if (!impl_) detail::Throw(errc::closed, "the store handle was moved from");
  return *impl_;
}

// --- single key ---

std::optional<std::string> Store::get(std::string_view key) {
  std::string value;
  if (!get(key, &value)) return std::nullopt;
  return value;
}

bool Store::get(std::string_view key, std::string* value) {
  Impl& im = impl();
  im.CheckKey(key);
  return im.ReadValue(key, im.RouteOf(key), value);
}

bool Store::Impl::ReadValue(std::string_view key, const Route& route, std::string* value) {
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

void Store::set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) {
  Impl& im = impl();
  im.CheckWritable();
  im.CheckKey(key);
  im.CheckValue(value);
  std::uint64_t expires = Impl::ExpiryFor(ttl);
  auto route = im.RouteOf(key);
  Journaled journal(im);
  ShardLock lock(im.segment(), route.shard, route.hash);
  journal.Set(key, value, expires);  // before the change (write-ahead, see Journaled)
  WriteScope write(lock.shard());
  Put(lock.shard(), key, route.hash, value, expires);
}

bool Store::exists(std::string_view key) {
  Impl& im = impl();
  im.CheckKey(key);
  auto route = im.RouteOf(key);
  std::string value;
  bool found = false;
  if (detail::OptimisticGet(detail::ShardRef::Of(im.segment(), route.shard), key, route.hash,
                            &value, &found))
    return found;
  ShardLock lock(im.segment(), route.shard, route.hash);
  detail::RecordRef rec;
  return FindLive(lock.shard(), key, route.hash, &rec) != kNotFound;
}

bool Store::del(std::string_view key) {
  Impl& im = impl();
  im.CheckWritable();
  im.CheckKey(key);
  auto route = im.RouteOf(key);
  Journaled journal(im);
  ShardLock lock(im.segment(), route.shard, route.hash);
  Shard& shard = lock.shard();
  detail::RecordRef rec;
  std::uint64_t slot = shard.Find(key, route.hash, &rec);
  if (slot == kNotFound) return false;
  const bool live = rec.expires_ms() == 0 || !rec.Expired(detail::os::NowUnixMs());
  journal.Del(key);  // before the change (write-ahead, see Journaled)
  WriteScope write(shard);
  shard.Erase(slot, rec);
  if (live) ++shard.header()->deletes;
  return live;
}

// --- counters ---

std::int64_t Store::increment_by(std::string_view key, std::int64_t delta) {
  Impl& im = impl();
  im.CheckWritable();
  im.CheckKey(key);
  auto route = im.RouteOf(key);
  Journaled journal(im);
  ShardLock lock(im.segment(), route.shard);  // no prefetch: counters are usually cache-hot
  Shard& shard = lock.shard();
  detail::RecordRef rec;
  std::uint64_t slot = FindLive(shard, key, route.hash, &rec);
  char buf[24];
  std::int64_t result;
  if (!journal.active() && slot != kNotFound) {
    WriteScope write(shard);
    if (shard.IncrementInWord(rec, route.hash, delta, &result)) {  // the hot path
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
    if (!ParseInt64(v, &current))
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
  if (slot != kNotFound && journal.active() &&
      shard.IncrementInWord(rec, route.hash, delta, &in_place)) {
    ++shard.header()->sets;
  } else if (slot != kNotFound) {
    shard.Replace(slot, rec, detail::NewValue(route.hash, text), expires);
    ++shard.header()->sets;
  } else {
    Put(shard, key, route.hash, text, expires);
  }
  return result;
}

// --- atomic helpers ---

GetOrSetResult Store::get_or_set(std::string_view key, std::string_view value) {
  Impl& im = impl();
  im.CheckWritable();
  im.CheckKey(key);
  im.CheckValue(value);
  auto route = im.RouteOf(key);
  Journaled journal(im);
  ShardLock lock(im.segment(), route.shard, route.hash);
  Shard& shard = lock.shard();
  detail::RecordRef rec;
  std::uint64_t slot = FindLive(shard, key, route.hash, &rec);
  if (slot != kNotFound) return {std::string(rec.value()), true};
  journal.Set(key, value, 0);
  WriteScope write(shard);
  Put(shard, key, route.hash, value, 0);
  return {std::string(value), false};
}

SwapResult Store::swap(std::string_view key, std::string_view value) {
  Impl& im = impl();
  im.CheckWritable();
  im.CheckKey(key);
  im.CheckValue(value);
  auto route = im.RouteOf(key);
  Journaled journal(im);
  ShardLock lock(im.segment(), route.shard, route.hash);
  Shard& shard = lock.shard();
  detail::RecordRef rec;
  std::uint64_t slot = FindLive(shard, key, route.hash, &rec);
  SwapResult result{std::nullopt, false};
  if (slot != kNotFound) result = {std::string(rec.value()), true};
  journal.Set(key, value, 0);
  WriteScope write(shard);
  Put(shard, key, route.hash, value, 0);
  return result;
}

bool Store::compare_and_swap(std::string_view key, std::optional<std::string_view> expected,
                             std::string_view value) {
  Impl& im = impl();
  im.CheckWritable();
  im.CheckKey(key);
  im.CheckValue(value);
  auto route = im.RouteOf(key);
  Journaled journal(im);
  ShardLock lock(im.segment(), route.shard, route.hash);
  Shard& shard = lock.shard();
  detail::RecordRef rec;
  std::uint64_t slot = FindLive(shard, key, route.hash, &rec);
  bool match = expected ? (slot != kNotFound && rec.value() == *expected) : slot == kNotFound;
  if (!match) {
    ++shard.header()->cas_failure;
    return false;
  }
  journal.Set(key, value, 0);
  WriteScope write(shard);
  Put(shard, key, route.hash, value, 0);
  ++shard.header()->cas_success;
  return true;
}

bool Store::compare_and_delete(std::string_view key, std::string_view expected) {
  Impl& im = impl();
  im.CheckWritable();
  im.CheckKey(key);
  auto route = im.RouteOf(key);
  Journaled journal(im);
  ShardLock lock(im.segment(), route.shard, route.hash);
  Shard& shard = lock.shard();
  detail::RecordRef rec;
  std::uint64_t slot = FindLive(shard, key, route.hash, &rec);
  if (slot == kNotFound || rec.value() != expected) {
    ++shard.header()->cas_failure;
    return false;
  }
  journal.Del(key);
  WriteScope write(shard);
  shard.Erase(slot, rec);
  ++shard.header()->deletes;
  ++shard.header()->cas_success;
  return true;
}

bool Store::set_if_absent(std::string_view key, std::string_view value,
                          std::chrono::milliseconds ttl) {
  Impl& im = impl();
  im.CheckWritable();
  im.CheckKey(key);
  im.CheckValue(value);
  std::uint64_t expires = Impl::ExpiryFor(ttl);
  auto route = im.RouteOf(key);
  Journaled journal(im);
  ShardLock lock(im.segment(), route.shard, route.hash);
  Shard& shard = lock.shard();
  detail::RecordRef rec;
  if (FindLive(shard, key, route.hash, &rec) != kNotFound) return false;
  journal.Set(key, value, expires);
  WriteScope write(shard);
  Put(shard, key, route.hash, value, expires);
  return true;
}

// --- TTL ---

bool Store::expire(std::string_view key, std::chrono::milliseconds ttl) {
  Impl& im = impl();
  im.CheckWritable();
  im.CheckKey(key);
  std::uint64_t expires = Impl::ExpiryFor(ttl);
  auto route = im.RouteOf(key);
  Journaled journal(im);
  ShardLock lock(im.segment(), route.shard, route.hash);
  Shard& shard = lock.shard();
  detail::RecordRef rec;
  std::uint64_t slot = FindLive(shard, key, route.hash, &rec);
  if (slot == kNotFound) return false;
  journal.Set(key, rec.value(), expires);  // after-image, before the change
  WriteScope write(shard);
  shard.SetExpiry(rec, expires);
  return true;
}

std::optional<std::chrono::milliseconds> Store::ttl(std::string_view key) {
  Impl& im = impl();
  im.CheckKey(key);
  auto route = im.RouteOf(key);
  ShardLock lock(im.segment(), route.shard, route.hash);
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
