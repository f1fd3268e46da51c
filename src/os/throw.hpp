// throw.hpp: raising shmkv::Error with a formatted message (internal).
#pragma once

#include <string>

#include "shmkv/error.hpp"

namespace shmkv::detail {

[[noreturn]] inline void Throw(errc code, const std::string& message) {
  throw Error(code, message);
}

// Maps an errno from an OS call on `what` (a path or object name) to a shmkv error and throws.
[[noreturn]] void ThrowErrno(int err, const std::string& what);

}  // namespace shmkv::detail
