// napi_values.hpp: the Node addon's conversions between JavaScript values and shmkv's C++
// types, over the plain N-API C interface (node_api.h; no node-addon-api).
//
// Every function here either returns a value or throws: shmkv::Error(invalid_argument) with a
// message naming the offending JavaScript value (the addon turns it into InvalidArgumentError),
// or JsPending when an N-API call failed with a JavaScript exception already pending. Nothing
// here touches a store. Byte arguments are strings (stored as their UTF-8 bytes) or Buffers /
// Uint8Arrays (stored as is); the returned views stay valid while the caller's ByteArg (or the
// JavaScript value, for a Buffer) lives, that is for the duration of one call.
#pragma once

#include <node_api.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace shmkv_node {

// An N-API call failed and a JavaScript exception is pending: unwind to the method's wrapper,
// which returns to JavaScript without throwing another.
struct JsPending {};

// Throws JsPending, or an Error naming the failed N-API call when no exception is pending.
void Check(napi_env env, napi_status status);

// "number 42", "string 'abc'", "undefined", "object": how messages name a value.
std::string Describe(napi_env env, napi_value value);

napi_valuetype TypeOf(napi_env env, napi_value value);
bool IsNullish(napi_env env, napi_value value);

// The bytes of a string, Buffer or Uint8Array argument; `what` names it in the error ("key").
class ByteArg {
 public:
  std::string_view Read(napi_env env, napi_value value, const char* what);

 private:
  // A string's UTF-8 bytes (a Buffer is viewed in place): in inline_ when they fit (one N-API
  // call, no allocation), else in storage_.
  char inline_[256];
  std::string storage_;
};

// A string argument (a path, a name), as UTF-8.
std::string StringArg(napi_env env, napi_value value, const char* what);
// A TTL in milliseconds: undefined or null = none (0); otherwise a finite integer >= 0.
std::chrono::milliseconds TtlArg(napi_env env, napi_value value, const char* what);
// A count or limit: undefined or null = fallback; otherwise an integer 0..2^53.
std::uint64_t CountArg(napi_env env, napi_value value, const char* what, std::uint64_t fallback);
bool BoolArg(napi_env env, napi_value value, const char* what, bool fallback);
// An int64 as a safe-integer number or a BigInt; *was_bigint says which it was.
std::int64_t Int64Arg(napi_env env, napi_value value, const char* what, bool* was_bigint);

napi_value Undefined(napi_env env);
napi_value Null(napi_env env);
napi_value Bool(napi_env env, bool b);
napi_value Number(napi_env env, double d);
napi_value BigInt(napi_env env, std::int64_t i);
napi_value BigUint(napi_env env, std::uint64_t u);
napi_value String(napi_env env, std::string_view utf8);
napi_value Bytes(napi_env env, std::string_view bytes);  // a new Buffer holding a copy
napi_value Object(napi_env env);
napi_value Array(napi_env env, std::size_t length);
void Set(napi_env env, napi_value object, const char* name, napi_value value);
void SetIndex(napi_env env, napi_value array, std::size_t index, napi_value value);
// object[name], or undefined when object is undefined or null.
napi_value Get(napi_env env, napi_value object, const char* name);

}  // namespace shmkv_node
