// Conformance, run on every engine: ordered reads: list, scan (cursor paging) and count, all in
// byte order of keys.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "conformance/engine_fixture.hpp"
#include "test_util.hpp"

using shmkv::Entry;
using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using conformance::StoreGuard;
using namespace std::string_literals;

namespace {

// Byte order = unsigned char comparison (std::string's default char_traits compare is
// memcmp-based, i.e. unsigned).
bool byte_less(const std::string& a, const std::string& b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
  });
}

std::vector<std::string> keys_of(const std::vector<Entry>& es) {
  std::vector<std::string> out;
  for (const auto& e : es) out.push_back(e.key);
  return out;
}

}  // namespace

TEST_CASE("ordered: list returns entries in byte order, high bytes after ASCII", "[ordered]") {
  StoreGuard g(conformance::store_options(8));
  Store s = Store::open(g.options());
  std::vector<std::string> keys = {"b",        "a",     "ab", "a\x80", "a\xff",  "\x80", "\xff",
                                   "\xff\xff", "Z",     "0",  "a\0"s,  "a\0b"s,  "\0"s,  "\x7f",
                                   "\xc3\xa9", "a\x7f", "aa", "a\x01", "b\x80z", "ba"};
  for (const auto& k : keys) s.set(k, "v:" + k);
  std::vector<std::string> expect = keys;
  std::sort(expect.begin(), expect.end(), byte_less);
  auto l = s.list();
  REQUIRE(escape_each(keys_of(l)) == escape_each(expect));
  for (const auto& e : l) REQUIRE(e.value == "v:" + e.key);

  SECTION("limit") {
    auto l3 = s.list({"", 3});
    REQUIRE(escape_each(keys_of(l3)) == escape_each({expect.begin(), expect.begin() + 3}));
    auto all = s.list({"", 1000});
    REQUIRE(all.size() == keys.size());
  }
  SECTION("prefix") {
    std::vector<std::string> want;
    for (const auto& k : expect)
      if (k.rfind("a", 0) == 0) want.push_back(k);
    REQUIRE(escape_each(keys_of(s.list({"a", 0}))) == escape_each(want));
    REQUIRE(escape_each(keys_of(s.list({"a", 2}))) ==
            escape_each({want.begin(), want.begin() + 2}));
    REQUIRE(keys_of(s.list({"\xff", 0})) == std::vector<std::string>{"\xff", "\xff\xff"});
    REQUIRE(keys_of(s.list({"a\0"s, 0})) == std::vector<std::string>{"a\0"s, "a\0b"s});
    REQUIRE(s.list({"nomatch", 0}).empty());
    REQUIRE(s.list({"a\x80", 0}).size() == 1);
  }
}

TEST_CASE("ordered: count", "[ordered]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  REQUIRE(s.count() == 0);
  for (int i = 0; i < 30; ++i) s.set("user:" + std::to_string(i), "v");
  for (int i = 0; i < 12; ++i) s.set("item:" + std::to_string(i), "v");
  s.set("user", "v");
  REQUIRE(s.count() == 43);
  REQUIRE(s.count("") == 43);
  REQUIRE(s.count("user:") == 30);
  REQUIRE(s.count("user") == 31);
  REQUIRE(s.count("user:1") == 11);  // 1, 10..19
  REQUIRE(s.count("item:") == 12);
  REQUIRE(s.count("x") == 0);
  s.del("user:1");
  REQUIRE(s.count("user:1") == 10);
}

TEST_CASE("ordered: scan pages through 1000 keys, limit 7, each key exactly once in order",
          "[ordered][scan]") {
  StoreGuard g(conformance::store_options(16));
  Store s = Store::open(g.options());
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i) {
    // Mixed lengths and high bytes so byte order differs from insertion and numeric order.
    std::string k = "k" + std::to_string(i * 7919 % 1000);
    if (i % 10 == 0) k += "\xf0";
    keys.push_back(k);
    s.set(k, "v" + k);
  }
  std::sort(keys.begin(), keys.end(), byte_less);
  REQUIRE(s.size() == 1000);

  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    auto page = s.scan({"", 7, cursor});
    ++pages;
    REQUIRE(pages <= 200);
    REQUIRE(page.entries.size() <= 7);
    for (const auto& e : page.entries) {
      REQUIRE(e.value == "v" + e.key);
      seen.push_back(e.key);
    }
    if (!page.entries.empty()) REQUIRE(page.cursor == page.entries.back().key);
    if (page.done) break;
    REQUIRE(page.entries.size() == 7);  // a page short of the limit means nothing is left
    cursor = page.cursor;
  }
  REQUIRE(seen.size() == 1000);
  REQUIRE(escape_each(seen) == escape_each(keys));
  REQUIRE(pages == 143);  // 142 full pages, then 6
}

TEST_CASE("ordered: scan with a prefix, limit 0 and exact page ends", "[ordered][scan]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  for (int i = 0; i < 14; ++i) s.set("a:" + std::to_string(10 + i), "v");
  for (int i = 0; i < 5; ++i) s.set("b:" + std::to_string(i), "v");
  s.set("a", "v");

  SECTION("limit 0 returns all remaining") {
    auto p = s.scan({"a:", 0, ""});
    REQUIRE(p.entries.size() == 14);
    REQUIRE(p.done);
    auto p2 = s.scan({"a:", 0, "a:15"});
    REQUIRE(p2.entries.size() == 8);  // a:16 .. a:23
    REQUIRE(p2.entries.front().key == "a:16");
    REQUIRE(p2.done);
  }
  SECTION("a page ending on the last matching key is done") {
    auto p1 = s.scan({"a:", 7, ""});
    REQUIRE(p1.entries.size() == 7);
    REQUIRE_FALSE(p1.done);
    auto p2 = s.scan({"a:", 7, p1.cursor});
    REQUIRE(p2.entries.size() == 7);
    REQUIRE(p2.entries.back().key == "a:23");
    REQUIRE(p2.done);  // no key after the cursor matches
  }
  SECTION("a cursor past every match gives an empty, done page") {
    auto p = s.scan({"a:", 7, "a:99"});
    REQUIRE(p.entries.empty());
    REQUIRE(p.done);
    auto q = s.scan({"b:", 3, "zzz"});
    REQUIRE(q.entries.empty());
    REQUIRE(q.done);
  }
  SECTION("a cursor that is not a key resumes strictly after it") {
    auto p = s.scan({"", 3, "a:155"});
    REQUIRE(keys_of(p.entries) == std::vector<std::string>{"a:16", "a:17", "a:18"});
  }
  SECTION("a prefix with no match") {
    auto p = s.scan({"c:", 5, ""});
    REQUIRE(p.entries.empty());
    REQUIRE(p.done);
  }
}

TEST_CASE("ordered: scan sees keys added after the cursor, not deleted ones", "[ordered][scan]") {
  StoreGuard g(conformance::store_options(8));
  Store s = Store::open(g.options());
  auto key = [](int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "k%05d", i);
    return std::string(buf);
  };
  std::set<std::string> expected;
  for (int i = 0; i < 1000; i += 2) {
    s.set(key(i), "v");
    expected.insert(key(i));
  }
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    auto page = s.scan({"k", 7, cursor});
    REQUIRE(++pages < 1000);
    for (const auto& e : page.entries) seen.push_back(e.key);
    if (page.done) break;
    cursor = page.cursor;
    if (pages == 20) {
      int c = std::stoi(cursor.substr(1));
      // Behind the cursor: added keys are not visited, deleted ones were already visited.
      for (int i = 1; i < c; i += 50) s.set(key(i), "late-behind");
      // After the cursor: added keys show up, deleted ones do not.
      for (int i = c + 1; i < 1000; i += 2) {
        if (i % 3 == 0) {
          s.set(key(i), "late-ahead");
          expected.insert(key(i));
        }
      }
      for (int i = c + 2; i < 1000; i += 2) {
        if (i % 5 == 0) {
          REQUIRE(s.del(key(i)));
          expected.erase(key(i));
        }
      }
    }
  }
  REQUIRE(std::is_sorted(seen.begin(), seen.end()));
  REQUIRE(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
  REQUIRE(seen == std::vector<std::string>(expected.begin(), expected.end()));
}

TEST_CASE("ordered: list and scan return copies", "[ordered]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("a", "1");
  s.set("b", "2");
  auto l = s.list();
  auto p = s.scan({"", 1, ""});
  s.clear();
  REQUIRE(l == std::vector<Entry>{{"a", "1"}, {"b", "2"}});
  REQUIRE(p.entries == std::vector<Entry>{{"a", "1"}});
}
