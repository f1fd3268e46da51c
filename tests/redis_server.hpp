// redis_server.hpp: a redis-server of the test's own, for every C++ test that reaches a store
// through a url (the conformance suite's redis run, redis_engine_test, c_api_test).
//
// - redis_availability(): the one decision on whether a test that needs Redis runs here:
//   redis-server on PATH (run), not on PATH (skip), or not on PATH while SHMKV_REQUIRE_REDIS is
//   set to anything but the empty string (fail; CI and the README's test command set it to 1).
//   Each caller reports it its own way: the conformance suite exits 77 or 1, a Catch2 case WARNs
//   and returns or FAILs.
// - RedisServer: a redis-server child of this process, `redis-server --port 0 --unixsocket
//   <mkdtemp dir>/redis.sock --save '' --appendonly no` (never TCP, never shared with another
//   process), answered PING within 10 s, stopped with SHUTDOWN NOSAVE and its directory removed.
//   It dies with this process (PR_SET_PDEATHSIG). Tests that kill, stop, restart or reconfigure
//   a server start their own.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace testutil {

// What a test that needs Redis does in this environment (the rule above).
enum class RedisAvailability { run, skip, fail };
RedisAvailability redis_availability();

class RedisServer {
 public:
  // Starts the server with the arguments above plus `extra` (e.g. {"--maxmemory-policy",
  // "allkeys-lru"}) and waits for its PING. Raises std::runtime_error when it does not answer.
  explicit RedisServer(std::vector<std::string> extra = {});
  ~RedisServer();  // stop(), then removes the directory
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // "unix:///tmp/shmkv-test-redis.XXXXXX/redis.sock"
  std::string url() const { return "unix://" + socket_; }
  const std::string& socket_path() const { return socket_; }
  pid_t pid() const { return pid_; }

  // One command on a connection of its own, binary safe. Returns the reply as text: a string or
  // status as is ("OK"), an integer in decimal, nil as "(nil)", an error as "(error) <text>", an
  // array as its elements so rendered, one per line. Raises std::runtime_error when unreachable.
  std::string command(const std::vector<std::string>& args) const;

  // SIGKILL and reap: gone at once, its socket file left behind (as after a crash).
  void kill_now();
  // Starts it again, on the same socket with the same arguments (after kill_now or stop).
  void restart();
  // SHUTDOWN NOSAVE (after SIGCONT, in case it is stopped), then waits for it (SIGKILL after
  // 10 s). Does nothing when it is not running.
  void stop();

 private:
  void start();
  bool answers_ping() const;

  std::string dir_, socket_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

}  // namespace testutil
