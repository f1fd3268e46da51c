// shmkv_inspect.cpp: `shmkv-inspect`, a read-only look inside a live store.
//
//   shmkv-inspect NAME [VIEW] [--json] [--lock-wait DUR] [--no-lock] [view options]
//   VIEW: summary (default), shards, keys, get KEY, histogram, check, watch
//
// Read-only, precisely (the details live in src/inspect.hpp):
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
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "inspect.hpp"
#include "inspect_output.hpp"
#include "os.hpp"
#include "shmkv/shmkv.hpp"

namespace {

using namespace inspect_out;
namespace ins = shmkv::detail::inspect;
using shmkv::detail::kChunkBytes;
using shmkv::detail::kMaxLoadPercent;

constexpr int kExitOk = 0;
constexpr int kExitNotFound = 1;
constexpr int kExitUsage = 2;
constexpr int kExitError = 3;
constexpr int kExitInterrupted = 130;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

volatile std::sig_atomic_t g_stop = 0;
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

struct Args {
  std::string name;
  std::string view = "summary";
  std::vector<std::string> positional;      // after the view
  std::map<std::string, std::string> opts;  // without the leading "--"
  bool json = false;
  bool no_lock = false;
  bool help = false;
  bool Has(const std::string& k) const { return opts.count(k) != 0; }
};

struct Ctx {
  Args args;
  std::unique_ptr<ins::Inspector> in;
  ins::Policy policy;
  std::uint64_t now_ms = 0;
};

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

// "500us", "20ms", "1s", "1.5s", "2m"; a bare number is seconds.
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

// --- shared renderings ---

std::string LockJson(const ins::LockInfo& l) {
  Obj o;
  o.Str("state", ins::LockKindName(l.kind));
  if (l.kind == ins::LockKind::held || l.kind == ins::LockKind::dead_holder) {
    if (l.pid)
      o.Int("pid", l.pid);
    else
      o.Null("pid");
    if (l.tid && l.tid != l.pid) o.Int("tid", l.tid);
  }
  return o.Done();
}

// "" for a plain locked read; else why the numbers may be off.
std::string VisitNote(const ins::Visit& v) {
  std::string note;
  switch (v.access) {
    case ins::Access::locked:
      break;
    case ins::Access::dead_holder:
      note = "lock " + v.lock.Describe() + "; read without the lock";
      break;
    case ins::Access::owner_died:
      note = "lock holder died as we locked; read as the dead owner, repair left pending";
      break;
    case ins::Access::busy:
      note = "lock " + v.lock.Describe() + " past --lock-wait; read without the lock";
      break;
    case ins::Access::no_write_access:
      note = "segment mapped read-only (--no-lock or no write access); read without the lock";
      break;
  }
  if (v.seq_odd) note += std::string(note.empty() ? "" : "; ") + "a mutation was in progress";
  if (v.changed) note += std::string(note.empty() ? "" : "; ") + "changed while read";
  return note;
}

// Notes about single shards, grouped: one line per distinct text, "shard 3: ..." or
// "shards 0-2, 7: ...", in order of first appearance.
class ShardNotes {
 public:
  void Add(std::uint32_t shard, const std::string& text) {
    for (auto& [t, shards] : groups_)
      if (t == text) {
        shards.push_back(shard);
        return;
      }
    groups_.push_back({text, {shard}});
  }
  std::vector<std::string> Lines() const {
    std::vector<std::string> out;
    for (const auto& [text, shards] : groups_) {
      std::string list;
      for (std::size_t i = 0; i < shards.size();) {
        std::size_t j = i;
        while (j + 1 < shards.size() && shards[j + 1] == shards[j] + 1) ++j;
        if (!list.empty()) list += ", ";
        list += std::to_string(shards[i]);
        if (j > i) list += "-" + std::to_string(shards[j]);
        i = j + 1;
      }
      out.push_back((shards.size() == 1 ? "shard " : "shards ") + list + ": " + text);
    }
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::vector<std::uint32_t>>> groups_;
};

std::string CountersJson(const ins::Counters& c, std::uint64_t alloc_recoveries) {
  return Obj()
      .Num("gets", c.gets)
      .Num("hits", c.hits)
      .Num("misses", c.misses)
      .Num("sets", c.sets)
      .Num("deletes", c.deletes)
      .Num("cas_success", c.cas_success)
      .Num("cas_failure", c.cas_failure)
      .Num("lock_waits", c.lock_waits)
      .Num("owner_died_recoveries", c.recoveries)
      .Num("allocator_recoveries", alloc_recoveries)
      .Done();
}

std::string TtlText(std::uint64_t expires_ms, std::uint64_t now_ms) {
  if (expires_ms == 0) return "-";
  if (expires_ms <= now_ms)
    return "expired " + HumanDuration(static_cast<std::int64_t>(now_ms - expires_ms)) + " ago";
  return HumanDuration(static_cast<std::int64_t>(expires_ms - now_ms));
}

void AddTtlJson(Obj& o, std::uint64_t expires_ms, std::uint64_t now_ms) {
  if (expires_ms == 0) {
    o.Null("ttl_ms").Null("expires_unix_ms").Bool("expired", false);
    return;
  }
  o.Num("ttl_ms", expires_ms > now_ms ? expires_ms - now_ms : 0)
      .Num("expires_unix_ms", expires_ms)
      .Bool("expired", expires_ms <= now_ms);
}

std::string KeyJsonFields(std::string_view key, Obj& o) {
  o.Str("key", key);
  if (!ValidUtf8(key)) o.Str("key_hex", Hex(key));
  return {};
}

// --- summary ---

int RunSummary(Ctx& c) {
  const auto& h = c.in->header();
  auto shards = ins::SnapshotAll(*c.in, ins::kTable, c.policy, c.now_ms);
  auto pool = ins::ScanChunks(*c.in);
  auto procs = ins::Processes(*c.in);
  auto alloc_lock = ins::ProbeLock(&h.alloc_mutex);
  if (g_stop) return kExitInterrupted;

  ins::Counters total;
  std::uint64_t live = 0, expired = 0, chunks = 0, record_bytes = 0, held = 0, dead = 0,
                unrecoverable = 0;
  std::vector<std::string> approx_json;
  ShardNotes notes;
  for (const auto& s : shards) {
    total += s.counters;
    live += s.live();
    expired += s.expired;
    chunks += s.chunk_count;
    record_bytes += s.used_bytes;
    held += s.visit.lock.kind == ins::LockKind::held;
    dead += s.visit.lock.kind == ins::LockKind::dead_holder;
    unrecoverable += s.visit.lock.kind == ins::LockKind::unrecoverable;
    if (s.visit.approximate()) {
      approx_json.push_back(std::to_string(s.index));
      notes.Add(s.index, VisitNote(s.visit));
    }
  }
  const std::uint64_t arena = h.chunk_count * kChunkBytes;
  const std::uint64_t used = std::min(chunks * kChunkBytes, arena);
  const std::uint64_t capacity = h.slots_per_shard * h.shard_count * kMaxLoadPercent / 100;
  const std::uint64_t dead_procs =
      std::count_if(procs.begin(), procs.end(), [](const auto& p) { return !p.alive; });

  if (c.args.json) {
    std::vector<std::string> pj;
    for (const auto& p : procs)
      pj.push_back(Obj()
                       .Int("pid", p.pid)
                       .Bool("alive", p.alive)
                       .Num("start_time", p.start_time)
                       .Num("attached_unix_ms", p.attached_unix_ms)
                       .Done());
    OutLine(Obj()
                .Str("name", c.in->name())
                .Str("path", shmkv::detail::os::SegmentPath(c.in->name()))
                .Num("layout_version", h.layout_version)
                .Str("fingerprint", Format("0x%016" PRIx64, h.fingerprint))
                .Num("created_unix_ms", h.created_unix_ms)
                .Num("size_bytes", h.size_bytes)
                .Num("index_bytes", h.off_arena)
                .Num("arena_bytes", arena)
                .Num("arena_used_bytes", used)
                .Num("arena_free_bytes", arena - used)
                .Num("record_bytes", record_bytes)
                .Num("largest_free_span_bytes", pool.largest_free_run * kChunkBytes)
                .Num("shards", h.shard_count)
                .Num("max_key_bytes", h.max_key_bytes)
                .Num("max_value_bytes", h.max_value_bytes)
                .Num("key_capacity", capacity)
                .Num("live_keys", live)
                .Num("expired_keys", expired)
                .Raw("locks", Obj()
                                  .Num("held", held)
                                  .Num("dead", dead)
                                  .Num("unrecoverable", unrecoverable)
                                  .Raw("allocator", LockJson(alloc_lock))
                                  .Done())
                .Bool("approximate", !approx_json.empty())
                .Raw("approximate_shards", Array(approx_json))
                .Raw("processes", Array(pj))
                .Str("persistence", "off")
                .Raw("counters", CountersJson(total, h.alloc_recoveries))
                .Done());
    return kExitOk;
  }
  const std::int64_t age = static_cast<std::int64_t>(c.now_ms) - std::int64_t(h.created_unix_ms);
  Table t({{"", false}, {"", false}});
  t.Row({"store", c.in->name() + "  (" + shmkv::detail::os::SegmentPath(c.in->name()) + ")"});
  t.Row(
      {"layout", Format("version %u, fingerprint 0x%016" PRIx64, h.layout_version, h.fingerprint)});
  t.Row({"created", UnixMsToUtc(h.created_unix_ms) + " (" + HumanDuration(age) + " ago)"});
  t.Row({"size", HumanBytes(h.size_bytes) + " total: " + HumanBytes(h.off_arena) + " index, " +
                     HumanBytes(arena) + " arena"});
  t.Row({"arena", "used " + HumanBytes(used) + " (" + Percent(used, arena) + "), free " +
                      HumanBytes(arena - used) + ", largest free span " +
                      HumanBytes(pool.largest_free_run * kChunkBytes)});
  t.Row({"records", HumanBytes(record_bytes) + " in blocks holding live records"});
  t.Row({"keys", Format("%" PRIu64 " live, %" PRIu64
                        " expired (not reclaimed yet); capacity %" PRIu64 " (%s full)",
                        live, expired, capacity, Percent(live + expired, capacity).c_str())});
  t.Row(
      {"shards",
       Format("%u; locks: %" PRIu64 " held, %" PRIu64 " held by dead processes%s", h.shard_count,
              held, dead,
              unrecoverable ? Format(", %" PRIu64 " unrecoverable", unrecoverable).c_str() : "")});
  t.Row({"allocator lock", alloc_lock.Describe()});
  t.Row({"processes",
         Format("%zu registered, %" PRIu64 " dead (not reclaimed yet)", procs.size(), dead_procs)});
  for (const auto& p : procs)
    t.Row({"", Format("pid %d  %s  attached %s", p.pid, p.alive ? "alive" : "DEAD ",
                      UnixMsToUtc(p.attached_unix_ms).c_str())});
  t.Row({"persistence", "off"});
  t.Row({"counters", Format("gets %" PRIu64 " (hits %" PRIu64 ", misses %" PRIu64 "), sets %" PRIu64
                            ", deletes %" PRIu64,
                            total.gets, total.hits, total.misses, total.sets, total.deletes)});
  t.Row({"", Format("cas %" PRIu64 " succeeded, %" PRIu64 " failed; lock waits %" PRIu64
                    "; owner-died recoveries %" PRIu64 " (+%" PRIu64 " allocator)",
                    total.cas_success, total.cas_failure, total.lock_waits, total.recoveries,
                    h.alloc_recoveries)});
  auto lines = t.Lines();
  for (std::size_t i = 1; i < lines.size(); ++i) OutLine(lines[i]);  // no header row
  for (const auto& n : notes.Lines()) OutLine("note: " + n + " (approximate)");
  return kExitOk;
}

// --- shards ---

int RunShards(Ctx& c) {
  auto shards = ins::SnapshotAll(*c.in, ins::kTable | ins::kArena, c.policy, c.now_ms);
  if (g_stop) return kExitInterrupted;
  if (c.args.json) {
    std::vector<std::string> rows;
    for (const auto& s : shards)
      rows.push_back(Obj()
                         .Num("shard", s.index)
                         .Num("live_keys", s.live())
                         .Num("expired_keys", s.expired)
                         .Num("capacity", s.capacity)
                         .Raw("load_factor", JsonFixed(s.load_factor(), 4))
                         .Raw("mean_probe", JsonFixed(s.mean_psl(), 3))
                         .Num("max_probe", s.psl_max)
                         .Num("arena_bytes", s.arena_bytes())
                         .Num("used_bytes", s.used_bytes)
                         .Num("free_bytes", s.free_bytes())
                         .Num("largest_free_block", s.largest_free_block)
                         .Raw("lock", LockJson(s.visit.lock))
                         .Str("access", ins::AccessName(s.visit.access))
                         .Bool("approximate", s.visit.approximate())
                         .Num("recoveries", s.counters.recoveries)
                         .Num("ops", s.counters.ops())
                         .Done());
    OutLine(Obj().Raw("shards", Array(rows)).Done());
    return kExitOk;
  }
  Table t({{"shard", true},
           {"keys", true},
           {"expired", true},
           {"load", true},
           {"probe mean", true},
           {"max", true},
           {"arena", true},
           {"used", true},
           {"free", true},
           {"largest free", true},
           {"ops", true},
           {"recov", true},
           {"lock", false}});
  ShardNotes notes;
  for (const auto& s : shards) {
    std::string lock = s.visit.lock.Describe();
    if (s.visit.approximate()) {
      lock += " *";
      notes.Add(s.index, VisitNote(s.visit));
    }
    t.Row({std::to_string(s.index), std::to_string(s.live()), std::to_string(s.expired),
           Format("%.1f%%", 100 * s.load_factor()), Format("%.2f", s.mean_psl()),
           std::to_string(s.psl_max), HumanBytes(s.arena_bytes()), HumanBytes(s.used_bytes),
           HumanBytes(s.free_bytes()), HumanBytes(s.largest_free_block),
           HumanCount(s.counters.ops()), std::to_string(s.counters.recoveries), lock});
  }
  t.Print();
  for (const auto& n : notes.Lines()) OutLine("* " + n + " (approximate)");
  return kExitOk;
}

// --- keys / get ---

int RunKeys(Ctx& c) {
  const std::string prefix = c.args.Has("prefix") ? c.args.opts["prefix"] : "";
  const std::uint64_t limit = c.args.Has("limit") ? ParseCount(c.args.opts["limit"], "--limit") : 0;
  auto shards = ins::SnapshotAll(*c.in, ins::kKeys, c.policy, c.now_ms);
  if (g_stop) return kExitInterrupted;
  struct Row {
    const ins::RecordCopy* rec;
    std::uint32_t shard;
  };
  std::vector<Row> rows;
  bool approximate = false;
  for (const auto& s : shards) {
    approximate |= s.visit.approximate();
    for (const auto& r : s.records)
      if (r.key.compare(0, prefix.size(), prefix) == 0) rows.push_back({&r, s.index});
  }
  std::sort(rows.begin(), rows.end(),
            [](const Row& a, const Row& b) { return a.rec->key < b.rec->key; });
  const std::size_t matching = rows.size();
  if (limit && rows.size() > limit) rows.resize(limit);
  if (c.args.json) {
    std::vector<std::string> items;
    for (const auto& r : rows) {
      Obj o;
      KeyJsonFields(r.rec->key, o);
      o.Num("shard", r.shard).Num("value_bytes", r.rec->value_len);
      AddTtlJson(o, r.rec->expires_ms, c.now_ms);
      items.push_back(o.Done());
    }
    OutLine(Obj()
                .Raw("keys", Array(items))
                .Num("count", rows.size())
                .Num("matching", matching)
                .Bool("truncated", rows.size() < matching)
                .Bool("approximate", approximate)
                .Done());
    return kExitOk;
  }
  Table t({{"key", false}, {"shard", true}, {"value", true}, {"ttl", false}});
  for (const auto& r : rows)
    t.Row({EscapeBytes(r.rec->key), std::to_string(r.shard), HumanBytes(r.rec->value_len),
           TtlText(r.rec->expires_ms, c.now_ms)});
  t.Print();
  OutLine(rows.size() < matching
              ? Format("(%zu of %zu matching keys; raise --limit for more)", rows.size(), matching)
              : Format("(%zu keys)", matching));
  if (approximate) OutLine("note: some shards were read without their lock (approximate)");
  return kExitOk;
}

int RunGet(Ctx& c) {
  const std::string& key = c.args.positional[0];
  if (key.empty()) throw UsageError("the key is empty");
  auto r = ins::GetKey(*c.in, key, c.policy);
  if (g_stop) return kExitInterrupted;
  const bool expired = r.found && r.record.expires_ms != 0 && r.record.expires_ms <= c.now_ms;
  const bool text = LooksLikeText(r.value);
  if (c.args.json) {
    Obj o;
    KeyJsonFields(key, o);
    o.Num("shard", r.shard).Bool("found", r.found);
    if (r.found) {
      o.Num("slot", r.record.slot)
          .Num("probe_length", r.record.psl)
          .Num("value_bytes", r.record.value_len)
          .Str("encoding", text ? "text" : "hex")
          .Str("value", text ? r.value : Hex(r.value));
      AddTtlJson(o, r.record.expires_ms, c.now_ms);
    }
    o.Str("access", ins::AccessName(r.visit.access)).Bool("approximate", r.visit.approximate());
    OutLine(o.Done());
    return r.found && !expired ? kExitOk : kExitNotFound;
  }
  std::string note = VisitNote(r.visit);
  if (!r.found) {
    Err(Format("shmkv-inspect: key '%s' not found (shard %u)%s", EscapeBytes(key).c_str(), r.shard,
               note.empty() ? "" : ("; " + note).c_str()));
    return kExitNotFound;
  }
  Table t({{"", false}, {"", false}});
  t.Row({"key", EscapeBytes(key)});
  t.Row({"shard",
         Format("%u (slot %" PRIu64 ", probe length %u)", r.shard, r.record.slot, r.record.psl)});
  t.Row({"value", Format("%u bytes, shown as %s", r.record.value_len, text ? "text" : "hex")});
  t.Row({"ttl", r.record.expires_ms == 0
                    ? std::string("none")
                    : TtlText(r.record.expires_ms, c.now_ms) + " (" +
                          UnixMsToUtc(r.record.expires_ms) + ")" +
                          (expired ? "; not reclaimed yet, reads miss it" : "")});
  if (!note.empty()) t.Row({"note", note + " (approximate)"});
  auto lines = t.Lines();
  for (std::size_t i = 1; i < lines.size(); ++i) OutLine(lines[i]);
  OutLine("--");
  if (text) {
    OutLine(r.value);
  } else {
    for (const auto& line : HexDump(r.value)) OutLine(line);
  }
  return expired ? kExitNotFound : kExitOk;
}

// --- histogram ---

// Value-size buckets: [0], [1], [2,3], [4,7], ... (bucket k >= 1 holds [2^(k-1), 2^k - 1]).
std::size_t SizeBucket(std::uint64_t n) {
  return n == 0 ? 0 : 64 - static_cast<std::size_t>(__builtin_clzll(n));
}
std::pair<std::uint64_t, std::uint64_t> BucketRange(std::size_t b) {
  if (b == 0) return {0, 0};
  return {1ull << (b - 1), (1ull << b) - 1};
}

int RunHistogram(Ctx& c) {
  auto shards = ins::SnapshotAll(*c.in, ins::kTable, c.policy, c.now_ms);
  if (g_stop) return kExitInterrupted;
  std::vector<std::uint64_t> psl, sizes(65);
  std::uint64_t keys = 0, psl_sum = 0;
  bool approximate = false;
  for (const auto& s : shards) {
    approximate |= s.visit.approximate();
    if (psl.size() < s.psl_histogram.size()) psl.resize(s.psl_histogram.size());
    for (std::size_t i = 0; i < s.psl_histogram.size(); ++i) psl[i] += s.psl_histogram[i];
    for (const auto& r : s.records) {
      ++sizes[SizeBucket(r.value_len)];
      ++keys;
      psl_sum += r.psl;
    }
  }
  std::size_t lo = 0, hi = 0;
  bool any = false;
  for (std::size_t b = 0; b < sizes.size(); ++b) {
    if (!sizes[b]) continue;
    if (!any) lo = b;
    hi = b;
    any = true;
  }
  if (c.args.json) {
    std::vector<std::string> pj, sj;
    for (std::size_t i = 0; i < psl.size(); ++i)
      pj.push_back(Obj().Num("probe", i).Num("slots", psl[i]).Done());
    for (std::size_t b = lo; any && b <= hi; ++b) {
      auto [from, to] = BucketRange(b);
      sj.push_back(Obj().Num("min", from).Num("max", to).Num("keys", sizes[b]).Done());
    }
    OutLine(Obj()
                .Num("keys", keys)
                .Raw("probe_lengths", Array(pj))
                .Raw("value_sizes", Array(sj))
                .Bool("approximate", approximate)
                .Done());
    return kExitOk;
  }
  constexpr std::size_t kWidth = 50;
  OutLine(Format("probe length distribution (%" PRIu64 " keys in %u shards; mean %.2f)", keys,
                 c.in->shard_count(), keys ? double(psl_sum) / double(keys) : 0.0));
  std::uint64_t pmax = psl.empty() ? 0 : *std::max_element(psl.begin(), psl.end());
  Table pt({{"probe", true}, {"slots", true}, {"", false}}, 2);
  for (std::size_t i = 0; i < psl.size(); ++i)
    pt.Row({std::to_string(i), std::to_string(psl[i]), Bar(psl[i], pmax, kWidth)});
  pt.Print();
  OutLine("value size distribution (bytes)");
  std::uint64_t smax = *std::max_element(sizes.begin(), sizes.end());
  Table st({{"size", true}, {"keys", true}, {"", false}}, 2);
  for (std::size_t b = lo; any && b <= hi; ++b) {
    auto [from, to] = BucketRange(b);
    st.Row({from == to ? std::to_string(from) : Format("%" PRIu64 "-%" PRIu64, from, to),
            std::to_string(sizes[b]), Bar(sizes[b], smax, kWidth)});
  }
  st.Print();
  if (approximate) OutLine("note: some shards were read without their lock (approximate)");
  return kExitOk;
}

// --- check ---

int RunCheck(Ctx& c) {
  std::vector<ins::ShardCheck> checks;
  for (std::uint32_t i = 0; i < c.in->shard_count() && !g_stop; ++i)
    checks.push_back(ins::CheckShard(*c.in, i, c.policy));
  if (g_stop) return kExitInterrupted;
  std::vector<std::string> violations, shard_json;
  ShardNotes notes;
  bool complete = true;
  for (const auto& sc : checks) {
    for (const auto& v : sc.violations) violations.push_back(v);
    complete &= sc.checked;
    if (!sc.checked)
      notes.Add(sc.index, "not checked: lock " + sc.visit.lock.Describe() + " past --lock-wait");
    else if (sc.visit.access != ins::Access::locked)
      notes.Add(sc.index, VisitNote(sc.visit) + "; checked read-only, nothing repaired");
    shard_json.push_back(Obj()
                             .Num("shard", sc.index)
                             .Str("access", ins::AccessName(sc.visit.access))
                             .Raw("lock", LockJson(sc.visit.lock))
                             .Bool("checked", sc.checked)
                             .Num("violations", sc.violations.size())
                             .Done());
  }
  std::vector<std::string> vj, nj;
  for (const auto& v : violations) vj.push_back(JsonQuote(v));
  for (const auto& n : notes.Lines()) nj.push_back(JsonQuote(n));
  if (c.args.json) {
    OutLine(Obj()
                .Bool("healthy", violations.empty() && complete)
                .Bool("complete", complete)
                .Num("shards", checks.size())
                .Raw("violations", Array(vj))
                .Raw("notes", Array(nj))
                .Raw("per_shard", Array(shard_json))
                .Done());
  } else {
    for (const auto& v : violations) OutLine(v);
    for (const auto& n : notes.Lines()) Err("note: " + n);
    if (violations.empty() && complete)
      Err(Format("ok: %zu shards checked, no violations", checks.size()));
  }
  if (!violations.empty()) return kExitNotFound;
  return complete ? kExitOk : kExitError;
}

// --- watch ---

struct Rates {
  double gets, hits, misses, sets, deletes, cas_success, cas_failure, lock_waits;
};

int TerminalRows() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) return ws.ws_row;
  return 24;
}
int TerminalCols() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

int RunWatch(Ctx& c) {
  const auto interval = std::max<std::chrono::microseconds>(
      c.args.Has("interval") ? ParseDuration(c.args.opts["interval"], "--interval")
                             : std::chrono::seconds(1),
      std::chrono::milliseconds(50));
  const bool tty = !c.args.json && ::isatty(STDOUT_FILENO);
  const auto& h = c.in->header();
  const std::uint64_t arena = h.chunk_count * kChunkBytes;
  const std::uint64_t capacity = h.slots_per_shard * h.shard_count * kMaxLoadPercent / 100;
  if (tty) Out("\x1b[?1049h\x1b[?25l");  // alternate screen, hide the cursor
  auto restore = [&] {
    if (tty) Out("\x1b[?25h\x1b[?1049l");
    std::fflush(stdout);
  };
  std::vector<ins::ShardSnapshot> prev;
  auto prev_t = std::chrono::steady_clock::now();
  for (std::uint64_t frame = 1;; ++frame) {
    if (c.in->Removed()) {
      restore();
      Err("shmkv-inspect: segment '" + c.in->name() + "' was removed; exiting");
      return kExitNotFound;
    }
    const std::uint64_t now_ms = shmkv::detail::os::NowUnixMs();
    auto cur = ins::SnapshotAll(*c.in, ins::kHeader, c.policy, now_ms);
    auto procs = ins::Processes(*c.in);
    const auto t = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(t - prev_t).count();
    const bool have_rates = !prev.empty() && dt > 0;
    ins::Counters total, before;
    std::uint64_t keys = 0, chunks = 0, held = 0, dead = 0;
    struct Hot {
      std::uint32_t shard;
      double ops, gets, sets, deletes;
    };
    std::vector<Hot> hot;
    for (const auto& s : cur) {
      total += s.counters;
      keys += s.count;
      chunks += s.chunk_count;
      held += s.visit.lock.kind == ins::LockKind::held;
      dead += s.visit.lock.kind != ins::LockKind::held && s.visit.lock.kind != ins::LockKind::free;
      const ins::Counters p = have_rates ? prev[s.index].counters : ins::Counters{};
      if (have_rates) before += p;
      auto rate = [&](std::uint64_t now, std::uint64_t then) {
        return have_rates && now >= then ? double(now - then) / dt : 0.0;
      };
      hot.push_back({s.index, rate(s.counters.ops(), p.ops()), rate(s.counters.gets, p.gets),
                     rate(s.counters.sets, p.sets), rate(s.counters.deletes, p.deletes)});
    }
    auto rate = [&](std::uint64_t now, std::uint64_t then) {
      return have_rates && now >= then ? double(now - then) / dt : 0.0;
    };
    Rates r{rate(total.gets, before.gets),
            rate(total.hits, before.hits),
            rate(total.misses, before.misses),
            rate(total.sets, before.sets),
            rate(total.deletes, before.deletes),
            rate(total.cas_success, before.cas_success),
            rate(total.cas_failure, before.cas_failure),
            rate(total.lock_waits, before.lock_waits)};
    // Hottest first by the last interval's ops, then by ops since creation.
    std::stable_sort(hot.begin(), hot.end(), [&](const Hot& a, const Hot& b) {
      if (a.ops != b.ops) return a.ops > b.ops;
      return cur[a.shard].counters.ops() > cur[b.shard].counters.ops();
    });
    const std::size_t top =
        c.args.Has("top") ? ParseCount(c.args.opts["top"], "--top")
                          : (tty ? std::size_t(std::max(1, TerminalRows() - 8)) : std::size_t(10));
    if (hot.size() > top) hot.resize(top);
    const std::uint64_t used = std::min(chunks * kChunkBytes, arena);
    const std::uint64_t dead_procs =
        std::count_if(procs.begin(), procs.end(), [](const auto& p) { return !p.alive; });

    if (c.args.json) {
      auto rj = [&](double v) { return JsonFixed(v, 1); };
      std::vector<std::string> hj;
      for (const auto& x : hot)
        hj.push_back(Obj()
                         .Num("shard", x.shard)
                         .Raw("ops_per_s", rj(x.ops))
                         .Num("keys", cur[x.shard].count)
                         .Raw("lock", LockJson(cur[x.shard].visit.lock))
                         .Done());
      Obj o;
      o.Num("refresh", frame)
          .Num("time_unix_ms", now_ms)
          .Num("interval_ms", static_cast<std::uint64_t>(interval.count() / 1000))
          .Num("keys", keys)
          .Num("key_capacity", capacity)
          .Num("arena_bytes", arena)
          .Num("arena_used_bytes", used);
      if (have_rates)
        o.Raw("rates", Obj()
                           .Raw("gets", rj(r.gets))
                           .Raw("hits", rj(r.hits))
                           .Raw("misses", rj(r.misses))
                           .Raw("sets", rj(r.sets))
                           .Raw("deletes", rj(r.deletes))
                           .Raw("cas_success", rj(r.cas_success))
                           .Raw("cas_failure", rj(r.cas_failure))
                           .Raw("lock_waits", rj(r.lock_waits))
                           .Done());
      else
        o.Null("rates");
      o.Raw("locks", Obj().Num("held", held).Num("dead", dead).Done())
          .Num("processes", procs.size())
          .Num("dead_processes", dead_procs)
          .Raw("hottest", Array(hj));
      OutLine(o.Done());
    } else {
      auto rs = [&](double v) { return have_rates ? HumanCount(std::uint64_t(v + 0.5)) : "-"; };
      std::vector<std::string> lines;
      lines.push_back(Format("shmkv-inspect watch  %s  #%" PRIu64 "  every %s  %s  (Ctrl-C quits)",
                             c.in->name().c_str(), frame,
                             HumanDuration(interval.count() / 1000).c_str(),
                             UnixMsToUtc(now_ms).c_str()));
      lines.push_back(Format("keys    %" PRIu64 " of %" PRIu64 " (%s)    arena %s of %s (%s)", keys,
                             capacity, Percent(keys, capacity).c_str(), HumanBytes(used).c_str(),
                             HumanBytes(arena).c_str(), Percent(used, arena).c_str()));
      lines.push_back("ops/s   gets " + rs(r.gets) + "  hits " + rs(r.hits) + "  misses " +
                      rs(r.misses) + "  sets " + rs(r.sets) + "  deletes " + rs(r.deletes) +
                      "  cas " + rs(r.cas_success) + " ok / " + rs(r.cas_failure) + " failed");
      lines.push_back(Format("locks   %" PRIu64 " held, %" PRIu64 " held by dead processes    "
                             "lock waits/s %s    processes %zu (%" PRIu64 " dead)",
                             held, dead, rs(r.lock_waits).c_str(), procs.size(), dead_procs));
      lines.push_back("");
      Table t({{"shard", true},
               {"ops/s", true},
               {"gets/s", true},
               {"sets/s", true},
               {"deletes/s", true},
               {"keys", true},
               {"load", true},
               {"lock", false}});
      for (const auto& x : hot)
        t.Row({std::to_string(x.shard), rs(x.ops), rs(x.gets), rs(x.sets), rs(x.deletes),
               std::to_string(cur[x.shard].count),
               Format("%.1f%%", 100 * cur[x.shard].load_factor()),
               cur[x.shard].visit.lock.Describe()});
      for (auto& l : t.Lines()) lines.push_back(std::move(l));
      if (tty) {
        const std::size_t cols = static_cast<std::size_t>(TerminalCols());
        std::string screen = "\x1b[H";
        for (auto& l : lines) {
          if (l.size() > cols) l.resize(cols);
          screen += l + "\x1b[K\r\n";
        }
        Out(screen + "\x1b[J");
      } else {
        for (const auto& l : lines) OutLine(l);
        OutLine("");
      }
    }
    std::fflush(stdout);
    prev = std::move(cur);
    prev_t = t;
    const auto deadline = t + interval;
    while (!g_stop && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          deadline - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
    if (g_stop) {
      restore();
      return kExitOk;
    }
  }
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
