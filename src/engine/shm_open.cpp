// shm_open.cpp: opening the shared-memory engine (OpenShmEngine, shm_engine.hpp): the segment,
// recovered from the persistence directory when it must be created (persist/recovery.cpp),
// then this process's journaling when the store is persistent. Nothing shared is written here
// beyond what Segment::Open and recovery write. Options the caller set that the existing
// segment disagrees with (size, shards, key and value limits) are refused after the attach.
#include <cstring>
#include <memory>

#include "engine/shm_engine.hpp"
#include "os/file_io.hpp"
#include "os/throw.hpp"
#include "persist/persistence.hpp"
#include "shm/segment.hpp"

namespace shmkv::detail {
namespace {

// An option the caller set (not left at its default) that the segment has another value for:
// invalid_argument naming the option and both values. A segment this open created has the
// caller's values (the creation writes them as given, but for a default max_value_bytes, which
// it may lower to what fits, and a default is not compared), so only an attach can disagree.
void CheckAttachOptions(const Segment& seg, const Options& options) {
  static const Options kDefault;  // static: see shmkv_options_init (GCC 12 and std::optional)
  const Geometry& g = seg.geo();
  auto check = [&](const char* option, std::uint64_t given, std::uint64_t dflt,
                   std::uint64_t store) {
    if (given == dflt || given == store) return;
    Throw(errc::invalid_argument,
          "store '" + options.name + "' exists with " + option + " " + std::to_string(store) +
              "; this open asks for " + option + " " + std::to_string(given) + " (leave " + option +
              " at its default, " + std::to_string(dflt) + ", to attach with the store's value)");
  };
  check("size_bytes", options.size_bytes, kDefault.size_bytes, g.size_bytes);
  check("shards", options.shards, kDefault.shards, g.shard_count);
  check("max_key_bytes", options.max_key_bytes, kDefault.max_key_bytes, g.max_key_bytes);
  check("max_value_bytes", options.max_value_bytes, kDefault.max_value_bytes, g.max_value_bytes);
}

// The segment, then journaling when it is persistent.
void OpenStore(ShmEngine& im, const Options& options) {
  im.seg =
      options.persistence ? OpenPersistentSegment(options, &im.recovery) : Segment::Open(options);
  CheckAttachOptions(*im.seg, options);
  im.seg->set_verify_reads(options.verify_reads);
  SegmentHeader* h = im.seg->header();
  if (!h->persist_enabled) {
    if (options.persistence)
      Throw(errc::invalid_argument,
            "segment '" + options.name +
                "' exists and is memory only; it cannot be opened with persistence (destroy "
                "it, or back it up and restore the backup into a persistent store)");
    return;
  }
  Persistence::Config cfg;
  cfg.dir.assign(h->persist_dir, strnlen(h->persist_dir, sizeof h->persist_dir));
  cfg.policy = static_cast<FsyncPolicy>(h->persist_fsync);
  cfg.fsync_interval_ms = h->persist_fsync_interval_ms;
  cfg.snapshot_interval_ms = h->persist_snapshot_interval_ms;
  cfg.keep_snapshots = h->persist_keep_snapshots;
  cfg.store_name = options.name;
  cfg.trusted_group = options.trusted_group;
  if (options.persistence) {
    std::string dir = fileio::AbsolutePath(options.persistence->directory);
    if (dir != cfg.dir)
      Throw(errc::invalid_argument,
            "segment '" + options.name + "' persists to " + cfg.dir + ", not to " + dir);
    cfg.policy = options.persistence->fsync;
    cfg.fsync_interval_ms = static_cast<std::uint64_t>(options.persistence->fsync_interval.count());
  }
  im.recovery.directory = cfg.dir;
  if (im.read_only) return;
  fileio::CheckTrustedDir(cfg.dir, cfg.trusted_group);  // we are about to write into it
  auto persistence = std::make_unique<Persistence>(im.seg.get(), cfg);
  // After a replay, write a snapshot soon: it makes the replayed journals deletable.
  if (im.recovery.performed && im.recovery.records_applied + im.recovery.truncated.size() > 0)
    persistence->RequestSnapshot();
  im.log = std::move(persistence);
}

}  // namespace

std::unique_ptr<Engine> OpenShmEngine(const Options& options) {
  auto engine = std::make_unique<ShmEngine>();
  engine->read_only = options.open_mode == OpenMode::read_only;
  OpenStore(*engine, options);
  engine->AdoptLimits(options.name);
  return engine;
}

}  // namespace shmkv::detail
