// engine_fixture.hpp: what the conformance suite (tests/conformance/) and the Redis engine's own
// tests (tests/redis_engine_test.cpp) stand on.
//
// - The engine under test, chosen once per process: SHMKV_TEST_ENGINE=shm (the default) or redis.
// - store_options(): Options for a new store of that engine with a unique name
//   (testutil::unique_name), on the process's own redis-server for the redis engine; a forked
//   child opens its own Store with the same Options.
// - StoreGuard: removes the store with Store::destroy(options) when it goes out of scope.
// - RedisServer: a redis-server child of this process, `redis-server --port 0 --unixsocket
//   <mkdtemp dir>/redis.sock --save '' --appendonly no` (never TCP, never shared with another
//   process), answered PING within 10 s, stopped with SHUTDOWN NOSAVE and its directory removed.
//   Tests that kill, stop, restart or reconfigure a server start their own.
// - run_suite(): the Catch2 session, wrapped in the shared server for the redis engine. Without
//   redis-server on PATH a redis run exits 77 (ctest's SKIP_RETURN_CODE), or fails when
//   SHMKV_REQUIRE_REDIS=1 (CI and the README's test command set it).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "shmkv/shmkv.hpp"

namespace conformance {

enum class Engine { shm, redis };

// The engine of this run (set by run_suite).
Engine engine();
inline bool on_redis() {
  return engine() == Engine::redis;
}

class RedisServer {
 public:
  // Starts the server with the arguments above plus `extra` (e.g. {"--maxmemory-policy",
  // "allkeys-lru"}) and waits for its PING. Raises std::runtime_error when it does not answer.
  explicit RedisServer(std::vector<std::string> extra = {});
  ~RedisServer();  // stop(), then removes the directory
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::string url() const { return "unix://" + socket_; }
  const std::string& socket_path() const { return socket_; }
  pid_t pid() const { return pid_; }

  // One command on a connection of its own, binary safe. Returns the reply as text: a string or
  // status as is, an integer in decimal, nil as "(nil)", an error as "(error) <text>", an array
  // as its elements so rendered, one per line. Raises std::runtime_error when unreachable.
  std::string command(const std::vector<std::string>& args) const;

  // SIGKILL and reap: gone at once, its socket file left behind (as after a crash).
  void kill_now();
  // Starts it again, on the same socket with the same arguments (after kill_now or stop).
  void restart();
  // SHUTDOWN NOSAVE (after SIGCONT, in case it is stopped), then waits for it (SIGKILL after
  // 10 s). Does nothing when it is not running.
  void stop();

 private:
  void start();
  bool answers_ping() const;

  std::string dir_, socket_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

// The server of this process's redis run (started by run_suite).
RedisServer& shared_server();

// Options for a new store on this run's engine, with a unique name (testutil::unique_name). On
// shared memory a 16 MiB segment of shm_shards shards (a case whose point is keys spread over
// many shards asks for more); on Redis the shared server's url and nothing else.
shmkv::Options store_options(std::uint32_t shm_shards = 4);

class StoreGuard {
 public:
  explicit StoreGuard(shmkv::Options options = store_options()) : options_(std::move(options)) {}
  StoreGuard(const StoreGuard&) = delete;
  StoreGuard& operator=(const StoreGuard&) = delete;
  ~StoreGuard();  // Store::destroy(options) when the store exists; errors are ignored

  const shmkv::Options& options() const { return options_; }

 private:
  shmkv::Options options_;
};

// Runs the Catch2 session on `engine` and returns main's exit code (77: skipped).
int run_suite(int argc, char** argv, Engine engine);

}  // namespace conformance
