// engine.hpp: the seam between the front (shmkv::Store, store.cpp) and an engine (internal).
//
// The front owns everything that does not depend on where the data lives: argument validation
// (key and value limits, TTLs, prefixes, counts), the read-only check, the fork guard and the
// error messages of bad input. It calls an engine only with arguments that passed, on a handle
// that is open in the process that opened it. An engine owns everything else, atomicity
// included: each virtual below is one whole operation, with the semantics store.hpp documents
// for the Store method of the same name, never a get/put primitive the front composes.
//
// Engines: ShmEngine (shm_engine.hpp; the shared-memory segment). An engine object is
// process-local and may be used by several threads at once, as a Store may.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "os/os.hpp"
#include "shmkv/store.hpp"

namespace shmkv::detail {

// What the front validates against; fixed when the engine is opened.
struct EngineLimits {
  std::string name;  // the store's name, for messages
  std::uint32_t max_key_bytes = 0;
  std::uint32_t max_value_bytes = 0;
  bool read_only = false;
};

class Engine {
 public:
  Engine() = default;
  virtual ~Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const EngineLimits& limits() const { return limits_; }
  // Whether the calling process is the one that opened the engine (not a fork() child of it),
  // and that process's pid, for messages.
  bool InOpeningProcess() const { return fork_generation_ == os::ForkGeneration(); }
  pid_t opener_pid() const { return opener_pid_; }

  // Releases the engine's resources; raises io_error for a failure it could not report before
  // (Store::close). Called once; the front drops the engine afterwards, whatever happens.
  virtual void Close() = 0;

  virtual bool Get(std::string_view key, std::string* value) = 0;
  virtual void Set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) = 0;
  virtual bool Exists(std::string_view key) = 0;
  virtual bool Del(std::string_view key) = 0;
  virtual std::int64_t IncrementBy(std::string_view key, std::int64_t delta) = 0;
  // ttl: as Set's, for the value stored (the front checked it is not negative).
  virtual GetOrSetResult GetOrSet(std::string_view key, std::string_view value,
                                  std::chrono::milliseconds ttl) = 0;
  virtual SwapResult Swap(std::string_view key, std::string_view value,
                          std::chrono::milliseconds ttl) = 0;
  // mismatch (may be null): on a failed comparison, receives the value the key held (nullopt if
  // absent), read under the same lock as the comparison (compare_and_swap_detailed).
  virtual bool CompareAndSwap(std::string_view key, std::optional<std::string_view> expected,
                              std::string_view value, std::chrono::milliseconds ttl,
                              std::optional<std::string>* mismatch) = 0;
  virtual bool CompareAndDelete(std::string_view key, std::string_view expected) = 0;
  virtual bool SetIfAbsent(std::string_view key, std::string_view value,
                           std::chrono::milliseconds ttl) = 0;
  virtual bool Expire(std::string_view key, std::chrono::milliseconds ttl) = 0;
  virtual std::optional<std::chrono::milliseconds> Ttl(std::string_view key) = 0;

  virtual std::size_t GetMany(std::span<const std::string_view> keys,
                              std::vector<std::optional<std::string>>* out) = 0;
  virtual void SetMany(const std::vector<std::pair<std::string, std::string>>& pairs,
                       std::chrono::milliseconds ttl) = 0;
  virtual std::size_t DeleteMany(const std::vector<std::string>& keys) = 0;
  // delete_range and delete_prefix (a range of one prefix). Ranges (here and below): the front
  // refused inverted ones and an all-empty one to delete; the keys a range selects are those
  // detail::KeyFilter (key_range.hpp) matches.
  virtual DeletePrefixResult DeleteRange(const KeyRange& range, std::size_t limit) = 0;

  virtual std::vector<Entry> List(const ListOptions& options) = 0;
  virtual std::vector<std::string> ListKeys(const ListOptions& options) = 0;
  virtual ScanPage Scan(const ScanOptions& options) = 0;
  virtual KeyScanPage ScanKeys(const ScanOptions& options) = 0;
  virtual std::size_t Count(const KeyRange& range) = 0;
  virtual std::optional<std::string> RandomKey(std::string_view prefix) = 0;
  virtual std::vector<std::string> RandomKeys(std::size_t count, std::string_view prefix,
                                              bool unique) = 0;
  virtual std::optional<Entry> PopRandom(std::string_view prefix) = 0;
  // n: checked to be 1..Store::kMaxRandomKeys.
  virtual std::vector<Entry> PopRandomMany(std::string_view prefix, std::size_t n) = 0;

  // Coordination: names and keys checked against the key limits, lease > 0, permits >= 1,
  // wait >= 0.
  virtual std::optional<Claim> ClaimKey(std::string_view key, std::chrono::milliseconds lease) = 0;
  virtual std::optional<Claim> ClaimRandom(std::string_view prefix,
                                           std::chrono::milliseconds lease) = 0;
  virtual bool Renew(std::string_view key, std::uint64_t token,
                     std::chrono::milliseconds lease) = 0;
  virtual bool Release(std::string_view key, std::uint64_t token) = 0;
  virtual bool Complete(std::string_view key, std::uint64_t token) = 0;
  virtual std::optional<std::uint64_t> Lock(std::string_view name, std::chrono::milliseconds lease,
                                            std::chrono::milliseconds wait) = 0;
  virtual bool Unlock(std::string_view name, std::uint64_t token) = 0;
  virtual std::optional<std::uint64_t> Acquire(std::string_view semaphore, std::uint32_t permits,
                                               std::chrono::milliseconds wait) = 0;
  virtual bool ReleasePermit(std::string_view semaphore, std::uint64_t token) = 0;
  virtual bool WaitFor(std::string_view key, std::chrono::milliseconds timeout) = 0;
  virtual std::optional<Entry> PopRandomWait(std::string_view prefix,
                                             std::chrono::milliseconds timeout) = 0;
  virtual std::optional<std::size_t> Barrier(std::string_view name, std::uint32_t parties,
                                             std::chrono::milliseconds timeout) = 0;

  virtual std::size_t Size() = 0;
  virtual void Clear() = 0;
  virtual Info GetInfo() = 0;
  virtual Stats GetStats() = 0;

  virtual BackupResult Backup(const std::string& path) = 0;
  virtual RestoreResult Restore(const std::string& path, const RestoreOptions& options) = 0;
  virtual RecoveryReport GetRecoveryReport() = 0;
  virtual void Sync() = 0;
  virtual BackupResult Snapshot() = 0;
  virtual std::vector<std::string> CheckInvariants() = 0;

 protected:
  EngineLimits limits_;

 private:
  std::uint64_t fork_generation_ = os::ForkGeneration();
  pid_t opener_pid_ = os::Pid();
};

}  // namespace shmkv::detail
