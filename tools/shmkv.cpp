// shmkv.cpp: `shmkv`, the command-line client of a shmkv store.
//
//   shmkv [--url URL] [--name NAME] COMMAND [ARGS...]
//
// One command per invocation: it parses and validates every argument first, then opens the
// store (create: OpenMode::create_only; read commands: read_only; everything else:
// attach_only), runs one library call and prints the result. The store name comes from --name,
// else $SHMKV_NAME, else "default"; where it lives (Options::url) from --url, else $SHMKV_URL,
// else this host's shared memory (a segment in /dev/shm). Every command works on both engines;
// the library refuses the segment's options (create --size, ...) on a url (invalid_argument).
// `shmkv --help` lists the commands.
//
// Output: values and keys are printed as-is in text mode (list/scan/pop-random/pop-random-many
// print KEY<TAB>VALUE lines; list and scan with --keys-only print KEY lines). --json output follows
// export --jsonl's convention for bytes (shmkv/json_field.hpp, one encoder): a key or value that is
// valid UTF-8 is a JSON string
// ("key", "value"), any other is base64 ("key_base64", "value_base64"), so no two keys print
// alike. Status notes go to stderr, data to stdout.
//
// Exit codes: 0 ok; 1 not found / false / lost race; 2 usage error; 3 shmkv::Error or other
// failure ("shmkv: <errc_name>: <message>" on stderr: "shmkv: unavailable: ..." when the server
// cannot be reached, "shmkv: outcome_unknown: ..." when the connection was lost after a write
// was sent); 4 get-or-set found the key (it printed the stored value and stored nothing; 0
// means it stored the given value); 5 lock, acquire, claim or claim-random did not obtain the
// grant. lock, acquire, claim and claim-random with `-- CMD ARGS...` run CMD while this process
// holds the grant (cli_hold.hpp) and exit with CMD's status.
#include "shmkv/shmkv.hpp"

#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cli_hold.hpp"
#include "inspect_output.hpp"
#include "shmkv/json_field.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFalse = 1;
constexpr int kExitUsage = 2;
constexpr int kExitError = 3;
constexpr int kExitLoaded = 4;      // get-or-set: the key existed; nothing was stored
constexpr int kExitNotGranted = 5;  // lock, acquire, claim, claim-random: not obtained

// A malformed command line. Thrown before the store is opened; main() prints it with the
// command's usage line and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------------
// Output helpers.

[[gnu::format(printf, 1, 2)]] std::string Format(const char* fmt, ...) {
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

// "64.0 MiB" style rendering of a byte count, for humans.
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

std::string UnixMsToUtc(std::uint64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "?";
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// JSON objects are built with shmkv-inspect's helpers (tools/inspect_output.hpp); keys, values
// and other store bytes go through shmkv::append_json_field, export --jsonl's encoder.
using inspect_out::Obj;

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

// ---------------------------------------------------------------------------------------------
// Commands.

enum class Access {
  create,  // the command opens the store itself (create) or not at all (destroy)
  write,   // OpenMode::attach_only
  read,    // OpenMode::read_only
};

struct OptionSpec {
  std::string_view name;  // without the leading "--"
  bool takes_value;
};

struct Invocation;

struct CommandDef {
  std::string_view name;
  std::string_view synopsis;  // what follows the command name in the usage line
  std::string_view summary;
  Access access;
  std::vector<OptionSpec> options;
  std::vector<std::string_view> required;  // positional arguments, checked before run
  std::vector<std::string_view> optional;
  int (*run)(Invocation&);
  bool custom_positionals = false;  // run() checks the positional count itself
};

struct Invocation {
  const CommandDef* cmd = nullptr;
  std::string name;
  std::string url;  // --url / $SHMKV_URL; empty = this host's shared memory
  std::optional<std::uint32_t> trusted_group;  // --trusted-group / $SHMKV_TRUSTED_GROUP
  std::vector<std::string> pos;
  std::map<std::string, std::string, std::less<>> opts;  // flags map to ""
  std::optional<shmkv::Store> store;

  bool Has(std::string_view o) const { return opts.find(o) != opts.end(); }
  const std::string* Opt(std::string_view o) const {
    auto it = opts.find(o);
    return it == opts.end() ? nullptr : &it->second;
  }
  std::string OptOr(std::string_view o, std::string_view dflt) const {
    auto* v = Opt(o);
    return v ? *v : std::string(dflt);
  }
  std::size_t Limit() const { return Has("limit") ? ParseCount("--limit", *Opt("limit")) : 0; }
  // --ttl, or zero (no expiry) without it. The commands that write a value give the key this
  // TTL and drop the one it had (store.hpp's rule); incr keeps it.
  std::chrono::milliseconds Ttl() const {
    return Has("ttl") ? ParseDuration("--ttl", *Opt("ttl")) : std::chrono::milliseconds{};
  }
  // --prefix, --from and --to as the range of a ListOptions, ScanOptions or KeyRange.
  template <typename Range>
  Range RangeOptions() const {
    Range r;
    r.prefix = OptOr("prefix", "");
    r.from = OptOr("from", "");
    r.to = OptOr("to", "");
    return r;
  }

  // The store's name and place (and trusted group), the rest at the defaults.
  shmkv::Options StoreOptions() const {
    shmkv::Options o;
    o.name = name;
    o.url = url;
    o.trusted_group = trusted_group;
    return o;
  }

  // Opens the store for the command's access kind. Called after all arguments are parsed, so
  // usage errors are reported before any store error.
  shmkv::Store& Open() {
    shmkv::Options o = StoreOptions();
    o.open_mode =
        cmd->access == Access::read ? shmkv::OpenMode::read_only : shmkv::OpenMode::attach_only;
    store.emplace(shmkv::Store::open(o));
    return *store;
  }
};

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

std::string InfoJson(const shmkv::Info& i);

// create --json's "recovery": what opening a persistent store found and did (RecoveryReport).
std::string RecoveryJson(const shmkv::RecoveryReport& r) {
  auto texts = [](const std::vector<std::string>& lines) {
    std::vector<std::string> quoted;
    for (const auto& l : lines) quoted.push_back(inspect_out::JsonQuote(l));
    return inspect_out::Array(quoted);
  };
  return Obj()
      .Bool("performed", r.performed)
      .Str("directory", r.directory)
      .Str("snapshot", r.snapshot)
      .Num("snapshot_seq", r.snapshot_seq)
      .Num("snapshot_entries", r.snapshot_entries)
      .Raw("rejected_snapshots", texts(r.rejected_snapshots))
      .Num("journal_files", r.journal_files)
      .Num("records_applied", r.records_applied)
      .Num("records_skipped", r.records_skipped)
      .Raw("truncated", texts(r.truncated))
      .Num("truncated_bytes", r.truncated_bytes)
      .Raw("skipped", texts(r.skipped))
      .Num("skipped_bytes", r.skipped_bytes)
      .Raw("notes", texts(r.notes))
      .Num("entries", r.entries)
      .Num("next_seq", r.next_seq)
      .Int("duration_us", r.duration.count())
      .Done();
}

int RunCreate(Invocation& in) {
  shmkv::Options o = in.StoreOptions();
  o.open_mode = shmkv::OpenMode::create_only;
  if (auto* v = in.Opt("size")) o.size_bytes = ParseSize("--size", *v);
  if (auto* v = in.Opt("shards")) o.shards = ToU32("--shards", ParseCount("--shards", *v));
  if (auto* v = in.Opt("max-key")) o.max_key_bytes = ToU32("--max-key", ParseSize("--max-key", *v));
  if (auto* v = in.Opt("max-value")) {
    o.max_value_bytes = ToU32("--max-value", ParseSize("--max-value", *v));
  }
  if (auto* v = in.Opt("max-keys")) o.max_keys = ParseCount("--max-keys", *v);
  if (auto* v = in.Opt("home-block"))
    o.home_block_bytes = ToU32("--home-block", ParseSize("--home-block", *v));
  if (auto* v = in.Opt("mode")) o.mode = ParseMode(*v);
  if (auto* v = in.Opt("dir")) {
    shmkv::PersistenceOptions p;
    p.directory = *v;
    if (auto* f = in.Opt("fsync")) {
      if (*f == "always")
        p.fsync = shmkv::FsyncPolicy::always;
      else if (*f == "interval")
        p.fsync = shmkv::FsyncPolicy::interval;
      else if (*f == "never")
        p.fsync = shmkv::FsyncPolicy::never;
      else
        throw UsageError("--fsync: '" + *f + "' is not always, interval or never");
    }
    if (auto* d = in.Opt("snapshot-interval"))
      p.snapshot_interval = ParseDuration("--snapshot-interval", *d);
    if (auto* d = in.Opt("fsync-interval"))
      p.fsync_interval = ParseDuration("--fsync-interval", *d);
    if (auto* k = in.Opt("keep")) p.keep_snapshots = ToU32("--keep", ParseCount("--keep", *k));
    o.persistence = p;
  } else if (in.Has("fsync") || in.Has("snapshot-interval") || in.Has("fsync-interval") ||
             in.Has("keep")) {
    throw UsageError("--fsync, --fsync-interval, --snapshot-interval and --keep need --dir");
  }
  // Left at its default, the max value is lowered by the library to what fits a small --size.
  shmkv::Store store = shmkv::Store::open(o);
  if (const std::uint32_t fitted = store.info().max_value_bytes; fitted != o.max_value_bytes)
    Err(
        Format("shmkv: create: max value lowered from %s to %s, the largest that fits a %s "
               "store (give --max-value to choose it)",
               HumanBytes(o.max_value_bytes).c_str(), HumanBytes(fitted).c_str(),
               HumanBytes(o.size_bytes).c_str()));
  if (o.persistence) {
    shmkv::RecoveryReport r = store.recovery_report();
    std::string note = "persisting to " + r.directory;
    if (!r.snapshot.empty() || r.records_applied > 0)
      note += Format("; recovered %" PRIu64 " keys (snapshot %s, %" PRIu64
                     " journal records replayed, %zu tail(s) cut, %zu damaged range(s) skipped, "
                     "%zu snapshot(s) rejected)",
                     r.entries, r.snapshot.empty() ? "none" : r.snapshot.c_str(), r.records_applied,
                     r.truncated.size(), r.skipped.size(), r.rejected_snapshots.size());
    // Damage is reported loudly, one line each: data was lost or set aside.
    for (const auto& t : r.rejected_snapshots)
      Err("shmkv: create: WARNING: rejected snapshot " + t);
    for (const auto& t : r.skipped) Err("shmkv: create: WARNING: journal damage " + t);
    for (const auto& t : r.truncated) Err("shmkv: create: cut " + t);
    for (const auto& t : r.notes) Err("shmkv: create: " + t);
    Err("shmkv: create: " + note);
  }
  shmkv::Info info = store.info();
  if (in.Has("json")) {
    OutLine(Obj()
                .Raw("info", InfoJson(info))
                .Raw("recovery", o.persistence ? RecoveryJson(store.recovery_report()) : "null")
                .Done());
    store.close();
    return kExitOk;
  }
  if (info.redis) {
    OutLine(Format("created store '%s' on %s (redis %s): max key %u bytes, max value %s",
                   info.name.c_str(), info.redis->url.c_str(), info.redis->server_version.c_str(),
                   info.max_key_bytes, HumanBytes(info.max_value_bytes).c_str()));
    return kExitOk;
  }
  OutLine(Format("created store '%s' (/dev/shm/shmkv.%s): %s, %u shards, %" PRIu64
                 " key slots, max key %u bytes, max value %s, mode 0%o",
                 info.name.c_str(), info.name.c_str(), HumanBytes(info.size_bytes).c_str(),
                 info.shards, info.max_keys, info.max_key_bytes,
                 HumanBytes(info.max_value_bytes).c_str(), o.mode));
  store.close();  // io_error (exit 3) if the snapshot or journal of the recovery failed
  return kExitOk;
}

int RunSnapshot(Invocation& in) {
  shmkv::BackupResult r = in.Open().snapshot();
  OutLine(Format("snapshot of %" PRIu64 " keys (%s) at seq %" PRIu64 " in %.1f ms", r.entries,
                 HumanBytes(r.bytes).c_str(), r.seq, r.duration.count() / 1000.0));
  return kExitOk;
}

int RunSync(Invocation& in) {
  in.Open().sync();
  return kExitOk;
}

int RunDestroy(Invocation& in) {
  shmkv::Store::destroy(in.StoreOptions());
  return kExitOk;
}

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

// info's "coordination": the table's counts and each grant (the first bytes of its name in the
// bytes convention, "name_head" or "name_head_base64"; lease_left_ms null when it has no lease).
std::string CoordinationJson(const shmkv::CoordinationInfo& c) {
  std::vector<std::string> grants;
  for (const shmkv::GrantInfo& g : c.grants) {
    const std::string lease =
        g.lease_left_ms < 0 ? std::string("null") : std::to_string(g.lease_left_ms);
    grants.push_back("{\"kind\":" + inspect_out::JsonQuote(g.kind) + "," +
                     BytesField("name_head", g.name_head) +
                     Format(",\"name_bytes\":%u,\"token\":%" PRIu64
                            ",\"holder_pid\":%d,\"holder_client\":%" PRIu64
                            ",\"holder_alive\":%s,\"lease_left_ms\":%s}",
                            g.name_bytes, g.token, g.holder_pid, g.holder_client,
                            g.holder_alive ? "true" : "false", lease.c_str()));
  }
  return Obj()
      .Num("capacity", c.capacity)
      .Num("used", c.used)
      .Num("last_token", c.last_token)
      .Num("waiters", c.waiters)
      .Num("recoveries", c.recoveries)
      .Raw("grants", inspect_out::Array(grants))
      .Done();
}

std::string InfoJson(const shmkv::Info& i) {
  std::string shards = "[";
  for (std::size_t k = 0; k < i.shard.size(); ++k) {
    const auto& s = i.shard[k];
    if (k) shards += ',';
    shards += Obj()
                  .Num("index", k)
                  .Num("live_keys", s.live_keys)
                  .Num("capacity", s.capacity)
                  .Num("arena_bytes", s.arena_bytes)
                  .Num("used_bytes", s.used_bytes)
                  .Num("max_probe", s.max_probe)
                  .Num("recoveries", s.recoveries)
                  .Done();
  }
  shards += ']';
  std::string procs = "[";
  for (std::size_t k = 0; k < i.processes.size(); ++k) {
    const auto& p = i.processes[k];
    if (k) procs += ',';
    procs += Obj().Int("pid", p.pid).Num("start_time", p.start_time).Bool("alive", p.alive).Done();
  }
  procs += ']';
  std::string redis = "null";
  if (i.redis)
    redis = Obj()
                .Str("url", i.redis->url)
                .Str("server_version", i.redis->server_version)
                .Num("index_entries", i.redis->index_entries)
                .Num("expiring_entries", i.redis->expiring_entries)
                .Num("used_memory", i.redis->used_memory)
                .Num("maxmemory", i.redis->maxmemory)
                .Done();
  return Obj()
      .Str("name", i.name)
      .Str("engine", i.engine)
      .Raw("redis", redis)
      .Num("layout_version", i.layout_version)
      // A string: a 64-bit fingerprint does not survive JSON readers that use doubles.
      .Str("layout_fingerprint", Format("0x%016" PRIx64, i.layout_fingerprint))
      .Num("created_unix_ms", i.created_unix_ms)
      .Num("size_bytes", i.size_bytes)
      .Num("shards", i.shards)
      .Num("max_key_bytes", i.max_key_bytes)
      .Num("max_value_bytes", i.max_value_bytes)
      .Num("max_keys", i.max_keys)
      .Num("arena_bytes", i.arena_bytes)
      .Num("arena_used_bytes", i.arena_used_bytes)
      .Num("home_block_bytes", i.home_block_bytes)
      .Num("home_records", i.home_records)
      .Num("live_keys", i.live_keys)
      .Raw("shard", shards)
      .Raw("processes", procs)
      .Raw("coordination", CoordinationJson(i.coordination))
      .Done();
}

// info's coordination lines: the counts, then one line per grant.
void PrintCoordination(const shmkv::CoordinationInfo& c) {
  const std::string capacity = c.capacity ? Format(" of %u", c.capacity) : std::string();
  OutLine(
      Format("coordination:     %u%s grants in use (claims, locks, permits, barriers), "
             "last token %" PRIu64 ", %u waiting, %" PRIu64 " repairs",
             c.used, capacity.c_str(), c.last_token, c.waiters, c.recoveries));
  for (const shmkv::GrantInfo& g : c.grants) {
    const std::string name = g.name_head + (g.name_bytes > g.name_head.size() ? "..." : "");
    const char* alive = g.holder_alive ? "alive" : "DEAD (free)";
    const std::string holder = g.holder_client
                                   ? Format("client %" PRIu64 " %s", g.holder_client, alive)
                               : g.holder_pid ? Format("pid %d %s", g.holder_pid, alive)
                                              : std::string("no holder");
    const std::string lease =
        g.lease_left_ms < 0 ? "no lease" : Format("lease %" PRId64 " ms left", g.lease_left_ms);
    OutLine(Format("  %-8s %-12s token %-8" PRIu64 " %-16s %s", g.kind.c_str(), name.c_str(),
                   g.token, holder.c_str(), lease.c_str()));
  }
}

int RunInfo(Invocation& in) {
  shmkv::Info i = in.Open().info();
  if (in.Has("json")) {
    OutLine(InfoJson(i));
    return kExitOk;
  }
  if (i.redis) {
    const shmkv::RedisInfo& r = *i.redis;
    OutLine(Format("name:             %s  (on %s, keys {%s}:*)", i.name.c_str(), r.url.c_str(),
                   i.name.c_str()));
    OutLine(Format("engine:           redis %s", r.server_version.c_str()));
    OutLine(Format("max key:          %u bytes", i.max_key_bytes));
    OutLine(Format("max value:        %u bytes (%s)", i.max_value_bytes,
                   HumanBytes(i.max_value_bytes).c_str()));
    OutLine(Format("live keys:        %" PRIu64, i.live_keys));
    OutLine(Format("index entries:    %" PRIu64 " (%" PRIu64 " with a TTL)", r.index_entries,
                   r.expiring_entries));
    OutLine(Format("server memory:    %s used, maxmemory %s", HumanBytes(r.used_memory).c_str(),
                   r.maxmemory ? HumanBytes(r.maxmemory).c_str() : "none"));
    PrintCoordination(i.coordination);
    return kExitOk;
  }
  auto pct = [](std::uint64_t a, std::uint64_t b) { return b ? 100.0 * a / b : 0.0; };
  OutLine(Format("name:             %s  (/dev/shm/shmkv.%s)", i.name.c_str(), i.name.c_str()));
  OutLine("engine:           shm (this host's shared memory)");
  OutLine(Format("layout:           version %u, fingerprint 0x%016" PRIx64, i.layout_version,
                 i.layout_fingerprint));
  OutLine(Format("created:          %s  (unix ms %" PRIu64 ")",
                 UnixMsToUtc(i.created_unix_ms).c_str(), i.created_unix_ms));
  OutLine(Format("size:             %" PRIu64 " bytes (%s)", i.size_bytes,
                 HumanBytes(i.size_bytes).c_str()));
  OutLine(Format("shards:           %u", i.shards));
  OutLine(Format("max key:          %u bytes", i.max_key_bytes));
  OutLine(Format("max value:        %u bytes (%s)", i.max_value_bytes,
                 HumanBytes(i.max_value_bytes).c_str()));
  OutLine(Format("max keys:         %" PRIu64 " (hash-table slots, all shards)", i.max_keys));
  OutLine(Format("arena:            %" PRIu64 " bytes (%s), %" PRIu64 " held by shards (%.1f%%)",
                 i.arena_bytes, HumanBytes(i.arena_bytes).c_str(), i.arena_used_bytes,
                 pct(i.arena_used_bytes, i.arena_bytes)));
  if (i.home_block_bytes)
    OutLine(Format("home blocks:      %u bytes; %" PRIu64 " records in theirs (%.1f%% of keys)",
                   i.home_block_bytes, i.home_records, pct(i.home_records, i.live_keys)));
  OutLine(Format("live keys:        %" PRIu64
                 " (%.1f%% of slots; expired keys count until reclaimed)",
                 i.live_keys, pct(i.live_keys, i.max_keys)));
  OutLine(Format("processes:        %zu attached", i.processes.size()));
  if (!i.processes.empty()) {
    OutLine(Format("  %10s  %14s  %s", "pid", "start_time", "alive"));
    for (const auto& p : i.processes) {
      OutLine(Format("  %10d  %14" PRIu64 "  %-5s%s", p.pid, p.start_time, p.alive ? "yes" : "no",
                     p.pid == ::getpid() ? "  (this shmkv command)" : ""));
    }
  }
  PrintCoordination(i.coordination);
  OutLine(Format("per shard:        %zu rows", i.shard.size()));
  OutLine(Format("  %6s  %10s  %10s  %6s  %12s  %12s  %9s  %10s", "shard", "live_keys", "capacity",
                 "load", "arena_bytes", "used_bytes", "max_probe", "recoveries"));
  for (std::size_t k = 0; k < i.shard.size(); ++k) {
    const auto& s = i.shard[k];
    OutLine(Format("  %6zu  %10" PRIu64 "  %10" PRIu64 "  %5.1f%%  %12" PRIu64 "  %12" PRIu64
                   "  %9u  %10" PRIu64,
                   k, s.live_keys, s.capacity, pct(s.live_keys, s.capacity), s.arena_bytes,
                   s.used_bytes, s.max_probe, s.recoveries));
  }
  return kExitOk;
}

int RunStats(Invocation& in) {
  shmkv::Stats s = in.Open().stats();
  const std::pair<const char*, std::uint64_t> rows[] = {
      {"gets", s.gets},
      {"hits", s.hits},
      {"misses", s.misses},
      {"sets", s.sets},
      {"deletes", s.deletes},
      {"cas_success", s.cas_success},
      {"cas_failure", s.cas_failure},
      {"lock_waits", s.lock_waits},
      {"recoveries", s.recoveries},
  };
  if (in.Has("json")) {
    Obj o;
    for (const auto& [k, v] : rows) o.Num(k, v);
    OutLine(o.Done());
  } else {
    for (const auto& [k, v] : rows) OutLine(Format("%-12s %" PRIu64, k, v));
  }
  return kExitOk;
}

int RunBackup(Invocation& in) {
  shmkv::BackupResult r = in.Open().backup(in.pos[0]);
  OutLine(Format("backed up %" PRIu64 " keys to %s: %s, seq %" PRIu64 ", %.1f ms", r.entries,
                 in.pos[0].c_str(), HumanBytes(r.bytes).c_str(), r.seq,
                 static_cast<double>(r.duration.count()) / 1000.0));
  return kExitOk;
}

shmkv::RestoreOptions RestoreLimits(const Invocation& in) {
  shmkv::RestoreOptions ro;
  if (auto* v = in.Opt("max-entries")) ro.max_entries = ParseCount("--max-entries", *v);
  if (auto* v = in.Opt("max-bytes")) ro.max_bytes = ParseSize("--max-bytes", *v);
  return ro;
}

// "; 2 duplicate lines (the last one for a key wins), 1 expired entry skipped", or "".
std::string Skipped(const shmkv::RestoreResult& r, const char* what) {
  std::string out;
  if (r.duplicates)
    out += Format("; %" PRIu64 " duplicate %s (the last one for a key wins)", r.duplicates, what);
  if (r.expired) out += Format("; %" PRIu64 " expired %s skipped", r.expired, what);
  return out;
}

int RunRestore(Invocation& in) {
  shmkv::RestoreOptions ro = RestoreLimits(in);
  shmkv::RestoreResult r = in.Open().restore(in.pos[0], ro);
  OutLine(Format("restored %" PRIu64 " keys (%s of keys and values) from %s%s", r.entries,
                 HumanBytes(r.bytes).c_str(), in.pos[0].c_str(), Skipped(r, "entries").c_str()));
  return kExitOk;
}

int RunExport(Invocation& in) {
  if (!in.Has("jsonl")) throw UsageError("the only export format is --jsonl");
  const shmkv::JsonlExportOptions eo{.json_values = in.Has("json-values")};
  shmkv::Store& store = in.Open();
  shmkv::JsonlResult r;
  if (in.pos.empty() || in.pos[0] == "-") {
    std::fflush(stdout);
    r = shmkv::export_jsonl(store, std::cout, eo);
  } else {
    r = shmkv::export_jsonl(store, in.pos[0], eo);  // mode 0600, temporary file + rename
  }
  Err(Format("shmkv: export: %" PRIu64 " keys", r.entries));
  return kExitOk;
}

int RunImport(Invocation& in) {
  if (!in.Has("jsonl")) throw UsageError("the only import format is --jsonl");
  const shmkv::JsonlImportOptions io{.limits = RestoreLimits(in), .merge = in.Has("merge")};
  shmkv::Store& store = in.Open();
  shmkv::RestoreResult r;
  if (in.pos[0] == "-") {
    r = shmkv::import_jsonl(store, std::cin, io);
  } else {
    std::ifstream file(in.pos[0], std::ios::binary);
    if (!file) throw shmkv::Error(shmkv::errc::not_found, "cannot open " + in.pos[0]);
    r = shmkv::import_jsonl(store, file, io);
  }
  OutLine(Format(
      "imported %" PRIu64 " keys from %s%s (%s)", r.entries, in.pos[0].c_str(),
      Skipped(r, "lines").c_str(),
      io.merge ? "merged: the store's other keys were kept" : "the previous content was replaced"));
  return kExitOk;
}

int RunCheck(Invocation& in) {
  shmkv::Store& store = in.Open();
  auto violations = store.check_invariants();
  for (const auto& v : violations) OutLine(v);
  if (violations.empty()) {
    const shmkv::Info info = store.info();
    if (info.redis)
      OutLine("ok: no invariant violations (index and values agree)");
    else
      OutLine(Format("ok: no invariant violations in %u shards", info.shards));
    return kExitOk;
  }
  return Note(in, Format("%zu invariant violation(s)", violations.size()), kExitFalse);
}

// ---------------------------------------------------------------------------------------------
// Coordination: claims, locks and semaphores (store.hpp). A grant is held by the process that
// took it, this one: with `-- CMD ARGS...` shmkv runs the command while it holds the grant
// (cli_hold.hpp) and gives it back when the command ends. Without a command a claim ends as
// shmkv exits (its holder is gone: the next attempt by anyone takes it).

// --lease, which the commands that take a lock or a claim require.
std::chrono::milliseconds Lease(const Invocation& in) {
  const std::string* lease = in.Opt("lease");
  if (lease == nullptr) throw UsageError("missing --lease DURATION (how long it may be held)");
  return ParseDuration("--lease", *lease);
}

// --wait, or 0 (do not wait).
std::chrono::milliseconds Wait(const Invocation& in) {
  return in.Has("wait") ? ParseDuration("--wait", *in.Opt("wait")) : std::chrono::milliseconds{};
}

// The command after the first positional argument (NAME, KEY or PREFIX); empty when none.
std::vector<std::string> CommandToRun(const Invocation& in, bool required) {
  if (in.pos.empty()) throw UsageError("missing " + std::string(in.cmd->required.front()));
  std::vector<std::string> command(in.pos.begin() + 1, in.pos.end());
  if (required && command.empty()) throw UsageError("missing the command to run (-- CMD ARGS...)");
  return command;
}

// After the command: the grant was gone when shmkv gave it back.
void NoteLostBeforeEnd(const Invocation& in, std::string_view grant) {
  Note(in,
       "WARNING: the " + std::string(grant) +
           " was no longer held when the command ended (its lease ran out, or its token was used "
           "elsewhere): another holder may have had it meanwhile",
       kExitOk);
}

int RunLock(Invocation& in) {
  const std::chrono::milliseconds lease = Lease(in), wait = Wait(in);
  const std::vector<std::string> command = CommandToRun(in, true);
  shmkv::Store& store = in.Open();
  const std::string& name = in.pos[0];
  const std::optional<std::uint64_t> token = store.lock(name, lease, wait);
  if (!token)
    return Note(in, "not obtained: another live holder kept the lock for all of --wait",
                kExitNotGranted);
  const int status = cli_hold::RunCommand(command, {{"SHMKV_LOCK_TOKEN", std::to_string(*token)}});
  if (!store.unlock(name, *token)) NoteLostBeforeEnd(in, "lock");
  return status;
}

int RunAcquire(Invocation& in) {
  const std::string* permits_text = in.Opt("permits");
  if (permits_text == nullptr) throw UsageError("missing --permits N");
  const std::uint32_t permits = ToU32("--permits", ParseCount("--permits", *permits_text));
  const std::chrono::milliseconds wait = Wait(in);
  const std::vector<std::string> command = CommandToRun(in, true);
  shmkv::Store& store = in.Open();
  const std::string& semaphore = in.pos[0];
  const std::optional<std::uint64_t> token = store.acquire(semaphore, permits, wait);
  if (!token)
    return Note(in, "not obtained: every permit stayed held for all of --wait", kExitNotGranted);
  const int status =
      cli_hold::RunCommand(command, {{"SHMKV_PERMIT_TOKEN", std::to_string(*token)}});
  if (!store.release_permit(semaphore, *token)) NoteLostBeforeEnd(in, "permit");
  return status;
}

// claim and claim-random: the claim printed (KEY<TAB>TOKEN<TAB>VALUE, or --json), or, with a
// command, the command run while holding it; then complete (it exited 0: the key is deleted) or
// release (the key returns to the pool).
int HoldClaim(Invocation& in, const std::optional<shmkv::Claim>& claim,
              const std::vector<std::string>& command) {
  if (!claim)
    return Note(in,
                in.cmd->name == "claim" ? "not claimed: the key is absent or another live holder "
                                          "has it"
                                        : "not claimed: no unclaimed key has this prefix",
                kExitNotGranted);
  if (command.empty()) {
    if (in.Has("json")) {
      OutLine("{" + BytesField("key", claim->key) + "," + BytesField("value", claim->value) +
              ",\"token\":" + std::to_string(claim->token) + "}");
    } else {
      OutLine(claim->key + '\t' + std::to_string(claim->token) + '\t' + claim->value);
    }
    return kExitOk;
  }
  const int status =
      cli_hold::RunCommand(command, {{"SHMKV_CLAIM_KEY", claim->key},
                                     {"SHMKV_CLAIM_TOKEN", std::to_string(claim->token)},
                                     {"SHMKV_CLAIM_VALUE", claim->value}});
  shmkv::Store& store = *in.store;
  const bool ended = status == 0 ? store.complete(claim->key, claim->token)
                                 : store.release(claim->key, claim->token);
  if (!ended) NoteLostBeforeEnd(in, "claim");
  return status;
}

// The claim's checks before the store is opened: --lease, and the command (or --json) after.
std::vector<std::string> ClaimCommand(const Invocation& in) {
  std::vector<std::string> command = CommandToRun(in, false);
  if (!command.empty() && in.Has("json"))
    throw UsageError("--json prints the claim; with a command to run there is nothing to print");
  return command;
}

int RunClaim(Invocation& in) {
  const std::chrono::milliseconds lease = Lease(in);
  const std::vector<std::string> command = ClaimCommand(in);
  return HoldClaim(in, in.Open().claim(in.pos[0], lease), command);
}

int RunClaimRandom(Invocation& in) {
  const std::chrono::milliseconds lease = Lease(in);
  const std::vector<std::string> command = ClaimCommand(in);
  return HoldClaim(in, in.Open().claim_random(in.pos[0], lease), command);
}

// release, complete, unlock, release-permit NAME TOKEN: exit 0 if the token held the grant (now
// ended), 1 if not (nothing changed).
int EndGrant(Invocation& in, bool (shmkv::Store::*end)(std::string_view, std::uint64_t)) {
  const std::uint64_t token = ParseCount("TOKEN", in.pos[1]);
  if ((in.Open().*end)(in.pos[0], token)) return kExitOk;
  return Note(in, "lost: the token no longer holds it", kExitFalse);
}

int RunRelease(Invocation& in) {
  return EndGrant(in, &shmkv::Store::release);
}
int RunComplete(Invocation& in) {
  return EndGrant(in, &shmkv::Store::complete);
}
int RunUnlock(Invocation& in) {
  return EndGrant(in, &shmkv::Store::unlock);
}
int RunReleasePermit(Invocation& in) {
  return EndGrant(in, &shmkv::Store::release_permit);
}

int RunRenew(Invocation& in) {
  const std::chrono::milliseconds lease = Lease(in);
  const std::uint64_t token = ParseCount("TOKEN", in.pos[1]);
  if (in.Open().renew(in.pos[0], token, lease)) return kExitOk;
  return Note(in, "lost: the token no longer holds the claim", kExitFalse);
}

// --timeout, which wait and barrier require.
std::chrono::milliseconds Timeout(const Invocation& in) {
  const std::string* timeout = in.Opt("timeout");
  if (timeout == nullptr) throw UsageError("missing --timeout DURATION (how long to wait)");
  return ParseDuration("--timeout", *timeout);
}

int RunWait(Invocation& in) {
  const std::chrono::milliseconds timeout = Timeout(in);
  if (in.Open().wait_for(in.pos[0], timeout)) return kExitOk;
  return Note(in, "timed out: no such key yet: " + in.pos[0], kExitFalse);
}

int RunBarrier(Invocation& in) {
  const std::string* parties_text = in.Opt("parties");
  if (parties_text == nullptr) throw UsageError("missing --parties N");
  const std::uint32_t parties = ToU32("--parties", ParseCount("--parties", *parties_text));
  const std::chrono::milliseconds timeout = Timeout(in);
  const std::optional<std::size_t> index = in.Open().barrier(in.pos[0], parties, timeout);
  if (!index) return Note(in, "timed out: not every party arrived", kExitFalse);
  OutLine(std::to_string(*index));
  return kExitOk;
}

const std::vector<CommandDef>& Commands() {
  static const std::vector<CommandDef> kCommands = {
      {"create",
       "[--size 64MiB] [--shards N] [--max-key BYTES] [--max-value BYTES] [--max-keys N] "
       "[--home-block BYTES] [--mode 0600] [--dir DIR [--fsync always|interval|never] "
       "[--fsync-interval 100ms] [--snapshot-interval 30s] [--keep N]] [--json]",
       "create a new store (fails if it exists); with --dir it persists to DIR (snapshots + "
       "journal) and is first recovered from what DIR holds (the recovery report: notes on "
       "stderr; --json: {\"info\":..,\"recovery\":..} on stdout)",
       Access::create,
       {{"dir", true},
        {"fsync", true},
        {"fsync-interval", true},
        {"snapshot-interval", true},
        {"json", false},
        {"keep", true},
        {"size", true},
        {"shards", true},
        {"max-key", true},
        {"max-value", true},
        {"max-keys", true},
        {"home-block", true},
        {"mode", true}},
       {},
       {},
       RunCreate},
      {"set",
       "KEY (VALUE | - | --file F) [--ttl DURATION]",
       "store VALUE at KEY; '-' reads the value from stdin, --file from F (exact bytes)",
       Access::write,
       {{"ttl", true}, {"file", true}},
       {},
       {},
       RunSet,
       true},
      {"get",
       "KEY [--raw | --json]",
       "print the value at KEY (exit 1 if absent); --raw: exact bytes, no newline; --json: "
       "{\"key\":..,\"value\":..}",
       Access::read,
       {{"raw", false}, {"json", false}},
       {"KEY"},
       {},
       RunGet},
      {"mget",
       "KEY... [--json]",
       "print KEY<TAB>VALUE for each key found, in order (one get_many; exit 1 if any is absent)",
       Access::read,
       {{"json", false}},
       {},
       {},
       RunMget,
       true},
      {"mset",
       "KEY VALUE [KEY VALUE...] [--ttl DURATION]",
       "store every pair (one set_many; one bad pair and nothing is written)",
       Access::write,
       {{"ttl", true}},
       {},
       {},
       RunMset,
       true},
      {"mdel",
       "KEY...",
       "delete the keys (one delete_many); print how many existed",
       Access::write,
       {},
       {},
       {},
       RunMdel,
       true},
      {"del", "KEY", "delete KEY (exit 1 if absent)", Access::write, {}, {"KEY"}, {}, RunDel},
      {"exists",
       "KEY",
       "print true or false (exit 1 if false)",
       Access::read,
       {},
       {"KEY"},
       {},
       RunExists},
      {"incr",
       "KEY [DELTA]",
       "add DELTA (default 1) to the integer at KEY; print the result",
       Access::write,
       {},
       {"KEY"},
       {"DELTA"},
       RunIncr},
      {"cas",
       "KEY (EXPECTED | --absent) NEW [--ttl DURATION] [--json]",
       "set KEY to NEW if it holds EXPECTED (or is absent); exit 1 if it lost. NEW gets --ttl "
       "(none without it: the key's previous TTL is dropped). --json: "
       "{\"key\":..,\"swapped\":..,\"current\":..}, current being what KEY holds after the "
       "call (null when absent), read under the comparison's lock",
       Access::write,
       {{"absent", false}, {"ttl", true}, {"json", false}},
       {},
       {},
       RunCas,
       true},
      {"cad",
       "KEY EXPECTED",
       "delete KEY if it holds EXPECTED; exit 1 if it lost",
       Access::write,
       {},
       {"KEY", "EXPECTED"},
       {},
       RunCad},
      {"get-or-set",
       "KEY VALUE [--ttl DURATION] [--json]",
       "print the value at KEY, storing VALUE (with --ttl) first if absent; exit 0 if it stored "
       "VALUE, 4 if the key existed, keeping its value and TTL (--json: \"outcome\":\"stored\" or "
       "\"loaded\")",
       Access::write,
       {{"json", false}, {"ttl", true}},
       {"KEY", "VALUE"},
       {},
       RunGetOrSet},
      {"swap",
       "KEY VALUE [--ttl DURATION]",
       "store VALUE and print the previous value, if any. VALUE gets --ttl (none without it: the "
       "previous TTL is dropped, as Redis GETSET)",
       Access::write,
       {{"ttl", true}},
       {"KEY", "VALUE"},
       {},
       RunSwap},
      {"set-if-absent",
       "KEY VALUE [--ttl DURATION]",
       "store VALUE (with --ttl) only if KEY is absent; exit 1 if it exists, keeping its value "
       "and TTL",
       Access::write,
       {{"ttl", true}},
       {"KEY", "VALUE"},
       {},
       RunSetIfAbsent},
      {"expire",
       "KEY TTL",
       "set KEY's time to live (0 removes it); exit 1 if absent",
       Access::write,
       {},
       {"KEY", "TTL"},
       {},
       RunExpire},
      {"ttl",
       "KEY",
       "print KEY's remaining time to live (e.g. 9500ms, or none)",
       Access::read,
       {},
       {"KEY"},
       {},
       RunTtl},
      {"list",
       "[--prefix P] [--from A] [--to B] [--limit N] [--keys-only] [--json]",
       "print entries in key order (KEY<TAB>VALUE), those with the prefix and in [A, B) when "
       "given; --keys-only: keys alone, values not read",
       Access::read,
       {{"prefix", true},
        {"from", true},
        {"to", true},
        {"limit", true},
        {"keys-only", false},
        {"json", false}},
       {},
       {},
       RunList},
      {"scan",
       "[--prefix P] [--from A] [--to B] [--limit N] [--cursor C | --cursor-base64 B] "
       "[--keys-only] [--json]",
       "print one page of entries (as list) and the cursor for the next page (--json: "
       "\"cursor\", or \"cursor_base64\" when not UTF-8, to pass back as --cursor-base64)",
       Access::read,
       {{"prefix", true},
        {"from", true},
        {"to", true},
        {"limit", true},
        {"cursor", true},
        {"cursor-base64", true},
        {"keys-only", false},
        {"json", false}},
       {},
       {},
       RunScan},
      {"count",
       "[--prefix P] [--from A] [--to B]",
       "print the number of live keys with the prefix and in [A, B)",
       Access::read,
       {{"prefix", true}, {"from", true}, {"to", true}},
       {},
       {},
       RunCount},
      {"random-key",
       "[--prefix P]",
       "print a uniformly random key (exit 1 if none)",
       Access::read,
       {{"prefix", true}},
       {},
       {},
       RunRandomKey},
      {"random-keys",
       "COUNT [--prefix P] [--unique] [--json]",
       "print COUNT random keys with the prefix, one a line (--unique: no key twice; exit 1 if "
       "none)",
       Access::read,
       {{"prefix", true}, {"unique", false}, {"json", false}},
       {"COUNT"},
       {},
       RunRandomKeys},
      {"pop-random",
       "[--prefix P] [--wait DURATION]",
       "remove a random entry and print it as KEY<TAB>VALUE (exit 1 if none); --wait: wait up "
       "to DURATION for one (a futex wait that writers end, no polling)",
       Access::write,
       {{"prefix", true}, {"wait", true}},
       {},
       {},
       RunPopRandom},
      {"pop-random-many",
       "N [--prefix P] [--json]",
       "remove up to N random entries with the prefix (each atomically) and print them as "
       "KEY<TAB>VALUE (exit 1 if none)",
       Access::write,
       {{"prefix", true}, {"json", false}},
       {"N"},
       {},
       RunPopRandomMany},
      {"claim",
       "KEY --lease DURATION [--json] [-- CMD [ARGS...]]",
       "claim KEY (it stays in the store, but no other claim or pop takes it): print "
       "KEY<TAB>TOKEN<TAB>VALUE (--json: {key, value, token}); exit 5 if it is absent or held. "
       "The claim ends as shmkv exits; with CMD, shmkv holds it while CMD runs (CMD gets "
       "SHMKV_CLAIM_KEY, SHMKV_CLAIM_TOKEN, SHMKV_CLAIM_VALUE), then completes it (CMD exited 0: "
       "the key is deleted) or releases it, and exits with CMD's status",
       Access::write,
       {{"lease", true}, {"json", false}},
       {"KEY"},
       {},
       RunClaim,
       true},
      {"claim-random",
       "PREFIX --lease DURATION [--json] [-- CMD [ARGS...]]",
       "claim a random unclaimed key with the prefix, as claim does (exit 5 if there is none)",
       Access::write,
       {{"lease", true}, {"json", false}},
       {"PREFIX"},
       {},
       RunClaimRandom,
       true},
      {"renew",
       "KEY TOKEN --lease DURATION",
       "extend the claim TOKEN holds to DURATION from now (exit 1 if it no longer holds it)",
       Access::write,
       {{"lease", true}},
       {"KEY", "TOKEN"},
       {},
       RunRenew},
      {"release",
       "KEY TOKEN",
       "give back the claim TOKEN holds, whichever live process took it (exit 1 if it no longer "
       "holds it)",
       Access::write,
       {},
       {"KEY", "TOKEN"},
       {},
       RunRelease},
      {"complete",
       "KEY TOKEN",
       "end the claim TOKEN holds and delete KEY (exit 1, nothing deleted, if it no longer "
       "holds it)",
       Access::write,
       {},
       {"KEY", "TOKEN"},
       {},
       RunComplete},
      {"lock",
       "NAME --lease DURATION [--wait DURATION] -- CMD [ARGS...]",
       "run CMD while holding the named lock, like flock(1), and exit with its status; exit 5 if "
       "another live holder kept the lock for all of --wait (default 0: do not wait). The lease "
       "must cover CMD (nothing renews it). CMD gets SHMKV_LOCK_TOKEN; if shmkv dies, CMD is "
       "killed and the lock is free at once",
       Access::write,
       {{"lease", true}, {"wait", true}},
       {"NAME"},
       {},
       RunLock,
       true},
      {"unlock",
       "NAME TOKEN",
       "release the lock TOKEN holds, whichever live process took it (exit 1 if it no longer "
       "holds it)",
       Access::write,
       {},
       {"NAME", "TOKEN"},
       {},
       RunUnlock},
      {"acquire",
       "SEMAPHORE --permits N [--wait DURATION] -- CMD [ARGS...]",
       "run CMD while holding one of the N permits of SEMAPHORE (at most N holders at once; pass "
       "the same N everywhere) and exit with its status; exit 5 if none came free within --wait. "
       "CMD gets SHMKV_PERMIT_TOKEN; a permit has no lease: it is held until CMD ends",
       Access::write,
       {{"permits", true}, {"wait", true}},
       {"SEMAPHORE"},
       {},
       RunAcquire,
       true},
      {"release-permit",
       "SEMAPHORE TOKEN",
       "give back the permit TOKEN holds (exit 1 if it no longer holds one)",
       Access::write,
       {},
       {"SEMAPHORE", "TOKEN"},
       {},
       RunReleasePermit},
      {"wait",
       "KEY --timeout DURATION",
       "wait until KEY exists (exit 0 at once if it does), without polling: the writer that "
       "creates it wakes this; exit 1 after DURATION",
       Access::read,
       {{"timeout", true}},
       {"KEY"},
       {},
       RunWait},
      {"barrier",
       "NAME --parties N --timeout DURATION",
       "wait until N processes have arrived at the barrier NAME (pass the same N everywhere) and "
       "print this arrival's index (0 .. N-1; N-1 for the last); exit 1 after DURATION (the "
       "arrival is withdrawn), 3 (broken) if a party died while the others waited. Reusable",
       Access::write,
       {{"parties", true}, {"timeout", true}},
       {"NAME"},
       {},
       RunBarrier},
      {"delete-prefix",
       "P [--limit N]",
       "delete keys starting with P; print how many",
       Access::write,
       {{"limit", true}},
       {"P"},
       {},
       RunDeletePrefix},
      {"delete-range",
       "[--prefix P] [--from A] [--to B] [--limit N]",
       "delete keys with the prefix and in [A, B) (at least one of the three); print how many",
       Access::write,
       {{"prefix", true}, {"from", true}, {"to", true}, {"limit", true}},
       {},
       {},
       RunDeleteRange},
      {"size", "", "print the number of live keys", Access::read, {}, {}, {}, RunSize},
      {"clear", "", "delete every key", Access::write, {}, {}, {}, RunClear},
      {"info",
       "[--json]",
       "print the store's configuration: engine, limits, keys; on shared memory its shards and "
       "attached processes, on a server the server's version and memory",
       Access::read,
       {{"json", false}},
       {},
       {},
       RunInfo},
      {"stats",
       "[--json]",
       "print operation counters",
       Access::read,
       {{"json", false}},
       {},
       {},
       RunStats},
      {"check",
       "",
       "verify the store's invariants; exit 1 on any violation",
       Access::write,
       {},
       {},
       {},
       RunCheck},
      {"backup",
       "FILE",
       "write a consistent snapshot of the store to FILE (atomic replace)",
       Access::read,
       {},
       {"FILE"},
       {},
       RunBackup},
      {"restore",
       "FILE [--max-entries N] [--max-bytes SIZE]",
       "replace the store's content with a backup (all or nothing)",
       Access::write,
       {{"max-entries", true}, {"max-bytes", true}},
       {"FILE"},
       {},
       RunRestore},
      {"export",
       "--jsonl [FILE] [--json-values]",
       "print every entry as JSON lines (to FILE or stdout); --json-values: a value that is a "
       "compact JSON document (object, array, number, true, false, null) is written as one, as "
       "xk6-kv writes values (import gives back the same bytes either way)",
       Access::read,
       {{"jsonl", false}, {"json-values", false}},
       {},
       {"FILE"},
       RunExport},
      {"import",
       "--jsonl FILE [--merge] [--max-entries N] [--max-bytes SIZE]",
       "replace the store's content with JSON lines from FILE ('-' = stdin), all or nothing; "
       "--merge: add them, keeping the store's other keys. A value that is a JSON document "
       "(xk6-kv's files) is stored as its compact JSON text; prints the keys stored and, apart, "
       "the duplicate and expired lines",
       Access::write,
       {{"jsonl", false}, {"merge", false}, {"max-entries", true}, {"max-bytes", true}},
       {"FILE"},
       {},
       RunImport},
      {"snapshot",
       "",
       "persistent store: write a snapshot into its directory now (retires covered journals)",
       Access::write,
       {},
       {},
       {},
       RunSnapshot},
      {"sync",
       "",
       "persistent store: fdatasync the journals writers have written (records still buffered "
       "inside running processes are theirs to flush); after a disk failure, write the snapshot "
       "that lets writes resume",
       Access::write,
       {},
       {},
       {},
       RunSync},
      {"destroy",
       "",
       "remove the store (its segment, or every key of it on --url's server)",
       Access::create,
       {},
       {},
       {},
       RunDestroy},
  };
  return kCommands;
}

const CommandDef* FindCommand(std::string_view name) {
  for (const auto& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string UsageLine(const CommandDef& c) {
  std::string s =
      "usage: shmkv [--url URL] [--name NAME] [--trusted-group GROUP] " + std::string(c.name);
  if (!c.synopsis.empty()) s += " " + std::string(c.synopsis);
  return s;
}

constexpr std::string_view kUsage =
    "usage: shmkv [--url URL] [--name NAME] [--trusted-group GROUP] COMMAND [ARGS...]  (shmkv "
    "--help)";

void PrintHelp() {
  std::string h =
      "shmkv: read and write a shmkv key-value store (this host's shared memory, or a Redis\n"
      "server with --url).\n\n"
      "usage: shmkv [--url URL] [--name NAME] [--trusted-group GROUP] COMMAND [ARGS...]\n"
      "       shmkv COMMAND --help | shmkv --help | shmkv --version\n\n"
      "  --url URL     where the store lives: a Redis (>= 7.0) server that several hosts share,\n"
      "                redis://[[user]:password@]host[:port][/db] or\n"
      "                unix:///path/redis.sock[?db=N]; default $SHMKV_URL, else this host's\n"
      "                shared memory. create's segment options (--size, --shards, --max-keys,\n"
      "                --home-block, --mode, --dir ...) are refused on a url (invalid_argument)\n"
      "  --name NAME   the store (segment /dev/shm/shmkv.NAME, or keys {NAME}:* on the server);\n"
      "                default $SHMKV_NAME, else 'default'\n"
      "  --trusted-group GROUP\n"
      "                a store shared on purpose with GROUP (a name or gid; default\n"
      "                $SHMKV_TRUSTED_GROUP, without --url): accept a store of that group,\n"
      "                create one with it (--mode 0660). Without it a store that another user\n"
      "                owns, or that others may write, is refused (permission_denied)\n\n"
      "commands:\n";
  for (const auto& c : Commands()) {
    std::string head = "  " + std::string(c.name);
    if (!c.synopsis.empty()) head += " " + std::string(c.synopsis);
    h += head + "\n      " + std::string(c.summary) + "\n";
  }
  h += "\nsizes: plain bytes or a number with KiB, MiB or GiB (64MiB).\n"
       "durations: a number with ms, s, m or h (10s); a plain number is milliseconds.\n"
       "Options go anywhere after COMMAND, as --opt VALUE or --opt=VALUE; '--' ends options\n"
       "(use it for keys or values that start with --).\n"
       "Text output prints keys and values as-is. --json (like export --jsonl) prints a key or\n"
       "value that is valid UTF-8 as a JSON string (\"key\", \"value\") and any other bytes\n"
       "base64-encoded (\"key_base64\", \"value_base64\"). Status notes go to stderr.\n\n"
       "exit status: 0 ok, 1 not found / false / lost race, 2 usage error, 3 error\n"
       "(\"shmkv: <error code>: <message>\" on stderr; with --url also unavailable: the server\n"
       "cannot be reached, and outcome_unknown: the connection was lost after a write was\n"
       "sent), 4 get-or-set found the key (nothing stored; 0 means it stored VALUE), 5 lock,\n"
       "acquire, claim or claim-random did not obtain it. With -- CMD, lock, acquire, claim and\n"
       "claim-random exit with CMD's status (128 + N if signal N ended it; 127 CMD not found,\n"
       "126 not runnable).\n";
  Out(h);
}

// Parses the arguments after the command name into in.pos and in.opts.
void ParseCommandArgs(Invocation& in, const std::vector<std::string_view>& args) {
  const CommandDef& c = *in.cmd;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (options_done || !a.starts_with("--") || a == "-") {
      in.pos.emplace_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    std::string_view body = a.substr(2);
    std::optional<std::string_view> inline_value;
    if (auto eq = body.find('='); eq != std::string_view::npos) {
      inline_value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    bool takes_value = false;
    bool known = false;
    if (body == "name" || body == "url" || body == "trusted-group") {
      known = takes_value = true;
    } else {
      for (const auto& o : c.options) {
        if (o.name == body) known = true, takes_value = o.takes_value;
      }
    }
    if (!known) throw UsageError("unknown option '--" + std::string(body) + "'");
    std::string value;
    if (takes_value) {
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        throw UsageError("--" + std::string(body) + " needs a value");
      }
    } else if (inline_value) {
      throw UsageError("--" + std::string(body) + " takes no value");
    }
    if (body == "name") {
      in.name = value;
    } else if (body == "url") {
      in.url = value;
    } else if (body == "trusted-group") {
      in.trusted_group = ParseGroup(value);
    } else {
      in.opts[std::string(body)] = value;
    }
  }
  if (c.custom_positionals) return;
  if (in.pos.size() < c.required.size()) {
    throw UsageError("missing " + std::string(c.required[in.pos.size()]));
  }
  if (in.pos.size() > c.required.size() + c.optional.size()) {
    throw UsageError("unexpected argument '" + in.pos[c.required.size() + c.optional.size()] + "'");
  }
}

// what() of a system_error ends with ": <category message>", which for shmkv is the code name
// printed just before it; drop the repetition.
std::string ErrorMessage(const shmkv::Error& e) {
  std::string what = e.what();
  std::string suffix = std::string(": ") + shmkv::errc_name(e.code_value());
  if (what.size() > suffix.size() && what.ends_with(suffix))
    what.resize(what.size() - suffix.size());
  return what;
}

int Main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  Invocation in;
  const char* env = std::getenv("SHMKV_NAME");
  in.name = env != nullptr && *env != '\0' ? env : "default";
  const char* url_env = std::getenv("SHMKV_URL");
  in.url = url_env != nullptr ? url_env : "";
  const char* group_env = std::getenv("SHMKV_TRUSTED_GROUP");
  std::string_view group_arg;  // --trusted-group before the command

  // Global options, before the command.
  std::size_t i = 0;
  for (; i < args.size() && args[i].starts_with("-"); ++i) {
    std::string_view a = args[i];
    if (a == "--help" || a == "-h") {
      PrintHelp();
      return kExitOk;
    }
    if (a == "--version") {
      OutLine(std::string("shmkv ") + shmkv::kVersionString);
      return kExitOk;
    }
    if (a == "--name" && i + 1 < args.size()) {
      in.name = args[++i];
    } else if (a == "--url" && i + 1 < args.size()) {
      in.url = args[++i];
    } else if (a.starts_with("--url=")) {
      in.url = a.substr(6);
    } else if (a == "--trusted-group" && i + 1 < args.size()) {
      group_arg = args[++i];
    } else if (a.starts_with("--trusted-group=")) {
      group_arg = a.substr(16);
    } else if (a.starts_with("--name=")) {
      in.name = a.substr(7);
    } else if (a == "--name" || a == "--url") {
      Err("shmkv: " + std::string(a) + " needs a value");
      Err(kUsage);
      return kExitUsage;
    } else {
      Err("shmkv: unknown option '" + std::string(a) + "'");
      Err(kUsage);
      return kExitUsage;
    }
  }
  if (i == args.size()) {
    Err("shmkv: missing COMMAND");
    Err(kUsage);
    return kExitUsage;
  }
  std::string_view name = args[i++];
  if (name == "help") {
    if (i == args.size()) {
      PrintHelp();
      return kExitOk;
    }
    name = args[i];
    if (FindCommand(name) != nullptr) {
      in.cmd = FindCommand(name);
      OutLine(UsageLine(*in.cmd));
      OutLine("  " + std::string(in.cmd->summary));
      return kExitOk;
    }
  }
  in.cmd = FindCommand(name);
  if (in.cmd == nullptr) {
    Err("shmkv: unknown command '" + std::string(name) + "'");
    Err(kUsage);
    return kExitUsage;
  }
  std::vector<std::string_view> rest(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  for (std::string_view a : rest) {
    if (a == "--") break;
    if (a == "--help" || a == "-h") {
      OutLine(UsageLine(*in.cmd));
      OutLine("  " + std::string(in.cmd->summary));
      return kExitOk;
    }
  }
  try {
    if (!group_arg.empty()) in.trusted_group = ParseGroup(group_arg);
    ParseCommandArgs(in, rest);
    // $SHMKV_TRUSTED_GROUP is a default for a store in shared memory; one on a server has no
    // group (the flag given with --url is the library's invalid_argument).
    if (!in.trusted_group && in.url.empty() && group_env != nullptr && *group_env != '\0')
      in.trusted_group = ParseGroup(group_env);
    const int code = in.cmd->run(in);
    // A persistent store: close() flushes this process's journal (per the store's fsync
    // policy) and raises io_error when a write of this command did not reach it (exit 3).
    if (in.store) in.store->close();
    return code;
  } catch (const UsageError& e) {
    Err("shmkv: " + std::string(in.cmd->name) + ": " + e.what());
    Err(UsageLine(*in.cmd));
    return kExitUsage;
  }
}

}  // namespace

int main(int argc, char** argv) {
  int code = kExitError;
  try {
    code = Main(argc, argv);
  } catch (const shmkv::Error& e) {
    std::fflush(stdout);
    Err(std::string("shmkv: ") + shmkv::errc_name(e.code_value()) + ": " + ErrorMessage(e));
    code = kExitError;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    Err(std::string("shmkv: error: ") + e.what());
    code = kExitError;
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    Err("shmkv: io_error: writing to standard output failed");
    return kExitError;
  }
  return code;
}
