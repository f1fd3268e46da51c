// decimal_word.hpp: a non-negative decimal number of 1..8 ASCII digits held in the low bytes of a
// little-endian 64-bit word (first digit in the lowest byte), parsed and formatted inside
// registers, eight digits at a time (SWAR). The increment fast path (Shard::IncrementInWord)
// uses it to rewrite a counter with one 8-byte store and no round trip through memory.
// No shared state: pure functions.
#pragma once

#include <cstdint>

namespace shmkv::detail {

inline constexpr std::uint64_t kPow10[9] = {1,      10,      100,      1000,     10000,
                                            100000, 1000000, 10000000, 100000000};

// The value of the `digits` (1..8) ASCII digits in the low bytes of w, or -1 if one of them is
// not '0'..'9'. Bytes above them are ignored.
inline std::int64_t ParseDigitsWord(std::uint64_t w, unsigned digits) {
  // The same number written with 8 digits: ours in the top bytes, '0's below them.
  const std::uint64_t v =
      digits == 8 ? w : (w << (8 * (8 - digits))) | (0x3030303030303030ull >> (8 * digits));
  // Every byte 0x30..0x39: high nibble 3, and adding 6 keeps it 3.
  if (((v & 0xF0F0F0F0F0F0F0F0ull) |
       (((v + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4)) != 0x3333333333333333ull)
    return -1;
  std::uint64_t x = v - 0x3030303030303030ull;
  x = x * 10 + (x >> 8);  // byte pairs -> 2-digit numbers in the even bytes
  x = (((x & 0x000000FF000000FFull) * 0x000F424000000064ull) +
       (((x >> 16) & 0x000000FF000000FFull) * 0x0000271000000001ull)) >>
      32;
  return static_cast<std::int64_t>(static_cast<std::uint32_t>(x));
}

// `value` (< 10^digits) as exactly `digits` (1..8) ASCII digits in the low bytes of the result,
// zero-padded on the left; the bytes above are zero.
inline std::uint64_t FormatDigitsWord(std::uint32_t value, unsigned digits) {
  // Two 4-digit lanes of 32 bits, then four 2-digit lanes of 16, then eight 1-digit bytes; the
  // most significant part always goes to the lower lane. x * 10486 >> 20 is x / 100 for
  // x < 43700, x * 103 >> 10 is x / 10 for x < 179, and no lane overflows into the next.
  std::uint64_t x = (value / 10000) | (std::uint64_t(value % 10000) << 32);
  const std::uint64_t hundreds = ((x * 10486) >> 20) & 0x0000007F0000007Full;
  x = hundreds | ((x - hundreds * 100) << 16);
  const std::uint64_t tens = ((x * 103) >> 10) & 0x000F000F000F000Full;
  x = tens | ((x - tens * 10) << 8);
  return (x + 0x3030303030303030ull) >> (8 * (8 - digits));
}

}  // namespace shmkv::detail
