// jsonl.cpp: export_jsonl / import_jsonl, the portable text form of a backup.
//
// Export goes through a backup file (point-in-time per shard, absolute expiry) in the temporary
// directory; import parses and checks the whole text, writes it as a snapshot file, and restores
// that (all or nothing). Neither touches the segment directly, so both keep backup's and
// restore's locking and error rules. The temporary files are removed on every path.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <istream>
#include <ostream>

#include "shmkv/store.hpp"
#include "snapshot.hpp"
#include "throw.hpp"

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

bool ValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
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
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = cp << 6 | (cc & 0x3f);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
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

void Field(std::string* o, const char* name, std::string_view bytes) {
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
    bool have_key = false, have_value = false;
    Ws();
    Expect('{');
    Ws();
    if (Peek() != '}') {
      for (;;) {
        Ws();
        std::string name = String();
        Ws();
        Expect(':');
        Ws();
        if (name == "expires_ms") {
          e.expires_ms = Number();
        } else if (name == "key" || name == "value") {
          (name == "key" ? e.key : e.value) = String();
          (name == "key" ? have_key : have_value) = true;
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

  std::string_view s_;
  std::uint64_t line_;
  std::size_t i_ = 0;
};

std::string TempPath(const char* what) {
  static std::atomic<std::uint64_t> n{0};
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
  if (ec) dir = "/tmp";
  return (dir / ("shmkv-" + std::string(what) + "-" + std::to_string(::getpid()) + "-" +
                 std::to_string(n.fetch_add(1)) + ".msgpack"))
      .string();
}

struct RemoveOnExit {
  std::string path;
  ~RemoveOnExit() { ::unlink(path.c_str()); }
};

}  // namespace

JsonlResult export_jsonl(Store& store, std::ostream& out) {
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
    Field(&line, "value", e.value);
    if (e.expires_ms) line += ",\"expires_ms\":" + std::to_string(e.expires_ms);
    line += "}\n";
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
    ++r.entries;
    r.bytes += e.key.size() + e.value.size();
  }
  out.flush();
  if (!out) detail::Throw(errc::io_error, "export_jsonl: writing the output failed");
  return r;
}

RestoreResult import_jsonl(Store& store, std::istream& in, const RestoreOptions& options) {
  std::vector<detail::PlainEntry> entries;
  std::string line;
  std::uint64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    entries.push_back(LineParser(line, line_no).Parse());
    if (options.max_entries && entries.size() > options.max_entries)
      detail::Throw(errc::limit_exceeded, "the input has more than " +
                                              std::to_string(options.max_entries) +
                                              " entries (max_entries)");
  }
  if (in.bad()) detail::Throw(errc::io_error, "import_jsonl: reading the input failed");
  RemoveOnExit tmp{TempPath("import")};
  detail::WriteSnapshotOfEntries(entries, tmp.path);
  return store.restore(tmp.path, options);
}

}  // namespace shmkv
