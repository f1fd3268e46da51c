// stress_worker.hpp: the Worker class of shmkv-stress (internal to stress/).
//
// A worker owns the keys "w<slot>:<k>" of its slot: nobody else writes them, so it keeps an
// exact local model of them (up to short TTLs running out) and checks every result against it.
// stress_worker.cpp holds the reporting protocol, start-up verification and the main loop;
// stress_worker_ops.cpp the operations.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "shmkv/shmkv.hpp"
#include "stress_common.hpp"

namespace stress {

using shmkv::Store;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Seen = std::optional<std::int64_t>;  // an owned key as read: absent, or its gen / number

std::string Describe(const State& s);
std::string Describe(Seen s);

enum Op {
  kGetOwn,
  kExistsTtl,
  kGetOther,
  kSet,
  kExpire,
  kDel,
  kIncOwn,
  kHotInc,
  kCas,
  kCad,
  kGetOrSet,
  kSetIfAbsent,
  kSwap,
  kSetMany,
  kGetMany,
  kDeleteMany,
  kPop,
  kScratch,
  kRandomKey,
  kList,
  kScan,
  kCount,
  kListOther,
  kNotNumber,
  kCoord,  // claims, the lock, semaphore permits, a barrier (stress_coord.hpp)
  kNumOps
};
constexpr unsigned kWeights[kNumOps] = {14, 2, 8, 12, 3, 5, 6, 8, 6, 2, 4, 2, 4,
                                        3,  2, 1, 6,  3, 2, 2, 1, 1, 1, 1, 3};

class Worker {
 public:
  Worker(const Config& cfg, int slot, std::uint32_t spawn, int fd, const SlotModel& model)
      : cfg_(cfg),
        slot_(slot),
        spawn_(spawn),
        fd_(fd),
        prefix_(SlotPrefix(slot)),
        rng_(Mix64(cfg.seed + Mix64(std::uint64_t(slot) + 1) + Mix64(spawn) * 31)),
        model_(model),
        store_(OpenStore(cfg)) {
    for (unsigned w : kWeights) total_weight_ += w;
  }

  int Run();
  static Store OpenStore(const Config& cfg) {
    shmkv::Options o;
    o.name = cfg.name;
    o.open_mode = shmkv::OpenMode::attach_only;
    return Store::open(o);
  }

 private:
  // --- reporting ---
  void Emit(RecordType t, std::uint32_t key = 0, std::int64_t v = 0, Kind kind = kAbsent) {
    if (len_ + 2 * sizeof(Record) > kPipeBatch) Flush();
    Record r{t, kind, 0, key, v};
    std::memcpy(buf_ + len_, &r, sizeof r);
    len_ += sizeof r;
  }
  void Flush();
  void Fail(RecordType t, std::uint32_t key, std::int64_t v, const std::string& what);

  // --- owned keys ---
  std::string Key(std::uint32_t k) const { return OwnedKey(slot_, k); }
  std::string ValueOf(std::uint32_t k, const State& s) const {
    return IsNumericKey(k) ? std::to_string(s.v) : MakeValue(Key(k), std::uint64_t(s.v));
  }
  // A fresh state for key k: a new generation (value key) or a random number (numeric key).
  State Fresh(std::uint32_t k, Kind kind = kPresent) {
    if (IsNumericKey(k)) return {static_cast<std::int64_t>(rng_.Below(2000000)) - 1000000, kind};
    return {static_cast<std::int64_t>((std::uint64_t(spawn_) << 32) | ++gen_counter_), kind};
  }
  // Decodes a read of owned key k; false (torn read reported) if the bytes are not well formed.
  bool Decode(std::uint32_t k, const std::optional<std::string>& raw, Seen* seen);
  // Checks a read against the model; on a match, refines kMayExpire to absent when so observed.
  void Observe(std::uint32_t k, const std::optional<std::string>& raw, const char* op);
  // The candidate `seen` matches (absent matches anything not kPresent), if any; of two that
  // match, the one that may expire.
  static std::optional<State> Pick(Seen seen, std::initializer_list<State> candidates);
  // True if `prior` (what a write replaced) matches the model; else reports a lost write.
  bool CheckPrior(std::uint32_t k, const State& old, Seen prior, const char* op);
  void Announce(std::uint32_t k, const State& next) {
    pending_.push_back({k, st_[k], next});
    Emit(kIntent, k, next.v, next.kind);
  }
  void Settle(std::uint32_t k, const State& s) {
    st_[k] = s;
    Emit(kAck, k, s.v, s.kind);
  }
  // After a failed or wrong write: re-reads each announced key and accepts its old or new state.
  void Resync();
  void Wrong(std::uint32_t k, const char* op, const std::string& detail) {
    Fail(kError, k, -1, std::string(op) + " on " + Key(k) + ": " + detail);
  }
  std::uint32_t AnyKey() { return static_cast<std::uint32_t>(rng_.Below(cfg_.keys)); }
  std::uint32_t ValueKey() {
    std::uint32_t k = AnyKey();
    return IsNumericKey(k) ? k - 1 : k;
  }
  milliseconds ShortTtl() { return milliseconds(1 + rng_.Below(40)); }
  static constexpr milliseconds kLongTtl{24 * 3600 * 1000};
  static constexpr std::string_view kNeverHeld = "never-held";  // neither a number nor a value
  std::vector<std::uint32_t> DistinctKeys(std::size_t n);

  void VerifyRange();
  void VerifyOther(const std::string& key, const std::optional<std::string>& raw);
  void CheckListing(const std::string& prefix, const std::vector<shmkv::Entry>& entries,
                    bool complete, const char* op);
  void DoOp(Op op);
  void DoOwnWrite(Op op);
  void DoMulti(Op op);
  void DoScratch();
  void DoReads(Op op);
  void Sabotage();

  const Config& cfg_;
  const int slot_;
  const std::uint32_t spawn_;
  const int fd_;
  const std::string prefix_;
  Rng rng_;
  const SlotModel& model_;
  Store store_;
  std::vector<State> st_;
  struct Pending {
    std::uint32_t k;
    State old, next;
  };
  std::vector<Pending> pending_;
  bool inc_pending_ = false, pop_pending_ = false;
  std::uint32_t gen_counter_ = 0;
  std::set<std::string> scratch_;  // live keys under ScratchPrefix(slot)
  std::uint64_t ops_unreported_ = 0;
  unsigned total_weight_ = 0;
  char buf_[kPipeBatch];
  std::size_t len_ = 0;
  Clock::time_point last_flush_ = Clock::now();
};

}  // namespace stress
