// harness.hpp: the engine-independent part of shmkv-bench.
//
// Every engine runs the same workload through the same code: the parent builds a fresh store,
// preloads N keys ("key:" + 12-digit index, 16 bytes) with B deterministic random bytes each and
// 16 counters ("ctr:000000000000".."ctr:000000000015" = "0"), closes its handles, and forks W
// workers. Each worker opens its own handle, runs an untimed warm-up of gets, waits on a start
// barrier, then runs its ops in batches (default 32), timing each batch with clock_gettime. The
// op stream is generated here (per-worker seeded RNG), so every engine sees the same sequence.
// Mix insert (engines shmkv and shmkv-tuned) sets new keys: worker w's i-th op sets the key
// keys + w * ops + i, so every op is an insert (what the coordination table's waiter check
// costs, issue 16).
//
// An engine is a class E with (see engine_*.cpp):
//   explicit E(const Config&);                 // parent: make a fresh store / start a server
//   void preload(const Dataset&);              // parent: write keys (+ counters unless pop)
//   void close_handles();                      // drop handles: parent before fork(), workers at
//   the end void attach(int worker);                   // worker, after fork(): open its own handle
//   bool get(const char* key, std::size_t klen, Sink&);    // untimed warm-up get
//   void exec(const Op* ops, std::size_t n, Sink&);        // timed: run n ops
//   void reopen();                             // parent, after the workers: attach again
//   std::int64_t read_counter(const std::string& key);     // parent: final counter value
//   std::uint64_t remaining_keys();            // parent: keys left (pop check)
//   std::string memory_report();               // parent, after preload: "k=v ..." or ""
//   std::string final_check();                 // parent: engine's own check ("" = ok)
//   ~E();                                      // parent: remove the store / stop the server
// The parent object is copied into each child by fork(); children leave with _exit(), so only
// the parent ever runs the destructor. Mix prefix is different: one process times the ordered
// and prefix operations one call at a time, through more engine calls (prefix.hpp).
#pragma once

#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace shmkv_bench {

enum class Mix { get, r90, r50, incr, pop, set, insert, prefix };

struct Config {
  std::string engine = "shmkv";
  int workers = 1;
  std::uint64_t keys = 1000000;  // compare.sh's workload, the one the published figures use
  std::uint32_t value_size = 100;
  std::uint64_t ops = 1000000;   // per worker
  std::uint64_t warmup = ~0ull;  // per worker; ~0 = min(ops, 100000)
  Mix mix = Mix::get;
  std::string mix_name = "get";
  double seconds = 0;                  // > 0: run for this long instead of ops (prefix: per op)
  std::uint32_t pipeline = 32;         // redis-pipe depth
  std::uint32_t shards = 0;            // shmkv: 0 = library default; boost-map: 0 = 64
  std::int64_t home_block_bytes = -1;  // shmkv-tuned: -1 = the record size if <= 512, else 0
  std::uint32_t batch = 32;            // ops per timed batch
  std::uint64_t seed = 42;
  std::string redis_server = "redis-server";
  bool quiet = false;
  bool verify_reads = false;  // shmkv: Options::verify_reads of every handle
};

inline constexpr std::size_t kKeyLen = 16;
inline constexpr int kCounters = 16;

enum class OpKind : std::uint8_t { get, set, incr, pop };

struct Op {
  OpKind kind;
  char key[kKeyLen];
  const char* value;  // set: value_size bytes
};

// Per-worker result accumulator. Engines report every outcome through it.
struct Sink {
  std::uint32_t value_size = 0;
  std::uint64_t checksum = 0;  // over values read / counters returned / keys popped
  std::uint64_t bad = 0;       // get miss or wrong length, bad pop, engine error
  std::uint64_t popped = 0;
  bool empty = false;  // a pop found nothing left
  std::vector<std::uint32_t>* popped_idx = nullptr;

  // A get's result: found with len bytes at p (p may be null if !found).
  void got(bool found, const char* p, std::size_t len) {
    if (!found || len != value_size) {
      ++bad;
      return;
    }
    std::uint64_t w = 0;
    std::memcpy(&w, p, len < 8 ? len : 8);
    checksum += w ^ len;
  }
  void incremented(std::int64_t v) { checksum += static_cast<std::uint64_t>(v); }
  // A pop's result: key of klen bytes and a value of vlen bytes.
  void popped_one(const char* key, std::size_t klen, std::size_t vlen);
  void pop_empty() { empty = true; }
};

// The deterministic data set: values, counter names and a pool of random bytes for sets.
struct Dataset {
  std::uint64_t keys;
  std::uint32_t value_size;
  std::uint64_t seed;
  bool counters;  // false for mixes pop and prefix: the store holds only the N keys
  void key(std::uint64_t i, char* out) const;    // 16 bytes
  void value(std::uint64_t i, char* out) const;  // value_size bytes
  static std::string counter_name(int c);        // "ctr:0000000000cc"
};

void format_key(std::uint64_t i, char* out);  // "key:" + 12 digits

// memcpy kept out of line so that GCC calls libc's memcpy for value copies instead of inlining
// a slow `rep movsq` when it can bound the length (that alone cost ~15 ns per 100-byte copy).
void copy_bytes(void* dst, const void* src, std::size_t n);
inline constexpr char kKeyPrefix[] = "key:";

// Small decimal helpers shared by the engines that store counters as ASCII text.
bool parse_i64(const char* p, std::size_t n, std::int64_t* out);
std::size_t format_i64(std::int64_t v, char* out);  // out: >= 21 bytes

inline std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

// Prints "program: msg" to stderr and exits with status 2 (in the parent, after the cleanup
// below: registered processes killed, registered paths removed).
[[noreturn]] void die(const std::string& msg);

// The environment header every benchmark prints: CPU, cores, kernel, build type, compiler, and a
// warning banner for a non-optimised or sanitizer build (process_env.cpp).
void print_environment(const char* program);
bool representative_build();  // optimised and without a sanitizer

// Cleanup on SIGINT / SIGTERM / SIGHUP in the parent: registered child processes are killed and
// registered paths unlinked (or rmdir'ed), newest first, so an interrupted run leaves no
// segment in /dev/shm and no redis-server behind. Unregister what was cleaned up normally.
void install_signal_cleanup();
void register_cleanup_path(const std::string& path);
void unregister_cleanup_path(const std::string& path);
void register_cleanup_pid(pid_t pid);
void unregister_cleanup_pid(pid_t pid);

// Runs a whole benchmark with engine E. Defined in harness_impl.hpp (included by engines).
template <class E>
int run_bench(const Config& cfg);

// Engine entry points (one per engine_*.cpp; absent ones are not compiled).
int run_shmkv(const Config&);  // engines shmkv, shmkv-tuned, shmkv-batch and shmkv-redis
int run_lmdb(const Config&);
int run_redis(const Config&);  // engine redis and redis-pipe
int run_boost_map(const Config&);
int run_null(const Config&);  // harness ceiling
int run_mutex_cost(const Config&);
int run_miss_cost(const Config&);

}  // namespace shmkv_bench
