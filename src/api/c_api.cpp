// c_api.cpp: the C API (include/shmkv/shmkv.h), a thin layer over shmkv::Store.
//
// Every entry point runs its body inside Call(), which turns shmkv::Error into -code,
// std::bad_alloc into SHMKV_ENOMEM and anything else into SHMKV_EIO_ERROR, recording the message
// in a thread-local buffer (fixed size: recording an error never allocates or throws).
// A handle inherited across fork() fails with SHMKV_ECLOSED, and closing it leaves the parent's
// registration alone: the Store front's fork guard (store.cpp) does both.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "shmkv/shmkv.h"
#include "shmkv/shmkv.hpp"

struct shmkv_store {
  std::unique_ptr<shmkv::Store> store;
};

namespace {

using shmkv::errc;

// 40 bytes before trusted_group, 48 before the persistence fields, 80 before url: options_size
// tells.
static_assert(sizeof(shmkv_options) == 104);
// 312 bytes before engine, 328 before coordination_capacity.
static_assert(sizeof(shmkv_info) == 360);
static_assert(sizeof(shmkv_grant_info) == 56);
static_assert(sizeof(shmkv_recovery_report) == 88);
static_assert(sizeof(shmkv_shard_info) == 48 && sizeof(shmkv_process_info) == 16);

// --- last error ---

constexpr std::size_t kMessageBytes = 2048;
thread_local char t_message[kMessageBytes];
thread_local int t_code = 0;

int Fail(int code, std::string_view message) noexcept {
  std::size_t n = std::min(message.size(), kMessageBytes - 1);
  std::memcpy(t_message, message.data(), n);
  t_message[n] = '\0';
  t_code = code;
  return code;
}

// Raised inside Call() for C-API-only failures (too-small buffers).
struct CError {
  int code;
  std::string message;
};

[[noreturn]] void Throw(errc code, const std::string& message) {
  throw shmkv::Error(code, message);
}

template <typename F>
int Call(F&& body) noexcept {
  try {
    return body();
  } catch (const shmkv::Error& e) {
    // std::system_error appends ": <code name>" to the message; the code is returned anyway.
    std::string_view what = e.what();
    std::string suffix = std::string(": ") + shmkv::errc_name(e.code_value());
    if (what.size() > suffix.size() && what.substr(what.size() - suffix.size()) == suffix)
      what.remove_suffix(suffix.size());
    return Fail(-static_cast<int>(e.code_value()), what);
  } catch (const CError& e) {
    return Fail(e.code, e.message);
  } catch (const std::bad_alloc&) {
    return Fail(SHMKV_ENOMEM, "out of memory");
  } catch (const std::exception& e) {
    char buf[kMessageBytes];
    std::snprintf(buf, sizeof buf, "unexpected internal error: %s", e.what());
    return Fail(SHMKV_EIO_ERROR, buf);
  } catch (...) {
    return Fail(SHMKV_EIO_ERROR, "unexpected internal error (non-standard exception)");
  }
}

// --- argument helpers ---

shmkv::Store& S(shmkv_store* h) {
  if (h == nullptr) Throw(errc::invalid_argument, "store handle is NULL");
  return *h->store;
}

std::string_view Bytes(const void* p, std::size_t n, const char* what) {
  if (p == nullptr) {
    if (n != 0)
      Throw(errc::invalid_argument,
            std::string(what) + " pointer is NULL but its length is " + std::to_string(n));
    return {};
  }
  return {static_cast<const char*>(p), n};
}

std::string Name(const char* name) {
  if (name == nullptr) Throw(errc::invalid_argument, "segment name is NULL");
  return name;
}

template <typename T>
void Require(T* p, const char* what) {
  if (p == nullptr) Throw(errc::invalid_argument, std::string(what) + " is NULL");
}

void CheckBuffer(const void* buf, std::size_t cap, const char* what) {
  if (buf == nullptr && cap != 0)
    Throw(errc::invalid_argument,
          std::string(what) + " is NULL but its capacity is " + std::to_string(cap));
}

// The buffer protocol: NULL buffer = size only; too small = SHMKV_ETOOSMALL with the size.
void Out(std::string_view v, void* buf, std::size_t cap, std::size_t* len, const char* what) {
  if (len) *len = v.size();
  if (buf == nullptr) return;
  if (v.size() > cap)
    throw CError{SHMKV_ETOOSMALL, std::string(what) + " is " + std::to_string(v.size()) +
                                      " bytes; the buffer holds " + std::to_string(cap)};
  if (!v.empty()) std::memcpy(buf, v.data(), v.size());
}

// A malloc'ed, NUL-terminated copy.
void* Copy(std::string_view v) {
  void* p = std::malloc(v.size() + 1);
  if (p == nullptr) throw std::bad_alloc();
  if (!v.empty()) std::memcpy(p, v.data(), v.size());
  static_cast<char*>(p)[v.size()] = '\0';
  return p;
}

// A C range (NULL = every key) as the options of a listing (ListOptions, ScanOptions) or a
// KeyRange: all three have prefix, from and to.
template <typename Options>
Options RangeOf(const shmkv_range* range) {
  Options o;
  if (range == nullptr) return o;
  o.prefix = Bytes(range->prefix, range->prefix_len, "prefix");
  o.from = Bytes(range->from, range->from_len, "from");
  o.to = Bytes(range->to, range->to_len, "to");
  return o;
}

shmkv_range PrefixRange(const void* prefix, std::size_t prefix_len) {
  return shmkv_range{prefix, prefix_len, nullptr, 0, nullptr, 0};
}

shmkv::ScanOptions ScanOf(const shmkv_range* range, const void* cursor, std::size_t cursor_len,
                          std::size_t limit) {
  shmkv::ScanOptions o = RangeOf<shmkv::ScanOptions>(range);
  o.cursor = Bytes(cursor, cursor_len, "cursor");
  o.limit = limit;
  return o;
}

// The callbacks of listings: an entry's, or (keys only) a key's.
int Invoke(shmkv_entry_fn fn, void* ctx, const shmkv::Entry& e) {
  return fn(ctx, e.key.data(), e.key.size(), e.value.data(), e.value.size());
}
int Invoke(shmkv_key_fn fn, void* ctx, const std::string& key) {
  return fn(ctx, key.data(), key.size());
}

// Calls fn for each item until it returns non-zero; *count (may be NULL) = the calls made.
template <typename Fn, typename Item>
void CallEach(const std::vector<Item>& items, Fn fn, void* ctx, std::size_t* count) {
  if (count) *count = 0;
  for (const Item& item : items) {
    if (count) ++*count;
    if (Invoke(fn, ctx, item) != 0) break;
  }
}

// The records of the *_buf functions and of shmkv_pop_random_many: an entry as uint32_t
// key_len, uint32_t value_len, key, value; a key alone as uint32_t key_len, key.
std::size_t RecordBytes(const shmkv::Entry& e) {
  return 2 * sizeof(std::uint32_t) + e.key.size() + e.value.size();
}
std::size_t RecordBytes(const std::string& key) {
  return sizeof(std::uint32_t) + key.size();
}
const std::string& KeyOf(const shmkv::Entry& e) {
  return e.key;
}
const std::string& KeyOf(const std::string& key) {
  return key;
}
void PutLength(unsigned char*& out, std::size_t n) {
  const auto n32 = static_cast<std::uint32_t>(n);
  std::memcpy(out, &n32, sizeof n32);
  out += sizeof n32;
}
void PutBytes(unsigned char*& out, std::string_view bytes) {
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
  out += bytes.size();
}
void PutRecord(unsigned char*& out, const shmkv::Entry& e) {
  PutLength(out, e.key.size());
  PutLength(out, e.value.size());
  PutBytes(out, e.key);
  PutBytes(out, e.value);
}
void PutRecord(unsigned char*& out, const std::string& key) {
  PutLength(out, key.size());
  PutBytes(out, key);
}
// shmkv_get_many's: uint32_t found, uint32_t value_len, value.
std::size_t RecordBytes(const std::optional<std::string>& value) {
  return 2 * sizeof(std::uint32_t) + (value ? value->size() : 0);
}
void PutRecord(unsigned char*& out, const std::optional<std::string>& value) {
  PutLength(out, value ? 1 : 0);
  PutLength(out, value ? value->size() : 0);
  if (value) PutBytes(out, *value);
}

// The records of items in one malloc'ed block into *block (NULL when items is empty; block may
// be NULL to discard them), its size into *block_len (may be NULL).
template <typename Item>
void PutBlock(const std::vector<Item>& items, void** block, std::size_t* block_len) {
  std::size_t bytes = 0;
  for (const Item& item : items) bytes += RecordBytes(item);
  if (block_len) *block_len = bytes;
  if (block == nullptr || items.empty()) return;
  auto* out = static_cast<unsigned char*>(std::malloc(bytes));
  if (out == nullptr) throw std::bad_alloc();
  *block = out;
  for (const Item& item : items) PutRecord(out, item);
}

// Messages as one malloc'ed block of NUL-terminated strings into *block (NULL when there are
// none; block may be NULL to discard them), its size into *block_len (may be NULL).
void PutMessages(const std::vector<std::string>& messages, void** block, std::size_t* block_len) {
  std::string joined;
  for (const std::string& m : messages) joined.append(m).push_back('\0');
  if (block_len) *block_len = joined.size();
  if (block == nullptr || joined.empty()) return;
  void* out = std::malloc(joined.size());
  if (out == nullptr) throw std::bad_alloc();
  std::memcpy(out, joined.data(), joined.size());
  *block = out;
}

// The n byte strings of a batch argument: items[i] has lens[i] bytes.
std::vector<std::string_view> Batch(const void* const* items, const std::size_t* lens,
                                    std::size_t n, const char* what) {
  if (n == 0) return {};
  if (items == nullptr || lens == nullptr)
    Throw(errc::invalid_argument,
          std::string(what) + " (or its lengths) is NULL but n is " + std::to_string(n));
  std::vector<std::string_view> out;
  out.reserve(n);
  const std::string item_name = std::string(what) + "[]";
  for (std::size_t i = 0; i < n; ++i) out.push_back(Bytes(items[i], lens[i], item_name.c_str()));
  return out;
}

// The scan a *_buf call makes: a record takes at least RecordBytes(Item{}) + 1 bytes (keys are
// not empty), so no more than cap / that fit (but ask for one at least, to report the size it
// needs).
template <typename Item>
shmkv::ScanOptions BufferScanOf(const shmkv_range* range, const void* cursor,
                                std::size_t cursor_len, std::size_t limit, const void* buf,
                                std::size_t cap) {
  CheckBuffer(buf, cap, "buf");
  const std::size_t fit = std::max<std::size_t>(1, cap / (RecordBytes(Item{}) + 1));
  return ScanOf(range, cursor, cursor_len, limit == 0 ? fit : std::min(limit, fit));
}

// Copies as many whole records of a page as fit into buf (see shmkv_scan_buf).
template <typename Item>
void PutPage(const std::vector<Item>& items, bool page_done, void* buf, std::size_t cap,
             std::size_t* used, std::size_t* count, int* done) {
  auto* const begin = static_cast<unsigned char*>(buf);
  unsigned char* out = begin;
  std::size_t n = 0;
  for (const Item& item : items) {
    const std::size_t need = RecordBytes(item);
    if (need > cap - static_cast<std::size_t>(out - begin)) {
      if (n == 0) {
        if (used) *used = need;
        if (count) *count = 0;
        if (done) *done = 0;
        throw CError{SHMKV_ETOOSMALL, "entry of key '" + KeyOf(item).substr(0, 64) + "' needs " +
                                          std::to_string(need) + " bytes; the buffer holds " +
                                          std::to_string(cap)};
      }
      break;
    }
    PutRecord(out, item);
    ++n;
  }
  if (used) *used = static_cast<std::size_t>(out - begin);
  if (count) *count = n;
  if (done) *done = (page_done && n == items.size()) ? 1 : 0;
}

const std::vector<shmkv::Entry>& ItemsOf(const shmkv::ScanPage& page) {
  return page.entries;
}
const std::vector<std::string>& ItemsOf(const shmkv::KeyScanPage& page) {
  return page.keys;
}

// The bodies of the list, scan and scan-into-a-buffer families; `list` and `scan` are the Store
// methods (list or list_keys, scan or scan_keys), `fn` the matching callback type.
template <typename Fn, typename Items>
int ListRange(shmkv_store* h, const shmkv_range* range, std::size_t limit, Fn fn, void* ctx,
              std::size_t* count, Items (shmkv::Store::*list)(const shmkv::ListOptions&)) {
  return Call([&] {
    shmkv::Store& s = S(h);
    shmkv::ListOptions o = RangeOf<shmkv::ListOptions>(range);
    o.limit = limit;
    Require(fn, "fn (the callback)");
    CallEach((s.*list)(o), fn, ctx, count);
    return 0;
  });
}

// The page's cursor goes out (buffer protocol) before any callback; fn may be NULL.
template <typename Fn, typename Page>
int ScanRange(shmkv_store* h, const shmkv_range* range, const void* cursor, std::size_t cursor_len,
              std::size_t limit, Fn fn, void* ctx, void* next_cursor, std::size_t cursor_cap,
              std::size_t* next_cursor_len, int* done,
              Page (shmkv::Store::*scan)(const shmkv::ScanOptions&)) {
  return Call([&] {
    shmkv::Store& s = S(h);
    shmkv::ScanOptions o = ScanOf(range, cursor, cursor_len, limit);
    CheckBuffer(next_cursor, cursor_cap, "next_cursor");
    const Page page = (s.*scan)(o);
    Out(page.cursor, next_cursor, cursor_cap, next_cursor_len, "next cursor");
    if (done) *done = page.done ? 1 : 0;
    if (fn != nullptr) CallEach(ItemsOf(page), fn, ctx, nullptr);
    return 0;
  });
}

template <typename Page>
int ScanRangeIntoBuffer(shmkv_store* h, const shmkv_range* range, const void* cursor,
                        std::size_t cursor_len, std::size_t limit, void* buf, std::size_t cap,
                        std::size_t* used, std::size_t* count, int* done,
                        Page (shmkv::Store::*scan)(const shmkv::ScanOptions&)) {
  using Item = typename std::decay_t<decltype(ItemsOf(std::declval<Page>()))>::value_type;
  return Call([&] {
    shmkv::Store& s = S(h);
    const Page page = (s.*scan)(BufferScanOf<Item>(range, cursor, cursor_len, limit, buf, cap));
    PutPage(ItemsOf(page), page.done, buf, cap, used, count, done);
    return 0;
  });
}

// The expected value of a compare-and-swap: NULL (with length 0) = "only if absent".
std::optional<std::string_view> Expected(const void* expected, std::size_t expected_len) {
  if (expected != nullptr)
    return std::string_view(static_cast<const char*>(expected), expected_len);
  if (expected_len != 0)
    Throw(errc::invalid_argument,
          "expected pointer is NULL (meaning \"absent\") but its length is " +
              std::to_string(expected_len));
  return std::nullopt;
}

std::chrono::milliseconds Ms(std::int64_t ms) {
  return std::chrono::milliseconds(ms);
}

template <typename T>
void FillSized(const T& full, void* out, std::size_t out_size, const char* what) {
  if (out == nullptr) {
    if (out_size != 0) Throw(errc::invalid_argument, std::string(what) + " is NULL");
    return;
  }
  std::memcpy(out, &full, std::min(out_size, sizeof(T)));
}

shmkv::OpenMode Mode(std::int32_t m) {
  switch (m) {
    case SHMKV_CREATE_OR_ATTACH:
      return shmkv::OpenMode::create_or_attach;
    case SHMKV_CREATE_ONLY:
      return shmkv::OpenMode::create_only;
    case SHMKV_ATTACH_ONLY:
      return shmkv::OpenMode::attach_only;
    case SHMKV_READ_ONLY:
      return shmkv::OpenMode::read_only;
  }
  Throw(errc::invalid_argument, "open_mode " + std::to_string(m) +
                                    " is not one of SHMKV_CREATE_OR_ATTACH (0) .. " +
                                    "SHMKV_READ_ONLY (3)");
}

shmkv::FsyncPolicy FsyncPolicyOf(std::int32_t policy) {
  switch (policy) {
    case SHMKV_FSYNC_ALWAYS:
      return shmkv::FsyncPolicy::always;
    case SHMKV_FSYNC_INTERVAL:
      return shmkv::FsyncPolicy::interval;
    case SHMKV_FSYNC_NEVER:
      return shmkv::FsyncPolicy::never;
  }
  Throw(errc::invalid_argument,
        "fsync_policy " + std::to_string(policy) +
            " is not one of SHMKV_FSYNC_ALWAYS (0) .. SHMKV_FSYNC_NEVER (2)");
}

// The persistence options of C options whose persistence_directory is set.
shmkv::PersistenceOptions PersistenceOf(const shmkv_options& o) {
  shmkv::PersistenceOptions p;
  p.directory = o.persistence_directory;
  p.fsync = FsyncPolicyOf(o.fsync_policy);
  p.keep_snapshots = o.keep_snapshots;
  p.snapshot_interval = Ms(o.snapshot_interval_ms);
  p.fsync_interval = Ms(o.fsync_interval_ms);
  return p;
}

// The strings of a recovery report, each as "<field>: <text>" (see shmkv_recovery_report_get).
std::vector<std::string> ReportMessages(const shmkv::RecoveryReport& r) {
  std::vector<std::string> out;
  auto add = [&](const char* field, const std::string& text) {
    out.push_back(std::string(field) + ": " + text);
  };
  if (!r.directory.empty()) add("directory", r.directory);
  if (!r.snapshot.empty()) add("snapshot", r.snapshot);
  for (const std::string& t : r.rejected_snapshots) add("rejected_snapshots", t);
  for (const std::string& t : r.truncated) add("truncated", t);
  for (const std::string& t : r.skipped) add("skipped", t);
  for (const std::string& t : r.notes) add("notes", t);
  return out;
}

// The caller's options_size bytes of options over the defaults (options NULL: the defaults).
shmkv_options OptionsOf(const shmkv_options* options, std::size_t options_size) {
  shmkv_options o;
  shmkv_options_init(&o);
  if (options != nullptr) {
    if (options_size > sizeof o)
      Throw(errc::invalid_argument, "options_size " + std::to_string(options_size) +
                                        " is larger than this library's shmkv_options (" +
                                        std::to_string(sizeof o) + " bytes)");
    std::memcpy(&o, options, options_size);
  }
  return o;
}

// Options::url of a C url: NULL and "" are the shared-memory engine.
std::string Url(const char* url) {
  return url != nullptr ? url : "";
}

// A timeout in ms, at least `min`; SHMKV_EINVALID_ARGUMENT naming the field below it.
std::chrono::milliseconds Timeout(std::int64_t ms, const char* field, std::int64_t min) {
  if (ms < min)
    Throw(errc::invalid_argument, std::string(field) + " is " + std::to_string(ms) +
                                      "; it must be >= " + std::to_string(min));
  return Ms(ms);
}

// The options naming the store `name` on the engine url names (destroy, segment_exists).
shmkv::Options StoreAt(const char* url, const char* name) {
  shmkv::Options o;
  o.name = Name(name);
  o.url = Url(url);
  return o;
}

std::string Path(const char* path, const char* what) {
  if (path == nullptr) Throw(errc::invalid_argument, std::string(what) + " path is NULL");
  return path;
}

// The outputs of the calls that return an entry or a claim in malloc'ed copies (pop_random,
// pop_random_wait, claim, claim_random; each output may be NULL): cleared, then filled with what
// `take` returned, if anything (a claim's token too). Returns 1 for a result, 0 for none.
template <typename Take>
int PutTaken(Take&& take, void** key, std::size_t* key_len, void** value, std::size_t* value_len,
             std::uint64_t* token = nullptr) {
  if (key) *key = nullptr;
  if (value) *value = nullptr;
  if (key_len) *key_len = 0;
  if (value_len) *value_len = 0;
  if (token) *token = 0;
  const auto taken = take();
  if (!taken) return 0;
  if (key_len) *key_len = taken->key.size();
  if (value_len) *value_len = taken->value.size();
  if constexpr (requires { taken->token; }) {
    if (token) *token = taken->token;
  }
  std::unique_ptr<void, void (*)(void*)> k(key ? Copy(taken->key) : nullptr, &std::free);
  if (value) *value = Copy(taken->value);
  if (key) *key = k.release();
  return 1;
}

// The outputs of shmkv_lock and shmkv_acquire: *token (may be NULL) = the grant's, or 0 for
// none. Returns 1 for a grant, 0 for none.
int PutToken(const std::optional<std::uint64_t>& granted, std::uint64_t* token) {
  if (token) *token = granted.value_or(0);
  return granted ? 1 : 0;
}

// The array protocol of shmkv_info_shards, _processes and _grants: *count = the items `items`
// picks from info(); copied (each through `convert`) when they fit in cap, else SHMKV_ETOOSMALL.
template <typename Out, typename Items, typename Convert>
int InfoArray(shmkv_store* h, Out* arr, std::size_t cap, std::size_t* count, const char* what,
              Items&& items, Convert&& convert) {
  return Call([&] {
    shmkv::Store& s = S(h);
    CheckBuffer(arr, cap, "arr");
    const shmkv::Info info = s.info();
    const auto& all = items(info);
    if (count) *count = all.size();
    if (arr == nullptr) return 0;
    if (all.size() > cap)
      throw CError{SHMKV_ETOOSMALL, "the store has " + std::to_string(all.size()) + " " + what +
                                        "; the array holds " + std::to_string(cap)};
    for (std::size_t k = 0; k < all.size(); ++k) arr[k] = convert(all[k]);
    return 0;
  });
}

}  // namespace

extern "C" {

// --- errors, misc ---

const char* shmkv_errname(int code) {
  switch (code) {
    case SHMKV_OK:
      return "ok";
#define SHMKV_ERRNAME_CASE(name, NAME, number, description) \
  case SHMKV_E##NAME:                                       \
    return #name;
      SHMKV_ERROR_CODES(SHMKV_ERRNAME_CASE)
#undef SHMKV_ERRNAME_CASE
    case SHMKV_ETOOSMALL:
      return "too_small";
    case SHMKV_ENOMEM:
      return "no_memory";
  }
  return "unknown";
}

const char* shmkv_strerror(int code) {
  switch (code) {
    case SHMKV_OK:
      return "success";
#define SHMKV_STRERROR_CASE(name, NAME, number, description) \
  case SHMKV_E##NAME:                                        \
    return description;
      SHMKV_ERROR_CODES(SHMKV_STRERROR_CASE)
#undef SHMKV_STRERROR_CASE
    case SHMKV_ETOOSMALL:
      return "buffer too small";
    case SHMKV_ENOMEM:
      return "out of memory";
  }
  return "unknown error code";
}

const char* shmkv_last_error(void) {
  return t_message;
}

int shmkv_last_error_code(void) {
  return t_code;
}

const char* shmkv_version(void) {
  return shmkv::kVersionString;
}

void shmkv_free(void* p) {
  std::free(p);
}

// --- opening ---

void shmkv_options_init(shmkv_options* o) {
  if (o == nullptr) return;
  // static: a local Options (it holds an std::optional<PersistenceOptions>) trips GCC 12's
  // -Wmaybe-uninitialized false positive on std::optional in optimised sanitizer builds.
  static const shmkv::Options d;
  *o = shmkv_options{};
  o->open_mode = SHMKV_CREATE_OR_ATTACH;
  o->shards = d.shards;
  o->size_bytes = d.size_bytes;
  o->max_key_bytes = d.max_key_bytes;
  o->max_value_bytes = d.max_value_bytes;
  o->max_keys = d.max_keys;
  o->mode = d.mode;
  o->trusted_group = -1;
  static const shmkv::PersistenceOptions p;
  o->persistence_directory = nullptr;
  o->fsync_policy = SHMKV_FSYNC_INTERVAL;
  o->keep_snapshots = p.keep_snapshots;
  o->snapshot_interval_ms = p.snapshot_interval.count();
  o->fsync_interval_ms = p.fsync_interval.count();
  o->url = nullptr;
  o->connect_timeout_ms = d.connect_timeout.count();
  o->command_timeout_ms = d.command_timeout.count();
}

int shmkv_open(const char* name, const shmkv_options* options, size_t options_size,
               shmkv_store** out) {
  // options->url when the caller's options_size reaches it (an older caller's does not).
  const bool has_url =
      options != nullptr && options_size >= offsetof(shmkv_options, url) + sizeof options->url;
  return shmkv_open_url(has_url ? options->url : nullptr, name, options, options_size, out);
}

int shmkv_open_url(const char* url, const char* name, const shmkv_options* options,
                   size_t options_size, shmkv_store** out) {
  return Call([&] {
    Require(out, "out (the handle pointer)");
    *out = nullptr;
    const shmkv_options o = OptionsOf(options, options_size);
    shmkv::Options opts;
    opts.name = Name(name);
    opts.url = Url(url);
    opts.connect_timeout = Timeout(o.connect_timeout_ms, "connect_timeout_ms", 1);
    opts.command_timeout = Timeout(o.command_timeout_ms, "command_timeout_ms", 0);
    opts.open_mode = Mode(o.open_mode);
    opts.size_bytes = o.size_bytes;
    opts.shards = o.shards;
    opts.max_key_bytes = o.max_key_bytes;
    opts.max_value_bytes = o.max_value_bytes;
    opts.max_keys = o.max_keys;
    opts.mode = o.mode;
    opts.home_block_bytes = o.home_block_bytes;
    if (o.trusted_group < -1 || o.trusted_group > 0xffffffffll)
      Throw(errc::invalid_argument,
            "trusted_group " + std::to_string(o.trusted_group) + " is not a gid (or -1)");
    if (o.trusted_group >= 0) opts.trusted_group = static_cast<std::uint32_t>(o.trusted_group);
    if (o.persistence_directory != nullptr) opts.persistence = PersistenceOf(o);
    auto handle = std::make_unique<shmkv_store>();
    handle->store = std::make_unique<shmkv::Store>(shmkv::Store::open(opts));
    *out = handle.release();
    return 0;
  });
}

void shmkv_close(shmkv_store* h) {
  if (h == nullptr) return;
  delete h;  // ~Store is noexcept; it leaves an inherited handle's state to the parent
}

int shmkv_destroy(const char* name) {
  return Call([&] {
    shmkv::Store::destroy(Name(name));
    return 0;
  });
}

int shmkv_segment_exists(const char* name) {
  return Call([&] { return shmkv::Store::segment_exists(Name(name)) ? 1 : 0; });
}

int shmkv_destroy_url(const char* url, const char* name) {
  return Call([&] {
    shmkv::Store::destroy(StoreAt(url, name));
    return 0;
  });
}

int shmkv_segment_exists_url(const char* url, const char* name) {
  return Call([&] { return shmkv::Store::segment_exists(StoreAt(url, name)) ? 1 : 0; });
}

// --- single keys ---

int shmkv_get(shmkv_store* h, const void* key, size_t key_len, void* buf, size_t cap, size_t* len) {
  return Call([&] {
    shmkv::Store& s = S(h);
    std::string_view k = Bytes(key, key_len, "key");
    CheckBuffer(buf, cap, "buf");
    auto v = s.get(k);
    if (!v) {
      if (len) *len = 0;
      return 0;
    }
    Out(*v, buf, cap, len, "value");
    return 1;
  });
}

int shmkv_get_alloc(shmkv_store* h, const void* key, size_t key_len, void** value, size_t* len) {
  return Call([&] {
    shmkv::Store& s = S(h);
    std::string_view k = Bytes(key, key_len, "key");
    Require(value, "value (the result pointer)");
    *value = nullptr;
    if (len) *len = 0;
    auto v = s.get(k);
    if (!v) return 0;
    *value = Copy(*v);
    if (len) *len = v->size();
    return 1;
  });
}

int shmkv_set(shmkv_store* h, const void* key, size_t key_len, const void* value, size_t value_len,
              int64_t ttl_ms) {
  return Call([&] {
    shmkv::Store& s = S(h);
    s.set(Bytes(key, key_len, "key"), Bytes(value, value_len, "value"), Ms(ttl_ms));
    return 0;
  });
}

int shmkv_set_if_absent(shmkv_store* h, const void* key, size_t key_len, const void* value,
                        size_t value_len, int64_t ttl_ms) {
  return Call([&] {
    shmkv::Store& s = S(h);
    return s.set_if_absent(Bytes(key, key_len, "key"), Bytes(value, value_len, "value"), Ms(ttl_ms))
               ? 1
               : 0;
  });
}

int shmkv_exists(shmkv_store* h, const void* key, size_t key_len) {
  return Call([&] { return S(h).exists(Bytes(key, key_len, "key")) ? 1 : 0; });
}

int shmkv_delete(shmkv_store* h, const void* key, size_t key_len) {
  return Call([&] { return S(h).del(Bytes(key, key_len, "key")) ? 1 : 0; });
}

// --- counters ---

int shmkv_incr(shmkv_store* h, const void* key, size_t key_len, int64_t delta, int64_t* result) {
  return Call([&] {
    std::int64_t r = S(h).increment_by(Bytes(key, key_len, "key"), delta);
    if (result) *result = r;
    return 0;
  });
}

// --- atomic helpers ---

int shmkv_get_or_set_ttl(shmkv_store* h, const void* key, size_t key_len, const void* value,
                         size_t value_len, int64_t ttl_ms, void* buf, size_t cap, size_t* len) {
  return Call([&] {
    shmkv::Store& s = S(h);
    std::string_view k = Bytes(key, key_len, "key");
    std::string_view v = Bytes(value, value_len, "value");
    CheckBuffer(buf, cap, "buf");
    shmkv::GetOrSetResult r = s.get_or_set(k, v, Ms(ttl_ms));
    if (!r.loaded) {
      if (len) *len = v.size();
      return 0;
    }
    Out(r.value, buf, cap, len, "value");  // loaded: nothing changed, a retry is safe
    return 1;
  });
}

int shmkv_get_or_set(shmkv_store* h, const void* key, size_t key_len, const void* value,
                     size_t value_len, void* buf, size_t cap, size_t* len) {
  return shmkv_get_or_set_ttl(h, key, key_len, value, value_len, 0, buf, cap, len);
}

int shmkv_swap_ttl(shmkv_store* h, const void* key, size_t key_len, const void* value,
                   size_t value_len, int64_t ttl_ms, void** previous, size_t* previous_len) {
  return Call([&] {
    shmkv::Store& s = S(h);
    std::string_view k = Bytes(key, key_len, "key");
    std::string_view v = Bytes(value, value_len, "value");
    if (previous) *previous = nullptr;
    if (previous_len) *previous_len = 0;
    shmkv::SwapResult r = s.swap(k, v, Ms(ttl_ms));
    if (!r.loaded) return 0;
    if (previous_len) *previous_len = r.previous->size();
    if (previous) *previous = Copy(*r.previous);
    return 1;
  });
}

int shmkv_swap(shmkv_store* h, const void* key, size_t key_len, const void* value, size_t value_len,
               void** previous, size_t* previous_len) {
  return shmkv_swap_ttl(h, key, key_len, value, value_len, 0, previous, previous_len);
}

int shmkv_cas_ttl(shmkv_store* h, const void* key, size_t key_len, const void* expected,
                  size_t expected_len, const void* value, size_t value_len, int64_t ttl_ms) {
  return Call([&] {
    shmkv::Store& s = S(h);
    std::string_view k = Bytes(key, key_len, "key");
    std::string_view v = Bytes(value, value_len, "value");
    return s.compare_and_swap(k, Expected(expected, expected_len), v, Ms(ttl_ms)) ? 1 : 0;
  });
}

int shmkv_cas(shmkv_store* h, const void* key, size_t key_len, const void* expected,
              size_t expected_len, const void* value, size_t value_len) {
  return shmkv_cas_ttl(h, key, key_len, expected, expected_len, value, value_len, 0);
}

int shmkv_cas_detailed(shmkv_store* h, const void* key, size_t key_len, const void* expected,
                       size_t expected_len, const void* value, size_t value_len, int64_t ttl_ms,
                       void* buf, size_t cap, size_t* len, int* present) {
  return Call([&] {
    shmkv::Store& s = S(h);
    std::string_view k = Bytes(key, key_len, "key");
    std::string_view v = Bytes(value, value_len, "value");
    CheckBuffer(buf, cap, "buf");
    const shmkv::CasOutcome r =
        s.compare_and_swap_detailed(k, Expected(expected, expected_len), v, Ms(ttl_ms));
    if (present) *present = r.current ? 1 : 0;
    if (r.swapped) {
      if (len) *len = v.size();
      return 1;
    }
    if (!r.current) {
      if (len) *len = 0;
      return 0;
    }
    Out(*r.current, buf, cap, len, "current value");  // a failed comparison changed nothing
    return 0;
  });
}

int shmkv_cad(shmkv_store* h, const void* key, size_t key_len, const void* expected,
              size_t expected_len) {
  return Call([&] {
    shmkv::Store& s = S(h);
    return s.compare_and_delete(Bytes(key, key_len, "key"),
                                Bytes(expected, expected_len, "expected"))
               ? 1
               : 0;
  });
}

// --- TTL ---

int shmkv_expire(shmkv_store* h, const void* key, size_t key_len, int64_t ttl_ms) {
  return Call([&] { return S(h).expire(Bytes(key, key_len, "key"), Ms(ttl_ms)) ? 1 : 0; });
}

int shmkv_ttl(shmkv_store* h, const void* key, size_t key_len, int64_t* ttl_ms) {
  return Call([&] {
    auto t = S(h).ttl(Bytes(key, key_len, "key"));
    if (ttl_ms) *ttl_ms = t ? t->count() : 0;
    return t ? 1 : 0;
  });
}

// --- ordered reads ---

int shmkv_list(shmkv_store* h, const void* prefix, size_t prefix_len, size_t limit,
               shmkv_entry_fn fn, void* ctx, size_t* count) {
  const shmkv_range range = PrefixRange(prefix, prefix_len);
  return shmkv_list_range(h, &range, limit, fn, ctx, count);
}

int shmkv_list_range(shmkv_store* h, const shmkv_range* range, size_t limit, shmkv_entry_fn fn,
                     void* ctx, size_t* count) {
  return ListRange(h, range, limit, fn, ctx, count, &shmkv::Store::list);
}

int shmkv_list_keys(shmkv_store* h, const shmkv_range* range, size_t limit, shmkv_key_fn fn,
                    void* ctx, size_t* count) {
  return ListRange(h, range, limit, fn, ctx, count, &shmkv::Store::list_keys);
}

int shmkv_scan(shmkv_store* h, const void* prefix, size_t prefix_len, const void* cursor,
               size_t cursor_len, size_t limit, shmkv_entry_fn fn, void* ctx, void* next_cursor,
               size_t cursor_cap, size_t* next_cursor_len, int* done) {
  const shmkv_range range = PrefixRange(prefix, prefix_len);
  return shmkv_scan_range(h, &range, cursor, cursor_len, limit, fn, ctx, next_cursor, cursor_cap,
                          next_cursor_len, done);
}

int shmkv_scan_range(shmkv_store* h, const shmkv_range* range, const void* cursor,
                     size_t cursor_len, size_t limit, shmkv_entry_fn fn, void* ctx,
                     void* next_cursor, size_t cursor_cap, size_t* next_cursor_len, int* done) {
  return ScanRange(h, range, cursor, cursor_len, limit, fn, ctx, next_cursor, cursor_cap,
                   next_cursor_len, done, &shmkv::Store::scan);
}

int shmkv_scan_keys(shmkv_store* h, const shmkv_range* range, const void* cursor, size_t cursor_len,
                    size_t limit, shmkv_key_fn fn, void* ctx, void* next_cursor, size_t cursor_cap,
                    size_t* next_cursor_len, int* done) {
  return ScanRange(h, range, cursor, cursor_len, limit, fn, ctx, next_cursor, cursor_cap,
                   next_cursor_len, done, &shmkv::Store::scan_keys);
}

int shmkv_scan_buf(shmkv_store* h, const void* prefix, size_t prefix_len, const void* cursor,
                   size_t cursor_len, size_t limit, void* buf, size_t cap, size_t* used,
                   size_t* count, int* done) {
  const shmkv_range range = PrefixRange(prefix, prefix_len);
  return shmkv_scan_buf_range(h, &range, cursor, cursor_len, limit, buf, cap, used, count, done);
}

int shmkv_scan_buf_range(shmkv_store* h, const shmkv_range* range, const void* cursor,
                         size_t cursor_len, size_t limit, void* buf, size_t cap, size_t* used,
                         size_t* count, int* done) {
  return ScanRangeIntoBuffer(h, range, cursor, cursor_len, limit, buf, cap, used, count, done,
                             &shmkv::Store::scan);
}

int shmkv_scan_keys_buf(shmkv_store* h, const shmkv_range* range, const void* cursor,
                        size_t cursor_len, size_t limit, void* buf, size_t cap, size_t* used,
                        size_t* count, int* done) {
  return ScanRangeIntoBuffer(h, range, cursor, cursor_len, limit, buf, cap, used, count, done,
                             &shmkv::Store::scan_keys);
}

int shmkv_count(shmkv_store* h, const void* prefix, size_t prefix_len, uint64_t* count) {
  return Call([&] {
    shmkv::Store& s = S(h);
    Require(count, "count");
    *count = s.count(Bytes(prefix, prefix_len, "prefix"));
    return 0;
  });
}

int shmkv_count_range(shmkv_store* h, const shmkv_range* range, uint64_t* count) {
  return Call([&] {
    shmkv::Store& s = S(h);
    Require(count, "count");
    *count = s.count(RangeOf<shmkv::KeyRange>(range));
    return 0;
  });
}

int shmkv_delete_prefix(shmkv_store* h, const void* prefix, size_t prefix_len, size_t limit,
                        uint64_t* deleted, int* done) {
  return Call([&] {
    shmkv::Store& s = S(h);
    shmkv::DeletePrefixResult r = s.delete_prefix(Bytes(prefix, prefix_len, "prefix"), limit);
    if (deleted) *deleted = r.deleted;
    if (done) *done = r.done ? 1 : 0;
    return 0;
  });
}

int shmkv_delete_range(shmkv_store* h, const shmkv_range* range, size_t limit, uint64_t* deleted,
                       int* done) {
  return Call([&] {
    shmkv::Store& s = S(h);
    shmkv::DeletePrefixResult r = s.delete_range(RangeOf<shmkv::KeyRange>(range), limit);
    if (deleted) *deleted = r.deleted;
    if (done) *done = r.done ? 1 : 0;
    return 0;
  });
}

int shmkv_clear(shmkv_store* h) {
  return Call([&] {
    S(h).clear();
    return 0;
  });
}

// --- batches ---

int shmkv_get_many(shmkv_store* h, const void* const* keys, const size_t* key_lens, size_t n,
                   void** values, size_t* values_len, size_t* found) {
  return Call([&] {
    shmkv::Store& s = S(h);
    if (values) *values = nullptr;
    if (values_len) *values_len = 0;
    if (found) *found = 0;
    const std::vector<std::string_view> k = Batch(keys, key_lens, n, "keys");
    std::vector<std::optional<std::string>> got;
    const std::size_t present = s.get_many(k, &got);
    PutBlock(got, values, values_len);
    if (found) *found = present;
    return 0;
  });
}

int shmkv_set_many(shmkv_store* h, const void* const* keys, const size_t* key_lens,
                   const void* const* values, const size_t* value_lens, size_t n, int64_t ttl_ms) {
  return Call([&] {
    shmkv::Store& s = S(h);
    const std::vector<std::string_view> k = Batch(keys, key_lens, n, "keys");
    const std::vector<std::string_view> v = Batch(values, value_lens, n, "values");
    std::vector<std::pair<std::string, std::string>> pairs;
    pairs.reserve(n);
    for (std::size_t i = 0; i < n; ++i) pairs.emplace_back(k[i], v[i]);
    s.set_many(pairs, Ms(ttl_ms));
    return 0;
  });
}

int shmkv_delete_many(shmkv_store* h, const void* const* keys, const size_t* key_lens, size_t n,
                      uint64_t* deleted) {
  return Call([&] {
    shmkv::Store& s = S(h);
    const std::vector<std::string_view> k = Batch(keys, key_lens, n, "keys");
    const std::size_t d = s.delete_many(std::vector<std::string>(k.begin(), k.end()));
    if (deleted) *deleted = d;
    return 0;
  });
}

// --- backup and restore ---

int shmkv_backup(shmkv_store* h, const char* path, uint64_t* entries, uint64_t* bytes) {
  return Call([&] {
    shmkv::BackupResult r = S(h).backup(Path(path, "backup"));
    if (entries) *entries = r.entries;
    if (bytes) *bytes = r.bytes;
    return 0;
  });
}

int shmkv_restore(shmkv_store* h, const char* path, uint64_t max_entries, uint64_t max_bytes,
                  uint64_t* entries, uint64_t* bytes) {
  return Call([&] {
    shmkv::RestoreResult r = S(h).restore(Path(path, "restore"), {max_entries, max_bytes});
    if (entries) *entries = r.entries;
    if (bytes) *bytes = r.bytes;
    return 0;
  });
}

// --- persistence ---

int shmkv_sync(shmkv_store* h) {
  return Call([&] {
    S(h).sync();
    return 0;
  });
}

int shmkv_snapshot(shmkv_store* h, uint64_t* entries, uint64_t* bytes) {
  return Call([&] {
    shmkv::BackupResult r = S(h).snapshot();
    if (entries) *entries = r.entries;
    if (bytes) *bytes = r.bytes;
    return 0;
  });
}

int shmkv_recovery_report_get(shmkv_store* h, shmkv_recovery_report* report, size_t report_size,
                              void** messages, size_t* messages_len) {
  return Call([&] {
    shmkv::Store& s = S(h);
    if (messages) *messages = nullptr;
    if (messages_len) *messages_len = 0;
    const shmkv::RecoveryReport r = s.recovery_report();
    const shmkv_recovery_report out{
        r.performed ? 1 : 0, 0,
        r.snapshot_seq,      r.snapshot_entries,
        r.journal_files,     r.records_applied,
        r.records_skipped,   r.truncated_bytes,
        r.skipped_bytes,     r.entries,
        r.next_seq,          static_cast<std::uint64_t>(r.duration.count())};
    FillSized(out, report, report_size, "report");
    const std::vector<std::string> texts = ReportMessages(r);
    PutMessages(texts, messages, messages_len);
    return static_cast<int>(texts.size());
  });
}

int shmkv_export_jsonl(shmkv_store* h, const char* path, uint64_t* entries, uint64_t* bytes) {
  return Call([&] {
    shmkv::Store& s = S(h);
    shmkv::JsonlResult r = shmkv::export_jsonl(s, Path(path, "export"));
    if (entries) *entries = r.entries;
    if (bytes) *bytes = r.bytes;
    return 0;
  });
}

int shmkv_import_jsonl(shmkv_store* h, const char* path, uint64_t max_entries, uint64_t max_bytes,
                       uint64_t* entries, uint64_t* bytes, uint64_t* duplicates) {
  return Call([&] {
    shmkv::Store& s = S(h);
    const std::string file_path = Path(path, "import");
    std::ifstream file(file_path, std::ios::binary);
    if (!file) {
      const int err = errno;
      Throw(err == EACCES ? errc::permission_denied : errc::not_found,
            "cannot open " + file_path + ": " + std::strerror(err));
    }
    shmkv::RestoreResult r =
        shmkv::import_jsonl(s, file, shmkv::RestoreOptions{max_entries, max_bytes});
    if (entries) *entries = r.entries;
    if (bytes) *bytes = r.bytes;
    if (duplicates) *duplicates = r.duplicates;
    return 0;
  });
}

// --- random ---

int shmkv_random_key(shmkv_store* h, const void* prefix, size_t prefix_len, void* buf, size_t cap,
                     size_t* len) {
  return Call([&] {
    shmkv::Store& s = S(h);
    std::string_view p = Bytes(prefix, prefix_len, "prefix");
    CheckBuffer(buf, cap, "buf");
    auto k = s.random_key(p);
    if (!k) {
      if (len) *len = 0;
      return 0;
    }
    Out(*k, buf, cap, len, "key");
    return 1;
  });
}

int shmkv_pop_random(shmkv_store* h, const void* prefix, size_t prefix_len, void** key,
                     size_t* key_len, void** value, size_t* value_len) {
  return Call([&] {
    shmkv::Store& s = S(h);
    std::string_view p = Bytes(prefix, prefix_len, "prefix");
    return PutTaken([&] { return s.pop_random(p); }, key, key_len, value, value_len);
  });
}

int shmkv_pop_random_many(shmkv_store* h, const void* prefix, size_t prefix_len, size_t n,
                          void** entries, size_t* entries_len) {
  return Call([&] {
    shmkv::Store& s = S(h);
    std::string_view p = Bytes(prefix, prefix_len, "prefix");
    if (entries) *entries = nullptr;
    if (entries_len) *entries_len = 0;
    std::vector<shmkv::Entry> popped = s.pop_random_many(p, n);
    PutBlock(popped, entries, entries_len);
    return static_cast<int>(popped.size());
  });
}

int shmkv_random_keys(shmkv_store* h, const void* prefix, size_t prefix_len, size_t count,
                      int unique, void** keys, size_t* keys_len) {
  return Call([&] {
    shmkv::Store& s = S(h);
    std::string_view p = Bytes(prefix, prefix_len, "prefix");
    if (keys) *keys = nullptr;
    if (keys_len) *keys_len = 0;
    std::vector<std::string> drawn = s.random_keys(count, p, unique != 0);
    PutBlock(drawn, keys, keys_len);
    return static_cast<int>(drawn.size());
  });
}

// --- coordination ---

int shmkv_claim(shmkv_store* h, const void* key, size_t key_len, int64_t lease_ms, void** value,
                size_t* value_len, uint64_t* token) {
  return Call([&] {
    shmkv::Store& s = S(h);
    std::string_view k = Bytes(key, key_len, "key");
    return PutTaken([&] { return s.claim(k, Ms(lease_ms)); }, nullptr, nullptr, value, value_len,
                    token);
  });
}

int shmkv_claim_random(shmkv_store* h, const void* prefix, size_t prefix_len, int64_t lease_ms,
                       void** key, size_t* key_len, void** value, size_t* value_len,
                       uint64_t* token) {
  return Call([&] {
    shmkv::Store& s = S(h);
    std::string_view p = Bytes(prefix, prefix_len, "prefix");
    return PutTaken([&] { return s.claim_random(p, Ms(lease_ms)); }, key, key_len, value, value_len,
                    token);
  });
}

int shmkv_renew(shmkv_store* h, const void* key, size_t key_len, uint64_t token, int64_t lease_ms) {
  return Call([&] { return S(h).renew(Bytes(key, key_len, "key"), token, Ms(lease_ms)) ? 1 : 0; });
}

int shmkv_release(shmkv_store* h, const void* key, size_t key_len, uint64_t token) {
  return Call([&] { return S(h).release(Bytes(key, key_len, "key"), token) ? 1 : 0; });
}

int shmkv_complete(shmkv_store* h, const void* key, size_t key_len, uint64_t token) {
  return Call([&] { return S(h).complete(Bytes(key, key_len, "key"), token) ? 1 : 0; });
}

int shmkv_lock(shmkv_store* h, const void* name, size_t name_len, int64_t lease_ms, int64_t wait_ms,
               uint64_t* token) {
  return Call([&] {
    shmkv::Store& s = S(h);
    if (token) *token = 0;
    return PutToken(s.lock(Bytes(name, name_len, "name"), Ms(lease_ms), Ms(wait_ms)), token);
  });
}

int shmkv_unlock(shmkv_store* h, const void* name, size_t name_len, uint64_t token) {
  return Call([&] { return S(h).unlock(Bytes(name, name_len, "name"), token) ? 1 : 0; });
}

int shmkv_acquire(shmkv_store* h, const void* name, size_t name_len, uint32_t permits,
                  int64_t wait_ms, uint64_t* token) {
  return Call([&] {
    shmkv::Store& s = S(h);
    if (token) *token = 0;
    return PutToken(s.acquire(Bytes(name, name_len, "name"), permits, Ms(wait_ms)), token);
  });
}

int shmkv_release_permit(shmkv_store* h, const void* name, size_t name_len, uint64_t token) {
  return Call([&] { return S(h).release_permit(Bytes(name, name_len, "name"), token) ? 1 : 0; });
}

// --- waiting ---

int shmkv_wait_for(shmkv_store* h, const void* key, size_t key_len, int64_t timeout_ms) {
  return Call([&] { return S(h).wait_for(Bytes(key, key_len, "key"), Ms(timeout_ms)) ? 1 : 0; });
}

int shmkv_pop_random_wait(shmkv_store* h, const void* prefix, size_t prefix_len, int64_t timeout_ms,
                          void** key, size_t* key_len, void** value, size_t* value_len) {
  return Call([&] {
    shmkv::Store& s = S(h);
    std::string_view p = Bytes(prefix, prefix_len, "prefix");
    return PutTaken([&] { return s.pop_random_wait(p, Ms(timeout_ms)); }, key, key_len, value,
                    value_len);
  });
}

int shmkv_barrier(shmkv_store* h, const void* name, size_t name_len, uint32_t parties,
                  int64_t timeout_ms, uint32_t* index) {
  return Call([&] {
    shmkv::Store& s = S(h);
    if (index) *index = 0;
    const std::optional<std::size_t> arrival =
        s.barrier(Bytes(name, name_len, "name"), parties, Ms(timeout_ms));
    if (!arrival) return 0;
    if (index) *index = static_cast<std::uint32_t>(*arrival);
    return 1;
  });
}

// --- whole store ---

int shmkv_info_get(shmkv_store* h, shmkv_info* info, size_t info_size) {
  return Call([&] {
    shmkv::Info i = S(h).info();
    shmkv_info out{};
    std::size_t n = std::min(i.name.size(), sizeof out.name - 1);
    std::memcpy(out.name, i.name.data(), n);
    out.layout_version = i.layout_version;
    out.shards = i.shards;
    out.layout_fingerprint = i.layout_fingerprint;
    out.created_unix_ms = i.created_unix_ms;
    out.size_bytes = i.size_bytes;
    out.max_key_bytes = i.max_key_bytes;
    out.max_value_bytes = i.max_value_bytes;
    out.max_keys = i.max_keys;
    out.arena_bytes = i.arena_bytes;
    out.arena_used_bytes = i.arena_used_bytes;
    out.live_keys = i.live_keys;
    out.processes = i.processes.size();
    out.home_block_bytes = i.home_block_bytes;
    out.home_records = i.home_records;
    std::memcpy(out.engine, i.engine.data(), std::min(i.engine.size(), sizeof out.engine - 1));
    for (const shmkv::ShardInfo& si : i.shard) out.recoveries += si.recoveries;
    out.coordination_capacity = i.coordination.capacity;
    out.coordination_used = i.coordination.used;
    out.coordination_last_token = i.coordination.last_token;
    out.coordination_waiters = i.coordination.waiters;
    out.coordination_recoveries = i.coordination.recoveries;
    FillSized(out, info, info_size, "info");
    return 0;
  });
}

int shmkv_info_shards(shmkv_store* h, shmkv_shard_info* arr, size_t cap, size_t* count) {
  return InfoArray(
      h, arr, cap, count, "shards", [](const shmkv::Info& i) -> const auto& { return i.shard; },
      [](const shmkv::ShardInfo& si) {
        return shmkv_shard_info{si.live_keys,
                                si.capacity,
                                si.arena_bytes,
                                si.used_bytes,
                                si.recoveries,
                                si.max_probe,
                                0};
      });
}

int shmkv_info_processes(shmkv_store* h, shmkv_process_info* arr, size_t cap, size_t* count) {
  return InfoArray(
      h, arr, cap, count, "processes",
      [](const shmkv::Info& i) -> const auto& { return i.processes; },
      [](const shmkv::ProcessInfo& p) {
        return shmkv_process_info{p.pid, p.alive ? 1 : 0, p.start_time};
      });
}

int shmkv_info_grants(shmkv_store* h, shmkv_grant_info* arr, size_t cap, size_t* count) {
  return InfoArray(
      h, arr, cap, count, "grants",
      [](const shmkv::Info& i) -> const auto& { return i.coordination.grants; },
      [](const shmkv::GrantInfo& g) {
        shmkv_grant_info out{};
        std::memcpy(out.kind, g.kind.data(), std::min(g.kind.size(), sizeof out.kind - 1));
        out.name_head_len =
            static_cast<std::uint32_t>(std::min(g.name_head.size(), sizeof out.name_head));
        std::memcpy(out.name_head, g.name_head.data(), out.name_head_len);
        out.name_bytes = g.name_bytes;
        out.token = g.token;
        out.holder_pid = g.holder_pid;
        out.holder_alive = g.holder_alive ? 1 : 0;
        out.lease_left_ms = g.lease_left_ms;
        return out;
      });
}

int shmkv_stats_get(shmkv_store* h, shmkv_stats* stats, size_t stats_size) {
  return Call([&] {
    shmkv::Stats st = S(h).stats();
    shmkv_stats out{st.gets,        st.hits,        st.misses,     st.sets,      st.deletes,
                    st.cas_success, st.cas_failure, st.lock_waits, st.recoveries};
    FillSized(out, stats, stats_size, "stats");
    return 0;
  });
}

int shmkv_size(shmkv_store* h, uint64_t* count) {
  return Call([&] {
    shmkv::Store& s = S(h);
    Require(count, "count");
    *count = s.size();
    return 0;
  });
}

int shmkv_check_invariants(shmkv_store* h, void** report, size_t* report_len) {
  return Call([&] {
    shmkv::Store& s = S(h);
    if (report) *report = nullptr;
    if (report_len) *report_len = 0;
    const std::vector<std::string> violations = s.check_invariants();
    PutMessages(violations, report, report_len);
    return static_cast<int>(std::min<std::size_t>(violations.size(), INT32_MAX));
  });
}

}  // extern "C"
