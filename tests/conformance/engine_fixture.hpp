// engine_fixture.hpp: what the conformance suite (tests/conformance/) and the Redis engine's own
// tests (tests/redis_engine_test.cpp) stand on.
//
// - The engine under test, chosen once per process: SHMKV_TEST_ENGINE=shm (the default) or redis.
// - store_options(): Options for a new store of that engine with a unique name
//   (testutil::unique_name), on the process's own redis-server for the redis engine; a forked
//   child opens its own Store with the same Options.
// - StoreGuard: removes the store with Store::destroy(options) when it goes out of scope.
// - shared_server(): the redis run's one redis-server (testutil::RedisServer, redis_server.hpp),
//   which stores share under their unique names. Tests that kill, stop, restart or reconfigure a
//   server start their own.
// - run_suite(): the Catch2 session, wrapped in the shared server for the redis engine. When
//   testutil::redis_availability() says redis-server is missing, a redis run exits 77 (ctest's
//   SKIP_RETURN_CODE), or fails when SHMKV_REQUIRE_REDIS is set (CI and the README's test
//   command set it to 1).
#pragma once

#include <cstdint>

#include "redis_server.hpp"
#include "shmkv/shmkv.hpp"

namespace conformance {

enum class Engine { shm, redis };

// The engine of this run (set by run_suite).
Engine engine();
inline bool on_redis() {
  return engine() == Engine::redis;
}

// The server of this process's redis run (started by run_suite).
testutil::RedisServer& shared_server();

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
