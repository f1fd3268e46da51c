// Conformance, run on every engine: batches: get_many, set_many (validated first, all or
// nothing), delete_many, delete_prefix.
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "conformance/engine_fixture.hpp"
#include "test_util.hpp"

using conformance::StoreGuard;
using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using namespace std::chrono_literals;
using Opt = std::optional<std::string>;
using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST_CASE("batch: get_many returns values in request order", "[batch]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("a", "1");
  s.set("b", "");
  s.set("c", "3");
  auto r = s.get_many({"c", "missing", "a", "b", "a"});
  REQUIRE(r.size() == 5);
  REQUIRE(r[0] == Opt("3"));
  REQUIRE(r[1] == std::nullopt);
  REQUIRE(r[2] == Opt("1"));
  REQUIRE(r[3] == Opt(""));
  REQUIRE(r[4] == Opt("1"));
  REQUIRE(s.get_many({}).empty());
}

TEST_CASE("batch: get_many validates keys", "[batch]") {
  StoreGuard g;
  auto o = g.options();
  o.max_key_bytes = 50;
  Store s = Store::open(o);
  REQUIRE_ERRC(s.get_many({"a", ""}), errc::invalid_argument);
  REQUIRE_ERRC(s.get_many({"a", std::string(51, 'x')}), errc::key_too_long);
}

TEST_CASE("batch: get_many into caller results: groups, misses, expiry, reuse", "[batch]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  // 100 keys: several prefetch groups of 16, every shard, some absent, one expired.
  std::vector<std::string> names;
  for (int i = 0; i < 100; ++i) {
    names.push_back("key" + std::to_string(i));
    if (i % 7 != 3) s.set(names.back(), std::string(20 + i, char('a' + i % 26)));
  }
  s.set("key5", "gone soon", 30ms);
  std::this_thread::sleep_for(60ms);
  std::vector<std::string_view> views(names.begin(), names.end());
  std::vector<std::optional<std::string>> out;
  std::size_t found = s.get_many(views, &out);
  REQUIRE(out.size() == names.size());
  std::size_t expected_found = 0;
  for (int i = 0; i < 100; ++i) {
    if (i % 7 == 3 || i == 5) {
      CHECK_FALSE(out[i].has_value());
    } else {
      ++expected_found;
      REQUIRE(out[i] == Opt(std::string(20 + i, char('a' + i % 26))));
    }
  }
  REQUIRE(found == expected_found);
  // Again with the results of the first call: the same answers, and engaged strings keep their
  // buffers.
  const char* storage = out[0]->data();
  s.set("key0", "short");
  s.set("key3", "now present");
  REQUIRE(s.get_many(views, &out) == expected_found + 1);
  REQUIRE(out[0] == Opt("short"));
  REQUIRE(out[0]->data() == storage);
  REQUIRE(out[3] == Opt("now present"));
  // A shorter request shrinks the results.
  REQUIRE(s.get_many(std::span(views).first(2), &out) == 2);
  REQUIRE(out.size() == 2);
  REQUIRE(s.get_many({}, &out) == 0);
  REQUIRE(out.empty());
  REQUIRE_ERRC(s.get_many(std::vector<std::string_view>{"a", ""}, &out), errc::invalid_argument);
}

TEST_CASE("batch: set_many writes all pairs across shards", "[batch]") {
  StoreGuard g(conformance::store_options(8));
  Store s = Store::open(g.options());
  Pairs pairs;
  for (int i = 0; i < 500; ++i) {
    pairs.emplace_back("k" + std::to_string(i), pattern_value("k" + std::to_string(i), i % 97));
  }
  s.set_many(pairs);
  REQUIRE(s.size() == 500);
  std::vector<std::string> keys;
  for (const auto& [k, v] : pairs) keys.push_back(k);
  auto got = s.get_many(keys);
  for (std::size_t i = 0; i < pairs.size(); ++i) REQUIRE(got[i] == Opt(pairs[i].second));
  // Overwrites through set_many.
  s.set_many({{"k1", "new1"}, {"k2", "new2"}, {"fresh", "f"}});
  REQUIRE(s.get("k1") == Opt("new1"));
  REQUIRE(s.get("k2") == Opt("new2"));
  REQUIRE(s.get("fresh") == Opt("f"));
  REQUIRE(s.size() == 501);
  s.set_many({});
  REQUIRE(s.size() == 501);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("batch: set_many with a TTL applies it to every pair", "[batch][ttl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set_many({{"a", "1"}, {"b", "2"}}, 100s);
  REQUIRE(*s.ttl("a") > 90s);
  REQUIRE(*s.ttl("b") > 90s);
  s.set_many({{"x", "1"}, {"y", "2"}}, 60ms);
  std::this_thread::sleep_for(200ms);
  REQUIRE(s.get("x") == std::nullopt);
  REQUIRE(s.get("y") == std::nullopt);
  REQUIRE(s.size() == 2);
}

TEST_CASE("batch: set_many with one bad entry raises and writes nothing", "[batch]") {
  StoreGuard g(conformance::store_options(8));
  auto o = g.options();
  o.max_key_bytes = 50;
  o.max_value_bytes = 1000;
  Store s = Store::open(o);
  s.set("k5", "original");
  Pairs pairs;
  for (int i = 0; i < 100; ++i) pairs.emplace_back("k" + std::to_string(i), "new");

  SECTION("oversize value") {
    pairs[57].second = std::string(1001, 'v');
    REQUIRE_ERRC(s.set_many(pairs), errc::value_too_large);
  }
  SECTION("oversize value in the last entry") {
    pairs.back().second = std::string(1001, 'v');
    REQUIRE_ERRC(s.set_many(pairs), errc::value_too_large);
  }
  SECTION("key too long") {
    pairs[80].first = std::string(51, 'k');
    REQUIRE_ERRC(s.set_many(pairs), errc::key_too_long);
  }
  SECTION("empty key") {
    pairs[99].first = "";
    REQUIRE_ERRC(s.set_many(pairs), errc::invalid_argument);
  }
  REQUIRE(s.size() == 1);
  REQUIRE(s.get("k5") == Opt("original"));
  REQUIRE(s.get("k0") == std::nullopt);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("batch: delete_many returns how many existed", "[batch]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  for (int i = 0; i < 100; ++i) s.set("k" + std::to_string(i), "v");
  std::vector<std::string> del;
  for (int i = 0; i < 100; i += 2) del.push_back("k" + std::to_string(i));
  del.push_back("absent1");
  del.push_back("absent2");
  REQUIRE(s.delete_many(del) == 50);
  REQUIRE(s.size() == 50);
  for (int i = 0; i < 100; ++i) REQUIRE(key_exists(s, "k" + std::to_string(i)) == (i % 2 == 1));
  REQUIRE(s.delete_many(del) == 0);
  REQUIRE(s.delete_many({}) == 0);
  REQUIRE(s.delete_many({"k1", "k1", "k3"}) == 2);  // a duplicate is deleted once
  REQUIRE(s.size() == 48);
  REQUIRE_ERRC(s.delete_many({"k5", ""}), errc::invalid_argument);
  REQUIRE(key_exists(s, "k5"));  // validated first: nothing deleted
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("batch: delete_prefix", "[batch]") {
  StoreGuard g(conformance::store_options(8));
  Store s = Store::open(g.options());
  for (int i = 0; i < 50; ++i) s.set("p:" + std::to_string(i), "v");
  for (int i = 0; i < 30; ++i) s.set("q:" + std::to_string(i), "v");
  s.set("p", "not matched: shorter than the prefix");
  s.set("P:1", "not matched: case");

  SECTION("all at once") {
    auto r = s.delete_prefix("p:");
    REQUIRE(r.deleted == 50);
    REQUIRE(r.done);
  }
  SECTION("with a limit") {
    auto r1 = s.delete_prefix("p:", 20);
    REQUIRE(r1.deleted == 20);
    REQUIRE_FALSE(r1.done);
    REQUIRE(s.count("p:") == 30);
    auto r2 = s.delete_prefix("p:", 20);
    REQUIRE(r2.deleted == 20);
    REQUIRE_FALSE(r2.done);
    auto r3 = s.delete_prefix("p:", 20);
    REQUIRE(r3.deleted == 10);
    REQUIRE(r3.done);
    auto r4 = s.delete_prefix("p:", 20);
    REQUIRE(r4.deleted == 0);
    REQUIRE(r4.done);
  }
  SECTION("a limit equal to the remaining count reports done") {
    auto r1 = s.delete_prefix("p:", 25);
    REQUIRE(r1.deleted == 25);
    REQUIRE_FALSE(r1.done);
    auto r2 = s.delete_prefix("p:", 25);
    REQUIRE(r2.deleted == 25);
    REQUIRE(r2.done);
  }
  SECTION("limit 1 repeatedly") {
    std::size_t total = 0;
    for (int i = 0; i < 100; ++i) {
      auto r = s.delete_prefix("p:", 1);
      REQUIRE(r.deleted <= 1);
      total += r.deleted;
      if (r.done) break;
    }
    REQUIRE(total == 50);
  }
  REQUIRE(s.count("p:") == 0);
  REQUIRE(s.count("q:") == 30);
  REQUIRE(key_exists(s, "p"));
  REQUIRE(key_exists(s, "P:1"));
  REQUIRE(s.size() == 32);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("batch: delete_prefix refuses an empty prefix and changes nothing", "[batch]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  for (int i = 0; i < 40; ++i) s.set("k" + std::to_string(i), "v");
  for (std::size_t limit : {std::size_t{0}, std::size_t{15}}) {
    Outcome o = outcome_of([&] { (void)s.delete_prefix("", limit); });
    REQUIRE(o == errc::invalid_argument);
    REQUIRE(o.what.find("prefix is empty") != std::string::npos);
    REQUIRE(o.what.find("clear()") != std::string::npos);
  }
  REQUIRE(s.size() == 40);
  s.clear();  // the way to delete everything
  REQUIRE(s.size() == 0);
  REQUIRE(s.check_invariants().empty());
}
