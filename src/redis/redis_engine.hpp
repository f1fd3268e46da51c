// redis_engine.hpp: RedisEngine, the engine of a store on a Redis (>= 7.0) or Valkey server
// (internal; Options::url set). docs/design.md "The Redis engine" has the layout and the
// failure behaviour.
//
// Layout, every key under the hash tag {name} (one slot, so one server of a cluster):
//   {name}:v:<key>  the value, a string, with the server's own TTL
//   {name}:i        the ordered index: a sorted set, every score 0, one member per key
//   {name}:e        the keys that have a TTL, scored by absolute expiry in ms; scripts drop the
//                   index members of expired keys with it, so counts stay exact
//   {name}:meta     a hash: layout version, max_key_bytes, max_value_bytes, created_ms
//   {name}:g<kind>:<name>, {name}:tok, {name}:b:<name>, {name}:w, {name}:n:<waiter>
//                   coordination: grants, the token counter, barrier rounds, waiters and their
//                   wake lists (redis_coord.cpp)
// Every operation that touches more than one of them is one script (scripts.hpp), so it is
// atomic for every client of the server; gets, exists and ttl are plain commands.
//
// A RedisEngine is process-local and thread-safe: each operation borrows a connection from its
// pool (connection.hpp). It holds no shared state of its own: everything is on the server.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "engine/engine.hpp"
#include "redis/connection.hpp"
#include "redis/scripts.hpp"
#include "shmkv/options.hpp"

namespace shmkv::detail {

class RedisEngine final : public Engine {
 public:
  // Connects, checks the server (version, eviction policy), loads the scripts and creates or
  // attaches the store as options.open_mode says.
  static std::unique_ptr<Engine> Open(const Options& options);
  // Store::destroy and Store::segment_exists for a url.
  static void DestroyStore(const Options& options);
  static bool StoreExists(const Options& options);

  void Close() override;
  bool Get(std::string_view key, std::string* value) override;
  void Set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) override;
  bool Exists(std::string_view key) override;
  bool Del(std::string_view key) override;
  std::int64_t IncrementBy(std::string_view key, std::int64_t delta) override;
  GetOrSetResult GetOrSet(std::string_view key, std::string_view value,
                          std::chrono::milliseconds ttl) override;
  SwapResult Swap(std::string_view key, std::string_view value,
                  std::chrono::milliseconds ttl) override;
  bool CompareAndSwap(std::string_view key, std::optional<std::string_view> expected,
                      std::string_view value, std::chrono::milliseconds ttl,
                      std::optional<std::string>* mismatch) override;
  bool CompareAndDelete(std::string_view key, std::string_view expected) override;
  bool SetIfAbsent(std::string_view key, std::string_view value,
                   std::chrono::milliseconds ttl) override;
  bool Expire(std::string_view key, std::chrono::milliseconds ttl) override;
  std::optional<std::chrono::milliseconds> Ttl(std::string_view key) override;
  std::size_t GetMany(std::span<const std::string_view> keys,
                      std::vector<std::optional<std::string>>* out) override;
  void SetMany(const std::vector<std::pair<std::string, std::string>>& pairs,
               std::chrono::milliseconds ttl) override;
  std::size_t DeleteMany(const std::vector<std::string>& keys) override;
  DeletePrefixResult DeleteRange(const KeyRange& range, std::size_t limit) override;
  std::vector<Entry> List(const ListOptions& options) override;
  std::vector<std::string> ListKeys(const ListOptions& options) override;
  ScanPage Scan(const ScanOptions& options) override;
  KeyScanPage ScanKeys(const ScanOptions& options) override;
  std::size_t Count(const KeyRange& range) override;
  std::optional<std::string> RandomKey(std::string_view prefix) override;
  std::vector<std::string> RandomKeys(std::size_t count, std::string_view prefix,
                                      bool unique) override;
  std::optional<Entry> PopRandom(std::string_view prefix) override;
  std::vector<Entry> PopRandomMany(std::string_view prefix, std::size_t n) override;
  // Coordination (redis_coord.cpp).
  std::optional<Claim> ClaimKey(std::string_view key, std::chrono::milliseconds lease) override;
  std::optional<Claim> ClaimRandom(std::string_view prefix,
                                   std::chrono::milliseconds lease) override;
  bool Renew(std::string_view key, std::uint64_t token, std::chrono::milliseconds lease) override;
  bool Release(std::string_view key, std::uint64_t token) override;
  bool Complete(std::string_view key, std::uint64_t token) override;
  std::optional<std::uint64_t> Lock(std::string_view name, std::chrono::milliseconds lease,
                                    std::chrono::milliseconds wait) override;
  bool Unlock(std::string_view name, std::uint64_t token) override;
  std::optional<std::uint64_t> Acquire(std::string_view semaphore, std::uint32_t permits,
                                       std::chrono::milliseconds wait) override;
  bool ReleasePermit(std::string_view semaphore, std::uint64_t token) override;
  bool WaitFor(std::string_view key, std::chrono::milliseconds timeout) override;
  std::optional<Entry> PopRandomWait(std::string_view prefix,
                                     std::chrono::milliseconds timeout) override;
  std::optional<std::size_t> Barrier(std::string_view name, std::uint32_t parties,
                                     std::chrono::milliseconds timeout) override;
  std::size_t Size() override;
  void Clear() override;
  Info GetInfo() override;
  Stats GetStats() override;
  BackupResult Backup(const std::string& path) override;
  RestoreResult Restore(const std::string& path, const RestoreOptions& options) override;
  RecoveryReport GetRecoveryReport() override;
  void Sync() override;
  BackupResult Snapshot() override;
  std::vector<std::string> CheckInvariants() override;

  // The engine's connection to its store, shared by Open, Destroy and Exists (redis_open.cpp).
  RedisEngine(const Options& options, RedisAddress address);
  void LoadScripts();
  // Creates or attaches the store's meta hash; see Open.
  void OpenMeta(const Options& options);

 private:
  // A script call: EVALSHA of s with the index keys (and the value key of `key`, if given) and
  // args. A script the server forgot (restart, SCRIPT FLUSH) is loaded again and the call
  // repeated: NOSCRIPT means it did not run. Error replies raise (RaiseServerError).
  Reply Eval(Script s, const std::string* value_key, std::initializer_list<std::string_view> args,
             Effect effect);
  // The same for a script call already built (EvalCommand plus more arguments).
  Reply RunScript(Script s, const Command& c, Effect effect);
  // Many calls of one single-key script, pipelined; the same rules per call.
  std::vector<Reply> EvalMany(Script s, const std::vector<std::string>& value_keys,
                              const std::vector<std::vector<std::string_view>>& args,
                              Effect effect);
  // MULTI, the commands, EXEC in one write: atomic like a script, without Lua on the server.
  // Returns EXEC's reply, one element per command (an element may be an error: a command that
  // fails while running does not undo the others, so callers send only commands whose failure
  // leaves nothing half-done). A transaction refused before it ran (OOM) raises.
  Reply Transaction(std::span<const Command> body, const char* operation);
  Command EvalCommand(Script s, const std::string* value_key,
                      std::span<const std::string_view> args) const;
  // Raises the shmkv error an error reply means, naming the operation (an unknown one: io_error
  // with the server's text).
  [[noreturn]] void RaiseServerError(const redisReply* reply, const char* operation) const;
  void CheckNotError(const redisReply* reply, const char* operation) const;

  std::string ValueKey(std::string_view key) const { return value_prefix_ + std::string(key); }
  // The ordered reads, one page of at most `want` live keys from lex bound lo.
  struct Page {
    std::vector<std::string> keys, values;
    bool more = false;
  };
  Page ReadPage(const std::string& lo, const std::string& hi, std::size_t want, bool values);
  // Every live key (and value) of [lo, hi), at most limit (0 = all), in pages.
  Page ReadRange(std::string lo, const std::string& hi, std::size_t limit, bool values);
  std::vector<std::string> Draw(Script s, std::string_view prefix, std::size_t n);
  // Wakes the waiters of keys a transaction wrote, if `anyone_waits` (its EXISTS of waiters_key_).
  void WakeKeys(const redisReply* anyone_waits, std::span<const std::string_view> keys);

  // --- coordination (redis_coord.cpp) ---
  // One try of a grant, a claim, a pop or a wait: `granted` with the script's reply, or what
  // stood in the way (the holders' client ids, the ms until the first of their leases ends).
  struct Attempt {
    Reply reply;
    bool granted = false;
    const redisReply* holders = nullptr;  // an array in reply, or null
    std::optional<long long> retry_in_ms;
  };
  // Makes attempts until one is granted or `wait` runs out (null reply then), sleeping in
  // between on this call's own wake list (BLPOP), never polling. An attempt gets the dead
  // holders' ids found so far, and the waiter member to register when it fails ('' when it
  // must not wait): failing and registering in one script loses no wake.
  using AttemptFn = std::function<Attempt(const std::string& dead, const std::string& waiter,
                                          std::chrono::milliseconds left)>;
  Reply AttemptUntil(char kind, std::string_view subject, std::chrono::milliseconds wait,
                     const AttemptFn& attempt);
  // The attempt of a script whose reply is {1, ...} when granted, else {0, ms or false, holders}.
  Attempt Judge(Reply r) const;
  // The client ids of `holders` (an array reply) that CLIENT LIST no longer shows, not already
  // in `known_dead`, separated by spaces ('' when all are alive, or when the server does not
  // let us ask: leases alone then).
  std::string DeadAmong(const redisReply* holders, const std::string& known_dead);
  // This process's holder id: the CLIENT ID of its presence connection, opened at the first
  // grant and kept for the handle's life (a new one if the server closed it).
  std::string HolderId();
  void SleepOn(const std::string& waiter_id, std::chrono::milliseconds wait);
  void DropWaiter(const std::string& id, const std::string& member);
  struct WaiterCleanup;
  struct PopResult {
    std::vector<Entry> entries;
    Attempt attempt;
  };
  PopResult PopPage(std::string_view prefix, std::size_t n, const std::string& dead,
                    const std::string& waiter, std::chrono::milliseconds left);
  std::optional<std::uint64_t> Take(char kind, std::string_view name, std::uint32_t limit,
                                    std::chrono::milliseconds lease,
                                    std::chrono::milliseconds wait);
  bool GiveBack(char kind, std::string_view name, std::uint64_t token);
  // info()'s coordination part: every grant of the store (SCAN of {name}:g*). With `problems`,
  // check_invariants's: a member that is not "<token> <holder>" with a numeric or inf score,
  // or a token above the store's counter, is named there (and left out of the view).
  CoordinationInfo CoordinationView(std::vector<std::string>* problems = nullptr);

  ConnectionPool pool_;
  std::string name_, index_key_, expiry_key_, meta_key_, value_prefix_, waiters_key_;
  std::mutex presence_mu_;
  std::unique_ptr<Connection> presence_;
  std::string holder_id_;
  std::array<std::string, static_cast<std::size_t>(Script::kCount)> sha_;
  std::string server_version_;
};

}  // namespace shmkv::detail
