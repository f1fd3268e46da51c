// Capacity: filling the arena and the hash table up to store_full, failing ops change nothing,
// freed space is reused.
#include <string>
#include <vector>

#include "segment_image.hpp"
#include "test_util.hpp"

using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using Opt = std::optional<std::string>;

namespace {

std::string key(const std::string& p, std::size_t i) {
  return p + std::to_string(i);
}

// Sets p0, p1, ... with value_len-byte values until store_full; returns how many fit.
std::size_t fill(Store& s, const std::string& p, std::size_t value_len, std::size_t max = 1000000) {
  for (std::size_t i = 0; i < max; ++i) {
    auto k = key(p, i);
    auto o = outcome_of([&] { s.set(k, pattern_value(k, value_len)); });
    if (o == errc::store_full) return i;
    INFO("set " << k);
    REQUIRE(o.kind == Outcome::returned);
  }
  FAIL("never became full");
  return max;
}

}  // namespace

TEST_CASE("capacity: fill the arena to store_full, reuse freed space", "[capacity]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(small_options(g.name(), 4ull << 20, 4));
  constexpr std::size_t kLen = 1000;

  // Phase 1: fill.
  std::size_t n1 = fill(s, "k", kLen);
  INFO("first fill: " << n1 << " keys");
  REQUIRE(n1 > 1000);  // 4 MiB of segment holds well over 1000 x 1 KB
  REQUIRE(s.size() == n1);
  REQUIRE(s.check_invariants().empty());
  auto info = s.info();
  REQUIRE(info.live_keys == n1);

  // The failing op changed nothing: the key that did not fit is absent, the rest intact.
  auto failed = key("k", n1);
  REQUIRE_FALSE(key_exists(s, failed));
  REQUIRE_ERRC(s.set(failed, pattern_value(failed, kLen)), errc::store_full);
  REQUIRE(s.size() == n1);

  // Other mutations that need new space fail the same way and change nothing.
  std::string big(60000, 'b');
  REQUIRE_ERRC(s.set("k0", big), errc::store_full);
  REQUIRE(s.get("k0") == Opt(pattern_value("k0", kLen)));
  auto o1 = outcome_of([&] { (void)s.get_or_set("new-gos", big); });
  REQUIRE(o1 == errc::store_full);
  REQUIRE_FALSE(key_exists(s, "new-gos"));
  auto o2 = outcome_of([&] { (void)s.swap("k1", big); });
  REQUIRE(o2 == errc::store_full);
  REQUIRE(s.get("k1") == Opt(pattern_value("k1", kLen)));
  REQUIRE_ERRC(s.set_many({{"m1", big}, {"m2", big}}), errc::store_full);
  REQUIRE_FALSE(key_exists(s, "m1"));
  REQUIRE(s.size() == n1);
  REQUIRE(s.check_invariants().empty());

  // Phase 2: reads and deletes work on a full store.
  for (std::size_t i = 0; i < n1; ++i) {
    auto k = key("k", i);
    if (s.get(k) != Opt(pattern_value(k, kLen))) FAIL("wrong value for " << k);
  }
  REQUIRE(s.list({"k1", 5}).size() == 5);
  REQUIRE(s.random_key().has_value());
  std::size_t deleted = 0;
  for (std::size_t i = 0; i < n1; ++i) deleted += s.del(key("k", i));
  REQUIRE(deleted == n1);
  REQUIRE(s.size() == 0);
  REQUIRE(s.check_invariants().empty());

  // Phase 3: refill with other keys; the freed space is reused.
  std::size_t n2 = fill(s, "r", kLen);
  INFO("second fill: " << n2 << " keys");
  REQUIRE(n2 >= n1 * 98 / 100);
  REQUIRE(s.check_invariants().empty());

  // Phase 4: clear, then fill again.
  s.clear();
  REQUIRE(s.size() == 0);
  std::size_t n3 = fill(s, "c", kLen);
  INFO("after clear: " << n3 << " keys");
  REQUIRE(n3 >= n1 * 98 / 100);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("capacity: space freed by one value size is reused by another", "[capacity]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(small_options(g.name(), 4ull << 20, 4));
  std::size_t small_n = fill(s, "s", 100);
  INFO("small values: " << small_n);
  REQUIRE(s.delete_prefix("s").done);
  REQUIRE(s.size() == 0);
  // Whole chunks freed by the small values must be usable by big (multi-chunk) values.
  std::size_t big_n = fill(s, "b", 50000);
  INFO("big values: " << big_n);
  auto info = s.info();
  REQUIRE(big_n * 50000 >= info.arena_bytes * 6 / 10);
  REQUIRE(s.delete_prefix("b").done);
  std::size_t small_again = fill(s, "t", 100);
  REQUIRE(small_again >= small_n * 9 / 10);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("capacity: overwriting in a full store changes all or nothing", "[capacity]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(small_options(g.name(), 4ull << 20, 4));
  std::size_t n = fill(s, "k", 2000);
  REQUIRE(n > 0);
  // An overwrite may need a new block even for the same size; when there is none it raises
  // store_full and the old value stays.
  std::size_t full_same = 0, full_smaller = 0;
  auto expected = [&](std::size_t i, bool rewritten) {
    if (!rewritten) return pattern_value(key("k", i), 2000);
    return i % 7 == 0 ? pattern_value("x", 2000) : std::string("tiny");
  };
  std::vector<bool> rewritten(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 7 > 1) continue;
    auto o = outcome_of([&] { s.set(key("k", i), expected(i, true)); });
    if (o == errc::store_full) {
      ++(i % 7 == 0 ? full_same : full_smaller);
    } else {
      INFO("overwrite k" << i);
      REQUIRE(o.kind == Outcome::returned);
      rewritten[i] = true;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    INFO("k" << i);
    REQUIRE(s.get(key("k", i)) == Opt(expected(i, rewritten[i])));
  }
  REQUIRE(s.size() == n);
  REQUIRE(s.check_invariants().empty());
  if (full_same + full_smaller > 0) {
    WARN("overwrites refused in a full store: " << full_same << " same-size, " << full_smaller
                                                << " smaller");
  }
  // increment_by checks the number before it needs space.
  REQUIRE_ERRC(s.increment_by("k2", 1), errc::not_a_number);

  // After deleting some keys of the same size, every same-size overwrite fits.
  for (std::size_t i = 2; i < n; i += 7) REQUIRE(s.del(key("k", i)));
  for (std::size_t i = 0; i < n; i += 7) {
    s.set(key("k", i), expected(i, true));
    rewritten[i] = true;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 7 == 2) continue;
    INFO("k" << i);
    REQUIRE(s.get(key("k", i)) == Opt(expected(i, rewritten[i])));
  }
  REQUIRE(s.check_invariants().empty());
}

// After a quarter of the arena's records are deleted, a handful of tiny records must fit
// somewhere, although every chunk still holds some large records (a slab allocator that never
// lends blocks of one size class to another fails this). Without the ordered index: its nodes
// take whole chunks, which such an arena no longer has (the next case).
TEST_CASE("capacity: space freed by deleting some large records is usable by small records",
          "[capacity]") {
  SegmentGuard g(unique_name());
  shmkv::Options o = small_options(g.name(), 4ull << 20, 4);
  o.ordered_index = false;
  Store s = Store::open(o);
  std::size_t n = fill(s, "k", 2000);
  for (std::size_t i = 0; i < n; i += 4) REQUIRE(s.del(key("k", i)));
  INFO("filled " << n << " keys of 2000 bytes, deleted " << (n + 3) / 4);
  for (int i = 0; i < 100; ++i) {
    INFO("tiny key " << i);
    REQUIRE(outcome_of([&] { s.set("tiny" + std::to_string(i), "v"); }).kind == Outcome::returned);
  }
  REQUIRE(s.check_invariants().empty());
}

// With the ordered index, a new key needs room for the index nodes its insert may split into
// (allocated ahead, whole chunks): in an arena whose every chunk holds records, new keys fit
// until a leaf is full, and then the insert is refused whole (store_full, nothing changed).
TEST_CASE(
    "capacity: with the ordered index, a key whose index node finds no chunk is refused whole",
    "[capacity]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(small_options(g.name(), 4ull << 20, 1));
  std::size_t n = fill(s, "k", 2000);
  // Blocks freed in partial slabs give no chunk; the last slab filled (one shard: the last keys)
  // emptied does, so that some tiny keys fit before their index nodes find none.
  for (std::size_t i = 0; i < n; ++i)
    if (i % 4 == 0 || i + 8 >= n) REQUIRE(s.del(key("k", i)));
  const std::size_t before = s.size();
  std::size_t stored = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string k = "tiny" + std::to_string(i);
    const Outcome o = outcome_of([&] { s.set(k, "v"); });
    if (o.kind == Outcome::returned) {
      ++stored;
      continue;
    }
    REQUIRE(o == errc::store_full);
    REQUIRE_FALSE(key_exists(s, k));
  }
  INFO("stored " << stored << " tiny keys");
  REQUIRE(stored > 0);
  REQUIRE(s.size() == before + stored);
  REQUIRE(s.count("tiny") == stored);
  REQUIRE(s.info().ordered_index.valid);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("capacity: a full hash table raises store_full", "[capacity]") {
  SegmentGuard g(unique_name());
  auto o = small_options(g.name(), 4ull << 20, 1);
  o.max_keys = 100;
  Store s = Store::open(o);
  auto info = s.info();
  REQUIRE(info.max_keys >= 100);
  std::size_t n = fill(s, "k", 8);
  INFO("table took " << n << " keys of " << info.max_keys << " slots");
  REQUIRE(n >= 90);  // at least 90% of what was asked for
  REQUIRE(n <= info.max_keys);
  REQUIRE(s.size() == n);
  // The arena is nowhere near full; the refusal is the table's.
  REQUIRE(s.info().arena_used_bytes < info.arena_bytes / 4);
  REQUIRE_ERRC(s.set("another", "v"), errc::store_full);
  REQUIRE_ERRC(s.get_or_set("another", "v"), errc::store_full);
  REQUIRE_ERRC(s.increment_by("another", 1), errc::store_full);
  REQUIRE_FALSE(key_exists(s, "another"));
  REQUIRE(s.check_invariants().empty());

  // Existing keys can still be overwritten (no new slot needed).
  s.set("k0", "new value, longer than before");
  REQUIRE(s.get("k0") == Opt("new value, longer than before"));
  REQUIRE_ERRC(s.increment_by("k1", 1), errc::not_a_number);
  s.set("k2", "41");
  REQUIRE(s.increment_by("k2", 1) == 42);

  // Delete one: exactly one new key fits again.
  REQUIRE(s.del("k5"));
  s.set("another", "v");
  REQUIRE_ERRC(s.set("yet-another", "v"), errc::store_full);

  // Delete all, refill to the same count.
  for (std::size_t i = 0; i < n; ++i) s.del(key("k", i));
  s.del("another");
  REQUIRE(s.size() == 0);
  REQUIRE(s.check_invariants().empty());
  std::size_t n2 = fill(s, "r", 8);
  REQUIRE(n2 == n);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("capacity: tables fill per shard; every shard refuses above its load", "[capacity]") {
  SegmentGuard g(unique_name());
  auto o = small_options(g.name(), 8ull << 20, 4);
  o.max_keys = 400;
  Store s = Store::open(o);
  std::size_t n = fill(s, "k", 4);
  auto info = s.info();
  INFO("took " << n << " keys, " << info.max_keys << " slots");
  REQUIRE(n <= info.max_keys);
  REQUIRE(n >= 200);  // a full shard stops the first key hashed to it, not far below that
  REQUIRE(info.live_keys == n);
  for (const auto& sh : info.shard) REQUIRE(sh.live_keys <= sh.capacity);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("capacity: a key whose insert would probe past a slot's 12-bit distance is refused",
          "[capacity]") {
  // Keys whose home slots all fall in [0, 4) of a 1-shard table pile up in one robin-hood
  // cluster, where the k-th key sits about k slots from home. A slot keeps a distance of at most
  // kMaxProbe (4095), so the key that would go further is store_full, with the table at 70 %
  // load, and changes nothing.
  namespace det = shmkv::detail;
  SegmentGuard g(unique_name());
  auto o = small_options(g.name(), 16ull << 20, 1);
  o.max_keys = 5000;
  Store s = Store::open(o);
  const std::uint64_t cap = s.info().shard[0].capacity;
  REQUIRE(cap * 9 / 10 > det::kMaxProbe + 100);  // the load limit is not what refuses
  std::uint64_t seed;
  {
    SegmentImage img(g.name());
    seed = img.header()->hash_seed;
  }
  std::vector<std::string> clustered;
  for (std::uint64_t i = 0; clustered.size() < det::kMaxProbe + 8; ++i) {
    std::string k = "p" + std::to_string(i);
    if (det::HomeSlot(det::KeyHash{det::HashKey(seed, k)}, cap) < 4) clustered.push_back(k);
  }
  std::size_t stored = 0;
  std::string refused;
  for (const std::string& k : clustered) {
    auto o2 = outcome_of([&] { s.set(k, "v"); });
    if (o2 == errc::store_full) {
      refused = k;
      INFO(o2.what);
      CHECK(o2.what.find("4095") != std::string::npos);
      break;
    }
    REQUIRE(o2.kind == Outcome::returned);
    ++stored;
  }
  INFO("stored " << stored << " clustered keys before the refusal");
  REQUIRE_FALSE(refused.empty());
  REQUIRE(stored >= det::kMaxProbe - 3);
  REQUIRE(s.size() == stored);
  REQUIRE_FALSE(key_exists(s, refused));
  REQUIRE(s.check_invariants().empty());
  REQUIRE(s.get(clustered[0]) == Opt("v"));
  REQUIRE(s.get(clustered[stored - 1]) == Opt("v"));
  s.set("elsewhere", "w");  // a key homed away from the cluster still fits
  REQUIRE(s.get("elsewhere") == Opt("w"));
  REQUIRE(s.del(clustered[0]));  // a delete shortens the cluster: the refused key fits now
  s.set(refused, "v");
  REQUIRE(s.get(refused) == Opt("v"));
  REQUIRE(s.check_invariants().empty());
}
