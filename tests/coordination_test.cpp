// Coordination on the shared-memory engine only: info()'s view of the segment's coordination
// table. The engine-neutral behaviour (claims, locks, permits, waits, barriers, with SIGKILLed
// holders) is in tests/conformance/coordination.cpp, run on every engine.
#include <unistd.h>

#include <map>
#include <string>

#include "test_util.hpp"

using shmkv::Claim;
using shmkv::Store;
using namespace testutil;
using namespace std::chrono_literals;

namespace {

constexpr auto kLongLease = 60s;

}  // namespace

TEST_CASE("info: the coordination table lists each grant and its holder", "[coord]") {
  SegmentGuard g(unique_name("co"));
  Store s = Store::open(small_options(g.name()));
  s.set("acct:42", "x");
  const Claim c = *s.claim("acct:42", kLongLease);
  const std::uint64_t t = *s.lock("leader-lock", kLongLease, 0ms);
  const shmkv::Info info = s.info();
  CHECK(info.coordination.used == 2);
  CHECK(info.coordination.capacity == 1792);
  CHECK(info.coordination.last_token == t);
  REQUIRE(info.coordination.grants.size() == 2);
  std::map<std::string, shmkv::GrantInfo> by_kind;
  for (const auto& gr : info.coordination.grants) by_kind[gr.kind] = gr;
  CHECK(by_kind["claim"].name_head == "acct:42");
  CHECK(by_kind["claim"].token == c.token);
  CHECK(by_kind["claim"].holder_pid == ::getpid());
  CHECK(by_kind["claim"].holder_alive);
  CHECK(by_kind["claim"].lease_left_ms > 0);
  CHECK(by_kind["lock"].name_head == "leader-l");  // the first 8 bytes
  CHECK(by_kind["lock"].name_bytes == 11);
  CHECK(s.release("acct:42", c.token));
  CHECK(s.unlock("leader-lock", t));
  CHECK(s.info().coordination.grants.empty());
}
