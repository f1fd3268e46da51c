// Persistence under SIGKILL: every writer process is killed during a write storm, the segment
// is destroyed (as a reboot would), and the store is reopened from the directory.
//
// fsync always: every acknowledged write must be there; a write that was not acknowledged may
// be there or not, but never torn. fsync interval: what is lost are writes still buffered in the
// killed processes (the last ones of each writer; a snapshot taken meanwhile may have kept some
// later ones, so it is not always a clean suffix), and the test prints the loss window. Killing the
// processes does not drop the kernel's page cache, so this measures what a process crash loses; a
// power loss can additionally lose what was written but not yet fdatasync'ed (at most
// fsync_interval).
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "persist_test_util.hpp"
#include "test_util.hpp"

using shmkv::errc;
using shmkv::FsyncPolicy;
using shmkv::Store;
using namespace testutil;
using namespace persisttest;
using namespace std::chrono;
using Opt = std::optional<std::string>;

namespace {

constexpr int kProcs = 3;
constexpr int kThreads = 4;
constexpr std::uint64_t kMaxWritesPerWriter = 250000;

std::string KeyOf(int p, int t, std::uint64_t j) {
  return "w" + std::to_string(p) + "." + std::to_string(t) + "." + std::to_string(j);
}

struct Acks {
  std::atomic<std::uint64_t> writes;  // writes acknowledged (keys 0..writes-1)
  std::atomic<std::int64_t> counter;  // last acknowledged increment result
  std::atomic<std::uint64_t> ack_ns;  // steady clock of the last acknowledgement
};

struct StormResult {
  std::uint64_t acked = 0, recovered = 0, lost = 0;
  double max_loss_ms = 0;
};

StormResult Storm(FsyncPolicy policy, milliseconds run_for) {
  TempDir dir;
  SegmentGuard g(unique_name("crash"));
  auto opts = persistent_options(g.name(), dir.path, policy);
  opts.size_bytes = 1ull << 30;  // sparse: only what the storm writes is spent
  opts.max_keys = 4000000;
  opts.shards = 64;
  opts.persistence->snapshot_interval = 300ms;  // snapshots happen during the storm too
  { Store s = Store::open(opts); }              // create (fresh directory)
  SharedArray<Acks> acks(kProcs * kThreads);
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pids.push_back(spawn_child([&, p] {
      Store s = Store::open(opts);
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
          Acks& a = acks[p * kThreads + t];
          for (std::uint64_t j = 0; j < kMaxWritesPerWriter; ++j) {
            s.set(KeyOf(p, t, j), pattern_value(KeyOf(p, t, j), 40 + j % 60));
            std::int64_t c = s.increment_by("ctr" + std::to_string(p) + "." + std::to_string(t), 1);
            a.counter.store(c, std::memory_order_release);
            a.writes.store(j + 1, std::memory_order_release);
            a.ack_ns.store(
                static_cast<std::uint64_t>(steady_clock::now().time_since_epoch().count()),
                std::memory_order_release);
          }
          for (;;) std::this_thread::sleep_for(1s);  // wait for the kill
        });
      for (auto& th : threads) th.join();
      return 0;
    }));
  }
  std::this_thread::sleep_for(run_for);
  for (pid_t pid : pids) ::kill(pid, SIGKILL);
  const auto killed_at = steady_clock::now();
  for (pid_t pid : pids) REQUIRE(wait_child(pid) == 128 + SIGKILL);
  Store::destroy(g.name());  // as after a reboot: only the directory is left

  Store s = Store::open(opts);
  auto rep = s.recovery_report();
  REQUIRE(rep.performed);
  INFO("snapshot " << rep.snapshot << ", applied " << rep.records_applied << ", truncated "
                   << rep.truncated.size());
  StormResult res;
  for (int p = 0; p < kProcs; ++p) {
    for (int t = 0; t < kThreads; ++t) {
      const Acks& a = acks[p * kThreads + t];
      const std::uint64_t acked = a.writes.load();
      // Which of this writer's keys came back; every one that did has its exact value.
      std::uint64_t first_missing = acked + 2, present = 0;
      for (std::uint64_t j = 0; j < acked + 50; ++j) {
        auto v = s.get(KeyOf(p, t, j));
        if (!v) {
          first_missing = std::min(first_missing, j);
          continue;
        }
        REQUIRE(j <= acked);  // nothing that was never attempted
        REQUIRE(*v == pattern_value(KeyOf(p, t, j), 40 + j % 60));  // never torn
        if (j < acked) ++present;
      }
      const std::uint64_t n = std::min(first_missing, acked);
      auto ctr = s.get("ctr" + std::to_string(p) + "." + std::to_string(t));
      std::int64_t c = ctr ? std::stoll(*ctr) : 0;
      REQUIRE(c <= a.counter.load() + 1);
      if (policy == FsyncPolicy::always) {
        REQUIRE(present == acked);  // every acknowledged write is there
        REQUIRE(c >= a.counter.load());
      }
      res.acked += acked;
      res.recovered += present;
      if (present < acked) {
        res.lost += acked - present;
        // Loss window: from the first lost write to the last acknowledged one, estimated from
        // this writer's average rate.
        double per_write_ms =
            duration<double, std::milli>(run_for).count() / static_cast<double>(acked);
        res.max_loss_ms = std::max(res.max_loss_ms, per_write_ms * static_cast<double>(acked - n));
      }
    }
  }
  (void)killed_at;
  REQUIRE(s.check_invariants().empty());
  return res;
}

}  // namespace

TEST_CASE("crash: kill -9 of every writer with fsync always loses no acknowledged write",
          "[persistence][crash]") {
  StormResult r = Storm(FsyncPolicy::always, 1500ms);
  WARN("fsync always: " << r.acked << " writes acknowledged by " << kProcs << "x" << kThreads
                        << " writers, " << r.lost << " lost");
  REQUIRE(r.lost == 0);
  REQUIRE(r.acked > 0);
}

TEST_CASE("crash: kill -9 of every writer with fsync interval loses only a short window",
          "[persistence][crash]") {
  StormResult r = Storm(FsyncPolicy::interval, 1000ms);
  WARN("fsync interval (100 ms): " << r.acked << " writes acknowledged, " << r.lost
                                   << " lost; largest per-writer loss window ~" << r.max_loss_ms
                                   << " ms");
  REQUIRE(r.acked > 0);
  // A process kill loses only the records still in that process's buffer: about one flush
  // interval of its writes (generous bound: a loaded 2-core VM, sanitizer builds).
  REQUIRE(r.max_loss_ms < 2000);
}

TEST_CASE("crash: a recoverer killed mid-recovery leaves the files for the next one",
          "[persistence][crash]") {
  TempDir dir;
  SegmentGuard g(unique_name("crash"));
  auto opts = persistent_options(g.name(), dir.path, FsyncPolicy::never);
  opts.size_bytes = 256ull << 20;
  opts.max_keys = 400000;
  {
    Store s = Store::open(opts);
    for (int i = 0; i < 200000; ++i) s.set("k" + std::to_string(i), std::string(30, 'v'));
  }
  Store::destroy(g.name());
  pid_t pid = spawn_child([&] {
    Store s = Store::open(opts);
    return 0;
  });
  std::this_thread::sleep_for(30ms);
  ::kill(pid, SIGKILL);
  int st = wait_child(pid);
  REQUIRE((st == 0 || st == 128 + SIGKILL));
  if (st != 0) REQUIRE_FALSE(Store::segment_exists(g.name()));
  if (Store::segment_exists(g.name())) Store::destroy(g.name());
  Store s = Store::open(opts);
  REQUIRE(s.size() == 200000);
}
