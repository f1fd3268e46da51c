#include "test_util.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <random>
#include <stdexcept>
#include <thread>

namespace testutil {

std::string unique_name(std::string_view tag) {
  static std::atomic<unsigned> counter{0};
  return std::string(tag) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1));
}

std::string segment_path(const std::string& name) {
  return "/dev/shm/shmkv." + name;
}

SegmentGuard::~SegmentGuard() {
  try {
    if (shmkv::Store::segment_exists(name_)) shmkv::Store::destroy(name_);
  } catch (...) {
  }
  ::unlink(segment_path(name_).c_str());
}

shmkv::Options small_options(const std::string& name, std::uint64_t size_bytes,
                             std::uint32_t shards) {
  shmkv::Options o;
  o.name = name;
  o.size_bytes = size_bytes;
  o.shards = shards;
  return o;
}

pid_t spawn_child(std::function<int()> fn) {
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid > 0) return pid;
  int rc = kChildUnknown;
  try {
    rc = fn();
  } catch (const shmkv::Error& e) {
    std::fprintf(stderr, "child %d: shmkv::Error %s: %s\n", static_cast<int>(::getpid()),
                 shmkv::errc_name(e.code_value()), e.what());
    rc = kChildException;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child %d: exception: %s\n", static_cast<int>(::getpid()), e.what());
    rc = kChildStdException;
  } catch (...) {
    std::fprintf(stderr, "child %d: unknown exception\n", static_cast<int>(::getpid()));
    rc = kChildUnknown;
  }
  std::fflush(stderr);
  ::_exit(rc);
}

namespace {

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

// Waits until `deadline`; returns the decoded status or kChildTimedOut (child killed + reaped).
int wait_until(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return decode_status(status);
    if (r < 0 && errno != EINTR) return 254;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::fprintf(stderr, "child %d did not finish in time; killing it\n", static_cast<int>(pid));
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return kChildTimedOut;
    }
    std::this_thread::sleep_for(pause);
    if (pause < std::chrono::milliseconds(10)) pause *= 2;
  }
}

}  // namespace

int wait_child(pid_t pid, std::chrono::milliseconds timeout) {
  return wait_until(pid, std::chrono::steady_clock::now() + timeout);
}

int run_in_child(std::function<int()> fn, std::chrono::milliseconds timeout) {
  return wait_child(spawn_child(std::move(fn)), timeout);
}

std::vector<int> run_children(int n, const std::function<int(int)>& fn,
                              std::chrono::milliseconds timeout) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) pids.push_back(spawn_child([&fn, i] { return fn(i); }));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<int> statuses;
  for (pid_t pid : pids) statuses.push_back(wait_until(pid, deadline));
  return statuses;
}

StartBarrier::StartBarrier() {
  if (::pipe(fds_) != 0) throw std::runtime_error("pipe failed");
}

StartBarrier::~StartBarrier() {
  if (fds_[0] >= 0) ::close(fds_[0]);
  if (fds_[1] >= 0) ::close(fds_[1]);
}

void StartBarrier::wait() {
  // The child's inherited copy of the write end must go, or read() would never see EOF.
  if (fds_[1] >= 0) {
    ::close(fds_[1]);
    fds_[1] = -1;
  }
  char c;
  while (::read(fds_[0], &c, 1) < 0 && errno == EINTR) {
  }
}

void StartBarrier::release() {
  if (fds_[1] >= 0) {
    ::close(fds_[1]);
    fds_[1] = -1;
  }
}

SharedBytes::SharedBytes(std::size_t bytes) : bytes_(bytes) {
  data_ = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (data_ == MAP_FAILED) throw std::runtime_error("mmap failed");
}

SharedBytes::~SharedBytes() {
  ::munmap(data_, bytes_);
}

Outcome outcome_of(const std::function<void()>& fn) {
  Outcome o;
  try {
    fn();
  } catch (const shmkv::Error& e) {
    o.kind = Outcome::shmkv_error;
    o.code = e.code_value();
    o.what = e.what();
  } catch (const std::exception& e) {
    o.kind = Outcome::other_exception;
    o.what = e.what();
  } catch (...) {
    o.kind = Outcome::other_exception;
    o.what = "(not a std::exception)";
  }
  return o;
}

std::string escape(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::vector<std::string> escape_each(const std::vector<std::string>& strings) {
  std::vector<std::string> out;
  for (const auto& s : strings) out.push_back(escape(s));
  return out;
}

std::string pattern_value(std::string_view key, std::size_t len) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  h ^= len;
  std::string v(len, '\0');
  for (std::size_t i = 0; i < len; ++i) {
    h ^= h << 13;
    h ^= h >> 7;
    h ^= h << 17;
    v[i] = static_cast<char>(h & 0xff);
  }
  return v;
}

std::vector<std::string> shm_files_containing(const std::string& needle) {
  std::vector<std::string> out;
  DIR* d = ::opendir("/dev/shm");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.find(needle) != std::string::npos) out.push_back(n);
  }
  ::closedir(d);
  return out;
}

std::uint64_t test_seed() {
  if (const char* s = std::getenv("SHMKV_TEST_SEED"); s && *s) return std::strtoull(s, nullptr, 0);
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace testutil
