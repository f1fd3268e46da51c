// Segment lifecycle: open modes, names, file mode, info, destroy, close, incompatible or
// half-initialized files, permissions and the concurrent creation race.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "shm/layout.hpp"
#include "test_util.hpp"

using shmkv::errc;
using shmkv::OpenMode;
using shmkv::Store;
using namespace testutil;

namespace {

// Writes `bytes` at the start of `path` (created 0600 if missing), then sets its size to `size`.
void write_file(const std::string& path, const std::string& bytes, off_t size) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::fchmod(fd, 0600) == 0);
  if (!bytes.empty()) {
    REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  }
  REQUIRE(::ftruncate(fd, size) == 0);
  ::close(fd);
}

template <typename T>
T read_at(const std::string& path, std::size_t offset) {
  T v{};
  int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::pread(fd, &v, sizeof v, static_cast<off_t>(offset)) == static_cast<ssize_t>(sizeof v));
  ::close(fd);
  return v;
}

template <typename T>
void write_at(const std::string& path, std::size_t offset, T v) {
  int fd = ::open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, &v, sizeof v, static_cast<off_t>(offset)) == static_cast<ssize_t>(sizeof v));
  ::close(fd);
}

shmkv::Options with_mode(shmkv::Options o, OpenMode m) {
  o.open_mode = m;
  return o;
}

// Exact segment files of `name` in /dev/shm, plus anything that looks like a leftover temp file
// of it ("shmkv.<name>" followed by a non-digit, so t-1-1 does not match t-1-10).
std::vector<std::string> files_of(const std::string& name) {
  std::vector<std::string> out;
  for (const auto& f : shm_files_containing(name)) {
    auto pos = f.find(name);
    auto end = pos + name.size();
    if (end < f.size() && f[end] >= '0' && f[end] <= '9') continue;
    out.push_back(f);
  }
  return out;
}

}  // namespace

TEST_CASE("segment: create_or_attach creates, then attaches to the same data", "[segment]") {
  SegmentGuard g(unique_name());
  REQUIRE_FALSE(Store::segment_exists(g.name()));
  {
    Store s = Store::open(small_options(g.name()));
    REQUIRE(s.is_open());
    REQUIRE(Store::segment_exists(g.name()));
    s.set("k", "v1");
  }
  // Closed handles do not remove the segment.
  REQUIRE(Store::segment_exists(g.name()));
  Store a = Store::open(small_options(g.name()));
  REQUIRE(a.get("k") == std::optional<std::string>("v1"));
  Store b = Store::open(small_options(g.name()));
  b.set("k2", "v2");
  REQUIRE(a.get("k2") == std::optional<std::string>("v2"));
  REQUIRE(a.check_invariants().empty());
}

TEST_CASE("segment: create_only raises already_exists on an existing segment", "[segment]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(with_mode(small_options(g.name()), OpenMode::create_only));
  s.set("k", "v");
  auto o =
      outcome_of([&] { Store::open(with_mode(small_options(g.name()), OpenMode::create_only)); });
  REQUIRE(o == errc::already_exists);
  // The existing segment is untouched.
  REQUIRE(s.get("k") == std::optional<std::string>("v"));
  Store t = Store::open(with_mode(small_options(g.name()), OpenMode::attach_only));
  REQUIRE(t.get("k") == std::optional<std::string>("v"));
}

TEST_CASE("segment: attach_only raises not_found on a missing segment and creates nothing",
          "[segment]") {
  SegmentGuard g(unique_name());
  REQUIRE_ERRC(Store::open(with_mode(small_options(g.name()), OpenMode::attach_only)),
               errc::not_found);
  REQUIRE_FALSE(Store::segment_exists(g.name()));
  REQUIRE(files_of(g.name()).empty());
}

TEST_CASE("segment: read_only on a missing segment raises not_found", "[segment]") {
  SegmentGuard g(unique_name());
  REQUIRE_ERRC(Store::open(with_mode(small_options(g.name()), OpenMode::read_only)),
               errc::not_found);
  REQUIRE_FALSE(Store::segment_exists(g.name()));
}

TEST_CASE("segment: read_only handle reads work", "[segment][read_only]") {
  SegmentGuard g(unique_name());
  Store w = Store::open(small_options(g.name()));
  for (int i = 0; i < 20; ++i) w.set("k" + std::to_string(i), "v" + std::to_string(i));
  w.set("t", "x", std::chrono::seconds(100));
  Store r = Store::open(with_mode(small_options(g.name()), OpenMode::read_only));

  SECTION("point reads") {
    REQUIRE(r.get("k3") == std::optional<std::string>("v3"));
    REQUIRE(r.get("missing") == std::nullopt);
    REQUIRE(key_exists(r, "k4"));
    REQUIRE_FALSE(key_exists(r, "nope"));
    auto t = r.ttl("t");
    REQUIRE(t.has_value());
    REQUIRE(*t > std::chrono::seconds(50));
    REQUIRE(r.ttl("k1") == std::optional<std::chrono::milliseconds>(std::chrono::milliseconds(0)));
    auto many = r.get_many({"k1", "zz", "k2"});
    REQUIRE(many.size() == 3);
    REQUIRE(many[0] == std::optional<std::string>("v1"));
    REQUIRE(many[1] == std::nullopt);
    REQUIRE(many[2] == std::optional<std::string>("v2"));
  }
  SECTION("ordered and whole-store reads") {
    REQUIRE(r.size() == 21);
    REQUIRE(r.count("k") == 20);
    REQUIRE(r.list({"k1", 0}).size() == 11);  // k1, k10..k19
    auto page = r.scan({"k", 5, ""});
    REQUIRE(page.entries.size() == 5);
    REQUIRE_FALSE(page.done);
    REQUIRE(r.random_key("k").has_value());
    REQUIRE(r.random_keys(50, "k", true).size() == 20);
    auto info = r.info();
    REQUIRE(info.name == g.name());
    REQUIRE(info.live_keys == 21);
    (void)r.stats();
  }
  SECTION("check_invariants") {
    REQUIRE(r.check_invariants().empty());
  }
  SECTION("sees later writes of another handle") {
    w.set("new", "value");
    REQUIRE(r.get("new") == std::optional<std::string>("value"));
    w.del("k0");
    REQUIRE_FALSE(key_exists(r, "k0"));
  }
}

TEST_CASE("segment: read_only handle: every data-changing mutation raises read_only",
          "[segment][read_only]") {
  SegmentGuard g(unique_name());
  Store w = Store::open(small_options(g.name()));
  w.set("a", "1");
  w.set("b", "2");
  w.set("p:1", "x");
  Store r = Store::open(with_mode(small_options(g.name()), OpenMode::read_only));

  CHECK_ERRC(r.set("c", "3"), errc::read_only);
  CHECK_ERRC(r.set("a", "changed"), errc::read_only);
  CHECK_ERRC(r.del("a"), errc::read_only);
  CHECK_ERRC(r.increment_by("a", 1), errc::read_only);
  CHECK_ERRC(r.increment_by("cnt", 1), errc::read_only);
  CHECK_ERRC(r.get_or_set("new", "v"), errc::read_only);
  CHECK_ERRC(r.swap("a", "v"), errc::read_only);
  CHECK_ERRC(r.compare_and_swap("a", std::string_view("1"), "9"), errc::read_only);
  CHECK_ERRC(r.compare_and_swap("new", std::nullopt, "9"), errc::read_only);
  CHECK_ERRC(r.compare_and_delete("a", "1"), errc::read_only);
  CHECK_ERRC(r.set_if_absent("new", "v"), errc::read_only);
  CHECK_ERRC(r.expire("a", std::chrono::seconds(10)), errc::read_only);
  CHECK_ERRC(r.set_many({{"x", "1"}, {"y", "2"}}), errc::read_only);
  CHECK_ERRC(r.delete_many({"a", "b"}), errc::read_only);
  CHECK_ERRC(r.delete_prefix("p:"), errc::read_only);
  CHECK_ERRC(r.pop_random(), errc::read_only);
  CHECK_ERRC(r.clear(), errc::read_only);

  // Nothing changed.
  REQUIRE(w.size() == 3);
  REQUIRE(w.get("a") == std::optional<std::string>("1"));
  REQUIRE(w.get("b") == std::optional<std::string>("2"));
  REQUIRE(w.ttl("a") == std::optional<std::chrono::milliseconds>(std::chrono::milliseconds(0)));
  REQUIRE(w.check_invariants().empty());
}

TEST_CASE("segment: read_only handle: mutations that would change nothing still raise read_only",
          "[segment][read_only]") {
  SegmentGuard g(unique_name());
  Store w = Store::open(small_options(g.name()));
  w.set("a", "1");
  Store r = Store::open(with_mode(small_options(g.name()), OpenMode::read_only));
  CHECK_ERRC(r.del("absent"), errc::read_only);
  CHECK_ERRC(r.get_or_set("a", "other"), errc::read_only);
  CHECK_ERRC(r.compare_and_swap("a", std::string_view("wrong"), "9"), errc::read_only);
  CHECK_ERRC(r.compare_and_delete("a", "wrong"), errc::read_only);
  CHECK_ERRC(r.set_if_absent("a", "v"), errc::read_only);
  CHECK_ERRC(r.expire("absent", std::chrono::seconds(1)), errc::read_only);
  CHECK_ERRC(r.delete_many({"absent"}), errc::read_only);
  CHECK_ERRC(r.delete_prefix("nothing:"), errc::read_only);
  CHECK_ERRC(r.pop_random("nothing:"), errc::read_only);
  REQUIRE(w.get("a") == std::optional<std::string>("1"));
}

TEST_CASE("segment: valid names are accepted", "[segment][names]") {
  std::string base = unique_name("n");
  std::vector<std::string> names = {base + "a", base + ".b_c-9Z", base + "."};
  std::string longest = base;
  while (longest.size() < 200) longest += 'x';
  names.push_back(longest);
  for (const auto& name : names) {
    INFO("name: " << name << " (" << name.size() << " chars)");
    SegmentGuard g(name);
    Store s = Store::open(small_options(name));
    s.set("k", "v");
    REQUIRE(s.info().name == name);
    REQUIRE(Store::segment_exists(name));
    struct stat st {};
    REQUIRE(::stat(segment_path(name).c_str(), &st) == 0);
    s.close();
    Store::destroy(name);
    REQUIRE_FALSE(Store::segment_exists(name));
  }
}

TEST_CASE("segment: invalid names raise invalid_argument naming the name", "[segment][names]") {
  std::string too_long(201, 'a');
  std::vector<std::string> bad = {"",     "../x", "a/b", too_long, "a b", "a\tb",
                                  "ab\n", "a\\b", "é",   "a:b",    "a*"};
  for (const auto& name : bad) {
    INFO("name: \"" << escape(name) << "\"");
    auto o = outcome_of([&] { Store::open(small_options(name)); });
    REQUIRE(o == errc::invalid_argument);
    CHECK(o.what.find(name) != std::string::npos);
    auto d = outcome_of([&] { Store::destroy(name); });
    CHECK(d == errc::invalid_argument);
  }
  // Nothing was created for the 201-char name.
  REQUIRE(::access(segment_path(too_long).c_str(), F_OK) != 0);
}

TEST_CASE("segment: the segment file is /dev/shm/shmkv.<name> with mode 0600", "[segment]") {
  SegmentGuard g(unique_name());
  ::umask(022);
  Store s = Store::open(small_options(g.name()));
  struct stat st {};
  REQUIRE(::stat(segment_path(g.name()).c_str(), &st) == 0);
  REQUIRE(S_ISREG(st.st_mode));
  REQUIRE((st.st_mode & 07777) == 0600);
  REQUIRE(st.st_uid == ::getuid());
}

TEST_CASE("segment: Options::mode is applied exactly, umask undone", "[segment]") {
  SegmentGuard g(unique_name());
  mode_t old = ::umask(077);
  auto o = small_options(g.name());
  o.mode = 0640;
  Store s = Store::open(o);
  ::umask(old);
  struct stat st {};
  REQUIRE(::stat(segment_path(g.name()).c_str(), &st) == 0);
  REQUIRE((st.st_mode & 07777) == 0640);
}

TEST_CASE("segment: info reports the creation parameters; attach with default options takes them",
          "[segment][info]") {
  SegmentGuard g(unique_name());
  auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  shmkv::Options o = small_options(g.name(), 4ull << 20, 8);
  o.max_key_bytes = 100;
  o.max_value_bytes = 5000;
  o.max_keys = 2000;
  Store s = Store::open(o);
  auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  auto i1 = s.info();
  REQUIRE(i1.name == g.name());
  REQUIRE(i1.layout_version == shmkv::detail::kLayoutVersion);
  REQUIRE(i1.layout_fingerprint == shmkv::detail::LayoutFingerprint());
  REQUIRE(i1.size_bytes == (4ull << 20));
  REQUIRE(i1.shards == 8);
  REQUIRE(i1.shard.size() == 8);
  REQUIRE(i1.max_key_bytes == 100);
  REQUIRE(i1.max_value_bytes == 5000);
  REQUIRE(i1.max_keys >= 2000);
  REQUIRE(i1.max_keys < 2000 * 4);
  REQUIRE(i1.arena_bytes > 0);
  REQUIRE(i1.arena_bytes < i1.size_bytes);
  REQUIRE(i1.live_keys == 0);
  REQUIRE(static_cast<std::int64_t>(i1.created_unix_ms) >= before - 1000);
  REQUIRE(static_cast<std::int64_t>(i1.created_unix_ms) <= after + 1000);
  bool me = false;
  for (const auto& p : i1.processes) me |= (p.pid == ::getpid() && p.alive);
  REQUIRE(me);

  // Attach with the size options left at their defaults (max_keys is not recorded as given:
  // it is ignored): the segment's values.
  shmkv::Options other;
  other.name = g.name();
  other.max_keys = 50;
  Store t = Store::open(other);
  auto i2 = t.info();
  REQUIRE(i2.size_bytes == i1.size_bytes);
  REQUIRE(i2.shards == 8);
  REQUIRE(i2.max_key_bytes == 100);
  REQUIRE(i2.max_value_bytes == 5000);
  REQUIRE(i2.max_keys == i1.max_keys);
  REQUIRE(i2.created_unix_ms == i1.created_unix_ms);
  // The recorded limits are enforced.
  t.set(std::string(100, 'k'), std::string(5000, 'v'));
  REQUIRE_ERRC(t.set(std::string(101, 'k'), "v"), errc::key_too_long);
  REQUIRE_ERRC(t.set("k", std::string(5001, 'v')), errc::value_too_large);
  struct stat st {};
  REQUIRE(::stat(segment_path(g.name()).c_str(), &st) == 0);
  REQUIRE(static_cast<std::uint64_t>(st.st_size) == (4ull << 20));
}

TEST_CASE("segment: attach with options that conflict with the segment raises invalid_argument",
          "[segment][info]") {
  SegmentGuard g(unique_name());
  shmkv::Options o = small_options(g.name(), 4ull << 20, 8);
  o.max_key_bytes = 100;
  o.max_value_bytes = 5000;
  Store s = Store::open(o);
  s.set("k", "v");
  auto message_of = [](const shmkv::Options& opts) {
    Outcome r = outcome_of([&] { (void)Store::open(opts); });
    REQUIRE(r == errc::invalid_argument);
    return r.what;
  };
  auto has = [](const std::string& what, const std::string& part) {
    INFO(what);
    REQUIRE(what.find(part) != std::string::npos);
  };

  shmkv::Options size = o;
  size.size_bytes = 8ull << 20;
  std::string what = message_of(size);
  has(what, "size_bytes 4194304");  // the store's
  has(what, "size_bytes 8388608");  // the caller's
  has(what, g.name());
  shmkv::Options shards = o;
  shards.shards = 16;
  what = message_of(shards);
  has(what, "shards 8");
  has(what, "shards 16");
  shmkv::Options key = o;
  key.max_key_bytes = 10;
  what = message_of(key);
  has(what, "max_key_bytes 100");
  has(what, "max_key_bytes 10 ");
  shmkv::Options value = o;
  value.max_value_bytes = 6000;
  what = message_of(value);
  has(what, "max_value_bytes 5000");
  has(what, "max_value_bytes 6000");
  for (auto mode : {OpenMode::attach_only, OpenMode::read_only}) {
    size.open_mode = mode;
    has(message_of(size), "size_bytes 8388608");
  }

  // The same values, or the defaults, attach; nothing changed.
  Store same = Store::open(o);
  REQUIRE(same.get("k") == std::optional<std::string>("v"));
  shmkv::Options d;
  d.name = g.name();
  Store dflt = Store::open(d);
  REQUIRE(dflt.get("k") == std::optional<std::string>("v"));
  REQUIRE(dflt.info().size_bytes == (4ull << 20));
  REQUIRE(dflt.info().max_value_bytes == 5000);
  REQUIRE(s.size() == 1);
  REQUIRE(s.info().processes.size() == 3);  // the refused opens left no process registered
}

TEST_CASE("segment: default shard count is chosen from the core count", "[segment][info]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(small_options(g.name(), 8ull << 20, 0));
  auto i = s.info();
  REQUIRE(i.shards >= 16);
  REQUIRE(i.shards <= 1024);
  REQUIRE((i.shards & (i.shards - 1)) == 0);
}

TEST_CASE("segment: invalid options raise invalid_argument and create nothing",
          "[segment][options]") {
  SegmentGuard g(unique_name());
  SECTION("shards not a power of two") {
    auto o = small_options(g.name(), 8ull << 20, 3);
    REQUIRE_ERRC(Store::open(o), errc::invalid_argument);
  }
  SECTION("max_key_bytes 0") {
    auto o = small_options(g.name());
    o.max_key_bytes = 0;
    REQUIRE_ERRC(Store::open(o), errc::invalid_argument);
  }
  SECTION("max_key_bytes 65536") {
    auto o = small_options(g.name());
    o.max_key_bytes = 65536;
    REQUIRE_ERRC(Store::open(o), errc::invalid_argument);
  }
  REQUIRE_FALSE(Store::segment_exists(g.name()));
  REQUIRE(files_of(g.name()).empty());
}

TEST_CASE("segment: a size too small for the layout raises invalid_argument and creates nothing",
          "[segment][options]") {
  SegmentGuard g(unique_name());
  auto o = small_options(g.name(), 4096, 4);
  REQUIRE_ERRC(Store::open(o), errc::invalid_argument);
  REQUIRE_FALSE(Store::segment_exists(g.name()));
  REQUIRE(files_of(g.name()).empty());
}

TEST_CASE("segment: destroy", "[segment]") {
  SegmentGuard g(unique_name());
  SECTION("removes the segment; a new open starts empty") {
    {
      Store s = Store::open(small_options(g.name()));
      s.set("k", "v");
    }
    Store::destroy(g.name());
    REQUIRE_FALSE(Store::segment_exists(g.name()));
    REQUIRE(::access(segment_path(g.name()).c_str(), F_OK) != 0);
    REQUIRE_ERRC(Store::open(with_mode(small_options(g.name()), OpenMode::attach_only)),
                 errc::not_found);
    Store s = Store::open(small_options(g.name()));
    REQUIRE(s.size() == 0);
    REQUIRE(s.get("k") == std::nullopt);
  }
  SECTION("on a missing segment raises not_found") {
    REQUIRE_ERRC(Store::destroy(g.name()), errc::not_found);
  }
  SECTION("attached handles keep working after destroy") {
    Store s = Store::open(small_options(g.name()));
    s.set("k", "v");
    Store::destroy(g.name());
    REQUIRE_FALSE(Store::segment_exists(g.name()));
    REQUIRE(s.get("k") == std::optional<std::string>("v"));
    s.set("k2", "v2");
    REQUIRE(s.size() == 2);
    // A new open makes a fresh segment, independent of the unlinked one.
    Store fresh = Store::open(small_options(g.name()));
    REQUIRE(fresh.size() == 0);
    fresh.set("only-fresh", "1");
    REQUIRE_FALSE(key_exists(s, "only-fresh"));
  }
}

TEST_CASE("segment: close is idempotent; every call after close raises closed", "[segment]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(small_options(g.name()));
  s.set("k", "v");
  s.close();
  REQUIRE_FALSE(s.is_open());
  s.close();
  REQUIRE_FALSE(s.is_open());

  CHECK_ERRC(s.get("k"), errc::closed);
  CHECK_ERRC(s.set("k", "v"), errc::closed);
  CHECK_ERRC(key_exists(s, "k"), errc::closed);
  CHECK_ERRC(s.del("k"), errc::closed);
  CHECK_ERRC(s.increment_by("n", 1), errc::closed);
  CHECK_ERRC(s.get_or_set("k", "v"), errc::closed);
  CHECK_ERRC(s.swap("k", "v"), errc::closed);
  CHECK_ERRC(s.compare_and_swap("k", std::nullopt, "v"), errc::closed);
  CHECK_ERRC(s.compare_and_delete("k", "v"), errc::closed);
  CHECK_ERRC(s.set_if_absent("k", "v"), errc::closed);
  CHECK_ERRC(s.expire("k", std::chrono::seconds(1)), errc::closed);
  CHECK_ERRC(s.ttl("k"), errc::closed);
  CHECK_ERRC(s.get_many({"k"}), errc::closed);
  CHECK_ERRC(s.set_many({{"k", "v"}}), errc::closed);
  CHECK_ERRC(s.delete_many({"k"}), errc::closed);
  CHECK_ERRC(s.delete_prefix("k"), errc::closed);
  CHECK_ERRC(s.list(), errc::closed);
  CHECK_ERRC(s.scan({}), errc::closed);
  CHECK_ERRC(s.count(), errc::closed);
  CHECK_ERRC(s.random_key(), errc::closed);
  CHECK_ERRC(s.random_keys(3), errc::closed);
  CHECK_ERRC(s.pop_random(), errc::closed);
  CHECK_ERRC(s.size(), errc::closed);
  CHECK_ERRC(s.clear(), errc::closed);
  CHECK_ERRC(s.info(), errc::closed);
  CHECK_ERRC(s.stats(), errc::closed);
  CHECK_ERRC(s.check_invariants(), errc::closed);

  // The data is still in the segment.
  Store t = Store::open(small_options(g.name()));
  REQUIRE(t.get("k") == std::optional<std::string>("v"));
}

TEST_CASE("segment: a moved-from Store raises closed", "[segment]") {
  SegmentGuard g(unique_name());
  SegmentGuard g2(unique_name());
  Store a = Store::open(small_options(g.name()));
  a.set("k", "v");
  Store b = std::move(a);
  REQUIRE_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move)
  REQUIRE(b.is_open());
  CHECK_ERRC(a.get("k"), errc::closed);
  CHECK_ERRC(a.set("k", "w"), errc::closed);
  CHECK_ERRC(a.size(), errc::closed);
  REQUIRE(b.get("k") == std::optional<std::string>("v"));

  Store c = Store::open(small_options(g2.name()));
  c.set("other", "1");
  c = std::move(b);
  REQUIRE_FALSE(b.is_open());  // NOLINT(bugprone-use-after-move)
  CHECK_ERRC(b.get("k"), errc::closed);
  REQUIRE(c.get("k") == std::optional<std::string>("v"));
  REQUIRE_FALSE(key_exists(c, "other"));
  a.close();  // closing a moved-from handle is harmless
}

TEST_CASE("segment: a file with a wrong magic raises incompatible_layout", "[segment][layout]") {
  SegmentGuard g(unique_name());
  std::string path = segment_path(g.name());
  SECTION("garbage header, right size") {
    std::string garbage(4096, '\0');
    for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(0xA5 ^ (i * 7));
    write_file(path, garbage, 8 << 20);
  }
  SECTION("short text file") {
    write_file(path, "this is not a shmkv segment\n", 28);
  }
  // attach modes first: create_or_attach must not replace the file either.
  for (OpenMode m : {OpenMode::attach_only, OpenMode::read_only, OpenMode::create_or_attach}) {
    INFO("mode " << static_cast<int>(m));
    CHECK_ERRC(Store::open(with_mode(small_options(g.name()), m)), errc::incompatible_layout);
  }
  REQUIRE_ERRC(Store::open(with_mode(small_options(g.name()), OpenMode::create_only)),
               errc::already_exists);
  // The foreign file was left alone.
  REQUIRE(::access(path.c_str(), F_OK) == 0);
}

TEST_CASE("segment: another layout version or build fingerprint raises incompatible_layout",
          "[segment][layout]") {
  using shmkv::detail::SegmentHeader;
  SegmentGuard g(unique_name());
  std::string path = segment_path(g.name());
  {
    Store s = Store::open(small_options(g.name()));
    s.set("k", "v");
  }
  REQUIRE(read_at<std::uint64_t>(path, offsetof(SegmentHeader, magic)) == shmkv::detail::kMagic);
  SECTION("layout_version") {
    auto off = offsetof(SegmentHeader, layout_version);
    auto v = read_at<std::uint32_t>(path, off);
    write_at<std::uint32_t>(path, off, v + 1);
    REQUIRE_ERRC(Store::open(small_options(g.name())), errc::incompatible_layout);
    write_at<std::uint32_t>(path, off, v);
  }
  SECTION("fingerprint") {
    auto off = offsetof(SegmentHeader, fingerprint);
    auto v = read_at<std::uint64_t>(path, off);
    write_at<std::uint64_t>(path, off, v ^ 0x10);
    REQUIRE_ERRC(Store::open(with_mode(small_options(g.name()), OpenMode::attach_only)),
                 errc::incompatible_layout);
    write_at<std::uint64_t>(path, off, v);
  }
  // Restored: opens again with its data.
  Store s = Store::open(small_options(g.name()));
  REQUIRE(s.get("k") == std::optional<std::string>("v"));
}

TEST_CASE("segment: home-block fields that do not fit the layout raise corrupted",
          "[segment][layout]") {
  using shmkv::detail::SegmentHeader;
  SegmentGuard g(unique_name());
  std::string path = segment_path(g.name());
  shmkv::Options o = small_options(g.name());
  o.home_block_bytes = 128;
  {
    Store s = Store::open(o);
    s.set("k", "v");
  }
  struct Field {
    std::size_t offset;
    std::uint64_t bad;
    bool wide;
  };
  const Field fields[] = {
      {offsetof(SegmentHeader, home_block_bytes), 100, false},      // not a size class
      {offsetof(SegmentHeader, home_block_bytes), 1024, false},     // larger than a chunk's slab
      {offsetof(SegmentHeader, home_blocks_per_chunk), 31, false},  // not 4096 / 128
      {offsetof(SegmentHeader, home_chunk_magic), 12345, true},     // not the reciprocal
      {offsetof(SegmentHeader, home_chunks_per_shard), 1, true},    // fewer blocks than slots
      {offsetof(SegmentHeader, home_chunks_per_shard), 1u << 30, true}};  // past the arena
  for (const Field& f : fields) {
    INFO("offset " << f.offset << " = " << f.bad);
    const auto old =
        f.wide ? read_at<std::uint64_t>(path, f.offset) : read_at<std::uint32_t>(path, f.offset);
    if (f.wide)
      write_at<std::uint64_t>(path, f.offset, f.bad);
    else
      write_at<std::uint32_t>(path, f.offset, static_cast<std::uint32_t>(f.bad));
    REQUIRE_ERRC(Store::open(with_mode(o, OpenMode::attach_only)), errc::corrupted);
    if (f.wide)
      write_at<std::uint64_t>(path, f.offset, old);
    else
      write_at<std::uint32_t>(path, f.offset, static_cast<std::uint32_t>(old));
  }
  Store s = Store::open(o);
  REQUIRE(s.get("k") == std::optional<std::string>("v"));
  REQUIRE(s.info().home_block_bytes == 128);
}

TEST_CASE("segment: a zero-filled (half-initialized) file is re-initialized by the next open",
          "[segment][layout]") {
  SegmentGuard g(unique_name());
  write_file(segment_path(g.name()), "", 8 << 20);
  auto start = std::chrono::steady_clock::now();
  Store s = Store::open(small_options(g.name()));
  INFO("open took " << std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count()
                    << " ms");
  s.set("k", "v");
  REQUIRE(s.get("k") == std::optional<std::string>("v"));
  REQUIRE(s.size() == 1);
  REQUIRE(s.info().size_bytes == (8ull << 20));
  REQUIRE(s.check_invariants().empty());
  REQUIRE(read_at<std::uint64_t>(segment_path(g.name()), 0) == shmkv::detail::kMagic);
  Store t = Store::open(with_mode(small_options(g.name()), OpenMode::attach_only));
  REQUIRE(t.get("k") == std::optional<std::string>("v"));
}

TEST_CASE("segment: access refused by the OS raises permission_denied", "[segment][perm]") {
  SegmentGuard g(unique_name());
  {
    Store s = Store::open(small_options(g.name()));
    s.set("k", "v");
  }
  std::string path = segment_path(g.name());
  REQUIRE(::chmod(path.c_str(), 0) == 0);
  // Root bypasses file modes, so drop to nobody in a child.
  int st = run_in_child([&]() -> int {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) return 80;
    int failures = 0;
    auto expect = [&](const char* what, const Outcome& o, errc want) {
      if (!(o == want)) {
        std::fprintf(stderr, "%s: expected %s, got %s\n", what, shmkv::errc_name(want),
                     Catch::StringMaker<Outcome>::convert(o).c_str());
        ++failures;
      }
    };
    for (auto [m, label] : {std::pair{OpenMode::create_or_attach, "open create_or_attach"},
                            std::pair{OpenMode::attach_only, "open attach_only"},
                            std::pair{OpenMode::read_only, "open read_only"}}) {
      expect(label, outcome_of([&] { Store::open(with_mode(small_options(g.name()), m)); }),
             errc::permission_denied);
    }
    // /dev/shm is sticky: nobody may not unlink root's file.
    expect("destroy", outcome_of([&] { Store::destroy(g.name()); }), errc::permission_denied);
    return failures;
  });
  REQUIRE(st == 0);
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  Store s = Store::open(small_options(g.name()));
  REQUIRE(s.get("k") == std::optional<std::string>("v"));
}

TEST_CASE("segment: 16 processes racing to create the same segment", "[segment][race]") {
  constexpr int kProcs = 16;
  for (int round = 0; round < 3; ++round) {
    SegmentGuard g(unique_name("race"));
    INFO("round " << round << " name " << g.name());
    StartBarrier barrier;
    std::vector<pid_t> pids;
    for (int i = 0; i < kProcs; ++i) {
      pids.push_back(spawn_child([&, i]() -> int {
        barrier.wait();
        Store s = Store::open(small_options(g.name()));
        s.set("key-" + std::to_string(i), "v" + std::to_string(i));
        s.increment_by("counter", 1);
        return 0;
      }));
    }
    barrier.release();
    for (pid_t p : pids) REQUIRE(wait_child(p) == 0);

    REQUIRE(Store::segment_exists(g.name()));
    auto files = files_of(g.name());
    REQUIRE(files == std::vector<std::string>{"shmkv." + g.name()});
    Store s = Store::open(with_mode(small_options(g.name()), OpenMode::attach_only));
    for (int i = 0; i < kProcs; ++i) {
      INFO("key-" << i);
      REQUIRE(s.get("key-" + std::to_string(i)) ==
              std::optional<std::string>("v" + std::to_string(i)));
    }
    REQUIRE(s.get("counter") == std::optional<std::string>(std::to_string(kProcs)));
    REQUIRE(s.size() == kProcs + 1);
    REQUIRE(s.check_invariants().empty());
  }
}
