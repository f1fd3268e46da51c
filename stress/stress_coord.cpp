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

// The start time of a live process (field 22 of /proc/PID/stat), or 0 when it is gone or a
// zombie (a killed worker stays one until the parent reaps it; the store counts it dead).
std::uint64_t LiveStart(std::int32_t pid) {
  if (pid <= 0) return 0;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  std::FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  char buf[1024] = {};
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const char* p = n > 0 ? std::strrchr(buf, ')') : nullptr;
  if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X') return 0;
  p += 2;  // field 3
  for (int field = 3; field < 22; ++field) {
    p = std::strchr(p, ' ');
    if (!p) return 0;
    ++p;
  }
  return std::strtoull(p, nullptr, 10);
}

std::uint64_t MyStart() {
  static const std::uint64_t start = LiveStart(::getpid());  // per process: workers fork fresh
  return start;
}

// Whether the holder a board slot names is alive: the same process, not a reused pid.
bool Alive(const BoardHolder& h, std::int32_t* pid_out = nullptr) {
  const std::int32_t pid = h.pid.load(std::memory_order_acquire);
  const std::uint64_t start = h.start.load(std::memory_order_acquire);
  if (pid_out) *pid_out = pid;
  return pid != 0 && start != 0 && LiveStart(pid) == start;
}

void Mark(BoardHolder& h) {
  h.start.store(MyStart(), std::memory_order_release);
  h.pid.store(static_cast<std::int32_t>(::getpid()), std::memory_order_release);
}

void Clear(BoardHolder& h) {
  h.pid.store(0, std::memory_order_release);
}

// Takes the board slot for this process; a live previous occupant means a double grant.
bool Occupy(BoardHolder& slot, const char* what, std::uint32_t index, CoordBoard& board,
            void (*fail)(void*, const std::string&), void* ctx) {
  std::int32_t before = 0;
  if (Alive(slot, &before) && before != static_cast<std::int32_t>(::getpid())) {
    board.double_holders.fetch_add(1);
    fail(ctx, std::string(what) + " " + std::to_string(index) + " granted to pid " +
                  std::to_string(::getpid()) + " while pid " + std::to_string(before) +
                  " (alive) still holds it");
    return false;
  }
  Mark(slot);
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
  switch (rng.Below(4)) {
    case 0: {  // a claim of a random pool key, then release or complete (and put it back)
      // Sabotage runs contend on one key, so that a claim given back behind the board's back is
      // soon taken by another worker even in a slow (sanitizer) build.
      std::optional<shmkv::Claim> c =
          sabotage ? store.claim("c:0", kLease) : store.claim_random("c:", kLease);
      if (!c) return;
      board.claims.fetch_add(1);
      const auto i = static_cast<std::uint32_t>(std::stoul(c->key.substr(2)));
      if (i >= kClaimPool) return fail(ctx, "claim_random returned " + c->key);
      BoardHolder& holder = board.claim_holder[i];
      if (!Occupy(holder, "claim of c:", i, board, fail, ctx)) return;
      if (rng.Chance(20) && !store.renew(c->key, c->token, kLease))
        fail(ctx, "renew of a held claim of " + c->key + " returned false");
      if (sabotage && rng.Chance(25)) {
        (void)store.release(c->key, c->token);  // still marked as the holder on the board
        std::this_thread::sleep_for(20ms);
        Clear(holder);
        return;
      }
      Clear(holder);  // before the store lets anyone else in
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
      Clear(board.lock_holder);
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
      BoardHolder& mine = board.permit_holder[slot % kBoardSlots];
      board.permit_changes_started.fetch_add(1);
      Mark(mine);
      board.permit_changes_finished.fetch_add(1);
      std::uint32_t holders = 0;
      std::string who;
      for (int attempt = 0; attempt < 16; ++attempt) {
        const std::uint64_t finished = board.permit_changes_finished.load();
        const std::uint64_t started = board.permit_changes_started.load();
        holders = 0;
        who.clear();
        for (const BoardHolder& h : board.permit_holder) {
          std::int32_t pid = 0;
          if (!Alive(h, &pid)) continue;
          ++holders;
          who += " " + std::to_string(pid);
        }
        if (started == finished && board.permit_changes_started.load() == started) break;
        holders = 0;  // a change ran during the count: not a snapshot
      }
      if (holders > kPermits) {
        board.over_granted.fetch_add(1);
        std::string granted;  // what the store says it granted
        for (const auto& g : store.info().coordination.grants)
          if (g.kind == "permit")
            granted += " " + std::to_string(g.holder_pid) + (g.holder_alive ? "" : "(dead)") + "#" +
                       std::to_string(g.token);
        fail(ctx, std::to_string(holders) + " live holders of a semaphore of " +
                      std::to_string(kPermits) + " permits (board:" + who + "; store:" + granted +
                      "; this token " + std::to_string(*t) + ")");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(rng.Below(200)));
      board.permit_changes_started.fetch_add(1);
      Clear(mine);
      board.permit_changes_finished.fetch_add(1);
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
