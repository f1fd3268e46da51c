// mutation_log.hpp: MutationLog, the one interface through which the shared-memory engine reaches
// its disk backend (internal). Persistence (persistence.hpp) implements it; the engine holds one
// per writable handle of a persistent store and none otherwise, so a memory-only mutation pays a
// null check and nothing else.
//
// Who calls what, and under which lock (the engine wraps the first six in Journaled,
// engine/shm_engine.hpp):
// - CheckHealthy, then LogSet / LogDel / LogClearShard, under the shard lock of the key (or of
//   the shard), before the mutation is applied (write-ahead). The sequence number is taken there,
//   so a shard's records are numbered in the order its mutations happened.
// - WaitDurable, still under the lock, when durable_per_write(): the write is acknowledged only
//   once its record is on disk.
// - Commit after the lock is released; Compensate when a mutation failed after its record was
//   logged.
// - Sync, SnapshotNow and Close from the engine's operations of the same names, with no lock.
// What a SIGKILL leaves is Persistence's business (persistence.hpp); nothing here is shared.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "shmkv/store.hpp"

namespace shmkv::detail {

class MutationLog {
 public:
  virtual ~MutationLog() = default;

  // Raises io_error (naming the file and errno) when this handle's journal or its last snapshot
  // failed: mutations call it before changing anything.
  virtual void CheckHealthy() = 0;
  // Each returns a ticket for WaitDurable and Commit. refuse: raise io_error when the journal
  // has failed (the write-ahead path); otherwise the record is dropped and Commit reports it.
  virtual std::uint64_t LogSet(std::string_view key, std::string_view value,
                               std::uint64_t expires_ms, bool refuse = false) = 0;
  virtual std::uint64_t LogDel(std::string_view key, bool refuse = false) = 0;
  virtual std::uint64_t LogClearShard(std::uint32_t shard, bool refuse = false) = 0;
  // True when every write must wait for its record to be durable (FsyncPolicy::always).
  virtual bool durable_per_write() const = 0;
  // Returns once the record of ticket is durable; io_error if it never will be.
  virtual void WaitDurable(std::uint64_t ticket) = 0;
  // After the shard lock is released: io_error if the record was dropped by a failure (or, with
  // durable_per_write, never became durable), unless !may_throw. Also starts due snapshots.
  virtual void Commit(std::uint64_t ticket, bool may_throw) = 0;
  // A mutation failed after its record was logged (store_full, corrupted): journals the key's
  // actual state, so replay ends where the segment is. Never throws.
  virtual void Compensate(std::string_view key) noexcept = 0;

  // Writes and fdatasyncs every record of this handle so far (io_error).
  virtual void Sync() = 0;
  // Writes a snapshot now; busy if another is running, io_error if the disk fails.
  virtual BackupResult SnapshotNow() = 0;
  // Stops journaling and seals the journal. Returns this handle's persistence failure, "" if
  // none.
  virtual std::string Close() noexcept = 0;
};

}  // namespace shmkv::detail
