// fuzz_corrupt.hpp: the corruptions the fuzzer applies to a clean segment image.
//
// Contract:
// - MakeCorruption(seed, iteration, image, map) is a pure function: the same arguments always
//   give the same Corruption, so `--seed S --only N` reproduces iteration N exactly.
// - Half the corruptions are targeted (one field of one shared struct, chosen from the clean
//   image's map, set to an interesting value: 0, 1, all-ones, 2^31, 2^32, 2^52, another field's
//   value, +-1, a huge offset, ...), half random (1-512 random bytes, a run of 0x00/0xff, or
//   one flipped bit, at a random offset of one region).
// - Every corruption changes at least one byte of the image.
// - Excused keys: keys whose RecordHeader::expires_ms bytes were changed. Changing an expiry
//   is a legitimate state (the key may now be expired or carry another TTL), so the answers
//   for those keys may differ in presence and TTL, never in value.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "fuzz_image.hpp"

namespace fuzz {

struct Patch {
  u64 off;
  std::vector<u8> bytes;
};

struct Corruption {
  std::string kind;    // "targeted" or "random"
  std::string region;  // header, processes, shards, chunks, idents, slots, dense, arena
  std::string field;   // generic field name ("Slot.rec"), for grouping
  std::string where;   // with indices and offset
  std::string value;   // what was written ("0xffffffff", "37 random bytes", ...)
  std::vector<Patch> patches;
  std::set<std::string> excused;  // keys whose expiry was changed
};

Corruption MakeCorruption(u64 seed, u64 iteration, const Image& image, const LayoutMap& map);

// Applies the patches to a copy of the clean bytes.
std::vector<u8> Apply(const std::vector<u8>& clean, const Corruption& c);

// The seed of one iteration (also used to pick its config and by the API child).
u64 IterationSeed(u64 seed, u64 iteration);

}  // namespace fuzz
