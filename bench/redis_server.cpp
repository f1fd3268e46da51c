// redis_server.cpp: RedisServer (redis_server.hpp).
#include "redis_server.hpp"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "harness.hpp"

namespace shmkv_bench {
namespace {

constexpr const char* kFiles[] = {"", "/redis.conf", "/redis.log", "/redis.sock"};

}  // namespace

RedisServer::RedisServer(const std::string& binary) {
  char tmpl[] = "/tmp/shmkv-bench-redis.XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("redis: mkdtemp under /tmp failed");
  dir_ = tmpl;
  for (const char* f : kFiles) register_cleanup_path(dir_ + f);
  sock_ = dir_ + "/redis.sock";
  const std::string conf = dir_ + "/redis.conf";
  {
    std::ofstream out(conf);
    out << "port 0\nunixsocket " << sock_ << "\nunixsocketperm 700\nsave \"\"\n"
        << "appendonly no\ndaemonize no\ndatabases 1\ndir " << dir_ << "\nlogfile " << dir_
        << "/redis.log\n";
  }
  std::fflush(stdout);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("redis: fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the benchmark
    if (::getppid() != parent) ::_exit(127);
    ::execlp(binary.c_str(), binary.c_str(), conf.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  register_cleanup_pid(pid_);
  try {
    wait_for_ping(binary);
  } catch (...) {
    stop();
    throw;
  }
}

RedisServer::~RedisServer() {
  stop();
}

void RedisServer::wait_for_ping(const std::string& binary) {
  for (int i = 0; i < 1000; ++i) {  // up to ~10 s
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      unregister_cleanup_pid(pid_);
      pid_ = -1;
      throw std::runtime_error("redis: " + binary + " exited at start");
    }
    redisContext* c = redisConnectUnix(sock_.c_str());
    bool answered = false;
    if (c && !c->err) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      answered = r && r->type == REDIS_REPLY_STATUS;
      if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    if (answered) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error("redis: server did not answer PING within 10 s");
}

void RedisServer::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int st;
    bool gone = false;
    for (int i = 0; i < 500 && !gone; ++i) {
      if (::waitpid(pid_, &st, WNOHANG) == pid_)
        gone = true;
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!gone) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
    }
    unregister_cleanup_pid(pid_);
    pid_ = -1;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  for (const char* f : kFiles) unregister_cleanup_path(dir_ + f);
}

}  // namespace shmkv_bench
