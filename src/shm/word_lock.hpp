// word_lock.hpp: a shard's word lock, one word that lets a counter increment change the shard
// without the shard's robust mutex (ShardHeader::word_lock).
//
// Contract:
// - The word is 0 (free) or the token of the process holding it (WordLockToken: its pid and
//   start time). A taker CASes it from 0 to its token, then reads the shard mutex's lock word;
//   only if the mutex is free does it change the shard (bracketed by BeginWrite/EndWrite, as a
//   mutex holder would), and it stores 0 when done. A mutex holder, once it has the mutex, waits
//   until the word reads 0 (WaitForWordLockRelease). Each side writes its own word with a full
//   barrier and then reads the other's (Dekker), so at least one of them sees the other: the
//   taker backs off, or the mutex holder waits. Mutex holders never take the word lock, so a
//   locked operation pays one load of a word on the mutex's own cache line.
// - What survives a crash: a holder killed with the word lock leaves its token. The next mutex
//   holder finds its process gone (or a zombie, or another process under a reused pid), clears
//   the word, and repairs the shard as after a dead mutex holder when seq is odd
//   (ShardLock::LockSlow). A live holder that keeps the word for 30 s (a stopped process) makes
//   the waiting locker fail with busy, naming its pid.
// - The mutex's lock word is glibc's futex word, which the kernel's robust-futex ABI defines: it
//   holds the owner's TID, non-zero whenever the mutex is held.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>

namespace shmkv::detail {

struct LockName;

// This process's token (never 0): its pid in the low 32 bits, the low 32 bits of its start time
// (/proc/PID/stat field 22) in the high ones. Recomputed after a fork.
std::uint64_t WordLockToken();

// Whether the mutex is held: its lock word (the futex word) is non-zero. A sequentially
// consistent load, so that it is ordered after the taker's CAS of the word lock.
inline bool RobustMutexHeld(const pthread_mutex_t* mutex) {
  return __atomic_load_n(&mutex->__data.__lock, __ATOMIC_SEQ_CST) != 0;
}

// Orders a mutex holder's acquisition of the mutex before its read of the word lock. On x86-64
// the acquisition (a locked cmpxchg inside pthread_mutex_trylock or the futex path) is already a
// full barrier, so only the compiler is stopped; elsewhere it takes a fence.
inline void FenceAfterMutexAcquired() {
#if defined(__x86_64__)
  std::atomic_signal_fence(std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// For a holder of the shard's mutex: returns once the word lock reads 0; true when it cleared
// the token of a process that is gone (the caller then repairs the shard if seq is odd, and
// counts a recovery). Raises busy, naming the lock and the holder's pid, when a live holder
// keeps it for the 30 s watchdog.
bool WaitForWordLockRelease(std::atomic<std::uint64_t>* word, const LockName& name);

// Holds the word lock from a successful CAS to the end of the scope.
class WordLock {
 public:
  // Tries once: held() is false when another process holds the word.
  WordLock(std::atomic<std::uint64_t>* word, std::uint64_t token) : word_(word) {
    std::uint64_t expected = 0;
    held_ = word->load(std::memory_order_relaxed) == 0 &&
            word->compare_exchange_strong(expected, token, std::memory_order_seq_cst,
                                          std::memory_order_relaxed);
  }
  ~WordLock() {
    if (held_) word_->store(0, std::memory_order_release);
  }
  WordLock(const WordLock&) = delete;
  WordLock& operator=(const WordLock&) = delete;
  bool held() const { return held_; }

 private:
  std::atomic<std::uint64_t>* word_;
  bool held_;
};

}  // namespace shmkv::detail
