// Persistence: journal + snapshot recovery, backup / restore round trips, corrupt and foreign
// files, retention, and the operations' after-images (increment, expire, clear, pop...).
// Crash tests (kill -9 during write storms) are in persistence_crash_test.cpp; golden bytes in
// persistence_format_test.cpp.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "persist_test_util.hpp"
#include "test_util.hpp"

using shmkv::errc;
using shmkv::FsyncPolicy;
using shmkv::Store;
using namespace testutil;
using namespace persisttest;
using namespace std::chrono;
using Opt = std::optional<std::string>;

TEST_CASE("persistence: data written in one run is there after the segment is gone",
          "[persistence]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  {
    Store s = Store::open(persistent_options(g.name(), dir.path));
    REQUIRE(s.recovery_report().performed);  // created fresh from an empty directory
    s.set("a", "1");
    s.set("b", "2");
    s.set("c", "3");
    REQUIRE(s.del("b"));
    REQUIRE(s.increment_by("n", 41) == 41);
    REQUIRE(s.increment_by("n", 1) == 42);
    s.set(std::string("bin\0key", 7), std::string("\0\1\2\xff", 4));
  }
  Store::destroy(g.name());
  Store s = Store::open(persistent_options(g.name(), dir.path));
  auto rep = s.recovery_report();
  REQUIRE(rep.performed);
  REQUIRE(rep.snapshot.empty());
  REQUIRE(rep.records_applied == 7);
  REQUIRE(rep.truncated.empty());
  REQUIRE(s.get("a") == Opt("1"));
  REQUIRE(s.get("b") == std::nullopt);
  REQUIRE(s.get("c") == Opt("3"));
  REQUIRE(s.get("n") == Opt("42"));
  REQUIRE(s.get(std::string("bin\0key", 7)) == Opt(std::string("\0\1\2\xff", 4)));
  REQUIRE(s.size() == 4);
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("persistence: attaching does not recover; the segment is the truth", "[persistence]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  Store a = Store::open(persistent_options(g.name(), dir.path));
  a.set("k", "v");
  Store b = Store::open(persistent_options(g.name(), dir.path));
  REQUIRE_FALSE(b.recovery_report().performed);
  REQUIRE(b.get("k") == Opt("v"));
  // An attacher without PersistenceOptions still journals into the segment's directory.
  shmkv::Options plain = attach_options(g.name());
  Store c = Store::open(plain);
  c.set("from-plain", "x");
  c.close();
  b.close();
  a.close();
  Store::destroy(g.name());
  Store d = Store::open(persistent_options(g.name(), dir.path));
  REQUIRE(d.get("from-plain") == Opt("x"));
  REQUIRE(d.get("k") == Opt("v"));
}

TEST_CASE("persistence: a different directory or a memory-only segment is refused",
          "[persistence]") {
  TempDir dir, other;
  SegmentGuard g(unique_name("p"));
  Store a = Store::open(persistent_options(g.name(), dir.path));
  REQUIRE_ERRC(Store::open(persistent_options(g.name(), other.path)), errc::invalid_argument);
  SegmentGuard m(unique_name("m"));
  Store mem = Store::open(small_options(m.name()));
  REQUIRE_ERRC(Store::open(persistent_options(m.name(), other.path)), errc::invalid_argument);
  auto bad = persistent_options(unique_name("x"), other.path);
  bad.persistence->keep_snapshots = 0;
  REQUIRE_ERRC(Store::open(bad), errc::invalid_argument);
  bad.persistence->keep_snapshots = 2;
  bad.persistence->directory = "";
  REQUIRE_ERRC(Store::open(bad), errc::invalid_argument);
}

TEST_CASE("persistence: snapshot then journal; recovery loads the snapshot and replays after it",
          "[persistence]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  {
    Store s = Store::open(persistent_options(g.name(), dir.path));
    for (int i = 0; i < 1000; ++i) s.set("k" + std::to_string(i), "v" + std::to_string(i));
    auto snap = s.snapshot();
    REQUIRE(snap.entries == 1000);
    REQUIRE(snap.seq == 1001);  // sequence numbers start at 1
    for (int i = 0; i < 100; ++i) s.set("k" + std::to_string(i), "w" + std::to_string(i));
    for (int i = 900; i < 1000; ++i) REQUIRE(s.del("k" + std::to_string(i)));
  }
  Store::destroy(g.name());
  Store s = Store::open(persistent_options(g.name(), dir.path));
  auto rep = s.recovery_report();
  REQUIRE(rep.snapshot == dir.path + "/snapshot-00000000000000001001.msgpack");
  REQUIRE(rep.snapshot_entries == 1000);
  REQUIRE(rep.records_applied == 200);
  REQUIRE(rep.entries == 900);
  REQUIRE(rep.next_seq == 1201);
  for (int i = 0; i < 100; ++i) REQUIRE(s.get("k" + std::to_string(i)) == "w" + std::to_string(i));
  for (int i = 100; i < 900; ++i)
    REQUIRE(s.get("k" + std::to_string(i)) == "v" + std::to_string(i));
  REQUIRE(s.size() == 900);
}

TEST_CASE("persistence: TTLs survive as absolute expiry; expired keys do not come back",
          "[persistence]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  {
    Store s = Store::open(persistent_options(g.name(), dir.path));
    s.set("short", "x", 150ms);
    s.set("long", "y", 1h);
    s.set("none", "z");
    s.set("later", "w");
    REQUIRE(s.expire("later", 2h));
    s.set("cleared-ttl", "v", 1h);
    REQUIRE(s.expire("cleared-ttl", 0ms));
    s.snapshot();
    s.set("after-snap", "q", 150ms);
  }
  std::this_thread::sleep_for(300ms);
  Store::destroy(g.name());
  Store s = Store::open(persistent_options(g.name(), dir.path));
  REQUIRE(s.get("short") == std::nullopt);
  REQUIRE(s.get("after-snap") == std::nullopt);
  auto ttl = s.ttl("long");
  REQUIRE(ttl);
  REQUIRE(*ttl > 59min);
  REQUIRE(*ttl <= 1h);
  REQUIRE(s.ttl("none") == milliseconds(0));
  REQUIRE(*s.ttl("later") > 119min);
  REQUIRE(s.ttl("cleared-ttl") == milliseconds(0));
  REQUIRE(s.size() == 4);
}

TEST_CASE("persistence: every mutation kind replays exactly", "[persistence]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  std::map<std::string, std::string> model;
  {
    Store s = Store::open(persistent_options(g.name(), dir.path, FsyncPolicy::never));
    for (int i = 0; i < 50; ++i) s.set("a" + std::to_string(i), "x");
    for (int i = 0; i < 50; ++i) s.set("b" + std::to_string(i), "y");
    s.clear();  // one clear record per shard
    s.set("c1", "1");
    REQUIRE(s.get_or_set("c2", "2").loaded == false);
    REQUIRE(s.swap("c1", "11").previous == Opt("1"));
    REQUIRE(s.compare_and_swap("c2", std::string_view("2"), "22"));
    REQUIRE(s.compare_and_swap("c3", std::nullopt, "33"));
    REQUIRE(s.set_if_absent("c4", "44"));
    REQUIRE(s.compare_and_delete("c4", "44"));
    s.set_many({{"m1", "v1"}, {"m2", "v2"}, {"m3", "v3"}});
    REQUIRE(s.delete_many({"m1", "nope"}) == 1);
    for (int i = 0; i < 20; ++i) s.set("pfx/" + std::to_string(i), "p");
    REQUIRE(s.delete_prefix("pfx/").deleted == 20);
    for (int i = 0; i < 10; ++i) s.set("pop" + std::to_string(i), "p");
    auto popped = s.pop_random("pop");
    REQUIRE(popped);
    s.increment_by("ctr", 5);
    s.increment_by("ctr", -2);
    for (const auto& e : s.list()) model[e.key] = e.value;
  }
  Store::destroy(g.name());
  Store s = Store::open(persistent_options(g.name(), dir.path));
  std::map<std::string, std::string> got;
  for (const auto& e : s.list()) got[e.key] = e.value;
  REQUIRE(got == model);
  REQUIRE(got.count("ctr"));
  REQUIRE(got["ctr"] == "3");
  REQUIRE(got.size() == 15);  // c1 c2 c3 m2 m3 ctr + 9 pop*
}

TEST_CASE("persistence: clear during a snapshot's interval and keys re-set after it",
          "[persistence]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  {
    Store s = Store::open(persistent_options(g.name(), dir.path));
    for (int i = 0; i < 200; ++i) s.set("k" + std::to_string(i), "old");
    s.snapshot();
    s.clear();
    for (int i = 0; i < 200; i += 2) s.set("k" + std::to_string(i), "new");
  }
  Store::destroy(g.name());
  Store s = Store::open(persistent_options(g.name(), dir.path));
  REQUIRE(s.size() == 100);
  for (int i = 0; i < 200; ++i)
    REQUIRE(s.get("k" + std::to_string(i)) == (i % 2 == 0 ? Opt("new") : std::nullopt));
}

TEST_CASE("persistence: corrupt newest snapshot falls back to the previous one plus journals",
          "[persistence][corrupt]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  {
    auto o = persistent_options(g.name(), dir.path);
    o.persistence->keep_snapshots = 2;
    Store s = Store::open(o);
    for (int i = 0; i < 100; ++i) s.set("k" + std::to_string(i), "1");
    s.snapshot();
    for (int i = 0; i < 100; ++i) s.set("k" + std::to_string(i), "2");
    s.snapshot();
    for (int i = 0; i < 50; ++i) s.set("k" + std::to_string(i), "3");
  }
  auto snaps = files_matching(dir.path, "snapshot-");
  REQUIRE(snaps.size() == 2);
  flip_byte(snaps.back(), file_size(snaps.back()) / 2);
  Store::destroy(g.name());
  Store s = Store::open(persistent_options(g.name(), dir.path));
  auto rep = s.recovery_report();
  REQUIRE(rep.rejected_snapshots.size() == 1);
  REQUIRE(rep.rejected_snapshots[0].find("checksum mismatch") != std::string::npos);
  REQUIRE(rep.snapshot == snaps.front());
  REQUIRE(fs::exists(snaps.back() + ".corrupt"));  // set aside, out of the retention count
  REQUIRE(rep.notes.size() == 1);                  // and said so (shmkv create --dir prints it)
  REQUIRE(rep.notes[0].find("set aside " + snaps.back() + " as " + snaps.back() + ".corrupt") !=
          std::string::npos);
  for (int i = 0; i < 50; ++i) REQUIRE(s.get("k" + std::to_string(i)) == Opt("3"));
  for (int i = 50; i < 100; ++i) REQUIRE(s.get("k" + std::to_string(i)) == Opt("2"));
}

TEST_CASE("persistence: nothing valid to recover raises corrupted naming file and offset",
          "[persistence][corrupt]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  {
    Store s = Store::open(persistent_options(g.name(), dir.path, FsyncPolicy::always, 1));
    s.set("k", "v");
    s.snapshot();
  }
  auto snaps = files_matching(dir.path, "snapshot-");
  REQUIRE(snaps.size() == 1);
  flip_byte(snaps[0], 40);
  Store::destroy(g.name());
  auto o = outcome_of([&] { Store::open(persistent_options(g.name(), dir.path)); });
  REQUIRE(o == errc::corrupted);
  REQUIRE(o.what.find(snaps[0]) != std::string::npos);
  REQUIRE(o.what.find("offset") != std::string::npos);
  REQUIRE_FALSE(Store::segment_exists(g.name()));  // never starts empty over the data
}

TEST_CASE("persistence: journal torn tail is cut at the last valid record and reported",
          "[persistence][corrupt]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  {
    Store s = Store::open(persistent_options(g.name(), dir.path));
    for (int i = 0; i < 10; ++i) s.set("k" + std::to_string(i), std::string(20, 'a' + i));
  }
  auto journals = files_matching(dir.path, "journal-");
  REQUIRE(journals.size() == 1);
  const auto size = file_size(journals[0]);
  // Every cut inside the last record yields the first nine records.
  for (std::uint64_t cut = size - 1; cut > size - 30; --cut) {
    TempDir copy;
    fs::copy_file(journals[0], copy.path + "/" + fs::path(journals[0]).filename().string());
    truncate_file(copy.path + "/" + fs::path(journals[0]).filename().string(), cut);
    SegmentGuard g2(unique_name("p"));
    Store s = Store::open(persistent_options(g2.name(), copy.path));
    auto rep = s.recovery_report();
    REQUIRE(rep.records_applied == 9);
    REQUIRE(rep.truncated.size() == 1);
    REQUIRE(rep.truncated_bytes == cut - (size - record_bytes_of_last(journals[0])));
    REQUIRE(s.get("k9") == std::nullopt);
    REQUIRE(s.get("k8") == Opt(std::string(20, 'a' + 8)));
  }
}

TEST_CASE("persistence: a flipped byte in a journal skips that record only, and says so",
          "[persistence][corrupt]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  {
    Store s = Store::open(persistent_options(g.name(), dir.path));
    for (int i = 0; i < 10; ++i) s.set("k" + std::to_string(i), std::string(20, 'x'));
  }
  auto journals = files_matching(dir.path, "journal-");
  REQUIRE(journals.size() == 1);
  // Records are 16 + 1 + 1 + 3 + 2 + 21 + 1 = 45 bytes ("k5" keys); the 6th starts at 64+5*45.
  const std::uint64_t sixth = 64 + 5 * 45;
  flip_byte(journals[0], sixth + 20);
  Store::destroy(g.name());
  Store s = Store::open(persistent_options(g.name(), dir.path));
  auto rep = s.recovery_report();
  // Resynchronised on the 7th record: only the damaged one is lost, and it is reported.
  REQUIRE(rep.records_applied == 9);
  REQUIRE(rep.truncated.empty());
  REQUIRE(rep.skipped.size() == 1);
  REQUIRE(rep.skipped[0].find("skipped bytes [" + std::to_string(sixth) + ", " +
                              std::to_string(sixth + 45) + ")") != std::string::npos);
  REQUIRE(rep.skipped[0].find("checksum mismatch") != std::string::npos);
  REQUIRE(rep.skipped_bytes == 45);
  REQUIRE(s.size() == 9);
  REQUIRE_FALSE(s.get("k5"));
}

TEST_CASE("persistence: foreign or future-version journals are refused, not skipped",
          "[persistence][corrupt]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  {
    Store s = Store::open(persistent_options(g.name(), dir.path));
    s.set("k", "v");
  }
  auto journals = files_matching(dir.path, "journal-");
  REQUIRE(journals.size() == 1);
  Store::destroy(g.name());
  SECTION("wrong magic") {
    write_at(journals[0], 0, "NOTAJRNL");
    auto o = outcome_of([&] { Store::open(persistent_options(g.name(), dir.path)); });
    REQUIRE(o == errc::corrupted);
    REQUIRE(o.what.find(journals[0] + ": not a shmkv journal (bad magic) at offset 0") !=
            std::string::npos);
  }
  SECTION("future version") {
    rewrite_journal_version(journals[0], 7);
    auto o = outcome_of([&] { Store::open(persistent_options(g.name(), dir.path)); });
    REQUIRE(o == errc::incompatible_layout);
    REQUIRE(o.what.find("journal format version 7 at offset 8") != std::string::npos);
  }
  SECTION("all-zero file (created, never written) is an empty journal") {
    std::ofstream(journals[0], std::ios::trunc) << std::string(64, '\0');
    Store s = Store::open(persistent_options(g.name(), dir.path));
    REQUIRE(s.size() == 0);
    REQUIRE(s.recovery_report().truncated.size() == 1);
  }
  REQUIRE(fs::exists(journals[0]));
}

TEST_CASE("persistence: retention keeps N snapshots and deletes covered journals",
          "[persistence]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  auto o = persistent_options(g.name(), dir.path);
  o.persistence->keep_snapshots = 2;
  o.persistence->snapshot_interval = 200ms;
  Store s = Store::open(o);
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 50; ++i) s.set("k" + std::to_string(i), std::to_string(round));
    std::this_thread::sleep_for(350ms);
  }
  // Let the last periodic snapshot and journal rotation settle.
  std::this_thread::sleep_for(1500ms);
  auto snaps = files_matching(dir.path, "snapshot-");
  REQUIRE(snaps.size() == 2);
  REQUIRE(files_matching(dir.path, ".tmp").empty());
  // Every journal left holds records the older retained snapshot does not cover (a sealed
  // file's name carries its highest sequence number).
  const std::uint64_t oldest = std::stoull(fs::path(snaps[0]).filename().string().substr(9, 20));
  for (const auto& j : files_matching(dir.path, ".sealed.log")) {
    std::string name = fs::path(j).filename().string();
    name.resize(name.size() - std::string(".sealed.log").size());
    const std::uint64_t max_seq = std::stoull(name.substr(name.rfind('.') + 1));
    INFO(name << " vs oldest snapshot seq " << oldest);
    REQUIRE(max_seq >= oldest);
  }
  s.close();
  Store::destroy(g.name());
  Store r = Store::open(persistent_options(g.name(), dir.path));
  for (int i = 0; i < 50; ++i) REQUIRE(r.get("k" + std::to_string(i)) == Opt("5"));
}

TEST_CASE("persistence: recovery while others attach: exactly one recovers",
          "[persistence][multiprocess]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  {
    Store s = Store::open(persistent_options(g.name(), dir.path, FsyncPolicy::never));
    for (int i = 0; i < 20000; ++i) s.set("k" + std::to_string(i), std::string(50, 'v'));
  }
  Store::destroy(g.name());
  constexpr int kProcs = 6;
  SharedArray<int> recovered(kProcs);
  SharedArray<std::uint64_t> sizes(kProcs);
  StartBarrier barrier;
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcs; ++i)
    pids.push_back(spawn_child([&, i] {
      barrier.wait();
      Store s = Store::open(persistent_options(g.name(), dir.path));
      recovered[i] = s.recovery_report().performed ? 1 : 0;
      sizes[i] = s.size();
      return 0;
    }));
  barrier.release();
  int total = 0;
  for (int i = 0; i < kProcs; ++i) {
    REQUIRE(wait_child(pids[i]) == 0);
    total += recovered[i];
    REQUIRE(sizes[i] == 20000);
  }
  REQUIRE(total == 1);
}

TEST_CASE("backup/restore: round trips (empty, one key, 100k binary keys with TTLs)", "[backup]") {
  TempDir dir;
  SegmentGuard g(unique_name("b"));
  Store s = Store::open(small_options(g.name(), 64ull << 20, 16));
  const std::string file = dir.path + "/backup.msgpack";
  SECTION("empty") {
    auto b = s.backup(file);
    REQUIRE(b.entries == 0);
    REQUIRE(b.bytes == fs::file_size(file));
    s.set("x", "y");
    auto r = s.restore(file);
    REQUIRE(r.entries == 0);
    REQUIRE(s.size() == 0);
  }
  SECTION("one key") {
    s.set("only", "value");
    REQUIRE(s.backup(file).entries == 1);
    s.set("other", "x");
    s.del("only");
    auto r = s.restore(file);
    REQUIRE(r.entries == 1);
    REQUIRE(r.bytes == 9);
    REQUIRE(s.list() == std::vector<shmkv::Entry>{{"only", "value"}});
  }
  SECTION("100k binary keys and values with TTLs") {
    std::mt19937_64 rng(test_seed());
    std::map<std::string, std::string> model;
    while (model.size() < 100000) {
      std::string k(1 + rng() % 40, '\0'), v(rng() % 200, '\0');
      for (auto& c : k) c = static_cast<char>(rng());
      for (auto& c : v) c = static_cast<char>(rng());
      model[k] = v;
    }
    std::size_t i = 0;
    for (const auto& [k, v] : model) s.set(k, v, (i++ % 3 == 0) ? 1h : 0ms);
    auto b = s.backup(file);
    REQUIRE(b.entries == 100000);
    SegmentGuard g2(unique_name("b"));
    Store t = Store::open(small_options(g2.name(), 64ull << 20, 8));
    t.set("junk", "gone after restore");
    auto r = t.restore(file);
    REQUIRE(r.entries == 100000);
    REQUIRE(t.size() == 100000);
    i = 0;
    for (const auto& [k, v] : model) {
      REQUIRE(t.get(k) == Opt(v));
      if (i++ % 3 == 0) REQUIRE(*t.ttl(k) > 59min);
    }
    REQUIRE(t.check_invariants().empty());
  }
}

TEST_CASE("backup: atomic replace; an existing file survives a failed backup", "[backup]") {
  TempDir dir;
  SegmentGuard g(unique_name("b"));
  Store s = Store::open(small_options(g.name()));
  s.set("k", "v1");
  const std::string file = dir.path + "/b.msgpack";
  s.backup(file);
  s.set("k", "v2");
  s.backup(file);  // replaces
  s.set("k", "v3");
  REQUIRE(s.restore(file).entries == 1);
  REQUIRE(s.get("k") == Opt("v2"));
  // A backup into a directory that does not exist fails and leaves nothing behind.
  REQUIRE_ERRC(s.backup(dir.path + "/missing/b.msgpack"), errc::not_found);
  REQUIRE(files_matching(dir.path, ".tmp").empty());
}

TEST_CASE("backup: a second concurrent backup is busy", "[backup]") {
  TempDir dir;
  SegmentGuard g(unique_name("b"));
  Store s = Store::open(small_options(g.name(), 64ull << 20, 64));
  for (int i = 0; i < 50000; ++i) s.set("k" + std::to_string(i), std::string(100, 'v'));
  // Hold the lease from another handle while a backup runs: simulate by taking it directly.
  std::atomic<bool> done{false};
  std::atomic<int> busy{0}, ok{0};
  std::thread t([&] {
    while (!done) {
      auto o = outcome_of([&] { s.backup(dir.path + "/a.msgpack"); });
      (o == errc::busy ? busy : ok)++;
    }
  });
  for (int i = 0; i < 20; ++i) {
    auto o = outcome_of([&] { s.backup(dir.path + "/b.msgpack"); });
    REQUIRE((o.kind == Outcome::returned || o == errc::busy));
    (o == errc::busy ? busy : ok)++;
  }
  done = true;
  t.join();
  REQUIRE(busy > 0);
  REQUIRE(ok > 0);
}

TEST_CASE("restore: missing, corrupt, foreign, future or over-budget files change nothing",
          "[backup][corrupt]") {
  TempDir dir;
  SegmentGuard g(unique_name("b"));
  Store s = Store::open(small_options(g.name()));
  for (int i = 0; i < 100; ++i) s.set("k" + std::to_string(i), "v");
  const std::string file = dir.path + "/b.msgpack";
  s.backup(file);
  s.clear();
  s.set("current", "content");
  auto untouched = [&] { REQUIRE(s.list() == std::vector<shmkv::Entry>{{"current", "content"}}); };
  SECTION("missing") {
    REQUIRE_ERRC(s.restore(dir.path + "/nope.msgpack"), errc::not_found);
  }
  SECTION("flipped byte") {
    for (std::uint64_t off : {std::uint64_t(30), file_size(file) / 2, file_size(file) - 3}) {
      fs::copy_file(file, file + ".c", fs::copy_options::overwrite_existing);
      flip_byte(file + ".c", off);
      auto o = outcome_of([&] { s.restore(file + ".c"); });
      REQUIRE(o == errc::corrupted);
      REQUIRE(o.what.find("offset") != std::string::npos);
    }
  }
  SECTION("truncated") {
    for (std::uint64_t len : {std::uint64_t(0), std::uint64_t(10), file_size(file) - 1}) {
      fs::copy_file(file, file + ".t", fs::copy_options::overwrite_existing);
      truncate_file(file + ".t", len);
      REQUIRE_ERRC(s.restore(file + ".t"), errc::corrupted);
    }
  }
  SECTION("wrong magic") {
    write_at(file, 7, "X");
    auto o = outcome_of([&] { s.restore(file); });
    REQUIRE(o == errc::corrupted);
    REQUIRE(o.what.find("bad magic") != std::string::npos);
  }
  SECTION("future version") {
    rewrite_snapshot_version(file, 2);
    auto o = outcome_of([&] { s.restore(file); });
    REQUIRE(o == errc::incompatible_layout);
    REQUIRE(o.what.find("format version 2") != std::string::npos);
  }
  SECTION("a journal is not a snapshot") {
    std::ofstream(file, std::ios::trunc) << "SMKVJNL1 and more bytes than a header has....";
    REQUIRE_ERRC(s.restore(file), errc::corrupted);
  }
  SECTION("over budget") {
    shmkv::RestoreOptions ro;
    ro.max_entries = 99;
    auto o = outcome_of([&] { s.restore(file, ro); });
    REQUIRE(o == errc::limit_exceeded);
    REQUIRE(o.what.find("100 entries; max_entries is 99") != std::string::npos);
    ro.max_entries = 0;
    ro.max_bytes = 389;  // keys k0..k99 are 290 bytes, values 100
    REQUIRE_ERRC(s.restore(file, ro), errc::limit_exceeded);
    ro.max_bytes = 390;
    REQUIRE(s.restore(file, ro).entries == 100);
    return;
  }
  SECTION("does not fit") {
    SegmentGuard g2(unique_name("b"));
    auto o = small_options(g2.name(), 1 << 20, 1);
    o.max_keys = 40;
    o.max_value_bytes = 1024;
    Store tiny = Store::open(o);
    tiny.set("current", "content");
    REQUIRE_ERRC(tiny.restore(file), errc::store_full);
    REQUIRE(tiny.list() == std::vector<shmkv::Entry>{{"current", "content"}});
  }
  untouched();
}

TEST_CASE("restore into a persistent store is journaled", "[backup][persistence]") {
  TempDir dir, bdir;
  SegmentGuard g(unique_name("p"));
  const std::string file = bdir.path + "/b.msgpack";
  {
    SegmentGuard m(unique_name("m"));
    Store mem = Store::open(small_options(m.name()));
    for (int i = 0; i < 300; ++i) mem.set("r" + std::to_string(i), "restored");
    mem.backup(file);
  }
  {
    Store s = Store::open(persistent_options(g.name(), dir.path));
    s.set("before", "x");
    REQUIRE(s.restore(file).entries == 300);
    s.set("after", "y");
  }
  Store::destroy(g.name());
  Store s = Store::open(persistent_options(g.name(), dir.path));
  REQUIRE(s.size() == 301);
  REQUIRE(s.get("before") == std::nullopt);
  REQUIRE(s.get("after") == Opt("y"));
  REQUIRE(s.get("r299") == Opt("restored"));
}

TEST_CASE("persistence: round trips through recovery (empty, 100k binary keys with TTLs)",
          "[persistence]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  auto o = persistent_options(g.name(), dir.path, FsyncPolicy::never);
  o.size_bytes = 128ull << 20;
  o.max_keys = 300000;
  SECTION("empty store, with a snapshot of nothing") {
    {
      Store s = Store::open(o);
      REQUIRE(s.snapshot().entries == 0);
    }
    Store::destroy(g.name());
    Store s = Store::open(o);
    REQUIRE(s.recovery_report().snapshot_entries == 0);
    REQUIRE_FALSE(s.recovery_report().snapshot.empty());
    REQUIRE(s.size() == 0);
  }
  SECTION("100k binary keys and values, half before a snapshot, half after") {
    std::mt19937_64 rng(test_seed());
    std::map<std::string, std::pair<std::string, bool>> model;
    while (model.size() < 100000) {
      std::string k(1 + rng() % 40, '\0'), v(rng() % 200, '\0');
      for (auto& c : k) c = static_cast<char>(rng());
      for (auto& c : v) c = static_cast<char>(rng());
      model[k] = {v, rng() % 3 == 0};
    }
    {
      Store s = Store::open(o);
      std::size_t i = 0;
      for (const auto& [k, vt] : model) {
        s.set(k, vt.first, vt.second ? 1h : 0ms);
        if (++i == model.size() / 2) s.snapshot();
      }
    }
    Store::destroy(g.name());
    Store s = Store::open(o);
    auto rep = s.recovery_report();
    REQUIRE(rep.snapshot_entries == 50000);
    REQUIRE(rep.records_applied == 50000);
    REQUIRE(s.size() == 100000);
    for (const auto& [k, vt] : model) {
      REQUIRE(s.get(k) == Opt(vt.first));
      auto ttl = s.ttl(k);
      if (vt.second)
        REQUIRE((*ttl > 59min && *ttl <= 1h));
      else
        REQUIRE(*ttl == 0ms);
    }
    REQUIRE(s.check_invariants().empty());
  }
}

TEST_CASE("persistence: a snapshot from a newer format or with a foreign magic is refused",
          "[persistence][corrupt]") {
  TempDir dir;
  SegmentGuard g(unique_name("p"));
  {
    Store s = Store::open(persistent_options(g.name(), dir.path));
    s.set("k", "v");
    s.snapshot();
  }
  auto snaps = files_matching(dir.path, "snapshot-");
  REQUIRE(snaps.size() == 1);
  Store::destroy(g.name());
  SECTION("future version: incompatible_layout, not a silent fallback") {
    rewrite_snapshot_version(snaps[0], 9);
    auto o = outcome_of([&] { Store::open(persistent_options(g.name(), dir.path)); });
    REQUIRE(o == errc::incompatible_layout);
    REQUIRE(o.what.find("snapshot format version 9") != std::string::npos);
  }
  SECTION("wrong magic: corrupted, naming the file and offset 0") {
    write_at(snaps[0], 3, "XXXX");
    auto o = outcome_of([&] { Store::open(persistent_options(g.name(), dir.path)); });
    REQUIRE(o == errc::corrupted);
    REQUIRE(o.what.find(snaps[0] + ": not a shmkv snapshot (bad magic) at offset 0") !=
            std::string::npos);
  }
  SECTION("truncated: corrupted") {
    truncate_file(snaps[0], file_size(snaps[0]) - 1);
    REQUIRE_ERRC(Store::open(persistent_options(g.name(), dir.path)), errc::corrupted);
  }
  REQUIRE_FALSE(Store::segment_exists(g.name()));
}
