// Conformance, run on every engine: concurrency across real processes (fork; each child opens
// its own Store with the same Options): counter totals, one CAS winner, get_or_set and
// set_if_absent races, pops never doubled, no torn reads, threads sharing one handle.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance/engine_fixture.hpp"
#include "test_util.hpp"

using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using conformance::StoreGuard;
using Opt = std::optional<std::string>;

TEST_CASE("multiprocess: 8 processes x 10,000 increments give exactly 1..80,000",
          "[multiprocess]") {
  constexpr int kProcs = 8, kIncr = 10000;
  StoreGuard g(conformance::store_options(16));
  Store s = Store::open(g.options());
  SharedArray<std::int64_t> results(kProcs * kIncr);
  StartBarrier barrier;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pids.push_back(spawn_child([&, p]() -> int {
      Store c = Store::open(g.options());
      barrier.wait();
      for (int i = 0; i < kIncr; ++i) results[p * kIncr + i] = c.increment_by("counter", 1);
      return 0;
    }));
  }
  barrier.release();
  for (pid_t pid : pids) REQUIRE(wait_child(pid) == 0);
  REQUIRE(s.get("counter") == Opt(std::to_string(kProcs * kIncr)));
  std::vector<std::int64_t> all(results.data(), results.data() + results.size());
  // Each process saw its own values strictly increasing.
  for (int p = 0; p < kProcs; ++p) {
    INFO("process " << p);
    REQUIRE(std::is_sorted(all.begin() + p * kIncr, all.begin() + (p + 1) * kIncr));
  }
  std::sort(all.begin(), all.end());
  for (int i = 0; i < kProcs * kIncr; ++i) {
    if (all[i] != i + 1) FAIL("sorted returned values: position " << i << " holds " << all[i]);
  }
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("multiprocess: 64 concurrent compare_and_swap on one value, exactly one winner",
          "[multiprocess]") {
  constexpr int kProcs = 8, kAttempts = 8;
  for (int round = 0; round < 3; ++round) {
    StoreGuard g;
    Store s = Store::open(g.options());
    s.set("k", "initial");
    SharedArray<std::uint8_t> won(kProcs * kAttempts);
    StartBarrier barrier;
    std::vector<pid_t> pids;
    for (int p = 0; p < kProcs; ++p) {
      pids.push_back(spawn_child([&, p]() -> int {
        Store c = Store::open(g.options());
        barrier.wait();
        for (int a = 0; a < kAttempts; ++a) {
          std::string mine = "winner-" + std::to_string(p) + "-" + std::to_string(a);
          won[p * kAttempts + a] = c.compare_and_swap("k", std::string_view("initial"), mine);
        }
        return 0;
      }));
    }
    barrier.release();
    for (pid_t pid : pids) REQUIRE(wait_child(pid) == 0);
    int winners = 0, winner = -1;
    for (int i = 0; i < kProcs * kAttempts; ++i) {
      if (won[i]) {
        ++winners;
        winner = i;
      }
    }
    REQUIRE(winners == 1);
    REQUIRE(s.get("k") == Opt("winner-" + std::to_string(winner / kAttempts) + "-" +
                              std::to_string(winner % kAttempts)));
  }
}

TEST_CASE("multiprocess: CAS-loop counter across processes loses no update", "[multiprocess]") {
  constexpr int kProcs = 4, kIncr = 500;
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("n", "0");
  auto st = run_children(kProcs, [&](int) -> int {
    Store c = Store::open(g.options());
    for (int i = 0; i < kIncr; ++i) {
      for (int tries = 0;; ++tries) {
        if (tries > 1000000) return 3;
        auto cur = c.get("n");
        if (!cur) return 2;
        std::string next = std::to_string(std::stoll(*cur) + 1);
        if (c.compare_and_swap("n", std::string_view(*cur), next)) break;
      }
    }
    return 0;
  });
  for (int x : st) REQUIRE(x == 0);
  REQUIRE(s.get("n") == Opt(std::to_string(kProcs * kIncr)));
}

TEST_CASE(
    "multiprocess: increments racing compare_and_swap and overwrites of the same counters "
    "lose no update",
    "[multiprocess]") {
  // On shm an increment of a counter in place takes the shard's word lock, everything else the
  // shard mutex: a CAS that read the value before an increment and wrote after it would lose that
  // increment. Two processes increment, two add 1 by a CAS loop, one rewrites other keys of the
  // same shards (a table of one shard) all along.
  constexpr int kIncr = 300000, kCas = 30000;
  StoreGuard g(conformance::store_options(1));
  Store s = Store::open(g.options());
  s.set("a", "0");
  s.set("b", "0");
  StartBarrier barrier;
  SharedArray<int> stop(1);
  std::vector<pid_t> pids;
  for (int p = 0; p < 5; ++p) {
    pids.push_back(spawn_child([&, p] {
      Store c = Store::open(g.options());
      barrier.wait();
      if (p == 4) {
        for (int i = 0; !__atomic_load_n(&stop[0], __ATOMIC_RELAXED); ++i)
          c.set("other" + std::to_string(i % 64), "x" + std::to_string(i));
        return 0;
      }
      const std::string key = p % 2 == 0 ? "a" : "b";
      if (p < 2) {
        for (int i = 0; i < kIncr; ++i) c.increment_by(key, 1);
        return 0;
      }
      for (int i = 0; i < kCas; ++i) {
        for (int tries = 0;; ++tries) {
          if (tries > 1000000) return 3;
          auto cur = c.get(key);
          if (!cur) return 2;
          if (c.compare_and_swap(key, std::string_view(*cur), std::to_string(std::stoll(*cur) + 1)))
            break;
        }
      }
      return 0;
    }));
  }
  barrier.release();
  std::vector<int> status;
  for (int p = 0; p < 4; ++p) status.push_back(wait_child(pids[p]));
  __atomic_store_n(&stop[0], 1, __ATOMIC_RELAXED);  // before any REQUIRE: no child outlives us
  status.push_back(wait_child(pids[4]));
  for (int x : status) REQUIRE(x == 0);
  REQUIRE(s.get("a") == Opt(std::to_string(kIncr + kCas)));
  REQUIRE(s.get("b") == Opt(std::to_string(kIncr + kCas)));
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("multiprocess: get_or_set from 8 processes, exactly one stores", "[multiprocess]") {
  constexpr int kProcs = 8;
  for (int round = 0; round < 3; ++round) {
    StoreGuard g;
    Store s = Store::open(g.options());
    struct Result {
      std::uint8_t loaded;
      char value[32];
    };
    SharedArray<Result> res(kProcs);
    StartBarrier barrier;
    std::vector<pid_t> pids;
    for (int p = 0; p < kProcs; ++p) {
      pids.push_back(spawn_child([&, p]() -> int {
        Store c = Store::open(g.options());
        barrier.wait();
        auto r = c.get_or_set("k", "proc-" + std::to_string(p));
        res[p].loaded = r.loaded;
        std::snprintf(res[p].value, sizeof res[p].value, "%s", r.value.c_str());
        return 0;
      }));
    }
    barrier.release();
    for (pid_t pid : pids) REQUIRE(wait_child(pid) == 0);
    int stored = 0, who = -1;
    for (int p = 0; p < kProcs; ++p) {
      if (!res[p].loaded) {
        ++stored;
        who = p;
      }
    }
    REQUIRE(stored == 1);
    std::string v = "proc-" + std::to_string(who);
    for (int p = 0; p < kProcs; ++p) REQUIRE(std::string(res[p].value) == v);
    REQUIRE(s.get("k") == Opt(v));
  }
}

TEST_CASE("multiprocess: set_if_absent from 8 processes, exactly one succeeds", "[multiprocess]") {
  constexpr int kProcs = 8;
  StoreGuard g;
  Store s = Store::open(g.options());
  SharedArray<std::uint8_t> ok(kProcs);
  StartBarrier barrier;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pids.push_back(spawn_child([&, p]() -> int {
      Store c = Store::open(g.options());
      barrier.wait();
      for (int i = 0; i < 200; ++i) {
        ok[p] = ok[p] + c.set_if_absent("lock" + std::to_string(i), std::to_string(p));
      }
      return 0;
    }));
  }
  barrier.release();
  for (pid_t pid : pids) REQUIRE(wait_child(pid) == 0);
  int total = 0;
  for (int p = 0; p < kProcs; ++p) total += ok[p];
  REQUIRE(total == 200);
  REQUIRE(s.size() == 200);
}

TEST_CASE("multiprocess: 4 processes pop_random 5000 keys, each exactly once", "[multiprocess]") {
  constexpr int kProcs = 4, kKeys = 5000;
  StoreGuard g(conformance::store_options(16));
  Store s = Store::open(g.options());
  for (int i = 0; i < kKeys; ++i) s.set("k" + std::to_string(i), "v" + std::to_string(i));
  // popped[p * kKeys + j] = 1 + index of the j-th key process p popped; 0 = end.
  SharedArray<std::int32_t> popped(kProcs * kKeys);
  StartBarrier barrier;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pids.push_back(spawn_child([&, p]() -> int {
      Store c = Store::open(g.options());
      barrier.wait();
      int j = 0;
      while (auto e = c.pop_random()) {
        if (j >= kKeys) return 2;
        int idx = std::stoi(e->key.substr(1));
        if (e->value != "v" + std::to_string(idx)) return 3;
        popped[p * kKeys + j++] = idx + 1;
      }
      return 0;
    }));
  }
  barrier.release();
  for (pid_t pid : pids) REQUIRE(wait_child(pid) == 0);
  std::vector<int> times(kKeys, 0);
  std::vector<int> per_proc(kProcs, 0);
  for (int p = 0; p < kProcs; ++p) {
    for (int j = 0; j < kKeys && popped[p * kKeys + j] != 0; ++j) {
      ++times[popped[p * kKeys + j] - 1];
      ++per_proc[p];
    }
  }
  for (int i = 0; i < kKeys; ++i) {
    if (times[i] != 1) FAIL("key k" << i << " popped " << times[i] << " times");
  }
  INFO("pops per process: " << per_proc[0] << " " << per_proc[1] << " " << per_proc[2] << " "
                            << per_proc[3]);
  REQUIRE(s.size() == 0);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("multiprocess: readers never see a torn value", "[multiprocess]") {
  constexpr int kWriters = 2, kReaders = 2, kKeys = 16;
  StoreGuard g;
  Store s = Store::open(g.options());
  auto key = [](int i) { return "key" + std::to_string(i); };
  // Values: 8 decimal digits of length, then pattern_value(key, len). Lengths cross the
  // in-place-update limit and size classes.
  auto make = [&](int k, std::size_t len) {
    char head[9];
    std::snprintf(head, sizeof head, "%08zu", len);
    return std::string(head) + pattern_value(key(k), len);
  };
  for (int k = 0; k < kKeys; ++k) s.set(key(k), make(k, 10));
  SharedArray<std::uint32_t> stop(1);
  std::vector<pid_t> pids;
  for (int w = 0; w < kWriters; ++w) {
    pids.push_back(spawn_child([&, w]() -> int {
      Store c = Store::open(g.options());
      static const std::size_t lens[] = {0, 1, 50, 100, 120, 200, 1000, 5000, 20000, 3};
      for (int i = 0; i < 3000; ++i) {
        int k = (i * 7 + w) % kKeys;
        c.set(key(k), make(k, lens[(i + w) % 10]));
      }
      return 0;
    }));
  }
  for (int r = 0; r < kReaders; ++r) {
    pids.push_back(spawn_child([&, r]() -> int {
      Store c = Store::open(g.options());
      int reads = 0;
      while (__atomic_load_n(&stop[0], __ATOMIC_ACQUIRE) == 0 || reads < 1000) {
        int k = (reads++ * 3 + r) % kKeys;
        auto v = c.get(key(k));
        if (!v || v->size() < 8) {
          std::fprintf(stderr, "reader: %s missing or short\n", key(k).c_str());
          return 2;
        }
        std::size_t len = std::stoul(v->substr(0, 8));
        if (*v != make(k, len)) {
          std::fprintf(stderr, "reader: torn value for %s (%zu bytes)\n", key(k).c_str(),
                       v->size());
          return 3;
        }
        if (reads > 2000000) return 4;
      }
      return 0;
    }));
  }
  for (int w = 0; w < kWriters; ++w) REQUIRE(wait_child(pids[w]) == 0);
  __atomic_store_n(&stop[0], 1u, __ATOMIC_RELEASE);
  for (int r = 0; r < kReaders; ++r) REQUIRE(wait_child(pids[kWriters + r]) == 0);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("multiprocess: threads of one process share a handle", "[multiprocess][threads]") {
  constexpr int kThreads = 4, kIncr = 5000;
  StoreGuard g;
  Store s = Store::open(g.options());
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < kIncr; ++i) {
          s.increment_by("counter", 1);
          s.set("t" + std::to_string(t) + ":" + std::to_string(i % 100), std::to_string(i));
        }
      } catch (...) {
        ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(errors == 0);
  REQUIRE(s.get("counter") == Opt(std::to_string(kThreads * kIncr)));
  REQUIRE(s.size() == 1 + kThreads * 100);
  REQUIRE(s.check_invariants().empty());
}
