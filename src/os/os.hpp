// os.hpp: the operating system, for the segment, processes and clocks (internal). With
// file_io.hpp (the disk backend's files) it is src/os, the layer every system call of the
// library goes through: shared memory (open, link, ftruncate, posix_fallocate, mmap, unlink,
// listing /dev/shm and its free space), processes (/proc, pids, fork generations), clocks,
// randomness, flock, futexes and process-exit watches (pidfd). The one exception is the pthread
// calls of the robust mutex, which shm/robust_mutex owns (a mutex in the segment is the segment's
// primitive). One place to read, and one seam for fault injection. The Redis engine's sockets are
// hiredis's, which makes their calls itself; the engine asks this layer only whether a connection
// was closed (SocketClosed) and sends with it (SendNoSignal), since hiredis's write(2) raises
// SIGPIPE on a closed socket. Functions throw shmkv::Error with the path in the message.
//
// Disk fault injection (the persistence directory's calls, made through file_io.hpp): a test
// arms one fault, "fail the nth call of kind K with errno E" (or "write only half, then fail").
// It is compiled into every build, so the library under test is the one that ships; disarmed,
// it costs one relaxed atomic load per disk system call (nanoseconds against microseconds).
// Segment calls (shm_open, posix_fallocate, mmap) are not routed through it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shmkv::detail::os {

// /dev/shm/shmkv.<name>
std::string SegmentPath(const std::string& name);
// The size and free bytes (statvfs: blocks and blocks available to this user) of the
// filesystem that holds the segments. A tmpfs mounted without a size limit reports 0 for both.
struct FileSystemSpace {
  std::uint64_t total_bytes = 0;
  std::uint64_t free_bytes = 0;
};
FileSystemSpace SegmentFileSystemSpace();

// Opens an existing file. Throws not_found, permission_denied or io_error.
int OpenExisting(const std::string& path, bool writable);
// Creates a new file exclusively with exactly `mode` (umask is undone with fchmod).
int CreateExclusive(const std::string& path, std::uint32_t mode);
void Close(int fd) noexcept;
// Refuses (permission_denied, naming owner uid, group and mode) a file or directory that
// users other than this process's effective uid may have written: one owned by another uid,
// or one writable by its group or by others. With trusted_group, one that belongs to that
// group and that others cannot write is accepted, whoever owns it (Options::trusted_group).
void CheckTrusted(int fd, const std::string& path,
                  const std::optional<std::uint32_t>& trusted_group);
// Gives a file this process just created to `group` (fchown); permission_denied if it may not.
void SetGroup(int fd, const std::string& path, std::uint32_t group);
std::uint64_t FileSize(int fd, const std::string& path);
void Truncate(int fd, std::uint64_t size, const std::string& path);
// Reserves backing store for [offset, offset+len). Returns 0 or the errno (ENOSPC when full).
int Fallocate(int fd, std::uint64_t offset, std::uint64_t len);
void* Map(int fd, std::uint64_t size, bool writable, const std::string& path);
void Unmap(void* base, std::uint64_t size) noexcept;
// link(from, to); false if `to` already exists.
bool Link(const std::string& from, const std::string& to);
// rename(from, to), replacing `to`.
void Rename(const std::string& from, const std::string& to);
// unlink; false if it did not exist.
bool Unlink(const std::string& path);
bool Exists(const std::string& path);

// Start time of a process in clock ticks since boot (/proc/PID/stat field 22); 0 if gone or a
// zombie.
std::uint64_t ProcessStartTime(pid_t pid);
bool ProcessAlive(pid_t pid, std::uint64_t start_time);
// Whether the process `pid` whose start time's low 32 bits are `start_low` (0 = not known) is
// certainly gone: no such pid (ESRCH); a zombie with no thread left; or a live process whose
// start time differs (the pid was reused). Whatever cannot be read (/proc hidden or missing, no
// file descriptor left) counts as not gone: for a caller that would otherwise take over what the
// process holds, a wrong "gone" is the dangerous answer.
bool ProcessCertainlyGone(pid_t pid, std::uint32_t start_low);

// --- disk fault injection (tests) ---
enum class DiskCall : std::uint8_t {
  open,      // opening an existing file or directory (read or read-write)
  create,    // creating a file (journal, snapshot temporary, identity file, lock file)
  write,     // write / pwrite
  read,      // pread
  sync,      // fdatasync of a file
  sync_dir,  // fsync of a directory
  rename,    // rename (sealing a journal, publishing a snapshot)
  mkdir,
  truncate,  // ftruncate of a file (cutting a failed append back)
  any,       // every kind above
};
const char* DiskCallName(DiskCall call) noexcept;
struct DiskFault {
  DiskCall call = DiskCall::any;
  long nth = 1;              // the nth matching call after arming fails (1 = the next one)
  int err = 5;               // errno it fails with (EIO)
  bool sticky = false;       // every later matching call fails too (a disk that stays full)
  bool short_write = false;  // call write: the nth call writes half its bytes, the next fails
};
void ArmDiskFault(const DiskFault& fault) noexcept;
void DisarmDiskFaults() noexcept;
// Calls failed (or shortened) since the last ArmDiskFault.
long DiskFaultsInjected() noexcept;
namespace fault_detail {
extern std::atomic<bool> g_armed;
int Inject(DiskCall call) noexcept;
}  // namespace fault_detail
// file_io calls this before each disk call: 0 = go ahead, > 0 = fail with this errno,
// -1 = write only half of the bytes (a short write).
inline int InjectDiskFault(DiskCall call) noexcept {
  if (!fault_detail::g_armed.load(std::memory_order_relaxed)) [[likely]]
    return 0;
  return fault_detail::Inject(call);
}

// "No space left on device (ENOSPC)": strerror plus the errno's symbolic name.
std::string ErrnoText(int err);

std::uint64_t NowUnixMs();
std::uint64_t NowMonotonicNs();
std::uint64_t RandomSeed();
// How many fork()s lie between the process start and the calling process (a pthread_atfork
// child handler in os.cpp counts them): a handle that remembers the generation it was opened in
// knows, with one load, that it was inherited across fork(). The one fork detector of the
// library. Inline: every Store operation asks.
inline std::atomic<std::uint64_t> fork_generation{0};
inline std::uint64_t ForkGeneration() {
  return fork_generation.load(std::memory_order_relaxed);
}
// This process's id (getpid: a system call; not for hot paths).
pid_t Pid();
// Whether fd is still the file at path (same inode and device; false when either is gone).
bool SameFile(int fd, const std::string& path);
// Whether fd's file still has a name (a link count above zero).
bool StillLinked(int fd);
// Names in /dev/shm (empty if it cannot be read).
std::vector<std::string> ListSharedMemory();
// Exclusive flock(fd), waiting for it (errors ignored: callers re-check what they lock).
void LockFileExclusive(int fd);
// CLOCK_MONOTONIC_COARSE in ms: a few ms of resolution, no system call (vDSO).
std::uint64_t NowMonotonicCoarseMs();
unsigned CpuCount();

// True when the connected socket fd has been closed or reset by its peer, or has bytes waiting
// that nobody asked for (for a request/reply protocol, also a dead connection): poll() with a
// zero timeout, no wait.
bool SocketClosed(int fd);

// Marks fd close-on-exec: a program the process runs (the CLI's `lock -- cmd`) does not inherit
// it.
void CloseOnExec(int fd);

// send(2) with MSG_NOSIGNAL: a socket the peer closed gives EPIPE instead of raising SIGPIPE
// (whose default action would kill the process). Retries on EINTR; returns the bytes sent, or
// -1 with errno set.
long SendNoSignal(int fd, const char* data, std::size_t len);

// --- Waiting across processes (coordination: lock, acquire).
// Sleeps while *word == expected, until FutexWakeAll on the word (from any process mapping it),
// or `timeout` (< 0: none), or a signal. A shared (not process-private) futex.
void FutexWait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
               std::chrono::nanoseconds timeout);
void FutexWakeAll(std::atomic<std::uint32_t>* word);

// Watches processes for their exit, without polling: a thread blocks in poll(2) on a pidfd per
// process, and when one exits (or was already gone) it adds 1 to *word and wakes its sleepers.
// Stops (and joins the thread) when destroyed. Pids it cannot watch (pidfd_open fails other than
// with ESRCH) are left out: their lease still bounds the wait.
class ExitWatch {
 public:
  ExitWatch(const std::vector<pid_t>& pids, std::atomic<std::uint32_t>* word);
  ~ExitWatch();
  ExitWatch(const ExitWatch&) = delete;
  ExitWatch& operator=(const ExitWatch&) = delete;

 private:
  struct State;
  std::unique_ptr<State> st_;
};

}  // namespace shmkv::detail::os
