// call.hpp: what the addon's files share: the object a JavaScript Store wraps (Handle), one
// call's arguments (Call), and Method, which runs a method body and turns what it throws into a
// JavaScript exception (shmkv::Error into the class registered for its code, ThrowShmkvError).
// Internal to bindings/node/src; the contract of the addon is at the top of addon.cpp.
#pragma once

#include <node_api.h>

#include <array>
#include <cstddef>
#include <new>
#include <optional>
#include <string>
#include <string_view>

#include "napi_values.hpp"
#include "shmkv/shmkv.hpp"

namespace shmkv_node {

// What a Store object wraps.
struct Handle {
  shmkv::Store store;
  bool values_as_buffers;  // values come back as Buffers, else as strings
};

// Throws, in JavaScript, the error class registered for code (addon.cpp).
void ThrowShmkvError(napi_env env, shmkv::errc code, const char* message);

// The arguments of one call, and its Store when it is a method.
struct Call {
  static constexpr std::size_t kMaxArgs = 6;
  napi_env env;
  napi_value self = nullptr;
  std::size_t argc = kMaxArgs;
  std::array<napi_value, kMaxArgs> argv{};

  Call(napi_env e, napi_callback_info info) : env(e) {
    Check(env, napi_get_cb_info(env, info, &argc, argv.data(), &self, nullptr));
    for (std::size_t i = argc; i < kMaxArgs; ++i) argv[i] = shmkv_node::Undefined(env);
  }
  napi_value operator[](std::size_t i) const { return argv[i]; }

  Handle& handle() const {
    if (!handle_) {
      void* p = nullptr;
      if (napi_unwrap(env, self, &p) != napi_ok || !p) {
        throw shmkv::Error(shmkv::errc::invalid_argument, "not a shmkv store handle (use openKv)");
      }
      handle_ = static_cast<Handle*>(p);
    }
    return *handle_;
  }
  shmkv::Store& store() const { return handle().store; }
  napi_value Value(std::string_view bytes) const {
    return handle().values_as_buffers ? Bytes(env, bytes) : String(env, bytes);
  }
  napi_value OptionalValue(const std::optional<std::string>& v) const {
    return v ? Value(*v) : Null(env);
  }

 private:
  mutable Handle* handle_ = nullptr;  // unwrapped once per call
};

template <napi_value (*F)(const Call&)>
napi_value Method(napi_env env, napi_callback_info info) {
  try {
    Call call(env, info);
    return F(call);
  } catch (const shmkv::Error& e) {
    // std::system_error appends ": <code name>" to the message; the class says the code.
    std::string message = e.what();
    const std::string suffix = std::string(": ") + shmkv::errc_name(e.code_value());
    if (message.size() > suffix.size() && message.ends_with(suffix)) {
      message.resize(message.size() - suffix.size());
    }
    ThrowShmkvError(env, e.code_value(), message.c_str());
  } catch (const JsPending&) {
  } catch (const std::bad_alloc&) {
    napi_throw_error(env, "ERR_SHMKV_NO_MEMORY", "out of memory");
  } catch (const std::exception& e) {
    ThrowShmkvError(env, shmkv::errc::io_error,
                    (std::string("unexpected internal error: ") + e.what()).c_str());
  }
  return nullptr;
}

napi_property_descriptor Fn(const char* name, napi_callback cb);

// The Store class with every method of a handle (store_methods.cpp); new Store(external) only
// from open().
napi_value DefineStoreClass(napi_env env);

}  // namespace shmkv_node
