// journal.hpp: journal file format, reader and the per-process writer (internal).
//
// One append-only file per process incarnation and rotation:
//   <dir>/journal-<pid>-<starttime>-<n>.log        while the process may still append to it
//   <dir>/journal-<pid>-<starttime>-<n>.<maxseq>.sealed.log   once closed (maxseq = its highest
//                                                  sequence number; lets the snapshot writer
//                                                  delete covered files without reading them)
// File = 64-byte header, then records. All integers little-endian.
//   header:  0 magic "SMKVJNL1" | 8 u32 format version | 12 u32 header bytes (64)
//           16 u64 epoch (hash seed of the segment) | 24 u32 shard count | 28 u32 pid
//           32 u64 process start time | 40 u64 created unix ms | 48 u64 file number
//           56 u32 store id (low 32 bits of the directory's identity, 0 = written before
//              identities) | 60 u32 checksum = low 32 bits of XXH3-64 over bytes [0, 60)
//   record:  0 u32 checksum = low 32 bits of XXH3-64 over bytes [4, 16 + length)
//            4 u32 length of the payload | 8 u64 sequence number
//           16 payload, msgpack: [op, key: bin, value: bin | nil, expires unix ms: uint]
//              op 1 set (after-image), 2 delete (value nil, expires 0),
//              3 clear shard: [3, shard index: uint, epoch: uint, shard count: uint] (the
//                epoch, i.e. hash seed, and shard count the index refers to, so that a clear
//                record does not depend on its file's header); files written before this carry
//                [3, shard, nil, 0] and take both from the header
// Records are physical (the resulting value, never a delta), so replaying them in sequence
// order is exact and idempotent.
//
// Invariants of the writer: the owner assigns sequence numbers under the key's shard lock and
// appends under the writer's mutex; one thread at a time (the "leader", flushing_ set) does file
// I/O, outside the mutex; tickets count appended records, and written_ / durable_ say how many
// reached the file / the disk. A process killed at any point leaves a valid prefix of records
// followed by at most one torn record, which the reader cuts.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shmkv/persistence.hpp"

namespace shmkv::detail {

inline constexpr char kJournalMagic[9] = "SMKVJNL1";
inline constexpr std::uint32_t kJournalFormatVersion = 1;
inline constexpr std::size_t kJournalHeaderBytes = 64;
inline constexpr std::size_t kRecordFrameBytes = 16;
// Bytes buffered in a process before a write() even without a flush deadline.
inline constexpr std::size_t kJournalBufferBytes = 256 * 1024;

// The ticket of a record that a failed writer dropped instead of buffering (never durable).
inline constexpr std::uint64_t kDroppedTicket = ~0ull;

enum class JournalOp : std::uint8_t { set = 1, del = 2, clear_shard = 3 };

struct JournalFileHeader {
  std::uint64_t epoch = 0;  // hash seed of the segment the records were applied to
  std::uint32_t shard_count = 0;
  std::uint32_t pid = 0;
  std::uint64_t start_time = 0;
  std::uint64_t created_ms = 0;
  std::uint64_t file_no = 0;
  std::uint32_t store_id = 0;  // low 32 bits of the directory's identity; 0 = unknown
};

struct JournalRecord {
  std::uint64_t seq = 0;
  JournalOp op = JournalOp::set;
  std::string_view key;    // set, del
  std::string_view value;  // set
  std::uint64_t expires_ms = 0;
  std::uint32_t shard = 0;  // clear_shard
  // clear_shard: the epoch the shard index refers to, when the record carries it (else the
  // file header's).
  bool has_epoch = false;
  std::uint64_t epoch = 0;
  std::uint32_t shard_count = 0;
};

void EncodeJournalHeader(const JournalFileHeader& h, char out[kJournalHeaderBytes]);
// Appends one framed record. For clear_shard, key/value are ignored and `shard` is written with
// its epoch (shard_count 0: the old form without it, kept for the golden tests).
void AppendJournalRecord(std::string* out, std::uint64_t seq, JournalOp op, std::string_view key,
                         std::string_view value, std::uint64_t expires_ms, std::uint32_t shard,
                         std::uint64_t epoch = 0, std::uint32_t shard_count = 0);

struct JournalScan {
  JournalFileHeader header;
  std::uint64_t file_bytes = 0;
  std::uint64_t valid_bytes = 0;  // end of the last valid record (0 if the header is unusable)
  std::uint64_t records = 0;
  std::uint64_t max_seq = 0;
  std::string cut_reason;            // why reading stopped before file_bytes; empty if it did not
  bool cut_nonzero = false;          // non-zero bytes follow the cut: corruption, not a torn append
  bool header_trusted = true;        // false: header damaged; its epoch / shard count are unknown
  std::vector<std::string> skipped;  // damaged ranges skipped in the middle, and header damage
  std::uint64_t skipped_bytes = 0;
};

// Reads a journal image: calls fn(record, offset) for each valid record in file order. A record
// that does not verify is skipped when a later frame verifies (the next offset where a whole
// frame, checksum and payload, verifies and is followed by another one or the end of the file):
// only the damaged bytes are lost, and each skip is listed in `skipped`. Damage with nothing
// valid after it is the cut tail (torn append or damaged end). A damaged header (checksum, or
// zeroed) is reported and the records after it are still read. A short or all-zero file is a
// torn file (no records). Throws errc::corrupted for a file that is not a journal (foreign
// magic) and errc::incompatible_layout for a newer format version, naming path and offset.
JournalScan ScanJournal(std::string_view data, const std::string& path,
                        const std::function<void(const JournalRecord&, std::uint64_t)>& fn);

// Decodes one record's payload (already checksum-verified). Returns false if malformed.
bool DecodeJournalPayload(std::string_view payload, JournalRecord* rec);

// Journal file names. ParseJournalName returns false for names that are not journals.
struct JournalName {
  std::uint32_t pid = 0;
  std::uint64_t start_time = 0;
  std::uint64_t file_no = 0;
  bool sealed = false;
  std::uint64_t max_seq = 0;  // sealed files only
};
std::string JournalFileName(std::uint32_t pid, std::uint64_t start_time, std::uint64_t file_no);
std::string SealedJournalFileName(std::uint32_t pid, std::uint64_t start_time,
                                  std::uint64_t file_no, std::uint64_t max_seq);
bool ParseJournalName(const std::string& name, JournalName* out);

// The journal of one process (one Store handle): a buffer, a file created on first flush, group
// commit. Thread-safe.
//
// Failure: the first failed disk call (create, write, fdatasync, directory fsync, rename at
// seal) makes the writer *failed*: the file is cut back to its last complete flush (best
// effort) and closed, every record still buffered is dropped (its ticket is "lost": a writer
// waiting for it gets io_error and, under policy always, has not applied its mutation), and
// Append refuses new records (io_error naming the file and the errno) until Reset(). The
// mutations whose records were lost but which were applied (policies interval and never) are
// in the segment: a snapshot that starts after the failure holds them, and only such a
// snapshot may Reset() the writer (its seq is above max_appended_seq()).
class JournalWriter {
 public:
  JournalWriter(std::string dir, JournalFileHeader proto, FsyncPolicy policy);
  ~JournalWriter();  // closes the file without flushing; call Seal() first
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Buffers a record; returns its ticket (1, 2, ...). Never does I/O. When the writer has
  // failed: throws io_error if refuse, else buffers nothing and returns a ticket that
  // WaitDurable / IsLost report as lost.
  std::uint64_t Append(std::uint64_t seq, JournalOp op, std::string_view key,
                       std::string_view value, std::uint64_t expires_ms, std::uint32_t shard,
                       bool refuse);
  // Returns once every record up to `ticket` is written and fdatasync'ed; threads waiting at the
  // same time share one fdatasync. Throws io_error if the journal failed before that or the
  // record was lost.
  void WaitDurable(std::uint64_t ticket);
  // Writes everything buffered so far (and fdatasyncs it if sync). Waits for a flush already in
  // progress. Throws io_error if the writer is failed.
  void Flush(bool sync);
  // Writes the buffer if no flush is running; returns at once otherwise. Errors stay sticky.
  void TryWrite() noexcept;
  // Flushes (fdatasync unless the policy is never), closes the file and renames it to its
  // sealed name. The next Append starts a new file. Errors stay sticky (see error()).
  void Seal() noexcept;
  // Clears a failure once a snapshot with start seq snapshot_seq > max_appended_seq() is
  // durable; the next flush starts a new file. Returns true if the writer was failed.
  bool Reset(std::uint64_t snapshot_seq) noexcept;
  // True if the record of `ticket` will never be durable (dropped by a failure).
  bool IsLost(std::uint64_t ticket) const;

  std::size_t buffered() const { return buffered_.load(std::memory_order_relaxed); }
  std::uint64_t last_sync_ns() const { return last_sync_ns_.load(std::memory_order_relaxed); }
  bool has_unsynced() const;
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  std::string error() const;  // the failure ("journal <path> failed: <call> ...: <errno>")
  std::uint64_t max_appended_seq() const;
  // Stamps the store identity into the headers of files created from now on.
  void SetStoreId(std::uint32_t id32);
  // A store shared with a group: new files get this group and mode 0640.
  void SetGroup(const std::optional<std::uint32_t>& group) { group_ = group; }

 private:
  // Takes the leader role (waits for the current leader); lk must hold mu_.
  void BecomeLeader(std::unique_lock<std::mutex>& lk);
  // As leader: writes the buffer (+ fdatasync) outside the lock. Sets error_ on failure.
  void LeadFlush(std::unique_lock<std::mutex>& lk, bool sync);
  void EnsureFile();                   // leader only
  void CloseAndRename();               // leader only; throws on a failed rename
  void Fail(const std::string& what);  // mu_ held

  const std::string dir_;
  JournalFileHeader proto_;
  const FsyncPolicy policy_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string buf_, spare_;
  std::uint64_t appended_ = 0, written_ = 0, durable_ = 0;
  // Tickets in (lost_from_, lost_upto_] were dropped by the last failure (never durable, even
  // once Reset() moves durable_ past them).
  std::uint64_t lost_from_ = 0, lost_upto_ = 0;
  std::uint64_t buf_max_seq_ = 0, max_appended_seq_ = 0;
  bool flushing_ = false;
  std::string error_;
  std::atomic<bool> failed_{false};
  std::atomic<std::size_t> buffered_{0};
  std::atomic<std::uint64_t> last_sync_ns_{0};

  // Leader-only state.
  int fd_ = -1;
  std::string path_;
  std::uint64_t file_no_ = 0;
  std::uint64_t file_max_seq_ = 0;
  std::uint64_t file_bytes_ = 0;  // end of the last complete flush
  std::string failed_path_;       // a file closed by a failure, sealed at Reset
  std::optional<std::uint32_t> group_;
};

}  // namespace shmkv::detail
