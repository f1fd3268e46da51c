// redis_server.cpp: the test's own redis-server (redis_server.hpp), driven through hiredis on its
// unix socket.
#include "redis_server.hpp"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <thread>

namespace testutil {
namespace {

using namespace std::chrono_literals;

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};

std::string render(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ERROR:
      return "(error) " + std::string(r->str, r->len);
    default: {
      std::string out;
      for (std::size_t i = 0; i < r->elements; ++i) out += (i ? "\n" : "") + render(r->element[i]);
      return out;
    }
  }
}

// Waits for pid to exit, at most `timeout`; true if it did (and was reaped).
bool reap(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

bool redis_server_on_path() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (std::size_t at = 0; at <= dirs.size();) {
    std::size_t end = dirs.find(':', at);
    if (end == std::string::npos) end = dirs.size();
    const std::string candidate = dirs.substr(at, end - at) + "/redis-server";
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    at = end + 1;
  }
  return false;
}

}  // namespace

RedisAvailability redis_availability() {
  if (redis_server_on_path()) return RedisAvailability::run;
  const char* require = std::getenv("SHMKV_REQUIRE_REDIS");
  return require && *require ? RedisAvailability::fail : RedisAvailability::skip;
}

RedisServer::RedisServer(std::vector<std::string> extra) : extra_(std::move(extra)) {
  char tmpl[] = "/tmp/shmkv-test-redis.XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp under /tmp failed");
  dir_ = tmpl;
  socket_ = dir_ + "/redis.sock";
  try {
    start();
  } catch (...) {
    std::filesystem::remove_all(dir_);
    throw;
  }
}

RedisServer::~RedisServer() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void RedisServer::start() {
  std::vector<std::string> args = {
      "redis-server", "--port", "0",     "--unixsocket", socket_,     "--save",           "",
      "--appendonly", "no",     "--dir", dir_,           "--logfile", dir_ + "/redis.log"};
  args.insert(args.end(), extra_.begin(), extra_.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
    if (::getppid() != parent) ::_exit(127);
    ::execvp("redis-server", argv.data());
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!answers_ping()) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited at start (see " + dir_ + "/redis.log)");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill_now();
      throw std::runtime_error("redis-server did not answer PING on " + socket_ + " in 10 s");
    }
    std::this_thread::sleep_for(10ms);
  }
}

bool RedisServer::answers_ping() const {
  std::unique_ptr<redisContext, ContextDeleter> c(redisConnectUnix(socket_.c_str()));
  if (!c || c->err) return false;
  std::unique_ptr<redisReply, ReplyDeleter> r(
      static_cast<redisReply*>(redisCommand(c.get(), "PING")));
  return r && r->type == REDIS_REPLY_STATUS;
}

std::string RedisServer::command(const std::vector<std::string>& args) const {
  std::unique_ptr<redisContext, ContextDeleter> c(redisConnectUnix(socket_.c_str()));
  if (!c || c->err)
    throw std::runtime_error("cannot connect to " + socket_ + ": " +
                             (c ? c->errstr : "out of memory"));
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  std::unique_ptr<redisReply, ReplyDeleter> r(static_cast<redisReply*>(
      redisCommandArgv(c.get(), static_cast<int>(args.size()), argv.data(), lengths.data())));
  if (!r) throw std::runtime_error("no reply from " + socket_ + ": " + c->errstr);
  return render(r.get());
}

void RedisServer::kill_now() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  reap(pid_, 10s);
  pid_ = -1;
}

void RedisServer::restart() {
  stop();
  start();
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);
  try {
    (void)command({"SHUTDOWN", "NOSAVE"});  // the connection closes without a reply
  } catch (const std::runtime_error&) {
  }
  if (!reap(pid_, 10s)) kill_now();
  pid_ = -1;
}

}  // namespace testutil
