// shmkv_inspect.cpp: `shmkv-inspect`, a read-only look inside a live store.
//
//   shmkv-inspect NAME [VIEW] [--json] [--lock-wait DUR] [--no-lock] [view options]
//   VIEW: summary (default), shards, keys, get KEY, histogram, check, watch
//
// Read-only, precisely (the details live in src/shm/inspect.hpp):
// - It attaches without Segment::Open: it does not register in the process registry and does
//   not reclaim dead processes' entries (it reports them). It never writes to the segment.
// - It never calls ShardLock (which repairs a dead holder's shard: a mutation). Per shard it
//   first reads the mutex state (futex word, and the owner TID through MutexOwnerTid). If the
//   holder is dead it does not touch the mutex: it reads the shard without the lock and reports
//   "held by dead pid N (repair pending)"; the next real locker repairs as usual. Otherwise it
//   pthread_mutex_trylock()s with a short bounded retry (--lock-wait, default 20 ms; 1 s for
//   check), copies that one shard's metadata and unlocks. If a live holder keeps the lock past
//   the budget, the shard is read without the lock and its numbers are flagged approximate.
// - If the holder dies between that probe and our trylock (EOWNERDEAD), we own a dead shard.
//   Unlocking it without pthread_mutex_consistent() would make it unrecoverable; marking it
//   consistent would skip the repair. So trylock always runs on a throwaway thread, which in
//   that case reads the shard and exits still holding the mutex: the kernel marks the mutex
//   owner-died again and the next locker repairs it, as if we had not looked.
// - Without write access to /dev/shm/shmkv.NAME, or with --no-lock, it maps the segment
//   read-only (PROT_READ: a write would fault) and reads every shard without its lock
//   (approximate).
// - SIGINT/SIGTERM/SIGHUP are caught, so a Ctrl-C never lands while a shard lock is held.
//
// Output: human-readable aligned tables, or with --json one JSON document per line (watch:
// one per refresh) with a fixed key order. Shards read without their lock say so ("access",
// "approximate"). Keys/values: valid UTF-8 passes through JSON; other bytes are \u00XX escapes.
//
// Exit codes: 0 ok; 1 not found (segment, key) or check found violations; 2 usage; 3 error
// (incompatible layout, I/O, a check that could not look at every shard); 130 interrupted.
//
// Files: this one (command line, help, main), inspect_views.cpp (summary, shards, keys, get,
// histogram, check), inspect_watch.cpp (watch), inspect_output.* (JSON, tables, units),
// inspect_cli.hpp (what they share); the snapshot API is src/shm/inspect.*.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "inspect_cli.hpp"
#include "os/os.hpp"
#include "shmkv/shmkv.hpp"

namespace inspect_cli {

volatile std::sig_atomic_t g_stop = 0;

}  // namespace inspect_cli

namespace {

using namespace inspect_out;
using namespace inspect_cli;

extern "C" void OnStopSignal(int) {
  g_stop = 1;
}

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a sleep returns early
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

// --- command line ---

struct View {
  const char* name;
  const char* synopsis;
  const char* summary;  // one line, for the general help
  const char* help;
  std::set<std::string> options;  // view options taking a value
  int (*run)(Ctx&);
  std::size_t positional;  // positional arguments after the view name
};

const std::vector<View>& Views();

constexpr const char* kGeneralHelp =
    "usage: shmkv-inspect NAME [VIEW] [--json] [--lock-wait DUR] [--no-lock] [options]\n"
    "\n"
    "A read-only look inside the live shmkv store NAME (/dev/shm/shmkv.NAME) while its\n"
    "processes keep running. It never writes to the segment, never registers itself, holds a\n"
    "shard lock only while copying that shard's metadata, and does not wait on a lock whose\n"
    "holder died: it reports the dead holder instead.\n"
    "\n"
    "views:\n"
    "%s"
    "\n"
    "options:\n"
    "  --json            machine-readable output (one JSON document per line)\n"
    "  --lock-wait DUR   how long to retry a busy shard lock before reading without it\n"
    "                    (default 20ms; check: 1s). DUR: 500us, 20ms, 1s, 1.5s, 2m\n"
    "  --no-lock         map the segment read-only and take no lock at all (not even\n"
    "                    briefly): nothing can be written; numbers are approximate\n"
    "  -h, --help        this help; NAME VIEW --help: help for one view\n"
    "\n"
    "exit codes: 0 ok, 1 not found / check failed, 2 usage, 3 error, 130 interrupted\n";

void PrintHelp(const View* v) {
  if (v == nullptr) {
    std::string list;
    for (const View& w : Views()) list += Format("  %-32s %s\n", w.synopsis, w.summary);
    std::string text = Format(kGeneralHelp, list.c_str());
    Out(text);
    return;
  }
  OutLine(
      Format("usage: shmkv-inspect NAME %s [--json] [--lock-wait DUR] [--no-lock]", v->synopsis));
  OutLine("");
  OutLine(v->summary);
  OutLine("");
  OutLine(v->help);
}

const View* FindView(std::string_view name) {
  for (const View& v : Views())
    if (name == v.name) return &v;
  return nullptr;
}

Args Parse(int argc, char** argv) {
  Args a;
  std::vector<std::string> pos;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      pos.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      a.help = true;
      continue;
    }
    if (arg.compare(0, 2, "--") != 0) throw UsageError("unknown option " + arg);
    std::string key = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key.resize(eq);
      has_value = true;
    }
    if (key == "json" || key == "no-lock") {
      if (has_value) throw UsageError("--" + key + " takes no value");
      (key == "json" ? a.json : a.no_lock) = true;
      continue;
    }
    static const std::set<std::string> kValued = {"lock-wait", "prefix", "limit", "interval",
                                                  "top"};
    if (!kValued.count(key)) throw UsageError("unknown option --" + key);
    if (!has_value) {
      if (i + 1 >= argc) throw UsageError("--" + key + " needs a value");
      value = argv[++i];
    }
    a.opts[key] = value;
  }
  if (a.help) {
    // "--help", "NAME VIEW --help" or "VIEW --help".
    a.view.clear();
    if (pos.size() >= 2 && FindView(pos[1])) a.view = pos[1];
    if (a.view.empty() && pos.size() == 1 && FindView(pos[0])) a.view = pos[0];
    return a;
  }
  if (pos.empty()) throw UsageError("missing the store NAME");
  a.name = pos[0];
  if (pos.size() >= 2) a.view = pos[1];
  const View* v = FindView(a.view);
  if (!v) throw UsageError("unknown view '" + a.view + "'");
  a.positional.assign(pos.begin() + std::min<std::size_t>(pos.size(), 2), pos.end());
  if (a.positional.size() != v->positional)
    throw UsageError(
        Format("%s takes %zu argument(s), got %zu", v->name, v->positional, a.positional.size()));
  for (const auto& [k, val] : a.opts) {
    if (k != "lock-wait" && !v->options.count(k))
      throw UsageError("--" + k + " does not apply to " + v->name);
    // Malformed values are usage errors, found before the store is opened.
    if (k == "lock-wait" || k == "interval") ParseDuration(val, ("--" + k).c_str());
    if (k == "limit" || k == "top") ParseCount(val, ("--" + k).c_str());
  }
  return a;
}

const std::vector<View>& Views() {
  static const std::vector<View> kViews = {
      {"summary",
       "summary",
       "sizes, keys, locks, processes, counters (the default view)",
       "Layout version and fingerprint, creation time, total / index / arena bytes and how\n"
       "much of the arena shards hold, live keys and expired keys not reclaimed yet, shard\n"
       "count and lock states, registered processes (alive or dead: inspect reclaims\n"
       "nothing), persistence state, and the operation counters since creation.",
       {},
       RunSummary,
       0},
      {"shards",
       "shards",
       "one row per shard: load, probes, arena, lock state",
       "Per shard: live and expired keys, load factor (records / table slots), mean and max\n"
       "probe length, arena bytes held / used by live records / free, the largest free slab\n"
       "block, operations, owner-died recoveries and the lock state (free, held by pid N,\n"
       "held by dead pid N). Shards read without their lock are marked and approximate.",
       {},
       RunShards,
       0},
      {"keys",
       "keys [--prefix P] [--limit N]",
       "keys in byte order, with shard, size and TTL",
       "Keys in byte order with their shard, value size and TTL. Expired keys that are not\n"
       "reclaimed yet are listed too (ttl \"expired ... ago\"). --limit 0 (default) = all.",
       {"prefix", "limit"},
       RunKeys,
       0},
      {"get",
       "get KEY",
       "one key's value (text or hex) and TTL",
       "One key: its shard, slot and probe length, its value (as text when it is valid UTF-8\n"
       "without control characters, else hex) and its TTL. Exit 1 if the key is absent or\n"
       "expired (an expired key not yet reclaimed is still shown). Reading it does not count\n"
       "as a get.",
       {},
       RunGet,
       1},
      {"histogram",
       "histogram",
       "probe-length and value-size distributions",
       "The probe-length distribution of all table slots and the value-size distribution\n"
       "(power-of-two buckets), as text bar charts.",
       {},
       RunHistogram,
       0},
      {"check",
       "check",
       "the invariant check of every shard (exit 1 on violations)",
       "Runs the library's CheckInvariants() on every shard, taking each shard lock briefly.\n"
       "Prints one line per violation (\"shard N: slot M: what is wrong\") and exits 1; exits\n"
       "0 when healthy. A shard whose lock holder is dead is checked without the lock and not\n"
       "repaired (a note on stderr says so); a shard whose live holder keeps the lock past\n"
       "--lock-wait (default 1s) is not checked, and the exit code is then 3.",
       {},
       RunCheck,
       0},
      {"watch",
       "watch [--interval 1s] [--top N]",
       "live rates, fill level and hottest shards",
       "A top-like view refreshed in place on a terminal: operations per second, key and\n"
       "arena fill level, lock states and the hottest shards (--top N rows; default: what\n"
       "fits). Not a terminal: frames are printed one after another; --json: one JSON line\n"
       "per refresh. Exits 0 on Ctrl-C, 1 when the segment is removed.",
       {"interval", "top"},
       RunWatch,
       0},
  };
  return kViews;
}

// what() of a system_error ends with ": <category message>" (the code name): drop it.
std::string ErrorMessage(const shmkv::Error& e) {
  std::string what = e.what();
  std::string suffix = std::string(": ") + shmkv::errc_name(e.code_value());
  if (what.size() >= suffix.size() &&
      what.compare(what.size() - suffix.size(), suffix.size(), suffix) == 0)
    what.resize(what.size() - suffix.size());
  return what;
}

int ExitCodeFor(shmkv::errc e) {
  switch (e) {
    case shmkv::errc::not_found:
      return kExitNotFound;
    case shmkv::errc::invalid_argument:
      return kExitUsage;
    default:
      return kExitError;
  }
}

}  // namespace

namespace inspect_cli {

std::chrono::microseconds ParseDuration(const std::string& s, const char* what) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  double scale = unit == "us"                  ? 1
                 : unit == "ms"                ? 1e3
                 : unit == "s" || unit.empty() ? 1e6
                 : unit == "m"                 ? 60e6
                                               : -1;
  if (s.empty() || end == s.c_str() || scale < 0 || !(v >= 0) || v * scale > 3.6e12)
    throw UsageError(Format("%s '%s' is not a duration (like 200ms, 1s, 1.5s)", what, s.c_str()));
  return std::chrono::microseconds(static_cast<std::int64_t>(v * scale));
}

std::uint64_t ParseCount(const std::string& s, const char* what) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || s[0] == '-' || *end != '\0')
    throw UsageError(Format("%s '%s' is not a non-negative integer", what, s.c_str()));
  return v;
}

}  // namespace inspect_cli

int main(int argc, char** argv) {
  Ctx c;
  try {
    c.args = Parse(argc, argv);
  } catch (const UsageError& e) {
    Err(std::string("shmkv-inspect: ") + e.what());
    Err("usage: shmkv-inspect NAME [summary|shards|keys|get KEY|histogram|check|watch] [--json]"
        " (--help for more)");
    return kExitUsage;
  }
  if (c.args.help) {
    PrintHelp(c.args.view.empty() ? nullptr : FindView(c.args.view));
    return kExitOk;
  }
  InstallSignalHandlers();
  try {
    const bool check = c.args.view == "check";
    c.policy.lock_budget = c.args.Has("lock-wait")
                               ? ParseDuration(c.args.opts["lock-wait"], "--lock-wait")
                               : std::chrono::microseconds(check ? std::chrono::seconds(1)
                                                                 : std::chrono::milliseconds(20));
    c.in = ins::Inspector::Attach(c.args.name, c.args.no_lock);
    c.now_ms = shmkv::detail::os::NowUnixMs();
    int rc = FindView(c.args.view)->run(c);
    std::fflush(stdout);
    return rc;
  } catch (const UsageError& e) {
    Err(std::string("shmkv-inspect: ") + e.what());
    return kExitUsage;
  } catch (const shmkv::Error& e) {
    Err(std::string("shmkv-inspect: ") + shmkv::errc_name(e.code_value()) + ": " + ErrorMessage(e));
    return ExitCodeFor(e.code_value());
  } catch (const std::exception& e) {
    Err(std::string("shmkv-inspect: error: ") + e.what());
    return kExitError;
  }
}
