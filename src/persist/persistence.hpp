// persistence.hpp: the process-local side of the disk backend (internal).
//
// A Persistence exists per writable Store handle on a persistent segment. Mutations call Log*()
// while holding the key's shard lock (the sequence number is taken there, so a shard's records
// are numbered in the order its mutations happened) and Commit() after releasing it (waits for
// durability per the fsync policy, elects a snapshot writer when one is due). A background
// thread per handle does the interval flushes, rotates the journal after each snapshot and runs
// the snapshots this process wins. Nothing here is shared between processes except through the
// segment header (journal_seq, snapshot_due_ms, the leases, snapshot_gen) and the directory.
//
// What a SIGKILL leaves: the records buffered in this process and not yet written are lost
// (their mutations are in the segment and reach disk with the next snapshot, unless the host
// goes down first); a journal file ends in at most one torn record; a snapshot in progress
// leaves a temporary file (removed by the next snapshot writer) and a lease that the next
// process takes over once it sees the holder dead.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "persist/journal.hpp"
#include "persist/mutation_log.hpp"
#include "shm/segment.hpp"
#include "shmkv/options.hpp"
#include "shmkv/persistence.hpp"
#include "shmkv/store.hpp"

namespace shmkv::detail {

class Segment;
struct SegmentHeader;

class Persistence final : public MutationLog {
 public:
  struct Config {
    std::string dir;
    FsyncPolicy policy = FsyncPolicy::interval;
    std::uint64_t fsync_interval_ms = 100;
    std::uint64_t snapshot_interval_ms = 30000;
    std::uint32_t keep_snapshots = 2;
    std::string store_name;                      // for messages
    std::optional<std::uint32_t> trusted_group;  // Options::trusted_group (file checks, groups)
  };

  Persistence(Segment* seg, Config config);
  ~Persistence() override;  // Close(), ignoring its error
  Persistence(const Persistence&) = delete;
  Persistence& operator=(const Persistence&) = delete;

  // Stops the threads, flushes (fdatasync unless never) and seals the journal; writes a
  // snapshot first when one is overdue or journals pile up (short-lived writers must not leave
  // a file per run forever). Returns the persistence failure of this handle ("" if none): a
  // journal or snapshot failure that was not cured by a later snapshot.
  std::string Close() noexcept override;

  // The mutation log (mutation_log.hpp). Persistence's own rules: a failed journal or snapshot
  // fails CheckHealthy until a snapshot whose start seq is above every seq this handle was given
  // is durable (that snapshot holds every applied mutation, journaled or not); Compensate logs an
  // after-image read under the key's lock, with a new seq, and a failure there fails the journal;
  // Sync first writes such a curing snapshot and resumes journaling in a new file when the
  // journal or a snapshot had failed.
  void CheckHealthy() override;
  std::uint64_t LogSet(std::string_view key, std::string_view value, std::uint64_t expires_ms,
                       bool refuse) override;
  std::uint64_t LogDel(std::string_view key, bool refuse) override;
  std::uint64_t LogClearShard(std::uint32_t shard, bool refuse) override;
  bool durable_per_write() const override { return cfg_.policy == FsyncPolicy::always; }
  void WaitDurable(std::uint64_t ticket) override;
  void Commit(std::uint64_t ticket, bool may_throw) override;
  void Compensate(std::string_view key) noexcept override;
  void Sync() override;
  BackupResult SnapshotNow() override;
  // Makes the background thread take a snapshot as soon as it can (after a recovery).
  void RequestSnapshot();

 private:
  struct State;
  State& St();
  // Opens this process's own journal state (a new journal file) for this->fork_gen_.
  void StartState();
  void StartThread(State& st);
  void ThreadMain(State* st);
  void Tick(State& st);
  // Elects this process if a snapshot is due; runs it in the snapshot thread.
  void MaybeStartSnapshot(State& st, bool force);
  BackupResult RunSnapshot(State& st, const std::atomic<bool>* cancel);
  void CleanupAfterSnapshot(std::uint64_t newest_seq);
  // A snapshot with start seq `seq` is durable: clears this handle's failures that it cures.
  void AfterSnapshot(State& st, std::uint64_t seq);
  void SnapshotFailed(State& st, const std::string& what);

  Segment* seg_;
  SegmentHeader* hdr_;
  Config cfg_;
  std::unique_ptr<State> st_;
  std::uint64_t fork_gen_;
  std::uint64_t store_id_ = 0;  // the directory's identity (0: none recorded)
};

// The directory's identity file (<dir>/STORE): the store's name, a random id, and the sequence
// number below which journals were retired (only snapshots hold that history).
struct DirIdentity {
  std::string name;
  std::uint64_t id = 0;
  std::uint64_t retired_below = 0;
};
inline constexpr const char* kIdentityFile = "STORE";
// Reads <dir>/STORE; false if it does not exist. Throws corrupted if it is unreadable.
bool ReadDirIdentity(const std::string& dir, DirIdentity* out,
                     const std::optional<std::uint32_t>& trusted_group);
// Writes it atomically (temporary file, fdatasync, rename, directory fsync).
void WriteDirIdentity(const std::string& dir, const DirIdentity& id,
                      const std::optional<std::uint32_t>& trusted_group);

// Opens (or creates) the segment of a store with Options::persistence set: when it must be
// created, it is built from the directory (newest verifying snapshot + journals, recovery.cpp)
// before it is published; *report says what recovery did.
std::unique_ptr<Segment> OpenPersistentSegment(const Options& options, RecoveryReport* report);

}  // namespace shmkv::detail
