// snapshot.cpp: see snapshot.hpp for the format and the crash behaviour.
#define MSGPACK_NO_BOOST 1
#include "persist/snapshot.hpp"

#include <unistd.h>
#include <xxhash.h>

#include <cstring>
#include <msgpack.hpp>

#include "os/crashpoint.hpp"
#include "os/file_io.hpp"
#include "os/os.hpp"
#include "os/throw.hpp"
#include "persist/msgpack_out.hpp"
#include "shm/segment.hpp"
#include "shm/shard.hpp"

namespace shmkv::detail {
namespace {

constexpr std::size_t kWriteChunk = 1 << 20;

std::uint64_t GetBE(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

[[noreturn]] void Corrupt(const std::string& path, const std::string& what, std::uint64_t off) {
  Throw(errc::corrupted, path + ": " + what + " at offset " + std::to_string(off));
}

bool RefAll(msgpack::type::object_type, std::size_t, void*) {
  return true;  // bin/str objects point into the mapped file, which outlives them
}

// The byte prefix every snapshot starts with after its map marker.
std::string MagicPrefix() {
  std::string s;
  mp::Str(&s, "magic");
  mp::Str(&s, kSnapshotMagic);
  return s;
}

}  // namespace

void EncodeSnapshotHeader(const SnapshotHeader& h, std::string* out, std::size_t* count_offset) {
  mp::Map(out, h.store_id != 0 ? 8 : 7);
  mp::Str(out, "magic");
  mp::Str(out, kSnapshotMagic);
  mp::Str(out, "format_version");
  mp::Uint(out, h.format_version);
  mp::Str(out, "created_ms");
  mp::Uint(out, h.created_ms);
  mp::Str(out, "entry_count");
  if (count_offset) *count_offset = out->size() + 1;
  mp::FixedU64(out, h.entry_count);
  mp::Str(out, "seq");
  mp::Uint(out, h.seq);
  mp::Str(out, "hash_seed");
  mp::Uint(out, h.hash_seed);
  mp::Str(out, "shard_count");
  mp::Uint(out, h.shard_count);
  if (h.store_id != 0) {
    mp::Str(out, "store_id");
    mp::Uint(out, h.store_id);
  }
}

void EncodeSnapshotBlockHead(std::uint32_t shard, std::uint64_t watermark, std::uint32_t entries,
                             std::string* out) {
  mp::Array(out, 3);
  mp::Uint(out, shard);
  mp::Uint(out, watermark);
  mp::Array(out, entries);
}

void EncodeSnapshotEntry(std::string_view key, std::string_view value, std::uint64_t expires_ms,
                         std::string* out) {
  mp::Array(out, 3);
  mp::Bin(out, key);
  mp::Bin(out, value);
  mp::Uint(out, expires_ms);
}

void EncodeSnapshotTrailer(std::uint64_t checksum, std::string* out) {
  mp::FixedU64(out, checksum);
}

std::string SnapshotFileName(std::uint64_t seq) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "snapshot-%020llu.msgpack", static_cast<unsigned long long>(seq));
  return buf;
}

bool ParseSnapshotName(const std::string& name, std::uint64_t* seq) {
  if (name.size() != 9 + 20 + 8 || name.rfind("snapshot-", 0) != 0 || !name.ends_with(".msgpack"))
    return false;
  for (std::size_t i = 9; i < 29; ++i)
    if (name[i] < '0' || name[i] > '9') return false;
  const std::uint64_t v = std::strtoull(name.c_str() + 9, nullptr, 10);
  if (SnapshotFileName(v) != name) return false;  // above 2^64 - 1: not one of ours
  *seq = v;
  return true;
}

SnapshotWriteResult WriteSnapshot(Segment& seg, const std::string& target,
                                  const SnapshotWriteOptions& options) {
  SegmentHeader* sh = seg.header();
  const std::uint64_t start_seq = sh->journal_seq.load(std::memory_order_acquire);
  const std::string final_path =
      options.name_by_seq ? target + "/" + SnapshotFileName(start_seq) : target;
  const std::string dir = fileio::DirName(final_path);
  static std::atomic<std::uint64_t> tmp_counter{0};
  const std::string tmp = final_path + ".tmp-" + std::to_string(os::Pid()) + "-" +
                          std::to_string(tmp_counter.fetch_add(1));
  int fd = fileio::CreateNew(tmp, options.group ? 0640 : 0600);
  if (options.group) {
    try {
      os::SetGroup(fd, tmp, *options.group);
    } catch (...) {
      fileio::Close(fd);
      fileio::Unlink(tmp);
      throw;
    }
  }
  SHMKV_CRASH_POINT("snapshot.tmp_created");
  SnapshotWriteResult result;
  try {
    SnapshotHeader h;
    h.created_ms = options.created_ms ? options.created_ms : os::NowUnixMs();
    h.seq = start_seq;
    h.hash_seed = seg.geo().hash_seed;
    h.shard_count = seg.geo().shard_count;
    h.store_id = options.store_id;
    std::string out;
    out.reserve(kWriteChunk * 2);
    std::size_t count_off = 0;  // entry_count's 8 big-endian bytes, patched at the end
    EncodeSnapshotHeader(h, &out, &count_off);
    std::uint64_t written = 0;
    auto drain = [&](bool all) {
      if (out.size() >= kWriteChunk || (all && !out.empty())) {
        fileio::WriteAll(fd, out.data(), out.size(), tmp);
        written += out.size();
        out.clear();
      }
    };
    std::string block;
    for (std::uint32_t s = 0; s < seg.geo().shard_count; ++s) {
      if (options.before_shard) options.before_shard(s);
      block.clear();
      std::uint32_t n = 0;
      std::uint64_t watermark;
      {
        ShardLock lock(&seg, s);
        Shard& shard = lock.shard();
        watermark = sh->journal_seq.load(std::memory_order_acquire);
        const std::uint64_t now = os::NowUnixMs();
        const std::uint64_t count = shard.count();
        for (std::uint64_t i = 0; i < count; ++i) {
          const RecordRef r = shard.LiveAt(i);
          if (r.Expired(now)) continue;
          EncodeSnapshotEntry(r.key(), r.value(), r.expires_ms(), &block);
          ++n;
        }
      }
      EncodeSnapshotBlockHead(s, watermark, n, &out);
      out += block;
      result.entries += n;
      drain(false);
      SHMKV_CRASH_POINT("snapshot.shard_written");
    }
    drain(true);
    // Patch the entry count, then checksum the finished bytes (read back from the page cache).
    char count_be[8];
    for (int i = 0; i < 8; ++i) count_be[i] = static_cast<char>(result.entries >> (56 - 8 * i));
    fileio::PwriteAll(fd, count_be, 8, count_off, tmp);
    XXH3_state_t state;  // on the stack: a read that throws (a disk fault) leaks nothing
    XXH3_64bits_reset(&state);
    std::string buf(kWriteChunk, '\0');
    for (std::uint64_t off = 0; off < written;) {
      std::size_t got = fileio::PreadSome(fd, buf.data(), buf.size(), off, tmp);
      if (got == 0) break;
      XXH3_64bits_update(&state, buf.data(), got);
      off += got;
    }
    std::uint64_t sum = XXH3_64bits_digest(&state);
    out.clear();
    EncodeSnapshotTrailer(sum, &out);
    fileio::PwriteAll(fd, out.data(), out.size(), written, tmp);
    written += out.size();
    SHMKV_CRASH_POINT("snapshot.written");
    fileio::DataSync(fd, tmp);
    SHMKV_CRASH_POINT("snapshot.synced");
    fileio::Close(fd);
    fd = -1;
    fileio::Rename(tmp, final_path);
    SHMKV_CRASH_POINT("snapshot.renamed");
    fileio::SyncDir(dir);
    result.path = final_path;
    result.bytes = written;
    result.seq = h.seq;
  } catch (...) {
    fileio::Close(fd);
    fileio::Unlink(tmp);
    throw;
  }
  return result;
}

std::uint64_t WriteSnapshotOfEntries(const std::vector<PlainEntry>& entries,
                                     const std::string& path) {
  SnapshotHeader h;
  h.created_ms = os::NowUnixMs();
  h.entry_count = entries.size();
  h.shard_count = 1;
  std::string out;
  EncodeSnapshotHeader(h, &out);
  EncodeSnapshotBlockHead(0, 0, static_cast<std::uint32_t>(entries.size()), &out);
  for (const auto& e : entries) EncodeSnapshotEntry(e.key, e.value, e.expires_ms, &out);
  EncodeSnapshotTrailer(XXH3_64bits(out.data(), out.size()), &out);
  const std::string tmp = path + ".tmp-" + std::to_string(os::Pid());
  int fd = fileio::CreateNew(tmp);
  try {
    fileio::WriteAll(fd, out.data(), out.size(), tmp);
    fileio::DataSync(fd, tmp);
    fileio::Close(fd);
    fd = -1;
    fileio::Rename(tmp, path);
  } catch (...) {
    fileio::Close(fd);
    fileio::Unlink(tmp);
    throw;
  }
  return out.size();
}

SnapshotHeader ReadSnapshotHeader(std::string_view data, const std::string& path) {
  static const std::string prefix = MagicPrefix();
  if (data.size() < 1 + prefix.size())
    Corrupt(path, "file is " + std::to_string(data.size()) + " bytes, too short for a snapshot", 0);
  unsigned char m = static_cast<unsigned char>(data[0]);
  if (!((m >= 0x80 && m <= 0x8f) || m == 0xde) ||
      data.compare(m == 0xde ? 3 : 1, prefix.size(), prefix) != 0)
    Corrupt(path, "not a shmkv snapshot (bad magic)", 0);
  SnapshotHeader h;
  std::size_t off = 0;
  try {
    msgpack::unpack_limit limit(0, 32, 64, 0, 0, 2);
    msgpack::object_handle oh = msgpack::unpack(
        data.data(), std::min<std::size_t>(data.size(), 4096), off, nullptr, nullptr, limit);
    const msgpack::object& o = oh.get();
    if (o.type != msgpack::type::MAP) Corrupt(path, "header is not a map", 0);
    bool have_version = false, have_count = false, have_seq = false;
    for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
      const msgpack::object_kv& kv = o.via.map.ptr[i];
      if (kv.key.type != msgpack::type::STR) Corrupt(path, "header key is not a string", 0);
      std::string_view k(kv.key.via.str.ptr, kv.key.via.str.size);
      if (k == "magic") continue;
      if (kv.val.type != msgpack::type::POSITIVE_INTEGER) continue;  // unknown/newer fields
      std::uint64_t v = kv.val.via.u64;
      if (k == "format_version") {
        h.format_version = static_cast<std::uint32_t>(std::min<std::uint64_t>(v, 0xffffffff));
        have_version = true;
      } else if (k == "created_ms") {
        h.created_ms = v;
      } else if (k == "entry_count") {
        h.entry_count = v;
        have_count = true;
      } else if (k == "seq") {
        h.seq = v;
        have_seq = true;
      } else if (k == "hash_seed") {
        h.hash_seed = v;
      } else if (k == "shard_count") {
        h.shard_count = static_cast<std::uint32_t>(std::min<std::uint64_t>(v, 0xffffffff));
      } else if (k == "store_id") {
        h.store_id = v;
      }
    }
    if (!have_version) Corrupt(path, "header has no format_version", 0);
    if (h.format_version != kSnapshotFormatVersion)
      Throw(errc::incompatible_layout,
            path + ": snapshot format version " + std::to_string(h.format_version) +
                " at offset 0; this build reads version " + std::to_string(kSnapshotFormatVersion));
    if (!have_count || !have_seq || h.shard_count == 0 || h.shard_count > (1u << 16))
      Corrupt(path, "header is incomplete", 0);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    Corrupt(path, std::string("unreadable header (") + e.what() + ")", off);
  }
  return h;
}

struct SnapshotFile::Mapping {
  explicit Mapping(const std::string& path) : file(path) {}
  Mapping(const std::string& path, const std::optional<std::uint32_t>& trusted_group)
      : file(path, trusted_group) {}
  fileio::MappedFile file;
};

SnapshotFile::SnapshotFile(const std::string& path) : SnapshotFile(path, nullptr) {}

SnapshotFile::SnapshotFile(const std::string& path,
                           const std::optional<std::uint32_t>& trusted_group)
    : SnapshotFile(path, &trusted_group) {}

SnapshotFile::SnapshotFile(const std::string& path, const std::optional<std::uint32_t>* trust)
    : path_(path),
      map_(trust ? std::make_unique<Mapping>(path, *trust) : std::make_unique<Mapping>(path)) {
  std::string_view data = map_->file.view();
  header_ = ReadSnapshotHeader(data, path);
  if (data.size() < kSnapshotTrailerBytes + 16)
    Corrupt(path, "file is truncated (" + std::to_string(data.size()) + " bytes)", data.size());
  const std::size_t body_end = data.size() - kSnapshotTrailerBytes;
  const char* t = data.data() + body_end;
  if (static_cast<unsigned char>(t[0]) != 0xcf)
    Corrupt(path, "no checksum trailer (truncated or corrupt)", body_end);
  if (XXH3_64bits(data.data(), body_end) != GetBE(t + 1, 8))
    Corrupt(path, "checksum mismatch over bytes [0, " + std::to_string(body_end) + ")", body_end);
  // Verified: now parse the structure, still with limits.
  std::size_t off = 0;
  try {
    msgpack::unpack_limit head_limit(0, 32, 64, 0, 0, 2);
    msgpack::unpack(data.data(), body_end, off, nullptr, nullptr, head_limit);
    entries_.reserve(header_.entry_count);
    watermarks_.assign(header_.shard_count, 0);
    const std::size_t max_entries = header_.entry_count;
    msgpack::unpack_limit limit(std::max<std::size_t>(max_entries, 3), 0, 0, body_end, 0, 4);
    for (std::uint32_t s = 0; s < header_.shard_count; ++s) {
      const std::size_t block_off = off;
      if (off >= body_end) Corrupt(path, "missing block for shard " + std::to_string(s), off);
      msgpack::object_handle oh =
          msgpack::unpack(data.data(), body_end, off, RefAll, nullptr, limit);
      const msgpack::object& b = oh.get();
      if (b.type != msgpack::type::ARRAY || b.via.array.size != 3 ||
          b.via.array.ptr[0].type != msgpack::type::POSITIVE_INTEGER ||
          b.via.array.ptr[0].via.u64 != s ||
          b.via.array.ptr[1].type != msgpack::type::POSITIVE_INTEGER ||
          b.via.array.ptr[2].type != msgpack::type::ARRAY)
        Corrupt(path, "malformed block for shard " + std::to_string(s), block_off);
      watermarks_[s] = b.via.array.ptr[1].via.u64;
      const msgpack::object_array& es = b.via.array.ptr[2].via.array;
      if (entries_.size() + es.size > max_entries)
        Corrupt(path, "more entries than entry_count " + std::to_string(max_entries), block_off);
      for (std::uint32_t i = 0; i < es.size; ++i) {
        const msgpack::object& e = es.ptr[i];
        if (e.type != msgpack::type::ARRAY || e.via.array.size != 3 ||
            e.via.array.ptr[0].type != msgpack::type::BIN || e.via.array.ptr[0].via.bin.size == 0 ||
            e.via.array.ptr[1].type != msgpack::type::BIN ||
            e.via.array.ptr[2].type != msgpack::type::POSITIVE_INTEGER)
          Corrupt(path, "malformed entry " + std::to_string(i) + " of shard " + std::to_string(s),
                  block_off);
        const msgpack::object* f = e.via.array.ptr;
        entries_.push_back({{f[0].via.bin.ptr, f[0].via.bin.size},
                            {f[1].via.bin.ptr, f[1].via.bin.size},
                            f[2].via.u64,
                            s});
      }
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    Corrupt(path, std::string("unreadable msgpack (") + e.what() + ")", off);
  }
  if (off != body_end) Corrupt(path, "unexpected bytes after the last block", off);
  if (entries_.size() != header_.entry_count)
    Corrupt(path,
            "entry_count says " + std::to_string(header_.entry_count) + " but the blocks hold " +
                std::to_string(entries_.size()),
            0);
}

SnapshotFile::~SnapshotFile() = default;

std::uint64_t SnapshotFile::file_bytes() const {
  return map_->file.size();
}

}  // namespace shmkv::detail
