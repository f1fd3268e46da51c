// miss_cost.cpp: `shmkv-bench --engine miss-cost`. The memory costs a shared-memory hash store
// pays on this machine, measured in a MAP_SHARED /dev/shm mapping (4 KiB pages unless shmem
// huge pages are enabled):
//   dependent   one random 8-byte read whose address depends on the previous one (a pointer
//               chase over a random cyclic permutation of cache lines), for regions of 4 MiB to
//               256 MiB: ns per read. Where it jumps is where the cache stops holding the region.
//   two-miss    the access pattern of a get: a random 16-byte slot in a 21 MiB table, then the
//               148-byte record it points to in 160 MiB, copied out. Operations are
//               independent, so the CPU may overlap consecutive ones; `pad` adds that many
//               dependent multiply-adds (about 3 instructions each) of unrelated work per
//               operation, showing how much code between two operations' loads stops the
//               overlap: ns per operation.
// One process, one round per row; --seed picks the permutation and the slot contents.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness_impl.hpp"

namespace shmkv_bench {
namespace {

class ShmRegion {
 public:
  explicit ShmRegion(std::size_t bytes) : bytes_(bytes) {
    name_ = "/shmkv-bench-miss." + std::to_string(::getpid());
    int fd = ::shm_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) throw std::runtime_error("miss-cost: shm_open " + name_ + " failed");
    register_cleanup_path("/dev/shm" + name_);
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
      ::close(fd);
      throw std::runtime_error("miss-cost: ftruncate failed");
    }
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) throw std::runtime_error("miss-cost: mmap failed");
    base_ = static_cast<char*>(p);
  }
  ~ShmRegion() {
    ::munmap(base_, bytes_);
    ::shm_unlink(name_.c_str());
    unregister_cleanup_path("/dev/shm" + name_);
  }
  ShmRegion(const ShmRegion&) = delete;
  ShmRegion& operator=(const ShmRegion&) = delete;
  char* base() const { return base_; }

 private:
  std::size_t bytes_;
  std::string name_;
  char* base_ = nullptr;
};

struct Rng {  // xorshift64
  std::uint64_t x;
  std::uint64_t operator()() {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  }
};

double DependentReadNs(std::size_t mib, std::uint64_t seed) {
  const std::size_t lines = (mib << 20) / 64;
  ShmRegion region(mib << 20);
  std::vector<std::uint32_t> order(lines);
  for (std::size_t i = 0; i < lines; ++i) order[i] = static_cast<std::uint32_t>(i);
  Rng rng{seed | 1};
  for (std::size_t i = lines - 1; i > 0; --i) std::swap(order[i], order[rng() % (i + 1)]);
  for (std::size_t i = 0; i < lines; ++i) {
    std::uint64_t next = std::uint64_t(order[(i + 1) % lines]) * 64;
    std::memcpy(region.base() + std::uint64_t(order[i]) * 64, &next, 8);
  }
  const std::uint64_t reads = 4000000;
  std::uint64_t off = std::uint64_t(order[0]) * 64;
  const std::uint64_t t0 = now_ns();
  for (std::uint64_t i = 0; i < reads; ++i) std::memcpy(&off, region.base() + off, 8);
  const std::uint64_t t1 = now_ns();
  if (off >= (mib << 20)) throw std::runtime_error("miss-cost: chase left the region");
  return double(t1 - t0) / reads;
}

double TwoMissNs(int pad, std::uint64_t seed, bool* ok) {
  constexpr std::size_t kTable = 21ull << 20, kRecords = 160ull << 20, kRecord = 160;
  ShmRegion region(kTable + kRecords);
  char* base = region.base();
  std::memset(base + kTable, 1, kRecords);
  const std::size_t slots = kTable / 16, records = kRecords / kRecord;
  Rng rng{seed | 1};
  for (std::size_t i = 0; i < slots; ++i) {
    std::uint64_t off = kTable + (rng() % records) * kRecord;
    std::memcpy(base + i * 16, &off, 8);
  }
  const std::uint64_t ops = 3000000;
  std::uint64_t sum = 0, work = 1;
  const std::uint64_t t0 = now_ns();
  for (std::uint64_t i = 0; i < ops; ++i) {
    std::uint64_t off;
    std::memcpy(&off, base + (rng() % slots) * 16, 8);
    char value[148];
    std::memcpy(value, base + off, sizeof value);
    sum += static_cast<unsigned char>(value[0]) + static_cast<unsigned char>(value[147]);
    for (int k = 0; k < pad; ++k) {
      work = work * 6364136223846793005ull + static_cast<std::uint64_t>(k);
      asm volatile("" : "+r"(work));  // keep the unrelated work
    }
  }
  const std::uint64_t t1 = now_ns();
  *ok = sum == 2 * ops && work != 0;  // every record byte is 1: two bytes summed per op
  return double(t1 - t0) / ops;
}

}  // namespace

int run_miss_cost(const Config& cfg) {
  print_header(cfg);
  for (std::size_t mib : {4, 8, 12, 16, 32, 256})
    std::printf("RESULT engine=miss-cost kind=dependent region_mib=%zu ns_per_read=%.1f check=ok\n",
                mib, DependentReadNs(mib, cfg.seed));
  for (int pad : {0, 25, 50, 100}) {
    bool ok = false;
    const double ns = TwoMissNs(pad, cfg.seed, &ok);
    std::printf("RESULT engine=miss-cost kind=two-miss pad=%d ns_per_op=%.1f check=%s\n", pad, ns,
                ok ? "ok" : "FAIL");
    if (!ok) return 1;
  }
  return 0;
}

}  // namespace shmkv_bench
