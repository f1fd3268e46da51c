// cli_keys.cpp: `shmkv` commands on keys and values: single-key reads and writes, batches,
// ranges (list, scan, count, delete-prefix, delete-range) and random draws (cli.hpp). One
// library call each, after every argument is checked.
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "shmkv/json_field.hpp"

namespace shmkv_cli {

// Every byte of an open stream; io_error naming `what` if reading fails.
std::string ReadAll(std::FILE* f, const std::string& what) {
  std::string data;
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  if (std::ferror(f)) throw shmkv::Error(shmkv::errc::io_error, "reading " + what + " failed");
  return data;
}

// set's value: argv (KEY VALUE), standard input (KEY -) or a file (KEY --file F), exact bytes.
// Usage is checked before the store is opened; the bytes are read after (a missing file is
// not_found naming the path).
struct ValueSource {
  enum Kind { argument, stdin_bytes, file } kind = argument;
  std::string text;  // the value (argument) or the path (file)
};

ValueSource ParseValueSource(const Invocation& in) {
  if (in.pos.empty()) throw UsageError("missing KEY");
  const std::string* file = in.Opt("file");
  if (file != nullptr) {
    if (in.pos.size() > 1)
      throw UsageError("--file " + *file + " and VALUE '" + in.pos[1] + "' are both given");
    return {ValueSource::file, *file};
  }
  if (in.pos.size() < 2) throw UsageError("missing VALUE (or '-' for stdin, or --file F)");
  if (in.pos.size() > 2) throw UsageError("unexpected argument '" + in.pos[2] + "'");
  if (in.pos[1] == "-") return {ValueSource::stdin_bytes, {}};
  return {ValueSource::argument, in.pos[1]};
}

std::string ReadValue(const ValueSource& src) {
  switch (src.kind) {
    case ValueSource::argument:
      return src.text;
    case ValueSource::stdin_bytes:
      return ReadAll(stdin, "standard input");
    case ValueSource::file: {
      std::FILE* f = std::fopen(src.text.c_str(), "rb");
      if (f == nullptr) {
        const int err = errno;
        throw shmkv::Error(err == ENOENT   ? shmkv::errc::not_found
                           : err == EACCES ? shmkv::errc::permission_denied
                                           : shmkv::errc::io_error,
                           "--file " + src.text + ": " + std::strerror(err));
      }
      std::string data;
      try {
        data = ReadAll(f, "--file " + src.text);
      } catch (...) {
        std::fclose(f);
        throw;
      }
      std::fclose(f);
      return data;
    }
  }
  return {};
}

int RunSet(Invocation& in) {
  const std::chrono::milliseconds ttl = in.Ttl();
  const ValueSource src = ParseValueSource(in);
  shmkv::Store& store = in.Open();
  store.set(in.pos[0], ReadValue(src), ttl);
  return kExitOk;
}

int RunGet(Invocation& in) {
  const bool raw = in.Has("raw"), json = in.Has("json");
  if (raw && json) throw UsageError("--raw and --json exclude each other");
  auto v = in.Open().get(in.pos[0]);
  if (!v) return NotFound(in, in.pos[0]);
  if (raw) {
    Out(*v);  // exact bytes, no newline
  } else if (json) {
    OutLine(EntryJson({in.pos[0], *v}));
  } else {
    OutLine(*v);
  }
  return kExitOk;
}

int RunDel(Invocation& in) {
  if (!in.Open().del(in.pos[0])) return NotFound(in, in.pos[0]);
  return kExitOk;
}

int RunExists(Invocation& in) {
  bool e = in.Open().exists(in.pos[0]);
  OutLine(e ? "true" : "false");
  return e ? kExitOk : kExitFalse;
}

int RunIncr(Invocation& in) {
  std::int64_t delta = in.pos.size() > 1 ? ParseDelta(in.pos[1]) : 1;
  OutLine(std::to_string(in.Open().increment_by(in.pos[0], delta)));
  return kExitOk;
}

int RunCas(Invocation& in) {
  bool absent = in.Has("absent");
  std::size_t want = absent ? 2 : 3;
  if (in.pos.size() < want) {
    throw UsageError(in.pos.empty()                   ? "missing KEY"
                     : (absent || in.pos.size() == 2) ? "missing NEW"
                                                      : "missing EXPECTED (or --absent)");
  }
  if (in.pos.size() > want) throw UsageError("unexpected argument '" + in.pos[want] + "'");
  std::optional<std::string_view> expected;
  if (!absent) expected = in.pos[1];
  const std::chrono::milliseconds ttl = in.Ttl();
  if (in.Has("json")) {  // what the key holds after the call, read under the comparison's lock
    const shmkv::CasOutcome r =
        in.Open().compare_and_swap_detailed(in.pos[0], expected, in.pos[want - 1], ttl);
    OutLine("{" + BytesField("key", in.pos[0]) + ",\"swapped\":" + (r.swapped ? "true" : "false") +
            (r.current ? "," + BytesField("current", *r.current) : ",\"current\":null") + "}");
    return r.swapped ? kExitOk : kExitFalse;
  }
  if (in.Open().compare_and_swap(in.pos[0], expected, in.pos[want - 1], ttl)) return kExitOk;
  return Note(in,
              absent ? "lost: the key exists" : "lost: the key is absent or holds another value",
              kExitFalse);
}

int RunCad(Invocation& in) {
  if (in.Open().compare_and_delete(in.pos[0], in.pos[1])) return kExitOk;
  return Note(in, "lost: the key is absent or holds another value", kExitFalse);
}

// Exit 0 when it stored VALUE, kExitLoaded (4) when the key existed and nothing was stored.
int RunGetOrSet(Invocation& in) {
  const std::chrono::milliseconds ttl = in.Ttl();
  auto r = in.Open().get_or_set(in.pos[0], in.pos[1], ttl);
  if (in.Has("json")) {
    OutLine("{" + BytesField("key", in.pos[0]) + "," + BytesField("value", r.value) +
            ",\"outcome\":\"" + (r.loaded ? "loaded" : "stored") + "\"}");
  } else {
    OutLine(r.value);
  }
  Note(in,
       r.loaded ? "loaded: the key existed; printed its current value (exit 4)"
                : "stored: the key was absent; it now holds the given value (exit 0)",
       kExitOk);
  return r.loaded ? kExitLoaded : kExitOk;
}

int RunSwap(Invocation& in) {
  const std::chrono::milliseconds ttl = in.Ttl();
  auto r = in.Open().swap(in.pos[0], in.pos[1], ttl);
  if (r.previous) {
    OutLine(*r.previous);
    Note(in, "replaced: printed the previous value", kExitOk);
  } else {
    Note(in, "created: the key was absent (no previous value)", kExitOk);
  }
  return kExitOk;
}

int RunSetIfAbsent(Invocation& in) {
  const std::chrono::milliseconds ttl = in.Ttl();
  if (in.Open().set_if_absent(in.pos[0], in.pos[1], ttl)) return kExitOk;
  return Note(in, "not set: the key already exists", kExitFalse);
}

int RunExpire(Invocation& in) {
  auto ttl = ParseDuration("TTL", in.pos[1]);
  if (!in.Open().expire(in.pos[0], ttl)) return NotFound(in, in.pos[0]);
  return kExitOk;
}

int RunTtl(Invocation& in) {
  auto t = in.Open().ttl(in.pos[0]);
  if (!t) return NotFound(in, in.pos[0]);
  OutLine(t->count() == 0 ? std::string("none") : std::to_string(t->count()) + "ms");
  return kExitOk;
}

int RunList(Invocation& in) {
  auto o = in.RangeOptions<shmkv::ListOptions>();
  o.limit = in.Limit();
  if (in.Has("keys-only")) {
    auto keys = in.Open().list_keys(o);
    if (in.Has("json")) {
      OutLine(KeysJson(keys));
    } else {
      for (const auto& k : keys) OutLine(k);
    }
    return kExitOk;
  }
  auto entries = in.Open().list(o);
  if (in.Has("json")) {
    OutLine(EntriesJson(entries));
  } else {
    for (const auto& e : entries) OutLine(e.key + '\t' + e.value);
  }
  return kExitOk;
}

// Text mode's note after a scan page, on stderr. A cursor that is not UTF-8 is shown as the
// --cursor-base64 to continue with (the JSON convention's base64).
void NoteScanEnd(const std::string& cursor, bool done) {
  if (done) {
    Err("(done: no more keys)");
    return;
  }
  const std::string field = BytesField("cursor", cursor);
  constexpr std::string_view kBase64Head = "\"cursor_base64\":\"";
  if (field.starts_with(kBase64Head)) {
    const std::string b64 = field.substr(kBase64Head.size(), field.size() - kBase64Head.size() - 1);
    Err("next cursor (not UTF-8): continue with --cursor-base64 " + b64);
  } else {
    Err("next cursor: " + cursor + "  (continue with --cursor '" + cursor + "')");
  }
}

// --cursor C, or --cursor-base64 B (what scan --json printed as "cursor_base64"), or "".
std::string ScanCursor(const Invocation& in) {
  const std::string* b64 = in.Opt("cursor-base64");
  if (b64 == nullptr) return in.OptOr("cursor", "");
  if (in.Has("cursor")) throw UsageError("--cursor and --cursor-base64 exclude each other");
  auto bytes = shmkv::decode_base64_field(*b64);
  if (!bytes) throw UsageError("--cursor-base64: '" + *b64 + "' is not padded base64");
  return *bytes;
}

int RunScan(Invocation& in) {
  auto o = in.RangeOptions<shmkv::ScanOptions>();
  o.limit = in.Limit();
  o.cursor = ScanCursor(in);
  if (in.Has("keys-only")) {
    auto page = in.Open().scan_keys(o);
    if (in.Has("json")) {
      OutLine(PageJson("keys", KeysJson(page.keys), page.cursor, page.done));
    } else {
      for (const auto& k : page.keys) OutLine(k);
      NoteScanEnd(page.cursor, page.done);
    }
    return kExitOk;
  }
  auto page = in.Open().scan(o);
  if (in.Has("json")) {
    OutLine(PageJson("entries", EntriesJson(page.entries), page.cursor, page.done));
  } else {
    for (const auto& e : page.entries) OutLine(e.key + '\t' + e.value);
    NoteScanEnd(page.cursor, page.done);
  }
  return kExitOk;
}

int RunCount(Invocation& in) {
  OutLine(std::to_string(in.Open().count(in.RangeOptions<shmkv::KeyRange>())));
  return kExitOk;
}

int RunRandomKey(Invocation& in) {
  auto k = in.Open().random_key(in.OptOr("prefix", ""));
  if (!k) return Note(in, "no key matches", kExitFalse);
  OutLine(*k);
  return kExitOk;
}

// pop-random [--wait D]: pop_random_wait when --wait is given (exit 1 once it ran out).
int RunPopRandom(Invocation& in) {
  const std::string prefix = in.OptOr("prefix", "");
  std::optional<std::chrono::milliseconds> wait;
  if (in.Has("wait")) wait = ParseDuration("--wait", *in.Opt("wait"));  // before opening
  auto e = wait ? in.Open().pop_random_wait(prefix, *wait) : in.Open().pop_random(prefix);
  if (!e) return Note(in, "no key matches", kExitFalse);
  OutLine(e->key + '\t' + e->value);
  return kExitOk;
}

// pop-random-many N: up to N entries, as KEY<TAB>VALUE lines or one JSON array (exit 1 if none).
int RunPopRandomMany(Invocation& in) {
  const std::size_t n = ParseCount("N", in.pos[0]);
  auto entries = in.Open().pop_random_many(in.OptOr("prefix", ""), n);
  if (in.Has("json")) {
    OutLine(EntriesJson(entries));
  } else {
    for (const auto& e : entries) OutLine(e.key + '\t' + e.value);
  }
  if (entries.empty()) return Note(in, "no key matches", kExitFalse);
  return kExitOk;
}

// Prints how many keys a delete-prefix or delete-range deleted, and a note when some remain.
int ReportDeleted(Invocation& in, const shmkv::DeletePrefixResult& r, std::string_view which) {
  OutLine(std::to_string(r.deleted));
  if (!r.done) Note(in, "limit reached: keys " + std::string(which) + " remain", kExitOk);
  return kExitOk;
}

int RunDeletePrefix(Invocation& in) {
  std::size_t limit = in.Limit();
  return ReportDeleted(in, in.Open().delete_prefix(in.pos[0], limit), "with this prefix");
}

int RunDeleteRange(Invocation& in) {
  std::size_t limit = in.Limit();
  auto range = in.RangeOptions<shmkv::KeyRange>();
  if (range.prefix.empty() && range.from.empty() && range.to.empty())
    throw UsageError("give at least one of --prefix, --from, --to (clear deletes every key)");
  return ReportDeleted(in, in.Open().delete_range(range, limit), "in the range");
}

// mget KEY...: one line per key, in argument order: the value, or nothing found (exit 1 if any
// key is absent). --json: one array, an object per key ({"key":..,"value":..} or
// {"key":..,"found":false}).
int RunMget(Invocation& in) {
  if (in.pos.empty()) throw UsageError("missing KEY");
  auto values = in.Open().get_many(in.pos);
  std::size_t missing = 0;
  std::string json = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!values[i]) ++missing;
    if (in.Has("json")) {
      if (i) json += ',';
      json += values[i] ? EntryJson({in.pos[i], *values[i]})
                        : "{" + BytesField("key", in.pos[i]) + ",\"found\":false}";
    } else if (values[i]) {
      OutLine(in.pos[i] + '\t' + *values[i]);
    } else {
      NotFound(in, in.pos[i]);
    }
  }
  if (in.Has("json")) OutLine(json + "]");
  return missing ? kExitFalse : kExitOk;
}

// mset KEY VALUE [KEY VALUE...]: one set_many (validated first: one bad pair writes nothing).
int RunMset(Invocation& in) {
  if (in.pos.empty()) throw UsageError("missing KEY VALUE");
  if (in.pos.size() % 2 != 0)
    throw UsageError("missing VALUE for the last KEY '" + in.pos.back() + "'");
  const std::chrono::milliseconds ttl = in.Ttl();
  std::vector<std::pair<std::string, std::string>> pairs;
  for (std::size_t i = 0; i < in.pos.size(); i += 2) pairs.emplace_back(in.pos[i], in.pos[i + 1]);
  in.Open().set_many(pairs, ttl);
  return kExitOk;
}

// mdel KEY...: prints how many of the keys existed and were deleted.
int RunMdel(Invocation& in) {
  if (in.pos.empty()) throw UsageError("missing KEY");
  OutLine(std::to_string(in.Open().delete_many(in.pos)));
  return kExitOk;
}

int RunRandomKeys(Invocation& in) {
  const std::size_t count = ParseCount("COUNT", in.pos[0]);
  auto keys = in.Open().random_keys(count, in.OptOr("prefix", ""), in.Has("unique"));
  if (in.Has("json")) {
    OutLine(KeysJson(keys));
  } else {
    for (const auto& k : keys) OutLine(k);
  }
  return keys.empty() ? kExitFalse : kExitOk;
}

int RunSize(Invocation& in) {
  OutLine(std::to_string(in.Open().size()));
  return kExitOk;
}

int RunClear(Invocation& in) {
  in.Open().clear();
  return kExitOk;
}

}  // namespace shmkv_cli
