// Conformance, run on every engine: issue 14's operations: ranges [from, to) on list, scan,
// count and delete_range (alone and with a prefix, binary bounds, the inverted-range error),
// keys-only list_keys and scan_keys, pop_random_many (one process and four forked ones sharing a
// pool), each against a std::map model where the answer is a set of keys.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "conformance/engine_fixture.hpp"
#include "test_util.hpp"

using shmkv::Entry;
using shmkv::errc;
using shmkv::KeyRange;
using shmkv::ListOptions;
using shmkv::ScanOptions;
using shmkv::Store;
using namespace testutil;
using conformance::StoreGuard;
using namespace std::string_literals;

namespace {

using Keys = std::vector<std::string>;

Keys keys_of(const std::vector<Entry>& entries) {
  Keys out;
  for (const auto& e : entries) out.push_back(e.key);
  return out;
}

ListOptions list_range(std::string prefix, std::string from, std::string to,
                       std::size_t limit = 0) {
  ListOptions o;
  o.prefix = std::move(prefix);
  o.from = std::move(from);
  o.to = std::move(to);
  o.limit = limit;
  return o;
}

ScanOptions scan_range(std::string prefix, std::string from, std::string to, std::size_t limit,
                       std::string cursor = {}) {
  ScanOptions o;
  o.prefix = std::move(prefix);
  o.from = std::move(from);
  o.to = std::move(to);
  o.limit = limit;
  o.cursor = std::move(cursor);
  return o;
}

// The model's answer: keys of `model` in [from, to) with the prefix (std::string compares
// bytes as unsigned, as the store does).
Keys model_keys(const std::map<std::string, std::string>& model, const std::string& prefix,
                const std::string& from, const std::string& to) {
  Keys out;
  for (const auto& [k, v] : model)
    if (k.starts_with(prefix) && k >= from && (to.empty() || k < to)) out.push_back(k);
  return out;
}

// Every key of a range, page by page through scan (limit `page`), checking each page's shape.
Keys scan_all(Store& s, const ScanOptions& first, std::size_t page) {
  Keys seen;
  ScanOptions o = first;
  o.limit = page;
  for (int pages = 0;; ++pages) {
    REQUIRE(pages < 10000);
    auto p = s.scan(o);
    REQUIRE(p.entries.size() <= page);
    for (const auto& e : p.entries) {
      REQUIRE(e.value == "v:" + e.key);
      seen.push_back(e.key);
    }
    if (!p.entries.empty()) REQUIRE(p.cursor == p.entries.back().key);
    if (p.done) break;
    REQUIRE(p.entries.size() == page);
    o.cursor = p.cursor;
  }
  return seen;
}

}  // namespace

TEST_CASE("range: list, count and scan select [from, to), with and without a prefix", "[range]") {
  StoreGuard g(conformance::store_options(8));
  Store s = Store::open(g.options());
  for (const char* k : {"a", "a:1", "a:2", "a:3", "b", "b:1", "b:2", "c"}) s.set(k, "v:"s + k);

  SECTION("from is inclusive, to exclusive") {
    REQUIRE(keys_of(s.list(list_range("", "a:2", "b:1"))) == Keys{"a:2", "a:3", "b"});
    REQUIRE(s.count(KeyRange{"", "a:2", "b:1"}) == 3);
    REQUIRE(keys_of(s.list(list_range("", "b", ""))) == Keys{"b", "b:1", "b:2", "c"});
    REQUIRE(keys_of(s.list(list_range("", "", "a:2"))) == Keys{"a", "a:1"});
    REQUIRE(keys_of(s.list(list_range("", "a:25", "b:15"))) == Keys{"a:3", "b", "b:1"});
  }
  SECTION("a prefix and bounds: a key must match all three") {
    REQUIRE(keys_of(s.list(list_range("a", "a:2", ""))) == Keys{"a:2", "a:3"});
    REQUIRE(keys_of(s.list(list_range("b:", "", "b:2"))) == Keys{"b:1"});
    REQUIRE(keys_of(s.list(list_range("a:", "a", "c"))) == Keys{"a:1", "a:2", "a:3"});
    REQUIRE(s.count(KeyRange{"b", "a", "b:2"}) == 2);
    REQUIRE(s.list(list_range("c", "a", "b")).empty());  // bounds outside the prefix
  }
  SECTION("to == from is an empty range; a limit cuts a range") {
    REQUIRE(s.list(list_range("", "b", "b")).empty());
    REQUIRE(s.count(KeyRange{"", "b", "b"}) == 0);
    REQUIRE(keys_of(s.list(list_range("", "a:1", "", 2))) == Keys{"a:1", "a:2"});
  }
  SECTION("a bound longer than max_key_bytes is only a bound") {
    const std::string long_bound = "b" + std::string(1000, 'z');
    REQUIRE(keys_of(s.list(list_range("", "b", long_bound))) == Keys{"b", "b:1", "b:2"});
    REQUIRE(s.count(KeyRange{"", long_bound, ""}) == 1);  // c
  }
  SECTION("count(prefix) is count of a range of that prefix") {
    REQUIRE(s.count("a") == 4);
    REQUIRE(s.count(KeyRange{"a", "", ""}) == 4);
    REQUIRE(s.count() == 8);
    REQUIRE(s.count(KeyRange{}) == 8);
  }
  SECTION("scan pages through a range with its cursor until done") {
    REQUIRE(scan_all(s, scan_range("", "a:1", "c", 0), 2) ==
            Keys{"a:1", "a:2", "a:3", "b", "b:1", "b:2"});
    // A cursor below from changes nothing; one inside the range resumes after it.
    REQUIRE(keys_of(s.scan(scan_range("", "b", "c", 0, "a:2")).entries) == Keys{"b", "b:1", "b:2"});
    REQUIRE(keys_of(s.scan(scan_range("", "a", "c", 0, "b")).entries) == Keys{"b:1", "b:2"});
    auto past = s.scan(scan_range("", "a", "b", 5, "b:2"));
    REQUIRE(past.entries.empty());
    REQUIRE(past.done);
    REQUIRE(past.cursor == "b:2");
  }
}

TEST_CASE("range: binary keys and bounds with 0x00 and 0xFF bytes", "[range]") {
  StoreGuard g(conformance::store_options(8));
  Store s = Store::open(g.options());
  const Keys keys = {"\0"s,   "\0\0"s, "\0\xff"s,   "a",    "a\0"s, "a\0b"s,   "a\x7f",
                     "a\x80", "a\xff", "a\xff\xff", "\x80", "\xff", "\xff\0"s, "\xff\xff"};
  std::map<std::string, std::string> model;
  for (const auto& k : keys) {
    s.set(k, "v:" + k);
    model[k] = "v:" + k;
  }
  const std::vector<std::pair<std::string, std::string>> bounds = {
      {"\0"s, "\0\xff"s}, {"a\0"s, "a\x80"}, {"a\x7f", ""},          {"\x80", "\xff\0"s},
      {"", "\0\0"s},      {"\xff", ""},      {"a", "a\xff\xff\xff"}, {"\0\0"s, "\xff\xff"}};
  for (const auto& [from, to] : bounds) {
    for (const std::string& prefix : {""s, "a"s, "\0"s, "\xff"s}) {
      INFO("prefix '" << escape(prefix) << "' from '" << escape(from) << "' to '" << escape(to)
                      << "'");
      const Keys want = model_keys(model, prefix, from, to);
      REQUIRE(escape_each(keys_of(s.list(list_range(prefix, from, to)))) == escape_each(want));
      REQUIRE(escape_each(s.list_keys(list_range(prefix, from, to))) == escape_each(want));
      REQUIRE(s.count(KeyRange{prefix, from, to}) == want.size());
      REQUIRE(escape_each(scan_all(s, scan_range(prefix, from, to, 0), 3)) == escape_each(want));
    }
  }
}

TEST_CASE("range: an inverted range raises invalid_argument naming both bounds, changing nothing",
          "[range]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  for (const char* k : {"a", "b", "c", "d"}) s.set(k, "v");
  const auto names_both = [](const Outcome& o) {
    return o.what.find("'b\\x00'") != std::string::npos &&
           o.what.find("'c\\xff'") != std::string::npos;
  };
  const std::string from = "c\xff", to = "b\0"s;
  for (const Outcome& o : {
           outcome_of([&] { (void)s.list(list_range("", from, to)); }),
           outcome_of([&] { (void)s.list_keys(list_range("", from, to)); }),
           outcome_of([&] { (void)s.scan(scan_range("", from, to, 1)); }),
           outcome_of([&] { (void)s.scan_keys(scan_range("", from, to, 1)); }),
           outcome_of([&] {
             (void)s.count(KeyRange{"", from, to});
           }),
           outcome_of([&] {
             (void)s.delete_range(KeyRange{"", from, to});
           }),
           outcome_of([&] {
             (void)s.delete_range(KeyRange{"a", from, to}, 1);
           }),
       }) {
    INFO(o.what);
    REQUIRE(o == errc::invalid_argument);
    REQUIRE(names_both(o));
  }
  REQUIRE(s.size() == 4);
  REQUIRE(s.list_keys() == Keys{"a", "b", "c", "d"});
}

TEST_CASE("range: list_keys and scan_keys return the keys of list and scan", "[range]") {
  StoreGuard g(conformance::store_options(8));
  Store s = Store::open(g.options());
  for (int i = 0; i < 300; ++i) s.set("k" + std::to_string(i * 7 % 300), "v");
  for (const ListOptions& o : {list_range("", "", ""), list_range("k1", "", "", 17),
                               list_range("", "k150", "k20"), list_range("k2", "k22", "k3", 5)}) {
    REQUIRE(s.list_keys(o) == keys_of(s.list(o)));
    ScanOptions so = scan_range(o.prefix, o.from, o.to, 9);
    for (int pages = 0;; ++pages) {
      REQUIRE(pages < 100);
      auto entries = s.scan(so);
      auto keys = s.scan_keys(so);
      REQUIRE(keys.keys == keys_of(entries.entries));
      REQUIRE(keys.cursor == entries.cursor);
      REQUIRE(keys.done == entries.done);
      if (keys.done) break;
      so.cursor = keys.cursor;
    }
  }
}

TEST_CASE("range: delete_range deletes a range, up to a limit, and says when it is done",
          "[range]") {
  StoreGuard g(conformance::store_options(8));
  Store s = Store::open(g.options());
  std::map<std::string, std::string> model;
  for (int i = 0; i < 100; ++i) {
    const std::string k = (i % 2 ? "odd:" : "even:") + std::to_string(100 + i);
    s.set(k, "v:" + k);
    model[k] = "v:" + k;
  }

  SECTION("limit, then the rest; keys outside the range stay") {
    const KeyRange range{"odd:", "odd:120", "odd:160"};  // odd:121 .. odd:159: 20 keys
    auto first = s.delete_range(range, 15);
    REQUIRE(first.deleted == 15);
    REQUIRE_FALSE(first.done);
    REQUIRE(s.count(range) == 5);
    auto rest = s.delete_range(range, 15);
    REQUIRE(rest.deleted == 5);
    REQUIRE(rest.done);
    auto none = s.delete_range(range);
    REQUIRE(none.deleted == 0);
    REQUIRE(none.done);
    for (const auto& k : model_keys(model, "odd:", "odd:120", "odd:160")) model.erase(k);
    REQUIRE(s.list_keys() == model_keys(model, "", "", ""));
    REQUIRE(s.check_invariants().empty());
  }
  SECTION("a limit equal to the keys left is done") {
    auto r = s.delete_range(KeyRange{"", "even:190", "f"}, 5);  // even:190 .. even:198
    REQUIRE(r.deleted == 5);
    REQUIRE(r.done);
    REQUIRE(s.size() == 95);
  }
  SECTION("bounds without a prefix; to == from deletes nothing") {
    // even:150 .. even:198 (25 keys), odd:101 .. odd:109 (5 keys)
    REQUIRE(s.delete_range(KeyRange{"", "even:150", "odd:111"}).deleted == 25 + 5);
    REQUIRE(s.delete_range(KeyRange{"", "odd:121", "odd:121"}).deleted == 0);
    REQUIRE(s.size() == 100 - 30);
    REQUIRE(s.list_keys(list_range("", "even:150", "odd:111")).empty());
  }
  SECTION("delete_prefix is a range of one prefix") {
    REQUIRE(s.delete_prefix("even:1", 0).deleted == 50);
    REQUIRE(s.count("even:") == 0);
  }
  SECTION("an all-empty range raises invalid_argument and deletes nothing") {
    auto o = outcome_of([&] { (void)s.delete_range(KeyRange{}); });
    REQUIRE(o == errc::invalid_argument);
    REQUIRE(o.what.find("clear()") != std::string::npos);
    REQUIRE(s.size() == 100);
  }
  SECTION("a read-only handle refuses it") {
    Store r = Store::open([&] {
      auto o = g.options();
      o.open_mode = shmkv::OpenMode::read_only;
      return o;
    }());
    REQUIRE_ERRC(r.delete_range(KeyRange{"odd:"}), errc::read_only);
    REQUIRE_ERRC(r.pop_random_many("odd:", 3), errc::read_only);
    REQUIRE(s.size() == 100);
  }
}

TEST_CASE("range: random ranges and operations match a std::map model", "[range][oracle]") {
  const std::uint64_t seed = test_seed();
  std::cout << "range seed: " << seed << " (replay with SHMKV_TEST_SEED=" << seed << ")"
            << std::endl;
  INFO("seed " << seed);
  StoreGuard g(conformance::store_options(8));
  Store s = Store::open(g.options());
  std::mt19937_64 gen(seed);
  // Short keys over a small alphabet with 0x00 and 0xFF, so ranges and prefixes overlap often.
  const std::string alphabet = "\0ab\x7f\x80\xff"s;
  auto random_bytes = [&](std::size_t max_len, std::size_t min_len) {
    std::string k(min_len + gen() % (max_len - min_len + 1), ' ');
    for (auto& c : k) c = alphabet[gen() % alphabet.size()];
    return k;
  };
  std::map<std::string, std::string> model;
  for (int i = 0; i < 600; ++i) {
    const std::string k = random_bytes(4, 1);
    s.set(k, "v:" + k);
    model[k] = "v:" + k;
  }
  for (int round = 0; round < 300; ++round) {
    std::string prefix = gen() % 3 ? ""s : random_bytes(1, 0);
    std::string from = gen() % 4 ? random_bytes(3, 0) : ""s;
    std::string to = gen() % 4 ? random_bytes(3, 0) : ""s;
    if (!to.empty() && to < from) std::swap(from, to);  // inverted ranges: their own test
    INFO("round " << round << " prefix '" << escape(prefix) << "' from '" << escape(from)
                  << "' to '" << escape(to) << "'");
    const Keys want = model_keys(model, prefix, from, to);
    REQUIRE(s.count(KeyRange{prefix, from, to}) == want.size());
    REQUIRE(escape_each(s.list_keys(list_range(prefix, from, to))) == escape_each(want));
    const std::size_t page = 1 + gen() % 40;
    REQUIRE(escape_each(scan_all(s, scan_range(prefix, from, to, 0), page)) == escape_each(want));
    if (round % 10 == 0 && !(prefix.empty() && from.empty() && to.empty())) {
      const std::size_t limit = gen() % 8;
      auto r = s.delete_range(KeyRange{prefix, from, to}, limit);
      const std::size_t expect = limit == 0 ? want.size() : std::min(limit, want.size());
      REQUIRE(r.deleted == expect);
      REQUIRE(r.done == (expect == want.size()));
      for (const auto& k : want)
        if (!s.exists(k)) model.erase(k);
      REQUIRE(model.size() == s.size());
    }
  }
  REQUIRE(escape_each(s.list_keys()) == escape_each(model_keys(model, "", "", "")));
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("range: pop_random_many pops distinct entries and removes them", "[range][random]") {
  StoreGuard g(conformance::store_options(8));
  Store s = Store::open(g.options());
  for (int i = 0; i < 50; ++i) s.set("job:" + std::to_string(i), "payload" + std::to_string(i));
  for (int i = 0; i < 20; ++i) s.set("other:" + std::to_string(i), "x");

  auto popped = s.pop_random_many("job:", 30);
  REQUIRE(popped.size() == 30);
  std::set<std::string> keys;
  for (const auto& e : popped) {
    REQUIRE(e.key.starts_with("job:"));
    REQUIRE(e.value == "payload" + e.key.substr(4));
    REQUIRE_FALSE(s.exists(e.key));
    keys.insert(e.key);
  }
  REQUIRE(keys.size() == 30);
  REQUIRE(s.count("job:") == 20);

  auto rest = s.pop_random_many("job:", 1000);  // fewer match than asked
  REQUIRE(rest.size() == 20);
  for (const auto& e : rest) REQUIRE(keys.insert(e.key).second);
  REQUIRE(keys.size() == 50);
  REQUIRE(s.count("job:") == 0);
  REQUIRE(s.pop_random_many("job:", 5).empty());
  REQUIRE(s.count("other:") == 20);  // another prefix is untouched

  // A rare prefix (4 keys of 2,024): random draws mostly miss it, the full-list fallback pops.
  for (int i = 0; i < 2000; ++i) s.set("filler:" + std::to_string(i), "x");
  for (int i = 0; i < 4; ++i) s.set("rare:" + std::to_string(i), "r");
  auto rare = s.pop_random_many("rare:", 3);
  REQUIRE(rare.size() == 3);
  for (const auto& e : rare) REQUIRE(e.key.starts_with("rare:"));
  REQUIRE(s.count("rare:") == 1);
  REQUIRE(s.pop_random_many("rare:", 3).size() == 1);
  REQUIRE(s.count("other:") == 20);
  REQUIRE(s.pop_random_many("", 5000).size() == 2020);  // an empty prefix: every key
  REQUIRE(s.size() == 0);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("range: pop_random_many's n must be 1..kMaxRandomKeys", "[range][random]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("k", "v");
  for (std::size_t n : {std::size_t{0}, Store::kMaxRandomKeys + 1}) {
    auto o = outcome_of([&] { (void)s.pop_random_many("", n); });
    REQUIRE(o == errc::invalid_argument);
    REQUIRE(o.what.find(std::to_string(n)) != std::string::npos);
  }
  REQUIRE(s.size() == 1);
  REQUIRE(s.pop_random_many("", Store::kMaxRandomKeys).size() == 1);
}

TEST_CASE("range: 4 processes pop_random_many a shared pool, each key exactly once",
          "[range][multiprocess]") {
  constexpr int kProcs = 4, kKeys = 4000;
  constexpr std::size_t kBatch = 37;
  StoreGuard g(conformance::store_options(16));
  Store s = Store::open(g.options());
  for (int i = 0; i < kKeys; ++i) s.set("k" + std::to_string(i), "v" + std::to_string(i));
  s.set("other", "not in the pool");
  // pops[i]: how many times the children popped key k<i> (shared memory, counted through
  // lock-free atomic_refs).
  SharedArray<std::int32_t> pops(kKeys);
  const std::vector<int> statuses = run_children(kProcs, [&](int) -> int {
    Store c = Store::open(g.options());
    for (;;) {
      const std::vector<Entry> batch = c.pop_random_many("k", kBatch);
      if (batch.empty()) return 0;
      if (batch.size() > kBatch) return 2;
      for (const Entry& e : batch) {
        if (!e.key.starts_with("k")) return 3;
        const int index = std::stoi(e.key.substr(1));
        if (index < 0 || index >= kKeys || e.value != "v" + std::to_string(index)) return 4;
        std::atomic_ref<std::int32_t>(pops[index]).fetch_add(1, std::memory_order_relaxed);
      }
    }
  });
  REQUIRE(statuses == std::vector<int>(kProcs, 0));
  for (int i = 0; i < kKeys; ++i) {
    INFO("key k" << i);
    REQUIRE(pops[i] == 1);
  }
  REQUIRE(s.size() == 1);
  REQUIRE(s.get("other") == std::optional<std::string>("not in the pool"));
  REQUIRE(s.check_invariants().empty());
}
