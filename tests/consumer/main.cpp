// consumer: uses the installed shmkv package; exits 0 when a set/get round trip works.
#include <unistd.h>

#include <cstdio>
#include <shmkv/shmkv.hpp>
#include <string>

int main() {
  shmkv::Options o;
  o.name = "consumer-" + std::to_string(getpid());
  o.size_bytes = 4 << 20;
  o.max_value_bytes = 4096;
  {
    shmkv::Store s = shmkv::Store::open(o);
    s.set("hello", "world");
    if (s.get("hello") != std::optional<std::string>("world")) return 1;
    if (s.increment_by("n", 2) != 2) return 1;
  }
  shmkv::Store::destroy(o.name);
  std::printf("consumer: shmkv %s works\n", shmkv::kVersionString);
  return 0;
}
