// index_cost.cpp: shmkv-index-cost, what the ordered index costs the writes that change it, and
// how long its rebuild takes (issue 14; docs/benchmarks.md "Prefix and range operations").
//
//   shmkv-index-cost [--keys N] [--ops M] [--rounds R]
//
// For each round, the same binary and the same workload on two fresh stores, one created with
// Options::ordered_index = false and one with it on: N keys "key:%012d" (100-byte values) loaded
// in a scattered order, then M inserts of new keys next to random existing ones, then the M
// deletes of those keys, each timed as a whole (ns per op). On the indexed store it then marks
// the index stale (the state word in the segment header, as a dead lock holder would) and times
// the next count(), which rebuilds the index from the records under every shard lock; info()
// reports the rebuild's own time. check=ok says the index stayed valid through the timed writes
// (none found it damaged and left it stale) and the rebuild counted every key. Single process,
// no persistence.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "shm/layout.hpp"
#include "shmkv/shmkv.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double NsPerOp(Clock::time_point from, Clock::time_point to, std::uint64_t ops) {
  return std::chrono::duration<double, std::nano>(to - from).count() / double(ops);
}

// Marks the store's ordered index stale, as an index lock holder's death does.
void MarkStale(const std::string& name) {
  const std::string path = "/dev/shm/shmkv." + name;
  const int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) std::exit(3);
  void* p = ::mmap(nullptr, sizeof(shmkv::detail::SegmentHeader), PROT_READ | PROT_WRITE,
                   MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) std::exit(3);
  static_cast<shmkv::detail::SegmentHeader*>(p)->index.state.store(
      static_cast<std::uint32_t>(shmkv::detail::IndexState::stale));
  ::munmap(p, sizeof(shmkv::detail::SegmentHeader));
  ::close(fd);
}

void Round(bool indexed, std::uint64_t n, std::uint64_t ops) {
  shmkv::Options o;
  o.name = indexed ? "index-cost-on" : "index-cost-off";
  o.size_bytes = std::max<std::uint64_t>(256ull << 20, (n + ops) * 320);
  o.max_keys = (n + ops) * 13 / 10;
  o.ordered_index = indexed;
  if (shmkv::Store::segment_exists(o.name)) shmkv::Store::destroy(o.name);
  shmkv::Store s = shmkv::Store::open(o);
  const std::string value(100, 'v');
  char key[40];
  for (std::uint64_t i = 0; i < n; ++i) {
    std::snprintf(key, sizeof key, "key:%012llu", (unsigned long long)((i * 7919) % n));
    s.set(key, value);
  }
  std::mt19937_64 rng(1);
  std::vector<std::string> fresh(ops);
  for (std::string& k : fresh) {
    std::snprintf(key, sizeof key, "key:%012llu+", (unsigned long long)(rng() % n));
    k = key;
  }
  const auto t0 = Clock::now();
  for (const std::string& k : fresh) s.set(k, value);
  const auto t1 = Clock::now();
  for (const std::string& k : fresh) s.del(k);
  const auto t2 = Clock::now();
  std::printf("RESULT index=%s keys=%llu ops=%llu insert_ns=%.0f delete_ns=%.0f",
              indexed ? "on" : "off", (unsigned long long)n, (unsigned long long)ops,
              NsPerOp(t0, t1, ops), NsPerOp(t1, t2, ops));
  if (indexed) {
    // The timed writes kept the tree: a write that found it other than expected would have
    // marked it stale, and the writes after it would have skipped the index (and looked cheap).
    const shmkv::Info kept = s.info();
    const bool timed_ok = kept.ordered_index.valid && kept.ordered_index.rebuilds == 0;
    MarkStale(o.name);
    const auto t3 = Clock::now();
    const std::size_t counted = s.count("key:");
    const auto t4 = Clock::now();
    const shmkv::Info info = s.info();
    std::printf(" rebuild_us=%llu first_count_after_us=%.0f node_bytes_per_key=%.1f check=%s",
                (unsigned long long)info.ordered_index.last_rebuild_us,
                std::chrono::duration<double, std::micro>(t4 - t3).count(),
                double(info.ordered_index.node_bytes) / double(n),
                timed_ok && counted == n && info.ordered_index.valid ? "ok" : "FAIL");
  }
  std::printf("\n");
  std::fflush(stdout);
  s.close();
  shmkv::Store::destroy(o.name);
}

std::uint64_t Count(const char* text) {
  char* end = nullptr;
  double v = std::strtod(text, &end);
  if (*end == 'k' || *end == 'K') v *= 1e3;
  if (*end == 'M') v *= 1e6;
  return static_cast<std::uint64_t>(v);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 1000000, ops = 200000, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    if (a == "--keys")
      n = Count(argv[i + 1]);
    else if (a == "--ops")
      ops = Count(argv[i + 1]);
    else if (a == "--rounds")
      rounds = Count(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: shmkv-index-cost [--keys N] [--ops M] [--rounds R]\n");
      return 2;
    }
  }
  if (n == 0 || ops == 0) return 2;
  std::printf("# shmkv-index-cost keys=%llu ops=%llu rounds=%llu\n", (unsigned long long)n,
              (unsigned long long)ops, (unsigned long long)rounds);
  for (std::uint64_t r = 0; r < rounds; ++r) {
    Round(false, n, ops);
    Round(true, n, ops);
  }
}
