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
#define SHMKV_ERRC_NAME_CASE(name, NAME, number, description) \
  case errc::name:                                            \
    return #name;
      SHMKV_ERROR_CODES(SHMKV_ERRC_NAME_CASE)
#undef SHMKV_ERRC_NAME_CASE
  }
  return "unknown";
}

}  // namespace shmkv
