// test_util.hpp: helpers shared by every shmkv test executable.
//
// - unique segment names ("t-<pid>-<counter>") and an RAII guard that destroys the segment;
// - fork helpers that run a lambda in a child (which always leaves through _exit, never back into
//   Catch2) and wait for it with a bounded timeout, so a hang fails the test instead of blocking;
// - a start barrier for children (a pipe whose write end the parent closes);
// - an anonymous MAP_SHARED array children can write results into;
// - Outcome / outcome_of: "which shmkv::errc did this call raise", printable by Catch2.
//
// Test files include this header instead of <catch2/catch.hpp> so the string makers below are
// enabled consistently.
#pragma once

#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER
#define CATCH_CONFIG_ENABLE_PAIR_STRINGMAKER
#include <sys/types.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shmkv/shmkv.hpp"

namespace testutil {

using namespace std::chrono_literals;

// "<tag>-<pid>-<counter>": unique within this host for the life of the process.
std::string unique_name(std::string_view tag = "t");

// /dev/shm/shmkv.<name>
std::string segment_path(const std::string& name);

// Destroys the segment (and removes any file left at its path) when it goes out of scope.
// Declare it before the Store objects that use the segment so they close first.
class SegmentGuard {
 public:
  explicit SegmentGuard(std::string name) : name_(std::move(name)) {}
  SegmentGuard(const SegmentGuard&) = delete;
  SegmentGuard& operator=(const SegmentGuard&) = delete;
  ~SegmentGuard();
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// Options for a small store: size_bytes 8 MiB, 4 shards, the rest default.
shmkv::Options small_options(const std::string& name, std::uint64_t size_bytes = 8ull << 20,
                             std::uint32_t shards = 4);

// Options that attach to an existing store whatever its sizes: name only, the rest default (an
// option set to another value than the segment's is refused with invalid_argument).
inline shmkv::Options attach_options(const std::string& name) {
  shmkv::Options o;
  o.name = name;
  return o;
}

// --- processes ---

inline constexpr int kChildTimedOut = -1;      // wait_child: killed after the timeout
inline constexpr int kChildException = 90;     // run_child: fn threw a shmkv::Error
inline constexpr int kChildStdException = 91;  // fn threw another std::exception
inline constexpr int kChildUnknown = 92;       // fn threw something else

// Forks; the child runs fn and leaves with _exit(fn()) (exceptions are printed to stderr and
// mapped to the codes above). Returns the child's pid in the parent.
pid_t spawn_child(std::function<int()> fn);

// Waits for pid at most `timeout`. Returns the exit status, 128 + signal if it was killed by a
// signal, or kChildTimedOut (after SIGKILLing and reaping it) on timeout.
int wait_child(pid_t pid, std::chrono::milliseconds timeout = 120s);

// spawn_child + wait_child.
int run_in_child(std::function<int()> fn, std::chrono::milliseconds timeout = 120s);

// Spawns n children (fn receives the index 0..n-1) and waits for all within one shared deadline.
// Returns the statuses in index order.
std::vector<int> run_children(int n, const std::function<int(int)>& fn,
                              std::chrono::milliseconds timeout = 120s);

// A start line for forked children: children call wait() (blocks until the parent calls
// release() or is gone), the parent calls release() after forking all of them.
class StartBarrier {
 public:
  StartBarrier();
  ~StartBarrier();
  StartBarrier(const StartBarrier&) = delete;
  StartBarrier& operator=(const StartBarrier&) = delete;
  void wait();     // in a child
  void release();  // in the parent
 private:
  int fds_[2];
};

// n elements of T (trivially copyable) in an anonymous MAP_SHARED mapping, zero-initialized,
// visible to children forked after construction.
class SharedBytes {
 public:
  explicit SharedBytes(std::size_t bytes);
  ~SharedBytes();
  SharedBytes(const SharedBytes&) = delete;
  SharedBytes& operator=(const SharedBytes&) = delete;
  void* data() const { return data_; }

 private:
  void* data_;
  std::size_t bytes_;
};

template <typename T>
class SharedArray {
 public:
  explicit SharedArray(std::size_t n) : n_(n), bytes_(n * sizeof(T) + 1) {}
  T* data() const { return static_cast<T*>(bytes_.data()); }
  T& operator[](std::size_t i) const { return data()[i]; }
  std::size_t size() const { return n_; }

 private:
  std::size_t n_;
  SharedBytes bytes_;
};

// --- errors ---

// What a call did: returned normally, threw shmkv::Error with a code, or threw something else.
struct Outcome {
  enum Kind { returned, shmkv_error, other_exception } kind = returned;
  shmkv::errc code = shmkv::errc::ok;
  std::string what;
};

Outcome outcome_of(const std::function<void()>& fn);

inline bool operator==(const Outcome& o, shmkv::errc e) {
  return o.kind == Outcome::shmkv_error && o.code == e;
}

// REQUIRE_ERRC(store.get(""), shmkv::errc::invalid_argument)
#define REQUIRE_ERRC(expr, ec) REQUIRE(::testutil::outcome_of([&] { (void)(expr); }) == (ec))
#define CHECK_ERRC(expr, ec) CHECK(::testutil::outcome_of([&] { (void)(expr); }) == (ec))

// --- misc ---

// Store::exists(std::string_view key) on a handle (kept as a helper from when a static
// Store::exists(name) overload made s.exists("literal") ambiguous).
inline bool key_exists(shmkv::Store& s, std::string_view key) {
  return s.exists(key);
}

// A printable rendering of binary bytes (non-printables as \xNN).
std::string escape(std::string_view bytes);

// escape() of each string, in order: compare key lists so a failure prints them readably.
std::vector<std::string> escape_each(const std::vector<std::string>& strings);

// Deterministic value bytes for (key, length): lets a reader check what a writer stored.
std::string pattern_value(std::string_view key, std::size_t len);

// Files in /dev/shm whose name contains `needle`.
std::vector<std::string> shm_files_containing(const std::string& needle);

// A seed: SHMKV_TEST_SEED from the environment if set, else a fresh random one.
std::uint64_t test_seed();

}  // namespace testutil

namespace Catch {
template <>
struct StringMaker<shmkv::errc> {
  static std::string convert(shmkv::errc e) { return shmkv::errc_name(e); }
};
template <>
struct StringMaker<testutil::Outcome> {
  static std::string convert(const testutil::Outcome& o) {
    switch (o.kind) {
      case testutil::Outcome::returned:
        return "returned normally (no exception)";
      case testutil::Outcome::shmkv_error:
        return std::string("threw ") + shmkv::errc_name(o.code) + ": \"" + o.what + "\"";
      default:
        return "threw a non-shmkv exception: \"" + o.what + "\"";
    }
  }
};
template <>
struct StringMaker<shmkv::Entry> {
  static std::string convert(const shmkv::Entry& e) {
    return "{\"" + testutil::escape(e.key) + "\": \"" + testutil::escape(e.value) + "\"}";
  }
};
}  // namespace Catch
