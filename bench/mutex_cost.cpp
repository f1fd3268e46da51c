// mutex_cost.cpp: `shmkv-bench --engine mutex-cost`. What one lock+unlock of a pthread mutex
// costs, for the kinds a shared-memory store can use, with the mutex in a MAP_SHARED mapping:
//   robust-pshared  PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST (what shmkv shards use)
//   pshared         PTHREAD_PROCESS_SHARED only (what boost::interprocess_mutex is)
//   private         a default, process-private mutex
// Uncontended: one process, --ops lock+unlock pairs per round, 7 rounds, median (ns per pair).
// Contended: --workers processes (default 2 when 1 is given) hammer one mutex, each doing --ops
// pairs around a shared counter increment; aggregate ns per pair = wall time / total pairs. The
// counter must equal the total (check).
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <new>
#include <stdexcept>
#include <vector>

#include "harness.hpp"

namespace shmkv_bench {
namespace {

struct alignas(64) Shared {
  pthread_mutex_t mu;
  alignas(64) std::uint64_t counter;
  alignas(64) std::uint64_t start_ns;
};

enum class Kind { robust_pshared, pshared, priv };

const char* kind_name(Kind k) {
  return k == Kind::robust_pshared ? "robust-pshared" : k == Kind::pshared ? "pshared" : "private";
}

void init_mutex(pthread_mutex_t* m, Kind k) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  if (k != Kind::priv) pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  if (k == Kind::robust_pshared) pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  if (pthread_mutex_init(m, &a) != 0) throw std::runtime_error("pthread_mutex_init failed");
  pthread_mutexattr_destroy(&a);
}

__attribute__((noinline)) void lock_unlock_loop(pthread_mutex_t* m, std::uint64_t n,
                                                std::uint64_t* counter) {
  for (std::uint64_t i = 0; i < n; ++i) {
    int rc = pthread_mutex_lock(m);
    if (rc == EOWNERDEAD) pthread_mutex_consistent(m);
    ++*counter;
    pthread_mutex_unlock(m);
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int run_mutex_cost(const Config& cfg) {
  void* p =
      ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap failed");
  Shared* sh = new (p) Shared();
  const std::uint64_t n = cfg.ops;
  const int procs = cfg.workers > 1 ? cfg.workers : 2;
  bool all_ok = true;
  std::printf("# shmkv-bench mutex-cost: %llu lock+unlock pairs per round\n",
              static_cast<unsigned long long>(n));
  for (Kind k : {Kind::robust_pshared, Kind::pshared, Kind::priv}) {
    init_mutex(&sh->mu, k);
    sh->counter = 0;
    lock_unlock_loop(&sh->mu, n / 10 + 1, &sh->counter);  // warm-up
    std::vector<double> rounds;
    for (int r = 0; r < 7; ++r) {
      std::uint64_t t0 = now_ns();
      lock_unlock_loop(&sh->mu, n, &sh->counter);
      rounds.push_back(static_cast<double>(now_ns() - t0) / n);
    }
    std::sort(rounds.begin(), rounds.end());
    std::printf(
        "RESULT engine=mutex-cost kind=%s procs=1 ns_per_lock_unlock=%.2f min=%.2f max=%.2f "
        "check=ok\n",
        kind_name(k), median(rounds), rounds.front(), rounds.back());
    pthread_mutex_destroy(&sh->mu);
  }
  for (Kind k : {Kind::robust_pshared, Kind::pshared}) {
    init_mutex(&sh->mu, k);
    std::vector<double> rounds;
    bool ok = true;
    for (int r = 0; r < 3; ++r) {
      sh->counter = 0;
      int go[2];
      if (::pipe(go) != 0) die("pipe failed");
      std::fflush(stdout);
      std::vector<pid_t> pids;
      for (int w = 0; w < procs; ++w) {
        pid_t pid = ::fork();
        if (pid == 0) {
          ::close(go[1]);
          char c;
          while (::read(go[0], &c, 1) < 0) {
          }
          lock_unlock_loop(&sh->mu, n, &sh->counter);
          ::_exit(0);
        }
        pids.push_back(pid);
      }
      ::close(go[0]);
      std::uint64_t t0 = now_ns();
      ::close(go[1]);
      for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
      rounds.push_back(static_cast<double>(now_ns() - t0) / (n * procs));
      ok = ok && sh->counter == n * procs;
    }
    all_ok = all_ok && ok;
    std::sort(rounds.begin(), rounds.end());
    std::printf(
        "RESULT engine=mutex-cost kind=%s procs=%d ns_per_lock_unlock=%.2f min=%.2f "
        "max=%.2f check=%s\n",
        kind_name(k), procs, median(rounds), rounds.front(), rounds.back(), ok ? "ok" : "FAIL");
    pthread_mutex_destroy(&sh->mu);
  }
  ::munmap(p, sizeof(Shared));
  return all_ok ? 0 : 1;
}

}  // namespace shmkv_bench
