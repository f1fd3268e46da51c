// fuzz_image.hpp: the clean stores the corruption fuzzer starts from, and a map of their bytes.
//
// Contract:
// - A Config names one store shape (size, shards, home blocks). BuildImage() creates that store
//   under a unique name, fills it with the Dataset (deterministic: the same config always gives
//   the same keys and values, only the hash seed and times differ), closes it, copies the
//   segment file /dev/shm/shmkv.<name> into memory and destroys the segment.
// - A LayoutMap is computed from a clean image with the structs of src/shm/layout.hpp only (no
//   engine code): region bounds, every live record (offset, key, lengths, shard, slot), and
//   Describe(offset), which names the shared field a byte belongs to ("Slot.rec",
//   "ShardHeader.count", "ident", "Record.value", ...). It is only valid for the clean image it was
//   computed from; corrupted images are never parsed by the parent.
// - WriteImage() writes an image to a fresh segment name (O_EXCL, mode 0600, owned by the
//   caller), skipping all-zero pages so the file is sparse like a real segment.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fuzz {

using u8 = std::uint8_t;
using u32 = std::uint32_t;
using u64 = std::uint64_t;

struct Config {
  std::string label;
  u64 size_bytes;
  u32 shards;
  u32 home_block_bytes;
  u64 max_keys;  // 0 = library default
  int keys;      // key:0 .. key:<keys-1>
};

// The configurations a campaign cycles through.
std::vector<Config> DefaultConfigs();

// The clean content: key -> value, and whether the key has a (30 day) TTL.
struct Expect {
  std::string value;
  bool ttl = false;
};
using Dataset = std::map<std::string, Expect>;

Dataset MakeDataset(const Config& c);
// The key whose value the tools' `get` reads (short, printable).
inline constexpr const char* kToolKey = "key:7";
// A counter key (decimal value) and a non-counter key (value starts with 'v').
bool IsCounterIndex(int i);

struct Image {
  Config config;
  Dataset data;
  std::vector<u8> bytes;
};

// Builds the store of `c`, returns its image. Throws on any failure.
Image BuildImage(const Config& c, const std::string& name);

// Writes `bytes` to /dev/shm/shmkv.<name> (must not exist). Throws std::runtime_error.
void WriteImage(const std::string& name, const std::vector<u8>& bytes);
std::string SegmentPath(const std::string& name);

struct Field {
  std::string name;
  u64 off;  // relative to the struct
  u64 size;
  bool integer;  // 4- or 8-byte integer (else bytes)
};

// Field tables of the shared structs (layout.hpp).
const std::vector<Field>& SegmentHeaderFields();
const std::vector<Field>& ShardHeaderFields();
const std::vector<Field>& ChunkInfoFields();
const std::vector<Field>& ProcessSlotFields();

struct RecordInfo {
  u64 off;  // RecordHeader offset
  u32 key_len, value_len;
  u32 shard;
  u64 slot;  // index in the shard's table
  std::string key;
  u64 end() const { return off + 32 + key_len + value_len; }
};

struct IndexNodeInfo {
  u64 off;    // IndexNodeHeader offset (the head chunk's)
  u64 bytes;  // its chunks' bytes
  bool leaf;
  u32 count;  // entries
};

struct LayoutMap {
  u64 size = 0;
  u32 shard_count = 0;
  u64 slots_per_shard = 0, dense_per_shard = 0, chunk_count = 0;
  u64 off_processes = 0, off_shards = 0, off_chunks = 0, off_idents = 0, off_slots = 0,
      off_dense = 0, off_arena = 0;
  u64 shard_header_bytes = 0, process_slot_bytes = 0;
  std::vector<RecordInfo> records;         // sorted by offset
  std::vector<u64> shard_counts;           // ShardHeader::count per shard
  std::vector<IndexNodeInfo> index_nodes;  // the ordered index's nodes, by offset

  // The index node whose chunks contain `off`, or nullptr.
  const IndexNodeInfo* IndexNodeContaining(u64 off) const;

  // The record whose bytes [off, end) contain `off`, or nullptr.
  const RecordInfo* RecordContaining(u64 off) const;
  // Field of the byte at `off`. generic: without indices ("Slot.rec"); where: with them. A byte
  // of the ident array names the chunk whose ident it is ("ident[12]").
  void Describe(u64 off, std::string* generic, std::string* where) const;
  // Region name of `off`: header, processes, shards, chunks, idents, slots, dense, arena.
  std::string Region(u64 off) const;
};

LayoutMap MapImage(const std::vector<u8>& bytes);

template <typename T>
T Load(const std::vector<u8>& b, u64 off) {
  T v{};
  if (off + sizeof(T) <= b.size()) __builtin_memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

}  // namespace fuzz
