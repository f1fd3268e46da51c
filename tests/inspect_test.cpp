// inspect_test.cpp: shmkv-inspect and the read-only snapshot API (src/inspect.*).
//
// - Golden JSON of every view on a deterministic store (4 shards, 4 MiB, a fixed sequence of
//   operations). Which shard a key lands in depends on the segment's random hash seed, so the
//   expected documents are built here from a model of those operations (keys, values, TTLs,
//   which counter each operation bumps), routed with the library's own ShardOf/HashKey, and
//   cross-checked against Store::info()/stats(); probe lengths come from the raw slot array.
//   Only fields that legitimately vary are masked: times, pids, fingerprint, slot positions.
// - check: a healthy store passes; each deliberately broken invariant (a slot pointing at a
//   free block, a wrong count, a broken robin-hood order, a wrong dense back-pointer) is
//   reported with a line naming the shard and slot, exit code 1.
// - A shard lock held by a live process is reported ("held by pid N") without blocking; held
//   by a SIGKILLed process, every view finishes within 1 s and names the dead holder, leaves
//   the mutex in its owner-died state and the dead process registered (nothing repaired or
//   reclaimed), after which the library repairs as usual. The EOWNERDEAD race (the holder
//   dies just before our trylock) hands the owner-died state back to the next locker.
// - watch: under tmux for two in-place refreshes and Ctrl-C; through a pipe (--json) it exits
//   on SIGINT and when the segment is removed.
//
// The binary is found next to this test (../tools/shmkv-inspect) or at $SHMKV_INSPECT_BIN.
#include "shm/inspect.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "os/os.hpp"
#include "shm/segment.hpp"
#include "shm/shard.hpp"
#include "shm/shard_ref.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
namespace ins = shmkv::detail::inspect;
namespace det = shmkv::detail;

// --- running the binary ---

std::string InspectBinary() {
  if (const char* env = std::getenv("SHMKV_INSPECT_BIN")) return env;
  std::error_code ec;
  auto exe = std::filesystem::canonical("/proc/self/exe", ec);
  return (exe.parent_path().parent_path() / "tools" / "shmkv-inspect").string();
}

struct ToolResult {
  int rc = -1;
  std::string out, err;
  double seconds = 0;
};

// Spawns the binary with stdout/stderr on pipes. Returns the pid; *out_fd / *err_fd are the
// read ends (err_fd may be null: stderr then goes to ours).
pid_t Spawn(const std::vector<std::string>& args, int* out_fd, int* err_fd) {
  int out[2], err[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  std::string bin = InspectBinary();
  std::vector<char*> argv;
  argv.push_back(bin.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    if (err_fd) ::dup2(err[1], 2);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  *out_fd = out[0];
  if (err_fd)
    *err_fd = err[0];
  else
    ::close(err[0]);
  return pid;
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

// Runs the binary to completion (killed after `timeout`).
ToolResult RunTool(const std::vector<std::string>& args,
                   std::chrono::milliseconds timeout = 20000ms) {
  ToolResult r;
  const auto start = std::chrono::steady_clock::now();
  int out = -1, err = -1;
  pid_t pid = Spawn(args, &out, &err);
  const auto deadline = start + timeout;
  pollfd fds[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
  int open = 2;
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) {
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.rc = DecodeStatus(status);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (r.rc >= 3) {  // an error or a crash: show what the tool said
    std::string line = "shmkv-inspect";
    for (const auto& a : args) line += " " + a;
    UNSCOPED_INFO(line << " -> exit " << r.rc << "; stderr: " << r.err);
  }
  return r;
}

// Reads one line from fd within `timeout`; false on EOF/timeout.
bool ReadLine(int fd, std::string* buffer, std::string* line, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto nl = buffer->find('\n'); nl != std::string::npos) {
      *line = buffer->substr(0, nl);
      buffer->erase(0, nl + 1);
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    buffer->append(buf, static_cast<std::size_t>(n));
  }
}

// Waits for pid at most `timeout`; kills it on timeout. Returns the decoded status or -1.
int WaitExit(pid_t pid, std::chrono::milliseconds timeout) {
  return testutil::wait_child(pid, timeout);
}

// --- JSON helpers ---

// Replaces the values of fields that legitimately vary with "*".
std::string Mask(std::string json) {
  static const std::vector<std::pair<std::regex, std::string>> kMasks = {
      {std::regex(R"("fingerprint":"0x[0-9a-f]{16}")"), R"("fingerprint":"*")"},
      {std::regex(R"re("(created_unix_ms|pid|start_time|attached_unix_ms|ttl_ms|expires_unix_ms)re"
                  R"re(|time_unix_ms|slot|probe_length)":[0-9]+)re"),
       R"("$1":"*")"},
  };
  for (const auto& [re, with] : kMasks) json = std::regex_replace(json, re, with);
  return json;
}

std::string Q(const std::string& s) {  // JSON string of plain ASCII test data
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}
std::string N(std::uint64_t v) {
  return std::to_string(v);
}
std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// The object of shard `s` inside a `shards --json` document.
std::string ShardObject(const std::string& json, std::uint32_t s) {
  std::string start = "{\"shard\":" + std::to_string(s) + ",";
  auto a = json.find(start);
  if (a == std::string::npos) return {};
  auto b = json.find("{\"shard\":", a + 1);
  return json.substr(a, (b == std::string::npos ? json.size() : b) - a);
}

// --- the deterministic store ---

struct ModelKey {
  std::string value;
  std::uint64_t ttl_ms = 0;  // 0: none
  bool expired = false;
};

struct ModelCounters {
  std::uint64_t gets = 0, hits = 0, misses = 0, sets = 0, deletes = 0, cas_success = 0,
                cas_failure = 0;
  std::uint64_t ops() const { return gets + sets + deletes + cas_success + cas_failure; }
};

// Builds the store and a model of what it holds. Every record is 37..46 bytes, so every shard
// that ever held a key owns exactly one 4 KiB slab of the 48-byte class.
struct Deterministic {
  std::string name;
  testutil::SegmentGuard guard;
  shmkv::Store store;
  std::unique_ptr<ins::Inspector> in;
  std::map<std::string, ModelKey> keys;
  std::vector<ModelCounters> counters = std::vector<ModelCounters>(4);
  std::set<std::uint32_t> shards_used;

  explicit Deterministic(const std::string& n)
      : name(n), guard(n), store(Open(n)), in(ins::Inspector::Attach(n)) {
    auto set = [&](const std::string& k, const std::string& v, std::uint64_t ttl_ms) {
      store.set(k, v, std::chrono::milliseconds(ttl_ms));
      keys[k] = {v, ttl_ms, false};
      ++counters[Shard(k)].sets;
      shards_used.insert(Shard(k));
    };
    char k[16], v[16];
    for (int i = 0; i < 20; ++i) {
      std::snprintf(k, sizeof k, "key:%02d", i);
      std::snprintf(v, sizeof v, "value-%02d", i);
      set(k, v, 0);
    }
    set("ttl:a", "t", 3600 * 1000);
    set("bin:x", std::string("\x00\x01\xff", 3), 0);
    REQUIRE(store.del("key:19"));
    keys.erase("key:19");
    ++counters[Shard("key:19")].deletes;
    REQUIRE_FALSE(store.del("nokey"));
    for (const char* k : {"key:00", "key:05"}) {
      std::string key = k, old_value = keys[key].value, new_value = old_value;
      for (char& ch : new_value) ch = static_cast<char>(std::toupper(ch));
      REQUIRE(store.compare_and_swap(key, old_value, new_value));
      keys[key].value = new_value;
      ++counters[Shard(key)].cas_success;
      ++counters[Shard(key)].sets;  // a successful CAS stores through the set path
    }
    // Last mutation: a key that expires at once (a later set in its shard would reclaim it).
    set("gone", "x", 1);
    keys["gone"].expired = true;
    std::this_thread::sleep_for(30ms);
    auto get = [&](const std::string& key, bool hit) {
      REQUIRE(store.get(key).has_value() == hit);
      ++counters[Shard(key)].gets;
      ++(hit ? counters[Shard(key)].hits : counters[Shard(key)].misses);
    };
    get("key:01", true);
    get("key:02", true);
    get("key:04", true);
    get("key:06", true);
    get("nokey", false);
    get("nokey2", false);
    get("gone", false);
    for (int i = 0; i < 4; ++i) {
      REQUIRE_FALSE(store.compare_and_swap("key:03", "wrong", "zzz"));
      ++counters[Shard("key:03")].cas_failure;
    }
    REQUIRE_FALSE(store.compare_and_swap("key:07", std::nullopt, "zzz"));  // not absent
    ++counters[Shard("key:07")].cas_failure;
    // No two counters are equal by accident (a swapped field would go unnoticed): gets 7,
    // hits 4, misses 3, sets 25, deletes 1, cas_success 2, cas_failure 5.

    // The model must agree with the library's own counters, or the goldens mean nothing.
    shmkv::Stats st = store.stats();
    ModelCounters total = Total();
    REQUIRE(st.gets == total.gets);
    REQUIRE(st.hits == total.hits);
    REQUIRE(st.misses == total.misses);
    REQUIRE(st.sets == total.sets);
    REQUIRE(st.deletes == total.deletes);
    REQUIRE(st.cas_success == total.cas_success);
    REQUIRE(st.cas_failure == total.cas_failure);
    REQUIRE(std::set<std::uint64_t>{total.gets, total.hits, total.misses, total.sets, total.deletes,
                                    total.cas_success, total.cas_failure}
                .size() == 7);
  }

  static shmkv::Store Open(const std::string& n) {
    shmkv::Options o = testutil::small_options(n, 4ull << 20, 4);
    o.open_mode = shmkv::OpenMode::create_only;
    return shmkv::Store::open(o);
  }
  std::uint32_t Shard(const std::string& key) const { return ins::ShardOfKey(*in, key); }
  ModelCounters Total() const {
    ModelCounters t;
    for (const auto& c : counters) {
      t.gets += c.gets, t.hits += c.hits, t.misses += c.misses, t.sets += c.sets;
      t.deletes += c.deletes, t.cas_success += c.cas_success, t.cas_failure += c.cas_failure;
    }
    return t;
  }
  std::uint64_t RecordsIn(std::uint32_t s) const {
    std::uint64_t n = 0;
    for (const auto& [k, m] : keys) n += Shard(k) == s;
    return n;
  }
  std::uint64_t ExpiredIn(std::uint32_t s) const {
    std::uint64_t n = 0;
    for (const auto& [k, m] : keys) n += Shard(k) == s && m.expired;
    return n;
  }
};

// Probe lengths straight from the raw slot array.
struct RawTable {
  std::vector<std::uint64_t> hist;
  std::uint64_t occupied = 0, sum = 0;
  std::uint32_t max = 0;
};
RawTable ReadTable(const ins::Inspector& in, std::uint32_t s) {
  det::ShardRef r = det::ShardRef::Of(in.segment(), s);
  RawTable t;
  for (std::uint64_t i = 0; i < r.cap; ++i) {
    if (r.slots[i].word == 0) continue;
    std::uint32_t psl = r.slots[i].psl();
    if (psl >= t.hist.size()) t.hist.resize(psl + 1);
    ++t.hist[psl];
    ++t.occupied;
    t.sum += psl;
    t.max = std::max(t.max, psl);
  }
  return t;
}

constexpr std::uint64_t kRecordBlock = 48;  // the slab class of every record of the fixture

}  // namespace

TEST_CASE("inspect: the binary is built", "[inspect]") {
  INFO("expected at " << InspectBinary() << " (build the tools, or set SHMKV_INSPECT_BIN)");
  REQUIRE(std::filesystem::exists(InspectBinary()));
  auto r = RunTool({"--help"});
  CHECK(r.rc == 0);
  CHECK(r.out.find("usage: shmkv-inspect NAME") != std::string::npos);
  for (const char* view : {"summary", "shards", "keys", "get", "histogram", "check", "watch"}) {
    auto h = RunTool({"x", view, "--help"});
    INFO(view);
    CHECK(h.rc == 0);
    CHECK(h.out.find(std::string("usage: shmkv-inspect NAME ") + view) != std::string::npos);
  }
  CHECK(RunTool({}).rc == 2);
  CHECK(RunTool({"x", "nosuchview"}).rc == 2);
  CHECK(RunTool({"x", "keys", "--interval", "1s"}).rc == 2);
  CHECK(RunTool({"x", "get"}).rc == 2);
  CHECK(RunTool({"x", "watch", "--interval", "soon"}).rc == 2);
  CHECK(RunTool({"bad/name"}).rc == 2);
  CHECK(RunTool({testutil::unique_name("absent")}).rc == 1);
}

TEST_CASE("inspect: golden JSON of every view", "[inspect]") {
  Deterministic d(testutil::unique_name("insp"));
  const det::SegmentHeader& h = d.in->header();
  shmkv::Info info = d.store.info();
  const std::uint64_t now = det::os::NowUnixMs();

  std::uint64_t live = 0, expired = 0;
  for (const auto& [k, m] : d.keys) (m.expired ? expired : live) += 1;
  REQUIRE(live == 21);
  REQUIRE(expired == 1);
  const std::uint64_t arena = h.chunk_count * det::kChunkBytes;
  // The shards' chunks and the ordered index's: one leaf (22 keys) and the spare nodes.
  const std::uint64_t used = (d.shards_used.size() + h.index.nodes) * det::kChunkBytes;
  REQUIRE(info.arena_used_bytes == used);
  REQUIRE(info.arena_bytes == arena);
  const ModelCounters total = d.Total();

  SECTION("summary") {
    std::string expected =
        "{\"name\":" + Q(d.name) + ",\"path\":" + Q("/dev/shm/shmkv." + d.name) +
        ",\"layout_version\":" + N(det::kLayoutVersion) +
        ",\"fingerprint\":\"*\",\"created_unix_ms\":\"*\"" +
        ",\"size_bytes\":4194304,\"index_bytes\":" + N(h.off_arena) +
        ",\"arena_bytes\":" + N(arena) + ",\"arena_used_bytes\":" + N(used) +
        ",\"arena_free_bytes\":" + N(arena - used) + ",\"record_bytes\":" + N(22 * kRecordBlock) +
        ",\"largest_free_span_bytes\":" + N(arena - used) +  // slabs were carved from the start
        ",\"shards\":4,\"max_key_bytes\":1024,\"max_value_bytes\":1048576,\"key_capacity\":" +
        N(info.max_keys) + ",\"live_keys\":21,\"expired_keys\":1" +
        ",\"ordered_index\":{\"state\":\"valid\",\"height\":1,\"entries\":22,\"node_bytes\":" +
        N(h.index.nodes * det::kChunkBytes) + ",\"rebuilds\":0,\"last_rebuild_us\":0}" +
        ",\"coordination\":{\"used\":0,\"capacity\":1792,\"last_token\":0,\"waiters\":0," +
        "\"recoveries\":0,\"grants\":[],\"key_watches\":[]}" +
        ",\"locks\":{\"held\":0,\"dead\":0,\"unrecoverable\":0,\"allocator\":{\"state\":\"free\"}"
        "}" +
        ",\"approximate\":false,\"approximate_shards\":[]" +
        // Exactly one registered process: this test's Store. The inspector does not register.
        ",\"processes\":[{\"pid\":\"*\",\"alive\":true,\"start_time\":\"*\",\"attached_unix_ms\":"
        "\"*\"}]" +
        ",\"persistence\":\"off\",\"counters\":{\"gets\":" + N(total.gets) +
        ",\"hits\":" + N(total.hits) + ",\"misses\":" + N(total.misses) +
        ",\"sets\":" + N(total.sets) + ",\"deletes\":" + N(total.deletes) +
        ",\"cas_success\":" + N(total.cas_success) + ",\"cas_failure\":" + N(total.cas_failure) +
        ",\"lock_waits\":0,\"owner_died_recoveries\":0,\"allocator_recoveries\":0}}\n";
    auto r = RunTool({d.name, "--json"});
    REQUIRE(r.rc == 0);
    CHECK(Mask(r.out) == expected);
    // The default view is the summary; the pid is ours.
    CHECK(r.out.find("\"pid\":" + std::to_string(::getpid()) + ",") != std::string::npos);
    CHECK(RunTool({d.name, "summary", "--json"}).out == r.out);
    auto text = RunTool({d.name});
    CHECK(text.rc == 0);
    CHECK(text.out.find("21 live, 1 expired") != std::string::npos);
    CHECK(text.out.find("persistence     off") != std::string::npos);
  }

  SECTION("shards") {
    std::string expected = "{\"shards\":[";
    for (std::uint32_t s = 0; s < 4; ++s) {
      const std::uint64_t records = d.RecordsIn(s), exp = d.ExpiredIn(s);
      const std::uint64_t shard_arena = d.shards_used.count(s) ? det::kChunkBytes : 0;
      const std::uint64_t shard_used = records * kRecordBlock;
      REQUIRE(info.shard[s].arena_bytes == shard_arena);
      REQUIRE(info.shard[s].used_bytes == shard_used);
      REQUIRE(info.shard[s].live_keys == records);
      RawTable t = ReadTable(*d.in, s);
      REQUIRE(t.occupied == records);
      CHECK(t.max <= info.shard[s].max_probe);
      if (s) expected += ",";
      expected += "{\"shard\":" + N(s) + ",\"live_keys\":" + N(records - exp) +
                  ",\"expired_keys\":" + N(exp) + ",\"capacity\":" + N(h.slots_per_shard) +
                  ",\"load_factor\":" + Fixed(double(records) / double(h.slots_per_shard), 4) +
                  ",\"mean_probe\":" + Fixed(records ? double(t.sum) / double(records) : 0, 3) +
                  ",\"max_probe\":" + N(t.max) + ",\"arena_bytes\":" + N(shard_arena) +
                  ",\"used_bytes\":" + N(shard_used) +
                  ",\"free_bytes\":" + N(shard_arena - shard_used) +
                  ",\"largest_free_block\":" + N(shard_arena ? kRecordBlock : 0) +
                  ",\"lock\":{\"state\":\"free\"},\"access\":\"locked\",\"approximate\":false"
                  ",\"recoveries\":0,\"ops\":" +
                  N(d.counters[s].ops()) + "}";
    }
    expected += "]}\n";
    auto r = RunTool({d.name, "shards", "--json"});
    REQUIRE(r.rc == 0);
    CHECK(Mask(r.out) == expected);
    auto text = RunTool({d.name, "shards"});
    CHECK(text.rc == 0);
    CHECK(text.out.find("largest free") != std::string::npos);
  }

  SECTION("keys") {
    auto entry = [&](const std::string& k) {
      const ModelKey& m = d.keys.at(k);
      std::string e = "{\"key\":" + Q(k) + ",\"shard\":" + N(d.Shard(k)) +
                      ",\"value_bytes\":" + N(m.value.size());
      if (m.ttl_ms == 0)
        e += ",\"ttl_ms\":null,\"expires_unix_ms\":null,\"expired\":false}";
      else
        e += std::string(",\"ttl_ms\":\"*\",\"expires_unix_ms\":\"*\",\"expired\":") +
             (m.expired ? "true" : "false") + "}";
      return e;
    };
    std::vector<std::string> all;
    for (const auto& [k, m] : d.keys) all.push_back(entry(k));  // std::map: byte order
    auto doc = [&](std::size_t from, std::size_t n, std::size_t matching) {
      std::string e = "{\"keys\":[";
      for (std::size_t i = 0; i < n; ++i) e += (i ? "," : "") + all[from + i];
      return e + "],\"count\":" + N(n) + ",\"matching\":" + N(matching) +
             ",\"truncated\":" + (n < matching ? "true" : "false") + ",\"approximate\":false}\n";
    };
    auto r = RunTool({d.name, "keys", "--json"});
    REQUIRE(r.rc == 0);
    CHECK(Mask(r.out) == doc(0, 22, 22));
    // bin:x, gone, key:00.. : key:00 is the third key.
    auto lim = RunTool({d.name, "keys", "--json", "--limit", "3"});
    CHECK(Mask(lim.out) == doc(0, 3, 22));
    auto pre = RunTool({d.name, "keys", "--prefix", "key:1", "--json"});
    CHECK(Mask(pre.out) == doc(12, 9, 9));  // key:10 .. key:18
    auto text = RunTool({d.name, "keys", "--prefix", "ttl:"});
    CHECK(text.rc == 0);
    CHECK(text.out.find("ttl:a") != std::string::npos);
    CHECK(text.out.find("(1 keys)") != std::string::npos);
  }

  SECTION("get") {
    auto doc = [&](const std::string& k, const std::string& encoding, const std::string& value,
                   const std::string& ttl) {
      return "{\"key\":" + Q(k) + ",\"shard\":" + N(d.Shard(k)) +
             ",\"found\":true,\"slot\":\"*\",\"probe_length\":\"*\",\"value_bytes\":" +
             N(d.keys.at(k).value.size()) + ",\"encoding\":" + Q(encoding) +
             ",\"value\":" + Q(value) + ttl + ",\"access\":\"locked\",\"approximate\":false}\n";
    };
    const std::string no_ttl = ",\"ttl_ms\":null,\"expires_unix_ms\":null,\"expired\":false";
    auto r = RunTool({d.name, "get", "key:00", "--json"});
    CHECK(r.rc == 0);
    CHECK(Mask(r.out) == doc("key:00", "text", "VALUE-00", no_ttl));
    r = RunTool({d.name, "get", "bin:x", "--json"});
    CHECK(r.rc == 0);
    CHECK(Mask(r.out) == doc("bin:x", "hex", "0001ff", no_ttl));
    r = RunTool({d.name, "get", "ttl:a", "--json"});
    CHECK(r.rc == 0);
    CHECK(Mask(r.out) == doc("ttl:a", "text", "t",
                             ",\"ttl_ms\":\"*\",\"expires_unix_ms\":\"*\",\"expired\":false"));
    // The TTL is about an hour.
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex(R"("ttl_ms":([0-9]+))")));
    CHECK(std::stoull(m[1]) > 3500 * 1000);
    CHECK(std::stoull(m[1]) <= 3600 * 1000);
    // Expired but not reclaimed: shown, exit 1.
    r = RunTool({d.name, "get", "gone", "--json"});
    CHECK(r.rc == 1);
    CHECK(Mask(r.out) ==
          doc("gone", "text", "x", ",\"ttl_ms\":\"*\",\"expires_unix_ms\":\"*\",\"expired\":true"));
    r = RunTool({d.name, "get", "key:19", "--json"});
    CHECK(r.rc == 1);
    CHECK(r.out == "{\"key\":\"key:19\",\"shard\":" + N(d.Shard("key:19")) +
                       ",\"found\":false,\"access\":\"locked\",\"approximate\":false}\n");
    auto text = RunTool({d.name, "get", "bin:x"});
    CHECK(text.rc == 0);
    CHECK(text.out.find("00 01 ff") != std::string::npos);
    // Reading through the inspector is not an operation: the counters did not move.
    CHECK(d.store.stats().gets == total.gets);
  }

  SECTION("histogram") {
    std::vector<std::uint64_t> psl;
    for (std::uint32_t s = 0; s < 4; ++s) {
      RawTable t = ReadTable(*d.in, s);
      if (psl.size() < t.hist.size()) psl.resize(t.hist.size());
      for (std::size_t i = 0; i < t.hist.size(); ++i) psl[i] += t.hist[i];
    }
    std::string expected = "{\"keys\":22,\"probe_lengths\":[";
    for (std::size_t i = 0; i < psl.size(); ++i)
      expected +=
          (i ? "," : "") + std::string("{\"probe\":") + N(i) + ",\"slots\":" + N(psl[i]) + "}";
    // Values: "t" and "x" (1 byte), "\0\1\xff" (3), 19 of 8 bytes.
    expected +=
        "],\"value_sizes\":[{\"min\":1,\"max\":1,\"keys\":2},{\"min\":2,\"max\":3,\"keys\":1},"
        "{\"min\":4,\"max\":7,\"keys\":0},{\"min\":8,\"max\":15,\"keys\":19}],"
        "\"approximate\":false}\n";
    auto r = RunTool({d.name, "histogram", "--json"});
    REQUIRE(r.rc == 0);
    CHECK(r.out == expected);
    auto text = RunTool({d.name, "histogram"});
    CHECK(text.rc == 0);
    CHECK(text.out.find("8-15") != std::string::npos);
    CHECK(text.out.find("###") != std::string::npos);
  }

  SECTION("check") {
    std::string per_shard;
    for (std::uint32_t s = 0; s < 4; ++s)
      per_shard += (s ? "," : "") + std::string("{\"shard\":") + N(s) +
                   ",\"access\":\"locked\",\"lock\":{\"state\":\"free\"},\"checked\":true,"
                   "\"violations\":0}";
    auto r = RunTool({d.name, "check", "--json"});
    CHECK(r.rc == 0);
    CHECK(r.out ==
          "{\"healthy\":true,\"complete\":true,\"shards\":4,\"violations\":[],\"notes\":[],"
          "\"per_shard\":[" +
              per_shard + "]}\n");
    auto text = RunTool({d.name, "check"});
    CHECK(text.rc == 0);
    CHECK(text.out.empty());
  }

  SECTION("--no-lock: the same documents through a read-only mapping") {
    // PROT_READ mapping, no lock taken: a single write to the segment would kill the tool
    // with SIGSEGV. Apart from how each shard was read, the documents are the locked ones.
    auto normalize = [](std::string j) {
      j = std::regex_replace(j, std::regex(R"("access":"read-only")"), R"("access":"locked")");
      j = std::regex_replace(j, std::regex(R"("approximate":true)"), R"("approximate":false)");
      j = std::regex_replace(j, std::regex(R"("approximate_shards":\[[0-9,]*\])"),
                             R"("approximate_shards":[])");
      return j;
    };
    for (std::vector<std::string> view :
         {std::vector<std::string>{}, {"shards"}, {"keys"}, {"get", "bin:x"}, {"histogram"}}) {
      std::vector<std::string> args = {d.name};
      args.insert(args.end(), view.begin(), view.end());
      args.push_back("--json");
      auto locked = RunTool(args);
      args.push_back("--no-lock");
      auto unlocked = RunTool(args);
      INFO(args[1 < args.size() ? 1 : 0]);
      CHECK(unlocked.rc == 0);
      CHECK(unlocked.out.find("\"approximate\":true") != std::string::npos);
      CHECK(Mask(normalize(unlocked.out)) == Mask(locked.out));
    }
    auto check = RunTool({d.name, "check", "--no-lock"});
    CHECK(check.rc == 0);
    CHECK(check.err.find("shards 0-3: segment mapped read-only") != std::string::npos);
  }

  SECTION("watch --json, first refresh") {
    int out = -1;
    pid_t pid = Spawn({d.name, "watch", "--json", "--interval", "100ms"}, &out, nullptr);
    std::string buffer, first, second;
    REQUIRE(ReadLine(out, &buffer, &first, 5000ms));
    REQUIRE(ReadLine(out, &buffer, &second, 5000ms));
    ::kill(pid, SIGINT);
    CHECK(WaitExit(pid, 5000ms) == 0);
    ::close(out);
    std::string hottest;
    // No operations happened between the refreshes: hottest = most ops since creation.
    std::vector<std::uint32_t> order = {0, 1, 2, 3};
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
      return d.counters[a].ops() > d.counters[b].ops();
    });
    for (std::size_t i = 0; i < order.size(); ++i)
      hottest += (i ? "," : "") + std::string("{\"shard\":") + N(order[i]) +
                 ",\"ops_per_s\":0.0,\"keys\":" + N(d.RecordsIn(order[i])) +
                 ",\"lock\":{\"state\":\"free\"}}";
    const std::string tail =
        ",\"interval_ms\":100,\"keys\":22,\"key_capacity\":" + N(info.max_keys) +
        ",\"arena_bytes\":" + N(arena) + ",\"arena_used_bytes\":" + N(used);
    const std::string rest =
        ",\"locks\":{\"held\":0,\"dead\":0},\"processes\":1,\"dead_processes\":0,\"hottest\":[" +
        hottest + "]}";
    CHECK(Mask(first) == "{\"refresh\":1,\"time_unix_ms\":\"*\"" + tail + ",\"rates\":null" + rest);
    CHECK(Mask(second) ==
          "{\"refresh\":2,\"time_unix_ms\":\"*\"" + tail +
              ",\"rates\":{\"gets\":0.0,\"hits\":0.0,\"misses\":0.0,\"sets\":0.0,\"deletes\":0.0,"
              "\"cas_success\":0.0,\"cas_failure\":0.0,\"lock_waits\":0.0}" +
              rest);
  }
  (void)now;
}

// --- check: deliberately broken invariants ---

namespace {

struct Corrupted {
  std::uint32_t shard = 0;
  std::string expected;  // a line check must print
};

// Returns a slot of shard s holding a record, with its index, or false.
bool FirstSlot(const det::ShardRef& r, std::uint64_t* index,
               bool (*pred)(const det::ShardRef&, std::uint64_t)) {
  for (std::uint64_t i = 0; i < r.cap; ++i)
    if (r.slots[i].word != 0 && pred(r, i)) {
      *index = i;
      return true;
    }
  return false;
}

}  // namespace

TEST_CASE("inspect: check reports each broken invariant", "[inspect]") {
  const std::string name = testutil::unique_name("insp-bad");
  testutil::SegmentGuard guard(name);
  shmkv::Store store = Deterministic::Open(name);
  for (int i = 0; i < 60; ++i) store.set("k" + std::to_string(i), "v" + std::to_string(i));
  auto in = ins::Inspector::Attach(name);
  det::Segment* seg = in->segment();

  // Healthy first: the same check passes, so the failures below are the corruption's doing.
  REQUIRE(RunTool({name, "check"}).rc == 0);
  for (std::uint32_t s = 0; s < 4; ++s) REQUIRE(ins::CheckShard(*in, s, {}).violations.empty());

  // The shard with the most keys.
  std::uint32_t s = 0;
  for (std::uint32_t i = 1; i < 4; ++i)
    if (seg->shard(i)->count > seg->shard(s)->count) s = i;
  det::ShardRef r = det::ShardRef::Of(seg, s);
  REQUIRE(r.h->count >= 2);
  const std::string where = "shard " + std::to_string(s) + ": ";
  Corrupted c;
  c.shard = s;

  SECTION("a slot pointing at a free block") {
    std::uint64_t i = 0;
    REQUIRE(FirstSlot(r, &i, [](const det::ShardRef&, std::uint64_t) { return true; }));
    // The shard's slab of records: its first never-carved block is free.
    std::uint64_t chunk = seg->Block(r.slots[i].rec(), s, "slot record").head;
    det::ChunkInfo* ci = seg->chunk(chunk);
    std::uint64_t ident = seg->ident(chunk)->load();
    std::uint32_t cls = det::IdentClass(ident);
    REQUIRE(cls < det::kNumClasses);
    REQUIRE(ci->carved < det::BlocksPerSlab(cls));
    r.slots[i] = det::Slot::Make(
        det::ChunkOffset(*seg, chunk) + std::uint64_t(ci->carved) * det::kSizeClasses[cls],
        r.slots[i].tag(), r.slots[i].psl());
    c.expected = where + "slot " + std::to_string(i) + ": points at a record that is not live";
  }
  SECTION("a wrong count") {
    r.h->count.fetch_add(1);
    c.expected = where + "count " + std::to_string(r.h->count.load()) + " but " +
                 std::to_string(r.h->count.load() - 1) + " slots are used";
  }
  SECTION("a broken robin-hood order") {
    // A key at its home slot followed by two empty slots moves two slots on, with the psl it
    // would have there: the psl is right, but an empty slot now precedes a displaced key.
    std::uint64_t i = 0;
    REQUIRE(FirstSlot(r, &i, [](const det::ShardRef& ref, std::uint64_t k) {
      return ref.slots[k].psl() == 0 && k + 2 < ref.cap && ref.slots[k + 1].word == 0 &&
             ref.slots[k + 2].word == 0;
    }));
    r.slots[i + 2] = det::Slot::Make(r.slots[i].rec(), r.slots[i].tag(), 2);
    r.slots[i] = det::Slot{0};
    r.h->max_psl = std::max<std::uint32_t>(r.h->max_psl, 2);
    c.expected = where + "slot " + std::to_string(i + 2) +
                 ": robin-hood order broken (previous slot is poorer)";
  }
  SECTION("a wrong index-array back-pointer") {
    std::uint64_t i = 0;
    REQUIRE(FirstSlot(r, &i, [](const det::ShardRef&, std::uint64_t) { return true; }));
    auto* rec = seg->At<det::RecordHeader>(r.slots[i].rec());
    std::uint32_t wrong = static_cast<std::uint32_t>((rec->dense_pos + 1) % r.h->count.load());
    rec->dense_pos = wrong;
    c.expected = where + "slot " + std::to_string(i) + ": dense index back-pointer " +
                 std::to_string(wrong) + " is wrong";
  }
  SECTION("a flipped value byte (record checksum)") {
    std::uint64_t i = 0;
    REQUIRE(FirstSlot(r, &i, [](const det::ShardRef&, std::uint64_t) { return true; }));
    auto* rec = seg->At<det::RecordHeader>(r.slots[i].rec());
    REQUIRE(rec->value_len > 0);  // every value is "v<i>"
    reinterpret_cast<char*>(rec + 1)[rec->key_len] ^= 0x20;
    c.expected = where + "slot " + std::to_string(i) + ": record at offset " +
                 std::to_string(r.slots[i].rec()) + " (key '";
  }
  SECTION("a flipped key byte (record checksum)") {
    std::uint64_t i = 0;
    REQUIRE(FirstSlot(r, &i, [](const det::ShardRef&, std::uint64_t) { return true; }));
    auto* rec = seg->At<det::RecordHeader>(r.slots[i].rec());
    reinterpret_cast<char*>(rec + 1)[0] ^= 0x01;
    // The slot's tag no longer matches the key either; the checksum line names the record.
    c.expected = where + "slot " + std::to_string(i) + ": record at offset " +
                 std::to_string(r.slots[i].rec()) + " (key '";
  }

  INFO("expected line: " << c.expected);
  // The API...
  ins::ShardCheck sc = ins::CheckShard(*in, c.shard, {});
  CHECK(sc.visit.access == ins::Access::locked);
  bool api_found = false;
  for (const auto& v : sc.violations) api_found |= v.rfind(c.expected, 0) == 0;
  CHECK(api_found);
  for (std::uint32_t o = 0; o < 4; ++o)
    if (o != c.shard) CHECK(ins::CheckShard(*in, o, {}).violations.empty());
  // ... and the binary: exit 1, one line per violation, each naming the broken shard.
  auto res = RunTool({name, "check"});
  INFO("stdout:\n" << res.out << "stderr:\n" << res.err);
  CHECK(res.rc == 1);
  CHECK(res.out.find(c.expected) != std::string::npos);
  std::size_t lines = 0;
  for (std::size_t p = 0; (p = res.out.find('\n', p)) != std::string::npos; ++p) ++lines;
  CHECK(lines == sc.violations.size());
  for (const auto& v : sc.violations) CHECK(res.out.find(v + "\n") != std::string::npos);
  auto json = RunTool({name, "check", "--json"});
  CHECK(json.rc == 1);
  CHECK(json.out.rfind("{\"healthy\":false,\"complete\":true,", 0) == 0);
  CHECK(json.out.find("{\"shard\":" + std::to_string(c.shard) +
                      ",\"access\":\"locked\",\"lock\":{\"state\":\"free\"},\"checked\":true,"
                      "\"violations\":" +
                      std::to_string(sc.violations.size()) + "}") != std::string::npos);
}

// --- lock holders ---

namespace {

// A child that attaches, takes shard s's mutex directly, optionally marks a mutation in progress
// (seq odd), reports through a pipe and waits to be killed.
pid_t SpawnLockHolder(const std::string& name, std::uint32_t s, bool mid_mutation) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t parent = ::getpid();
  pid_t pid = testutil::spawn_child([&] {
    // Never outlive the test (a failed REQUIRE or a killed test must not leave a lock held).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) return 3;
    ::close(fds[0]);
    shmkv::Options o = testutil::small_options(name, 4ull << 20, 4);
    o.open_mode = shmkv::OpenMode::attach_only;
    auto seg = det::Segment::Open(o);
    if (pthread_mutex_lock(&seg->shard(s)->mutex) != 0) return 1;
    if (mid_mutation) seg->shard(s)->seq.fetch_add(1);
    char c = 'x';
    if (::write(fds[1], &c, 1) != 1) return 2;
    for (;;) ::pause();
  });
  ::close(fds[1]);
  pollfd p{fds[0], POLLIN, 0};
  char c = 0;
  bool ok = ::poll(&p, 1, 10000) == 1 && ::read(fds[0], &c, 1) == 1;
  ::close(fds[0]);
  if (!ok) {
    ::kill(pid, SIGKILL);
    testutil::wait_child(pid, 5000ms);
  }
  REQUIRE(ok);
  return pid;
}

// Kills and reaps a child at scope exit unless it was reaped already (release()).
class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ~ChildGuard() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      testutil::wait_child(pid_, 5000ms);
    }
  }
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;
  // Waits until it exits by itself; returns its decoded status.
  int Reap() {
    int rc = testutil::wait_child(pid_, 10000ms);
    pid_ = -1;
    return rc;
  }
  // SIGKILLs it now and returns its decoded status.
  int KillAndReap() {
    ::kill(pid_, SIGKILL);
    int rc = testutil::wait_child(pid_, 5000ms);
    pid_ = -1;
    return rc;
  }

 private:
  pid_t pid_;
};

std::string KeyInShard(const ins::Inspector& in, std::uint32_t s) {
  for (int i = 0;; ++i) {
    std::string k = "probe-" + std::to_string(i);
    if (ins::ShardOfKey(in, k) == s) return k;
  }
}

}  // namespace

TEST_CASE("inspect: a lock held by a live process is reported without blocking", "[inspect]") {
  const std::string name = testutil::unique_name("insp-live");
  testutil::SegmentGuard guard(name);
  shmkv::Store store = Deterministic::Open(name);
  for (int i = 0; i < 20; ++i) store.set("k" + std::to_string(i), "v");
  auto in = ins::Inspector::Attach(name);
  const std::uint32_t s = 1;
  pid_t holder = SpawnLockHolder(name, s, false);
  ChildGuard holder_guard(holder);

  ins::LockInfo li = ins::ProbeLock(&in->segment()->shard(s)->mutex);
  CHECK(li.kind == ins::LockKind::held);
  CHECK(li.pid == holder);

  auto r = RunTool({name, "shards", "--json", "--lock-wait", "50ms"}, 10000ms);
  CHECK(r.rc == 0);
  CHECK(r.seconds < 1.0);
  std::string obj = ShardObject(r.out, s);
  INFO(obj);
  CHECK(obj.find("\"lock\":{\"state\":\"held\",\"pid\":" + std::to_string(holder) + "}") !=
        std::string::npos);
  CHECK(obj.find("\"access\":\"busy\",\"approximate\":true") != std::string::npos);
  CHECK(ShardObject(r.out, 0).find("\"access\":\"locked\",\"approximate\":false") !=
        std::string::npos);
  auto text = RunTool({name, "shards", "--lock-wait", "50ms"}, 10000ms);
  CHECK(text.out.find("held by pid " + std::to_string(holder)) != std::string::npos);
  CHECK(text.out.find("approximate") != std::string::npos);
  // check does not chase a live writer's offsets: that shard is reported as not checked.
  auto chk = RunTool({name, "check", "--lock-wait", "100ms"}, 10000ms);
  CHECK(chk.rc == 3);
  CHECK(chk.err.find("shard " + std::to_string(s) + ": not checked") != std::string::npos);

  CHECK(holder_guard.KillAndReap() == 128 + SIGKILL);
}

// A process asleep in pop_random_wait shows as a sleeper on its prefix's key watch, and is gone
// once it took its key.
TEST_CASE("inspect: the key watches show who waits for which keys", "[inspect]") {
  const std::string name = testutil::unique_name("insp-watch");
  testutil::SegmentGuard guard(name);
  shmkv::Store store = shmkv::Store::open(testutil::small_options(name, 4ull << 20, 4));
  const pid_t sleeper = testutil::spawn_child([&] {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    shmkv::Store o = shmkv::Store::open(testutil::attach_options(name));
    return o.pop_random_wait("job:", 30s) ? 0 : 1;
  });
  ChildGuard sleeper_guard(sleeper);
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (store.info().coordination.waiters == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
  auto r = RunTool({name, "--json"}, 10000ms);
  CHECK(r.rc == 0);
  CHECK(r.out.find("\"key_watches\":[{\"prefix\":\"job:\",\"sleepers\":1}]") != std::string::npos);
  auto text = RunTool({name}, 10000ms);
  CHECK(text.out.find("waiting for a key starting with job:: 1") != std::string::npos);
  store.set("job:1", "x");
  CHECK(sleeper_guard.Reap() == 0);
  CHECK(RunTool({name, "--json"}, 10000ms).out.find("\"key_watches\":[]") != std::string::npos);
}

TEST_CASE("inspect: a lock held by a killed process", "[inspect]") {
  const std::string name = testutil::unique_name("insp-dead");
  testutil::SegmentGuard guard(name);
  shmkv::Store store = Deterministic::Open(name);
  for (int i = 0; i < 40; ++i) store.set("k" + std::to_string(i), "v" + std::to_string(i));
  auto in = ins::Inspector::Attach(name);
  const std::uint32_t s = 2;
  bool mid_mutation = false;
  SECTION("between mutations") {
    mid_mutation = false;
  }
  SECTION("in the middle of a mutation (seq odd)") {
    mid_mutation = true;
  }
  pid_t holder = SpawnLockHolder(name, s, mid_mutation);
  ChildGuard holder_guard(holder);
  REQUIRE(holder_guard.KillAndReap() == 128 + SIGKILL);
  pthread_mutex_t* mutex = &in->segment()->shard(s)->mutex;
  const std::string dead = "held by dead pid " + std::to_string(holder) + " (repair pending)";

  ins::LockInfo li = ins::ProbeLock(mutex);
  REQUIRE(li.kind == ins::LockKind::dead_holder);
  REQUIRE(li.pid == holder);

  // Every view finishes within 1 s and names the dead holder.
  auto shards = RunTool({name, "shards", "--json"}, 10000ms);
  CHECK(shards.rc == 0);
  CHECK(shards.seconds < 1.0);
  std::string obj = ShardObject(shards.out, s);
  INFO(obj);
  CHECK(obj.find("\"lock\":{\"state\":\"dead\",\"pid\":" + std::to_string(holder) +
                 "},\"access\":\"dead-holder\",\"approximate\":true") != std::string::npos);
  auto text = RunTool({name, "shards"}, 10000ms);
  CHECK(text.seconds < 1.0);
  CHECK(text.out.find(dead) != std::string::npos);

  auto summary = RunTool({name, "--json"}, 10000ms);
  CHECK(summary.rc == 0);
  CHECK(summary.seconds < 1.0);
  CHECK(summary.out.find("\"locks\":{\"held\":0,\"dead\":1,") != std::string::npos);
  CHECK(summary.out.find("\"approximate_shards\":[" + std::to_string(s) + "]") !=
        std::string::npos);
  // The dead process is still registered: reported, not reclaimed.
  CHECK(summary.out.find("{\"pid\":" + std::to_string(holder) + ",\"alive\":false,") !=
        std::string::npos);
  CHECK(summary.out.find("{\"pid\":" + std::to_string(::getpid()) + ",\"alive\":true,") !=
        std::string::npos);

  for (const char* view : {"keys", "histogram"}) {
    auto v = RunTool({name, view}, 10000ms);
    INFO(view);
    CHECK(v.rc == 0);
    CHECK(v.seconds < 1.0);
  }
  auto get = RunTool({name, "get", KeyInShard(*in, s), "--json"}, 10000ms);
  CHECK(get.seconds < 1.0);
  CHECK(get.out.find("\"access\":\"dead-holder\"") != std::string::npos);

  auto check = RunTool({name, "check"}, 10000ms);
  CHECK(check.seconds < 1.0);
  CHECK(check.err.find("shard " + std::to_string(s) + ": lock " + dead) != std::string::npos);
  CHECK(check.err.find("nothing repaired") != std::string::npos);
  if (mid_mutation) {
    CHECK(check.rc == 1);
    CHECK(check.out.find("shard " + std::to_string(s) + ": seq is odd outside a mutation") !=
          std::string::npos);
  } else {
    CHECK(check.rc == 0);
    CHECK(check.out.empty());
  }

  // Nothing was touched: the mutex still says its owner died and names it; the registry
  // still lists the dead process; no repair happened.
  li = ins::ProbeLock(mutex);
  CHECK(li.kind == ins::LockKind::dead_holder);
  CHECK(li.pid == holder);
  bool registered = false;
  for (const auto& p : ins::Processes(*in)) registered |= p.pid == holder && !p.alive;
  CHECK(registered);
  CHECK(in->segment()->shard(s)->recoveries == 0);
  CHECK(((in->segment()->shard(s)->seq.load() & 1) != 0) == mid_mutation);

  // The library then repairs it as usual.
  store.set(KeyInShard(*in, s), "after");
  CHECK(store.stats().recoveries == 1);
  CHECK(store.check_invariants().empty());
  CHECK(ins::ProbeLock(mutex).kind == ins::LockKind::free);
  CHECK(RunTool({name, "check"}).rc == 0);
}

TEST_CASE("inspect: EOWNERDEAD on our trylock hands the dead state back", "[inspect]") {
  const std::string name = testutil::unique_name("insp-race");
  testutil::SegmentGuard guard(name);
  shmkv::Store store = Deterministic::Open(name);
  for (int i = 0; i < 20; ++i) store.set("k" + std::to_string(i), "v");
  auto in = ins::Inspector::Attach(name);
  const std::uint32_t s = 3;
  pid_t holder = SpawnLockHolder(name, s, false);
  ChildGuard holder_guard(holder);
  REQUIRE(holder_guard.KillAndReap() == 128 + SIGKILL);

  // Force the trylock a live inspection would skip: we get EOWNERDEAD, read, and the reading
  // thread exits without unlocking.
  ins::Policy force;
  force.force_trylock = true;
  ins::ShardSnapshot snap = ins::SnapshotShard(*in, s, ins::kTable, force, det::os::NowUnixMs());
  CHECK(snap.visit.access == ins::Access::owner_died);
  CHECK(snap.visit.approximate());
  CHECK(snap.count == in->segment()->shard(s)->count.load());

  // The mutex is back in the owner-died state (glibc's owner field now reads "inconsistent",
  // so the holder's pid is no longer known), not held by us and not unrecoverable.
  ins::LockInfo li = ins::ProbeLock(&in->segment()->shard(s)->mutex);
  CHECK(li.kind == ins::LockKind::dead_holder);
  CHECK(in->segment()->shard(s)->recoveries == 0);
  // A normal inspection now does not block either.
  auto r = RunTool({name, "shards", "--json"}, 10000ms);
  CHECK(r.seconds < 1.0);
  CHECK(ShardObject(r.out, s).find("\"lock\":{\"state\":\"dead\",\"pid\":null}") !=
        std::string::npos);
  // And the next real locker repairs, exactly once.
  store.set(KeyInShard(*in, s), "after");
  CHECK(store.stats().recoveries == 1);
  CHECK(store.check_invariants().empty());
}

// --- watch ---

namespace {

std::string Tmux(const std::string& socket, const std::string& args) {
  std::string cmd = "tmux -L " + socket + " " + args + " 2>/dev/null";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

// The refresh number ("#N") shown in a captured pane, or 0.
std::uint64_t FrameOf(const std::string& pane) {
  std::smatch m;
  if (!std::regex_search(pane, m, std::regex(R"(shmkv-inspect watch  \S+  #([0-9]+))"))) return 0;
  return std::stoull(m[1]);
}

std::size_t Occurrences(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t p = 0; (p = hay.find(needle, p)) != std::string::npos; p += needle.size()) ++n;
  return n;
}

}  // namespace

TEST_CASE("inspect: watch under tmux refreshes in place and exits on Ctrl-C", "[inspect]") {
  if (std::system("command -v tmux >/dev/null 2>&1") != 0) {
    WARN("tmux is not installed: skipping the terminal test of watch");
    return;
  }
  const std::string name = testutil::unique_name("insp-watch");
  testutil::SegmentGuard guard(name);
  shmkv::Store store = Deterministic::Open(name);
  store.set("a", "1");
  const std::string socket = "shmkv-inspect-test-" + std::to_string(::getpid());
  const std::string rc_file = "/tmp/" + socket + ".rc";
  std::remove(rc_file.c_str());
  struct Cleanup {  // also when a REQUIRE below gives up
    std::string socket, rc_file, socket_path;
    ~Cleanup() {
      Tmux(socket, "kill-server");
      std::remove(rc_file.c_str());
      // tmux 3.3 leaves its socket behind: remove it where the server said it is, and where
      // it is by default (in case asking failed).
      if (!socket_path.empty()) std::remove(socket_path.c_str());
      const char* dir = std::getenv("TMUX_TMPDIR");
      std::string fallback = std::string(dir && *dir ? dir : "/tmp") + "/tmux-" +
                             std::to_string(::getuid()) + "/" + socket;
      std::remove(fallback.c_str());
    }
  } cleanup{socket, rc_file, {}};
  // The shell ignores SIGINT so that only the tool's own handler decides; it records the code.
  // (The command goes through popen's shell inside double quotes: hence \\$?.)
  // timeout --foreground bounds the tool's life should this test die without its cleanup,
  // while leaving it in the terminal's foreground process group (so Ctrl-C reaches it).
  const std::string cmd = "trap '' INT; timeout --foreground 120 '" + InspectBinary() + "' " +
                          name + " watch --interval 200ms; echo \\$? > " + rc_file + "; sleep 1";
  Tmux(socket, "new-session -d -s watch -x 120 -y 30 \"" + cmd + "\"");
  cleanup.socket_path = Tmux(socket, "display-message -p '#{socket_path}'");
  while (!cleanup.socket_path.empty() && cleanup.socket_path.back() == '\n')
    cleanup.socket_path.pop_back();

  auto capture = [&] { return Tmux(socket, "capture-pane -p -t watch"); };
  auto wait_frame = [&](std::uint64_t at_least, std::string* pane) {
    for (auto deadline = std::chrono::steady_clock::now() + 10s;
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(50ms)) {
      *pane = capture();
      if (FrameOf(*pane) >= at_least) return true;
    }
    return false;
  };
  std::string first, second;
  bool ok1 = wait_frame(1, &first);
  INFO("pane:\n" << first);
  REQUIRE(ok1);
  for (int i = 0; i < 50; ++i) store.set("k" + std::to_string(i), "v");
  bool ok2 = wait_frame(FrameOf(first) + 2, &second);
  INFO("second pane:\n" << second);
  CHECK(ok2);
  CHECK(FrameOf(second) > FrameOf(first));
  // In place: one frame on the screen, not a scroll of them.
  CHECK(Occurrences(second, "shmkv-inspect watch  " + name) == 1);
  CHECK(second.find("ops/s") != std::string::npos);
  CHECK(second.find("shard  ops/s") != std::string::npos);

  Tmux(socket, "send-keys -t watch C-c");
  std::string rc;
  for (auto deadline = std::chrono::steady_clock::now() + 5s;
       std::chrono::steady_clock::now() < deadline && rc.empty();
       std::this_thread::sleep_for(50ms)) {
    std::ifstream in(rc_file);
    std::getline(in, rc);
  }
  CHECK(rc == "0");
}

TEST_CASE("inspect: watch exits on SIGINT and when the segment is removed", "[inspect]") {
  const std::string name = testutil::unique_name("insp-watch2");
  testutil::SegmentGuard guard(name);
  {
    shmkv::Store store = Deterministic::Open(name);
    store.set("a", "1");
  }
  for (bool remove : {false, true}) {
    INFO((remove ? "removed" : "SIGINT"));
    int out = -1, err = -1;
    pid_t pid = Spawn({name, "watch", "--interval", "100ms"}, &out, &err);
    std::string buffer, line;
    REQUIRE(ReadLine(out, &buffer, &line, 5000ms));
    CHECK(line.find("shmkv-inspect watch  " + name + "  #1") == 0);  // not a tty: plain frames
    REQUIRE(ReadLine(out, &buffer, &line, 5000ms));
    if (remove) {
      shmkv::Store::destroy(name);
    } else {
      ::kill(pid, SIGINT);
    }
    const auto t0 = std::chrono::steady_clock::now();
    int rc = WaitExit(pid, 5000ms);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    CHECK(rc == (remove ? 1 : 0));
    ::close(out);
    ::close(err);
  }
}
