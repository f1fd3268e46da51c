// persistence.cpp: journaling hooks, the background thread, snapshot election and retention,
// failure handling (a failed journal or snapshot refuses mutations until a snapshot cures it).
// Opening and recovery are in recovery.cpp.
//
// Invariants (see persistence.hpp and docs/design.md "Persistence"):
// - Sequence numbers come from SegmentHeader::journal_seq, taken under the key's shard lock,
//   with the record logged before the mutation is applied (write-ahead); a snapshot block's
//   watermark is journal_seq read under the same lock. So for every shard, records below the
//   watermark are in the block and records at or above it are not, whatever the other shards
//   were doing.
// - A handle whose journal failed accepts no record until a snapshot whose start seq is above
//   every seq it was given is durable: that snapshot holds every mutation applied before it.
// - Journals are deleted only when every record in them is below the start sequence number of
//   the oldest retained snapshot, and only after STORE records that bound (retired_below);
//   snapshots beyond the retention count are deleted only after a newer one is durable.
#include "persist/persistence.hpp"

#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "os/crashpoint.hpp"
#include "os/file_io.hpp"
#include "os/os.hpp"
#include "os/throw.hpp"
#include "persist/lease.hpp"
#include "persist/snapshot.hpp"
#include "shm/allocator.hpp"
#include "shm/segment.hpp"
#include "shm/shard.hpp"

namespace shmkv::detail {
namespace {

constexpr std::size_t kMaxBufferedBytes = 64u << 20;  // writers wait for the disk beyond this
constexpr std::size_t kInlineWriteBytes = 4u << 20;   // writers write() themselves beyond this
// A closing handle writes the snapshot itself when it is overdue or when more journal files
// than this are in the directory (short-lived writers never see their background snapshot
// finish: without this, every run would leave one more journal forever).
constexpr std::size_t kMaxJournalFiles = 32;
// After a failure, the background thread retries a snapshot (the cure) after this, doubling up
// to the snapshot interval.
constexpr std::uint64_t kFailureRetryMs = 1000;

std::string LeaseHolder(std::uint64_t word) {
  return word == 0 ? "nobody" : "pid " + std::to_string(word >> 32);
}

}  // namespace

// --- Persistence ---

struct Persistence::State {
  State(const std::string& dir, const JournalFileHeader& proto, FsyncPolicy policy)
      : writer(dir, proto, policy) {}
  JournalWriter writer;

  std::mutex mu;  // guards the plain fields below and the thread objects
  std::condition_variable cv;
  std::thread thread;
  std::atomic<bool> started{false};
  std::atomic<bool> write_wanted{false};  // a writer asks the thread to write the buffer
  bool stop = false;
  bool snapshot_wanted = false;  // a writer saw the snapshot due
  bool force_snapshot = false;   // RequestSnapshot()
  std::thread snapshotter;
  std::atomic<bool> snapshot_running{false};
  std::atomic<bool> cancel{false};
  std::uint64_t seen_gen = 0;  // snapshot_gen this handle's journal was last rotated at
  std::atomic<std::uint64_t> next_poke_ms{0};
  std::string last_snapshot_error;
  // A snapshot failed (disk): mutations raise io_error until a snapshot succeeds (any process's:
  // last_snapshot_seq passes snapshot_failed_seq).
  std::atomic<bool> snapshot_failed{false};
  std::string snapshot_error;                           // guarded by mu
  std::uint64_t snapshot_failed_seq = 0;                // journal_seq when it failed; guarded by mu
  std::uint64_t retry_at_ms = 0, retry_backoff_ms = 0;  // background thread only
};

Persistence::Persistence(Segment* seg, Config config)
    : seg_(seg), hdr_(seg->header()), cfg_(std::move(config)) {
  DirIdentity id;
  if (ReadDirIdentity(cfg_.dir, &id, cfg_.trusted_group)) store_id_ = id.id;
  StartState();
}

void Persistence::StartState() {
  fork_gen_ = os::ForkGeneration();
  JournalFileHeader proto;
  proto.epoch = seg_->geo().hash_seed;
  proto.shard_count = seg_->geo().shard_count;
  proto.pid = static_cast<std::uint32_t>(os::Pid());
  proto.start_time = os::ProcessStartTime(os::Pid());
  proto.store_id = static_cast<std::uint32_t>(store_id_);
  st_ = std::make_unique<State>(cfg_.dir, proto, cfg_.policy);
  st_->writer.SetGroup(cfg_.trusted_group);
  st_->seen_gen = hdr_->snapshot_gen.load(std::memory_order_acquire);
}

Persistence::~Persistence() {
  (void)Close();
}

std::string Persistence::Close() noexcept {
  if (!st_) return {};
  if (fork_gen_ != os::ForkGeneration()) {
    // A forked child holding the parent's handle: the threads and the file are the parent's.
    (void)st_.release();
    return {};
  }
  State& st = *st_;
  {
    std::lock_guard<std::mutex> lk(st.mu);
    st.stop = true;
  }
  st.cv.notify_all();
  if (st.thread.joinable()) st.thread.join();
  st.cancel.store(true);
  if (st.snapshotter.joinable()) st.snapshotter.join();
  st.writer.Seal();
  // A snapshot at close: the cure for a failure (it holds every applied mutation), or the
  // periodic one when it is overdue or journals pile up. One attempt, skipped while another
  // process writes one.
  bool want = st.writer.failed() || st.snapshot_failed.load();
  if (!want) {
    const bool changed = hdr_->journal_seq.load(std::memory_order_relaxed) !=
                         hdr_->last_snapshot_seq.load(std::memory_order_relaxed);
    if (changed && MonotonicMs() >= hdr_->snapshot_due_ms.load(std::memory_order_relaxed)) {
      want = true;
    } else if (changed) {
      try {
        std::size_t journals = 0;
        for (const auto& n : fileio::ListDir(cfg_.dir)) {
          JournalName jn;
          if (ParseJournalName(n, &jn)) ++journals;
        }
        want = journals > kMaxJournalFiles;
      } catch (const std::exception&) {
      }
    }
  }
  if (want) {
    try {
      SnapshotNow();
    } catch (const std::exception&) {
      // Reported below if it was the cure that failed; a busy lease means another writer is on it.
    }
  }
  std::string err = st.writer.error();
  if (err.empty() && st.snapshot_failed.load()) {
    std::lock_guard<std::mutex> lk(st.mu);
    err = st.snapshot_error;
  }
  if (!err.empty())
    err +=
        "; writes of this handle may be in the store but not on disk: a snapshot once the "
        "disk is fixed (Store::snapshot, shmkv snapshot) makes them durable";
  st_.reset();
  return err;
}

Persistence::State& Persistence::St() {
  if (fork_gen_ != os::ForkGeneration()) {
    // Used in a forked child (unsupported, see store.hpp, but never write into the parent's
    // file): leak the parent's state, whose mutex may be held, and start a journal of our own.
    (void)st_.release();
    StartState();
  }
  return *st_;
}

void Persistence::CheckHealthy() {
  State& st = St();
  if (st.writer.failed()) [[unlikely]] {
    std::string e = st.writer.error();
    if (!e.empty())
      Throw(errc::io_error, e + " (nothing changed; writes resume once a snapshot "
                                "succeeds: Store::sync() or snapshot() retries)");
  }
  if (st.snapshot_failed.load(std::memory_order_acquire)) [[unlikely]] {
    std::lock_guard<std::mutex> lk(st.mu);
    if (st.snapshot_failed.load()) Throw(errc::io_error, st.snapshot_error + " (nothing changed)");
  }
}

std::uint64_t Persistence::LogSet(std::string_view key, std::string_view value,
                                  std::uint64_t expires_ms, bool refuse) {
  State& st = St();
  std::uint64_t seq = hdr_->journal_seq.fetch_add(1, std::memory_order_relaxed);
  return st.writer.Append(seq, JournalOp::set, key, value, expires_ms, 0, refuse);
}

std::uint64_t Persistence::LogDel(std::string_view key, bool refuse) {
  State& st = St();
  std::uint64_t seq = hdr_->journal_seq.fetch_add(1, std::memory_order_relaxed);
  return st.writer.Append(seq, JournalOp::del, key, {}, 0, 0, refuse);
}

std::uint64_t Persistence::LogClearShard(std::uint32_t shard, bool refuse) {
  State& st = St();
  std::uint64_t seq = hdr_->journal_seq.fetch_add(1, std::memory_order_relaxed);
  return st.writer.Append(seq, JournalOp::clear_shard, {}, {}, 0, shard, refuse);
}

void Persistence::WaitDurable(std::uint64_t ticket) {
  St().writer.WaitDurable(ticket);
}

void Persistence::Compensate(std::string_view key) noexcept {
  try {
    State& st = St();
    const std::uint64_t hash = HashKey(seg_->geo().hash_seed, key);
    std::uint64_t ticket;
    {
      ShardLock lock(seg_, ShardOf(seg_->geo(), hash));
      Shard& shard = lock.shard();
      RecordRef rec;
      const std::uint64_t slot = shard.Find(key, KeyHash{hash}, &rec);
      if (slot != kNotFound && !rec.Expired(os::NowUnixMs()))
        ticket = LogSet(key, rec.value(), rec.expires_ms(), false);
      else
        ticket = LogDel(key, false);
    }
    if (cfg_.policy == FsyncPolicy::always) st.writer.WaitDurable(ticket);
  } catch (const std::exception&) {
    // The journal failed: the snapshot that cures it holds the key's real state.
  }
}

void Persistence::Commit(std::uint64_t ticket, bool may_throw) {
  State& st = St();
  if (!st.started.load(std::memory_order_acquire)) StartThread(st);
  const std::uint64_t now = os::NowMonotonicCoarseMs();
  if (st.writer.failed() || st.snapshot_failed.load(std::memory_order_relaxed)) [[unlikely]] {
    // Wake the background thread: it retries the snapshot that cures the failure.
    std::lock_guard<std::mutex> lk(st.mu);
    st.cv.notify_one();
  }
  try {
    if (ticket == kDroppedTicket) Throw(errc::io_error, st.writer.error());
    if (cfg_.policy == FsyncPolicy::always) {
      st.writer.WaitDurable(ticket);
    } else {
      const std::size_t buffered = st.writer.buffered();
      if (buffered >= kJournalBufferBytes) {
        if (buffered >= kMaxBufferedBytes) {
          st.writer.Flush(false);  // the disk is behind: wait for it rather than grow
        } else if (buffered >= kInlineWriteBytes) {
          st.writer.TryWrite();  // the background thread is behind: write it here
        } else if (!st.write_wanted.exchange(true, std::memory_order_acq_rel)) {
          std::lock_guard<std::mutex> lk(st.mu);  // hand the write to the background thread
          st.cv.notify_one();
        }
      }
      if (cfg_.policy == FsyncPolicy::interval &&
          now * 1000000 >= st.writer.last_sync_ns() + 2 * cfg_.fsync_interval_ms * 1000000 &&
          !st.write_wanted.exchange(true, std::memory_order_acq_rel)) {
        std::lock_guard<std::mutex> lk(st.mu);  // the background thread is late: wake it
        st.cv.notify_one();
      }
    }
  } catch (const Error&) {
    // Policy interval/never: a record appended before the failure belongs to a mutation that
    // was applied; the snapshot that cures the failure holds it, so the mutation stands and the
    // failure is reported to the next one (CheckHealthy). A dropped record was not appended.
    if (may_throw && (cfg_.policy == FsyncPolicy::always || ticket == kDroppedTicket)) throw;
  }
  if (now >= hdr_->snapshot_due_ms.load(std::memory_order_relaxed) &&
      now >= st.next_poke_ms.load(std::memory_order_relaxed)) {
    st.next_poke_ms.store(now + 10, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(st.mu);
      st.snapshot_wanted = true;
    }
    st.cv.notify_one();
  }
}

void Persistence::Sync() {
  State& st = St();
  // The cure for a failure is a snapshot (AfterSnapshot resets the writer). Another one may be
  // running (our background retry, another process): wait for it, bounded.
  const std::uint64_t deadline = MonotonicMs() + kLeaseSeconds * 1000;
  while (st.writer.failed() || st.snapshot_failed.load()) {
    try {
      SnapshotNow();
      break;
    } catch (const Error& e) {
      if (e.code_value() != errc::busy || MonotonicMs() > deadline) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    AfterSnapshot(st, hdr_->last_snapshot_seq.load(std::memory_order_acquire));
  }
  CheckHealthy();
  st.writer.Flush(true);
  // What the other handles have written (policies interval and never) is made durable too;
  // records still buffered inside other processes are out of reach.
  auto failed = [&](const std::exception& e) {
    Throw(errc::io_error, "sync of " + cfg_.dir + " failed: " + e.what());
  };
  std::vector<std::string> names;
  try {
    names = fileio::ListDir(cfg_.dir);
  } catch (const std::exception& e) {
    failed(e);
  }
  for (const auto& n : names) {
    JournalName jn;
    if (!ParseJournalName(n, &jn)) continue;
    const std::string path = cfg_.dir + "/" + n;
    int fd = -1;
    try {
      fd = fileio::OpenRead(path);
    } catch (const Error& e) {
      if (e.code_value() == errc::not_found) continue;  // retired meanwhile
      failed(e);
    }
    try {
      os::CheckTrusted(fd, path, cfg_.trusted_group);  // permission_denied as it is
    } catch (...) {
      fileio::Close(fd);
      throw;
    }
    try {
      fileio::DataSync(fd, path);
    } catch (const std::exception& e) {
      fileio::Close(fd);
      failed(e);
    }
    fileio::Close(fd);
  }
  try {
    fileio::SyncDir(cfg_.dir);
  } catch (const std::exception& e) {
    failed(e);
  }
}

void Persistence::RequestSnapshot() {
  State& st = St();
  {
    std::lock_guard<std::mutex> lk(st.mu);
    st.force_snapshot = true;
  }
  StartThread(st);
  st.cv.notify_one();
}

void Persistence::StartThread(State& st) {
  std::lock_guard<std::mutex> lk(st.mu);
  if (st.started.load(std::memory_order_relaxed)) return;
  st.thread = std::thread([this, p = &st] { ThreadMain(p); });
  st.started.store(true, std::memory_order_release);
}

void Persistence::ThreadMain(State* st) {
  std::unique_lock<std::mutex> lk(st->mu);
  while (!st->stop) {
    std::uint64_t wait_ms = 1000;
    if (cfg_.policy == FsyncPolicy::interval) {
      std::uint64_t now = os::NowMonotonicNs();
      std::uint64_t due = st->writer.last_sync_ns() + cfg_.fsync_interval_ms * 1000000;
      wait_ms = due > now ? std::max<std::uint64_t>(1, (due - now) / 1000000) : 1;
      wait_ms = std::min<std::uint64_t>(wait_ms, cfg_.fsync_interval_ms);
    }
    st->cv.wait_for(lk, std::chrono::milliseconds(wait_ms), [&] {
      return st->stop || st->snapshot_wanted || st->force_snapshot || st->write_wanted.load();
    });
    if (st->stop) break;
    lk.unlock();
    Tick(*st);
    lk.lock();
  }
}

void Persistence::Tick(State& st) {
  if (st.write_wanted.exchange(false, std::memory_order_acq_rel)) st.writer.TryWrite();
  if (cfg_.policy == FsyncPolicy::interval &&
      os::NowMonotonicNs() >= st.writer.last_sync_ns() + cfg_.fsync_interval_ms * 1000000 &&
      st.writer.has_unsynced()) {
    try {
      st.writer.Flush(true);
    } catch (const Error&) {
      // Sticky in the writer: Sync() and policy-always commits report it.
    }
  }
  // Another snapshot finished (here or in another process): start a new journal file, so the
  // old one can be deleted once a retained snapshot covers it.
  std::uint64_t gen = hdr_->snapshot_gen.load(std::memory_order_acquire);
  if (gen != st.seen_gen) {
    st.seen_gen = gen;
    st.writer.Seal();
    AfterSnapshot(st, hdr_->last_snapshot_seq.load(std::memory_order_acquire));
  }
  bool force;
  {
    std::lock_guard<std::mutex> lk(st.mu);
    force = st.force_snapshot;
    st.force_snapshot = st.snapshot_wanted = false;
  }
  if (st.writer.failed() || st.snapshot_failed.load()) {
    // Failed: retry the cure (a snapshot) with a backoff, whatever the snapshot schedule says.
    const std::uint64_t now = MonotonicMs();
    if (now >= st.retry_at_ms) {
      st.retry_backoff_ms = st.retry_backoff_ms == 0
                                ? kFailureRetryMs
                                : std::min(st.retry_backoff_ms * 2, cfg_.snapshot_interval_ms);
      st.retry_at_ms = now + st.retry_backoff_ms;
      force = true;
    }
  } else {
    st.retry_backoff_ms = 0;
  }
  MaybeStartSnapshot(st, force);
}

void Persistence::MaybeStartSnapshot(State& st, bool force) {
  if (st.snapshot_running.load()) return;
  const std::uint64_t now = MonotonicMs();
  if (!force) {
    if (now < hdr_->snapshot_due_ms.load(std::memory_order_relaxed)) return;
    if (hdr_->journal_seq.load(std::memory_order_relaxed) ==
        hdr_->last_snapshot_seq.load(std::memory_order_relaxed)) {
      hdr_->snapshot_due_ms.store(now + cfg_.snapshot_interval_ms, std::memory_order_relaxed);
      return;  // nothing changed since the last snapshot
    }
  }
  std::uint64_t lease = 0;
  if (!ClaimLease(&hdr_->snapshot_lease, kLeaseSeconds, &lease)) return;
  hdr_->snapshot_due_ms.store(now + cfg_.snapshot_interval_ms, std::memory_order_relaxed);
  if (st.snapshotter.joinable()) st.snapshotter.join();
  st.snapshot_running.store(true);
  st.snapshotter = std::thread([this, &st, lease]() mutable {
    try {
      SHMKV_CRASH_POINT("snapshot.elected");
      RunSnapshot(st, &st.cancel);
      std::lock_guard<std::mutex> lk(st.mu);
      st.last_snapshot_error.clear();
    } catch (const std::exception& e) {
      // Retry soon (another process may take it: the due time is in the segment).
      std::uint64_t retry =
          st.cancel.load() ? 0 : std::min<std::uint64_t>(cfg_.snapshot_interval_ms, 5000);
      hdr_->snapshot_due_ms.store(MonotonicMs() + retry, std::memory_order_relaxed);
      const Error* err = dynamic_cast<const Error*>(&e);
      if (!err || err->code_value() != errc::busy) SnapshotFailed(st, e.what());
      std::lock_guard<std::mutex> lk(st.mu);
      st.last_snapshot_error = e.what();
    }
    lease = hdr_->snapshot_lease.load();
    if ((lease >> 32) == static_cast<std::uint64_t>(os::Pid()))
      ReleaseLease(&hdr_->snapshot_lease, lease);
    st.snapshot_running.store(false);
  });
}

BackupResult Persistence::RunSnapshot(State& st, const std::atomic<bool>* cancel) {
  const std::uint64_t t0 = os::NowMonotonicNs();
  std::uint64_t lease = hdr_->snapshot_lease.load();
  SnapshotWriteOptions o;
  o.name_by_seq = true;
  o.store_id = store_id_;
  o.group = cfg_.trusted_group;
  o.before_shard = [&](std::uint32_t) {
    if (cancel && cancel->load())
      Throw(errc::busy, "snapshot cancelled: the handle that was writing it is closing");
    if (!RenewLease(&hdr_->snapshot_lease, kLeaseSeconds, &lease))
      Throw(errc::busy,
            "snapshot lease lost (held by " + LeaseHolder(hdr_->snapshot_lease.load()) + ")");
  };
  SnapshotWriteResult r;
  try {
    r = WriteSnapshot(*seg_, cfg_.dir, o);
  } catch (const Error& e) {
    if (e.code_value() == errc::busy) throw;
    Throw(errc::io_error, std::string("snapshot of store '") + seg_->name() + "' into " + cfg_.dir +
                              " failed: " + e.what());
  }
  hdr_->last_snapshot_seq.store(r.seq, std::memory_order_relaxed);
  hdr_->last_snapshot_unix_ms.store(os::NowUnixMs(), std::memory_order_relaxed);
  hdr_->snapshot_gen.fetch_add(1, std::memory_order_release);
  SHMKV_CRASH_POINT("snapshot.published");
  AfterSnapshot(st, r.seq);
  try {
    CleanupAfterSnapshot(r.seq);
  } catch (const std::exception&) {
    // Old files stay until the next snapshot's cleanup; nothing is lost.
  }
  BackupResult out;
  out.entries = r.entries;
  out.bytes = r.bytes;
  out.seq = r.seq;
  out.duration = std::chrono::microseconds((os::NowMonotonicNs() - t0) / 1000);
  return out;
}

BackupResult Persistence::SnapshotNow() {
  State& st = St();
  std::uint64_t lease = 0;
  if (!ClaimLease(&hdr_->snapshot_lease, kLeaseSeconds, &lease))
    Throw(errc::busy, "a snapshot of store '" + seg_->name() + "' is being written by " +
                          LeaseHolder(hdr_->snapshot_lease.load()));
  hdr_->snapshot_due_ms.store(MonotonicMs() + cfg_.snapshot_interval_ms, std::memory_order_relaxed);
  try {
    BackupResult r = RunSnapshot(st, nullptr);
    ReleaseLease(&hdr_->snapshot_lease, hdr_->snapshot_lease.load());
    return r;
  } catch (const Error& e) {
    if (e.code_value() != errc::busy) SnapshotFailed(st, e.what());
    std::uint64_t cur = hdr_->snapshot_lease.load();
    if ((cur >> 32) == static_cast<std::uint64_t>(os::Pid()))
      ReleaseLease(&hdr_->snapshot_lease, cur);
    throw;
  } catch (...) {
    std::uint64_t cur = hdr_->snapshot_lease.load();
    if ((cur >> 32) == static_cast<std::uint64_t>(os::Pid()))
      ReleaseLease(&hdr_->snapshot_lease, cur);
    throw;
  }
}

void Persistence::AfterSnapshot(State& st, std::uint64_t seq) {
  // A snapshot that started after the failure holds every mutation applied before it, journaled
  // or not: the journal resumes in a new file.
  st.writer.Reset(seq);
  if (st.snapshot_failed.load()) {
    std::lock_guard<std::mutex> lk(st.mu);
    if (seq >= st.snapshot_failed_seq) {
      st.snapshot_failed.store(false);
      st.snapshot_error.clear();
    }
  }
}

void Persistence::SnapshotFailed(State& st, const std::string& what) {
  std::lock_guard<std::mutex> lk(st.mu);
  st.snapshot_error = what;
  st.snapshot_failed_seq = hdr_->journal_seq.load(std::memory_order_acquire);
  st.snapshot_failed.store(true, std::memory_order_release);
}

void Persistence::CleanupAfterSnapshot(std::uint64_t newest_seq) {
  std::vector<std::string> names = fileio::ListDir(cfg_.dir);
  std::vector<std::uint64_t> snaps;
  for (const auto& n : names) {
    std::uint64_t seq;
    if (ParseSnapshotName(n, &seq)) {
      snaps.push_back(seq);
    } else if ((n.rfind("snapshot-", 0) == 0 || n.rfind(kIdentityFile, 0) == 0) &&
               n.find(".tmp-") != std::string::npos) {
      // A temporary file of a snapshot or identity writer: remove it if its process is gone.
      auto pos = n.find(".tmp-") + 5;
      pid_t pid = static_cast<pid_t>(std::strtol(n.c_str() + pos, nullptr, 10));
      if (pid > 0 && !os::ProcessAlive(pid, 0)) fileio::Unlink(cfg_.dir + "/" + n);
    }
  }
  std::sort(snaps.rbegin(), snaps.rend());
  if (snaps.empty() || snaps.front() != newest_seq) return;  // someone wrote a newer one
  const std::size_t keep = std::max<std::uint32_t>(1, cfg_.keep_snapshots);
  for (std::size_t i = keep; i < snaps.size(); ++i)
    fileio::Unlink(cfg_.dir + "/" + SnapshotFileName(snaps[i]));
  const std::uint64_t oldest_kept = snaps[std::min(keep, snaps.size()) - 1];
  // Before any journal goes, the directory records that history below oldest_kept now lives
  // only in snapshots: a recovery that cannot load one that recent refuses (a gap) instead of
  // starting from the journals that remain.
  DirIdentity id;
  if (!ReadDirIdentity(cfg_.dir, &id, cfg_.trusted_group)) {
    id.name = cfg_.store_name.empty() ? seg_->name() : cfg_.store_name;
    id.id = store_id_ ? store_id_ : (os::RandomSeed() | 1);
  }
  if (id.retired_below < oldest_kept) {
    id.retired_below = oldest_kept;
    WriteDirIdentity(cfg_.dir, id, cfg_.trusted_group);  // throws: then nothing is deleted
  }
  for (const auto& n : names) {
    JournalName jn;
    if (!ParseJournalName(n, &jn)) continue;
    const std::string path = cfg_.dir + "/" + n;
    std::uint64_t max_seq = jn.max_seq;
    if (!jn.sealed) {
      // Still being appended to, unless its process is gone.
      if (os::ProcessAlive(static_cast<pid_t>(jn.pid), jn.start_time)) continue;
      try {
        fileio::MappedFile f(path, cfg_.trusted_group);
        max_seq = ScanJournal(f.view(), path, nullptr).max_seq;
      } catch (const std::exception&) {
        continue;  // not ours to delete
      }
    }
    if (max_seq < oldest_kept) fileio::Unlink(path);
  }
  SHMKV_CRASH_POINT("snapshot.cleaned");
  try {
    fileio::SyncDir(cfg_.dir);
  } catch (const Error&) {
  }
}

}  // namespace shmkv::detail
