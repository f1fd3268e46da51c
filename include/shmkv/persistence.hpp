// shmkv/persistence.hpp: the disk backend (snapshot + journal), backup and restore.
//
// Persistence is a property of the store, chosen by whoever creates the segment: with
// Options::persistence set, every acknowledged mutation is appended to a journal file of the
// writing process in the directory, and at each snapshot interval one process (the first to
// notice) writes the whole store to snapshot-<seq>.msgpack. There is no daemon: the writing
// processes flush their own journals, and a per-process background thread handles the interval
// flush and the snapshots. A process that attaches to a persistent segment journals its writes
// into the segment's directory even when its own Options carry no persistence.
//
// When a persistent store is opened and its segment does not exist (reboot, destroy, every
// process gone), the opener recovers it before anyone can see it: newest snapshot that verifies,
// then every journal record after it, in sequence order. Store::recovery_report() says what was
// loaded, applied, skipped and cut. If nothing valid can be recovered from files that exist, or
// the snapshots that held retired history are gone (a gap), open raises errc::corrupted naming
// the file, offset or seq range; it never starts empty over existing data. A damaged journal
// record costs only its own bytes: reading resumes at the next record that verifies.
//
// Disk failures reach the writers: once this process's journal or a snapshot it wrote fails,
// its mutations raise errc::io_error (naming the file and errno) and change nothing, until a
// snapshot succeeds (retried in the background; Store::sync() and snapshot() try at once);
// Store::close() raises it too. With FsyncPolicy::always, the failing write itself was never
// applied.
//
// Backup and restore work with or without persistence: backup writes a point-in-time snapshot in
// the same format, restore replaces the content with one. See docs/design.md, "Persistence".
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "shmkv/export.h"

namespace shmkv {

// When a process makes its journal records durable.
enum class FsyncPolicy {
  // A mutation returns only once its record is on disk (write + fdatasync). Threads of one
  // process that write at the same time share one fdatasync (group commit). Nothing
  // acknowledged is ever lost; each process acknowledges at most about (its concurrent
  // writers) / (the disk's flush latency) writes per second.
  always,
  // Records are written and fdatasync'ed every fsync_interval by a background thread of the
  // process (writers check the deadline too). A host crash loses at most about fsync_interval
  // of acknowledged writes. A process killed with SIGKILL loses the records still buffered in
  // it (about fsync_interval of its writes) from the journal; their effects stay in the segment
  // and reach disk with the next snapshot, unless the host goes down or the segment is
  // destroyed first.
  interval,
  // Records are written when the process's buffer fills (256 KiB) and at close; the kernel
  // decides when they reach the disk. A crash may lose everything since the last snapshot.
  never,
};

struct PersistenceOptions {
  // Directory holding snapshots and journals; created (mode 0700, or 0770 with
  // Options::trusted_group) when missing. One store per directory: <dir>/STORE records the
  // store's name, and another store's directory is refused (invalid_argument). The directory
  // and its files must belong to this user (or to the trusted group) and not be writable by
  // others (permission_denied). Required.
  std::string directory;

  // How often a full snapshot is written (default 30 s). Snapshots bound recovery time and let
  // covered journals be deleted.
  std::chrono::milliseconds snapshot_interval{30000};

  // Journal durability of this process's writes (see FsyncPolicy). Default interval.
  FsyncPolicy fsync = FsyncPolicy::interval;

  // Period of FsyncPolicy::interval (default 100 ms).
  std::chrono::milliseconds fsync_interval{100};

  // Snapshots kept (default 2, at least 1). Journals are kept until the oldest retained
  // snapshot covers them, so a corrupt newest snapshot falls back to the previous one.
  std::uint32_t keep_snapshots = 2;
};

struct BackupResult {
  std::uint64_t entries = 0;  // live keys written
  std::uint64_t bytes = 0;    // file size
  std::uint64_t seq = 0;      // journal sequence number the backup starts at (0: memory only)
  std::chrono::microseconds duration{0};
};

struct RestoreOptions {
  std::uint64_t max_entries = 0;  // refuse (limit_exceeded) files with more entries; 0 = no limit
  std::uint64_t max_bytes = 0;    // refuse files whose keys + values exceed this; 0 = no limit
};

struct RestoreResult {
  std::uint64_t entries =
      0;                    // keys stored, each once (restore, replacing import: the store's keys)
  std::uint64_t bytes = 0;  // their key + value bytes
  std::uint64_t duplicates = 0;  // entries (lines) replaced by a later one for the same key
  std::uint64_t expired = 0;     // entries skipped because they had already expired
};

// What the recovery that created this handle's segment did.
struct RecoveryReport {
  bool performed = false;  // false: the segment existed (attached) or persistence is off
  std::string directory;   // persistence directory
  std::string snapshot;    // snapshot file loaded; empty when none was usable
  std::uint64_t snapshot_seq = 0;
  std::uint64_t snapshot_entries = 0;
  std::vector<std::string> rejected_snapshots;  // "<file>: <reason> at offset N"
  std::uint64_t journal_files = 0;              // journal files read
  std::uint64_t records_applied = 0;            // journal records replayed
  std::uint64_t records_skipped = 0;            // records already in the snapshot
  std::vector<std::string> truncated;           // "<file>: cut at offset N (M bytes): <reason>"
  std::uint64_t truncated_bytes = 0;            // bytes of journal tails that were cut
  // Damage inside journals that was skipped, the records after it being kept:
  // "<file>: skipped bytes [A, B) (N bytes): <reason>; records resume at offset B", and damaged
  // headers ("<file>: header checksum mismatch ..."). Each entry is data that was lost or
  // damaged on disk: report it.
  std::vector<std::string> skipped;
  std::uint64_t skipped_bytes = 0;
  // Other things recovery did that an operator should know: damaged snapshots set aside as
  // "<file>.corrupt", a directory written before identities adopted for this store.
  std::vector<std::string> notes;
  std::uint64_t entries = 0;   // live keys after recovery
  std::uint64_t next_seq = 0;  // first sequence number after recovery
  std::chrono::microseconds duration{0};
};

class Store;

struct JsonlResult {
  std::uint64_t entries = 0;  // lines written
  std::uint64_t bytes = 0;    // key + value bytes
};

// Portable text form of a backup: one JSON object per line,
//   {"key":"...","value":"...","expires_ms":1700000000000}
// Keys and values that are valid UTF-8 are JSON strings; others are written base64-encoded as
// "key_base64" / "value_base64". expires_ms (absolute unix ms) appears only for keys with a TTL.
// The format is also xk6-kv's (oshokin/xk6-kv exportJSONL / importJSONL: {"key":..,"value":..},
// the value any JSON document), so files go both ways: see JsonlExportOptions::json_values and
// import_jsonl. xk6-kv reads key and value and ignores expires_ms; it cannot read key_base64 or
// value_base64. shmkv keeps bytes, not JSON types: an xk6-kv string value whose text is itself a
// compact JSON document ("42", "{\"a\":1}") is stored as those bytes, and json_values writes it
// back as the document (42), not as the string.

struct JsonlExportOptions {
  // Default false: every value is a JSON string (or value_base64). true: a value that is a compact
  // JSON document other than a string (an object, array, number, true, false or null with no
  // whitespace between its tokens, exactly what import_jsonl stores for one) is written as that
  // document, "value":{"a":1}, as xk6-kv writes its values. Either way import_jsonl gives back
  // every value byte for byte: a value that only looks like JSON ("{ \"a\": 1 }" with blanks,
  // "\"quoted\"", "abc") stays a JSON string.
  bool json_values = false;
};

// export_jsonl takes a backup (same consistency, same busy rule) in the temporary directory and
// prints it; the order is by shard, not sorted.
SHMKV_API JsonlResult export_jsonl(Store& store, std::ostream& out,
                                   const JsonlExportOptions& options = {});
// The same into a file: written (mode 0600) to a temporary file in the same directory, synced,
// then renamed over path, so a reader never sees a partial file. Raises what backup() raises,
// and not_found / permission_denied / io_error naming the path.
SHMKV_API JsonlResult export_jsonl(Store& store, const std::string& path,
                                   const JsonlExportOptions& options = {});

struct JsonlImportOptions {
  RestoreOptions limits;  // max_entries, max_bytes: as restore()
  // Default false: the entries replace the store's content, all or nothing (as restore()).
  // true: the entries are added to the store (set_many / set): a key of the input replaces the
  // store's value and TTL for it, the other keys are kept. The whole input is parsed and checked
  // (syntax, limits, budgets) before anything is written, so bad input changes nothing; a store
  // that fills up part way raises store_full, keeping the entries written before it. Entries are
  // not written atomically as a group: a reader may see some before the others.
  bool merge = false;
};

// Reads the entries of a JSONL text into the store. A line is {"key":..,"value":..} (or
// key_base64 / value_base64, and an optional expires_ms), fields in any order. A value that is
// a JSON string is stored as the string; a value that is any other JSON document (object,
// array, number, true, false, null: xk6-kv's values) is stored as its compact JSON text, the
// whitespace between tokens removed and every token kept as written. A later line for a key
// replaces an earlier one (counted in RestoreResult::duplicates, apart from RestoreResult::entries,
// the keys stored); lines already expired are skipped (RestoreResult::expired). A malformed line,
// invalid UTF-8 in a string, a field given twice or a document nested deeper than 512 levels
// raises errc::corrupted naming the line number and column; a key or value over the store's
// limits raises key_too_long / value_too_large naming the line, as does a line longer than any
// valid line can be (6 * (max_key_bytes + max_value_bytes) + 4096 bytes), which is refused before
// it is read whole. Memory is bounded by what the store can hold. Nothing is changed on any error
// (but see JsonlImportOptions::merge and store_full).
SHMKV_API RestoreResult import_jsonl(Store& store, std::istream& in,
                                     const JsonlImportOptions& options);
// The same replacing the store's content: import_jsonl(store, in, {.limits = limits}).
SHMKV_API RestoreResult import_jsonl(Store& store, std::istream& in,
                                     const RestoreOptions& limits = {});

}  // namespace shmkv
