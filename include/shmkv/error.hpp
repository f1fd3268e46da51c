// shmkv/error.hpp: the one error convention of shmkv.
//
// Every real failure is thrown as shmkv::Error, a std::system_error whose code() belongs to
// shmkv's error category and whose what() names the offending value ("key is 300 bytes;
// max_key_bytes is 255"). Expected outcomes are values, never errors: a missing key is an empty
// std::optional, a lost compare-and-swap is `false`. Raw errno and the exceptions of the
// libraries shmkv uses never leave it. The C API maps the same codes to negative ints.
#pragma once

#include <string>
#include <system_error>

#include "shmkv/error_codes.h"
#include "shmkv/export.h"

namespace shmkv {

// ok, then one code per entry of SHMKV_ERROR_CODES (error_codes.h), which says what each means:
//   invalid_argument     malformed name, empty key, bad option or argument value
//   key_too_long         key longer than the segment's max_key_bytes
//   value_too_large      value longer than the segment's max_value_bytes
//   store_full           no room in the segment (arena or hash table); nothing changed
//   not_a_number         increment_by on a value that is not an ASCII decimal int64
//   overflow             increment_by would leave the int64 range
//   closed               the Store handle was closed (or moved from)
//   read_only            a mutation on a handle opened with OpenMode::read_only
//   already_exists       OpenMode::create_only and the segment exists
//   not_found            OpenMode::attach_only / destroy and the segment does not exist
//   incompatible_layout  the segment was made by another layout version or build
//   permission_denied    the OS refused access, or the segment or a file is not trusted
//   corrupted            a shard, snapshot or journal failed verification
//   busy                 a lock could not be taken in bounded time
//   limit_exceeded       a caller-set budget (e.g. restore max_entries) was exceeded
//   io_error             an OS call failed for another reason
//   unavailable          the store's server (Options::url) cannot be reached; the address is
//                        named; nothing was sent, so nothing changed
//   outcome_unknown      the connection to the server was lost after a write was sent: it may
//                        or may not have happened (reads are retried, never raise it)
enum class errc : int {
  ok = 0,
#define SHMKV_ERRC_ENUMERATOR(name, NAME, number, description) name = number,
  SHMKV_ERROR_CODES(SHMKV_ERRC_ENUMERATOR)
#undef SHMKV_ERRC_ENUMERATOR
};

SHMKV_API const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// The name of a code as spelled in this header ("store_full").
SHMKV_API const char* errc_name(errc e) noexcept;

class SHMKV_API Error : public std::system_error {
 public:
  Error(errc code, const std::string& message)
      : std::system_error(make_error_code(code), message) {}
  errc code_value() const noexcept { return static_cast<errc>(code().value()); }
};

}  // namespace shmkv

template <>
struct std::is_error_code_enum<shmkv::errc> : std::true_type {};
