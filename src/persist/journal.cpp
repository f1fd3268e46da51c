// journal.cpp: see journal.hpp for the format and the writer's invariants.
#define MSGPACK_NO_BOOST 1
#include "persist/journal.hpp"

#include <unistd.h>
#include <xxhash.h>

#include <cstring>
#include <msgpack.hpp>

#include "os/crashpoint.hpp"
#include "os/file_io.hpp"
#include "os/os.hpp"
#include "os/throw.hpp"
#include "persist/msgpack_out.hpp"

namespace shmkv::detail {
namespace {

void PutLE(char* p, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint64_t GetLE(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
std::uint32_t Check32(const char* p, std::size_t n) {
  return static_cast<std::uint32_t>(XXH3_64bits(p, n));
}

// Process-wide counter: two handles in one process never share a file name.
std::atomic<std::uint64_t> g_file_no{0};

}  // namespace

void EncodeJournalHeader(const JournalFileHeader& h, char out[kJournalHeaderBytes]) {
  std::memset(out, 0, kJournalHeaderBytes);
  std::memcpy(out, kJournalMagic, 8);
  PutLE(out + 8, kJournalFormatVersion, 4);
  PutLE(out + 12, kJournalHeaderBytes, 4);
  PutLE(out + 16, h.epoch, 8);
  PutLE(out + 24, h.shard_count, 4);
  PutLE(out + 28, h.pid, 4);
  PutLE(out + 32, h.start_time, 8);
  PutLE(out + 40, h.created_ms, 8);
  PutLE(out + 48, h.file_no, 8);
  PutLE(out + 56, h.store_id, 4);
  PutLE(out + 60, Check32(out, 60), 4);
}

namespace {

// Bytes of a msgpack bin header for n bytes.
std::size_t BinHeader(std::size_t n) {
  return n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
}

char* PutBin(char* p, std::string_view b) {
  const std::size_t n = b.size();
  if (n <= 0xff) {
    *p++ = static_cast<char>(0xc4);
    *p++ = static_cast<char>(n);
  } else if (n <= 0xffff) {
    *p++ = static_cast<char>(0xc5);
    *p++ = static_cast<char>(n >> 8);
    *p++ = static_cast<char>(n);
  } else {
    *p++ = static_cast<char>(0xc6);
    for (int i = 3; i >= 0; --i) *p++ = static_cast<char>(n >> (8 * i));
  }
  if (n) std::memcpy(p, b.data(), n);
  return p + n;
}

}  // namespace

void AppendJournalRecord(std::string* out, std::uint64_t seq, JournalOp op, std::string_view key,
                         std::string_view value, std::uint64_t expires_ms, std::uint32_t shard,
                         std::uint64_t epoch, std::uint32_t shard_count) {
  const std::size_t start = out->size();
  if (op == JournalOp::set && expires_ms < 0x80) {
    // Fast path for the common record (same bytes as the general encoder below): one resize,
    // two memcpys.
    const std::size_t payload =
        2 + BinHeader(key.size()) + key.size() + BinHeader(value.size()) + value.size() + 1;
    out->resize(start + kRecordFrameBytes + payload);
    char* frame = out->data() + start;
    char* p = frame + kRecordFrameBytes;
    *p++ = static_cast<char>(0x94);
    *p++ = static_cast<char>(JournalOp::set);
    p = PutBin(p, key);
    p = PutBin(p, value);
    *p++ = static_cast<char>(expires_ms);
    PutLE(frame + 4, payload, 4);
    PutLE(frame + 8, seq, 8);
    PutLE(frame, Check32(frame + 4, 12 + payload), 4);
    return;
  }
  out->append(kRecordFrameBytes, '\0');
  mp::Array(out, 4);
  mp::Uint(out, static_cast<std::uint64_t>(op));
  switch (op) {
    case JournalOp::set:
      mp::Bin(out, key);
      mp::Bin(out, value);
      mp::Uint(out, expires_ms);
      break;
    case JournalOp::del:
      mp::Bin(out, key);
      mp::Nil(out);
      mp::Uint(out, 0);
      break;
    case JournalOp::clear_shard:
      mp::Uint(out, shard);
      if (shard_count != 0) {
        mp::Uint(out, epoch);
        mp::Uint(out, shard_count);
      } else {
        mp::Nil(out);
        mp::Uint(out, 0);
      }
      break;
  }
  char* frame = out->data() + start;
  const std::size_t payload = out->size() - start - kRecordFrameBytes;
  PutLE(frame + 4, payload, 4);
  PutLE(frame + 8, seq, 8);
  PutLE(frame, Check32(frame + 4, 12 + payload), 4);
}

bool DecodeJournalPayload(std::string_view payload, JournalRecord* rec) {
  try {
    std::size_t off = 0;
    // Limits: a 4-element array of scalars; bin up to the payload size. Nothing nested.
    msgpack::unpack_limit limit(4, 0, 0, payload.size(), 0, 2);
    msgpack::object_handle oh = msgpack::unpack(
        payload.data(), payload.size(), off,
        [](msgpack::type::object_type, std::size_t, void*) { return true; }, nullptr, limit);
    if (off != payload.size()) return false;
    const msgpack::object& o = oh.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 4) return false;
    const msgpack::object* a = o.via.array.ptr;
    if (a[0].type != msgpack::type::POSITIVE_INTEGER ||
        a[3].type != msgpack::type::POSITIVE_INTEGER)
      return false;
    rec->expires_ms = a[3].via.u64;
    switch (a[0].via.u64) {
      case 1:
        if (a[1].type != msgpack::type::BIN || a[2].type != msgpack::type::BIN) return false;
        rec->op = JournalOp::set;
        rec->key = {a[1].via.bin.ptr, a[1].via.bin.size};
        rec->value = {a[2].via.bin.ptr, a[2].via.bin.size};
        break;
      case 2:
        if (a[1].type != msgpack::type::BIN || a[2].type != msgpack::type::NIL) return false;
        rec->op = JournalOp::del;
        rec->key = {a[1].via.bin.ptr, a[1].via.bin.size};
        rec->value = {};
        break;
      case 3:
        if (a[1].type != msgpack::type::POSITIVE_INTEGER || a[1].via.u64 > 0xffffffffull)
          return false;
        if (a[2].type == msgpack::type::POSITIVE_INTEGER) {
          const std::uint64_t n = a[3].via.u64;
          if (n == 0 || n > (1u << 16) || (n & (n - 1)) != 0 || a[1].via.u64 >= n) return false;
          rec->has_epoch = true;
          rec->epoch = a[2].via.u64;
          rec->shard_count = static_cast<std::uint32_t>(n);
        } else if (a[2].type != msgpack::type::NIL) {
          return false;
        }
        rec->op = JournalOp::clear_shard;
        rec->shard = static_cast<std::uint32_t>(a[1].via.u64);
        rec->key = rec->value = {};
        break;
      default:
        return false;
    }
    // The views point into payload (referenced bin), which outlives the handle.
    return rec->op == JournalOp::clear_shard || !rec->key.empty();
  } catch (const std::exception&) {
    return false;
  }
}

namespace {

// The record frame at off if it verifies completely (length within the data, checksum, payload).
bool FrameAt(std::string_view data, std::uint64_t off, JournalRecord* rec, std::uint64_t* len) {
  if (off > data.size() || data.size() - off < kRecordFrameBytes) return false;
  const char* f = data.data() + off;
  const std::uint64_t n = GetLE(f + 4, 4);
  if (n > data.size() - off - kRecordFrameBytes) return false;
  if (Check32(f + 4, 12 + n) != GetLE(f, 4)) return false;
  rec->seq = GetLE(f + 8, 8);
  if (!DecodeJournalPayload({f + kRecordFrameBytes, n}, rec)) return false;
  *len = n;
  return true;
}

// The first offset after `from` where resynchronising is safe: a frame verifies there and it
// either ends the file or is followed by another verifying frame (a value that happens to
// contain a frame-shaped byte string is not enough). data.size() if there is none.
std::uint64_t ResyncPoint(std::string_view data, std::uint64_t from) {
  JournalRecord rec;
  std::uint64_t len = 0, len2 = 0;
  for (std::uint64_t p = from; p + kRecordFrameBytes <= data.size(); ++p) {
    if (!FrameAt(data, p, &rec, &len)) continue;
    const std::uint64_t next = p + kRecordFrameBytes + len;
    if (next == data.size() || FrameAt(data, next, &rec, &len2)) return p;
  }
  return data.size();
}

}  // namespace

JournalScan ScanJournal(std::string_view data, const std::string& path,
                        const std::function<void(const JournalRecord&, std::uint64_t)>& fn) {
  JournalScan scan;
  scan.file_bytes = data.size();
  auto all_zero = [&](std::uint64_t from, std::uint64_t to) {
    for (std::uint64_t i = from; i < to; ++i)
      if (data[i] != 0) return false;
    return true;
  };
  if (data.size() < kJournalHeaderBytes) {
    if (!data.empty() &&
        std::memcmp(data.data(), kJournalMagic, std::min<std::size_t>(8, data.size())) != 0 &&
        !all_zero(0, data.size()))
      Throw(errc::corrupted, path + ": not a shmkv journal (bad magic) at offset 0");
    scan.cut_reason = data.empty() ? "" : "torn header (" + std::to_string(data.size()) + " bytes)";
    scan.cut_nonzero = !all_zero(0, data.size());
    return scan;
  }
  const char* h = data.data();
  if (std::memcmp(h, kJournalMagic, 8) != 0) {
    if (all_zero(0, data.size())) {
      scan.cut_reason = "all-zero header (file created, never written)";
      return scan;
    }
    if (all_zero(0, kJournalHeaderBytes)) {
      // A header lost (zeroed) after records were appended: read the records, report it.
      scan.header_trusted = false;
      scan.skipped.push_back(path +
                             ": header zeroed at offset 0 (64 bytes); records after it read");
    } else {
      Throw(errc::corrupted, path + ": not a shmkv journal (bad magic) at offset 0");
    }
  } else if (Check32(h, 60) != GetLE(h + 60, 4)) {
    // The records carry their own checksums: a damaged header loses only what it describes
    // (the epoch of clear records, the process that wrote the file, which the name also says).
    scan.header_trusted = false;
    scan.skipped.push_back(path +
                           ": header checksum mismatch at offset 60; its fields are not "
                           "trusted, the records after it are read");
  } else {
    std::uint32_t version = static_cast<std::uint32_t>(GetLE(h + 8, 4));
    if (version != kJournalFormatVersion || GetLE(h + 12, 4) != kJournalHeaderBytes)
      Throw(errc::incompatible_layout,
            path + ": journal format version " + std::to_string(version) +
                " at offset 8; this build reads version " + std::to_string(kJournalFormatVersion));
  }
  scan.header.epoch = GetLE(h + 16, 8);
  scan.header.shard_count = static_cast<std::uint32_t>(GetLE(h + 24, 4));
  scan.header.pid = static_cast<std::uint32_t>(GetLE(h + 28, 4));
  scan.header.start_time = GetLE(h + 32, 8);
  scan.header.created_ms = GetLE(h + 40, 8);
  scan.header.file_no = GetLE(h + 48, 8);
  scan.header.store_id = static_cast<std::uint32_t>(GetLE(h + 56, 4));
  std::uint64_t off = kJournalHeaderBytes;
  scan.valid_bytes = off;
  while (off < data.size()) {
    JournalRecord rec;
    std::uint64_t len = 0;
    if (!FrameAt(data, off, &rec, &len)) {
      // Why the frame at off does not verify (for the report).
      const std::uint64_t left = data.size() - off;
      std::string why;
      if (left < kRecordFrameBytes) {
        why = "torn record frame at offset " + std::to_string(off);
      } else {
        const char* f = data.data() + off;
        const std::uint64_t n = GetLE(f + 4, 4);
        if (n > left - kRecordFrameBytes)
          why = "record at offset " + std::to_string(off) + " claims " + std::to_string(n) +
                " bytes; " + std::to_string(left - kRecordFrameBytes) + " remain (torn)";
        else if (Check32(f + 4, 12 + n) != GetLE(f, 4))
          why = "checksum mismatch in record at offset " + std::to_string(off);
        else
          why = "malformed payload in record at offset " + std::to_string(off);
      }
      const std::uint64_t next = ResyncPoint(data, off + 1);
      if (next >= data.size()) {  // nothing verifies after it: a torn or damaged tail
        scan.cut_reason = why;
        break;
      }
      // Damage in the middle: skip exactly the bytes that do not verify, keep what follows.
      scan.skipped.push_back(path + ": skipped bytes [" + std::to_string(off) + ", " +
                             std::to_string(next) + ") (" + std::to_string(next - off) +
                             " bytes): " + why + "; records resume at offset " +
                             std::to_string(next));
      scan.skipped_bytes += next - off;
      off = next;
      continue;
    }
    if (fn) fn(rec, off);
    ++scan.records;
    scan.max_seq = std::max(scan.max_seq, rec.seq);
    off += kRecordFrameBytes + len;
    scan.valid_bytes = off;
  }
  if (!scan.cut_reason.empty()) scan.cut_nonzero = !all_zero(scan.valid_bytes, data.size());
  return scan;
}

std::string JournalFileName(std::uint32_t pid, std::uint64_t start_time, std::uint64_t file_no) {
  return "journal-" + std::to_string(pid) + "-" + std::to_string(start_time) + "-" +
         std::to_string(file_no) + ".log";
}

std::string SealedJournalFileName(std::uint32_t pid, std::uint64_t start_time,
                                  std::uint64_t file_no, std::uint64_t max_seq) {
  return "journal-" + std::to_string(pid) + "-" + std::to_string(start_time) + "-" +
         std::to_string(file_no) + "." + std::to_string(max_seq) + ".sealed.log";
}

bool ParseJournalName(const std::string& name, JournalName* out) {
  if (name.rfind("journal-", 0) != 0 || !name.ends_with(".log")) return false;
  std::string body = name.substr(8, name.size() - 12);
  JournalName n;
  if (body.ends_with(".sealed")) {
    body.resize(body.size() - 7);
    auto dot = body.rfind('.');
    if (dot == std::string::npos) return false;
    n.sealed = true;
    n.max_seq = std::strtoull(body.c_str() + dot + 1, nullptr, 10);
    body.resize(dot);
  }
  unsigned long long a = 0, b = 0, c = 0;
  char tail = 0;
  if (std::sscanf(body.c_str(), "%llu-%llu-%llu%c", &a, &b, &c, &tail) != 3) return false;
  n.pid = static_cast<std::uint32_t>(a);
  n.start_time = b;
  n.file_no = c;
  *out = n;
  return true;
}

// --- writer ---

JournalWriter::JournalWriter(std::string dir, JournalFileHeader proto, FsyncPolicy policy)
    : dir_(std::move(dir)), proto_(proto), policy_(policy) {
  buf_.reserve(kJournalBufferBytes * 2);
  last_sync_ns_.store(os::NowMonotonicNs(), std::memory_order_relaxed);
}

JournalWriter::~JournalWriter() {
  fileio::Close(fd_);
}

void JournalWriter::SetStoreId(std::uint32_t id32) {
  std::lock_guard<std::mutex> lk(mu_);
  proto_.store_id = id32;
}

std::uint64_t JournalWriter::Append(std::uint64_t seq, JournalOp op, std::string_view key,
                                    std::string_view value, std::uint64_t expires_ms,
                                    std::uint32_t shard, bool refuse) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!error_.empty()) {
    if (refuse) Throw(errc::io_error, error_);
    return kDroppedTicket;  // never durable: IsLost() and WaitDurable() say so
  }
  AppendJournalRecord(&buf_, seq, op, key, value, expires_ms, shard, proto_.epoch,
                      proto_.shard_count);
  buf_max_seq_ = std::max(buf_max_seq_, seq);
  max_appended_seq_ = std::max(max_appended_seq_, seq);
  buffered_.store(buf_.size(), std::memory_order_relaxed);
  return ++appended_;
}

void JournalWriter::BecomeLeader(std::unique_lock<std::mutex>& lk) {
  cv_.wait(lk, [&] { return !flushing_; });
  flushing_ = true;
}

void JournalWriter::EnsureFile() {
  if (fd_ >= 0) return;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    file_no_ = g_file_no.fetch_add(1, std::memory_order_relaxed);
    std::string path = dir_ + "/" + JournalFileName(proto_.pid, proto_.start_time, file_no_);
    path_ = path;  // named in the error if creating it fails
    int fd;
    try {
      fd = fileio::CreateNew(path, group_ ? 0640 : 0600);
    } catch (const Error& e) {
      if (e.code_value() == errc::already_exists) continue;  // same pid+start in an older boot
      throw;
    }
    if (group_) {
      try {
        os::SetGroup(fd, path, *group_);
      } catch (...) {
        fileio::Close(fd);
        fileio::Unlink(path);
        throw;
      }
    }
    JournalFileHeader h = proto_;
    h.file_no = file_no_;
    h.created_ms = os::NowUnixMs();
    char header[kJournalHeaderBytes];
    EncodeJournalHeader(h, header);
    try {
      fileio::WriteAll(fd, header, sizeof header, path);
      SHMKV_CRASH_POINT("journal.file_created");
      // The new name must survive a host crash before the records in it count as durable.
      if (policy_ != FsyncPolicy::never) {
        fileio::DataSync(fd, path);
        fileio::SyncDir(dir_);
      }
    } catch (...) {
      fileio::Close(fd);
      failed_path_ = path;  // sealed (or left for recovery, which reads it as empty) at Reset
      throw;
    }
    fd_ = fd;
    file_max_seq_ = 0;
    file_bytes_ = kJournalHeaderBytes;
    return;
  }
  Throw(errc::io_error, "could not create a journal file in " + dir_);
}

void JournalWriter::Fail(const std::string& what) {
  if (error_.empty()) error_ = what;
  failed_.store(true, std::memory_order_release);
  // Everything appended so far and not durable is lost: its writers get io_error.
  lost_from_ = durable_;
  lost_upto_ = appended_;
  buf_.clear();
  buf_max_seq_ = 0;
  buffered_.store(0, std::memory_order_relaxed);
}

void JournalWriter::LeadFlush(std::unique_lock<std::mutex>& lk, bool sync) {
  // Caller is the leader (flushing_ set) and holds lk.
  std::uint64_t upto = appended_;
  std::uint64_t max_seq = buf_max_seq_;
  spare_.clear();
  buf_.swap(spare_);
  buf_max_seq_ = 0;
  buffered_.store(0, std::memory_order_relaxed);
  const bool have_error = !error_.empty();
  lk.unlock();
  std::string err;
  if (!have_error) {
    try {
      if (!spare_.empty()) {
        EnsureFile();
        SHMKV_CRASH_POINT("journal.before_write");
        fileio::WriteAll(fd_, spare_.data(), spare_.size(), path_);
        file_max_seq_ = std::max(file_max_seq_, max_seq);
        SHMKV_CRASH_POINT("journal.written");
      }
      if (sync && fd_ >= 0) {
        fileio::DataSync(fd_, path_);
        SHMKV_CRASH_POINT("journal.synced");
      }
      if (fd_ >= 0) file_bytes_ += spare_.size();
    } catch (const std::exception& e) {
      err = e.what();
      if (fd_ >= 0) {
        // Cut the file back to its last complete flush, so that records whose writers are told
        // "failed" do not come back at recovery (best effort: a snapshot taken after the failure
        // covers them anyway, see Reset).
        fileio::TruncateQuiet(fd_, file_bytes_);
        fileio::Close(fd_);
        fd_ = -1;
        failed_path_ = path_;
      }
    }
  }
  lk.lock();
  if (!err.empty()) Fail("journal " + path_ + " failed: " + err);
  if (error_.empty()) {
    written_ = upto;
    if (sync) {
      durable_ = upto;
      last_sync_ns_.store(os::NowMonotonicNs(), std::memory_order_relaxed);
    }
  }
  flushing_ = false;
  cv_.notify_all();
}

void JournalWriter::WaitDurable(std::uint64_t ticket) {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    if ((ticket > lost_from_ && ticket <= lost_upto_) || ticket == kDroppedTicket)
      Throw(errc::io_error, error_.empty() ? "journal record lost by an earlier failure" : error_);
    if (durable_ >= ticket) return;
    if (!error_.empty()) Throw(errc::io_error, error_);
    if (!flushing_) {
      flushing_ = true;
      LeadFlush(lk, true);  // group commit: takes every record buffered so far
      continue;
    }
    cv_.wait(lk);
  }
}

bool JournalWriter::IsLost(std::uint64_t ticket) const {
  std::lock_guard<std::mutex> lk(mu_);
  return (ticket > lost_from_ && ticket <= lost_upto_) || ticket == kDroppedTicket;
}

void JournalWriter::Flush(bool sync) {
  std::unique_lock<std::mutex> lk(mu_);
  std::uint64_t want = appended_;
  for (;;) {
    if (!error_.empty()) Throw(errc::io_error, error_);
    if ((sync ? durable_ : written_) >= want) return;
    BecomeLeader(lk);
    LeadFlush(lk, sync);
  }
}

void JournalWriter::TryWrite() noexcept {
  std::unique_lock<std::mutex> lk(mu_);
  if (flushing_ || buf_.empty() || !error_.empty()) return;
  flushing_ = true;
  LeadFlush(lk, false);
}

bool JournalWriter::has_unsynced() const {
  std::lock_guard<std::mutex> lk(mu_);
  return error_.empty() && durable_ < appended_;
}

std::string JournalWriter::error() const {
  std::lock_guard<std::mutex> lk(mu_);
  return error_;
}

std::uint64_t JournalWriter::max_appended_seq() const {
  std::lock_guard<std::mutex> lk(mu_);
  return max_appended_seq_;
}

void JournalWriter::CloseAndRename() {
  if (fd_ < 0) return;
  fileio::Close(fd_);
  fd_ = -1;
  std::string sealed =
      dir_ + "/" + SealedJournalFileName(proto_.pid, proto_.start_time, file_no_, file_max_seq_);
  fileio::Rename(path_, sealed);
  SHMKV_CRASH_POINT("journal.sealed");
}

void JournalWriter::Seal() noexcept {
  std::unique_lock<std::mutex> lk(mu_);
  BecomeLeader(lk);
  LeadFlush(lk, policy_ != FsyncPolicy::never);  // clears flushing_
  BecomeLeader(lk);
  const bool ok = error_.empty();
  lk.unlock();
  std::string err;
  if (ok) {
    try {
      CloseAndRename();
    } catch (const std::exception& e) {
      // The records are durable under the unsealed name; but a directory that refuses a rename
      // refuses the next journal too: report it now.
      err = e.what();
    }
  }
  lk.lock();
  if (!err.empty()) Fail("journal " + path_ + " failed: " + err);
  flushing_ = false;
  cv_.notify_all();
}

bool JournalWriter::Reset(std::uint64_t snapshot_seq) noexcept {
  std::unique_lock<std::mutex> lk(mu_);
  if (error_.empty() || snapshot_seq <= max_appended_seq_) return false;
  BecomeLeader(lk);
  std::string failed = std::move(failed_path_);
  failed_path_.clear();
  lk.unlock();
  if (!failed.empty() && fileio::Exists(failed)) {
    // Seal the failed file under its last complete record's seq, so retention deletes it once
    // a retained snapshot covers it (best effort: recovery reads it either way).
    try {
      fileio::Rename(failed, dir_ + "/" +
                                 SealedJournalFileName(proto_.pid, proto_.start_time, file_no_,
                                                       file_max_seq_));
    } catch (const std::exception&) {
    }
  }
  lk.lock();
  error_.clear();
  failed_.store(false, std::memory_order_release);
  written_ = durable_ = appended_;
  last_sync_ns_.store(os::NowMonotonicNs(), std::memory_order_relaxed);
  flushing_ = false;
  cv_.notify_all();
  return true;
}

}  // namespace shmkv::detail
