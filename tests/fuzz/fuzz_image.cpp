// fuzz_image.cpp: clean stores, their images and the byte map (see fuzz_image.hpp).
//
// Invariants: only layout.hpp is used to read an image, through bounds-checked Load(); a clean
// image comes from a store this process built and closed, so its fields are trusted here.
#include "fuzz_image.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <stdexcept>

#include "shm/layout.hpp"
#include "shmkv/shmkv.hpp"

namespace {
// While BuildImage runs, getrandom() returns this stream instead of the kernel's (see below).
bool g_fixed_random = false;
std::uint64_t g_fixed_state = 0;
}  // namespace

// Reproducible images: a new segment's hash seed comes from getrandom() (src/os/os.cpp,
// RandomSeed), and the seed decides which shard and slot each key lands in, so every offset
// the corruptions pick. This executable defines getrandom(), which takes precedence over libc's
// for the library linked into it; while an image is built it returns a stream fixed by the
// configuration, so the same --seed and iteration corrupt the same field of the same key in
// every run. Otherwise it is the system call.
extern "C" ssize_t getrandom(void* buf, size_t len, unsigned int flags) noexcept {
  if (!g_fixed_random) return ::syscall(SYS_getrandom, buf, len, flags);
  auto* out = static_cast<unsigned char*>(buf);
  for (size_t i = 0; i < len; ++i) {
    std::uint64_t z = (g_fixed_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    out[i] = static_cast<unsigned char>(z ^ (z >> 31));
  }
  return static_cast<ssize_t>(len);
}

namespace fuzz {

namespace L = shmkv::detail;

namespace {

u64 Mix(u64 x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::string ValueFor(int i) {
  const u64 h = Mix(static_cast<u64>(i));
  const u64 r = h % 100, k = h / 100;
  std::size_t len = r < 55   ? 1 + k % 60
                    : r < 80 ? 61 + k % 500
                    : r < 95 ? 600 + k % 3400
                             : 8000 + k % 22000;
  if (i == 7) len = 10;  // kToolKey: short and printable for the tools' output
  std::string v = "v" + std::to_string(i) + ":";
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (std::size_t p = 0; v.size() < len + 4; ++p)
    v += kAlphabet[Mix(h ^ (p * 0x100000001b3ull)) % 36];
  return v;
}

template <typename T>
Field F(const char* name, std::size_t off) {
  return {name, off, sizeof(T), sizeof(T) == 4 || sizeof(T) == 8};
}

}  // namespace

std::vector<Config> DefaultConfigs() {
  return {
      {"plain", 8ull << 20, 64, 0, 0, 1000},
      {"home160", 8ull << 20, 64, 160, 4096, 1000},
      {"oneshard", 8ull << 20, 1, 0, 0, 1000},
  };
}

bool IsCounterIndex(int i) {
  return i % 25 == 11;
}

Dataset MakeDataset(const Config& c) {
  Dataset d;
  for (int i = 0; i < c.keys; ++i) {
    Expect e;
    if (IsCounterIndex(i)) {
      e.value = std::to_string(3 * i + 1 + 1000);
    } else {
      e.value = ValueFor(i);
      e.ttl = i % 7 == 3;
    }
    d["key:" + std::to_string(i)] = e;
  }
  return d;
}

std::string SegmentPath(const std::string& name) {
  return "/dev/shm/shmkv." + name;
}

Image BuildImage(const Config& c, const std::string& name) {
  Image img{c, MakeDataset(c), {}};
  shmkv::Options o;
  o.name = name;
  o.open_mode = shmkv::OpenMode::create_only;
  o.size_bytes = c.size_bytes;
  o.shards = c.shards;
  o.home_block_bytes = c.home_block_bytes;
  o.max_keys = c.max_keys;
  g_fixed_random = true;
  g_fixed_state = std::hash<std::string>()(c.label);
  std::optional<shmkv::Store> opened;
  try {
    opened.emplace(shmkv::Store::open(o));
  } catch (...) {
    g_fixed_random = false;
    throw;
  }
  g_fixed_random = false;
  {
    shmkv::Store s = std::move(*opened);
    for (int i = 0; i < c.keys; ++i) {
      const std::string key = "key:" + std::to_string(i);
      if (IsCounterIndex(i)) {
        s.increment_by(key, 1000);
        s.increment_by(key, 3 * i + 1);
      } else {
        const Expect& e = img.data.at(key);
        s.set(key, e.value,
              e.ttl ? std::chrono::milliseconds(30ll * 24 * 3600 * 1000)
                    : std::chrono::milliseconds(0));
      }
    }
    // A few overwrites and deletes, so free blocks and partial slabs exist.
    for (int i = 0; i < 40; ++i) {
      const std::string tmp = "tmp:" + std::to_string(i);
      s.set(tmp, std::string(static_cast<std::size_t>(20 + 97 * i % 3000), 't'));
      if (i % 2 == 0) s.del(tmp);
    }
    for (int i = 0; i < 40; ++i)
      if (i % 2 == 1) s.del("tmp:" + std::to_string(i));
    if (s.size() != img.data.size()) throw std::runtime_error("built store has the wrong size");
    // Entries of the coordination table to damage: grants held by this process, which lives
    // for the whole campaign (so they stay held in every image), and a barrier's state.
    if (!s.claim("key:3", std::chrono::hours(1)) ||
        !s.lock("image-lock", std::chrono::hours(1), std::chrono::milliseconds(0)) ||
        !s.acquire("image-sem", 2, std::chrono::milliseconds(0)) ||
        !s.barrier("image-barrier", 1, std::chrono::milliseconds(0)))
      throw std::runtime_error("built store refused a grant");
    auto v = s.check_invariants();
    if (!v.empty()) throw std::runtime_error("built store fails check: " + v.front());
  }
  std::ifstream in(SegmentPath(name), std::ios::binary);
  img.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  shmkv::Store::destroy(name);
  if (img.bytes.size() != c.size_bytes) throw std::runtime_error("short read of " + name);
  return img;
}

void WriteImage(const std::string& name, const std::vector<u8>& bytes) {
  const std::string path = SegmentPath(name);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("create " + path + ": " + std::strerror(errno));
  bool ok = ::fchmod(fd, 0600) == 0 && ::ftruncate(fd, static_cast<off_t>(bytes.size())) == 0;
  static const u8 kZero[4096] = {};
  for (u64 off = 0; ok && off < bytes.size(); off += 4096) {
    const u64 n = std::min<u64>(4096, bytes.size() - off);
    if (std::memcmp(bytes.data() + off, kZero, n) == 0) continue;
    ok = ::pwrite(fd, bytes.data() + off, n, static_cast<off_t>(off)) == static_cast<ssize_t>(n);
  }
  ::close(fd);
  if (!ok) throw std::runtime_error("write " + path + ": " + std::strerror(errno));
}

const std::vector<Field>& SegmentHeaderFields() {
  using H = L::SegmentHeader;
  static const std::vector<Field> f = {
      F<L::u64>("magic", offsetof(H, magic)),
      F<L::u32>("layout_version", offsetof(H, layout_version)),
      F<L::u32>("state", offsetof(H, state)),
      F<L::u64>("fingerprint", offsetof(H, fingerprint)),
      F<L::u64>("size_bytes", offsetof(H, size_bytes)),
      F<L::u64>("created_unix_ms", offsetof(H, created_unix_ms)),
      F<L::u64>("hash_seed", offsetof(H, hash_seed)),
      F<L::u32>("shard_count", offsetof(H, shard_count)),
      F<L::u32>("shard_bits", offsetof(H, shard_bits)),
      F<L::u32>("max_key_bytes", offsetof(H, max_key_bytes)),
      F<L::u32>("max_value_bytes", offsetof(H, max_value_bytes)),
      F<L::u64>("slots_per_shard", offsetof(H, slots_per_shard)),
      F<L::u64>("chunk_count", offsetof(H, chunk_count)),
      F<L::u64>("off_processes", offsetof(H, off_processes)),
      F<L::u64>("off_shards", offsetof(H, off_shards)),
      F<L::u64>("off_chunks", offsetof(H, off_chunks)),
      F<L::u64>("off_idents", offsetof(H, off_idents)),
      F<L::u64>("off_slots", offsetof(H, off_slots)),
      F<L::u64>("off_dense", offsetof(H, off_dense)),
      F<L::u64>("off_arena", offsetof(H, off_arena)),
      F<L::u32>("home_block_bytes", offsetof(H, home_block_bytes)),
      F<L::u32>("home_blocks_per_chunk", offsetof(H, home_blocks_per_chunk)),
      F<L::u64>("home_chunks_per_shard", offsetof(H, home_chunks_per_shard)),
      F<L::u64>("home_chunk_magic", offsetof(H, home_chunk_magic)),
      {"name", offsetof(H, name), sizeof(H::name), false},
      {"alloc_mutex", offsetof(H, alloc_mutex), sizeof(pthread_mutex_t), false},
      F<L::u64>("alloc_hint", offsetof(H, alloc_hint)),
      F<L::u64>("chunks_in_use", offsetof(H, chunks_in_use)),
      F<L::u64>("alloc_recoveries", offsetof(H, alloc_recoveries)),
      F<L::u64>("index_alloc_top", offsetof(H, index_alloc_top)),
      F<L::u32>("persist_enabled", offsetof(H, persist_enabled)),
      F<L::u32>("persist_fsync", offsetof(H, persist_fsync)),
      F<L::u64>("persist_snapshot_interval_ms", offsetof(H, persist_snapshot_interval_ms)),
      F<L::u64>("persist_fsync_interval_ms", offsetof(H, persist_fsync_interval_ms)),
      F<L::u32>("persist_keep_snapshots", offsetof(H, persist_keep_snapshots)),
      {"persist_dir", offsetof(H, persist_dir), sizeof(H::persist_dir), false},
      F<L::u64>("journal_seq", offsetof(H, journal_seq)),
      F<L::u64>("snapshot_due_ms", offsetof(H, snapshot_due_ms)),
      F<L::u64>("snapshot_lease", offsetof(H, snapshot_lease)),
      F<L::u64>("snapshot_gen", offsetof(H, snapshot_gen)),
      F<L::u64>("last_snapshot_seq", offsetof(H, last_snapshot_seq)),
      F<L::u64>("last_snapshot_unix_ms", offsetof(H, last_snapshot_unix_ms)),
      F<L::u64>("backup_lease", offsetof(H, backup_lease)),
      F<L::u32>("index_enabled", offsetof(H, index_enabled)),
      F<L::u32>("index_inner_chunks", offsetof(H, index_inner_chunks)),
      {"index.mutex", offsetof(H, index.mutex), sizeof(pthread_mutex_t), false},
      F<L::u32>("index.state", offsetof(H, index.state)),
      F<L::u32>("index.height", offsetof(H, index.height)),
      F<L::u64>("index.root", offsetof(H, index.root)),
      F<L::u64>("index.entries", offsetof(H, index.entries)),
      F<L::u64>("index.nodes", offsetof(H, index.nodes)),
      F<L::u64>("index.rebuilds", offsetof(H, index.rebuilds)),
      F<L::u32>("index.spare_leaf_count", offsetof(H, index.spare_leaf_count)),
      F<L::u32>("index.spare_inner_count", offsetof(H, index.spare_inner_count)),
      F<L::u64>("index.spare_leaf", offsetof(H, index.spare_leaf)),
      F<L::u64>("index.spare_inner[0]", offsetof(H, index.spare_inner)),
      F<L::u64>("index.spare_inner[1]", offsetof(H, index.spare_inner) + 8),
      F<L::u64>("index.ttl_records", offsetof(H, index.ttl_records)),
      {"coord.mutex", offsetof(H, coord.mutex), sizeof(pthread_mutex_t), false},
      F<L::u64>("coord.seq", offsetof(H, coord.seq)),
      F<L::u64>("coord.next_token", offsetof(H, coord.next_token)),
      F<L::u32>("coord.used", offsetof(H, coord.used)),
      F<L::u64>("coord.recoveries", offsetof(H, coord.recoveries)),
      F<L::u32>("coord.grant_word", offsetof(H, coord.grant_word)),
      F<L::u32>("coord.grant_sleepers", offsetof(H, coord.grant_sleepers)),
      F<L::u32>("coord.key_sleepers", offsetof(H, coord.key_sleepers)),
      {"coord.key_watches", offsetof(H, coord.key_watches), sizeof(H::coord.key_watches), false},
      {"coord.entries", offsetof(H, coord.entries), sizeof(H::coord.entries), false},
  };
  return f;
}

const std::vector<Field>& ShardHeaderFields() {
  using S = L::ShardHeader;
  static const std::vector<Field> f = {
      {"mutex", offsetof(S, mutex), sizeof(pthread_mutex_t), false},
      F<L::u64>("seq", offsetof(S, seq)),
      F<L::u64>("rehash_rec", offsetof(S, rehash_rec)),
      F<L::u64>("word_lock", offsetof(S, word_lock)),
      F<L::u64>("count", offsetof(S, count)),
      F<L::u64>("ttl_count", offsetof(S, ttl_count)),
      F<L::u64>("used_bytes", offsetof(S, used_bytes)),
      F<L::u64>("chunk_count", offsetof(S, chunk_count)),
      F<L::u32>("max_psl", offsetof(S, max_psl)),
      F<L::u32>("reclaim_cursor", offsetof(S, reclaim_cursor)),
      {"partial_head", offsetof(S, partial_head), sizeof(S::partial_head), false},
      F<L::u64>("undo_rec", offsetof(S, undo_rec)),
      F<L::u64>("undo_state_lsn", offsetof(S, undo_state_lsn)),
      F<L::u64>("undo_expires_ms", offsetof(S, undo_expires_ms)),
      F<L::u32>("undo_value_len", offsetof(S, undo_value_len)),
      {"undo_bytes", offsetof(S, undo_bytes), sizeof(S::undo_bytes), false},
      F<L::u64>("gets", offsetof(S, gets)),
      F<L::u64>("hits", offsetof(S, hits)),
      F<L::u64>("misses", offsetof(S, misses)),
      F<L::u64>("sets", offsetof(S, sets)),
      F<L::u64>("deletes", offsetof(S, deletes)),
      F<L::u64>("cas_success", offsetof(S, cas_success)),
      F<L::u64>("cas_failure", offsetof(S, cas_failure)),
      F<L::u64>("lock_waits", offsetof(S, lock_waits)),
      F<L::u64>("recoveries", offsetof(S, recoveries)),
  };
  return f;
}

const std::vector<Field>& ChunkInfoFields() {
  using C = L::ChunkInfo;
  static const std::vector<Field> f = {
      F<L::u32>("used", offsetof(C, used)),     F<L::u32>("free_head", offsetof(C, free_head)),
      F<L::u32>("carved", offsetof(C, carved)), F<L::u32>("next", offsetof(C, next)),
      F<L::u32>("prev", offsetof(C, prev)),
  };
  return f;
}

const std::vector<Field>& ProcessSlotFields() {
  using P = L::ProcessSlot;
  static const std::vector<Field> f = {
      F<L::u64>("pid_word", offsetof(P, pid_word)),
      F<L::u64>("start_time", offsetof(P, start_time)),
      F<L::u64>("attached_unix_ms", offsetof(P, attached_unix_ms)),
  };
  return f;
}

LayoutMap MapImage(const std::vector<u8>& b) {
  using H = L::SegmentHeader;
  LayoutMap m;
  m.size = b.size();
  m.shard_count = Load<u32>(b, offsetof(H, shard_count));
  m.slots_per_shard = Load<u64>(b, offsetof(H, slots_per_shard));
  m.dense_per_shard = L::DenseCapacity(m.slots_per_shard);
  m.chunk_count = Load<u64>(b, offsetof(H, chunk_count));
  m.off_processes = Load<u64>(b, offsetof(H, off_processes));
  m.off_shards = Load<u64>(b, offsetof(H, off_shards));
  m.off_chunks = Load<u64>(b, offsetof(H, off_chunks));
  m.off_idents = Load<u64>(b, offsetof(H, off_idents));
  m.off_slots = Load<u64>(b, offsetof(H, off_slots));
  m.off_dense = Load<u64>(b, offsetof(H, off_dense));
  m.off_arena = Load<u64>(b, offsetof(H, off_arena));
  m.shard_header_bytes = sizeof(L::ShardHeader);
  m.process_slot_bytes = sizeof(L::ProcessSlot);
  for (u32 s = 0; s < m.shard_count; ++s) {
    const u64 sh = m.off_shards + s * m.shard_header_bytes;
    m.shard_counts.push_back(Load<u64>(b, sh + offsetof(L::ShardHeader, count)));
    for (u64 i = 0; i < m.slots_per_shard; ++i) {
      const u64 slot = m.off_slots + (s * m.slots_per_shard + i) * sizeof(L::Slot);
      const L::Slot word{Load<u64>(b, slot)};
      if (word.word == 0) continue;
      const u64 rec = word.rec();
      RecordInfo r;
      r.off = rec;
      r.key_len = Load<u32>(b, rec + offsetof(L::RecordHeader, key_len));
      r.value_len = Load<u32>(b, rec + offsetof(L::RecordHeader, value_len));
      r.shard = s;
      r.slot = i;
      if (r.end() > b.size()) throw std::runtime_error("clean image has a record out of bounds");
      r.key.assign(reinterpret_cast<const char*>(b.data() + rec + 32), r.key_len);
      m.records.push_back(std::move(r));
    }
  }
  std::sort(m.records.begin(), m.records.end(),
            [](const RecordInfo& a, const RecordInfo& c) { return a.off < c.off; });
  for (u64 c = 0; c < m.chunk_count; ++c) {
    const u64 ident = Load<u64>(b, m.off_idents + c * 8);
    if (ident == 0 || L::IdentOwner(ident) != m.shard_count ||
        L::IdentClass(ident) != L::kClassIndexNode)
      continue;
    IndexNodeInfo n;
    n.off = m.off_arena + c * L::kChunkBytes;
    n.bytes = u64(L::IdentSpan(ident)) * L::kChunkBytes;
    const u32 magic = Load<u32>(b, n.off + offsetof(L::IndexNodeHeader, magic));
    if (magic != L::kIndexLeafMagic && magic != L::kIndexInnerMagic) continue;  // a spare node
    n.leaf = magic == L::kIndexLeafMagic;
    n.count = Load<u32>(b, n.off + offsetof(L::IndexNodeHeader, count));
    m.index_nodes.push_back(n);
  }
  return m;
}

const IndexNodeInfo* LayoutMap::IndexNodeContaining(u64 off) const {
  auto it = std::upper_bound(index_nodes.begin(), index_nodes.end(), off,
                             [](u64 o, const IndexNodeInfo& n) { return o < n.off; });
  if (it == index_nodes.begin()) return nullptr;
  --it;
  return off < it->off + it->bytes ? &*it : nullptr;
}

const RecordInfo* LayoutMap::RecordContaining(u64 off) const {
  auto it = std::upper_bound(records.begin(), records.end(), off,
                             [](u64 o, const RecordInfo& r) { return o < r.off; });
  if (it == records.begin()) return nullptr;
  --it;
  return off < it->end() ? &*it : nullptr;
}

std::string LayoutMap::Region(u64 off) const {
  if (off < off_processes) return "header";
  if (off < off_shards) return "processes";
  if (off < off_chunks) return "shards";
  if (off < off_idents) return "chunks";
  if (off < off_slots) return "idents";
  if (off < off_dense) return "slots";
  if (off < off_arena) return "dense";
  return "arena";
}

namespace {
std::string FieldAt(const std::vector<Field>& fields, u64 rel) {
  for (const Field& f : fields)
    if (rel >= f.off && rel < f.off + f.size) return f.name;
  return "pad";
}
}  // namespace

void LayoutMap::Describe(u64 off, std::string* generic, std::string* where) const {
  const std::string region = Region(off);
  std::string g, w;
  if (region == "header") {
    g = "SegmentHeader." + FieldAt(SegmentHeaderFields(), off);
    w = g;
  } else if (region == "processes") {
    const u64 i = (off - off_processes) / process_slot_bytes;
    const std::string f = FieldAt(ProcessSlotFields(), (off - off_processes) % process_slot_bytes);
    g = "ProcessSlot." + f;
    w = "ProcessSlot[" + std::to_string(i) + "]." + f;
  } else if (region == "shards") {
    const u64 s = (off - off_shards) / shard_header_bytes;
    const std::string f = FieldAt(ShardHeaderFields(), (off - off_shards) % shard_header_bytes);
    g = "ShardHeader." + f;
    w = "ShardHeader[" + std::to_string(s) + "]." + f;
  } else if (region == "chunks") {
    const u64 c = (off - off_chunks) / sizeof(L::ChunkInfo);
    const std::string f = FieldAt(ChunkInfoFields(), (off - off_chunks) % sizeof(L::ChunkInfo));
    g = "ChunkInfo." + f;
    w = "ChunkInfo[" + std::to_string(c) + "]." + f;
  } else if (region == "idents") {
    const u64 c = (off - off_idents) / 8;
    g = c < chunk_count ? "ident" : "ident(pad)";
    w = "ident[" + std::to_string(c) + "]";
  } else if (region == "slots") {
    const u64 i = (off - off_slots) / sizeof(L::Slot);
    const u64 rel = (off - off_slots) % sizeof(L::Slot);
    // Slot: bits 0..39 rec, 40..51 tag, 52..63 psl; byte 6 holds the top of the tag and the
    // bottom of the psl.
    const std::string f = rel < 5 ? "rec" : rel == 5 ? "tag" : rel == 6 ? "tag+psl" : "psl";
    const bool used = std::any_of(records.begin(), records.end(), [&](const RecordInfo& r) {
      return r.shard * slots_per_shard + r.slot == i;
    });
    g = std::string(used ? "Slot." : "Slot(empty).") + f;
    w = "Slot[" + std::to_string(i / std::max<u64>(1, slots_per_shard)) + "][" +
        std::to_string(i % std::max<u64>(1, slots_per_shard)) + "]." + f;
  } else if (region == "dense") {
    const u64 i = (off - off_dense) / 8;
    const u64 s = i / std::max<u64>(1, dense_per_shard), j = i % std::max<u64>(1, dense_per_shard);
    const bool used = s < shard_counts.size() && j < shard_counts[s];
    g = used ? "dense" : "dense(unused)";
    w = "dense[" + std::to_string(s) + "][" + std::to_string(j) + "]";
  } else if (const IndexNodeInfo* n = IndexNodeContaining(off)) {
    const u64 rel = off - n->off;
    using N = L::IndexNodeHeader;
    const u64 entry = n->leaf ? sizeof(L::IndexLeafEntry) : sizeof(L::IndexInnerEntry);
    std::string f =
        rel < offsetof(N, count)        ? "magic"
        : rel < offsetof(N, prefix_len) ? "count"
        : rel < offsetof(N, pad)        ? "prefix_len"
        : rel < offsetof(N, next)       ? "pad"
        : rel < offsetof(N, prev)       ? "next"
        : rel < offsetof(N, prefix)     ? "prev"
        : rel < sizeof(N)               ? "prefix"
        : rel < sizeof(N) + n->count * entry
            ? (n->leaf ? ((rel - sizeof(N)) % entry < 8 ? "entry.partial" : "entry.rec")
                       : std::string("entry.") + ((rel - sizeof(N)) % entry < 8    ? "child"
                                                  : (rel - sizeof(N)) % entry < 16 ? "count"
                                                  : (rel - sizeof(N)) % entry < 24 ? "partial"
                                                  : (rel - sizeof(N)) % entry < 28 ? "key_off"
                                                                                   : "key_len"))
        : n->leaf ? "unused"
                  : "separators";
    g = std::string(n->leaf ? "IndexLeaf." : "IndexInner.") + f;
    w = g + "@" + std::to_string(n->off) + "+" + std::to_string(rel);
  } else {
    const RecordInfo* r = RecordContaining(off);
    if (r == nullptr) {
      g = "arena(no live record)";
      w = "arena@" + std::to_string(off);
    } else {
      const u64 rel = off - r->off;
      using R = L::RecordHeader;
      std::string f = rel < offsetof(R, key_len)      ? "state_lsn"
                      : rel < offsetof(R, value_len)  ? "key_len"
                      : rel < offsetof(R, expires_ms) ? "value_len"
                      : rel < offsetof(R, dense_pos)  ? "expires_ms"
                      : rel < offsetof(R, checksum)   ? "dense_pos"
                      : rel < sizeof(R)               ? "checksum"
                      : rel < sizeof(R) + r->key_len  ? "key"
                                                      : "value";
      g = "Record." + f;
      w = "Record(" + r->key + ")@" + std::to_string(r->off) + "." + f;
    }
  }
  if (generic) *generic = g;
  if (where) *where = w;
}

}  // namespace fuzz
