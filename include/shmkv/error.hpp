// shmkv/error.hpp: the one error convention of shmkv.
//
// Every real failure is thrown as shmkv::Error, a std::system_error whose code() belongs to
// shmkv's error category and whose what() names the offending value ("key is 300 bytes;
// max_key_bytes is 255"). Expected outcomes are values, never errors: a missing key is an empty
// std::optional, a lost compare-and-swap is `false`. Boost exceptions and raw errno never leave
// the library. The C API maps the same codes to negative ints.
#pragma once

#include <string>
#include <system_error>

namespace shmkv {

enum class errc : int {
  ok = 0,
  invalid_argument = 1,      // malformed name, empty key, bad option value
  key_too_long = 2,          // key longer than the segment's max_key_bytes
  value_too_large = 3,       // value longer than the segment's max_value_bytes
  store_full = 4,            // no room in the segment (arena or hash table); nothing changed
  not_a_number = 5,          // increment_by on a value that is not an ASCII decimal int64
  overflow = 6,              // increment_by would leave the int64 range
  closed = 7,                // the Store handle was closed (or moved from)
  read_only = 8,             // a mutation on a handle opened with OpenMode::read_only
  already_exists = 9,        // OpenMode::create_only and the segment exists
  not_found = 10,            // OpenMode::attach_only / destroy and the segment does not exist
  incompatible_layout = 11,  // the segment was made by another layout version or build
  permission_denied = 12,    // the OS refused access to the segment or a file
  corrupted = 13,            // a shard, snapshot or journal failed verification
  busy = 14,                 // a lock could not be taken in bounded time
  limit_exceeded = 15,       // a caller-set budget (e.g. restore max_entries) was exceeded
  io_error = 16,             // an OS call failed for another reason
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// The name of a code as spelled in this header ("store_full").
const char* errc_name(errc e) noexcept;

class Error : public std::system_error {
 public:
  Error(errc code, const std::string& message)
      : std::system_error(make_error_code(code), message) {}
  errc code_value() const noexcept { return static_cast<errc>(code().value()); }
};

}  // namespace shmkv

template <>
struct std::is_error_code_enum<shmkv::errc> : std::true_type {};
