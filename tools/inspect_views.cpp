// inspect_views.cpp: the one-shot views of shmkv-inspect (summary, shards, keys, get,
// histogram, check) and the renderings they share. See shmkv_inspect.cpp for the contract.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "inspect_cli.hpp"
#include "os/os.hpp"
#include "shm/coordination.hpp"

namespace inspect_cli {

using namespace inspect_out;
using shmkv::detail::IndexState;
using shmkv::detail::kChunkBytes;
using shmkv::detail::kMaxLoadPercent;

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

void ShardNotes::Add(std::uint32_t shard, const std::string& text) {
  for (auto& [t, shards] : groups_)
    if (t == text) {
      shards.push_back(shard);
      return;
    }
  groups_.push_back({text, {shard}});
}

std::vector<std::string> ShardNotes::Lines() const {
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

namespace {

// The disk backend's state, from the segment header and the journal files in its directory.
struct PersistenceView {
  bool on = false;
  std::string dir;
  std::uint64_t last_snapshot_seq = 0, last_snapshot_unix_ms = 0, journal_seq = 0;
  std::uint64_t journal_files = 0, journal_bytes = 0;
};

std::string CoordinationJson(const shmkv::detail::CoordView& v) {
  std::vector<std::string> grants;
  for (const auto& g : v.grants) {
    Obj o;
    o.Str("kind", g.kind)
        .Str("name_head", EscapeBytes(g.name_head))
        .Num("name_bytes", g.name_bytes)
        .Num("token", g.token)
        .Num("holder_pid", g.holder_pid)
        .Bool("holder_alive", g.holder_alive);
    if (g.lease_left_ms < 0)
      o.Null("lease_left_ms");
    else
      o.Int("lease_left_ms", g.lease_left_ms);
    grants.push_back(o.Done());
  }
  std::vector<std::string> watches;
  for (const auto& w : v.watches)
    watches.push_back(
        Obj().Str("prefix", EscapeBytes(w.prefix)).Num("sleepers", w.sleepers).Done());
  return Obj()
      .Num("used", v.used)
      .Num("capacity", shmkv::detail::kCoordMaxHeld)
      .Num("last_token", v.last_token)
      .Num("waiters", v.waiters)
      .Num("recoveries", v.recoveries)
      .Raw("grants", Array(grants))
      .Raw("key_watches", Array(watches))
      .Done();
}

PersistenceView ReadPersistence(const shmkv::detail::SegmentHeader& h) {
  PersistenceView v;
  v.on = h.persist_enabled != 0;
  if (!v.on) return v;
  v.dir.assign(h.persist_dir, strnlen(h.persist_dir, sizeof h.persist_dir));
  v.last_snapshot_seq = h.last_snapshot_seq.load(std::memory_order_relaxed);
  v.last_snapshot_unix_ms = h.last_snapshot_unix_ms.load(std::memory_order_relaxed);
  v.journal_seq = h.journal_seq.load(std::memory_order_relaxed);
  if (DIR* d = opendir(v.dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string_view f = e->d_name;
      struct stat st;
      if (f.substr(0, 7) == "journal" && stat((v.dir + "/" + e->d_name).c_str(), &st) == 0) {
        ++v.journal_files;
        v.journal_bytes += static_cast<std::uint64_t>(st.st_size);
      }
    }
    closedir(d);
  }
  return v;
}

}  // namespace

namespace {

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

}  // namespace

// --- summary ---

int RunSummary(Ctx& c) {
  const auto& h = c.in->header();
  // A moment's view of the coordination table, read without its lock.
  const shmkv::detail::CoordView coord = shmkv::detail::ViewCoordination(*c.in->segment());
  const PersistenceView persist = ReadPersistence(h);
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
  // Index nodes are arena chunks too (read without the index lock: a moment's figures).
  const std::uint64_t index_chunks = h.index.nodes;
  const std::uint64_t used = std::min((chunks + index_chunks) * kChunkBytes, arena);
  const char* index_state = !h.index_enabled                                           ? "off"
                            : h.index.state.load() == std::uint32_t(IndexState::valid) ? "valid"
                                                                                       : "stale";
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
                .Raw("ordered_index", Obj()
                                          .Str("state", index_state)
                                          .Num("height", h.index.height)
                                          .Num("entries", h.index.entries)
                                          .Num("node_bytes", index_chunks * kChunkBytes)
                                          .Num("rebuilds", h.index.rebuilds)
                                          .Num("last_rebuild_us", h.index.last_rebuild_us)
                                          .Done())
                .Raw("coordination", CoordinationJson(coord))
                .Raw("locks", Obj()
                                  .Num("held", held)
                                  .Num("dead", dead)
                                  .Num("unrecoverable", unrecoverable)
                                  .Raw("allocator", LockJson(alloc_lock))
                                  .Done())
                .Bool("approximate", !approx_json.empty())
                .Raw("approximate_shards", Array(approx_json))
                .Raw("processes", Array(pj))
                .Raw("persistence",
                     persist.on ? Obj()
                                      .Str("dir", persist.dir)
                                      .Num("last_snapshot_seq", persist.last_snapshot_seq)
                                      .Num("last_snapshot_unix_ms", persist.last_snapshot_unix_ms)
                                      .Num("journal_seq", persist.journal_seq)
                                      .Num("journal_files", persist.journal_files)
                                      .Num("journal_bytes", persist.journal_bytes)
                                      .Done()
                                : std::string("\"off\""))
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
  t.Row({"ordered index", Format("%s, %" PRIu64 " entries, height %u, ", index_state,
                                 h.index.entries, h.index.height) +
                              HumanBytes(index_chunks * kChunkBytes) + " of nodes" +
                              Format(", %" PRIu64 " rebuilds (last %" PRIu64 " us)",
                                     h.index.rebuilds, h.index.last_rebuild_us)});
  t.Row({"keys", Format("%" PRIu64 " live, %" PRIu64
                        " expired (not reclaimed yet); capacity %" PRIu64 " (%s full)",
                        live, expired, capacity, Percent(live + expired, capacity).c_str())});
  t.Row(
      {"shards",
       Format("%u; locks: %" PRIu64 " held, %" PRIu64 " held by dead processes%s", h.shard_count,
              held, dead,
              unrecoverable ? Format(", %" PRIu64 " unrecoverable", unrecoverable).c_str() : "")});
  t.Row({"allocator lock", alloc_lock.Describe()});
  t.Row({"coordination",
         Format("%u of %u grants in use (claims, locks, permits, barriers), last token %" PRIu64
                ", %u waiting, %" PRIu64 " repairs",
                coord.used, shmkv::detail::kCoordMaxHeld, coord.last_token, coord.waiters,
                coord.recoveries)});
  for (const auto& g : coord.grants)
    t.Row({"", Format("%-8s %-20s token %" PRIu64 "  %s  %s", g.kind,
                      EscapeBytes(g.name_head).c_str(), g.token,
                      g.holder_pid == 0 ? "no holder"
                                        : Format("pid %u %s", g.holder_pid,
                                                 g.holder_alive ? "alive" : "DEAD (free)")
                                              .c_str(),
                      g.lease_left_ms < 0
                          ? "no lease"
                          : Format("lease %" PRId64 " ms left", g.lease_left_ms).c_str())});
  for (const auto& w : coord.watches)
    t.Row(
        {"", Format("waiting for a key %s: %u",
                    w.prefix.empty() ? "(any)" : ("starting with " + EscapeBytes(w.prefix)).c_str(),
                    w.sleepers)});
  t.Row({"processes",
         Format("%zu registered, %" PRIu64 " dead (not reclaimed yet)", procs.size(), dead_procs)});
  for (const auto& p : procs)
    t.Row({"", Format("pid %d  %s  attached %s", p.pid, p.alive ? "alive" : "DEAD ",
                      UnixMsToUtc(p.attached_unix_ms).c_str())});
  if (!persist.on) {
    t.Row({"persistence", "off"});
  } else {
    t.Row({"persistence", persist.dir});
    t.Row({"", persist.last_snapshot_unix_ms
                   ? Format("last snapshot at seq %" PRIu64 ", %s ago", persist.last_snapshot_seq,
                            HumanDuration(static_cast<std::int64_t>(c.now_ms) -
                                          static_cast<std::int64_t>(persist.last_snapshot_unix_ms))
                                .c_str())
                   : std::string("no snapshot yet")});
    t.Row({"", Format("journal: next seq %" PRIu64 ", %" PRIu64 " files, %s", persist.journal_seq,
                      persist.journal_files, HumanBytes(persist.journal_bytes).c_str())});
  }
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

}  // namespace inspect_cli
