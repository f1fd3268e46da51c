// napi_values.cpp: see napi_values.hpp. Argument errors are shmkv::Error(invalid_argument), so
// that the JavaScript side gets InvalidArgumentError as for a bad argument the library refuses.
#include "napi_values.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "shmkv/error.hpp"

namespace shmkv_node {

namespace {

[[noreturn]] void Invalid(const std::string& message) {
  throw shmkv::Error(shmkv::errc::invalid_argument, message);
}

// 2^53: the largest integer a double holds exactly, so the largest count we accept.
constexpr double kMaxSafeInteger = 9007199254740992.0;

}  // namespace

void Check(napi_env env, napi_status status) {
  if (status == napi_ok) return;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info* info = nullptr;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, nullptr,
                     info && info->error_message ? info->error_message : "N-API call failed");
  }
  throw JsPending{};
}

napi_valuetype TypeOf(napi_env env, napi_value value) {
  napi_valuetype type = napi_undefined;
  Check(env, napi_typeof(env, value, &type));
  return type;
}

bool IsNullish(napi_env env, napi_value value) {
  const napi_valuetype type = TypeOf(env, value);
  return type == napi_undefined || type == napi_null;
}

std::string Describe(napi_env env, napi_value value) {
  switch (TypeOf(env, value)) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_boolean: {
      bool b = false;
      napi_get_value_bool(env, value, &b);
      return b ? "boolean true" : "boolean false";
    }
    case napi_number: {
      napi_value text;
      Check(env, napi_coerce_to_string(env, value, &text));
      return "number " + StringArg(env, text, "number");
    }
    case napi_string: {
      std::string s = StringArg(env, value, "string");
      if (s.size() > 40) s = s.substr(0, 40) + "...";
      return "string '" + s + "'";
    }
    case napi_bigint:
      return "bigint";
    case napi_symbol:
      return "symbol";
    case napi_function:
      return "function";
    default: {
      bool is_array = false;
      napi_is_array(env, value, &is_array);
      return is_array ? "array" : "object";
    }
  }
}

std::string_view ByteArg::Read(napi_env env, napi_value value, const char* what) {
  const napi_valuetype type = TypeOf(env, value);
  if (type == napi_string) {
    std::size_t length = 0;  // N-API writes a terminating NUL after the bytes it copies
    Check(env, napi_get_value_string_utf8(env, value, inline_, sizeof inline_, &length));
    // A truncated copy stops at a character boundary, up to 3 bytes short of the buffer's end:
    // 4 bytes to spare means the whole string fit.
    if (length + 4 < sizeof inline_) return {inline_, length};
    Check(env, napi_get_value_string_utf8(env, value, nullptr, 0, &length));
    storage_.resize(length + 1);
    Check(env, napi_get_value_string_utf8(env, value, storage_.data(), storage_.size(), &length));
    storage_.resize(length);
    return storage_;
  }
  if (type == napi_object) {
    bool is_typed = false;
    Check(env, napi_is_typedarray(env, value, &is_typed));
    if (is_typed) {
      napi_typedarray_type kind;
      std::size_t length = 0;
      void* data = nullptr;
      Check(env, napi_get_typedarray_info(env, value, &kind, &length, &data, nullptr, nullptr));
      if (kind == napi_uint8_array) return {static_cast<const char*>(data), length};
    }
  }
  Invalid(std::string(what) + " must be a string or a Buffer; got " + Describe(env, value));
}

std::string StringArg(napi_env env, napi_value value, const char* what) {
  if (TypeOf(env, value) != napi_string) {
    Invalid(std::string(what) + " must be a string; got " + Describe(env, value));
  }
  std::size_t length = 0;
  Check(env, napi_get_value_string_utf8(env, value, nullptr, 0, &length));
  std::string s(length + 1, '\0');
  Check(env, napi_get_value_string_utf8(env, value, s.data(), s.size(), &length));
  s.resize(length);
  return s;
}

std::uint64_t CountArg(napi_env env, napi_value value, const char* what, std::uint64_t fallback) {
  if (IsNullish(env, value)) return fallback;
  double d = -1;
  if (TypeOf(env, value) == napi_number) Check(env, napi_get_value_double(env, value, &d));
  if (!(d >= 0 && d <= kMaxSafeInteger && std::floor(d) == d)) {
    Invalid(std::string(what) + " must be an integer >= 0; got " + Describe(env, value));
  }
  return static_cast<std::uint64_t>(d);
}

std::chrono::milliseconds TtlArg(napi_env env, napi_value value, const char* what) {
  if (IsNullish(env, value)) return {};
  double d = -1;
  if (TypeOf(env, value) == napi_number) Check(env, napi_get_value_double(env, value, &d));
  if (!(d >= 0 && d <= kMaxSafeInteger && std::floor(d) == d)) {
    Invalid(std::string(what) + " must be a whole number of milliseconds >= 0; got " +
            Describe(env, value));
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(d));
}

bool BoolArg(napi_env env, napi_value value, const char* what, bool fallback) {
  if (IsNullish(env, value)) return fallback;
  if (TypeOf(env, value) != napi_boolean) {
    Invalid(std::string(what) + " must be a boolean; got " + Describe(env, value));
  }
  bool b = false;
  Check(env, napi_get_value_bool(env, value, &b));
  return b;
}

std::int64_t Int64Arg(napi_env env, napi_value value, const char* what, bool* was_bigint) {
  const napi_valuetype type = TypeOf(env, value);
  *was_bigint = type == napi_bigint;
  if (type == napi_bigint) {
    std::int64_t i = 0;
    bool lossless = false;
    Check(env, napi_get_value_bigint_int64(env, value, &i, &lossless));
    if (lossless) return i;
    Invalid(std::string(what) + " is a bigint outside the int64 range");
  }
  double d = kMaxSafeInteger * 2;
  if (type == napi_number) Check(env, napi_get_value_double(env, value, &d));
  if (!(std::fabs(d) <= kMaxSafeInteger && std::floor(d) == d)) {
    Invalid(std::string(what) + " must be a safe integer or a bigint; got " + Describe(env, value));
  }
  return static_cast<std::int64_t>(d);
}

napi_value Undefined(napi_env env) {
  napi_value v;
  Check(env, napi_get_undefined(env, &v));
  return v;
}

napi_value Null(napi_env env) {
  napi_value v;
  Check(env, napi_get_null(env, &v));
  return v;
}

napi_value Bool(napi_env env, bool b) {
  napi_value v;
  Check(env, napi_get_boolean(env, b, &v));
  return v;
}

napi_value Number(napi_env env, double d) {
  napi_value v;
  Check(env, napi_create_double(env, d, &v));
  return v;
}

napi_value BigInt(napi_env env, std::int64_t i) {
  napi_value v;
  Check(env, napi_create_bigint_int64(env, i, &v));
  return v;
}

napi_value BigUint(napi_env env, std::uint64_t u) {
  napi_value v;
  Check(env, napi_create_bigint_uint64(env, u, &v));
  return v;
}

napi_value String(napi_env env, std::string_view utf8) {
  napi_value v;
  // ASCII is its own Latin-1: V8 then copies the bytes without decoding them.
  const bool ascii = std::all_of(utf8.begin(), utf8.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  Check(env, ascii ? napi_create_string_latin1(env, utf8.data(), utf8.size(), &v)
                   : napi_create_string_utf8(env, utf8.data(), utf8.size(), &v));
  return v;
}

napi_value Bytes(napi_env env, std::string_view bytes) {
  napi_value v;
  void* copy = nullptr;
  Check(env, napi_create_buffer_copy(env, bytes.size(), bytes.data(), &copy, &v));
  return v;
}

napi_value Object(napi_env env) {
  napi_value v;
  Check(env, napi_create_object(env, &v));
  return v;
}

napi_value Array(napi_env env, std::size_t length) {
  napi_value v;
  Check(env, napi_create_array_with_length(env, length, &v));
  return v;
}

void Set(napi_env env, napi_value object, const char* name, napi_value value) {
  Check(env, napi_set_named_property(env, object, name, value));
}

void SetIndex(napi_env env, napi_value array, std::size_t index, napi_value value) {
  Check(env, napi_set_element(env, array, static_cast<std::uint32_t>(index), value));
}

napi_value Get(napi_env env, napi_value object, const char* name) {
  if (IsNullish(env, object)) return Undefined(env);
  napi_value v;
  Check(env, napi_get_named_property(env, object, name, &v));
  return v;
}

}  // namespace shmkv_node
