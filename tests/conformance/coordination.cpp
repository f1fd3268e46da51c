// Conformance, run on every engine: coordination (issue 16): claims on keys, named locks,
// semaphore permits, waits and barriers. Every holder here is a real process: children fork,
// claim, lock or acquire, and are SIGKILLed; what they held must be free at the next attempt,
// long before any lease runs out. On shared memory the registry's liveness check (pid and start
// time) finds the dead; on Redis the server drops a killed holder's connection, and CLIENT LIST
// no longer shows the client id its grants name.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance/engine_fixture.hpp"
#include "test_util.hpp"

using shmkv::Claim;
using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using namespace std::chrono_literals;
using conformance::StoreGuard;

namespace {

constexpr auto kLongLease = 60s;  // never runs out during a test: death must free the grant

// Polls a flag a child sets in shared memory (test plumbing, not the code under test).
bool await_flag(const std::uint32_t& flag, std::chrono::milliseconds limit = 30s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (__atomic_load_n(&flag, __ATOMIC_ACQUIRE) == 0) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

void set_flag(std::uint32_t& flag, std::uint32_t v = 1) {
  __atomic_store_n(&flag, v, __ATOMIC_RELEASE);
}

// Calls attempt() until its result is truthy: once on shared memory, where a dead process's
// grants are free at the next attempt; for up to 5 s on Redis, where they are free once the
// server has dropped the process's connection, which its event loop does when it reads the
// closed socket, a moment after the death (docs/design.md "Coordination on Redis").
template <class Attempt>
auto after_death(Attempt attempt) {
  const auto until = std::chrono::steady_clock::now() + (conformance::on_redis() ? 5s : 0s);
  auto result = attempt();
  while (!result && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
    result = attempt();
  }
  return result;
}

// The state letter of /proc/PID/stat ('Z' for a zombie), or 0.
char process_state(pid_t pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return 0;
  char buf[512] = {};
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const std::string line(buf, n);
  const auto paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() ? 0 : line[paren + 2];
}

}  // namespace

TEST_CASE("claim: a claimed key stays visible but cannot be claimed or popped", "[coord]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  CHECK_FALSE(s.claim("acct:1", kLongLease));  // absent
  s.set("acct:1", "alice");
  std::optional<Claim> c = s.claim("acct:1", kLongLease);
  REQUIRE(c);
  CHECK(c->key == "acct:1");
  CHECK(c->value == "alice");
  CHECK(c->token > 0);
  CHECK(s.get("acct:1") == std::optional<std::string>("alice"));
  CHECK(s.count("acct:") == 1);
  CHECK_FALSE(s.claim("acct:1", kLongLease));  // held, even against its own process
  CHECK_FALSE(s.pop_random("acct:"));
  CHECK_FALSE(s.claim_random("acct:", kLongLease));
  // Another process sees the same.
  REQUIRE(run_in_child([&] {
            Store o = Store::open(g.options());
            if (o.claim("acct:1", kLongLease)) return 1;
            if (o.pop_random("acct:")) return 2;
            if (o.get("acct:1") != std::optional<std::string>("alice")) return 3;
            return 0;
          }) == 0);
  CHECK(s.check_invariants().empty());
}

TEST_CASE("claim: tokens fence renew, release and complete", "[coord]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("k", "v");
  const Claim c = *s.claim("k", kLongLease);
  CHECK_FALSE(s.renew("k", c.token + 1, kLongLease));
  CHECK_FALSE(s.release("k", c.token + 1));
  CHECK_FALSE(s.complete("k", c.token + 1));
  CHECK_FALSE(s.release("other", c.token));
  CHECK(s.exists("k"));
  CHECK(s.renew("k", c.token, kLongLease));
  CHECK(s.release("k", c.token));
  CHECK_FALSE(s.release("k", c.token));  // given back already
  const Claim again = *s.claim("k", kLongLease);
  CHECK(again.token > c.token);  // tokens only grow
  CHECK_FALSE(s.complete("k", c.token));
  CHECK(s.exists("k"));
  CHECK(s.complete("k", again.token));
  CHECK_FALSE(s.exists("k"));
  CHECK_FALSE(s.complete("k", again.token));
  s.set("k", "back");  // a new key of the same name is free
  CHECK(s.claim("k", kLongLease));
  CHECK(s.check_invariants().empty());
}

TEST_CASE("claim: a lapsed lease gives the key back, and its token no longer works", "[coord]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("k", "v");
  const Claim c = *s.claim("k", 30ms);
  std::this_thread::sleep_for(60ms);
  REQUIRE(run_in_child([&] {
            Store o = Store::open(g.options());
            return o.claim("k", kLongLease) ? 0 : 1;
          }) == 0);
  CHECK_FALSE(s.renew("k", c.token, kLongLease));
  CHECK_FALSE(s.complete("k", c.token));
  CHECK(s.exists("k"));
  // The child that took it over is gone: its claim is free again.
  CHECK(after_death([&] { return s.claim("k", kLongLease); }));
}

TEST_CASE("claim: a SIGKILLed holder's claims are free at the next attempt", "[coord]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  for (int i = 0; i < 4; ++i) s.set("acct:" + std::to_string(i), "u" + std::to_string(i));
  for (bool reap_first : {true, false}) {
    INFO("reaped before the next attempt: " << reap_first);
    SharedArray<std::uint32_t> held(1);
    const pid_t pid = spawn_child([&]() -> int {
      Store o = Store::open(g.options());
      for (int i = 0; i < 4; ++i)
        if (!o.claim("acct:" + std::to_string(i), kLongLease)) return 1;
      set_flag(held[0]);
      ::pause();
      return 0;
    });
    REQUIRE(await_flag(held[0]));
    CHECK_FALSE(s.claim_random("acct:", kLongLease));
    REQUIRE(::kill(pid, SIGKILL) == 0);
    if (reap_first) {
      REQUIRE(wait_child(pid) == 128 + SIGKILL);
    } else {
      // A killed process stays a zombie until its parent reaps it; wait until it is one.
      for (int i = 0; i < 3000; ++i) {
        if (process_state(pid) == 'Z') break;
        std::this_thread::sleep_for(1ms);
      }
    }
    std::set<std::string> got;
    std::vector<Claim> claims;
    CHECK(after_death([&] {
      while (auto c = s.claim_random("acct:", kLongLease)) {
        got.insert(c->key);
        claims.push_back(*c);
      }
      return got.size() == 4;
    }));
    for (const Claim& c : claims) CHECK(s.release(c.key, c.token));
    if (!reap_first) REQUIRE(wait_child(pid) == 128 + SIGKILL);
  }
  CHECK(s.check_invariants().empty());
}

TEST_CASE("claim_random: uniform over the unclaimed keys; never one that is held", "[coord]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  constexpr int kKeys = 8;
  for (int i = 0; i < kKeys; ++i) s.set("job:" + std::to_string(i), "x");
  s.set("other", "x");
  // Hold three of them.
  std::vector<Claim> held;
  for (int i : {1, 4, 6}) held.push_back(*s.claim("job:" + std::to_string(i), kLongLease));
  std::map<std::string, int> seen;
  constexpr int kDraws = 5000;
  for (int d = 0; d < kDraws; ++d) {
    const Claim c = *s.claim_random("job:", kLongLease);
    ++seen[c.key];
    REQUIRE(s.release(c.key, c.token));
  }
  for (int i : {1, 4, 6}) CHECK(seen.count("job:" + std::to_string(i)) == 0);
  REQUIRE(seen.size() == 5);
  double chi2 = 0;
  const double want = kDraws / 5.0;
  for (const auto& [k, n] : seen) chi2 += (n - want) * (n - want) / want;
  CHECK(chi2 < 18.47);  // chi-square, 4 degrees of freedom, p = 0.001
  // Everything held: none left.
  std::vector<Claim> rest;
  while (auto c = s.claim_random("job:", kLongLease)) rest.push_back(*c);
  CHECK(rest.size() == 5);
  CHECK_FALSE(s.pop_random("job:"));
  CHECK(s.pop_random("other"));
}

TEST_CASE("claim_random and pop_random stay uniform when nearly every key is claimed", "[coord]") {
  // Most draws meet a claimed key, so the engines fall back to looking at the whole range; the
  // key they then take must still be uniform over the free ones, not the one after the longest
  // run of claimed keys.
  StoreGuard g;
  Store s = Store::open(g.options());
  auto job = [](int i) { return "k:" + std::string(i < 10 ? "00" : "0") + std::to_string(i); };
  for (int i = 0; i < 100; ++i) s.set(job(i), "x");
  std::vector<Claim> held;
  for (int i = 1; i < 99; ++i) held.push_back(*s.claim(job(i), kLongLease));
  constexpr int kDraws = 400;  // two free keys: 200 each expected, 10 of standard deviation
  std::map<std::string, int> claimed, popped;
  for (int d = 0; d < kDraws; ++d) {
    const Claim c = *s.claim_random("k:", kLongLease);
    ++claimed[c.key];
    REQUIRE(s.release(c.key, c.token));
    const auto e = s.pop_random("k:");
    REQUIRE(e.has_value());
    ++popped[e->key];
    s.set(e->key, e->value);
  }
  INFO("claim_random: k:000 " << claimed[job(0)] << ", k:099 " << claimed[job(99)]);
  INFO("pop_random: k:000 " << popped[job(0)] << ", k:099 " << popped[job(99)]);
  REQUIRE(claimed.size() == 2);
  REQUIRE(popped.size() == 2);
  for (const auto* tally : {&claimed, &popped})
    for (const auto& [key, n] : *tally) CHECK(n > 140);  // 6 standard deviations
}

TEST_CASE("claim_random + complete across processes: each key done exactly once", "[coord]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  constexpr int kKeys = 400, kWorkers = 4;
  for (int i = 0; i < kKeys; ++i) s.set("acct:" + std::to_string(i), "p");
  // done[i] counts the completions of key i; each must be exactly 1.
  SharedArray<std::uint32_t> done(kKeys);
  StartBarrier start;
  std::vector<pid_t> pids;
  for (int w = 0; w < kWorkers; ++w) {
    pids.push_back(spawn_child([&, w]() -> int {
      Store o = Store::open(g.options());
      start.wait();
      std::uint64_t last = 0;
      while (auto c = o.claim_random("acct:", kLongLease)) {
        if (c->token <= last) return 3;  // one counter per store: a process's tokens grow too
        last = c->token;
        o.set(c->key, "touched by " + std::to_string(w));  // the holder may write its key
        if (!o.complete(c->key, c->token)) return 1;
        __atomic_fetch_add(&done[std::stoi(c->key.substr(5))], 1, __ATOMIC_ACQ_REL);
      }
      return 0;
    }));
  }
  start.release();
  for (pid_t pid : pids) CHECK(wait_child(pid) == 0);
  for (int i = 0; i < kKeys; ++i) {
    INFO("acct:" << i);
    CHECK(done[i] == 1);
  }
  CHECK(s.count("acct:") == 0);
  CHECK(s.check_invariants().empty());
}

TEST_CASE("lock: one holder; unlock, death and lease end each let a waiter in", "[coord]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  const std::uint64_t t = *s.lock("leader", kLongLease, 0ms);
  CHECK_FALSE(s.lock("leader", kLongLease, 0ms));
  CHECK_FALSE(s.lock("leader", kLongLease, 20ms));
  CHECK(s.lock("other", kLongLease, 0ms));
  CHECK_FALSE(s.unlock("leader", t + 100));
  CHECK(s.unlock("leader", t));
  CHECK_FALSE(s.unlock("leader", t));

  SECTION("a waiter in another process gets it when the holder unlocks") {
    const std::uint64_t held = *s.lock("leader", kLongLease, 0ms);
    SharedArray<std::uint32_t> waiting(1);
    const pid_t waiter = spawn_child([&]() -> int {
      Store o = Store::open(g.options());
      set_flag(waiting[0]);
      return o.lock("leader", kLongLease, 20s) ? 0 : 1;
    });
    REQUIRE(await_flag(waiting[0]));
    std::this_thread::sleep_for(50ms);
    REQUIRE(s.unlock("leader", held));
    CHECK(wait_child(waiter) == 0);
  }
  SECTION("a waiter gets it when the holder is SIGKILLed, long before the lease ends") {
    SharedArray<std::uint32_t> flags(2);
    const pid_t holder = spawn_child([&]() -> int {
      Store o = Store::open(g.options());
      if (!o.lock("leader", kLongLease, 0ms)) return 1;
      set_flag(flags[0]);
      ::pause();
      return 0;
    });
    REQUIRE(await_flag(flags[0]));
    const pid_t waiter = spawn_child([&]() -> int {
      Store o = Store::open(g.options());
      set_flag(flags[1]);
      // 20 s of waiting against a 60 s lease: only the holder's death can let it in.
      return o.lock("leader", kLongLease, 20s) ? 0 : 1;
    });
    REQUIRE(await_flag(flags[1]));
    std::this_thread::sleep_for(50ms);  // let it fall asleep on the futex
    REQUIRE(::kill(holder, SIGKILL) == 0);
    CHECK(wait_child(waiter, 15s) == 0);
    CHECK(wait_child(holder) == 128 + SIGKILL);
  }
  SECTION("a waiter gets it when the holder's lease ends") {
    const std::uint64_t mine = *s.lock("leader", 100ms, 0ms);
    CHECK(run_in_child([&] {
            Store o = Store::open(g.options());
            return o.lock("leader", kLongLease, 20s) ? 0 : 1;  // this process is alive throughout
          }) == 0);
    CHECK_FALSE(s.unlock("leader", mine));  // taken back when its lease ended
  }
  CHECK(s.check_invariants().empty());
}

TEST_CASE("acquire: at most `permits` holders across processes", "[coord]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  const std::uint64_t a = *s.acquire("db", 2, 0ms);
  const std::uint64_t b = *s.acquire("db", 2, 0ms);
  CHECK(a != b);
  CHECK_FALSE(s.acquire("db", 2, 0ms));
  CHECK_FALSE(s.release_permit("db", a + b + 100));
  CHECK(s.release_permit("db", a));
  const std::uint64_t c = *s.acquire("db", 2, 0ms);
  CHECK(s.release_permit("db", b));
  CHECK(s.release_permit("db", c));

  constexpr int kWorkers = 6, kRounds = 30;
  SharedArray<std::int32_t> inside(2);  // [0] holders now, [1] the most seen at once
  StartBarrier start;
  std::vector<pid_t> pids;
  for (int w = 0; w < kWorkers; ++w) {
    pids.push_back(spawn_child([&]() -> int {
      Store o = Store::open(g.options());
      start.wait();
      for (int r = 0; r < kRounds; ++r) {
        std::optional<std::uint64_t> t = o.acquire("db", 2, 20s);
        if (!t) return 1;
        const int now = __atomic_add_fetch(&inside[0], 1, __ATOMIC_ACQ_REL);
        int most = __atomic_load_n(&inside[1], __ATOMIC_ACQUIRE);
        while (now > most && !__atomic_compare_exchange_n(&inside[1], &most, now, false,
                                                          __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        }
        std::this_thread::sleep_for(200us);
        __atomic_sub_fetch(&inside[0], 1, __ATOMIC_ACQ_REL);
        if (!o.release_permit("db", *t)) return 2;
      }
      return 0;
    }));
  }
  start.release();
  for (pid_t pid : pids) CHECK(wait_child(pid) == 0);
  CHECK(inside[1] <= 2);
  CHECK(inside[1] >= 1);

  SECTION("a SIGKILLed holder's permit frees a waiter") {
    SharedArray<std::uint32_t> held(1);
    const pid_t holder = spawn_child([&]() -> int {
      Store o = Store::open(g.options());
      if (!o.acquire("one", 1, 0ms)) return 1;
      set_flag(held[0]);
      ::pause();
      return 0;
    });
    REQUIRE(await_flag(held[0]));
    CHECK_FALSE(s.acquire("one", 1, 0ms));
    std::thread killer([&] {
      std::this_thread::sleep_for(100ms);
      ::kill(holder, SIGKILL);
    });
    CHECK(s.acquire("one", 1, 20s));  // no lease: only the death lets it in
    killer.join();
    CHECK(wait_child(holder) == 128 + SIGKILL);
  }
  CHECK(s.check_invariants().empty());
}

TEST_CASE("coordination: bad arguments are typed errors that change nothing", "[coord]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("k", "v");
  CHECK(outcome_of([&] { (void)s.claim("k", 0ms); }).code == errc::invalid_argument);
  CHECK(outcome_of([&] { (void)s.claim("k", -5ms); }).code == errc::invalid_argument);
  CHECK(outcome_of([&] { (void)s.claim("", 1s); }).code == errc::invalid_argument);
  CHECK(outcome_of([&] { (void)s.claim(std::string(5000, 'k'), 1s); }).code == errc::key_too_long);
  CHECK(outcome_of([&] { (void)s.claim_random("k", 0ms); }).code == errc::invalid_argument);
  CHECK(outcome_of([&] { (void)s.lock("l", 1s, -1ms); }).code == errc::invalid_argument);
  CHECK(outcome_of([&] { (void)s.lock("l", 0ms, 0ms); }).code == errc::invalid_argument);
  CHECK(outcome_of([&] { (void)s.acquire("sem", 0, 0ms); }).code == errc::invalid_argument);
  const Outcome o = outcome_of([&] { (void)s.lock("l", 1s, -7ms); });
  CHECK(o.what.find("-7") != std::string::npos);
  CHECK(s.claim("k", 1s));  // nothing was held by the refused calls
  CHECK(s.lock("l", 1s, 0ms));
  Store ro = Store::open([&] {
    shmkv::Options r = g.options();
    r.open_mode = shmkv::OpenMode::read_only;
    return r;
  }());
  CHECK(outcome_of([&] { (void)ro.claim("k", 1s); }).code == errc::read_only);
}

TEST_CASE("wait_for: wakes when another process sets the key; false after the timeout",
          "[coord][wait]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  CHECK_FALSE(s.wait_for("ready", 30ms));
  s.set("present", "1");
  CHECK(s.wait_for("present", 0ms));
  SharedArray<std::uint32_t> waiting(1);
  const pid_t waiter = spawn_child([&]() -> int {
    Store o = Store::open(g.options());
    set_flag(waiting[0]);
    // 20 s: only the parent's set can end this wait early.
    return o.wait_for("ready", 20s) ? 0 : 1;
  });
  REQUIRE(await_flag(waiting[0]));
  std::this_thread::sleep_for(50ms);
  s.set("ready", "go");
  CHECK(wait_child(waiter, 15s) == 0);
}

// A key whose record expired, set again: to a sleeper in wait_for, the key is new, and the set
// wakes it at once (not at its timeout, when its last look would find the key anyway). The other
// keys keep the expired one out of reach of the few records each write reclaims in passing.
TEST_CASE("wait_for: a set over an expired key wakes the sleeper", "[coord][wait]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  for (int i = 0; i < 2000; ++i) s.set("other:" + std::to_string(i), "v");
  s.set("gone", "old", 50ms);
  std::this_thread::sleep_for(100ms);
  SharedArray<std::uint32_t> asleep(1);
  const pid_t child = spawn_child([&]() -> int {
    Store o = Store::open(g.options());
    set_flag(asleep[0]);
    const auto t0 = std::chrono::steady_clock::now();
    if (!o.wait_for("gone", 4s)) return 1;
    return std::chrono::steady_clock::now() - t0 < 3s ? 0 : 2;  // 2: woken by its timeout
  });
  REQUIRE(await_flag(asleep[0]));
  std::this_thread::sleep_for(300ms);  // in its sleep
  s.set("gone", "new");
  CHECK(wait_child(child) == 0);
}

TEST_CASE("pop_random_wait: a consumer sleeps until a producer pushes", "[coord][wait]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  CHECK_FALSE(s.pop_random_wait("job:", 20ms));
  constexpr int kJobs = 50, kConsumers = 3;
  SharedArray<std::uint32_t> got(kJobs);
  std::vector<pid_t> pids;
  for (int c = 0; c < kConsumers; ++c) {
    pids.push_back(spawn_child([&]() -> int {
      Store o = Store::open(g.options());
      while (auto e = o.pop_random_wait("job:", 3s)) {
        if (e->value == "stop") return 0;
        __atomic_fetch_add(&got[std::stoi(e->key.substr(4))], 1, __ATOMIC_ACQ_REL);
      }
      return 1;  // timed out: a push was missed
    }));
  }
  for (int j = 0; j < kJobs; ++j) {
    s.set("job:" + std::to_string(j), "work");
    if (j % 10 == 0) std::this_thread::sleep_for(5ms);  // let consumers fall asleep again
  }
  while (s.count("job:") != 0) std::this_thread::sleep_for(1ms);
  for (int c = 0; c < kConsumers; ++c) s.set("job:stop" + std::to_string(c), "stop");
  for (pid_t pid : pids) CHECK(wait_child(pid) == 0);
  for (int j = 0; j < kJobs; ++j) CHECK(got[j] == 1);
  // A claimed key is not popped; releasing the claim wakes the waiter.
  s.set("job:held", "x");
  const Claim c = *s.claim("job:held", kLongLease);
  const pid_t consumer = spawn_child([&]() -> int {
    Store o = Store::open(g.options());
    auto e = o.pop_random_wait("job:", 20s);
    return e && e->key == "job:held" ? 0 : 1;
  });
  std::this_thread::sleep_for(50ms);
  CHECK(s.exists("job:held"));
  CHECK(s.release("job:held", c.token));
  CHECK(wait_child(consumer, 15s) == 0);
}

TEST_CASE(
    "pop_random_wait: a claim that lapses frees its key to a sleeper then, not at its "
    "timeout",
    "[coord][wait]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  // Every key of the prefix is claimed; a lapse moves nothing a sleeper watches, so the sleep
  // itself must end at the lease's end, or when the holder exits.
  const auto sleeper = [&](const std::string& want) {
    return spawn_child([&g, want]() -> int {
      Store o = Store::open(g.options());
      const auto t0 = std::chrono::steady_clock::now();
      const auto e = o.pop_random_wait("job:", 10s);
      if (!e || e->key != want) return 1;
      return std::chrono::steady_clock::now() - t0 < 5s ? 0 : 2;  // 2: found at its timeout
    });
  };
  SECTION("the lease runs out") {
    s.set("job:leased", "x");
    REQUIRE(s.claim("job:leased", 400ms));
    CHECK(wait_child(sleeper("job:leased"), 30s) == 0);
  }
  SECTION("the holder is SIGKILLed") {
    s.set("job:held", "y");
    SharedArray<std::uint32_t> claimed(1);
    const pid_t holder = spawn_child([&]() -> int {
      Store o = Store::open(g.options());
      if (!o.claim("job:held", kLongLease)) return 1;
      set_flag(claimed[0]);
      std::this_thread::sleep_for(60s);
      return 0;
    });
    REQUIRE(await_flag(claimed[0]));
    const pid_t consumer = sleeper("job:held");
    std::this_thread::sleep_for(300ms);  // asleep by now
    REQUIRE(::kill(holder, SIGKILL) == 0);
    REQUIRE(wait_child(holder) == 128 + SIGKILL);
    CHECK(wait_child(consumer, 30s) == 0);
  }
}

TEST_CASE("barrier: parties leave together, each with its own index, round after round",
          "[coord][barrier]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  CHECK(s.barrier("solo", 1, 0ms) == std::optional<std::size_t>(0));
  CHECK_FALSE(s.barrier("pair", 2, 20ms));  // the other never came: withdrawn
  constexpr int kParties = 4, kRounds = 5;
  // stage[w] = rounds passed by worker w; a worker must never be a round ahead of another.
  SharedArray<std::uint32_t> stage(kParties);
  SharedArray<std::uint32_t> index_seen(kParties * kRounds);
  std::vector<pid_t> pids;
  for (int w = 0; w < kParties; ++w) {
    pids.push_back(spawn_child([&, w]() -> int {
      Store o = Store::open(g.options());
      for (int r = 0; r < kRounds; ++r) {
        std::optional<std::size_t> i = o.barrier("start", kParties, 20s);
        if (!i || *i >= kParties) return 1;
        __atomic_fetch_add(&index_seen[r * kParties + *i], 1, __ATOMIC_ACQ_REL);
        for (int other = 0; other < kParties; ++other)
          if (__atomic_load_n(&stage[other], __ATOMIC_ACQUIRE) < static_cast<std::uint32_t>(r))
            return 2;  // someone is still a round behind: we left too early
        __atomic_store_n(&stage[w], r + 1, __ATOMIC_RELEASE);
      }
      return 0;
    }));
  }
  for (pid_t pid : pids) CHECK(wait_child(pid) == 0);
  for (int r = 0; r < kRounds; ++r)
    for (int i = 0; i < kParties; ++i) CHECK(index_seen[r * kParties + i] == 1);
  CHECK(s.check_invariants().empty());
}

// A barrier's round that ends, or that every party left, leaves nothing in the store: a test
// may use a new barrier name per round (shared memory's table of grants holds 1,792 entries).
TEST_CASE("barrier: rounds that end leave nothing behind", "[coord][barrier]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  for (int i = 0; i < 2500; ++i)
    REQUIRE(s.barrier("round-" + std::to_string(i), 1, 0ms) == std::optional<std::size_t>(0));
  for (int i = 0; i < 40; ++i) {  // a round whose only arrival gives up
    CHECK_FALSE(s.barrier("alone-" + std::to_string(i), 2, 1ms));
  }
  const pid_t partner = spawn_child([&]() -> int {
    Store o = Store::open(g.options());
    return o.barrier("pair", 2, 20s) ? 0 : 1;
  });
  CHECK(s.barrier("pair", 2, 20s).has_value());
  CHECK(wait_child(partner) == 0);
  if (!conformance::on_redis()) CHECK(s.info().coordination.used == 0);
  CHECK(s.lock("after", kLongLease, 0ms).has_value());
  CHECK(s.check_invariants().empty());
}

TEST_CASE("barrier: a party killed while waiting breaks the round for the others",
          "[coord][barrier]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  SharedArray<std::uint32_t> arrived(1);
  const pid_t victim = spawn_child([&]() -> int {
    Store o = Store::open(g.options());
    (void)o.barrier("warm-up", 1, 0ms);  // connected, with everything loaded: arrives in a step
    set_flag(arrived[0]);
    (void)o.barrier("b", 3, 60s);
    return 0;
  });
  REQUIRE(await_flag(arrived[0]));
  std::this_thread::sleep_for(200ms);  // it has arrived and sleeps
  SharedArray<std::int32_t> code(1);
  SharedArray<std::uint32_t> ready(1);
  const pid_t other = spawn_child([&]() -> int {
    Store o = Store::open(g.options());
    (void)o.barrier("warm-up", 1, 0ms);
    set_flag(ready[0]);
    try {
      (void)o.barrier("b", 3, 20s);  // 20 s: only the victim's death ends it early
    } catch (const shmkv::Error& e) {
      code[0] = static_cast<std::int32_t>(e.code_value());
      return 0;
    }
    return 1;
  });
  REQUIRE(await_flag(ready[0]));
  std::this_thread::sleep_for(200ms);  // it has arrived too (a party that arrives after the
                                       // death starts a new round: the dead one's is broken)
  REQUIRE(::kill(victim, SIGKILL) == 0);
  CHECK(wait_child(other, 15s) == 0);
  CHECK(code[0] == static_cast<std::int32_t>(errc::broken));
  CHECK(wait_child(victim) == 128 + SIGKILL);
  // The next round starts fresh.
  CHECK(s.barrier("b", 1, 0ms) == std::optional<std::size_t>(0));
  CHECK(s.check_invariants().empty());
}
