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

#include "journal.hpp"
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
  };

  Persistence(Segment* seg, Config config);
  ~Persistence();  // flushes (fdatasync unless never), seals the journal, stops the threads
  Persistence(const Persistence&) = delete;
  Persistence& operator=(const Persistence&) = delete;

  // Under the key's shard lock, after the mutation is applied. Return a ticket for Commit().
  std::uint64_t LogSet(std::string_view key, std::string_view value, std::uint64_t expires_ms);
  std::uint64_t LogDel(std::string_view key);
  std::uint64_t LogClearShard(std::uint32_t shard);
  // After the shard lock is released. Policy always: returns once the record is durable (raises
  // io_error if the journal failed, unless !may_throw). Also triggers due snapshots.
  void Commit(std::uint64_t ticket, bool may_throw);

  // Writes and fdatasyncs every record of this handle so far. Raises io_error.
  void Sync();
  // Writes a snapshot into the directory now (in this thread); busy if another is running.
  BackupResult SnapshotNow();
  // Makes the background thread take a snapshot as soon as it can (after a recovery).
  void RequestSnapshot();

  const Config& config() const { return cfg_; }

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

  Segment* seg_;
  SegmentHeader* hdr_;
  Config cfg_;
  std::unique_ptr<State> st_;
  std::uint64_t fork_gen_;
};

// Store::open: opens the segment (recovering it from the directory when it must be created and
// Options::persistence is set) and sets up journaling when the segment is persistent.
void OpenStore(Store::Impl& im, const Options& options);

// Leases last this long unless renewed (snapshot and backup writers renew before every shard).
inline constexpr std::uint64_t kLeaseSeconds = 120;

// Lease words in the segment header (snapshot_lease, backup_lease): pid << 32 | deadline in
// CLOCK_MONOTONIC seconds. A lease is free when 0, past its deadline, or held by a dead pid.
bool ClaimLease(std::atomic<std::uint64_t>* word, std::uint64_t seconds, std::uint64_t* mine);
bool RenewLease(std::atomic<std::uint64_t>* word, std::uint64_t seconds, std::uint64_t* mine);
void ReleaseLease(std::atomic<std::uint64_t>* word, std::uint64_t mine);

std::uint64_t MonotonicMs();

}  // namespace shmkv::detail
