// c_api_test.cpp: the C API (shmkv/shmkv.h): codes and messages, the buffer protocol, every
// operation family, read-only handles, handles inherited across fork(), processes sharing a store,
// a store on a Redis server opened by url (a redis-server of the test's own, redis_server.hpp).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "persist_test_util.hpp"
#include "redis_server.hpp"
#include "shmkv/shmkv.h"
#include "test_util.hpp"

namespace {

using testutil::SegmentGuard;
using testutil::unique_name;

// An open handle that closes itself; the segment is destroyed by a SegmentGuard declared first.
struct Handle {
  shmkv_store* s = nullptr;
  Handle(const std::string& name, int open_mode = SHMKV_CREATE_OR_ATTACH,
         std::uint32_t max_key_bytes = 64, std::uint32_t max_value_bytes = 4096) {
    shmkv_options o;
    shmkv_options_init(&o);
    o.open_mode = open_mode;
    o.size_bytes = 8u << 20;
    o.shards = 4;
    o.max_key_bytes = max_key_bytes;
    o.max_value_bytes = max_value_bytes;
    int rc = shmkv_open(name.c_str(), &o, sizeof o, &s);
    INFO(shmkv_last_error());
    REQUIRE(rc == SHMKV_OK);
    REQUIRE(s != nullptr);
  }
  ~Handle() { shmkv_close(s); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  operator shmkv_store*() const { return s; }
};

int Set(shmkv_store* s, std::string_view k, std::string_view v, std::int64_t ttl = 0) {
  return shmkv_set(s, k.data(), k.size(), v.data(), v.size(), ttl);
}

// Get through the buffer protocol with a retry on SHMKV_ETOOSMALL; "<absent>" if missing.
std::string Get(shmkv_store* s, std::string_view k) {
  std::vector<char> buf(4);
  for (;;) {
    std::size_t len = 0;
    int rc = shmkv_get(s, k.data(), k.size(), buf.data(), buf.size(), &len);
    if (rc == 1) return std::string(buf.data(), len);
    if (rc == 0) return "<absent>";
    REQUIRE(rc == SHMKV_ETOOSMALL);
    buf.resize(len);
  }
}

std::string LastError() {
  return shmkv_last_error();
}

struct Collected {
  std::vector<std::pair<std::string, std::string>> entries;
  std::size_t stop_after = 0;  // 0 = never stop
};

int Collect(void* ctx, const void* key, size_t key_len, const void* value, size_t value_len) {
  auto* c = static_cast<Collected*>(ctx);
  c->entries.emplace_back(std::string(static_cast<const char*>(key), key_len),
                          std::string(static_cast<const char*>(value), value_len));
  return c->stop_after != 0 && c->entries.size() >= c->stop_after ? 1 : 0;
}

}  // namespace

TEST_CASE("c_api: error codes mirror shmkv::errc, with names and descriptions") {
  for (int e = 0; e <= static_cast<int>(shmkv::errc::broken); ++e) {
    CHECK(std::string(shmkv_errname(-e)) == shmkv::errc_name(static_cast<shmkv::errc>(e)));
    CHECK(std::string(shmkv_strerror(-e)) != "unknown error code");
  }
  CHECK(SHMKV_EKEY_TOO_LONG == -static_cast<int>(shmkv::errc::key_too_long));
  CHECK(SHMKV_EOUTCOME_UNKNOWN == -static_cast<int>(shmkv::errc::outcome_unknown));
  CHECK(SHMKV_EBROKEN == -static_cast<int>(shmkv::errc::broken));
  CHECK(std::string(shmkv_errname(SHMKV_ETOOSMALL)) == "too_small");
  CHECK(std::string(shmkv_errname(SHMKV_ENOMEM)) == "no_memory");
  CHECK(std::string(shmkv_errname(-20)) == "unknown");
  CHECK(std::string(shmkv_errname(5)) == "unknown");
  CHECK(std::string(shmkv_strerror(-1000)) == "unknown error code");
  CHECK(std::string(shmkv_version()) == shmkv::kVersionString);
}

TEST_CASE("c_api: open, close, destroy, segment_exists") {
  SegmentGuard g(unique_name("capi"));
  CHECK(shmkv_segment_exists(g.name().c_str()) == 0);

  shmkv_store* s = nullptr;
  CHECK(shmkv_open(g.name().c_str(), nullptr, 0, nullptr) == SHMKV_EINVALID_ARGUMENT);
  CHECK(shmkv_open(nullptr, nullptr, 0, &s) == SHMKV_EINVALID_ARGUMENT);
  CHECK(LastError() == "segment name is NULL");
  CHECK(shmkv_open("bad/name", nullptr, 0, &s) == SHMKV_EINVALID_ARGUMENT);
  CHECK(s == nullptr);
  CHECK(LastError().find("bad/name") != std::string::npos);

  shmkv_options o;
  shmkv_options_init(&o);
  CHECK(o.size_bytes == shmkv::Options{}.size_bytes);
  CHECK(o.max_key_bytes == 1024);
  o.open_mode = 7;
  CHECK(shmkv_open(g.name().c_str(), &o, sizeof o, &s) == SHMKV_EINVALID_ARGUMENT);
  CHECK(LastError().find("open_mode 7") != std::string::npos);
  o.open_mode = SHMKV_ATTACH_ONLY;
  CHECK(shmkv_open(g.name().c_str(), &o, sizeof o, &s) == SHMKV_ENOT_FOUND);
  CHECK(shmkv_last_error_code() == SHMKV_ENOT_FOUND);
  CHECK(shmkv_open(g.name().c_str(), &o, sizeof o + 8, &s) == SHMKV_EINVALID_ARGUMENT);

  // A caller built against an older, shorter shmkv_options: the rest takes the defaults.
  o.open_mode = SHMKV_CREATE_ONLY;
  o.shards = 4;
  o.size_bytes = 4u << 20;
  o.max_key_bytes = 7;  // beyond the 16 bytes passed: ignored
  REQUIRE(shmkv_open(g.name().c_str(), &o, 16, &s) == SHMKV_OK);
  shmkv_info info;
  REQUIRE(shmkv_info_get(s, &info, sizeof info) == 0);
  CHECK(info.max_key_bytes == 1024);
  CHECK(info.shards == 4);
  CHECK(info.size_bytes == (4u << 20));
  CHECK(std::string(info.name) == g.name());
  CHECK(shmkv_segment_exists(g.name().c_str()) == 1);
  shmkv_store* second = s;
  CHECK(shmkv_open(g.name().c_str(), &o, sizeof o, &second) == SHMKV_EALREADY_EXISTS);
  CHECK(second == nullptr);  // *out is NULL after a failure
  shmkv_close(s);
  shmkv_close(nullptr);

  CHECK(shmkv_destroy(g.name().c_str()) == 0);
  CHECK(shmkv_destroy(g.name().c_str()) == SHMKV_ENOT_FOUND);
  CHECK(LastError().find(g.name()) != std::string::npos);
  CHECK(shmkv_segment_exists("bad name") == SHMKV_EINVALID_ARGUMENT);
}

TEST_CASE("c_api: single keys and the buffer protocol") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());

  CHECK(Set(s, "k", "value-1") == 0);
  CHECK(Get(s, "k") == "value-1");
  CHECK(Get(s, "nope") == "<absent>");
  CHECK(shmkv_exists(s, "k", 1) == 1);
  CHECK(shmkv_exists(s, "nope", 4) == 0);

  SECTION("NULL buffer asks for the size") {
    std::size_t len = 0;
    CHECK(shmkv_get(s, "k", 1, nullptr, 0, &len) == 1);
    CHECK(len == 7);
    CHECK(shmkv_get(s, "k", 1, nullptr, 5, &len) == SHMKV_EINVALID_ARGUMENT);
  }
  SECTION("a too-small buffer gets SHMKV_ETOOSMALL and the size, never a truncated value") {
    char buf[8];
    std::memset(buf, '#', sizeof buf);
    std::size_t len = 0;
    CHECK(shmkv_get(s, "k", 1, buf, 6, &len) == SHMKV_ETOOSMALL);
    CHECK(len == 7);
    CHECK(std::string(buf, 8) == "########");
    CHECK(LastError() == "value is 7 bytes; the buffer holds 6");
    CHECK(shmkv_last_error_code() == SHMKV_ETOOSMALL);
    CHECK(shmkv_get(s, "k", 1, buf, 7, &len) == 1);
    CHECK(std::string(buf, len) == "value-1");
  }
  SECTION("get_alloc") {
    void* v = nullptr;
    std::size_t len = 0;
    CHECK(shmkv_get_alloc(s, "k", 1, &v, &len) == 1);
    REQUIRE(v != nullptr);
    CHECK(std::string(static_cast<char*>(v)) == "value-1");  // NUL-terminated
    CHECK(len == 7);
    shmkv_free(v);
    CHECK(shmkv_get_alloc(s, "nope", 4, &v, &len) == 0);
    CHECK(v == nullptr);
    CHECK(shmkv_get_alloc(s, "k", 1, nullptr, &len) == SHMKV_EINVALID_ARGUMENT);
  }
  SECTION("binary keys and values, empty values") {
    std::string key("a\0b", 3), value("\0\xff\0", 3);
    CHECK(Set(s, key, value) == 0);
    CHECK(Get(s, key) == value);
    CHECK(Get(s, std::string_view("a", 1)) == "<absent>");
    CHECK(shmkv_set(s, "e", 1, nullptr, 0, 0) == 0);
    CHECK(Get(s, "e") == "");
  }
  SECTION("delete and set_if_absent") {
    CHECK(shmkv_delete(s, "k", 1) == 1);
    CHECK(shmkv_delete(s, "k", 1) == 0);
    CHECK(shmkv_set_if_absent(s, "k", 1, "a", 1, 0) == 1);
    CHECK(shmkv_set_if_absent(s, "k", 1, "b", 1, 0) == 0);
    CHECK(Get(s, "k") == "a");
  }
  SECTION("bad arguments are reported with the offending value") {
    std::string long_key(65, 'x');
    CHECK(Set(s, long_key, "v") == SHMKV_EKEY_TOO_LONG);
    CHECK(LastError() == "key is 65 bytes; max_key_bytes is 64");
    CHECK(Set(s, "", "v") == SHMKV_EINVALID_ARGUMENT);
    CHECK(LastError().find("key is empty") != std::string::npos);
    CHECK(Set(s, "k", std::string(4097, 'v')) == SHMKV_EVALUE_TOO_LARGE);
    CHECK(LastError() == "value is 4097 bytes; max_value_bytes is 4096");
    CHECK(shmkv_set(s, nullptr, 3, "v", 1, 0) == SHMKV_EINVALID_ARGUMENT);
    CHECK(LastError() == "key pointer is NULL but its length is 3");
    CHECK(shmkv_set(s, "k", 1, nullptr, 2, 0) == SHMKV_EINVALID_ARGUMENT);
    CHECK(shmkv_get(nullptr, "k", 1, nullptr, 0, nullptr) == SHMKV_EINVALID_ARGUMENT);
    CHECK(LastError() == "store handle is NULL");
    CHECK(Set(s, "k", "v", -5) == SHMKV_EINVALID_ARGUMENT);
    CHECK(LastError() == "ttl -5 ms is negative");
    CHECK(Get(s, "k") == "value-1");  // none of the failed calls changed anything
  }
}

TEST_CASE("c_api: last error is per thread and survives successful calls") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  CHECK(Set(s, "", "v") == SHMKV_EINVALID_ARGUMENT);
  std::string mine = LastError();
  CHECK(Set(s, "k", "v") == 0);
  CHECK(LastError() == mine);
  std::string theirs;
  int their_code = 0;
  std::thread t([&] {
    theirs = LastError();
    Set(s, std::string(100, 'k'), "v");
    their_code = shmkv_last_error_code();
  });
  t.join();
  CHECK(theirs.empty());
  CHECK(their_code == SHMKV_EKEY_TOO_LONG);
  CHECK(LastError() == mine);
  CHECK(shmkv_last_error_code() == SHMKV_EINVALID_ARGUMENT);
}

TEST_CASE("c_api: counters") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  std::int64_t r = 0;
  CHECK(shmkv_incr(s, "c", 1, 5, &r) == 0);
  CHECK(r == 5);
  CHECK(shmkv_incr(s, "c", 1, -7, &r) == 0);
  CHECK(r == -2);
  CHECK(shmkv_incr(s, "c", 1, 1, nullptr) == 0);
  CHECK(Get(s, "c") == "-1");
  Set(s, "t", "abc");
  CHECK(shmkv_incr(s, "t", 1, 1, &r) == SHMKV_ENOT_A_NUMBER);
  CHECK(LastError().find("'abc'") != std::string::npos);
  Set(s, "big", std::to_string(INT64_MAX));
  CHECK(shmkv_incr(s, "big", 3, 1, &r) == SHMKV_EOVERFLOW);
  CHECK(Get(s, "big") == std::to_string(INT64_MAX));
}

TEST_CASE("c_api: get_or_set, swap, cas, cad") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  char buf[32];
  std::size_t len = 0;

  CHECK(shmkv_get_or_set(s, "o", 1, "first", 5, buf, sizeof buf, &len) == 0);
  CHECK(len == 5);
  CHECK(shmkv_get_or_set(s, "o", 1, "second", 6, buf, sizeof buf, &len) == 1);
  CHECK(std::string(buf, len) == "first");
  CHECK(shmkv_get_or_set(s, "o", 1, "second", 6, nullptr, 0, &len) == 1);  // claim check only
  CHECK(len == 5);
  CHECK(shmkv_get_or_set(s, "o", 1, "second", 6, buf, 2, &len) == SHMKV_ETOOSMALL);
  CHECK(len == 5);
  CHECK(Get(s, "o") == "first");

  void* prev = nullptr;
  CHECK(shmkv_swap(s, "w", 1, "one", 3, &prev, &len) == 0);
  CHECK(prev == nullptr);
  CHECK(shmkv_swap(s, "w", 1, "two", 3, &prev, &len) == 1);
  REQUIRE(prev != nullptr);
  CHECK(std::string(static_cast<char*>(prev), len) == "one");
  shmkv_free(prev);
  CHECK(shmkv_swap(s, "w", 1, "three", 5, nullptr, nullptr) == 1);
  CHECK(Get(s, "w") == "three");

  CHECK(shmkv_cas(s, "c", 1, nullptr, 0, "v1", 2) == 1);  // NULL expected = absent
  CHECK(shmkv_cas(s, "c", 1, nullptr, 0, "v2", 2) == 0);
  CHECK(shmkv_cas(s, "c", 1, "v0", 2, "v2", 2) == 0);
  CHECK(shmkv_cas(s, "c", 1, "v1", 2, "", 0) == 1);
  CHECK(shmkv_cas(s, "c", 1, "", 0, "v3", 2) == 1);  // empty (non-NULL) expected value
  CHECK(Get(s, "c") == "v3");
  CHECK(shmkv_cas(s, "c", 1, nullptr, 2, "v4", 2) == SHMKV_EINVALID_ARGUMENT);

  CHECK(shmkv_cad(s, "c", 1, "nope", 4) == 0);
  CHECK(shmkv_cad(s, "c", 1, "v3", 2) == 1);
  CHECK(shmkv_exists(s, "c", 1) == 0);
  CHECK(shmkv_cad(s, "c", 1, "v3", 2) == 0);
}

TEST_CASE("c_api: TTL") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  std::int64_t ttl = -1;
  CHECK(shmkv_ttl(s, "k", 1, &ttl) == 0);
  Set(s, "k", "v");
  CHECK(shmkv_ttl(s, "k", 1, &ttl) == 1);
  CHECK(ttl == 0);
  CHECK(shmkv_expire(s, "k", 1, 60000) == 1);
  CHECK(shmkv_ttl(s, "k", 1, &ttl) == 1);
  CHECK(ttl > 50000);
  CHECK(ttl <= 60000);
  CHECK(shmkv_expire(s, "nope", 4, 100) == 0);
  CHECK(shmkv_expire(s, "k", 1, -1) == SHMKV_EINVALID_ARGUMENT);
  CHECK(Set(s, "short", "v", 30) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  CHECK(Get(s, "short") == "<absent>");
  CHECK(shmkv_expire(s, "k", 1, 0) == 1);
  CHECK(shmkv_ttl(s, "k", 1, &ttl) == 1);
  CHECK(ttl == 0);
}

TEST_CASE("c_api: list, scan, scan_buf, count, delete_prefix, clear") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  for (int i = 0; i < 25; ++i) {
    char k[16];
    std::snprintf(k, sizeof k, "p:%02d", i);
    Set(s, k, "v" + std::to_string(i));
  }
  Set(s, "q:0", "other");

  SECTION("list") {
    Collected c;
    std::size_t n = 0;
    CHECK(shmkv_list(s, "p:", 2, 0, Collect, &c, &n) == 0);
    CHECK(n == 25);
    REQUIRE(c.entries.size() == 25);
    CHECK(c.entries.front() == std::pair<std::string, std::string>("p:00", "v0"));
    CHECK(c.entries.back() == std::pair<std::string, std::string>("p:24", "v24"));
    Collected limited;
    CHECK(shmkv_list(s, "", 0, 3, Collect, &limited, &n) == 0);
    CHECK(n == 3);
    Collected stopped;
    stopped.stop_after = 2;
    CHECK(shmkv_list(s, nullptr, 0, 0, Collect, &stopped, &n) == 0);
    CHECK(n == 2);
    CHECK(stopped.entries.size() == 2);
    CHECK(shmkv_list(s, "", 0, 0, nullptr, nullptr, &n) == SHMKV_EINVALID_ARGUMENT);
  }
  SECTION("scan pages through every key once, in order") {
    std::vector<std::string> keys;
    std::string cursor;
    int done = 0, pages = 0;
    while (!done) {
      Collected c;
      char next[64];
      std::size_t next_len = 0;
      REQUIRE(shmkv_scan(s, "p:", 2, cursor.data(), cursor.size(), 10, Collect, &c, next,
                         sizeof next, &next_len, &done) == 0);
      for (auto& e : c.entries) keys.push_back(e.first);
      cursor.assign(next, next_len);
      ++pages;
    }
    CHECK(pages == 3);
    REQUIRE(keys.size() == 25);
    CHECK(std::set<std::string>(keys.begin(), keys.end()).size() == 25);
    CHECK(std::is_sorted(keys.begin(), keys.end()));
  }
  SECTION("scan reports a too-small cursor buffer before calling back") {
    Collected c;
    char next[2];
    std::size_t next_len = 0;
    int done = 0;
    CHECK(shmkv_scan(s, "p:", 2, nullptr, 0, 5, Collect, &c, next, sizeof next, &next_len, &done) ==
          SHMKV_ETOOSMALL);
    CHECK(next_len == 4);
    CHECK(c.entries.empty());
  }
  SECTION("scan_buf copies whole entries only and pages by the last key") {
    std::vector<unsigned char> buf(40);  // 8 + 4 + 2..3 per entry: 2 or 3 entries per page
    std::string cursor;
    std::vector<std::pair<std::string, std::string>> got;
    int done = 0;
    while (!done) {
      std::size_t used = 0, count = 0;
      REQUIRE(shmkv_scan_buf(s, "p:", 2, cursor.data(), cursor.size(), 0, buf.data(), buf.size(),
                             &used, &count, &done) == 0);
      REQUIRE(count > 0);
      std::size_t off = 0;
      for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t kl, vl;
        std::memcpy(&kl, &buf[off], 4);
        std::memcpy(&vl, &buf[off + 4], 4);
        off += 8;
        std::string k(reinterpret_cast<char*>(&buf[off]), kl);
        std::string v(reinterpret_cast<char*>(&buf[off + kl]), vl);
        off += kl + vl;
        got.emplace_back(k, v);
        cursor = k;
      }
      CHECK(off == used);
    }
    REQUIRE(got.size() == 25);
    CHECK(got[7] == std::pair<std::string, std::string>("p:07", "v7"));
    std::size_t used = 0, count = 0;
    CHECK(shmkv_scan_buf(s, "p:", 2, nullptr, 0, 0, buf.data(), 10, &used, &count, &done) ==
          SHMKV_ETOOSMALL);
    CHECK(used == 8 + 4 + 2);
    CHECK(shmkv_scan_buf(s, "p:", 2, nullptr, 0, 4, buf.data(), buf.size(), &used, &count, &done) ==
          0);
    CHECK(count == 2);  // 40 bytes hold 2 entries of 14..15
    CHECK(done == 0);
    CHECK(shmkv_scan_buf(s, "q:", 2, nullptr, 0, 0, buf.data(), buf.size(), &used, &count, &done) ==
          0);
    CHECK(count == 1);
    CHECK(done == 1);
  }
  SECTION("count, delete_prefix, clear, size") {
    std::uint64_t n = 0;
    CHECK(shmkv_count(s, "p:", 2, &n) == 0);
    CHECK(n == 25);
    CHECK(shmkv_size(s, &n) == 0);
    CHECK(n == 26);
    std::uint64_t deleted = 0;
    int done = 0;
    CHECK(shmkv_delete_prefix(s, "p:", 2, 5, &deleted, &done) == 0);
    CHECK(deleted == 5);
    CHECK(done == 0);
    CHECK(shmkv_delete_prefix(s, "p:", 2, 0, &deleted, &done) == 0);
    CHECK(deleted == 20);
    CHECK(done == 1);
    // An empty prefix is refused by the front (use shmkv_clear); nothing is deleted.
    CHECK(shmkv_delete_prefix(s, "", 0, 0, &deleted, &done) == SHMKV_EINVALID_ARGUMENT);
    CHECK(std::string(shmkv_last_error()).find("prefix is empty") != std::string::npos);
    CHECK(shmkv_delete_prefix(s, nullptr, 0, 3, &deleted, &done) == SHMKV_EINVALID_ARGUMENT);
    CHECK(shmkv_size(s, &n) == 0);
    CHECK(n == 1);
    CHECK(shmkv_clear(s) == 0);
    CHECK(shmkv_size(s, &n) == 0);
    CHECK(n == 0);
    CHECK(shmkv_size(s, nullptr) == SHMKV_EINVALID_ARGUMENT);
  }
}

TEST_CASE("c_api: random_key and pop_random") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  char buf[64];
  std::size_t len = 0;
  CHECK(shmkv_random_key(s, "", 0, buf, sizeof buf, &len) == 0);
  std::set<std::string> tokens;
  for (int i = 0; i < 20; ++i) {
    std::string k = "tok:" + std::to_string(i);
    tokens.insert(k);
    Set(s, k, "v" + std::to_string(i));
  }
  Set(s, "other", "x");
  CHECK(shmkv_random_key(s, "tok:", 4, buf, sizeof buf, &len) == 1);
  CHECK(tokens.count(std::string(buf, len)) == 1);
  CHECK(shmkv_random_key(s, "tok:", 4, buf, 3, &len) == SHMKV_ETOOSMALL);
  CHECK(len >= 5);

  std::set<std::string> popped;
  for (;;) {
    void *k = nullptr, *v = nullptr;
    std::size_t kl = 0, vl = 0;
    int rc = shmkv_pop_random(s, "tok:", 4, &k, &kl, &v, &vl);
    REQUIRE(rc >= 0);
    if (rc == 0) {
      CHECK(k == nullptr);
      break;
    }
    std::string key(static_cast<char*>(k), kl);
    CHECK(std::string(static_cast<char*>(v), vl) == "v" + key.substr(4));
    CHECK(popped.insert(key).second);
    shmkv_free(k);
    shmkv_free(v);
  }
  CHECK(popped == tokens);
  CHECK(shmkv_pop_random(s, "", 0, nullptr, nullptr, nullptr, nullptr) == 1);  // discard "other"
  CHECK(shmkv_pop_random(s, "", 0, nullptr, nullptr, nullptr, nullptr) == 0);
}

TEST_CASE("c_api: info, shards, processes, stats") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  Set(s, "a", "1");
  Get(s, "a");
  shmkv_info info;
  REQUIRE(shmkv_info_get(s, &info, sizeof info) == 0);
  CHECK(info.shards == 4);
  CHECK(info.max_key_bytes == 64);
  CHECK(info.max_value_bytes == 4096);
  CHECK(info.live_keys == 1);
  CHECK(info.processes >= 1);
  CHECK(info.layout_version > 0);
  CHECK(std::string(info.engine) == "shm");

  std::size_t count = 0;
  CHECK(shmkv_info_shards(s, nullptr, 0, &count) == 0);
  CHECK(count == 4);
  std::vector<shmkv_shard_info> shards(2);
  CHECK(shmkv_info_shards(s, shards.data(), shards.size(), &count) == SHMKV_ETOOSMALL);
  CHECK(count == 4);
  shards.resize(4);
  CHECK(shmkv_info_shards(s, shards.data(), shards.size(), &count) == 0);
  std::uint64_t live = 0;
  for (auto& si : shards) live += si.live_keys;
  CHECK(live == 1);

  std::vector<shmkv_process_info> procs(64);
  CHECK(shmkv_info_processes(s, procs.data(), procs.size(), &count) == 0);
  bool me = false;
  for (std::size_t i = 0; i < count; ++i) me |= procs[i].pid == ::getpid() && procs[i].alive;
  CHECK(me);

  shmkv_stats st;
  REQUIRE(shmkv_stats_get(s, &st, sizeof st) == 0);
  CHECK(st.sets >= 1);
  CHECK(st.hits >= 1);
  // A shorter (older) struct is filled only up to its size.
  std::uint64_t first_two[3] = {0, 0, 0xabcdef};
  CHECK(shmkv_stats_get(s, reinterpret_cast<shmkv_stats*>(first_two), 16) == 0);
  CHECK(first_two[2] == 0xabcdef);
  CHECK(shmkv_info_get(s, nullptr, sizeof info) == SHMKV_EINVALID_ARGUMENT);
}

TEST_CASE("c_api: read-only handles refuse mutations") {
  SegmentGuard g(unique_name("capi"));
  Handle w(g.name());
  Set(w, "k", "v");
  Handle r(g.name(), SHMKV_READ_ONLY);
  CHECK(Get(r, "k") == "v");
  CHECK(Set(r, "k", "x") == SHMKV_EREAD_ONLY);
  CHECK(LastError().find(g.name()) != std::string::npos);
  CHECK(shmkv_incr(r, "n", 1, 1, nullptr) == SHMKV_EREAD_ONLY);
  CHECK(shmkv_pop_random(r, "", 0, nullptr, nullptr, nullptr, nullptr) == SHMKV_EREAD_ONLY);
  CHECK(shmkv_pop_random_many(r, "", 0, 1, nullptr, nullptr) == SHMKV_EREAD_ONLY);
  const shmkv_range prefix_only{"k", 1, nullptr, 0, nullptr, 0};
  CHECK(shmkv_delete_range(r, &prefix_only, 0, nullptr, nullptr) == SHMKV_EREAD_ONLY);
  CHECK(Get(w, "k") == "v");
}

namespace {

std::vector<std::string> g_keys_seen;  // CollectKey's output (tests run one at a time)

int CollectKey(void*, const void* key, size_t key_len) {
  g_keys_seen.emplace_back(static_cast<const char*>(key), key_len);
  return 0;
}

shmkv_range Range(std::string_view prefix, std::string_view from, std::string_view to) {
  return shmkv_range{prefix.data(), prefix.size(), from.data(), from.size(), to.data(), to.size()};
}

// Records of a *_buf call or of shmkv_pop_random_many: (key, value) pairs, or keys alone (the
// value empty) when keys_only.
std::vector<std::pair<std::string, std::string>> ParseRecords(const void* buf, std::size_t used,
                                                              std::size_t count, bool keys_only) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto* p = static_cast<const char*>(buf);
  std::size_t off = 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t kl = 0, vl = 0;
    std::memcpy(&kl, p + off, 4);
    off += 4;
    if (!keys_only) {
      std::memcpy(&vl, p + off, 4);
      off += 4;
    }
    out.emplace_back(std::string(p + off, kl), std::string(p + off + kl, vl));
    off += kl + vl;
  }
  CHECK(off == used);
  return out;
}

}  // namespace

TEST_CASE("c_api: ranges on list, scan, scan_buf, count and delete_range; keys-only reads") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  for (const char* k : {"a:1", "a:2", "a:3", "b:1", "b:2", "c"}) Set(s, k, std::string("v") + k);
  const shmkv_range range = Range("", "a:2", "b:2");  // a:2, a:3, b:1

  SECTION("list_range and list_keys") {
    Collected c;
    std::size_t n = 0;
    CHECK(shmkv_list_range(s, &range, 0, Collect, &c, &n) == 0);
    CHECK(n == 3);
    REQUIRE(c.entries.size() == 3);
    CHECK(c.entries[0] == std::pair<std::string, std::string>("a:2", "va:2"));
    CHECK(c.entries[2].first == "b:1");
    g_keys_seen.clear();
    CHECK(shmkv_list_keys(s, &range, 2, CollectKey, nullptr, &n) == 0);
    CHECK(n == 2);
    CHECK(g_keys_seen == std::vector<std::string>{"a:2", "a:3"});
    const shmkv_range with_prefix = Range("b", "a", "b:2");
    g_keys_seen.clear();
    CHECK(shmkv_list_keys(s, &with_prefix, 0, CollectKey, nullptr, &n) == 0);
    CHECK(g_keys_seen == std::vector<std::string>{"b:1"});
    g_keys_seen.clear();
    CHECK(shmkv_list_keys(s, nullptr, 0, CollectKey, nullptr, &n) == 0);  // NULL = every key
    CHECK(n == 6);
    CHECK(shmkv_list_keys(s, &range, 0, nullptr, nullptr, &n) == SHMKV_EINVALID_ARGUMENT);
  }
  SECTION("an inverted range fails naming both bounds; a NULL bound with a length fails") {
    const shmkv_range inverted = Range("", "b", "a\xff");
    Collected c;
    CHECK(shmkv_list_range(s, &inverted, 0, Collect, &c, nullptr) == SHMKV_EINVALID_ARGUMENT);
    CHECK(LastError().find("to 'a\\xff' is below from 'b'") != std::string::npos);
    std::uint64_t n = 0, deleted = 0;
    CHECK(shmkv_count_range(s, &inverted, &n) == SHMKV_EINVALID_ARGUMENT);
    CHECK(shmkv_delete_range(s, &inverted, 0, &deleted, nullptr) == SHMKV_EINVALID_ARGUMENT);
    shmkv_range null_from = Range("", "", "");
    null_from.from = nullptr;
    null_from.from_len = 3;
    CHECK(shmkv_count_range(s, &null_from, &n) == SHMKV_EINVALID_ARGUMENT);
    CHECK(LastError() == "from pointer is NULL but its length is 3");
    CHECK(shmkv_size(s, &n) == 0);
    CHECK(n == 6);
  }
  SECTION("scan_range and scan_keys page with a cursor until done") {
    std::vector<std::string> keys;
    std::string cursor;
    int done = 0, pages = 0;
    while (!done) {
      char next[64];
      std::size_t next_len = 0;
      g_keys_seen.clear();
      REQUIRE(shmkv_scan_keys(s, &range, cursor.data(), cursor.size(), 2, CollectKey, nullptr, next,
                              sizeof next, &next_len, &done) == 0);
      Collected c;
      int entries_done = 0;
      REQUIRE(shmkv_scan_range(s, &range, cursor.data(), cursor.size(), 2, Collect, &c, nullptr, 0,
                               nullptr, &entries_done) == 0);
      CHECK(entries_done == done);
      REQUIRE(c.entries.size() == g_keys_seen.size());
      for (std::size_t i = 0; i < c.entries.size(); ++i)
        CHECK(c.entries[i].first == g_keys_seen[i]);
      keys.insert(keys.end(), g_keys_seen.begin(), g_keys_seen.end());
      cursor.assign(next, next_len);
      ++pages;
    }
    CHECK(pages == 2);
    CHECK(keys == std::vector<std::string>{"a:2", "a:3", "b:1"});
  }
  SECTION("scan_buf_range and scan_keys_buf") {
    std::vector<unsigned char> buf(64);
    std::size_t used = 0, count = 0;
    int done = 0;
    REQUIRE(shmkv_scan_buf_range(s, &range, nullptr, 0, 0, buf.data(), buf.size(), &used, &count,
                                 &done) == 0);
    auto entries = ParseRecords(buf.data(), used, count, false);
    REQUIRE(entries.size() == 3);
    CHECK(entries[1] == std::pair<std::string, std::string>("a:3", "va:3"));
    CHECK(done == 1);
    REQUIRE(shmkv_scan_keys_buf(s, &range, "a:2", 3, 0, buf.data(), buf.size(), &used, &count,
                                &done) == 0);
    auto keys = ParseRecords(buf.data(), used, count, true);
    REQUIRE(keys.size() == 2);
    CHECK(keys[0].first == "a:3");
    CHECK(keys[1].first == "b:1");
    CHECK(used == 2 * (4 + 3));
    CHECK(done == 1);
    CHECK(shmkv_scan_keys_buf(s, &range, nullptr, 0, 0, buf.data(), 5, &used, &count, &done) ==
          SHMKV_ETOOSMALL);
    CHECK(used == 4 + 3);
  }
  SECTION("count_range and delete_range with a limit") {
    std::uint64_t n = 0, deleted = 0;
    int done = -1;
    CHECK(shmkv_count_range(s, &range, &n) == 0);
    CHECK(n == 3);
    CHECK(shmkv_delete_range(s, &range, 2, &deleted, &done) == 0);
    CHECK(deleted == 2);
    CHECK(done == 0);
    CHECK(shmkv_delete_range(s, &range, 0, &deleted, &done) == 0);
    CHECK(deleted == 1);
    CHECK(done == 1);
    CHECK(shmkv_count_range(s, nullptr, &n) == 0);
    CHECK(n == 3);
    CHECK(shmkv_delete_range(s, nullptr, 0, &deleted, &done) == SHMKV_EINVALID_ARGUMENT);
    const shmkv_range all = Range("", "", "");
    CHECK(shmkv_delete_range(s, &all, 0, &deleted, &done) == SHMKV_EINVALID_ARGUMENT);
    CHECK(shmkv_size(s, &n) == 0);
    CHECK(n == 3);
  }
}

TEST_CASE("c_api: pop_random_many returns distinct popped entries in one malloc'ed block") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  for (int i = 0; i < 10; ++i) Set(s, "job:" + std::to_string(i), "p" + std::to_string(i));
  Set(s, "other", "x");
  void* block = nullptr;
  std::size_t bytes = 0;
  REQUIRE(shmkv_pop_random_many(s, "job:", 4, 6, &block, &bytes) == 6);
  REQUIRE(block != nullptr);
  auto popped = ParseRecords(block, bytes, 6, false);
  shmkv_free(block);
  std::set<std::string> keys;
  for (const auto& [k, v] : popped) {
    CHECK(k.substr(0, 4) == "job:");
    CHECK(v == "p" + k.substr(4));
    CHECK(Get(s, k) == "<absent>");
    keys.insert(k);
  }
  CHECK(keys.size() == 6);
  CHECK(shmkv_pop_random_many(s, "job:", 4, 100, nullptr, &bytes) == 4);  // discarded
  CHECK(shmkv_pop_random_many(s, "job:", 4, 100, &block, &bytes) == 0);
  CHECK(block == nullptr);
  CHECK(bytes == 0);
  CHECK(shmkv_pop_random_many(s, "", 0, 0, &block, &bytes) == SHMKV_EINVALID_ARGUMENT);
  CHECK(LastError().find("n is 0") != std::string::npos);
  CHECK(shmkv_pop_random_many(s, "", 0, 1000001, &block, &bytes) == SHMKV_EINVALID_ARGUMENT);
  CHECK(Get(s, "other") == "x");
}

TEST_CASE("c_api: no C++ exception crosses the API (a throwing callback)") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  Set(s, "k", "v");
  auto thrower = [](void*, const void*, size_t, const void*, size_t) -> int {
    throw std::runtime_error("boom");
  };
  CHECK(shmkv_list(s, "", 0, 0, thrower, nullptr, nullptr) == SHMKV_EIO_ERROR);
  CHECK(LastError() == "unexpected internal error: boom");
}

TEST_CASE("c_api: a handle inherited across fork() is closed in the child") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  Set(s, "k", "parent");
  int status = testutil::run_in_child([&] {
    if (Set(s, "k", "child") != SHMKV_ECLOSED) return 1;
    if (LastError().find("fork") == std::string::npos) return 2;
    shmkv_close(s.s);  // must not free the parent's registration
    shmkv_store* own = nullptr;
    if (shmkv_open(g.name().c_str(), nullptr, 0, &own) != 0) return 3;
    if (Set(own, "k", "child") != 0) return 4;
    shmkv_close(own);
    return 0;
  });
  CHECK(status == 0);
  CHECK(Get(s, "k") == "child");
  std::vector<shmkv_process_info> procs(64);
  std::size_t count = 0;
  REQUIRE(shmkv_info_processes(s, procs.data(), procs.size(), &count) == 0);
  bool me = false;
  for (std::size_t i = 0; i < count; ++i) me |= procs[i].pid == ::getpid();
  CHECK(me);
}

TEST_CASE("c_api: processes share one store (counters, get_or_set claims, pop_random)") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  constexpr int kChildren = 4, kIncrements = 500, kIds = 200, kTokens = 300;
  for (int i = 0; i < kTokens; ++i) Set(s, "token:" + std::to_string(i), "t");
  testutil::SharedArray<int> popped(kTokens);
  testutil::SharedArray<int> claimed(kIds);
  auto statuses = testutil::run_children(kChildren, [&](int child) {
    shmkv_store* own = nullptr;
    if (shmkv_open(g.name().c_str(), nullptr, 0, &own) != 0) return 10;
    for (int i = 0; i < kIncrements; ++i)
      if (shmkv_incr(own, "hits", 4, 1, nullptr) != 0) return 11;
    for (int id = 0; id < kIds; ++id) {
      std::string k = "order:" + std::to_string(id), v = std::to_string(child);
      int rc = shmkv_get_or_set(own, k.data(), k.size(), v.data(), v.size(), nullptr, 0, nullptr);
      if (rc < 0) return 12;
      if (rc == 0) __atomic_add_fetch(&claimed[id], 1, __ATOMIC_RELAXED);
    }
    for (;;) {
      void* k = nullptr;
      std::size_t kl = 0;
      int rc = shmkv_pop_random(own, "token:", 6, &k, &kl, nullptr, nullptr);
      if (rc < 0) return 13;
      if (rc == 0) break;
      int i = std::stoi(std::string(static_cast<char*>(k) + 6, kl - 6));
      __atomic_add_fetch(&popped[i], 1, __ATOMIC_RELAXED);
      shmkv_free(k);
    }
    shmkv_close(own);
    return 0;
  });
  for (int st : statuses) CHECK(st == 0);
  CHECK(Get(s, "hits") == std::to_string(kChildren * kIncrements));
  int bad_claims = 0, bad_pops = 0;
  for (int i = 0; i < kIds; ++i) bad_claims += claimed[i] != 1;
  for (int i = 0; i < kTokens; ++i) bad_pops += popped[i] != 1;
  CHECK(bad_claims == 0);
  CHECK(bad_pops == 0);
}

TEST_CASE("c_api: backup and restore") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  for (int i = 0; i < 50; ++i)
    REQUIRE(Set(s, "k" + std::to_string(i), "v" + std::to_string(i)) == 0);
  std::string path = "/tmp/shmkv-capi-backup-" + std::to_string(getpid());
  std::uint64_t entries = 0, bytes = 0;
  REQUIRE(shmkv_backup(s, path.c_str(), &entries, &bytes) == SHMKV_OK);
  CHECK(entries == 50);
  CHECK(bytes > 0);
  REQUIRE(shmkv_clear(s) == SHMKV_OK);
  REQUIRE(Set(s, "other", "x") == 0);
  // Over budget, missing, NULL: refused, nothing changes.
  CHECK(shmkv_restore(s, path.c_str(), 10, 0, nullptr, nullptr) == SHMKV_ELIMIT_EXCEEDED);
  CHECK(std::string(LastError()).find("10") != std::string::npos);
  CHECK(shmkv_restore(s, "/tmp/shmkv-no-such-backup", 0, 0, nullptr, nullptr) == SHMKV_ENOT_FOUND);
  CHECK(shmkv_restore(s, nullptr, 0, 0, nullptr, nullptr) == SHMKV_EINVALID_ARGUMENT);
  CHECK(Get(s, "other") == "x");
  REQUIRE(shmkv_restore(s, path.c_str(), 0, 0, &entries, &bytes) == SHMKV_OK);
  CHECK(entries == 50);
  CHECK(Get(s, "k7") == "v7");
  CHECK(Get(s, "other") == "<absent>");
  std::remove(path.c_str());
}

namespace {

// shmkv_get_many's block: per key uint32_t found, uint32_t value_len, value; nullopt = absent.
std::vector<std::optional<std::string>> ParseValues(const void* block, std::size_t bytes,
                                                    std::size_t n) {
  std::vector<std::optional<std::string>> out;
  const auto* p = static_cast<const char*>(block);
  std::size_t off = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t found = 0, vl = 0;
    std::memcpy(&found, p + off, 4);
    std::memcpy(&vl, p + off + 4, 4);
    off += 8;
    if (found == 1)
      out.emplace_back(std::string(p + off, vl));
    else
      out.emplace_back(std::nullopt);
    off += vl;
  }
  CHECK(off == bytes);
  return out;
}

// A block of NUL-terminated messages.
std::vector<std::string> ParseMessages(const void* block, std::size_t bytes) {
  std::vector<std::string> out;
  const auto* p = static_cast<const char*>(block);
  for (std::size_t off = 0; off < bytes;) {
    out.emplace_back(p + off);
    off += out.back().size() + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("c_api: get_many, set_many, delete_many") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  const void* keys[] = {"a", "b\0b", "c"};
  const std::size_t key_lens[] = {1, 3, 1};
  const void* values[] = {"1", "", "33"};
  const std::size_t value_lens[] = {1, 0, 2};
  REQUIRE(shmkv_set_many(s, keys, key_lens, values, value_lens, 3, 60000) == SHMKV_OK);
  std::int64_t ttl = 0;
  CHECK(shmkv_ttl(s, "b\0b", 3, &ttl) == 1);
  CHECK(ttl > 0);

  const void* wanted[] = {"c", "missing", "b\0b", "a"};
  const std::size_t wanted_lens[] = {1, 7, 3, 1};
  void* block = nullptr;
  std::size_t bytes = 0, found = 0;
  REQUIRE(shmkv_get_many(s, wanted, wanted_lens, 4, &block, &bytes, &found) == SHMKV_OK);
  CHECK(found == 3);
  REQUIRE(block != nullptr);
  auto got = ParseValues(block, bytes, 4);
  shmkv_free(block);
  CHECK(got == std::vector<std::optional<std::string>>{"33", std::nullopt, "", "1"});

  // One bad key fails the whole batch, naming it, and nothing is written.
  const void* bad_keys[] = {"new", ""};
  const std::size_t bad_lens[] = {3, 0};
  CHECK(shmkv_set_many(s, bad_keys, bad_lens, values, value_lens, 2, 0) == SHMKV_EINVALID_ARGUMENT);
  CHECK(Get(s, "new") == "<absent>");
  const std::string long_key(65, 'k');
  const std::size_t long_lens[] = {3, long_key.size()};
  const void* long_keys[] = {"new", long_key.data()};
  CHECK(shmkv_set_many(s, long_keys, long_lens, values, value_lens, 2, 0) == SHMKV_EKEY_TOO_LONG);
  CHECK(LastError().find("65") != std::string::npos);
  CHECK(Get(s, "new") == "<absent>");
  CHECK(shmkv_set_many(s, keys, key_lens, values, value_lens, 3, -1) == SHMKV_EINVALID_ARGUMENT);
  CHECK(shmkv_get_many(s, nullptr, nullptr, 2, &block, &bytes, &found) == SHMKV_EINVALID_ARGUMENT);
  CHECK(LastError().find("n is 2") != std::string::npos);
  // An empty batch is no work, and no block.
  CHECK(shmkv_get_many(s, nullptr, nullptr, 0, &block, &bytes, &found) == SHMKV_OK);
  CHECK(block == nullptr);
  CHECK(found == 0);

  std::uint64_t deleted = 0;
  REQUIRE(shmkv_delete_many(s, wanted, wanted_lens, 4, &deleted) == SHMKV_OK);
  CHECK(deleted == 3);
  std::uint64_t size = 1;
  REQUIRE(shmkv_size(s, &size) == SHMKV_OK);
  CHECK(size == 0);
}

TEST_CASE("c_api: random_keys draws keys with the prefix, unique on request, within 1..1e6") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  for (int i = 0; i < 5; ++i) Set(s, "u:" + std::to_string(i), "v");
  Set(s, "other", "x");
  void* block = nullptr;
  std::size_t bytes = 0;
  REQUIRE(shmkv_random_keys(s, "u:", 2, 20, 0, &block, &bytes) == 20);
  auto drawn = ParseRecords(block, bytes, 20, true);
  shmkv_free(block);
  for (const auto& k : drawn) CHECK(k.first.substr(0, 2) == "u:");
  REQUIRE(shmkv_random_keys(s, "u:", 2, 20, 1, &block, &bytes) == 5);
  std::set<std::string> unique;
  for (const auto& k : ParseRecords(block, bytes, 5, true)) unique.insert(k.first);
  shmkv_free(block);
  CHECK(unique == std::set<std::string>{"u:0", "u:1", "u:2", "u:3", "u:4"});
  CHECK(shmkv_random_keys(s, "none:", 5, 3, 0, &block, &bytes) == 0);
  CHECK(block == nullptr);
  CHECK(shmkv_random_keys(s, "", 0, 0, 0, &block, &bytes) == SHMKV_EINVALID_ARGUMENT);
  CHECK(shmkv_random_keys(s, "", 0, 1000001, 0, &block, &bytes) == SHMKV_EINVALID_ARGUMENT);
  CHECK(LastError().find("1000001") != std::string::npos);
}

TEST_CASE("c_api: check_invariants reports each violation as a message") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  for (int i = 0; i < 100; ++i) Set(s, "k" + std::to_string(i), std::string(i, 'v'));
  const std::string marker = "capi-check-invariants-marker";
  Set(s, "damaged", marker);
  void* report = reinterpret_cast<void*>(1);
  std::size_t bytes = 7;
  CHECK(shmkv_check_invariants(s, &report, &bytes) == 0);
  CHECK(report == nullptr);
  CHECK(bytes == 0);
  // Flip a byte of the record's value in the segment: its checksum no longer matches.
  {
    std::FILE* f = std::fopen(testutil::segment_path(g.name()).c_str(), "r+b");
    REQUIRE(f != nullptr);
    std::string content;
    char chunk[1 << 16];
    for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;) content.append(chunk, n);
    const std::size_t at = content.find(marker);
    REQUIRE(at != std::string::npos);
    REQUIRE(std::fseek(f, static_cast<long>(at), SEEK_SET) == 0);
    REQUIRE(std::fputc('X', f) == 'X');
    std::fclose(f);
  }
  const int violations = shmkv_check_invariants(s, &report, &bytes);
  REQUIRE(violations >= 1);
  REQUIRE(report != nullptr);
  auto messages = ParseMessages(report, bytes);
  shmkv_free(report);
  CHECK(messages.size() == static_cast<std::size_t>(violations));
  INFO(messages.front());
  CHECK(messages.front().find("damaged") != std::string::npos);
  CHECK(shmkv_check_invariants(s, nullptr, nullptr) == violations);  // count only
  CHECK(shmkv_check_invariants(nullptr, &report, &bytes) == SHMKV_EINVALID_ARGUMENT);
}

TEST_CASE("c_api: cas, swap, get_or_set, set_if_absent take a TTL; incr keeps it") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  auto ttl_of = [&](std::string_view k) {
    std::int64_t ms = -1;
    REQUIRE(shmkv_ttl(s, k.data(), k.size(), &ms) == 1);
    return ms;
  };
  const std::int64_t hour = 3600000;
  REQUIRE(Set(s, "k", "v", hour) == 0);
  // A store without a TTL drops the key's (Redis SET / GETSET); with one, sets it.
  REQUIRE(shmkv_cas(s, "k", 1, "v", 1, "w", 1) == 1);
  CHECK(ttl_of("k") == 0);
  REQUIRE(shmkv_cas_ttl(s, "k", 1, "w", 1, "x", 1, hour) == 1);
  CHECK(ttl_of("k") > hour - 60000);
  CHECK(shmkv_cas_ttl(s, "k", 1, "nope", 4, "y", 1, 0) == 0);  // a lost CAS changes nothing
  CHECK(ttl_of("k") > hour - 60000);
  CHECK(shmkv_cas_ttl(s, "new", 3, nullptr, 0, "n", 1, hour) == 1);  // only if absent
  CHECK(ttl_of("new") > 0);
  CHECK(shmkv_cas_ttl(s, "k", 1, "x", 1, "y", 1, -5) == SHMKV_EINVALID_ARGUMENT);
  CHECK(Get(s, "k") == "x");

  void* previous = nullptr;
  std::size_t previous_len = 0;
  REQUIRE(shmkv_swap_ttl(s, "k", 1, "s", 1, 2 * hour, &previous, &previous_len) == 1);
  CHECK(std::string(static_cast<char*>(previous), previous_len) == "x");
  shmkv_free(previous);
  CHECK(ttl_of("k") > hour);
  REQUIRE(shmkv_swap(s, "k", 1, "t", 1, nullptr, nullptr) == 1);
  CHECK(ttl_of("k") == 0);

  // incr keeps a TTL.
  REQUIRE(Set(s, "n", "1", hour) == 0);
  REQUIRE(shmkv_incr(s, "n", 1, 1, nullptr) == 0);
  CHECK(ttl_of("n") > hour - 60000);

  char buf[16];
  std::size_t len = 0;
  REQUIRE(shmkv_get_or_set_ttl(s, "g", 1, "first", 5, hour, buf, sizeof buf, &len) == 0);
  CHECK(ttl_of("g") > hour - 60000);
  REQUIRE(shmkv_get_or_set_ttl(s, "g", 1, "second", 6, 0, buf, sizeof buf, &len) == 1);
  CHECK(std::string(buf, len) == "first");
  CHECK(ttl_of("g") > hour - 60000);  // loaded: the key keeps its TTL
  CHECK(shmkv_get_or_set_ttl(s, "h", 1, "v", 1, -1, buf, sizeof buf, &len) ==
        SHMKV_EINVALID_ARGUMENT);
  CHECK(Get(s, "h") == "<absent>");

  REQUIRE(shmkv_set_if_absent(s, "a", 1, "v", 1, hour) == 1);
  CHECK(ttl_of("a") > hour - 60000);
  REQUIRE(shmkv_set_if_absent(s, "a", 1, "w", 1, 0) == 0);
  CHECK(ttl_of("a") > hour - 60000);
}

namespace {

// Opens name with persistence in dir (a snapshot only when asked: interval one hour).
shmkv_store* OpenPersistent(const std::string& name, const std::string& dir,
                            int fsync_policy = SHMKV_FSYNC_ALWAYS) {
  shmkv_options o;
  shmkv_options_init(&o);
  o.size_bytes = 8u << 20;
  o.shards = 4;
  o.persistence_directory = dir.c_str();
  o.fsync_policy = fsync_policy;
  o.snapshot_interval_ms = 3600000;
  shmkv_store* s = nullptr;
  const int rc = shmkv_open(name.c_str(), &o, sizeof o, &s);
  INFO(shmkv_last_error());
  REQUIRE(rc == SHMKV_OK);
  return s;
}

}  // namespace

TEST_CASE("c_api: persistence options, sync, snapshot and the recovery report") {
  persisttest::TempDir dir;
  SegmentGuard g(unique_name("capi"));
  shmkv_options defaults;
  shmkv_options_init(&defaults);
  CHECK(defaults.persistence_directory == nullptr);
  CHECK(defaults.fsync_policy == SHMKV_FSYNC_INTERVAL);
  CHECK(defaults.keep_snapshots == 2);
  CHECK(defaults.snapshot_interval_ms == 30000);
  CHECK(defaults.fsync_interval_ms == 100);

  shmkv_options bad = defaults;
  bad.persistence_directory = dir.path.c_str();
  bad.fsync_policy = 7;
  shmkv_store* s = nullptr;
  CHECK(shmkv_open(g.name().c_str(), &bad, sizeof bad, &s) == SHMKV_EINVALID_ARGUMENT);
  CHECK(LastError().find("fsync_policy 7") != std::string::npos);
  bad.fsync_policy = SHMKV_FSYNC_NEVER;
  bad.snapshot_interval_ms = 0;
  CHECK(shmkv_open(g.name().c_str(), &bad, sizeof bad, &s) == SHMKV_EINVALID_ARGUMENT);
  CHECK(shmkv_segment_exists(g.name().c_str()) == 0);

  s = OpenPersistent(g.name(), dir.path);
  for (int i = 0; i < 20; ++i) REQUIRE(Set(s, "k" + std::to_string(i), "v") == 0);
  shmkv_recovery_report report{};
  REQUIRE(shmkv_recovery_report_get(s, &report, sizeof report, nullptr, nullptr) >= 0);
  CHECK(report.performed == 1);  // created from an empty directory
  std::uint64_t entries = 0, bytes = 0;
  REQUIRE(shmkv_snapshot(s, &entries, &bytes) == SHMKV_OK);
  CHECK(entries == 20);
  CHECK(bytes > 0);
  REQUIRE(Set(s, "after", "snapshot") == 0);  // in the journal only
  REQUIRE(shmkv_sync(s) == SHMKV_OK);
  shmkv_close(s);
  REQUIRE(shmkv_destroy(g.name().c_str()) == SHMKV_OK);

  // Recovered from the snapshot and the journal after it.
  s = OpenPersistent(g.name(), dir.path);
  void* messages = nullptr;
  std::size_t messages_len = 0;
  const int n = shmkv_recovery_report_get(s, &report, sizeof report, &messages, &messages_len);
  REQUIRE(n >= 2);
  auto texts = ParseMessages(messages, messages_len);
  shmkv_free(messages);
  CHECK(texts.size() == static_cast<std::size_t>(n));
  CHECK(report.performed == 1);
  CHECK(report.snapshot_entries == 20);
  CHECK(report.records_applied >= 1);
  CHECK(report.entries == 21);
  CHECK(texts[0].find("directory: ") == 0);
  CHECK(texts[1].find("snapshot: ") == 0);
  CHECK(Get(s, "after") == "snapshot");
  shmkv_close(s);

  // Memory only: sync does nothing, snapshot is refused, nothing was recovered.
  SegmentGuard mem(unique_name("capi"));
  Handle m(mem.name());
  CHECK(shmkv_sync(m) == SHMKV_OK);
  CHECK(shmkv_snapshot(m, nullptr, nullptr) == SHMKV_EINVALID_ARGUMENT);
  CHECK(shmkv_recovery_report_get(m, &report, sizeof report, &messages, &messages_len) == 0);
  CHECK(report.performed == 0);
  CHECK(messages == nullptr);
}

TEST_CASE("c_api: JSONL export and import") {
  persisttest::TempDir dir;
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  REQUIRE(Set(s, "text", "hello") == 0);
  REQUIRE(Set(s, std::string("bin\xff", 4), std::string("\0\1", 2)) == 0);
  const std::string path = dir.path + "/dump.jsonl";
  std::uint64_t entries = 0, bytes = 0, duplicates = 9;
  REQUIRE(shmkv_export_jsonl(s, path.c_str(), &entries, &bytes) == SHMKV_OK);
  CHECK(entries == 2);
  CHECK(bytes == 4 + 5 + 4 + 2);
  REQUIRE(shmkv_clear(s) == SHMKV_OK);
  REQUIRE(Set(s, "other", "x") == 0);
  REQUIRE(shmkv_import_jsonl(s, path.c_str(), 0, 0, &entries, &bytes, &duplicates) == SHMKV_OK);
  CHECK(entries == 2);
  CHECK(duplicates == 0);
  CHECK(Get(s, "text") == "hello");
  CHECK(Get(s, std::string("bin\xff", 4)) == std::string("\0\1", 2));
  CHECK(Get(s, "other") == "<absent>");  // replaced, as restore does

  const std::string dup = dir.path + "/dup.jsonl";
  {
    std::ofstream f(dup);
    f << "{\"key\":\"a\",\"value\":\"1\"}\n{\"key\":\"a\",\"value\":\"2\"}\n";
  }
  REQUIRE(shmkv_import_jsonl(s, dup.c_str(), 0, 0, &entries, nullptr, &duplicates) == SHMKV_OK);
  CHECK(entries == 1);
  CHECK(duplicates == 1);
  CHECK(Get(s, "a") == "2");

  // Refused: nothing changes.
  const std::string bad = dir.path + "/bad.jsonl";
  {
    std::ofstream f(bad);
    f << "{\"key\":\"b\",\"value\":\"1\"}\n{\"key\":\n";
  }
  CHECK(shmkv_import_jsonl(s, bad.c_str(), 0, 0, nullptr, nullptr, nullptr) == SHMKV_ECORRUPTED);
  CHECK(LastError().find("line 2") != std::string::npos);
  CHECK(shmkv_import_jsonl(s, (dir.path + "/none").c_str(), 0, 0, nullptr, nullptr, nullptr) ==
        SHMKV_ENOT_FOUND);
  CHECK(LastError().find("/none") != std::string::npos);
  CHECK(shmkv_import_jsonl(s, path.c_str(), 1, 0, nullptr, nullptr, nullptr) ==
        SHMKV_ELIMIT_EXCEEDED);
  CHECK(shmkv_import_jsonl(s, nullptr, 0, 0, nullptr, nullptr, nullptr) == SHMKV_EINVALID_ARGUMENT);
  CHECK(shmkv_export_jsonl(s, (dir.path + "/no/such/dir.jsonl").c_str(), nullptr, nullptr) < 0);
  CHECK(Get(s, "a") == "2");
  CHECK(Get(s, "b") == "<absent>");
}

TEST_CASE("c_api: cas_detailed returns the value that failed the comparison") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  REQUIRE(Set(s, "k", "a longer current value") == 0);
  char small[4];
  std::size_t len = 0;
  int present = -1;
  // Too small: nothing changed, *len = the size needed; a retry compares again.
  REQUIRE(shmkv_cas_detailed(s, "k", 1, "x", 1, "new", 3, 0, small, sizeof small, &len, &present) ==
          SHMKV_ETOOSMALL);
  CHECK(len == 22);
  std::vector<char> buf(len);
  REQUIRE(shmkv_cas_detailed(s, "k", 1, "x", 1, "new", 3, 0, buf.data(), buf.size(), &len,
                             &present) == 0);
  CHECK(present == 1);
  CHECK(std::string(buf.data(), len) == "a longer current value");
  // Absent key: present 0.
  REQUIRE(shmkv_cas_detailed(s, "gone", 4, "x", 1, "new", 3, 0, buf.data(), buf.size(), &len,
                             &present) == 0);
  CHECK(present == 0);
  CHECK(len == 0);
  CHECK(Get(s, "gone") == "<absent>");
  // Swapped, with a TTL: buf untouched, *len = the value's size.
  REQUIRE(shmkv_cas_detailed(s, "k", 1, "a longer current value", 22, "new", 3, 3600000, nullptr, 0,
                             &len, &present) == 1);
  CHECK(present == 1);
  CHECK(len == 3);
  CHECK(Get(s, "k") == "new");
  std::int64_t ttl = 0;
  CHECK(shmkv_ttl(s, "k", 1, &ttl) == 1);
  CHECK(ttl > 0);
  REQUIRE(shmkv_cas_detailed(s, "n", 1, nullptr, 0, "v", 1, 0, nullptr, 0, nullptr, nullptr) == 1);
  CHECK(shmkv_cas_detailed(s, "n", 1, nullptr, 3, "v", 1, 0, nullptr, 0, nullptr, nullptr) ==
        SHMKV_EINVALID_ARGUMENT);
}

namespace {
// Takes a malloc'ed copy of the C API (shmkv_free), "<null>" for NULL.
std::string Take(void* p, std::size_t n) {
  if (p == nullptr) return "<null>";
  std::string out(static_cast<const char*>(p), n);
  shmkv_free(p);
  return out;
}
}  // namespace

TEST_CASE("c_api: claims: claim, claim_random, renew, release, complete, fenced by tokens") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  void* v = &v;
  std::size_t vl = 7;
  std::uint64_t token = 7;
  CHECK(shmkv_claim(s, "acct:1", 6, 60000, &v, &vl, &token) == 0);  // absent: none, outs cleared
  CHECK(v == nullptr);
  CHECK(vl == 0);
  CHECK(token == 0);
  Set(s, "acct:1", "alice");
  REQUIRE(shmkv_claim(s, "acct:1", 6, 60000, &v, &vl, &token) == 1);
  CHECK(Take(v, vl) == "alice");
  CHECK(token > 0);
  CHECK(Get(s, "acct:1") == "alice");  // a claimed key stays visible
  CHECK(shmkv_claim(s, "acct:1", 6, 60000, nullptr, nullptr, nullptr) == 0);  // held
  void* k = nullptr;
  std::size_t kl = 0;
  std::uint64_t other = 0;
  CHECK(shmkv_claim_random(s, "acct:", 5, 60000, &k, &kl, nullptr, nullptr, &other) == 0);
  CHECK(k == nullptr);
  CHECK(shmkv_pop_random(s, "acct:", 5, nullptr, nullptr, nullptr, nullptr) == 0);

  // Fencing: a wrong token changes nothing.
  CHECK(shmkv_renew(s, "acct:1", 6, token + 1, 60000) == 0);
  CHECK(shmkv_release(s, "acct:1", 6, token + 1) == 0);
  CHECK(shmkv_complete(s, "acct:1", 6, token + 1) == 0);
  CHECK(shmkv_renew(s, "acct:1", 6, token, 60000) == 1);
  CHECK(shmkv_release(s, "acct:1", 6, token) == 1);
  CHECK(shmkv_release(s, "acct:1", 6, token) == 0);  // given back already

  REQUIRE(shmkv_claim_random(s, "acct:", 5, 60000, &k, &kl, &v, &vl, &other) == 1);
  CHECK(Take(k, kl) == "acct:1");
  CHECK(Take(v, vl) == "alice");
  CHECK(other > token);  // tokens only grow
  CHECK(shmkv_complete(s, "acct:1", 6, token) == 0);
  CHECK(shmkv_complete(s, "acct:1", 6, other) == 1);
  CHECK(Get(s, "acct:1") == "<absent>");

  // Bad arguments: typed errors naming the value, nothing claimed.
  Set(s, "acct:2", "bob");
  CHECK(shmkv_claim(s, "acct:2", 6, 0, nullptr, nullptr, &token) == SHMKV_EINVALID_ARGUMENT);
  CHECK(LastError().find("lease 0 ms") != std::string::npos);
  CHECK(shmkv_claim_random(s, "acct:", 5, -5, nullptr, nullptr, nullptr, nullptr, nullptr) ==
        SHMKV_EINVALID_ARGUMENT);
  CHECK(shmkv_renew(s, "acct:2", 6, 1, 0) == SHMKV_EINVALID_ARGUMENT);
  CHECK(shmkv_claim(s, nullptr, 3, 1000, nullptr, nullptr, nullptr) == SHMKV_EINVALID_ARGUMENT);
  CHECK(shmkv_claim(s, "acct:2", 6, 60000, nullptr, nullptr, &token) == 1);
  CHECK(shmkv_check_invariants(s, nullptr, nullptr) == 0);

  // info: the table's counts and the claim held, with this process as its live holder.
  shmkv_info info;
  REQUIRE(shmkv_info_get(s, &info, sizeof info) == 0);
  CHECK(info.coordination_used == 1);
  CHECK(info.coordination_capacity > 0);
  CHECK(info.coordination_last_token == token);
  std::size_t count = 0;
  CHECK(shmkv_info_grants(s, nullptr, 0, &count) == 0);
  CHECK(count == 1);
  std::vector<shmkv_grant_info> grants(count);
  CHECK(shmkv_info_grants(s, grants.data(), 0, &count) == SHMKV_ETOOSMALL);
  REQUIRE(shmkv_info_grants(s, grants.data(), grants.size(), &count) == 0);
  CHECK(std::string(grants[0].kind) == "claim");
  CHECK(std::string(grants[0].name_head, grants[0].name_head_len) == "acct:2");
  CHECK(grants[0].name_bytes == 6);
  CHECK(grants[0].token == token);
  CHECK(grants[0].holder_pid == ::getpid());
  CHECK(grants[0].holder_alive == 1);
  CHECK(grants[0].lease_left_ms > 0);
}

TEST_CASE("c_api: a SIGKILLed process's claim is free at the next attempt") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  Set(s, "acct:1", "alice");
  testutil::SharedArray<std::uint32_t> claimed(1);
  const pid_t holder = testutil::spawn_child([&]() -> int {
    shmkv_store* own = nullptr;
    if (shmkv_open(g.name().c_str(), nullptr, 0, &own) != 0) return 1;
    if (shmkv_claim(own, "acct:1", 6, 60000, nullptr, nullptr, nullptr) != 1) return 2;
    __atomic_store_n(&claimed[0], 1, __ATOMIC_RELEASE);
    ::pause();
    return 0;
  });
  while (__atomic_load_n(&claimed[0], __ATOMIC_ACQUIRE) == 0) std::this_thread::yield();
  CHECK(shmkv_claim(s, "acct:1", 6, 60000, nullptr, nullptr, nullptr) == 0);  // held by a live one
  REQUIRE(::kill(holder, SIGKILL) == 0);
  CHECK(testutil::wait_child(holder) == 128 + SIGKILL);
  // The lease has 60 s to run: only the holder's death frees the key.
  CHECK(shmkv_claim(s, "acct:1", 6, 60000, nullptr, nullptr, nullptr) == 1);
}

TEST_CASE("c_api: lock and acquire wait; a SIGKILLed holder lets the waiting parent in") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  testutil::SharedArray<std::uint32_t> held(1);
  // The child holds the lock and a permit of "db" (1 permit) until it is killed.
  const pid_t holder = testutil::spawn_child([&]() -> int {
    shmkv_store* own = nullptr;
    if (shmkv_open(g.name().c_str(), nullptr, 0, &own) != 0) return 1;
    std::uint64_t t = 0;
    if (shmkv_lock(own, "leader", 6, 60000, 0, &t) != 1 || t == 0) return 2;
    if (shmkv_acquire(own, "db", 2, 1, 0, &t) != 1 || t == 0) return 3;
    __atomic_store_n(&held[0], 1, __ATOMIC_RELEASE);
    ::pause();
    return 0;
  });
  while (__atomic_load_n(&held[0], __ATOMIC_ACQUIRE) == 0) std::this_thread::yield();
  std::uint64_t token = 7;
  CHECK(shmkv_lock(s, "leader", 6, 60000, 30, &token) == 0);  // timed out: none
  CHECK(token == 0);
  CHECK(shmkv_acquire(s, "db", 2, 1, 0, &token) == 0);
  CHECK(token == 0);
  // The parent waits 20 s against the child's 60 s lease: only the child's death lets it in.
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::kill(holder, SIGKILL);
  });
  const int locked = shmkv_lock(s, "leader", 6, 60000, 20000, &token);
  killer.join();
  CHECK(testutil::wait_child(holder) == 128 + SIGKILL);
  REQUIRE(locked == 1);
  CHECK(token > 0);
  std::uint64_t permit = 0;
  CHECK(shmkv_acquire(s, "db", 2, 1, 20000, &permit) == 1);
  CHECK(permit > token);

  CHECK(shmkv_unlock(s, "leader", 6, token + 100) == 0);
  CHECK(shmkv_unlock(s, "leader", 6, token) == 1);
  CHECK(shmkv_unlock(s, "leader", 6, token) == 0);
  CHECK(shmkv_release_permit(s, "db", 2, permit) == 1);
  CHECK(shmkv_release_permit(s, "db", 2, permit) == 0);
  CHECK(shmkv_lock(s, "leader", 6, 60000, 0, nullptr) == 1);  // token may be discarded
  CHECK(shmkv_lock(s, "leader", 6, 0, 0, &token) == SHMKV_EINVALID_ARGUMENT);
  CHECK(shmkv_lock(s, "leader", 6, 1000, -1, &token) == SHMKV_EINVALID_ARGUMENT);
  CHECK(shmkv_acquire(s, "db", 2, 0, 0, &token) == SHMKV_EINVALID_ARGUMENT);
  CHECK(LastError().find("permits is 0") != std::string::npos);
  CHECK(shmkv_check_invariants(s, nullptr, nullptr) == 0);
}

TEST_CASE("c_api: wait_for and pop_random_wait wake when another process writes") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  CHECK(shmkv_wait_for(s, "ready", 5, 0) == 0);  // absent, do not wait
  void* k = &k;
  std::size_t kl = 9;
  CHECK(shmkv_pop_random_wait(s, "job:", 4, 0, &k, &kl, nullptr, nullptr) == 0);
  CHECK(k == nullptr);
  CHECK(kl == 0);
  CHECK(shmkv_wait_for(s, "ready", 5, -1) == SHMKV_EINVALID_ARGUMENT);
  // A child writes after a pause; the parent waits 20 s for each: only the writes end the waits.
  const pid_t writer = testutil::spawn_child([&]() -> int {
    shmkv_store* own = nullptr;
    if (shmkv_open(g.name().c_str(), nullptr, 0, &own) != 0) return 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (Set(own, "ready", "1") != 0) return 2;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (Set(own, "job:7", "payload") != 0) return 3;
    shmkv_close(own);
    return 0;
  });
  CHECK(shmkv_wait_for(s, "ready", 5, 20000) == 1);
  void* v = nullptr;
  std::size_t vl = 0;
  REQUIRE(shmkv_pop_random_wait(s, "job:", 4, 20000, &k, &kl, &v, &vl) == 1);
  CHECK(Take(k, kl) == "job:7");
  CHECK(Take(v, vl) == "payload");
  CHECK(testutil::wait_child(writer) == 0);
  CHECK(Get(s, "job:7") == "<absent>");
}

TEST_CASE("c_api: barrier gives each party an index; a SIGKILLed party breaks the round") {
  SegmentGuard g(unique_name("capi"));
  Handle s(g.name());
  std::uint32_t index = 9;
  CHECK(shmkv_barrier(s, "b", 1, 1, 0, &index) == 1);  // one party: passes at once
  CHECK(index == 0);
  CHECK(shmkv_barrier(s, "b", 1, 0, 0, &index) == SHMKV_EINVALID_ARGUMENT);
  CHECK(shmkv_barrier(s, "b", 1, 2, 0, &index) == 0);  // nobody else came
  testutil::SharedArray<std::uint32_t> arrived(1);
  const pid_t other = testutil::spawn_child([&]() -> int {
    shmkv_store* own = nullptr;
    if (shmkv_open(g.name().c_str(), nullptr, 0, &own) != 0) return 10;
    __atomic_store_n(&arrived[0], 1, __ATOMIC_RELEASE);
    std::uint32_t i = 9;
    const int rc = shmkv_barrier(own, "pair", 4, 2, 20000, &i);
    return rc == 1 ? static_cast<int>(i) : 11;
  });
  while (__atomic_load_n(&arrived[0], __ATOMIC_ACQUIRE) == 0) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // it has arrived and sleeps
  REQUIRE(shmkv_barrier(s, "pair", 4, 2, 20000, &index) == 1);
  const int other_index = testutil::wait_child(other);
  CHECK(std::set<int>{static_cast<int>(index), other_index} == std::set<int>{0, 1});

  // A party killed while the parent waits: SHMKV_EBROKEN for the parent, not a hang.
  __atomic_store_n(&arrived[0], 0, __ATOMIC_RELEASE);
  const pid_t victim = testutil::spawn_child([&]() -> int {
    shmkv_store* own = nullptr;
    if (shmkv_open(g.name().c_str(), nullptr, 0, &own) != 0) return 10;
    __atomic_store_n(&arrived[0], 1, __ATOMIC_RELEASE);
    return shmkv_barrier(own, "trio", 4, 3, 60000, nullptr);
  });
  while (__atomic_load_n(&arrived[0], __ATOMIC_ACQUIRE) == 0) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // it has arrived and sleeps
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::kill(victim, SIGKILL);
  });
  const int broken = shmkv_barrier(s, "trio", 4, 3, 20000, &index);
  killer.join();
  CHECK(testutil::wait_child(victim) == 128 + SIGKILL);
  CHECK(broken == SHMKV_EBROKEN);
  CHECK(shmkv_barrier(s, "trio", 4, 1, 0, &index) == 1);  // the next round starts fresh
  CHECK(shmkv_check_invariants(s, nullptr, nullptr) == 0);
}

TEST_CASE("c_api: a store on a Redis server, opened by url") {
  switch (testutil::redis_availability()) {
    case testutil::RedisAvailability::run:
      break;
    case testutil::RedisAvailability::skip:
      WARN("skipped: redis-server is not installed (apt-get install redis-server)");
      return;
    case testutil::RedisAvailability::fail:
      FAIL("redis-server is not on PATH and SHMKV_REQUIRE_REDIS is set");
  }
  auto redis = std::make_unique<testutil::RedisServer>();
  const std::string url = redis->url(), name = unique_name("capi-redis");
  CHECK(shmkv_segment_exists_url(url.c_str(), name.c_str()) == 0);

  shmkv_store* s = nullptr;
  REQUIRE(shmkv_open_url(url.c_str(), name.c_str(), nullptr, 0, &s) == SHMKV_OK);
  shmkv_info info;
  REQUIRE(shmkv_info_get(s, &info, sizeof info) == 0);
  CHECK(std::string(info.engine) == "redis");
  CHECK(std::string(info.name) == name);
  CHECK(shmkv_segment_exists_url(url.c_str(), name.c_str()) == 1);
  CHECK(shmkv_segment_exists(name.c_str()) == 0);  // no segment in /dev/shm

  CHECK(Set(s, "user:1", "ann") == 0);
  // Coordination works on a server too: a claimed key is neither claimed again nor popped.
  std::uint64_t claim_token = 0, lock_token = 0;
  CHECK(shmkv_claim(s, "user:1", 6, 60000, nullptr, nullptr, &claim_token) == 1);
  CHECK(claim_token > 0);
  CHECK(shmkv_claim(s, "user:1", 6, 60000, nullptr, nullptr, nullptr) == 0);
  void *pk = nullptr, *pv = nullptr;
  std::size_t pkl = 0, pvl = 0;
  CHECK(shmkv_pop_random(s, "user:", 5, &pk, &pkl, &pv, &pvl) == 0);
  CHECK(shmkv_lock(s, "leader", 6, 60000, 0, &lock_token) == 1);
  CHECK(lock_token > claim_token);
  CHECK(shmkv_lock(s, "leader", 6, 60000, 0, nullptr) == 0);
  CHECK(shmkv_unlock(s, "leader", 6, lock_token) == 1);
  CHECK(shmkv_release(s, "user:1", 6, claim_token) == 1);
  CHECK(Set(s, "user:2", "bob") == 0);
  CHECK(Get(s, "user:1") == "ann");
  CHECK(Get(s, "nope") == "<absent>");
  std::int64_t n = 0;
  CHECK(shmkv_incr(s, "hits", 4, 5, &n) == 0);
  CHECK(shmkv_incr(s, "hits", 4, -2, &n) == 0);
  CHECK(n == 3);
  CHECK(shmkv_incr(s, "user:1", 6, 1, &n) == SHMKV_ENOT_A_NUMBER);
  Collected c;
  std::size_t calls = 0;
  CHECK(shmkv_list(s, "user:", 5, 0, Collect, &c, &calls) == 0);
  CHECK(c.entries ==
        std::vector<std::pair<std::string, std::string>>{{"user:1", "ann"}, {"user:2", "bob"}});
  std::uint64_t count = 0;
  CHECK(shmkv_count(s, nullptr, 0, &count) == 0);
  CHECK(count == 3);
  std::set<std::string> popped;
  for (int i = 0; i < 3; ++i) {
    void *k = nullptr, *v = nullptr;
    std::size_t kl = 0, vl = 0;
    const int rc = shmkv_pop_random(s, "user:", 5, &k, &kl, &v, &vl);
    if (i == 2) {
      CHECK(rc == 0);
      break;
    }
    REQUIRE(rc == 1);
    popped.insert(std::string(static_cast<char*>(k), kl) + "=" +
                  std::string(static_cast<char*>(v), vl));
    shmkv_free(k);
    shmkv_free(v);
  }
  CHECK(popped == std::set<std::string>{"user:1=ann", "user:2=bob"});

  // The url in the options, for a second handle: it sees the first one's keys.
  shmkv_options o;
  shmkv_options_init(&o);
  CHECK(o.url == nullptr);
  CHECK(o.connect_timeout_ms == 2000);
  CHECK(o.command_timeout_ms == 10000);
  o.url = url.c_str();
  o.open_mode = SHMKV_ATTACH_ONLY;
  shmkv_store* second = nullptr;
  REQUIRE(shmkv_open(name.c_str(), &o, sizeof o, &second) == SHMKV_OK);
  CHECK(Get(second, "hits") == "3");
  shmkv_close(second);
  // A caller built before the url field (80 bytes) opens shared memory: no such segment.
  CHECK(shmkv_open(name.c_str(), &o, 80, &second) == SHMKV_ENOT_FOUND);
  // shmkv_open_url's url wins over the options' (NULL = shared memory).
  CHECK(shmkv_open_url(nullptr, name.c_str(), &o, sizeof o, &second) == SHMKV_ENOT_FOUND);
  // The segment's options are refused on a server, naming the option; so are bad timeouts.
  o.shards = 4;
  CHECK(shmkv_open(name.c_str(), &o, sizeof o, &second) == SHMKV_EINVALID_ARGUMENT);
  CHECK(LastError().find("shards") != std::string::npos);
  shmkv_options_init(&o);
  o.connect_timeout_ms = 0;
  CHECK(shmkv_open_url(url.c_str(), name.c_str(), &o, sizeof o, &second) ==
        SHMKV_EINVALID_ARGUMENT);
  CHECK(LastError() == "connect_timeout_ms is 0; it must be >= 1");
  shmkv_options_init(&o);
  o.command_timeout_ms = -1;
  CHECK(shmkv_open_url(url.c_str(), name.c_str(), &o, sizeof o, &second) ==
        SHMKV_EINVALID_ARGUMENT);
  CHECK(second == nullptr);

  // Destroying removes every key of the store; the next open creates it empty.
  CHECK(shmkv_destroy_url(url.c_str(), name.c_str()) == 0);
  CHECK(shmkv_segment_exists_url(url.c_str(), name.c_str()) == 0);
  CHECK(shmkv_destroy_url(url.c_str(), name.c_str()) == SHMKV_ENOT_FOUND);
  CHECK(LastError().find(name) != std::string::npos);
  CHECK(shmkv_destroy_url(url.c_str(), "bad/name") == SHMKV_EINVALID_ARGUMENT);
  CHECK(shmkv_destroy_url("http://x", name.c_str()) == SHMKV_EINVALID_ARGUMENT);

  // A write whose reply does not come (CLIENT PAUSE WRITE holds it for 60 s, far beyond the
  // 200 ms command timeout; reads still run) is outcome_unknown: it was sent and may yet run.
  shmkv_options_init(&o);
  o.command_timeout_ms = 200;
  shmkv_store* timed = nullptr;
  REQUIRE(shmkv_open_url(url.c_str(), name.c_str(), &o, sizeof o, &timed) == SHMKV_OK);
  REQUIRE(Set(timed, "held", "before") == 0);
  REQUIRE(redis->command({"CLIENT", "PAUSE", "60000", "WRITE"}) == "OK");
  CHECK(Set(timed, "held", "after") == SHMKV_EOUTCOME_UNKNOWN);
  CHECK(std::string(shmkv_errname(shmkv_last_error_code())) == "outcome_unknown");
  CHECK(Get(timed, "held") == "before");
  CHECK(redis->command({"CLIENT", "UNPAUSE"}) == "OK");
  shmkv_close(timed);

  // The server goes away under an open handle: unavailable, naming its address.
  REQUIRE(Set(s, "k", "v") == 0);
  const std::string socket = redis->socket_path();
  redis.reset();
  std::size_t len = 0;
  char buf[16];
  CHECK(shmkv_get(s, "k", 1, buf, sizeof buf, &len) == SHMKV_EUNAVAILABLE);
  CHECK(LastError().find(socket) != std::string::npos);
  CHECK(std::string(shmkv_errname(shmkv_last_error_code())) == "unavailable");
  shmkv_close(s);
}

TEST_CASE("c_api: a url where no server listens is unavailable, naming the address") {
  char dir[] = "/tmp/shmkv-capi-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string socket = std::string(dir) + "/nobody.sock";
  const std::string url = "unix://" + socket;
  shmkv_store* s = nullptr;
  CHECK(shmkv_open_url(url.c_str(), "lt", nullptr, 0, &s) == SHMKV_EUNAVAILABLE);
  CHECK(s == nullptr);
  CHECK(LastError().find(socket) != std::string::npos);
  CHECK(shmkv_segment_exists_url(url.c_str(), "lt") == SHMKV_EUNAVAILABLE);
  CHECK(shmkv_destroy_url(url.c_str(), "lt") == SHMKV_EUNAVAILABLE);
  CHECK(std::string(shmkv_strerror(SHMKV_EUNAVAILABLE)) == "the store's server cannot be reached");
  ::rmdir(dir);
}
