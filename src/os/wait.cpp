// wait.cpp: waiting across processes (os.hpp): shared futexes on words in the segment, and exit
// watches on pidfds. Nothing here touches the segment but the word it is given; a watch's thread
// lives only as long as the ExitWatch that started it.
#include <linux/futex.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <thread>

#include "os/os.hpp"
#include "os/throw.hpp"

namespace shmkv::detail::os {

void FutexWait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
               std::chrono::nanoseconds timeout) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout.count() >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1000000000);
    tsp = &ts;
  }
  // EAGAIN (the word changed), ETIMEDOUT and EINTR all mean: look again.
  (void)::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, tsp,
                  nullptr, 0);
}

void FutexWakeAll(std::atomic<std::uint32_t>* word) {
  (void)::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr,
                  nullptr, 0);
}

struct ExitWatch::State {
  std::vector<int> fds;  // the pidfds, then the eventfd that stops the thread
  std::thread thread;
};

namespace {

void Bump(std::atomic<std::uint32_t>* word) {
  word->fetch_add(1, std::memory_order_seq_cst);
  FutexWakeAll(word);
}

}  // namespace

ExitWatch::ExitWatch(const std::vector<pid_t>& pids, std::atomic<std::uint32_t>* word)
    : st_(std::make_unique<State>()) {
  bool gone = false;
  for (pid_t pid : pids) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd >= 0) {
      st_->fds.push_back(fd);
    } else if (errno == ESRCH) {
      gone = true;
    }
  }
  if (gone) Bump(word);
  const int stop = ::eventfd(0, EFD_CLOEXEC);
  if (stop >= 0) st_->fds.push_back(stop);
  try {
    if (stop < 0) Throw(errc::io_error, "eventfd: " + ErrnoText(errno));
    st_->thread = std::thread([fds = st_->fds, word] {
      std::vector<pollfd> p;
      for (int fd : fds) p.push_back({fd, POLLIN, 0});
      for (;;) {
        const int n = ::poll(p.data(), p.size(), -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 || p.back().revents != 0)
          return;    // stopped (or poll failed: the lease bounds it)
        Bump(word);  // a watched process exited
        return;
      }
    });
  } catch (...) {
    for (int fd : st_->fds) ::close(fd);
    throw;
  }
}

ExitWatch::~ExitWatch() {
  const std::uint64_t one = 1;
  (void)!::write(st_->fds.back(), &one, sizeof one);
  st_->thread.join();
  for (int fd : st_->fds) ::close(fd);
}

}  // namespace shmkv::detail::os
