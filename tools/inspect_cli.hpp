// inspect_cli.hpp: what the parts of shmkv-inspect share: exit codes, the parsed command
// line, the views' entry points and the renderings several views use (tool-internal).
//   shmkv_inspect.cpp  command line, help, main
//   inspect_views.cpp  summary, shards, keys, get, histogram, check
//   inspect_watch.cpp  watch
//   inspect_output.*   JSON, tables, human units
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "shm/inspect.hpp"
#include "inspect_output.hpp"

namespace inspect_cli {

namespace ins = shmkv::detail::inspect;

inline constexpr int kExitOk = 0;
inline constexpr int kExitNotFound = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitError = 3;
inline constexpr int kExitInterrupted = 130;

// A malformed command line: exit 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Set by SIGINT/SIGTERM/SIGHUP; views stop between shards (never while holding a lock).
extern volatile std::sig_atomic_t g_stop;

struct Args {
  std::string name;
  std::string view = "summary";
  std::vector<std::string> positional;      // after the view
  std::map<std::string, std::string> opts;  // without the leading "--"
  bool json = false;
  bool no_lock = false;
  bool help = false;
  bool Has(const std::string& k) const { return opts.count(k) != 0; }
};

struct Ctx {
  Args args;
  std::unique_ptr<ins::Inspector> in;
  ins::Policy policy;
  std::uint64_t now_ms = 0;
};

// "500us", "20ms", "1s", "1.5s", "2m"; a bare number is seconds. Throws UsageError.
std::chrono::microseconds ParseDuration(const std::string& s, const char* what);
std::uint64_t ParseCount(const std::string& s, const char* what);

// --- views (each returns the exit code) ---
int RunSummary(Ctx& c);
int RunShards(Ctx& c);
int RunKeys(Ctx& c);
int RunGet(Ctx& c);
int RunHistogram(Ctx& c);
int RunCheck(Ctx& c);
int RunWatch(Ctx& c);

// --- shared renderings ---

// {"state":"free"} / {"state":"held","pid":N} / {"state":"dead","pid":N|null}
std::string LockJson(const ins::LockInfo& l);
// "" for a plain locked read; else why the shard's numbers may be off.
std::string VisitNote(const ins::Visit& v);

// Notes about single shards, grouped: one line per distinct text, "shard 3: ..." or
// "shards 0-2, 7: ...", in order of first appearance.
class ShardNotes {
 public:
  void Add(std::uint32_t shard, const std::string& text);
  std::vector<std::string> Lines() const;

 private:
  std::vector<std::pair<std::string, std::vector<std::uint32_t>>> groups_;
};

}  // namespace inspect_cli
