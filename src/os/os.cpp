// os.cpp: see os.hpp. No shared-memory state is touched here.
#include "os/os.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "os/throw.hpp"

namespace shmkv::detail {

void ThrowErrno(int err, const std::string& what) {
  std::string msg = what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      Throw(errc::not_found, msg);
    case EACCES:
    case EPERM:
      Throw(errc::permission_denied, msg);
    case EEXIST:
      Throw(errc::already_exists, msg);
    case ENOSPC:
    case ENOMEM:
      Throw(errc::store_full, msg);
    default:
      Throw(errc::io_error, msg);
  }
}

namespace os {

namespace {
constexpr char kSegmentDirectory[] = "/dev/shm";
}  // namespace

std::string SegmentPath(const std::string& name) {
  return std::string(kSegmentDirectory) + "/shmkv." + name;
}

FileSystemSpace SegmentFileSystemSpace() {
  struct statvfs st;
  if (::statvfs(kSegmentDirectory, &st) != 0)
    ThrowErrno(errno, std::string("statvfs ") + kSegmentDirectory);
  return {static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize,
          static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize};
}

int OpenExisting(const std::string& path, bool writable) {
  int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) ThrowErrno(errno, "open " + path);
  return fd;
}

int CreateExclusive(const std::string& path, std::uint32_t mode) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) ThrowErrno(errno, "create " + path);
  if (::fchmod(fd, mode) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    ThrowErrno(err, "fchmod " + path);
  }
  return fd;
}

void Close(int fd) noexcept {
  if (fd >= 0) ::close(fd);
}

void CheckTrusted(int fd, const std::string& path,
                  const std::optional<std::uint32_t>& trusted_group) {
  struct stat st;
  if (::fstat(fd, &st) != 0) ThrowErrno(errno, "fstat " + path);
  const unsigned mode = st.st_mode & 07777;
  const bool in_trusted_group = trusted_group && st.st_gid == *trusted_group;
  const char* why = nullptr;
  if (mode & S_IWOTH)
    why = "any local user may write it";
  else if (in_trusted_group)
    return;
  else if (st.st_uid != ::geteuid())
    why = "it belongs to another user";
  else if (mode & S_IWGRP)
    why = "its group may write it";
  else
    return;
  char octal[16];
  std::snprintf(octal, sizeof octal, "0%o", mode);
  Throw(errc::permission_denied,
        path + " is owned by uid " + std::to_string(st.st_uid) + " group " +
            std::to_string(st.st_gid) + " with mode " + octal + " and " + why +
            "; this process runs as uid " + std::to_string(::geteuid()) +
            (trusted_group ? " and trusts group " + std::to_string(*trusted_group)
                           : std::string(" and trusts no group (Options::trusted_group)")));
}

void SetGroup(int fd, const std::string& path, std::uint32_t group) {
  if (::fchown(fd, static_cast<uid_t>(-1), static_cast<gid_t>(group)) != 0)
    ThrowErrno(errno, "fchown " + path + " to group " + std::to_string(group));
}

std::uint64_t FileSize(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) ThrowErrno(errno, "fstat " + path);
  return static_cast<std::uint64_t>(st.st_size);
}

void Truncate(int fd, std::uint64_t size, const std::string& path) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) ThrowErrno(errno, "ftruncate " + path);
}

int Fallocate(int fd, std::uint64_t offset, std::uint64_t len) {
  return ::posix_fallocate(fd, static_cast<off_t>(offset), static_cast<off_t>(len));
}

void* Map(int fd, std::uint64_t size, bool writable, const std::string& path) {
  void* p = ::mmap(nullptr, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) ThrowErrno(errno, "mmap " + path);
  return p;
}

void Unmap(void* base, std::uint64_t size) noexcept {
  if (base) ::munmap(base, size);
}

bool Link(const std::string& from, const std::string& to) {
  if (::link(from.c_str(), to.c_str()) == 0) return true;
  if (errno == EEXIST) return false;
  ThrowErrno(errno, "link " + from + " -> " + to);
}

void Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) ThrowErrno(errno, "rename " + from + " -> " + to);
}

bool Unlink(const std::string& path) {
  if (::unlink(path.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  ThrowErrno(errno, "unlink " + path);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

namespace {

// Fields 3 (state) and 22 (start time, clock ticks since boot) of /proc/PID/stat; false when
// the file cannot be read or parsed.
bool ReadProcStat(pid_t pid, std::string* state, std::uint64_t* start_time) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return false;
  // Field 2 (comm) may contain spaces and parentheses: parse after the last ')'.
  auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos) return false;
  std::istringstream rest(line.substr(close_paren + 2));
  std::string field;
  if (!(rest >> *state)) return false;
  for (int i = 4; i <= 22; ++i) {
    if (!(rest >> field)) return false;
  }
  *start_time = std::strtoull(field.c_str(), nullptr, 10);
  return true;
}

bool Zombie(const std::string& state) {
  return state == "Z" || state == "X";
}

}  // namespace

std::uint64_t ProcessStartTime(pid_t pid) {
  std::string state;
  std::uint64_t start = 0;
  if (!ReadProcStat(pid, &state, &start) || Zombie(state)) return 0;  // a zombie is dead
  return start;
}

bool ProcessAlive(pid_t pid, std::uint64_t start_time) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::uint64_t now_start = ProcessStartTime(pid);
  if (now_start == 0) return false;  // no /proc entry: gone (or a zombie being reaped)
  return start_time == 0 || now_start == start_time;
}

bool ProcessCertainlyGone(pid_t pid, std::uint32_t start_low) {
  if (pid <= 0) return true;  // not a process id
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::string state;
  std::uint64_t start = 0;
  if (!ReadProcStat(pid, &state, &start)) return false;  // cannot tell
  if (Zombie(state)) {
    // A zombie leader whose other threads still run (main called pthread_exit) is alive: its
    // status counts them.
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
    std::ifstream status(path);
    for (std::string l; std::getline(status, l);)
      if (l.rfind("Threads:", 0) == 0) return std::strtol(l.c_str() + 8, nullptr, 10) <= 1;
    return false;  // cannot tell
  }
  return start_low != 0 && (start & 0xffffffffu) != start_low;
}

std::uint64_t NowUnixMs() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000000;
}

std::uint64_t NowMonotonicNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

namespace {
[[maybe_unused]] const int g_atfork_registered = ::pthread_atfork(
    nullptr, nullptr, [] { fork_generation.fetch_add(1, std::memory_order_relaxed); });
}  // namespace

bool SameFile(int fd, const std::string& path) {
  struct stat a, b;
  return ::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_ino == b.st_ino &&
         a.st_dev == b.st_dev;
}

bool StillLinked(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && st.st_nlink > 0;
}

std::vector<std::string> ListSharedMemory() {
  std::vector<std::string> names;
  DIR* dir = ::opendir(kSegmentDirectory);
  if (!dir) return names;
  while (dirent* e = ::readdir(dir)) names.emplace_back(e->d_name);
  ::closedir(dir);
  return names;
}

void LockFileExclusive(int fd) {
  (void)::flock(fd, LOCK_EX);
}

pid_t Pid() {
  return ::getpid();
}

std::uint64_t NowMonotonicCoarseMs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000000;
}

std::uint64_t RandomSeed() {
  std::uint64_t seed = 0;
  if (::getrandom(&seed, sizeof seed, 0) != sizeof seed)
    seed = NowMonotonicNs() ^ (std::uint64_t(::getpid()) << 32);
  return seed;
}

const char* DiskCallName(DiskCall call) noexcept {
  switch (call) {
    case DiskCall::open:
      return "open";
    case DiskCall::create:
      return "create";
    case DiskCall::write:
      return "write";
    case DiskCall::read:
      return "read";
    case DiskCall::sync:
      return "fdatasync";
    case DiskCall::sync_dir:
      return "fsync-dir";
    case DiskCall::rename:
      return "rename";
    case DiskCall::mkdir:
      return "mkdir";
    case DiskCall::truncate:
      return "ftruncate";
    case DiskCall::any:
      return "any";
  }
  return "?";
}

namespace fault_detail {
std::atomic<bool> g_armed{false};
namespace {
std::mutex g_mu;  // guards the fault below (taken only while armed)
DiskFault g_fault;
long g_seen = 0;           // matching calls since arming
long g_injected = 0;       // calls failed or shortened
bool g_fail_next = false;  // after a short write: the next matching call fails
}  // namespace

int Inject(DiskCall call) noexcept {
  std::lock_guard<std::mutex> lk(g_mu);
  if (!g_armed.load(std::memory_order_relaxed)) return 0;
  if (g_fault.call != DiskCall::any && g_fault.call != call) return 0;
  ++g_seen;
  if (g_fail_next || g_seen == g_fault.nth || (g_fault.sticky && g_seen > g_fault.nth)) {
    ++g_injected;
    if (g_seen == g_fault.nth && g_fault.short_write && call == DiskCall::write) {
      g_fail_next = true;
      return -1;
    }
    g_fail_next = g_fail_next && g_fault.sticky;
    return g_fault.err;
  }
  return 0;
}
}  // namespace fault_detail

void ArmDiskFault(const DiskFault& fault) noexcept {
  std::lock_guard<std::mutex> lk(fault_detail::g_mu);
  fault_detail::g_fault = fault;
  fault_detail::g_seen = 0;
  fault_detail::g_injected = 0;
  fault_detail::g_fail_next = false;
  fault_detail::g_armed.store(true, std::memory_order_relaxed);
}

void DisarmDiskFaults() noexcept {
  std::lock_guard<std::mutex> lk(fault_detail::g_mu);
  fault_detail::g_armed.store(false, std::memory_order_relaxed);
  fault_detail::g_fail_next = false;
}

long DiskFaultsInjected() noexcept {
  std::lock_guard<std::mutex> lk(fault_detail::g_mu);
  return fault_detail::g_injected;
}

std::string ErrnoText(int err) {
  const char* name = ::strerrorname_np(err);
  return std::string(std::strerror(err)) + " (" + (name ? name : "errno " + std::to_string(err)) +
         ")";
}

unsigned CpuCount() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? n : 1;
}

bool SocketClosed(int fd) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, 0);
  while (r < 0 && errno == EINTR);
  return r != 0;  // readable (EOF or stray bytes), hung up, in error, or poll failed
}

void CloseOnExec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

long SendNoSignal(int fd, const char* data, std::size_t len) {
  ssize_t n;
  do n = ::send(fd, data, len, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return static_cast<long>(n);
}

}  // namespace os
}  // namespace shmkv::detail
