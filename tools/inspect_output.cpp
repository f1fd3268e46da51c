// inspect_output.cpp: see inspect_output.hpp.
#include "inspect_output.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace inspect_out {

std::string Format(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  std::string s(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(s.data(), s.size() + 1, fmt, ap2);
  va_end(ap2);
  return s;
}

void Out(std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
}
void OutLine(std::string_view s) {
  Out(s);
  std::fputc('\n', stdout);
}
void Err(std::string_view s) {
  std::fflush(stdout);  // keep stdout and stderr lines in order when both go to one pipe
  std::fwrite(s.data(), 1, s.size(), stderr);
  std::fputc('\n', stderr);
}

// --- JSON ---

namespace {

// Length of the valid UTF-8 sequence starting at s[i] (lead byte >= 0x80), 0 if invalid
// (stray continuation, overlong form, surrogate, beyond U+10FFFF or truncated).
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) -> int {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : -1;
  };
  auto in = [](int b, int lo, int hi) { return b >= lo && b <= hi; };
  int c = byte(0);
  if (in(c, 0xC2, 0xDF)) return in(byte(1), 0x80, 0xBF) ? 2 : 0;
  int lo = 0x80, hi = 0xBF;
  std::size_t len = 0;
  if (c == 0xE0) {
    lo = 0xA0, len = 3;
  } else if (in(c, 0xE1, 0xEC) || in(c, 0xEE, 0xEF)) {
    len = 3;
  } else if (c == 0xED) {
    hi = 0x9F, len = 3;
  } else if (c == 0xF0) {
    lo = 0x90, len = 4;
  } else if (in(c, 0xF1, 0xF3)) {
    len = 4;
  } else if (c == 0xF4) {
    hi = 0x8F, len = 4;
  } else {
    return 0;
  }
  if (!in(byte(1), lo, hi)) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (!in(byte(k), 0x80, 0xBF)) return 0;
  }
  return len;
}

constexpr char kHexDigits[] = "0123456789abcdef";

}  // namespace

bool ValidUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void JsonString(std::string& o, std::string_view s) {
  auto escape_byte = [&](unsigned char c) {
    o += "\\u00";
    o += kHexDigits[c >> 4];
    o += kHexDigits[c & 15];
  };
  o += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = Utf8SequenceLength(s, i);
      if (n == 0) {
        escape_byte(c);
        ++i;
      } else {
        o.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          escape_byte(c);
        } else {
          o += static_cast<char>(c);
        }
    }
    ++i;
  }
  o += '"';
}

std::string JsonQuote(std::string_view s) {
  std::string o;
  JsonString(o, s);
  return o;
}

std::string JsonFixed(double v, int decimals) {
  return Format("%.*f", decimals, v);
}

Obj& Obj::Key(std::string_view k) {
  s_ += first_ ? "{" : ",";
  first_ = false;
  JsonString(s_, k);
  s_ += ':';
  return *this;
}
Obj& Obj::Num(std::string_view k, std::uint64_t v) {
  Key(k);
  s_ += std::to_string(v);
  return *this;
}
Obj& Obj::Int(std::string_view k, std::int64_t v) {
  Key(k);
  s_ += std::to_string(v);
  return *this;
}
Obj& Obj::Str(std::string_view k, std::string_view v) {
  Key(k);
  JsonString(s_, v);
  return *this;
}
Obj& Obj::Bool(std::string_view k, bool v) {
  Key(k);
  s_ += v ? "true" : "false";
  return *this;
}
Obj& Obj::Null(std::string_view k) {
  Key(k);
  s_ += "null";
  return *this;
}
Obj& Obj::Raw(std::string_view k, std::string_view json) {
  Key(k);
  s_ += json;
  return *this;
}

std::string Array(const std::vector<std::string>& items) {
  std::string o = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) o += ',';
    o += items[i];
  }
  return o + "]";
}

// --- text ---

Table::Table(std::vector<Column> columns, std::size_t indent)
    : columns_(std::move(columns)), indent_(indent) {}

void Table::Row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::vector<std::string> Table::Lines() const {
  // Widths in display columns: count UTF-8 lead bytes only.
  auto width = [](const std::string& s) {
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  };
  std::vector<std::size_t> w(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    w[c] = width(columns_[c].header);
    for (const auto& r : rows_) w[c] = std::max(w[c], width(r[c]));
  }
  auto render = [&](const std::vector<std::string>& cells) {
    std::string line(indent_, ' ');
    for (std::size_t c = 0; c < cells.size(); ++c) {
      std::string pad(w[c] - width(cells[c]), ' ');
      bool last = c + 1 == cells.size();
      if (columns_[c].right) {
        line += pad + cells[c];
      } else {
        line += cells[c];
        if (!last) line += pad;
      }
      if (!last) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line;
  };
  std::vector<std::string> out;
  std::vector<std::string> header;
  for (const auto& col : columns_) header.push_back(col.header);
  out.push_back(render(header));
  for (const auto& r : rows_) out.push_back(render(r));
  return out;
}

void Table::Print() const {
  for (const auto& line : Lines()) OutLine(line);
}

std::string HumanBytes(std::uint64_t n) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  if (n < 1024) return Format("%" PRIu64 " B", n);
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return Format("%.1f %s", v, kUnits[u]);
}

std::string HumanCount(std::uint64_t n) {
  if (n < 10000) return std::to_string(n);
  if (n < 10000000) return Format("%.1fk", static_cast<double>(n) / 1e3);
  if (n < 10000000000ull) return Format("%.1fM", static_cast<double>(n) / 1e6);
  return Format("%.1fG", static_cast<double>(n) / 1e9);
}

std::string HumanDuration(std::int64_t ms) {
  if (ms < 0) return "-" + HumanDuration(-ms);
  if (ms < 1000) return Format("%" PRId64 " ms", ms);
  if (ms < 60000) return Format("%.1f s", static_cast<double>(ms) / 1000);
  std::int64_t s = ms / 1000;
  if (s < 3600) return Format("%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
  if (s < 86400) return Format("%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
  return Format("%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
}

std::string UnixMsToUtc(std::uint64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "?";
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string Percent(std::uint64_t part, std::uint64_t whole) {
  return Format("%.1f%%",
                whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
}

std::string EscapeBytes(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHexDigits[c >> 4];
      out += kHexDigits[c & 15];
    }
  }
  return out;
}

bool LooksLikeText(std::string_view bytes) {
  for (unsigned char c : bytes) {
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return false;
  }
  return ValidUtf8(bytes);
}

std::string Hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHexDigits[c >> 4];
    out += kHexDigits[c & 15];
  }
  return out;
}

std::vector<std::string> HexDump(std::string_view bytes) {
  std::vector<std::string> out;
  for (std::size_t off = 0; off < bytes.size(); off += 16) {
    std::string line = Format("%08zx ", off);
    std::string ascii;
    for (std::size_t i = 0; i < 16; ++i) {
      if (i == 8) line += ' ';
      if (off + i < bytes.size()) {
        auto c = static_cast<unsigned char>(bytes[off + i]);
        line += Format(" %02x", c);
        ascii += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '.';
      } else {
        line += "   ";
      }
    }
    out.push_back(line + "  |" + ascii + "|");
  }
  return out;
}

std::string Bar(std::uint64_t value, std::uint64_t max, std::size_t width) {
  if (max == 0 || value == 0) return "";
  auto n = static_cast<std::size_t>((static_cast<double>(value) / static_cast<double>(max)) *
                                    static_cast<double>(width));
  return std::string(std::max<std::size_t>(n, 1), '#');
}

}  // namespace inspect_out
