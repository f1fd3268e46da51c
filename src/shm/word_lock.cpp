// word_lock.cpp: see word_lock.hpp.
#include "shm/word_lock.hpp"

#include <sched.h>

#include <string>

#include "os/os.hpp"
#include "os/throw.hpp"
#include "shm/robust_mutex.hpp"

namespace shmkv::detail {

namespace {

constexpr int kSpinTries = 256;                     // the word lock is held for tens of nanoseconds
constexpr std::uint64_t kCheckEveryNs = 1'000'000;  // a live holder is looked at every 1 ms
constexpr std::uint64_t kWatchdogNs = 30'000'000'000ull;

// A holder is taken for gone only when that is certain: clearing the word of a live holder
// would let two processes write the shard at once.
bool HolderGone(std::uint64_t token) {
  return os::ProcessCertainlyGone(static_cast<pid_t>(token & 0xffffffffu),
                                  static_cast<std::uint32_t>(token >> 32));
}

}  // namespace

std::uint64_t WordLockToken() {
  thread_local std::uint64_t token = 0;
  thread_local std::uint64_t generation = ~0ull;
  if (const std::uint64_t now = os::ForkGeneration(); generation != now) {
    const pid_t pid = os::Pid();
    token = static_cast<std::uint32_t>(pid) | (os::ProcessStartTime(pid) << 32);
    generation = now;
  }
  return token;
}

bool WaitForWordLockRelease(std::atomic<std::uint64_t>* word, const LockName& name) {
  for (int i = 0; i < kSpinTries; ++i) {
    if (word->load(std::memory_order_acquire) == 0) return false;
    __builtin_ia32_pause();
  }
  const std::uint64_t start = os::NowMonotonicNs();
  std::uint64_t checked = 0;
  for (;;) {
    const std::uint64_t token = word->load(std::memory_order_acquire);
    if (token == 0) return false;
    const std::uint64_t now = os::NowMonotonicNs();
    if (now - checked >= kCheckEveryNs) {
      checked = now;
      // Only mutex holders clear a token, and we hold the mutex: no one else races this CAS,
      // and a taker that finds the word free then backs off on seeing the mutex held.
      if (HolderGone(token)) {
        std::uint64_t expected = token;
        if (word->compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) return true;
        continue;
      }
      if (now - start >= kWatchdogNs)
        Throw(errc::busy, name.Describe() + " word lock held for 30 s by live process " +
                              std::to_string(token & 0xffffffffu) + " (stopped?)");
    }
    sched_yield();
  }
}

}  // namespace shmkv::detail
