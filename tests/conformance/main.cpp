// main.cpp: the conformance suite's entry point. SHMKV_TEST_ENGINE (shm, the default, or redis)
// picks the engine every case runs on; ctest runs the suite once per engine (conformance_shm,
// conformance_redis).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "conformance/engine_fixture.hpp"

int main(int argc, char** argv) {
  const char* name = std::getenv("SHMKV_TEST_ENGINE");
  const std::string engine = name ? name : "shm";
  if (engine != "shm" && engine != "redis") {
    std::fprintf(stderr, "SHMKV_TEST_ENGINE is '%s'; it must be shm or redis\n", engine.c_str());
    return 2;
  }
  return conformance::run_suite(
      argc, argv, engine == "redis" ? conformance::Engine::redis : conformance::Engine::shm);
}
