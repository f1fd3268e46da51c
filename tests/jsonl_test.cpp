// export_jsonl / import_jsonl: the portable text form round-trips binary and UTF-8 keys and
// values and absolute expiry; a malformed line changes nothing.
#include <sstream>
#include <string>

#include "test_util.hpp"

using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using namespace std::chrono;
using Opt = std::optional<std::string>;

TEST_CASE("jsonl: round trip of text, binary, empty values and TTLs", "[jsonl]") {
  SegmentGuard g(unique_name("j"));
  Store s = Store::open(small_options(g.name()));
  s.set("plain", "value");
  s.set("quote\"back\\slash\nnl\ttab", "ctl\x01\x1f");
  s.set("utf8-\xc3\xa9\xe2\x82\xac", "\xf0\x9f\x98\x80");
  s.set(std::string("bin\0\xff", 5), std::string("\x80\x81\0", 3));
  s.set("empty", "");
  s.set("ttl", "x", 1h);
  std::stringstream text;
  auto r = shmkv::export_jsonl(s, text);
  REQUIRE(r.entries == 6);
  const std::string out = text.str();
  REQUIRE(out.find(R"({"key":"plain","value":"value"})") != std::string::npos);
  REQUIRE(out.find(R"("key_base64":"YmluAP8=","value_base64":"gIEA")") != std::string::npos);
  REQUIRE(out.find(R"("key":"quote\"back\\slash\nnl\ttab","value":"ctl\u0001\u001f")") !=
          std::string::npos);
  REQUIRE(out.find("\"expires_ms\":") != std::string::npos);

  SegmentGuard g2(unique_name("j"));
  Store t = Store::open(small_options(g2.name()));
  t.set("old", "gone");
  std::stringstream in(out);
  auto rr = shmkv::import_jsonl(t, in);
  REQUIRE(rr.entries == 6);
  REQUIRE(t.list() == s.list());
  REQUIRE(*t.ttl("ttl") > 59min);
  REQUIRE(t.get("old") == std::nullopt);
}

TEST_CASE("jsonl: hand-written input with escapes and whitespace", "[jsonl]") {
  SegmentGuard g(unique_name("j"));
  Store s = Store::open(small_options(g.name()));
  std::stringstream in(
      "  { \"value\" : \"caf\\u00e9 \\ud83d\\ude00\", \"key\":\"k1\" }\n"
      "\n"
      "{\"key\":\"k2\",\"value\":\"\\/\\b\\f\\r\",\"expires_ms\":0}\n");
  REQUIRE(shmkv::import_jsonl(s, in).entries == 2);
  REQUIRE(s.get("k1") == Opt("caf\xc3\xa9 \xf0\x9f\x98\x80"));
  REQUIRE(s.get("k2") == Opt("/\b\f\r"));
}

TEST_CASE("jsonl: a malformed line or an over-budget input changes nothing", "[jsonl]") {
  SegmentGuard g(unique_name("j"));
  Store s = Store::open(small_options(g.name()));
  s.set("keep", "me");
  for (const char* bad :
       {"{\"key\":\"a\",\"value\":\"b\"}\n{\"key\":\"c\"}\n",
        "{\"key\":\"a\",\"value\":\"b\"} trailing\n", "{\"key\":\"a\",\"value\":\"\\x\"}\n",
        "{\"key_base64\":\"@@@@\",\"value\":\"\"}\n", "{\"key\":\"\",\"value\":\"v\"}\n",
        "[1,2]\n"}) {
    std::stringstream in(bad);
    auto o = outcome_of([&] { shmkv::import_jsonl(s, in); });
    REQUIRE(o == errc::corrupted);
    REQUIRE(o.what.find("line ") != std::string::npos);
  }
  std::stringstream two("{\"key\":\"a\",\"value\":\"b\"}\n{\"key\":\"c\",\"value\":\"d\"}\n");
  shmkv::RestoreOptions ro;
  ro.max_entries = 1;
  REQUIRE_ERRC(shmkv::import_jsonl(s, two, ro), errc::limit_exceeded);
  REQUIRE(s.list() == std::vector<shmkv::Entry>{{"keep", "me"}});
}
