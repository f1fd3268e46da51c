// crashpoint.cpp: see crashpoint.hpp. Process-local state only; nothing here touches the
// segment.
#include "os/crashpoint.hpp"

#ifdef SHMKV_CRASHPOINTS
#include <signal.h>
#include <unistd.h>

#include <cstdlib>

namespace shmkv::detail {
namespace {

struct State {
  pid_t pid = 0;  // the process the state belongs to; a forked child re-reads the environment
  long passed = 0;
  long crash_at = 0;
};
thread_local State state;

State& Current() {
  if (state.pid != ::getpid()) {
    state.pid = ::getpid();
    state.passed = 0;
    const char* v = std::getenv("SHMKV_CRASH_AT");
    state.crash_at = v ? std::atol(v) : 0;
  }
  return state;
}

}  // namespace

void CrashPoint(const char* where) {
  State& s = Current();
  (void)where;  // named for whoever reads the code or a core dump; the count decides
  if (++s.passed == s.crash_at) ::raise(SIGKILL);
}

void ArmCrashPoint(long n) {
  State& s = Current();
  s.passed = 0;
  s.crash_at = n;
}

}  // namespace shmkv::detail
#endif
