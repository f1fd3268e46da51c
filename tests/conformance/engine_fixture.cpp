// engine_fixture.cpp: the conformance fixture (engine_fixture.hpp), and the Catch2 session
// implementation (CATCH_CONFIG_RUNNER: the executables' main calls run_suite).
#define CATCH_CONFIG_RUNNER
#include "conformance/engine_fixture.hpp"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

#include "test_util.hpp"

namespace conformance {
namespace {

Engine g_engine = Engine::shm;
std::unique_ptr<testutil::RedisServer> g_server;

}  // namespace

Engine engine() {
  return g_engine;
}

testutil::RedisServer& shared_server() {
  if (!g_server) throw std::logic_error("shared_server(): this run has no redis-server");
  return *g_server;
}

shmkv::Options store_options(std::uint32_t shm_shards) {
  shmkv::Options o;
  o.name = testutil::unique_name("c");
  if (on_redis()) {
    o.url = shared_server().url();
  } else {
    o.size_bytes = 16ull << 20;
    o.shards = shm_shards;
  }
  return o;
}

StoreGuard::~StoreGuard() {
  try {
    if (shmkv::Store::segment_exists(options_)) shmkv::Store::destroy(options_);
  } catch (...) {
  }
  if (options_.url.empty()) ::unlink(testutil::segment_path(options_.name).c_str());
}

int run_suite(int argc, char** argv, Engine engine) {
  g_engine = engine;
  if (engine == Engine::redis) {
    switch (testutil::redis_availability()) {
      case testutil::RedisAvailability::run:
        break;
      case testutil::RedisAvailability::skip:
        std::fprintf(stderr, "redis-server is not on PATH: skipping the redis run\n");
        return 77;
      case testutil::RedisAvailability::fail:
        std::fprintf(stderr, "redis-server is not on PATH: failing (SHMKV_REQUIRE_REDIS is set)\n");
        return 1;
    }
    try {
      g_server = std::make_unique<testutil::RedisServer>();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cannot start redis-server: %s\n", e.what());
      return 1;
    }
  }
  const int failed = Catch::Session().run(argc, argv);
  g_server.reset();
  return failed;
}

}  // namespace conformance
