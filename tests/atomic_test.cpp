// What only the shared-memory engine has of counters and the atomic helpers: its decimal words
// (the in-place counter path) and its stats. Their behaviour on every engine is in
// tests/conformance/atomic.cpp.
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "shm/decimal_word.hpp"
#include "test_util.hpp"

using shmkv::Store;
using namespace testutil;
using namespace std::string_view_literals;

TEST_CASE("decimal words: 1..8 digits parse and format inside a 64-bit word", "[counter]") {
  using shmkv::detail::FormatDigitsWord;
  using shmkv::detail::kPow10;
  using shmkv::detail::ParseDigitsWord;
  std::mt19937_64 rng(7);
  for (unsigned digits = 1; digits <= 8; ++digits) {
    for (int i = 0; i < 20000; ++i) {
      const auto v = static_cast<std::uint32_t>(i < 10 ? i : rng() % kPow10[digits]);
      if (v >= kPow10[digits]) continue;
      std::string text = std::to_string(v);
      text.insert(0, digits - text.size(), '0');  // zero-padded to `digits`
      std::uint64_t word = rng();                 // unrelated bytes above the digits
      std::memcpy(&word, text.data(), digits);
      INFO(digits << " digits: '" << text << "'");
      REQUIRE(ParseDigitsWord(word, digits) == v);
      std::uint64_t expected = 0;
      std::memcpy(&expected, text.data(), digits);
      REQUIRE(FormatDigitsWord(v, digits) == expected);
      // Any byte outside '0'..'9' among the digits makes it not a number.
      const unsigned pos = static_cast<unsigned>(rng() % digits);
      const auto bad = static_cast<unsigned char>(rng());
      if (bad >= '0' && bad <= '9') continue;
      std::memcpy(reinterpret_cast<char*>(&word) + pos, &bad, 1);
      REQUIRE(ParseDigitsWord(word, digits) == -1);
    }
  }
}

TEST_CASE("compare_and_swap_detailed counts its successes and failures in stats", "[atomic]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(small_options(g.name()));
  s.set("k", "old");
  CHECK_FALSE(s.compare_and_swap_detailed("k", "other"sv, "new").swapped);
  CHECK_FALSE(s.compare_and_swap_detailed("k", std::nullopt, "new").swapped);
  CHECK_FALSE(s.compare_and_swap_detailed("missing", "x"sv, "new").swapped);
  CHECK(s.compare_and_swap_detailed("k", "old"sv, "new").swapped);
  CHECK(s.compare_and_swap_detailed("fresh", std::nullopt, "").swapped);
  CHECK(s.stats().cas_failure == 3);
  CHECK(s.stats().cas_success == 2);
}
