// persistence_crashpoint_test.cpp: SIGKILL at every crash point of the disk paths (snapshot
// writing, journal appends with fsync always, recovery itself), then recovery from the
// directory must give exactly the acknowledged content.
//
// For each scenario and n = 1, 2, ...: a fresh directory is seeded, a forked child runs the
// scenario armed to kill itself at its n-th crash point, then the parent destroys the segment
// (a reboot) and reopens the store from the directory. Enumeration ends when the child finishes
// without reaching crash point n.
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>

#include "os/crashpoint.hpp"
#include "persist_test_util.hpp"
#include "test_util.hpp"

using shmkv::FsyncPolicy;
using shmkv::Store;
using namespace testutil;
using namespace persisttest;
using State = std::map<std::string, std::string>;

namespace {

State Contents(Store& s) {
  return contents_of(s);
}

shmkv::Options Opts(const std::string& name, const std::string& dir) {
  auto o = persistent_options(name, dir, FsyncPolicy::always);
  o.shards = 2;
  return o;
}

// Runs fn in a child armed at crash point n. Returns true if the child was killed there.
bool KilledAt(long n, const std::function<void()>& fn) {
  pid_t pid = spawn_child([&] {
    shmkv::detail::ArmCrashPoint(n);
    fn();
    return 0;
  });
  int st = wait_child(pid);
  REQUIRE((st == 0 || st == 128 + SIGKILL));
  return st != 0;
}

}  // namespace

TEST_CASE("crash points: snapshot writing", "[persistence][crashpoint]") {
  long n = 1;
  for (;; ++n) {
    TempDir dir;
    SegmentGuard g(unique_name("pcp"));
    State want;
    {
      Store s = Store::open(Opts(g.name(), dir.path));
      for (int i = 0; i < 6; ++i) s.set("k" + std::to_string(i), "v" + std::to_string(i));
      s.snapshot();  // an older snapshot to fall back to
      s.set("k0", "new");
      s.del("k1");
      want = Contents(s);
    }
    bool killed = KilledAt(n, [&] {
      Store s = Store::open(Opts(g.name(), dir.path));
      s.snapshot();
    });
    INFO("crash point " << n);
    {
      Store s = Store::open(Opts(g.name(), dir.path));  // the segment survived: attach
      REQUIRE(Contents(s) == want);
      REQUIRE(s.check_invariants().empty());
    }
    Store::destroy(g.name());
    Store s = Store::open(Opts(g.name(), dir.path));
    REQUIRE(s.recovery_report().rejected_snapshots.empty());
    REQUIRE(Contents(s) == want);
    if (!killed) break;
  }
  WARN("snapshot: " << n - 1 << " crash points exercised");
  REQUIRE(n > 5);
}

TEST_CASE("crash points: retention (STORE rewritten, journals retired)",
          "[persistence][crashpoint]") {
  long n = 1;
  for (;; ++n) {
    TempDir dir;
    SegmentGuard g(unique_name("pcp"));
    State want;
    auto o = Opts(g.name(), dir.path);
    o.persistence->keep_snapshots = 1;  // every snapshot retires the journals before it
    {
      Store s = Store::open(o);
      for (int i = 0; i < 4; ++i) s.set("k" + std::to_string(i), "v" + std::to_string(i));
      s.snapshot();
      s.set("k0", "new");
      s.del("k1");
      want = Contents(s);
    }
    bool killed = KilledAt(n, [&] {
      Store s = Store::open(o);
      s.snapshot();
    });
    INFO("crash point " << n);
    Store::destroy(g.name());
    Store s = Store::open(o);  // no gap is reported whatever was interrupted
    REQUIRE(Contents(s) == want);
    if (!killed) break;
  }
  WARN("retention: " << n - 1 << " crash points exercised");
  REQUIRE(n > 5);
}

TEST_CASE("crash points: journaled writes with fsync always", "[persistence][crashpoint]") {
  long n = 1;
  for (;; ++n) {
    TempDir dir;
    SegmentGuard g(unique_name("pcp"));
    { Store s = Store::open(Opts(g.name(), dir.path)); }
    SharedArray<int> acked(1);
    bool killed = KilledAt(n, [&] {
      Store s = Store::open(Opts(g.name(), dir.path));
      for (int i = 0; i < 4; ++i) {
        s.set("k" + std::to_string(i), "v" + std::to_string(i));
        acked[0] = i + 1;
      }
      s.del("k0");
      acked[0] = 5;
    });
    INFO("crash point " << n << ", acknowledged " << acked[0]);
    Store::destroy(g.name());
    Store s = Store::open(Opts(g.name(), dir.path));
    State got = Contents(s);
    // Every acknowledged operation is there; the one in flight may be there or not.
    const int a = acked[0];  // 0-4: sets of k0..k3 acknowledged; 5: the delete of k0 too
    for (int i = 0; i < 4; ++i) {
      auto k = "k" + std::to_string(i);
      const std::string v = "v" + std::to_string(i);
      if (i == 0 && a >= 4) {
        if (a == 5)
          REQUIRE_FALSE(got.count(k));
        else
          REQUIRE((!got.count(k) || got[k] == v));  // delete in flight
      } else if (i < a) {
        REQUIRE(got[k] == v);
      } else if (i == a) {
        REQUIRE((!got.count(k) || got[k] == v));  // set in flight
      } else {
        REQUIRE_FALSE(got.count(k));
      }
    }
    REQUIRE(s.check_invariants().empty());
    if (!killed) break;
  }
  WARN("journal: " << n - 1 << " crash points exercised");
  REQUIRE(n > 5);
}

TEST_CASE("crash points: recovery", "[persistence][crashpoint]") {
  long n = 1;
  for (;; ++n) {
    TempDir dir;
    SegmentGuard g(unique_name("pcp"));
    State want;
    {
      Store s = Store::open(Opts(g.name(), dir.path));
      for (int i = 0; i < 3; ++i) s.set("s" + std::to_string(i), "snap");
      s.snapshot();
      for (int i = 0; i < 3; ++i) s.set("j" + std::to_string(i), "journal");
      s.del("s0");
      want = Contents(s);
    }
    Store::destroy(g.name());
    // Only the open is enumerated: once it returns the segment is published, and the close may
    // take a snapshot (when the one the recovery asked for was cancelled by that close), whose
    // crash points the snapshot case covers.
    bool killed = KilledAt(n, [&] {
      Store s = Store::open(Opts(g.name(), dir.path));
      shmkv::detail::ArmCrashPoint(0);
    });
    INFO("crash point " << n);
    if (killed) REQUIRE_FALSE(Store::segment_exists(g.name()));  // never published half-done
    if (Store::segment_exists(g.name())) Store::destroy(g.name());
    Store s = Store::open(Opts(g.name(), dir.path));
    REQUIRE(Contents(s) == want);
    if (!killed) break;
  }
  WARN("recovery: " << n - 1 << " crash points exercised");
  REQUIRE(n > 5);
}
