// crashpoint_test.cpp: kills a process at every crash point of every mutating operation and
// checks what the survivors see.
//
// For each scenario and each n = 1, 2, ...: a fresh store is seeded, a forked child attaches
// and runs the operation armed to SIGKILL itself at its n-th crash point; the parent then
// requires that (1) the next operations on the store complete (an alarm fails the test on a
// hang), (2) CheckInvariants() passes on every shard, (3) every key holds its old or its new
// value and nothing else changed. Enumeration of a scenario ends when the child finishes without
// reaching crash point n. The test prints how many crash points were exercised.
#include "os/crashpoint.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "shmkv/shmkv.hpp"

namespace {

using State = std::map<std::string, std::string>;
// Returns "" when `after` is an allowed outcome of the operation from `before`.
using Verdict = std::function<std::string(const State& before, const State& after)>;

struct Scenario {
  const char* name;
  std::function<void(shmkv::Store&)> seed;  // extra set-up on top of the common keys
  std::function<void(shmkv::Store&)> op;
  Verdict verdict;
};

State Contents(shmkv::Store& s) {
  State out;
  for (auto& e : s.list()) out[e.key] = e.value;
  return out;
}

// Only the keys in `touched` may differ, each being its old value or one of `allowed`
// (nullopt = absent).
Verdict OldOrNew(std::map<std::string, std::vector<std::optional<std::string>>> allowed) {
  return [allowed](const State& before, const State& after) -> std::string {
    std::map<std::string, bool> seen;
    for (auto& [k, v] : after) seen[k] = true;
    for (auto& [k, v] : before) seen[k] = true;
    for (auto& [k, _] : seen) {
      auto b = before.find(k);
      auto a = after.find(k);
      std::optional<std::string> old_v =
          b == before.end() ? std::nullopt : std::optional(b->second);
      std::optional<std::string> new_v = a == after.end() ? std::nullopt : std::optional(a->second);
      if (new_v == old_v) continue;
      auto it = allowed.find(k);
      bool ok = false;
      if (it != allowed.end())
        for (auto& v : it->second) ok = ok || v == new_v;
      if (!ok)
        return "key '" + k + "' holds " + (new_v ? "'" + new_v->substr(0, 40) + "'" : "nothing") +
               ", neither old nor new";
    }
    return "";
  };
}

// Keys with the prefix may each be absent; all others untouched; at most `max_gone` gone.
Verdict SomeGone(std::string prefix, std::size_t max_gone) {
  return [prefix, max_gone](const State& before, const State& after) -> std::string {
    std::size_t gone = 0;
    for (auto& [k, v] : before) {
      auto a = after.find(k);
      if (a == after.end()) {
        if (k.compare(0, prefix.size(), prefix) != 0) return "key '" + k + "' vanished";
        ++gone;
      } else if (a->second != v) {
        return "key '" + k + "' changed";
      }
    }
    for (auto& [k, v] : after)
      if (!before.count(k)) return "key '" + k + "' appeared";
    if (gone > max_gone)
      return std::to_string(gone) + " keys gone, at most " + std::to_string(max_gone) + " allowed";
    return "";
  };
}

constexpr std::size_t kCommonKeys = 300;

void SeedCommon(shmkv::Store& s) {
  for (std::size_t i = 0; i < kCommonKeys; ++i)
    s.set("k" + std::to_string(i), std::string(8 + i % 90, char('a' + i % 26)));
  for (int i = 0; i < 20; ++i) s.set("q:" + std::to_string(i), "token" + std::to_string(i));
  s.set("ctr", "41");
}

std::vector<Scenario> Scenarios() {
  const std::string big(20000, 'B');  // a multi-chunk span
  return {
      {"set new key",
       {},
       [](shmkv::Store& s) { s.set("new", "fresh"); },
       OldOrNew({{"new", {"fresh"}}})},
      {"set new large key",
       {},
       [big](shmkv::Store& s) { s.set("huge", big); },
       OldOrNew({{"huge", {big}}})},
      {"overwrite with larger value",
       {},
       [](shmkv::Store& s) { s.set("k5", std::string(300, 'L')); },
       OldOrNew({{"k5", {std::string(300, 'L')}}})},
      {"overwrite with smaller value (in place)",
       {},
       [](shmkv::Store& s) { s.set("k80", "tiny"); },
       OldOrNew({{"k80", {"tiny"}}})},
      {"overwrite large value with small", [big](shmkv::Store& s) { s.set("huge", big); },
       [](shmkv::Store& s) { s.set("huge", "small now"); }, OldOrNew({{"huge", {"small now"}}})},
      {"delete (backward shift)",
       {},
       [](shmkv::Store& s) { s.del("k7"); },
       OldOrNew({{"k7", {std::nullopt}}})},
      {"delete_many (backward shifts)",
       {},
       [](shmkv::Store& s) {
         std::vector<std::string> keys;
         for (int i = 0; i < 120; ++i) keys.push_back("k" + std::to_string(i));
         s.delete_many(keys);
       },
       [](const State& before, const State& after) {
         std::map<std::string, std::vector<std::optional<std::string>>> allowed;
         for (int i = 0; i < 120; ++i) allowed["k" + std::to_string(i)] = {std::nullopt};
         return OldOrNew(allowed)(before, after);
       }},
      {"delete large", [big](shmkv::Store& s) { s.set("huge", big); },
       [](shmkv::Store& s) { s.del("huge"); }, OldOrNew({{"huge", {std::nullopt}}})},
      {"increment",
       {},
       [](shmkv::Store& s) { s.increment_by("ctr", 1); },
       OldOrNew({{"ctr", {"42"}}})},
      {"same-length overwrite in one word",
       {},
       [](shmkv::Store& s) { s.set("ctr", "77"); },
       OldOrNew({{"ctr", {"77"}}})},
      {"increment of an 8-digit counter (one word)",
       [](shmkv::Store& s) { s.set("c8", "12345678"); },
       [](shmkv::Store& s) { s.increment_by("c8", 1); }, OldOrNew({{"c8", {"12345679"}}})},
      {"increment growing the value", [](shmkv::Store& s) { s.set("ctr", "99999"); },
       [](shmkv::Store& s) { s.increment_by("ctr", 1); }, OldOrNew({{"ctr", {"100000"}}})},
      {"compare_and_swap",
       {},
       [](shmkv::Store& s) { (void)s.compare_and_swap("k3", s.get("k3").value(), "swapped-in"); },
       OldOrNew({{"k3", {"swapped-in"}}})},
      {"get_or_set",
       {},
       [](shmkv::Store& s) { (void)s.get_or_set("gos", "mine"); },
       OldOrNew({{"gos", {"mine"}}})},
      {"pop_random", {}, [](shmkv::Store& s) { (void)s.pop_random("q:"); }, SomeGone("q:", 1)},
      {"TTL reclaim by a later write",
       [](shmkv::Store& s) {
         for (int i = 0; i < 40; ++i)
           s.set("ttl" + std::to_string(i), "short-lived", std::chrono::milliseconds(1));
         usleep(5000);
       },
       [](shmkv::Store& s) {
         for (int i = 0; i < 40; ++i) s.set("w" + std::to_string(i), "after");
       },
       [](const State& before, const State& after) {
         std::map<std::string, std::vector<std::optional<std::string>>> allowed;
         for (int i = 0; i < 40; ++i) allowed["w" + std::to_string(i)] = {"after"};
         return OldOrNew(allowed)(before, after);
       }},
      {"clear", {}, [](shmkv::Store& s) { s.clear(); }, SomeGone("", kCommonKeys + 21)},
      {"set_many",
       {},
       [](shmkv::Store& s) {
         s.set_many(
             {{"k1", "m1"}, {"k2", std::string(500, 'm')}, {"fresh1", "m3"}, {"fresh2", "m4"}});
       },
       OldOrNew({{"k1", {"m1"}},
                 {"k2", {std::string(500, 'm')}},
                 {"fresh1", {"m3"}},
                 {"fresh2", {"m4"}}})},
      {"delete_prefix", {}, [](shmkv::Store& s) { s.delete_prefix("q:"); }, SomeGone("q:", 20)},
      // Coordination (issue 16): the table is repaired, and whatever the dead child held is
      // free again (the checks after every scenario claim, lock and acquire).
      {"claim, then complete",
       {},
       [](shmkv::Store& s) {
         auto c = s.claim("k9", std::chrono::seconds(60));
         if (c) (void)s.complete("k9", c->token);
       },
       OldOrNew({{"k9", {std::nullopt}}})},
      {"lock, semaphore permits, unlock",
       {},
       [](shmkv::Store& s) {
         const auto t = s.lock("L", std::chrono::seconds(60), std::chrono::milliseconds(0));
         const auto p1 = s.acquire("S", 2, std::chrono::milliseconds(0));
         const auto p2 = s.acquire("S", 2, std::chrono::milliseconds(0));
         if (p1) (void)s.release_permit("S", *p1);
         if (t) (void)s.unlock("L", *t);
         (void)p2;
       },
       OldOrNew({})},
      {"claims given back out of order (backward shifts)",
       {},
       [](shmkv::Store& s) {
         std::vector<shmkv::Claim> held;
         for (int i = 0; i < 24; ++i)
           if (auto c = s.claim("k" + std::to_string(i * 7), std::chrono::seconds(60)))
             held.push_back(*c);
         for (std::size_t i = 0; i < held.size(); i += 2)
           (void)s.release(held[i].key, held[i].token);
         for (std::size_t i = 1; i < held.size(); i += 2)
           (void)s.release(held[i].key, held[i].token);
       },
       OldOrNew({})},
      {"barrier of one", {}, [](shmkv::Store& s) { (void)s.barrier("B", 1, {}); }, OldOrNew({})},
  };
}

const std::string& StoreName() {
  static const std::string name = "crash-" + std::to_string(getpid());  // the parent's pid
  return name;
}

// home_block_bytes 128: the short records of the scenarios go to home blocks, the large ones
// (300 bytes and more) to slabs and spans.
shmkv::Options Opts(std::uint32_t home_block_bytes = 0) {
  shmkv::Options o;
  o.name = StoreName();
  o.size_bytes = 4 << 20;
  o.shards = 4;
  o.max_keys = 2000;
  o.home_block_bytes = home_block_bytes;
  o.verify_reads = true;  // every read after a crash also checks the record checksums
  return o;
}

void OnAlarm(int) {
  const char msg[] = "crashpoint_test: an operation after a crash hung (no progress in 20 s)\n";
  if (write(2, msg, sizeof msg - 1) < 0) {
  }
  _exit(3);
}

}  // namespace

TEST_CASE("a SIGKILL at any crash point leaves old-or-new values and a consistent store") {
  signal(SIGALRM, OnAlarm);
  const std::uint32_t home_block_bytes = GENERATE(0u, 128u);
  std::printf("home_block_bytes %u:\n", home_block_bytes);
  long total_points = 0;
  for (const Scenario& sc : Scenarios()) {
    long points = 0;
    for (long n = 1;; ++n) {
      if (shmkv::Store::segment_exists(StoreName())) shmkv::Store::destroy(StoreName());
      shmkv::Store store = shmkv::Store::open(Opts(home_block_bytes));
      SeedCommon(store);
      if (sc.seed) sc.seed(store);
      State before = Contents(store);

      pid_t child = fork();
      REQUIRE(child >= 0);
      if (child == 0) {
        int code = 0;
        try {
          shmkv::Options o = Opts(home_block_bytes);
          o.open_mode = shmkv::OpenMode::attach_only;
          shmkv::Store mine = shmkv::Store::open(o);
          shmkv::detail::ArmCrashPoint(n);
          sc.op(mine);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "child: %s\n", e.what());
          code = 2;
        }
        _exit(code);
      }
      int status = 0;
      REQUIRE(waitpid(child, &status, 0) == child);
      bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
      INFO("scenario '" << sc.name << "', crash point " << n << ", home_block_bytes "
                        << home_block_bytes);
      if (!killed) {
        REQUIRE(WIFEXITED(status));
        REQUIRE(WEXITSTATUS(status) == 0);  // ran to completion: all points enumerated
      }
      alarm(20);
      std::vector<std::string> violations = store.check_invariants();
      State after = Contents(store);
      std::string verdict = sc.verdict(before, after);
      // The store stays fully usable: write, read and delete on every shard.
      for (int i = 0; i < 16; ++i) {
        std::string k = "probe" + std::to_string(i);
        store.set(k, "p");
        REQUIRE(store.get(k) == std::optional<std::string>("p"));
        REQUIRE(store.del(k));
      }
      // Nothing the dead child held is in the way: its claims, lock and permits are free.
      if (store.exists("k9")) {
        auto c = store.claim("k9", std::chrono::seconds(1));
        REQUIRE(c);
        REQUIRE(store.release("k9", c->token));
      }
      const auto lock = store.lock("L", std::chrono::seconds(1), std::chrono::milliseconds(0));
      REQUIRE(lock);
      const auto p1 = store.acquire("S", 2, std::chrono::milliseconds(0));
      const auto p2 = store.acquire("S", 2, std::chrono::milliseconds(0));
      REQUIRE((p1 && p2));
      REQUIRE((store.unlock("L", *lock) && store.release_permit("S", *p1) &&
               store.release_permit("S", *p2)));
      std::vector<std::string> violations_after = store.check_invariants();
      alarm(0);
      for (auto& v : violations) UNSCOPED_INFO(v);
      CHECK(violations.empty());
      CHECK(verdict == "");
      CHECK(violations_after.empty());
      store.close();
      shmkv::Store::destroy(StoreName());
      if (!killed) break;
      ++points;
    }
    std::printf("  %-42s %4ld crash points\n", sc.name, points);
    CHECK(points > 0);
    total_points += points;
  }
  std::printf("crash points exercised: %ld\n", total_points);
}

TEST_CASE("a process killed while repairing a shard leaves the repair to the next one") {
  signal(SIGALRM, OnAlarm);
  // An out-of-place overwrite (rebuild), and a counter increment (checksum recomputed from
  // rehash_rec, then rebuild).
  const bool counter = GENERATE(false, true);
  const std::string key = counter ? "ctr" : "k5";
  const std::string value = counter ? "42" : std::string(300, 'L');
  const std::function<void(shmkv::Store&)> first_op = [&](shmkv::Store& s) {
    if (counter)
      s.increment_by(key, 1);
    else
      s.set(key, value);
  };
  long total = 0;
  for (long n = 1;; ++n) {  // first crash: inside an out-of-place overwrite
    bool first_killed = false;
    for (long m = 1;; ++m) {  // second crash: inside the repair the next locker runs
      if (shmkv::Store::segment_exists(StoreName())) shmkv::Store::destroy(StoreName());
      shmkv::Store store = shmkv::Store::open(Opts());
      SeedCommon(store);
      State before = Contents(store);
      auto run_child = [&](long crash_at, const std::function<void(shmkv::Store&)>& op) {
        pid_t child = fork();
        if (child == 0) {
          shmkv::Options o = Opts();
          o.open_mode = shmkv::OpenMode::attach_only;
          shmkv::Store mine = shmkv::Store::open(o);
          shmkv::detail::ArmCrashPoint(crash_at);
          op(mine);
          _exit(0);
        }
        int status = 0;
        waitpid(child, &status, 0);
        return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
      };
      first_killed = run_child(n, first_op);
      bool second_killed = first_killed && run_child(m, [&](shmkv::Store& s) { (void)s.get(key); });
      INFO("first crash point " << n << ", second " << m);
      alarm(20);
      std::vector<std::string> violations = store.check_invariants();
      std::string verdict = OldOrNew({{key, {value}}})(before, Contents(store));
      alarm(0);
      CHECK(violations.empty());
      CHECK(verdict == "");
      store.close();
      shmkv::Store::destroy(StoreName());
      if (second_killed) ++total;
      if (!second_killed) break;
    }
    if (!first_killed) break;
  }
  std::printf("crash points exercised inside repairs (%s): %ld\n", counter ? "increment" : "set",
              total);
  CHECK(total > 0);
}
