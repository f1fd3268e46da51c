// Waiting for the segment's robust mutexes (shm/robust_mutex.hpp) across processes, shown on
// the ordered index's lock, which every shard's inserting writer takes under its shard lock: a
// wake-up lost to a SIGKILLed waiter costs the other sleepers a slice of their wait, not the
// 30 s watchdog, and a lock not acquired within the watchdog fails the write with busy naming
// the index lock instead of hiding the wait inside the shard lock.
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "os/os.hpp"
#include "shm/inspect.hpp"
#include "shm/ordered_index.hpp"
#include "test_util.hpp"

namespace {

namespace det = shmkv::detail;
namespace ins = shmkv::detail::inspect;
using shmkv::errc;
using shmkv::Store;
using namespace testutil;

constexpr unsigned kFutexWaiters = 0x80000000u;  // FUTEX_WAITERS in a robust mutex's word

unsigned LockWord(const pthread_mutex_t* mutex) {
  return static_cast<unsigned>(__atomic_load_n(&mutex->__data.__lock, __ATOMIC_ACQUIRE));
}

// Whether the process sleeps in a futex wait (its kernel wait channel).
bool AsleepInFutex(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/wchan");
  std::string wchan;
  std::getline(f, wchan);
  return wchan.find("futex") != std::string::npos;
}

// Polls `done` every millisecond for up to 10 s.
template <typename F>
bool Eventually(F&& done) {
  for (int i = 0; i < 10000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

// Runs the calling process, and the children it forks meanwhile, on one CPU (the first it may
// use), so that a woken SCHED_IDLE child does not run while the test runs.
class OnOneCpu {
 public:
  OnOneCpu() {
    REQUIRE(sched_getaffinity(0, sizeof saved_, &saved_) == 0);
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &saved_)) {
        CPU_SET(c, &one);
        break;
      }
    REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
  }
  ~OnOneCpu() { sched_setaffinity(0, sizeof saved_, &saved_); }
  OnOneCpu(const OnOneCpu&) = delete;
  OnOneCpu& operator=(const OnOneCpu&) = delete;

 private:
  cpu_set_t saved_;
};

// A key of the store that lands in shard s.
std::string KeyInShard(const ins::Inspector& in, std::uint32_t s) {
  for (int i = 0;; ++i) {
    std::string k = "key-" + std::to_string(i);
    if (ins::ShardOfKey(in, k) == s) return k;
  }
}

// A child that inserts key (a new key: its shard lock, then the index lock); with `idle` it
// first gives itself SCHED_IDLE, so that once woken it runs only when nothing else would.
pid_t SpawnInserter(const std::string& name, const std::string& key, bool idle) {
  return spawn_child([=]() -> int {
    sched_param none{};
    if (idle && sched_setscheduler(0, SCHED_IDLE, &none) != 0) return 2;
    Store store = Store::open(attach_options(name));
    store.set(key, "inserted");
    return 0;
  });
}

// One try at the lost wake-up: true when the interleaving happened (then the test's checks ran).
bool LostWakeupRound() {
  SegmentGuard g(unique_name("lost-wake"));
  Store store = Store::open(small_options(g.name()));
  store.set("warm", "up");  // a valid index with a root
  auto in = ins::Inspector::Attach(g.name());
  det::Segment* seg = in->segment();
  pthread_mutex_t* index_mutex = &seg->header()->index.mutex;
  REQUIRE(det::OrderedIndex(seg).state() == det::IndexState::valid);
  const std::string first_key = KeyInShard(*in, 1), second_key = KeyInShard(*in, 2);

  OnOneCpu pinned;
  auto held = std::make_unique<det::IndexLock>(seg);
  // The first sleeper on the index lock (the one an unlock wakes), then a second one.
  const pid_t first = SpawnInserter(g.name(), first_key, true);
  REQUIRE(
      Eventually([&] { return AsleepInFutex(first) && (LockWord(index_mutex) & kFutexWaiters); }));
  const pid_t second = SpawnInserter(g.name(), second_key, false);
  REQUIRE(Eventually([&] { return AsleepInFutex(second); }));

  // Unlocking wakes the first sleeper in the futex's queue and clears FUTEX_WAITERS; before it
  // runs (SCHED_IDLE on our CPU), the lock is taken again and the woken sleeper is killed, as
  // shmkv-stress kills a worker waiting on the index lock while another one takes it.
  held.reset();
  const bool barged = pthread_mutex_trylock(index_mutex) == 0;
  REQUIRE(::kill(first, SIGKILL) == 0);
  REQUIRE(wait_child(first) == 128 + SIGKILL);
  // Lost: the lock is ours without FUTEX_WAITERS, and the second sleeper still sleeps. Sleepers
  // wait in slices, so the first may not have been the one in the queue's head, or the second
  // may have set the bit again since: then nothing was lost this time.
  const bool lost = barged &&
                    LockWord(index_mutex) == static_cast<unsigned>(::syscall(SYS_gettid)) &&
                    AsleepInFutex(second);
  if (barged) pthread_mutex_unlock(index_mutex);  // wakes nobody when the bit is clear
  if (!lost) {
    REQUIRE(wait_child(second) == 0);
    return false;
  }

  // The second sleeper takes the lock at its next slice and inserts through the index (a
  // watchdog wait would have given it busy or, before, an index marked stale after 30 s).
  REQUIRE(wait_child(second) == 0);
  CHECK(det::OrderedIndex(seg).state() == det::IndexState::valid);
  CHECK(store.get(second_key) == std::optional<std::string>("inserted"));
  CHECK(!store.exists(first_key));          // killed before its insert
  CHECK(store.check_invariants().empty());  // repairs the killed writer's shard
  return true;
}

}  // namespace

TEST_CASE("robust mutex: a wake-up a killed waiter took costs the other sleepers one slice",
          "[multiprocess][locks]") {
  // Each round that misses the interleaving (see LostWakeupRound) is tried again.
  bool happened = false;
  for (int round = 0; round < 20 && !happened; ++round) happened = LostWakeupRound();
  REQUIRE(happened);
}

TEST_CASE("robust mutex: a writer's index lock wait gives busy naming the index lock",
          "[multiprocess][locks]") {
  SegmentGuard g(unique_name("index-busy"));
  Store store = Store::open(small_options(g.name()));
  store.set("warm", "up");
  auto in = ins::Inspector::Attach(g.name());
  det::Segment* seg = in->segment();
  const std::string key = KeyInShard(*in, 1);
  {
    det::IndexLock held(seg);  // for the whole watchdog (30 s)
    SharedArray<char> message(256);
    const int status = run_in_child([&]() -> int {
      Store child = Store::open(attach_options(g.name()));
      const Outcome o = outcome_of([&] { child.set(key, "v"); });
      o.what.copy(message.data(), message.size() - 1);
      return o == errc::busy ? 0 : 1;
    });
    INFO(message.data());
    REQUIRE(status == 0);
    CHECK(std::string(message.data()).find("index lock not acquired in 30 s") != std::string::npos);
  }
  // Refused whole: the key is absent, the index untouched and still valid, the shard usable.
  CHECK(det::OrderedIndex(seg).state() == det::IndexState::valid);
  CHECK(!store.exists(key));
  store.set(key, "after");
  CHECK(store.check_invariants().empty());
}

TEST_CASE("word lock: a holder's process counts as gone only when that is certain", "[word_lock]") {
  namespace os = shmkv::detail::os;
  const pid_t me = ::getpid();
  const auto my_start = static_cast<std::uint32_t>(os::ProcessStartTime(me));
  REQUIRE(my_start != 0);
  CHECK_FALSE(os::ProcessCertainlyGone(me, my_start));
  CHECK_FALSE(os::ProcessCertainlyGone(me, 0));       // start unknown: alive while it runs
  CHECK(os::ProcessCertainlyGone(me, my_start + 1));  // another process under a reused pid
  CHECK(os::ProcessCertainlyGone(0, 0));              // garbage: not a process id
  CHECK(os::ProcessCertainlyGone(-5, 0));
  // A child killed and not yet reaped is a zombie with no thread left: gone; reaped, gone too.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  const auto child_start = static_cast<std::uint32_t>(os::ProcessStartTime(child));
  CHECK_FALSE(os::ProcessCertainlyGone(child, child_start));
  REQUIRE(::kill(child, SIGKILL) == 0);
  for (int i = 0; i < 1000 && !os::ProcessCertainlyGone(child, child_start); ++i) ::usleep(1000);
  CHECK(os::ProcessCertainlyGone(child, child_start));  // the zombie
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(os::ProcessCertainlyGone(child, child_start));
  // A process whose main thread has exited while another still runs is a zombie leader, alive.
  const pid_t threaded = ::fork();
  REQUIRE(threaded >= 0);
  if (threaded == 0) {
    std::thread([] { ::pause(); }).detach();
    ::syscall(SYS_exit, 0);  // this thread only, without unwinding the test's stack
  }
  const auto threaded_start = static_cast<std::uint32_t>(os::ProcessStartTime(threaded));
  ::usleep(50000);  // its main thread exits
  CHECK_FALSE(os::ProcessCertainlyGone(threaded, threaded_start));
  REQUIRE(::kill(threaded, SIGKILL) == 0);
  REQUIRE(::waitpid(threaded, &status, 0) == threaded);
}
