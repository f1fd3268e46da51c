// The Redis engine's own cases (issue 15), next to the conformance suite that every engine
// passes: what a server can do to a store (die, restart, forget its scripts, run out of memory,
// stop answering, evict keys, lose a key to another client) and what only Redis makes hard
// (binary keys under a hash tag, integers past 2^53, stores sharing one server). Each case talks
// to a real redis-server: the process's shared one (engine_fixture.hpp), or, when the case kills,
// stops or reconfigures it, one of its own.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance/engine_fixture.hpp"
#include "test_util.hpp"

using conformance::StoreGuard;
using shmkv::errc;
using shmkv::Options;
using shmkv::Store;
using namespace testutil;
using namespace std::chrono_literals;
using namespace std::string_literals;
using Opt = std::optional<std::string>;

namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

// Options for a new store on `server`.
Options options_on(const RedisServer& server) {
  Options o;
  o.name = unique_name("r");
  o.url = server.url();
  return o;
}

// The Redis key holding a value of store `name` (the layout of src/redis/redis_engine.hpp).
std::string value_key(const std::string& name, const std::string& key) {
  return "{" + name + "}:v:" + key;
}

std::vector<std::string> sorted(std::vector<std::string> keys) {
  std::sort(keys.begin(), keys.end());  // std::string compares bytes as unsigned
  return keys;
}

// True when thread `tid` of this process is blocked in read(2) or recv(2): a hiredis call waiting
// for its reply, which it reads only once the command is sent.
bool blocked_reading(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/syscall");
  long number = -1;
  return (in >> number) && (number == SYS_read || number == SYS_recvfrom);
}

}  // namespace

TEST_CASE("redis: a server killed mid-run gives unavailable naming its address", "[redis]") {
  RedisServer server;
  const Options o = options_on(server);
  Store s = Store::open(o);
  s.set("k", "v");
  server.kill_now();
  for (const Outcome& out :
       {outcome_of([&] { (void)s.get("k"); }), outcome_of([&] { s.set("k", "w"); }),
        outcome_of([&] { (void)s.increment_by("n", 1); }), outcome_of([&] { (void)s.list(); }),
        outcome_of([&] { (void)Store::open(o); })}) {
    INFO(out.what);
    REQUIRE(out == errc::unavailable);
    REQUIRE(out.what.find(server.socket_path()) != std::string::npos);
  }
}

TEST_CASE("redis: after a failed connection, operations fail at once until the next attempt",
          "[redis]") {
  RedisServer server;
  Store s = Store::open(options_on(server));
  s.set("k", "v");
  server.kill_now();
  // The first operation tries to connect and fails; the next, within the 100 ms that follow,
  // does not try again: it says when it will.
  const Outcome first = outcome_of([&] { s.set("k", "w"); });
  const Outcome second = outcome_of([&] { s.set("k", "w"); });
  INFO(first.what << " / " << second.what);
  REQUIRE(first == errc::unavailable);
  REQUIRE(second == errc::unavailable);
  REQUIRE(first.what.find("next attempt") == std::string::npos);
  REQUIRE(second.what.find("next attempt in") != std::string::npos);
  REQUIRE(second.what.find(server.socket_path()) != std::string::npos);
  // Once the window has passed, the next operation connects to the server that came back.
  server.restart();
  std::this_thread::sleep_for(250ms);
  s.set("k", "after");
  REQUIRE(s.get("k") == Opt("after"));
}

TEST_CASE("redis: a write in flight when the server dies is outcome_unknown", "[redis]") {
  RedisServer server;
  Store s = Store::open(options_on(server));
  s.set("k", "old");
  REQUIRE(::kill(server.pid(), SIGSTOP) == 0);  // holds the write's reply back
  std::atomic<pid_t> writer{0};
  Outcome write;
  std::thread thread([&] {
    writer = static_cast<pid_t>(::syscall(SYS_gettid));
    write = outcome_of([&] { s.set("k", "new"); });
  });
  // Sent, not answered: the writer waits in read(2) for the reply.
  for (int polls = 0; writer == 0 || !blocked_reading(writer); ++polls) {
    if (polls == 10000) {
      server.kill_now();
      thread.join();
      FAIL("the writer never waited for a reply: " << write.what);
    }
    std::this_thread::sleep_for(1ms);
  }
  server.kill_now();
  thread.join();
  INFO(write.what);
  REQUIRE(write == errc::outcome_unknown);
  REQUIRE(write.what.find(server.socket_path()) != std::string::npos);
  REQUIRE_ERRC(s.get("k"), errc::unavailable);  // and nothing to reconnect to
}

TEST_CASE("redis: a server restarted on the same socket is reconnected to transparently",
          "[redis]") {
  RedisServer server;
  Store s = Store::open(options_on(server));
  s.set("before", "v");
  // The server keeps nothing (no RDB, no AOF), scripts included: the next operation, a read or
  // a write, reconnects (and loads the scripts again) without the caller seeing any of it.
  SECTION("after a crash, a write first") {
    server.kill_now();
    server.restart();
    s.set("after", "w");
  }
  SECTION("after a clean shutdown, a read first") {
    server.restart();
    REQUIRE(s.get("after") == std::nullopt);
    s.set("after", "w");
  }
  REQUIRE(s.get("before") == std::nullopt);
  REQUIRE(s.get("after") == Opt("w"));
  REQUIRE(s.increment_by("n", 2) == 2);
  REQUIRE(s.size() == 2);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("redis: SCRIPT FLUSH is followed by a transparent reload", "[redis]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  RedisServer& server = conformance::shared_server();
  auto flush = [&] { REQUIRE(server.command({"SCRIPT", "FLUSH"}) == "OK"); };
  flush();
  s.set("a:1", "1");  // one script call
  flush();
  REQUIRE(s.increment_by("a:1", 1) == 2);  // increment_by's own call path
  flush();
  s.set_many({{"a:2", "x"}, {"a:3", "y"}, {"b:1", "z"}});  // pipelined calls
  flush();
  REQUIRE(s.count("a:") == 3);
  flush();
  REQUIRE(s.random_key("b:") == Opt("b:1"));  // the random draw
  flush();
  auto popped = s.pop_random("b:");
  REQUIRE(popped == shmkv::Entry{"b:1", "z"});
  flush();
  REQUIRE(s.list_keys() == std::vector<std::string>{"a:1", "a:2", "a:3"});
  REQUIRE(s.get("a:1") == Opt("2"));
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("redis: maxmemory 1 MB: writes fail with store_full and change nothing", "[redis]") {
  RedisServer server;
  Store s = Store::open(options_on(server));
  // 1 MB above what the server holds already (about that again: its own structures, the scripts).
  const std::string info = server.command({"INFO", "memory"});
  const std::size_t at = info.find("used_memory:");
  REQUIRE(at != std::string::npos);
  const std::uint64_t used = std::stoull(info.substr(at + std::strlen("used_memory:")));
  REQUIRE(server.command({"CONFIG", "SET", "maxmemory", std::to_string(used + (1 << 20))}) == "OK");
  const std::string value(1000, 'v');
  std::size_t stored = 0;
  Outcome full;
  for (; stored < 10000; ++stored) {
    full = outcome_of([&] { s.set("k" + std::to_string(stored), value); });
    if (full.kind != Outcome::returned) break;
  }
  INFO(full.what);
  REQUIRE(full == errc::store_full);
  REQUIRE(stored > 10);
  const std::string refused = "k" + std::to_string(stored);
  auto unchanged = [&] {
    REQUIRE(s.get(refused) == std::nullopt);
    REQUIRE(s.size() == stored);
    REQUIRE(s.count() == stored);
    REQUIRE(s.count("k") == stored);
    REQUIRE(s.list_keys().size() == stored);
    REQUIRE(s.info().redis->index_entries == stored);
    REQUIRE(s.get("k0") == Opt(value));
    REQUIRE(s.check_invariants().empty());
  };
  unchanged();
  // Every write is refused whole, whatever its kind; the old value stays.
  CHECK_ERRC(s.set("k0", value + value), errc::store_full);
  CHECK_ERRC(s.set_if_absent(refused, "v"), errc::store_full);
  CHECK_ERRC(s.increment_by("counter", 1), errc::store_full);
  CHECK_ERRC(s.swap("k0", "w"), errc::store_full);
  CHECK_ERRC(s.set_many({{refused, "v"}}), errc::store_full);
  unchanged();
  // Deletes and pops still run (they free memory).
  REQUIRE(s.del("k0"));
  REQUIRE(s.pop_random("k").has_value());
  REQUIRE(s.size() == stored - 2);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("redis: TTL expiry keeps count and size exact and is skipped by scan, random and pop",
          "[redis][ttl]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  std::vector<std::string> live;
  for (int i = 0; i < 30; ++i) s.set("t:" + std::to_string(i), "dies", 100ms);
  for (int i = 0; i < 20; ++i) {
    live.push_back("p:" + std::to_string(i));
    s.set(live.back(), "lives");
  }
  live = sorted(live);
  REQUIRE(s.info().redis->expiring_entries == 30);
  std::this_thread::sleep_for(300ms);
  // Redis dropped the values; the index entries go with the first operation that looks.
  REQUIRE(s.size() == 20);
  REQUIRE(s.count() == 20);
  REQUIRE(s.count("t:") == 0);
  REQUIRE(s.info().redis->index_entries == 20);
  REQUIRE(s.info().redis->expiring_entries == 0);
  REQUIRE(s.list_keys() == live);
  auto page = s.scan({"", 7, ""});
  REQUIRE(page.entries.size() == 7);
  REQUIRE(page.entries.front().key == live.front());
  for (int i = 0; i < 100; ++i) REQUIRE(s.random_key()->starts_with("p:"));
  REQUIRE(s.random_key("t:") == std::nullopt);
  REQUIRE(sorted(s.random_keys(100, "", true)) == live);
  std::vector<std::string> popped;
  for (const auto& e : s.pop_random_many("", 100)) popped.push_back(e.key);
  REQUIRE(sorted(popped) == live);
  REQUIRE(s.size() == 0);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("redis: binary keys round-trip, list in byte order, and 0xFF prefixes select them",
          "[redis][binary]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  const std::vector<std::string> keys = {
      "\0"s,          "\0\0"s,   "a",       "a\0b"s,    "a\xff", "a\xff\xff",
      "a\xff\xff\0"s, "b",       "\xff",    "\xff\xff", "{",     "}",
      "{x}",          "}:v:a",   "{other}", ":v:",      "a{b}c", "\x80",
      "\xff\xff\xff", "\xfe\xff"};
  for (const auto& k : keys) s.set(k, "v:" + k);
  for (const auto& k : keys) {
    INFO(escape(k));
    REQUIRE(s.get(k) == Opt("v:" + k));
    REQUIRE(s.exists(k));
  }
  REQUIRE(s.size() == keys.size());
  REQUIRE(escape_each(s.list_keys()) == escape_each(sorted(keys)));
  auto with = [&](const std::string& prefix) {
    std::vector<std::string> out;
    for (const auto& k : sorted(keys))
      if (k.starts_with(prefix)) out.push_back(k);
    return out;
  };
  for (const std::string& prefix : {"a\xff"s, "\xff"s, "\xff\xff"s, "\0"s, "{"s, "}"s, "a"s}) {
    INFO("prefix " << escape(prefix));
    REQUIRE(escape_each(s.list_keys({prefix})) == escape_each(with(prefix)));
    REQUIRE(s.count(prefix) == with(prefix).size());
    REQUIRE(s.random_key(prefix).value().starts_with(prefix));
  }
  // Pops and deletes by such prefixes take exactly their keys.
  REQUIRE(s.pop_random("\xff\xff\xff").value().key == "\xff\xff\xff");
  REQUIRE(s.delete_prefix("\xff\xff").deleted == 1);  // \xff\xff (\xff\xff\xff was popped)
  REQUIRE(s.count("\xff") == 1);
  REQUIRE(s.size() == keys.size() - 2);
  REQUIRE(s.check_invariants().empty());
  // A scan cursor holding 0xFF bytes resumes strictly after it.
  auto page = s.scan_keys({"a", 0, "a\xff"});
  REQUIRE(escape_each(page.keys) == escape_each({"a\xff\xff", "a\xff\xff\0"s}));
}

TEST_CASE("redis: integers at 2^53 and the int64 limits are exact; overflow changes nothing",
          "[redis][counter]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  // A Lua number (a double) would round these: the engine returns them as text.
  s.set("p53", "9007199254740992");
  REQUIRE(s.increment_by("p53", 1) == 9007199254740993);
  REQUIRE(s.get("p53") == Opt("9007199254740993"));
  REQUIRE(s.increment_by("fresh", 9007199254740993) == 9007199254740993);
  REQUIRE(s.increment_by("fresh", 2) == 9007199254740995);
  REQUIRE(s.increment_by("max", kMax) == kMax);
  REQUIRE(s.get("max") == Opt("9223372036854775807"));
  REQUIRE(s.increment_by("min", kMin) == kMin);
  REQUIRE(s.get("min") == Opt("-9223372036854775808"));
  REQUIRE(s.increment_by("max", -1) == kMax - 1);
  REQUIRE(s.increment_by("max", 1) == kMax);
  for (const auto& [key, delta] : {std::pair<const char*, std::int64_t>{"max", 1},
                                   {"max", kMax},
                                   {"min", -1},
                                   {"min", kMin}}) {
    INFO(key << " + " << delta);
    const Opt before = s.get(key);
    auto out = outcome_of([&] { (void)s.increment_by(key, delta); });
    REQUIRE(out == errc::overflow);
    REQUIRE(out.what.find(key) != std::string::npos);
    REQUIRE(s.get(key) == before);
  }
  // A counter Redis's INCRBY refuses ("012", "-0") overflows like any other.
  s.set("padded", "09223372036854775807");
  REQUIRE_ERRC(s.increment_by("padded", 1), errc::overflow);
  REQUIRE(s.get("padded") == Opt("09223372036854775807"));
  REQUIRE(s.size() == 5);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("redis: \"012\" and \"-0\" increment as on shared memory, keeping a TTL",
          "[redis][counter]") {
  StoreGuard redis_guard;
  Store redis = Store::open(redis_guard.options());
  SegmentGuard shm_guard(unique_name("r-shm"));
  Store shm = Store::open(small_options(shm_guard.name()));
  for (const char* stored : {"012", "-0", "-012", "00", "0009", "-00"}) {
    for (const std::int64_t delta : {std::int64_t{1}, std::int64_t{-13}, std::int64_t{0}}) {
      INFO("'" << stored << "' + " << delta);
      for (Store* s : {&redis, &shm}) s->set("k", stored, 1h);
      const std::int64_t expected = shm.increment_by("k", delta);
      REQUIRE(redis.increment_by("k", delta) == expected);
      REQUIRE(redis.get("k") == shm.get("k"));
      REQUIRE(redis.ttl("k").value() > 59min);
    }
  }
  REQUIRE(redis.check_invariants().empty());
}

TEST_CASE("redis: a counter created again after its key expired stays indexed", "[redis]") {
  // increment_by is INCRBY in a transaction, which leaves the expired key's member in the expiry
  // index: the purge that runs before count must drop it from there only.
  StoreGuard guard;
  Store s = Store::open(guard.options());
  s.set("c", "1", 30ms);
  std::this_thread::sleep_for(80ms);
  REQUIRE(s.increment_by("c", 5) == 5);
  REQUIRE(s.count("c") == 1);
  REQUIRE(s.size() == 1);
  REQUIRE(s.ttl("c") == std::chrono::milliseconds(0));
  REQUIRE(s.list_keys() == std::vector<std::string>{"c"});
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("redis: two stores with different names never see each other", "[redis]") {
  StoreGuard ga;
  // A name that extends the other's: the hash tags {a} and {ax} keep them apart.
  StoreGuard gb([&] {
    Options o = ga.options();
    o.name += "x";
    return o;
  }());
  Store a = Store::open(ga.options());
  Store b = Store::open(gb.options());
  for (int i = 0; i < 10; ++i) {
    a.set("k" + std::to_string(i), "a");
    b.set("k" + std::to_string(i), "b");
  }
  b.set("only-b", "b");
  REQUIRE(a.get("k3") == Opt("a"));
  REQUIRE(b.get("k3") == Opt("b"));
  REQUIRE(a.size() == 10);
  REQUIRE(b.size() == 11);
  REQUIRE_FALSE(a.exists("only-b"));
  REQUIRE(a.increment_by("n", 5) == 5);
  REQUIRE(b.increment_by("n", 1) == 1);
  REQUIRE(a.delete_prefix("k").deleted == 10);
  REQUIRE(b.count("k") == 10);
  while (auto e = a.pop_random()) REQUIRE(e->key == "n");
  a.set("z", "a");
  a.clear();
  REQUIRE(b.size() == 12);
  Store::destroy(ga.options());
  REQUIRE_FALSE(Store::segment_exists(ga.options()));
  REQUIRE(Store::segment_exists(gb.options()));
  REQUIRE(b.get("only-b") == Opt("b"));
  REQUIRE(b.check_invariants().empty());
}

TEST_CASE("redis: a server that evicts keys is refused at open", "[redis]") {
  RedisServer server({"--maxmemory-policy", "allkeys-lru"});
  const Options o = options_on(server);
  auto out = outcome_of([&] { (void)Store::open(o); });
  INFO(out.what);
  REQUIRE(out == errc::invalid_argument);
  REQUIRE(out.what.find("allkeys-lru") != std::string::npos);
  REQUIRE_FALSE(Store::segment_exists(o));
}

TEST_CASE("redis: a value key deleted from outside is reported by check_invariants", "[redis]") {
  StoreGuard g;
  Store s = Store::open(g.options());
  for (const char* k : {"a", "b", "c"}) s.set(k, "v");
  REQUIRE(s.check_invariants().empty());
  REQUIRE(conformance::shared_server().command({"DEL", value_key(g.options().name, "b")}) == "1");
  const std::vector<std::string> problems = s.check_invariants();
  REQUIRE(problems.size() == 1);
  REQUIRE(problems[0].find("'b'") != std::string::npos);
  REQUIRE(problems[0].find("no value") != std::string::npos);
  // The ordered reads skip it (and drop its index entry), after which the store is consistent.
  REQUIRE(s.list_keys() == std::vector<std::string>{"a", "c"});
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("redis: a stopped server: a write is outcome_unknown, a read unavailable", "[redis]") {
  RedisServer server;
  Options o = options_on(server);
  o.command_timeout = 300ms;
  Store s = Store::open(o);
  s.set("k", "old");
  REQUIRE(::kill(server.pid(), SIGSTOP) == 0);
  // The write was sent and its reply never came: it may yet run.
  auto write = outcome_of([&] { s.set("k", "new"); });
  INFO(write.what);
  REQUIRE(write == errc::outcome_unknown);
  REQUIRE(write.what.find(server.socket_path()) != std::string::npos);
  // A read is retried once on a new connection, then given up.
  auto read = outcome_of([&] { (void)s.get("k"); });
  INFO(read.what);
  REQUIRE(read == errc::unavailable);
  REQUIRE(read.what.find(server.socket_path()) != std::string::npos);
  REQUIRE(::kill(server.pid(), SIGCONT) == 0);
  // Resumed, the server answers again; the lost write did run or did not.
  const Opt now = s.get("k");
  REQUIRE((now == Opt("old") || now == Opt("new")));
  s.set("k", "after");
  REQUIRE(s.get("k") == Opt("after"));
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("redis: destroy, segment_exists and open_mode by Options", "[redis]") {
  StoreGuard g;
  Options o = g.options();
  REQUIRE_FALSE(Store::segment_exists(o));
  o.open_mode = shmkv::OpenMode::attach_only;
  REQUIRE_ERRC(Store::open(o), errc::not_found);
  REQUIRE_FALSE(Store::segment_exists(o));
  o.open_mode = shmkv::OpenMode::create_only;
  {
    Store s = Store::open(o);
    s.set("k", "v");
  }
  REQUIRE(Store::segment_exists(o));
  REQUIRE_ERRC(Store::open(o), errc::already_exists);
  o.open_mode = shmkv::OpenMode::attach_only;
  REQUIRE(Store::open(o).get("k") == Opt("v"));
  Store::destroy(o);
  REQUIRE_FALSE(Store::segment_exists(o));
  REQUIRE_ERRC(Store::open(o), errc::not_found);
  REQUIRE_ERRC(Store::destroy(o), errc::not_found);
}

TEST_CASE("redis: shared-memory-only options on a url are invalid_argument", "[redis]") {
  StoreGuard g;
  auto refused = [&](const char* option, auto set) {
    Options o = g.options();
    set(o);
    auto out = outcome_of([&] { (void)Store::open(o); });
    INFO(out.what);
    REQUIRE(out == errc::invalid_argument);
    REQUIRE(out.what.find(option) != std::string::npos);
  };
  refused("size_bytes", [](Options& o) { o.size_bytes = 8ull << 20; });
  refused("shards", [](Options& o) { o.shards = 4; });
  refused("max_keys", [](Options& o) { o.max_keys = 1000; });
  refused("home_block_bytes", [](Options& o) { o.home_block_bytes = 64; });
  refused("ordered_index", [](Options& o) { o.ordered_index = false; });
  refused("persistence", [](Options& o) { o.persistence = shmkv::PersistenceOptions{}; });
  REQUIRE_FALSE(Store::segment_exists(g.options()));
}

int main(int argc, char** argv) {
  return conformance::run_suite(argc, argv, conformance::Engine::redis);
}

TEST_CASE("redis: info lists the grants with their holders' client ids, dead ones as dead",
          "[redis][coord]") {
  RedisServer server;
  const Options o = options_on(server);
  Store s = Store::open(o);
  s.set("acct:42", "x");
  const shmkv::Claim c = *s.claim("acct:42", 60s);
  const std::uint64_t lock = *s.lock("leader-lock", 60s, 0ms);
  const std::uint64_t permit = *s.acquire("db", 2, 0ms);
  shmkv::CoordinationInfo info = s.info().coordination;
  CHECK(info.capacity == 0);  // no limit on Redis
  CHECK(info.used == 3);
  CHECK(info.last_token == permit);
  REQUIRE(info.grants.size() == 3);
  std::map<std::string, shmkv::GrantInfo> by_kind;
  for (const auto& g : info.grants) by_kind[g.kind] = g;
  CHECK(by_kind["claim"].name_head == "acct:42");
  CHECK(by_kind["claim"].token == c.token);
  CHECK(by_kind["claim"].lease_left_ms > 50000);
  CHECK(by_kind["lock"].name_head == "leader-l");
  CHECK(by_kind["lock"].name_bytes == 11);
  CHECK(by_kind["lock"].token == lock);
  CHECK(by_kind["permit"].lease_left_ms == -1);
  for (const auto& g : info.grants) {
    CHECK(g.holder_client != 0);
    CHECK(g.holder_client == info.grants[0].holder_client);  // one presence connection
    CHECK(g.holder_alive);
  }
  // A killed holder's grant shows as dead until the next attempt drops it.
  SharedArray<std::uint32_t> held(1);
  const pid_t pid = spawn_child([&]() -> int {
    Store other = Store::open(o);
    if (!other.lock("child-lock", 60s, 0ms)) return 1;
    __atomic_store_n(&held[0], 1, __ATOMIC_RELEASE);
    ::pause();
    return 0;
  });
  while (__atomic_load_n(&held[0], __ATOMIC_ACQUIRE) == 0) std::this_thread::sleep_for(1ms);
  REQUIRE(::kill(pid, SIGKILL) == 0);
  REQUIRE(wait_child(pid) == 128 + SIGKILL);
  bool seen_dead = false;
  for (int i = 0; i < 2000 && !seen_dead; ++i) {  // the server drops the connection at once
    for (const auto& g : s.info().coordination.grants)
      if (g.kind == "lock" && g.name_head == "child-lo") seen_dead = !g.holder_alive;
    if (!seen_dead) std::this_thread::sleep_for(1ms);
  }
  CHECK(seen_dead);
  CHECK(s.lock("child-lock", 60s, 0ms));  // the next attempt takes it
  CHECK(s.release("acct:42", c.token));
  CHECK(s.unlock("leader-lock", lock));
  CHECK(s.release_permit("db", permit));
  CHECK(s.info().coordination.grants.size() == 1);  // child-lock, held by this process now
}

TEST_CASE("redis: check_invariants names a damaged grant; info and the next grant still work",
          "[redis][coord]") {
  RedisServer server;
  const Options o = options_on(server);
  Store s = Store::open(o);
  const std::uint64_t t = *s.lock("L", 60s, 0ms);
  CHECK(s.check_invariants().empty());
  // Another client writes members the engine never writes.
  const std::string set = "{" + o.name + "}:gl:L";
  REQUIRE(server.command({"ZADD", set, "1", "garbage"}) == "1");
  REQUIRE(server.command({"ZADD", set, "inf", "999999 999999"}) == "1");
  const std::vector<std::string> problems = s.check_invariants();
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].find("member 'garbage'") != std::string::npos);
  CHECK(problems[1].find("token 999999, above the store's last token " + std::to_string(t)) !=
        std::string::npos);
  CHECK(s.info().coordination.grants.size() == 2);  // the damaged member is left out
  // The lapsed member goes at the next try; the forged one (no client 999999) counts as dead.
  CHECK(s.unlock("L", t));
  CHECK(s.lock("L", 60s, 0ms));
}
