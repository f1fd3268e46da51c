// Conformance, run on every engine: time to live: expiry, ttl(), expire(), and expired keys
// invisible everywhere. (Reclaiming their space is the shared-memory engine's: ttl_test.cpp.)
#include <chrono>
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
using namespace std::chrono;
using Opt = std::optional<std::string>;
using OptMs = std::optional<milliseconds>;

TEST_CASE("ttl: a key is visible before its expiry and gone after", "[ttl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  auto t0 = steady_clock::now();
  s.set("k", "v", 100ms);
  s.set("keep", "forever");
  auto got = s.get("k");
  bool ex = key_exists(s, "k");
  if (steady_clock::now() - t0 < 80ms) {
    REQUIRE(got == Opt("v"));
    REQUIRE(ex);
  }
  std::this_thread::sleep_for(250ms);
  REQUIRE(s.get("k") == std::nullopt);
  REQUIRE_FALSE(key_exists(s, "k"));
  REQUIRE(s.ttl("k") == std::nullopt);
  REQUIRE_FALSE(s.del("k"));  // an expired key did not exist
  REQUIRE(s.get("keep") == Opt("forever"));
  REQUIRE(s.size() == 1);
}

TEST_CASE("ttl: ttl() reports the remaining time", "[ttl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("k", "v", 10s);
  auto t = s.ttl("k");
  REQUIRE(t.has_value());
  REQUIRE(*t <= 10s);
  REQUIRE(*t > 9s);
  std::this_thread::sleep_for(200ms);
  auto t2 = s.ttl("k");
  REQUIRE(t2.has_value());
  REQUIRE(*t2 <= *t - 150ms);
  REQUIRE(*t2 > 8s);
  s.set("p", "v");
  REQUIRE(s.ttl("p") == OptMs(0ms));
  REQUIRE(s.ttl("absent") == std::nullopt);
}

TEST_CASE("ttl: writes follow the Redis rule: a new value gets the ttl passed, increment keeps it",
          "[ttl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  auto has_ttl_near = [&](const char* key, milliseconds want) {
    auto t = s.ttl(key);
    return t && *t <= want && *t > want - 5s;
  };
  // increment_by keeps the TTL (INCR).
  s.set("n", "1", 1h);
  REQUIRE(s.increment_by("n", 1) == 2);
  REQUIRE(has_ttl_near("n", 1h));
  // compare_and_swap: like SET, the old TTL is dropped; a ttl passed is set.
  s.set("c", "a", 1h);
  REQUIRE(s.compare_and_swap("c", std::string_view("a"), "b"));
  REQUIRE(s.ttl("c") == OptMs(0ms));
  REQUIRE(s.compare_and_swap("c", std::string_view("b"), "c", 30min));
  REQUIRE(has_ttl_near("c", 30min));
  REQUIRE_FALSE(s.compare_and_swap("c", std::string_view("x"), "d", 10min));  // lost: unchanged
  REQUIRE(has_ttl_near("c", 30min));
  REQUIRE(s.compare_and_swap("absent-c", std::nullopt, "v", 20min));
  REQUIRE(has_ttl_near("absent-c", 20min));
  // swap: like GETSET, the old TTL is dropped; a ttl passed is set.
  s.set("w", "a", 1h);
  REQUIRE(s.swap("w", "b").previous == Opt("a"));
  REQUIRE(s.ttl("w") == OptMs(0ms));
  REQUIRE(s.swap("w", "c", 40min).previous == Opt("b"));
  REQUIRE(has_ttl_near("w", 40min));
  // get_or_set and set_if_absent: the ttl applies when they store; a present key keeps its own.
  auto r = s.get_or_set("g", "first", 50min);
  REQUIRE_FALSE(r.loaded);
  REQUIRE(has_ttl_near("g", 50min));
  r = s.get_or_set("g", "second", 5min);
  REQUIRE(r.loaded);
  REQUIRE(r.value == "first");
  REQUIRE(has_ttl_near("g", 50min));
  REQUIRE(s.set_if_absent("a", "v", 45min));
  REQUIRE_FALSE(s.set_if_absent("a", "w", 5min));
  REQUIRE(has_ttl_near("a", 45min));
  // Without a ttl argument (existing callers): no expiry.
  REQUIRE_FALSE(s.get_or_set("plain", "v").loaded);
  REQUIRE(s.ttl("plain") == OptMs(0ms));
  // A TTL passed expires.
  REQUIRE(s.compare_and_swap("short", std::nullopt, "v", 100ms));
  REQUIRE(s.swap("short2", "v", 100ms).previous == std::nullopt);
  REQUIRE_FALSE(s.get_or_set("short3", "v", 100ms).loaded);
  std::this_thread::sleep_for(250ms);
  REQUIRE(s.get("short") == std::nullopt);
  REQUIRE(s.get("short2") == std::nullopt);
  REQUIRE(s.get("short3") == std::nullopt);
  // A negative ttl is refused before anything changes.
  REQUIRE_ERRC(s.compare_and_swap("c", std::string_view("c"), "z", -1ms), errc::invalid_argument);
  REQUIRE_ERRC(s.swap("c", "z", -1ms), errc::invalid_argument);
  REQUIRE_ERRC(s.get_or_set("new", "z", -1ms), errc::invalid_argument);
  REQUIRE(s.get("c") == Opt("c"));
  REQUIRE(has_ttl_near("c", 30min));
  REQUIRE(s.get("new") == std::nullopt);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ttl: expire() sets, changes and removes a TTL", "[ttl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  REQUIRE_FALSE(s.expire("absent", 10s));
  REQUIRE_FALSE(key_exists(s, "absent"));

  s.set("k", "v");
  REQUIRE(s.expire("k", 10s));
  auto t = s.ttl("k");
  REQUIRE(t.has_value());
  REQUIRE(*t > 9s);
  REQUIRE(*t <= 10s);
  REQUIRE(s.get("k") == Opt("v"));  // value untouched

  REQUIRE(s.expire("k", 100s));
  REQUIRE(*s.ttl("k") > 99s);

  REQUIRE(s.expire("k", 0ms));  // zero removes the TTL
  REQUIRE(s.ttl("k") == OptMs(0ms));

  SECTION("a removed TTL no longer expires the key") {
    s.set("short", "v", 100ms);
    REQUIRE(s.expire("short", 0ms));
    std::this_thread::sleep_for(250ms);
    REQUIRE(s.get("short") == Opt("v"));
    REQUIRE(s.ttl("short") == OptMs(0ms));
  }
  SECTION("expire() shortens a TTL to make a key expire") {
    s.set("long", "v", 100s);
    REQUIRE(s.expire("long", 80ms));
    std::this_thread::sleep_for(250ms);
    REQUIRE(s.get("long") == std::nullopt);
    REQUIRE_FALSE(s.expire("long", 10s));  // expired = absent
  }
}

TEST_CASE("ttl: set without a TTL clears an existing TTL; set with one replaces it", "[ttl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("k", "v1", 80ms);
  s.set("k", "v2");
  REQUIRE(s.ttl("k") == OptMs(0ms));
  std::this_thread::sleep_for(200ms);
  REQUIRE(s.get("k") == Opt("v2"));
  s.set("k", "v3", 80ms);
  auto t = s.ttl("k");
  REQUIRE(t.has_value());
  REQUIRE(*t > 0ms);
  REQUIRE(*t <= 80ms);
  std::this_thread::sleep_for(200ms);
  REQUIRE(s.get("k") == std::nullopt);
}

TEST_CASE("ttl: expired keys count as absent for the conditional operations", "[ttl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  for (const char* k : {"a", "b", "c", "d", "e", "f", "g"}) s.set(k, "old", 60ms);
  std::this_thread::sleep_for(200ms);
  REQUIRE(s.set_if_absent("a", "new"));
  REQUIRE(s.get("a") == Opt("new"));
  REQUIRE(s.ttl("a") == OptMs(0ms));

  auto gs = s.get_or_set("b", "new");
  REQUIRE_FALSE(gs.loaded);
  REQUIRE(gs.value == "new");

  REQUIRE(s.compare_and_swap("c", std::nullopt, "new"));
  REQUIRE(s.get("c") == Opt("new"));

  REQUIRE_FALSE(s.compare_and_swap("d", std::string_view("old"), "new"));
  REQUIRE(s.get("d") == std::nullopt);

  REQUIRE_FALSE(s.compare_and_delete("e", "old"));

  auto sw = s.swap("f", "new");
  REQUIRE_FALSE(sw.loaded);
  REQUIRE(sw.previous == std::nullopt);

  REQUIRE(s.increment_by("g", 5) == 5);  // expired "old" is absent, not a non-number
  REQUIRE(s.ttl("g") == OptMs(0ms));     // and the dead TTL is not inherited
  REQUIRE(s.size() == 5);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ttl: expired keys are absent from list, scan, count, size, random and batches",
          "[ttl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  std::set<std::string> live;
  std::vector<std::string> all;
  for (int i = 0; i < 50; ++i) {
    std::string k = "k" + std::to_string(1000 + i);
    all.push_back(k);
    if (i % 2 == 0) {
      s.set(k, "dies", 80ms);
    } else {
      s.set(k, "lives");
      live.insert(k);
    }
  }
  std::this_thread::sleep_for(250ms);

  REQUIRE(s.size() == live.size());
  REQUIRE(s.count() == live.size());
  REQUIRE(s.count("k") == live.size());
  auto l = s.list();
  REQUIRE(l.size() == live.size());
  for (const auto& e : l) {
    REQUIRE(live.count(e.key) == 1);
    REQUIRE(e.value == "lives");
  }
  auto page = s.scan({"k", 0, ""});
  REQUIRE(page.entries.size() == live.size());
  REQUIRE(page.done);
  for (int i = 0; i < 300; ++i) {
    auto r = s.random_key();
    REQUIRE(r.has_value());
    REQUIRE(live.count(*r) == 1);
  }
  auto rk = s.random_keys(1000, "", true);
  REQUIRE(std::set<std::string>(rk.begin(), rk.end()) == live);
  for (const auto& k : s.random_keys(200, "k", false)) REQUIRE(live.count(k) == 1);
  auto gm = s.get_many(all);
  for (std::size_t i = 0; i < all.size(); ++i) {
    INFO(all[i]);
    REQUIRE(gm[i].has_value() == (live.count(all[i]) == 1));
  }
  REQUIRE(s.delete_many(all) == live.size());
  REQUIRE(s.size() == 0);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ttl: random_key finds the few live keys among many expired ones", "[ttl]") {
  // Expired keys may stay in an engine's index until a write or a draw drops them; a draw that
  // meets them must go on to the live keys, however few, never answer "none".
  StoreGuard g;
  Store s = Store::open(g.options());
  std::set<std::string> live;
  for (int i = 0; i < 2000; ++i) s.set("k:d" + std::to_string(i), "dies", 60ms);
  for (int i = 0; i < 5; ++i) {
    live.insert("k:l" + std::to_string(i));
    s.set("k:l" + std::to_string(i), "lives");
  }
  std::this_thread::sleep_for(250ms);
  for (int i = 0; i < 20; ++i) {
    const auto any = s.random_key();
    REQUIRE(any.has_value());
    REQUIRE(live.count(*any) == 1);
    const auto under = s.random_key("k:");
    REQUIRE(under.has_value());
    REQUIRE(live.count(*under) == 1);
  }
  const auto all = s.random_keys(100, "k:", true);
  REQUIRE(std::set<std::string>(all.begin(), all.end()) == live);
  REQUIRE(s.count("k:") == live.size());
}

TEST_CASE("ttl: draws under a prefix whose keys all expired take no key outside it", "[ttl]") {
  // Each prefix "eN:" is followed, in key order, by a live key "eN;" (';' is ':' + 1): where a
  // walk past the prefix's end would land. Each draw runs under a prefix of its own, since a
  // draw drops the expired keys it meets.
  StoreGuard g;
  Store s = Store::open(g.options());
  for (int p = 1; p <= 6; ++p) {
    for (int i = 0; i < 20; ++i)
      s.set("e" + std::to_string(p) + ":" + std::to_string(i), "x", 60ms);
    s.set("e" + std::to_string(p) + ";", "lives");
  }
  std::this_thread::sleep_for(250ms);
  for (int round = 0; round < 2; ++round) {  // a second round meets an index without them
    CHECK(s.random_key("e1:") == std::nullopt);
    CHECK(s.random_keys(10, "e2:", false).empty());
    CHECK(s.random_keys(10, "e3:", true).empty());
    CHECK(s.pop_random("e4:") == std::nullopt);
    CHECK(s.pop_random_many("e5:", 3).empty());
    CHECK(s.claim_random("e6:", 10s) == std::nullopt);
  }
  for (int p = 1; p <= 6; ++p) CHECK(key_exists(s, "e" + std::to_string(p) + ";"));
  REQUIRE(s.size() == 6);
}

TEST_CASE("ttl: pop_random never returns an expired key", "[ttl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  for (int i = 0; i < 40; ++i) s.set("d" + std::to_string(i), "dies", 60ms);
  for (int i = 0; i < 10; ++i) s.set("l" + std::to_string(i), "lives");
  std::this_thread::sleep_for(200ms);
  std::set<std::string> popped;
  while (auto e = s.pop_random()) {
    REQUIRE(e->value == "lives");
    REQUIRE(popped.insert(e->key).second);
  }
  REQUIRE(popped.size() == 10);
  REQUIRE(s.size() == 0);
}

TEST_CASE("ttl: delete_prefix over expired keys finishes", "[ttl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  for (int i = 0; i < 20; ++i) s.set("p:" + std::to_string(i), "v", i % 2 ? 60ms : 0ms);
  std::this_thread::sleep_for(200ms);
  auto r = s.delete_prefix("p:");
  REQUIRE(r.done);
  REQUIRE(r.deleted >= 10);
  REQUIRE(s.count("p:") == 0);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ttl: expiry is seen by other processes", "[ttl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  int st = run_in_child([&] {
    Store c = Store::open(g.options());
    c.set("k", "v", 100ms);
    c.set("p", "v");
    return 0;
  });
  REQUIRE(st == 0);
  std::this_thread::sleep_for(300ms);
  REQUIRE(s.get("k") == std::nullopt);
  REQUIRE(s.get("p") == Opt("v"));
}
