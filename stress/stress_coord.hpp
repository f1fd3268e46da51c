// stress_coord.hpp: the coordination part of shmkv-stress (issue 16): workers claim keys of a
// pool, take a lock, take semaphore permits and meet at a barrier while the parent SIGKILLs
// them.
//
// The board is an anonymous shared mapping the parent makes before it forks any worker (every
// worker, respawned ones too, inherits it). Whoever the store grants something writes its pid
// there first, and clears it before giving the grant back; a grant whose slot names another
// process that is still alive (not a zombie) was granted twice: "double holders". The model
// proves: no key is ever claimed by two live holders, the lock never has two, a semaphore of
// kPermits never more than kPermits; and, at the end (every worker stopped), every key of the
// pool can be claimed again (no claim lost).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "shmkv/shmkv.hpp"
#include "stress_common.hpp"

namespace stress {

inline constexpr std::uint32_t kClaimPool = 64;   // keys "c:0" .. "c:63"
inline constexpr std::uint32_t kPermits = 3;      // of the semaphore "stress-sem"
inline constexpr std::uint32_t kBoardSlots = 64;  // worker slots the board tracks

struct CoordBoard {
  std::atomic<std::int32_t> claim_holder[kClaimPool];
  std::atomic<std::int32_t> lock_holder;
  std::atomic<std::int32_t> permit_holder[kBoardSlots];  // by worker slot
  // Figures (workers add, the parent reports).
  std::atomic<std::uint64_t> claims, completes, locks, lock_timeouts, permits, permit_timeouts,
      barrier_rounds, barrier_broken, barrier_timeouts;
  std::atomic<std::uint64_t> double_holders, over_granted;  // must be 0
};

// Maps a zeroed board shared with every process forked afterwards.
CoordBoard* MapCoordBoard();
std::string ClaimPoolKey(std::uint32_t i);
// Sets the pool's keys that are missing (a worker killed between complete and the set that
// puts its key back); returns how many.
std::uint32_t RefillClaimPool(shmkv::Store& store);
// One coordination operation of a worker; a broken rule is reported through fail(what).
// sabotage: now and then give a claim back while still marked as its holder, as a store that
// granted a key twice would look (the run must then report double holders).
void DoCoordOp(shmkv::Store& store, CoordBoard& board, Rng& rng, int slot, bool sabotage,
               void (*fail)(void* ctx, const std::string& what), void* ctx);
// After every worker stopped: claims every pool key (each must be free: no claim lost) and gives
// it back. Returns the number that could not be claimed, printing each.
std::uint64_t FinalClaimCheck(shmkv::Store& store);

}  // namespace stress
