// stress_worker.cpp: one shmkv-stress worker, run in a forked child.
//
// A worker owns the keys "w<slot>:<k>" of its slot: nobody else writes them, so it keeps an
// exact local model of them (up to short TTLs running out) and checks every result against it.
// On start it first reads every owned key and checks it holds the state the parent last saw
// acknowledged or the one announced in flight (the previous worker of the slot may have been
// killed mid-write); what it finds becomes the acknowledged state.
//
// Reporting protocol (see stress_common.hpp): before a library call that writes an owned key, a
// hot counter or the queue, the worker sends kIntent / kIncIntent / kPopIntent and flushes; after
// the call returns it queues kAck / kIncAck / kPopAck. Queued records go out with the next flush
// (before the next write, when the batch is full, or every 50 ms), so an ack a kill swallowed
// leaves the parent with an in-flight state that did land, which the model accepts.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <set>
#include <utility>

#include "shmkv/shmkv.hpp"
#include "stress_common.hpp"

namespace stress {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnTerm(int) {
  g_stop = 1;
}

using shmkv::Store;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Seen = std::optional<std::int64_t>;  // an owned key as read: absent, or its gen / number

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
  kNumOps
};
constexpr unsigned kWeights[kNumOps] = {14, 2, 8, 12, 3, 5, 6, 8, 6, 2, 4, 2,
                                        4,  3, 2, 1,  6, 3, 2, 2, 1, 1, 1, 1};

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
  // The candidate `seen` matches (absent matches anything not kPresent), if any.
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

void Worker::Flush() {
  if (ops_unreported_ > 0) {
    Record r{kOps, 0, 0, 0, static_cast<std::int64_t>(ops_unreported_)};
    std::memcpy(buf_ + len_, &r, sizeof r);
    len_ += sizeof r;
    ops_unreported_ = 0;
  }
  if (len_ > 0) {
    ssize_t n;
    do n = ::write(fd_, buf_, len_);
    while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(len_)) {
      std::fprintf(stderr, "shmkv-stress: worker %d: pipe write failed: %s\n", slot_,
                   std::strerror(errno));
      ::_exit(3);
    }
    len_ = 0;
  }
  last_flush_ = Clock::now();
}

void Worker::Fail(RecordType t, std::uint32_t key, std::int64_t v, const std::string& what) {
  std::fprintf(stderr, "shmkv-stress: worker %d (pid %d, spawn %u): %s\n", slot_, ::getpid(),
               spawn_, what.c_str());
  Emit(t, key, v);
  Flush();
}

bool Worker::Decode(std::uint32_t k, const std::optional<std::string>& raw, Seen* seen) {
  if (auto d = DecodeOwned(Key(k), IsNumericKey(k), raw)) {
    *seen = *d;
    return true;
  }
  Fail(kTorn, k, 0, "torn or foreign value at " + Key(k) + ": '" + raw->substr(0, 120) + "'");
  return false;
}

std::optional<State> Worker::Pick(Seen seen, std::initializer_list<State> candidates) {
  for (const State& c : candidates)
    if (Matches(c, seen)) return seen ? c : State{};
  return std::nullopt;
}

std::string Describe(const State& s) {
  static const char* kNames[] = {"absent", "present", "present-or-expired"};
  return std::string(kNames[s.kind]) + (s.kind == kAbsent ? "" : " " + std::to_string(s.v));
}
std::string Describe(Seen s) {
  return s ? std::to_string(*s) : "absent";
}

void Worker::Observe(std::uint32_t k, const std::optional<std::string>& raw, const char* op) {
  Seen seen;
  if (!Decode(k, raw, &seen)) return;
  if (!Matches(st_[k], seen)) {
    Fail(kLost, k, 0,
         std::string(op) + ": " + Key(k) + " holds " + Describe(seen) + ", model says " +
             Describe(st_[k]));
    Settle(k, seen ? State{*seen, kPresent} : State{});
  } else if (!seen && st_[k].kind == kMayExpire) {
    Settle(k, State{});
  }
}

void Worker::Resync() {
  for (const Pending& p : pending_) {
    Seen seen;
    if (!Decode(p.k, store_.get(Key(p.k)), &seen)) continue;
    auto s = Pick(seen, {p.next, p.old});
    if (!s) {
      Fail(kLost, p.k, 0,
           Key(p.k) + " holds " + Describe(seen) + " after a failed write; old " + Describe(p.old) +
               ", new " + Describe(p.next));
      s = seen ? State{*seen, kPresent} : State{};
    }
    Settle(p.k, *s);
  }
  pending_.clear();
}

void Worker::VerifyRange() {
  st_.assign(cfg_.keys, State{});
  std::uint64_t verified = 0;
  for (std::uint32_t k = 0; k < cfg_.keys; ++k) {
    const KeyModel& m = model_.keys[k];
    Seen seen;
    if (!Decode(k, store_.get(Key(k)), &seen)) continue;
    std::optional<State> s =
        m.has_inflight ? Pick(seen, {m.acked, m.inflight}) : Pick(seen, {m.acked});
    if (!s) {
      Fail(kLost, k, 0,
           "on restart " + Key(k) + " holds " + Describe(seen) + "; acknowledged " +
               Describe(m.acked) + (m.has_inflight ? ", in flight " + Describe(m.inflight) : ""));
      s = seen ? State{*seen, kPresent} : State{};
    }
    ++verified;
    Settle(k, *s);
  }
  Emit(kVerified, 0, static_cast<std::int64_t>(verified));
  store_.delete_prefix(ScratchPrefix(slot_));
  Flush();
}

void Worker::VerifyOther(const std::string& key, const std::optional<std::string>& raw) {
  if (!raw) return;
  std::size_t colon = key.find(':');
  bool numeric = key[0] == 'w' && colon != std::string::npos &&
                 IsNumericKey(static_cast<std::uint32_t>(std::atoi(key.c_str() + colon + 1)));
  bool ok = numeric ? ParseInt(*raw).has_value() : [&] {
    auto d = Verify(*raw);
    return d && d->key == key;
  }();
  if (!ok) Fail(kTorn, 0, 0, "torn or foreign value at " + key + ": '" + raw->substr(0, 120) + "'");
}

std::vector<std::uint32_t> Worker::DistinctKeys(std::size_t n) {
  std::vector<std::uint32_t> out;
  n = std::min<std::size_t>(n, cfg_.keys);
  while (out.size() < n) {
    std::uint32_t k = AnyKey();
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  }
  return out;
}

// Single-key writes of owned keys.
void Worker::DoOwnWrite(Op op) {
  std::uint32_t k = op == kExpire || op == kNotNumber ? ValueKey() : AnyKey();
  if (op == kIncOwn && !IsNumericKey(k)) k = (k | 7) < cfg_.keys ? k | 7 : 7;
  const std::string key = Key(k);
  const State old = st_[k];
  const bool may = old.kind == kMayExpire;
  switch (op) {
    case kSet: {
      // 0: short TTL (the key may vanish any time), 1: a TTL that outlives the run, else none.
      std::uint64_t t = IsNumericKey(k) ? 9 : rng_.Below(10);
      State next = Fresh(k, t == 0 ? kMayExpire : kPresent);
      milliseconds ttl = t == 0 ? ShortTtl() : t == 1 ? kLongTtl : milliseconds(0);
      Announce(k, next);
      Flush();
      store_.set(key, ValueOf(k, next), ttl);
      Settle(k, next);
      break;
    }
    case kExpire: {
      if (old.kind == kAbsent) {
        if (store_.expire(key, kLongTtl)) Wrong(k, "expire", "returned true on an absent key");
        break;
      }
      unsigned t = static_cast<unsigned>(rng_.Below(3));
      State next{old.v, t == 1 ? kMayExpire : kPresent};
      Announce(k, next);
      Flush();
      bool r = store_.expire(key, t == 0 ? milliseconds(0) : t == 1 ? ShortTtl() : kLongTtl);
      if (r) {
        Settle(k, next);
      } else if (may) {
        Settle(k, State{});
      } else {
        Wrong(k, "expire", "returned false on a present key");
        Resync();
      }
      break;
    }
    case kDel: {
      Announce(k, State{});
      Flush();
      bool r = store_.del(key);
      if (!may && r != (old.kind == kPresent))
        Wrong(k, "del",
              std::string("returned ") + (r ? "true" : "false") + "; model " + Describe(old));
      Settle(k, State{});
      break;
    }
    case kIncOwn: {
      std::int64_t delta = static_cast<std::int64_t>(rng_.Below(2001)) - 1000;
      State next{(old.kind == kAbsent ? 0 : old.v) + delta, kPresent};
      Announce(k, next);
      Flush();
      std::int64_t r = store_.increment_by(key, delta);
      if (r != next.v) {
        Wrong(k, "increment_by",
              "returned " + std::to_string(r) + ", expected " + std::to_string(next.v));
        Resync();
      } else {
        Settle(k, next);
      }
      break;
    }
    case kNotNumber: {
      if (old.kind != kPresent) break;
      try {
        std::int64_t r = store_.increment_by(key, 1);
        Wrong(k, "increment_by", "on a non-number returned " + std::to_string(r));
        pending_.push_back({k, old, State{r, kPresent}});
        Resync();
      } catch (const shmkv::Error& e) {
        if (e.code() != shmkv::errc::not_a_number) throw;
      }
      Observe(k, store_.get(key), "get after not_a_number");
      break;
    }
    case kCas: {
      State next = Fresh(k);
      bool wrong = rng_.Chance(25);
      std::optional<std::string> expected;
      if (old.kind != kAbsent) expected = ValueOf(k, old);
      if (wrong) {
        if (old.kind == kAbsent || may || rng_.Chance(50))
          expected = std::string(kNeverHeld);
        else
          expected = std::nullopt;
        pending_.push_back({k, old, next});
        if (store_.compare_and_swap(key, expected, ValueOf(k, next))) {
          Wrong(k, "compare_and_swap", "succeeded with a wrong expected value");
          Resync();
        }
        pending_.clear();
        break;
      }
      Announce(k, next);
      Flush();
      bool r = store_.compare_and_swap(key, expected, ValueOf(k, next));
      if (r) {
        Settle(k, next);
      } else if (may) {
        Settle(k, State{});  // expired: the expected value was gone
      } else {
        Wrong(k, "compare_and_swap", "failed; model " + Describe(old));
        Resync();
      }
      break;
    }
    case kCad: {
      if (old.kind == kAbsent) {
        if (store_.compare_and_delete(key, kNeverHeld))
          Wrong(k, "compare_and_delete", "succeeded on an absent key");
        break;
      }
      Announce(k, State{});
      Flush();
      bool r = store_.compare_and_delete(key, ValueOf(k, old));
      if (!r && !may) Wrong(k, "compare_and_delete", "failed; model " + Describe(old));
      Settle(k, State{});
      break;
    }
    case kGetOrSet: {
      State next = Fresh(k);
      Announce(k, next);
      Flush();
      auto r = store_.get_or_set(key, ValueOf(k, next));
      if (r.loaded) {
        Seen prior;
        if (Decode(k, r.value, &prior))
          Settle(k, CheckPrior(k, old, prior, "get_or_set") ? old : State{*prior, kPresent});
      } else {
        if (old.kind == kPresent) Wrong(k, "get_or_set", "stored over " + Describe(old));
        Settle(k, next);
      }
      break;
    }
    case kSetIfAbsent: {
      bool short_ttl = !IsNumericKey(k) && rng_.Chance(20);
      State next = Fresh(k, short_ttl ? kMayExpire : kPresent);
      Announce(k, next);
      Flush();
      if (store_.set_if_absent(key, ValueOf(k, next), short_ttl ? ShortTtl() : milliseconds(0))) {
        if (old.kind == kPresent) Wrong(k, "set_if_absent", "stored over " + Describe(old));
        Settle(k, next);
      } else if (old.kind == kAbsent) {
        Wrong(k, "set_if_absent", "did not store on an absent key");
        Resync();
      } else {
        Settle(k, old);
      }
      break;
    }
    case kSwap: {
      State next = Fresh(k);
      Announce(k, next);
      Flush();
      auto r = store_.swap(key, ValueOf(k, next));
      Settle(k, next);
      if (r.loaded != r.previous.has_value()) Wrong(k, "swap", "loaded disagrees with previous");
      Seen prior;
      if (Decode(k, r.previous, &prior)) CheckPrior(k, old, prior, "swap");
      break;
    }
    default:
      break;
  }
}

bool Worker::CheckPrior(std::uint32_t k, const State& old, Seen prior, const char* op) {
  if (Matches(old, prior)) return true;
  Fail(kLost, k, 0,
       std::string(op) + " found " + Describe(prior) + " at " + Key(k) + ", model says " +
           Describe(old));
  return false;
}

// Writes and reads of several owned keys at once.
void Worker::DoMulti(Op op) {
  std::vector<std::uint32_t> ks = DistinctKeys(2 + rng_.Below(5));
  if (op == kSetMany) {
    unsigned t = static_cast<unsigned>(rng_.Below(10));
    bool any_numeric = std::any_of(ks.begin(), ks.end(), IsNumericKey);
    if (any_numeric) t = 5;  // numeric keys never get a TTL
    milliseconds ttl = t == 0 ? ShortTtl() : t == 1 ? kLongTtl : milliseconds(0);
    std::vector<std::pair<std::string, std::string>> pairs;
    std::vector<State> next;
    for (std::uint32_t k : ks) {
      next.push_back(Fresh(k, t == 0 ? kMayExpire : kPresent));
      pairs.emplace_back(Key(k), ValueOf(k, next.back()));
      Announce(k, next.back());
    }
    Flush();
    store_.set_many(pairs, ttl);
    for (std::size_t i = 0; i < ks.size(); ++i) Settle(ks[i], next[i]);
  } else if (op == kDeleteMany) {
    std::vector<std::string> keys;
    std::size_t lo = 0, hi = 0;
    for (std::uint32_t k : ks) {
      keys.push_back(Key(k));
      lo += st_[k].kind == kPresent;
      hi += st_[k].kind != kAbsent;
      Announce(k, State{});
    }
    Flush();
    std::size_t n = store_.delete_many(keys);
    if (n < lo || n > hi)
      Fail(kError, ks[0], -1,
           "delete_many deleted " + std::to_string(n) + " keys; model says " + std::to_string(lo) +
               ".." + std::to_string(hi));
    for (std::uint32_t k : ks) Settle(k, State{});
  } else {  // kGetMany: owned keys and two keys of other slots
    std::vector<std::string> keys;
    for (std::uint32_t k : ks) keys.push_back(Key(k));
    for (int i = 0; i < 2; ++i)
      keys.push_back(OwnedKey(static_cast<int>(rng_.Below(cfg_.workers)), AnyKey()));
    auto got = store_.get_many(keys);
    if (got.size() != keys.size()) return Fail(kError, 0, -1, "get_many returned a wrong count");
    for (std::size_t i = 0; i < ks.size(); ++i) Observe(ks[i], got[i], "get_many");
    for (std::size_t i = ks.size(); i < keys.size(); ++i) {
      if (keys[i].starts_with(prefix_))
        Observe(static_cast<std::uint32_t>(std::stoul(keys[i].substr(prefix_.size()))), got[i],
                "get_many");
      else
        VerifyOther(keys[i], got[i]);
    }
  }
}

// Scratch keys: the slot's own "s<slot>:" (counted exactly) and the shared "x:" (contended).
void Worker::DoScratch() {
  const std::string prefix = ScratchPrefix(slot_);
  unsigned what = static_cast<unsigned>(rng_.Below(10));
  if (what < 5) {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::set<std::string> batch;
    for (std::uint64_t i = 0, n = 1 + rng_.Below(8); i < n; ++i) {
      std::string key = prefix + std::to_string(rng_.Below(64));
      if (batch.insert(key).second) pairs.emplace_back(key, MakeValue(key, rng_.Next()));
    }
    store_.set_many(pairs);
    scratch_.insert(batch.begin(), batch.end());
  } else if (what < 7) {
    std::size_t limit = what == 5 ? 0 : 1 + rng_.Below(8);
    auto r = store_.delete_prefix(prefix, limit);
    std::size_t want = limit == 0 ? scratch_.size() : std::min(limit, scratch_.size());
    if (r.deleted != want || r.done != (want == scratch_.size()))
      Fail(kError, 0, -1,
           "delete_prefix(" + prefix + ", " + std::to_string(limit) + ") deleted " +
               std::to_string(r.deleted) + (r.done ? " (done)" : "") + "; expected " +
               std::to_string(want) + " of " + std::to_string(scratch_.size()));
    auto left = store_.list({prefix, 0});
    if (left.size() != scratch_.size() - std::min(scratch_.size(), r.deleted))
      Fail(kError, 0, -1,
           "after delete_prefix " + std::to_string(left.size()) + " scratch keys remain, " +
               "expected " + std::to_string(scratch_.size() - r.deleted));
    scratch_.clear();
    for (const auto& e : left) {
      VerifyOther(e.key, e.value);
      scratch_.insert(e.key);
    }
  } else if (what < 9) {
    std::string key = std::string(kSharedScratch) + std::to_string(rng_.Below(256));
    store_.set(key, MakeValue(key, rng_.Next()));
  } else {
    auto r = store_.delete_prefix(kSharedScratch, 8);
    if (r.deleted > 8) Fail(kError, 0, -1, "delete_prefix(x:, 8) deleted more than 8 keys");
  }
}

void Worker::CheckListing(const std::string& prefix, const std::vector<shmkv::Entry>& entries,
                          bool complete, const char* op) {
  std::vector<bool> listed(cfg_.keys, false);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (i > 0 && !(entries[i - 1].key < e.key))
      return Fail(kError, 0, -1, std::string(op) + " is not in strictly ascending key order");
    if (!e.key.starts_with(prefix))
      return Fail(kError, 0, -1, std::string(op) + "(" + prefix + ") returned " + e.key);
    std::uint32_t k = static_cast<std::uint32_t>(std::stoul(e.key.substr(prefix_.size())));
    if (k >= cfg_.keys || Key(k) != e.key)
      return Fail(kError, 0, -1, std::string(op) + " returned a key never written: " + e.key);
    listed[k] = true;
    Observe(k, e.value, op);
  }
  for (std::uint32_t k = 0; k < cfg_.keys; ++k) {
    if (listed[k] || st_[k].kind != kPresent || !Key(k).starts_with(prefix)) continue;
    if (complete || (!entries.empty() && Key(k) < entries.back().key))
      Fail(kLost, k, 0, std::string(op) + "(" + prefix + ") left out " + Key(k));
  }
}

void Worker::DoReads(Op op) {
  std::uint32_t k = AnyKey();
  switch (op) {
    case kGetOwn:
      Observe(k, store_.get(Key(k)), "get");
      break;
    case kExistsTtl: {
      bool present = rng_.Chance(50) ? store_.exists(Key(k)) : store_.ttl(Key(k)).has_value();
      if (st_[k].kind != kMayExpire && present != (st_[k].kind == kPresent))
        Fail(kLost, k, 0,
             "exists/ttl says " + Key(k) + (present ? " is" : " is not") + " present; model " +
                 Describe(st_[k]));
      break;
    }
    case kGetOther: {
      std::string key = OwnedKey(static_cast<int>(rng_.Below(cfg_.workers)), k);
      if (key.starts_with(prefix_))
        Observe(k, store_.get(key), "get");
      else
        VerifyOther(key, store_.get(key));
      break;
    }
    case kRandomKey: {
      auto r = store_.random_key(prefix_);
      if (!r) {
        for (std::uint32_t i = 0; i < cfg_.keys; ++i)
          if (st_[i].kind == kPresent)
            return Fail(kLost, i, 0,
                        "random_key(" + prefix_ + ") found nothing; " + Key(i) + " is present");
        break;
      }
      std::uint32_t i = static_cast<std::uint32_t>(std::stoul(r->substr(prefix_.size())));
      if (i >= cfg_.keys || Key(i) != *r || st_[i].kind == kAbsent)
        Fail(kError, 0, -1, "random_key(" + prefix_ + ") returned " + *r + ", absent in the model");
      break;
    }
    case kList:
    case kScan:
    case kCount: {
      std::string prefix = prefix_;
      if (rng_.Chance(50)) prefix += static_cast<char>('1' + rng_.Below(9));
      if (op == kCount) {
        std::size_t lo = 0, hi = 0;
        for (std::uint32_t i = 0; i < cfg_.keys; ++i) {
          if (!Key(i).starts_with(prefix)) continue;
          lo += st_[i].kind == kPresent;
          hi += st_[i].kind != kAbsent;
        }
        std::size_t n = store_.count(prefix);
        if (n < lo || n > hi)
          Fail(kError, 0, -1,
               "count(" + prefix + ") = " + std::to_string(n) + "; model " + std::to_string(lo) +
                   ".." + std::to_string(hi));
      } else if (op == kList) {
        std::size_t limit = rng_.Chance(50) ? 0 : 1 + rng_.Below(20);
        auto entries = store_.list({prefix, limit});
        if (limit != 0 && entries.size() > limit)
          return Fail(kError, 0, -1, "list returned more than its limit");
        CheckListing(prefix, entries, limit == 0 || entries.size() < limit, "list");
      } else {
        std::vector<shmkv::Entry> all;
        shmkv::ScanOptions so{prefix, 1 + rng_.Below(16), ""};
        for (std::uint32_t page = 0;; ++page) {
          if (page > cfg_.keys + 1) return Fail(kError, 0, -1, "scan does not finish");
          auto p = store_.scan(so);
          if (p.entries.size() > so.limit) return Fail(kError, 0, -1, "scan page above limit");
          for (auto& e : p.entries) all.push_back(std::move(e));
          if (p.done) break;
          so.cursor = p.cursor;
        }
        CheckListing(prefix, all, true, "scan");
      }
      break;
    }
    case kListOther: {
      std::string prefix = SlotPrefix(static_cast<int>(rng_.Below(cfg_.workers)));
      if (prefix == prefix_) break;
      for (const auto& e : store_.list({prefix, 32})) VerifyOther(e.key, e.value);
      break;
    }
    default:
      break;
  }
}

void Worker::DoOp(Op op) {
  switch (op) {
    case kHotInc: {
      std::uint32_t c = static_cast<std::uint32_t>(rng_.Below(cfg_.hot));
      Emit(kIncIntent, c);
      Flush();
      inc_pending_ = true;
      std::int64_t r = store_.increment_by(HotKey(c), 1);
      inc_pending_ = false;
      Emit(kIncAck, c, r);
      break;
    }
    case kPop: {
      Emit(kPopIntent);
      Flush();
      pop_pending_ = true;
      auto r = store_.pop_random(kQueuePrefix);
      pop_pending_ = false;
      if (!r) {
        Emit(kPopEmpty);
        break;
      }
      auto d = Verify(r->value);
      auto token = ParseInt(std::string_view(r->key).substr(kQueuePrefix.size()));
      if (!token || *token < 0) {
        Fail(kError, 0, -1, "pop_random(q:) returned key " + r->key);
        Emit(kCancel);
        break;
      }
      Emit(kPopAck, 0, *token);
      if (!d || d->key != r->key || d->gen != std::uint64_t(*token))
        Fail(kTorn, 0, 0,
             "popped " + r->key + " with a torn value '" + r->value.substr(0, 120) + "'");
      break;
    }
    case kSet:
    case kExpire:
    case kDel:
    case kIncOwn:
    case kNotNumber:
    case kCas:
    case kCad:
    case kGetOrSet:
    case kSetIfAbsent:
    case kSwap:
      DoOwnWrite(op);
      break;
    case kSetMany:
    case kGetMany:
    case kDeleteMany:
      DoMulti(op);
      break;
    case kScratch:
      DoScratch();
      break;
    default:
      DoReads(op);
      break;
  }
}

int Worker::Run() {
  VerifyRange();
  while (!g_stop) {
    unsigned pick = static_cast<unsigned>(rng_.Below(total_weight_));
    int op = 0;
    while (pick >= kWeights[op]) pick -= kWeights[op++];
    try {
      DoOp(static_cast<Op>(op));
    } catch (const std::exception& e) {
      const auto* err = dynamic_cast<const shmkv::Error*>(&e);
      Fail(kError, 0, err ? static_cast<int>(err->code_value()) : -1,
           std::string("operation ") + std::to_string(op) + " raised: " + e.what());
      if (inc_pending_ || pop_pending_) Emit(kCancel);
      inc_pending_ = pop_pending_ = false;
      Resync();
    }
    pending_.clear();
    ++ops_unreported_;
    if (Clock::now() - last_flush_ > milliseconds(50)) Flush();
  }
  Flush();
  store_.close();
  return 0;
}

}  // namespace

void RunWorker(const Config& cfg, int slot, std::uint32_t spawn, int fd, const SlotModel& model) {
  struct sigaction sa {};
  sa.sa_handler = OnTerm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  int rc = 3;
  try {
    Worker w(cfg, slot, spawn, fd, model);
    rc = w.Run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmkv-stress: worker %d (pid %d, spawn %u) failed: %s\n", slot,
                 ::getpid(), spawn, e.what());
  }
  ::_exit(rc);
}

}  // namespace stress
