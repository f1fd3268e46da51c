// corruption_fuzz.cpp: `corruption_fuzz_test`, the segment corruption fuzzer (issue #12).
//
//   corruption_fuzz_test [--corruptions N] [--seed S] [--first N] [--only N] [--parallel P]
//                        [--timeout SEC] [--config plain|home160|oneshard] [--no-tools]
//                        [--verbose] [--keep] [--sabotage crash|hang|wrong]
//
// What it proves: no segment contents make the library or the tools crash, hang, throw
// something other than shmkv::Error, or give a wrong answer that check does not flag.
//
// How: it builds one clean store per configuration (fuzz_image.hpp) and keeps its image. For
// each iteration it derives a corruption from (seed, iteration) alone (fuzz_corrupt.hpp), writes
// the corrupted image to fresh segment names (/dev/shm/shmkv.fz<pid>-<iter>-<job>, mode 0600,
// one copy per job) and runs, all at once and each with its own timeout (waitpid + SIGKILL):
// a forked child that runs every Store operation and compares each answer with the clean
// content (fuzz_api_child.hpp), and the tools `shmkv check|get key:7|list|info` and
// `shmkv-inspect NAME summary|check|keys|get key:7`. Up to --parallel iterations are in flight.
//
// Verdict per corruption, worst first:
//   FAIL     a job died by a signal, exited with a sanitizer report or an exit code the tool
//            does not document (>= 4), timed out, threw a non-shmkv exception, replaced the
//            segment by an empty store, or an answer was wrong and no check (the API's
//            check_invariants, `shmkv check`, `shmkv-inspect check`) reported the damage;
//   flagged  a check reported a violation or raised corrupted;
//   typed    some operation raised shmkv::Error (attach refused, corrupted, busy, ...);
//   harmless answers differed only where the corruption legitimately allows it (a changed
//            expiry: that key may be absent or carry another TTL; never another value);
//   clean    no visible effect (unused bytes, statistics, repaired by the library).
// Statistics counters (gets, hits, ...) are never compared.
//
// Control: before the campaign each clean image runs through the same jobs and must come out
// clean (else exit 3), so a wrong expectation of the fuzzer cannot pass for a library failure.
//
// Reproduce a failure: the summary prints `--seed S --only N`; with --only the run is verbose
// and --keep leaves the corrupted segments in /dev/shm for shmkv-inspect.
//
// --sabotage makes the API child fail on purpose in every corrupted iteration (not the control
// runs): ctest checks that each kind is reported as a FAIL.
//
// Exit codes: 0 no FAIL; 1 at least one FAIL; 2 usage; 3 setup error.
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_api_child.hpp"
#include "fuzz_corrupt.hpp"
#include "fuzz_image.hpp"

namespace {

using namespace fuzz;
using Clock = std::chrono::steady_clock;

// SIGINT, SIGTERM or SIGPIPE: stop starting iterations, kill the running jobs, clean up and
// print the summary of what ran.
volatile sig_atomic_t g_stop = 0;
extern "C" void OnStopSignal(int) {
  g_stop = 1;
}

bool ProcessAlive(long pid) {
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// Removes segments and scratch directories left by fuzzer processes that no longer run (killed
// by a ctest timeout, say): /dev/shm/shmkv.fz<pid>-* and /dev/shm/shmkv.fzb-<pid>-*.
void RemoveStaleFiles() {
  if (DIR* d = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      std::size_t p = n.starts_with("shmkv.fzb-") ? 10 : n.starts_with("shmkv.fz") ? 8 : 0;
      if (p == 0 || p >= n.size() || !std::isdigit(static_cast<unsigned char>(n[p]))) continue;
      const long pid = std::strtol(n.c_str() + p, nullptr, 10);
      if (pid > 0 && pid != ::getpid() && !ProcessAlive(pid)) ::unlink(("/dev/shm/" + n).c_str());
    }
    ::closedir(d);
  }
}

struct Args {
  u64 corruptions = 300;
  u64 seed = 1;
  u64 first = 0;
  long long only = -1;
  int parallel = 2;
  double timeout = 40;
  double slow = 5;
  std::string config;
  bool tools = true;
  bool verbose = false;
  bool keep = false;
  Sabotage sabotage = Sabotage::none;
  std::string cli, inspect;
};

struct Tool {
  const char* label;
  std::vector<std::string> argv;  // NAME stands for the segment name
  bool inspect;
};

std::vector<Tool> Tools(const Args& a) {
  if (!a.tools) return {};
  return {
      {"shmkv check", {a.cli, "--name", "NAME", "check"}, false},
      {"shmkv get", {a.cli, "--name", "NAME", "get", kToolKey}, false},
      {"shmkv list", {a.cli, "--name", "NAME", "list"}, false},
      {"shmkv info", {a.cli, "--name", "NAME", "info"}, false},
      {"inspect summary", {a.inspect, "NAME", "summary"}, true},
      {"inspect check", {a.inspect, "NAME", "check"}, true},
      {"inspect keys", {a.inspect, "NAME", "keys"}, true},
      {"inspect get", {a.inspect, "NAME", "get", kToolKey}, true},
  };
}

struct Job {
  std::string label;  // "api" or a tool label
  std::string seg;
  std::string out_path, err_path;
  pid_t pid = -1;
  Clock::time_point start;
  double secs = 0;
  bool finished = false, timed_out = false;
  bool stopped = false;  // killed because the campaign was interrupted
  int status = 0;
};

struct Run {
  u64 iter;
  const Image* img;
  Corruption c;
  std::vector<Job> jobs;
  int slot;              // ApiReport index
  bool control = false;  // the clean image itself: must come out clean
};

struct FailItem {
  std::string job, op, what;
};

struct Verdict {
  std::string outcome;  // FAIL, flagged, typed, harmless, clean
  std::vector<FailItem> fails;
  std::vector<std::string> notes;
};

std::string ReadFile(const std::string& path, std::size_t max = 1 << 20) {
  std::ifstream in(path, std::ios::binary);
  std::string s;
  char buf[65536];
  while (s.size() < max && in.read(buf, sizeof buf).gcount() > 0)
    s.append(buf, static_cast<std::size_t>(std::min<std::streamsize>(
                      in.gcount(), static_cast<std::streamsize>(max - s.size()))));
  return s;
}

std::string SigName(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGABRT:
      return "SIGABRT";
    case SIGILL:
      return "SIGILL";
    case SIGKILL:
      return "SIGKILL";
    case SIGTRAP:
      return "SIGTRAP";
    default:
      return "signal " + std::to_string(sig);
  }
}

// "ASan SEGV", "ASan heap-buffer-overflow", "UBSan", or "" from a job's stderr.
std::string SanitizerReport(const std::string& err) {
  auto p = err.find("ERROR: AddressSanitizer: ");
  if (p != std::string::npos) {
    p += 25;
    auto e = err.find_first_of(" \n", p);
    return "ASan " + err.substr(p, e - p);
  }
  if (err.find("ERROR: LeakSanitizer") != std::string::npos) return "LSan leak";
  p = err.find("runtime error: ");
  if (p != std::string::npos) {
    // The kind of error, without the values: "UBSan: pointer index expression with base".
    std::istringstream words(err.substr(p + 15, err.find('\n', p) - p - 15));
    std::string out = "UBSan:", w;
    for (int n = 0; n < 6 && words >> w && w.find_first_of("0123456789'") == std::string::npos; ++n)
      out += " " + w;
    return out;
  }
  return "";
}

std::string FirstLine(const std::string& s) {
  std::string l = s.substr(0, s.find('\n'));
  return l.size() > 160 ? l.substr(0, 160) + "..." : l;
}

// Kind of operation for grouping: "get(key:5) after del" -> "get".
std::string OpKind(const std::string& op) {
  auto p = op.find('(');
  return p == std::string::npos || p == 0 ? op : op.substr(0, p);
}

// Compares a tool's answer with the clean content; returns a description of a wrong answer.
std::string ToolWrong(const std::string& label, int rc, const std::string& out, const Image& img,
                      const std::set<std::string>& excused) {
  const Expect& e = img.data.at(kToolKey);
  const bool maybe_absent = excused.count(kToolKey) != 0;
  if (label == "shmkv get" || label == "inspect get") {
    if (rc == 1) return maybe_absent ? "" : std::string(kToolKey) + " reported absent";
    if (rc != 0) return "";
    std::string v = out;
    if (label == "inspect get") {
      auto p = v.find("\n--\n");
      if (p == std::string::npos) return "no value in the output";
      v = v.substr(p + 4);
    }
    if (v != e.value + "\n") return "value of " + std::string(kToolKey) + " differs";
    return "";
  }
  if (label == "shmkv list" && rc == 0) {
    std::istringstream in(out);
    std::string line, prev;
    std::set<std::string> seen;
    while (std::getline(in, line)) {
      auto tab = line.find('\t');
      if (tab == std::string::npos) return "list line without a tab";
      std::string k = line.substr(0, tab), v = line.substr(tab + 1);
      if (!prev.empty() && !(prev < k)) return "list out of order at " + k;
      prev = k;
      auto it = img.data.find(k);
      if (it == img.data.end()) return "list shows unexpected key";
      if (it->second.value != v) return "list shows a wrong value for " + k;
      seen.insert(k);
    }
    for (const auto& [k, _] : img.data)
      if (!seen.count(k) && !excused.count(k)) return "list lacks " + k;
  }
  return "";
}

class Campaign {
 public:
  explicit Campaign(Args a) : a_(std::move(a)), tools_(Tools(a_)) {}

  int Main();

 private:
  void Start(u64 iter, int control_config = -1);
  void Reap();
  void Finish(Run& r);
  Verdict Judge(Run& r);
  void Cleanup(const Run& r);
  void Summary(double secs);

  Args a_;
  std::vector<Tool> tools_;
  std::vector<Image> images_;
  std::vector<LayoutMap> maps_;
  std::string tmp_;
  ApiReport* reports_ = nullptr;
  std::vector<bool> slot_busy_;
  std::vector<std::unique_ptr<Run>> inflight_;
  bool control_failed_ = false;

  // Results.
  u64 done_ = 0;
  std::map<std::string, u64> outcomes_;
  std::map<std::string, u64> slow_;  // job label -> children over --slow seconds
  std::vector<std::string> slow_examples_;
  std::vector<std::string> fail_lines_;
  std::map<std::string, u64> signatures_;  // "field | job:op | what" -> count
  std::map<std::string, u64> fail_fields_;
  std::map<std::string, std::map<std::string, u64>> by_field_;  // field -> outcome -> count
};

void Campaign::Start(u64 iter, int control_config) {
  const std::size_t ci = control_config >= 0 ? control_config : iter % images_.size();
  auto r = std::make_unique<Run>();
  r->iter = iter;
  r->img = &images_[ci];
  r->control = control_config >= 0;
  r->c = r->control ? Corruption{"control", "none", "none", "clean image", "no change", {}, {}}
                    : MakeCorruption(a_.seed, iter, images_[ci], maps_[ci]);
  const std::vector<u8> bytes = Apply(images_[ci].bytes, r->c);
  r->slot =
      static_cast<int>(std::find(slot_busy_.begin(), slot_busy_.end(), false) - slot_busy_.begin());
  slot_busy_[r->slot] = true;
  ApiReport* rep = &reports_[r->slot];
  std::memset(rep, 0, sizeof *rep);
  const std::string base = "fz" + std::to_string(::getpid()) + "-" + std::to_string(iter) + "-";
  for (std::size_t j = 0; j <= tools_.size(); ++j) {
    Job job;
    job.label = j == 0 ? "api" : tools_[j - 1].label;
    job.seg = base + std::to_string(j);
    job.out_path = tmp_ + "/" + job.seg + ".out";
    job.err_path = tmp_ + "/" + job.seg + ".err";
    WriteImage(job.seg, bytes);
    std::fflush(stdout);
    std::fflush(stderr);
    job.start = Clock::now();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (int sig : {SIGINT, SIGTERM, SIGPIPE}) ::signal(sig, SIG_DFL);
      rlimit core{0, 0};
      ::setrlimit(RLIMIT_CORE, &core);
      std::freopen(job.out_path.c_str(), "w", stdout);
      std::freopen(job.err_path.c_str(), "w", stderr);
      if (j == 0) {
        try {
          RunApiChild(job.seg, *r->img, r->c.excused, tmp_, rep,
                      r->control ? Sabotage::none : a_.sabotage);
        } catch (const std::exception& e) {
          ++rep->foreign;
          std::snprintf(rep->foreign_op, sizeof rep->foreign_op, "%s", rep->op);
          std::snprintf(rep->foreign_what, sizeof rep->foreign_what, "%s", e.what());
        } catch (...) {
          ++rep->foreign;
          std::snprintf(rep->foreign_op, sizeof rep->foreign_op, "%s", rep->op);
        }
        std::fflush(stdout);
        std::fflush(stderr);
        ::_exit(0);
      }
      std::vector<std::string> argv = tools_[j - 1].argv;
      for (auto& s : argv)
        if (s == "NAME") s = job.seg;
      std::vector<char*> cargv;
      for (auto& s : argv) cargv.push_back(s.data());
      cargv.push_back(nullptr);
      // Sanitizer builds: a report must not look like a documented exit code (1 = not found).
      ::setenv("ASAN_OPTIONS", "exitcode=86:detect_leaks=0:abort_on_error=0", 1);
      ::setenv("UBSAN_OPTIONS", "exitcode=86:halt_on_error=1:print_stacktrace=1", 1);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    job.pid = pid;
    r->jobs.push_back(std::move(job));
  }
  inflight_.push_back(std::move(r));
}

void Campaign::Reap() {
  for (;;) {
    int st = 0;
    pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid <= 0) break;
    for (auto& r : inflight_)
      for (auto& j : r->jobs)
        if (j.pid == pid) {
          j.finished = true;
          j.status = st;
          j.secs = std::chrono::duration<double>(Clock::now() - j.start).count();
        }
  }
  const auto now = Clock::now();
  for (auto& r : inflight_)
    for (auto& j : r->jobs)
      if (!j.finished && !j.timed_out &&
          std::chrono::duration<double>(now - j.start).count() > a_.timeout) {
        j.timed_out = true;
        ::kill(j.pid, SIGKILL);
      }
}

Verdict Campaign::Judge(Run& r) {
  Verdict v;
  const ApiReport& rep = reports_[r.slot];
  bool flagged = false, typed = false, wrong = false;
  std::string wrong_where, wrong_what;
  for (const Job& j : r.jobs) {
    const std::string err = ReadFile(j.err_path, 64 << 10);
    const std::string san = SanitizerReport(err);
    const bool api = j.label == "api";
    const std::string op = api ? std::string(rep.op) : std::string();
    if (j.timed_out) {
      v.fails.push_back({j.label, op, "timeout > " + std::to_string(int(a_.timeout)) + " s"});
      continue;
    }
    if (WIFSIGNALED(j.status)) {
      v.fails.push_back({j.label, op, SigName(WTERMSIG(j.status))});
      continue;
    }
    const int rc = WIFEXITED(j.status) ? WEXITSTATUS(j.status) : 255;
    if (api) {
      if (rc != 0) {
        v.fails.push_back({j.label, op, san.empty() ? "exit " + std::to_string(rc) : san});
        continue;
      }
      if (rep.foreign)
        v.fails.push_back(
            {j.label, rep.foreign_op, "non-shmkv exception: " + std::string(rep.foreign_what)});
      if (rep.replaced)
        v.fails.push_back({j.label, "open(create_or_attach)",
                           "replaced a segment holding data by an empty store"});
      if (rep.check_state == kCheckViolations || rep.check_state == kCheckThrewCorrupted)
        flagged = true;
      if (rep.typed_errors) typed = true;
      if (rep.wrong) {
        wrong = true;
        wrong_where = j.label + " " + rep.wrong_op;
        wrong_what = rep.first_wrong;
      }
      continue;
    }
    if (!san.empty() || rc >= 4) {
      v.fails.push_back({j.label, "", san.empty() ? "exit " + std::to_string(rc) : san});
      continue;
    }
    const bool corrupted = err.find("corrupted") != std::string::npos;
    if (j.label.ends_with("check") && (rc == 1 || (rc == 3 && corrupted))) flagged = true;
    if (rc == 3) typed = true;
    const std::string w =
        ToolWrong(j.label, rc, ReadFile(j.out_path, 64 << 20), *r.img, r.c.excused);
    if (!w.empty() && !wrong) {
      wrong = true;
      wrong_where = j.label;
      wrong_what = w;
    }
  }
  if (wrong && !flagged) {
    std::string job = wrong_where.substr(0, wrong_where.find(' '));
    std::string op = wrong_where.size() > job.size() ? wrong_where.substr(job.size() + 1) : "";
    if (job != "api") {
      job = wrong_where;
      op = "";
    }
    v.fails.push_back({job, op, "silent wrong answer: " + wrong_what});
  }
  if (!v.fails.empty())
    v.outcome = "FAIL";
  else if (flagged)
    v.outcome = "flagged";
  else if (typed)
    v.outcome = "typed";
  else if (rep.excused)
    v.outcome = "harmless";
  else
    v.outcome = "clean";
  return v;
}

void Campaign::Cleanup(const Run& r) {
  for (const Job& j : r.jobs) {
    if (!a_.keep) ::unlink(SegmentPath(j.seg).c_str());
    ::unlink(j.out_path.c_str());
    ::unlink(j.err_path.c_str());
    ::unlink((tmp_ + "/backup-" + j.seg + ".msgpack").c_str());  // the API child's, if it died
  }
  if (a_.keep) return;
  // Temporaries a create_or_attach may have left.
  const std::string prefix =
      "shmkv.fz" + std::to_string(::getpid()) + "-" + std::to_string(r.iter) + "-";
  if (DIR* d = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(d))
      if (std::string(e->d_name).starts_with(prefix))
        ::unlink((std::string("/dev/shm/") + e->d_name).c_str());
    ::closedir(d);
  }
}

void Campaign::Finish(Run& r) {
  if (std::any_of(r.jobs.begin(), r.jobs.end(), [](const Job& j) { return j.stopped; })) {
    Cleanup(r);  // interrupted: no verdict
    slot_busy_[r.slot] = false;
    return;
  }
  if (r.control) {
    // The uncorrupted image must pass every job with every answer right; anything else is a
    // bug in the fuzzer's model (or in the library on a healthy store).
    Verdict v = Judge(r);
    if (v.outcome != "clean") {
      control_failed_ = true;
      std::printf("control run on the clean %s image: %s\n", r.img->config.label.c_str(),
                  v.outcome.c_str());
      for (const FailItem& f : v.fails)
        std::printf("  {%s %s: %s}\n", f.job.c_str(), f.op.c_str(), f.what.c_str());
      const ApiReport& rep = reports_[r.slot];
      std::printf("  api: typed %d (%s), wrong %d (%s: %s), check %d (%s)\n", rep.typed_errors,
                  rep.first_typed, rep.wrong, rep.wrong_op, rep.first_wrong, rep.check_state,
                  rep.check_line);
    }
    Cleanup(r);
    slot_busy_[r.slot] = false;
    return;
  }
  if (a_.verbose) {
    const ApiReport& rep = reports_[r.slot];
    std::printf("--- iteration %" PRIu64 " [%s] %s %s: %s\n", r.iter, r.img->config.label.c_str(),
                r.c.kind.c_str(), r.c.where.c_str(), r.c.value.c_str());
    for (const Job& j : r.jobs) {
      std::printf("  %-16s %s %.2f s\n", j.label.c_str(),
                  j.timed_out             ? "timeout"
                  : WIFSIGNALED(j.status) ? SigName(WTERMSIG(j.status)).c_str()
                                          : ("rc " + std::to_string(WEXITSTATUS(j.status))).c_str(),
                  j.secs);
      if (a_.only >= 0) {
        std::string out = ReadFile(j.out_path, 600), err = ReadFile(j.err_path, 2000);
        if (!out.empty()) std::printf("    stdout: %s\n", out.c_str());
        if (!err.empty()) std::printf("    stderr: %s\n", err.c_str());
      }
    }
    std::printf(
        "  api: last op '%s', attached %d, typed %d (%s), wrong %d (%s: %s), excused %d, "
        "check %d (%s), foreign %d, busy %d, done %d\n",
        rep.op, rep.attached, rep.typed_errors, rep.first_typed, rep.wrong, rep.wrong_op,
        rep.first_wrong, rep.excused, rep.check_state, rep.check_line, rep.foreign, rep.busy,
        rep.done);
  }
  Verdict v = Judge(r);
  ++outcomes_[v.outcome];
  ++by_field_[(r.c.kind == "random" ? "random " : "") + r.c.field][v.outcome];
  for (const Job& j : r.jobs) {
    if (j.secs > a_.slow || j.timed_out) {
      ++slow_[j.label];
      if (slow_examples_.size() < 20)
        slow_examples_.push_back("iter " + std::to_string(r.iter) + " " + j.label + " " +
                                 std::to_string(int(j.secs)) + " s: " + r.c.where + " " +
                                 r.c.value);
    }
  }
  if (!v.fails.empty()) {
    const std::string field = (r.c.kind == "random" ? "random " : "") + r.c.field;
    ++fail_fields_[field];
    std::string line = "FAIL iter " + std::to_string(r.iter) + " [" + r.img->config.label + "] " +
                       r.c.kind + " " + r.c.region + " " + r.c.where + " = " + r.c.value + ":";
    for (const FailItem& f : v.fails) {
      line += " {" + f.job + (f.op.empty() ? "" : " " + f.op) + ": " + FirstLine(f.what) + "}";
      std::string what = f.what.starts_with("silent wrong") ? "silent wrong answer"
                         : f.what.starts_with("non-shmkv")  ? "non-shmkv exception"
                                                            : f.what;
      ++signatures_[field + " | " + f.job + (f.op.empty() ? "" : ":" + OpKind(f.op)) + " | " +
                    what];
    }
    fail_lines_.push_back(line);
    if (a_.verbose) std::printf("%s\n", line.c_str());
  }
  Cleanup(r);
  slot_busy_[r.slot] = false;
  ++done_;
}

void Campaign::Summary(double secs) {
  std::printf("\n=== corruption fuzz summary: seed %" PRIu64 ", iterations %" PRIu64 "..%" PRIu64
              ", %" PRIu64 " corruptions in %.1f s ===\n",
              a_.seed, a_.first, a_.first + a_.corruptions - 1, done_, secs);
  for (const char* o : {"clean", "harmless", "typed", "flagged", "FAIL"})
    std::printf("  %-9s %" PRIu64 "\n", o, outcomes_[o]);
  std::printf("  jobs over %.0f s: ", a_.slow);
  if (slow_.empty()) std::printf("none");
  for (const auto& [k, n] : slow_) std::printf("%s %" PRIu64 "; ", k.c_str(), n);
  std::printf("\n");
  for (const auto& s : slow_examples_) std::printf("    slow: %s\n", s.c_str());
  std::printf("\nCorruptions by field: runs (clean harmless typed flagged FAIL)\n");
  for (auto& [field, o] : by_field_) {
    u64 n = 0;
    for (const auto& [_, c] : o) n += c;
    std::printf("  %-44s %5" PRIu64 " (%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                ")\n",
                field.c_str(), n, o["clean"], o["harmless"], o["typed"], o["flagged"], o["FAIL"]);
  }
  if (!fail_lines_.empty()) {
    std::printf("\nFailures (reproduce one with --seed %" PRIu64 " --only ITER):\n", a_.seed);
    for (const auto& l : fail_lines_) std::printf("%s\n", l.c_str());
    std::vector<std::pair<u64, std::string>> sig;
    for (const auto& [k, n] : signatures_) sig.emplace_back(n, k);
    std::sort(sig.begin(), sig.end(), [](auto& x, auto& y) {
      return x.first != y.first ? x.first > y.first : x.second < y.second;
    });
    std::printf("\nFailure signatures (corrupted field | job:operation | outcome), count:\n");
    for (const auto& [n, k] : sig) std::printf("  %5" PRIu64 "  %s\n", n, k.c_str());
    std::printf("\nFailing corruptions by field:\n");
    std::vector<std::pair<u64, std::string>> ff;
    for (const auto& [k, n] : fail_fields_) ff.emplace_back(n, k);
    std::sort(ff.rbegin(), ff.rend());
    for (const auto& [n, k] : ff) std::printf("  %5" PRIu64 "  %s\n", n, k.c_str());
  }
  std::printf("\nresult: %s%s\n", outcomes_["FAIL"] ? "FAIL" : "PASS",
              g_stop ? " (interrupted)" : "");
}

int Campaign::Main() {
  RemoveStaleFiles();
  std::string tmpl = "/tmp/shmkv-fuzz-" + std::to_string(::getpid()) + "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  tmp_ = tmpl;
  for (int sig : {SIGINT, SIGTERM, SIGPIPE}) ::signal(sig, OnStopSignal);
  for (const Config& c : DefaultConfigs()) {
    if (!a_.config.empty() && a_.config != c.label) continue;
    const std::string name = "fzb-" + std::to_string(::getpid()) + "-" + c.label;
    images_.push_back(BuildImage(c, name));
    maps_.push_back(MapImage(images_.back().bytes));
    const LayoutMap& m = maps_.back();
    std::printf("config %-9s %" PRIu64 " B, %u shards, %" PRIu64 " slots/shard, %" PRIu64
                " chunks, %zu records; offsets: shards %" PRIu64 ", chunks %" PRIu64
                ", idents %" PRIu64 ", slots %" PRIu64 ", dense %" PRIu64 ", arena %" PRIu64 "\n",
                c.label.c_str(), m.size, m.shard_count, m.slots_per_shard, m.chunk_count,
                m.records.size(), m.off_shards, m.off_chunks, m.off_idents, m.off_slots,
                m.off_dense, m.off_arena);
  }
  if (images_.empty()) throw std::runtime_error("no configuration named " + a_.config);
  const int slots = std::max(1, a_.parallel);
  void* p = ::mmap(nullptr, sizeof(ApiReport) * slots, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
  reports_ = static_cast<ApiReport*>(p);
  slot_busy_.assign(slots, false);
  std::printf("tools: %s\n", tools_.empty() ? "none" : (a_.cli + ", " + a_.inspect).c_str());
  std::fflush(stdout);

  // Control runs: each clean image through the same jobs, so that a wrong expectation in the
  // fuzzer cannot pass for a library failure.
  for (std::size_t k = 0; k < images_.size(); ++k) {
    while (static_cast<int>(inflight_.size()) >= slots) {
      Reap();
      for (auto it = inflight_.begin(); it != inflight_.end();) {
        if (std::all_of((*it)->jobs.begin(), (*it)->jobs.end(),
                        [](const Job& j) { return j.finished; })) {
          Finish(**it);
          it = inflight_.erase(it);
        } else {
          ++it;
        }
      }
      ::usleep(2000);
    }
    Start(1000000000ull + k, static_cast<int>(k));
  }
  const auto t0 = Clock::now();
  u64 next = a_.first;
  const u64 end = a_.first + a_.corruptions;
  while (next < end || !inflight_.empty()) {
    if (g_stop && next < end) {
      std::fprintf(stderr, "interrupted: stopping after %" PRIu64 " corruptions\n", done_);
      next = end;
      a_.corruptions = done_;
      for (auto& r : inflight_)
        for (auto& j : r->jobs)
          if (!j.finished) {
            j.stopped = true;
            ::kill(j.pid, SIGKILL);
          }
    }
    while (next < end && static_cast<int>(inflight_.size()) < slots) Start(next++);
    Reap();
    bool progressed = false;
    for (auto it = inflight_.begin(); it != inflight_.end();) {
      const bool all = std::all_of((*it)->jobs.begin(), (*it)->jobs.end(),
                                   [](const Job& j) { return j.finished; });
      if (!all) {
        ++it;
        continue;
      }
      Finish(**it);
      it = inflight_.erase(it);
      progressed = true;
      if (!a_.verbose && done_ % 50 == 0 && done_ > 0) {
        std::fprintf(stderr, "%" PRIu64 "/%" PRIu64 " corruptions, %" PRIu64 " FAIL, %.0f s\n",
                     done_, a_.corruptions, outcomes_["FAIL"],
                     std::chrono::duration<double>(Clock::now() - t0).count());
      }
    }
    if (!progressed) ::usleep(2000);
    if (control_failed_ && inflight_.empty()) break;
    if (control_failed_) next = end;
  }
  if (control_failed_) {
    std::printf("setup error: a control run on an uncorrupted image did not come out clean\n");
    return 3;
  }
  Summary(std::chrono::duration<double>(Clock::now() - t0).count());
  ::munmap(p, sizeof(ApiReport) * slots);
  ::rmdir(tmp_.c_str());
  return outcomes_["FAIL"] ? 1 : 0;
}

void Usage(FILE* f) {
  std::fprintf(
      f,
      "usage: corruption_fuzz_test [--corruptions N] [--seed S] [--first N] [--only N]\n"
      "                            [--parallel P] [--timeout SEC] [--slow SEC]\n"
      "                            [--config plain|home160|oneshard] [--no-tools]\n"
      "                            [--cli PATH] [--inspect PATH] [--verbose] [--keep]\n"
      "                            [--sabotage crash|hang|wrong]\n"
      "Corrupts images of clean stores and runs every API operation and the tools on each.\n"
      "--only N runs iteration N alone (verbose); iterations depend only on --seed.\n"
      "exit codes: 0 no failure, 1 failures, 2 usage, 3 setup error\n");
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
#ifdef SHMKV_CLI_BIN
  a.cli = SHMKV_CLI_BIN;
#endif
#ifdef SHMKV_INSPECT_BIN
  a.inspect = SHMKV_INSPECT_BIN;
#endif
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string k = argv[i];
      auto val = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
        return argv[++i];
      };
      if (k == "--help" || k == "-h") {
        Usage(stdout);
        return 0;
      } else if (k == "--corruptions") {
        a.corruptions = std::stoull(val());
      } else if (k == "--seed") {
        a.seed = std::stoull(val());
      } else if (k == "--first") {
        a.first = std::stoull(val());
      } else if (k == "--only") {
        a.only = std::stoll(val());
      } else if (k == "--parallel") {
        a.parallel = std::stoi(val());
      } else if (k == "--timeout") {
        a.timeout = std::stod(val());
      } else if (k == "--slow") {
        a.slow = std::stod(val());
      } else if (k == "--config") {
        a.config = val();
      } else if (k == "--no-tools") {
        a.tools = false;
      } else if (k == "--cli") {
        a.cli = val();
      } else if (k == "--inspect") {
        a.inspect = val();
      } else if (k == "--verbose") {
        a.verbose = true;
      } else if (k == "--keep") {
        a.keep = true;
      } else if (k == "--sabotage") {
        const std::string v = val();
        a.sabotage = v == "crash"   ? Sabotage::crash
                     : v == "hang"  ? Sabotage::hang
                     : v == "wrong" ? Sabotage::wrong
                                    : throw std::invalid_argument("--sabotage crash|hang|wrong");
      } else {
        throw std::invalid_argument("unknown option " + k);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "corruption_fuzz_test: %s\n", e.what());
    Usage(stderr);
    return 2;
  }
  if (a.cli.empty() || a.inspect.empty()) a.tools = false;
  if (a.only >= 0) {
    a.first = static_cast<u64>(a.only);
    a.corruptions = 1;
    a.verbose = true;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    return Campaign(a).Main();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "corruption_fuzz_test: setup error: %s\n", e.what());
    return 3;
  }
}
