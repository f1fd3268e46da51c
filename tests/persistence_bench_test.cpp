// Persistence figures for docs/benchmarks.md (hidden: run with the [.bench] tag).
//
//   persistence_bench_test "[.bench]"               writes/s per fsync policy, 1 and 2 processes
//   persistence_bench_test "[.bench-snapshot]"      snapshot and recovery of 1M keys
// SHMKV_BENCH_SECONDS (default 3) sets the duration of each write run. The smoke test without a
// tag runs the same code for a moment so that it keeps compiling and working.
#include <sys/resource.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "persist_test_util.hpp"
#include "test_util.hpp"

using shmkv::FsyncPolicy;
using shmkv::Store;
using namespace testutil;
using namespace persisttest;
using namespace std::chrono;

namespace {

constexpr std::uint64_t kKeySpace = 1000000;

std::string Key(std::uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "key%013" PRIu64, i);  // 16 bytes
  return buf;
}

shmkv::Options BenchOptions(const std::string& name) {
  shmkv::Options o;
  o.name = name;
  o.size_bytes = 1ull << 30;
  o.max_keys = 2500000;
  return o;
}

double CpuNs() {
  rusage r;
  ::getrusage(RUSAGE_SELF, &r);
  return (static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e9 +
          static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e3);
}

struct Rate {
  double sets_per_s;
  double cpu_ns_per_set;  // user + system time of the writer processes (all their threads)
};

// Sets random keys (16-byte keys, 100-byte values) from procs x threads writers for `run`.
Rate WriteRate(const std::optional<shmkv::PersistenceOptions>& p, int procs, int threads,
               milliseconds run) {
  TempDir dir;
  SegmentGuard g(unique_name("bench"));
  shmkv::Options o = BenchOptions(g.name());
  if (p) {
    o.persistence = *p;
    o.persistence->directory = dir.path;
  }
  { Store s = Store::open(o); }
  SharedArray<std::uint64_t> ops(static_cast<std::size_t>(procs * threads));
  SharedArray<std::uint64_t> ns(static_cast<std::size_t>(procs));
  SharedArray<double> cpu(static_cast<std::size_t>(procs));
  StartBarrier barrier;
  std::vector<pid_t> pids;
  for (int pi = 0; pi < procs; ++pi)
    pids.push_back(spawn_child([&, pi] {
      Store s = Store::open(o);
      barrier.wait();
      const auto t0 = steady_clock::now();
      const double c0 = CpuNs();
      std::vector<std::thread> ts;
      for (int t = 0; t < threads; ++t)
        ts.emplace_back([&, t] {
          std::mt19937_64 rng(static_cast<std::uint64_t>(pi * 1000 + t));
          const std::string value(100, 'v');
          std::uint64_t n = 0;
          while (steady_clock::now() - t0 < run) {
            for (int k = 0; k < 64; ++k) s.set(Key(rng() % kKeySpace), value);
            n += 64;
          }
          ops[static_cast<std::size_t>(pi * threads + t)] = n;
        });
      for (auto& th : ts) th.join();
      cpu[static_cast<std::size_t>(pi)] = CpuNs() - c0;
      ns[static_cast<std::size_t>(pi)] =
          static_cast<std::uint64_t>(duration_cast<nanoseconds>(steady_clock::now() - t0).count());
      return 0;
    }));
  barrier.release();
  for (pid_t pid : pids) REQUIRE(wait_child(pid, 600s) == 0);
  std::uint64_t total = 0, max_ns = 0;
  double cpu_total = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) total += ops[i];
  for (std::size_t i = 0; i < ns.size(); ++i) max_ns = std::max(max_ns, ns[i]);
  for (std::size_t i = 0; i < cpu.size(); ++i) cpu_total += cpu[i];
  return {static_cast<double>(total) * 1e9 / static_cast<double>(max_ns),
          cpu_total / static_cast<double>(total)};
}

shmkv::PersistenceOptions Policy(FsyncPolicy f) {
  shmkv::PersistenceOptions p;
  p.fsync = f;
  return p;  // default snapshot interval (30 s): runs are shorter than one interval
}

void Report(const char* what, int procs, int threads, Rate r) {
  std::printf("%-28s procs %d threads/proc %3d  %10.0f sets/s  %6.0f CPU ns/set\n", what, procs,
              threads, r.sets_per_s, r.cpu_ns_per_set);
  std::fflush(stdout);
}

milliseconds BenchRun() {
  const char* v = std::getenv("SHMKV_BENCH_SECONDS");
  return milliseconds(static_cast<long>(1000 * (v ? std::atof(v) : 3.0)));
}

}  // namespace

TEST_CASE("bench smoke: the write-rate harness runs", "[persistence][bench]") {
  REQUIRE(WriteRate(std::nullopt, 1, 1, 100ms).sets_per_s > 0);
  REQUIRE(WriteRate(Policy(FsyncPolicy::interval), 1, 2, 100ms).sets_per_s > 0);
  REQUIRE(WriteRate(Policy(FsyncPolicy::always), 1, 4, 100ms).sets_per_s > 0);
}

TEST_CASE("bench: writes/s per fsync policy", "[.bench]") {
  const milliseconds run = BenchRun();
  for (int procs : {1, 2}) {
    Report("memory only", procs, 1, WriteRate(std::nullopt, procs, 1, run));
    Report("persistence never", procs, 1, WriteRate(Policy(FsyncPolicy::never), procs, 1, run));
    Report("persistence interval 100ms", procs, 1,
           WriteRate(Policy(FsyncPolicy::interval), procs, 1, run));
    for (int threads : {1, 16, 64})
      Report("persistence always", procs, threads,
             WriteRate(Policy(FsyncPolicy::always), procs, threads, run));
  }
}

TEST_CASE("bench: snapshot and recovery of 1M keys", "[.bench-snapshot]") {
  TempDir dir;
  SegmentGuard g(unique_name("bench"));
  shmkv::Options o = BenchOptions(g.name());
  o.persistence = Policy(FsyncPolicy::never);
  o.persistence->directory = dir.path;
  o.persistence->snapshot_interval = hours(1);
  const std::string value(100, 'v');
  {
    Store s = Store::open(o);
    auto t0 = steady_clock::now();
    for (std::uint64_t i = 0; i < kKeySpace; ++i) s.set(Key(i), value);
    std::printf("load 1M keys (fsync never): %.2f s\n",
                duration<double>(steady_clock::now() - t0).count());
    const double c0 = CpuNs();
    auto snap = s.snapshot();
    std::printf("snapshot CPU time (user + system): %.3f s\n", (CpuNs() - c0) / 1e9);
    std::printf("snapshot of %" PRIu64 " keys: %.3f s, %" PRIu64 " bytes (%.1f MiB)\n",
                snap.entries, static_cast<double>(snap.duration.count()) / 1e6, snap.bytes,
                static_cast<double>(snap.bytes) / (1 << 20));
    std::mt19937_64 rng(1);
    for (std::uint64_t i = 0; i < kKeySpace; ++i) s.set(Key(rng() % kKeySpace), value);
  }
  Store::destroy(g.name());
  auto t0 = steady_clock::now();
  const double c0 = CpuNs();
  Store s = Store::open(o);
  double wall = duration<double>(steady_clock::now() - t0).count();
  std::printf("recovery CPU time (user + system): %.3f s\n", (CpuNs() - c0) / 1e9);
  auto rep = s.recovery_report();
  std::printf("recovery: snapshot %" PRIu64 " keys + %" PRIu64
              " journal records: %.3f s (open() wall %.3f s), %" PRIu64 " keys\n",
              rep.snapshot_entries, rep.records_applied,
              static_cast<double>(rep.duration.count()) / 1e6, wall, rep.entries);
  REQUIRE(rep.entries == kKeySpace);
  REQUIRE(rep.records_applied == kKeySpace);
}
