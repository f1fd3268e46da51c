// lease.cpp: claiming, renewing and releasing a lease word (lease.hpp). Lock-free: every change
// is one compare-and-swap on the word, so a process killed at any point leaves either its lease
// (freed by its deadline or its death) or none.
#include "persist/lease.hpp"

#include <sys/types.h>

#include "os/os.hpp"

namespace shmkv::detail {

std::uint64_t MonotonicMs() {
  return os::NowMonotonicNs() / 1000000;
}

bool ClaimLease(std::atomic<std::uint64_t>* word, std::uint64_t seconds, std::uint64_t* mine) {
  const std::uint64_t now_s = MonotonicMs() / 1000;
  std::uint64_t cur = word->load(std::memory_order_acquire);
  if (cur != 0) {
    pid_t pid = static_cast<pid_t>(cur >> 32);
    std::uint64_t deadline = cur & 0xffffffffull;
    if (now_s < deadline && os::ProcessAlive(pid, 0)) return false;
  }
  std::uint64_t want =
      (static_cast<std::uint64_t>(os::Pid()) << 32) | ((now_s + seconds) & 0xffffffffull);
  if (!word->compare_exchange_strong(cur, want, std::memory_order_acq_rel)) return false;
  *mine = want;
  return true;
}

bool RenewLease(std::atomic<std::uint64_t>* word, std::uint64_t seconds, std::uint64_t* mine) {
  std::uint64_t want = (static_cast<std::uint64_t>(os::Pid()) << 32) |
                       ((MonotonicMs() / 1000 + seconds) & 0xffffffffull);
  std::uint64_t cur = *mine;
  if (cur == want) return true;
  if (!word->compare_exchange_strong(cur, want, std::memory_order_acq_rel)) return false;
  *mine = want;
  return true;
}

void ReleaseLease(std::atomic<std::uint64_t>* word, std::uint64_t mine) {
  word->compare_exchange_strong(mine, 0, std::memory_order_acq_rel);
}

}  // namespace shmkv::detail
