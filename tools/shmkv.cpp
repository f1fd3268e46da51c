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
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"

using namespace shmkv_cli;

namespace {

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
