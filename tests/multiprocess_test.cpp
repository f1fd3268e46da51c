// Processes and the shared-memory segment: a process killed while writing (its shard lock is
// recovered), a Store inherited across fork(), and the fork helpers of test_util. The races of
// every engine (counters, CAS, get_or_set, pop_random, torn reads, threads) are in
// tests/conformance/multiprocess.cpp.
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

#include "test_util.hpp"

using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using Opt = std::optional<std::string>;

TEST_CASE("multiprocess: a process killed mid-write leaves a usable store", "[multiprocess]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(small_options(g.name(), 8ull << 20, 4));
  for (int i = 0; i < 100; ++i) s.set("stable" + std::to_string(i), "v" + std::to_string(i));
  for (int round = 0; round < 5; ++round) {
    INFO("round " << round);
    SharedArray<std::uint32_t> progress(1);
    pid_t pid = spawn_child([&]() -> int {
      Store c = Store::open(attach_options(g.name()));
      for (std::uint64_t i = 0;; ++i) {
        std::string k = "churn" + std::to_string(i % 500);
        c.set(k, pattern_value(k, (i * 37) % 3000));
        if (i % 3 == 0) c.del("churn" + std::to_string((i * 7) % 500));
        c.increment_by("ctr", 1);
        __atomic_store_n(&progress[0], static_cast<std::uint32_t>(i + 1), __ATOMIC_RELEASE);
      }
    });
    // Let it get going, then kill it at an arbitrary point.
    for (int w = 0; w < 5000 && __atomic_load_n(&progress[0], __ATOMIC_ACQUIRE) < 200; ++w) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(3 + round * 7));
    REQUIRE(::kill(pid, SIGKILL) == 0);
    REQUIRE(wait_child(pid) == 128 + SIGKILL);
    // Every operation still works (a lock held by the dead process must be recovered).
    for (int i = 0; i < 500; ++i) {
      std::string k = "churn" + std::to_string(i);
      auto v = s.get(k);
      if (v && *v != "after") {  // "after": written by the previous round, not overwritten
        // Any value present is one the writer stored in full.
        INFO(k << " holds " << v->size() << " bytes: " << escape(v->substr(0, 64)));
        REQUIRE(*v == pattern_value(k, v->size()));
      }
      s.set(k, "after");
    }
    for (int i = 0; i < 100; ++i) {
      REQUIRE(s.get("stable" + std::to_string(i)) == Opt("v" + std::to_string(i)));
    }
    REQUIRE(s.increment_by("ctr", 0) >= 0);
    REQUIRE(s.check_invariants().empty());
  }
}

TEST_CASE("test_util: a hung child is killed at the deadline instead of blocking",
          "[multiprocess][util]") {
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = spawn_child([]() -> int {
    ::sleep(60);
    return 0;
  });
  REQUIRE(wait_child(pid, std::chrono::milliseconds(200)) == kChildTimedOut);
  REQUIRE(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  REQUIRE(::kill(pid, 0) != 0);  // reaped: no zombie left behind
  REQUIRE(run_in_child([] { return 7; }) == 7);
  REQUIRE(run_in_child([]() -> int { throw shmkv::Error(errc::busy, "x"); }) == kChildException);
}

TEST_CASE(
    "multiprocess: a Store inherited across fork() is closed in the child, and leaving "
    "it there leaves the parent's handle working",
    "[multiprocess][fork]") {
  SegmentGuard g(unique_name("fork"));
  Store s = Store::open(small_options(g.name()));
  s.set("k", "parent");
  int status = run_in_child([&] {
    if (outcome_of([&] { s.set("k", "child"); }) != errc::closed) return 1;
    if (outcome_of([&] { (void)s.get("k"); }) != errc::closed) return 2;
    try {
      (void)s.size();
      return 3;
    } catch (const shmkv::Error& e) {
      if (std::string(e.what()).find("fork") == std::string::npos) return 4;
    }
    s.close();  // must not close the parent's journal or free its registration
    Store own = Store::open(small_options(g.name()));
    own.set("k", "child");
    return 0;
  });
  CHECK(status == 0);
  CHECK(s.get("k") == Opt("child"));
  bool registered = false;
  for (const auto& p : s.info().processes) registered |= p.pid == ::getpid();
  CHECK(registered);
  s.set("k", "parent again");
  CHECK(s.get("k") == Opt("parent again"));
}
