// prefix.cpp: the engine-independent part of the prefix mix (see prefix.hpp): the expected
// keys, the timing loop, the checks and the report.
#include "prefix.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <numeric>
#include <random>

namespace shmkv_bench {

namespace {

constexpr std::uint64_t kMinReps = 3;
constexpr int kPrintedFailures = 5;

std::string key_string(std::uint64_t i) {
  std::string k(kKeyLen, '\0');
  format_key(i, k.data());
  return k;
}

std::vector<std::string> key_range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::string> keys;
  for (std::uint64_t i = from; i < to; ++i) keys.push_back(key_string(i));
  return keys;
}

// Nearest-rank quantile q of sorted samples (ns), in µs.
double quantile_us(const std::vector<std::uint64_t>& sorted, double q) {
  std::size_t rank = static_cast<std::size_t>(q * static_cast<double>(sorted.size()) + 0.999999);
  return static_cast<double>(sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1]) / 1e3;
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(end.back() + 1);
  return end;
}

PrefixRun::PrefixRun(const Config& cfg) : cfg_(cfg), job_value_(cfg.value_size, 'j') {
  for (int j = 0; j < kJobs; ++j) first_page_.push_back(job_key(j));
  first_jobs_.assign(first_page_.begin(), first_page_.begin() + 10);
  first_keys_ = key_range(0, std::min<std::uint64_t>(10, cfg.keys));
  middle_ = key_string(cfg.keys / 2);
  middle_page_ = key_range(cfg.keys / 2 + 1, std::min<std::uint64_t>(cfg.keys / 2 + 101, cfg.keys));
  // Distinct random neighbours (a partial Fisher-Yates shuffle of 0..N-1); N / 4 at most, which
  // the engines' headroom (shmkv: max_keys = 1.3 N + 1024) takes.
  std::vector<std::uint32_t> idx(cfg.keys);
  std::iota(idx.begin(), idx.end(), 0u);
  std::mt19937_64 rng(cfg.seed);
  const std::uint64_t n = std::min<std::uint64_t>(kMaxReps, cfg.keys / 4) + 1;
  for (std::uint64_t k = 0; k < n && k < cfg.keys; ++k) {
    std::swap(idx[k], idx[k + rng() % (cfg.keys - k)]);
    new_keys_.push_back(key_string(idx[k]) + "+");
  }
}

std::string PrefixRun::job_key(int j) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "job:%04d", j);
  return buf;
}

std::uint64_t PrefixRun::measure(const char* op, std::uint64_t max_reps,
                                 const std::function<void(std::uint64_t)>& timed,
                                 const std::function<void(std::uint64_t)>& after) {
  timed(0);
  after(0);
  const std::uint64_t budget_ns = static_cast<std::uint64_t>(cfg_.seconds * 1e9);
  std::vector<std::uint64_t> ns;
  const std::uint64_t start = now_ns();
  for (std::uint64_t rep = 1; rep <= max_reps; ++rep) {
    const std::uint64_t t0 = now_ns();
    timed(rep);
    const std::uint64_t t1 = now_ns();
    ns.push_back(t1 - t0);
    after(rep);
    if (rep >= kMinReps && now_ns() - start >= budget_ns) break;
  }
  const double total_s = std::accumulate(ns.begin(), ns.end(), 0.0) / 1e9;
  std::sort(ns.begin(), ns.end());
  std::printf("PREFIX engine=%s keys=%" PRIu64
              " op=%s reps=%zu median_us=%.2f p99_us=%.2f"
              " ops_per_s=%.0f\n",
              cfg_.engine.c_str(), cfg_.keys, op, ns.size(),
              ns.empty() ? 0.0 : quantile_us(ns, 0.5), ns.empty() ? 0.0 : quantile_us(ns, 0.99),
              total_s > 0 ? static_cast<double>(ns.size()) / total_s : 0.0);
  std::fflush(stdout);
  return ns.size() + 1;
}

void PrefixRun::expect(bool ok, const char* op, const std::string& what) {
  if (ok) return;
  if (++failures_ <= kPrintedFailures) checks_.fail(std::string(op) + ": " + what);
}

void PrefixRun::expect_key(const std::optional<std::string>& key, const char* op) {
  expect(key && key->starts_with(kJob), op, key ? "returned " + *key : "found no key");
}

void PrefixRun::expect_page(const Page& page, const std::vector<std::string>& keys,
                            const char* op) {
  bool ok = page.size() == keys.size();
  for (std::size_t i = 0; ok && i < keys.size(); ++i)
    ok = page[i].key == keys[i] && page[i].value.size() == cfg_.value_size;
  expect(ok, op,
         "returned " + std::to_string(page.size()) + " entries from " +
             (page.empty() ? std::string("none") : page.front().key) + ", expected " +
             std::to_string(keys.size()) + " from " + (keys.empty() ? "none" : keys.front()) +
             " (each value " + std::to_string(cfg_.value_size) + " bytes)");
}

int PrefixRun::finish(const std::string& engine_check) {
  if (!engine_check.empty()) checks_.fail(cfg_.engine + ": " + engine_check);
  if (failures_ > kPrintedFailures)
    checks_.fail(std::to_string(failures_ - kPrintedFailures) + " more failed checks");
  for (const auto& f : checks_.failures) std::printf("FAIL: %s\n", f.c_str());
  const bool ok = checks_.failures.empty();
  std::printf("RESULT engine=%s mix=prefix keys=%" PRIu64 " value_size=%u check=%s\n",
              cfg_.engine.c_str(), cfg_.keys, cfg_.value_size, ok ? "ok" : "FAIL");
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace shmkv_bench
