// engine_boost.cpp: the "naive shared-memory baseline". A Boost.Interprocess
// managed_shared_memory segment in /dev/shm holds S (default 64) boost::unordered_map shards
// with interprocess allocators, each behind its own interprocess_mutex (a process-shared,
// non-robust pthread mutex). Keys are char[16] and values {len, char[128]}, both inline in the
// node, so an overwrite allocates nothing. The shard is the top log2(S) bits of XXH3_64bits of
// the key. pop = lock a random shard (then the next ones if it is empty), erase its first entry.
#include <unistd.h>
#include <xxhash.h>

#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <boost/interprocess/sync/scoped_lock.hpp>
#include <boost/unordered_map.hpp>
#include <memory>
#include <stdexcept>

#include "harness_impl.hpp"

namespace shmkv_bench {
namespace {

namespace bip = boost::interprocess;

constexpr std::uint32_t kMaxValue = 128;

struct BKey {
  char b[kKeyLen];
  bool operator==(const BKey& o) const { return std::memcmp(b, o.b, kKeyLen) == 0; }
};
struct BVal {
  std::uint32_t len;
  char data[kMaxValue];
};
struct BHash {
  std::size_t operator()(const BKey& k) const { return XXH3_64bits(k.b, kKeyLen); }
};

using Segment = bip::managed_shared_memory;
using Alloc = bip::allocator<std::pair<const BKey, BVal>, Segment::segment_manager>;
using Map = boost::unordered_map<BKey, BVal, BHash, std::equal_to<BKey>, Alloc>;

struct alignas(64) Shard {
  explicit Shard(const Alloc& a) : map(0, BHash(), std::equal_to<BKey>(), a) {}
  bip::interprocess_mutex mu;
  Map map;
};

class BoostMap {
 public:
  explicit BoostMap(const Config& cfg) : cfg_(cfg) {
    if (cfg.value_size > kMaxValue)
      throw std::runtime_error("boost-map holds values of at most 128 bytes");
    nshards_ = cfg.shards ? cfg.shards : 64;
    if (nshards_ & (nshards_ - 1)) throw std::runtime_error("--shards must be a power of two");
    shift_ = 64;
    for (std::uint32_t s = nshards_; s > 1; s >>= 1) --shift_;
    name_ = "shmkv-bench-boost." + std::to_string(::getpid());
    bip::shared_memory_object::remove(name_.c_str());
    register_cleanup_path("/dev/shm/" + name_);
    std::uint64_t bytes = cfg.keys * 256 + (64ull << 20);
    seg_ = std::make_unique<Segment>(bip::create_only, name_.c_str(), bytes);
    Alloc alloc(seg_->get_segment_manager());
    shards_ = seg_->construct<Shard>("shards")[nshards_](alloc);
    std::uint64_t per = cfg.keys / nshards_ + cfg.keys / nshards_ / 8 + 64;
    for (std::uint32_t s = 0; s < nshards_; ++s) shards_[s].map.reserve(per);
  }
  ~BoostMap() {
    seg_.reset();
    bip::shared_memory_object::remove(name_.c_str());
    unregister_cleanup_path("/dev/shm/" + name_);
  }

  void preload(const Dataset& ds) {
    BKey k;
    BVal v;
    v.len = ds.value_size;
    for (std::uint64_t i = 0; i < ds.keys; ++i) {
      ds.key(i, k.b);
      ds.value(i, v.data);
      shard(k).map.emplace(k, v);
    }
    if (ds.counters) {
      for (int c = 0; c < kCounters; ++c) {
        std::memcpy(k.b, Dataset::counter_name(c).data(), kKeyLen);
        v.len = 1;
        v.data[0] = '0';
        shard(k).map.emplace(k, v);
      }
    }
  }
  std::string memory_report() {
    std::uint64_t used = seg_->get_size() - seg_->get_free_memory();
    char buf[200];
    std::snprintf(buf, sizeof buf, "segment_bytes=%zu used_bytes=%llu bytes_per_key=%.1f",
                  seg_->get_size(), static_cast<unsigned long long>(used),
                  static_cast<double>(used) / cfg_.keys);
    return buf;
  }
  void close_handles() {
    seg_.reset();
    shards_ = nullptr;
  }
  void attach(int worker) {
    seg_ = std::make_unique<Segment>(bip::open_only, name_.c_str());
    auto found = seg_->find<Shard>("shards");
    if (!found.first || found.second != nshards_)
      throw std::runtime_error("boost-map: shards not found in the segment");
    shards_ = found.first;
    rng_ = 0x9e3779b97f4a7c15ull * (worker + 1) + cfg_.seed;
  }
  void reopen() { attach(0); }

  bool get(const char* key, std::size_t, Sink& sink) {
    BKey k;
    std::memcpy(k.b, key, kKeyLen);
    Shard& s = shard(k);
    char buf[kMaxValue];
    std::uint32_t len = 0;
    bool found;
    {
      bip::scoped_lock<bip::interprocess_mutex> lock(s.mu);
      auto it = s.map.find(k);
      found = it != s.map.end();
      if (found) {
        len = it->second.len;
        copy_bytes(buf, it->second.data, len);
      }
    }
    sink.got(found, buf, len);
    return found;
  }

  void exec(const Op* ops, std::size_t n, Sink& sink) {
    for (std::size_t i = 0; i < n; ++i) {
      const Op& op = ops[i];
      switch (op.kind) {
        case OpKind::get:
          get(op.key, kKeyLen, sink);
          break;
        case OpKind::set: {
          BKey k;
          std::memcpy(k.b, op.key, kKeyLen);
          Shard& s = shard(k);
          bip::scoped_lock<bip::interprocess_mutex> lock(s.mu);
          BVal& v = s.map[k];
          v.len = cfg_.value_size;
          copy_bytes(v.data, op.value, cfg_.value_size);
          break;
        }
        case OpKind::incr: {
          BKey k;
          std::memcpy(k.b, op.key, kKeyLen);
          Shard& s = shard(k);
          std::int64_t nv = 0;
          {
            bip::scoped_lock<bip::interprocess_mutex> lock(s.mu);
            BVal& v = s.map[k];  // absent counts as 0 (len 0 parses below)
            std::int64_t old = 0;
            if (v.len != 0 && !parse_i64(v.data, v.len, &old)) {
              ++sink.bad;
              break;
            }
            nv = old + 1;
            v.len = static_cast<std::uint32_t>(format_i64(nv, v.data));
          }
          sink.incremented(nv);
          break;
        }
        case OpKind::pop:
          pop(sink);
          if (sink.empty) return;
          break;
      }
    }
  }

  std::int64_t read_counter(const std::string& key) {
    BKey k;
    std::memcpy(k.b, key.data(), kKeyLen);
    Shard& s = shard(k);
    bip::scoped_lock<bip::interprocess_mutex> lock(s.mu);
    auto it = s.map.find(k);
    std::int64_t v = 0;
    if (it == s.map.end() || !parse_i64(it->second.data, it->second.len, &v))
      throw std::runtime_error("boost-map: counter " + key + " missing or not a number");
    return v;
  }
  std::uint64_t remaining_keys() {
    std::uint64_t n = 0;
    for (std::uint32_t i = 0; i < nshards_; ++i) {
      bip::scoped_lock<bip::interprocess_mutex> lock(shards_[i].mu);
      n += shards_[i].map.size();
    }
    return n;
  }
  std::string final_check() { return ""; }

 private:
  Shard& shard(const BKey& k) { return shift_ == 64 ? shards_[0] : shards_[BHash()(k) >> shift_]; }

  void pop(Sink& sink) {
    rng_ = rng_ * 6364136223846793005ull + 1442695040888963407ull;
    std::uint32_t start = static_cast<std::uint32_t>(rng_ >> 33) & (nshards_ - 1);
    for (std::uint32_t i = 0; i < nshards_; ++i) {
      Shard& s = shards_[(start + i) & (nshards_ - 1)];
      BKey k;
      std::uint32_t vlen;
      {
        bip::scoped_lock<bip::interprocess_mutex> lock(s.mu);
        if (s.map.empty()) continue;
        auto it = s.map.begin();
        k = it->first;
        vlen = it->second.len;
        s.map.erase(it);
      }
      sink.popped_one(k.b, kKeyLen, vlen);
      return;
    }
    sink.pop_empty();  // every shard was empty: nothing is inserted during a pop run
  }

  const Config& cfg_;
  std::string name_;
  std::uint32_t nshards_ = 64;
  int shift_ = 58;
  std::unique_ptr<Segment> seg_;
  Shard* shards_ = nullptr;
  std::uint64_t rng_ = 1;
};

}  // namespace

int run_boost_map(const Config& cfg) {
  return run_bench<BoostMap>(cfg);
}

}  // namespace shmkv_bench
