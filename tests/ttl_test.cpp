// Time to live in the shared-memory segment: the arena space and the hash-table slots of expired
// keys are reclaimed. Expiry itself, on every engine, is in tests/conformance/ttl.cpp.
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using namespace std::chrono;
using Opt = std::optional<std::string>;
using OptMs = std::optional<milliseconds>;

TEST_CASE("ttl: the arena space of expired keys is reclaimed", "[ttl][capacity]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(small_options(g.name(), 4ull << 20, 4));
  const std::string value(1000, 'x');
  // Fill with expiring keys until the store is full.
  constexpr auto kTtl = 1000ms;
  auto t0 = steady_clock::now();
  std::size_t n = 0;
  for (;; ++n) {
    auto o = outcome_of([&] { s.set("ttl:" + std::to_string(n), value, kTtl); });
    if (o == errc::store_full) break;
    REQUIRE(o.kind == Outcome::returned);
    REQUIRE(n < 100000);
  }
  INFO("filled " << n << " keys");
  REQUIRE(n > 1000);
  if (steady_clock::now() - t0 > kTtl * 8 / 10) {
    WARN("filling took longer than the TTL; keys may have expired meanwhile, skipping");
    return;
  }
  std::this_thread::sleep_for(kTtl + 200ms);
  REQUIRE(s.size() == 0);
  // Permanent data fills the logically empty store again to about the same count (fills stop
  // at the first refusal, so the counts vary by the slack in partly used slabs).
  std::size_t n2 = 0;
  for (;; ++n2) {
    auto o = outcome_of([&] { s.set("perm:" + std::to_string(n2), value); });
    if (o == errc::store_full) break;
    INFO("permanent key " << n2);
    REQUIRE(o.kind == Outcome::returned);
    REQUIRE(n2 < 100000);
  }
  INFO("refilled " << n2 << " permanent keys");
  REQUIRE(n2 >= n * 98 / 100);
  REQUIRE(s.size() == n2);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ttl: hash-table slots of expired keys are reclaimed", "[ttl][capacity]") {
  SegmentGuard g(unique_name());
  auto o = small_options(g.name(), 4ull << 20, 1);
  o.max_keys = 256;
  Store s = Store::open(o);
  auto t0 = steady_clock::now();
  std::size_t n = 0;
  for (;; ++n) {
    auto r = outcome_of([&] { s.set("ttl:" + std::to_string(n), "v", 300ms); });
    if (r == errc::store_full) break;
    REQUIRE(r.kind == Outcome::returned);
    REQUIRE(n <= s.info().max_keys);
  }
  INFO("table took " << n << " keys");
  REQUIRE(n > 100);
  if (steady_clock::now() - t0 > 250ms) {
    WARN("filling took longer than the TTL; skipping");
    return;
  }
  std::this_thread::sleep_for(500ms);
  for (std::size_t i = 0; i < n; ++i) {
    auto r = outcome_of([&] { s.set("perm:" + std::to_string(i), "v"); });
    INFO("permanent key " << i);
    REQUIRE(r.kind == Outcome::returned);
  }
  REQUIRE(s.size() == n);
  REQUIRE(s.check_invariants().empty());
}
