// snapshot.hpp: the snapshot file format (periodic snapshots and backups), writer and reader
// (internal).
//
// A snapshot is a sequence of msgpack objects followed by a 9-byte trailer:
//   header  map {"magic": "shmkv-snapshot", "format_version": 1, "created_ms": uint,
//                "entry_count": uint (always 9 bytes: 0xcf + 8, patched after the shards),
//                "seq": uint, "hash_seed": uint, "shard_count": uint
//                [, "store_id": uint (snapshots of a persistence directory)]}
//   blocks  one per shard of the writing segment, in order:
//           [shard: uint, watermark: uint, [[key: bin, value: bin, expires_ms: uint], ...]]
//   trailer 0xcf + big-endian u64 XXH3-64 of every byte before it
// seq is the journal sequence number when the snapshot started: every record with a lower
// number is in it. A block's watermark is the shard's next sequence number while its lock was
// held: the shard's records with lower numbers are in the block, higher ones are not. expires_ms
// is an absolute unix time (0 = never); entries already expired are left out.
//
// Writer invariants: one shard lock at a time, held only while the shard's live records are
// encoded into memory; the file is written outside the lock to <path>.tmp-<pid>-<n>, fdatasync'ed
// and renamed over <path>, then the directory is fsync'ed. A writer killed at any point leaves
// either the old file at <path> or the complete new one, plus at most a temporary file.
//
// Reader invariants: nothing past the header is interpreted before the trailer checksum
// verified; the header itself is read with strict msgpack limits. Errors name the file and the
// offset: errc::corrupted (bad magic, checksum, structure), errc::incompatible_layout (a newer
// format version).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shmkv::detail {

class Segment;

inline constexpr std::uint32_t kSnapshotFormatVersion = 1;
inline constexpr std::string_view kSnapshotMagic = "shmkv-snapshot";
inline constexpr std::size_t kSnapshotTrailerBytes = 9;

struct SnapshotHeader {
  std::uint32_t format_version = kSnapshotFormatVersion;
  std::uint64_t created_ms = 0;
  std::uint64_t entry_count = 0;
  std::uint64_t seq = 0;
  std::uint64_t hash_seed = 0;
  std::uint32_t shard_count = 0;
  // Identity of the persistence directory the snapshot was written into (STORE id); 0 for a
  // backup. Written only when non-zero (an 8th header field; readers skip unknown fields).
  std::uint64_t store_id = 0;
};

// Encoders (exposed for the golden tests).
// count_offset (optional) receives the offset of entry_count's 8 bytes in *out.
void EncodeSnapshotHeader(const SnapshotHeader& h, std::string* out,
                          std::size_t* count_offset = nullptr);
void EncodeSnapshotBlockHead(std::uint32_t shard, std::uint64_t watermark, std::uint32_t entries,
                             std::string* out);
void EncodeSnapshotEntry(std::string_view key, std::string_view value, std::uint64_t expires_ms,
                         std::string* out);
void EncodeSnapshotTrailer(std::uint64_t checksum, std::string* out);

struct SnapshotWriteOptions {
  std::uint64_t created_ms = 0;  // 0 = now (tests pin it)
  // final_path is a directory: the file is <final_path>/SnapshotFileName(seq).
  bool name_by_seq = false;
  // Called before each shard; may throw to abort (the temporary file is removed).
  std::function<void(std::uint32_t shard)> before_shard;
  // A store shared with a group: the file gets this group and mode 0640.
  std::optional<std::uint32_t> group;
  std::uint64_t store_id = 0;  // SnapshotHeader::store_id
};

struct SnapshotWriteResult {
  std::string path;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::uint64_t seq = 0;
};

// Writes the live entries of seg to final_path atomically (see above).
SnapshotWriteResult WriteSnapshot(Segment& seg, const std::string& final_path,
                                  const SnapshotWriteOptions& options = {});

struct PlainEntry {
  std::string key, value;
  std::uint64_t expires_ms = 0;
};

// Writes entries (no segment) as a one-block snapshot file, atomically as WriteSnapshot does.
// Used to turn other forms (JSONL) into something restore() reads.
std::uint64_t WriteSnapshotOfEntries(const std::vector<PlainEntry>& entries,
                                     const std::string& path);

struct SnapshotEntry {
  std::string_view key, value;  // point into the mapped file
  std::uint64_t expires_ms;
  std::uint32_t shard;  // block (shard of the writing segment) it came from
};

// A verified snapshot file: mapped, checksum checked, fully parsed into views. Throws as above.
class SnapshotFile {
 public:
  explicit SnapshotFile(const std::string& path);
  // A file of the persistence directory: opened O_NOFOLLOW and refused (permission_denied)
  // unless os::CheckTrusted accepts it.
  SnapshotFile(const std::string& path, const std::optional<std::uint32_t>& trusted_group);
  ~SnapshotFile();
  const SnapshotHeader& header() const { return header_; }
  const std::vector<std::uint64_t>& watermarks() const { return watermarks_; }
  const std::vector<SnapshotEntry>& entries() const { return entries_; }
  std::uint64_t file_bytes() const;
  const std::string& path() const { return path_; }

 private:
  SnapshotFile(const std::string& path, const std::optional<std::uint32_t>* trust);
  std::string path_;
  struct Mapping;
  std::unique_ptr<Mapping> map_;
  SnapshotHeader header_;
  std::vector<std::uint64_t> watermarks_;
  std::vector<SnapshotEntry> entries_;
};

// Reads only the header of a snapshot (magic and version checked, checksum not). Throws as above.
SnapshotHeader ReadSnapshotHeader(std::string_view data, const std::string& path);

// "snapshot-<seq, 20 digits>.msgpack"
std::string SnapshotFileName(std::uint64_t seq);
bool ParseSnapshotName(const std::string& name, std::uint64_t* seq);

}  // namespace shmkv::detail
