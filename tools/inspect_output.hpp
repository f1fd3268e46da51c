// inspect_output.hpp: output helpers of shmkv-inspect: JSON building, aligned text tables,
// human renderings of bytes, durations and binary strings.
//
// JSON conventions (shared with `shmkv --json`): valid UTF-8 passes through; quotes,
// backslashes, control characters, DEL and bytes that are not valid UTF-8 are escaped (a raw
// byte b as \u00XX). Keys appear in a fixed order, one document per line, so output can be
// compared textually (the golden tests do).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace inspect_out {

[[gnu::format(printf, 1, 2)]] std::string Format(const char* fmt, ...);
void Out(std::string_view s);
void OutLine(std::string_view s);
void Err(std::string_view s);

// --- JSON ---

bool ValidUtf8(std::string_view s);
void JsonString(std::string& o, std::string_view s);
std::string JsonQuote(std::string_view s);
// A fixed-precision JSON number ("0.1250").
std::string JsonFixed(double v, int decimals);

// Obj().Num("a", 1).Str("b", "x").Done()
class Obj {
 public:
  Obj& Num(std::string_view k, std::uint64_t v);
  Obj& Int(std::string_view k, std::int64_t v);
  Obj& Str(std::string_view k, std::string_view v);
  Obj& Bool(std::string_view k, bool v);
  Obj& Null(std::string_view k);
  Obj& Raw(std::string_view k, std::string_view json);
  std::string Done() const { return first_ ? "{}" : s_ + "}"; }

 private:
  Obj& Key(std::string_view k);
  std::string s_;
  bool first_ = true;
};

// "[a,b,c]" from already rendered JSON values.
std::string Array(const std::vector<std::string>& items);

// --- text ---

// Rows of cells printed with aligned columns. Columns whose header is flagged numeric are
// right-aligned. Every line starts with `indent` spaces.
class Table {
 public:
  struct Column {
    std::string header;
    bool right;
  };
  explicit Table(std::vector<Column> columns, std::size_t indent = 0);
  void Row(std::vector<std::string> cells);
  std::vector<std::string> Lines() const;
  void Print() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
  std::size_t indent_;
};

std::string HumanBytes(std::uint64_t n);     // "1.5 MiB", "512 B"
std::string HumanCount(std::uint64_t n);     // "1234", "12.3k", "4.5M"
std::string HumanDuration(std::int64_t ms);  // "250 ms", "3.2 s", "4m05s", "2h13m", "3d04h"
std::string UnixMsToUtc(std::uint64_t ms);   // "2024-05-01 12:00:00 UTC"
std::string Percent(std::uint64_t part, std::uint64_t whole);  // "12.5%"
// Printable ASCII as is, everything else as \xNN (and backslash as \\).
std::string EscapeBytes(std::string_view bytes);
// True if the bytes read as text: valid UTF-8 without control characters other than
// \t, \n and \r.
bool LooksLikeText(std::string_view bytes);
std::string Hex(std::string_view bytes);  // "68656c6c6f"
// Classic hex dump lines: "00000000  68 65 6c 6c 6f ...  |hello|".
std::vector<std::string> HexDump(std::string_view bytes);
// A bar of `width` characters at most, proportional to value / max.
std::string Bar(std::uint64_t value, std::uint64_t max, std::size_t width);

}  // namespace inspect_out
