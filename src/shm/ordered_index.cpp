// ordered_index.cpp: the ordered index's B+tree (see ordered_index.hpp for the contract).
//
// Node layout (a node is a whole chunk span; header 64 bytes):
//   leaf:  [NodeHeader: magic, count, prefix_len, next, prev, prefix[32]][LeafEntry x count]
//          LeafEntry {partial, rec}: partial holds key bytes [prefix_len, prefix_len + 8) as a
//          big-endian number, zero padded; every key in the leaf starts with the leaf's prefix.
//          Two partials that differ order their keys; equal ones are settled by the records.
//   inner: [NodeHeader: magic, count, prefix_len, prefix[32]][InnerEntry x count] ...
//          separator bytes at the end, below each other (a rewrite packs them; a child added
//          in place puts its separator below the lowest, one dropped in place leaves a hole
//          until the next rewrite). InnerEntry {child, count (entries below it), partial,
//          key_off, key_len}: child i holds the keys from separator i (entry 0 has none) up to
//          separator i + 1. Every separator starts with the node's prefix; partial is its next
//          8 bytes, as in a leaf, so a search reads separator bytes only on a tie.
// Every node offset, count, separator and record offset read here goes through Node, Sep or
// Rec, which check it and throw corrupted (the public wrappers then mark the index stale).
#include "shm/ordered_index.hpp"

#include <time.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "os/crashpoint.hpp"
#include "os/throw.hpp"
#include "shm/allocator.hpp"
#include "shm/robust_mutex.hpp"
#include "shm/shard.hpp"
#include "shm/shard_ref.hpp"

namespace shmkv::detail {

namespace {

constexpr std::uint32_t kLeafMagic = kIndexLeafMagic;
constexpr std::uint32_t kInnerMagic = kIndexInnerMagic;
constexpr std::uint32_t kMaxPrefix = kIndexMaxPrefix;
constexpr std::uint32_t kMaxHeight = 24;
constexpr std::uint32_t kSpareInner = sizeof(IndexHeader::spare_inner) / sizeof(std::uint64_t);

using NodeHeader = IndexNodeHeader;
using LeafEntry = IndexLeafEntry;
using InnerEntry = IndexInnerEntry;
constexpr std::uint64_t kNodeHeaderBytes = sizeof(NodeHeader);
static_assert(kNodeHeaderBytes == 64 && sizeof(LeafEntry) == 16 && sizeof(InnerEntry) == 32);
constexpr std::uint32_t kLeafCapacity = (kChunkBytes - kNodeHeaderBytes) / sizeof(LeafEntry);
constexpr std::uint32_t kLeafMergeBelow = kLeafCapacity / 4;

LeafEntry* Entries(NodeHeader* n) {
  return reinterpret_cast<LeafEntry*>(n + 1);
}
InnerEntry* Children(NodeHeader* n) {
  return reinterpret_cast<InnerEntry*>(n + 1);
}

std::size_t CommonPrefix(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// Key bytes [p, p + 8) as a big-endian number, zero padded.
std::uint64_t Partial(std::string_view key, std::uint32_t p) {
  unsigned char b[8] = {};
  if (key.size() > p) std::memcpy(b, key.data() + p, std::min<std::size_t>(8, key.size() - p));
  std::uint64_t v;
  std::memcpy(&v, b, 8);
  return __builtin_bswap64(v);
}

std::uint64_t NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000 + std::uint64_t(ts.tv_nsec) / 1000;
}

struct InnerItem {
  std::uint64_t child;
  std::uint64_t count;
  std::string sep;  // empty for item 0
};

// The first of the n entries from e whose partial is not below kp (above kp when `above`), n
// when none is. Branch-free: each halving picks its half with a conditional move, so the search
// pays no mispredicted branch (a random key's would, at half its halvings), only its loads.
// For inner nodes, whose lines stay cached: in a cold leaf a branching search is faster, as
// the CPU runs ahead on a predicted path and its loads start early.
template <class Entry>
std::uint32_t PartialBound(const Entry* e, std::uint32_t n, std::uint64_t kp, bool above) {
  if (above && kp == ~std::uint64_t{0}) return n;    // no partial is above the largest
  const std::uint64_t limit = kp + (above ? 1 : 0);  // the first partial not below it
  if (n == 0) return 0;
  const Entry* base = e;
  while (n > 1) {
    const std::uint32_t half = n / 2;
    base = base[half].partial < limit ? base + half : base;
    n -= half;
  }
  return static_cast<std::uint32_t>(base - e) + (base->partial < limit ? 1 : 0);
}

// The shortest prefix of `right` that sorts above `left` (left < right): the separator of two
// neighbouring nodes.
std::string Separator(std::string_view left, std::string_view right) {
  return std::string(right.substr(0, CommonPrefix(left, right) + 1));
}

}  // namespace

std::uint32_t IndexInnerChunks(std::uint32_t max_key_bytes) {
  const std::uint64_t bytes =
      kNodeHeaderBytes + 4 * (sizeof(InnerEntry) + std::uint64_t(max_key_bytes));
  return static_cast<std::uint32_t>((bytes + kChunkBytes - 1) / kChunkBytes);
}

// The tree's code, on the index's segment, under the index lock.
class IndexTree {
 public:
  explicit IndexTree(const OrderedIndex& index)
      : seg_(index.seg_),
        h_(index.h_),
        g_(seg_->geo()),
        owner_(IndexOwner(*seg_)),
        inner_chunks_(g_.index_inner_chunks),
        inner_bytes_(std::uint64_t(inner_chunks_) * kChunkBytes) {}

  // --- checked access
  [[noreturn, gnu::cold]] void Bad(const char* what, std::uint64_t value, const char* why) const {
    throw IndexDamaged(errc::corrupted, "segment '" + seg_->name() + "': ordered index " + what +
                                            " " + std::to_string(value) + " " + why);
  }
  // That off starts a leaf's chunk or an inner node's chunks (its ident says so). `what` names
  // the field it was read from.
  void CheckNodeChunks(std::uint64_t off, bool leaf, const char* what) const {
    if (off < g_.off_arena || off >= g_.arena_end || (off - g_.off_arena) % kChunkBytes != 0)
      Bad(what, off, "is not the start of an arena chunk");
    const std::uint64_t c = (off - g_.off_arena) / kChunkBytes;
    const std::uint32_t span = leaf ? 1 : inner_chunks_;
    if (c + span > g_.chunk_count ||
        seg_->ident(c)->load(std::memory_order_relaxed) !=
            MakeIdent(owner_, kClassIndexNode, static_cast<std::uint16_t>(span)))
      Bad(what, off, leaf ? "is not a leaf node's chunk" : "is not an inner node's chunks");
  }
  NodeHeader* Node(std::uint64_t off, bool leaf) const {
    CheckNodeChunks(off, leaf, "node offset");
    auto* n = seg_->At<NodeHeader>(off);
    if (n->magic != (leaf ? kLeafMagic : kInnerMagic))
      Bad("node at offset", off, leaf ? "has no leaf header" : "has no inner-node header");
    if (n->prefix_len > kMaxPrefix ||
        (leaf ? n->count > kLeafCapacity
              : (n->count == 0 ||
                 kNodeHeaderBytes + std::uint64_t(n->count) * sizeof(InnerEntry) > inner_bytes_)))
      Bad("node at offset", off, "holds an entry count or prefix length its node cannot");
    return n;
  }
  std::string_view Sep(NodeHeader* n, std::uint32_t i) const {
    const InnerEntry& e = Children(n)[i];
    const std::uint64_t heap = kNodeHeaderBytes + std::uint64_t(n->count) * sizeof(InnerEntry);
    if (e.key_len == 0 || e.key_len > g_.max_key_bytes || e.key_off < heap ||
        std::uint64_t(e.key_off) + e.key_len > inner_bytes_)
      Bad("separator offset", e.key_off, "lies outside its inner node's separator area");
    return {reinterpret_cast<const char*>(n) + e.key_off, e.key_len};
  }
  RecordRef Rec(std::uint64_t off) const {
    if (off < g_.off_arena || off >= g_.arena_end)
      Bad("record offset", off, "is outside the arena");
    const std::uint64_t ident =
        seg_->ident((off - g_.off_arena) / kChunkBytes)->load(std::memory_order_relaxed);
    const std::uint32_t shard = IdentOwner(ident);
    if (ident == 0 || shard >= g_.shard_count)
      Bad("record offset", off, "is not in a shard's chunk");
    RecordRef r;
    if (const char* why = seg_->TryRecord(off, shard, &r)) Bad("record offset", off, why);
    return r;
  }
  std::string_view KeyOf(const LeafEntry& e) const { return Rec(e.rec).key(); }

  // --- node making
  std::uint64_t NewNode(bool leaf) {
    std::uint64_t off = TakeSpare(leaf);
    if (off == 0) {
      off = AllocIndexNode(*seg_, leaf ? 1 : inner_chunks_);
      if (off == 0)
        Throw(errc::store_full,
              "segment '" + seg_->name() + "': no room for an ordered index node");
      h_->nodes += leaf ? 1 : inner_chunks_;
    }
    auto* n = seg_->At<NodeHeader>(off);
    std::memset(static_cast<void*>(n), 0, kNodeHeaderBytes);
    n->magic = leaf ? kLeafMagic : kInnerMagic;
    return off;
  }
  // A node allocated ahead (IndexHeader::spare_*), checked to be one; 0 when none is left.
  std::uint64_t TakeSpare(bool leaf) {
    std::uint32_t& count = leaf ? h_->spare_leaf_count : h_->spare_inner_count;
    if (count == 0) return 0;
    if (count > (leaf ? 1 : kSpareInner)) Bad("spare node count", count, "is above its array's");
    const std::uint64_t off = leaf ? h_->spare_leaf : h_->spare_inner[count - 1];
    --count;
    CheckNodeChunks(off, leaf, "spare node offset");
    return off;
  }
  // Allocates spare nodes up to what the next insert may take. False when the arena is full.
  bool Refill() {
    while (h_->spare_leaf_count < 1) {
      const std::uint64_t off = AllocIndexNode(*seg_, 1);
      if (off == 0) return false;
      h_->nodes += 1;
      h_->spare_leaf = off;
      ++h_->spare_leaf_count;
    }
    const std::uint32_t want = std::min<std::uint32_t>(h_->height + 1, kSpareInner);
    while (h_->spare_inner_count < want) {
      const std::uint64_t off = AllocIndexNode(*seg_, inner_chunks_);
      if (off == 0) return false;
      h_->nodes += inner_chunks_;
      h_->spare_inner[h_->spare_inner_count++] = off;
    }
    return true;
  }
  void FreeNode(std::uint64_t off, bool leaf) {
    seg_->At<NodeHeader>(off)->magic = 0;
    FreeChunks(*seg_, {(off - g_.off_arena) / kChunkBytes});
    h_->nodes -= leaf ? 1 : inner_chunks_;
  }

  // --- leaves
  // Whether key starts with n's prefix (< 0: sorts below every key of n, > 0: above).
  static int ComparePrefix(const NodeHeader* n, std::string_view key) {
    const std::size_t m = std::min<std::size_t>(key.size(), n->prefix_len);
    const int c = std::memcmp(key.data(), n->prefix, m);
    if (c != 0) return c;
    return key.size() < n->prefix_len ? -1 : 0;
  }
  // Entries of leaf n below key; *equal tells whether the entry there has the key.
  std::uint32_t LowerBound(NodeHeader* n, std::string_view key, bool* equal) const {
    *equal = false;
    const int pc = ComparePrefix(n, key);
    if (pc != 0) return pc < 0 ? 0 : n->count;
    const std::uint64_t kp = Partial(key, n->prefix_len);
    LeafEntry* e = Entries(n);
    std::uint32_t lo = 0, hi = n->count;
    while (lo < hi) {
      const std::uint32_t mid = (lo + hi) / 2;
      int c;
      if (e[mid].partial != kp)
        c = e[mid].partial < kp ? -1 : 1;
      else
        c = KeyOf(e[mid]).compare(key);
      if (c < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
        if (c == 0) *equal = true;
      }
    }
    return lo;
  }
  // Makes n's prefix its first p bytes (p <= prefix_len), rewriting the partials from the
  // prefix bytes dropped: no record is read.
  static void ShrinkPrefix(NodeHeader* n, std::uint32_t p) {
    const std::uint32_t drop = n->prefix_len - p;
    if (drop == 0) return;
    std::uint64_t head = 0;  // prefix bytes [p, p + min(drop, 8)) at the top
    for (std::uint32_t i = 0; i < 8; ++i) head = head << 8 | (i < drop ? n->prefix[p + i] : 0);
    LeafEntry* e = Entries(n);
    for (std::uint32_t i = 0; i < n->count; ++i)
      e[i].partial = drop >= 8 ? head : head | (e[i].partial >> (8 * drop));
    n->prefix_len = p;
  }
  // Recomputes n's prefix as the common prefix of its first and last keys (at most kMaxPrefix)
  // and, when it grew by kTightenFrom bytes or more, every partial from the records. A smaller
  // growth is left: the partials keep five or more bytes that tell the keys apart, and reading
  // every record of a half-leaf (two thirds of a split's time before) is not worth it.
  static constexpr std::uint32_t kTightenFrom = 4;
  void TightenPrefix(NodeHeader* n) const {
    if (n->count == 0) return;
    LeafEntry* e = Entries(n);
    const std::string_view first = KeyOf(e[0]), last = KeyOf(e[n->count - 1]);
    const auto p =
        static_cast<std::uint32_t>(std::min<std::size_t>(CommonPrefix(first, last), kMaxPrefix));
    if (p < n->prefix_len + kTightenFrom) return;
    for (std::uint32_t i = 0; i < n->count; ++i) PrefetchRecordLine(e[i].rec);
    for (std::uint32_t i = 0; i < n->count; ++i) e[i].partial = Partial(KeyOf(e[i]), p);
    std::memcpy(n->prefix, first.data(), p);
    n->prefix_len = p;
  }
  void PrefetchRecordLine(std::uint64_t off) const {
    if (off >= g_.off_arena && off < g_.arena_end) __builtin_prefetch(seg_->base() + off);
  }

  // --- inner nodes
  std::uint32_t ChildFor(NodeHeader* n, std::string_view key) const {
    const int pc = ComparePrefix(n, key);
    if (pc != 0) return pc < 0 ? 0 : n->count - 1;  // below or above every separator
    const std::uint64_t kp = Partial(key, n->prefix_len);
    const InnerEntry* e = Children(n);
    // The first separator above key (entry 0 has none). Separators whose partial equals the
    // key's are ordered by their bytes: halve among them.
    std::uint32_t lo = 1 + PartialBound(e + 1, n->count - 1, kp, false);
    if (lo == n->count || e[lo].partial != kp) return lo - 1;
    std::uint32_t hi = lo + PartialBound(e + lo, n->count - lo, kp, true);
    while (lo < hi) {
      const std::uint32_t mid = (lo + hi) / 2;
      if (Sep(n, mid) <= key)
        lo = mid + 1;
      else
        hi = mid;
    }
    return lo - 1;
  }
  std::vector<InnerItem> ReadInner(NodeHeader* n) const {
    std::vector<InnerItem> items(n->count);
    for (std::uint32_t i = 0; i < n->count; ++i) {
      items[i].child = Children(n)[i].child;
      items[i].count = Children(n)[i].count;
      if (i > 0) items[i].sep = std::string(Sep(n, i));
    }
    return items;
  }
  // Where n's separators begin: the lowest separator offset (each checked by Sep), or the
  // node's end when it has none.
  std::uint64_t SeparatorsStart(NodeHeader* n) const {
    std::uint64_t start = inner_bytes_;
    for (std::uint32_t i = 1; i < n->count; ++i) {
      const std::string_view sep = Sep(n, i);
      start =
          std::min<std::uint64_t>(start, std::uint64_t(sep.data() - reinterpret_cast<char*>(n)));
    }
    return start;
  }
  // Inserts child `at` (at >= 1) with separator sep into n where it stands, when sep starts
  // with n's prefix and the gap between the entries and the separators takes one more of each:
  // a split's new child, without rewriting the node. left_count: the new count of child at - 1.
  // False, changing nothing, otherwise (the caller rewrites the node, which also packs away the
  // bytes of separators dropped in place).
  bool InsertChildInPlace(NodeHeader* n, std::uint32_t at, std::uint64_t child, std::uint64_t count,
                          std::string_view sep, std::uint64_t left_count) const {
    if (at == 0 || at > n->count || ComparePrefix(n, sep) != 0) return false;
    const std::uint64_t start = SeparatorsStart(n);
    const std::uint64_t entries_end =
        kNodeHeaderBytes + std::uint64_t(n->count + 1) * sizeof(InnerEntry);
    if (entries_end + sep.size() > start) return false;
    const std::uint64_t sep_off = start - sep.size();
    std::memcpy(reinterpret_cast<char*>(n) + sep_off, sep.data(), sep.size());
    InnerEntry* e = Children(n);
    std::memmove(static_cast<void*>(e + at + 1), e + at, (n->count - at) * sizeof(InnerEntry));
    e[at] = {child, count, Partial(sep, n->prefix_len), static_cast<std::uint32_t>(sep_off),
             static_cast<std::uint32_t>(sep.size())};
    e[at - 1].count = left_count;
    ++n->count;
    SHMKV_CRASH_POINT("index.inner_written");
    return true;
  }
  // Drops child `at` from n where it stands (n keeps one child or more), its separator's bytes
  // left unused until the node is next rewritten; child 0's successor loses its separator.
  void EraseChildInPlace(NodeHeader* n, std::uint32_t at) const {
    InnerEntry* e = Children(n);
    std::memmove(static_cast<void*>(e + at), e + at + 1, (n->count - at - 1) * sizeof(InnerEntry));
    --n->count;
    if (at == 0) {
      e[0].partial = 0;
      e[0].key_off = static_cast<std::uint32_t>(inner_bytes_);
      e[0].key_len = 0;
    }
    SHMKV_CRASH_POINT("index.inner_written");
  }
  static std::uint64_t InnerBytes(const std::vector<InnerItem>& items, std::size_t from,
                                  std::size_t to) {
    std::uint64_t bytes = kNodeHeaderBytes + (to - from) * sizeof(InnerEntry);
    for (std::size_t i = from + 1; i < to; ++i) bytes += items[i].sep.size();
    return bytes;
  }
  void WriteInner(std::uint64_t off, const std::vector<InnerItem>& items, std::size_t from,
                  std::size_t to) const {
    auto* n = seg_->At<NodeHeader>(off);
    auto* bytes = reinterpret_cast<char*>(n);
    std::uint64_t heap = inner_bytes_;
    n->count = static_cast<std::uint32_t>(to - from);
    std::string_view prefix;  // the separators' common prefix (none with one child)
    if (to - from > 1) {
      prefix = items[from + 1].sep;
      for (std::size_t i = from + 2; i < to; ++i)
        prefix = prefix.substr(0, CommonPrefix(prefix, items[i].sep));
      prefix = prefix.substr(0, kMaxPrefix);
    }
    n->prefix_len = static_cast<std::uint32_t>(prefix.size());
    if (!prefix.empty())
      std::memcpy(n->prefix, prefix.data(), prefix.size());  // data() may be null
    for (std::size_t i = from; i < to; ++i) {
      InnerEntry& e = Children(n)[i - from];
      e.child = items[i].child;
      e.count = items[i].count;
      const std::string& sep = i == from ? std::string() : items[i].sep;
      heap -= sep.size();
      std::memcpy(bytes + heap, sep.data(), sep.size());
      e.key_off = static_cast<std::uint32_t>(heap);
      e.key_len = static_cast<std::uint32_t>(sep.size());
      e.partial = Partial(sep, n->prefix_len);
    }
    SHMKV_CRASH_POINT("index.inner_written");
  }
  static std::uint64_t Sum(const std::vector<InnerItem>& items, std::size_t from, std::size_t to) {
    std::uint64_t s = 0;
    for (std::size_t i = from; i < to; ++i) s += items[i].count;
    return s;
  }

  // --- descent
  struct Step {
    std::uint64_t node;
    std::uint32_t child;
  };
  struct Path {
    Step steps[kMaxHeight];
    std::uint32_t depth = 0;  // inner levels passed
    std::uint64_t leaf = 0;
  };
  std::uint32_t Height() const {
    const std::uint32_t height = h_->height;
    if (height > kMaxHeight || (height == 0) != (h_->root == 0))
      Bad("height", height, "does not fit the tree's root");
    return height;
  }
  Path Descend(std::string_view key) const {
    Path p;
    std::uint64_t node = h_->root;
    for (std::uint32_t level = Height(); level > 1; --level) {
      NodeHeader* n = Node(node, false);
      const std::uint32_t i = ChildFor(n, key);
      p.steps[p.depth++] = {node, i};
      node = Children(n)[i].child;
    }
    p.leaf = node;
    return p;
  }
  // Asks for the cache lines of key's leaf that its search reads first: its chunk's ident, its
  // header and every 32nd entry (the first three halvings of a full leaf's binary search; more
  // prefetches than the core has line fill buffers stall it).
  void PrefetchLeaf(std::string_view key) const {
    if (h_->root == 0) return;
    const std::uint64_t leaf = Descend(key).leaf;
    if (leaf < g_.off_arena || leaf >= g_.arena_end) return;  // Node() reports it
    PrefetchLine(seg_->ident((leaf - g_.off_arena) / kChunkBytes));
    const std::uint8_t* node = seg_->base() + leaf;
    for (std::uint64_t at = 0; at < kChunkBytes; at += 32 * sizeof(LeafEntry))
      PrefetchLine(node + at);
  }
  void AddToPath(const Path& p, std::uint32_t depth, std::int64_t delta) const {
    for (std::uint32_t d = 0; d < depth; ++d)
      Children(Node(p.steps[d].node, false))[p.steps[d].child].count += delta;
  }

  // --- maintenance
  void Insert(std::string_view key, std::uint64_t rec) {
    if (h_->root == 0) {
      const std::uint64_t off = NewNode(true);
      NodeHeader* n = seg_->At<NodeHeader>(off);
      n->prefix_len = static_cast<std::uint32_t>(std::min<std::size_t>(key.size(), kMaxPrefix));
      std::memcpy(n->prefix, key.data(), n->prefix_len);
      Entries(n)[0] = {Partial(key, n->prefix_len), rec};
      n->count = 1;
      h_->root = off;
      h_->height = 1;
      h_->entries = 1;
      SHMKV_CRASH_POINT("index.root_made");
      return;
    }
    Path p = Descend(key);
    NodeHeader* leaf = Node(p.leaf, true);
    if (ComparePrefix(leaf, key) != 0)
      ShrinkPrefix(leaf,
                   static_cast<std::uint32_t>(CommonPrefix(
                       key, {reinterpret_cast<const char*>(leaf->prefix), leaf->prefix_len})));
    bool equal;
    const std::uint32_t pos = LowerBound(leaf, key, &equal);
    if (equal) Bad("leaf at offset", p.leaf, "already holds the key being inserted");
    const LeafEntry entry{Partial(key, leaf->prefix_len), rec};
    LeafEntry* e = Entries(leaf);
    if (leaf->count < kLeafCapacity) {
      std::memmove(e + pos + 1, e + pos, (leaf->count - pos) * sizeof(LeafEntry));
      e[pos] = entry;
      ++leaf->count;
      SHMKV_CRASH_POINT("index.leaf_inserted");
      AddToPath(p, p.depth, 1);
      ++h_->entries;
      return;
    }
    // Full: split. Appending at the end (keys arriving in order) leaves the old leaf 90 % full
    // and moves the rest to a new one, instead of two half-empty ones; the room left takes
    // later inserts among those keys without a split each.
    std::vector<LeafEntry> all(e, e + leaf->count);
    all.insert(all.begin() + pos, entry);
    const std::size_t m = pos == leaf->count ? leaf->count * 9 / 10 : all.size() / 2;
    std::string sep = Separator(KeyOf(all[m - 1]), KeyOf(all[m]));
    const std::uint64_t right_off = NewNode(true);
    NodeHeader* right = seg_->At<NodeHeader>(right_off);
    right->prefix_len = leaf->prefix_len;
    std::memcpy(right->prefix, leaf->prefix, kMaxPrefix);
    std::copy(all.begin() + m, all.end(), Entries(right));
    right->count = static_cast<std::uint32_t>(all.size() - m);
    std::copy(all.begin(), all.begin() + m, e);
    leaf->count = static_cast<std::uint32_t>(m);
    TightenPrefix(leaf);
    TightenPrefix(right);
    right->next = leaf->next;
    right->prev = p.leaf;
    if (leaf->next) Node(leaf->next, true)->prev = right_off;
    leaf->next = right_off;
    SHMKV_CRASH_POINT("index.leaf_split");
    ++h_->entries;
    AddChild(p, std::move(sep), right_off, leaf->count, right->count, true);
  }

  // After the node at p's level `depth` (the leaf when depth == p.depth) was split in two, the
  // left half keeping its place: inserts the right half into the parents, splitting them in
  // turn, and adds the new entry to the counts above. left/right: the halves' entry counts.
  void AddChild(const Path& p, std::string sep, std::uint64_t right_off, std::uint64_t left_count,
                std::uint64_t right_count, bool right_is_leaf) {
    std::uint64_t left_off = right_is_leaf ? p.leaf : 0;
    for (std::uint32_t d = p.depth; d-- > 0;) {
      const Step s = p.steps[d];
      if (InsertChildInPlace(Node(s.node, false), s.child + 1, right_off, right_count, sep,
                             left_count)) {
        AddToPath(p, d, 1);
        return;
      }
      std::vector<InnerItem> items = ReadInner(Node(s.node, false));
      items[s.child].count = left_count;
      items.insert(items.begin() + s.child + 1, InnerItem{right_off, right_count, std::move(sep)});
      if (InnerBytes(items, 0, items.size()) <= inner_bytes_) {
        WriteInner(s.node, items, 0, items.size());
        AddToPath(p, d, 1);
        return;
      }
      // Split at the middle by bytes; separator k moves up.
      std::size_t k = 1;
      const std::uint64_t half = InnerBytes(items, 0, items.size()) / 2;
      while (k + 2 < items.size() && InnerBytes(items, 0, k + 1) < half) ++k;
      const std::uint64_t new_off = NewNode(false);
      sep = items[k].sep;
      WriteInner(s.node, items, 0, k);
      WriteInner(new_off, items, k, items.size());
      left_count = Sum(items, 0, k);
      right_count = Sum(items, k, items.size());
      left_off = s.node;
      right_off = new_off;
    }
    // The root split: a new root above the two halves.
    const std::uint64_t root = NewNode(false);
    std::vector<InnerItem> items{{left_off, left_count, {}}, {right_off, right_count, sep}};
    WriteInner(root, items, 0, 2);
    h_->root = root;
    ++h_->height;
    SHMKV_CRASH_POINT("index.root_grown");
  }

  // The leaf entry of key, which must lead to rec.
  std::uint32_t FindExact(const Path& p, NodeHeader* leaf, std::string_view key,
                          std::uint64_t rec) const {
    bool equal;
    const std::uint32_t pos = LowerBound(leaf, key, &equal);
    if (!equal || Entries(leaf)[pos].rec != rec)
      Bad("leaf at offset", p.leaf, "does not hold the record being removed or moved");
    return pos;
  }

  void Relocate(std::string_view key, std::uint64_t old_off, std::uint64_t new_off) {
    const Path p = Descend(key);
    NodeHeader* leaf = Node(p.leaf, true);
    Entries(leaf)[FindExact(p, leaf, key, old_off)].rec = new_off;
    SHMKV_CRASH_POINT("index.relocated");
  }

  void Erase(std::string_view key, std::uint64_t rec) {
    const Path p = Descend(key);
    NodeHeader* leaf = Node(p.leaf, true);
    const std::uint32_t pos = FindExact(p, leaf, key, rec);
    LeafEntry* e = Entries(leaf);
    std::memmove(e + pos, e + pos + 1, (leaf->count - pos - 1) * sizeof(LeafEntry));
    --leaf->count;
    SHMKV_CRASH_POINT("index.leaf_erased");
    AddToPath(p, p.depth, -1);
    --h_->entries;
    if (leaf->count == 0) {
      RemoveLeaf(p);
    } else if (leaf->count < kLeafMergeBelow && p.depth > 0) {
      MergeWithSibling(p);
    }
  }

  void Unchain(NodeHeader* leaf) const {
    if (leaf->prev) Node(leaf->prev, true)->next = leaf->next;
    if (leaf->next) Node(leaf->next, true)->prev = leaf->prev;
  }

  // Frees the empty leaf at the end of p and every inner node left without children.
  void RemoveLeaf(const Path& p) {
    Unchain(Node(p.leaf, true));
    FreeNode(p.leaf, true);
    SHMKV_CRASH_POINT("index.leaf_freed");
    for (std::uint32_t d = p.depth; d-- > 0;) {
      const Step s = p.steps[d];
      NodeHeader* n = Node(s.node, false);
      if (n->count > 1) {
        EraseChildInPlace(n, s.child);
        CollapseRoot();
        return;
      }
      FreeNode(s.node, false);
    }
    h_->root = 0;
    h_->height = 0;
    SHMKV_CRASH_POINT("index.emptied");
  }

  // While the root is an inner node with one child, that child becomes the root.
  void CollapseRoot() {
    while (h_->height > 1) {
      NodeHeader* root = Node(h_->root, false);
      if (root->count != 1) return;
      const std::uint64_t child = Children(root)[0].child;
      FreeNode(h_->root, false);
      h_->root = child;
      --h_->height;
      SHMKV_CRASH_POINT("index.root_collapsed");
    }
  }

  // The leaf at the end of p fell below a quarter full: merges it with a neighbour under the
  // same parent when the two fit in three quarters of a leaf.
  void MergeWithSibling(const Path& p) {
    const Step s = p.steps[p.depth - 1];
    NodeHeader* parent = Node(s.node, false);
    if (parent->count < 2) return;
    const std::uint32_t j = s.child + 1 < parent->count ? s.child : s.child - 1;
    const std::uint64_t left_off = Children(parent)[j].child;
    const std::uint64_t right_off = Children(parent)[j + 1].child;
    NodeHeader* left = Node(left_off, true);
    NodeHeader* right = Node(right_off, true);
    if (left->count + right->count > kLeafCapacity * 3 / 4 || left->next != right_off) return;
    const auto common = static_cast<std::uint32_t>(
        CommonPrefix({reinterpret_cast<const char*>(left->prefix), left->prefix_len},
                     {reinterpret_cast<const char*>(right->prefix), right->prefix_len}));
    ShrinkPrefix(left, common);
    ShrinkPrefix(right, common);
    std::memcpy(Entries(left) + left->count, Entries(right), right->count * sizeof(LeafEntry));
    left->count += right->count;
    Unchain(right);
    FreeNode(right_off, true);
    SHMKV_CRASH_POINT("index.leaves_merged");
    Children(parent)[j].count += Children(parent)[j + 1].count;
    EraseChildInPlace(parent, j + 1);
    CollapseRoot();
  }

  // --- readers
  std::uint64_t Rank(std::string_view key) const {
    if (h_->root == 0) return 0;
    const Path p = Descend(key);
    bool equal;
    std::uint64_t rank = 0;  // entries in the subtrees left of the path (only readers need it)
    for (std::uint32_t d = 0; d < p.depth; ++d) {
      const InnerEntry* children = Children(Node(p.steps[d].node, false));
      for (std::uint32_t j = 0; j < p.steps[d].child; ++j) rank += children[j].count;
    }
    return rank + LowerBound(Node(p.leaf, true), key, &equal);
  }
  IndexCursor Seek(std::uint64_t rank) const {
    std::uint64_t node = h_->root;
    for (std::uint32_t level = Height(); level > 1; --level) {
      NodeHeader* n = Node(node, false);
      std::uint32_t i = 0;
      while (i + 1 < n->count && rank >= Children(n)[i].count) rank -= Children(n)[i++].count;
      node = Children(n)[i].child;
    }
    NodeHeader* leaf = Node(node, true);
    if (rank >= leaf->count) Bad("subtree count above leaf", node, "exceeds the leaf's entries");
    return {node, static_cast<std::uint32_t>(rank)};
  }
  RecordRef RecordAt(const IndexCursor& c) const {
    NodeHeader* leaf = Node(c.leaf, true);
    if (c.pos >= leaf->count) Bad("cursor position", c.pos, "is past its leaf's entries");
    const LeafEntry& e = Entries(leaf)[c.pos];
    const RecordRef r = Rec(e.rec);
    // What a reader returns must be the record the entry was made for: its key bytes agree
    // with the leaf's prefix and the entry's partial key (a damaged entry is rebuilt, not read).
    if (ComparePrefix(leaf, r.key()) != 0 || Partial(r.key(), leaf->prefix_len) != e.partial)
      Bad("leaf entry at offset", c.leaf + kNodeHeaderBytes + c.pos * sizeof(LeafEntry),
          "leads to a record whose key does not match it");
    return r;
  }
  bool Next(IndexCursor* c) const {
    NodeHeader* leaf = Node(c->leaf, true);
    if (c->pos + 1 < leaf->count) {
      ++c->pos;
      return true;
    }
    if (leaf->next == 0) return false;
    if (Node(leaf->next, true)->count == 0) Bad("leaf", leaf->next, "is empty");
    *c = {leaf->next, 0};
    return true;
  }

  // --- whole tree
  void FreeAll() {
    std::vector<std::uint64_t> heads;
    for (std::uint64_t c = 0; c < g_.chunk_count; ++c) {
      const std::uint64_t ident = seg_->ident(c)->load(std::memory_order_relaxed);
      if (ident != 0 && IdentOwner(ident) == owner_ && IdentClass(ident) == kClassIndexNode)
        heads.push_back(c);
    }
    FreeChunks(*seg_, heads);
    h_->spare_leaf_count = h_->spare_inner_count = 0;
    h_->root = 0;
    h_->height = 0;
    h_->entries = 0;
    h_->nodes = 0;
  }

  struct SortItem {
    std::uint64_t head0, head1;  // key bytes 0..15, big-endian: most comparisons end here
    std::string_view key;
    std::uint64_t rec;
  };
  // Builds the tree bottom-up from records sorted by key (the caller freed the old one).
  // fill: of a leaf's entries and an inner node's bytes, in percent.
  void Build(const std::vector<SortItem>& sorted, std::uint32_t fill) {
    const std::size_t per_leaf = std::max<std::size_t>(1, kLeafCapacity * fill / 100);
    struct Built {
      std::uint64_t off, count;
      std::string sep;  // separator before it (empty for the first)
    };
    std::vector<Built> level;
    std::uint64_t prev_leaf = 0;
    for (std::size_t begin = 0; begin < sorted.size(); begin += per_leaf) {
      const std::size_t end = std::min(sorted.size(), begin + per_leaf);
      const std::uint64_t off = NewNode(true);
      NodeHeader* n = seg_->At<NodeHeader>(off);
      const auto p = static_cast<std::uint32_t>(
          std::min<std::size_t>(CommonPrefix(sorted[begin].key, sorted[end - 1].key), kMaxPrefix));
      n->prefix_len = p;
      std::memcpy(n->prefix, sorted[begin].key.data(), p);
      for (std::size_t i = begin; i < end; ++i)
        Entries(n)[i - begin] = {Partial(sorted[i].key, p), sorted[i].rec};
      n->count = static_cast<std::uint32_t>(end - begin);
      n->prev = prev_leaf;
      if (prev_leaf) seg_->At<NodeHeader>(prev_leaf)->next = off;
      prev_leaf = off;
      level.push_back(
          {off, end - begin,
           begin == 0 ? std::string() : Separator(sorted[begin - 1].key, sorted[begin].key)});
    }
    std::uint32_t height = level.empty() ? 0 : 1;
    while (level.size() > 1) {
      std::vector<Built> up;
      std::vector<InnerItem> items;
      for (Built& b : level) items.push_back({b.off, b.count, std::move(b.sep)});
      std::size_t begin = 0;
      while (begin < items.size()) {
        std::size_t end = begin + 1;
        while (end < items.size() && InnerBytes(items, begin, end + 1) <= inner_bytes_ * fill / 100)
          ++end;
        if (items.size() - end == 1) --end;  // never leave one child alone at the end
        if (end == begin) end = begin + 1;
        const std::uint64_t off = NewNode(false);
        WriteInner(off, items, begin, end);
        up.push_back({off, Sum(items, begin, end), items[begin].sep});
        begin = end;
      }
      level = std::move(up);
      ++height;
    }
    h_->root = level.empty() ? 0 : level[0].off;
    h_->height = height;
    h_->entries = sorted.size();
  }

  // --- invariants
  struct Walk {
    std::vector<std::string>* out;
    std::vector<std::uint64_t> recs;
    std::vector<std::uint64_t> leaves;
    std::uint64_t inner_nodes = 0;
    std::string last_key;
    bool any = false;
    std::size_t reported = 0;
    void Report(std::string line) {
      if (++reported <= 20) out->push_back("ordered index: " + std::move(line));
    }
  };
  // Checks the subtree at off (at `level`, 1 = leaf) against [low, high) and returns its count.
  std::uint64_t CheckSubtree(std::uint64_t off, std::uint32_t level, const std::string* low,
                             const std::string* high, Walk* w) const {
    if (level == 1) {
      NodeHeader* n = Node(off, true);
      w->leaves.push_back(off);
      if (n->count == 0) w->Report("leaf " + std::to_string(off) + " is empty");
      const std::string_view prefix(reinterpret_cast<const char*>(n->prefix), n->prefix_len);
      for (std::uint32_t i = 0; i < n->count; ++i) {
        const LeafEntry& e = Entries(n)[i];
        const std::string_view key = KeyOf(e);
        w->recs.push_back(e.rec);
        if (key.substr(0, prefix.size()) != prefix)
          w->Report("leaf " + std::to_string(off) + " entry " + std::to_string(i) +
                    ": the key does not start with the leaf's prefix");
        else if (e.partial != Partial(key, n->prefix_len))
          w->Report("leaf " + std::to_string(off) + " entry " + std::to_string(i) +
                    ": the partial key does not match the record's key");
        if (w->any && key <= w->last_key)
          w->Report("leaf " + std::to_string(off) + " entry " + std::to_string(i) +
                    ": keys are out of order");
        if ((low && key < *low) || (high && key >= *high))
          w->Report("leaf " + std::to_string(off) + " entry " + std::to_string(i) +
                    ": the key lies outside its parent's separators");
        w->last_key.assign(key);
        w->any = true;
      }
      return n->count;
    }
    NodeHeader* n = Node(off, false);
    ++w->inner_nodes;
    const std::vector<InnerItem> items = ReadInner(n);  // each separator within the node
    // Separators lie apart: a child added in place must not have written over another's bytes.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> spans;  // (key_off, entry)
    for (std::uint32_t i = 1; i < n->count; ++i) spans.emplace_back(Children(n)[i].key_off, i);
    std::sort(spans.begin(), spans.end());
    for (std::size_t k = 1; k < spans.size(); ++k) {
      const InnerEntry& below = Children(n)[spans[k - 1].second];
      if (std::uint64_t(below.key_off) + below.key_len > spans[k].first)
        w->Report("inner node " + std::to_string(off) + ": separators " +
                  std::to_string(spans[k - 1].second) + " and " + std::to_string(spans[k].second) +
                  " share bytes");
    }
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string* lo = i == 0 ? low : &items[i].sep;
      const std::string* hi = i + 1 < items.size() ? &items[i + 1].sep : high;
      if (i > 0 && i + 1 < items.size() && items[i].sep >= items[i + 1].sep)
        w->Report("inner node " + std::to_string(off) + ": separators out of order at " +
                  std::to_string(i));
      if (i > 0 && (items[i].sep.compare(0, n->prefix_len, reinterpret_cast<const char*>(n->prefix),
                                         n->prefix_len) != 0 ||
                    Children(n)[i].partial != Partial(items[i].sep, n->prefix_len)))
        w->Report("inner node " + std::to_string(off) + " separator " + std::to_string(i) +
                  ": does not match the node's prefix and partial key");
      const std::uint64_t below = CheckSubtree(items[i].child, level - 1, lo, hi, w);
      if (below != items[i].count)
        w->Report("inner node " + std::to_string(off) + " child " + std::to_string(i) + ": count " +
                  std::to_string(items[i].count) + ", subtree holds " + std::to_string(below));
      total += below;
    }
    return total;
  }
  void Check(const std::vector<std::uint64_t>& records, std::vector<std::string>* out) const {
    Walk w{out, {}, {}, 0, {}, false, 0};
    const std::uint32_t height = Height();
    const std::uint64_t total = h_->root ? CheckSubtree(h_->root, height, nullptr, nullptr, &w) : 0;
    if (total != h_->entries)
      w.Report("the header counts " + std::to_string(h_->entries) + " entries, the tree holds " +
               std::to_string(total));
    for (std::size_t i = 0; i < w.leaves.size(); ++i) {
      NodeHeader* n = Node(w.leaves[i], true);
      const std::uint64_t prev = i ? w.leaves[i - 1] : 0;
      const std::uint64_t next = i + 1 < w.leaves.size() ? w.leaves[i + 1] : 0;
      if (n->prev != prev || n->next != next)
        w.Report("leaf " + std::to_string(w.leaves[i]) + ": the leaf chain skips a leaf");
    }
    // Every chunk the index owns is a node of the tree or a spare, and `nodes` counts them.
    std::uint64_t owned = 0;
    for (std::uint64_t c = 0; c < g_.chunk_count; ++c) {
      const std::uint64_t ident = seg_->ident(c)->load(std::memory_order_relaxed);
      if (ident != 0 && IdentOwner(ident) == owner_ && IdentClass(ident) == kClassIndexNode)
        owned += IdentSpan(ident);
    }
    const std::uint64_t in_use =
        w.leaves.size() + w.inner_nodes * inner_chunks_ +
        std::min<std::uint32_t>(h_->spare_leaf_count, 1) +
        std::uint64_t(std::min(h_->spare_inner_count, kSpareInner)) * inner_chunks_;
    if (owned != h_->nodes || owned != in_use)
      w.Report("owns " + std::to_string(owned) + " chunks; the header counts " +
               std::to_string(h_->nodes) + ", the tree and its spares hold " +
               std::to_string(in_use));
    std::vector<std::uint64_t> expected = records;
    std::sort(expected.begin(), expected.end());
    std::sort(w.recs.begin(), w.recs.end());
    if (expected != w.recs)
      w.Report("holds " + std::to_string(w.recs.size()) + " records, which are not the " +
               std::to_string(expected.size()) + " records of the shards' tables");
  }

 private:
  Segment* seg_;
  IndexHeader* h_;
  const Geometry& g_;
  std::uint32_t owner_;
  std::uint32_t inner_chunks_;
  std::uint64_t inner_bytes_;
};

// --- OrderedIndex

void OrderedIndex::MarkStale() noexcept {
  std::uint32_t expected = static_cast<std::uint32_t>(IndexState::valid);
  h_->state.compare_exchange_strong(expected, static_cast<std::uint32_t>(IndexState::stale),
                                    std::memory_order_acq_rel);
}

IndexWriter::IndexWriter(Segment* seg, std::string_view key, Change change) : index_(seg) {
  if (index_.state() != IndexState::valid) return;
  try {
    lock_.emplace(seg);
  } catch (const Error& e) {
    // A lock still held at the watchdog refuses the write (nothing changed yet), naming the
    // index lock, instead of hiding the wait inside the shard lock; a damaged one is left
    // behind with the index.
    if (e.code_value() == errc::busy) throw;
    index_.MarkStale();
    return;
  }
  if (index_.state() != IndexState::valid) return;
  bool room = true;
  try {
    IndexTree tree(index_);
    if (change == Change::insert) room = tree.Refill();
    tree.PrefetchLeaf(key);
  } catch (const Error&) {
    index_.MarkStale();
    return;
  }
  if (!room)
    Throw(errc::store_full, "segment '" + seg->name() +
                                "' is full: no room for the ordered index nodes of a new key");
}

void IndexWriter::Insert(std::string_view key, std::uint64_t rec_off) noexcept {
  if (!lock_ || index_.state() != IndexState::valid) return;
  try {
    IndexTree(index_).Insert(key, rec_off);
  } catch (...) {
    index_.MarkStale();
  }
}

void IndexWriter::Erase(std::string_view key, std::uint64_t rec_off) noexcept {
  if (!lock_ || index_.state() != IndexState::valid) return;
  try {
    IndexTree(index_).Erase(key, rec_off);
  } catch (...) {
    index_.MarkStale();
  }
}

void IndexWriter::Relocate(std::string_view key, std::uint64_t old_off,
                           std::uint64_t new_off) noexcept {
  if (!lock_ || index_.state() != IndexState::valid) return;
  try {
    IndexTree(index_).Relocate(key, old_off, new_off);
  } catch (...) {
    index_.MarkStale();
  }
}

bool OrderedIndex::Rebuild() {
  if (state() == IndexState::off) return false;
  const std::uint64_t start = NowUs();
  std::vector<IndexTree::SortItem> items;
  std::uint64_t ttl_records = 0;
  const Geometry& g = seg_->geo();
  for (std::uint32_t s = 0; s < g.shard_count; ++s) {
    const ShardRef ref = ShardRef::Of(seg_, s);
    const std::uint64_t n = ref.h->count.load(std::memory_order_relaxed);
    if (n > ref.dense_cap)
      seg_->OutOfRange("shard count", n, "its dense array's entries + 1,", ref.dense_cap + 1);
    ttl_records += ref.h->ttl_count;
    for (std::uint64_t i = 0; i < n; ++i) {
      const RecordRef r = ref.Record(ref.dense[i], "dense record");
      const std::string_view key = r.key();
      items.push_back({Partial(key, 0), Partial(key, 8), key, r.off});
    }
  }
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    if (a.head0 != b.head0) return a.head0 < b.head0;
    if (a.head1 != b.head1) return a.head1 < b.head1;
    return a.key < b.key;
  });
  IndexLock lock(seg_);
  IndexTree tree(*this);
  // Leaves 80 % full leave room for inserts; full ones, if the arena has no room for those,
  // take no more chunks than the tree had (nodes are never fuller than full).
  bool built = false;
  for (const std::uint32_t fill : {80u, 100u}) {
    tree.FreeAll();
    try {
      tree.Build(items, fill);
      built = true;
      tree.Refill();  // no room for spares: the next insert of a key is refused (store_full)
    } catch (const Error& e) {
      if (e.code_value() != errc::store_full) throw;
    }
    if (built) break;
  }
  if (!built) {
    tree.FreeAll();
    MarkStale();
    return false;
  }
  h_->ttl_records.store(ttl_records, std::memory_order_relaxed);
  ++h_->rebuilds;
  h_->last_rebuild_keys = items.size();
  h_->last_rebuild_us = NowUs() - start;
  h_->state.store(static_cast<std::uint32_t>(IndexState::valid), std::memory_order_release);
  return true;
}

void OrderedIndex::Discard() {
  if (state() == IndexState::off) return;
  IndexLock lock(seg_);
  IndexTree(*this).FreeAll();
  h_->state.store(static_cast<std::uint32_t>(IndexState::stale), std::memory_order_release);
}

std::uint64_t OrderedIndex::Rank(std::string_view key) const {
  return IndexTree(*this).Rank(key);
}
IndexCursor OrderedIndex::Seek(std::uint64_t rank) const {
  return IndexTree(*this).Seek(rank);
}
RecordRef OrderedIndex::RecordAt(const IndexCursor& c) const {
  return IndexTree(*this).RecordAt(c);
}
bool OrderedIndex::Next(IndexCursor* c) const {
  return IndexTree(*this).Next(c);
}

void OrderedIndex::CheckInvariants(const std::vector<std::uint64_t>& records,
                                   std::vector<std::string>* out) const {
  if (state() != IndexState::valid) return;
  try {
    IndexTree(*this).Check(records, out);
  } catch (const Error& e) {
    out->push_back(std::string("ordered index: ") + e.what());
  }
}

OrderedIndex::Figures OrderedIndex::Describe() const {
  return {state(),      h_->height,          h_->entries,          h_->nodes,
          h_->rebuilds, h_->last_rebuild_us, h_->last_rebuild_keys};
}

// --- IndexLock

IndexLock::IndexLock(Segment* seg) : seg_(seg) {
  IndexHeader* h = &seg->header()->index;
  bool waited = false;
  if (LockRobust(&h->mutex, LockName{seg->name(), "index", -1}, &waited) ==
      LockResult::owner_died) {
    OrderedIndex(seg).MarkStale();
    MarkConsistent(&h->mutex);
  }
}

IndexLock::~IndexLock() {
  UnlockRobust(&seg_->header()->index.mutex);
}

}  // namespace shmkv::detail
