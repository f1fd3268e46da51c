// robust_mutex.cpp: see robust_mutex.hpp.
#include "shm/robust_mutex.hpp"

#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "os/throw.hpp"

namespace shmkv::detail {

namespace {
constexpr int kSpinTries = 64;
constexpr int kWatchdogSeconds = 30;
constexpr long kSliceNanoseconds = 10'000'000;  // a sleeper's wait is re-armed every 10 ms

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer (GCC 12's libtsan) does not intercept pthread_mutex_clocklock: it would not see
// the lock taken and would report every access under it as a race. It does intercept timedlock
// (a CLOCK_REALTIME deadline: a clock step changes the watchdog).
constexpr clockid_t kLockClock = CLOCK_REALTIME;
int LockBefore(pthread_mutex_t* mutex, const timespec& deadline) {
  return pthread_mutex_timedlock(mutex, &deadline);
}
#else
constexpr clockid_t kLockClock = CLOCK_MONOTONIC;
int LockBefore(pthread_mutex_t* mutex, const timespec& deadline) {
  return pthread_mutex_clocklock(mutex, CLOCK_MONOTONIC, &deadline);
}
#endif

timespec Now() {
  timespec t;
  clock_gettime(kLockClock, &t);
  return t;
}
timespec Plus(timespec t, long nanoseconds) {
  t.tv_sec += nanoseconds / 1'000'000'000;
  t.tv_nsec += nanoseconds % 1'000'000'000;
  if (t.tv_nsec >= 1'000'000'000) {
    ++t.tv_sec;
    t.tv_nsec -= 1'000'000'000;
  }
  return t;
}
bool Earlier(const timespec& a, const timespec& b) {
  return a.tv_sec != b.tv_sec ? a.tv_sec < b.tv_sec : a.tv_nsec < b.tv_nsec;
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace

void InitRobustMutex(pthread_mutex_t* mutex) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_NORMAL);
  int rc = pthread_mutex_init(mutex, &attr);
  pthread_mutexattr_destroy(&attr);
  if (rc != 0) Throw(errc::io_error, std::string("pthread_mutex_init: ") + std::strerror(rc));
}

std::string LockName::Describe() const {
  return "segment '" + segment + "' " + kind +
         (index >= 0 ? " " + std::to_string(index) : std::string());
}

void ThrowBadKind(const pthread_mutex_t* mutex, const LockName& name) {
  Throw(errc::corrupted,
        name.Describe() + " lock has kind " +
            std::to_string(__atomic_load_n(&mutex->__data.__kind, __ATOMIC_RELAXED)) +
            ", not a robust process-shared mutex (" + std::to_string(kRobustSharedKind) +
            "): the segment is damaged");
}

LockResult LockRobustAfter(int first, pthread_mutex_t* mutex, const LockName& name, bool* waited) {
  int rc = first;
  if (rc == EBUSY) {
    *waited = true;
    for (int i = 0; i < kSpinTries && rc == EBUSY; ++i) {
      CpuRelax();
      rc = pthread_mutex_trylock(mutex);
    }
    if (rc == EBUSY) {
      // Sleeps in slices up to the watchdog, never in one long wait: a robust mutex can lose a
      // wake-up. An unlock clears FUTEX_WAITERS and wakes one sleeper, which sets the bit again
      // if another locker took the lock first. When that sleeper is SIGKILLed before it runs,
      // the kernel's exit handling wakes the next one only if the lock is free at that moment;
      // if another locker holds it, the bit stays clear and no unlock wakes the other sleepers
      // until a new one sets it (the same when an unlocker dies between its store and its
      // wake). A new slice sets the bit again, so such a loss costs one slice, not the watchdog.
      timespec now = Now();
      const timespec deadline = Plus(now, kWatchdogSeconds * 1'000'000'000L);
      do {
        const timespec slice = Plus(now, kSliceNanoseconds);
        rc = LockBefore(mutex, Earlier(slice, deadline) ? slice : deadline);
        now = Now();
      } while (rc == ETIMEDOUT && Earlier(now, deadline));
    }
  }
  switch (rc) {
    case 0:
      return LockResult::acquired;
    case EOWNERDEAD:
      return LockResult::owner_died;
    case ENOTRECOVERABLE:
      Throw(errc::corrupted,
            name.Describe() + " lock is not recoverable (a holder died and was not repaired)");
    case ETIMEDOUT: {
      // The raw futex word too: an owner of 0 with a non-zero word is a lock caught between
      // taking the word and recording its owner (or the reverse).
      char word[16];
      std::snprintf(
          word, sizeof word, "%08x",
          static_cast<unsigned>(__atomic_load_n(&mutex->__data.__lock, __ATOMIC_RELAXED)));
      Throw(errc::busy, name.Describe() + " lock not acquired in " +
                            std::to_string(kWatchdogSeconds) + " s; held by tid " +
                            std::to_string(MutexOwnerTid(mutex)) + " (lock word 0x" + word + ")");
    }
    default:
      Throw(errc::io_error, name.Describe() + " lock: " + std::strerror(rc));
  }
}

void MarkConsistent(pthread_mutex_t* mutex) noexcept {
  pthread_mutex_consistent(mutex);
}

int MutexOwnerTid(const pthread_mutex_t* mutex) noexcept {
  // glibc stores the owner TID in __data.__owner; FUTEX_OWNER_DIED (bit 30) marks a dead one.
  return mutex->__data.__owner & 0x3fffffff;
}

}  // namespace shmkv::detail
