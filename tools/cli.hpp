// cli.hpp: what the parts of `shmkv`, the command-line client (shmkv.cpp), share: exit codes,
// output and argument helpers, the command table's types and each command's entry point.
//
// A command's Run function gets an Invocation whose arguments are parsed and checked against
// its CommandDef; it opens the store (Invocation::Open) only after its own checks, so usage
// errors come before store errors. It prints its result and returns the exit code.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "inspect_output.hpp"
#include "shmkv/shmkv.hpp"

namespace shmkv_cli {

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

// --- Output (cli_support.cpp). JSON objects are built with shmkv-inspect's helpers
// (inspect_output.hpp); keys, values and other store bytes go through
// shmkv::append_json_field, export --jsonl's encoder.
using inspect_out::Err;  // stdout is flushed first, so both streams keep their order
using inspect_out::Format;
using inspect_out::HumanBytes;
using inspect_out::Obj;
using inspect_out::Out;
using inspect_out::OutLine;
using inspect_out::UnixMsToUtc;
std::string BytesField(std::string_view name, std::string_view bytes);
std::string EntryJson(const shmkv::Entry& e);
std::string EntriesJson(const std::vector<shmkv::Entry>& entries);
std::string KeysJson(const std::vector<std::string>& keys);
std::string PageJson(std::string_view items_name, const std::string& items_json,
                     const std::string& cursor, bool done);

// --- Argument parsing (cli_support.cpp): each raises UsageError naming the option and value.
std::optional<std::uint64_t> ParseU64(std::string_view s);
std::uint64_t ParseSize(std::string_view option, std::string_view s);
std::uint32_t ToU32(std::string_view option, std::uint64_t v);
std::uint64_t ParseCount(std::string_view option, std::string_view s);
std::chrono::milliseconds ParseDuration(std::string_view option, std::string_view s);
std::int64_t ParseDelta(std::string_view s);
std::uint32_t ParseGroup(std::string_view s);
std::uint32_t ParseMode(std::string_view s);

// The command table (shmkv.cpp) and one invocation of a command.

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

int NotFound(const Invocation& in, std::string_view key);
int Note(const Invocation& in, std::string_view msg, int code);

// The store as a whole (cli_store.cpp).
int RunCreate(Invocation& in);
int RunSnapshot(Invocation& in);
int RunSync(Invocation& in);
int RunDestroy(Invocation& in);
int RunInfo(Invocation& in);
int RunStats(Invocation& in);
int RunBackup(Invocation& in);
int RunRestore(Invocation& in);
int RunExport(Invocation& in);
int RunImport(Invocation& in);
int RunCheck(Invocation& in);

// Keys and values (cli_keys.cpp).
int RunSet(Invocation& in);
int RunGet(Invocation& in);
int RunDel(Invocation& in);
int RunExists(Invocation& in);
int RunIncr(Invocation& in);
int RunCas(Invocation& in);
int RunCad(Invocation& in);
int RunGetOrSet(Invocation& in);
int RunSwap(Invocation& in);
int RunSetIfAbsent(Invocation& in);
int RunExpire(Invocation& in);
int RunTtl(Invocation& in);
int RunList(Invocation& in);
int RunScan(Invocation& in);
int RunCount(Invocation& in);
int RunRandomKey(Invocation& in);
int RunPopRandom(Invocation& in);
int RunPopRandomMany(Invocation& in);
int RunDeletePrefix(Invocation& in);
int RunDeleteRange(Invocation& in);
int RunMget(Invocation& in);
int RunMset(Invocation& in);
int RunMdel(Invocation& in);
int RunRandomKeys(Invocation& in);
int RunSize(Invocation& in);
int RunClear(Invocation& in);

// Coordination (cli_coord.cpp).
int RunLock(Invocation& in);
int RunAcquire(Invocation& in);
int RunClaim(Invocation& in);
int RunClaimRandom(Invocation& in);
int RunRelease(Invocation& in);
int RunComplete(Invocation& in);
int RunUnlock(Invocation& in);
int RunReleasePermit(Invocation& in);
int RunRenew(Invocation& in);
int RunWait(Invocation& in);
int RunBarrier(Invocation& in);

}  // namespace shmkv_cli
