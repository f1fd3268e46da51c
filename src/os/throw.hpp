// throw.hpp: raising shmkv::Error with a formatted message (internal).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "shmkv/error.hpp"

namespace shmkv::detail {

[[noreturn]] inline void Throw(errc code, const std::string& message) {
  throw Error(code, message);
}

// Bytes for a message (a key or a bound, quoted by the caller): at most 64 bytes, non-printable
// bytes, the backslash and the single quote as \xHH, "..." when cut.
inline std::string PrintableBytes(std::string_view bytes) {
  static constexpr std::size_t kMaxShown = 64;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (bytes.size() > kMaxShown) out += "...";
  return out;
}

// Maps an errno from an OS call on `what` (a path or object name) to a shmkv error and throws.
[[noreturn]] void ThrowErrno(int err, const std::string& what);

}  // namespace shmkv::detail
