// script_args.hpp: arguments the Redis engine's scripts take, as text (internal): a key
// interval as ZRANGE BYLEX bounds, and a uniform draw. Used by redis_engine.cpp and
// redis_coord.cpp.
#pragma once

#include <unistd.h>

#include <charconv>
#include <random>
#include <string>

#include "engine/key_range.hpp"
#include "os/os.hpp"

namespace shmkv::detail {

// This thread's generator, seeded again in a forked child: forked workers that inherited one
// state would otherwise draw the same numbers (and name their waiters alike).
inline std::mt19937_64& ProcessRng() {
  thread_local std::mt19937_64 rng;
  thread_local pid_t seeded_in = 0;
  if (seeded_in != ::getpid()) {
    rng.seed(os::RandomSeed());
    seeded_in = ::getpid();
  }
  return rng;
}

// A draw in [0, 1), as text for a script (shortest round-trip form).
inline std::string UniformArg() {
  const double u = static_cast<double>(ProcessRng()() >> 11) * 0x1.0p-53;
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, u).ptr);
}

// A filter's interval as ZRANGE BYLEX bounds.
struct LexBounds {
  std::string lo, hi;
  std::string below;  // the bound of the keys under lo ('' = none), for ranks
  static LexBounds Of(const KeyFilter& f) {
    const KeyBounds b = KeyBounds::Of(f);
    LexBounds l;
    l.lo = b.low.empty() ? "-" : "[" + b.low;
    l.below = b.low.empty() ? "" : "(" + b.low;
    l.hi = b.high ? "(" + *b.high : "+";
    return l;
  }
};

}  // namespace shmkv::detail
