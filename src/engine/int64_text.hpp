// int64_text.hpp: the text form of counters (internal), shared by every engine, so that
// increment_by accepts and refuses the same values everywhere. No state: pure functions.
//
// A counter is an ASCII decimal int64: an optional '-' then digits. Leading zeros and "-0" are
// accepted (the shared-memory engine always has); Redis's INCRBY refuses them, so the Redis
// engine parses such values with this function instead (redis/redis_engine.cpp).
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace shmkv::detail {

inline bool ParseInt64(std::string_view s, std::int64_t* out) {
  if (s.empty()) return false;
  // Counters are short: up to 18 digits cannot overflow, so parse them without from_chars'
  // per-digit overflow checks.
  const bool negative = s[0] == '-';
  const std::size_t digits = s.size() - negative;
  if (digits >= 1 && digits <= 18) {
    std::int64_t v = 0;
    for (std::size_t i = negative; i < s.size(); ++i) {
      const unsigned d = static_cast<unsigned char>(s[i]) - unsigned('0');
      if (d > 9) return false;
      v = v * 10 + d;
    }
    *out = negative ? -v : v;
    return true;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace shmkv::detail
