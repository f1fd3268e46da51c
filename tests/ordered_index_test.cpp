// The ordered index (shm/ordered_index.hpp): against a std::map model through every change
// that moves keys in and out of it, after its holder dies, and when its nodes are damaged.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>

#include "segment_image.hpp"
#include "shm/layout.hpp"
#include "test_util.hpp"

using shmkv::Store;
using namespace testutil;
namespace det = shmkv::detail;

namespace {

// Long shared prefixes (the leaves' prefix and partial keys), binary bytes, and lengths on both
// sides of the 8 bytes a leaf entry holds. Past a node's 32 prefix bytes the "kxxx" keys all
// share their 8 partial bytes, so they and their separators are told apart by their bytes (and
// many a separator is a whole key); the "z" keys run into partials of eight 0xff bytes.
std::string KeyFor(std::uint64_t i) {
  if (i % 9 == 8) return "z" + std::string(1 + i % 50, '\xff') + std::to_string(i);
  switch (i % 4) {
    case 0:
      return "user:" + std::to_string(i % 977) + ":session:" + std::to_string(i);
    case 1:
      return "job:" + std::to_string(i);
    case 2:
      return std::string("bin\0\xff", 5) + std::to_string(i * 7919);
    default:
      return "k" + std::string(40, 'x') + std::to_string(i);
  }
}

shmkv::Options IndexOptions(const std::string& name) {
  shmkv::Options o = small_options(name, 64ull << 20, 8);
  o.max_key_bytes = 64;  // small inner nodes: a tree of three levels and more
  o.max_keys = 200000;
  return o;
}

void RequireMatches(Store& s, const std::map<std::string, std::string>& model) {
  REQUIRE(s.count() == model.size());
  const std::vector<shmkv::Entry> all = s.list();
  REQUIRE(all.size() == model.size());
  auto it = model.begin();
  for (const shmkv::Entry& e : all) {
    REQUIRE(e.key == it->first);
    REQUIRE(e.value == it->second);
    ++it;
  }
  const std::string prefixes[] = {"user:1", "job:", std::string("bin\0\xff", 5), "kxx", "zzz"};
  for (const std::string& prefix : prefixes) {
    std::size_t expected = 0;
    for (auto& [k, v] : model) expected += k.rfind(prefix, 0) == 0;
    REQUIRE(s.count(prefix) == expected);
  }
  REQUIRE(s.check_invariants().empty());
  // No change found the tree other than it expected (a write that does marks it stale, and the
  // next read rebuilds it, which would hide the fault from the checks above).
  REQUIRE(s.info().ordered_index.rebuilds == 0);
}

}  // namespace

TEST_CASE("ordered index: inserts, overwrites that move records, deletes and pops match a model",
          "[index]") {
  SegmentGuard g(unique_name("ix"));
  Store s = Store::open(IndexOptions(g.name()));
  std::map<std::string, std::string> model;
  std::mt19937_64 rng(7);
  for (std::uint64_t i = 0; i < 60000; ++i) {
    const std::string k = KeyFor(i);
    const std::string v(rng() % 3 == 0 ? 200 : 10, char('a' + i % 26));
    s.set(k, v);
    model[k] = v;
  }
  RequireMatches(s, model);
  REQUIRE(s.info().ordered_index.height >= 3);
  for (int round = 0; round < 40000; ++round) {
    const std::string k = KeyFor(rng() % 80000);
    switch (rng() % 4) {
      case 0: {  // a value of another size class: the record moves
        const std::string v(rng() % 2 ? 300 : 20, 'm');
        s.set(k, v);
        model[k] = v;
        break;
      }
      case 1:
      case 2:
        REQUIRE(s.del(k) == (model.erase(k) == 1));
        break;
      default: {
        auto popped = s.pop_random("job:");
        if (popped) REQUIRE(model.erase(popped->key) == 1);
      }
    }
  }
  RequireMatches(s, model);
  // Deleting almost everything frees leaves and inner nodes and lowers the tree.
  for (auto it = model.begin(); it != model.end();) {
    if (std::next(it) == model.end()) break;
    REQUIRE(s.del(it->first));
    it = model.erase(it);
  }
  RequireMatches(s, model);
  REQUIRE(s.info().ordered_index.height == 1);
}

TEST_CASE("ordered index: keys alike in every partial byte are told apart by their bytes",
          "[index]") {
  // Every key, and so every separator, holds 0xff in bytes 1..40: past the nodes' 32 prefix
  // bytes each partial is eight 0xff bytes, the largest there is, and every search, in the
  // leaves and in the inner nodes, is settled by the keys' own bytes.
  SegmentGuard g(unique_name("ix"));
  Store s = Store::open(IndexOptions(g.name()));
  std::map<std::string, std::string> model;
  const std::string run(40, '\xff');
  std::mt19937_64 rng(11);
  for (int i = 0; i < 30000; ++i) {
    const std::string k = "z" + run + std::to_string(rng() % 100000);
    s.set(k, "v");
    model[k] = "v";
  }
  REQUIRE(s.info().ordered_index.height >= 3);
  for (int i = 0; i < 20000; ++i) {
    const std::string k = "z" + run + std::to_string(rng() % 100000);
    if (i % 2) {
      s.set(k, "w");
      model[k] = "w";
    } else {
      REQUIRE(s.del(k) == (model.erase(k) == 1));
    }
  }
  RequireMatches(s, model);
  REQUIRE(s.count("z" + run + "5") ==
          std::size_t(std::count_if(model.begin(), model.end(), [&](const auto& kv) {
            return kv.first.rfind("z" + run + "5", 0) == 0;
          })));
}

TEST_CASE("ordered index: keys arriving in order fill leaves, and a scan pages through them",
          "[index]") {
  SegmentGuard g(unique_name("ix"));
  Store s = Store::open(IndexOptions(g.name()));
  char key[32];
  for (int i = 0; i < 50000; ++i) {
    std::snprintf(key, sizeof key, "key:%012d", i);
    s.set(key, "v");
  }
  // Appends split off a new leaf instead of halving a full one: about 16 bytes of leaf per key.
  const shmkv::Info info = s.info();
  CHECK(info.ordered_index.node_bytes < 50000 * 20);
  shmkv::ScanOptions o{.prefix = "key:", .limit = 977, .cursor = {}};
  int seen = 0;
  for (;;) {
    shmkv::ScanPage page = s.scan(o);
    for (const shmkv::Entry& e : page.entries) {
      std::snprintf(key, sizeof key, "key:%012d", seen++);
      REQUIRE(e.key == key);
    }
    if (page.done) break;
    o.cursor = page.cursor;
  }
  REQUIRE(seen == 50000);
  REQUIRE(s.count("key:0000000499") == 100);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ordered index: keys with a TTL are counted only while they live", "[index]") {
  SegmentGuard g(unique_name("ix"));
  Store s = Store::open(IndexOptions(g.name()));
  for (int i = 0; i < 300; ++i) s.set("t:" + std::to_string(i), "v", std::chrono::milliseconds(30));
  for (int i = 0; i < 300; ++i) s.set("p:" + std::to_string(i), "v");
  REQUIRE(s.count("t:") == 300);
  usleep(60000);
  REQUIRE(s.count("t:") == 0);
  REQUIRE(s.count("p:") == 300);
  REQUIRE_FALSE(s.random_key("t:").has_value());
  REQUIRE(s.list({.prefix = "t:", .limit = 0}).empty());
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ordered index: a holder killed inside the index leaves it stale, and it is rebuilt",
          "[index]") {
  SegmentGuard g(unique_name("ix"));
  Store s = Store::open(IndexOptions(g.name()));
  for (int i = 0; i < 5000; ++i) s.set("q:" + std::to_string(i), "v");
  // A child takes the index lock (through the segment image) and dies holding it.
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    SegmentImage img(g.name());
    pthread_mutex_lock(&img.header()->index.mutex);
    kill(getpid(), SIGKILL);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  s.set("q:new", "v");  // finds the dead holder: marks the index stale, the write goes on
  REQUIRE_FALSE(s.info().ordered_index.valid);
  REQUIRE(s.count("q:") == 5001);  // rebuilt first
  const shmkv::Info info = s.info();
  REQUIRE(info.ordered_index.valid);
  REQUIRE(info.ordered_index.rebuilds == 1);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ordered index: a damaged node is rebuilt from the records, never followed", "[index]") {
  SegmentGuard g(unique_name("ix"));
  Store s = Store::open(IndexOptions(g.name()));
  for (int i = 0; i < 3000; ++i) s.set("d:" + std::to_string(i), std::to_string(i));
  const std::uint64_t before = s.info().ordered_index.rebuilds;
  {
    SegmentImage img(g.name());
    det::SegmentHeader* h = img.header();
    SECTION("a root offset out of the arena") {
      h->index.root = 12345;
    }
    SECTION("a height beyond any tree") {
      h->index.height = 1000;
    }
    SECTION("a root node's header scribbled over") {
      std::memset(img.at(h->index.root), 0x5a, 64);
    }
  }
  REQUIRE(s.count("d:") == 3000);
  REQUIRE(s.list({.prefix = "d:1", .limit = 3}).size() == 3);
  REQUIRE(s.info().ordered_index.rebuilds == before + 1);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ordered index: check reports a wrong node count and a chunk the tree lost", "[index]") {
  SegmentGuard g(unique_name("ix"));
  Store s = Store::open(IndexOptions(g.name()));
  for (int i = 0; i < 3000; ++i) s.set("n:" + std::to_string(i), "v");
  REQUIRE(s.check_invariants().empty());
  {
    SegmentImage img(g.name());
    det::SegmentHeader* h = img.header();
    SECTION("the node counter") {
      h->index.nodes += 1;
    }
    SECTION("a spare node forgotten: its chunk is still the index's") {
      REQUIRE(h->index.spare_leaf_count == 1);
      h->index.spare_leaf_count = 0;
    }
  }
  const std::vector<std::string> problems = s.check_invariants();
  REQUIRE(problems.size() == 1);
  REQUIRE(problems[0].find("ordered index: owns ") != std::string::npos);
}

TEST_CASE("ordered index: a store created without it walks the shards", "[index]") {
  SegmentGuard g(unique_name("ix"));
  shmkv::Options o = IndexOptions(g.name());
  o.ordered_index = false;
  Store s = Store::open(o);
  for (int i = 0; i < 1000; ++i) s.set("n:" + std::to_string(i), "v");
  REQUIRE(s.count("n:1") == 111);
  REQUIRE(s.list({.prefix = "n:99", .limit = 0}).size() == 11);
  REQUIRE_FALSE(s.info().ordered_index.enabled);
  REQUIRE(s.info().ordered_index.node_bytes == 0);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("ordered index: list and scan never return a value torn by a writer in another process",
          "[index]") {
  // Values are rewritten in place (up to kUndoMax bytes) and grown out of place by a forked writer
  // while this process lists and scans: every value read must be one whole value that was set.
  SegmentGuard g(unique_name("ixrace"));
  Store s = Store::open(IndexOptions(g.name()));
  auto value_of = [](char c, std::size_t n) { return std::string(n, c); };
  for (int i = 0; i < 200; ++i) s.set("race:" + std::to_string(1000 + i), value_of('a', 128));
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    Store w = Store::open(attach_options(g.name()));
    std::mt19937 rng(7);
    for (int round = 0; round < 300000; ++round) {
      const std::string key = "race:" + std::to_string(1000 + rng() % 200);
      const char c = static_cast<char>('a' + rng() % 26);
      w.set(key, value_of(c, rng() % 4 == 0 ? 1000 : 128));  // 128: in place; 1000: moved
    }
    _exit(0);
  }
  auto whole = [](const std::string& v) {
    return (v.size() == 128 || v.size() == 1000) && v.find_first_not_of(v[0]) == std::string::npos;
  };
  std::size_t read = 0, torn = 0;
  int status = 0;
  while (waitpid(child, &status, WNOHANG) == 0) {
    for (const shmkv::Entry& e : s.list({.prefix = "race:", .limit = 0})) {
      ++read;
      torn += !whole(e.value);
    }
    const shmkv::ScanPage page = s.scan({.prefix = "race:", .limit = 50, .cursor = "race:1100"});
    for (const shmkv::Entry& e : page.entries) torn += !whole(e.value);
  }
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(read > 200);
  INFO("values read " << read << ", torn " << torn);
  REQUIRE(torn == 0);
  REQUIRE(s.count("race:") == 200);
  REQUIRE(s.check_invariants().empty());
}
