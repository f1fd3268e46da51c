// persistence_fault_test.cpp: disk faults and damaged directories. Contract: every failed disk
// call of the persistence backend (journal create / write / fdatasync / directory fsync / seal
// rename, snapshot create / write / read-back / fdatasync / rename) reaches the writer as
// io_error naming the file and the errno, for every fsync policy; a write that raised changed
// nothing; every acknowledged write survives the fault and a later recovery; the store resumes
// once the fault is gone. Also: a gap in the history is refused, another store's directory is
// refused, a damaged journal loses only the damaged bytes, short-lived writers do not pile up
// journals, and files of another user are refused.
//
// Faults are injected through the OS seam (os::ArmDiskFault), which every file_io call passes.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "os/os.hpp"
#include "persist_test_util.hpp"
#include "test_util.hpp"

using shmkv::errc;
using shmkv::FsyncPolicy;
using shmkv::Store;
using namespace testutil;
using namespace persisttest;
using namespace std::chrono;
namespace os = shmkv::detail::os;
using State = std::map<std::string, std::string>;

namespace {

State Contents(Store& s) {
  return contents_of(s);
}

const char* PolicyName(FsyncPolicy p) {
  return p == FsyncPolicy::always ? "always" : p == FsyncPolicy::interval ? "interval" : "never";
}

// Disarms the fault seam when a test leaves (a failed REQUIRE must not leak into the next).
struct Disarm {
  ~Disarm() { os::DisarmDiskFaults(); }
};

struct FaultCase {
  os::DiskCall call;
  int err;
  bool short_write;
};

// Runs writes, syncs and a snapshot with `fault` armed (sticky: the disk stays bad), then
// disarms it, and checks the contract above. Returns how many calls the fault hit.
long RunFaultCase(FsyncPolicy policy, const FaultCase& fc) {
  Disarm disarm;
  TempDir dir;
  SegmentGuard g(unique_name("pf"));
  auto o = persistent_options(g.name(), dir.path, policy);
  o.persistence->fsync_interval = 5ms;
  State acked;
  std::string first_error;
  long injected = 0;
  {
    Store s = Store::open(o);
    s.set("base", "0");
    acked["base"] = "0";
    s.snapshot();  // a snapshot exists: the fault hits the steady state, not only the first run
    os::ArmDiskFault(
        {.call = fc.call, .nth = 1, .err = fc.err, .sticky = true, .short_write = fc.short_write});
    auto note_error = [&](const shmkv::Error& e) {
      INFO(e.what());
      REQUIRE(e.code() == errc::io_error);
      REQUIRE(std::string(e.what()).find(dir.path) != std::string::npos);  // names the file
      REQUIRE(std::string(e.what()).find(strerrorname_np(fc.err)) != std::string::npos);
      if (first_error.empty()) first_error = e.what();
    };
    for (int i = 0; i < 30; ++i) {
      const std::string k = "k" + std::to_string(i), v = "v" + std::to_string(i);
      try {
        s.set(k, v);
        acked[k] = v;
      } catch (const shmkv::Error& e) {
        note_error(e);
        REQUIRE_FALSE(s.get(k));  // a failed write changed nothing, for every policy
      }
      try {
        if (i % 10 == 9) s.sync();
        if (i == 14) s.snapshot();
      } catch (const shmkv::Error& e) {
        // snapshot(): busy while the background thread retries its own (the cure) is the API.
        if (e.code() != errc::busy) note_error(e);
      }
      if (policy == FsyncPolicy::interval) std::this_thread::sleep_for(1ms);
    }
    injected = os::DiskFaultsInjected();
    if (injected > 0) {
      REQUIRE_FALSE(first_error.empty());  // a fault that was hit reached a writer
      // Still failed while the disk is: the next mutation is refused and changes nothing.
      auto out = outcome_of([&] { s.set("while-failed", "x"); });
      REQUIRE(out == errc::io_error);
      REQUIRE_FALSE(s.get("while-failed"));
    }
    // The fault goes away: sync() cures the handle (a snapshot), writes resume.
    os::DisarmDiskFaults();
    s.sync();
    s.set("after", "1");
    acked["after"] = "1";
    s.sync();
    s.close();  // healthy again: no error
  }
  Store::destroy(g.name());
  Store s = Store::open(o);
  INFO("first error: " << first_error);
  REQUIRE(Contents(s) == acked);  // nothing acknowledged lost, nothing failed came back
  REQUIRE(s.check_invariants().empty());
  return injected;
}

}  // namespace

TEST_CASE("faults: every disk call failing reaches the writer as io_error, for every policy",
          "[persistence][fault]") {
  const FaultCase cases[] = {
      {os::DiskCall::create, ENOSPC, false},   {os::DiskCall::create, EACCES, false},
      {os::DiskCall::create, EROFS, false},    {os::DiskCall::write, ENOSPC, false},
      {os::DiskCall::write, EIO, false},       {os::DiskCall::write, ENOSPC, true},
      {os::DiskCall::write, EROFS, false},     {os::DiskCall::sync, EIO, false},
      {os::DiskCall::sync, ENOSPC, false},     {os::DiskCall::sync_dir, EIO, false},
      {os::DiskCall::sync_dir, EACCES, false}, {os::DiskCall::rename, EACCES, false},
      {os::DiskCall::rename, EROFS, false},    {os::DiskCall::open, EACCES, false},
      {os::DiskCall::read, EIO, false},
  };
  for (FsyncPolicy policy : {FsyncPolicy::always, FsyncPolicy::interval, FsyncPolicy::never}) {
    for (const auto& fc : cases) {
      INFO(PolicyName(policy) << " / " << os::DiskCallName(fc.call) << " / "
                              << strerrorname_np(fc.err) << (fc.short_write ? " / short" : ""));
      long hit = RunFaultCase(policy, fc);
      REQUIRE(hit > 0);  // every kind is reached under every policy (snapshots use them all)
    }
  }
}

TEST_CASE("faults: with always, the first failing write is invisible to other processes",
          "[persistence][fault]") {
  TempDir dir;
  SegmentGuard g(unique_name("pf"));
  auto o = persistent_options(g.name(), dir.path, FsyncPolicy::always);
  Store s = Store::open(o);
  s.set("k", "old");
  Disarm disarm;
  os::ArmDiskFault({.call = os::DiskCall::sync, .nth = 1, .err = EIO});
  auto out = outcome_of([&] { s.set("k", "new"); });
  os::DisarmDiskFaults();
  REQUIRE(out == errc::io_error);
  pid_t pid = spawn_child([&] {
    Store other = Store::open(o);
    return other.get("k") == std::optional<std::string>("old") ? 0 : 1;
  });
  REQUIRE(wait_child(pid) == 0);
  REQUIRE(s.get("k") == std::optional<std::string>("old"));
  // A snapshot now must not persist it either, and the store works again.
  s.sync();
  s.set("k2", "v2");
  s.close();
  Store::destroy(g.name());
  Store r = Store::open(o);
  REQUIRE(r.get("k") == std::optional<std::string>("old"));
  REQUIRE(r.get("k2") == std::optional<std::string>("v2"));
}

TEST_CASE("faults: with never, a failure nobody cures is reported by close()",
          "[persistence][fault]") {
  TempDir dir;
  SegmentGuard g(unique_name("pf"));
  auto o = persistent_options(g.name(), dir.path, FsyncPolicy::never);
  Store s = Store::open(o);
  Disarm disarm;
  os::ArmDiskFault({.call = os::DiskCall::any, .nth = 1, .err = ENOSPC, .sticky = true});
  s.set("k", "v");  // buffered: acknowledged under never
  auto out = outcome_of([&] { s.close(); });
  os::DisarmDiskFaults();
  REQUIRE(out == errc::io_error);
  REQUIRE(out.what.find("ENOSPC") != std::string::npos);
  REQUIRE(out.what.find(dir.path) != std::string::npos);
  REQUIRE_FALSE(s.is_open());
  // The write is in the segment; a snapshot once the disk is back makes it durable.
  Store t = Store::open(o);
  REQUIRE(t.get("k") == std::optional<std::string>("v"));
  t.snapshot();
  t.close();
  Store::destroy(g.name());
  Store r = Store::open(o);
  REQUIRE(r.get("k") == std::optional<std::string>("v"));
}

TEST_CASE("faults: ENOSPC on a snapshot is io_error, not store_full", "[persistence][fault]") {
  TempDir dir;
  SegmentGuard g(unique_name("pf"));
  Store s = Store::open(persistent_options(g.name(), dir.path));
  s.set("k", "v");
  Disarm disarm;
  os::ArmDiskFault({.call = os::DiskCall::write, .nth = 1, .err = ENOSPC, .sticky = true});
  auto out = outcome_of([&] { s.snapshot(); });
  os::DisarmDiskFaults();
  REQUIRE(out == errc::io_error);
  REQUIRE(out.what.find("snapshot-") != std::string::npos);
  REQUIRE(out.what.find("No space left on device (ENOSPC)") != std::string::npos);
}

TEST_CASE("gap: snapshots deleted after their journals were retired are refused",
          "[persistence][gap]") {
  TempDir dir;
  SegmentGuard g(unique_name("pg"));
  auto o = persistent_options(g.name(), dir.path);
  {
    Store s = Store::open(o);
    for (int i = 0; i < 2000; ++i) s.set("a" + std::to_string(i), "x");
    s.snapshot();
    for (int i = 0; i < 500; ++i) s.set("b" + std::to_string(i), "y");
    s.snapshot();
    s.set("c", "z");
    s.snapshot();  // retires the journal of the a* writes
  }
  Store::destroy(g.name());
  for (const auto& f : files_matching(dir.path, "snapshot-")) fs::remove(f);
  auto out = outcome_of([&] { Store::open(o); });
  REQUIRE(out == errc::corrupted);
  REQUIRE(out.what.find("gap in the history of " + dir.path) != std::string::npos);
  REQUIRE(out.what.find("journals below seq") != std::string::npos);
  REQUIRE_FALSE(Store::segment_exists(g.name()));
}

TEST_CASE("identity: another store's directory is refused; an old directory is adopted once",
          "[persistence][identity]") {
  TempDir dir;
  SegmentGuard a(unique_name("pa")), b(unique_name("pb"));
  {
    Store s = Store::open(persistent_options(a.name(), dir.path));
    s.set("a-only", "1");
  }
  auto out = outcome_of([&] { Store::open(persistent_options(b.name(), dir.path)); });
  REQUIRE(out == errc::invalid_argument);
  REQUIRE(out.what.find("belongs to store '" + a.name() + "'") != std::string::npos);
  REQUIRE(out.what.find("not to store '" + b.name() + "'") != std::string::npos);
  REQUIRE_FALSE(Store::segment_exists(b.name()));

  // A directory from before identities (no STORE file): the first store adopts it and says so.
  Store::destroy(a.name());
  fs::remove(dir.path + "/STORE");
  {
    Store s = Store::open(persistent_options(b.name(), dir.path));
    REQUIRE(s.get("a-only") == std::optional<std::string>("1"));
    auto rep = s.recovery_report();
    REQUIRE(rep.notes.size() == 1);
    REQUIRE(rep.notes[0].find("adopted") != std::string::npos);
  }
  Store::destroy(b.name());
  out = outcome_of([&] { Store::open(persistent_options(a.name(), dir.path)); });
  REQUIRE(out == errc::invalid_argument);

  // A snapshot of another store copied in is refused, not loaded.
  TempDir other;
  SegmentGuard c(unique_name("pc"));
  {
    Store s = Store::open(persistent_options(c.name(), other.path));
    s.set("c-only", "1");
    s.snapshot();
  }
  fs::copy_file(files_matching(other.path, "snapshot-")[0],
                dir.path + "/snapshot-00000000000099999999.msgpack");
  out = outcome_of([&] { Store::open(persistent_options(b.name(), dir.path)); });
  REQUIRE(out == errc::corrupted);
  REQUIRE(out.what.find("snapshot of another store") != std::string::npos);
}

TEST_CASE("resync: 16 zero bytes mid-journal lose only the records they overlap",
          "[persistence][corrupt]") {
  TempDir dir;
  SegmentGuard g(unique_name("pr"));
  auto o = persistent_options(g.name(), dir.path, FsyncPolicy::always);
  {
    Store s = Store::open(o);
    for (int i = 0; i < 1000; ++i) s.set("key:" + std::to_string(i), "value-" + std::to_string(i));
  }
  auto journals = files_matching(dir.path, "journal-");
  REQUIRE(journals.size() == 1);
  write_at(journals[0], 10000, std::string(16, '\0'));
  Store::destroy(g.name());
  Store s = Store::open(o);
  auto rep = s.recovery_report();
  REQUIRE(rep.skipped.size() == 1);
  INFO(rep.skipped[0]);
  REQUIRE(rep.skipped[0].find("skipped bytes [") != std::string::npos);
  REQUIRE(rep.truncated.empty());
  // Records are 35-37 bytes: 16 bytes overlap at most 2 of them.
  REQUIRE(s.size() >= 998);
  REQUIRE(s.size() < 1000);
  REQUIRE(s.get("key:999") == std::optional<std::string>("value-999"));
}

TEST_CASE("resync: a damaged journal header keeps the records after it", "[persistence][corrupt]") {
  TempDir dir;
  SegmentGuard g(unique_name("pr"));
  auto o = persistent_options(g.name(), dir.path);
  {
    Store s = Store::open(o);
    for (int i = 0; i < 50; ++i) s.set("old:" + std::to_string(i), "v");
    s.clear();  // clear records carry their epoch: they do not need the header
    for (int i = 0; i < 100; ++i) s.set("key:" + std::to_string(i), "v");
  }
  auto journals = files_matching(dir.path, "journal-");
  REQUIRE(journals.size() == 1);
  SECTION("a flipped byte in the epoch (checksum mismatch)") {
    flip_byte(journals[0], 20);
  }
  SECTION("zeroed") {
    write_at(journals[0], 0, std::string(64, '\0'));
  }
  Store::destroy(g.name());
  Store s = Store::open(o);
  REQUIRE(s.size() == 100);
  REQUIRE(s.count("old:") == 0);
  REQUIRE(s.recovery_report().skipped.size() == 1);
  REQUIRE(s.recovery_report().skipped[0].find("header") != std::string::npos);
}

TEST_CASE("pile-up: short-lived writers do not leave a journal per run forever",
          "[persistence][pileup]") {
  TempDir dir;
  SegmentGuard g(unique_name("pp"));
  auto o = persistent_options(g.name(), dir.path);
  SECTION("an overdue snapshot is taken by the closer") {
    o.persistence->snapshot_interval = 20ms;
    { Store s = Store::open(o); }
    for (int i = 0; i < 20; ++i) {
      pid_t pid = spawn_child([&] {  // a CLI-like writer: open, set, close
        Store s = Store::open(o);
        s.set("k" + std::to_string(i), "v");
        s.close();
        return 0;
      });
      REQUIRE(wait_child(pid) == 0);
      std::this_thread::sleep_for(25ms);
    }
    REQUIRE_FALSE(files_matching(dir.path, "snapshot-").empty());
    REQUIRE(files_matching(dir.path, "journal-").size() <= 4);
  }
  SECTION("too many journal files make the closer snapshot, whatever the interval") {
    { Store s = Store::open(o); }
    for (int i = 0; i < 80; ++i) {
      pid_t pid = spawn_child([&] {
        Store s = Store::open(o);
        s.set("k" + std::to_string(i), "v");
        s.close();
        return 0;
      });
      REQUIRE(wait_child(pid) == 0);
    }
    REQUIRE(files_matching(dir.path, "journal-").size() <= 40);
  }
  Store::destroy(g.name());
  Store s = Store::open(o);
  REQUIRE(s.size() >= 20);
}

TEST_CASE("permissions: a persistence directory of another user is refused",
          "[persistence][permission]") {
  if (::geteuid() != 0) {
    WARN("skipped: needs root to create files owned by another uid");
    return;
  }
  TempDir dir;
  SegmentGuard g(unique_name("pu"));
  const std::string sub = dir.path + "/theirs";
  ::mkdir(sub.c_str(), 0777);
  REQUIRE(::chown(sub.c_str(), 65534, 65534) == 0);
  REQUIRE(::chmod(sub.c_str(), 0700) == 0);
  auto out = outcome_of([&] { Store::open(persistent_options(g.name(), sub)); });
  REQUIRE(out == errc::permission_denied);
  REQUIRE(out.what.find("uid 65534") != std::string::npos);
  REQUIRE(out.what.find("0700") != std::string::npos);
  REQUIRE_FALSE(Store::segment_exists(g.name()));
  // One of our files, made writable by others in our own directory: refused too.
  const std::string mine = dir.path + "/mine";
  {
    Store s = Store::open(persistent_options(g.name(), mine));
    s.set("k", "v");
  }
  Store::destroy(g.name());
  for (const auto& f : files_matching(mine, "journal-")) ::chmod(f.c_str(), 0666);
  out = outcome_of([&] { Store::open(persistent_options(g.name(), mine)); });
  REQUIRE(out == errc::permission_denied);
  REQUIRE(out.what.find("0666") != std::string::npos);
}

TEST_CASE("write-ahead: a write refused with store_full after its record leaves no trace",
          "[persistence][fault]") {
  for (FsyncPolicy policy : {FsyncPolicy::always, FsyncPolicy::interval}) {
    INFO(PolicyName(policy));
    TempDir dir;
    SegmentGuard g(unique_name("pw"));
    auto o = persistent_options(g.name(), dir.path, policy);
    o.size_bytes = 2ull << 20;
    o.max_value_bytes = 64 << 10;
    State acked;
    int full = 0;
    {
      Store s = Store::open(o);
      const std::string big(60 << 10, 'b');
      for (int i = 0; i < 200 && full < 5; ++i) {
        const std::string k = "big" + std::to_string(i);
        auto out = outcome_of([&] { s.set(k, big); });
        if (out == errc::store_full) {
          ++full;
          REQUIRE_FALSE(s.get(k));
        } else {
          REQUIRE(out.kind == Outcome::returned);
          acked[k] = big;
        }
      }
      REQUIRE(full == 5);
      // An overwrite refused the same way keeps the old value, on disk too.
      auto out = outcome_of([&] { s.set("big0", std::string(64 << 10, 'c')); });
      if (out == errc::store_full) REQUIRE(s.get("big0") == std::optional<std::string>(big));
      if (out.kind == Outcome::returned) acked["big0"] = std::string(64 << 10, 'c');
    }
    Store::destroy(g.name());
    Store s = Store::open(o);
    REQUIRE(Contents(s) == acked);
  }
}

TEST_CASE("permissions: a store shared with a group keeps its files in that group",
          "[persistence][permission]") {
  if (::geteuid() != 0) {
    WARN("skipped: needs root to give files to another group");
    return;
  }
  TempDir dir;
  SegmentGuard g(unique_name("pu"));
  auto o = persistent_options(g.name(), dir.path + "/shared");
  o.trusted_group = 65534;
  {
    Store s = Store::open(o);
    s.set("k", "v");
    s.snapshot();
    s.set("k2", "v");
  }
  auto mode_of = [](const std::string& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return std::pair<unsigned, unsigned>(st.st_mode & 07777, st.st_gid);
  };
  REQUIRE(mode_of(dir.path + "/shared") == std::pair<unsigned, unsigned>(0770, 65534));
  REQUIRE(mode_of(dir.path + "/shared/STORE").second == 65534);
  REQUIRE(mode_of(dir.path + "/shared/LOCK") == std::pair<unsigned, unsigned>(0660, 65534));
  for (const auto& f : files_matching(dir.path + "/shared", "journal-"))
    REQUIRE(mode_of(f).second == 65534);
  for (const auto& f : files_matching(dir.path + "/shared", "snapshot-"))
    REQUIRE(mode_of(f).second == 65534);
  // Group members' files are trusted; the same directory without the group option is not.
  Store::destroy(g.name());
  Store s = Store::open(o);
  REQUIRE(s.get("k2") == std::optional<std::string>("v"));
  s.close();
  Store::destroy(g.name());
  auto plain = o;
  plain.trusted_group.reset();
  auto out = outcome_of([&] { Store::open(plain); });
  REQUIRE(out == errc::permission_denied);
}

namespace {

struct CliResult {
  int rc;
  std::string err;
};

// Runs the shmkv CLI built next to this test (../tools/shmkv), as `user` if given (runuser).
// The CLI built next to this test. Another user may not be able to reach the build tree (a
// clone in root's home or in a 0700 temporary directory), so for them it runs from a copy in
// a directory of its own under /tmp, mode 0755, removed when the test exits.
std::string CliFor(const std::string& user) {
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe");
  const std::filesystem::path built = exe.parent_path().parent_path() / "tools" / "shmkv";
  if (user.empty()) return built.string();
  struct Copy {
    std::filesystem::path dir = "/tmp/" + unique_name("pcli-bin");
    explicit Copy(const std::filesystem::path& from) {
      std::filesystem::create_directory(dir);
      std::filesystem::permissions(dir, std::filesystem::perms(0755));
      std::filesystem::copy_file(from, dir / "shmkv");
      std::filesystem::permissions(dir / "shmkv", std::filesystem::perms(0755));
    }
    ~Copy() { std::filesystem::remove_all(dir); }
  };
  static const Copy copy(built);
  return (copy.dir / "shmkv").string();
}

CliResult RunCli(const std::string& args, const std::string& user = "") {
  const std::string bin = CliFor(user);
  const std::string err_file = "/tmp/" + unique_name("pcli") + ".err";
  const std::string prefix = user.empty() ? "" : "runuser -u " + user + " -- ";
  const int status = std::system((prefix + bin + " " + args + " >/dev/null 2>" + err_file).c_str());
  std::string err = read_file(err_file);
  std::filesystem::remove(err_file);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), err};
}

}  // namespace

TEST_CASE("cli: a write that missed its journal exits 3; snapshot and sync; damage is printed",
          "[persistence][cli]") {
  TempDir dir;
  SegmentGuard g(unique_name("pcl"));
  const std::string d = dir.path + "/d";
  const std::string n = "--name " + g.name() + " ";
  SECTION("short-lived CLI writers are snapshotted, and damage is reported on create") {
    REQUIRE(RunCli(n + "create --dir " + d + " --snapshot-interval 200ms").rc == 0);
    for (int i = 0; i < 4; ++i) {
      REQUIRE(RunCli(n + "set k" + std::to_string(i) + " v").rc == 0);
      std::this_thread::sleep_for(250ms);
    }
    REQUIRE_FALSE(files_matching(d, "snapshot-").empty());
    REQUIRE(files_matching(d, "journal-").size() <= 2);
    REQUIRE(RunCli(n + "sync").rc == 0);
    REQUIRE(RunCli(n + "set k9 v").rc == 0);
    REQUIRE(RunCli(n + "snapshot").rc == 0);
    write_file(dir.path + "/in.jsonl",
               "{\"key\":\"a\",\"value\":\"1\"}\n"
               "{\"key\":\"b\",\"value\":\"2\"}\n");
    REQUIRE(RunCli(n + "import --jsonl " + dir.path + "/in.jsonl").rc == 0);
    // The import's journal (a clear per shard, then the sets) is the largest: damage its second
    // record; the records after it are kept and the damage is printed.
    auto journals = files_matching(d, "journal-");
    std::sort(journals.begin(), journals.end(), [](const std::string& x, const std::string& y) {
      return file_size(x) > file_size(y);
    });
    write_at(journals[0], 64 + 29 + 4, std::string(4, '\x7f'));  // first record: 29 bytes
    Store::destroy(g.name());
    CliResult r = RunCli(n + "create --dir " + d);
    INFO(r.err);
    REQUIRE(r.rc == 0);
    REQUIRE(r.err.find("WARNING: journal damage " + journals[0] + ": skipped bytes [93, ") !=
            std::string::npos);
    REQUIRE(r.err.find("1 damaged range(s) skipped") != std::string::npos);
  }
  SECTION("a read-only directory: exit 3 naming the journal and EACCES") {
    if (::geteuid() != 0) {
      WARN("skipped: needs root to run the CLI as another user");
      return;
    }
    REQUIRE(::chown(dir.path.c_str(), 65534, 65534) == 0);
    CliResult r = RunCli(n + "create --dir " + d, "nobody");
    INFO(r.err);
    REQUIRE(r.rc == 0);
    REQUIRE(RunCli(n + "set before 1", "nobody").rc == 0);
    REQUIRE(::chmod(d.c_str(), 0500) == 0);
    r = RunCli(n + "set after 2", "nobody");
    INFO(r.err);
    REQUIRE(r.rc == 3);
    REQUIRE(r.err.find("io_error") != std::string::npos);
    REQUIRE(r.err.find(d + "/journal-") != std::string::npos);
    REQUIRE(r.err.find("EACCES") != std::string::npos);
    REQUIRE(::chmod(d.c_str(), 0700) == 0);
    REQUIRE(RunCli(n + "snapshot", "nobody").rc == 0);  // makes 'after' durable
    REQUIRE(RunCli(n + "destroy", "nobody").rc == 0);
    REQUIRE(RunCli(n + "create --dir " + d, "nobody").rc == 0);
    REQUIRE(RunCli(n + "get after", "nobody").rc == 0);
    REQUIRE(RunCli(n + "destroy", "nobody").rc == 0);
  }
}

TEST_CASE("faults: a disk failure while opening is raised by open, naming the path",
          "[persistence][fault]") {
  TempDir dir;
  SegmentGuard g(unique_name("po"));
  auto o = persistent_options(g.name(), dir.path + "/new");
  Disarm disarm;
  for (os::DiskCall call : {os::DiskCall::mkdir, os::DiskCall::create, os::DiskCall::write,
                            os::DiskCall::sync, os::DiskCall::rename}) {
    INFO(os::DiskCallName(call));
    os::ArmDiskFault({.call = call, .nth = 1, .err = ENOSPC, .sticky = true});
    auto out = outcome_of([&] { Store::open(o); });
    os::DisarmDiskFaults();
    REQUIRE(out == errc::io_error);
    REQUIRE(out.what.find(dir.path + "/new") != std::string::npos);
    REQUIRE(out.what.find("ENOSPC") != std::string::npos);
    REQUIRE_FALSE(Store::segment_exists(g.name()));  // nothing half-made is published
  }
  Store s = Store::open(o);  // and the fault gone, it opens
  s.set("k", "v");
}
