// prefix.hpp: the prefix mix of shmkv-bench (`--mix prefix`, issue 14): the latency of the
// ordered and prefix operations, and what keeping a key order costs single-key writes.
//
// One process, no workers. The engine is built and preloaded as for the other mixes (N keys
// "key:" + 12 digits with value_size-byte values, no counters), then 100 keys "job:0000" ..
// "job:0099" (the rare prefix) are added; the handles are closed and attached again, as a
// worker would. Each operation then runs once untimed and is timed one call at a time with
// clock_gettime until it has run for Config::seconds (default 0.3 s) of wall time and at least
// 3 times, or kMaxReps times. Per operation one line
//   PREFIX engine=E keys=N op=NAME reps=R median_us=M p99_us=P ops_per_s=O
// (exact order statistics of the R samples: with few samples p99 is the slowest one; ops_per_s
// = R / the summed samples). The operations, in this order:
//   random_key(job:)        a uniformly random key with the prefix
//   count(job:)             the number of keys with the prefix (100)
//   pop_random(job:)        remove and return one; untimed, the key is put back with its value
//   list(job:,10)           the first 10 entries with the prefix, in byte order
//   list(key:,10)           the same, for the prefix every other key has
//   scan(first,100)         the first page of 100 entries (no prefix, no cursor)
//   scan(middle,100)        the page of 100 entries after the cursor "key:" + N/2
//   insert                  put a new key "key:" + 12 digits + "+" (17 bytes) next to a random
//                           existing one: a random place in the key order
//   delete                  delete the keys the insert row added, in the same order (any the
//                           time budget leaves are deleted untimed)
// Every result is checked against what the store must hold (count 100, the exact keys of each
// page and the value lengths, popped and drawn keys with the prefix, every delete found its
// key; at the end count(job:) = 100 and count(key:) = N) and the engine's final_check runs;
// the last line is RESULT ... check=ok|FAIL as for the other mixes.
//
// Besides the constructor, preload, close_handles, attach, memory_report and final_check of
// harness.hpp, an engine for this mix has (values and keys are copies the caller owns):
//   void put(std::string_view key, std::string_view value);   // insert or overwrite one key
//   bool erase(std::string_view key);                          // true if it existed
//   std::optional<std::string> random_key(std::string_view prefix);
//   std::uint64_t count(std::string_view prefix);
//   std::optional<std::string> pop_random(std::string_view prefix);  // the key; value read too
//   void list(std::string_view prefix, std::size_t limit, Page& out);
//   void scan(std::string_view cursor, std::size_t limit, Page& out);  // keys > cursor
// list and scan replace out's content with the entries in byte order of keys.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness_impl.hpp"

namespace shmkv_bench {

struct KeyValue {
  std::string key, value;
};
using Page = std::vector<KeyValue>;

// The smallest string greater than every string starting with prefix: its last byte that is not
// 0xff incremented, the rest dropped; "" when there is none (the prefix is empty or all 0xff).
std::string prefix_end(std::string_view prefix);

// The engine-independent part of a prefix run (prefix.cpp): data, timing, checks, report.
class PrefixRun {
 public:
  static constexpr int kJobs = 100;
  static constexpr std::uint64_t kMaxReps = 20000;
  static constexpr std::string_view kJob = "job:";

  explicit PrefixRun(const Config& cfg);
  static std::string job_key(int j);  // "job:" + 4 digits
  const std::string& job_value() const { return job_value_; }
  // Calls timed(0) untimed (the warm-up), then times timed(rep) for rep = 1.. up to max_reps
  // (see the top), each call followed by the untimed after(rep); prints the PREFIX line.
  // Returns the calls made, warm-up included.
  std::uint64_t measure(const char* op, std::uint64_t max_reps,
                        const std::function<void(std::uint64_t)>& timed,
                        const std::function<void(std::uint64_t)>& after);
  // Check helpers: record a failure of op (the first few are printed).
  void expect(bool ok, const char* op, const std::string& what);
  void expect_key(const std::optional<std::string>& key, const char* op);  // has prefix "job:"
  void expect_page(const Page& page, const std::vector<std::string>& keys, const char* op);
  // The expected keys of the list and scan rows, and the keys the insert row adds.
  const std::vector<std::string>& first_jobs() const { return first_jobs_; }
  const std::vector<std::string>& first_keys() const { return first_keys_; }
  const std::vector<std::string>& first_page() const { return first_page_; }
  const std::string& middle() const { return middle_; }
  const std::vector<std::string>& middle_page() const { return middle_page_; }
  const std::vector<std::string>& new_keys() const { return new_keys_; }
  int finish(const std::string& engine_check);  // prints the checks and RESULT; exit code

 private:
  const Config& cfg_;
  std::string job_value_, middle_;
  std::vector<std::string> first_jobs_, first_keys_, first_page_, middle_page_, new_keys_;
  Checks checks_;
  std::uint64_t failures_ = 0;
};

template <class E>
int run_prefix(const Config& cfg) {
  print_header(cfg);
  PrefixRun run(cfg);
  std::string engine_check;
  {
    E eng(cfg);
    std::uint64_t t0 = now_ns();
    eng.preload(make_dataset(cfg));
    for (int j = 0; j < PrefixRun::kJobs; ++j) eng.put(PrefixRun::job_key(j), run.job_value());
    print_preload(cfg, cfg.keys + PrefixRun::kJobs, (now_ns() - t0) / 1e9);
    print_memory(cfg, eng.memory_report());
    eng.close_handles();
    eng.attach(0);

    const std::string_view job = PrefixRun::kJob;
    const std::uint64_t max = PrefixRun::kMaxReps;
    std::optional<std::string> key;
    std::uint64_t n = 0;
    Page page;
    run.measure(
        "random_key(job:)", max, [&](std::uint64_t) { key = eng.random_key(job); },
        [&](std::uint64_t) { run.expect_key(key, "random_key(job:)"); });
    run.measure(
        "count(job:)", max, [&](std::uint64_t) { n = eng.count(job); },
        [&](std::uint64_t) {
          run.expect(n == PrefixRun::kJobs, "count(job:)", "returned " + std::to_string(n));
        });
    run.measure(
        "pop_random(job:)", max, [&](std::uint64_t) { key = eng.pop_random(job); },
        [&](std::uint64_t) {
          run.expect_key(key, "pop_random(job:)");
          if (key) eng.put(*key, run.job_value());
        });
    const auto list_row = [&](const char* op, std::string_view prefix,
                              const std::vector<std::string>& want) {
      run.measure(
          op, max, [&](std::uint64_t) { eng.list(prefix, 10, page); },
          [&](std::uint64_t) { run.expect_page(page, want, op); });
    };
    list_row("list(job:,10)", job, run.first_jobs());
    list_row("list(key:,10)", kKeyPrefix, run.first_keys());
    const auto scan_row = [&](const char* op, const std::string& cursor,
                              const std::vector<std::string>& want) {
      run.measure(
          op, max, [&](std::uint64_t) { eng.scan(cursor, 100, page); },
          [&](std::uint64_t) { run.expect_page(page, want, op); });
    };
    scan_row("scan(first,100)", "", run.first_page());
    scan_row("scan(middle,100)", run.middle(), run.middle_page());

    const std::vector<std::string>& fresh = run.new_keys();
    const std::uint64_t added = run.measure(
        "insert", fresh.size() - 1, [&](std::uint64_t i) { eng.put(fresh[i], run.job_value()); },
        [](std::uint64_t) {});
    bool found = false;
    const auto check_found = [&](std::uint64_t i) {
      run.expect(found, "delete", "did not find " + fresh[i]);
    };
    const auto erase = [&](std::uint64_t i) { found = eng.erase(fresh[i]); };
    for (std::uint64_t i = run.measure("delete", added - 1, erase, check_found); i < added; ++i) {
      erase(i);  // untimed: what the time budget left
      check_found(i);
    }

    n = eng.count(job);
    run.expect(n == PrefixRun::kJobs, "end", "count(job:) is " + std::to_string(n));
    n = eng.count(kKeyPrefix);
    run.expect(n == cfg.keys, "end", "count(key:) is " + std::to_string(n));
    engine_check = eng.final_check();
  }
  return run.finish(engine_check);
}

}  // namespace shmkv_bench
