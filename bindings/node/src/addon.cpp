// addon.cpp: shmkv.node, the native half of the Node.js binding (bindings/node/index.js is the
// other half, and the only intended caller: it gives these positional, byte-level methods
// xk6-kv's names and shapes, JSON serialization and Promise wrappers). This file is the module:
// its per-instance data, the error classes, open / destroy / segmentExists; the Store class's
// methods are in store_methods.cpp.
//
// Contract. The module is context-aware (NAPI_MODULE_INIT): the main thread and every worker
// thread load their own instance, with their own error classes (per-instance data). A Store
// object wraps one shmkv::Store; JavaScript objects cannot cross threads, so each worker opens
// its own handle, and a handle copied across fork() raises ClosedError in the child (the C++
// Store's fork guard). The wrapped Store is closed when close() is called or when the object is
// garbage-collected (the finalizer; errors of that late close cannot be reported). Calls are
// synchronous: an operation takes well under a microsecond, which a Promise would only add to.
//
// Errors: every shmkv::Error becomes an instance of the JavaScript class registered for its code
// with setErrorClasses (one per entry of SHMKV_ERROR_CODES, built by index.js from errorCodes);
// the message is the library's, naming the offending value. Values come back as strings
// (UTF-8; invalid sequences become U+FFFD) or, for a handle opened with buffers: true, as
// Buffers; keys always as strings.
#include <node_api.h>

#include <array>
#include <chrono>
#include <limits>
#include <memory>
#include <string>

#include "call.hpp"
#include "napi_values.hpp"
#include "shmkv/shmkv.hpp"

namespace shmkv_node {
namespace {

constexpr std::size_t kCodes = 1 + [] {
  std::size_t n = 0;
#define SHMKV_NODE_COUNT(name, NAME, number, description) n = number > n ? number : n;
  SHMKV_ERROR_CODES(SHMKV_NODE_COUNT)
#undef SHMKV_NODE_COUNT
  return n;
}();

// Per module instance (main thread or worker): the error classes and the Store class.
struct Instance {
  std::array<napi_ref, kCodes> error_classes{};  // index = errc number; null until registered
  napi_ref store_class = nullptr;
};

Instance* GetInstance(napi_env env) {
  void* data = nullptr;
  Check(env, napi_get_instance_data(env, &data));
  return static_cast<Instance*>(data);
}

}  // namespace

void ThrowShmkvError(napi_env env, shmkv::errc code, const char* message) {
  const auto number = static_cast<std::size_t>(code);
  Instance* instance = GetInstance(env);
  napi_value cls = nullptr;
  if (instance && number < kCodes && instance->error_classes[number]) {
    napi_get_reference_value(env, instance->error_classes[number], &cls);
  }
  if (!cls) {  // before index.js registered its classes: a plain Error with the code
    napi_throw_error(env, shmkv::errc_name(code), message);
    return;
  }
  napi_value text, error;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  if (napi_new_instance(env, cls, 1, &text, &error) == napi_ok) napi_throw(env, error);
}

namespace {

using shmkv::errc;

// --- module functions ---

shmkv::OpenMode OpenModeArg(napi_env env, napi_value value) {
  if (IsNullish(env, value)) return shmkv::OpenMode::create_or_attach;
  const std::string mode = StringArg(env, value, "openMode");
  if (mode == "create_or_attach") return shmkv::OpenMode::create_or_attach;
  if (mode == "create_only") return shmkv::OpenMode::create_only;
  if (mode == "attach_only") return shmkv::OpenMode::attach_only;
  if (mode == "read_only") return shmkv::OpenMode::read_only;
  throw shmkv::Error(errc::invalid_argument,
                     "openMode must be create_or_attach, create_only, attach_only or read_only; "
                     "got '" +
                         mode + "'");
}

shmkv::FsyncPolicy FsyncArg(napi_env env, napi_value value) {
  if (IsNullish(env, value)) return shmkv::FsyncPolicy::interval;
  const std::string policy = StringArg(env, value, "fsync");
  if (policy == "always") return shmkv::FsyncPolicy::always;
  if (policy == "interval") return shmkv::FsyncPolicy::interval;
  if (policy == "never") return shmkv::FsyncPolicy::never;
  throw shmkv::Error(errc::invalid_argument,
                     "fsync must be always, interval or never; got '" + policy + "'");
}

template <typename T>
void SetCount(napi_env env, napi_value options, const char* name, T* field) {
  const std::uint64_t v = CountArg(env, Get(env, options, name), name, *field);
  if (v > std::numeric_limits<T>::max()) {
    throw shmkv::Error(errc::invalid_argument, std::string(name) + " is " + std::to_string(v) +
                                                   "; at most " +
                                                   std::to_string(std::numeric_limits<T>::max()));
  }
  *field = static_cast<T>(v);
}

void SetMs(napi_env env, napi_value options, const char* name, std::chrono::milliseconds* field) {
  const napi_value v = Get(env, options, name);
  if (!IsNullish(env, v)) *field = TtlArg(env, v, name);
}

// open(options): options as index.js passes them (camelCase names of shmkv::Options, times in
// milliseconds), plus buffers (values come back as Buffers).
napi_value Open(const Call& c) {
  const napi_env env = c.env;
  const napi_value in = c[0];
  shmkv::Options o;
  o.name = StringArg(env, Get(env, in, "name"), "name");
  if (napi_value url = Get(env, in, "url"); !IsNullish(env, url))
    o.url = StringArg(env, url, "url");
  o.open_mode = OpenModeArg(env, Get(env, in, "openMode"));
  SetCount(env, in, "sizeBytes", &o.size_bytes);
  SetCount(env, in, "shards", &o.shards);
  SetCount(env, in, "maxKeys", &o.max_keys);
  SetCount(env, in, "homeBlockBytes", &o.home_block_bytes);
  SetCount(env, in, "mode", &o.mode);
  SetCount(env, in, "maxKeyBytes", &o.max_key_bytes);
  SetCount(env, in, "maxValueBytes", &o.max_value_bytes);
  o.ordered_index = BoolArg(env, Get(env, in, "orderedIndex"), "orderedIndex", true);
  o.verify_reads = BoolArg(env, Get(env, in, "verifyReads"), "verifyReads", false);
  if (napi_value group = Get(env, in, "trustedGroup"); !IsNullish(env, group)) {
    std::uint32_t gid = 0;
    SetCount(env, in, "trustedGroup", &gid);
    o.trusted_group = gid;
  }
  SetMs(env, in, "connectTimeout", &o.connect_timeout);
  SetMs(env, in, "commandTimeout", &o.command_timeout);
  if (napi_value dir = Get(env, in, "persistenceDirectory"); !IsNullish(env, dir)) {
    shmkv::PersistenceOptions p;
    p.directory = StringArg(env, dir, "persistenceDirectory");
    p.fsync = FsyncArg(env, Get(env, in, "fsync"));
    SetMs(env, in, "snapshotInterval", &p.snapshot_interval);
    SetMs(env, in, "fsyncInterval", &p.fsync_interval);
    SetCount(env, in, "keepSnapshots", &p.keep_snapshots);
    o.persistence = std::move(p);
  }
  const bool buffers = BoolArg(env, Get(env, in, "buffers"), "buffers", false);

  auto handle = std::make_unique<Handle>(Handle{shmkv::Store::open(o), buffers});
  napi_value cls, external, object;
  Check(env, napi_get_reference_value(env, GetInstance(env)->store_class, &cls));
  Check(env, napi_create_external(env, handle.get(), nullptr, nullptr, &external));
  Check(env, napi_new_instance(env, cls, 1, &external, &object));
  Check(env, napi_wrap(
                 env, object, handle.get(),
                 [](napi_env, void* data, void*) { delete static_cast<Handle*>(data); }, nullptr,
                 nullptr));
  handle.release();  // the object owns it now
  return object;
}

// (name, url)
napi_value Destroy(const Call& c) {
  shmkv::Options o;
  o.name = StringArg(c.env, c[0], "name");
  if (!IsNullish(c.env, c[1])) o.url = StringArg(c.env, c[1], "url");
  shmkv::Store::destroy(o);
  return Undefined(c.env);
}

napi_value SegmentExists(const Call& c) {
  shmkv::Options o;
  o.name = StringArg(c.env, c[0], "name");
  if (!IsNullish(c.env, c[1])) o.url = StringArg(c.env, c[1], "url");
  return Bool(c.env, shmkv::Store::segment_exists(o));
}

// setErrorClasses(classes): classes[number] is the constructor for that errc.
napi_value SetErrorClasses(const Call& c) {
  Instance* instance = GetInstance(c.env);
  for (std::size_t number = 1; number < kCodes; ++number) {
    napi_value cls;
    Check(c.env, napi_get_element(c.env, c[0], static_cast<std::uint32_t>(number), &cls));
    if (TypeOf(c.env, cls) != napi_function) {
      throw shmkv::Error(errc::invalid_argument,
                         "no error class for code " + std::to_string(number));
    }
    if (instance->error_classes[number])
      napi_delete_reference(c.env, instance->error_classes[number]);
    Check(c.env, napi_create_reference(c.env, cls, 1, &instance->error_classes[number]));
  }
  return Undefined(c.env);
}

// [{name, number, description}] from SHMKV_ERROR_CODES, in table order.
napi_value ErrorCodes(napi_env env) {
  struct Code {
    const char* name;
    int number;
    const char* description;
  };
  static constexpr Code kTable[] = {
#define SHMKV_NODE_CODE(name, NAME, number, description) {#name, number, description},
      SHMKV_ERROR_CODES(SHMKV_NODE_CODE)
#undef SHMKV_NODE_CODE
  };
  napi_value a = Array(env, std::size(kTable));
  for (std::size_t i = 0; i < std::size(kTable); ++i) {
    napi_value o = Object(env);
    Set(env, o, "name", String(env, kTable[i].name));
    Set(env, o, "number", Number(env, kTable[i].number));
    Set(env, o, "description", String(env, kTable[i].description));
    SetIndex(env, a, i, o);
  }
  return a;
}

napi_value Init(napi_env env, napi_value exports) {
  auto instance = std::make_unique<Instance>();
  Check(env, napi_set_instance_data(
                 env, instance.get(),
                 [](napi_env e, void* data, void*) {
                   auto* in = static_cast<Instance*>(data);
                   for (napi_ref r : in->error_classes)
                     if (r) napi_delete_reference(e, r);
                   if (in->store_class) napi_delete_reference(e, in->store_class);
                   delete in;
                 },
                 nullptr));
  Instance* in = instance.release();

  napi_value store_class = DefineStoreClass(env);
  Check(env, napi_create_reference(env, store_class, 1, &in->store_class));

  const napi_property_descriptor functions[] = {
      Fn("open", Method<Open>),
      Fn("destroy", Method<Destroy>),
      Fn("segmentExists", Method<SegmentExists>),
      Fn("setErrorClasses", Method<SetErrorClasses>),
  };
  Check(env, napi_define_properties(env, exports, std::size(functions), functions));
  Set(env, exports, "Store", store_class);
  Set(env, exports, "errorCodes", ErrorCodes(env));
  Set(env, exports, "version", String(env, shmkv::kVersionString));
  return exports;
}

}  // namespace
}  // namespace shmkv_node

NAPI_MODULE_INIT() {
  try {
    return shmkv_node::Init(env, exports);
  } catch (const shmkv_node::JsPending&) {
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}
