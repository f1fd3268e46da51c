// redis_server.hpp: a redis-server of the test's own, for tests that reach a store through a url.
//
// RedisServer::Start() runs `redis-server --port 0 --unixsocket <dir>/redis.sock --save ''
// --appendonly no` in a fresh directory (no TCP port, nothing written to disk, nothing shared
// with other tests or sessions) and waits until the socket accepts connections; the destructor
// stops the server (SIGTERM, then SIGKILL) and removes the directory. When redis-server is not
// on PATH, Start() returns nothing so that the caller skips, unless SHMKV_REQUIRE_REDIS is set
// (CI installs redis-server): then the test fails.
#pragma once

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "test_util.hpp"

namespace testutil {

class RedisServer {
 public:
  // A running server, or nullptr (with a Catch2 WARN) when the test should skip.
  static std::unique_ptr<RedisServer> Start() {
    if (!OnPath("redis-server")) {
      const char* require = std::getenv("SHMKV_REQUIRE_REDIS");
      if (require != nullptr && *require != '\0')
        FAIL("redis-server is not on PATH and SHMKV_REQUIRE_REDIS is set");
      WARN("skipped: redis-server is not installed (apt-get install redis-server)");
      return nullptr;
    }
    std::unique_ptr<RedisServer> s(new RedisServer());
    s->Launch();
    return s;
  }

  ~RedisServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      (void)wait_child(pid_, std::chrono::seconds(10));  // SIGKILLs it after that
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Runs one command on a connection of its own; returns the first line of the reply ("+OK").
  std::string Command(std::initializer_list<std::string_view> args) const {
    std::string request = "*" + std::to_string(args.size()) + "\r\n";
    for (std::string_view a : args)
      request += "$" + std::to_string(a.size()) + "\r\n" + std::string(a) + "\r\n";
    const int fd = Connect();
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
    std::string line;
    char c = 0;
    while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
    ::close(fd);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }

  // "unix:///tmp/shmkv-redis-XXXXXX/redis.sock"
  std::string url() const { return "unix://" + socket_; }
  const std::string& socket_path() const { return socket_; }

 private:
  RedisServer() = default;

  static bool OnPath(const char* program) {
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
    for (std::size_t at = 0; at <= dirs.size();) {
      std::size_t end = dirs.find(':', at);
      if (end == std::string::npos) end = dirs.size();
      const std::string candidate = dirs.substr(at, end - at) + "/" + program;
      if (::access(candidate.c_str(), X_OK) == 0) return true;
      at = end + 1;
    }
    return false;
  }

  // A connection to the server's socket, or -1.
  int Connect() const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return fd;
    ::close(fd);
    return -1;
  }

  // True once something listens on the socket.
  bool Accepting() const {
    const int fd = Connect();
    if (fd >= 0) ::close(fd);
    return fd >= 0;
  }

  void Launch() {
    char dir[] = "/tmp/shmkv-redis-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    dir_ = dir;
    socket_ = dir_ + "/redis.sock";
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      if (std::freopen("/dev/null", "w", stdout) == nullptr) _exit(127);
      ::execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", socket_.c_str(),
               "--save", "", "--appendonly", "no", "--dir", dir_.c_str(),
               static_cast<char*>(nullptr));
      _exit(127);
    }
    // The server binds the socket within milliseconds; a bound on the wait turns a server that
    // never starts into a failure instead of a hang.
    for (int i = 0; i < 1000 && !Accepting(); ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("redis-server exited at start (its stderr says why)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(Accepting());
  }

  std::string dir_;
  std::string socket_;
  pid_t pid_ = -1;
};

}  // namespace testutil
