// Conformance, run on every engine: export_jsonl / import_jsonl through the public API. The
// portable text form round-trips binary and UTF-8 keys and values and absolute expiry; a
// malformed line changes nothing; xk6-kv's JSON document values import as their compact text and
// export back with json_values; a merge keeps other keys.
#include <sstream>
#include <string>

#include "conformance/engine_fixture.hpp"
#include "test_util.hpp"

using shmkv::errc;
using shmkv::Store;
using namespace testutil;
using conformance::StoreGuard;
using namespace std::chrono;
using Opt = std::optional<std::string>;

TEST_CASE("jsonl: round trip of text, binary, empty values and TTLs", "[jsonl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
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

  StoreGuard g2;
  Store t = Store::open(g2.options());
  t.set("old", "gone");
  std::stringstream in(out);
  auto rr = shmkv::import_jsonl(t, in);
  REQUIRE(rr.entries == 6);
  REQUIRE(t.list() == s.list());
  REQUIRE(*t.ttl("ttl") > 59min);
  REQUIRE(t.get("old") == std::nullopt);
}

TEST_CASE("jsonl: hand-written input with escapes and whitespace", "[jsonl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  std::stringstream in(
      "  { \"value\" : \"caf\\u00e9 \\ud83d\\ude00\", \"key\":\"k1\" }\n"
      "\n"
      "{\"key\":\"k2\",\"value\":\"\\/\\b\\f\\r\",\"expires_ms\":0}\n");
  REQUIRE(shmkv::import_jsonl(s, in).entries == 2);
  REQUIRE(s.get("k1") == Opt("caf\xc3\xa9 \xf0\x9f\x98\x80"));
  REQUIRE(s.get("k2") == Opt("/\b\f\r"));
}

TEST_CASE("jsonl: a malformed line or an over-budget input changes nothing", "[jsonl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
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

TEST_CASE("jsonl: invalid UTF-8 in a string is corrupted, naming line and column", "[jsonl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("keep", "me");
  struct Case {
    std::string line;
    std::string where;
  };
  for (const Case& c : std::vector<Case>{
           {"{\"key\":\"a\xff\",\"value\":\"v\"}", "line 1 column 10: invalid UTF-8 (byte 0xff)"},
           {"{\"key\":\"a\",\"value\":\"\xc0\xaf\"}",
            "line 1 column 21: invalid UTF-8 (byte 0xc0)"},
           {"{\"key\":\"a\",\"value\":\"x\xed\xa0\x80\"}", "column 22: invalid UTF-8 (byte 0xed)"},
           {"{\"key\":\"a\",\"value\":\"\xe2\x82\"}", "column 21: invalid UTF-8 (byte 0xe2)"},
           {"{\"key\":\"a\",\"value\":\"\x80\"}", "column 21: invalid UTF-8 (byte 0x80)"},
           {"{\"key\":\"ok\",\"value\":\"\xc3\xa9\"}\n{\"key\":\"b\xf8\",\"value\":\"\"}",
            "line 2 column 10: invalid UTF-8 (byte 0xf8)"},
       }) {
    std::stringstream in(c.line + "\n");
    auto o = outcome_of([&] { shmkv::import_jsonl(s, in); });
    INFO(escape(c.line));
    REQUIRE(o == errc::corrupted);
    REQUIRE(o.what.find(c.where) != std::string::npos);
  }
  REQUIRE(s.list() == std::vector<shmkv::Entry>{{"keep", "me"}});
}

TEST_CASE("jsonl: a field given twice is corrupted, naming line and column", "[jsonl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("keep", "me");
  struct Case {
    std::string line;
    std::string where;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"key":"a","key":"b","value":"v"})", "line 1 column 12: duplicate field \"key\""},
           {R"({"key":"a","key_base64":"Yg==","value":"v"})",
            "column 12: duplicate field \"key_base64\" (the key is already given)"},
           {R"({"key":"a","value":"v", "value_base64":"dw=="})",
            "column 25: duplicate field \"value_base64\""},
           {R"({"key":"a","value":"v","expires_ms":0,"expires_ms":1})",
            "column 39: duplicate field \"expires_ms\""},
       }) {
    std::stringstream in(c.line + "\n");
    auto o = outcome_of([&] { shmkv::import_jsonl(s, in); });
    INFO(c.line);
    REQUIRE(o == errc::corrupted);
    REQUIRE(o.what.find(c.where) != std::string::npos);
  }
  REQUIRE(s.list() == std::vector<shmkv::Entry>{{"keep", "me"}});
}

namespace {
// An endless line: `{"key":"k","value":"` then 'a' for ever. Counts what it hands out.
class EndlessLine : public std::streambuf {
 public:
  std::uint64_t served = 0;

 protected:
  int_type underflow() override {
    if (!started_) {
      std::string head = R"({"key":"k","value":")";
      std::copy(head.begin(), head.end(), buf_);
      std::fill(buf_ + head.size(), buf_ + sizeof buf_, 'a');
      started_ = true;
    } else {
      std::fill(buf_, buf_ + sizeof buf_, 'a');
    }
    served += sizeof buf_;
    setg(buf_, buf_, buf_ + sizeof buf_);
    return traits_type::to_int_type(buf_[0]);
  }

 private:
  char buf_[4096];
  bool started_ = false;
};
}  // namespace

TEST_CASE("jsonl: a line longer than any valid line is refused before it is read whole",
          "[jsonl]") {
  StoreGuard g;
  auto opt = g.options();
  opt.max_key_bytes = 100;
  opt.max_value_bytes = 1000;
  Store s = Store::open(opt);
  s.set("keep", "me");
  EndlessLine endless;
  std::istream in(&endless);
  auto o = outcome_of([&] { shmkv::import_jsonl(s, in); });
  REQUIRE(o == errc::value_too_large);
  // 6 * (100 + 1000) + 4096 = 10696
  REQUIRE(o.what.find("line 1 is longer than 10696 bytes") != std::string::npos);
  REQUIRE(o.what.find("max_key_bytes 100 and max_value_bytes 1000") != std::string::npos);
  REQUIRE(endless.served < 10696 + 2 * 65536);
  REQUIRE(s.list() == std::vector<shmkv::Entry>{{"keep", "me"}});
  // A long but valid line (every byte escaped) still imports.
  std::string value_escaped;
  for (int i = 0; i < 1000; ++i) value_escaped += "\\u0061";
  std::stringstream ok("{\"key\":\"" + std::string(100, 'k') + "\",  \"value\":\"" + value_escaped +
                       "\",\"expires_ms\":0}\n");
  REQUIRE(shmkv::import_jsonl(s, ok).entries == 1);
  REQUIRE(s.get(std::string(100, 'k')) == Opt(std::string(1000, 'a')));
}

TEST_CASE("jsonl: the malformed inputs of the audit keep their typed errors and change nothing",
          "[jsonl]") {
  StoreGuard g;
  auto opt = g.options();
  opt.max_key_bytes = 100;
  Store s = Store::open(opt);
  s.set("keep", "me");
  struct Case {
    std::string text;
    errc code;
  };
  const std::vector<Case> cases = {
      {R"({"value":"v"})", errc::corrupted},                                     // no key
      {R"({"key":"k"})", errc::corrupted},                                       // no value
      {R"({"key":"","value":"v"})", errc::corrupted},                            // empty key
      {std::string("{\"key\":\"a\0b\",\"value\":\"v\"}", 25), errc::corrupted},  // NUL in a string
      {std::string("{\"key\":\"a\",\"value\":\"v\"}\0", 24), errc::corrupted},   // NUL after it
      {R"({"key":"k","value":"v","expires_ms":99999999999999999999})", errc::corrupted},
      {R"({"key":"k","value":"v","expires_ms":-1})", errc::corrupted},
      {R"({"key":"k","value":05})", errc::corrupted},        // a number with a leading zero
      {R"({"key":"k","value":{"a":1,}})", errc::corrupted},  // a trailing comma in a document
      {R"({"key":"k","value":"\ud800"})", errc::corrupted},  // lone surrogate
      {R"({"key_base64":"!!!!","value":"v"})", errc::corrupted},
      {R"({"key":"k","value":"v","extra":1})", errc::corrupted},         // unknown field
      {"\xef\xbb\xbf{\"key\":\"k\",\"value\":\"v\"}", errc::corrupted},  // BOM
      {R"([{"key":"k","value":"v"}])", errc::corrupted},                 // top-level array
      {"{\"key\":\"a\",\"value\":\"b\"}\n{\"key\":", errc::corrupted},   // bad second line
      {"{\"key\":\"" + std::string(101, 'k') + "\",\"value\":\"v\"}", errc::key_too_long},
      {"{\"key\":\"a\",\"value\":\"" + std::string(opt.max_value_bytes + 1, 'v') + "\"}",
       errc::value_too_large},
      {"{\"key\":\"a\",\"value\":\"" + std::string(7 * (opt.max_value_bytes + 100), 'v') + "\"}",
       errc::value_too_large},                         // longer than any valid line
      {R"({"key":"k","value":"v")", errc::corrupted},  // unterminated object
  };
  for (const Case& c : cases) {
    std::stringstream in(c.text + "\n");
    auto o = outcome_of([&] { shmkv::import_jsonl(s, in); });
    INFO(escape(c.text.substr(0, 80)));
    REQUIRE(o == c.code);
    REQUIRE(o.what.find("line ") != std::string::npos);
  }
  REQUIRE(s.list() == std::vector<shmkv::Entry>{{"keep", "me"}});
}

TEST_CASE("jsonl: JSON document values (xk6-kv's) import as their compact text", "[jsonl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  std::stringstream in(
      "{\"key\":\"obj\",\"value\": { \"b\" : [ 1 , 2.5e-3 , -0 ] , \"a\":\"x\\u003c\\n\" } }\n"
      "{\"value\":[],\"key\":\"arr\"}\n"
      "{\"key\":\"num\",\"value\":-12.50E+2}\n"
      "{\"key\":\"t\",\"value\":true}\n"
      "{\"key\":\"nil\",\"value\":null ,\"expires_ms\":0}\n"
      "{\"key\":\"str\",\"value\":\"a\\u003cb\"}\n");
  auto r = shmkv::import_jsonl(s, in);
  REQUIRE(r.entries == 6);
  // Tokens as written (escapes, number spelling, member order), whitespace between them gone.
  REQUIRE(s.get("obj") == Opt(R"({"b":[1,2.5e-3,-0],"a":"x\u003c\n"})"));
  REQUIRE(s.get("arr") == Opt("[]"));
  REQUIRE(s.get("num") == Opt("-12.50E+2"));
  REQUIRE(s.get("t") == Opt("true"));
  REQUIRE(s.get("nil") == Opt("null"));
  REQUIRE(s.get("str") == Opt("a<b"));  // a string value is the string

  s.set("keep", "me");
  std::string deep(513, '[');
  deep += std::string(513, ']');
  for (const std::string& bad :
       {std::string(R"({"key":"k","value":[1 2]})"), std::string(R"({"key":"k","value":tru})"),
        std::string(R"({"key":"k","value":{1:2}})"), std::string(R"({"key":"k","value":1.})"),
        std::string(R"({"key":"k","value":-})"), std::string(R"({"key":"k","value":+1})"),
        std::string(R"({"key":"k","value":["\x"]})"), std::string(R"({"key":"k","value":{"a"}})"),
        std::string("{\"key\":\"k\",\"value\":[\"\xff\"]}"),
        "{\"key\":\"k\",\"value\":" + deep + "}"}) {
    std::stringstream text(bad + "\n");
    auto o = outcome_of([&] { shmkv::import_jsonl(s, text); });
    INFO(escape(bad.substr(0, 80)));
    REQUIRE(o == errc::corrupted);
    REQUIRE(o.what.find("line 1 column ") != std::string::npos);
  }
  std::stringstream deep_text("{\"key\":\"k\",\"value\":" + deep + "}\n");
  auto o = outcome_of([&] { shmkv::import_jsonl(s, deep_text); });
  REQUIRE(o.what.find("nested deeper than 512 levels") != std::string::npos);
  REQUIRE(s.get("keep") == Opt("me"));
  REQUIRE(s.size() == 7);
}

TEST_CASE("jsonl: json_values writes JSON documents as documents and reads back byte-exact",
          "[jsonl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("doc", R"({"a":[1,{"b":null}],"c":"\u003c"})");
  s.set("num", "42");
  s.set("neg", "-0.5e10");
  s.set("f", "false");
  // Values that only look like JSON stay strings: blanks, a string document, bad numbers,
  // trailing bytes, not UTF-8, text.
  for (const std::string& v :
       {std::string(R"({ "a": 1 })"), std::string(R"("quoted")"), std::string("01"),
        std::string("1."), std::string("nullx"), std::string("[1,]"), std::string("{}\n"),
        std::string("[\"\xff\"]"), std::string("text"), std::string("")})
    s.set("like:" + escape(v), v);
  std::stringstream plain, docs;
  shmkv::export_jsonl(s, plain);
  shmkv::export_jsonl(s, docs, {.json_values = true});
  REQUIRE(plain.str().find(R"({"key":"num","value":"42"})") != std::string::npos);
  const std::string out = docs.str();
  REQUIRE(out.find(R"({"key":"num","value":42})") != std::string::npos);
  REQUIRE(out.find(R"({"key":"doc","value":{"a":[1,{"b":null}],"c":"\u003c"}})") !=
          std::string::npos);
  REQUIRE(out.find(R"({"key":"f","value":false})") != std::string::npos);
  REQUIRE(out.find(R"("value":"{ \"a\": 1 }")") != std::string::npos);
  REQUIRE(out.find(R"("value":"\"quoted\"")") != std::string::npos);
  REQUIRE(out.find(R"("value":"01")") != std::string::npos);

  StoreGuard g2;
  Store t = Store::open(g2.options());
  REQUIRE(shmkv::import_jsonl(t, docs).entries == s.size());
  REQUIRE(t.list() == s.list());
}

TEST_CASE("jsonl: merge adds to the store, counting keys stored, duplicates and expired apart",
          "[jsonl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  s.set("keep", "me");
  s.set("a", "old", 1h);
  const auto now_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  std::stringstream in(
      "{\"key\":\"a\",\"value\":\"1\"}\n"
      "{\"key\":\"b\",\"value\":{\"n\":2}}\n"
      "{\"key\":\"a\",\"value\":\"3\"}\n"
      "{\"key\":\"ttl\",\"value\":\"t\",\"expires_ms\":" +
      std::to_string(now_ms + 3'600'000) +
      "}\n"
      "{\"key\":\"gone\",\"value\":\"g\",\"expires_ms\":1}\n");
  shmkv::JsonlImportOptions merge;
  merge.merge = true;
  auto r = shmkv::import_jsonl(s, in, merge);
  REQUIRE(r.entries == 3);  // a, b, ttl
  REQUIRE(r.duplicates == 1);
  REQUIRE(r.expired == 1);
  REQUIRE(r.bytes == 2 + 8 + 4);
  REQUIRE(s.list() ==
          std::vector<shmkv::Entry>{{"a", "3"}, {"b", R"({"n":2})"}, {"keep", "me"}, {"ttl", "t"}});
  REQUIRE(s.ttl("a") == milliseconds(0));  // the line's entry has no expiry: the old TTL is gone
  REQUIRE(*s.ttl("ttl") > 59min);
  REQUIRE(*s.ttl("ttl") <= 60min);

  // A bad line anywhere changes nothing, merge or not; so does an over-budget input.
  std::stringstream bad("{\"key\":\"c\",\"value\":\"4\"}\n{\"key\":\"d\"}\n");
  REQUIRE_ERRC(shmkv::import_jsonl(s, bad, merge), errc::corrupted);
  std::stringstream two("{\"key\":\"c\",\"value\":\"4\"}\n{\"key\":\"d\",\"value\":\"5\"}\n");
  merge.limits.max_entries = 1;
  REQUIRE_ERRC(shmkv::import_jsonl(s, two, merge), errc::limit_exceeded);
  REQUIRE(s.size() == 4);
  REQUIRE(s.get("c") == std::nullopt);
}
