// error.cpp: shmkv's error category. No shared state.
#include "shmkv/error.hpp"

namespace shmkv {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "shmkv"; }
  std::string message(int code) const override { return errc_name(static_cast<errc>(code)); }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

const char* errc_name(errc e) noexcept {
  switch (e) {
    case errc::ok:
      return "ok";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::key_too_long:
      return "key_too_long";
    case errc::value_too_large:
      return "value_too_large";
    case errc::store_full:
      return "store_full";
    case errc::not_a_number:
      return "not_a_number";
    case errc::overflow:
      return "overflow";
    case errc::closed:
      return "closed";
    case errc::read_only:
      return "read_only";
    case errc::already_exists:
      return "already_exists";
    case errc::not_found:
      return "not_found";
    case errc::incompatible_layout:
      return "incompatible_layout";
    case errc::permission_denied:
      return "permission_denied";
    case errc::corrupted:
      return "corrupted";
    case errc::busy:
      return "busy";
    case errc::limit_exceeded:
      return "limit_exceeded";
    case errc::io_error:
      return "io_error";
  }
  return "unknown";
}

}  // namespace shmkv
