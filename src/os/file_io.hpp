// file_io.hpp: the OS boundary of the disk backend (internal).
//
// Every system call the persistence code makes on its directory (open, write, pwrite,
// fdatasync, rename, directory fsync, flock, mmap of files being read, listing) goes through
// here, as os.hpp does for the segment, and passes the fault seam (os::InjectDiskFault) first.
// Functions throw shmkv::Error naming the path and the errno ("No space left on device
// (ENOSPC)"): ENOENT is not_found, EEXIST already_exists, EACCES/EPERM permission_denied,
// anything else io_error (ENOSPC too: a full disk is not a full store; store_full is kept for
// the segment's own space in /dev/shm).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shmkv::detail::fileio {

// Absolute, lexically normalised form of path (relative to the working directory).
std::string AbsolutePath(const std::string& path);
// mkdir -p with `mode` for the directories it creates (and `group`, if given, for the last).
void MakeDirs(const std::string& dir, std::uint32_t mode,
              const std::optional<std::uint32_t>& group = std::nullopt);
// Who may have written a file or directory of the persistence directory: the effective uid only,
// or also the trusted group (Options::trusted_group). Passed to the opens below.
using Trust = std::optional<std::uint32_t>;
// Opens dir (O_DIRECTORY | O_NOFOLLOW) and refuses it (permission_denied, naming owner uid,
// group and mode) unless os::CheckTrusted accepts it.
void CheckTrustedDir(const std::string& dir, const Trust& trusted_group);
// Names in dir (no "." / ".."). Throws not_found when dir does not exist.
std::vector<std::string> ListDir(const std::string& dir);
std::string DirName(const std::string& path);

// Creates a new file (O_EXCL, mode 0600 unless told). Throws already_exists if it exists.
int CreateNew(const std::string& path, std::uint32_t mode = 0600);
int OpenRead(const std::string& path);
// O_NOFOLLOW open for reading plus os::CheckTrusted (permission_denied otherwise).
int OpenReadTrusted(const std::string& path, const Trust& trusted_group);
void Close(int fd) noexcept;
void WriteAll(int fd, const void* data, std::size_t len, const std::string& path);
void PwriteAll(int fd, const void* data, std::size_t len, std::uint64_t offset,
               const std::string& path);
// Reads up to len bytes at offset; returns how many (less only at end of file).
std::size_t PreadSome(int fd, void* data, std::size_t len, std::uint64_t offset,
                      const std::string& path);
void DataSync(int fd, const std::string& path);
// ftruncate, reporting failure instead of throwing (cutting a failed append back).
bool TruncateQuiet(int fd, std::uint64_t size) noexcept;
// Throws the shmkv::Error for errno err on `what` (mapping above).
[[noreturn]] void ThrowDisk(int err, const std::string& what);
// fsync of the directory itself: makes creations, renames and unlinks in it durable.
void SyncDir(const std::string& dir);
void Rename(const std::string& from, const std::string& to);
bool Unlink(const std::string& path) noexcept;
std::uint64_t FileSize(int fd, const std::string& path);
bool Exists(const std::string& path);

// Exclusive flock on a lock file (created if missing), held until the object dies. Waits at most
// `timeout_ms` (then errc::busy naming the file).
class DirLock {
 public:
  DirLock(const std::string& path, std::uint64_t timeout_ms, const Trust& trusted_group = {});
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_;
};

// A whole file mapped read-only (private). An empty file has data() == nullptr and size() 0.
// Symlinks are followed; a path that is not a regular file (FIFO, directory, device) raises
// invalid_argument without blocking (opened O_NONBLOCK, then fstat).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  // A file of the persistence directory: O_NOFOLLOW, and refused unless trusted (see above).
  MappedFile(const std::string& path, const Trust& trusted_group);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::string_view view() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(const std::string& path, const Trust& trusted_group, bool check);
  std::string path_;
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace shmkv::detail::fileio
