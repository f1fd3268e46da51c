// shm_open.cpp: opening the shared-memory engine (OpenShmEngine, shm_engine.hpp): the segment,
// recovered from the persistence directory when it must be created (persist/recovery.cpp),
// then this process's journaling when the store is persistent. Nothing shared is written here
// beyond what Segment::Open and recovery write.
#include <cstring>
#include <memory>

#include "engine/shm_engine.hpp"
#include "os/file_io.hpp"
#include "os/throw.hpp"
#include "persist/persistence.hpp"
#include "shm/segment.hpp"

namespace shmkv::detail {
namespace {

// The segment, then journaling when it is persistent.
void OpenStore(ShmEngine& im, const Options& options) {
  im.seg =
      options.persistence ? OpenPersistentSegment(options, &im.recovery) : Segment::Open(options);
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
