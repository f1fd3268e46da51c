// Home blocks (Options::home_block_bytes): option checks, where records are put, that a store
// with them behaves exactly like one without (against an in-memory oracle, through churn, clear
// and multi-process writers), and that a writer killed with SIGKILL leaves a consistent store.
#include <signal.h>
#include <unistd.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "test_util.hpp"

using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using Opt = std::optional<std::string>;

namespace {

shmkv::Options home_options(const std::string& name, std::uint32_t home_block_bytes,
                            std::uint64_t max_keys = 20000) {
  shmkv::Options o = small_options(name, 16ull << 20, 4);
  o.max_keys = max_keys;
  o.home_block_bytes = home_block_bytes;
  return o;
}

std::string key_of(std::size_t i) {
  return "key:" + std::to_string(i);
}

// The counter value of v as increment_by reads it: an optional '-' and 1..18 digits.
bool as_counter(const std::string& v, std::int64_t* out) {
  const bool negative = !v.empty() && v[0] == '-';
  if (v.size() == std::size_t(negative) || v.size() - negative > 18) return false;
  std::int64_t n = 0;
  for (std::size_t i = negative; i < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return false;
    n = n * 10 + (v[i] - '0');
  }
  *out = negative ? -n : n;
  return true;
}

}  // namespace

TEST_CASE("home blocks: out-of-range sizes are refused, naming the value", "[home]") {
  for (std::uint32_t bad : {1u, 32u, 513u, 4096u}) {
    SegmentGuard g(unique_name());
    Outcome o = outcome_of([&] { Store::open(home_options(g.name(), bad)); });
    INFO("home_block_bytes " << bad << ": " << o.what);
    REQUIRE(o == errc::invalid_argument);
    REQUIRE(o.what.find("home_block_bytes " + std::to_string(bad)) != std::string::npos);
    REQUIRE_FALSE(Store::segment_exists(g.name()));
  }
  // 200k slots of 512 bytes do not fit in 16 MiB.
  SegmentGuard g(unique_name());
  Outcome o = outcome_of([&] { Store::open(home_options(g.name(), 512, 200000)); });
  INFO(o.what);
  REQUIRE(o == errc::invalid_argument);
  REQUIRE(o.what.find("home_block_bytes 512") != std::string::npos);
  REQUIRE_FALSE(Store::segment_exists(g.name()));
}

TEST_CASE("home blocks: records that fit go to their home blocks, others to slabs", "[home]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(home_options(g.name(), 100));  // rounded up to the 104-byte class
  shmkv::Info info = s.info();
  REQUIRE(info.home_block_bytes == 104);
  REQUIRE(info.home_records == 0);
  const std::uint64_t home_arena = info.arena_used_bytes;  // home chunks are reserved up front
  REQUIRE(home_arena >= info.max_keys * 100 / 90 * 104);   // a block for every slot

  // 10000 keys in about 22000 slots: a record fits (32 + 9 + up to 63 bytes) and most find
  // their own or their buddy's home block free.
  constexpr std::size_t kKeys = 10000;
  for (std::size_t i = 0; i < kKeys; ++i) s.set(key_of(i), pattern_value(key_of(i), 60));
  info = s.info();
  INFO("home_records " << info.home_records << " of " << info.live_keys);
  REQUIRE(info.live_keys == kKeys);
  REQUIRE(info.home_records > kKeys * 8 / 10);
  REQUIRE(info.home_records < kKeys);

  // Records too large for a home block never take one.
  for (std::size_t i = 0; i < 1000; ++i) s.set("big:" + std::to_string(i), std::string(200, 'b'));
  REQUIRE(s.info().home_records == info.home_records);

  for (std::size_t i = 0; i < kKeys; ++i) REQUIRE(s.get(key_of(i)) == pattern_value(key_of(i), 60));
  std::vector<std::string_view> keys;
  std::vector<std::string> storage;
  for (std::size_t i = 0; i < 100; ++i) storage.push_back(key_of(i * 97));
  for (const auto& k : storage) keys.push_back(k);
  std::vector<std::optional<std::string>> got;
  s.get_many(keys, &got);
  for (std::size_t i = 0; i < keys.size(); ++i) REQUIRE(got[i] == pattern_value(keys[i], 60));
  REQUIRE(s.check_invariants().empty());

  // Growing a value past the block moves the record out; deleting frees the block.
  const std::uint64_t before = s.info().home_records;
  std::size_t moved = 0;
  for (std::size_t i = 0; i < 200; ++i) {
    s.set(key_of(i), std::string(150, 'g'));
    REQUIRE(s.get(key_of(i)) == std::string(150, 'g'));
  }
  moved = before - s.info().home_records;
  REQUIRE(moved > 100);
  for (std::size_t i = 200; i < 400; ++i) REQUIRE(s.del(key_of(i)));
  REQUIRE(s.info().home_records < before - moved);
  REQUIRE(s.check_invariants().empty());

  // clear() empties the home blocks but keeps them reserved, ready for new records.
  s.clear();
  info = s.info();
  REQUIRE(info.live_keys == 0);
  REQUIRE(info.home_records == 0);
  REQUIRE(info.arena_used_bytes == home_arena + info.ordered_index.node_bytes);
  REQUIRE(s.check_invariants().empty());
  for (std::size_t i = 0; i < 1000; ++i) s.set(key_of(i), "again");
  REQUIRE(s.info().home_records > 900);
  REQUIRE(s.get(key_of(999)) == Opt("again"));
}

TEST_CASE("home blocks: random churn matches an in-memory oracle", "[home]") {
  const std::uint32_t home = GENERATE(0u, 64u, 160u);
  SegmentGuard g(unique_name());
  Store s = Store::open(home_options(g.name(), home, 5000));
  std::map<std::string, std::string> oracle;
  std::mt19937_64 rng(home + 1);
  for (int step = 0; step < 60000; ++step) {
    const std::string k = "c" + std::to_string(rng() % 3000);
    const unsigned action = rng() % 10;
    if (action < 6) {
      // Sizes straddling both block sizes, so records move in and out of home blocks.
      const std::string v = pattern_value(k + std::to_string(step), rng() % 180);
      s.set(k, v);
      oracle[k] = v;
    } else if (action < 8) {
      REQUIRE(s.del(k) == (oracle.erase(k) == 1));
    } else if (action < 9) {
      const std::int64_t delta = static_cast<std::int64_t>(rng() % 1000) - 300;
      auto it = oracle.find(k);
      std::int64_t current = 0;
      if (it != oracle.end() && !as_counter(it->second, &current)) continue;  // not a counter
      REQUIRE(s.increment_by(k, delta) == current + delta);
      oracle[k] = std::to_string(current + delta);
    } else {
      auto it = oracle.find(k);
      REQUIRE(s.get(k) == (it == oracle.end() ? Opt() : Opt(it->second)));
    }
    if (step % 20000 == 19999) {
      INFO("home_block_bytes " << home << ", step " << step);
      REQUIRE(s.check_invariants().empty());
      REQUIRE(s.size() == oracle.size());
    }
  }
  for (const auto& [k, v] : oracle) REQUIRE(s.get(k) == v);
  if (home != 0) REQUIRE(s.info().home_records > 0);
}

TEST_CASE("home blocks: writers in several processes, one of them SIGKILLed mid-run", "[home]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(home_options(g.name(), 128, 40000));
  constexpr int kWriters = 3;
  constexpr std::uint64_t kPerWriter = 8000;
  SharedArray<std::uint64_t> acknowledged(kWriters);  // sets each writer saw return
  StartBarrier start;
  std::vector<pid_t> pids;
  for (int w = 0; w < kWriters; ++w) {
    pids.push_back(spawn_child([&, w] {
      Store mine = Store::open(home_options(g.name(), 128, 40000));
      start.wait();
      for (std::uint64_t i = 0;; ++i) {
        const std::string k = "w" + std::to_string(w) + ":" + std::to_string(i % kPerWriter);
        mine.set(k, pattern_value(k, i % 90));
        if (i < kPerWriter) acknowledged[w] = i + 1;
        if (w != 0 && i + 1 == 3 * kPerWriter) return 0;  // writer 0 runs until killed
      }
    }));
  }
  start.release();
  while (acknowledged[0] < kPerWriter) usleep(1000);
  usleep(20000);
  REQUIRE(kill(pids[0], SIGKILL) == 0);
  REQUIRE(wait_child(pids[0]) == 128 + SIGKILL);
  for (int w = 1; w < kWriters; ++w) REQUIRE(wait_child(pids[w]) == 0);

  // Every acknowledged key is there with one of the values its writer wrote; the next lock of a
  // shard the victim held repairs it.
  for (int w = 0; w < kWriters; ++w) {
    REQUIRE(acknowledged[w] == kPerWriter);
    for (std::uint64_t i = 0; i < kPerWriter; ++i) {
      const std::string k = "w" + std::to_string(w) + ":" + std::to_string(i);
      Opt v = s.get(k);
      INFO(k);
      REQUIRE(v.has_value());
      REQUIRE(v->size() < 90);
      REQUIRE(*v == pattern_value(k, v->size()));
    }
  }
  REQUIRE(s.size() == kWriters * kPerWriter);
  REQUIRE(s.check_invariants().empty());
  REQUIRE(s.info().home_records > s.size() / 2);
}
