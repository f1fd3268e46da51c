// plain_get.cpp: shmkv-plain-get, a second opinion on shmkv-bench's get and incr figures
// (issue 19), written to share none of its machinery: no engine class, no op stream, no batches,
// no warm-up, no histogram. It links the public library only.
//
// What it does, in this order:
//   1. Creates the store "shmkv-plain-get.<pid>" with Options::name and Options::size_bytes set
//      and every other option at its library default (no max_keys, no home blocks, no shards).
//      size_bytes defaults to keys * 400 B + 64 MiB, the size shmkv-bench gives its defaults
//      engine, so that both measure the same store; --size-mb overrides it.
//   2. Loads N keys "key:" + the index in 12 zero-padded digits (16 bytes, shmkv-bench's key
//      format) with V-byte values, in index order with Store::set, and 16 counters
//      "ctr:000000000000".."ctr:000000000015" = "0".
//   3. Forks W workers. Each opens the store itself (OpenMode::attach_only, name only), tells
//      the parent it is ready and waits on a pipe until every worker is (the start line).
//   4. Each worker then runs one plain loop, timed from its first op to its last with
//      CLOCK_MONOTONIC (the clock is read every 1024 ops when running for --seconds):
//        --mix get:  key = uniform random index (splitmix64 % N), formatted with a digit loop;
//                    Store::get(key, &buffer), one std::string reused for the whole run;
//        --mix incr: one of the 16 counters, uniform (names formatted once, before the loop);
//                    Store::increment_by(key, 1);
//        --mix 90-10: as get, but every tenth op (a draw of the same generator, % 10 == 0) is a
//                    Store::set of the key to a V-byte value of one repeated byte instead.
//   5. Each worker writes {ops, elapsed ns, misses, checksum} to its pipe. The parent prints
//      per-worker ops/s, the sum of per-worker rates (what shmkv-bench reports) and total ops /
//      the longest worker's time (wall), checks that every get found a V-byte value and that
//      the counters sum to the increments made, and destroys the store.
// The store is destroyed on every exit path of the parent except a signal. Exit status: 0 ok,
// 1 a check failed, 2 usage, 3 error.
#include <errno.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <shmkv/shmkv.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Args {
  int workers = 1;
  std::uint64_t keys = 1000000;
  std::uint32_t value_size = 100;
  enum class Mix { get, incr, get90_set10 } mix = Mix::get;
  double seconds = 5;         // per worker, unless ops > 0
  std::uint64_t ops = 0;      // per worker; 0 = run for seconds
  std::uint64_t size_mb = 0;  // 0 = keys * 400 B + 64 MiB
};

struct Report {
  std::uint64_t ops = 0, elapsed_ns = 0, misses = 0, checksum = 0;
};

constexpr int kCounters = 16;

std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// "key:" + i in 12 zero-padded digits, or "ctr:" + ... : 16 bytes into out.
void format_name(const char* prefix, std::uint64_t i, char* out) {
  std::memcpy(out, prefix, 4);
  for (int d = 15; d >= 4; --d) {
    out[d] = static_cast<char>('0' + i % 10);
    i /= 10;
  }
}

void usage(FILE* out) {
  std::fprintf(
      out,
      "usage: shmkv-plain-get [--mix get|incr|90-10] [--workers W] [--keys N] [--value-size B]\n"
      "                       [--seconds S | --ops N] [--size-mb M]\n"
      "  defaults: get, 1 worker, 1000000 keys, 100-byte values, 5 s per worker,\n"
      "  size keys * 400 B + 64 MiB; every other store option at its library default\n");
}

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "shmkv-plain-get: %s\n", msg.c_str());
  usage(stderr);
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      usage(stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) usage_error("missing value for " + flag);
    const char* v = argv[++i];
    char* end = nullptr;
    double num = std::strtod(v, &end);
    bool numeric = end != v && *end == '\0' && num >= 0;
    if (flag == "--mix" && std::strcmp(v, "get") == 0)
      a.mix = Args::Mix::get;
    else if (flag == "--mix" && std::strcmp(v, "incr") == 0)
      a.mix = Args::Mix::incr;
    else if (flag == "--mix" && std::strcmp(v, "90-10") == 0)
      a.mix = Args::Mix::get90_set10;
    else if (flag == "--workers" && numeric && num >= 1 && num <= 64)
      a.workers = static_cast<int>(num);
    else if (flag == "--keys" && numeric && num >= 1 && num < 1e12)
      a.keys = static_cast<std::uint64_t>(num);
    else if (flag == "--value-size" && numeric && num >= 1 && num <= 65536)
      a.value_size = static_cast<std::uint32_t>(num);
    else if (flag == "--seconds" && numeric && num > 0)
      a.seconds = num;
    else if (flag == "--ops" && numeric && num >= 1)
      a.ops = static_cast<std::uint64_t>(num);
    else if (flag == "--size-mb" && numeric && num >= 1)
      a.size_mb = static_cast<std::uint64_t>(num);
    else
      usage_error("bad option or value: " + flag + " " + v);
  }
  return a;
}

// The timed loop of one worker, after the start line. Returns what it did.
Report run_worker(shmkv::Store& store, const Args& a, int worker) {
  Report r;
  std::uint64_t rng = 0x5eed0000ull + static_cast<std::uint64_t>(worker);
  std::string buffer;
  const std::string written(a.value_size, static_cast<char>('a' + worker % 26));
  char key[16];
  char counters[kCounters][16];  // the counter names, as a user would have them: constants
  for (int c = 0; c < kCounters; ++c)
    format_name("ctr:", static_cast<std::uint64_t>(c), counters[c]);
  const std::uint64_t deadline = a.ops ? ~0ull : static_cast<std::uint64_t>(a.seconds * 1e9);
  const std::uint64_t limit = a.ops ? a.ops : ~0ull;
  const std::uint64_t start = now_ns();
  std::uint64_t end = start;
  while (r.ops < limit) {
    if (a.mix == Args::Mix::incr) {
      const char* counter = counters[splitmix64(rng) % kCounters];
      r.checksum +=
          static_cast<std::uint64_t>(store.increment_by(std::string_view(counter, 16), 1));
    } else if (a.mix == Args::Mix::get90_set10 && splitmix64(rng) % 10 == 0) {
      format_name("key:", splitmix64(rng) % a.keys, key);
      store.set(std::string_view(key, 16), written);
    } else {
      format_name("key:", splitmix64(rng) % a.keys, key);
      if (store.get(std::string_view(key, 16), &buffer) && buffer.size() == a.value_size)
        r.checksum += static_cast<unsigned char>(buffer[0]);
      else
        ++r.misses;
    }
    ++r.ops;
    if ((r.ops & 1023) == 0 && !a.ops) {
      end = now_ns();
      if (end - start >= deadline) break;
    }
  }
  if (a.ops) end = now_ns();
  r.elapsed_ns = end - start;
  return r;
}

// Worker process: attach, ready, wait for the start line, run, report, _exit.
[[noreturn]] void worker_main(const Args& a, const std::string& name, int worker, int ready_fd,
                              int go_fd, int report_fd) {
  Report r;
  int status = 0;
  try {
    shmkv::Options o;
    o.name = name;
    o.open_mode = shmkv::OpenMode::attach_only;
    shmkv::Store store = shmkv::Store::open(o);
    char c = 'r';
    if (::write(ready_fd, &c, 1) != 1) std::_Exit(3);
    while (::read(go_fd, &c, 1) < 0 && errno == EINTR) {
    }
    r = run_worker(store, a, worker);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmkv-plain-get: worker %d: %s\n", worker, e.what());
    status = 3;
  }
  if (::write(report_fd, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) status = 3;
  std::_Exit(status);
}

int run(const Args& a, const std::string& name) {
  shmkv::Options o;
  o.name = name;
  o.size_bytes = a.size_mb ? a.size_mb << 20 : a.keys * 400 + (64ull << 20);
  {
    shmkv::Store store = shmkv::Store::open(o);
    char key[16];
    std::string value(a.value_size, '\0');
    std::uint64_t fill = 42;
    for (std::uint64_t i = 0; i < a.keys; ++i) {
      for (char& ch : value) ch = static_cast<char>(splitmix64(fill));
      format_name("key:", i, key);
      store.set(std::string_view(key, 16), value);
    }
    for (int c = 0; c < kCounters; ++c) {
      format_name("ctr:", static_cast<std::uint64_t>(c), key);
      store.set(std::string_view(key, 16), "0");
    }
  }  // closed before fork(): each worker opens its own handle

  int ready[2], go[2];
  if (::pipe(ready) != 0 || ::pipe(go) != 0) throw std::runtime_error("pipe failed");
  std::vector<int> report_fds;
  std::vector<pid_t> pids;
  for (int w = 0; w < a.workers; ++w) {
    int rep[2];
    if (::pipe(rep) != 0) throw std::runtime_error("pipe failed");
    std::fflush(stdout);
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::close(go[1]);
      worker_main(a, name, w, ready[1], go[0], rep[1]);
    }
    ::close(rep[1]);
    report_fds.push_back(rep[0]);
    pids.push_back(pid);
  }
  ::close(ready[1]);
  ::close(go[0]);
  char c;
  for (int w = 0; w < a.workers && ::read(ready[0], &c, 1) == 1; ++w) {
  }
  ::close(go[1]);  // the start line: every worker's read returns 0 at once

  std::vector<Report> reports(pids.size());
  bool failed = false;
  for (std::size_t w = 0; w < pids.size(); ++w) {
    if (::read(report_fds[w], &reports[w], sizeof(Report)) != static_cast<ssize_t>(sizeof(Report)))
      failed = true;
    int st = 0;
    while (::waitpid(pids[w], &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) failed = true;
  }
  if (failed) throw std::runtime_error("a worker failed (see above)");

  double sum_rate = 0;
  std::uint64_t total = 0, longest = 0, misses = 0, checksum = 0;
  for (std::size_t w = 0; w < reports.size(); ++w) {
    const Report& r = reports[w];
    double rate = r.ops / (r.elapsed_ns / 1e9);
    std::printf("worker %zu: %" PRIu64 " ops in %.3f s = %.3f M ops/s\n", w, r.ops,
                r.elapsed_ns / 1e9, rate / 1e6);
    sum_rate += rate;
    total += r.ops;
    longest = r.elapsed_ns > longest ? r.elapsed_ns : longest;
    misses += r.misses;
    checksum += r.checksum;
  }
  int rc = 0;
  if (misses) {
    std::printf("FAIL: %" PRIu64 " gets missed or returned a wrong length\n", misses);
    rc = 1;
  }
  if (a.mix == Args::Mix::incr) {
    shmkv::Options attach;
    attach.name = name;
    attach.open_mode = shmkv::OpenMode::attach_only;
    shmkv::Store store = shmkv::Store::open(attach);
    std::int64_t sum = 0;
    char key[16];
    for (int i = 0; i < kCounters; ++i) {
      format_name("ctr:", static_cast<std::uint64_t>(i), key);
      sum += std::stoll(store.get(std::string_view(key, 16)).value_or("-1"));
    }
    if (sum != static_cast<std::int64_t>(total)) {
      std::printf("FAIL: the counters sum to %" PRId64 ", the workers made %" PRIu64 "\n", sum,
                  total);
      rc = 1;
    }
  }
  std::printf("PLAIN mix=%s workers=%d keys=%" PRIu64 " value_size=%u size_bytes=%" PRIu64
              " ops=%" PRIu64 " ops_per_s=%.0f wall_ops_per_s=%.0f checksum=%" PRIu64 " check=%s\n",
              a.mix == Args::Mix::incr  ? "incr"
              : a.mix == Args::Mix::get ? "get"
                                        : "90-10",
              a.workers, a.keys, a.value_size, o.size_bytes, total, sum_rate,
              total / (longest / 1e9), checksum, rc ? "FAIL" : "ok");
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse_args(argc, argv);
#ifndef __OPTIMIZE__
  std::printf("WARNING: not an optimised build; these figures mean nothing\n");
#endif
  const std::string name = "shmkv-plain-get." + std::to_string(::getpid());
  int rc = 3;
  try {
    rc = run(a, name);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmkv-plain-get: %s\n", e.what());
  }
  try {
    if (shmkv::Store::segment_exists(name)) shmkv::Store::destroy(name);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmkv-plain-get: destroy %s: %s\n", name.c_str(), e.what());
    rc = 3;
  }
  return rc;
}
