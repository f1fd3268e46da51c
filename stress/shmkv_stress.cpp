// shmkv_stress.cpp: `shmkv-stress`, a multi-process crash-recovery stress test of shmkv.
//
//   shmkv-stress [--workers N] [--seconds S] [--keys K] [--kill-every MS] [--seed X]
//                [--name NAME] [--shards N] [--size-mb MB] [--hot H] [--queue T]
//                [--check-every MS] [--keep] [--sabotage lost|torn|counter|queue|claim]
//
// The parent creates the segment, seeds a pop queue, forks N workers (stress_worker.cpp) and
// SIGKILLs a random worker every MS milliseconds, starting a replacement for the same slot.
// Workers report intents and acknowledgements through pipes (stress_common.hpp); the parent
// keeps the model: per owned key the acknowledged state and at most one in-flight state, acked
// increments of the hot counters, acked pops of the queue. It runs Store::check_invariants()
// every --check-every ms while the workers run. At the end it stops the workers with SIGTERM,
// opens the store afresh and checks the invariants, every owned key, the counters and the queue.
// Workers also claim keys of a pool, take a lock and semaphore permits and meet at a barrier
// (stress_coord.hpp): no grant may have two live holders, and none may outlive the workers.
//
// Determinism: a worker's generator is seeded from (--seed, slot, spawn number) and the parent's
// choice of victims from --seed, so the operation mix and the kill order repeat; the moments of
// the kills (and so what a worker was doing when killed) depend on scheduling and do not.
//
// Exit codes: 0 every check passed; 1 a check failed (invariant violation, lost acknowledged
// write, torn read, wrong result, counter or queue mismatch, crashed or hung worker); 2 usage
// error; 3 the run could not be set up.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "shmkv/shmkv.hpp"
#include "stress_common.hpp"
#include "stress_coord.hpp"

namespace stress {
namespace {

using shmkv::Store;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2, kExitError = 3;
constexpr auto kStallLimit = std::chrono::seconds(60);  // the library's lock watchdog is 30 s

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

volatile std::sig_atomic_t g_interrupted = 0;
void OnInterrupt(int) {
  g_interrupted = 1;
}

const char* kUsage =
    "usage: shmkv-stress [--workers N] [--seconds S] [--keys K] [--kill-every MS] [--seed X]\n"
    "                    [--name NAME] [--shards N] [--size-mb MB] [--home-block B]\n"
    "                    [--hot H] [--queue T]\n"
    "                    [--check-every MS] [--keep] [--sabotage KIND]\n"
    "  --workers N       worker processes (default 4)\n"
    "  --seconds S       run time (default 30; 10 under sanitizers)\n"
    "  --keys K          keys owned by each worker, >= 8 (default 256; 128 under sanitizers)\n"
    "  --kill-every MS   SIGKILL a random worker every MS ms and replace it; 0 = never (200)\n"
    "  --seed X          seed of the workers' operation mix and of the kill schedule\n"
    "  --name NAME       segment name (default stress-<pid>); an existing one is destroyed\n"
    "  --shards N        shards of the new segment (default: the library's choice)\n"
    "  --size-mb MB      segment size (default 64)\n"
    "  --home-block B    home_block_bytes of the new segment (default 0: none)\n"
    "  --hot H           shared counters every worker increments (default 4)\n"
    "  --queue T         tokens in the pop queue, refilled when a quarter is left (2000)\n"
    "  --check-every MS  run check_invariants() while the workers run (default 2000)\n"
    "  --keep            keep the segment after the run (a failed run keeps it, unless "
    "--sabotage)\n"
    "  --sabotage KIND   lost|torn|counter|queue|claim: workers now and then write behind\n"
    "                    the model's back (claim: give a claim back while still marked as\n"
    "                    its holder), to prove the checks catch it; the run must FAIL\n"
    "exit: 0 all checks passed, 1 a check failed, 2 usage error, 3 setup error\n";

struct UsageError {
  std::string what;
};

std::uint64_t ParseNumber(const std::string& flag, const char* text, std::uint64_t lo,
                          std::uint64_t hi) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < lo || v > hi)
    throw UsageError{flag + " " + text + " is not a number in " + std::to_string(lo) + ".." +
                     std::to_string(hi)};
  return v;
}

Config ParseArgs(int argc, char** argv, bool* seed_given) {
  Config cfg;
  if (kSanitized) cfg.seconds = 10, cfg.keys = 128;
  cfg.seed = Mix64(static_cast<std::uint64_t>(std::time(nullptr)) ^
                   (static_cast<std::uint64_t>(::getpid()) << 32)) %
             1000000000;
  cfg.name = "stress-" + std::to_string(::getpid());
  *seed_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(kExitOk);
    }
    if (flag == "--keep") {
      cfg.keep = true;
      continue;
    }
    if (i + 1 >= argc) throw UsageError{flag + " needs a value"};
    const char* v = argv[++i];
    if (flag == "--workers") {
      cfg.workers = static_cast<int>(ParseNumber(flag, v, 1, 64));
    } else if (flag == "--seconds") {
      char* end = nullptr;
      cfg.seconds = std::strtod(v, &end);
      if (end == v || *end != '\0' || !(cfg.seconds > 0) || cfg.seconds > 7 * 86400)
        throw UsageError{flag + " " + v + " is not a duration in (0, 604800] seconds"};
    } else if (flag == "--keys") {
      cfg.keys = static_cast<std::uint32_t>(ParseNumber(flag, v, 8, 1000000));
    } else if (flag == "--kill-every") {
      cfg.kill_every_ms = static_cast<std::uint32_t>(ParseNumber(flag, v, 0, 86400000));
    } else if (flag == "--seed") {
      cfg.seed = ParseNumber(flag, v, 0, ~0ull);
      *seed_given = true;
    } else if (flag == "--name") {
      cfg.name = v;
    } else if (flag == "--shards") {
      cfg.shards = static_cast<std::uint32_t>(ParseNumber(flag, v, 1, 65536));
    } else if (flag == "--size-mb") {
      cfg.size_mb = ParseNumber(flag, v, 2, 1 << 20);
    } else if (flag == "--home-block") {
      cfg.home_block_bytes = static_cast<std::uint32_t>(ParseNumber(flag, v, 0, 4096));
    } else if (flag == "--hot") {
      cfg.hot = static_cast<std::uint32_t>(ParseNumber(flag, v, 1, 1024));
    } else if (flag == "--queue") {
      cfg.queue = static_cast<std::uint32_t>(ParseNumber(flag, v, 4, 10000000));
    } else if (flag == "--sabotage") {
      cfg.sabotage = v;
      if (cfg.sabotage != "lost" && cfg.sabotage != "torn" && cfg.sabotage != "counter" &&
          cfg.sabotage != "queue" && cfg.sabotage != "claim")
        throw UsageError{flag + " " + v + " is not one of lost, torn, counter, queue, claim"};
    } else if (flag == "--check-every") {
      cfg.check_every_ms = static_cast<std::uint32_t>(ParseNumber(flag, v, 1, 86400000));
    } else {
      throw UsageError{"unknown option " + flag};
    }
  }
  return cfg;
}

struct Slot {
  pid_t pid = -1;
  int fd = -1;
  std::uint32_t spawn = 0;
  std::string carry;  // bytes of a record not yet complete
  Clock::time_point last_heard;
  SlotModel model;
  std::int64_t inc_counter = -1;  // counter of the increment in flight
};

struct Totals {
  std::uint64_t ops = 0, kills = 0, spawns = 0, verified_keys = 0;
  std::uint64_t kills_unacked = 0, unacked_writes_at_kills = 0;
  std::uint64_t interrupted_incs = 0, interrupted_pops = 0;
  std::uint64_t acked_incs = 0, acked_pops = 0, empty_pops = 0, duplicate_pops = 0;
  std::uint64_t torn = 0, lost = 0, errors = 0, violations = 0, checks = 0;
  std::uint64_t crashes = 0, stalls = 0, counter_mismatches = 0, queue_mismatches = 0;
  std::uint64_t recoveries = 0, lock_waits = 0;
  std::uint64_t claims_lost = 0;  // pool keys, the lock or permits still held at the end
};

class Parent {
 public:
  Parent(const Config& cfg, Store store)
      : cfg_(cfg), store_(std::move(store)), rng_(Mix64(cfg.seed ^ 0x6b696c6c73ull)) {}
  int Run();

 private:
  void Spawn(int i);
  void Reap(int i, bool killed_by_us);
  void ReadFrom(int i, bool until_eof);
  void Consume(Slot& s, const char* data, std::size_t n);
  void Process(Slot& s, const Record& r);
  void CheckInvariants(Store& store, const char* when);
  void Refill();
  void StopAll();
  void FinalCheck();
  void Progress(double elapsed);
  void Report(double elapsed);
  bool Passed() const;

  const Config cfg_;
  Store store_;
  Rng rng_;
  std::vector<Slot> slots_;
  std::vector<std::uint64_t> acked_incs_;        // per hot counter
  std::vector<std::uint64_t> interrupted_incs_;  // per hot counter
  std::vector<std::uint8_t> popped_;             // per seeded token
  std::uint64_t seeded_ = 0;
  std::uint64_t remaining_ = 0;  // tokens left in the queue at the end
  Totals t_;
};

void Parent::Spawn(int i) {
  Slot& s = slots_[i];
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  std::fflush(stdout);
  std::fflush(stderr);
  // SIGTERM stays blocked until the child has its own handler (RunWorker unblocks it).
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, &old);
  pid_t pid = ::fork();
  if (pid != 0) sigprocmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(fds[0]);
    for (const Slot& o : slots_)
      if (o.fd >= 0) ::close(o.fd);
    signal(SIGINT, SIG_IGN);  // the parent handles ^C and stops the workers itself
    RunWorker(cfg_, i, s.spawn, fds[1], s.model);
  }
  ::close(fds[1]);
  s.pid = pid;
  s.fd = fds[0];
  s.carry.clear();
  s.last_heard = Clock::now();
  ++t_.spawns;
}

void Parent::Process(Slot& s, const Record& r) {
  switch (r.type) {
    case kIntent:
    case kAck: {
      if (r.key >= cfg_.keys || r.kind > kMayExpire) {
        ++t_.errors;
        std::fprintf(stderr, "shmkv-stress: malformed record from pid %d\n", s.pid);
        break;
      }
      KeyModel& m = s.model.keys[r.key];
      State st{r.v, static_cast<Kind>(r.kind)};
      if (r.type == kIntent) {
        m.inflight = st;
        m.has_inflight = true;
      } else {
        m.acked = st;
        m.has_inflight = false;
      }
      break;
    }
    case kIncIntent:
      s.model.inc_inflight = true;
      s.inc_counter = r.key;
      break;
    case kIncAck:
      s.model.inc_inflight = false;
      if (r.key < cfg_.hot) ++acked_incs_[r.key];
      ++t_.acked_incs;
      break;
    case kPopIntent:
      s.model.pop_inflight = true;
      break;
    case kPopAck:
      s.model.pop_inflight = false;
      if (r.v < 0 || static_cast<std::uint64_t>(r.v) >= seeded_) {
        ++t_.queue_mismatches;
        std::fprintf(stderr, "shmkv-stress: popped token %" PRId64 " was never seeded\n", r.v);
      } else if (popped_[r.v]++) {
        ++t_.duplicate_pops;
        std::fprintf(stderr, "shmkv-stress: token %" PRId64 " popped twice\n", r.v);
      } else {
        ++t_.acked_pops;
      }
      break;
    case kPopEmpty:
      s.model.pop_inflight = false;
      ++t_.empty_pops;
      break;
    case kCancel:
      s.model.pop_inflight = s.model.inc_inflight = false;
      break;
    case kOps:
      t_.ops += static_cast<std::uint64_t>(r.v);
      break;
    case kTorn:
      ++t_.torn;
      break;
    case kLost:
      ++t_.lost;
      break;
    case kError:
      ++t_.errors;
      break;
    case kVerified:
      t_.verified_keys += static_cast<std::uint64_t>(r.v);
      break;
    default:
      ++t_.errors;
      std::fprintf(stderr, "shmkv-stress: unknown record type %d\n", r.type);
  }
}

void Parent::Consume(Slot& s, const char* data, std::size_t n) {
  s.last_heard = Clock::now();
  s.carry.append(data, n);
  std::size_t whole = s.carry.size() / sizeof(Record) * sizeof(Record);
  for (std::size_t off = 0; off < whole; off += sizeof(Record)) {
    Record r;
    std::memcpy(&r, s.carry.data() + off, sizeof r);
    Process(s, r);
  }
  s.carry.erase(0, whole);
}

// Reads what the worker of slot i has written: once (poll said readable) or until EOF.
void Parent::ReadFrom(int i, bool until_eof) {
  Slot& s = slots_[i];
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(s.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!until_eof) Reap(i, false);  // EOF while running: the worker died on its own
      return;
    }
    Consume(s, buf, static_cast<std::size_t>(n));
    if (!until_eof) return;
  }
}

// Collects a worker that is gone (or is being killed), settles what it had in flight and
// starts its replacement.
void Parent::Reap(int i, bool killed_by_us) {
  Slot& s = slots_[i];
  int status = 0;
  while (::waitpid(s.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (killed_by_us) ReadFrom(i, true);
  ::close(s.fd);
  s.fd = -1;
  if (!s.carry.empty()) {
    ++t_.errors;
    std::fprintf(stderr, "shmkv-stress: worker %d left half a record in its pipe\n", i);
  }
  if (!killed_by_us) {
    ++t_.crashes;
    std::fprintf(stderr, "shmkv-stress: worker %d (pid %d) exited on its own: %s %d\n", i, s.pid,
                 WIFSIGNALED(status) ? "signal" : "status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  }
  std::uint64_t in_flight = 0;
  for (const KeyModel& m : s.model.keys) in_flight += m.has_inflight;
  t_.unacked_writes_at_kills += in_flight;
  if (in_flight || s.model.inc_inflight || s.model.pop_inflight) ++t_.kills_unacked;
  if (s.model.inc_inflight) {
    ++t_.interrupted_incs;
    if (s.inc_counter >= 0 && s.inc_counter < static_cast<std::int64_t>(cfg_.hot))
      ++interrupted_incs_[s.inc_counter];
  }
  if (s.model.pop_inflight) ++t_.interrupted_pops;
  s.model.inc_inflight = s.model.pop_inflight = false;
  s.pid = -1;
  ++s.spawn;
}

void Parent::CheckInvariants(Store& store, const char* when) {
  auto v = store.check_invariants();
  ++t_.checks;
  t_.violations += v.size();
  for (std::size_t j = 0; j < v.size() && j < 10; ++j)
    std::fprintf(stderr, "shmkv-stress: invariant violation (%s): %s\n", when, v[j].c_str());
}

// Keeps at least a quarter of --queue tokens in the queue.
void Parent::Refill() {
  // At least this many are left: interrupted pops may or may not have taken a token.
  std::uint64_t gone = t_.acked_pops + t_.interrupted_pops;
  std::uint64_t left = seeded_ > gone ? seeded_ - gone : 0;
  if (seeded_ != 0 && left >= cfg_.queue / 4) return;
  std::uint64_t add = cfg_.queue - std::min<std::uint64_t>(left, cfg_.queue);
  std::vector<std::pair<std::string, std::string>> batch;
  for (std::uint64_t n = seeded_; n < seeded_ + add; ++n) {
    batch.emplace_back(TokenKey(n), MakeValue(TokenKey(n), n));
    if (batch.size() == 256 || n + 1 == seeded_ + add) {
      store_.set_many(batch);
      batch.clear();
    }
  }
  seeded_ += add;
  popped_.resize(seeded_, 0);
}

// Stops every worker with SIGTERM and collects what it reports until its pipe closes.
void Parent::StopAll() {
  for (Slot& s : slots_) ::kill(s.pid, SIGTERM);
  auto deadline = Clock::now() + std::chrono::seconds(60);
  for (;;) {
    std::vector<pollfd> pfds;
    std::vector<int> which;
    for (int i = 0; i < cfg_.workers; ++i) {
      if (slots_[i].fd < 0) continue;
      pfds.push_back({slots_[i].fd, POLLIN, 0});
      which.push_back(i);
    }
    if (pfds.empty()) break;
    if (Clock::now() > deadline) {
      for (int i : which) {
        ++t_.stalls;
        std::fprintf(stderr, "shmkv-stress: worker %d (pid %d) did not stop in 60 s\n", i,
                     slots_[i].pid);
        ::kill(slots_[i].pid, SIGKILL);
        Reap(i, true);
      }
      break;
    }
    if (::poll(pfds.data(), pfds.size(), 200) < 0 && errno != EINTR)
      throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    for (std::size_t j = 0; j < pfds.size(); ++j) {
      if (!(pfds[j].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Slot& s = slots_[which[j]];
      char buf[1 << 16];
      ssize_t n = ::read(s.fd, buf, sizeof buf);
      if (n > 0) Consume(s, buf, static_cast<std::size_t>(n));
      if (n > 0 || (n < 0 && errno == EINTR)) continue;
      int status = 0;
      while (::waitpid(s.pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ++t_.crashes;
        std::fprintf(stderr, "shmkv-stress: worker %d (pid %d) ended with %s %d\n", which[j], s.pid,
                     WIFSIGNALED(status) ? "signal" : "status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
      }
      ::close(s.fd);
      s.fd = -1;
    }
  }
}

// After the workers stopped: a fresh handle checks the invariants, every owned key against the
// model, the hot counters and the queue.
void Parent::FinalCheck() {
  shmkv::Options o;
  o.name = cfg_.name;
  o.open_mode = shmkv::OpenMode::attach_only;
  Store store = Store::open(o);
  CheckInvariants(store, "final");
  t_.claims_lost = FinalClaimCheck(store);
  for (int i = 0; i < cfg_.workers; ++i) {
    for (std::uint32_t k = 0; k < cfg_.keys; ++k) {
      const KeyModel& m = slots_[i].model.keys[k];
      std::string key = OwnedKey(i, k);
      auto raw = store.get(key);
      auto seen = DecodeOwned(key, IsNumericKey(k), raw);
      if (!seen) {
        ++t_.torn;
        std::fprintf(stderr, "shmkv-stress: final: torn value at %s: '%s'\n", key.c_str(),
                     raw->substr(0, 120).c_str());
      } else if (!Matches(m.acked, *seen) && !(m.has_inflight && Matches(m.inflight, *seen))) {
        ++t_.lost;
        std::fprintf(stderr, "shmkv-stress: final: %s holds %s; acknowledged %s %" PRId64 "%s\n",
                     key.c_str(), *seen ? std::to_string(**seen).c_str() : "absent",
                     m.acked.kind == kAbsent ? "absent" : "value", m.acked.v,
                     m.has_inflight ? " (one write in flight)" : "");
      }
    }
  }
  for (std::uint32_t c = 0; c < cfg_.hot; ++c) {
    auto raw = store.get(HotKey(c));
    auto v = raw ? ParseInt(*raw) : std::optional<std::int64_t>(0);
    std::uint64_t lo = acked_incs_[c], hi = lo + interrupted_incs_[c];
    if (!v || *v < 0 || static_cast<std::uint64_t>(*v) < lo ||
        static_cast<std::uint64_t>(*v) > hi) {
      ++t_.counter_mismatches;
      std::fprintf(stderr,
                   "shmkv-stress: final: %s = %s; acked increments %" PRIu64
                   ", interrupted %" PRIu64 "\n",
                   HotKey(c).c_str(), raw ? raw->c_str() : "absent", lo, interrupted_incs_[c]);
    }
  }
  std::uint64_t remaining = 0;
  for (const auto& e : store.list({std::string(kQueuePrefix), 0})) {
    auto token = ParseInt(std::string_view(e.key).substr(kQueuePrefix.size()));
    auto d = Verify(e.value);
    if (!d || d->key != e.key || !token || d->gen != static_cast<std::uint64_t>(*token)) {
      ++t_.torn;
      std::fprintf(stderr, "shmkv-stress: final: torn queue entry %s\n", e.key.c_str());
    } else if (*token < 0 || static_cast<std::uint64_t>(*token) >= seeded_) {
      ++t_.queue_mismatches;
      std::fprintf(stderr, "shmkv-stress: final: queue holds unseeded %s\n", e.key.c_str());
    } else if (popped_[*token]) {
      ++t_.duplicate_pops;
      std::fprintf(stderr, "shmkv-stress: final: %s was popped and is still queued\n",
                   e.key.c_str());
    }
    ++remaining;
  }
  remaining_ = remaining;
  if (remaining + t_.acked_pops > seeded_ ||
      seeded_ > remaining + t_.acked_pops + t_.interrupted_pops) {
    ++t_.queue_mismatches;
    std::fprintf(stderr,
                 "shmkv-stress: final: queue: seeded %" PRIu64 ", remaining %" PRIu64
                 ", acked pops %" PRIu64 ", interrupted pops %" PRIu64 "\n",
                 seeded_, remaining, t_.acked_pops, t_.interrupted_pops);
  }
  shmkv::Stats st = store.stats();
  t_.recoveries = st.recoveries;
  t_.lock_waits = st.lock_waits;
}

void Parent::Progress(double elapsed) {
  std::printf("[%6.0fs] ops %" PRIu64 "  kills %" PRIu64 "  checks %" PRIu64 "  violations %" PRIu64
              "  lost %" PRIu64 "  torn %" PRIu64 "  errors %" PRIu64 "\n",
              elapsed, t_.ops, t_.kills, t_.checks, t_.violations, t_.lost, t_.torn, t_.errors);
  std::fflush(stdout);
}

bool Parent::Passed() const {
  return t_.violations == 0 && t_.lost == 0 && t_.torn == 0 && t_.errors == 0 && t_.crashes == 0 &&
         t_.stalls == 0 && t_.counter_mismatches == 0 && t_.queue_mismatches == 0 &&
         t_.duplicate_pops == 0 && t_.claims_lost == 0 && cfg_.board->double_holders.load() == 0 &&
         cfg_.board->over_granted.load() == 0;
}

void Parent::Report(double elapsed) {
  auto line = [](const char* what, std::uint64_t v, const char* note = "") {
    std::printf("  %-28s %12" PRIu64 "%s\n", what, v, note);
  };
  std::printf("shmkv-stress results (seed %" PRIu64 ", %.1f s)\n", cfg_.seed, elapsed);
  line("operations done", t_.ops);
  line("kills", t_.kills);
  line("  with an unacknowledged op", t_.kills_unacked);
  line("  owned-key writes unacked", t_.unacked_writes_at_kills);
  line("worker starts", t_.spawns);
  line("owned keys verified on start", t_.verified_keys);
  line("recoveries performed", t_.recoveries, "  (Store::stats().recoveries)");
  line("lock waits", t_.lock_waits);
  line("invariant checks", t_.checks);
  line("invariant violations", t_.violations, "  (must be 0)");
  line("lost acknowledged writes", t_.lost, "  (must be 0)");
  line("torn reads", t_.torn, "  (must be 0)");
  line("wrong results / errors", t_.errors, "  (must be 0)");
  line("hot counter increments", t_.acked_incs);
  line("  interrupted by kills", t_.interrupted_incs);
  line("  counter mismatches", t_.counter_mismatches, "  (must be 0)");
  line("queue tokens seeded", seeded_);
  line("  pops acknowledged", t_.acked_pops);
  line("  pops interrupted by kills", t_.interrupted_pops);
  line("  pops that found it empty", t_.empty_pops);
  line("  tokens remaining", remaining_);
  line("  duplicate pops", t_.duplicate_pops, "  (must be 0)");
  line("  queue mismatches", t_.queue_mismatches, "  (must be 0)");
  const CoordBoard& b = *cfg_.board;
  line("claims granted", b.claims.load());
  line("  completed", b.completes.load());
  line("locks granted", b.locks.load());
  line("  waits that timed out", b.lock_timeouts.load());
  line("permits granted", b.permits.load());
  line("  waits that timed out", b.permit_timeouts.load());
  line("barrier rounds (2 parties)", b.barrier_rounds.load());
  line("  broken by a kill", b.barrier_broken.load());
  line("  timed out alone", b.barrier_timeouts.load());
  line("double holders", b.double_holders.load(), "  (must be 0)");
  line("permits over-granted", b.over_granted.load(), "  (must be 0)");
  line("grants lost", t_.claims_lost, "  (must be 0)");
  line("crashed workers", t_.crashes, "  (must be 0)");
  line("hung workers", t_.stalls, "  (must be 0)");
  std::printf("result: %s\n", Passed() ? "PASS" : "FAIL");
  std::fflush(stdout);
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

int Parent::Run() {
  const auto start = Clock::now();
  slots_.resize(static_cast<std::size_t>(cfg_.workers));
  for (Slot& s : slots_) s.model.keys.assign(cfg_.keys, KeyModel{});
  acked_incs_.assign(cfg_.hot, 0);
  interrupted_incs_.assign(cfg_.hot, 0);
  Refill();
  for (int i = 0; i < cfg_.workers; ++i) Spawn(i);
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(cfg_.seconds));
  const milliseconds kill_every(cfg_.kill_every_ms), check_every(cfg_.check_every_ms);
  auto next_kill = start + kill_every, next_check = start + check_every;
  auto next_progress = start + std::chrono::seconds(10);
  std::vector<pollfd> pfds(static_cast<std::size_t>(cfg_.workers));
  while (!g_interrupted) {
    auto now = Clock::now();
    if (now >= end) break;
    if (cfg_.kill_every_ms != 0 && now >= next_kill) {
      int i = static_cast<int>(rng_.Below(static_cast<std::uint64_t>(cfg_.workers)));
      ::kill(slots_[i].pid, SIGKILL);
      Reap(i, true);
      ++t_.kills;
      Spawn(i);
      next_kill = std::max(next_kill + kill_every, now);
      continue;
    }
    if (now >= next_check) {
      RefillClaimPool(store_);
      CheckInvariants(store_, "running");
      next_check = Clock::now() + check_every;
    }
    if (now >= next_progress) {
      Progress(std::chrono::duration<double>(now - start).count());
      next_progress += std::chrono::seconds(10);
    }
    Refill();
    for (int i = 0; i < cfg_.workers; ++i) {
      if (now - slots_[i].last_heard < kStallLimit) continue;
      ++t_.stalls;
      std::fprintf(stderr, "shmkv-stress: worker %d (pid %d) silent for 60 s; wchan %s\n", i,
                   slots_[i].pid,
                   ReadSmallFile("/proc/" + std::to_string(slots_[i].pid) + "/wchan").c_str());
      ::kill(slots_[i].pid, SIGKILL);
      Reap(i, true);
      Spawn(i);
    }
    auto wake = std::min({end, next_check, next_progress, now + milliseconds(100)});
    if (cfg_.kill_every_ms != 0) wake = std::min(wake, next_kill);
    int timeout = static_cast<int>(
        std::chrono::ceil<milliseconds>(std::max(wake - now, Clock::duration::zero())).count());
    for (int i = 0; i < cfg_.workers; ++i) pfds[i] = {slots_[i].fd, POLLIN, 0};
    if (::poll(pfds.data(), pfds.size(), timeout) < 0 && errno != EINTR)
      throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    for (int i = 0; i < cfg_.workers; ++i)
      if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) ReadFrom(i, false);
    for (int i = 0; i < cfg_.workers; ++i)
      if (slots_[i].pid < 0) Spawn(i);
  }
  StopAll();
  FinalCheck();
  Report(std::chrono::duration<double>(Clock::now() - start).count());
  return Passed() ? kExitOk : kExitFailed;
}

}  // namespace
}  // namespace stress

int main(int argc, char** argv) {
  using namespace stress;
  Config cfg;
  bool seed_given = false;
  try {
    cfg = ParseArgs(argc, argv, &seed_given);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "shmkv-stress: %s\n%s", e.what.c_str(), kUsage);
    return kExitUsage;
  }
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::printf("shmkv-stress: seed %" PRIu64 "%s\n", cfg.seed, seed_given ? "" : " (random)");
  std::printf("  --workers %d --seconds %g --keys %u --kill-every %u --seed %" PRIu64
              " --name %s --size-mb %" PRIu64 " --home-block %u --hot %u --queue %u%s\n",
              cfg.workers, cfg.seconds, cfg.keys, cfg.kill_every_ms, cfg.seed, cfg.name.c_str(),
              cfg.size_mb, cfg.home_block_bytes, cfg.hot, cfg.queue,
              kSanitized ? "  (sanitizer build)" : "");
  if (!cfg.sabotage.empty())
    std::printf("  --sabotage %s: this run must FAIL\n", cfg.sabotage.c_str());
  std::fflush(stdout);
  int rc;
  try {
    if (Store::segment_exists(cfg.name)) Store::destroy(cfg.name);
    shmkv::Options o;
    o.name = cfg.name;
    o.open_mode = shmkv::OpenMode::create_only;
    o.size_bytes = cfg.size_mb << 20;
    o.shards = cfg.shards;
    o.home_block_bytes = cfg.home_block_bytes;
    Store store = Store::open(o);
    cfg.board = MapCoordBoard();
    RefillClaimPool(store);
    std::printf("  segment %s: %u shards, %" PRIu64 " bytes\n", cfg.name.c_str(),
                store.info().shards, store.info().size_bytes);
    Parent parent(cfg, std::move(store));
    rc = parent.Run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmkv-stress: %s\n", e.what());
    return kExitError;
  }
  if (!cfg.keep && (rc == kExitOk || !cfg.sabotage.empty())) {
    Store::destroy(cfg.name);
  } else {
    std::printf("segment kept: /dev/shm/shmkv.%s\n", cfg.name.c_str());
  }
  return rc;
}
