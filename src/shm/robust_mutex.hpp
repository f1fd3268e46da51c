// robust_mutex.hpp: the robust, process-shared pthread mutex every lock in the segment uses.
//
// Invariants: every lock first checks the mutex's kind word (CheckRobustKind). A mutex is
// initialised once, by the segment's creator, before publication. Lock()
// returns owner_died when the previous holder died holding it; the caller then owns the mutex,
// must repair what it guards, and call MarkConsistent() before Unlock(). Unlocking without
// MarkConsistent() would make the mutex unrecoverable for everyone, so never do that. A holder
// killed during the repair hands owner_died to the next locker again: repairs are idempotent.
#pragma once

#include <pthread.h>

#include <string>

namespace shmkv::detail {

enum class LockResult { acquired, owner_died };

void InitRobustMutex(pthread_mutex_t* mutex);

// Names a lock in error messages; built into a string only when an error is raised.
struct LockName {
  const std::string& segment;
  const char* kind;  // "shard" or "allocator"
  long index;        // shard index, or -1
  std::string Describe() const;
};

// glibc's __kind of a robust, process-shared, normal mutex (PTHREAD_MUTEX_ROBUST_NORMAL_NP |
// PTHREAD_MUTEX_PSHARED_BIT), what InitRobustMutex makes, give or take the lock-elision bits
// (PTHREAD_MUTEX_ELISION_FLAGS_NP, set by glibc's tunables; trust_test checks it). A mutex in
// shared memory with any other kind was overwritten: locking it could block for ever or run
// glibc's code for another kind of mutex, so CheckRobustKind raises corrupted instead.
inline constexpr int kRobustSharedKind = 16 | 128;
inline constexpr int kElisionBits = 256 | 512;
inline bool RobustKind(const pthread_mutex_t* mutex) {
  return (__atomic_load_n(&mutex->__data.__kind, __ATOMIC_RELAXED) & ~kElisionBits) ==
         kRobustSharedKind;
}
[[noreturn, gnu::cold]] void ThrowBadKind(const pthread_mutex_t* mutex, const LockName& name);
inline void CheckRobustKind(const pthread_mutex_t* mutex, const LockName& name) {
  if (!RobustKind(mutex)) [[unlikely]]
    ThrowBadKind(mutex, name);
}

// Spins briefly with trylock (waking a sleeper costs tens of microseconds), then sleeps in
// 10 ms slices until the watchdog (a robust mutex can lose a wake-up: see LockRobustAfter's
// body). `waited` is set when the lock was not free at once. Raises errc::corrupted
// (ENOTRECOVERABLE) or errc::busy (not acquired within the watchdog timeout), naming the lock.
// LockRobustAfter finishes a lock whose first pthread_mutex_trylock returned `first` (non-zero),
// so that callers can inline the uncontended attempt.
LockResult LockRobustAfter(int first, pthread_mutex_t* mutex, const LockName& name, bool* waited);
inline LockResult LockRobust(pthread_mutex_t* mutex, const LockName& name, bool* waited) {
  CheckRobustKind(mutex, name);
  int rc = pthread_mutex_trylock(mutex);
  return rc == 0 ? LockResult::acquired : LockRobustAfter(rc, mutex, name, waited);
}
inline void UnlockRobust(pthread_mutex_t* mutex) noexcept {
  pthread_mutex_unlock(mutex);
}
void MarkConsistent(pthread_mutex_t* mutex) noexcept;

// The thread id (Linux TID) holding the mutex, 0 if free. Reads glibc's private owner field:
// for diagnostics only (shmkv info / inspect), never for decisions.
int MutexOwnerTid(const pthread_mutex_t* mutex) noexcept;

}  // namespace shmkv::detail
