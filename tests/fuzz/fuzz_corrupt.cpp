// fuzz_corrupt.cpp: targeted and random corruptions of a clean image (see fuzz_corrupt.hpp).
//
// Invariants: all randomness comes from one splitmix64 stream seeded by IterationSeed(); offsets
// come from the clean image's LayoutMap and are clipped to the image, so a patch never writes
// outside it.
#include "fuzz_corrupt.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "shm/layout.hpp"

namespace fuzz {

namespace L = shmkv::detail;

namespace {

class Rng {
 public:
  explicit Rng(u64 s) : s_(s) {}
  u64 Next() {
    u64 z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  u64 Below(u64 n) { return n == 0 ? 0 : Next() % n; }
  bool Chance(int percent) { return Below(100) < static_cast<u64>(percent); }

 private:
  u64 s_;
};

std::string Hex(u64 v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%" PRIx64, v);
  return b;
}

std::vector<u8> IntBytes(u64 v, u64 width) {
  std::vector<u8> b(width);
  std::memcpy(b.data(), &v, width);
  return b;
}

// An interesting value for an integer field of `width` bytes whose clean value is `orig`.
// `other` is the value of another field of the same struct; `extra` are struct-specific
// candidates (offsets of other records, chunk counts, ...).
u64 Interesting(Rng& r, u64 orig, u64 width, u64 other, u64 image_size,
                const std::vector<u64>& extra = {}) {
  const u64 mask = width >= 8 ? ~0ull : (1ull << (8 * width)) - 1;
  for (int attempt = 0; attempt < 16; ++attempt) {
    u64 v;
    const u64 pick = r.Below(16 + extra.size() * 2);
    switch (pick) {
      case 0:
        v = 0;
        break;
      case 1:
        v = 1;
        break;
      case 2:
        v = ~0ull;
        break;
      case 3:
        v = 1ull << 31;
        break;
      case 4:
        v = 1ull << 32;
        break;
      case 5:
        v = 1ull << 52;
        break;
      case 6:
        v = other;
        break;
      case 7:
        v = orig + 1;
        break;
      case 8:
        v = orig - 1;
        break;
      case 9:
        v = 0x7fffffffffffull;
        break;
      case 10:
        v = image_size;
        break;
      case 11:
        v = image_size - 8;
        break;
      case 12:
        v = r.Next();
        break;
      case 13:
        v = orig ^ (1ull << r.Below(8 * width));
        break;
      case 14:
        v = orig * 2 + 7;
        break;
      case 15:
        v = (1ull << 31) - 1;
        break;
      default:
        v = extra[(pick - 16) / 2];
        break;
    }
    v &= mask;
    if (v != (orig & mask)) return v;
  }
  return (orig ^ 1) & mask;
}

struct Builder {
  const Image& img;
  const LayoutMap& map;
  Rng& rng;
  Corruption c;

  u64 Orig(u64 off, u64 width) const {
    return width == 4 ? Load<u32>(img.bytes, off) : Load<u64>(img.bytes, off);
  }
  void SetInt(u64 off, u64 width, u64 v) { c.patches.push_back({off, IntBytes(v, width)}); }
  void SetBytes(u64 off, std::vector<u8> b) { c.patches.push_back({off, std::move(b)}); }
  std::vector<u8> RandomBytes(u64 n) {
    std::vector<u8> b(n);
    for (auto& x : b) x = static_cast<u8>(rng.Next());
    return b;
  }
  void Label(const std::string& region, const std::string& field, const std::string& where,
             const std::string& value) {
    c.region = region;
    c.field = field;
    c.where = where;
    c.value = value;
  }
  // Sets an integer field at `off` (of `width`) to an interesting value and labels it.
  void IntField(const std::string& region, const std::string& field, const std::string& where,
                u64 off, u64 width, u64 other, const std::vector<u64>& extra = {}) {
    const u64 orig = Orig(off, width);
    const u64 v = Interesting(rng, orig, width, other, map.size, extra);
    SetInt(off, width, v);
    Label(region, field, where + "@" + std::to_string(off), Hex(orig) + " -> " + Hex(v));
  }
  const RecordInfo& AnyRecord() { return map.records[rng.Below(map.records.size())]; }
  std::vector<u64> RecordOffsets(int n) {
    std::vector<u64> v;
    for (int i = 0; i < n; ++i) v.push_back(AnyRecord().off);
    return v;
  }
  u64 ShardHeaderOff(u32 s) const { return map.off_shards + s * map.shard_header_bytes; }

  void Header() {
    const auto& fields = SegmentHeaderFields();
    const Field& f = fields[rng.Below(fields.size())];
    if (!f.integer) {
      const u64 n = f.name == "alloc_mutex" ? f.size : 1 + rng.Below(std::min<u64>(f.size, 64));
      const u64 at = f.off + rng.Below(f.size - n + 1);
      SetBytes(at, RandomBytes(n));
      Label("header", "SegmentHeader." + f.name,
            "SegmentHeader." + f.name + "@" + std::to_string(at),
            std::to_string(n) + " random bytes");
      return;
    }
    const Field* other = &fields[rng.Below(fields.size())];
    while (!other->integer) other = &fields[rng.Below(fields.size())];
    IntField("header", "SegmentHeader." + f.name, "SegmentHeader." + f.name, f.off, f.size,
             Orig(other->off, other->size),
             {map.size * 2, map.off_arena, map.off_slots, map.chunk_count + 1, 0x40000000});
  }

  void Process() {
    const u32 i = static_cast<u32>(rng.Below(L::kMaxProcesses));
    const auto& fields = ProcessSlotFields();
    const Field& f = fields[rng.Below(fields.size())];
    const u64 off = map.off_processes + i * map.process_slot_bytes + f.off;
    IntField("processes", "ProcessSlot." + f.name,
             "ProcessSlot[" + std::to_string(i) + "]." + f.name, off, f.size, 1, {1, 2, 0x3fffff});
  }

  u32 PickShard() {
    return rng.Chance(75) ? AnyRecord().shard : static_cast<u32>(rng.Below(map.shard_count));
  }

  void Shard() {
    const u32 s = PickShard();
    const u64 base = ShardHeaderOff(s);
    const std::string w = "ShardHeader[" + std::to_string(s) + "].";
    const u64 seq_off = base + offsetof(L::ShardHeader, seq);
    const auto& fields = ShardHeaderFields();
    // The mutex is one field of 23 but the most delicate one: pick it a fifth of the time.
    const Field& f = rng.Chance(20) ? fields[0] : fields[rng.Below(fields.size())];
    if (f.name == "mutex") {
      // glibc x86-64: __lock +0, __count +4, __owner +8, __nusers +12, __kind +16, list +24.
      const u64 pick = rng.Below(4);
      if (pick == 0) {
        SetBytes(base, RandomBytes(f.size));
        Label("shards", "ShardHeader.mutex", w + "mutex(all)", "40 random bytes");
      } else {
        const u64 rel = pick == 1 ? 0 : pick == 2 ? 8 : 16;
        const char* sub = pick == 1 ? "__lock" : pick == 2 ? "__owner" : "__kind";
        IntField("shards", std::string("ShardHeader.mutex.") + sub, w + "mutex." + sub, base + rel,
                 4, 0, {0x7fffffff, 12345, 0x40000000 | 12345});
      }
      return;
    }
    if (f.name == "seq") {
      const u64 orig = Orig(seq_off, 8);
      const u64 v = rng.Chance(60) ? (orig | 1) : Interesting(rng, orig, 8, 0, map.size);
      if (v == orig) return Shard();
      SetInt(seq_off, 8, v);
      Label("shards", "ShardHeader.seq", w + "seq", Hex(orig) + " -> " + Hex(v));
      return;
    }
    if (f.name == "partial_head") {
      const u32 cls = static_cast<u32>(rng.Below(L::kNumClasses));
      const u64 off = base + f.off + 4 * cls;
      IntField("shards", "ShardHeader.partial_head",
               w + "partial_head[" + std::to_string(cls) + "]", off, 4, 0,
               {map.chunk_count, map.chunk_count + 1, 1 + rng.Below(map.chunk_count)});
      return;
    }
    if (f.name == "undo_bytes") {
      const u64 n = 1 + rng.Below(f.size);
      SetBytes(base + f.off, RandomBytes(n));
      SetInt(seq_off, 8, Orig(seq_off, 8) | 1);
      Label("shards", "ShardHeader.undo_bytes+odd_seq", w + "undo_bytes",
            std::to_string(n) + " random bytes, seq odd");
      return;
    }
    if (f.name.starts_with("undo_")) {
      // An undo record only matters when seq is odd (a holder died mid-update): make it so.
      IntField("shards", "ShardHeader." + f.name + "+odd_seq", w + f.name, base + f.off, f.size, 0,
               RecordOffsets(3));
      if (f.name == "undo_rec" && rng.Chance(50)) {
        const u64 len = rng.Chance(50) ? 100000 : rng.Below(L::kUndoMax + 1);
        SetInt(base + offsetof(L::ShardHeader, undo_value_len), 4, len);
        c.value += ", undo_value_len=" + std::to_string(len);
      }
      SetInt(seq_off, 8, Orig(seq_off, 8) | 1);
      c.value += ", seq odd";
      return;
    }
    if (!f.integer) return Shard();
    IntField("shards", "ShardHeader." + f.name, w + f.name, base + f.off, f.size,
             Orig(base + offsetof(L::ShardHeader, count), 8),
             {map.slots_per_shard, map.slots_per_shard + 1, map.dense_per_shard,
              map.dense_per_shard + 1, map.chunk_count});
  }

  // Mostly chunks that hold records (their head or a continuation).
  u64 PickChunk() {
    if (rng.Chance(80)) return (AnyRecord().off - map.off_arena) / L::kChunkBytes;
    return rng.Below(map.chunk_count);
  }

  void Chunk() {
    const u64 ch = PickChunk();
    const u64 base = map.off_chunks + ch * sizeof(L::ChunkInfo);
    const auto& fields = ChunkInfoFields();
    const Field& f = fields[rng.Below(fields.size())];
    IntField("chunks", "ChunkInfo." + f.name, "ChunkInfo[" + std::to_string(ch) + "]." + f.name,
             base + f.off, f.size, Orig(base + offsetof(L::ChunkInfo, used), 4),
             {map.chunk_count, map.chunk_count + 1, 1 + rng.Below(map.chunk_count), 512});
  }

  // A chunk's entry in the ident array: one of its parts (owner, class, span) set to a value
  // that means something else, or the whole word to an interesting value.
  void Ident() {
    const u64 ch = PickChunk();
    const u64 off = map.off_idents + ch * 8;
    const std::string w = "ident[" + std::to_string(ch) + "]";
    if (!rng.Chance(70)) {
      IntField("idents", "ident", w, off, 8, Orig(off + 8, 8),
               {L::MakeIdent(0, 0, 1), L::MakeIdent(0, L::kClassLarge, 1),
                L::MakeIdent(0, L::kClassContinuation, 1)});
      return;
    }
    const u64 orig = Orig(off, 8);
    const u64 part = rng.Below(3);
    u64 v = orig;
    std::string sub;
    if (part == 0) {
      sub = "owner";
      const u64 cand[] = {0, map.shard_count + 1ull, 0xffffffffull, 1 + rng.Below(map.shard_count),
                          (orig & 0xffffffff) + 1};
      v = (orig & ~0xffffffffull) | cand[rng.Below(5)];
    } else if (part == 1) {
      sub = "class";
      const u64 cand[] = {
          0, L::kNumClasses, L::kClassLarge, L::kClassContinuation, rng.Below(L::kNumClasses), 40};
      v = (orig & ~(0xffffull << 32)) | (cand[rng.Below(6)] << 32);
    } else {
      sub = "span";
      const u64 span = orig >> 48;
      const u64 cand[] = {0, 0xffff, span + 1, span - 1, 0x7fff};
      v = (orig & ~(0xffffull << 48)) | ((cand[rng.Below(5)] & 0xffff) << 48);
    }
    if (v == orig) v ^= 1ull << 33;
    SetInt(off, 8, v);
    Label("idents", "ident." + sub, w + "." + sub + "@" + std::to_string(off),
          Hex(orig) + " -> " + Hex(v));
  }

  void SlotField() {
    const RecordInfo& r = AnyRecord();
    const u64 base = map.off_slots + (r.shard * map.slots_per_shard + r.slot) * sizeof(L::Slot);
    const std::string w =
        "Slot[" + std::to_string(r.shard) + "][" + std::to_string(r.slot) + "](" + r.key + ").";
    // One part of the slot's word (layout.hpp Slot) set to a value that means something else.
    const L::Slot orig{Orig(base, 8)};
    const u64 pick = rng.Below(10);
    L::Slot v = orig;
    std::string sub;
    if (pick < 6) {
      sub = "rec";
      const u64 cand[] = {AnyRecord().off,    r.off + 32,    r.off + 8,       map.off_slots,
                          map.off_arena - 16, map.size - 16, (1ull << 43) - 8};
      v = L::Slot::Make(cand[rng.Below(7)], orig.tag(), orig.psl());
    } else if (pick < 8) {
      sub = "tag";
      v = L::Slot::Make(orig.rec(), orig.tag() ^ (1u + rng.Below(0xfff)), orig.psl());
    } else {
      sub = "psl";
      const u64 cand[] = {0, 3, std::min<u64>(orig.psl() + 1ull, L::kMaxProbe), L::kMaxProbe,
                          map.slots_per_shard & 0xfff};
      v = L::Slot::Make(orig.rec(), orig.tag(), static_cast<u32>(cand[rng.Below(5)]));
    }
    if (v.word == orig.word) v.word ^= 1ull << 60;
    SetInt(base, 8, v.word);
    Label("slots", "Slot." + sub, w + sub + "@" + std::to_string(base),
          Hex(orig.word) + " -> " + Hex(v.word));
  }

  void Dense() {
    const RecordInfo& r = AnyRecord();
    const u64 count = map.shard_counts[r.shard];
    const u64 j = rng.Chance(80) && count > 0 ? rng.Below(count) : rng.Below(map.dense_per_shard);
    const u64 off = map.off_dense + (r.shard * map.dense_per_shard + j) * 8;
    IntField("dense", j < count ? "dense" : "dense(unused)",
             "dense[" + std::to_string(r.shard) + "][" + std::to_string(j) + "]", off, 8, r.off,
             {AnyRecord().off, AnyRecord().off + 1, map.off_slots, 0x7fffffffffffull});
  }

  void Record() {
    const RecordInfo& r = AnyRecord();
    const std::string w = "Record(" + r.key + ")@" + std::to_string(r.off) + ".";
    using R = L::RecordHeader;
    switch (rng.Below(9)) {
      case 0: {  // state bits
        const u64 orig = Orig(r.off, 8);
        const u64 st = rng.Below(3);
        const u64 v = (orig & ~3ull) | (st == 2 ? 3 : st);
        SetInt(r.off, 8, v);
        Label("arena", "Record.state", w + "state", Hex(orig) + " -> " + Hex(v));
        return;
      }
      case 1:
        return IntField("arena", "Record.state_lsn", w + "state_lsn", r.off, 8, 0);
      case 2:
        return IntField("arena", "Record.key_len", w + "key_len", r.off + offsetof(R, key_len), 4,
                        r.value_len, {65535, 1024, 1025});
      case 3:
        return IntField("arena", "Record.value_len", w + "value_len",
                        r.off + offsetof(R, value_len), 4, r.key_len,
                        {100000, 1u << 20, (1u << 20) + 1, r.value_len + 64});
      case 4: {
        const u64 now_ms = 1796000000000ull;
        IntField("arena", "Record.expires_ms", w + "expires_ms", r.off + offsetof(R, expires_ms), 8,
                 now_ms, {1, now_ms + 3600000, 1ull << 63});
        return;
      }
      case 5:
        return IntField("arena", "Record.dense_pos", w + "dense_pos",
                        r.off + offsetof(R, dense_pos), 4, map.shard_counts[r.shard],
                        {map.slots_per_shard, map.dense_per_shard});
      case 6:
        return IntField("arena", "Record.checksum", w + "checksum", r.off + offsetof(R, checksum),
                        4, 0);
      case 7: {
        const u64 at = r.off + 32 + rng.Below(r.key_len);
        SetBytes(at, {static_cast<u8>(img.bytes[at] ^ (1u << rng.Below(8)))});
        Label("arena", "Record.key", w + "key@" + std::to_string(at), "one bit flipped");
        return;
      }
      default: {
        if (r.value_len == 0) return Record();
        const u64 at = r.off + 32 + r.key_len + rng.Below(r.value_len);
        SetBytes(at, {static_cast<u8>(img.bytes[at] ^ (1u << rng.Below(8)))});
        Label("arena", "Record.value", w + "value@" + std::to_string(at), "one bit flipped");
        return;
      }
    }
  }

  // A field of an ordered-index node: its header, an entry, or a separator byte.
  void IndexNode() {
    const IndexNodeInfo& n = map.index_nodes[rng.Below(map.index_nodes.size())];
    using N = L::IndexNodeHeader;
    std::vector<u64> nodes;
    for (int i = 0; i < 3; ++i)
      nodes.push_back(map.index_nodes[rng.Below(map.index_nodes.size())].off);
    const std::string where = "Index" + std::string(n.leaf ? "Leaf" : "Inner");
    const u64 pick = rng.Below(n.count == 0 ? 3 : 10);
    if (pick == 0) {
      IntField("index", where + ".count", where, n.off + offsetof(N, count), 4, n.count);
    } else if (pick == 1) {
      const u64 field = rng.Below(4);
      const char* names[] = {".magic", ".prefix_len", ".next", ".prev"};
      const u64 offs[] = {offsetof(N, magic), offsetof(N, prefix_len), offsetof(N, next),
                          offsetof(N, prev)};
      IntField("index", where + names[field], where, n.off + offs[field], field < 2 ? 4 : 8,
               n.count, nodes);
    } else if (pick == 2) {
      const u64 off = n.off + offsetof(N, prefix) + rng.Below(L::kIndexMaxPrefix);
      SetBytes(off, RandomBytes(1));
      Label("index", where + ".prefix", where + "@" + std::to_string(off), "random byte");
    } else if (n.leaf) {
      const u64 e = n.off + sizeof(N) + rng.Below(n.count) * sizeof(L::IndexLeafEntry);
      if (rng.Chance(50))
        IntField("index", where + ".entry.partial", where, e + offsetof(L::IndexLeafEntry, partial),
                 8, Orig(e + 8, 8));
      else
        IntField("index", where + ".entry.rec", where, e + offsetof(L::IndexLeafEntry, rec), 8,
                 Orig(e, 8), RecordOffsets(3));
    } else if (pick < 9) {
      using E = L::IndexInnerEntry;
      const u64 e = n.off + sizeof(N) + rng.Below(n.count) * sizeof(E);
      const u64 field = rng.Below(5);
      const char* names[] = {".entry.child", ".entry.count", ".entry.partial", ".entry.key_off",
                             ".entry.key_len"};
      const u64 offs[] = {offsetof(E, child), offsetof(E, count), offsetof(E, partial),
                          offsetof(E, key_off), offsetof(E, key_len)};
      IntField("index", where + names[field], where, e + offs[field], field < 3 ? 8 : 4,
               Orig(e + offsetof(E, count), 8), nodes);
    } else {
      const u64 off = n.off + n.bytes - 1 - rng.Below(256);  // the separators, at the end
      SetBytes(off, RandomBytes(1));
      Label("index", where + ".separators", where + "@" + std::to_string(off), "random byte");
    }
  }

  void Random() {
    static const char* kRegions[] = {"header", "processes", "shards", "chunks",
                                     "idents", "slots",     "dense",  "arena"};
    const std::string region = kRegions[rng.Below(std::size(kRegions))];
    u64 lo, hi, off;
    if (region == "header") {
      lo = 0, hi = map.off_processes;
    } else if (region == "processes") {
      lo = map.off_processes, hi = map.off_shards;
    } else if (region == "shards") {
      lo = map.off_shards, hi = map.off_chunks;
    } else if (region == "chunks") {
      lo = map.off_chunks, hi = map.off_idents;
    } else if (region == "idents") {
      lo = map.off_idents, hi = map.off_slots;
    } else if (region == "slots") {
      lo = map.off_slots, hi = map.off_dense;
    } else if (region == "dense") {
      lo = map.off_dense, hi = map.off_arena;
    } else {
      lo = map.off_arena, hi = map.size;
    }
    off = lo + rng.Below(hi - lo);
    // Aim most corruptions at bytes in use: a live record, its slot, its shard or chunk.
    if (rng.Chance(70)) {
      const RecordInfo& r = AnyRecord();
      if (region == "arena") off = r.off + rng.Below(r.end() - r.off);
      if (region == "slots")
        off = map.off_slots + (r.shard * map.slots_per_shard + r.slot) * sizeof(L::Slot) +
              rng.Below(sizeof(L::Slot));
      if (region == "dense" && map.shard_counts[r.shard] > 0)
        off = map.off_dense +
              (r.shard * map.dense_per_shard + rng.Below(map.shard_counts[r.shard])) * 8 +
              rng.Below(8);
      if (region == "shards") off = ShardHeaderOff(r.shard) + rng.Below(map.shard_header_bytes);
      const u64 chunk = (r.off - map.off_arena) / L::kChunkBytes;
      if (region == "chunks")
        off = map.off_chunks + chunk * sizeof(L::ChunkInfo) + rng.Below(sizeof(L::ChunkInfo));
      if (region == "idents") off = map.off_idents + chunk * 8 + rng.Below(8);
    }
    const u64 size_pick = rng.Below(100);
    u64 n = size_pick < 25   ? 1
            : size_pick < 55 ? 1 + rng.Below(8)
            : size_pick < 85 ? 9 + rng.Below(56)
                             : 65 + rng.Below(448);
    n = std::min(n, map.size - off);
    std::vector<u8> bytes;
    const u64 content = rng.Below(10);
    std::string what;
    if (n == 1 && content < 5) {
      bytes = {static_cast<u8>(img.bytes[off] ^ (1u << rng.Below(8)))};
      what = "one bit flipped";
    } else if (content < 6) {
      bytes.assign(n, 0);
      what = std::to_string(n) + " zero bytes";
    } else if (content < 7) {
      bytes.assign(n, 0xff);
      what = std::to_string(n) + " 0xff bytes";
    } else {
      bytes = RandomBytes(n);
      what = std::to_string(n) + " random bytes";
    }
    SetBytes(off, bytes);
    std::string g, w;
    map.Describe(off, &g, &w);
    Label(region, g, w + "@" + std::to_string(off), what);
  }
};

bool ChangesSomething(const std::vector<u8>& clean, const Corruption& c) {
  for (const Patch& p : c.patches)
    for (u64 i = 0; i < p.bytes.size(); ++i)
      if (p.off + i < clean.size() && clean[p.off + i] != p.bytes[i]) return true;
  return false;
}

}  // namespace

u64 IterationSeed(u64 seed, u64 iteration) {
  Rng r(seed * 0x100000001b3ull ^ (iteration + 1) * 0x9e3779b97f4a7c15ull);
  r.Next();
  return r.Next();
}

std::vector<u8> Apply(const std::vector<u8>& clean, const Corruption& c) {
  std::vector<u8> out = clean;
  for (const Patch& p : c.patches)
    for (u64 i = 0; i < p.bytes.size() && p.off + i < out.size(); ++i) out[p.off + i] = p.bytes[i];
  return out;
}

Corruption MakeCorruption(u64 seed, u64 iteration, const Image& image, const LayoutMap& map) {
  Rng rng(IterationSeed(seed, iteration));
  for (int attempt = 0;; ++attempt) {
    Builder b{image, map, rng, {}};
    if (rng.Chance(50) && attempt < 20) {
      b.c.kind = "targeted";
      const u64 pick = rng.Below(100);
      if (pick < 18)
        b.Header();
      else if (pick < 23)
        b.Process();
      else if (pick < 45)
        b.Shard();
      else if (pick < 55)
        b.Chunk();
      else if (pick < 60)
        b.Ident();
      else if (pick < 75)
        b.SlotField();
      else if (pick < 82)
        b.Dense();
      else if (pick < 90 && !map.index_nodes.empty())
        b.IndexNode();
      else
        b.Record();
    } else {
      b.c.kind = "random";
      b.Random();
    }
    if (!ChangesSomething(image.bytes, b.c)) continue;
    // Keys whose expiry bytes changed.
    for (const Patch& p : b.c.patches) {
      for (u64 i = 0; i < p.bytes.size(); ++i) {
        const u64 off = p.off + i;
        if (off >= image.bytes.size() || image.bytes[off] == p.bytes[i]) continue;
        if (const RecordInfo* r = map.RecordContaining(off)) {
          const u64 rel = off - r->off;
          if (rel >= offsetof(L::RecordHeader, expires_ms) &&
              rel < offsetof(L::RecordHeader, expires_ms) + 8)
            b.c.excused.insert(r->key);
        }
      }
    }
    return b.c;
  }
}

}  // namespace fuzz
