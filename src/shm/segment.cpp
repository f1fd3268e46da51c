// segment.cpp: creating, publishing, validating and attaching segments; the process registry.
//
// Crash behaviour: a creator killed before link() leaves only /dev/shm/shmkv.<name>.<pid>.*.tmp,
// which nobody opens (removed by the next creator of that name when its pid is dead). A process
// killed while attached leaves its ProcessSlot claimed until an opener sees it dead.
#include "shm/segment.hpp"

#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <thread>

#include "os/os.hpp"
#include "os/throw.hpp"
#include "shm/allocator.hpp"
#include "shm/key_hash.hpp"
#include "shm/ordered_index.hpp"
#include "shm/robust_mutex.hpp"
#include "shm/shard_ref.hpp"

namespace shmkv::detail {
namespace {

constexpr std::uint64_t AlignUp(std::uint64_t v, std::uint64_t a) {
  return (v + a - 1) / a * a;
}

std::string Hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// XXH3-64 of the header's configuration: every field from the magic to the name, and the
// persistence configuration (persist_enabled .. persist_dir). Not the mutable words between
// them (allocator state, leases, sequence numbers).
std::uint64_t ConfigChecksum(const std::uint8_t* base) {
  XXH3_state_t st;
  XXH3_64bits_reset(&st);
  XXH3_64bits_update(&st, base, offsetof(SegmentHeader, config_checksum));
  const std::size_t persist = offsetof(SegmentHeader, persist_enabled);
  XXH3_64bits_update(
      &st, base + persist,
      offsetof(SegmentHeader, persist_dir) + sizeof(SegmentHeader::persist_dir) - persist);
  return XXH3_64bits_digest(&st);
}

void SealConfig(std::uint8_t* base) {
  reinterpret_cast<SegmentHeader*>(base)->config_checksum = ConfigChecksum(base);
}

struct Plan {
  std::uint32_t shards, shard_bits;
  std::uint64_t slots_per_shard, chunk_count;
  std::uint64_t off_processes, off_shards, off_chunks, off_idents, off_slots, off_dense, off_arena;
  std::uint32_t home_class, home_block_bytes, home_blocks_per_chunk;
  std::uint64_t home_chunks_per_shard;
  std::uint32_t max_value_bytes;  // Options::max_value_bytes, or what fits (ValueRule)
};

// How LayoutFor checks max_value_bytes. A header's value is checked against the arena alone: a
// record of that size must fit a span of it. A creation asks more, that a record of that size can
// be stored in the empty store, after the nodes the ordered index allocates at its first insert;
// and it lowers a max_value_bytes left at its default (options.hpp) to the largest that can.
struct ValueRule {
  bool fit_default = false;            // lower a default max_value_bytes instead of refusing it
  std::uint64_t chunks_before_it = 0;  // general chunks taken before the first record
};

// Fills the home-block fields of p (all zero when o.home_block_bytes is 0). Needs the chunk
// count; throws invalid_argument naming home_block_bytes when it is out of range or its home
// chunks would not leave room in the arena.
void PlanHomeBlocks(const Options& o, Plan* p) {
  if (o.home_block_bytes == 0) return;
  constexpr std::uint32_t kLargestHomeBlock = kChunkBytes / kMinBlocksPerSlab;  // one-chunk slab
  if (o.home_block_bytes <= kRecordHeaderBytes || o.home_block_bytes > kLargestHomeBlock)
    Throw(errc::invalid_argument, "home_block_bytes " + std::to_string(o.home_block_bytes) +
                                      " is outside " + std::to_string(kRecordHeaderBytes + 1) +
                                      ".." + std::to_string(kLargestHomeBlock) + " (0 = none)");
  const auto cls = static_cast<std::uint32_t>(SizeClassFor(o.home_block_bytes));
  p->home_class = cls;
  p->home_block_bytes = kSizeClasses[cls];
  p->home_blocks_per_chunk = BlocksPerSlab(cls);
  p->home_chunks_per_shard =
      (p->slots_per_shard + p->home_blocks_per_chunk - 1) / p->home_blocks_per_chunk;
  std::uint64_t home_chunks = p->home_chunks_per_shard * p->shards;
  if (home_chunks >= p->chunk_count || home_chunks >= 0xffffffffull)
    Throw(errc::invalid_argument,
          "home_block_bytes " + std::to_string(o.home_block_bytes) + " needs " +
              std::to_string(home_chunks * kChunkBytes) + " bytes of home blocks for " +
              std::to_string(p->slots_per_shard * p->shards) + " slots, but the arena of a " +
              std::to_string(o.size_bytes) + "-byte segment has " +
              std::to_string(p->chunk_count * kChunkBytes) +
              "; raise size_bytes or lower max_keys");
}

// The layout of a segment of `size_bytes` with `shards` tables of `slots_per_shard` slots: every
// offset and the chunk count follow from these (and the home-block size). Throws
// invalid_argument naming the value that does not fit (for max_value_bytes, see ValueRule).
// CheckHeader recomputes it from a header's sizes and compares, so whatever the creator
// derived, an attacher can verify.
Plan LayoutFor(const Options& o, std::uint32_t shards, std::uint64_t slots_per_shard,
               const ValueRule& value_rule) {
  Plan p{};
  p.shards = shards;
  p.shard_bits = static_cast<std::uint32_t>(std::countr_zero(p.shards));
  p.slots_per_shard = slots_per_shard;
  p.off_processes = AlignUp(sizeof(SegmentHeader), kCacheLine);
  p.off_shards = p.off_processes + kMaxProcesses * sizeof(ProcessSlot);
  p.off_chunks = p.off_shards + std::uint64_t(p.shards) * sizeof(ShardHeader);
  std::uint64_t index_bytes =
      std::uint64_t(p.shards) *
      (p.slots_per_shard * sizeof(Slot) + DenseCapacity(p.slots_per_shard) * sizeof(std::uint64_t));
  std::uint64_t fixed = p.off_chunks + index_bytes + 2 * kChunkBytes;
  if (fixed >= o.size_bytes)
    Throw(errc::invalid_argument, "size_bytes " + std::to_string(o.size_bytes) +
                                      " is too small for " + std::to_string(p.slots_per_shard) +
                                      " slots in each of " + std::to_string(p.shards) +
                                      " shards (index alone needs " + std::to_string(fixed) +
                                      " bytes); lower max_keys or raise size_bytes");
  // Per chunk: its bytes, its ChunkInfo and its ident.
  p.chunk_count = (o.size_bytes - fixed) /
                  (kChunkBytes + sizeof(ChunkInfo) + sizeof(std::atomic<std::uint64_t>));
  for (;;) {
    p.off_idents = AlignUp(p.off_chunks + p.chunk_count * sizeof(ChunkInfo), kCacheLine);
    p.off_slots =
        AlignUp(p.off_idents + p.chunk_count * sizeof(std::atomic<std::uint64_t>), kCacheLine);
    p.off_dense = p.off_slots + std::uint64_t(p.shards) * p.slots_per_shard * sizeof(Slot);
    p.off_arena = AlignUp(
        p.off_dense + std::uint64_t(p.shards) * DenseCapacity(p.slots_per_shard) * 8, kChunkBytes);
    if (p.off_arena + p.chunk_count * kChunkBytes <= o.size_bytes) break;
    --p.chunk_count;
  }
  PlanHomeBlocks(o, &p);
  // The largest record (header, key, value) must fit in one span of the general (non-home)
  // chunks, and a span is at most 0xffff chunks.
  const std::uint64_t general_chunks = p.chunk_count - p.home_chunks_per_shard * p.shards;
  const std::uint64_t free_chunks = general_chunks > value_rule.chunks_before_it
                                        ? general_chunks - value_rule.chunks_before_it
                                        : 0;
  const std::uint64_t record_room = std::min<std::uint64_t>(free_chunks, 0xffff) * kChunkBytes;
  const std::uint64_t record_overhead = kRecordHeaderBytes + o.max_key_bytes;
  const std::uint64_t largest_value =
      record_room > record_overhead
          ? std::min<std::uint64_t>(record_room - record_overhead, 0xffffffffull)
          : 0;
  p.max_value_bytes = o.max_value_bytes;
  if (o.max_value_bytes > largest_value) {
    if (value_rule.fit_default && o.max_value_bytes == kDefaultMaxValueBytes && largest_value > 0)
      p.max_value_bytes = static_cast<std::uint32_t>(largest_value);
    else
      Throw(errc::invalid_argument,
            "max_value_bytes " + std::to_string(o.max_value_bytes) +
                " does not fit in the arena of a " + std::to_string(o.size_bytes) +
                "-byte segment (with max_key_bytes " + std::to_string(o.max_key_bytes) +
                ", at most " + std::to_string(largest_value) +
                " fits); lower max_value_bytes (--max-value) or raise size_bytes");
  }
  return p;
}

// What creating the segment of plan p takes from /dev/shm at once (posix_fallocate): every
// byte below the arena (header, process registry, shard headers, chunk table and idents, hash
// tables, dense indexes) and the home chunks. The rest of the arena is reserved 256 KiB at a
// time as records and index nodes fill it (BackArena). docs/design.md "What a creation reserves"
// gives the formula.
std::uint64_t ReservationOf(const Plan& p) {
  return p.off_arena + p.home_chunks_per_shard * p.shards * kChunkBytes;
}

Plan MakePlan(const Options& o) {
  if (o.size_bytes < (1u << 20))
    Throw(errc::invalid_argument,
          "size_bytes " + std::to_string(o.size_bytes) + " is below the minimum of 1 MiB");
  if (o.size_bytes > kMaxSegmentBytes)
    Throw(errc::invalid_argument, "size_bytes " + std::to_string(o.size_bytes) +
                                      " is above the maximum of 8 TiB (" +
                                      std::to_string(kMaxSegmentBytes) + ")");
  if (o.max_key_bytes < 1 || o.max_key_bytes > 65535)
    Throw(errc::invalid_argument,
          "max_key_bytes " + std::to_string(o.max_key_bytes) + " is outside 1..65535");
  if (o.shards != 0 && (!std::has_single_bit(o.shards) || o.shards > (1u << 16)))
    Throw(errc::invalid_argument,
          "shards " + std::to_string(o.shards) + " is not a power of two in 1..65536");
  char mode[16];
  std::snprintf(mode, sizeof mode, "0%o", o.mode);
  if ((o.mode & ~0777u) != 0 || (o.mode & 0600) != 0600)
    Throw(errc::invalid_argument,
          std::string("mode ") + mode + " must give the owner read and write (0600..0777)");
  if (o.mode & 0002)
    Throw(errc::invalid_argument,
          std::string("mode ") + mode +
              " lets every local user write the store (and so change what every process "
              "attached to it reads); share it with a group instead: group write plus "
              "trusted_group");
  if ((o.mode & 0020) && !o.trusted_group)
    Throw(errc::invalid_argument, std::string("mode ") + mode +
                                      " lets the file's group write the store; set "
                                      "trusted_group to the gid it is shared with");
  const std::uint32_t shards =
      o.shards ? o.shards : std::bit_ceil(std::clamp(16u * os::CpuCount(), 64u, 1024u));
  std::uint64_t max_keys =
      o.max_keys ? o.max_keys : std::max<std::uint64_t>(o.size_bytes / 256, 1024);
  double per_shard = static_cast<double>(max_keys) / shards;
  // Headroom for the uneven spread of keys over shards (about 4 standard deviations).
  double slots = (per_shard + 4 * std::sqrt(per_shard) + 8) * 100.0 / kMaxLoadPercent;
  if (!(slots < 4294967295.0))
    Throw(errc::invalid_argument, "max_keys " + std::to_string(max_keys) + " is too large for " +
                                      std::to_string(shards) + " shards");
  // The ordered index's first insert allocates its first leaf and a spare inner node.
  const ValueRule value_rule{true, o.ordered_index ? 1 + IndexInnerChunks(o.max_key_bytes) : 0};
  return LayoutFor(o, shards, static_cast<std::uint64_t>(slots) + 1, value_rule);
}

// Hands every shard its home chunks: one-chunk slabs of the home class, all blocks carved and
// free (the file is zero-filled: state kFree), on no slab list.
void InitHomeChunks(const Plan& p, std::uint8_t* base, SegmentHeader* h) {
  if (p.home_block_bytes == 0) return;
  auto* chunks = reinterpret_cast<ChunkInfo*>(base + p.off_chunks);
  auto* idents = reinterpret_cast<std::atomic<std::uint64_t>*>(base + p.off_idents);
  auto* shards = reinterpret_cast<ShardHeader*>(base + p.off_shards);
  for (std::uint32_t s = 0; s < p.shards; ++s) {
    for (std::uint64_t i = 0; i < p.home_chunks_per_shard; ++i) {
      const std::uint64_t c = s * p.home_chunks_per_shard + i;
      chunks[c].carved = p.home_blocks_per_chunk;
      idents[c].store(MakeIdent(s, static_cast<std::uint16_t>(p.home_class), 1),
                      std::memory_order_relaxed);
    }
    shards[s].chunk_count = p.home_chunks_per_shard;
  }
  h->home_block_bytes = p.home_block_bytes;
  h->home_blocks_per_chunk = p.home_blocks_per_chunk;
  h->home_chunks_per_shard = p.home_chunks_per_shard;
  h->home_chunk_magic = ~0ull / p.home_blocks_per_chunk + 1;
  h->chunks_in_use = p.home_chunks_per_shard * p.shards;
  h->alloc_hint = h->chunks_in_use;
}

// /dev/shm/shmkv.<name>+<pid>+<n>.tmp: '+' is not allowed in store names, so a temporary can
// never be a store, nor a store be taken for a temporary (RemoveStaleTemporaries).
std::string TemporaryPath(const std::string& final_path, pid_t pid, std::uint64_t n) {
  return final_path + "+" + std::to_string(pid) + "+" + std::to_string(n) + ".tmp";
}

// Builds a complete, ready segment in a new temporary file. Returns its path; fd/base set.
std::string BuildSegment(const Options& o, const std::string& final_path, int* fd_out,
                         std::uint8_t** base_out) {
  Plan p = MakePlan(o);
  CheckRoomForCreation(o, ReservationOf(p), os::SegmentFileSystemSpace());
  std::string tmp = TemporaryPath(final_path, os::Pid(), os::RandomSeed() % 1000000);
  int fd = os::CreateExclusive(tmp, o.mode);
  std::uint8_t* base = nullptr;
  try {
    if (o.trusted_group) os::SetGroup(fd, tmp, *o.trusted_group);
    os::Truncate(fd, o.size_bytes, tmp);
    const std::uint64_t reserved = ReservationOf(p);  // a race may have taken the room
    if (int err = os::Fallocate(fd, 0, reserved); err != 0)
      Throw(errc::store_full, "cannot reserve " + std::to_string(reserved) +
                                  " bytes in /dev/shm for the index and home blocks of segment '" +
                                  o.name + "': " + std::strerror(err) +
                                  " (in a container, raise --shm-size)");
    base = static_cast<std::uint8_t*>(os::Map(fd, o.size_bytes, true, tmp));
    auto* h = reinterpret_cast<SegmentHeader*>(base);
    h->magic = kMagic;
    h->layout_version = kLayoutVersion;
    h->fingerprint = LayoutFingerprint();
    h->size_bytes = o.size_bytes;
    h->created_unix_ms = os::NowUnixMs();
    h->hash_seed = os::RandomSeed();
    h->shard_count = p.shards;
    h->shard_bits = p.shard_bits;
    h->max_key_bytes = o.max_key_bytes;
    h->max_value_bytes = p.max_value_bytes;
    h->slots_per_shard = p.slots_per_shard;
    h->chunk_count = p.chunk_count;
    h->off_processes = p.off_processes;
    h->off_shards = p.off_shards;
    h->off_chunks = p.off_chunks;
    h->off_idents = p.off_idents;
    h->off_slots = p.off_slots;
    h->off_dense = p.off_dense;
    h->off_arena = p.off_arena;
    std::snprintf(h->name, sizeof h->name, "%s", o.name.c_str());
    InitRobustMutex(&h->alloc_mutex);
    h->index_enabled = o.ordered_index ? 1 : 0;
    h->index_inner_chunks = IndexInnerChunks(o.max_key_bytes);
    InitRobustMutex(&h->index.mutex);
    InitRobustMutex(&h->coord.mutex);
    h->index.state.store(
        static_cast<std::uint32_t>(o.ordered_index ? IndexState::valid : IndexState::off),
        std::memory_order_relaxed);
    auto* shards = reinterpret_cast<ShardHeader*>(base + p.off_shards);
    for (std::uint32_t i = 0; i < p.shards; ++i) InitRobustMutex(&shards[i].mutex);
    InitHomeChunks(p, base, h);
    h->state.store(static_cast<std::uint32_t>(SegmentState::ready), std::memory_order_release);
    SealConfig(base);  // again after before_publish, which may add the persistence config
  } catch (...) {
    if (base) os::Unmap(base, o.size_bytes);
    os::Close(fd);
    os::Unlink(tmp);
    throw;
  }
  *fd_out = fd;
  *base_out = base;
  return tmp;
}

enum class HeaderVerdict { ok, blank };

// Blank, or the geometry of a valid header (CheckHeader).
HeaderVerdict Classify(const std::uint8_t* base, std::uint64_t file_size, const std::string& path,
                       Geometry* geo) {
  if (Segment::BlankHeader(base, file_size)) return HeaderVerdict::blank;
  *geo = Segment::CheckHeader(base, file_size, path);
  return HeaderVerdict::ok;
}

// Removes temporary files of this name left by creators that died before publishing. Their
// names hold a '+', which no store name may contain, so no store is ever taken for one.
void RemoveStaleTemporaries(const std::string& name) {
  const std::string prefix = "shmkv." + name + "+";
  for (const std::string& f : os::ListSharedMemory()) {
    if (f.size() <= prefix.size() + 4 || f.compare(0, prefix.size(), prefix) != 0 ||
        !f.ends_with(".tmp"))
      continue;
    std::string rest = f.substr(prefix.size());
    auto plus = rest.find('+');
    if (plus == std::string::npos || rest.find('+', plus + 1) != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::strtol(rest.substr(0, plus).c_str(), nullptr, 10));
    if (pid > 0 && !os::ProcessAlive(pid, 0)) os::Unlink("/dev/shm/" + f);
  }
}

}  // namespace

void CheckRoomForCreation(const Options& o, std::uint64_t reservation,
                          const os::FileSystemSpace& space) {
  if (space.total_bytes == 0) return;  // a tmpfs without a size limit
  if (o.size_bytes > space.total_bytes)
    Throw(errc::invalid_argument,
          "size_bytes " + std::to_string(o.size_bytes) + " of store '" + o.name +
              "' is larger than all of /dev/shm (" + std::to_string(space.total_bytes) +
              " bytes), so the store could never fill; lower size_bytes (--size) or enlarge "
              "/dev/shm (in a container, --shm-size)");
  if (reservation > space.free_bytes)
    Throw(errc::store_full,
          "creating store '" + o.name + "' (size_bytes " + std::to_string(o.size_bytes) +
              ") reserves " + std::to_string(reservation) +
              " bytes of /dev/shm at once for its index" +
              (o.home_block_bytes ? " and home blocks" : "") + ", but only " +
              std::to_string(space.free_bytes) +
              " are free; free some, or lower size_bytes (--size) or max_keys (--max-keys)");
}

bool Segment::BlankHeader(const std::uint8_t* base, std::uint64_t file_size) {
  const std::uint64_t n = std::min<std::uint64_t>(file_size, sizeof(SegmentHeader));
  return std::all_of(base, base + n, [](std::uint8_t b) { return b == 0; });
}

Geometry Segment::CheckHeader(const std::uint8_t* base, std::uint64_t file_size,
                              const std::string& path) {
  std::uint64_t magic = 0;
  std::memcpy(&magic, base, std::min<std::uint64_t>(file_size, sizeof magic));
  if (magic != kMagic)
    Throw(errc::incompatible_layout, path + " is not a shmkv segment (magic " + Hex(magic) +
                                         ", expected " + Hex(kMagic) + ")");
  if (file_size < sizeof(SegmentHeader))
    Throw(errc::incompatible_layout, path + " is truncated: " + std::to_string(file_size) +
                                         " bytes, less than a segment header");
  SegmentHeader h;  // a private copy: what is checked is what is used
  std::memcpy(static_cast<void*>(&h), base, sizeof h);
  if (h.layout_version != kLayoutVersion)
    Throw(errc::incompatible_layout,
          path + " has layout version " + std::to_string(h.layout_version) +
              "; this build reads layout version " + std::to_string(kLayoutVersion));
  if (h.fingerprint != LayoutFingerprint())
    Throw(errc::incompatible_layout,
          path + " has layout version " + std::to_string(h.layout_version) + " fingerprint " +
              Hex(h.fingerprint) + "; this build (layout version " +
              std::to_string(kLayoutVersion) + ") has fingerprint " + Hex(LayoutFingerprint()));
  auto bad = [&](const char* field, std::uint64_t value, const std::string& why) {
    Throw(errc::corrupted, path + ": header field " + field + " = " + std::to_string(value) + " " +
                               why + "; the segment is damaged (inspect it with shmkv-inspect)");
  };
  const std::uint32_t state = h.state.load(std::memory_order_relaxed);
  if (state != static_cast<std::uint32_t>(SegmentState::ready))
    bad("state", state, "is not 1 (ready)");

  if (h.size_bytes != file_size)
    bad("size_bytes", h.size_bytes, "differs from the file size " + std::to_string(file_size));
  if (h.shard_count == 0 || !std::has_single_bit(h.shard_count) || h.shard_count > (1u << 16))
    bad("shard_count", h.shard_count, "is not a power of two in 1..65536");
  if (h.shard_bits != static_cast<std::uint32_t>(std::countr_zero(h.shard_count)))
    bad("shard_bits", h.shard_bits,
        "is not log2(shard_count " + std::to_string(h.shard_count) + ")");
  if (h.max_key_bytes < 1 || h.max_key_bytes > 65535)
    bad("max_key_bytes", h.max_key_bytes, "is outside 1..65535");
  if (h.slots_per_shard < 2 || h.slots_per_shard > 0xffffffffull)
    bad("slots_per_shard", h.slots_per_shard, "is outside 2..2^32-1");
  if (h.size_bytes < (1u << 20)) bad("size_bytes", h.size_bytes, "is below 1 MiB");
  if (h.size_bytes > kMaxSegmentBytes) bad("size_bytes", h.size_bytes, "is above 8 TiB");
  if (std::memchr(h.name, 0, sizeof h.name) == nullptr)
    bad("name", sizeof h.name, "bytes hold no terminating NUL");
  if (std::memchr(h.persist_dir, 0, sizeof h.persist_dir) == nullptr)
    bad("persist_dir", sizeof h.persist_dir, "bytes hold no terminating NUL");
  // Everything else follows from these sizes: recompute it as the creator did, and compare.
  Options o;
  o.size_bytes = h.size_bytes;
  o.max_key_bytes = h.max_key_bytes;
  o.max_value_bytes = h.max_value_bytes;
  o.home_block_bytes = h.home_block_bytes;
  Plan p;
  try {
    p = LayoutFor(o, h.shard_count, h.slots_per_shard, ValueRule{});
  } catch (const Error& e) {
    Throw(errc::corrupted, path + ": header fields size_bytes " + std::to_string(h.size_bytes) +
                               ", shard_count " + std::to_string(h.shard_count) +
                               ", slots_per_shard " + std::to_string(h.slots_per_shard) +
                               ", max_key_bytes " + std::to_string(h.max_key_bytes) +
                               ", max_value_bytes " + std::to_string(h.max_value_bytes) +
                               " and home_block_bytes " + std::to_string(h.home_block_bytes) +
                               " do not describe a segment (" + e.what() +
                               "); the segment is damaged (inspect it with shmkv-inspect)");
  }
  const std::pair<const char*, std::pair<std::uint64_t, std::uint64_t>> fields[] = {
      {"chunk_count", {h.chunk_count, p.chunk_count}},
      {"off_processes", {h.off_processes, p.off_processes}},
      {"off_shards", {h.off_shards, p.off_shards}},
      {"off_chunks", {h.off_chunks, p.off_chunks}},
      {"off_idents", {h.off_idents, p.off_idents}},
      {"off_slots", {h.off_slots, p.off_slots}},
      {"off_dense", {h.off_dense, p.off_dense}},
      {"off_arena", {h.off_arena, p.off_arena}},
      {"home_block_bytes", {h.home_block_bytes, p.home_block_bytes}},
      {"home_blocks_per_chunk", {h.home_blocks_per_chunk, p.home_blocks_per_chunk}},
      {"home_chunks_per_shard", {h.home_chunks_per_shard, p.home_chunks_per_shard}},
      {"home_chunk_magic",
       {h.home_chunk_magic, p.home_blocks_per_chunk ? ~0ull / p.home_blocks_per_chunk + 1 : 0}},
      {"index_inner_chunks", {h.index_inner_chunks, IndexInnerChunks(h.max_key_bytes)}},
  };
  if (h.index_enabled > 1) bad("index_enabled", h.index_enabled, "is not 0 or 1");
  for (const auto& [field, values] : fields)
    if (values.first != values.second)
      bad(field, values.first,
          "should be " + std::to_string(values.second) + " for a segment of " +
              std::to_string(h.size_bytes) + " bytes with " + std::to_string(h.shard_count) +
              " shards of " + std::to_string(h.slots_per_shard) + " slots");
  // Values that fit the layout but are not the ones the creator wrote: a key limit, the hash
  // seed, the persistence configuration.
  if (const std::uint64_t sum = ConfigChecksum(reinterpret_cast<const std::uint8_t*>(&h));
      sum != h.config_checksum)
    Throw(errc::corrupted,
          path + ": header field config_checksum = " + Hex(h.config_checksum) +
              " does not match the configuration fields (" + Hex(sum) +
              "): one of them was changed after creation (shard_count " +
              std::to_string(h.shard_count) + ", max_key_bytes " + std::to_string(h.max_key_bytes) +
              ", max_value_bytes " + std::to_string(h.max_value_bytes) + ", hash_seed " +
              Hex(h.hash_seed) + ", ...); the segment is damaged (inspect it with shmkv-inspect)");
  Geometry g;
  g.size_bytes = h.size_bytes;
  g.hash_seed = h.hash_seed;
  g.shard_count = h.shard_count;
  g.shard_bits = h.shard_bits;
  g.max_key_bytes = h.max_key_bytes;
  g.max_value_bytes = h.max_value_bytes;
  g.slots_per_shard = h.slots_per_shard;
  g.chunk_count = p.chunk_count;
  g.off_processes = p.off_processes;
  g.off_shards = p.off_shards;
  g.off_chunks = p.off_chunks;
  g.off_idents = p.off_idents;
  g.off_slots = p.off_slots;
  g.off_dense = p.off_dense;
  g.off_arena = p.off_arena;
  g.arena_end = p.off_arena + p.chunk_count * kChunkBytes;
  g.home_block_bytes = p.home_block_bytes;
  g.home_blocks_per_chunk = p.home_blocks_per_chunk;
  g.home_chunks_per_shard = p.home_chunks_per_shard;
  g.home_chunk_magic = h.home_chunk_magic;
  g.home_class = p.home_class;
  g.index_inner_chunks = h.index_inner_chunks;
  g.index_enabled = h.index_enabled != 0;
  return g;
}

void Segment::ValidateName(const std::string& name) {
  bool ok =
      !name.empty() && name.size() <= 200 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
      });
  if (!ok)
    Throw(errc::invalid_argument,
          "segment name '" + name + "' is invalid: use 1-200 of letters, digits, '.', '_', '-'");
}

std::unique_ptr<Segment> Segment::Open(const Options& o, const BeforePublish& before_publish) {
  ValidateName(o.name);
  if (o.open_mode == OpenMode::create_only || o.open_mode == OpenMode::create_or_attach)
    MakePlan(o);  // validate early
  const std::string path = os::SegmentPath(o.name);
  const bool may_create =
      o.open_mode == OpenMode::create_only || o.open_mode == OpenMode::create_or_attach;
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (o.open_mode != OpenMode::create_only) {
      int fd = -1;
      try {
        fd = os::OpenExisting(path, true);
      } catch (const Error& e) {
        if (e.code() != errc::not_found || !may_create) throw;
      }
      if (fd >= 0) {
        std::uint64_t size = 0;
        std::uint8_t* base = nullptr;
        try {
          os::CheckTrusted(fd, path, o.trusted_group);
          size = os::FileSize(fd, path);
          Geometry geo;
          if (size != 0) base = static_cast<std::uint8_t*>(os::Map(fd, size, true, path));
          if (size != 0 && Classify(base, size, path, &geo) == HeaderVerdict::ok) {
            std::unique_ptr<Segment> seg(new Segment(o.name, fd, base, size, geo));
            seg->Register();
            return seg;
          }
          // Empty, or an all-zero header: a creator died before writing it. Replace it, once,
          // under an exclusive flock so two openers do not both replace it.
          if (base) os::Unmap(base, size);
          base = nullptr;
          if (o.open_mode == OpenMode::attach_only || o.open_mode == OpenMode::read_only)
            Throw(errc::not_found, path +
                                       " is not initialized (its creator died); open it with "
                                       "create_or_attach to rebuild it");
          os::LockFileExclusive(fd);
          if (os::SameFile(fd, path)) {
            int new_fd;
            std::uint8_t* new_base;
            std::string tmp;
            std::unique_ptr<Segment> seg;
            try {
              tmp = BuildSegment(o, path, &new_fd, &new_base);
              seg.reset(new Segment(o.name, new_fd, new_base, o.size_bytes,
                                    CheckHeader(new_base, o.size_bytes, tmp)));
              if (before_publish) before_publish(*seg);
              SealConfig(new_base);
              os::Rename(tmp, path);
            } catch (...) {
              if (seg) {
                seg.reset();
                os::Unlink(tmp);
              }
              throw;
            }
            os::Close(fd);
            seg->Register();
            return seg;
          }
          os::Close(fd);
          continue;  // someone else replaced it: attach to theirs
        } catch (...) {
          if (base) os::Unmap(base, size);
          os::Close(fd);
          throw;
        }
      }
    }
    // Create under a temporary name, then publish with link(): atomic, and never half-built.
    RemoveStaleTemporaries(o.name);
    int fd;
    std::uint8_t* base;
    std::string tmp = BuildSegment(o, path, &fd, &base);
    std::unique_ptr<Segment> seg;
    try {
      seg.reset(new Segment(o.name, fd, base, o.size_bytes, CheckHeader(base, o.size_bytes, tmp)));
    } catch (...) {
      os::Unmap(base, o.size_bytes);
      os::Close(fd);
      os::Unlink(tmp);
      throw;
    }
    bool published = false;
    try {
      if (before_publish) before_publish(*seg);
      SealConfig(base);
      published = os::Link(tmp, path);
    } catch (...) {
      seg.reset();
      os::Unlink(tmp);
      throw;
    }
    os::Unlink(tmp);
    if (published) {
      seg->Register();
      return seg;
    }
    seg.reset();
    if (o.open_mode == OpenMode::create_only)
      Throw(errc::already_exists, "segment '" + o.name + "' already exists at " + path);
    // Lost the race to another creator: attach to the published segment.
  }
  Throw(errc::busy, "could not open segment '" + o.name + "': it kept changing under us");
}

void Segment::Destroy(const std::string& name) {
  ValidateName(name);
  std::string path = os::SegmentPath(name);
  if (!os::Unlink(path))
    Throw(errc::not_found, "segment '" + name + "' does not exist (" + path + ")");
}

std::unique_ptr<Segment> Segment::AdoptUnregistered(std::string name, int fd, std::uint8_t* base,
                                                    std::uint64_t size, const Geometry& geo) {
  return std::unique_ptr<Segment>(new Segment(std::move(name), fd, base, size, geo));
}

Segment::Segment(std::string name, int fd, std::uint8_t* base, std::uint64_t size,
                 const Geometry& geo)
    : name_(std::move(name)),
      fd_(fd),
      base_(base),
      size_(size),
      geo_(geo),
      backed_groups_((geo.size_bytes + kBackingGroupBytes - 1) / kBackingGroupBytes) {}

Segment::~Segment() {
  if (registry_slot_ >= 0) {
    // Only the registering process frees its slot (a child that inherited this object across
    // fork() must not free its parent's).
    ProcessSlot* slot = process(static_cast<std::uint32_t>(registry_slot_));
    std::uint64_t mine = static_cast<std::uint64_t>(os::Pid());
    if (slot->pid_word.load(std::memory_order_acquire) == mine) {
      slot->start_time.store(0, std::memory_order_relaxed);
      slot->pid_word.compare_exchange_strong(mine, 0, std::memory_order_acq_rel);
    }
  }
  os::Unmap(base_, size_);
  os::Close(fd_);
}

void Segment::Register() {
  ReclaimDeadProcesses();
  const std::uint64_t pid = static_cast<std::uint64_t>(os::Pid());
  for (std::uint32_t i = 0; i < kMaxProcesses; ++i) {
    ProcessSlot* slot = process(i);
    std::uint64_t expected = 0;
    if (slot->pid_word.load(std::memory_order_relaxed) == 0 &&
        slot->pid_word.compare_exchange_strong(expected, pid, std::memory_order_acq_rel)) {
      slot->attached_unix_ms.store(os::NowUnixMs(), std::memory_order_relaxed);
      slot->start_time.store(os::ProcessStartTime(os::Pid()), std::memory_order_release);
      registry_slot_ = static_cast<std::int32_t>(i);
      return;
    }
  }
  // Registry full: the handle works, it is just not listed (diagnostics only).
}

namespace {

// Takes a dead process's n sleepers off a shared count, never below zero: a wrapped count would
// make every writer wake its word, and a live sleeper's share is worth more than a damaged slot.
void TakeBack(std::atomic<std::uint32_t>& count, std::uint32_t n) {
  std::uint32_t v = count.load(std::memory_order_relaxed);
  while (n != 0 && !count.compare_exchange_weak(v, v - std::min(v, n), std::memory_order_seq_cst)) {
  }
}

}  // namespace

std::uint32_t Segment::ReclaimDeadProcesses() {
  std::uint32_t reclaimed = 0;
  for (std::uint32_t i = 0; i < kMaxProcesses; ++i) {
    ProcessSlot* slot = process(i);
    std::uint64_t pid = slot->pid_word.load(std::memory_order_acquire);
    if (pid == 0 || pid == kReclaiming) continue;
    std::uint64_t start = slot->start_time.load(std::memory_order_acquire);
    if (os::ProcessAlive(static_cast<pid_t>(pid), start)) continue;
    // Held at kReclaiming while its sleepers are taken back, so that no new registration can
    // take the slot (and count sleepers of its own in it) meanwhile.
    if (slot->pid_word.compare_exchange_strong(pid, kReclaiming, std::memory_order_acq_rel)) {
      CoordHeader& coord = header()->coord;
      TakeBack(coord.grant_sleepers, slot->grant_waiting.exchange(0, std::memory_order_acq_rel));
      for (std::uint32_t w = 0; w < kKeyWatches; ++w) {
        const std::uint32_t n = slot->key_waiting[w].exchange(0, std::memory_order_acq_rel);
        TakeBack(coord.key_watches[w].sleepers, n);
        TakeBack(coord.key_sleepers, n);
      }
      slot->start_time.store(0, std::memory_order_relaxed);
      slot->pid_word.store(0, std::memory_order_release);
      ++reclaimed;
    }
  }
  return reclaimed;
}

// --- checked access ---

void Segment::Corrupted(const std::string& what, std::uint64_t value,
                        const std::string& why) const {
  Throw(errc::corrupted, "segment '" + name_ + "': " + what + " " + std::to_string(value) + " " +
                             why + " (the segment is damaged; inspect it with shmkv-inspect)");
}

void Segment::OutOfRange(const char* what, std::uint64_t value, const char* limit_name,
                         std::uint64_t limit) const {
  Corrupted(what, value, std::string("is not below ") + limit_name + " " + std::to_string(limit));
}

BlockSpan Segment::Block(std::uint64_t off, std::uint32_t shard, const char* what) const {
  BlockSpan b;
  if (const char* why = TryBlock(off, shard, &b)) [[unlikely]]
    Corrupted("shard " + std::to_string(shard) + " " + what, off, why);
  return b;
}

void Segment::BadRecord(std::uint64_t off, std::uint32_t shard, const char* what,
                        const char* why) const {
  Corrupted("shard " + std::to_string(shard) + " " + what, off, why);
}

void RaiseEntryLimits(const Geometry& g, std::size_t key_bytes, std::size_t value_bytes,
                      const std::string& where) {
  if (key_bytes == 0)
    Throw(errc::key_too_long,
          where + ": an empty key; keys are 1.." + std::to_string(g.max_key_bytes) + " bytes");
  if (key_bytes > g.max_key_bytes)
    Throw(errc::key_too_long, where + ": a key of " + std::to_string(key_bytes) +
                                  " bytes; this segment's max_key_bytes is " +
                                  std::to_string(g.max_key_bytes));
  Throw(errc::value_too_large, where + ": a value of " + std::to_string(value_bytes) +
                                   " bytes; this segment's max_value_bytes is " +
                                   std::to_string(g.max_value_bytes));
}

}  // namespace shmkv::detail
