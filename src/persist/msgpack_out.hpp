// msgpack_out.hpp: a minimal MessagePack encoder appending to a std::string (internal).
//
// The journal and snapshot writers encode by hand so that the bytes are exactly the ones the
// golden tests pin (smallest encoding for every integer and length, except FixedU64, which
// always takes 9 bytes so that a value can be patched in place). Decoding goes through
// msgpack-cxx with explicit unpack limits (snapshot.cpp, journal.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace shmkv::detail::mp {

inline void PutBE(std::string* o, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) o->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

inline void Uint(std::string* o, std::uint64_t v) {
  if (v < 0x80) {
    o->push_back(static_cast<char>(v));
  } else if (v <= 0xff) {
    o->push_back(static_cast<char>(0xcc));
    PutBE(o, v, 1);
  } else if (v <= 0xffff) {
    o->push_back(static_cast<char>(0xcd));
    PutBE(o, v, 2);
  } else if (v <= 0xffffffffull) {
    o->push_back(static_cast<char>(0xce));
    PutBE(o, v, 4);
  } else {
    o->push_back(static_cast<char>(0xcf));
    PutBE(o, v, 8);
  }
}

// uint64 in its 9-byte form (0xcf + big-endian), patchable in place.
inline void FixedU64(std::string* o, std::uint64_t v) {
  o->push_back(static_cast<char>(0xcf));
  PutBE(o, v, 8);
}

inline void Nil(std::string* o) {
  o->push_back(static_cast<char>(0xc0));
}

inline void Bin(std::string* o, std::string_view b) {
  std::uint64_t n = b.size();
  if (n <= 0xff) {
    o->push_back(static_cast<char>(0xc4));
    PutBE(o, n, 1);
  } else if (n <= 0xffff) {
    o->push_back(static_cast<char>(0xc5));
    PutBE(o, n, 2);
  } else {
    o->push_back(static_cast<char>(0xc6));
    PutBE(o, n, 4);
  }
  o->append(b.data(), b.size());
}

inline void Str(std::string* o, std::string_view s) {
  std::uint64_t n = s.size();
  if (n < 32) {
    o->push_back(static_cast<char>(0xa0 | n));
  } else if (n <= 0xff) {
    o->push_back(static_cast<char>(0xd9));
    PutBE(o, n, 1);
  } else if (n <= 0xffff) {
    o->push_back(static_cast<char>(0xda));
    PutBE(o, n, 2);
  } else {
    o->push_back(static_cast<char>(0xdb));
    PutBE(o, n, 4);
  }
  o->append(s.data(), s.size());
}

inline void Array(std::string* o, std::uint32_t n) {
  if (n < 16) {
    o->push_back(static_cast<char>(0x90 | n));
  } else if (n <= 0xffff) {
    o->push_back(static_cast<char>(0xdc));
    PutBE(o, n, 2);
  } else {
    o->push_back(static_cast<char>(0xdd));
    PutBE(o, n, 4);
  }
}

inline void Map(std::string* o, std::uint32_t n) {
  if (n < 16) {
    o->push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xffff) {
    o->push_back(static_cast<char>(0xde));
    PutBE(o, n, 2);
  } else {
    o->push_back(static_cast<char>(0xdf));
    PutBE(o, n, 4);
  }
}

}  // namespace shmkv::detail::mp
