// coord_bench.cpp: shmkv-coord-bench, the figures of issue 16's coordination operations (claims,
// locks, waiting, barriers) between real processes. It prints figures, never pass/fail; the
// only failures are broken runs (a child that errs or a count that does not add up: exit 1).
//
// Every part forks its processes from one parent, which creates a fresh shared-memory store
// "shmkv-coord-bench.<pid>" and destroys it at the end. Latencies are CLOCK_MONOTONIC
// differences between two processes, through a MAP_SHARED anonymous page (Shared below):
//   handoff     two processes pass one lock back and forth: the holder stamps and unlocks, the
//               other, asleep in lock(wait), returns; sample = its return - the stamp.
//   barrier     8 processes call barrier(parties 8) round after round; per round: release =
//               the last party's return - the last party's arrival, period = the time between
//               two rounds' last returns.
//   wait_for    a child sleeps in wait_for(key); the parent stamps and sets key.
//   claims      a pool of K keys drained by 2 workers, each taking a key and completing it:
//               shmkv claim_random + complete; shmkv without claims (random_key,
//               set_if_absent of a lock key, get, del both); Redis (SRANDMEMBER, SET lock NX PX,
//               GET, then MULTI DEL/SREM/DEL/EXEC in one round trip); Redis with the draw, the
//               SET NX PX and the GET in one script (EVALSHA), then the same MULTI. Rate = K /
//               wall time.
//   queue       a producer adds M items (each value its production stamp) and 2 consumers take
//               them: shmkv pop_random_wait; shmkv pop_random with a 1 ms sleep when empty
//               (polling); Redis RPUSH and BLPOP. Once as fast as the producer goes (items/s),
//               then a quarter of M paced at one item per 200 us (pickup latency = take -
//               stamp).
//   inserts     what a sleeper costs other processes' inserts: after N untimed inserts, the
//               parent sets N new keys with nobody asleep, then while a child sleeps in lock(wait)
//               on a lock the parent holds, then while a child sleeps in pop_random_wait on a
//               prefix none of the keys has; ns per set. A lock's sleeper waits on another wake
//               channel than inserts move; a pop's sleeper on theirs, so each insert then wakes it
//               (a syscall).
//   kill        a child holds a lock (lease 60 s) and another waits in lock(wait); the parent
//               stamps and SIGKILLs the holder; sample = the waiter's return - the stamp. Then
//               the same for a claim: the parent retries claim(key) every 100 us after the kill.
// Whoever must be asleep before the stamp (the lock and wait_for waiters, the barrier is not
// stamped) is seen sleeping first ('S' in /proc/PID/stat), so a sample is a wake-up, never a
// call that found the way free. The Redis parts start their own redis-server on a unix socket
// (redis_server.hpp). The machine's other load shows in the p99s: run on a quiet machine.
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <optional>
#include <shmkv/shmkv.hpp>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "redis_server.hpp"

namespace shmkv_bench {
namespace {

using namespace std::chrono_literals;

constexpr auto kLease = 60s;  // never runs out during a run: only death or release frees a grant
constexpr auto kWait = 10s;   // any wait longer than this is a broken run
constexpr int kBarrierParties = 8;
constexpr std::size_t kMaxSamples = 1 << 20;

struct Sizes {
  int handoffs, barrier_rounds, wakeups, kill_trials, pool_keys, queue_items, inserts;
};
constexpr Sizes kFull{2000, 1000, 2000, 20, 20000, 20000, 100000};
constexpr Sizes kQuick{200, 100, 200, 5, 2000, 2000, 10000};

// One MAP_SHARED anonymous mapping, inherited by every child.
struct Shared {
  std::atomic<std::uint64_t> stamp_ns;  // the moment an event was caused
  std::atomic<std::uint64_t> step;      // which step a process announced it is waiting for
  std::atomic<std::uint64_t> done;      // items finished; handoff: rounds whose waiter has it
  std::atomic<std::uint32_t> ready;     // children past their setup
  std::atomic<std::uint32_t> go;        // start signal
  std::atomic<pid_t> pid[2];            // the two handoff processes
  std::uint64_t samples[kMaxSamples];
  std::uint64_t arrive[kMaxSamples];  // barrier: [round * parties + party]
  std::uint64_t leave[kMaxSamples];
};

Shared* g_shared = nullptr;
std::string g_store;
std::string g_url;  // --engine redis: the store on the bench's own redis-server

shmkv::Store attach() {
  shmkv::Options o;
  o.name = g_store;
  o.url = g_url;
  o.open_mode = shmkv::OpenMode::attach_only;
  return shmkv::Store::open(o);
}

// Forks a child running fn (its exit status; an exception is status 3 with the message).
pid_t spawn(const std::function<int()>& fn) {
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) die("fork failed");
  if (pid > 0) {
    register_cleanup_pid(pid);
    return pid;
  }
  int rc = 3;
  try {
    rc = fn();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child %d: %s\n", ::getpid(), e.what());
  }
  std::fflush(stderr);
  ::_exit(rc);
}

// A child's failure: says why, returns its exit status.
int fail(const char* why) {
  std::fprintf(stderr, "child %d: %s\n", ::getpid(), why);
  return 1;
}

// Reaps a child; a non-zero exit is a broken run (unless it was killed on purpose).
void reap(pid_t pid, bool killed = false) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  unregister_cleanup_pid(pid);
  const bool ok =
      killed ? WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL : WIFEXITED(st) && WEXITSTATUS(st) == 0;
  if (!ok) die("child " + std::to_string(pid) + " ended with status " + std::to_string(st));
}

char process_state(pid_t pid) {
  char path[64], buf[512];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  std::FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* paren = std::strrchr(buf, ')');
  return paren && paren[1] && paren[2] ? paren[2] : 0;
}

// Waits until the process announced `step` and then sleeps (in the kernel: the futex).
void await_asleep(pid_t pid, std::uint64_t step) {
  const std::uint64_t limit = now_ns() + 10'000'000'000ull;
  while (g_shared->step.load(std::memory_order_acquire) != step || process_state(pid) != 'S') {
    if (now_ns() > limit) die("process " + std::to_string(pid) + " never went to sleep");
    std::this_thread::yield();
  }
}

void await_count(const std::atomic<std::uint32_t>& a, std::uint32_t n) {
  const std::uint64_t limit = now_ns() + 30'000'000'000ull;
  while (a.load(std::memory_order_acquire) < n) {
    if (now_ns() > limit) die("children did not get ready");
    std::this_thread::sleep_for(100us);
  }
}

void reset_shared() {
  g_shared->stamp_ns = 0;
  g_shared->step = 0;
  g_shared->done = 0;
  g_shared->ready = 0;
  g_shared->go = 0;
}

void print_latency(const char* label, std::vector<std::uint64_t> ns) {
  if (ns.empty()) return;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    return ns[std::min(ns.size() - 1, static_cast<std::size_t>(q * ns.size()))] / 1e3;
  };
  std::printf("%-54s n=%-6zu p50 %8.1f us  p99 %8.1f us  max %8.1f us\n", label, ns.size(), at(0.5),
              at(0.99), ns.back() / 1e3);
  std::fflush(stdout);
}

std::vector<std::uint64_t> samples(std::size_t n) {
  return {g_shared->samples, g_shared->samples + n};
}

// --- lock handoff ---

void bench_handoff(int n) {
  reset_shared();
  auto party = [n](int me) {
    shmkv::Store s = attach();
    g_shared->pid[me] = ::getpid();
    std::optional<std::uint64_t> token;
    if (me == 0) {
      token = s.lock("handoff", kLease, 0ms);
      if (!token) return fail("handoff: the first lock was not granted");
    }
    g_shared->ready.fetch_add(1);
    await_count(g_shared->ready, 2);
    for (int i = 0; i < n; ++i) {
      if (i % 2 == me) {  // holder of round i
        await_asleep(g_shared->pid[1 - me], static_cast<std::uint64_t>(i) + 1);
        g_shared->stamp_ns.store(now_ns(), std::memory_order_release);
        if (!s.unlock("handoff", *token)) return fail("handoff: unlock refused its token");
        // Locks are not fair: lock again only once the waiter has it.
        while (g_shared->done.load(std::memory_order_acquire) != static_cast<std::uint64_t>(i) + 1)
          std::this_thread::yield();
      } else {
        g_shared->step.store(static_cast<std::uint64_t>(i) + 1, std::memory_order_release);
        token = s.lock("handoff", kLease, kWait);
        const std::uint64_t t = now_ns();
        if (!token) return fail("handoff: lock timed out");
        g_shared->samples[i] = t - g_shared->stamp_ns.load(std::memory_order_acquire);
        g_shared->done.store(static_cast<std::uint64_t>(i) + 1, std::memory_order_release);
      }
    }
    return 0;
  };
  const pid_t a = spawn([&] { return party(0); });
  while (g_shared->ready.load() == 0) std::this_thread::sleep_for(100us);  // 0 holds the lock
  const pid_t b = spawn([&] { return party(1); });
  reap(a);
  reap(b);
  print_latency("lock handoff (unlock -> waiter returns)", samples(n));
}

// --- barrier ---

void bench_barrier(int rounds) {
  reset_shared();
  std::vector<pid_t> pids;
  for (int p = 0; p < kBarrierParties; ++p)
    pids.push_back(spawn([rounds, p] {
      shmkv::Store s = attach();
      for (int r = 0; r < rounds; ++r) {
        g_shared->arrive[r * kBarrierParties + p] = now_ns();
        if (!s.barrier("round", kBarrierParties, kWait)) return fail("barrier timed out");
        g_shared->leave[r * kBarrierParties + p] = now_ns();
      }
      return 0;
    }));
  for (pid_t pid : pids) reap(pid);
  std::vector<std::uint64_t> release, period;
  std::uint64_t previous = 0;
  for (int r = 0; r < rounds; ++r) {
    const std::uint64_t* in = g_shared->arrive + r * kBarrierParties;
    const std::uint64_t* out = g_shared->leave + r * kBarrierParties;
    const std::uint64_t last_in = *std::max_element(in, in + kBarrierParties);
    const std::uint64_t last_out = *std::max_element(out, out + kBarrierParties);
    release.push_back(last_out - last_in);
    if (r > 0) period.push_back(last_out - previous);
    previous = last_out;
  }
  print_latency("barrier of 8: last arrival -> last return", release);
  print_latency("barrier of 8: round period", period);
}

// --- wait_for ---

void bench_wait_for(shmkv::Store& s, int n) {
  reset_shared();
  const pid_t child = spawn([n] {
    shmkv::Store o = attach();
    for (int i = 0; i < n; ++i) {
      const std::string key = "wake:" + std::to_string(i);
      g_shared->step.store(static_cast<std::uint64_t>(i) + 1, std::memory_order_release);
      if (!o.wait_for(key, kWait)) return fail("wait_for timed out");
      const std::uint64_t t = now_ns();
      g_shared->samples[i] = t - g_shared->stamp_ns.load(std::memory_order_acquire);
    }
    return 0;
  });
  for (int i = 0; i < n; ++i) {
    await_asleep(child, static_cast<std::uint64_t>(i) + 1);
    g_shared->stamp_ns.store(now_ns(), std::memory_order_release);
    s.set("wake:" + std::to_string(i), "1");
  }
  reap(child);
  print_latency("wait_for (set in another process -> return)", samples(n));
}

// --- what a sleeper costs the inserts of other processes ---

double insert_ns(shmkv::Store& s, const std::string& tag, int n) {
  const std::uint64_t t0 = now_ns();
  for (int i = 0; i < n; ++i) s.set("ins:" + tag + ":" + std::to_string(i), "v");
  return static_cast<double>(now_ns() - t0) / n;
}

// A child that announces step 1 and then sleeps in wait(store); the parent waits until it does.
pid_t spawn_sleeper(const std::function<bool(shmkv::Store&)>& wait) {
  reset_shared();
  const pid_t pid = spawn([&] {
    shmkv::Store o = attach();
    g_shared->step.store(1, std::memory_order_release);
    return wait(o) ? 0 : fail("the sleeper's wait timed out");
  });
  await_asleep(pid, 1);
  std::this_thread::sleep_for(20ms);  // past a lock wait's first, unwatched sleep
  return pid;
}

void bench_inserts(shmkv::Store& s, int n) {
  insert_ns(s, "warm-up", n);  // the store's first inserts fault in its index and tables
  const double alone = insert_ns(s, "alone", n);
  const std::uint64_t token = *s.lock("gate", kLease, 0ms);
  const pid_t locker =
      spawn_sleeper([](shmkv::Store& o) { return o.lock("gate", kLease, kWait).has_value(); });
  const double beside_lock = insert_ns(s, "lock", n);
  s.unlock("gate", token);
  reap(locker);
  const pid_t popper =
      spawn_sleeper([](shmkv::Store& o) { return o.pop_random_wait("none:", kWait).has_value(); });
  const double beside_pop = insert_ns(s, "pop", n);
  s.set("none:1", "x");
  reap(popper);
  std::printf("%-58s %8.0f ns per set\n", "inserts of new keys, nobody asleep", alone);
  std::printf("%-58s %8.0f ns per set\n", "inserts, another process asleep in lock(wait)",
              beside_lock);
  std::printf("%-58s %8.0f ns per set\n",
              "inserts, another process asleep in pop_random_wait(other)", beside_pop);
}

// --- the time from SIGKILL of a holder until another process has what it held ---

pid_t spawn_holder(const std::function<bool(shmkv::Store&)>& take) {
  g_shared->ready = 0;
  const pid_t pid = spawn([&] {
    shmkv::Store s = attach();
    if (!take(s)) return fail("the holder did not get its grant");
    g_shared->ready = 1;
    for (;;) ::pause();  // until SIGKILL
  });
  await_count(g_shared->ready, 1);
  return pid;
}

void bench_kill(shmkv::Store& s, int trials) {
  reset_shared();
  for (int t = 0; t < trials; ++t) {
    const pid_t holder =
        spawn_holder([](shmkv::Store& o) { return o.lock("doomed", kLease, 0ms).has_value(); });
    const std::uint64_t step = static_cast<std::uint64_t>(t) + 1;
    const pid_t waiter = spawn([t, step] {
      shmkv::Store o = attach();
      g_shared->step.store(step, std::memory_order_release);
      std::optional<std::uint64_t> token = o.lock("doomed", kLease, kWait);
      const std::uint64_t at = now_ns();
      if (!token) return fail("kill: the waiter timed out");
      g_shared->samples[t] = at - g_shared->stamp_ns.load(std::memory_order_acquire);
      return o.unlock("doomed", *token) ? 0 : fail("kill: unlock refused its token");
    });
    await_asleep(waiter, step);
    g_shared->stamp_ns.store(now_ns(), std::memory_order_release);
    ::kill(holder, SIGKILL);
    reap(waiter);
    reap(holder, true);
  }
  print_latency("SIGKILL of a lock holder -> waiter has it", samples(trials));

  s.set("doomed-key", "v");
  std::vector<std::uint64_t> claim_ns;
  for (int t = 0; t < trials; ++t) {
    const pid_t holder =
        spawn_holder([](shmkv::Store& o) { return o.claim("doomed-key", kLease).has_value(); });
    if (s.claim("doomed-key", kLease)) die("a held claim was granted twice");
    const std::uint64_t start = now_ns();
    ::kill(holder, SIGKILL);
    std::optional<shmkv::Claim> c;
    while (!(c = s.claim("doomed-key", kLease))) {
      if (now_ns() - start > 10'000'000'000ull) die("the dead holder's claim never came back");
      std::this_thread::sleep_for(100us);
    }
    claim_ns.push_back(now_ns() - start);
    s.release(c->key, c->token);
    reap(holder, true);
  }
  print_latency("SIGKILL of a claim holder -> claim (100us retry)", claim_ns);
}

// --- claims: a pool of keys drained by 2 workers ---

constexpr int kWorkers = 2;

std::string job_key(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "job:%08d", i);
  return buf;
}

// Runs kWorkers children of `work` (each returns how many keys it completed) from one start
// signal; returns the wall time from the signal to the last one's end, in seconds.
double run_workers(const std::function<std::uint64_t()>& work) {
  g_shared->ready = 0;
  g_shared->go = 0;
  g_shared->done = 0;
  std::vector<pid_t> pids;
  for (int w = 0; w < kWorkers; ++w)
    pids.push_back(spawn([&] {
      g_shared->ready.fetch_add(1);
      while (!g_shared->go.load(std::memory_order_acquire)) std::this_thread::yield();
      g_shared->done.fetch_add(work());
      return 0;
    }));
  await_count(g_shared->ready, kWorkers);
  std::this_thread::sleep_for(20ms);  // the workers' setup (attach, connect) is done by now
  const std::uint64_t start = now_ns();
  g_shared->go.store(1, std::memory_order_release);
  for (pid_t pid : pids) reap(pid);
  return (now_ns() - start) / 1e9;
}

void print_rate(const char* label, std::uint64_t items, double seconds) {
  std::printf("%-54s %8.0f items/s  (%" PRIu64 " items in %.3f s)\n", label, items / seconds, items,
              seconds);
  std::fflush(stdout);
}

void check_done(std::uint64_t want) {
  if (g_shared->done.load() != want)
    die("completed " + std::to_string(g_shared->done.load()) + " of " + std::to_string(want));
}

struct ReplyFree {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

class RedisClient {
 public:
  explicit RedisClient(const std::string& socket) : ctx_(redisConnectUnix(socket.c_str())) {
    if (!ctx_ || ctx_->err) die("redis: cannot connect to " + socket);
  }
  ~RedisClient() { redisFree(ctx_); }
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  template <class... A>
  Reply call(const char* format, A... args) {
    Reply r(static_cast<redisReply*>(redisCommand(ctx_, format, args...)));
    if (!r || r->type == REDIS_REPLY_ERROR)
      die(std::string("redis: ") + format + ": " + (r ? r->str : ctx_->errstr));
    return r;
  }
  template <class... A>
  void append(const char* format, A... args) {
    redisAppendCommand(ctx_, format, args...);
  }
  Reply next_reply() {
    void* r = nullptr;
    if (redisGetReply(ctx_, &r) != REDIS_OK) die(std::string("redis: ") + ctx_->errstr);
    return Reply(static_cast<redisReply*>(r));
  }

 private:
  redisContext* ctx_;
};

void fill_pool(shmkv::Store& s, int keys) {
  for (int i = 0; i < keys; ++i) s.set(job_key(i), "payload-" + std::to_string(i));
}

// The Redis pool: job:<n> = its payload, and the set "pool" of the names.
void fill_redis_pool(RedisServer& redis, int keys) {
  RedisClient c(redis.socket_path());
  for (int i = 0; i < keys; ++i) {
    const std::string k = job_key(i), v = "payload-" + std::to_string(i);
    c.append("SET %s %s", k.c_str(), v.c_str());
    c.append("SADD pool %s", k.c_str());
  }
  for (int i = 0; i < 2 * keys; ++i) c.next_reply();
}

// Ends a claimed key: the key, its pool entry and its lock go in one transaction (1 round trip).
void redis_complete(RedisClient& c, const std::string& key) {
  const std::string lock = "lock:" + key;
  c.append("MULTI");
  c.append("DEL %s", key.c_str());
  c.append("SREM pool %s", key.c_str());
  c.append("DEL %s", lock.c_str());
  c.append("EXEC");
  for (int i = 0; i < 5; ++i) c.next_reply();
}

// A claim of a random pool member in one round trip: up to 16 draws, each tried with SET NX PX
// on its lock key; {key, value}, nil when the pool is empty, 0 when every draw was held.
constexpr const char* kRedisClaimScript =
    "for i = 1, 16 do "
    "  local k = redis.call('SRANDMEMBER', KEYS[1]) "
    "  if not k then return false end "
    "  if redis.call('SET', 'lock:' .. k, ARGV[1], 'NX', 'PX', ARGV[2]) then "
    "    return {k, redis.call('GET', k)} "
    "  end "
    "end "
    "return 0";

void bench_claims(shmkv::Store& s, RedisServer* redis, int keys) {
  const std::uint64_t want = static_cast<std::uint64_t>(keys);
  fill_pool(s, keys);
  double secs = run_workers([] {
    shmkv::Store o = attach();
    std::uint64_t n = 0;
    while (std::optional<shmkv::Claim> c = o.claim_random("job:", kLease))
      n += o.complete(c->key, c->token) ? 1 : 0;
    return n;
  });
  check_done(want);
  print_rate("claims: shmkv claim_random + complete", want, secs);

  fill_pool(s, keys);
  secs = run_workers([] {
    shmkv::Store o = attach();
    const std::string me = std::to_string(::getpid());
    std::uint64_t n = 0;
    while (std::optional<std::string> key = o.random_key("job:")) {
      const std::string lock = "lock:" + *key;
      if (!o.set_if_absent(lock, me)) continue;  // the other worker has it
      if (o.get(*key)) {
        o.del(*key);
        ++n;
      }
      o.del(lock);
    }
    return n;
  });
  check_done(want);
  print_rate("claims: shmkv random_key + set_if_absent lock", want, secs);

  if (!redis) return;
  fill_redis_pool(*redis, keys);
  secs = run_workers([redis] {
    RedisClient c(redis->socket_path());
    const std::string me = std::to_string(::getpid());
    std::uint64_t n = 0;
    for (;;) {
      Reply pick = c.call("SRANDMEMBER pool");
      if (pick->type != REDIS_REPLY_STRING) break;  // nil: the pool is empty
      const std::string key(pick->str, pick->len), lock = "lock:" + key;
      if (c.call("SET %s %s NX PX 60000", lock.c_str(), me.c_str())->type != REDIS_REPLY_STATUS)
        continue;  // held by the other worker
      if (c.call("GET %s", key.c_str())->type == REDIS_REPLY_STRING) {
        redis_complete(c, key);
        ++n;
      } else {
        c.call("DEL %s", lock.c_str());
      }
    }
    return n;
  });
  check_done(want);
  print_rate("claims: redis SRANDMEMBER + SET NX PX + DEL", want, secs);

  fill_redis_pool(*redis, keys);
  secs = run_workers([redis] {
    RedisClient c(redis->socket_path());
    const std::string me = std::to_string(::getpid());
    Reply loaded = c.call("SCRIPT LOAD %s", kRedisClaimScript);
    const std::string sha(loaded->str, loaded->len);
    std::uint64_t n = 0;
    for (;;) {
      Reply r = c.call("EVALSHA %s 1 pool %s 60000", sha.c_str(), me.c_str());
      if (r->type == REDIS_REPLY_NIL) break;       // the pool is empty
      if (r->type != REDIS_REPLY_ARRAY) continue;  // every draw was held: draw again
      redis_complete(c, std::string(r->element[0]->str, r->element[0]->len));
      ++n;
    }
    return n;
  });
  check_done(want);
  print_rate("claims: redis scripted pick (1 EVALSHA) + DEL", want, secs);
}

// --- queue: a producer and 2 consumers that wait for items ---

std::string item_key(std::uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "item:%010" PRIu64, i);
  return buf;
}

// The producer's loop: `put` item i stamped with the moment it was made, one every gap_ns (0:
// back to back), absolute deadlines so that a late wake-up does not slow the rate.
void produce(int items, std::uint64_t gap_ns, const std::function<void(int, std::uint64_t)>& put) {
  timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (int i = 0; i < items; ++i) {
    if (gap_ns) {
      next.tv_nsec += static_cast<long>(gap_ns);
      while (next.tv_nsec >= 1'000'000'000L) {
        next.tv_nsec -= 1'000'000'000L;
        ++next.tv_sec;
      }
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr) == EINTR) {
      }
    }
    put(i, now_ns());
  }
}

// One consumer's loop: take() returns an item's stamp, or nullopt when it found none in its
// wait; it stops once every item has been taken by someone. Records pickup latencies in its
// half of the samples.
std::uint64_t consume(int items, int worker,
                      const std::function<std::optional<std::uint64_t>()>& take) {
  std::uint64_t n = 0;
  std::uint64_t* out = g_shared->samples + static_cast<std::size_t>(worker) * items;
  while (g_shared->done.load(std::memory_order_acquire) < static_cast<std::uint64_t>(items)) {
    std::optional<std::uint64_t> stamp = take();
    if (!stamp) continue;
    out[n++] = now_ns() - *stamp;
    g_shared->done.fetch_add(1, std::memory_order_acq_rel);
  }
  out[n] = 0;  // end of this worker's samples
  return n;
}

std::vector<std::uint64_t> consumer_samples(int items) {
  std::vector<std::uint64_t> all;
  for (int w = 0; w < kWorkers; ++w)
    for (const std::uint64_t* p = g_shared->samples + static_cast<std::size_t>(w) * items; *p; ++p)
      all.push_back(*p);
  return all;
}

// A run: the parent forks the producer and the consumers, all released at once.
struct QueueVariant {
  const char* name;
  std::function<void(int items, std::uint64_t gap_ns)> producer;
  std::function<std::uint64_t(int items, int worker)> consumer;
};

void run_queue(const QueueVariant& v, int items, std::uint64_t gap_ns) {
  reset_shared();
  std::vector<pid_t> pids;
  for (int w = 0; w < kWorkers; ++w)
    pids.push_back(spawn([&, w] {
      g_shared->ready.fetch_add(1);
      while (!g_shared->go.load(std::memory_order_acquire)) std::this_thread::yield();
      v.consumer(items, w);
      return 0;
    }));
  await_count(g_shared->ready, kWorkers);
  const pid_t producer = spawn([&] {
    while (!g_shared->go.load(std::memory_order_acquire)) std::this_thread::yield();
    v.producer(items, gap_ns);
    return 0;
  });
  std::this_thread::sleep_for(20ms);
  const std::uint64_t start = now_ns();
  g_shared->go.store(1, std::memory_order_release);
  reap(producer);
  for (pid_t pid : pids) reap(pid);
  const double secs = (now_ns() - start) / 1e9;
  if (g_shared->done.load() != static_cast<std::uint64_t>(items)) die("queue: items lost");
  std::string label = std::string("queue: ") + v.name;
  if (gap_ns == 0) {
    print_rate(label.c_str(), static_cast<std::uint64_t>(items), secs);
  } else {
    label += " (pickup, 1 per 200us)";
    print_latency(label.c_str(), consumer_samples(items));
  }
}

std::optional<std::uint64_t> stamp_of(const std::optional<shmkv::Entry>& e) {
  if (!e) return std::nullopt;
  return std::strtoull(e->value.c_str(), nullptr, 10);
}

void bench_queue(RedisServer* redis, int items) {
  auto shmkv_producer = [](int n, std::uint64_t gap) {
    shmkv::Store o = attach();
    produce(n, gap, [&](int i, std::uint64_t t) { o.set(item_key(i), std::to_string(t)); });
  };
  std::vector<QueueVariant> variants{
      {"shmkv pop_random_wait", shmkv_producer,
       [](int n, int w) {
         shmkv::Store o = attach();
         return consume(n, w, [&] { return stamp_of(o.pop_random_wait("item:", 20ms)); });
       }},
      {"shmkv pop_random + 1 ms sleep", shmkv_producer,
       [](int n, int w) {
         shmkv::Store o = attach();
         return consume(n, w, [&] {
           std::optional<std::uint64_t> t = stamp_of(o.pop_random("item:"));
           if (!t) std::this_thread::sleep_for(1ms);
           return t;
         });
       }},
  };
  if (redis)
    variants.push_back({"redis RPUSH + BLPOP",
                        [redis](int n, std::uint64_t gap) {
                          RedisClient c(redis->socket_path());
                          produce(n, gap, [&](int, std::uint64_t t) {
                            c.call("RPUSH items %s", std::to_string(t).c_str());
                          });
                        },
                        [redis](int n, int w) {
                          RedisClient c(redis->socket_path());
                          return consume(n, w, [&]() -> std::optional<std::uint64_t> {
                            Reply r = c.call("BLPOP items 0.02");
                            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
                              return std::nullopt;
                            return std::strtoull(r->element[1]->str, nullptr, 10);
                          });
                        }});
  for (std::uint64_t gap : {0ull, 200'000ull})
    for (const QueueVariant& v : variants) run_queue(v, gap ? items / 4 : items, gap);
}

// --- command line ---

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: shmkv-coord-bench [--quick] [--only PART[,PART...]] [--redis-server P]\n"
               "                         [--engine shm|redis]\n"
               "  parts: handoff, barrier, wait_for, inserts, claims, queue, kill (default: all)\n"
               "  --engine redis    shmkv's store on the bench's own redis-server (Options::url)\n"
               "                    instead of shared memory\n"
               "  --quick           fewer rounds (a check that it runs; figures are noisier)\n"
               "  --redis-server P  redis-server binary of the Redis comparisons (default:\n"
               "                    redis-server on PATH; 'none' leaves them out)\n");
}

int run(int argc, char** argv) {
  Sizes n = kFull;
  std::string only, redis_binary = "redis-server";
  bool on_redis = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      n = kQuick;
    } else if (a == "--only" && i + 1 < argc) {
      only = "," + std::string(argv[++i]) + ",";
    } else if (a == "--redis-server" && i + 1 < argc) {
      redis_binary = argv[++i];
    } else if (a == "--engine" && i + 1 < argc &&
               (argv[i + 1] == std::string("shm") || argv[i + 1] == std::string("redis"))) {
      on_redis = argv[++i] == std::string("redis");
    } else if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      die("unknown option " + a);
    }
  }
  auto wanted = [&](const char* part) {
    return only.empty() || only.find("," + std::string(part) + ",") != std::string::npos;
  };
  std::printf(
      "# shmkv-coord-bench%s%s  handoffs=%d barrier_rounds=%d wakeups=%d kill_trials=%d "
      "pool_keys=%d queue_items=%d inserts=%d\n",
      n.handoffs == kQuick.handoffs ? " --quick" : "", on_redis ? " --engine redis" : "",
      n.handoffs, n.barrier_rounds, n.wakeups, n.kill_trials, n.pool_keys, n.queue_items,
      n.inserts);
  print_environment("shmkv-coord-bench");

  void* mem =
      ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) die("mmap of the shared page failed");
  g_shared = new (mem) Shared{};

  g_store = "shmkv-coord-bench." + std::to_string(::getpid());
  const std::string segment_path = "/dev/shm/shmkv." + g_store;  // options.hpp: where it lives
  std::optional<RedisServer> redis;
  if ((on_redis || wanted("claims") || wanted("queue")) && redis_binary != "none")
    redis.emplace(redis_binary);
  RedisServer* server = redis ? &*redis : nullptr;
  if (on_redis && !server) die("--engine redis needs a redis-server");

  shmkv::Options o;
  o.name = g_store;
  o.open_mode = shmkv::OpenMode::create_only;
  if (on_redis) {
    g_url = o.url = server->url();
  } else {
    o.size_bytes = 256ull << 20;
    o.max_keys = 2 * static_cast<std::uint64_t>(std::max(n.pool_keys, n.queue_items)) +
                 4 * static_cast<std::uint64_t>(n.inserts) + 100000;
    register_cleanup_path(segment_path);
  }
  std::optional<shmkv::Store> store = shmkv::Store::open(o);

  if (wanted("handoff")) bench_handoff(n.handoffs);
  if (wanted("barrier")) bench_barrier(n.barrier_rounds);
  if (wanted("wait_for")) bench_wait_for(*store, n.wakeups);
  if (wanted("inserts")) bench_inserts(*store, n.inserts);
  if (wanted("kill")) bench_kill(*store, n.kill_trials);
  if (wanted("claims")) bench_claims(*store, server, n.pool_keys);
  if (wanted("queue")) bench_queue(server, n.queue_items);

  std::vector<std::string> bad = store->check_invariants();
  if (!bad.empty()) die("check_invariants: " + bad.front());
  store.reset();
  shmkv::Store::destroy(o);
  if (!on_redis) unregister_cleanup_path(segment_path);
  return 0;
}

}  // namespace
}  // namespace shmkv_bench

int main(int argc, char** argv) {
  shmkv_bench::install_signal_cleanup();
  try {
    return shmkv_bench::run(argc, argv);
  } catch (const std::exception& e) {
    shmkv_bench::die(e.what());
  }
}
