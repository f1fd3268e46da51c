// repair_time_test.cpp: what a process killed inside a mutation costs the others.
//
// A shard of 100,000 keys; a forked child takes the shard's lock, starts a mutation (seq odd)
// and SIGKILLs itself. The next get() on that shard gets EOWNERDEAD and rebuilds the shard from
// its records. The test checks that every key survives and prints how long the repair took
// (a figure, not an assertion: timings belong to benchmarks).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "shm/shard.hpp"
#include "engine/shm_engine.hpp"
#include "test_util.hpp"

using namespace testutil;

TEST_CASE("repair: a shard of 100k keys whose writer died mid-mutation is rebuilt", "[crash]") {
  SegmentGuard g(unique_name("repair"));
  shmkv::Options o = small_options(g.name(), 64ull << 20, 1);
  o.max_keys = 120000;
  shmkv::Store s = shmkv::Store::open(o);
  constexpr int kKeys = 100000;
  for (int i = 0; i < kKeys; ++i)
    s.set("key:" + std::to_string(i), std::string(100, char('a' + i % 26)));

  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    shmkv::Options a = o;
    a.open_mode = shmkv::OpenMode::attach_only;
    auto seg = shmkv::detail::Segment::Open(a);
    shmkv::detail::ShardLock lock(seg.get(), 0);
    lock.shard().BeginWrite();  // mid-mutation: seq odd, lock held
    raise(SIGKILL);
    _exit(1);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));

  auto t0 = std::chrono::steady_clock::now();
  auto v = s.get("key:7");  // the lock-free read sees seq odd and falls back to the lock
  auto repair = std::chrono::steady_clock::now() - t0;
  REQUIRE(v == std::optional<std::string>(std::string(100, char('a' + 7))));
  std::printf("shard repair (rebuild of %d keys after an owner died): %.2f ms\n", kKeys,
              std::chrono::duration<double, std::milli>(repair).count());
  REQUIRE(s.stats().recoveries == 1);
  REQUIRE(s.size() == kKeys);
  REQUIRE(s.check_invariants().empty());
  for (int i = 0; i < kKeys; i += 997) REQUIRE(s.exists("key:" + std::to_string(i)));
}
