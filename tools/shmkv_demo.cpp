// shmkv_demo.cpp: `shmkv-demo`, several processes sharing one shmkv store, checked end to end.
//
//   shmkv-demo [--name NAME] [--workers N] [--tokens N] [--users N] [--keep]
//
// The parent creates the store (destroying a leftover one of the same name first), seeds a
// token queue (token:0000...) and a user pool (user:000...), closes its handle and forks N
// workers. Each worker opens its own Store after fork(), waits for the start signal so that all
// of them race, and then:
//   - elects a leader: get_or_set("leader", "worker-<i>"); exactly one worker stores its name,
//   - drains the queue: pop_random("token:") until empty, marking each token with
//     set_if_absent("claimed:<token>", "worker-<i>") (false would mean a token popped twice),
//   - counts: increment_by("requests") and increment_by("worker:<i>:done") per token,
//   - samples the pool: random_key("user:") per token, counting hits in hits:<user>.
// Each worker reports its tallies to the parent through a pipe. The parent prints one row per
// worker and checks the tallies against the store (every token popped exactly once, counters
// equal the number of increments, exactly one leader, no random_key miss); it exits 1 if any
// check fails, 2 on a usage error, 3 on a store error. The store is destroyed at the end unless
// --keep is given (then inspect it with `shmkv --name NAME info` or `list`).
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "shmkv/shmkv.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitCheckFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitError = 3;

constexpr const char* kUsage =
    "usage: shmkv-demo [--name NAME] [--workers N] [--tokens N] [--users N] [--keep]";

struct Config {
  std::string name = "shmkv-demo";
  int workers = 4;
  int tokens = 1000;
  int users = 100;
  bool keep = false;
};

// What a worker tells the parent. One write() of this struct is atomic: it is below PIPE_BUF.
struct Report {
  std::int32_t worker = -1;
  std::int32_t pid = 0;
  std::uint64_t popped = 0;           // tokens this worker got from pop_random
  std::uint64_t claim_conflicts = 0;  // set_if_absent("claimed:<token>") found it claimed
  std::uint64_t lookups = 0;          // random_key("user:") calls
  std::uint64_t misses = 0;           // ... that returned nothing
  bool elected = false;               // get_or_set("leader") stored this worker's name
  char leader_seen[32] = {};          // the leader value get_or_set returned
  char error[256] = {};               // a shmkv::Error or other failure, empty if none
};
static_assert(sizeof(Report) < PIPE_BUF);

[[gnu::format(printf, 1, 2)]] std::string Format(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  std::string s(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(s.data(), s.size() + 1, fmt, ap2);
  va_end(ap2);
  return s;
}

std::string WorkerName(int i) {
  return "worker-" + std::to_string(i);
}

std::string Padded(int n, int width) {
  std::string s = std::to_string(n);
  return std::string(s.size() < static_cast<std::size_t>(width) ? width - s.size() : 0, '0') + s;
}

int Digits(int n) {
  return n < 10 ? 1 : 1 + Digits(n / 10);
}

void CopyTo(char* dst, std::size_t size, std::string_view s) {
  std::size_t n = std::min(size - 1, s.size());
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

std::string Describe(const std::exception& e) {
  if (auto* se = dynamic_cast<const shmkv::Error*>(&e)) {
    // what() ends with ": <code name>"; print the name once, in front.
    std::string name = shmkv::errc_name(se->code_value()), what = se->what();
    if (what.ends_with(": " + name)) what.resize(what.size() - name.size() - 2);
    return name + ": " + what;
  }
  return e.what();
}

bool WriteAll(int fd, const void* data, std::size_t size) {
  auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Reads up to size bytes; returns how many were read before EOF.
std::size_t ReadAll(int fd, void* data, std::size_t size) {
  auto* p = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, p + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

// The body of worker i, run in a forked child. Never returns.
[[noreturn]] void RunWorker(const Config& cfg, int i, int ready_fd, int go_fd, int report_fd) {
  Report r;
  r.worker = i;
  r.pid = static_cast<std::int32_t>(::getpid());
  const std::string me = WorkerName(i);
  const std::string done_key = "worker:" + std::to_string(i) + ":done";
  bool signalled = false;
  try {
    shmkv::Options o;
    o.name = cfg.name;
    o.open_mode = shmkv::OpenMode::attach_only;
    shmkv::Store store = shmkv::Store::open(o);  // our own handle, opened after fork()

    char byte = 1;
    WriteAll(ready_fd, &byte, 1);
    signalled = true;
    ReadAll(go_fd, &byte, 1);  // returns at EOF, when the parent closes the go pipe

    auto leader = store.get_or_set("leader", me);
    r.elected = !leader.loaded;
    CopyTo(r.leader_seen, sizeof r.leader_seen, leader.value);

    while (auto token = store.pop_random("token:")) {
      ++r.popped;
      if (!store.set_if_absent("claimed:" + token->key, me)) ++r.claim_conflicts;
      store.increment_by("requests", 1);
      store.increment_by(done_key, 1);
      ++r.lookups;
      if (auto user = store.random_key("user:")) {
        store.increment_by("hits:" + *user, 1);
      } else {
        ++r.misses;
      }
    }
    store.close();
  } catch (const std::exception& e) {
    CopyTo(r.error, sizeof r.error, Describe(e));
  }
  if (!signalled) {
    char byte = 0;
    WriteAll(ready_fd, &byte, 1);
  }
  bool sent = WriteAll(report_fd, &r, sizeof r);
  ::_exit(sent && r.error[0] == '\0' ? 0 : 1);  // _exit: no parent destructors or atexit in here
}

std::optional<int> ParseInt(std::string_view s, int lo, int hi) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) {
    return std::nullopt;
  }
  return v;
}

// Returns an exit code if the program should stop (help or usage error).
std::optional<int> ParseArgs(int argc, char** argv, Config& cfg) {
  struct IntOpt {
    const char* flag;
    int* target;
    int lo, hi;
  };
  const IntOpt int_opts[] = {{"--workers", &cfg.workers, 1, 64},
                             {"--tokens", &cfg.tokens, 1, 50000},
                             {"--users", &cfg.users, 1, 10000}};
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf(
          "%s\n\n"
          "Forks N worker processes (default 4) that share the store NAME (default shmkv-demo):\n"
          "they elect one leader with get_or_set, drain a queue of --tokens tokens (default 1000)\n"
          "with pop_random, count with increment_by and sample --users users (default 100) with\n"
          "random_key. The parent then checks every result against the store and exits 1 if a\n"
          "check fails. The store is destroyed at the end unless --keep is given.\n",
          kUsage);
      return kExitOk;
    }
    if (a == "--keep") {
      cfg.keep = true;
      continue;
    }
    std::string_view flag = a, value;
    bool has_value = false;
    if (auto eq = a.find('='); a.starts_with("--") && eq != std::string_view::npos) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    } else if (i + 1 < argc) {
      value = argv[i + 1];
    }
    auto need_value = [&]() -> bool {
      if (has_value) return true;
      if (i + 1 >= argc) return false;
      ++i;
      return true;
    };
    if (flag == "--name") {
      if (!need_value()) {
        std::fprintf(stderr, "shmkv-demo: --name needs a value\n%s\n", kUsage);
        return kExitUsage;
      }
      cfg.name = std::string(value);
      continue;
    }
    bool matched = false;
    for (const auto& o : int_opts) {
      if (flag != o.flag) continue;
      matched = true;
      if (!need_value()) {
        std::fprintf(stderr, "shmkv-demo: %s needs a value\n%s\n", o.flag, kUsage);
        return kExitUsage;
      }
      auto v = ParseInt(value, o.lo, o.hi);
      if (!v) {
        std::fprintf(stderr, "shmkv-demo: %s: '%.*s' is not a number from %d to %d\n%s\n", o.flag,
                     static_cast<int>(value.size()), value.data(), o.lo, o.hi, kUsage);
        return kExitUsage;
      }
      *o.target = *v;
    }
    if (!matched) {
      std::fprintf(stderr, "shmkv-demo: unknown argument '%s'\n%s\n", argv[i], kUsage);
      return kExitUsage;
    }
  }
  return std::nullopt;
}

std::int64_t Counter(shmkv::Store& store, const std::string& key) {
  auto v = store.get(key);
  if (!v) return 0;
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  return ec == std::errc() && p == v->data() + v->size() ? n : -1;
}

class Checks {
 public:
  void Add(bool ok, const std::string& line) {
    std::printf("  %s  %s\n", ok ? "ok  " : "FAIL", line.c_str());
    ++total_;
    if (!ok) ++failed_;
  }
  int total() const { return total_; }
  int failed() const { return failed_; }

 private:
  int total_ = 0, failed_ = 0;
};

int Run(const Config& cfg) {
  using Clock = std::chrono::steady_clock;
  if (shmkv::Store::segment_exists(cfg.name)) shmkv::Store::destroy(cfg.name);  // a leftover run
  shmkv::Options options;
  options.name = cfg.name;
  options.open_mode = shmkv::OpenMode::create_or_attach;
  {
    shmkv::Store store = shmkv::Store::open(options);
    const int tw = std::max(4, Digits(cfg.tokens - 1));
    const int uw = std::max(3, Digits(cfg.users - 1));
    std::vector<std::pair<std::string, std::string>> seed;
    for (int t = 0; t < cfg.tokens; ++t) seed.emplace_back("token:" + Padded(t, tw), "job");
    for (int u = 0; u < cfg.users; ++u) seed.emplace_back("user:" + Padded(u, uw), "profile");
    store.set_many(seed);
    std::printf("shmkv demo: %d worker processes share the store '%s' (/dev/shm/shmkv.%s)\n",
                cfg.workers, cfg.name.c_str(), cfg.name.c_str());
    std::printf("seeded %d tokens (token:%s..%s) and %d users (user:%s..%s)\n", cfg.tokens,
                Padded(0, tw).c_str(), Padded(cfg.tokens - 1, tw).c_str(), cfg.users,
                Padded(0, uw).c_str(), Padded(cfg.users - 1, uw).c_str());
    std::printf(
        "each worker: get_or_set(\"leader\"), then pop_random(\"token:\") until empty,\n"
        "with increment_by counters and a random_key(\"user:\") lookup per token\n\n");
    std::fflush(stdout);
  }  // the parent detaches: each worker opens its own handle after fork()

  int ready[2], go[2], report[2];
  if (::pipe(ready) != 0 || ::pipe(go) != 0 || ::pipe(report) != 0) {
    std::perror("shmkv-demo: pipe");
    return kExitError;
  }
  std::vector<pid_t> pids;
  for (int i = 0; i < cfg.workers; ++i) {
    pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("shmkv-demo: fork");
      break;  // the workers already started still run; the checks below will fail
    }
    if (pid == 0) {
      ::close(ready[0]);
      ::close(go[1]);
      ::close(report[0]);
      RunWorker(cfg, i, ready[1], go[0], report[1]);
    }
    pids.push_back(pid);
  }
  ::close(ready[1]);
  ::close(go[0]);
  ::close(report[1]);

  // Wait until every worker has attached (or failed to), then start them all at once.
  std::vector<char> acks(pids.size());
  ReadAll(ready[0], acks.data(), acks.size());
  ::close(ready[0]);
  auto start = Clock::now();
  ::close(go[1]);

  std::vector<Report> reports(static_cast<std::size_t>(cfg.workers));
  std::vector<bool> reported(reports.size(), false);
  Report r;
  while (ReadAll(report[0], &r, sizeof r) == sizeof r) {
    if (r.worker >= 0 && r.worker < cfg.workers) {
      reports[static_cast<std::size_t>(r.worker)] = r;
      reported[static_cast<std::size_t>(r.worker)] = true;
    }
  }
  ::close(report[0]);
  std::vector<std::string> failures;  // per-worker exits and errors
  for (std::size_t i = 0; i < pids.size(); ++i) {
    int status = 0;
    while (::waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status)) {
      failures.push_back(WorkerName(static_cast<int>(i)) + " killed by signal " +
                         std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) +
                         ")");
    } else if (reported[i] && reports[i].error[0] != '\0') {
      failures.push_back(WorkerName(static_cast<int>(i)) + " failed: " + reports[i].error);
    } else if (!reported[i] || WEXITSTATUS(status) != 0) {
      failures.push_back(WorkerName(static_cast<int>(i)) + " exited with status " +
                         std::to_string(WEXITSTATUS(status)) + " without a report");
    }
  }
  auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();

  // The report table.
  std::uint64_t popped = 0, conflicts = 0, lookups = 0, misses = 0;
  int elected = 0;
  std::string leader;
  bool leaders_agree = true;
  std::printf("  worker      pid  tokens popped  user lookups  leader\n");
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const Report& w = reports[i];
    if (!reported[i]) {
      std::printf("  %6zu  %7s  %13s  %12s  %s\n", i, "-", "-", "-", "(no report)");
      continue;
    }
    popped += w.popped;
    conflicts += w.claim_conflicts;
    lookups += w.lookups;
    misses += w.misses;
    if (w.elected) ++elected;
    if (leader.empty()) leader = w.leader_seen;
    if (leader != w.leader_seen) leaders_agree = false;
    std::printf("  %6zu  %7d  %13" PRIu64 "  %12" PRIu64 "  %s\n", i, w.pid, w.popped, w.lookups,
                w.elected ? "elected" : "-");
  }
  for (const auto& f : failures) std::printf("  !! %s\n", f.c_str());
  std::printf("\nchecks (against the store, reopened by the parent):\n");

  shmkv::Options attach = options;
  attach.open_mode = shmkv::OpenMode::attach_only;
  shmkv::Store store = shmkv::Store::open(attach);
  Checks checks;
  checks.Add(failures.empty() && pids.size() == static_cast<std::size_t>(cfg.workers),
             Format("workers: %zu of %d finished without error", pids.size() - failures.size(),
                    cfg.workers));

  // Tokens: each popped exactly once. claimed:<token> records who got it.
  std::map<std::string, std::uint64_t> claimed_by;
  for (const auto& e : store.list({"claimed:", 0})) ++claimed_by[e.value];
  bool owners_match = true;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    if (claimed_by[WorkerName(static_cast<int>(i))] != reports[i].popped) owners_match = false;
  }
  std::size_t claimed = store.count("claimed:"), left = store.count("token:");
  checks.Add(popped == static_cast<std::uint64_t>(cfg.tokens) && conflicts == 0 &&
                 claimed == static_cast<std::size_t>(cfg.tokens) && left == 0 && owners_match,
             Format("tokens: %" PRIu64 " of %d popped; %" PRIu64
                    " claimed twice, %zu left, claimed:<token> owners %s",
                    popped, cfg.tokens, conflicts, left, owners_match ? "match" : "DIFFER"));

  // Counters: every increment_by landed.
  std::int64_t requests = Counter(store, "requests");
  bool done_match = true;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    auto key = "worker:" + std::to_string(i) + ":done";
    if (Counter(store, key) != static_cast<std::int64_t>(reports[i].popped)) done_match = false;
  }
  checks.Add(
      requests == static_cast<std::int64_t>(popped) && done_match,
      Format("counters: requests = %" PRId64 " (tokens popped: %" PRIu64 "), worker:<i>:done %s",
             requests, popped, done_match ? "match the table" : "DIFFER from the table"));

  // Leader: exactly one worker stored its name; everyone saw that name.
  auto stored_leader = store.get("leader").value_or("(none)");
  checks.Add(elected == 1 && leaders_agree && stored_leader == leader,
             Format("leader: %d elected, store says '%s', %s", elected, stored_leader.c_str(),
                    leaders_agree ? "seen by every worker" : "workers saw DIFFERENT leaders"));

  // Random pool: random_key never missed, and the per-user hit counters add up.
  std::int64_t hit_sum = 0;
  auto hits = store.list({"hits:", 0});
  for (const auto& e : hits) hit_sum += Counter(store, e.key);
  checks.Add(misses == 0 && hit_sum == static_cast<std::int64_t>(lookups),
             Format("random_key: %" PRIu64 " lookups, %" PRIu64 " misses, hits:<user> sum %" PRId64
                    ", %zu of %d users drawn",
                    lookups, misses, hit_sum, hits.size(), cfg.users));

  store.close();
  if (!cfg.keep) shmkv::Store::destroy(cfg.name);
  std::printf("\n%s: %d of %d checks passed; workers ran for %lld ms; store %s\n",
              checks.failed() ? "FAILED" : "OK", checks.total() - checks.failed(), checks.total(),
              static_cast<long long>(elapsed_ms),
              cfg.keep ? ("kept (try: shmkv --name " + cfg.name + " info)").c_str() : "destroyed");
  return checks.failed() ? kExitCheckFailed : kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  if (auto code = ParseArgs(argc, argv, cfg)) return *code;
  try {
    return Run(cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmkv-demo: %s\n", Describe(e).c_str());
    return kExitError;
  }
}
