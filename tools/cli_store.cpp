// cli_store.cpp: `shmkv` commands on the store as a whole: create, snapshot, sync, destroy,
// info, stats, backup, restore, export, import and check (cli.hpp). Each opens the store
// itself, or, for create and destroy, not through Invocation::Open.
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"

namespace shmkv_cli {

std::string InfoJson(const shmkv::Info& i);

// create --json's "recovery": what opening a persistent store found and did (RecoveryReport).
std::string RecoveryJson(const shmkv::RecoveryReport& r) {
  auto texts = [](const std::vector<std::string>& lines) {
    std::vector<std::string> quoted;
    for (const auto& l : lines) quoted.push_back(inspect_out::JsonQuote(l));
    return inspect_out::Array(quoted);
  };
  return Obj()
      .Bool("performed", r.performed)
      .Str("directory", r.directory)
      .Str("snapshot", r.snapshot)
      .Num("snapshot_seq", r.snapshot_seq)
      .Num("snapshot_entries", r.snapshot_entries)
      .Raw("rejected_snapshots", texts(r.rejected_snapshots))
      .Num("journal_files", r.journal_files)
      .Num("records_applied", r.records_applied)
      .Num("records_skipped", r.records_skipped)
      .Raw("truncated", texts(r.truncated))
      .Num("truncated_bytes", r.truncated_bytes)
      .Raw("skipped", texts(r.skipped))
      .Num("skipped_bytes", r.skipped_bytes)
      .Raw("notes", texts(r.notes))
      .Num("entries", r.entries)
      .Num("next_seq", r.next_seq)
      .Int("duration_us", r.duration.count())
      .Done();
}

int RunCreate(Invocation& in) {
  shmkv::Options o = in.StoreOptions();
  o.open_mode = shmkv::OpenMode::create_only;
  if (auto* v = in.Opt("size")) o.size_bytes = ParseSize("--size", *v);
  if (auto* v = in.Opt("shards")) o.shards = ToU32("--shards", ParseCount("--shards", *v));
  if (auto* v = in.Opt("max-key")) o.max_key_bytes = ToU32("--max-key", ParseSize("--max-key", *v));
  if (auto* v = in.Opt("max-value")) {
    o.max_value_bytes = ToU32("--max-value", ParseSize("--max-value", *v));
  }
  if (auto* v = in.Opt("max-keys")) o.max_keys = ParseCount("--max-keys", *v);
  if (auto* v = in.Opt("home-block"))
    o.home_block_bytes = ToU32("--home-block", ParseSize("--home-block", *v));
  if (auto* v = in.Opt("mode")) o.mode = ParseMode(*v);
  if (auto* v = in.Opt("dir")) {
    shmkv::PersistenceOptions p;
    p.directory = *v;
    if (auto* f = in.Opt("fsync")) {
      if (*f == "always")
        p.fsync = shmkv::FsyncPolicy::always;
      else if (*f == "interval")
        p.fsync = shmkv::FsyncPolicy::interval;
      else if (*f == "never")
        p.fsync = shmkv::FsyncPolicy::never;
      else
        throw UsageError("--fsync: '" + *f + "' is not always, interval or never");
    }
    if (auto* d = in.Opt("snapshot-interval"))
      p.snapshot_interval = ParseDuration("--snapshot-interval", *d);
    if (auto* d = in.Opt("fsync-interval"))
      p.fsync_interval = ParseDuration("--fsync-interval", *d);
    if (auto* k = in.Opt("keep")) p.keep_snapshots = ToU32("--keep", ParseCount("--keep", *k));
    o.persistence = p;
  } else if (in.Has("fsync") || in.Has("snapshot-interval") || in.Has("fsync-interval") ||
             in.Has("keep")) {
    throw UsageError("--fsync, --fsync-interval, --snapshot-interval and --keep need --dir");
  }
  // Left at its default, the max value is lowered by the library to what fits a small --size.
  shmkv::Store store = shmkv::Store::open(o);
  if (const std::uint32_t fitted = store.info().max_value_bytes; fitted != o.max_value_bytes)
    Err(
        Format("shmkv: create: max value lowered from %s to %s, the largest that fits a %s "
               "store (give --max-value to choose it)",
               HumanBytes(o.max_value_bytes).c_str(), HumanBytes(fitted).c_str(),
               HumanBytes(o.size_bytes).c_str()));
  if (o.persistence) {
    shmkv::RecoveryReport r = store.recovery_report();
    std::string note = "persisting to " + r.directory;
    if (!r.snapshot.empty() || r.records_applied > 0)
      note += Format("; recovered %" PRIu64 " keys (snapshot %s, %" PRIu64
                     " journal records replayed, %zu tail(s) cut, %zu damaged range(s) skipped, "
                     "%zu snapshot(s) rejected)",
                     r.entries, r.snapshot.empty() ? "none" : r.snapshot.c_str(), r.records_applied,
                     r.truncated.size(), r.skipped.size(), r.rejected_snapshots.size());
    // Damage is reported loudly, one line each: data was lost or set aside.
    for (const auto& t : r.rejected_snapshots)
      Err("shmkv: create: WARNING: rejected snapshot " + t);
    for (const auto& t : r.skipped) Err("shmkv: create: WARNING: journal damage " + t);
    for (const auto& t : r.truncated) Err("shmkv: create: cut " + t);
    for (const auto& t : r.notes) Err("shmkv: create: " + t);
    Err("shmkv: create: " + note);
  }
  shmkv::Info info = store.info();
  if (in.Has("json")) {
    OutLine(Obj()
                .Raw("info", InfoJson(info))
                .Raw("recovery", o.persistence ? RecoveryJson(store.recovery_report()) : "null")
                .Done());
    store.close();
    return kExitOk;
  }
  if (info.redis) {
    OutLine(Format("created store '%s' on %s (redis %s): max key %u bytes, max value %s",
                   info.name.c_str(), info.redis->url.c_str(), info.redis->server_version.c_str(),
                   info.max_key_bytes, HumanBytes(info.max_value_bytes).c_str()));
    return kExitOk;
  }
  OutLine(Format("created store '%s' (/dev/shm/shmkv.%s): %s, %u shards, %" PRIu64
                 " key slots, max key %u bytes, max value %s, mode 0%o",
                 info.name.c_str(), info.name.c_str(), HumanBytes(info.size_bytes).c_str(),
                 info.shards, info.max_keys, info.max_key_bytes,
                 HumanBytes(info.max_value_bytes).c_str(), o.mode));
  store.close();  // io_error (exit 3) if the snapshot or journal of the recovery failed
  return kExitOk;
}

int RunSnapshot(Invocation& in) {
  shmkv::BackupResult r = in.Open().snapshot();
  OutLine(Format("snapshot of %" PRIu64 " keys (%s) at seq %" PRIu64 " in %.1f ms", r.entries,
                 HumanBytes(r.bytes).c_str(), r.seq, r.duration.count() / 1000.0));
  return kExitOk;
}

int RunSync(Invocation& in) {
  in.Open().sync();
  return kExitOk;
}

int RunDestroy(Invocation& in) {
  shmkv::Store::destroy(in.StoreOptions());
  return kExitOk;
}

// info's "coordination": the table's counts and each grant (the first bytes of its name in the
// bytes convention, "name_head" or "name_head_base64"; lease_left_ms null when it has no lease).
std::string CoordinationJson(const shmkv::CoordinationInfo& c) {
  std::vector<std::string> grants;
  for (const shmkv::GrantInfo& g : c.grants) {
    const std::string lease =
        g.lease_left_ms < 0 ? std::string("null") : std::to_string(g.lease_left_ms);
    grants.push_back("{\"kind\":" + inspect_out::JsonQuote(g.kind) + "," +
                     BytesField("name_head", g.name_head) +
                     Format(",\"name_bytes\":%u,\"token\":%" PRIu64
                            ",\"holder_pid\":%d,\"holder_client\":%" PRIu64
                            ",\"holder_alive\":%s,\"lease_left_ms\":%s}",
                            g.name_bytes, g.token, g.holder_pid, g.holder_client,
                            g.holder_alive ? "true" : "false", lease.c_str()));
  }
  return Obj()
      .Num("capacity", c.capacity)
      .Num("used", c.used)
      .Num("last_token", c.last_token)
      .Num("waiters", c.waiters)
      .Num("recoveries", c.recoveries)
      .Raw("grants", inspect_out::Array(grants))
      .Done();
}

std::string InfoJson(const shmkv::Info& i) {
  std::string shards = "[";
  for (std::size_t k = 0; k < i.shard.size(); ++k) {
    const auto& s = i.shard[k];
    if (k) shards += ',';
    shards += Obj()
                  .Num("index", k)
                  .Num("live_keys", s.live_keys)
                  .Num("capacity", s.capacity)
                  .Num("arena_bytes", s.arena_bytes)
                  .Num("used_bytes", s.used_bytes)
                  .Num("max_probe", s.max_probe)
                  .Num("recoveries", s.recoveries)
                  .Done();
  }
  shards += ']';
  std::string procs = "[";
  for (std::size_t k = 0; k < i.processes.size(); ++k) {
    const auto& p = i.processes[k];
    if (k) procs += ',';
    procs += Obj().Int("pid", p.pid).Num("start_time", p.start_time).Bool("alive", p.alive).Done();
  }
  procs += ']';
  std::string redis = "null";
  if (i.redis)
    redis = Obj()
                .Str("url", i.redis->url)
                .Str("server_version", i.redis->server_version)
                .Num("index_entries", i.redis->index_entries)
                .Num("expiring_entries", i.redis->expiring_entries)
                .Num("used_memory", i.redis->used_memory)
                .Num("maxmemory", i.redis->maxmemory)
                .Done();
  return Obj()
      .Str("name", i.name)
      .Str("engine", i.engine)
      .Raw("redis", redis)
      .Num("layout_version", i.layout_version)
      // A string: a 64-bit fingerprint does not survive JSON readers that use doubles.
      .Str("layout_fingerprint", Format("0x%016" PRIx64, i.layout_fingerprint))
      .Num("created_unix_ms", i.created_unix_ms)
      .Num("size_bytes", i.size_bytes)
      .Num("shards", i.shards)
      .Num("max_key_bytes", i.max_key_bytes)
      .Num("max_value_bytes", i.max_value_bytes)
      .Num("max_keys", i.max_keys)
      .Num("arena_bytes", i.arena_bytes)
      .Num("arena_used_bytes", i.arena_used_bytes)
      .Num("home_block_bytes", i.home_block_bytes)
      .Num("home_records", i.home_records)
      .Num("live_keys", i.live_keys)
      .Raw("shard", shards)
      .Raw("processes", procs)
      .Raw("coordination", CoordinationJson(i.coordination))
      .Done();
}

// info's coordination lines: the counts, then one line per grant.
void PrintCoordination(const shmkv::CoordinationInfo& c) {
  const std::string capacity = c.capacity ? Format(" of %u", c.capacity) : std::string();
  OutLine(
      Format("coordination:     %u%s grants in use (claims, locks, permits, barriers), "
             "last token %" PRIu64 ", %u waiting, %" PRIu64 " repairs",
             c.used, capacity.c_str(), c.last_token, c.waiters, c.recoveries));
  for (const shmkv::GrantInfo& g : c.grants) {
    const std::string name = g.name_head + (g.name_bytes > g.name_head.size() ? "..." : "");
    const char* alive = g.holder_alive ? "alive" : "DEAD (free)";
    const std::string holder = g.holder_client
                                   ? Format("client %" PRIu64 " %s", g.holder_client, alive)
                               : g.holder_pid ? Format("pid %d %s", g.holder_pid, alive)
                                              : std::string("no holder");
    const std::string lease =
        g.lease_left_ms < 0 ? "no lease" : Format("lease %" PRId64 " ms left", g.lease_left_ms);
    OutLine(Format("  %-8s %-12s token %-8" PRIu64 " %-16s %s", g.kind.c_str(), name.c_str(),
                   g.token, holder.c_str(), lease.c_str()));
  }
}

int RunInfo(Invocation& in) {
  shmkv::Info i = in.Open().info();
  if (in.Has("json")) {
    OutLine(InfoJson(i));
    return kExitOk;
  }
  if (i.redis) {
    const shmkv::RedisInfo& r = *i.redis;
    OutLine(Format("name:             %s  (on %s, keys {%s}:*)", i.name.c_str(), r.url.c_str(),
                   i.name.c_str()));
    OutLine(Format("engine:           redis %s", r.server_version.c_str()));
    OutLine(Format("max key:          %u bytes", i.max_key_bytes));
    OutLine(Format("max value:        %u bytes (%s)", i.max_value_bytes,
                   HumanBytes(i.max_value_bytes).c_str()));
    OutLine(Format("live keys:        %" PRIu64, i.live_keys));
    OutLine(Format("index entries:    %" PRIu64 " (%" PRIu64 " with a TTL)", r.index_entries,
                   r.expiring_entries));
    OutLine(Format("server memory:    %s used, maxmemory %s", HumanBytes(r.used_memory).c_str(),
                   r.maxmemory ? HumanBytes(r.maxmemory).c_str() : "none"));
    PrintCoordination(i.coordination);
    return kExitOk;
  }
  auto pct = [](std::uint64_t a, std::uint64_t b) { return b ? 100.0 * a / b : 0.0; };
  OutLine(Format("name:             %s  (/dev/shm/shmkv.%s)", i.name.c_str(), i.name.c_str()));
  OutLine("engine:           shm (this host's shared memory)");
  OutLine(Format("layout:           version %u, fingerprint 0x%016" PRIx64, i.layout_version,
                 i.layout_fingerprint));
  OutLine(Format("created:          %s  (unix ms %" PRIu64 ")",
                 UnixMsToUtc(i.created_unix_ms).c_str(), i.created_unix_ms));
  OutLine(Format("size:             %" PRIu64 " bytes (%s)", i.size_bytes,
                 HumanBytes(i.size_bytes).c_str()));
  OutLine(Format("shards:           %u", i.shards));
  OutLine(Format("max key:          %u bytes", i.max_key_bytes));
  OutLine(Format("max value:        %u bytes (%s)", i.max_value_bytes,
                 HumanBytes(i.max_value_bytes).c_str()));
  OutLine(Format("max keys:         %" PRIu64 " (hash-table slots, all shards)", i.max_keys));
  OutLine(Format("arena:            %" PRIu64 " bytes (%s), %" PRIu64 " held by shards (%.1f%%)",
                 i.arena_bytes, HumanBytes(i.arena_bytes).c_str(), i.arena_used_bytes,
                 pct(i.arena_used_bytes, i.arena_bytes)));
  if (i.home_block_bytes)
    OutLine(Format("home blocks:      %u bytes; %" PRIu64 " records in theirs (%.1f%% of keys)",
                   i.home_block_bytes, i.home_records, pct(i.home_records, i.live_keys)));
  OutLine(Format("live keys:        %" PRIu64
                 " (%.1f%% of slots; expired keys count until reclaimed)",
                 i.live_keys, pct(i.live_keys, i.max_keys)));
  OutLine(Format("processes:        %zu attached", i.processes.size()));
  if (!i.processes.empty()) {
    OutLine(Format("  %10s  %14s  %s", "pid", "start_time", "alive"));
    for (const auto& p : i.processes) {
      OutLine(Format("  %10d  %14" PRIu64 "  %-5s%s", p.pid, p.start_time, p.alive ? "yes" : "no",
                     p.pid == ::getpid() ? "  (this shmkv command)" : ""));
    }
  }
  PrintCoordination(i.coordination);
  OutLine(Format("per shard:        %zu rows", i.shard.size()));
  OutLine(Format("  %6s  %10s  %10s  %6s  %12s  %12s  %9s  %10s", "shard", "live_keys", "capacity",
                 "load", "arena_bytes", "used_bytes", "max_probe", "recoveries"));
  for (std::size_t k = 0; k < i.shard.size(); ++k) {
    const auto& s = i.shard[k];
    OutLine(Format("  %6zu  %10" PRIu64 "  %10" PRIu64 "  %5.1f%%  %12" PRIu64 "  %12" PRIu64
                   "  %9u  %10" PRIu64,
                   k, s.live_keys, s.capacity, pct(s.live_keys, s.capacity), s.arena_bytes,
                   s.used_bytes, s.max_probe, s.recoveries));
  }
  return kExitOk;
}

int RunStats(Invocation& in) {
  shmkv::Stats s = in.Open().stats();
  const std::pair<const char*, std::uint64_t> rows[] = {
      {"gets", s.gets},
      {"hits", s.hits},
      {"misses", s.misses},
      {"sets", s.sets},
      {"deletes", s.deletes},
      {"cas_success", s.cas_success},
      {"cas_failure", s.cas_failure},
      {"lock_waits", s.lock_waits},
      {"recoveries", s.recoveries},
  };
  if (in.Has("json")) {
    Obj o;
    for (const auto& [k, v] : rows) o.Num(k, v);
    OutLine(o.Done());
  } else {
    for (const auto& [k, v] : rows) OutLine(Format("%-12s %" PRIu64, k, v));
  }
  return kExitOk;
}

int RunBackup(Invocation& in) {
  shmkv::BackupResult r = in.Open().backup(in.pos[0]);
  OutLine(Format("backed up %" PRIu64 " keys to %s: %s, seq %" PRIu64 ", %.1f ms", r.entries,
                 in.pos[0].c_str(), HumanBytes(r.bytes).c_str(), r.seq,
                 static_cast<double>(r.duration.count()) / 1000.0));
  return kExitOk;
}

shmkv::RestoreOptions RestoreLimits(const Invocation& in) {
  shmkv::RestoreOptions ro;
  if (auto* v = in.Opt("max-entries")) ro.max_entries = ParseCount("--max-entries", *v);
  if (auto* v = in.Opt("max-bytes")) ro.max_bytes = ParseSize("--max-bytes", *v);
  return ro;
}

// "; 2 duplicate lines (the last one for a key wins), 1 expired entry skipped", or "".
std::string Skipped(const shmkv::RestoreResult& r, const char* what) {
  std::string out;
  if (r.duplicates)
    out += Format("; %" PRIu64 " duplicate %s (the last one for a key wins)", r.duplicates, what);
  if (r.expired) out += Format("; %" PRIu64 " expired %s skipped", r.expired, what);
  return out;
}

int RunRestore(Invocation& in) {
  shmkv::RestoreOptions ro = RestoreLimits(in);
  shmkv::RestoreResult r = in.Open().restore(in.pos[0], ro);
  OutLine(Format("restored %" PRIu64 " keys (%s of keys and values) from %s%s", r.entries,
                 HumanBytes(r.bytes).c_str(), in.pos[0].c_str(), Skipped(r, "entries").c_str()));
  return kExitOk;
}

int RunExport(Invocation& in) {
  if (!in.Has("jsonl")) throw UsageError("the only export format is --jsonl");
  const shmkv::JsonlExportOptions eo{.json_values = in.Has("json-values")};
  shmkv::Store& store = in.Open();
  shmkv::JsonlResult r;
  if (in.pos.empty() || in.pos[0] == "-") {
    std::fflush(stdout);
    r = shmkv::export_jsonl(store, std::cout, eo);
  } else {
    r = shmkv::export_jsonl(store, in.pos[0], eo);  // mode 0600, temporary file + rename
  }
  Err(Format("shmkv: export: %" PRIu64 " keys", r.entries));
  return kExitOk;
}

int RunImport(Invocation& in) {
  if (!in.Has("jsonl")) throw UsageError("the only import format is --jsonl");
  const shmkv::JsonlImportOptions io{.limits = RestoreLimits(in), .merge = in.Has("merge")};
  shmkv::Store& store = in.Open();
  shmkv::RestoreResult r;
  if (in.pos[0] == "-") {
    r = shmkv::import_jsonl(store, std::cin, io);
  } else {
    std::ifstream file(in.pos[0], std::ios::binary);
    if (!file) throw shmkv::Error(shmkv::errc::not_found, "cannot open " + in.pos[0]);
    r = shmkv::import_jsonl(store, file, io);
  }
  OutLine(Format(
      "imported %" PRIu64 " keys from %s%s (%s)", r.entries, in.pos[0].c_str(),
      Skipped(r, "lines").c_str(),
      io.merge ? "merged: the store's other keys were kept" : "the previous content was replaced"));
  return kExitOk;
}

int RunCheck(Invocation& in) {
  shmkv::Store& store = in.Open();
  auto violations = store.check_invariants();
  for (const auto& v : violations) OutLine(v);
  if (violations.empty()) {
    const shmkv::Info info = store.info();
    if (info.redis)
      OutLine("ok: no invariant violations (index and values agree)");
    else
      OutLine(Format("ok: no invariant violations in %u shards", info.shards));
    return kExitOk;
  }
  return Note(in, Format("%zu invariant violation(s)", violations.size()), kExitFalse);
}

}  // namespace shmkv_cli
