// jsonl.cpp: export_jsonl / import_jsonl, the portable text form of a backup.
//
// Export goes through a backup file (point-in-time per shard, absolute expiry) in the temporary
// directory; to a path, it writes <path>.tmp-<pid>-<n> (mode 0600, O_EXCL), fdatasyncs it,
// renames it over <path> and fsyncs the directory, so a reader (or a crash) sees the old file or
// the complete new one. Import streams the text through a fixed buffer: a line longer than any
// valid line for the store's limits is refused unread, each entry is checked against the limits
// as it is parsed, and once the entries pass twice what the store can hold (or the budget) the
// lines a later one for the same key replaced are dropped and the input is refused if still
// over (so memory is bounded by the store, not the file); then the entries are written as a
// snapshot file and restored (all or nothing), or, for a merge, written with set_many / set
// once every line has been checked. A value that is a JSON document other than a string
// (xk6-kv's files) is checked and kept as its compact text (tokens as written, no whitespace);
// export with json_values writes a value back as a document only when it is exactly such a
// text, so import(export(x)) is x byte for byte whatever the option. Neither touches the
// segment directly, so both keep backup's, restore's and set's locking and error rules. The
// temporary files are removed on every path; a crash leaves at most a temporary file, never a
// partly written <path>. append_json_field (shmkv/json_field.hpp) is the field encoder of the
// export, public so that every JSON output of the tools writes keys and values the same way.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <istream>
#include <ostream>
#include <string_view>

#include "os/file_io.hpp"
#include "os/os.hpp"
#include "os/throw.hpp"
#include "persist/snapshot.hpp"
#include "shm/layout.hpp"
#include "shmkv/json_field.hpp"
#include "shmkv/store.hpp"

namespace shmkv {
namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v =
        (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

bool Unbase64(std::string_view in, std::string* out) {
  if (in.size() % 4 != 0) return false;
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out->clear();
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int pad = (in[i + 3] == '=') + (in[i + 2] == '=' && in[i + 3] == '=');
    if (pad && i + 4 != in.size()) return false;
    int a = val(in[i]), b = val(in[i + 1]);
    int c = pad >= 2 ? 0 : val(in[i + 2]), d = pad >= 1 ? 0 : val(in[i + 3]);
    if (a < 0 || b < 0 || c < 0 || d < 0) return false;
    unsigned v = unsigned(a) << 18 | unsigned(b) << 12 | unsigned(c) << 6 | unsigned(d);
    out->push_back(static_cast<char>(v >> 16));
    if (pad < 2) out->push_back(static_cast<char>((v >> 8) & 0xff));
    if (pad < 1) out->push_back(static_cast<char>(v & 0xff));
  }
  return true;
}

// Length of the well-formed UTF-8 sequence starting at s[i] (1 to 4), or 0 when there is none:
// a stray continuation byte, a truncated sequence, an overlong form, a surrogate or a code point
// above U+10FFFF.
std::size_t Utf8SequenceAt(std::string_view s, std::size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t cp;
  if (c < 0x80) {
    return 1;
  } else if ((c & 0xe0) == 0xc0) {
    n = 1;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 2;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 3;
    cp = c & 0x07;
  } else {
    return 0;
  }
  for (std::size_t k = 1; k <= n; ++k) {
    if (i + k >= s.size()) return 0;
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (cc & 0x3f);
  }
  static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n + 1;
}

bool ValidUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = Utf8SequenceAt(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void JsonString(std::string* o, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  o->push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        *o += "\\\"";
        break;
      case '\\':
        *o += "\\\\";
        break;
      case '\n':
        *o += "\\n";
        break;
      case '\r':
        *o += "\\r";
        break;
      case '\t':
        *o += "\\t";
        break;
      default:
        if (c < 0x20) {
          *o += "\\u00";
          o->push_back(hex[c >> 4]);
          o->push_back(hex[c & 15]);
        } else {
          o->push_back(ch);
        }
    }
  }
  o->push_back('"');
}

void Field(std::string* o, std::string_view name, std::string_view bytes) {
  if (ValidUtf8(bytes)) {
    *o += '"';
    *o += name;
    *o += "\":";
    JsonString(o, bytes);
  } else {
    *o += '"';
    *o += name;
    *o += "_base64\":\"";
    *o += Base64(bytes);
    *o += '"';
  }
}

// A parser for the flat objects export_jsonl writes (any key order, any whitespace).
class LineParser {
 public:
  LineParser(std::string_view line, std::uint64_t line_no) : s_(line), line_(line_no) {}

  detail::PlainEntry Parse() {
    detail::PlainEntry e;
    bool have_key = false, have_value = false, have_expires = false;
    Ws();
    Expect('{');
    Ws();
    if (Peek() != '}') {
      for (;;) {
        Ws();
        const std::size_t name_at = i_;
        std::string name = String();
        const bool* seen = name == "expires_ms"                        ? &have_expires
                           : name == "key" || name == "key_base64"     ? &have_key
                           : name == "value" || name == "value_base64" ? &have_value
                                                                       : nullptr;
        if (seen && *seen) {
          i_ = name_at;
          Fail("duplicate field \"" + name + "\" (the " +
               (name == "expires_ms" ? std::string("expiry") : name.substr(0, name.find('_'))) +
               " is already given)");
        }
        Ws();
        Expect(':');
        Ws();
        if (name == "expires_ms") {
          have_expires = true;
          e.expires_ms = Number();
        } else if (name == "key") {
          e.key = String();
          have_key = true;
        } else if (name == "value") {
          // A string is the value; any other JSON document (xk6-kv's values) is stored as its
          // compact text.
          if (Peek() == '"') {
            e.value = String();
          } else {
            CompactDocument(&e.value, 0);
          }
          have_value = true;
        } else if (name == "key_base64" || name == "value_base64") {
          std::string raw = String();
          if (!Unbase64(raw, name == "key_base64" ? &e.key : &e.value)) Fail("bad base64");
          (name == "key_base64" ? have_key : have_value) = true;
        } else {
          Fail("unknown field \"" + name + "\"");
        }
        Ws();
        if (Peek() == ',') {
          ++i_;
          continue;
        }
        break;
      }
    }
    Expect('}');
    Ws();
    if (i_ != s_.size()) Fail("unexpected text after the object");
    if (!have_key || e.key.empty()) Fail("no key");
    if (!have_value) Fail("no value");
    return e;
  }

  // True when the whole text is a compact JSON document other than a string (what Parse stores
  // for a "value" that is one), so that writing it as a document reads back as the same bytes.
  static bool IsCompactDocument(std::string_view text) {
    // Most values are not JSON: refuse on the first byte without the cost of an exception.
    if (text.empty() ||
        std::string_view("{[-0123456789tfn").find(text[0]) == std::string_view::npos)
      return false;
    try {
      LineParser p(text, 0);
      std::string compact;
      p.CompactDocument(&compact, 0);
      return p.i_ == text.size() && compact == text;
    } catch (const Error&) {
      return false;
    }
  }

 private:
  [[noreturn]] void Fail(const std::string& what) {
    detail::Throw(errc::corrupted, "line " + std::to_string(line_) + " column " +
                                       std::to_string(i_ + 1) + ": " + what);
  }
  char Peek() { return i_ < s_.size() ? s_[i_] : '\0'; }
  void Ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  void Expect(char c) {
    if (Peek() != c) Fail(std::string("expected '") + c + "'");
    ++i_;
  }
  // Appends the JSON value at i_ to *out without the whitespace between its tokens, checking
  // it: strings as String() does (kept as written, escapes included), numbers per the JSON
  // grammar, at most kMaxDepth levels of arrays and objects.
  void CompactDocument(std::string* out, int depth) {
    static constexpr int kMaxDepth = 512;
    const char c = Peek();
    if (c == '{' || c == '[') {
      if (depth == kMaxDepth) Fail("JSON value nested deeper than 512 levels");
      const char close = c == '{' ? '}' : ']';
      out->push_back(c);
      ++i_;
      Ws();
      if (Peek() != close) {
        for (;;) {
          Ws();
          if (c == '{') {
            if (Peek() != '"') Fail("expected a member name");
            CompactDocument(out, depth + 1);
            Ws();
            Expect(':');
            out->push_back(':');
            Ws();
          }
          CompactDocument(out, depth + 1);
          Ws();
          if (Peek() != ',') break;
          out->push_back(',');
          ++i_;
        }
      }
      Expect(close);
      out->push_back(close);
    } else if (c == '"') {
      const std::size_t start = i_;
      String();
      out->append(s_.substr(start, i_ - start));
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      out->append(JsonNumber());
    } else {
      for (std::string_view literal : {"true", "false", "null"}) {
        if (s_.substr(i_).starts_with(literal)) {
          out->append(literal);
          i_ += literal.size();
          return;
        }
      }
      Fail("expected a JSON value");
    }
  }
  // The number at i_, as written: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
  std::string_view JsonNumber() {
    const std::size_t start = i_;
    auto digits = [&] {
      const std::size_t from = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      if (i_ == from) Fail("expected a digit in a number");
      return i_ - from;
    };
    if (Peek() == '-') ++i_;
    const bool leading_zero = Peek() == '0';
    if (digits() > 1 && leading_zero) Fail("a number has a leading zero");
    if (Peek() == '.') {
      ++i_;
      digits();
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++i_;
      if (Peek() == '+' || Peek() == '-') ++i_;
      digits();
    }
    return s_.substr(start, i_ - start);
  }
  std::uint64_t Number() {
    std::size_t start = i_;
    std::uint64_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      if (v > (~0ull - 9) / 10) Fail("number too large");
      v = v * 10 + static_cast<std::uint64_t>(s_[i_++] - '0');
    }
    if (i_ == start) Fail("expected a non-negative integer");
    return v;
  }
  unsigned Hex4() {
    if (i_ + 4 > s_.size()) Fail("short \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= unsigned(c - 'A' + 10);
      else
        Fail("bad \\u escape");
    }
    return v;
  }
  static void Utf8(std::string* o, std::uint32_t cp) {
    if (cp < 0x80) {
      o->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      o->push_back(static_cast<char>(0xc0 | (cp >> 6)));
      o->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      o->push_back(static_cast<char>(0xe0 | (cp >> 12)));
      o->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      o->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      o->push_back(static_cast<char>(0xf0 | (cp >> 18)));
      o->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      o->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      o->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }
  std::string String() {
    Expect('"');
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) Fail("unterminated string");
      char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) Fail("control character in a string");
      if (static_cast<unsigned char>(c) >= 0x80) {
        const std::size_t n = Utf8SequenceAt(s_, i_ - 1);
        if (n == 0) {
          --i_;
          Fail("invalid UTF-8 (byte 0x" + Hex2(static_cast<unsigned char>(c)) +
               ") in a string; binary keys and values go in key_base64 / value_base64");
        }
        out.append(s_.data() + i_ - 1, n);
        i_ += n - 1;
        continue;
      }
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i_ >= s_.size()) Fail("unterminated escape");
      char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          std::uint32_t cp = Hex4();
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (i_ + 2 > s_.size() || s_[i_] != '\\' || s_[i_ + 1] != 'u') Fail("lone surrogate");
            i_ += 2;
            std::uint32_t lo = Hex4();
            if (lo < 0xdc00 || lo > 0xdfff) Fail("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            Fail("lone surrogate");
          }
          Utf8(&out, cp);
          break;
        }
        default:
          Fail(std::string("bad escape \\") + e);
      }
    }
  }

  static std::string Hex2(unsigned char c) {
    static const char* hex = "0123456789abcdef";
    return {hex[c >> 4], hex[c & 15]};
  }

  std::string_view s_;
  std::uint64_t line_;
  std::size_t i_ = 0;
};

std::string TempPath(const char* what) {
  static std::atomic<std::uint64_t> n{0};
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
  if (ec) dir = "/tmp";
  return (dir / ("shmkv-" + std::string(what) + "-" + std::to_string(detail::os::Pid()) + "-" +
                 std::to_string(n.fetch_add(1)) + ".msgpack"))
      .string();
}

struct RemoveOnExit {
  std::string path;
  ~RemoveOnExit() { detail::os::Unlink(path); }
};

// Bytes of names, punctuation, an expiry and blanks a valid line may hold besides its key and
// value. A line longer than 6 * (max_key_bytes + max_value_bytes) + this is refused unread.
constexpr std::uint64_t kLineSlackBytes = 4096;

// The longest line that can hold a valid entry for these limits: every key and value byte
// written as a six-character \u00XX escape (base64 is shorter), plus kLineSlackBytes.
std::uint64_t MaxLineBytes(std::uint64_t max_key, std::uint64_t max_value) {
  return 6 * (max_key + max_value) + kLineSlackBytes;
}

// Reads the input line by line through a fixed buffer, so that a line costs at most max_line
// bytes of memory however long it is in the input.
class LineReader {
 public:
  LineReader(std::istream& in, std::uint64_t max_line, std::string why)
      : in_(in), max_(max_line), why_(std::move(why)) {}

  // The next line (without its '\n') in *line; false at the end of the input.
  bool Next(std::string* line) {
    line->clear();
    bool any = false;
    for (;;) {
      if (pos_ == len_ && !Fill()) return any;
      any = true;
      const char* start = buf_ + pos_;
      const auto* nl = static_cast<const char*>(std::memchr(start, '\n', len_ - pos_));
      const std::size_t take = nl ? static_cast<std::size_t>(nl - start) : len_ - pos_;
      if (line->size() + take > max_)
        detail::Throw(errc::value_too_large, "line " + std::to_string(line_no_ + 1) +
                                                 " is longer than " + std::to_string(max_) +
                                                 " bytes, the longest a valid line can be " + why_ +
                                                 "; refused before reading the rest of it");
      line->append(start, take);
      pos_ += take;
      if (nl) {
        ++pos_;
        break;
      }
    }
    ++line_no_;
    return true;
  }
  std::uint64_t line_no() const { return line_no_; }

 private:
  bool Fill() {
    in_.read(buf_, sizeof buf_);
    len_ = static_cast<std::size_t>(in_.gcount());
    pos_ = 0;
    if (in_.bad()) detail::Throw(errc::io_error, "import_jsonl: reading the input failed");
    return len_ > 0;
  }

  std::istream& in_;
  const std::uint64_t max_;
  const std::string why_;
  char buf_[64 * 1024];
  std::size_t pos_ = 0, len_ = 0;
  std::uint64_t line_no_ = 0;
};

// Drops every entry that a later one for the same key replaces, keeping the order of the rest.
// Returns how many were dropped.
std::uint64_t DropSuperseded(std::vector<detail::PlainEntry>* entries) {
  std::vector<std::size_t> by_key(entries->size());
  for (std::size_t i = 0; i < by_key.size(); ++i) by_key[i] = i;
  std::stable_sort(by_key.begin(), by_key.end(), [&](std::size_t x, std::size_t y) {
    return (*entries)[x].key < (*entries)[y].key;
  });
  std::vector<bool> superseded(entries->size());
  std::uint64_t dropped = 0;
  for (std::size_t k = 0; k + 1 < by_key.size(); ++k)
    if ((*entries)[by_key[k]].key == (*entries)[by_key[k + 1]].key) {
      superseded[by_key[k]] = true;
      ++dropped;
    }
  std::size_t out = 0;
  for (std::size_t i = 0; i < entries->size(); ++i)
    if (!superseded[i]) {
      if (out != i) (*entries)[out] = std::move((*entries)[i]);
      ++out;
    }
  entries->resize(out);
  return dropped;
}

// Writes the lines of a backup file through `sink`.
template <typename Sink>
JsonlResult WriteJsonl(Store& store, const JsonlExportOptions& options, Sink&& sink) {
  RemoveOnExit tmp{TempPath("export")};
  store.backup(tmp.path);
  detail::SnapshotFile snap(tmp.path);
  JsonlResult r;
  std::string line;
  for (const auto& e : snap.entries()) {
    line.clear();
    line += '{';
    Field(&line, "key", e.key);
    line += ',';
    if (options.json_values && LineParser::IsCompactDocument(e.value)) {
      line += "\"value\":";
      line += e.value;
    } else {
      Field(&line, "value", e.value);
    }
    if (e.expires_ms) line += ",\"expires_ms\":" + std::to_string(e.expires_ms);
    line += "}\n";
    sink(std::string_view(line));
    ++r.entries;
    r.bytes += e.key.size() + e.value.size();
  }
  return r;
}

}  // namespace

JsonlResult export_jsonl(Store& store, std::ostream& out, const JsonlExportOptions& options) {
  JsonlResult r = WriteJsonl(store, options, [&](std::string_view line) {
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
  });
  out.flush();
  if (!out) detail::Throw(errc::io_error, "export_jsonl: writing the output failed");
  return r;
}

JsonlResult export_jsonl(Store& store, const std::string& path, const JsonlExportOptions& options) {
  namespace fio = detail::fileio;
  if (path.empty()) detail::Throw(errc::invalid_argument, "export path is empty");
  static std::atomic<std::uint64_t> n{0};
  const std::string file = fio::AbsolutePath(path);
  const std::string tmp =
      file + ".tmp-" + std::to_string(detail::os::Pid()) + "-" + std::to_string(n.fetch_add(1));
  int fd = fio::CreateNew(tmp, 0600);  // O_EXCL: never through someone else's file or link
  try {
    std::string buf;
    JsonlResult r = WriteJsonl(store, options, [&](std::string_view line) {
      buf += line;
      if (buf.size() >= (1u << 20)) {
        fio::WriteAll(fd, buf.data(), buf.size(), tmp);
        buf.clear();
      }
    });
    fio::WriteAll(fd, buf.data(), buf.size(), tmp);
    fio::DataSync(fd, tmp);
    fio::Close(fd);
    fd = -1;
    fio::Rename(tmp, file);
    fio::SyncDir(fio::DirName(file));
    return r;
  } catch (...) {
    fio::Close(fd);
    fio::Unlink(tmp);
    throw;
  }
}

namespace {

// The entries of a JSONL input, parsed and checked against the store's limits and the budgets
// (see import_jsonl for the memory bound). Lines a later one for the same key replaced may remain
// (*dropped counts those already dropped).
std::vector<detail::PlainEntry> ReadEntries(Store& store, std::istream& in,
                                            const RestoreOptions& options, std::uint64_t* dropped) {
  const Info info = store.info();
  LineReader reader(in, MaxLineBytes(info.max_key_bytes, info.max_value_bytes),
                    "for max_key_bytes " + std::to_string(info.max_key_bytes) +
                        " and max_value_bytes " + std::to_string(info.max_value_bytes));
  // Memory is bounded by what the store can hold: once the entries pass twice a limit, the lines
  // a later one for the same key replaced are dropped, and the input is refused if the rest is
  // still over the limit. (Restore drops them too; doing it only then keeps the common case, no
  // duplicates, free of a per-line lookup.)
  std::vector<detail::PlainEntry> entries;
  std::uint64_t duplicates = 0, bytes = 0, record_bytes = 0, line_no = 0;
  const std::uint64_t key_capacity = info.max_keys * detail::kMaxLoadPercent / 100;
  // The key and arena limits are a segment's; a Redis store's memory is its server's.
  const bool segment = info.engine == "shm";
  auto over = [&](std::uint64_t factor) -> const char* {
    if (options.max_entries && entries.size() > factor * options.max_entries) return "max_entries";
    if (options.max_bytes && bytes > factor * options.max_bytes) return "max_bytes";
    if (segment && entries.size() > factor * key_capacity) return "keys";
    if (segment && record_bytes > factor * info.arena_bytes) return "arena";
    return nullptr;
  };
  auto compact_or_refuse = [&] {
    duplicates += DropSuperseded(&entries);
    bytes = record_bytes = 0;
    for (const auto& e : entries) {
      bytes += e.key.size() + e.value.size();
      record_bytes += detail::kRecordHeaderBytes + e.key.size() + e.value.size();
    }
    const std::string where = ", at line " + std::to_string(line_no);
    const std::string what = over(1) ? over(1) : "";
    if (what == "max_entries")
      detail::Throw(errc::limit_exceeded, "the input has more than " +
                                              std::to_string(options.max_entries) +
                                              " keys (max_entries)" + where);
    if (what == "max_bytes")
      detail::Throw(errc::limit_exceeded, "the input holds more than " +
                                              std::to_string(options.max_bytes) +
                                              " bytes of keys and values (max_bytes)" + where);
    if (what == "keys")
      detail::Throw(errc::store_full, "the input has more than " + std::to_string(key_capacity) +
                                          " keys, all that store '" + info.name + "' can hold" +
                                          where);
    if (what == "arena")
      detail::Throw(errc::store_full, "the input's records take more than the " +
                                          std::to_string(info.arena_bytes) +
                                          " arena bytes of store '" + info.name + "'" + where);
  };
  std::string line;
  while (reader.Next(&line)) {
    line_no = reader.line_no();
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    detail::PlainEntry e = LineParser(line, line_no).Parse();
    if (e.key.size() > info.max_key_bytes)
      detail::Throw(errc::key_too_long,
                    "line " + std::to_string(line_no) + ": key is " + std::to_string(e.key.size()) +
                        " bytes; max_key_bytes is " + std::to_string(info.max_key_bytes));
    if (e.value.size() > info.max_value_bytes)
      detail::Throw(errc::value_too_large, "line " + std::to_string(line_no) + ": value is " +
                                               std::to_string(e.value.size()) +
                                               " bytes; max_value_bytes is " +
                                               std::to_string(info.max_value_bytes));
    bytes += e.key.size() + e.value.size();
    record_bytes += detail::kRecordHeaderBytes + e.key.size() + e.value.size();
    entries.push_back(std::move(e));
    if (over(2)) compact_or_refuse();
  }
  if (over(1)) compact_or_refuse();  // restore would count duplicates against max_entries
  *dropped = duplicates;
  return entries;
}

// Adds checked entries to the store (JsonlImportOptions::merge): those without expiry by
// set_many in batches, the others one set each with the time they have left; expired ones are
// skipped.
RestoreResult MergeEntries(Store& store, std::vector<detail::PlainEntry> entries) {
  constexpr std::size_t kBatch = 4096;
  RestoreResult r;
  r.duplicates = DropSuperseded(&entries);
  const std::uint64_t now = detail::os::NowUnixMs();
  std::vector<std::pair<std::string, std::string>> batch;
  auto flush = [&] {
    if (!batch.empty()) store.set_many(batch);
    batch.clear();
  };
  for (auto& e : entries) {
    if (e.expires_ms != 0 && e.expires_ms <= now) {
      ++r.expired;
      continue;
    }
    ++r.entries;
    r.bytes += e.key.size() + e.value.size();
    if (e.expires_ms != 0) {
      store.set(e.key, e.value, std::chrono::milliseconds(e.expires_ms - now));
      continue;
    }
    batch.emplace_back(std::move(e.key), std::move(e.value));
    if (batch.size() == kBatch) flush();
  }
  flush();
  return r;
}

}  // namespace

RestoreResult import_jsonl(Store& store, std::istream& in, const JsonlImportOptions& options) {
  std::uint64_t duplicates = 0;
  std::vector<detail::PlainEntry> entries = ReadEntries(store, in, options.limits, &duplicates);
  RestoreResult r;
  if (options.merge) {
    r = MergeEntries(store, std::move(entries));
  } else {
    RemoveOnExit tmp{TempPath("import")};
    detail::WriteSnapshotOfEntries(entries, tmp.path);
    entries = {};
    r = store.restore(tmp.path, options.limits);
  }
  r.duplicates += duplicates;
  return r;
}

RestoreResult import_jsonl(Store& store, std::istream& in, const RestoreOptions& limits) {
  return import_jsonl(store, in, JsonlImportOptions{.limits = limits});
}

void append_json_field(std::string& out, std::string_view name, std::string_view bytes) {
  Field(&out, name, bytes);
}

std::optional<std::string> decode_base64_field(std::string_view text) {
  std::string bytes;
  if (!Unbase64(text, &bytes)) return std::nullopt;
  return bytes;
}

}  // namespace shmkv
