// Conformance, run on every engine: single-key operations: get/set/exists/del/size/clear, key
// and value limits, binary data, overwrites across sizes, two handles on one store.
// (ops_test.cpp keeps what only the shared-memory segment has: stats, shards.)
#include <string>
#include <vector>

#include "conformance/engine_fixture.hpp"
#include "test_util.hpp"

using conformance::StoreGuard;
using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using Opt = std::optional<std::string>;

TEST_CASE("ops: get/set/exists/del/size/clear", "[ops]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  REQUIRE(s.size() == 0);
  REQUIRE(s.get("a") == std::nullopt);
  REQUIRE_FALSE(key_exists(s, "a"));
  REQUIRE_FALSE(s.del("a"));

  s.set("a", "1");
  REQUIRE(s.get("a") == Opt("1"));
  REQUIRE(key_exists(s, "a"));
  REQUIRE(s.size() == 1);

  s.set("b", "2");
  s.set("a", "one");
  REQUIRE(s.get("a") == Opt("one"));
  REQUIRE(s.size() == 2);

  REQUIRE(s.del("a"));
  REQUIRE_FALSE(s.del("a"));
  REQUIRE(s.get("a") == std::nullopt);
  REQUIRE_FALSE(key_exists(s, "a"));
  REQUIRE(s.size() == 1);
  REQUIRE(s.get("b") == Opt("2"));

  for (int i = 0; i < 1000; ++i) s.set("key" + std::to_string(i), std::to_string(i * i));
  REQUIRE(s.size() == 1001);
  for (int i = 0; i < 1000; ++i)
    REQUIRE(s.get("key" + std::to_string(i)) == Opt(std::to_string(i * i)));
  REQUIRE(s.check_invariants().empty());

  s.clear();
  REQUIRE(s.size() == 0);
  REQUIRE(s.get("b") == std::nullopt);
  REQUIRE(s.get("key5") == std::nullopt);
  REQUIRE(s.list().empty());
  REQUIRE(s.check_invariants().empty());
  // Usable after clear.
  s.set("after", "clear");
  REQUIRE(s.get("after") == Opt("clear"));
  REQUIRE(s.size() == 1);
}

TEST_CASE("ops: returned strings are copies", "[ops]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("k", "original");
  auto v = s.get("k");
  s.set("k", "changed!");
  s.del("k");
  REQUIRE(v == Opt("original"));
}

TEST_CASE("ops: get into a caller buffer reuses it and clears it on a miss", "[ops]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  std::string buffer;
  REQUIRE_FALSE(s.get("k", &buffer));
  s.set("k", std::string(300, 'v'));
  REQUIRE(s.get("k", &buffer));
  REQUIRE(buffer == std::string(300, 'v'));
  const char* storage = buffer.data();
  s.set("k", "short");
  REQUIRE(s.get("k", &buffer));
  REQUIRE(buffer == "short");
  REQUIRE(buffer.data() == storage);  // capacity kept: no allocation per read
  s.set("k", "");
  REQUIRE(s.get("k", &buffer));
  REQUIRE(buffer.empty());
  buffer = "stale";
  REQUIRE_FALSE(s.get("absent", &buffer));
  REQUIRE(buffer.empty());
}

TEST_CASE("ops: same-length overwrites in one 8-byte word (counters) keep the key intact",
          "[ops]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  // Keys of every length 1..16 put the value at every alignment within its 8-byte word.
  for (int len = 1; len <= 16; ++len) {
    std::string key(len, 'k');
    s.set(key, "1000");
    s.set(key + "x", "neighbour");
    for (int i = 0; i < 20; ++i) REQUIRE(s.increment_by(key, 1) == 1001 + i);
    REQUIRE(s.get(key) == Opt("1020"));  // key bytes sharing the word were left intact
    s.set(key, "abcd");
    REQUIRE(s.get(key) == Opt("abcd"));
    REQUIRE(s.get(key + "x") == Opt("neighbour"));
  }
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ops: an empty key raises invalid_argument", "[ops][limits]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  CHECK_ERRC(s.get(""), errc::invalid_argument);
  CHECK_ERRC(s.set("", "v"), errc::invalid_argument);
  CHECK_ERRC(key_exists(s, ""), errc::invalid_argument);
  CHECK_ERRC(s.del(""), errc::invalid_argument);
  CHECK_ERRC(s.increment_by("", 1), errc::invalid_argument);
  CHECK_ERRC(s.get_or_set("", "v"), errc::invalid_argument);
  CHECK_ERRC(s.swap("", "v"), errc::invalid_argument);
  CHECK_ERRC(s.compare_and_swap("", std::nullopt, "v"), errc::invalid_argument);
  CHECK_ERRC(s.compare_and_delete("", "v"), errc::invalid_argument);
  CHECK_ERRC(s.set_if_absent("", "v"), errc::invalid_argument);
  CHECK_ERRC(s.expire("", std::chrono::seconds(1)), errc::invalid_argument);
  CHECK_ERRC(s.ttl(""), errc::invalid_argument);
  REQUIRE(s.size() == 0);
}

TEST_CASE("ops: key length limit", "[ops][limits]") {
  StoreGuard g;
  auto o = g.options();
  o.max_key_bytes = 100;
  Store s = Store::open(o);
  std::string max_key(100, 'k');
  std::string long_key(101, 'k');

  s.set(max_key, "v");
  REQUIRE(s.get(max_key) == Opt("v"));
  REQUIRE(key_exists(s, max_key));

  auto e = outcome_of([&] { s.set(long_key, "v"); });
  REQUIRE(e == errc::key_too_long);
  CHECK(e.what.find("101") != std::string::npos);
  CHECK(e.what.find("100") != std::string::npos);

  CHECK_ERRC(s.get(long_key), errc::key_too_long);
  CHECK_ERRC(key_exists(s, long_key), errc::key_too_long);
  CHECK_ERRC(s.del(long_key), errc::key_too_long);
  CHECK_ERRC(s.increment_by(long_key, 1), errc::key_too_long);
  CHECK_ERRC(s.get_or_set(long_key, "v"), errc::key_too_long);
  CHECK_ERRC(s.swap(long_key, "v"), errc::key_too_long);
  CHECK_ERRC(s.compare_and_swap(long_key, std::nullopt, "v"), errc::key_too_long);
  CHECK_ERRC(s.compare_and_delete(long_key, "v"), errc::key_too_long);
  CHECK_ERRC(s.set_if_absent(long_key, "v"), errc::key_too_long);
  CHECK_ERRC(s.expire(long_key, std::chrono::seconds(1)), errc::key_too_long);
  CHECK_ERRC(s.ttl(long_key), errc::key_too_long);
  REQUIRE(s.size() == 1);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ops: the largest key the format allows (65535 bytes)", "[ops][limits]") {
  StoreGuard g;
  auto o = g.options();
  o.max_key_bytes = 65535;
  Store s = Store::open(o);
  std::string k = pattern_value("bigkey", 65535);
  if (k[0] == '\0') k[0] = 'x';
  s.set(k, "v");
  REQUIRE(s.get(k) == Opt("v"));
  auto l = s.list();
  REQUIRE(l.size() == 1);
  REQUIRE(l[0].key == k);
  REQUIRE_ERRC(s.set(k + "x", "v"), errc::key_too_long);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ops: value size limit", "[ops][limits]") {
  StoreGuard g;
  auto o = g.options();
  o.max_value_bytes = 10000;
  Store s = Store::open(o);
  std::string max_v = pattern_value("v", 10000);
  s.set("k", max_v);
  REQUIRE(s.get("k") == Opt(max_v));

  auto e = outcome_of([&] { s.set("k", std::string(10001, 'x')); });
  REQUIRE(e == errc::value_too_large);
  CHECK(e.what.find("10001") != std::string::npos);
  CHECK(e.what.find("10000") != std::string::npos);
  // Nothing changed.
  REQUIRE(s.get("k") == Opt(max_v));

  std::string big(10001, 'x');
  CHECK_ERRC(s.set("new", big), errc::value_too_large);
  CHECK_ERRC(s.get_or_set("new", big), errc::value_too_large);
  CHECK_ERRC(s.swap("k", big), errc::value_too_large);
  CHECK_ERRC(s.compare_and_swap("k", std::string_view(max_v), big), errc::value_too_large);
  CHECK_ERRC(s.set_if_absent("new", big), errc::value_too_large);
  REQUIRE_FALSE(key_exists(s, "new"));
  REQUIRE(s.get("k") == Opt(max_v));
  REQUIRE(s.size() == 1);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ops: default max_value_bytes (1 MiB) values round-trip", "[ops][limits]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  REQUIRE(s.info().max_value_bytes == (1u << 20));
  std::string v = pattern_value("huge", 1u << 20);
  s.set("huge", v);
  REQUIRE(s.get("huge") == Opt(v));
  REQUIRE_ERRC(s.set("huge2", std::string((1u << 20) + 1, 'x')), errc::value_too_large);
  s.set("huge", "small now");
  REQUIRE(s.get("huge") == Opt("small now"));
  s.set("huge", v);
  REQUIRE(s.get("huge") == Opt(v));
  REQUIRE(s.del("huge"));
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ops: binary keys and values with NUL and high bytes", "[ops]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  using namespace std::string_literals;
  std::string k1 = "a\0b"s, k2 = "a\0c"s, k3 = "a"s, k4 = "\0"s, k5 = "\xff\xfe\x00\x80"s;
  std::string v1 = "\0\0\0"s, v2 = "x\0y\xff"s;
  s.set(k1, v1);
  s.set(k2, v2);
  s.set(k3, "plain");
  s.set(k4, "nul key");
  s.set(k5, v2 + v1);
  REQUIRE(s.size() == 5);
  REQUIRE(s.get(k1) == Opt(v1));
  REQUIRE(s.get(k1)->size() == 3);
  REQUIRE(s.get(k2) == Opt(v2));
  REQUIRE(s.get(k3) == Opt("plain"));
  REQUIRE(s.get(k4) == Opt("nul key"));
  REQUIRE(s.get(k5) == Opt(v2 + v1));
  REQUIRE(s.get("a\0"s) == std::nullopt);
  REQUIRE(s.del(k1));
  REQUIRE(s.get(k2) == Opt(v2));
  REQUIRE(s.get(k3) == Opt("plain"));
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ops: empty values are values", "[ops]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("e", "");
  REQUIRE(s.get("e") == Opt(""));
  REQUIRE(key_exists(s, "e"));
  REQUIRE(s.size() == 1);
  s.set("e", "now not empty");
  s.set("e", "");
  REQUIRE(s.get("e") == Opt(""));
  auto l = s.list();
  REQUIRE(l.size() == 1);
  REQUIRE(l[0] == shmkv::Entry{"e", ""});
  REQUIRE(s.del("e"));
  REQUIRE(s.get("e") == std::nullopt);
}

TEST_CASE("ops: overwrites with larger and smaller values", "[ops]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  // Sizes cross slab classes, the in-place-update limit, and multi-chunk spans.
  std::vector<std::size_t> sizes = {1,     0,  100,    128, 129,    5000, 8000, 9000,
                                    40000, 10, 200000, 64,  100000, 3,    128,  0};
  for (int key = 0; key < 8; ++key) {
    std::string k = "over" + std::to_string(key);
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      std::size_t len = sizes[(i + key) % sizes.size()];
      std::string v = pattern_value(k + std::to_string(i), len);
      s.set(k, v);
      INFO("key " << k << " step " << i << " len " << len);
      REQUIRE(s.get(k) == Opt(v));
    }
  }
  REQUIRE(s.size() == 8);
  REQUIRE(s.check_invariants().empty());
  // Other keys are not disturbed by neighbours changing size.
  for (int i = 0; i < 200; ++i) s.set("n" + std::to_string(i), pattern_value("n", i));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 200; i += 3)
      s.set("n" + std::to_string(i), pattern_value("m", i * 10 + round));
  }
  for (int i = 0; i < 200; ++i) {
    INFO("n" << i);
    REQUIRE(s.get("n" + std::to_string(i)) ==
            Opt(i % 3 == 0 ? pattern_value("m", i * 10 + 2) : pattern_value("n", i)));
  }
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ops: two handles in one process share the data", "[ops]") {
  StoreGuard g;
  Store a = Store::open(g.options());
  Store b = Store::open(g.options());
  a.set("x", "1");
  REQUIRE(b.get("x") == Opt("1"));
  b.del("x");
  REQUIRE_FALSE(key_exists(a, "x"));
  a.close();
  b.set("y", "2");
  REQUIRE(b.get("y") == Opt("2"));
}

TEST_CASE("ops: s.exists(std::string) on a handle checks the key, not a segment name",
          "[ops][api]") {
  // Overload trap in store.hpp: the static Store::segment_exists(const std::string& name) is an
  // exact match for a std::string argument, so `s.exists(key)` silently asks whether a *segment*
  // named key exists instead of whether the key is in this store.
  StoreGuard g;
  Store s = Store::open(g.options());
  std::string key = "present-key";
  s.set(key, "v");
  REQUIRE(key_exists(s, key));
  REQUIRE(s.exists(key));
  REQUIRE(s.exists("present-key"));
  REQUIRE_FALSE(s.exists(std::string("absent")));
}

TEST_CASE("ops: the store is on the engine of this run", "[ops][fixture]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  REQUIRE(s.info().engine == (conformance::on_redis() ? "redis" : "shm"));
  REQUIRE(s.info().redis.has_value() == conformance::on_redis());
}
