// import_jsonl into a shared-memory store whose hash table is the limit: its store_full names
// the table's capacity. The engine-neutral JSONL cases are in tests/conformance/jsonl.cpp.
#include <sstream>
#include <string>

#include "test_util.hpp"

using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using namespace std::chrono;
using Opt = std::optional<std::string>;

TEST_CASE(
    "jsonl: many more lines than the store holds, for few keys, import (duplicates dropped "
    "as they pile up)",
    "[jsonl]") {
  SegmentGuard g(unique_name("j"));
  auto opt = small_options(g.name(), 1 << 20, 1);
  opt.max_keys = 40;
  opt.max_value_bytes = 1024;
  Store s = Store::open(opt);
  std::stringstream text;
  for (int i = 0; i < 5000; ++i)
    text << "{\"key\":\"k" << i % 3 << "\",\"value\":\"" << std::string(900, 'a' + i % 26)
         << "\"}\n";  // 5000 x 900 B: four times the arena, three keys
  shmkv::RestoreOptions ro;
  ro.max_entries = 3;
  auto r = shmkv::import_jsonl(s, text, ro);
  REQUIRE(r.entries == 3);
  REQUIRE(r.duplicates == 4997);
  REQUIRE(s.size() == 3);
  REQUIRE(s.get("k2") == Opt(std::string(900, 'a' + 4997 % 26)));
  // Distinct keys past what the store holds are refused as soon as they are, changing nothing.
  std::stringstream many;
  for (int i = 0; i < 100000; ++i) many << "{\"key\":\"m" << i << "\",\"value\":\"v\"}\n";
  auto o = outcome_of([&] { shmkv::import_jsonl(s, many); });
  REQUIRE(o == errc::store_full);
  REQUIRE(o.what.find("keys, all that store") != std::string::npos);
  const std::uint64_t capacity = s.info().max_keys * 90 / 100;  // table slots at 90 % load
  INFO(o.what);
  REQUIRE(o.what.find("more than " + std::to_string(capacity) + " keys") != std::string::npos);
  REQUIRE(o.what.find("at line " + std::to_string(2 * capacity + 1)) != std::string::npos);
  REQUIRE(s.size() == 3);
}
