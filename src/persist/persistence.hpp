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
#include "shm/segment.hpp"
#include "shmkv/options.hpp"
#include "shmkv/persistence.hpp"
#include "shmkv/store.hpp"

namespace shmkv::detail {

class Segment;
struct SegmentHeader;

class Persistence {
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
  ~Persistence();  // Close(), ignoring its error
  Persistence(const Persistence&) = delete;
  Persistence& operator=(const Persistence&) = delete;

  // Stops the threads, flushes (fdatasync unless never) and seals the journal; writes a
  // snapshot first when one is overdue or journals pile up (short-lived writers must not leave
  // a file per run forever). Returns the persistence failure of this handle ("" if none): a
  // journal or snapshot failure that was not cured by a later snapshot.
  std::string Close() noexcept;

  // Raises io_error (naming the file and errno) when this handle's journal or its last snapshot
  // failed: mutations call it before changing anything.
  void CheckHealthy();
  // Under the key's shard lock. Return a ticket for Commit(). refuse: raise io_error when the
  // journal has failed (the Journaled path, which logs before applying); otherwise the record
  // is dropped and Commit reports it.
  std::uint64_t LogSet(std::string_view key, std::string_view value, std::uint64_t expires_ms,
                       bool refuse = false);
  std::uint64_t LogDel(std::string_view key, bool refuse = false);
  std::uint64_t LogClearShard(std::uint32_t shard, bool refuse = false);
  // Returns once the record of ticket is durable; io_error if it never will be.
  void WaitDurable(std::uint64_t ticket);
  // After the shard lock is released. Policy always: returns once the record is durable (raises
  // io_error if the journal failed, unless !may_throw); other policies raise io_error only if
  // the record was dropped by a failure. Also triggers due snapshots.
  void Commit(std::uint64_t ticket, bool may_throw);
  // A mutation failed after its record was logged (store_full, corrupted): journals the key's
  // actual state (an after-image read under its lock, with a new seq), so replay ends where the
  // segment is. Never throws; a failure here fails the journal (cured by the next snapshot).
  void Compensate(std::string_view key) noexcept;
  FsyncPolicy policy() const { return cfg_.policy; }

  // Writes and fdatasyncs every record of this handle so far. When the journal or a snapshot
  // had failed, first writes a snapshot (which holds every applied mutation, journaled or not)
  // and resumes journaling in a new file. Raises io_error.
  void Sync();
  // Writes a snapshot into the directory now (in this thread); busy if another is running,
  // io_error (naming the file and errno) if the disk fails.
  BackupResult SnapshotNow();
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

// Leases last this long unless renewed (snapshot and backup writers renew before every shard).
inline constexpr std::uint64_t kLeaseSeconds = 120;

// Lease words in the segment header (snapshot_lease, backup_lease): pid << 32 | deadline in
// CLOCK_MONOTONIC seconds. A lease is free when 0, past its deadline, or held by a dead pid.
bool ClaimLease(std::atomic<std::uint64_t>* word, std::uint64_t seconds, std::uint64_t* mine);
bool RenewLease(std::atomic<std::uint64_t>* word, std::uint64_t seconds, std::uint64_t* mine);
void ReleaseLease(std::atomic<std::uint64_t>* word, std::uint64_t mine);

std::uint64_t MonotonicMs();

// Opens (or creates) the segment of a store with Options::persistence set: when it must be
// created, it is built from the directory (newest verifying snapshot + journals, recovery.cpp)
// before it is published; *report says what recovery did.
std::unique_ptr<Segment> OpenPersistentSegment(const Options& options, RecoveryReport* report);

}  // namespace shmkv::detail
