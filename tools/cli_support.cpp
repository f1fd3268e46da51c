// cli_support.cpp: the JSON builders and argument parsers of `shmkv` (declared in cli.hpp;
// printing is inspect_output's). Parsing raises UsageError, naming the option and the value,
// before any store is opened.
#include <grp.h>

#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "shmkv/json_field.hpp"

namespace shmkv_cli {

// ---------------------------------------------------------------------------------------------
// JSON of entries, keys and pages.

// `"name":"text"` or `"name_base64":"..."`, to put inside an object.
std::string BytesField(std::string_view name, std::string_view bytes) {
  std::string o;
  shmkv::append_json_field(o, name, bytes);
  return o;
}

std::string EntryJson(const shmkv::Entry& e) {
  return "{" + BytesField("key", e.key) + "," + BytesField("value", e.value) + "}";
}

std::string EntriesJson(const std::vector<shmkv::Entry>& entries) {
  std::string o = "[";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i) o += ',';
    o += EntryJson(entries[i]);
  }
  return o + "]";
}

// Keys alone (random-keys, --keys-only): [{"key":..},...], each key in the bytes convention.
std::string KeysJson(const std::vector<std::string>& keys) {
  std::string o = "[";
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i) o += ',';
    o += "{" + BytesField("key", keys[i]) + "}";
  }
  return o + "]";
}

// A scan page: {"entries"|"keys":[...],"cursor"..,"done":..}; the cursor is the last key
// returned, bytes in the same convention.
std::string PageJson(std::string_view items_name, const std::string& items_json,
                     const std::string& cursor, bool done) {
  return "{\"" + std::string(items_name) + "\":" + items_json + "," + BytesField("cursor", cursor) +
         ",\"done\":" + (done ? "true" : "false") + "}";
}

// ---------------------------------------------------------------------------------------------
// Argument parsing.

// Parses all of s as an unsigned decimal number.
std::optional<std::uint64_t> ParseU64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Splits "64MiB" into 64 and "MiB". Nullopt if there is no leading number or it overflows.
std::optional<std::pair<std::uint64_t, std::string_view>> SplitNumberSuffix(std::string_view s) {
  std::size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  auto n = ParseU64(s.substr(0, digits));
  if (!n) return std::nullopt;
  return std::pair{*n, s.substr(digits)};
}

// "1234", "64KiB", "64MiB", "1GiB".
std::uint64_t ParseSize(std::string_view option, std::string_view s) {
  auto bad = [&] {
    return UsageError(Format(
        "%.*s: '%.*s' is not a size (bytes, or a number followed by KiB, "
        "MiB or GiB, e.g. 64MiB)",
        static_cast<int>(option.size()), option.data(), static_cast<int>(s.size()), s.data()));
  };
  auto split = SplitNumberSuffix(s);
  if (!split) throw bad();
  auto [n, suffix] = *split;
  unsigned shift = 0;
  if (suffix.empty() || suffix == "B") {
    shift = 0;
  } else if (suffix == "KiB") {
    shift = 10;
  } else if (suffix == "MiB") {
    shift = 20;
  } else if (suffix == "GiB") {
    shift = 30;
  } else {
    throw bad();
  }
  if (n > (std::numeric_limits<std::uint64_t>::max() >> shift)) throw bad();
  return n << shift;
}

std::uint32_t ToU32(std::string_view option, std::uint64_t v) {
  if (v > std::numeric_limits<std::uint32_t>::max()) {
    throw UsageError(Format("%.*s: %" PRIu64 " is too large", static_cast<int>(option.size()),
                            option.data(), v));
  }
  return static_cast<std::uint32_t>(v);
}

std::uint64_t ParseCount(std::string_view option, std::string_view s) {
  auto n = ParseU64(s);
  if (!n) {
    throw UsageError(Format("%.*s: '%.*s' is not a non-negative integer",
                            static_cast<int>(option.size()), option.data(),
                            static_cast<int>(s.size()), s.data()));
  }
  return *n;
}

// "250ms", "10s", "5m", "2h"; a plain number is milliseconds.
std::chrono::milliseconds ParseDuration(std::string_view option, std::string_view s) {
  auto bad = [&] {
    return UsageError(Format(
        "%.*s: '%.*s' is not a duration (a number followed by ms, s, m or "
        "h, e.g. 10s; a plain number is milliseconds)",
        static_cast<int>(option.size()), option.data(), static_cast<int>(s.size()), s.data()));
  };
  auto split = SplitNumberSuffix(s);
  if (!split) throw bad();
  auto [n, suffix] = *split;
  std::uint64_t scale = 0;
  if (suffix.empty() || suffix == "ms") {
    scale = 1;
  } else if (suffix == "s") {
    scale = 1000;
  } else if (suffix == "m") {
    scale = 60'000;
  } else if (suffix == "h") {
    scale = 3'600'000;
  } else {
    throw bad();
  }
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (n > kMax / scale) throw bad();
  return std::chrono::milliseconds(static_cast<std::int64_t>(n * scale));
}

std::int64_t ParseDelta(std::string_view s) {
  std::string_view digits = s;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() ||
      (digits.size() != s.size() && digits.front() == '-')) {
    throw UsageError(Format("DELTA: '%.*s' is not a 64-bit signed integer",
                            static_cast<int>(s.size()), s.data()));
  }
  return v;
}

// A group name or a numeric gid.
std::uint32_t ParseGroup(std::string_view s) {
  std::uint32_t gid = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), gid);
  if (!s.empty() && ec == std::errc() && p == s.data() + s.size()) return gid;
  const std::string name(s);
  if (const group* g = name.empty() ? nullptr : ::getgrnam(name.c_str())) return g->gr_gid;
  throw UsageError("--trusted-group: '" + name + "' is neither a gid nor a group name");
}

// "0600", "600", "0o600" are all octal.
std::uint32_t ParseMode(std::string_view s) {
  std::string_view digits = s;
  if (digits.starts_with("0o")) digits.remove_prefix(2);
  std::uint32_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, 8);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || v > 07777) {
    throw UsageError(Format("--mode: '%.*s' is not an octal file mode (e.g. 0600 or 0660)",
                            static_cast<int>(s.size()), s.data()));
  }
  return v;
}

// Prints a "key absent" note and returns exit code 1.
int NotFound(const Invocation& in, std::string_view key) {
  Err(Format("shmkv: %.*s: no such key: %.*s", static_cast<int>(in.cmd->name.size()),
             in.cmd->name.data(), static_cast<int>(key.size()), key.data()));
  return kExitFalse;
}

int Note(const Invocation& in, std::string_view msg, int code) {
  Err(Format("shmkv: %.*s: %.*s", static_cast<int>(in.cmd->name.size()), in.cmd->name.data(),
             static_cast<int>(msg.size()), msg.data()));
  return code;
}

}  // namespace shmkv_cli
