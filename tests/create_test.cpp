// Creating a store (issue 17, items 6 and 7): a creation takes from /dev/shm at once what
// options.hpp and docs/design.md "What a creation reserves" say, and the arena only as it fills;
// a creation /dev/shm cannot hold is refused, naming the bytes, with no file left behind; a
// max_value_bytes left at its default is lowered to what a small store can hold, while any other
// value that does not fit is refused naming it.
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "shm/layout.hpp"
#include "shm/segment.hpp"
#include "test_util.hpp"

using Catch::Matchers::Contains;
using shmkv::errc;
using shmkv::Options;
using shmkv::Store;
using namespace testutil;

namespace {

constexpr std::uint64_t kMiB = 1ull << 20;

std::uint64_t AlignUp4K(std::uint64_t v) {
  return (v + 4095) / 4096 * 4096;
}

// Bytes of /dev/shm the segment file holds: its allocated pages, not its apparent size.
std::uint64_t allocated_bytes(const std::string& name) {
  struct stat st;
  REQUIRE(::stat(segment_path(name).c_str(), &st) == 0);
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

// docs/design.md "What a creation reserves", before rounding: 167296 bytes of header and process
// registry, 512 per shard, 32 per arena chunk and 24 per hash-table slot.
std::uint64_t documented_index_bytes(const shmkv::Info& info) {
  std::uint64_t slots = 0, dense = 0;
  for (const shmkv::ShardInfo& s : info.shard) {
    slots += s.capacity;
    dense += s.capacity * 90 / 100;  // a dense entry per key the table may hold
  }
  return 167296 + 576ull * info.shards + 32 * (info.arena_bytes / 4096) + 8 * slots + 8 * dense;
}

// In a forked child: gives it a /dev/shm of its own, a tmpfs of `size` in a private mount
// namespace. False where that is not allowed (no CAP_SYS_ADMIN).
bool OwnDevShm(const char* size) {
  return ::unshare(CLONE_NEWNS) == 0 &&
         ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
         ::mount("tmpfs", "/dev/shm", "tmpfs", 0, size) == 0;
}

// Entries of /dev/shm whose name starts with shmkv.<name>: the segment and its temporaries.
std::vector<std::string> files_of(const std::string& name) {
  std::vector<std::string> found;
  const std::string prefix = "shmkv." + name;
  DIR* dir = ::opendir("/dev/shm");
  REQUIRE(dir != nullptr);
  while (dirent* e = ::readdir(dir)) {
    const std::string f = e->d_name;
    if (f == prefix || f.starts_with(prefix + "+")) found.push_back(f);
  }
  ::closedir(dir);
  return found;
}

}  // namespace

TEST_CASE("create: takes the index from /dev/shm at once, the arena 256 KiB at a time",
          "[create]") {
  struct Case {
    std::uint64_t size_bytes;
    std::uint32_t shards;
    std::uint64_t max_keys;
    std::uint32_t home_block_bytes;
    bool ordered_index;
  };
  for (const Case c : {Case{64 * kMiB, 64, 0, 0, true}, Case{64 * kMiB, 64, 1024, 0, true},
                       Case{16 * kMiB, 4, 0, 64, true}, Case{16 * kMiB, 4, 0, 0, false}}) {
    INFO("size " << c.size_bytes << ", shards " << c.shards << ", max_keys " << c.max_keys
                 << ", home_block_bytes " << c.home_block_bytes << ", ordered_index "
                 << c.ordered_index);
    SegmentGuard g(unique_name("create"));
    Options o = small_options(g.name(), c.size_bytes, c.shards);
    o.open_mode = shmkv::OpenMode::create_only;
    o.max_keys = c.max_keys;
    o.home_block_bytes = c.home_block_bytes;
    o.ordered_index = c.ordered_index;
    Store s = Store::open(o);
    const shmkv::Info info = s.info();
    // Home chunks: per shard, enough 4 KiB chunks for one block per slot.
    const std::uint64_t home = c.home_block_bytes == 0
                                   ? 0
                                   : info.shards *
                                         ((info.shard[0].capacity + 4096 / c.home_block_bytes - 1) /
                                          (4096 / c.home_block_bytes)) *
                                         4096;
    // The two chunk arrays start on a cache line: at most 2 x 63 bytes of padding.
    const std::uint64_t index = documented_index_bytes(info);
    const std::uint64_t allocated = allocated_bytes(g.name());
    CHECK(allocated >= AlignUp4K(index) + home);
    CHECK(allocated <= AlignUp4K(index + 126) + home);
    if (c.max_keys == 0 && c.home_block_bytes == 0) {
      // options.hpp: "about 7.5-8 % of size_bytes: 5.2 MiB for 64 MiB".
      CHECK(allocated > c.size_bytes / 100 * 7);
      CHECK(allocated < c.size_bytes / 100 * 9);
    }
    if (c.max_keys == 1024) CHECK(allocated < c.size_bytes / 100 * 2);  // the chunk table's 0.8 %

    // The first record backs the backing groups (256 KiB) of its slab at the arena's start
    // (two when the slab's chunks straddle a group boundary), and its index leaf the group of
    // the arena's last chunk (index nodes are taken from the end), and nothing more.
    s.set("k", std::string(1000, 'v'));
    const std::uint64_t grown = allocated_bytes(g.name()) - allocated;
    CHECK(grown > 0);
    CHECK(grown <= 256 * 1024 * (c.ordered_index ? 3 : 2));
    if (c.ordered_index) CHECK(grown >= 256 * 1024);  // the last group lies past the reserve
  }
}

TEST_CASE("create: on a full /dev/shm, writes end in store_full, never SIGBUS", "[create][trust]") {
  // The arena is backed by posix_fallocate as it fills, by each handle for the groups it
  // touches (BackArena); nothing in the segment says what is backed, so no word another process
  // overwrote can make a writer touch an unbacked page, which on a full /dev/shm is SIGBUS. A
  // child runs this on a /dev/shm of its own (a private mount namespace, an 8 MiB tmpfs): one
  // handle backs the arena's first pages, /dev/shm is filled, the allocator's hints are set to
  // odd chunks, and a second handle writes records and index nodes until store_full.
  constexpr int kNoNamespace = 77;
  const int status = run_in_child([]() -> int {
    if (!OwnDevShm("size=8m")) return kNoNamespace;
    const Options o = small_options("full", 4 * kMiB, 4);
    std::uint64_t chunks = 0;
    {
      Store first = Store::open(o);
      first.set("first", std::string(1000, 'v'));
      chunks = first.info().arena_bytes / 4096;
    }
    using shmkv::detail::SegmentHeader;
    const int fd = ::open(segment_path("full").c_str(), O_RDWR);
    const std::uint64_t middle = chunks / 2, second = 2;
    if (fd < 0 || ::pwrite(fd, &middle, 8, offsetof(SegmentHeader, alloc_hint)) != 8 ||
        ::pwrite(fd, &second, 8, offsetof(SegmentHeader, index_alloc_top)) != 8)
      return 3;
    ::close(fd);
    const int filler = ::open("/dev/shm/filler", O_RDWR | O_CREAT, 0600);
    for (off_t step = 1 << 20, at = 0; step >= 4096; step /= 2)
      while (::posix_fallocate(filler, at, step) == 0) at += step;
    Store s = Store::open(o);
    for (int i = 0; i < 100000; ++i) {
      try {
        s.set("k" + std::to_string(i), std::string(1000, 'v'));
      } catch (const shmkv::Error& e) {
        if (e.code_value() == errc::store_full) return 0;
        std::fprintf(stderr, "write %d: %s\n", i, e.what());
        return 4;
      }
    }
    return 5;  // never full: the filler did not fill /dev/shm
  });
  if (status == kNoNamespace) {
    WARN("no private mount namespace here (needs CAP_SYS_ADMIN): not run");
    return;
  }
  INFO("child status " << status << " (128 + 7 = SIGBUS)");
  REQUIRE(status == 0);
}

TEST_CASE("create: when /dev/shm is full, space freed by deletes is written again",
          "[create][capacity]") {
  // A store larger than what /dev/shm has free (allowed: it fills until /dev/shm does) stops
  // at store_full when posix_fallocate fails. Deleting keys then frees chunks that are backed;
  // new writes must find them, not fail at the next unbacked chunk. A child on a 16 MiB tmpfs
  // of its own, as above, 8 MiB of it taken by another file.
  constexpr int kNoNamespace = 77;
  const int status = run_in_child([]() -> int {
    if (!OwnDevShm("size=16m")) return kNoNamespace;
    Options o = small_options("reuse", 12 * kMiB, 4);
    o.max_keys = 20000;
    Store s = Store::open(o);
    const int filler = ::open("/dev/shm/filler", O_RDWR | O_CREAT, 0600);
    if (::posix_fallocate(filler, 0, 8 * kMiB) != 0) return 3;  // leaves about 7 MiB
    auto fill = [&](const std::string& prefix) {
      for (int i = 0;; ++i) {
        try {
          s.set(prefix + std::to_string(i), std::string(1000, 'v'));
        } catch (const shmkv::Error& e) {
          if (e.code_value() != errc::store_full) throw;
          return i;
        }
      }
    };
    const int first = fill("a");
    for (int i = 0; i < first; ++i) s.del("a" + std::to_string(i));
    const int second = fill("b");
    std::fprintf(stderr, "first fill %d keys, after deleting them all %d\n", first, second);
    return first > 1000 && second >= first * 9 / 10 ? 0 : 1;
  });
  if (status == kNoNamespace) {
    WARN("no private mount namespace here (needs CAP_SYS_ADMIN): not run");
    return;
  }
  REQUIRE(status == 0);
}

TEST_CASE("create: a size larger than all of /dev/shm is refused, naming both, leaving no file",
          "[create]") {
  struct statvfs fs;
  REQUIRE(::statvfs("/dev/shm", &fs) == 0);
  const std::uint64_t total = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
  if (total == 0) {
    WARN("/dev/shm has no size limit: nothing to refuse");
    return;
  }
  SegmentGuard g(unique_name("create-huge"));
  for (const auto mode : {shmkv::OpenMode::create_only, shmkv::OpenMode::create_or_attach}) {
    Options o = small_options(g.name(), total + 64 * kMiB, 4);
    o.open_mode = mode;
    const Outcome out = outcome_of([&] { Store::open(o); });
    REQUIRE(out == errc::invalid_argument);
    CHECK_THAT(out.what, Contains("size_bytes " + std::to_string(o.size_bytes)) &&
                             Contains(std::to_string(total) + " bytes") &&
                             Contains("could never fill"));
    CHECK(files_of(g.name()).empty());
  }
}

TEST_CASE("create: the reservation must fit the free space; the size may exceed it", "[create]") {
  Options o;
  o.name = "reserve";
  o.size_bytes = 1024 * kMiB;
  const std::uint64_t reservation = 116 * kMiB;
  using shmkv::detail::CheckRoomForCreation;
  // Too little free space for the reservation: store_full naming both byte counts.
  const Outcome full = outcome_of([&] {
    CheckRoomForCreation(o, reservation, {2048 * kMiB, reservation - 1});
  });
  REQUIRE(full == errc::store_full);
  CHECK_THAT(full.what, Contains("reserves " + std::to_string(reservation) + " bytes") &&
                            Contains("only " + std::to_string(reservation - 1) + " are free"));
  // The reservation fits exactly; the size exceeds the free space: accepted.
  CheckRoomForCreation(o, reservation, {2048 * kMiB, reservation});
  // Larger than the whole filesystem, even with all of it free: invalid_argument, both sizes.
  const Outcome huge = outcome_of([&] {
    CheckRoomForCreation(o, reservation, {512 * kMiB, 512 * kMiB});
  });
  REQUIRE(huge == errc::invalid_argument);
  CHECK_THAT(huge.what, Contains("size_bytes " + std::to_string(o.size_bytes)) &&
                            Contains("(" + std::to_string(512 * kMiB) + " bytes)"));
  // A tmpfs without a size limit reports 0 bytes: nothing to compare with.
  CheckRoomForCreation(o, reservation, {0, 0});
}

TEST_CASE("create: a default max_value_bytes is fitted to a small store, an explicit one is not",
          "[create]") {
  for (const bool ordered_index : {true, false}) {
    INFO("ordered_index " << ordered_index);
    SegmentGuard g(unique_name("create-1mib"));
    Options o = small_options(g.name(), kMiB, 4);
    o.ordered_index = ordered_index;
    REQUIRE(o.max_value_bytes == shmkv::kDefaultMaxValueBytes);
    Store s = Store::open(o);
    const shmkv::Info info = s.info();
    // The largest value whose record (32-byte header, max_key_bytes, the value) fits the arena
    // after the ordered index's first nodes (a leaf and an inner node of 2 chunks at 1 KiB keys).
    const std::uint64_t index_chunks = ordered_index ? 3 : 0;
    CHECK(info.max_value_bytes == info.arena_bytes - index_chunks * 4096 - 32 - info.max_key_bytes);
    CHECK(info.max_value_bytes < shmkv::kDefaultMaxValueBytes);
    // A value of that size is stored in the empty store, and one byte more is refused.
    REQUIRE_ERRC(s.set("big", std::string(info.max_value_bytes + 1, 'v')), errc::value_too_large);
    s.set("big", std::string(info.max_value_bytes, 'v'));
    CHECK(s.get("big")->size() == info.max_value_bytes);
    s.close();
    // Attaching with the default keeps the store's value; asking for another is refused.
    CHECK(Store::open(attach_options(g.name())).info().max_value_bytes == info.max_value_bytes);
    Options other = attach_options(g.name());
    other.max_value_bytes = 4096;
    REQUIRE_ERRC(Store::open(other), errc::invalid_argument);
  }

  // An explicit value that does not fit: invalid_argument naming it, and nothing created.
  SegmentGuard g(unique_name("create-1mib"));
  Options o = small_options(g.name(), kMiB, 4);
  o.max_value_bytes = 2 * kMiB;
  const Outcome out = outcome_of([&] { Store::open(o); });
  REQUIRE(out == errc::invalid_argument);
  CHECK_THAT(out.what, Contains("max_value_bytes 2097152 does not fit") && Contains("at most"));
  CHECK(files_of(g.name()).empty());
  // A 2 MiB store holds the default.
  o.size_bytes = 2 * kMiB;
  o.max_value_bytes = shmkv::kDefaultMaxValueBytes;
  CHECK(Store::open(o).info().max_value_bytes == shmkv::kDefaultMaxValueBytes);
}
