// tour.cpp: the C++ column of the operation table (docs/bindings.md "Every operation, every
// surface"): calls every operation of shmkv::Store once, checks what it returned, and prints
// "called NAME" for each after its check passed. check_table.py compares those names with the
// table's C++ column.
//
//   surface_tour_cpp STORE_NAME SCRATCH_DIR
//
// Exits 1 at the first result that is not what the operation promises. The store (memory
// only, then a persistent one in SCRATCH_DIR) is destroyed at the end.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "shmkv/persistence.hpp"
#include "shmkv/shmkv.hpp"

namespace {

using namespace std::chrono_literals;

void Expect(bool ok, const char* what, int line) {
  if (ok) return;
  std::fprintf(stderr, "tour.cpp:%d: %s\n", line, what);
  std::exit(1);
}
#define EXPECT(cond) Expect((cond), #cond, __LINE__)

void Called(const char* name) {
  std::printf("called %s\n", name);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: surface_tour_cpp STORE_NAME SCRATCH_DIR\n");
    return 2;
  }
  const std::string name = argv[1], dir = argv[2];
  shmkv::Options o;
  o.name = name;
  o.size_bytes = 16 << 20;
  if (shmkv::Store::segment_exists(name)) shmkv::Store::destroy(name);
  shmkv::Store s = shmkv::Store::open(o);
  Called("Store::open");
  EXPECT(shmkv::Store::segment_exists(name));
  Called("Store::segment_exists");

  s.set("k", "v", 1h);
  EXPECT(s.get("k") == "v");
  Called("set");
  Called("get");
  EXPECT(s.exists("k") && !s.exists("nope"));
  Called("exists");
  EXPECT(s.ttl("k").value() > 3500s);
  EXPECT(s.expire("k", 0ms) && s.ttl("k").value() == 0ms);
  Called("ttl");
  Called("expire");
  EXPECT(s.del("k") && !s.del("k"));
  Called("del");
  EXPECT(s.increment_by("n", 5) == 5 && s.increment_by("n", -2) == 3);
  Called("increment_by");
  EXPECT(s.get_or_set("g", "first").loaded == false &&
         s.get_or_set("g", "second").value == "first");
  Called("get_or_set");
  EXPECT(s.swap("g", "third").previous == "first" && s.get("g") == "third");
  Called("swap");
  EXPECT(s.compare_and_swap("g", "third", "fourth") && !s.compare_and_swap("g", "third", "x"));
  Called("compare_and_swap");
  EXPECT(!s.compare_and_delete("g", "third") && s.compare_and_delete("g", "fourth"));
  Called("compare_and_delete");
  s.set("d", "now");
  const shmkv::CasOutcome outcome = s.compare_and_swap_detailed("d", "then", "x");
  EXPECT(!outcome.swapped && outcome.current == "now" && s.del("d"));
  Called("compare_and_swap_detailed");
  EXPECT(s.set_if_absent("a", "1") && !s.set_if_absent("a", "2") && s.get("a") == "1");
  Called("set_if_absent");

  s.set_many({{"job:1", "a"}, {"job:2", "b"}, {"job:3", "c"}, {"user:1", "u"}});
  Called("set_many");
  const auto got = s.get_many(std::vector<std::string>{"job:1", "missing"});
  EXPECT(got.size() == 2 && got[0] == "a" && !got[1]);
  Called("get_many");
  EXPECT(s.count("job:") == 3);
  EXPECT(s.count(shmkv::KeyRange{.prefix = "", .from = "job:2", .to = "job:3"}) == 1);
  Called("count");
  const auto listed = s.list({.prefix = "job:", .limit = 2});
  EXPECT(listed.size() == 2 && listed[0].key == "job:1" && listed[0].value == "a");
  Called("list");
  EXPECT(s.list_keys({.prefix = "job:"}) == (std::vector<std::string>{"job:1", "job:2", "job:3"}));
  Called("list_keys");
  const shmkv::ScanPage page = s.scan({.prefix = "job:", .limit = 2, .cursor = ""});
  EXPECT(page.entries.size() == 2 && !page.cursor.empty());
  EXPECT(s.scan({.prefix = "job:", .limit = 2, .cursor = page.cursor}).entries.at(0).key ==
         "job:3");
  Called("scan");
  EXPECT(s.scan_keys({.prefix = "user:", .limit = 5, .cursor = ""}).keys.at(0) == "user:1");
  Called("scan_keys");
  EXPECT(s.random_key("user:") == "user:1");
  Called("random_key");
  EXPECT(s.random_keys(5, "job:", true).size() == 3);
  Called("random_keys");
  const auto popped = s.pop_random("user:");
  EXPECT(popped && popped->key == "user:1" && !s.exists("user:1"));
  Called("pop_random");
  EXPECT(s.pop_random_many("job:", 2).size() == 2 && s.count("job:") == 1);
  Called("pop_random_many");
  // Coordination (issue 16): one process takes and gives back each kind of grant.
  s.set_many({{"c:1", "one"}, {"c:2", "two"}});
  const auto claimed = s.claim("c:1", 60s);
  EXPECT(claimed && claimed->value == "one" && claimed->token > 0);
  Called("claim");
  EXPECT(s.renew("c:1", claimed->token, 60s));
  Called("renew");
  EXPECT(s.release("c:1", claimed->token) && !s.release("c:1", claimed->token));
  Called("release");
  const auto drawn = s.claim_random("c:", 60s);
  EXPECT(drawn && (drawn->key == "c:1" || drawn->key == "c:2"));
  Called("claim_random");
  EXPECT(s.complete(drawn->key, drawn->token) && !s.exists(drawn->key));
  Called("complete");
  const auto lock_token = s.lock("leader", 60s, 0ms);
  EXPECT(lock_token && !s.lock("leader", 60s, 0ms));
  Called("lock");
  EXPECT(s.unlock("leader", *lock_token));
  Called("unlock");
  const auto permit = s.acquire("db", 1, 0ms);
  EXPECT(permit && !s.acquire("db", 1, 0ms));
  Called("acquire");
  EXPECT(s.release_permit("db", *permit));
  Called("release_permit");
  s.set("ready", "1");
  EXPECT(s.wait_for("ready", 0ms) && !s.wait_for("absent", 1ms));
  Called("wait_for");
  s.set("q:1", "x");
  EXPECT((s.pop_random_wait("q:", 1ms) == shmkv::Entry{"q:1", "x"}) &&
         !s.pop_random_wait("q:", 1ms));
  Called("pop_random_wait");
  EXPECT(s.barrier("start", 1, 0ms) == std::optional<std::size_t>(0));
  Called("barrier");
  s.delete_prefix("c:");
  s.del("ready");
  s.set_many({{"t:1", "x"}, {"t:2", "y"}, {"u:1", "z"}});
  EXPECT(s.delete_many({"t:1", "nope"}) == 1);
  Called("delete_many");
  EXPECT(s.delete_range(shmkv::KeyRange{.prefix = "t:"}).deleted == 1);
  Called("delete_range");
  EXPECT(s.delete_prefix("u:").deleted == 1 && s.count("u:") == 0);
  Called("delete_prefix");
  const std::size_t before = s.size();
  EXPECT(before == 3);  // a, n and the job left
  Called("size");
  EXPECT(s.info().name == name);
  Called("info");
  EXPECT(s.stats().sets > 0);
  Called("stats");
  try {
    s.set("", "v");
    EXPECT(false);
  } catch (const shmkv::Error& e) {
    EXPECT(e.code() == shmkv::errc::invalid_argument &&
           std::string(e.what()).find("key") != std::string::npos);
  }
  Called("Error::code");
  Called("Error::what");
  EXPECT(std::string(shmkv::kVersionString).find('.') != std::string::npos);
  Called("kVersionString");
  EXPECT(s.check_invariants().empty());
  Called("check_invariants");

  const std::string backup = dir + "/tour.backup";
  EXPECT(s.backup(backup).entries == before);
  Called("backup");
  std::ostringstream jsonl;
  EXPECT(shmkv::export_jsonl(s, jsonl).entries == before);
  Called("export_jsonl");
  s.clear();
  EXPECT(s.size() == 0);
  Called("clear");
  EXPECT(s.restore(backup).entries == before && s.get("a") == "1");
  Called("restore");
  s.clear();
  std::istringstream in(jsonl.str());
  EXPECT(shmkv::import_jsonl(s, in).entries == before && s.get("a") == "1");
  Called("import_jsonl");
  EXPECT(!s.recovery_report().performed);
  s.close();
  EXPECT(!s.is_open());
  Called("close");
  shmkv::Store::destroy(name);
  EXPECT(!shmkv::Store::segment_exists(name));
  Called("Store::destroy");

  // A persistent store: sync, snapshot, and the recovery that rebuilds it.
  shmkv::Options p = o;
  p.persistence = shmkv::PersistenceOptions{};
  p.persistence->directory = dir + "/persist";
  {
    shmkv::Store ps = shmkv::Store::open(p);
    ps.set("durable", "yes");
    ps.sync();
    Called("sync");
    EXPECT(ps.snapshot().entries == 1);
    Called("snapshot");
  }
  shmkv::Store::destroy(name);
  shmkv::Store ps = shmkv::Store::open(p);
  EXPECT(ps.recovery_report().performed && ps.get("durable") == "yes");
  Called("recovery_report");
  ps.close();
  shmkv::Store::destroy(name);
  return 0;
}
