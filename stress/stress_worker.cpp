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
#include "stress_worker.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "stress_coord.hpp"

namespace stress {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnTerm(int) {
  g_stop = 1;
}

}  // namespace

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
  std::optional<State> out;
  for (const State& c : candidates) {
    if (!Matches(c, seen)) continue;
    if (!seen) return State{};
    // Two candidates with the same value differ only in their TTL (an expire in flight): the
    // key may vanish if either says so.
    if (!out || c.kind == kMayExpire) out = c;
  }
  return out;
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
    case kCoord:
      DoCoordOp(
          store_, *cfg_.board, rng_, slot_, cfg_.sabotage == "claim",
          [](void* w, const std::string& what) {
            static_cast<Worker*>(w)->Fail(kError, 0, -1, what);
          },
          this);
      break;
    default:
      DoReads(op);
      break;
  }
}

// A write the parent is never told about (--sabotage).
void Worker::Sabotage() {
  const std::uint32_t k = ValueKey();
  const std::string key = Key(k);
  if (cfg_.sabotage == "counter") {
    store_.increment_by(HotKey(0), 1);
  } else if (cfg_.sabotage == "queue") {
    (void)store_.pop_random(kQueuePrefix);  // the item is lost on purpose: the checker must notice
  } else if (st_[k].kind == kPresent && cfg_.sabotage == "lost") {
    store_.set(key, ValueOf(k, Fresh(k)));
  } else if (st_[k].kind == kPresent && cfg_.sabotage == "torn") {
    std::string v = ValueOf(k, st_[k]);
    char& c = v[key.size() + 20];  // a payload letter: the crc no longer matches
    c = c == 'a' ? 'b' : 'a';
    store_.set(key, v);
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
    if (!cfg_.sabotage.empty() && rng_.Below(200) == 0) Sabotage();
    ++ops_unreported_;
    if (Clock::now() - last_flush_ > milliseconds(50)) Flush();
  }
  Flush();
  store_.close();
  return 0;
}

void RunWorker(const Config& cfg, int slot, std::uint32_t spawn, int fd, const SlotModel& model) {
  struct sigaction sa {};
  sa.sa_handler = OnTerm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_UNBLOCK, &term, nullptr);
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
