// redis_server.hpp: the redis-server a benchmark run starts for itself (engines redis,
// redis-pipe and shmkv-redis), so that every Redis figure is taken against the same server setup.
//
// The parent starts it from Config::redis_server (default: redis-server on PATH) on a unix
// socket in a mkdtemp() directory under /tmp with `port 0`, `save ""`, `appendonly no`, waits
// until it answers PING (at most ~10 s, or until it exits), and stops it in the destructor
// (SIGTERM, then SIGKILL after 5 s) and removes the directory. The server dies with the parent
// (PR_SET_PDEATHSIG) and is registered for the harness's signal cleanup. Workers inherit the
// object through fork() but never run its destructor (they leave with _exit()).
#pragma once

#include <sys/types.h>

#include <string>

namespace shmkv_bench {

class RedisServer {
 public:
  explicit RedisServer(const std::string& binary);  // throws std::runtime_error
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  const std::string& socket_path() const { return sock_; }
  std::string url() const { return "unix://" + sock_; }  // Options::url of the shmkv engine

 private:
  void wait_for_ping(const std::string& binary);
  void stop();

  std::string dir_, sock_;
  pid_t pid_ = -1;
};

}  // namespace shmkv_bench
