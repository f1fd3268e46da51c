// Conformance, run on every engine: random_key, random_keys, pop_random, and the uniformity of
// the draws (chi-square).
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "conformance/engine_fixture.hpp"
#include "test_util.hpp"

using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using conformance::StoreGuard;

namespace {

// Upper critical value of the chi-square distribution with df degrees of freedom at the upper
// tail probability whose standard normal quantile is z (Wilson-Hilferty approximation).
double chi2_critical(double df, double z) {
  double a = 2.0 / (9.0 * df);
  double t = 1.0 - a + z * std::sqrt(a);
  return df * t * t * t;
}
constexpr double kZ1e6 = 4.7534;  // P(Z > z) = 1e-6: a false alarm in CI about once per 250k runs

double chi2_stat(const std::map<std::string, int>& counts, std::size_t categories,
                 double expected) {
  double x2 = 0;
  std::size_t seen = 0;
  for (const auto& [k, c] : counts) {
    x2 += (c - expected) * (c - expected) / expected;
    ++seen;
  }
  x2 += static_cast<double>(categories - seen) * expected;  // categories never drawn
  return x2;
}

}  // namespace

TEST_CASE("random: empty store and unmatched prefix give nothing", "[random]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  REQUIRE(s.random_key() == std::nullopt);
  REQUIRE(s.random_keys(5).empty());
  REQUIRE(s.random_keys(5, "", true).empty());
  REQUIRE(s.pop_random() == std::nullopt);
  s.set("a:1", "v");
  REQUIRE(s.random_key("b:") == std::nullopt);
  REQUIRE(s.random_keys(3, "b:").empty());
  REQUIRE(s.pop_random("b:") == std::nullopt);
  REQUIRE(s.random_key() == std::optional<std::string>("a:1"));
  REQUIRE(s.size() == 1);
}

TEST_CASE("random: random_keys refuses a count of 0 or above the cap, naming it", "[random]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("a:1", "v");
  for (std::size_t bad : {std::size_t{0}, Store::kMaxRandomKeys + 1, std::size_t{2'000'000}}) {
    for (bool unique : {false, true}) {
      Outcome o = outcome_of([&] { (void)s.random_keys(bad, "", unique); });
      REQUIRE(o == errc::invalid_argument);
      REQUIRE(o.what.find("count is " + std::to_string(bad)) != std::string::npos);
      REQUIRE(o.what.find("1..1000000") != std::string::npos);
    }
  }
  REQUIRE(s.random_keys(1) == std::vector<std::string>{"a:1"});
  REQUIRE(s.random_keys(Store::kMaxRandomKeys, "", true) == std::vector<std::string>{"a:1"});
  REQUIRE(s.size() == 1);
}

TEST_CASE("random: random_key honours the prefix", "[random]") {
  StoreGuard g(conformance::store_options(8));
  Store s = Store::open(g.options());
  for (int i = 0; i < 50; ++i) s.set("a:" + std::to_string(i), "v");
  for (int i = 0; i < 3; ++i) s.set("b:" + std::to_string(i), "v");
  std::set<std::string> seen_b;
  for (int i = 0; i < 200; ++i) {
    auto k = s.random_key("b:");
    REQUIRE(k.has_value());
    REQUIRE(k->rfind("b:", 0) == 0);
    seen_b.insert(*k);
    auto a = s.random_key("a:");
    REQUIRE(a.has_value());
    REQUIRE(a->rfind("a:", 0) == 0);
  }
  REQUIRE(seen_b.size() == 3);
}

TEST_CASE("random: random_keys with and without unique", "[random]") {
  StoreGuard g(conformance::store_options(8));
  Store s = Store::open(g.options());
  std::set<std::string> a_keys;
  for (int i = 0; i < 30; ++i) {
    s.set("a:" + std::to_string(i), "v");
    a_keys.insert("a:" + std::to_string(i));
  }
  for (int i = 0; i < 30; ++i) s.set("b:" + std::to_string(i), "v");

  SECTION("unique: no duplicates, fewer than available") {
    auto r = s.random_keys(20, "a:", true);
    REQUIRE(r.size() == 20);
    std::set<std::string> u(r.begin(), r.end());
    REQUIRE(u.size() == 20);
    for (const auto& k : r) REQUIRE(a_keys.count(k) == 1);
  }
  SECTION("unique: capped at the number of matching keys") {
    auto r = s.random_keys(100, "a:", true);
    REQUIRE(r.size() == 30);
    REQUIRE(std::set<std::string>(r.begin(), r.end()) == a_keys);
    auto all = s.random_keys(1000, "", true);
    REQUIRE(all.size() == 60);
    REQUIRE(std::set<std::string>(all.begin(), all.end()).size() == 60);
  }
  SECTION("unique: exactly the number of matching keys") {
    auto r = s.random_keys(30, "a:", true);
    REQUIRE(std::set<std::string>(r.begin(), r.end()) == a_keys);
  }
  SECTION("not unique: exactly count keys, repeats allowed") {
    auto r = s.random_keys(100, "a:", false);
    REQUIRE(r.size() == 100);
    for (const auto& k : r) REQUIRE(a_keys.count(k) == 1);
    std::set<std::string> u(r.begin(), r.end());
    REQUIRE(u.size() > 10);  // 100 draws from 30 keys cover most of them
  }
  SECTION("unique subsets vary between calls") {
    std::set<std::set<std::string>> subsets;
    for (int i = 0; i < 10; ++i) {
      auto r = s.random_keys(5, "", true);
      subsets.insert(std::set<std::string>(r.begin(), r.end()));
    }
    REQUIRE(subsets.size() > 1);
  }
}

TEST_CASE("random: random_key is uniform over keys (chi-square)", "[random][stats]") {
  StoreGuard g(conformance::store_options(32));
  // Many shards for few keys: shards hold very different numbers of keys, so a draw that
  // picks a shard first and then a key inside it would fail this test.
  Store s = Store::open(g.options());
  constexpr int kKeys = 200, kPerKey = 200;
  for (int i = 0; i < kKeys; ++i) s.set("key" + std::to_string(i), "v");
  std::map<std::string, int> counts;
  for (int i = 0; i < kKeys * kPerKey; ++i) {
    auto k = s.random_key();
    REQUIRE(k.has_value());
    ++counts[*k];
  }
  REQUIRE(counts.size() <= kKeys);
  double x2 = chi2_stat(counts, kKeys, kPerKey);
  double crit = chi2_critical(kKeys - 1, kZ1e6);
  INFO("chi-square " << x2 << ", critical value at p=1e-6 " << crit);
  REQUIRE(x2 < crit);
}

TEST_CASE("random: random_key with a prefix is uniform over the matching keys (chi-square)",
          "[random][stats]") {
  StoreGuard g(conformance::store_options(16));
  Store s = Store::open(g.options());
  constexpr int kKeys = 50, kPerKey = 200;
  for (int i = 0; i < kKeys; ++i) s.set("m:" + std::to_string(i), "v");
  for (int i = 0; i < 500; ++i) s.set("other:" + std::to_string(i), "v");
  std::map<std::string, int> counts;
  for (int i = 0; i < kKeys * kPerKey; ++i) {
    auto k = s.random_key("m:");
    REQUIRE(k.has_value());
    REQUIRE(k->rfind("m:", 0) == 0);
    ++counts[*k];
  }
  double x2 = chi2_stat(counts, kKeys, kPerKey);
  double crit = chi2_critical(kKeys - 1, kZ1e6);
  INFO("chi-square " << x2 << ", critical value at p=1e-6 " << crit);
  REQUIRE(x2 < crit);
}

TEST_CASE("random: random_keys (not unique) draws are uniform (chi-square)", "[random][stats]") {
  StoreGuard g(conformance::store_options(32));
  Store s = Store::open(g.options());
  constexpr int kKeys = 100, kPerKey = 200;
  for (int i = 0; i < kKeys; ++i) s.set("key" + std::to_string(i), "v");
  std::map<std::string, int> counts;
  for (int round = 0; round < kPerKey; ++round) {
    for (const auto& k : s.random_keys(kKeys, "", false)) ++counts[k];
  }
  double x2 = chi2_stat(counts, kKeys, kPerKey);
  double crit = chi2_critical(kKeys - 1, kZ1e6);
  INFO("chi-square " << x2 << ", critical value at p=1e-6 " << crit);
  REQUIRE(x2 < crit);
}

TEST_CASE("random: pop_random removes what it returns", "[random]") {
  StoreGuard g(conformance::store_options(8));
  Store s = Store::open(g.options());
  std::map<std::string, std::string> model;
  for (int i = 0; i < 200; ++i) {
    std::string k = (i % 4 ? "q:" : "r:") + std::to_string(i);
    model[k] = pattern_value(k, i % 50);
    s.set(k, model[k]);
  }
  SECTION("all keys") {
    std::set<std::string> popped;
    while (auto e = s.pop_random()) {
      REQUIRE(model.count(e->key) == 1);
      REQUIRE(e->value == model[e->key]);
      REQUIRE(popped.insert(e->key).second);
      REQUIRE_FALSE(key_exists(s, e->key));
    }
    REQUIRE(popped.size() == 200);
    REQUIRE(s.size() == 0);
  }
  SECTION("with a prefix") {
    std::size_t n = 0;
    while (auto e = s.pop_random("r:")) {
      REQUIRE(e->key.rfind("r:", 0) == 0);
      REQUIRE(e->value == model[e->key]);
      ++n;
    }
    REQUIRE(n == 50);
    REQUIRE(s.size() == 150);
    REQUIRE(s.count("q:") == 150);
  }
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("random: pop_random's first pick is uniform (chi-square)", "[random][stats]") {
  StoreGuard g(conformance::store_options(16));
  Store s = Store::open(g.options());
  constexpr int kKeys = 20, kRounds = 1000;
  std::map<std::string, int> counts;
  for (int r = 0; r < kRounds; ++r) {
    for (int i = 0; i < kKeys; ++i) s.set("k" + std::to_string(i), "v");
    auto e = s.pop_random();
    REQUIRE(e.has_value());
    ++counts[e->key];
  }
  double x2 = chi2_stat(counts, kKeys, static_cast<double>(kRounds) / kKeys);
  double crit = chi2_critical(kKeys - 1, kZ1e6);
  INFO("chi-square " << x2 << ", critical value at p=1e-6 " << crit);
  REQUIRE(x2 < crit);
}
