// Conformance, run on every engine: counters (increment_by) and the atomic helpers:
// get_or_set, swap, compare_and_swap(_detailed), compare_and_delete, set_if_absent.
// (atomic_test.cpp keeps the shared-memory engine's decimal words and stats.)
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "conformance/engine_fixture.hpp"
#include "test_util.hpp"

using conformance::StoreGuard;
using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using namespace std::string_view_literals;
using Opt = std::optional<std::string>;

namespace {
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
}  // namespace

TEST_CASE("increment_by: absent counts as 0; returns and stores the new value in decimal",
          "[counter]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  REQUIRE(s.increment_by("c", 1) == 1);
  REQUIRE(s.get("c") == Opt("1"));
  REQUIRE(s.increment_by("c", 41) == 42);
  REQUIRE(s.get("c") == Opt("42"));
  REQUIRE(s.increment_by("c", -50) == -8);
  REQUIRE(s.get("c") == Opt("-8"));
  REQUIRE(s.increment_by("c", 8) == 0);
  REQUIRE(s.get("c") == Opt("0"));
  REQUIRE(s.increment_by("c", 0) == 0);
  REQUIRE(s.increment_by("d", 0) == 0);
  REQUIRE(s.get("d") == Opt("0"));
  REQUIRE(s.increment_by("neg", -7) == -7);
  REQUIRE(s.get("neg") == Opt("-7"));
  REQUIRE(s.increment_by("big", 1234567890123456789) == 1234567890123456789);
  REQUIRE(s.get("big") == Opt("1234567890123456789"));
  for (int i = 0; i < 1000; ++i) s.increment_by("loop", 3);
  REQUIRE(s.get("loop") == Opt("3000"));
  REQUIRE(s.size() == 5);
}

TEST_CASE("increment_by: every value alignment and digit count, across digit boundaries",
          "[counter]") {
  // Keys of 1..16 bytes put the value at every offset of an 8-byte word; the start values and
  // deltas cross the digit-count boundaries where the one-store path gives way to the general
  // one. Each result must be the arithmetic one, stored in plain decimal, the key intact.
  StoreGuard g;
  Store s = Store::open(g.options());
  const std::int64_t starts[] = {0, 5, 9, 10, 99, 1234567, 9999999, 99999999, 100000000};
  const std::int64_t deltas[] = {1, -1, 7, -10, 1000, -100000000};
  for (std::size_t key_len = 1; key_len <= 16; ++key_len) {
    const std::string key(key_len, 'k');
    for (std::int64_t start : starts) {
      for (std::int64_t delta : deltas) {
        s.set(key, std::to_string(start));
        INFO("key of " << key_len << " bytes, " << start << " + " << delta);
        REQUIRE(s.increment_by(key, delta) == start + delta);
        REQUIRE(s.get(key) == Opt(std::to_string(start + delta)));
        REQUIRE(s.increment_by(key, 1) == start + delta + 1);
        REQUIRE(s.get(key) == Opt(std::to_string(start + delta + 1)));
      }
    }
    auto entries = s.list();
    REQUIRE(entries.size() == 1);
    REQUIRE(entries[0].key == key);
    s.del(key);
  }
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("increment_by: existing decimal values set by set()", "[counter]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("a", "100");
  REQUIRE(s.increment_by("a", 5) == 105);
  s.set("b", "-100");
  REQUIRE(s.increment_by("b", 1) == -99);
  REQUIRE(s.get("b") == Opt("-99"));
  s.set("c", "0");
  REQUIRE(s.increment_by("c", -1) == -1);
  s.set("m", "9223372036854775807");
  REQUIRE(s.increment_by("m", 0) == kMax);
  REQUIRE(s.increment_by("m", -1) == kMax - 1);
  REQUIRE(s.get("m") == Opt("9223372036854775806"));
  s.set("n", "-9223372036854775808");
  REQUIRE(s.increment_by("n", 0) == kMin);
  REQUIRE(s.increment_by("n", 1) == kMin + 1);
  REQUIRE(s.get("n") == Opt("-9223372036854775807"));
}

TEST_CASE("increment_by: to and from the int64 extremes", "[counter]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  REQUIRE(s.increment_by("x", kMax) == kMax);
  REQUIRE(s.get("x") == Opt("9223372036854775807"));
  REQUIRE(s.increment_by("y", kMin) == kMin);
  REQUIRE(s.get("y") == Opt("-9223372036854775808"));
  REQUIRE(s.increment_by("y", kMax) == -1);
  REQUIRE(s.increment_by("y", kMax) == kMax - 1);
}

TEST_CASE("increment_by: overflow raises overflow and changes nothing", "[counter]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("max", "9223372036854775807");
  REQUIRE_ERRC(s.increment_by("max", 1), errc::overflow);
  REQUIRE(s.get("max") == Opt("9223372036854775807"));
  REQUIRE_ERRC(s.increment_by("max", kMax), errc::overflow);
  REQUIRE(s.get("max") == Opt("9223372036854775807"));

  s.set("min", "-9223372036854775808");
  REQUIRE_ERRC(s.increment_by("min", -1), errc::overflow);
  REQUIRE_ERRC(s.increment_by("min", kMin), errc::overflow);
  REQUIRE(s.get("min") == Opt("-9223372036854775808"));

  s.set("mid", "5");
  REQUIRE_ERRC(s.increment_by("mid", kMax), errc::overflow);
  REQUIRE(s.get("mid") == Opt("5"));
  s.set("midn", "-5");
  REQUIRE_ERRC(s.increment_by("midn", kMin), errc::overflow);
  REQUIRE(s.get("midn") == Opt("-5"));
  REQUIRE(s.size() == 4);
}

TEST_CASE("increment_by: non-numbers raise not_a_number and change nothing", "[counter]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  using namespace std::string_literals;
  // The stored format is what increment_by writes: an optional '-' and decimal digits, within
  // the int64 range, with nothing around them.
  std::vector<std::string> bad = {"abc",
                                  "",
                                  " 5",
                                  "5 ",
                                  "+5",
                                  "5a",
                                  "a5",
                                  "1.5",
                                  "1e3",
                                  "0x10",
                                  "--5",
                                  "-",
                                  "- 5",
                                  "5\n",
                                  "5\0"s,
                                  "\0"s
                                  "5",
                                  "9223372036854775808",
                                  "-9223372036854775809",
                                  "99999999999999999999999999",
                                  std::string(100, '1'),
                                  "\xd9\xa5"};  // ARABIC-INDIC DIGIT FIVE
  for (const auto& v : bad) {
    INFO("stored value \"" << escape(v) << "\"");
    s.set("k", v);
    auto o = outcome_of([&] { s.increment_by("k", 1); });
    CHECK(o == errc::not_a_number);
    CHECK(s.get("k") == Opt(v));
  }
  REQUIRE(s.size() == 1);
}

TEST_CASE("increment_by: leading zeros and -0 are numbers, as on every engine", "[counter]") {
  // Never written by increment_by, and refused by Redis's INCRBY: every engine reads them as
  // the numbers they spell and stores the result in canonical form.
  StoreGuard g;
  Store s = Store::open(g.options());
  struct Case {
    std::string stored;
    std::int64_t value;
  };
  for (const auto& c : {Case{"-0", 0}, Case{"007", 7}, Case{"-007", -7}, Case{"00", 0},
                        Case{"012", 12}, Case{"-09223372036854775807", -9223372036854775807}}) {
    INFO("stored value \"" << c.stored << "\"");
    s.set("k", c.stored);
    REQUIRE(s.increment_by("k", 1) == c.value + 1);
    REQUIRE(s.get("k") == Opt(std::to_string(c.value + 1)));
  }
  s.set("k", "-0");
  REQUIRE(s.increment_by("k", 0) == 0);
  REQUIRE(s.get("k") == Opt("0"));
}

TEST_CASE("increment_by keeps a TTL", "[counter][ttl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("c", "10", std::chrono::seconds(100));
  REQUIRE(s.increment_by("c", 1) == 11);
  auto t = s.ttl("c");
  REQUIRE(t.has_value());
  REQUIRE(*t > std::chrono::seconds(90));
  REQUIRE(*t <= std::chrono::seconds(100));
}

TEST_CASE("get_or_set", "[atomic]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  auto r1 = s.get_or_set("k", "first");
  REQUIRE_FALSE(r1.loaded);
  REQUIRE(r1.value == "first");
  REQUIRE(s.get("k") == Opt("first"));
  auto r2 = s.get_or_set("k", "second");
  REQUIRE(r2.loaded);
  REQUIRE(r2.value == "first");
  REQUIRE(s.get("k") == Opt("first"));
  s.set("e", "");
  auto r3 = s.get_or_set("e", "x");
  REQUIRE(r3.loaded);
  REQUIRE(r3.value == "");
  auto r4 = s.get_or_set("big", std::string(5000, 'b'));
  REQUIRE_FALSE(r4.loaded);
  REQUIRE(r4.value == std::string(5000, 'b'));
  REQUIRE(s.size() == 3);
}

TEST_CASE("swap", "[atomic]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  auto r1 = s.swap("k", "v1");
  REQUIRE_FALSE(r1.loaded);
  REQUIRE(r1.previous == std::nullopt);
  REQUIRE(s.get("k") == Opt("v1"));
  auto r2 = s.swap("k", "v2-longer-value");
  REQUIRE(r2.loaded);
  REQUIRE(r2.previous == Opt("v1"));
  REQUIRE(s.get("k") == Opt("v2-longer-value"));
  auto r3 = s.swap("k", "");
  REQUIRE(r3.loaded);
  REQUIRE(r3.previous == Opt("v2-longer-value"));
  REQUIRE(s.get("k") == Opt(""));
  auto r4 = s.swap("k", "x");
  REQUIRE(r4.loaded);
  REQUIRE(r4.previous == Opt(""));
  REQUIRE(s.size() == 1);
}

TEST_CASE("compare_and_swap_detailed: the current value on a mismatch, read in the same lock",
          "[atomic]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("k", "old");
  shmkv::CasOutcome lost = s.compare_and_swap_detailed("k", "other"sv, "new");
  CHECK_FALSE(lost.swapped);
  CHECK(lost.current == Opt("old"));
  CHECK(s.get("k") == Opt("old"));
  lost = s.compare_and_swap_detailed("k", std::nullopt, "new");  // "only if absent"
  CHECK_FALSE(lost.swapped);
  CHECK(lost.current == Opt("old"));
  lost = s.compare_and_swap_detailed("missing", "x"sv, "new");
  CHECK_FALSE(lost.swapped);
  CHECK(lost.current == std::nullopt);  // absent
  CHECK_FALSE(s.exists("missing"));

  shmkv::CasOutcome won = s.compare_and_swap_detailed("k", "old"sv, "new", 1h);
  CHECK(won.swapped);
  CHECK(won.current == Opt("new"));
  CHECK(s.ttl("k").value() > 59min);  // the TTL rule of compare_and_swap
  won = s.compare_and_swap_detailed("fresh", std::nullopt, "");
  CHECK(won.swapped);
  CHECK(won.current == Opt(""));
  CHECK_ERRC(s.compare_and_swap_detailed("", "a"sv, "b"), errc::invalid_argument);
  CHECK_ERRC(s.compare_and_swap_detailed("k", "new"sv, "b", -1ms), errc::invalid_argument);
  CHECK(s.get("k") == Opt("new"));
}

TEST_CASE("compare_and_swap_detailed: retry loops that never re-read lose no update", "[atomic]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  constexpr int kThreads = 4, kIncrements = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        std::optional<std::string> seen;  // start from "absent"; each miss tells the value
        for (;;) {
          const std::string next = std::to_string(seen ? std::stoi(*seen) + 1 : 1);
          shmkv::CasOutcome r = s.compare_and_swap_detailed(
              "counter", seen ? std::optional<std::string_view>(*seen) : std::nullopt, next);
          if (r.swapped) break;
          seen = std::move(r.current);
        }
      }
    });
  for (std::thread& t : threads) t.join();
  CHECK(s.get("counter") == Opt(std::to_string(kThreads * kIncrements)));
}

TEST_CASE("compare_and_swap", "[atomic]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  SECTION("expected value, present and equal: swaps") {
    s.set("k", "old");
    REQUIRE(s.compare_and_swap("k", "old"sv, "new"));
    REQUIRE(s.get("k") == Opt("new"));
  }
  SECTION("expected value, present and different: no change") {
    s.set("k", "old");
    REQUIRE_FALSE(s.compare_and_swap("k", "other"sv, "new"));
    REQUIRE_FALSE(s.compare_and_swap("k", "ol"sv, "new"));
    REQUIRE_FALSE(s.compare_and_swap("k", "old!"sv, "new"));
    REQUIRE(s.get("k") == Opt("old"));
  }
  SECTION("expected value, absent: no change, stays absent") {
    REQUIRE_FALSE(s.compare_and_swap("k", "old"sv, "new"));
    REQUIRE_FALSE(s.compare_and_swap("k", ""sv, "new"));  // "" is a value, not absence
    REQUIRE_FALSE(key_exists(s, "k"));
  }
  SECTION("expected empty string matches an empty value") {
    s.set("k", "");
    REQUIRE(s.compare_and_swap("k", ""sv, "filled"));
    REQUIRE(s.get("k") == Opt("filled"));
  }
  SECTION("expected nullopt, absent: creates") {
    REQUIRE(s.compare_and_swap("k", std::nullopt, "created"));
    REQUIRE(s.get("k") == Opt("created"));
  }
  SECTION("expected nullopt, present: no change") {
    s.set("k", "there");
    REQUIRE_FALSE(s.compare_and_swap("k", std::nullopt, "created"));
    REQUIRE(s.get("k") == Opt("there"));
    s.set("k", "");
    REQUIRE_FALSE(s.compare_and_swap("k", std::nullopt, "created"));
    REQUIRE(s.get("k") == Opt(""));
  }
  SECTION("binary expected values compare all bytes") {
    using namespace std::string_literals;
    s.set("k", "a\0b"s);
    REQUIRE_FALSE(s.compare_and_swap("k", "a\0c"sv, "x"));
    REQUIRE_FALSE(s.compare_and_swap("k", "a"sv, "x"));
    REQUIRE(s.compare_and_swap("k", "a\0b"sv, "x"));
    REQUIRE(s.get("k") == Opt("x"));
  }
  SECTION("chain of swaps") {
    s.set("k", "0");
    for (int i = 0; i < 100; ++i) {
      std::string cur = std::to_string(i), next = std::to_string(i + 1);
      REQUIRE(s.compare_and_swap("k", std::string_view(cur), next));
      REQUIRE_FALSE(s.compare_and_swap("k", std::string_view(cur), "bad"));
    }
    REQUIRE(s.get("k") == Opt("100"));
  }
}

TEST_CASE("compare_and_delete", "[atomic]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  REQUIRE_FALSE(s.compare_and_delete("k", "v"));
  REQUIRE_FALSE(s.compare_and_delete("k", ""));
  s.set("k", "v");
  REQUIRE_FALSE(s.compare_and_delete("k", "w"));
  REQUIRE_FALSE(s.compare_and_delete("k", ""));
  REQUIRE(s.get("k") == Opt("v"));
  REQUIRE(s.compare_and_delete("k", "v"));
  REQUIRE_FALSE(key_exists(s, "k"));
  REQUIRE_FALSE(s.compare_and_delete("k", "v"));
  s.set("e", "");
  REQUIRE(s.compare_and_delete("e", ""));
  REQUIRE(s.size() == 0);
}

TEST_CASE("set_if_absent", "[atomic]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  REQUIRE(s.set_if_absent("k", "first"));
  REQUIRE(s.get("k") == Opt("first"));
  REQUIRE_FALSE(s.set_if_absent("k", "second"));
  REQUIRE(s.get("k") == Opt("first"));
  REQUIRE(s.ttl("k") == std::optional<std::chrono::milliseconds>(std::chrono::milliseconds(0)));
  REQUIRE(s.set_if_absent("t", "with ttl", std::chrono::seconds(100)));
  auto t = s.ttl("t");
  REQUIRE(t.has_value());
  REQUIRE(*t > std::chrono::seconds(90));
  // A losing set_if_absent does not touch the existing TTL.
  REQUIRE_FALSE(s.set_if_absent("t", "x", std::chrono::seconds(5)));
  REQUIRE(*s.ttl("t") > std::chrono::seconds(90));
  REQUIRE_FALSE(s.set_if_absent("k", "x", std::chrono::seconds(5)));
  REQUIRE(s.ttl("k") == std::optional<std::chrono::milliseconds>(std::chrono::milliseconds(0)));
  s.del("k");
  REQUIRE(s.set_if_absent("k", "again"));
  REQUIRE(s.get("k") == Opt("again"));
}
