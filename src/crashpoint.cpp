// crashpoint.cpp: see crashpoint.hpp. Process-local state only.
#include "crashpoint.hpp"

#ifdef SHMKV_CRASHPOINTS
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace shmkv::detail {

void CrashPoint(const char* where) {
  static std::atomic<long> passed{0};
  static const long crash_at = [] {
    const char* v = std::getenv("SHMKV_CRASH_AT");
    return v ? std::atol(v) : 0L;
  }();
  static const char* count_file = std::getenv("SHMKV_CRASH_COUNT_FILE");
  long n = passed.fetch_add(1) + 1;
  if (count_file) {
    int fd = ::open(count_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      char buf[256];
      int len = std::snprintf(buf, sizeof buf, "%ld %s\n", n, where);
      if (::write(fd, buf, static_cast<size_t>(len)) < 0) {
      }
      ::close(fd);
    }
  }
  if (n == crash_at) ::raise(SIGKILL);
}

}  // namespace shmkv::detail
#endif
