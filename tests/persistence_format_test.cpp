// Golden tests: the exact bytes of the journal and snapshot formats. A change here is a format
// change: bump kJournalFormatVersion / kSnapshotFormatVersion and keep reading the old one.
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "persist/journal.hpp"
#include "persist_test_util.hpp"
#include "shm/segment.hpp"
#include "persist/snapshot.hpp"
#include "test_util.hpp"

using shmkv::Store;
using namespace testutil;
using namespace persisttest;
namespace d = shmkv::detail;

namespace {
bool g_seed_42 = false;  // while set, getrandom() below gives 42 (a new segment's hash seed)
}  // namespace

// A new segment's hash seed comes from getrandom() (src/os/os.cpp, RandomSeed) and is sealed into
// the header when the segment is created; this executable's getrandom() takes precedence over
// libc's for the library linked into it, so the golden snapshot below can have seed 42.
extern "C" ssize_t getrandom(void* buf, size_t len, unsigned int flags) noexcept {
  if (!g_seed_42) return ::syscall(SYS_getrandom, buf, len, flags);
  std::memset(buf, 0, len);
  if (len > 0) static_cast<unsigned char*>(buf)[0] = 42;
  return static_cast<ssize_t>(len);
}

namespace {

std::string Hex(std::string_view b) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

}  // namespace

TEST_CASE("format: journal header bytes", "[format]") {
  d::JournalFileHeader h;
  h.epoch = 0x0102030405060708ull;
  h.shard_count = 64;
  h.pid = 4242;
  h.start_time = 123456;
  h.created_ms = 1700000000000ull;
  h.file_no = 3;
  char out[d::kJournalHeaderBytes];
  d::EncodeJournalHeader(h, out);
  REQUIRE(Hex({out, sizeof out}) ==
          "534d4b564a4e4c31"  // "SMKVJNL1"
          "01000000"          // format version 1
          "40000000"          // header bytes 64
          "0807060504030201"  // epoch
          "40000000"          // shard count 64
          "92100000"          // pid 4242
          "40e2010000000000"  // start time
          "0068e5cf8b010000"  // created ms
          "0300000000000000"  // file number
          "00000000"          // reserved
          "63cf80fd");        // checksum
}

TEST_CASE("format: journal record bytes", "[format]") {
  std::string b;
  d::AppendJournalRecord(&b, 1, d::JournalOp::set, "k", "v", 0, 0);
  REQUIRE(Hex(b) ==
          "1bf51349"              // checksum over [4, 16 + len)
          "09000000"              // payload length 9
          "0100000000000000"      // seq 1
          "9401c4016bc4017600");  // [1, bin "k", bin "v", 0]
  b.clear();
  d::AppendJournalRecord(&b, 0x100, d::JournalOp::set, std::string("\0k", 2), "", 1700000000000ull,
                         0);
  REQUIRE(Hex(b.substr(16)) == "9401c402006bc400cf0000018bcfe56800");
  b.clear();
  d::AppendJournalRecord(&b, 2, d::JournalOp::del, "k", "", 0, 0);
  REQUIRE(Hex(b.substr(4)) ==
          "07000000"
          "0200000000000000"
          "9402c4016bc000");
  b.clear();
  d::AppendJournalRecord(&b, 3, d::JournalOp::clear_shard, "", "", 0, 5);
  REQUIRE(Hex(b.substr(4)) ==
          "05000000"
          "0300000000000000"
          "940305c000");  // the form written before clear records carried their epoch
  b.clear();
  d::AppendJournalRecord(&b, 4, d::JournalOp::clear_shard, "", "", 0, 5, 0x1234, 64);
  REQUIRE(Hex(b.substr(4)) ==
          "07000000"
          "0400000000000000"
          "940305cd123440");  // [3, shard 5, epoch 0x1234, shard count 64]
  d::JournalRecord rec;
  REQUIRE(d::DecodeJournalPayload(std::string_view(b).substr(16), &rec));
  REQUIRE(rec.op == d::JournalOp::clear_shard);
  REQUIRE(rec.has_epoch);
  REQUIRE(rec.epoch == 0x1234);
  REQUIRE(rec.shard_count == 64);
  REQUIRE(rec.shard == 5);
}

TEST_CASE("format: a journal decodes back to its records", "[format]") {
  std::string file(d::kJournalHeaderBytes, '\0');
  d::JournalFileHeader h;
  h.epoch = 7;
  h.shard_count = 4;
  d::EncodeJournalHeader(h, file.data());
  d::AppendJournalRecord(&file, 10, d::JournalOp::set, "a", std::string(300, 'x'), 5, 0);
  d::AppendJournalRecord(&file, 11, d::JournalOp::del, "a", "", 0, 0);
  d::AppendJournalRecord(&file, 12, d::JournalOp::clear_shard, "", "", 0, 3);
  std::vector<d::JournalRecord> recs;
  auto scan = d::ScanJournal(file, "mem",
                             [&](const d::JournalRecord& r, std::uint64_t) { recs.push_back(r); });
  REQUIRE(scan.cut_reason.empty());
  REQUIRE(scan.records == 3);
  REQUIRE(scan.max_seq == 12);
  REQUIRE(scan.header.epoch == 7);
  REQUIRE(recs[0].op == d::JournalOp::set);
  REQUIRE(recs[0].value == std::string(300, 'x'));
  REQUIRE(recs[0].expires_ms == 5);
  REQUIRE(recs[1].op == d::JournalOp::del);
  REQUIRE(recs[2].op == d::JournalOp::clear_shard);
  REQUIRE(recs[2].shard == 3);
  // Every truncation point yields a prefix of the records and a report of the cut.
  for (std::size_t len = d::kJournalHeaderBytes; len < file.size(); ++len) {
    auto s = d::ScanJournal(std::string_view(file).substr(0, len), "mem", nullptr);
    REQUIRE(s.valid_bytes <= len);
    REQUIRE((s.cut_reason.empty() == (s.valid_bytes == len)));
  }
}

TEST_CASE("format: snapshot bytes of a small store", "[format]") {
  TempDir dir;
  SegmentGuard g(unique_name("fmt"));
  shmkv::Options o = small_options(g.name(), 1 << 20, 1);
  o.max_value_bytes = 1024;
  g_seed_42 = true;  // so the bytes are reproducible
  Store s = Store::open(o);
  g_seed_42 = false;
  shmkv::Options attach = o;
  attach.open_mode = shmkv::OpenMode::attach_only;
  auto seg = d::Segment::Open(attach);
  REQUIRE(seg->geo().hash_seed == 42);
  s.set("a", "1");
  s.set("bb", std::string("\0\xff", 2));
  s.set("c", "");
  REQUIRE(s.del("c"));
  s.set("d", "4");
  d::SnapshotWriteOptions w;
  w.created_ms = 1700000000000ull;
  auto r = d::WriteSnapshot(*seg, dir.path + "/s.msgpack", w);
  REQUIRE(r.entries == 3);
  std::string bytes = read_file(dir.path + "/s.msgpack");
  REQUIRE(r.bytes == bytes.size());
  REQUIRE(Hex(bytes) ==
          "87"  // map of 7
          "a56d61676963"
          "ae73686d6b762d736e617073686f74"  // magic: "shmkv-snapshot"
          "ae666f726d61745f76657273696f6e"
          "01"  // format_version: 1
          "aa637265617465645f6d73"
          "cf0000018bcfe56800"  // created_ms
          "ab656e7472795f636f756e74"
          "cf0000000000000003"  // entry_count: 3 (9 bytes)
          "a3736571"
          "00"  // seq: 0 (memory only)
          "a9686173685f73656564"
          "2a"  // hash_seed: 42
          "ab73686172645f636f756e74"
          "01"  // shard_count: 1
          "93"
          "00"
          "00"
          "93"                    // [shard 0, watermark 0, [3]
          "93c40161c4013100"      //   ["a", "1", 0]
          "93c4026262c40200ff00"  //   ["bb", "\0\xff", 0]
          "93c40164c4013400"      //   ["d", "4", 0]]
          "cf" +
              Hex(bytes.substr(bytes.size() - 8)));  // trailer: xxh3 of the rest
  REQUIRE(Hex(bytes.substr(bytes.size() - 8)) == "8f02627fdee813cd");
  // And it reads back.
  d::SnapshotFile f(dir.path + "/s.msgpack");
  REQUIRE(f.header().entry_count == 3);
  REQUIRE(f.header().hash_seed == 42);
  REQUIRE(f.entries().size() == 3);
  REQUIRE(f.entries()[1].value == std::string("\0\xff", 2));
}

TEST_CASE("format: a live journal file is the header plus the encoded records", "[format]") {
  TempDir dir;
  SegmentGuard g(unique_name("fmt"));
  {
    Store s = Store::open(persistent_options(g.name(), dir.path, shmkv::FsyncPolicy::always));
    s.set("x", "1");
    s.del("x");
    s.clear();
  }
  auto journals = files_matching(dir.path, "journal-");
  REQUIRE(journals.size() == 1);
  REQUIRE(journals[0].ends_with(".sealed.log"));
  std::string file = read_file(journals[0]);
  // The clear records carry the epoch of the file header (hash seed at offset 16, 4 shards).
  std::uint64_t epoch = 0;
  for (int i = 7; i >= 0; --i) epoch = (epoch << 8) | static_cast<unsigned char>(file[16 + i]);
  std::string expect;
  d::AppendJournalRecord(&expect, 1, d::JournalOp::set, "x", "1", 0, 0);
  d::AppendJournalRecord(&expect, 2, d::JournalOp::del, "x", "", 0, 0);
  for (std::uint32_t i = 0; i < 4; ++i)
    d::AppendJournalRecord(&expect, 3 + i, d::JournalOp::clear_shard, "", "", 0, i, epoch, 4);
  REQUIRE(Hex(file.substr(d::kJournalHeaderBytes)) == Hex(expect));
  REQUIRE(journals[0].find(".6.sealed.log") != std::string::npos);  // highest seq in the name
}
