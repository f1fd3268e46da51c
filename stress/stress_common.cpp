// stress_common.cpp: key names, the self-verifying value encoding and small helpers shared by
// the shmkv-stress parent and workers (see stress_common.hpp).
#include "stress_common.hpp"

#include <array>
#include <charconv>
#include <cstdio>

namespace stress {
namespace {

constexpr std::array<std::uint32_t, 256> MakeCrcTable() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int b = 0; b < 8; ++b) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = MakeCrcTable();

std::string Hex(std::uint64_t v, int digits) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%0*llx", digits, static_cast<unsigned long long>(v));
  return buf;
}

std::optional<std::uint64_t> ParseHex(std::string_view s) {
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// The payload of (key, gen): 4..400 lowercase letters, so values cross the library's 128-byte
// in-place update limit in both directions.
std::string Payload(std::string_view key, std::uint64_t gen) {
  std::uint64_t h = Mix64(HashString(key) ^ Mix64(gen));
  std::size_t len = 4 + h % 397;
  std::string out(len, 'a');
  Rng rng(h);
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < len; ++i) {
    if (i % 8 == 0) bits = rng.Next();
    out[i] = static_cast<char>('a' + (bits & 0xff) % 26);
    bits >>= 8;
  }
  return out;
}

}  // namespace

std::string OwnedKey(int slot, std::uint32_t k) {
  return "w" + std::to_string(slot) + ":" + std::to_string(k);
}
std::string SlotPrefix(int slot) {
  return "w" + std::to_string(slot) + ":";
}
std::string ScratchPrefix(int slot) {
  return "s" + std::to_string(slot) + ":";
}
std::string HotKey(std::uint32_t c) {
  return "hot:" + std::to_string(c);
}
std::string TokenKey(std::uint64_t n) {
  return std::string(kQueuePrefix) + std::to_string(n);
}

std::uint32_t Crc32(std::string_view data) {
  std::uint32_t c = 0xffffffffu;
  for (unsigned char ch : data) c = kCrcTable[(c ^ ch) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

std::uint64_t Mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t HashString(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string MakeValue(std::string_view key, std::uint64_t gen) {
  std::string v;
  v.reserve(key.size() + 440);
  v.append(key).append("|").append(Hex(gen, 16)).append("|").append(Payload(key, gen));
  const std::uint32_t crc = Crc32(v);
  v.append("|").append(Hex(crc, 8));
  return v;
}

std::optional<Decoded> Verify(std::string_view value) {
  std::size_t last = value.rfind('|');
  if (last == std::string_view::npos || value.size() - last != 9) return std::nullopt;
  auto crc = ParseHex(value.substr(last + 1));
  if (!crc || *crc != Crc32(value.substr(0, last))) return std::nullopt;
  std::size_t first = value.find('|');
  if (first == 0 || first + 18 > last || value[first + 17] != '|') return std::nullopt;
  auto gen = ParseHex(value.substr(first + 1, 16));
  if (!gen) return std::nullopt;
  std::string key(value.substr(0, first));
  if (value.substr(first + 18, last - first - 18) != Payload(key, *gen)) return std::nullopt;
  return Decoded{std::move(key), *gen};
}

std::optional<std::int64_t> ParseInt(std::string_view s) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::optional<std::int64_t>> DecodeOwned(std::string_view key, bool numeric,
                                                       const std::optional<std::string>& raw) {
  using Seen = std::optional<std::int64_t>;
  if (!raw) return Seen{};
  if (numeric) {
    if (auto n = ParseInt(*raw)) return Seen{*n};
    return std::nullopt;
  }
  auto d = Verify(*raw);
  if (!d || d->key != key) return std::nullopt;
  return Seen{static_cast<std::int64_t>(d->gen)};
}

}  // namespace stress
