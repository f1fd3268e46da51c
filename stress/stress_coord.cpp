// stress_coord.cpp: see stress_coord.hpp.
#include "stress_coord.hpp"

#include <signal.h>
#include <sys/mman.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <thread>

namespace stress {

namespace {

using namespace std::chrono_literals;
constexpr auto kLease = 60s;  // never runs out in a run: only release and death end a grant

// Alive and not a zombie (a killed worker stays one until the parent reaps it; the store
// already counts it dead).
bool Alive(std::int32_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  std::FILE* f = std::fopen(path, "r");
  if (!f) return false;
  char buf[512] = {};
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const char* paren = std::strrchr(buf, ')');
  return n > 0 && paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

// Takes the board slot for this process; a live previous occupant means a double grant.
bool Occupy(std::atomic<std::int32_t>& slot, const char* what, std::uint32_t index,
            CoordBoard& board, void (*fail)(void*, const std::string&), void* ctx) {
  const std::int32_t me = static_cast<std::int32_t>(::getpid());
  const std::int32_t before = slot.exchange(me, std::memory_order_acq_rel);
  if (before != 0 && before != me && Alive(before)) {
    board.double_holders.fetch_add(1);
    fail(ctx, std::string(what) + " " + std::to_string(index) + " granted to pid " +
                  std::to_string(me) + " while pid " + std::to_string(before) +
                  " (alive) still holds it");
    return false;
  }
  return true;
}

}  // namespace

CoordBoard* MapCoordBoard() {
  void* p = ::mmap(nullptr, sizeof(CoordBoard), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error(std::string("mmap: ") + std::strerror(errno));
  return new (p) CoordBoard{};
}

std::string ClaimPoolKey(std::uint32_t i) {
  return "c:" + std::to_string(i);
}

std::uint32_t RefillClaimPool(shmkv::Store& store) {
  std::uint32_t added = 0;
  for (std::uint32_t i = 0; i < kClaimPool; ++i) {
    const std::string key = ClaimPoolKey(i);
    added += store.set_if_absent(key, MakeValue(key, i)) ? 1 : 0;
  }
  return added;
}

void DoCoordOp(shmkv::Store& store, CoordBoard& board, Rng& rng, int slot, bool sabotage,
               void (*fail)(void*, const std::string&), void* ctx) {
  const std::int32_t me = static_cast<std::int32_t>(::getpid());
  switch (rng.Below(4)) {
    case 0: {  // a claim of a random pool key, then release or complete (and put it back)
      std::optional<shmkv::Claim> c = store.claim_random("c:", kLease);
      if (!c) return;
      board.claims.fetch_add(1);
      const auto i = static_cast<std::uint32_t>(std::stoul(c->key.substr(2)));
      if (i >= kClaimPool) return fail(ctx, "claim_random returned " + c->key);
      std::atomic<std::int32_t>& holder = board.claim_holder[i];
      if (!Occupy(holder, "claim of c:", i, board, fail, ctx)) return;
      if (rng.Chance(20) && !store.renew(c->key, c->token, kLease))
        fail(ctx, "renew of a held claim of " + c->key + " returned false");
      if (sabotage && rng.Chance(10)) {
        (void)store.release(c->key, c->token);  // still marked as the holder on the board
        std::this_thread::sleep_for(2ms);
        holder.store(0, std::memory_order_release);
        return;
      }
      holder.store(0, std::memory_order_release);  // before the store lets anyone else in
      if (rng.Chance(50)) {
        if (!store.release(c->key, c->token))
          fail(ctx, "release of a held claim of " + c->key + " returned false");
      } else {
        if (!store.complete(c->key, c->token))
          fail(ctx, "complete of a held claim of " + c->key + " returned false");
        board.completes.fetch_add(1);
        (void)store.set_if_absent(c->key, MakeValue(c->key, i));  // back into the pool
      }
      return;
    }
    case 1: {  // the lock
      std::optional<std::uint64_t> t = store.lock("stress-lock", kLease, 2s);
      if (!t) {
        board.lock_timeouts.fetch_add(1);
        return;
      }
      board.locks.fetch_add(1);
      if (!Occupy(board.lock_holder, "lock", 0, board, fail, ctx)) return;
      std::this_thread::sleep_for(std::chrono::microseconds(rng.Below(200)));
      board.lock_holder.store(0, std::memory_order_release);
      if (!store.unlock("stress-lock", *t)) fail(ctx, "unlock of the held lock returned false");
      return;
    }
    case 2: {  // a semaphore permit
      std::optional<std::uint64_t> t = store.acquire("stress-sem", kPermits, 2s);
      if (!t) {
        board.permit_timeouts.fetch_add(1);
        return;
      }
      board.permits.fetch_add(1);
      std::atomic<std::int32_t>& mine = board.permit_holder[slot % kBoardSlots];
      mine.store(me, std::memory_order_release);
      std::uint32_t holders = 0;
      for (auto& h : board.permit_holder) holders += Alive(h.load(std::memory_order_acquire));
      if (holders > kPermits) {
        board.over_granted.fetch_add(1);
        fail(ctx, std::to_string(holders) + " live holders of a semaphore of " +
                      std::to_string(kPermits) + " permits");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(rng.Below(200)));
      mine.store(0, std::memory_order_release);
      if (!store.release_permit("stress-sem", *t))
        fail(ctx, "release_permit of a held permit returned false");
      return;
    }
    default: {  // a barrier of two, met by whichever workers come by
      try {
        std::optional<std::size_t> i = store.barrier("stress-barrier", 2, 20ms);
        if (!i)
          board.barrier_timeouts.fetch_add(1);
        else if (*i > 1)
          fail(ctx, "barrier of 2 returned index " + std::to_string(*i));
        else
          board.barrier_rounds.fetch_add(1);
      } catch (const shmkv::Error& e) {
        if (e.code() != shmkv::errc::broken) throw;
        board.barrier_broken.fetch_add(1);  // the other party was killed while waiting
      }
      return;
    }
  }
}

std::uint64_t FinalClaimCheck(shmkv::Store& store) {
  std::uint64_t lost = 0;
  for (std::uint32_t i = 0; i < kClaimPool; ++i) {
    const std::string key = ClaimPoolKey(i);
    if (!store.exists(key)) continue;  // completed by a worker killed before it put it back
    std::optional<shmkv::Claim> c = store.claim(key, 1s);
    if (!c) {
      ++lost;
      std::fprintf(stderr, "shmkv-stress: final: %s is still claimed with every worker stopped\n",
                   key.c_str());
      continue;
    }
    store.release(key, c->token);
  }
  if (!store.lock("stress-lock", 1s, 0ms)) {
    ++lost;
    std::fprintf(stderr, "shmkv-stress: final: stress-lock is still held\n");
  }
  for (std::uint32_t p = 0; p < kPermits; ++p) {
    if (!store.acquire("stress-sem", kPermits, 0ms)) {
      ++lost;
      std::fprintf(stderr, "shmkv-stress: final: a permit of stress-sem is still held\n");
      break;
    }
  }
  return lost;
}

}  // namespace stress
