// What the shared-memory engine adds to the single-key operations: its stats counters and the
// per-shard key counts of info(). The operations themselves, on every engine, are in
// tests/conformance/ops.cpp.
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"

using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using Opt = std::optional<std::string>;

TEST_CASE("ops: stats count operations", "[ops][stats]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(small_options(g.name()));
  auto before = s.stats();
  REQUIRE(before.gets == 0);
  REQUIRE(before.sets == 0);
  s.set("a", "1");
  s.set("b", "2");
  s.set("a", "3");
  (void)s.get("a");
  (void)s.get("b");
  (void)s.get("c");
  s.del("a");
  auto st = s.stats();
  CHECK(st.sets == 3);
  CHECK(st.gets == 3);
  CHECK(st.hits == 2);
  CHECK(st.misses == 1);
  CHECK(st.deletes == 1);
  CHECK(st.recoveries == 0);
  REQUIRE(s.compare_and_swap("b", std::string_view("2"), "4"));
  REQUIRE_FALSE(s.compare_and_swap("b", std::string_view("2"), "5"));
  auto st2 = s.stats();
  CHECK(st2.cas_success == st.cas_success + 1);
  CHECK(st2.cas_failure == st.cas_failure + 1);
}

TEST_CASE("ops: many keys across shards", "[ops]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(small_options(g.name(), 16ull << 20, 16));
  constexpr int kN = 5000;
  for (int i = 0; i < kN; ++i) {
    std::string k = "key:" + std::to_string(i);
    s.set(k, pattern_value(k, i % 300));
  }
  REQUIRE(s.size() == kN);
  auto info = s.info();
  REQUIRE(info.live_keys == kN);
  std::uint64_t sum = 0;
  for (const auto& sh : info.shard) sum += sh.live_keys;
  REQUIRE(sum == kN);
  for (int i = 0; i < kN; ++i) {
    std::string k = "key:" + std::to_string(i);
    if (s.get(k) != Opt(pattern_value(k, i % 300))) FAIL("wrong value for " << k);
  }
  for (int i = 0; i < kN; i += 2) REQUIRE(s.del("key:" + std::to_string(i)));
  REQUIRE(s.size() == kN / 2);
  for (int i = 0; i < kN; ++i) {
    REQUIRE(key_exists(s, "key:" + std::to_string(i)) == (i % 2 == 1));
  }
  REQUIRE(s.check_invariants().empty());
}
