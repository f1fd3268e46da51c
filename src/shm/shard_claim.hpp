// shard_claim.hpp: the shard claim, a one-word lock that lets a counter increment change a
// shard without its robust mutex (ShardHeader::claim).
//
// Contract:
// - The claim word is 0 (free) or the token of the process holding it (ClaimToken: its pid and
//   start time). A claimant CASes it from 0 to its token, then reads the shard mutex's lock
//   word; only if the mutex is free does it change the shard (under BeginWrite/EndWrite, as a
//   mutex holder would), and it stores 0 when done. A mutex holder, once it has the mutex,
//   waits until the claim word reads 0 (WaitForClaimRelease). Both sides write their word with
//   a full barrier and then read the other's (Dekker), so at least one of them sees the other:
//   the claimant backs off, or the holder waits. A mutex holder never takes the claim, so a
//   locked operation pays one load of a word on the mutex's own cache line.
// - What survives a crash: a claimant killed while holding the claim leaves its token. The next
//   mutex holder finds its process gone (or a zombie, or another process under a reused pid),
//   clears the word, and repairs the shard as after a dead mutex holder when seq is odd
//   (ShardLock::LockSlow). A live claimant that holds the word for 30 s (a stopped process)
//   makes the waiting locker fail with busy, naming it.
// - The mutex's lock word is glibc's futex word, which the kernel's robust-futex ABI defines: it
//   holds the owner's TID, non-zero whenever the mutex is held.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>

namespace shmkv::detail {

struct LockName;

// This process's claim token (never 0): pid in the low 32 bits, the low 32 bits of its start
// time (/proc/PID/stat field 22) in the high ones. Recomputed after a fork.
std::uint64_t ClaimToken();

// Whether the mutex is held: its lock word (the futex word) is non-zero. A sequentially
// consistent load, so that it is ordered after the claimant's CAS of the claim word.
inline bool RobustMutexHeld(const pthread_mutex_t* mutex) {
  return __atomic_load_n(&mutex->__data.__lock, __ATOMIC_SEQ_CST) != 0;
}

// Orders a mutex holder's acquisition of the mutex before its read of the claim word. On x86-64
// the acquisition (a locked cmpxchg inside pthread_mutex_trylock or the futex path) is already a
// full barrier, so only the compiler is stopped; elsewhere it takes a fence.
inline void FenceAfterMutexAcquired() {
#if defined(__x86_64__)
  std::atomic_signal_fence(std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// For a holder of the shard's mutex: returns once the claim word is 0. A token whose process is
// gone is cleared (then the caller repairs the shard if seq is odd). Raises busy, naming the
// lock and the claimant's pid, when a live claimant keeps it for the 30 s watchdog.
void WaitForClaimRelease(std::atomic<std::uint64_t>* claim, const LockName& name);

// Holds the claim from a successful CAS to the end of the scope.
class ShardClaim {
 public:
  // Tries once: false when another process holds the claim.
  ShardClaim(std::atomic<std::uint64_t>* claim, std::uint64_t token) : claim_(claim) {
    std::uint64_t expected = 0;
    held_ = claim->load(std::memory_order_relaxed) == 0 &&
            claim->compare_exchange_strong(expected, token, std::memory_order_seq_cst,
                                           std::memory_order_relaxed);
  }
  ~ShardClaim() {
    if (held_) claim_->store(0, std::memory_order_release);
  }
  ShardClaim(const ShardClaim&) = delete;
  ShardClaim& operator=(const ShardClaim&) = delete;
  bool held() const { return held_; }

 private:
  std::atomic<std::uint64_t>* claim_;
  bool held_;
};

}  // namespace shmkv::detail
