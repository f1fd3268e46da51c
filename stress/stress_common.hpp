// stress_common.hpp: what the shmkv-stress parent and its workers share.
//
// - Config: the command line of one run.
// - The model of one worker slot (SlotModel): for every key the slot owns, the last state the
//   parent knows was acknowledged, plus at most one state announced as in flight. A forked
//   worker inherits the parent's copy, so a replacement knows what it must find in the store.
// - The value encoding: "key|gen|payload|crc32" where gen is 16 hex digits, the payload is a
//   pure function of (key, gen) and the crc covers everything before the last '|'. Any reader can
//   prove a value is whole and belongs to its key (a torn or misplaced value fails Verify).
// - Record: the 16-byte report a worker writes through its pipe. Records are written in batches
//   of at most kPipeBatch bytes with one write() each; a pipe write of <= PIPE_BUF bytes is
//   atomic, so a SIGKILL never leaves half a record.
#pragma once

#include <limits.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stress {

struct CoordBoard;  // stress_coord.hpp

struct Config {
  int workers = 4;
  double seconds = 30;
  std::uint32_t keys = 256;  // keys owned by each worker slot
  std::uint32_t kill_every_ms = 200;
  std::uint64_t seed = 0;
  std::string name;
  std::uint32_t shards = 0;  // 0 = the library's default
  std::uint64_t size_mb = 64;
  std::uint32_t home_block_bytes = 0;  // Options::home_block_bytes of the new segment
  std::uint32_t hot = 4;               // shared counters hot:0 .. hot:H-1
  std::uint32_t queue = 2000;          // tokens seeded into the pop queue (refilled when low)
  std::uint32_t check_every_ms = 2000;
  bool keep = false;  // keep the segment after the run
  // Empty, or lost / torn / counter / queue: workers now and then break the store behind the
  // model's back, to prove the checks catch it (such a run must fail).
  std::string sabotage;
  // The coordination board (stress_coord.hpp), mapped by main before the parent forks anyone.
  CoordBoard* board = nullptr;
};

// --- per-key model ---

enum Kind : std::uint8_t {
  kAbsent = 0,
  kPresent = 1,    // present with value v until someone writes it
  kMayExpire = 2,  // present with value v, or absent once its short TTL ran out
};

// For a value key v is the generation of its value; for a numeric key v is the number.
struct State {
  std::int64_t v = 0;
  Kind kind = kAbsent;
  bool operator==(const State&) const = default;
};

struct KeyModel {
  State acked;
  State inflight;
  bool has_inflight = false;
};

struct SlotModel {
  std::vector<KeyModel> keys;
  bool inc_inflight = false;  // a hot-counter increment was announced and not acknowledged
  bool pop_inflight = false;  // a pop_random was announced and not acknowledged
};

// --- keys and values ---

// Key k of slot i is "w<i>:<k>"; every eighth key holds a decimal counter, the others hold
// checksummed values.
inline bool IsNumericKey(std::uint32_t k) {
  return k % 8 == 7;
}
std::string OwnedKey(int slot, std::uint32_t k);
std::string SlotPrefix(int slot);     // "w<i>:"
std::string ScratchPrefix(int slot);  // "s<i>:"
inline constexpr std::string_view kQueuePrefix = "q:";
inline constexpr std::string_view kSharedScratch = "x:";
std::string HotKey(std::uint32_t c);    // "hot:<c>"
std::string TokenKey(std::uint64_t n);  // "q:<n>"

std::uint32_t Crc32(std::string_view data);
std::uint64_t Mix64(std::uint64_t x);  // splitmix64 finalizer
std::uint64_t HashString(std::string_view s);

// The one value a key holds at a generation.
std::string MakeValue(std::string_view key, std::uint64_t gen);

struct Decoded {
  std::string key;
  std::uint64_t gen;
};
// Proves a value whole: the crc matches and the payload is the one MakeValue() builds.
std::optional<Decoded> Verify(std::string_view value);

std::optional<std::int64_t> ParseInt(std::string_view s);

// Decodes a read of an owned key: the inner optional is the key as observed (nullopt = absent,
// else its generation or number); the outer one is empty when the bytes are not what any write
// of this key stores (a torn or foreign value).
std::optional<std::optional<std::int64_t>> DecodeOwned(std::string_view key, bool numeric,
                                                       const std::optional<std::string>& raw);

// True if a key in state `s` may be observed as `seen`: nullopt = absent, else the generation
// (value key) or number (numeric key) read.
inline bool Matches(const State& s, std::optional<std::int64_t> seen) {
  if (!seen) return s.kind != kPresent;
  return s.kind != kAbsent && s.v == *seen;
}

// A small deterministic generator (splitmix64).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t Next() { return Mix64(state_ += 0x9e3779b97f4a7c15ull); }
  std::uint64_t Below(std::uint64_t n) { return n == 0 ? 0 : Next() % n; }
  bool Chance(unsigned percent) { return Below(100) < percent; }

 private:
  std::uint64_t state_;
};

// --- pipe records ---

enum RecordType : std::uint8_t {
  kIntent = 1,  // key, state: a write of this key to this state is about to start
  kAck,         // key, state: the key is now known to hold this state (clears in-flight)
  kIncIntent,   // key = counter: a +1 on hot:<key> is about to start
  kIncAck,      // key = counter: that increment returned
  kPopIntent,   // a pop_random on the queue is about to start
  kPopAck,      // v = token popped
  kPopEmpty,    // the pop found the queue empty
  kOps,         // v = operations done since the last kOps record
  kTorn,        // a read returned a value that failed Verify
  kLost,        // key: an owned key held neither its acknowledged nor its in-flight state
  kError,       // v = errc or -1: an operation failed or returned a wrong result
  kVerified,    // v = owned keys a (replacement) worker verified on start
  kCancel,      // a failed increment or pop (the library raised: nothing changed)
};

struct Record {
  RecordType type;
  std::uint8_t kind;
  std::uint16_t pad;
  std::uint32_t key;
  std::int64_t v;
};
static_assert(sizeof(Record) == 16, "records are 16 bytes");

inline constexpr std::size_t kPipeBatch = 4096 / sizeof(Record) * sizeof(Record);
static_assert(kPipeBatch <= PIPE_BUF, "a batch must be one atomic pipe write");

// Runs one worker in a forked child: never returns (calls _exit).
[[noreturn]] void RunWorker(const Config& cfg, int slot, std::uint32_t spawn, int fd,
                            const SlotModel& model);

}  // namespace stress
