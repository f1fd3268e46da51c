// Record checksums (docs/design.md "Record checksums"): every record carries a checksum of its
// key and value. A flipped value or key byte is flagged by check_invariants and, with
// Options::verify_reads, raised as errc::corrupted by every read that meets the
// record, naming the shard, the key and the offset. Every write path keeps the checksum right
// (insert, out-of-place and in-place overwrite, the one-word overwrite, the counter fast path,
// expiry changes), and Repair recomputes only the checksum of the record it was told about,
// never blessing a mismatch it finds elsewhere. The crash windows are in crashpoint_test.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "shm/key_hash.hpp"
#include "shm/layout.hpp"
#include "segment_image.hpp"
#include "shm/shard.hpp"
#include "test_util.hpp"

using shmkv::errc;
using shmkv::Store;
using namespace testutil;
namespace det = shmkv::detail;

namespace {

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const shmkv::Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

bool any_contains(const std::vector<std::string>& lines, std::string_view part) {
  for (const auto& l : lines)
    if (contains(l, part)) return true;
  return false;
}

shmkv::Options opts(const std::string& name, std::uint32_t home_block_bytes) {
  shmkv::Options o = small_options(name);
  o.home_block_bytes = home_block_bytes;
  o.verify_reads = true;
  return o;
}

void fill(Store& s) {
  for (int i = 0; i < 200; ++i)
    s.set("key:" + std::to_string(i), "value-" + std::to_string(i) + std::string(40, 'x'));
}

}  // namespace

TEST_CASE("checksum: a flipped value byte is caught by check and by every read", "[checksum]") {
  const std::uint32_t home = GENERATE(0u, 128u);  // table path and home-block path of get
  INFO("home_block_bytes " << home);
  SegmentGuard g(unique_name());
  Store s = Store::open(opts(g.name(), home));
  fill(s);
  REQUIRE(s.check_invariants().empty());
  SegmentImage img(g.name());
  const std::uint64_t off = img.record_offset("key:17");
  img.value_bytes(off)[3] ^= 0x04;  // "value-17..." -> "valqe-17..."
  const std::string at = "offset " + std::to_string(off);

  auto violations = s.check_invariants();
  REQUIRE(violations.size() == 1);
  CHECK(contains(violations[0], "shard " + std::to_string(img.shard_of("key:17")) + ": slot "));
  CHECK(contains(violations[0], "record at " + at + " (key 'key:17') fails its checksum"));

  // get, exists and the read-modify-writes go through the lock-free read or FindLive.
  const std::string msg = message_of([&] { (void)s.get("key:17"); });
  INFO(msg);
  CHECK(contains(msg, "shard " + std::to_string(img.shard_of("key:17")) + " record at " + at));
  CHECK(contains(msg, "(key 'key:17') fails its checksum"));
  REQUIRE_ERRC(s.get("key:17"), errc::corrupted);
  REQUIRE_ERRC(s.exists("key:17"), errc::corrupted);
  REQUIRE_ERRC(s.swap("key:17", "x"), errc::corrupted);
  REQUIRE_ERRC(s.get_or_set("key:17", "x"), errc::corrupted);
  REQUIRE_ERRC(s.list(), errc::corrupted);
  REQUIRE_ERRC(s.scan({"key:1", 0, ""}), errc::corrupted);
  // Other keys still read fine.
  CHECK(s.get("key:18").has_value());

  SECTION("with verify_reads off (the default), only check flags it") {
    shmkv::Options o = opts(g.name(), home);
    o.open_mode = shmkv::OpenMode::attach_only;
    o.verify_reads = shmkv::Options{}.verify_reads;
    REQUIRE_FALSE(o.verify_reads);
    Store lax = Store::open(o);
    auto v = lax.get("key:17");
    REQUIRE(v.has_value());
    CHECK(v->substr(0, 9) == "valqe-17x");
    CHECK(lax.list().size() == 200);
    CHECK(lax.check_invariants().size() == 1);
  }
  SECTION("an overwrite gives the key a valid record again") {
    s.set("key:17", "repaired");
    CHECK(s.get("key:17") == std::optional<std::string>("repaired"));
    CHECK(s.check_invariants().empty());
  }
  SECTION("a delete removes the damaged record") {
    CHECK(s.del("key:17"));
    CHECK(s.check_invariants().empty());
  }
  SECTION("a shard repair does not bless the mismatch") {
    // An odd seq makes the next locker repair (rebuild) the shard: the damaged record is
    // reindexed as it is, and still flagged.
    det::ShardHeader* sh = img.shard(img.shard_of("key:17"));
    sh->seq.fetch_add(1);
    auto after = s.check_invariants();  // locks every shard: the odd one is repaired first
    CHECK(sh->seq.load() % 2 == 0);
    REQUIRE(after.size() == 1);
    CHECK(contains(after[0], "(key 'key:17') fails its checksum"));
  }
}

TEST_CASE("checksum: a flipped key byte is caught", "[checksum]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(opts(g.name(), 0));
  fill(s);
  SegmentImage img(g.name());
  const std::uint64_t off = img.record_offset("key:42");
  img.key_bytes(off)[1] ^= 0x01;  // "key:42" -> "kdy:42"
  auto violations = s.check_invariants();
  INFO(violations.size());
  CHECK(any_contains(violations, "record at offset " + std::to_string(off) +
                                     " (key 'kdy:42') fails its checksum"));
  // The table no longer finds "key:42" (its bytes are gone), and no reader returns the
  // damaged key: list and scan raise instead.
  CHECK_FALSE(s.get("key:42").has_value());
  REQUIRE_ERRC(s.list(), errc::corrupted);
  const std::string msg = message_of([&] { (void)s.list(); });
  CHECK(contains(msg, "offset " + std::to_string(off)));
  CHECK(contains(msg, "(key 'kdy:42')"));
}

TEST_CASE("checksum: every write path keeps it valid", "[checksum]") {
  const std::uint32_t home = GENERATE(0u, 128u);
  INFO("home_block_bytes " << home);
  SegmentGuard g(unique_name());
  Store s = Store::open(opts(g.name(), home));
  fill(s);

  // A counter through the one-word fast path: 8 digits stay 8 digits (incremented in place
  // with one word store and one checksum store), and one growing from 0 (Replace's paths).
  s.set("ctr8", "10000000");
  s.set("ctr", "0");
  s.set("c", "5");
  for (int i = 0; i < 20000; ++i) {
    s.increment_by("ctr8", 1);
    s.increment_by("ctr", 1);
    s.increment_by("c", (i % 2) ? 1 : -1);
  }
  CHECK(s.get("ctr8") == std::optional<std::string>("10020000"));
  CHECK(s.get("ctr") == std::optional<std::string>("20000"));
  CHECK(s.get("c") == std::optional<std::string>("5"));
  CHECK(s.check_invariants().empty());

  // Same-length overwrite inside one word, in-place overwrite, out-of-place overwrite.
  s.set("ctr", "77777");
  s.set("key:1", "short");
  s.set("key:2", std::string(3000, 'L'));
  s.set("key:3", "value-3" + std::string(40, 'y'));
  CHECK(s.get("ctr") == std::optional<std::string>("77777"));
  CHECK(s.get("key:1") == std::optional<std::string>("short"));
  CHECK(s.get("key:2") == std::optional<std::string>(std::string(3000, 'L')));
  // Expiry changes are not covered by the checksum, and leave it valid.
  CHECK(s.expire("key:4", std::chrono::hours(1)));
  CHECK(s.expire("key:6", std::chrono::milliseconds(0)));
  CHECK(s.compare_and_swap("key:5", s.get("key:5").value(), "swapped"));
  CHECK(s.check_invariants().empty());
  CHECK(s.list().size() == 203);
}

TEST_CASE("checksum: Repair recomputes only the record named in rehash_rec", "[checksum]") {
  SegmentGuard g(unique_name());
  Store s = Store::open(small_options(g.name()));
  fill(s);
  s.set("ctr", "1234");
  SegmentImage img(g.name());
  const std::uint64_t off = img.record_offset("ctr");
  det::ShardHeader* sh = img.shard(img.shard_of("ctr"));
  // What a holder killed between the value word and the checksum (RewriteWord) leaves: the
  // new value, the old checksum, the record named, seq odd.
  std::memcpy(img.value_bytes(off), "1235", 4);
  sh->rehash_rec = off;
  sh->seq.fetch_add(1);
  CHECK(s.get("ctr") == std::optional<std::string>("1235"));  // the locked path repairs
  CHECK(sh->rehash_rec == 0);
  CHECK(s.check_invariants().empty());

  // The same marker does not reach other records: a damaged neighbour in the shard stays
  // flagged after the repair.
  std::string other;
  for (int i = 0; i < 200 && other.empty(); ++i)
    if (img.shard_of("key:" + std::to_string(i)) == img.shard_of("ctr"))
      other = "key:" + std::to_string(i);
  REQUIRE(!other.empty());
  img.value_bytes(img.record_offset(other))[0] ^= 0x01;
  std::memcpy(img.value_bytes(off), "1236", 4);
  sh->rehash_rec = off;
  sh->seq.fetch_add(1);
  CHECK(s.get("ctr") == std::optional<std::string>("1236"));
  auto violations = s.check_invariants();
  REQUIRE(violations.size() == 1);
  CHECK(contains(violations[0], "(key '" + other + "') fails its checksum"));
}
