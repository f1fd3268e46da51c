// harness_impl.hpp: the fork / barrier / timed loop of shmkv-bench, templated on the engine so
// that the per-op calls inline. Included by each engine_*.cpp; the non-template parts live in
// harness.cpp.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"

namespace shmkv_bench {

// HDR-style histogram: exact below 16 ns, then 16 sub-buckets per power of two (<= 6.25% error).
class Histogram {
 public:
  static constexpr int kSub = 16;
  static constexpr int kBuckets = 64 * kSub;
  void record(std::uint64_t ns, std::uint64_t count) {
    counts_[index(ns)] += count;
    total_ += count;
  }
  void merge(const Histogram& o);
  std::uint64_t total() const { return total_; }
  // Value at quantile q (0..1]: the midpoint of the bucket holding it; 0 when empty.
  std::uint64_t percentile(double q) const;
  std::uint64_t max() const;

 private:
  static int index(std::uint64_t v) {
    if (v < kSub) return static_cast<int>(v);
    int e = 63 - __builtin_clzll(v);  // >= 4
    int sub = static_cast<int>((v >> (e - 4)) & (kSub - 1));
    return (e - 3) * kSub + sub;
  }
  static std::uint64_t lower(int idx);
  std::uint64_t counts_[kBuckets] = {};
  std::uint64_t total_ = 0;
};

// What a worker sends back through its pipe (plain bytes).
struct WorkerReport {
  std::uint32_t failed = 0;
  std::uint32_t worker = 0;
  std::uint64_t ops = 0;
  std::uint64_t start_ns = 0, end_ns = 0;
  std::uint64_t checksum = 0, bad = 0, popped = 0;
  Histogram hist;
  char error[512] = {};
};

// Per-worker op stream: the same for every engine given (seed, worker).
class OpGen {
 public:
  // stream 0 = the timed ops, 1 = the warm-up (so the warm-up length never shifts the op stream).
  OpGen(const Config& cfg, int worker, int stream = 0);
  void random_key(char* out) { format_key(pick_key(), out); }
  void fill(Op* ops, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) fill_one(ops[i]);
  }

 private:
  std::uint64_t next() {  // wyrand
    state_ += 0xa0761d6478bd642full;
    __uint128_t m = static_cast<__uint128_t>(state_) * (state_ ^ 0xe7037ed1a0b428dbull);
    return static_cast<std::uint64_t>(m >> 64) ^ static_cast<std::uint64_t>(m);
  }
  std::uint64_t pick_key() {
    return static_cast<std::uint64_t>((static_cast<__uint128_t>(next()) * keys_) >> 64);
  }
  void fill_one(Op& op) {
    switch (mix_) {
      case Mix::get:
        op.kind = OpKind::get;
        format_key(pick_key(), op.key);
        return;
      case Mix::r90:
      case Mix::r50:
      case Mix::set: {
        format_key(pick_key(), op.key);
        std::uint64_t r = next();
        if (static_cast<std::uint32_t>((static_cast<__uint128_t>(r) * 100) >> 64) < set_pct_) {
          op.kind = OpKind::set;
          op.value = pool_.data() + (r & (kPool - 1));
        } else {
          op.kind = OpKind::get;
        }
        return;
      }
      case Mix::incr:
        op.kind = OpKind::incr;
        std::memcpy(op.key, counter_names_[next() & (kCounters - 1)], kKeyLen);
        return;
      case Mix::pop:
        op.kind = OpKind::pop;
        return;
      case Mix::insert:  // this worker's next new key, after the preloaded ones
        op.kind = OpKind::set;
        format_key(next_new_key_++, op.key);
        op.value = pool_.data() + (next() & (kPool - 1));
        return;
      case Mix::prefix:
        die("mix prefix has no op stream (prefix.hpp)");
    }
  }
  static constexpr std::size_t kPool = 64 * 1024;
  Mix mix_;
  std::uint32_t set_pct_;
  std::uint64_t keys_;
  std::uint64_t next_new_key_;  // mix insert: keys + worker * ops, counting up
  std::uint64_t state_;
  std::vector<char> pool_;
  char counter_names_[kCounters][kKeyLen];
};

// Fork, barrier and report plumbing (harness.cpp).
class Launch {
 public:
  explicit Launch(const Config& cfg);
  ~Launch();
  // Returns 0 in the child, the pid in the parent.
  pid_t fork_worker(int w);
  // Worker side.
  void ready_and_wait(int w);
  void mark_popped(const std::vector<std::uint32_t>& idx);
  [[noreturn]] void finish(int w, const WorkerReport& rep);
  // Parent side: release the barrier once all are ready, collect the reports, reap.
  std::vector<WorkerReport> run_parent();
  const std::uint8_t* pop_counts() const { return pop_counts_; }

 private:
  const Config& cfg_;
  int ready_[2] = {-1, -1}, go_[2] = {-1, -1};
  std::vector<int> report_fds_;  // read ends (parent) / write end for this worker (child)
  std::vector<pid_t> pids_;
  std::uint8_t* pop_counts_ = nullptr;
  std::size_t pop_bytes_ = 0;
};

void print_header(const Config& cfg);
void print_memory(const Config& cfg, const std::string& mem);
void print_preload(const Config& cfg, std::uint64_t entries, double seconds);
struct Checks {
  std::vector<std::string> failures;
  void fail(std::string s) { failures.push_back(std::move(s)); }
};
int print_results(const Config& cfg, const std::vector<WorkerReport>& reps, Checks& checks);
Dataset make_dataset(const Config& cfg);
std::uint64_t warmup_ops(const Config& cfg);

template <class E>
[[noreturn]] void worker_main(E& eng, const Config& cfg, Launch& launch, int w) {
  auto rep = std::make_unique<WorkerReport>();
  rep->worker = static_cast<std::uint32_t>(w);
  try {
    eng.attach(w);
    OpGen gen(cfg, w), warm_gen(cfg, w, 1);
    Sink warm;
    warm.value_size = cfg.value_size;
    std::uint64_t nwarm = warmup_ops(cfg);
    char key[kKeyLen];
    for (std::uint64_t i = 0; i < nwarm; ++i) {
      warm_gen.random_key(key);
      eng.get(key, kKeyLen, warm);
    }
    std::vector<std::uint32_t> popped_idx;
    Sink sink;
    sink.value_size = cfg.value_size;
    if (cfg.mix == Mix::pop) {
      popped_idx.reserve(cfg.keys / cfg.workers + cfg.keys / 8 + 16);
      sink.popped_idx = &popped_idx;
    }
    const std::size_t batch = cfg.batch;
    std::vector<Op> ops(batch);
    const std::uint64_t limit = cfg.seconds > 0 || cfg.mix == Mix::pop ? ~0ull : cfg.ops;
    const std::uint64_t deadline_ns =
        cfg.seconds > 0 ? static_cast<std::uint64_t>(cfg.seconds * 1e9) : ~0ull;

    launch.ready_and_wait(w);
    const std::uint64_t start = now_ns();
    std::uint64_t t0 = start, done = 0;
    while (done < limit) {
      std::size_t n = limit - done < batch ? static_cast<std::size_t>(limit - done) : batch;
      gen.fill(ops.data(), n);
      std::uint64_t before = sink.popped;
      eng.exec(ops.data(), n, sink);
      std::uint64_t t1 = now_ns();
      if (cfg.mix == Mix::pop) n = static_cast<std::size_t>(sink.popped - before);
      if (n > 0) rep->hist.record((t1 - t0) / n, n);
      done += n;
      t0 = t1;
      if (cfg.mix == Mix::pop && sink.empty) break;
      if (t1 - start >= deadline_ns) break;
    }
    rep->start_ns = start;
    rep->end_ns = t0;
    rep->ops = done;
    rep->checksum = sink.checksum;
    rep->bad = sink.bad + warm.bad;
    rep->popped = sink.popped;
    if (cfg.mix == Mix::pop) launch.mark_popped(popped_idx);
    eng.close_handles();  // untimed: detach cleanly (registry, reader slots, connections)
  } catch (const std::exception& e) {
    rep->failed = 1;
    std::snprintf(rep->error, sizeof rep->error, "%s", e.what());
  }
  launch.finish(w, *rep);
}

template <class E>
int run_bench(const Config& cfg) {
  print_header(cfg);
  Dataset ds = make_dataset(cfg);
  Checks checks;
  std::vector<WorkerReport> reps;
  {
    E eng(cfg);
    std::uint64_t t0 = now_ns();
    eng.preload(ds);
    print_preload(cfg, ds.keys + (ds.counters ? kCounters : 0), (now_ns() - t0) / 1e9);
    print_memory(cfg, eng.memory_report());
    eng.close_handles();
    Launch launch(cfg);
    for (int w = 0; w < cfg.workers; ++w) {
      if (launch.fork_worker(w) == 0) worker_main(eng, cfg, launch, w);
    }
    reps = launch.run_parent();
    eng.reopen();
    std::uint64_t total_ops = 0;
    for (const auto& r : reps) total_ops += r.ops;
    if (cfg.mix == Mix::incr) {
      std::int64_t sum = 0;
      for (int c = 0; c < kCounters; ++c) sum += eng.read_counter(Dataset::counter_name(c));
      std::uint64_t expect = cfg.seconds > 0 ? total_ops : cfg.ops * cfg.workers;
      if (static_cast<std::uint64_t>(sum) != expect || total_ops != expect)
        checks.fail("incr: counters sum to " + std::to_string(sum) + ", workers did " +
                    std::to_string(total_ops) + ", expected " + std::to_string(expect));
    } else if (cfg.mix == Mix::pop) {
      std::uint64_t popped = 0, wrong = 0;
      for (const auto& r : reps) popped += r.popped;
      const std::uint8_t* pc = launch.pop_counts();
      for (std::uint64_t i = 0; i < cfg.keys; ++i) wrong += pc[i] != 1;
      std::uint64_t left = eng.remaining_keys();
      if (popped != cfg.keys || wrong != 0 || left != 0)
        checks.fail("pop: popped " + std::to_string(popped) + " of " + std::to_string(cfg.keys) +
                    " keys, " + std::to_string(wrong) + " keys not popped exactly once, " +
                    std::to_string(left) + " left in the store");
    } else if (cfg.seconds <= 0 && total_ops != cfg.ops * cfg.workers) {
      checks.fail("ran " + std::to_string(total_ops) + " ops, expected " +
                  std::to_string(cfg.ops * cfg.workers));
    }
    std::string own = eng.final_check();
    if (!own.empty()) checks.fail(cfg.engine + ": " + own);
  }
  return print_results(cfg, reps, checks);
}

}  // namespace shmkv_bench
