// file_io.cpp: see file_io.hpp. No shared-memory state is touched here.
#include "os/file_io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "os/os.hpp"
#include "os/throw.hpp"

namespace shmkv::detail::fileio {

using os::DiskCall;

[[noreturn]] void ThrowDisk(int err, const std::string& what) {
  std::string msg = what + ": " + os::ErrnoText(err);
  switch (err) {
    case ENOENT:
      Throw(errc::not_found, msg);
    case EEXIST:
      Throw(errc::already_exists, msg);
    case EACCES:
    case EPERM:
      Throw(errc::permission_denied, msg);
    default:
      Throw(errc::io_error, msg);  // ENOSPC included: a full disk is not a full store
  }
}

namespace {
// The fault seam: fails the call as the armed fault says (errno set), or lets it through.
bool Injected(DiskCall call) {
  int e = os::InjectDiskFault(call);
  if (e <= 0) return false;
  errno = e;
  return true;
}
// One write call through the seam: the injected errno, half the bytes (a short write), or all.
template <class F>
ssize_t SeamWrite(std::size_t len, F&& call) {
  const int e = os::InjectDiskFault(DiskCall::write);
  if (e > 0) {
    errno = e;
    return -1;
  }
  return call(e < 0 ? (len + 1) / 2 : len);
}
}  // namespace

std::string AbsolutePath(const std::string& path) {
  if (path.empty()) Throw(errc::invalid_argument, "persistence directory is empty");
  std::string full = path;
  if (full[0] != '/') {
    char cwd[4096];
    if (!::getcwd(cwd, sizeof cwd)) ThrowDisk(errno, "getcwd");
    full = std::string(cwd) + "/" + path;
  }
  // Lexical normalisation: collapse //, /./ and /../ (no symlink resolution).
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i <= full.size()) {
    std::size_t j = full.find('/', i);
    if (j == std::string::npos) j = full.size();
    std::string part = full.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

void MakeDirs(const std::string& dir, std::uint32_t mode,
              const std::optional<std::uint32_t>& group) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) Throw(errc::invalid_argument, dir + " exists and is not a directory");
    return;
  }
  std::string parent = DirName(dir);
  if (parent != dir) MakeDirs(parent, mode);
  if (Injected(DiskCall::mkdir) || ::mkdir(dir.c_str(), mode) != 0) {
    if (errno == EEXIST) return;
    ThrowDisk(errno, "mkdir " + dir);
  }
  if (group) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) ThrowDisk(errno, "open directory " + dir);
    try {
      os::SetGroup(fd, dir, *group);
      if (::fchmod(fd, mode) != 0) ThrowDisk(errno, "fchmod " + dir);  // undo the umask
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
  }
}

void CheckTrustedDir(const std::string& dir, const Trust& trusted_group) {
  int fd = Injected(DiskCall::open)
               ? -1
               : ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) ThrowDisk(errno, "open directory " + dir);
  try {
    os::CheckTrusted(fd, dir, trusted_group);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

std::vector<std::string> ListDir(const std::string& dir) {
  DIR* d = Injected(DiskCall::open) ? nullptr : ::opendir(dir.c_str());
  if (!d) ThrowDisk(errno, "opendir " + dir);
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(std::move(n));
  }
  ::closedir(d);
  return out;
}

std::string DirName(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

int CreateNew(const std::string& path, std::uint32_t mode) {
  int fd = Injected(DiskCall::create)
               ? -1
               : ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) ThrowDisk(errno, "create " + path);
  return fd;
}

int OpenRead(const std::string& path) {
  int fd = Injected(DiskCall::open) ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ThrowDisk(errno, "open " + path);
  return fd;
}

int OpenReadTrusted(const std::string& path, const Trust& trusted_group) {
  int fd = Injected(DiskCall::open) ? -1 : ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) ThrowDisk(errno, "open " + path);
  try {
    os::CheckTrusted(fd, path, trusted_group);
  } catch (...) {
    ::close(fd);
    throw;
  }
  return fd;
}

void Close(int fd) noexcept {
  if (fd >= 0) ::close(fd);
}

void WriteAll(int fd, const void* data, std::size_t len, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = SeamWrite(len, [&](std::size_t l) { return ::write(fd, p, l); });
    if (n < 0) {
      if (errno == EINTR) continue;
      ThrowDisk(errno, "write " + path);
    }
    p += n;
    len -= static_cast<std::size_t>(n);
  }
}

void PwriteAll(int fd, const void* data, std::size_t len, std::uint64_t offset,
               const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = SeamWrite(
        len, [&](std::size_t l) { return ::pwrite(fd, p, l, static_cast<off_t>(offset)); });
    if (n < 0) {
      if (errno == EINTR) continue;
      ThrowDisk(errno, "pwrite " + path);
    }
    p += n;
    len -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
}

std::size_t PreadSome(int fd, void* data, std::size_t len, std::uint64_t offset,
                      const std::string& path) {
  std::size_t got = 0;
  char* p = static_cast<char*>(data);
  while (got < len) {
    ssize_t n = Injected(DiskCall::read)
                    ? -1
                    : ::pread(fd, p + got, len - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      ThrowDisk(errno, "read " + path);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

void DataSync(int fd, const std::string& path) {
  // An fdatasync error is final: the kernel may have dropped the dirty pages, so a retry that
  // "succeeds" proves nothing. Callers make the error sticky.
  if (Injected(DiskCall::sync) || ::fdatasync(fd) != 0) ThrowDisk(errno, "fdatasync " + path);
}

bool TruncateQuiet(int fd, std::uint64_t size) noexcept {
  if (Injected(DiskCall::truncate)) return false;
  return ::ftruncate(fd, static_cast<off_t>(size)) == 0;
}

void SyncDir(const std::string& dir) {
  int fd = Injected(DiskCall::open) ? -1 : ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowDisk(errno, "open directory " + dir);
  int rc = Injected(DiskCall::sync_dir) ? -1 : ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) ThrowDisk(err, "fsync directory " + dir);
}

void Rename(const std::string& from, const std::string& to) {
  if (Injected(DiskCall::rename) || ::rename(from.c_str(), to.c_str()) != 0)
    ThrowDisk(errno, "rename " + from + " -> " + to);
}

bool Unlink(const std::string& path) noexcept {
  return ::unlink(path.c_str()) == 0;
}

std::uint64_t FileSize(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) ThrowDisk(errno, "fstat " + path);
  return static_cast<std::uint64_t>(st.st_size);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

DirLock::DirLock(const std::string& path, std::uint64_t timeout_ms, const Trust& trusted_group) {
  fd_ = Injected(DiskCall::create)
            ? -1
            : ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_ < 0) ThrowDisk(errno, "open lock file " + path);
  try {
    struct stat st;
    if (trusted_group && ::fstat(fd_, &st) == 0 && st.st_uid == ::geteuid() &&
        st.st_gid != *trusted_group) {
      // Created by us just now (or by us earlier): every member of the group must open it.
      os::SetGroup(fd_, path, *trusted_group);
      if (::fchmod(fd_, 0660) != 0) ThrowDisk(errno, "fchmod " + path);
    }
    os::CheckTrusted(fd_, path, trusted_group);
  } catch (...) {
    ::close(fd_);
    throw;
  }
  const std::uint64_t deadline = os::NowMonotonicNs() + timeout_ms * 1000000ull;
  for (;;) {
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
    if (errno != EWOULDBLOCK && errno != EINTR) {
      int err = errno;
      ::close(fd_);
      ThrowDisk(err, "flock " + path);
    }
    if (os::NowMonotonicNs() > deadline) {
      ::close(fd_);
      Throw(errc::busy, "timed out after " + std::to_string(timeout_ms) +
                            " ms waiting for the lock " + path + " (another process recovers)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

DirLock::~DirLock() {
  ::close(fd_);  // releases the flock
}

namespace {
const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a file";
}
}  // namespace

MappedFile::MappedFile(const std::string& path) : MappedFile(path, std::nullopt, false) {}

MappedFile::MappedFile(const std::string& path, const Trust& trusted_group)
    : MappedFile(path, trusted_group, true) {}

MappedFile::MappedFile(const std::string& path, const Trust& trusted_group, bool check)
    : path_(path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; anything but a regular file is refused.
  // A file of the persistence directory (check): O_NOFOLLOW, and refused unless trusted.
  int fd = Injected(DiskCall::open)
               ? -1
               : ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | (check ? O_NOFOLLOW : 0));
  if (fd < 0) ThrowDisk(errno, "open " + path);
  if (check) {
    try {
      os::CheckTrusted(fd, path, trusted_group);
    } catch (...) {
      ::close(fd);
      throw;
    }
  }
  try {
    struct stat st;
    if (::fstat(fd, &st) != 0) ThrowDisk(errno, "fstat " + path);
    if (!S_ISREG(st.st_mode))
      Throw(errc::invalid_argument, path + " is " + FileKind(st.st_mode) +
                                        ", not a regular file; nothing was read from it");
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) ThrowDisk(errno, "mmap " + path);
      data_ = static_cast<const char*>(p);
      ::madvise(p, size_, MADV_SEQUENTIAL);
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<char*>(data_), size_);
}

}  // namespace shmkv::detail::fileio
