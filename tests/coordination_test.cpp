// Coordination on the shared-memory engine only: info()'s view of the segment's coordination
// table. The engine-neutral behaviour (claims, locks, permits, waits, barriers, with SIGKILLed
// holders) is in tests/conformance/coordination.cpp, run on every engine.
#include <sys/resource.h>
#include <unistd.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "shm/layout.hpp"
#include "test_util.hpp"

using shmkv::Claim;
using shmkv::Store;
using namespace testutil;
using namespace std::chrono_literals;

namespace {

constexpr auto kLongLease = 60s;

}  // namespace

TEST_CASE("info: the coordination table lists each grant and its holder", "[coord]") {
  SegmentGuard g(unique_name("co"));
  Store s = Store::open(small_options(g.name()));
  s.set("acct:42", "x");
  const Claim c = *s.claim("acct:42", kLongLease);
  const std::uint64_t t = *s.lock("leader-lock", kLongLease, 0ms);
  const shmkv::Info info = s.info();
  CHECK(info.coordination.used == 2);
  CHECK(info.coordination.capacity == 1792);
  CHECK(info.coordination.last_token == t);
  REQUIRE(info.coordination.grants.size() == 2);
  std::map<std::string, shmkv::GrantInfo> by_kind;
  for (const auto& gr : info.coordination.grants) by_kind[gr.kind] = gr;
  CHECK(by_kind["claim"].name_head == "acct:42");
  CHECK(by_kind["claim"].token == c.token);
  CHECK(by_kind["claim"].holder_pid == ::getpid());
  CHECK(by_kind["claim"].holder_alive);
  CHECK(by_kind["claim"].lease_left_ms > 0);
  CHECK(by_kind["lock"].name_head == "leader-l");  // the first 8 bytes
  CHECK(by_kind["lock"].name_bytes == 11);
  CHECK(s.release("acct:42", c.token));
  CHECK(s.unlock("leader-lock", t));
  CHECK(s.info().coordination.grants.empty());
}

// A lock's sleeper and a key's sleeper wait on different wake channels (docs/design.md
// "Coordination"): inserts move only the keys channel. The child counts its voluntary context
// switches (getrusage, all its threads) while it waits for a lock the parent holds and the
// parent inserts keys in 50 bursts 1 ms apart. Woken by inserts, it would switch at least once a
// burst (and more: each wake-up starts and joins its exit watch's thread).
TEST_CASE("a lock's sleeper is not woken by inserts of keys", "[coord][wait]") {
  SegmentGuard g(unique_name("cw"));
  Store s = Store::open(small_options(g.name()));
  const std::uint64_t token = *s.lock("L", kLongLease, 0ms);
  SharedArray<long> switches(1);
  const pid_t child = spawn_child([&]() -> int {
    Store o = Store::open(attach_options(g.name()));
    rusage before{}, after{};
    ::getrusage(RUSAGE_SELF, &before);
    const auto t = o.lock("L", kLongLease, 30s);
    ::getrusage(RUSAGE_SELF, &after);
    switches[0] = after.ru_nvcsw - before.ru_nvcsw;
    return t ? 0 : 1;
  });
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (s.info().coordination.waiters == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
  REQUIRE(s.info().coordination.waiters == 1);
  std::this_thread::sleep_for(20ms);  // past its first, unwatched sleep
  for (int burst = 0; burst < 50; ++burst) {
    for (int i = 0; i < 20; ++i) s.set("k:" + std::to_string(burst * 20 + i), "v");
    std::this_thread::sleep_for(1ms);
  }
  CHECK(s.unlock("L", token));
  REQUIRE(wait_child(child) == 0);
  INFO("voluntary context switches of the lock's sleeper: " << switches[0]);
  CHECK(switches[0] < 25);
}

// A pop_random_wait sleeper sleeps on the key watch of its prefix: inserts of other keys leave it
// asleep, and the first key with its prefix wakes it.
TEST_CASE("a pop_random_wait sleeper is woken by its prefix only", "[coord][wait]") {
  SegmentGuard g(unique_name("cp"));
  Store s = Store::open(small_options(g.name()));
  SharedArray<long> switches(1);
  const pid_t child = spawn_child([&]() -> int {
    Store o = Store::open(attach_options(g.name()));
    rusage before{}, after{};
    ::getrusage(RUSAGE_SELF, &before);
    const auto e = o.pop_random_wait("job:", 30s);
    ::getrusage(RUSAGE_SELF, &after);
    switches[0] = after.ru_nvcsw - before.ru_nvcsw;
    return e && e->key == "job:1" && e->value == "work" ? 0 : 1;
  });
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (s.info().coordination.waiters == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
  REQUIRE(s.info().coordination.waiters == 1);
  for (int burst = 0; burst < 50; ++burst) {
    for (int i = 0; i < 20; ++i)
      s.set("jo:" + std::to_string(burst * 20 + i), "v");  // "jo:" != "job:"
    std::this_thread::sleep_for(1ms);
  }
  s.set("job:1", "work");
  REQUIRE(wait_child(child) == 0);
  INFO("voluntary context switches of the pop's sleeper: " << switches[0]);
  CHECK(switches[0] < 25);
  CHECK(s.check_invariants().empty());
}

// More distinct prefixes than key watches: the sleepers past the last free watch share the
// every-key watch, and each still wakes for its own key.
TEST_CASE("more pop_random_wait prefixes than key watches: every sleeper still wakes",
          "[coord][wait]") {
  SegmentGuard g(unique_name("cm"));
  Store s = Store::open(small_options(g.name()));
  constexpr int kSleepers = static_cast<int>(shmkv::detail::kKeyWatches) + 6;
  std::vector<pid_t> pids;
  for (int i = 0; i < kSleepers; ++i) {
    pids.push_back(spawn_child([&, i]() -> int {
      Store o = Store::open(attach_options(g.name()));
      const std::string prefix = "q" + std::to_string(i) + ":";
      const auto e = o.pop_random_wait(prefix, 30s);
      return e && e->key == prefix + "x" ? 0 : 1;
    }));
  }
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (s.info().coordination.waiters < kSleepers && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
  REQUIRE(s.info().coordination.waiters == kSleepers);
  for (int i = 0; i < kSleepers; ++i) {  // one key at a time: its sleeper must wake for it
    s.set("q" + std::to_string(i) + ":x", "v");
    CHECK(wait_child(pids[static_cast<std::size_t>(i)], 10s) == 0);
  }
  CHECK(s.count("q") == 0);
  CHECK(s.info().coordination.waiters == 0);
}
