// engine_null.cpp: the harness ceiling. No store: a get returns a constant, cache-resident
// value_size-byte buffer, a set copies into a private buffer, an incr is one atomic fetch_add on
// a counter in a MAP_SHARED page (so the counter check still holds across workers), and a pop
// hands out the next key index from a shared atomic. What it measures is the cost of the
// benchmark itself (RNG, key formatting, batching, timing, the copy, the result checks).
#include <sys/mman.h>

#include <atomic>
#include <stdexcept>

#include "harness_impl.hpp"

namespace shmkv_bench {
namespace {

struct SharedState {
  std::atomic<std::int64_t> counters[kCounters * 8];  // one per cache line
  alignas(64) std::atomic<std::uint64_t> next_pop;
};

class Null {
 public:
  explicit Null(const Config& cfg)
      : cfg_(cfg), value_(cfg.value_size, 'v'), scratch_(cfg.value_size) {
    void* p = ::mmap(nullptr, sizeof(SharedState), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("null: mmap failed");
    st_ = new (p) SharedState();
  }
  ~Null() { ::munmap(st_, sizeof(SharedState)); }

  void preload(const Dataset& ds) { keys_ = ds.keys; }
  std::string memory_report() { return ""; }
  void close_handles() {}
  void attach(int) {}
  void reopen() {}

  bool get(const char*, std::size_t, Sink& sink) {
    char buf[256];
    std::size_t n = value_.size() < sizeof buf ? value_.size() : sizeof buf;
    copy_bytes(buf, value_.data(), n);
    sink.got(true, buf, value_.size());
    return true;
  }
  void exec(const Op* ops, std::size_t n, Sink& sink) {
    for (std::size_t i = 0; i < n; ++i) {
      const Op& op = ops[i];
      switch (op.kind) {
        case OpKind::get:
          get(op.key, kKeyLen, sink);
          break;
        case OpKind::set:
          copy_bytes(scratch_.data(), op.value, cfg_.value_size);
          break;
        case OpKind::incr:
          sink.incremented(
              st_->counters[counter_index(op.key) * 8].fetch_add(1, std::memory_order_relaxed) + 1);
          break;
        case OpKind::pop: {
          std::uint64_t idx = st_->next_pop.fetch_add(1, std::memory_order_relaxed);
          if (idx >= keys_) {
            sink.pop_empty();
            return;
          }
          char key[kKeyLen];
          format_key(idx, key);
          sink.popped_one(key, kKeyLen, cfg_.value_size);
          break;
        }
      }
    }
  }
  std::int64_t read_counter(const std::string& key) {
    return st_->counters[counter_index(key.data()) * 8].load();
  }
  std::uint64_t remaining_keys() {
    std::uint64_t next = st_->next_pop.load();
    return cfg_.mix == Mix::pop ? (next >= keys_ ? 0 : keys_ - next) : keys_;
  }
  std::string final_check() { return ""; }

 private:
  static int counter_index(const char* key) {  // "ctr:0000000000cc"
    return (key[kKeyLen - 2] - '0') * 10 + (key[kKeyLen - 1] - '0');
  }
  const Config& cfg_;
  std::string value_;
  std::vector<char> scratch_;
  SharedState* st_ = nullptr;
  std::uint64_t keys_ = 0;
};

}  // namespace

int run_null(const Config& cfg) {
  return run_bench<Null>(cfg);
}

}  // namespace shmkv_bench
