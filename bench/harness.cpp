// harness.cpp: command line, environment header, fork/barrier plumbing, checks and the report
// of shmkv-bench. See harness.hpp for the workload.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "harness_impl.hpp"

namespace shmkv_bench {

namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

constexpr char kDigits2[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

std::string human_rate(double r) {
  char buf[64];
  if (r >= 1e6)
    std::snprintf(buf, sizeof buf, "%.3f M", r / 1e6);
  else if (r >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1f k", r / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.1f ", r);
  return buf;
}

void write_all(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t k = ::write(fd, c, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return;
    c += k;
    n -= static_cast<std::size_t>(k);
  }
}

// Reads exactly n bytes; false on EOF/error first.
bool read_all(int fd, void* p, std::size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t k = ::read(fd, c, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    c += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

bool g_readied = false;  // per process: this worker already passed the ready byte

}  // namespace

void copy_bytes(void* dst, const void* src, std::size_t n) {
  std::memcpy(dst, src, n);
}

void format_key(std::uint64_t i, char* out) {
  std::memcpy(out, "key:", 4);
  // Two independent 6-digit halves, two digits at a time (i < 10^12).
  std::uint32_t hi = static_cast<std::uint32_t>(i / 1000000);
  std::uint32_t lo = static_cast<std::uint32_t>(i - static_cast<std::uint64_t>(hi) * 1000000);
  for (int k = 2; k >= 0; --k) {
    std::uint32_t qh = hi / 100, ql = lo / 100;
    std::memcpy(out + 4 + 2 * k, kDigits2 + 2 * (hi - qh * 100), 2);
    std::memcpy(out + 10 + 2 * k, kDigits2 + 2 * (lo - ql * 100), 2);
    hi = qh;
    lo = ql;
  }
}

bool parse_i64(const char* p, std::size_t n, std::int64_t* out) {
  if (n == 0 || n > 20) return false;
  bool neg = p[0] == '-';
  std::size_t i = neg ? 1 : 0;
  if (i == n) return false;
  std::int64_t v = 0;
  for (; i < n; ++i) {
    if (p[i] < '0' || p[i] > '9') return false;
    v = v * 10 + (p[i] - '0');
  }
  *out = neg ? -v : v;
  return true;
}

std::size_t format_i64(std::int64_t v, char* out) {
  char tmp[24];
  std::size_t n = 0;
  std::uint64_t u = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  do {
    tmp[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  std::size_t o = 0;
  if (v < 0) out[o++] = '-';
  while (n > 0) out[o++] = tmp[--n];
  return o;
}

void Sink::popped_one(const char* key, std::size_t klen, std::size_t vlen) {
  std::int64_t idx = -1;
  if (klen != kKeyLen || std::memcmp(key, kKeyPrefix, 4) != 0 || !parse_i64(key + 4, 12, &idx) ||
      vlen != value_size) {
    ++bad;
    return;
  }
  ++popped;
  checksum += static_cast<std::uint64_t>(idx);
  if (popped_idx) popped_idx->push_back(static_cast<std::uint32_t>(idx));
}

void Dataset::key(std::uint64_t i, char* out) const {
  format_key(i, out);
}

void Dataset::value(std::uint64_t i, char* out) const {
  std::uint64_t s = seed ^ ((i + 1) * 0xd6e8feb86659fd93ull);
  std::uint32_t o = 0;
  while (o < value_size) {
    std::uint64_t r = splitmix64(s);
    std::uint32_t k = std::min<std::uint32_t>(8, value_size - o);
    std::memcpy(out + o, &r, k);
    o += k;
  }
}

std::string Dataset::counter_name(int c) {
  char buf[kKeyLen + 1];
  std::snprintf(buf, sizeof buf, "ctr:%012d", c);
  return std::string(buf, kKeyLen);
}

Dataset make_dataset(const Config& cfg) {
  return Dataset{cfg.keys, cfg.value_size, cfg.seed, cfg.mix != Mix::pop && cfg.mix != Mix::prefix};
}

std::uint64_t warmup_ops(const Config& cfg) {
  if (cfg.warmup != ~0ull) return cfg.warmup;
  std::uint64_t cap = cfg.engine == "redis" || cfg.engine == "shmkv-redis" ? 10000 : 100000;
  return cfg.seconds > 0 ? cap : std::min(cfg.ops, cap);
}

// --- Histogram ---

void Histogram::merge(const Histogram& o) {
  for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
  total_ += o.total_;
}

std::uint64_t Histogram::lower(int idx) {
  if (idx < kSub) return static_cast<std::uint64_t>(idx);
  int e = idx / kSub + 3;
  std::uint64_t sub = static_cast<std::uint64_t>(idx % kSub);
  return (kSub + sub) << (e - 4);
}

std::uint64_t Histogram::percentile(double q) const {
  if (total_ == 0) return 0;
  std::uint64_t rank = static_cast<std::uint64_t>(q * static_cast<double>(total_));
  if (rank == 0) rank = 1;
  if (rank > total_) rank = total_;
  std::uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      std::uint64_t lo = lower(i), hi = i + 1 < kBuckets ? lower(i + 1) : lo;
      return lo + (hi - lo) / 2;
    }
  }
  return 0;
}

std::uint64_t Histogram::max() const {
  for (int i = kBuckets - 1; i >= 0; --i)
    if (counts_[i]) return lower(i + 1 < kBuckets ? i + 1 : i);
  return 0;
}

// --- OpGen ---

OpGen::OpGen(const Config& cfg, int worker, int stream)
    : mix_(cfg.mix),
      keys_(cfg.keys),
      next_new_key_(cfg.keys + static_cast<std::uint64_t>(worker) * cfg.ops),
      pool_(kPool + cfg.value_size) {
  switch (cfg.mix) {
    case Mix::r90:
      set_pct_ = 10;
      break;
    case Mix::r50:
      set_pct_ = 50;
      break;
    case Mix::set:
      set_pct_ = 100;
      break;
    default:
      set_pct_ = 0;
  }
  std::uint64_t s =
      cfg.seed * 0x9e3779b97f4a7c15ull + 1000003ull * (worker + 1) + 0x5bd1e995ull * stream;
  state_ = splitmix64(s);
  for (std::size_t i = 0; i < pool_.size(); ++i) pool_[i] = static_cast<char>(splitmix64(s));
  for (int c = 0; c < kCounters; ++c)
    std::memcpy(counter_names_[c], Dataset::counter_name(c).data(), kKeyLen);
}

// --- Launch ---

Launch::Launch(const Config& cfg) : cfg_(cfg) {
  if (::pipe(ready_) != 0 || ::pipe(go_) != 0) die("pipe failed");
  if (cfg.mix == Mix::pop) {
    pop_bytes_ = std::max<std::size_t>(cfg.keys, 1);
    void* p =
        ::mmap(nullptr, pop_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap of the pop check array failed");
    pop_counts_ = static_cast<std::uint8_t*>(p);
  }
}

Launch::~Launch() {
  if (pop_counts_) ::munmap(pop_counts_, pop_bytes_);
  for (int fd : {ready_[0], ready_[1], go_[0], go_[1]})
    if (fd >= 0) ::close(fd);
}

pid_t Launch::fork_worker(int w) {
  int rp[2];
  if (::pipe(rp) != 0) die("pipe failed");
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    ::close(rp[0]);
    ::close(ready_[0]);
    ::close(go_[1]);
    ready_[0] = go_[1] = -1;
    report_fds_.assign(1, rp[1]);
    g_readied = false;
    (void)w;
    return 0;
  }
  ::close(rp[1]);
  report_fds_.push_back(rp[0]);
  pids_.push_back(pid);
  register_cleanup_pid(pid);
  return pid;
}

void Launch::ready_and_wait(int) {
  char c = 'r';
  write_all(ready_[1], &c, 1);
  g_readied = true;
  ssize_t k;
  do {
    k = ::read(go_[0], &c, 1);  // returns 0 (EOF) when the parent closes the write end
  } while (k < 0 && errno == EINTR);
}

void Launch::mark_popped(const std::vector<std::uint32_t>& idx) {
  for (std::uint32_t i : idx)
    if (i < pop_bytes_) __atomic_fetch_add(&pop_counts_[i], 1, __ATOMIC_RELAXED);
}

void Launch::finish(int, const WorkerReport& rep) {
  if (!g_readied) {  // failed before the barrier: still count as ready so the others start
    char c = 'f';
    write_all(ready_[1], &c, 1);
  }
  write_all(report_fds_[0], &rep, sizeof rep);
  ::close(report_fds_[0]);
  ::_exit(rep.failed ? 1 : 0);
}

std::vector<WorkerReport> Launch::run_parent() {
  ::close(ready_[1]);
  ::close(go_[0]);
  ready_[1] = go_[0] = -1;
  int got = 0;
  char c;
  while (got < cfg_.workers) {
    ssize_t k = ::read(ready_[0], &c, 1);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;  // every worker gone
    ++got;
  }
  ::close(go_[1]);  // start barrier: all workers see EOF at once
  go_[1] = -1;
  std::vector<WorkerReport> reps(pids_.size());
  for (std::size_t w = 0; w < pids_.size(); ++w) {
    if (!read_all(report_fds_[w], &reps[w], sizeof(WorkerReport))) {
      reps[w] = WorkerReport{};
      reps[w].failed = 1;
      reps[w].worker = static_cast<std::uint32_t>(w);
      std::snprintf(reps[w].error, sizeof reps[w].error, "worker died without a report");
    }
    ::close(report_fds_[w]);
  }
  for (std::size_t w = 0; w < pids_.size(); ++w) {
    int st = 0;
    while (::waitpid(pids_[w], &st, 0) < 0 && errno == EINTR) {
    }
    unregister_cleanup_pid(pids_[w]);
    bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!ok && !reps[w].failed) {
      reps[w].failed = 1;
      std::snprintf(reps[w].error, sizeof reps[w].error, "worker exited with status %d", st);
    }
  }
  report_fds_.clear();
  return reps;
}

// --- output ---

void print_header(const Config& cfg) {
  std::printf("# shmkv-bench  engine=%s mix=%s workers=%d keys=%" PRIu64 " value_size=%u",
              cfg.engine.c_str(), cfg.mix_name.c_str(), cfg.workers, cfg.keys, cfg.value_size);
  if (cfg.seconds > 0)
    std::printf(" seconds=%g", cfg.seconds);
  else
    std::printf(" ops=%" PRIu64, cfg.ops);
  std::printf(" batch=%u seed=%" PRIu64 "\n", cfg.batch, cfg.seed);
  print_environment("shmkv-bench");
}

void print_preload(const Config& cfg, std::uint64_t entries, double seconds) {
  if (!cfg.quiet) std::printf("preload: %" PRIu64 " entries in %.2f s\n", entries, seconds);
}

void print_memory(const Config& cfg, const std::string& mem) {
  if (mem.empty()) return;
  std::printf("MEM engine=%s keys=%" PRIu64 " value_size=%u %s\n", cfg.engine.c_str(), cfg.keys,
              cfg.value_size, mem.c_str());
  std::fflush(stdout);
}

int print_results(const Config& cfg, const std::vector<WorkerReport>& reps, Checks& checks) {
  Histogram all;
  double sum_rate = 0;
  std::uint64_t total_ops = 0, first = ~0ull, last = 0, checksum = 0, bad = 0;
  for (const auto& r : reps) {
    if (r.failed) {
      checks.fail("worker " + std::to_string(r.worker) + " failed: " + r.error);
      continue;
    }
    double secs = (r.end_ns - r.start_ns) / 1e9;
    double rate = secs > 0 ? r.ops / secs : 0;
    sum_rate += rate;
    total_ops += r.ops;
    first = std::min(first, r.start_ns);
    last = std::max(last, r.end_ns);
    checksum += r.checksum;
    bad += r.bad;
    all.merge(r.hist);
    if (!cfg.quiet)
      std::printf("worker %u: %" PRIu64 " ops in %.3f s = %sops/s  (p50 %" PRIu64
                  " ns, p99 %" PRIu64 " ns)\n",
                  r.worker, r.ops, secs, human_rate(rate).c_str(), r.hist.percentile(0.5),
                  r.hist.percentile(0.99));
  }
  if (bad > 0)
    checks.fail(std::to_string(bad) +
                (cfg.mix == Mix::pop ? " pops returned a malformed key or a value of wrong length"
                                     : " gets missed a key or returned a wrong length"));
  double wall = last > first ? total_ops / ((last - first) / 1e9) : 0;
  std::uint64_t p50 = all.percentile(0.5), p99 = all.percentile(0.99), p999 = all.percentile(0.999);
  bool ok = checks.failures.empty();
  if (!cfg.quiet) {
    std::printf("throughput: %sops/s (sum of per-worker rates), %sops/s wall clock\n",
                human_rate(sum_rate).c_str(), human_rate(wall).c_str());
    std::printf("latency per op (mean of each %u-op batch): p50 %" PRIu64 " ns, p99 %" PRIu64
                " ns, p99.9 %" PRIu64 " ns, max < %" PRIu64 " ns\n",
                cfg.batch, p50, p99, p999, all.max());
  }
  for (const auto& f : checks.failures) std::printf("FAIL: %s\n", f.c_str());
  if (ok) std::printf("check: ok\n");
  std::printf("RESULT engine=%s mix=%s workers=%d keys=%" PRIu64 " value_size=%u ops=%" PRIu64
              " ops_per_s=%.0f wall_ops_per_s=%.0f p50_ns=%" PRIu64 " p99_ns=%" PRIu64
              " p999_ns=%" PRIu64 " checksum=%016" PRIx64 " optimised=%d check=%s\n",
              cfg.engine.c_str(), cfg.mix_name.c_str(), cfg.workers, cfg.keys, cfg.value_size,
              total_ops, sum_rate, wall, p50, p99, p999, checksum, representative_build() ? 1 : 0,
              ok ? "ok" : "FAIL");
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace shmkv_bench

namespace {

using shmkv_bench::Config;
using shmkv_bench::die;
using shmkv_bench::Mix;

void usage(FILE* out) {
  std::fprintf(
      out,
      "usage: shmkv-bench --engine E [options]\n"
      "  --engine shmkv|shmkv-tuned|shmkv-batch|shmkv-redis|lmdb|redis|redis-pipe|boost-map|\n"
      "           null|mutex-cost|miss-cost\n"
      "                     (shmkv = a store with only name and size set, every other option\n"
      "                     at its library default; shmkv-tuned = max_keys keys x 1.3 and home\n"
      "                     blocks; null = no store: the harness ceiling; shmkv-batch = shmkv "
      "with\n"
      "                     each batch's consecutive gets in one get_many call; shmkv-redis =\n"
      "                     the Store on its Redis engine, on a redis-server of its own)\n"
      "  --workers W        worker processes (default 1)\n"
      "  --keys N           preloaded keys (default 1M, as in compare.sh; suffixes k, M)\n"
      "  --value-size B     value bytes (default 100)\n"
      "  --ops N            timed ops per worker (default 1M)\n"
      "  --mix M            get | 90-10 | 50-50 | set | insert | incr | pop | prefix (default\n"
      "                     get); insert: every op sets a new key (engine shmkv, --ops only);\n"
      "                     prefix: one process times the prefix and ordered operations of\n"
      "                     issue 14 (engines shmkv, shmkv-redis, redis, lmdb; see\n"
      "                     bench/prefix.hpp)\n"
      "  --seconds S        run each worker for S seconds instead of --ops (prefix: each\n"
      "                     operation for S seconds, default 0.3, 3 to 20000 calls)\n"
      "  --pipeline P       redis-pipe depth (default 32)\n"
      "  --shards N         shmkv*: Options::shards (0 = library default); boost-map: maps (64)\n"
      "  --home-block-bytes B  shmkv-tuned: Options::home_block_bytes (default: the record size,\n"
      "                     32 + 16 + value bytes, when at most 512; 0 = no home blocks)\n"
      "  --batch N          ops per timed batch (default 32; redis-pipe: the pipeline depth)\n"
      "  --warmup N         untimed warm-up gets per worker (default min(ops, 100k); redis and\n"
      "                     shmkv-redis 10k)\n"
      "  --seed N           data and op stream seed (default 42)\n"
      "  --redis-server P   redis-server binary of engines redis, redis-pipe and shmkv-redis\n"
      "                     (default: redis-server on PATH)\n"
      "  --quiet            only the header, MEM, check and RESULT lines\n"
      "  --verify-reads     shmkv: Options::verify_reads = true (every read checks its\n"
      "                     record's checksum; default off, as in the library)\n");
}

std::uint64_t parse_count(const std::string& flag, const std::string& s) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end == s.c_str() || v < 0) die("bad number for " + flag + ": " + s);
  std::string suf(end);
  if (suf == "k" || suf == "K")
    v *= 1e3;
  else if (suf == "M" || suf == "m")
    v *= 1e6;
  else if (suf == "G" || suf == "g")
    v *= 1e9;
  else if (!suf.empty())
    die("bad number for " + flag + ": " + s);
  return static_cast<std::uint64_t>(v + 0.5);
}

Config parse_args(int argc, char** argv) {
  Config c;
  bool batch_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout);
      std::exit(0);
    }
    if (a == "--quiet") {
      c.quiet = true;
      continue;
    }
    if (a == "--verify-reads") {
      c.verify_reads = true;
      continue;
    }
    std::string v;
    auto eq = a.find('=');
    if (eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else {
      if (i + 1 >= argc) die("missing value for " + a);
      v = argv[++i];
    }
    if (a == "--engine")
      c.engine = v;
    else if (a == "--workers")
      c.workers = static_cast<int>(parse_count(a, v));
    else if (a == "--keys")
      c.keys = parse_count(a, v);
    else if (a == "--value-size")
      c.value_size = static_cast<std::uint32_t>(parse_count(a, v));
    else if (a == "--ops")
      c.ops = parse_count(a, v);
    else if (a == "--mix")
      c.mix_name = v;
    else if (a == "--seconds")
      c.seconds = std::strtod(v.c_str(), nullptr);
    else if (a == "--pipeline")
      c.pipeline = static_cast<std::uint32_t>(parse_count(a, v));
    else if (a == "--shards")
      c.shards = static_cast<std::uint32_t>(parse_count(a, v));
    else if (a == "--home-block-bytes")
      c.home_block_bytes = static_cast<std::int64_t>(parse_count(a, v));
    else if (a == "--batch") {
      c.batch = static_cast<std::uint32_t>(parse_count(a, v));
      batch_given = true;
    } else if (a == "--warmup")
      c.warmup = parse_count(a, v);
    else if (a == "--seed")
      c.seed = parse_count(a, v);
    else if (a == "--redis-server")
      c.redis_server = v;
    else {
      usage(stderr);
      die("unknown option " + a);
    }
  }
  if (c.mix_name == "get")
    c.mix = Mix::get;
  else if (c.mix_name == "90-10")
    c.mix = Mix::r90;
  else if (c.mix_name == "50-50")
    c.mix = Mix::r50;
  else if (c.mix_name == "set")
    c.mix = Mix::set;
  else if (c.mix_name == "insert")
    c.mix = Mix::insert;
  else if (c.mix_name == "incr")
    c.mix = Mix::incr;
  else if (c.mix_name == "pop")
    c.mix = Mix::pop;
  else if (c.mix_name == "prefix")
    c.mix = Mix::prefix;
  else
    die("unknown mix " + c.mix_name + " (get, 90-10, 50-50, set, insert, incr, pop, prefix)");
  if (c.mix == Mix::prefix) {
    if (c.engine != "shmkv" && c.engine != "shmkv-tuned" && c.engine != "shmkv-redis" &&
        c.engine != "redis" && c.engine != "lmdb")
      die("mix prefix runs on engines shmkv, shmkv-tuned, shmkv-redis, redis and lmdb, not " +
          c.engine + " (boost-map keeps no key order)");
    if (c.seconds <= 0) c.seconds = 0.3;
  }
  if (c.mix == Mix::insert && ((c.engine != "shmkv" && c.engine != "shmkv-tuned") || c.seconds > 0))
    die("mix insert runs on engines shmkv and shmkv-tuned with --ops (the store is sized for keys"
        " + workers * ops)");
  if (c.home_block_bytes >= 0 && (c.engine == "shmkv" || c.engine == "shmkv-batch"))
    die("--home-block-bytes is an option of engine shmkv-tuned (engine " + c.engine +
        " runs the library's defaults: no home blocks)");
  if (c.workers < 1 || c.workers > 256) die("--workers must be 1..256");
  if (c.keys < 1 || c.keys > 999999999999ull || c.keys > 0xffffffffull)
    die("--keys must be 1..4294967295");
  if (c.value_size < 1) die("--value-size must be >= 1");
  if (c.pipeline < 1) die("--pipeline must be >= 1");
  if (c.engine == "redis-pipe" && !batch_given) c.batch = c.pipeline;
  if (c.batch < 1 || c.batch > 65536) die("--batch must be 1..65536");
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg = parse_args(argc, argv);
  shmkv_bench::install_signal_cleanup();
  try {
    const std::string& e = cfg.engine;
    if (e == "mutex-cost") return shmkv_bench::run_mutex_cost(cfg);
    if (e == "miss-cost") return shmkv_bench::run_miss_cost(cfg);
    if (e == "shmkv" || e == "shmkv-tuned" || e == "shmkv-batch" || e == "shmkv-redis") {
#ifdef SHMKV_BENCH_HAVE_SHMKV
      return shmkv_bench::run_shmkv(cfg);
#else
      die("this shmkv-bench was built without the shmkv library");
#endif
    }
    if (e == "lmdb") {
#ifdef SHMKV_BENCH_HAVE_LMDB
      return shmkv_bench::run_lmdb(cfg);
#else
      die("this shmkv-bench was built without LMDB (liblmdb-dev not found)");
#endif
    }
    if (e == "redis" || e == "redis-pipe") {
#ifdef SHMKV_BENCH_HAVE_REDIS
      return shmkv_bench::run_redis(cfg);
#else
      die("this shmkv-bench was built without hiredis (libhiredis-dev not found)");
#endif
    }
    if (e == "boost-map") return shmkv_bench::run_boost_map(cfg);
    if (e == "null") return shmkv_bench::run_null(cfg);
    die("unknown engine " + e);
  } catch (const std::exception& ex) {
    std::printf("FAIL: %s\n", ex.what());
    std::printf("RESULT engine=%s mix=%s workers=%d check=FAIL\n", cfg.engine.c_str(),
                cfg.mix_name.c_str(), cfg.workers);
    return 1;
  }
}
