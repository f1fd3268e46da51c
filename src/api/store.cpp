// store.cpp: the front of shmkv::Store (store.hpp): opening, the fork guard, and the checks of
// every argument, done once here for every engine; each operation then calls its engine
// (engine.hpp) with arguments that passed. No shared state of its own: a Store is a
// process-local handle on an engine.
//
// To add an operation: declare it in store.hpp, check its arguments and forward it here, add
// its virtual to engine.hpp, and implement it in each engine (ShmEngine: shm_engine.cpp).
#include "shmkv/store.hpp"

#include <string>

#include "engine/engine.hpp"
#include "engine/key_range.hpp"
#include "engine/shm_engine.hpp"
#include "os/os.hpp"
#include "os/throw.hpp"
#include "redis/redis_engine.hpp"
#include "shm/segment.hpp"

namespace shmkv {

using detail::Engine;
using detail::KeyFilter;
using detail::PrintableBytes;
using detail::Throw;

namespace {

[[noreturn, gnu::cold]] void RaiseBadKey(const Engine& e, std::string_view key) {
  const std::uint32_t max = e.limits().max_key_bytes;
  if (key.empty())
    Throw(errc::invalid_argument, "key is empty; keys are 1.." + std::to_string(max) + " bytes");
  Throw(errc::key_too_long,
        "key is " + std::to_string(key.size()) + " bytes; max_key_bytes is " + std::to_string(max));
}

// Inline: every operation checks its key; the message is built out of line.
inline void CheckKey(const Engine& e, std::string_view key) {
  if (key.empty() || key.size() > e.limits().max_key_bytes) [[unlikely]]
    RaiseBadKey(e, key);
}

inline void CheckValue(const Engine& e, std::string_view value) {
  const std::uint32_t max = e.limits().max_value_bytes;
  if (value.size() > max) [[unlikely]]
    Throw(errc::value_too_large, "value is " + std::to_string(value.size()) +
                                     " bytes; max_value_bytes is " + std::to_string(max));
}

inline void CheckTtl(std::chrono::milliseconds ttl) {
  if (ttl.count() < 0) [[unlikely]]
    Throw(errc::invalid_argument, "ttl " + std::to_string(ttl.count()) + " ms is negative");
}

inline void CheckWritable(const Engine& e) {
  if (e.limits().read_only) [[unlikely]]
    Throw(errc::read_only, "store '" + e.limits().name + "' was opened read-only");
}

// A write of value at key, with its TTL (0 = none).
inline void CheckWrite(const Engine& e, std::string_view key, std::string_view value,
                       std::chrono::milliseconds ttl) {
  CheckWritable(e);
  CheckKey(e, key);
  CheckValue(e, value);
  CheckTtl(ttl);
}

// A range's bounds (KeyFilter::Inverted); `operation` names the call in the message.
void CheckRange(const char* operation, const KeyFilter& filter) {
  if (filter.Inverted()) [[unlikely]]
    Throw(errc::invalid_argument, std::string(operation) + " range is inverted: to '" +
                                      PrintableBytes(filter.to) + "' is below from '" +
                                      PrintableBytes(filter.from) +
                                      "' (to == from is an empty range)");
}

// The number of keys random_keys draws or pop_random_many pops.
void CheckRandomCount(const char* operation, const char* what, std::size_t n) {
  if (n == 0 || n > Store::kMaxRandomKeys) [[unlikely]]
    Throw(errc::invalid_argument, std::string(operation) + " " + what + " is " + std::to_string(n) +
                                      "; it must be 1.." + std::to_string(Store::kMaxRandomKeys));
}

// A lease (claims, locks) must be positive; a wait may be 0 (do not wait).
void CheckLease(const char* operation, std::chrono::milliseconds lease) {
  if (lease.count() <= 0) [[unlikely]]
    Throw(errc::invalid_argument, std::string(operation) + " lease " +
                                      std::to_string(lease.count()) + " ms is not positive");
}

void CheckWait(const char* operation, std::chrono::milliseconds wait) {
  if (wait.count() < 0) [[unlikely]]
    Throw(errc::invalid_argument, std::string(operation) + " wait or timeout " +
                                      std::to_string(wait.count()) + " ms is negative");
}

void CheckPath(const std::string& path, const char* what) {
  if (path.empty()) Throw(errc::invalid_argument, std::string(what) + " path is empty");
}

}  // namespace

// --- lifecycle ---

Store::Store(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;

Store::~Store() {
  // A handle inherited across fork(): its threads, files and registration are the parent's.
  if (engine_ && !engine_->InOpeningProcess()) (void)engine_.release();
}

// The engine Options::url names: the shared-memory one when it is empty. Every engine takes the
// same names; each refuses the other's options left away from their defaults.
Store Store::open(const Options& options) {
  detail::Segment::ValidateName(options.name);
  for (auto [option, ms] : {std::pair{"connect_timeout", options.connect_timeout},
                            std::pair{"command_timeout", options.command_timeout}})
    if (ms.count() < 0)
      Throw(errc::invalid_argument,
            std::string(option) + " " + std::to_string(ms.count()) + " ms is negative");
  if (!options.url.empty()) return Store(detail::RedisEngine::Open(options));
  static const RedisOptions kDefault;
  if (options.connect_timeout != kDefault.connect_timeout ||
      options.command_timeout != kDefault.command_timeout)
    Throw(errc::invalid_argument,
          "options connect_timeout and command_timeout apply to a store on a server (url); "
          "store '" +
              options.name + "' is in shared memory (leave them at their defaults)");
  return Store(detail::OpenShmEngine(options));
}

void Store::destroy(const std::string& name) {
  detail::Segment::Destroy(name);
}

void Store::destroy(const Options& options) {
  detail::Segment::ValidateName(options.name);
  if (options.url.empty()) return destroy(options.name);
  detail::RedisEngine::DestroyStore(options);
}

bool Store::segment_exists(const std::string& name) {
  detail::Segment::ValidateName(name);
  return detail::os::Exists(detail::os::SegmentPath(name));
}

bool Store::segment_exists(const Options& options) {
  if (options.url.empty()) return segment_exists(options.name);
  detail::Segment::ValidateName(options.name);
  return detail::RedisEngine::StoreExists(options);
}

void Store::close() {
  if (!engine_) return;
  if (!engine_->InOpeningProcess()) {
    (void)engine_.release();  // see ~Store
    return;
  }
  std::unique_ptr<Engine> engine = std::move(engine_);
  engine->Close();  // closed from here on, even when this raises
}

bool Store::is_open() const noexcept {
  return engine_ != nullptr;
}

Engine& Store::engine() {
  if (!engine_) [[unlikely]]
    Throw(errc::closed, "the store handle is closed");
  if (!engine_->InOpeningProcess()) [[unlikely]]
    Throw(errc::closed, "this handle was opened by process " +
                            std::to_string(engine_->opener_pid()) +
                            " and inherited across fork(); open a new handle in process " +
                            std::to_string(detail::os::Pid()));
  return *engine_;
}

// --- single key ---

std::optional<std::string> Store::get(std::string_view key) {
  std::string value;
  if (!get(key, &value)) return std::nullopt;
  return value;
}

bool Store::get(std::string_view key, std::string* value) {
  Engine& e = engine();
  CheckKey(e, key);
  return e.Get(key, value);
}

void Store::set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) {
  Engine& e = engine();
  CheckWrite(e, key, value, ttl);
  e.Set(key, value, ttl);
}

bool Store::exists(std::string_view key) {
  Engine& e = engine();
  CheckKey(e, key);
  return e.Exists(key);
}

bool Store::del(std::string_view key) {
  Engine& e = engine();
  CheckWritable(e);
  CheckKey(e, key);
  return e.Del(key);
}

std::int64_t Store::increment_by(std::string_view key, std::int64_t delta) {
  Engine& e = engine();
  CheckWritable(e);
  CheckKey(e, key);
  return e.IncrementBy(key, delta);
}

GetOrSetResult Store::get_or_set(std::string_view key, std::string_view value,
                                 std::chrono::milliseconds ttl) {
  Engine& e = engine();
  CheckWrite(e, key, value, ttl);
  return e.GetOrSet(key, value, ttl);
}

SwapResult Store::swap(std::string_view key, std::string_view value,
                       std::chrono::milliseconds ttl) {
  Engine& e = engine();
  CheckWrite(e, key, value, ttl);
  return e.Swap(key, value, ttl);
}

bool Store::compare_and_swap(std::string_view key, std::optional<std::string_view> expected,
                             std::string_view value, std::chrono::milliseconds ttl) {
  Engine& e = engine();
  CheckWrite(e, key, value, ttl);
  return e.CompareAndSwap(key, expected, value, ttl, nullptr);
}

CasOutcome Store::compare_and_swap_detailed(std::string_view key,
                                            std::optional<std::string_view> expected,
                                            std::string_view value, std::chrono::milliseconds ttl) {
  Engine& e = engine();
  CheckWrite(e, key, value, ttl);
  CasOutcome outcome{false, std::nullopt};
  outcome.swapped = e.CompareAndSwap(key, expected, value, ttl, &outcome.current);
  if (outcome.swapped) outcome.current.emplace(value);
  return outcome;
}

bool Store::compare_and_delete(std::string_view key, std::string_view expected) {
  Engine& e = engine();
  CheckWritable(e);
  CheckKey(e, key);
  return e.CompareAndDelete(key, expected);
}

bool Store::set_if_absent(std::string_view key, std::string_view value,
                          std::chrono::milliseconds ttl) {
  Engine& e = engine();
  CheckWrite(e, key, value, ttl);
  return e.SetIfAbsent(key, value, ttl);
}

bool Store::expire(std::string_view key, std::chrono::milliseconds ttl) {
  Engine& e = engine();
  CheckWritable(e);
  CheckKey(e, key);
  CheckTtl(ttl);
  return e.Expire(key, ttl);
}

std::optional<std::chrono::milliseconds> Store::ttl(std::string_view key) {
  Engine& e = engine();
  CheckKey(e, key);
  return e.Ttl(key);
}

// --- batches: every entry is checked before the engine sees any ---

std::vector<std::optional<std::string>> Store::get_many(const std::vector<std::string>& keys) {
  std::vector<std::string_view> views(keys.begin(), keys.end());
  std::vector<std::optional<std::string>> out;
  get_many(views, &out);
  return out;
}

std::size_t Store::get_many(std::span<const std::string_view> keys,
                            std::vector<std::optional<std::string>>* out) {
  Engine& e = engine();
  for (std::string_view k : keys) CheckKey(e, k);
  return e.GetMany(keys, out);
}

void Store::set_many(const std::vector<std::pair<std::string, std::string>>& pairs,
                     std::chrono::milliseconds ttl) {
  Engine& e = engine();
  CheckWritable(e);
  for (const auto& [k, v] : pairs) {
    CheckKey(e, k);
    CheckValue(e, v);
  }
  CheckTtl(ttl);
  e.SetMany(pairs, ttl);
}

std::size_t Store::delete_many(const std::vector<std::string>& keys) {
  Engine& e = engine();
  CheckWritable(e);
  for (const auto& k : keys) CheckKey(e, k);
  return e.DeleteMany(keys);
}

DeletePrefixResult Store::delete_prefix(std::string_view prefix, std::size_t limit) {
  Engine& e = engine();
  CheckWritable(e);
  if (prefix.empty()) [[unlikely]]
    Throw(errc::invalid_argument,
          "delete_prefix prefix is empty, which would delete every key; use clear() for that");
  return e.DeleteRange(KeyRange{std::string(prefix), {}, {}}, limit);
}

DeletePrefixResult Store::delete_range(const KeyRange& range, std::size_t limit) {
  Engine& e = engine();
  CheckWritable(e);
  const KeyFilter filter = KeyFilter::Of(range);
  if (filter.SelectsAll()) [[unlikely]]
    Throw(errc::invalid_argument,
          "delete_range range has no prefix, from or to, which would delete every key; use "
          "clear() for that");
  CheckRange("delete_range", filter);
  return e.DeleteRange(range, limit);
}

// --- ordered and random reads ---

std::vector<Entry> Store::list(const ListOptions& options) {
  Engine& e = engine();
  CheckRange("list", KeyFilter::Of(options));
  return e.List(options);
}

std::vector<std::string> Store::list_keys(const ListOptions& options) {
  Engine& e = engine();
  CheckRange("list_keys", KeyFilter::Of(options));
  return e.ListKeys(options);
}

ScanPage Store::scan(const ScanOptions& options) {
  Engine& e = engine();
  CheckRange("scan", KeyFilter::Of(options));
  return e.Scan(options);
}

KeyScanPage Store::scan_keys(const ScanOptions& options) {
  Engine& e = engine();
  CheckRange("scan_keys", KeyFilter::Of(options));
  return e.ScanKeys(options);
}

std::size_t Store::count(const KeyRange& range) {
  Engine& e = engine();
  CheckRange("count", KeyFilter::Of(range));
  return e.Count(range);
}

std::size_t Store::count(std::string_view prefix) {
  return count(KeyRange{std::string(prefix), {}, {}});
}

std::optional<std::string> Store::random_key(std::string_view prefix) {
  return engine().RandomKey(prefix);
}

std::vector<std::string> Store::random_keys(std::size_t count, std::string_view prefix,
                                            bool unique) {
  Engine& e = engine();
  CheckRandomCount("random_keys", "count", count);
  return e.RandomKeys(count, prefix, unique);
}

std::optional<Entry> Store::pop_random(std::string_view prefix) {
  Engine& e = engine();
  CheckWritable(e);
  return e.PopRandom(prefix);
}

std::vector<Entry> Store::pop_random_many(std::string_view prefix, std::size_t n) {
  Engine& e = engine();
  CheckWritable(e);
  CheckRandomCount("pop_random_many", "n", n);
  return e.PopRandomMany(prefix, n);
}

// --- coordination ---

std::optional<Claim> Store::claim(std::string_view key, std::chrono::milliseconds lease) {
  Engine& e = engine();
  CheckWritable(e);
  CheckKey(e, key);
  CheckLease("claim", lease);
  return e.ClaimKey(key, lease);
}

std::optional<Claim> Store::claim_random(std::string_view prefix, std::chrono::milliseconds lease) {
  Engine& e = engine();
  CheckWritable(e);
  CheckLease("claim_random", lease);
  return e.ClaimRandom(prefix, lease);
}

bool Store::renew(std::string_view key, std::uint64_t token, std::chrono::milliseconds lease) {
  Engine& e = engine();
  CheckWritable(e);
  CheckKey(e, key);
  CheckLease("renew", lease);
  return e.Renew(key, token, lease);
}

bool Store::release(std::string_view key, std::uint64_t token) {
  Engine& e = engine();
  CheckWritable(e);
  CheckKey(e, key);
  return e.Release(key, token);
}

bool Store::complete(std::string_view key, std::uint64_t token) {
  Engine& e = engine();
  CheckWritable(e);
  CheckKey(e, key);
  return e.Complete(key, token);
}

std::optional<std::uint64_t> Store::lock(std::string_view name, std::chrono::milliseconds lease,
                                         std::chrono::milliseconds wait) {
  Engine& e = engine();
  CheckWritable(e);
  CheckKey(e, name);
  CheckLease("lock", lease);
  CheckWait("lock", wait);
  return e.Lock(name, lease, wait);
}

bool Store::unlock(std::string_view name, std::uint64_t token) {
  Engine& e = engine();
  CheckWritable(e);
  CheckKey(e, name);
  return e.Unlock(name, token);
}

std::optional<std::uint64_t> Store::acquire(std::string_view semaphore, std::uint32_t permits,
                                            std::chrono::milliseconds wait) {
  Engine& e = engine();
  CheckWritable(e);
  CheckKey(e, semaphore);
  if (permits == 0) Throw(errc::invalid_argument, "acquire permits is 0; it must be at least 1");
  CheckWait("acquire", wait);
  return e.Acquire(semaphore, permits, wait);
}

bool Store::release_permit(std::string_view semaphore, std::uint64_t token) {
  Engine& e = engine();
  CheckWritable(e);
  CheckKey(e, semaphore);
  return e.ReleasePermit(semaphore, token);
}

bool Store::wait_for(std::string_view key, std::chrono::milliseconds timeout) {
  Engine& e = engine();
  CheckKey(e, key);
  CheckWait("wait_for", timeout);
  return e.WaitFor(key, timeout);
}

std::optional<Entry> Store::pop_random_wait(std::string_view prefix,
                                            std::chrono::milliseconds timeout) {
  Engine& e = engine();
  CheckWritable(e);
  CheckWait("pop_random_wait", timeout);
  return e.PopRandomWait(prefix, timeout);
}

std::optional<std::size_t> Store::barrier(std::string_view name, std::uint32_t parties,
                                          std::chrono::milliseconds timeout) {
  Engine& e = engine();
  CheckWritable(e);
  CheckKey(e, name);
  if (parties == 0) Throw(errc::invalid_argument, "barrier parties is 0; it must be at least 1");
  CheckWait("barrier", timeout);
  return e.Barrier(name, parties, timeout);
}

// --- whole store ---

std::size_t Store::size() {
  return engine().Size();
}

void Store::clear() {
  Engine& e = engine();
  CheckWritable(e);
  e.Clear();
}

Info Store::info() {
  return engine().GetInfo();
}

Stats Store::stats() {
  return engine().GetStats();
}

std::vector<std::string> Store::check_invariants() {
  return engine().CheckInvariants();
}

// --- persistence, backup and restore ---

BackupResult Store::backup(const std::string& path) {
  Engine& e = engine();
  CheckPath(path, "backup");
  return e.Backup(path);
}

RestoreResult Store::restore(const std::string& path, const RestoreOptions& options) {
  Engine& e = engine();
  CheckWritable(e);
  CheckPath(path, "restore");
  return e.Restore(path, options);
}

RecoveryReport Store::recovery_report() {
  return engine().GetRecoveryReport();
}

void Store::sync() {
  engine().Sync();
}

BackupResult Store::snapshot() {
  return engine().Snapshot();
}

}  // namespace shmkv
