// process_env.cpp: what every benchmark program of bench/ shares (harness.hpp): the environment
// header, die(), and the parent's cleanup of registered processes and paths on a signal.
#include <errno.h>  // program_invocation_short_name
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "harness.hpp"

#ifndef SHMKV_BENCH_BUILD_TYPE
#define SHMKV_BENCH_BUILD_TYPE "unknown"
#endif

namespace shmkv_bench {

namespace {

bool optimised_build() {
#ifdef __OPTIMIZE__
  return true;
#else
  return false;
#endif
}

const char* sanitizer_name() {
#if defined(__SANITIZE_ADDRESS__)
  return "address";
#elif defined(__SANITIZE_THREAD__)
  return "thread";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return "address";
#elif __has_feature(thread_sanitizer)
  return "thread";
#elif __has_feature(memory_sanitizer)
  return "memory";
#else
  return nullptr;
#endif
#else
  return nullptr;
#endif
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) {
        std::string m = line.substr(p + 1);
        m.erase(0, m.find_first_not_of(" \t"));
        return m;
      }
    }
  }
  return "unknown";
}

}  // namespace

void print_environment(const char* program) {
  utsname u{};
  ::uname(&u);
  std::string compiler;
#if defined(__clang__)
  compiler = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  compiler = std::string("g++ ") + __VERSION__;
#else
  compiler = "unknown";
#endif
  const char* san = sanitizer_name();
  std::printf("# cpu: %s, %ld online cores; kernel: %s %s %s\n", cpu_model().c_str(),
              ::sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, u.machine);
  std::printf("# build: %s, %s, %s%s%s\n", SHMKV_BENCH_BUILD_TYPE, compiler.c_str(),
              optimised_build() ? "optimised" : "NOT optimised (-O0)", san ? ", sanitizer " : "",
              san ? san : "");
  if (!optimised_build() || san) {
    std::printf(
        "#\n# !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        "# WARNING: this is a %s build. The figures below are NOT representative.\n"
        "# Rebuild with -DCMAKE_BUILD_TYPE=Release (or RelWithDebInfo) and no sanitizer.\n"
        "# !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n#\n",
        san ? "sanitizer" : "non-optimised");
    std::fprintf(stderr, "%s: WARNING: %s build, figures are not representative\n", program,
                 san ? "sanitizer" : "non-optimised");
  }
  std::fflush(stdout);
}

bool representative_build() {
  return optimised_build() && !sanitizer_name();
}

namespace {
constexpr int kMaxCleanup = 64;
char g_paths[kMaxCleanup][256];
int g_npaths = 0;
pid_t g_pids[kMaxCleanup];
int g_npids = 0;
pid_t g_main_pid = 0;

void clean_up() {
  if (::getpid() == g_main_pid) {  // workers just die; the parent cleans up
    for (int i = g_npids - 1; i >= 0; --i)
      if (g_pids[i] > 0) ::kill(g_pids[i], SIGKILL);
    for (int i = g_npaths - 1; i >= 0; --i)
      if (g_paths[i][0] && ::unlink(g_paths[i]) != 0) ::rmdir(g_paths[i]);
  }
}

void on_signal(int sig) {
  clean_up();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}
}  // namespace

void install_signal_cleanup() {
  g_main_pid = ::getpid();
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, on_signal);
}

void register_cleanup_path(const std::string& path) {
  if (g_npaths < kMaxCleanup && path.size() < sizeof g_paths[0])
    std::memcpy(g_paths[g_npaths++], path.c_str(), path.size() + 1);
}
void unregister_cleanup_path(const std::string& path) {
  for (int i = 0; i < g_npaths; ++i)
    if (path == g_paths[i]) g_paths[i][0] = '\0';
}
void register_cleanup_pid(pid_t pid) {
  if (g_npids < kMaxCleanup) g_pids[g_npids++] = pid;
}
void unregister_cleanup_pid(pid_t pid) {
  for (int i = 0; i < g_npids; ++i)
    if (g_pids[i] == pid) g_pids[i] = 0;
}

[[noreturn]] void die(const std::string& msg) {
  clean_up();
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg.c_str());
  std::exit(2);
}

}  // namespace shmkv_bench
