// Trust: what the library does with a segment it did not write itself. A segment created first
// by another user (squatting) or writable by others is refused; a header whose fields disagree
// with each other is corrupted and left in place, never rebuilt; records, counts, indexes and
// locks with impossible values give errc::corrupted naming the field, never a signal, a hang or
// bytes of another record. The corruption fuzzer (corruption_fuzz_test) covers random damage;
// these are the targeted repros of the reliability audit.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "segment_image.hpp"
#include "shm/inspect.hpp"
#include "shm/key_hash.hpp"
#include "shm/layout.hpp"
#include "shm/shard.hpp"
#include "shmkv/shmkv.h"
#include "test_util.hpp"

using shmkv::errc;
using shmkv::OpenMode;
using shmkv::Store;
using namespace testutil;
namespace det = shmkv::detail;

namespace {

constexpr int kKeys = 1000;

// A store of kKeys keys "key:i" = "value-i" (i = 0..kKeys-1), closed again.
shmkv::Options filled_store(const std::string& name, bool ordered_index = true) {
  shmkv::Options o = small_options(name);
  o.ordered_index = ordered_index;
  Store s = Store::open(o);
  for (int i = 0; i < kKeys; ++i) s.set("key:" + std::to_string(i), "value-" + std::to_string(i));
  return o;
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const shmkv::Error& e) {
    return e.what();
  }
  return "";
}

shmkv::Options with_mode(shmkv::Options o, OpenMode m) {
  o.open_mode = m;
  return o;
}

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

// --- squatting and shared write access ---

TEST_CASE("trust: a segment another user created under our name is refused", "[trust][perm]") {
  if (::geteuid() != 0) {
    WARN("skipped: needs root to act as another user");
    return;
  }
  SegmentGuard g(unique_name());
  shmkv::Options o = small_options(g.name());
  // nobody creates the store first, as the library would, with its default mode 0600...
  REQUIRE(run_in_child([&] {
            if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)
              return 80;
            Store s = Store::open(o);
            s.set("planted", "by nobody");
            return 0;
          }) == 0);
  // ...and root's create_or_attach does not write its secrets into it.
  std::string msg = message_of([&] { Store::open(o); });
  INFO(msg);
  REQUIRE_ERRC(Store::open(o), errc::permission_denied);
  CHECK(contains(msg, "uid 65534"));
  CHECK(contains(msg, "mode 0600"));
  REQUIRE_ERRC(Store::open(with_mode(o, OpenMode::attach_only)), errc::permission_denied);

  SECTION("a world-writable squat is refused the same way, and not rebuilt") {
    REQUIRE(::chmod(segment_path(g.name()).c_str(), 0666) == 0);
    msg = message_of([&] { Store::open(o); });
    CHECK(contains(msg, "mode 0666"));
    CHECK(contains(msg, "any local user may write it"));
  }
  SECTION("a store shared with a group on purpose is accepted when the group is trusted") {
    REQUIRE(::chown(segment_path(g.name()).c_str(), 65534, 65534) == 0);
    REQUIRE(::chmod(segment_path(g.name()).c_str(), 0660) == 0);
    shmkv::Options shared = o;
    shared.trusted_group = 65534;
    Store s = Store::open(shared);
    REQUIRE(s.get("planted") == std::optional<std::string>("by nobody"));
    shared.trusted_group = 65533;  // another group: refused
    REQUIRE_ERRC(Store::open(shared), errc::permission_denied);
  }
  struct stat st {};
  REQUIRE(::stat(segment_path(g.name()).c_str(), &st) == 0);
  CHECK(st.st_uid == 65534u);  // still nobody's file: refused, not replaced
}

TEST_CASE("trust: a segment of ours that others may write is refused without trusted_group",
          "[trust][perm]") {
  SegmentGuard g(unique_name());
  shmkv::Options o = small_options(g.name());
  { Store s = Store::open(o); }
  const std::string path = segment_path(g.name());
  REQUIRE(::chmod(path.c_str(), 0606) == 0);
  CHECK(contains(message_of([&] { Store::open(o); }), "any local user may write it"));
  REQUIRE_ERRC(Store::open(o), errc::permission_denied);
  REQUIRE(::chmod(path.c_str(), 0660) == 0);
  CHECK(contains(message_of([&] { Store::open(o); }), "its group may write it"));
  REQUIRE_ERRC(Store::open(o), errc::permission_denied);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  o.trusted_group = st.st_gid;
  Store s = Store::open(o);
  s.set("k", "v");
  REQUIRE(s.get("k") == std::optional<std::string>("v"));
}

TEST_CASE("trust: modes that share write access need a trusted group", "[trust][perm]") {
  SegmentGuard g(unique_name());
  shmkv::Options o = small_options(g.name());
  o.mode = 0666;
  std::string msg = message_of([&] { Store::open(o); });
  CHECK(contains(msg, "mode 0666"));
  REQUIRE_ERRC(Store::open(o), errc::invalid_argument);
  o.mode = 0660;
  CHECK(contains(message_of([&] { Store::open(o); }), "trusted_group"));
  REQUIRE_ERRC(Store::open(o), errc::invalid_argument);
  REQUIRE_FALSE(Store::segment_exists(g.name()));
  o.trusted_group = ::getegid();
  Store s = Store::open(o);
  struct stat st {};
  REQUIRE(::stat(segment_path(g.name()).c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0660);
  CHECK(st.st_gid == ::getegid());
}

// --- the header ---

TEST_CASE("trust: a header field that disagrees with the layout is corrupted, never rebuilt",
          "[trust][header]") {
  SegmentGuard g(unique_name());
  const shmkv::Options o = filled_store(g.name());
  struct Field {
    const char* name;  // named in the error, with home_ for the home-block fields
    std::size_t offset;
    std::size_t width;
    std::uint64_t bad;
  };
#define SHMKV_FIELD(f, v)                                                 \
  Field {                                                                 \
#f, offsetof(det::SegmentHeader, f), sizeof(det::SegmentHeader::f), v \
  }
  const Field fields[] = {
      SHMKV_FIELD(shard_count, 0),
      SHMKV_FIELD(shard_count, 3),
      SHMKV_FIELD(shard_count, 8),
      SHMKV_FIELD(shard_count, 128),
      SHMKV_FIELD(shard_count, 1u << 30),
      SHMKV_FIELD(shard_bits, 20),
      SHMKV_FIELD(shard_bits, 70),
      SHMKV_FIELD(slots_per_shard, 0),
      SHMKV_FIELD(slots_per_shard, 1000000),
      SHMKV_FIELD(slots_per_shard, 1ull << 48),
      SHMKV_FIELD(chunk_count, 1ull << 52),
      SHMKV_FIELD(chunk_count, 0),
      SHMKV_FIELD(off_processes, 0),
      SHMKV_FIELD(off_shards, 1ull << 40),
      SHMKV_FIELD(off_chunks, 64),
      SHMKV_FIELD(off_idents, 0),
      SHMKV_FIELD(off_idents, 1ull << 40),
      SHMKV_FIELD(off_slots, 0x7fffffffffffull),
      SHMKV_FIELD(off_dense, 4096),
      SHMKV_FIELD(off_arena, 8ull << 20),
      SHMKV_FIELD(max_key_bytes, 0),
      SHMKV_FIELD(max_key_bytes, 70000),
      SHMKV_FIELD(max_value_bytes, 0xffffffffu),
      SHMKV_FIELD(size_bytes, 4096),
      SHMKV_FIELD(state, 0),
      SHMKV_FIELD(state, 7),
      SHMKV_FIELD(home_block_bytes, 160),
      // Values that fit the layout, but are not what the creator wrote: the checksum says so.
      Field{"config_checksum", offsetof(det::SegmentHeader, max_key_bytes), 4, 2000},
      Field{"config_checksum", offsetof(det::SegmentHeader, max_value_bytes), 4, 2u << 20},
      Field{"config_checksum", offsetof(det::SegmentHeader, hash_seed), 8, 12345},
      Field{"config_checksum", offsetof(det::SegmentHeader, persist_enabled), 4, 1},
      Field{"config_checksum", offsetof(det::SegmentHeader, name), 1, 'x'},
  };
#undef SHMKV_FIELD
  for (const Field& f : fields) {
    INFO(f.name << " = " << f.bad);
    std::uint64_t old = 0;
    {
      SegmentImage img(g.name());
      std::memcpy(&old, img.at(f.offset), f.width);
      std::memcpy(img.at(f.offset), &f.bad, f.width);
    }
    for (OpenMode m : {OpenMode::attach_only, OpenMode::create_or_attach, OpenMode::read_only}) {
      std::string msg = message_of([&] { Store::open(with_mode(o, m)); });
      INFO(msg);
      REQUIRE_ERRC(Store::open(with_mode(o, m)), errc::corrupted);
      CHECK(contains(msg, std::string_view(f.name).starts_with("home_") ? "home_" : f.name));
    }
    {
      SegmentImage img(g.name());
      std::memcpy(img.at(f.offset), &old, f.width);
    }
    Store s = Store::open(with_mode(o, OpenMode::attach_only));
    REQUIRE(s.size() == kKeys);  // the damaged file was left alone: nothing rebuilt, nothing lost
  }
}

TEST_CASE("trust: only an all-zero header is rebuilt; a zero magic over data is not",
          "[trust][header]") {
  SegmentGuard g(unique_name());
  const shmkv::Options o = filled_store(g.name());
  {
    SegmentImage img(g.name());
    img.header()->magic = 0;  // one word: the rest of the header still describes 1000 keys
  }
  REQUIRE_ERRC(Store::open(o), errc::incompatible_layout);
  {
    SegmentImage img(g.name());
    img.header()->magic = det::kMagic;
  }
  Store s = Store::open(o);
  REQUIRE(s.size() == kKeys);
}

TEST_CASE("trust: a temporary file can never be taken for a store, nor a store for one",
          "[trust][names]") {
  const std::string base = unique_name("tmpname");
  SegmentGuard lookalike(base + ".99999999.5.tmp");  // a valid store name in the old pattern
  SegmentGuard real(base);
  {
    Store s = Store::open(small_options(lookalike.name()));
    s.set("k", "v");
  }
  // A temporary left by a dead creator of `base`: named with '+', which no store name holds.
  const std::string stale = "/dev/shm/shmkv." + base + "+99999999+5.tmp";
  {
    int fd = ::open(stale.c_str(), O_CREAT | O_RDWR, 0600);
    REQUIRE(fd >= 0);
    ::close(fd);
  }
  REQUIRE_ERRC(Store::open(small_options(base + "+1")), errc::invalid_argument);
  { Store s = Store::open(small_options(real.name())); }
  CHECK(::access(stale.c_str(), F_OK) != 0);  // the dead creator's temporary is gone
  Store s = Store::open(with_mode(small_options(lookalike.name()), OpenMode::attach_only));
  REQUIRE(s.get("k") == std::optional<std::string>("v"));  // the look-alike store is not
}

// --- records, indexes and locks ---

constexpr std::uint64_t kFarOffset = shmkv::detail::kMaxSegmentBytes - 8;  // a slot's largest

TEST_CASE("trust: a slot pointing outside the arena gives corrupted on every path",
          "[trust][records]") {
  SegmentGuard g(unique_name());
  const shmkv::Options o = filled_store(g.name());
  {
    SegmentImage img(g.name());
    shmkv::detail::Slot* slot = img.slot_of("key:5");
    *slot = shmkv::detail::Slot::Make(kFarOffset, slot->tag(), slot->psl());  // the largest
  }
  Store s = Store::open(with_mode(o, OpenMode::attach_only));
  const std::string msg = message_of([&] { s.get("key:5"); });
  INFO(msg);
  CHECK(contains(msg, "slot record"));
  CHECK(contains(msg, std::to_string(kFarOffset)));
  REQUIRE_ERRC(s.get("key:5"), errc::corrupted);
  REQUIRE_ERRC(s.set("key:5", "x"), errc::corrupted);
  REQUIRE_ERRC(s.del("key:5"), errc::corrupted);
  REQUIRE_ERRC(s.increment_by("key:5", 1), errc::corrupted);
  REQUIRE(s.get("key:6") == std::optional<std::string>("value-6"));  // the rest still works
  auto violations = s.check_invariants();
  REQUIRE_FALSE(violations.empty());
}

TEST_CASE("trust: a record whose chunk ident does not give it to its shard is corrupted",
          "[trust][records]") {
  SegmentGuard g(unique_name());
  const shmkv::Options o = filled_store(g.name());
  // The ident of the chunk that holds key:5's record.
  auto ident_of_key5 = [](const SegmentImage& img) {
    const det::SegmentHeader* h = img.header();
    const std::uint64_t chunk = (img.record_offset("key:5") - h->off_arena) / det::kChunkBytes;
    return reinterpret_cast<std::atomic<std::uint64_t>*>(img.at(h->off_idents)) + chunk;
  };
  std::uint64_t old = 0;
  {
    SegmentImage img(g.name());
    std::atomic<std::uint64_t>* ident = ident_of_key5(img);
    old = ident->load();
    const std::uint32_t owner = det::IdentOwner(old);
    REQUIRE(owner == img.shard_of("key:5"));
    SECTION("owned by another shard") {
      ident->store(det::MakeIdent(owner ^ 1, det::IdentClass(old), det::IdentSpan(old)));
    }
    SECTION("free") {
      ident->store(0);
    }
    SECTION("a continuation with no head") {
      ident->store(det::MakeIdent(owner, det::kClassContinuation, 0));
    }
  }
  {
    Store s = Store::open(with_mode(o, OpenMode::attach_only));
    const std::string msg = message_of([&] { s.get("key:5"); });
    INFO(msg);
    CHECK(contains(msg, "slot record"));
    REQUIRE_ERRC(s.get("key:5"), errc::corrupted);
    REQUIRE_ERRC(s.set("key:5", "x"), errc::corrupted);
  }
  {
    SegmentImage img(g.name());
    ident_of_key5(img)->store(old);
  }
  Store s = Store::open(with_mode(o, OpenMode::attach_only));
  REQUIRE(s.get("key:5") == std::optional<std::string>("value-5"));
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("trust: a value length past its block never returns the neighbours' bytes",
          "[trust][records]") {
  SegmentGuard g(unique_name());
  const shmkv::Options o = filled_store(g.name());
  for (std::uint32_t bad : {100000u, 0xffffffffu, 200u}) {
    INFO("value_len " << bad);
    std::uint32_t old;
    {
      SegmentImage img(g.name());
      old = img.record_of("key:5")->value_len;
      img.record_of("key:5")->value_len = bad;
    }
    {
      Store s = Store::open(with_mode(o, OpenMode::attach_only));
      REQUIRE_ERRC(s.get("key:5"), errc::corrupted);
      REQUIRE_ERRC(s.list({.prefix = "key:5"}), errc::corrupted);
      REQUIRE_FALSE(s.check_invariants().empty());
    }
    SegmentImage img(g.name());
    img.record_of("key:5")->value_len = old;
  }
}

TEST_CASE("trust: a record in a home block is checked from the geometry, not its chunk ident",
          "[trust][records]") {
  SegmentGuard g(unique_name());
  shmkv::Options o = small_options(g.name());
  o.home_block_bytes = 64;  // "key:i" = "value-i" records take 32 + 5..7 + 7..9 bytes
  {
    Store s = Store::open(o);
    for (int i = 0; i < kKeys; ++i) s.set("key:" + std::to_string(i), "value-" + std::to_string(i));
  }
  std::uint64_t off = 0, ident_word = 0;
  std::uint32_t value_len = 0;
  {
    SegmentImage img(g.name());
    const det::SegmentHeader* h = img.header();
    off = img.record_offset("key:5");
    const std::uint64_t home_end =
        h->off_arena + h->shard_count * h->home_chunks_per_shard * det::kChunkBytes;
    REQUIRE(off < home_end);  // key:5 lives in a home block
    auto* ident = reinterpret_cast<std::atomic<std::uint64_t>*>(img.at(h->off_idents)) +
                  (off - h->off_arena) / det::kChunkBytes;
    ident_word = ident->load();
    ident->store(0);  // a home chunk's ident is fixed at creation: reads do not depend on it
    value_len = img.record_of("key:5")->value_len;
  }
  {
    Store s = Store::open(with_mode(o, OpenMode::attach_only));
    REQUIRE(s.get("key:5") == std::optional<std::string>("value-5"));
    s.set("key:5", "VALUE-5");
    REQUIRE(s.get("key:5") == std::optional<std::string>("VALUE-5"));
    REQUIRE_FALSE(s.check_invariants().empty());  // the ident itself is still checked
  }
  {
    SegmentImage img(g.name());
    const det::SegmentHeader* h = img.header();
    reinterpret_cast<std::atomic<std::uint64_t>*>(
        img.at(h->off_idents))[(off - h->off_arena) / det::kChunkBytes]
        .store(ident_word);
    img.record_of("key:5")->value_len = 64 - 32 - 5 + 1;  // one byte past the home block
  }
  {
    Store s = Store::open(with_mode(o, OpenMode::attach_only));
    const std::string msg = message_of([&] { (void)s.set("key:5", "x"); });
    INFO(msg);
    CHECK(contains(msg, "longer than its block"));
    REQUIRE_ERRC(s.get("key:5"), errc::corrupted);
    REQUIRE_ERRC(s.del("key:5"), errc::corrupted);
  }
  {
    SegmentImage img(g.name());
    img.record_of("key:5")->value_len = value_len;
  }
  Store s = Store::open(with_mode(o, OpenMode::attach_only));
  REQUIRE(s.get("key:5") == std::optional<std::string>("VALUE-5"));
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("trust: impossible counts and dense entries give corrupted, not a crash or a hang",
          "[trust][records]") {
  // Without the ordered index, list, count and delete_prefix walk the dense arrays and meet the
  // damage; with it they do not read them, and whatever they return must be real.
  const bool indexed = GENERATE(false, true);
  SegmentGuard g(unique_name());
  const shmkv::Options o = filled_store(g.name(), indexed);
  SECTION("count above the table") {
    SegmentImage img(g.name());
    img.shard(1)->count.store(1ull << 40);
  }
  SECTION("a dense entry pointing nowhere") {
    SegmentImage img(g.name());
    const det::SegmentHeader* h = img.header();
    auto* dense = reinterpret_cast<std::uint64_t*>(img.at(h->off_dense)) +
                  shmkv::detail::DenseCapacity(h->slots_per_shard);
    dense[0] = 12345;  // shard 1, position 0
  }
  Store s = Store::open(with_mode(o, OpenMode::attach_only));
  if (indexed) {
    for (const shmkv::Entry& e : s.list()) REQUIRE(e.value == "value-" + e.key.substr(4));
    REQUIRE(s.count("key:") == kKeys);
  } else {
    REQUIRE_ERRC(s.list(), errc::corrupted);
    REQUIRE_ERRC(s.count("key:"), errc::corrupted);
    REQUIRE_ERRC(s.delete_prefix("key:"), errc::corrupted);
  }
  // Random draws may miss the damaged shard; whatever they return must be a real key.
  for (int i = 0; i < 50; ++i) {
    auto outcome = outcome_of([&] {
      auto k = s.random_key("key:");
      if (k) REQUIRE(k->rfind("key:", 0) == 0);
    });
    CHECK((outcome == errc::corrupted || outcome.kind == Outcome::returned));
  }
  REQUIRE_FALSE(s.check_invariants().empty());
}

TEST_CASE("trust: a forged undo record is dropped by the repair, not applied", "[trust][records]") {
  SegmentGuard g(unique_name());
  const shmkv::Options o = filled_store(g.name());
  {
    // What a hostile writer did in the audit: an undo record far outside the segment, and an
    // odd seq so the next locker repairs, in every shard.
    SegmentImage img(g.name());
    for (std::uint32_t i = 0; i < img.header()->shard_count; ++i) {
      det::ShardHeader* sh = img.shard(i);
      sh->undo_rec = 0x100000000ull;
      sh->undo_value_len = 128;
      sh->seq.store(sh->seq.load() | 1);
    }
  }
  Store s = Store::open(with_mode(o, OpenMode::attach_only));
  for (int i = 0; i < kKeys; ++i)
    REQUIRE(s.get("key:" + std::to_string(i)) == "value-" + std::to_string(i));
  s.set("key:1", "new");
  REQUIRE(s.get("key:1") == std::optional<std::string>("new"));
  REQUIRE(s.check_invariants().empty());
}

TEST_CASE("trust: a shard mutex overwritten with another kind is corrupted at once",
          "[trust][locks]") {
  SegmentGuard g(unique_name());
  const shmkv::Options o = filled_store(g.name());
  std::uint32_t shard;
  {
    SegmentImage img(g.name());
    shard = img.shard_of("key:5");
    img.shard(shard)->mutex.__data.__kind = 0;  // a plain, non-robust, private mutex
  }
  Store s = Store::open(with_mode(o, OpenMode::attach_only));
  const std::string msg = message_of([&] { s.set("key:5", "x"); });
  INFO(msg);
  CHECK(contains(msg, "shard " + std::to_string(shard)));
  REQUIRE_ERRC(s.set("key:5", "x"), errc::corrupted);
  // An increment in place takes the shard's word lock, not the mutex: it checks the kind too.
  s.close();
  {
    SegmentImage img(g.name());
    img.shard(shard)->mutex.__data.__kind = det::kRobustSharedKind;
  }
  s = Store::open(with_mode(o, OpenMode::attach_only));
  s.set("key:5", "41");
  {
    SegmentImage img(g.name());
    img.shard(shard)->mutex.__data.__kind = 0;
  }
  REQUIRE_ERRC(s.increment_by("key:5", 1), errc::corrupted);
}

TEST_CASE("trust: a fresh robust mutex has the kind the lock check expects", "[trust][locks]") {
  pthread_mutex_t m;
  det::InitRobustMutex(&m);
  REQUIRE(det::RobustKind(&m));
  pthread_mutex_destroy(&m);
}

// --- the surfaces ---

namespace {

struct CliResult {
  int rc;
  std::string err;
};

// Runs the shmkv CLI built next to this test (../tools/shmkv) with `args` (shell words).
CliResult RunCli(const std::string& args) {
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe");
  const std::string bin = (exe.parent_path().parent_path() / "tools" / "shmkv").string();
  const std::string err_file = "/tmp/" + unique_name("trust-cli") + ".err";
  const int status = std::system((bin + " " + args + " >/dev/null 2>" + err_file).c_str());
  std::ifstream in(err_file);
  std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(err_file);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), err};
}

}  // namespace

TEST_CASE("trust: the CLI and the C API take a trusted group", "[trust][perm]") {
  SegmentGuard g(unique_name());
  CliResult r = RunCli("--name " + g.name() + " create --size 8MiB --mode 0660");
  INFO(r.err);
  CHECK(r.rc == 3);
  CHECK(contains(r.err, "invalid_argument"));
  CHECK(contains(r.err, "trusted_group"));
  r = RunCli("--name " + g.name() + " --trusted-group no-such-group-xyz create");
  CHECK(r.rc == 2);
  CHECK(contains(r.err, "no-such-group-xyz"));
  const std::string gid = std::to_string(::getegid());
  r = RunCli("--name " + g.name() + " --trusted-group " + gid + " create --size 8MiB --mode 0660");
  REQUIRE(r.rc == 0);
  CHECK(RunCli("--name " + g.name() + " set k v").rc == 3);  // group-writable, group not trusted
  CHECK(RunCli("--name " + g.name() + " set k v --trusted-group " + gid).rc == 0);
  ::setenv("SHMKV_TRUSTED_GROUP", gid.c_str(), 1);
  CHECK(RunCli("--name " + g.name() + " get k").rc == 0);
  ::unsetenv("SHMKV_TRUSTED_GROUP");

  shmkv_options o;
  shmkv_options_init(&o);
  CHECK(o.trusted_group == -1);
  o.trusted_group = -5;
  shmkv_store* h = nullptr;
  CHECK(shmkv_open(g.name().c_str(), &o, sizeof o, &h) == SHMKV_EINVALID_ARGUMENT);
  CHECK(contains(shmkv_last_error(), "trusted_group -5"));
  o.trusted_group = -1;
  CHECK(shmkv_open(g.name().c_str(), &o, sizeof o, &h) == SHMKV_EPERMISSION_DENIED);
  o.trusted_group = ::getegid();
  REQUIRE(shmkv_open(g.name().c_str(), &o, sizeof o, &h) == 0);
  shmkv_close(h);
}

TEST_CASE("trust: shmkv-inspect and the library give the same code for the same damage",
          "[trust][header]") {
  SegmentGuard g(unique_name());
  const shmkv::Options o = filled_store(g.name());
  const std::string path = segment_path(g.name());
  auto same_code = [&] {
    const Outcome lib = outcome_of([&] { Store::open(with_mode(o, OpenMode::attach_only)); });
    const Outcome tool = outcome_of([&] { det::inspect::Inspector::Attach(g.name(), true); });
    INFO("library: " << lib.what << "\ninspect: " << tool.what);
    REQUIRE(lib.kind == Outcome::shmkv_error);
    CHECK(tool.kind == Outcome::shmkv_error);
    CHECK(tool.code == lib.code);
  };
  SECTION("state 7") {
    SegmentImage img(g.name());
    img.header()->state.store(7);
  }
  SECTION("shard_count 0") {
    SegmentImage img(g.name());
    img.header()->shard_count = 0;
  }
  SECTION("off_dense moved") {
    SegmentImage img(g.name());
    img.header()->off_dense += 64;
  }
  SECTION("a 100-byte file with a valid magic") {
    REQUIRE(::truncate(path.c_str(), 100) == 0);
  }
  same_code();
}
