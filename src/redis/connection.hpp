// connection.hpp: connections to a Redis server (internal): one hiredis context each, and the
// process-local pool a RedisEngine draws them from.
//
// A hiredis context is not thread-safe and is useless after an error, so a thread takes a
// connection from the pool for one operation (ConnectionPool::Lease) and gives it back; a
// broken one is re-established on its next use. Nothing here survives fork(): the front refuses
// a handle in a child before any connection is touched, and the child opens its own.
//
// What a lost connection means (Run):
// - found closed before sending a write (the server restarted, or an idle timeout): reconnect
//   and send, so a restart costs nothing; if the server cannot be reached, unavailable naming it;
// - lost after sending: a read (Effect::read) is sent again once on a new connection; a write
//   (Effect::write) raises outcome_unknown, since the server may have run it.
// Error replies are returned as replies: what they mean is the caller's (redis_engine.cpp).
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "redis/address.hpp"
#include "shmkv/options.hpp"

namespace shmkv::detail {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// The bytes of a string, status or error reply (empty for others).
inline std::string_view ReplyText(const redisReply* r) {
  return r && r->str ? std::string_view(r->str, r->len) : std::string_view();
}

// One command's arguments, binary safe. Holds views: what they point to must outlive Run.
class Command {
 public:
  Command& Add(std::string_view arg) {
    argv_.push_back(arg.data());
    lengths_.push_back(arg.size());
    return *this;
  }
  int argc() const { return static_cast<int>(argv_.size()); }
  const char** argv() const { return const_cast<const char**>(argv_.data()); }
  const std::size_t* lengths() const { return lengths_.data(); }
  std::string_view arg(std::size_t i) const { return {argv_[i], lengths_[i]}; }

 private:
  std::vector<const char*> argv_;
  std::vector<std::size_t> lengths_;
};

enum class Effect { read, write };

// Connection attempts to one server, shared by a pool's connections. After a failed attempt the
// next one waits: an operation that needs a connection within the window fails at once
// (unavailable, naming the address and the last failure) instead of paying connect_timeout
// again, so a load generator whose server is down does not stall. The window starts at 100 ms,
// doubles with each failure up to 2 s, and closes at the first success.
class ReconnectGate {
 public:
  // Raises unavailable while the window is open.
  void CheckOpen(const RedisAddress& address);
  void Failed(const std::string& why);
  void Succeeded();

 private:
  std::mutex mu_;
  std::chrono::steady_clock::time_point closed_until_{};
  std::chrono::milliseconds window_{0};
  std::string last_failure_;
};

class Connection {
 public:
  Connection(const RedisAddress& address, const RedisOptions& options, ReconnectGate* gate);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends the commands in one write (a pipeline) and returns their replies, in order.
  std::vector<Reply> Run(std::span<const Command> commands, Effect effect);
  Reply Run(const Command& command, Effect effect);
  // A command that blocks on the server for up to `wait` (BLPOP): the reply may take that much
  // longer than command_timeout. Sent again on a new connection if the connection is lost.
  Reply RunBlocking(const Command& command, std::chrono::milliseconds wait);
  // False once the server closed the connection (or before the first command).
  bool Open() const;

 private:
  void Connect();
  void Drop();
  // Sends and reads; false when the connection failed (it is then dropped).
  bool Exchange(std::span<const Command> commands, std::vector<Reply>* replies);
  bool Flush();
  [[noreturn]] void RaiseLost(const std::string& why) const;

  const RedisAddress& address_;
  const RedisOptions& options_;
  ReconnectGate* gate_;
  std::chrono::milliseconds blocking_wait_{0};  // added to command_timeout while RunBlocking
  redisContext* ctx_ = nullptr;
  std::string last_error_;
};

class ConnectionPool {
 public:
  ConnectionPool(RedisAddress address, const RedisOptions& options)
      : address_(std::move(address)), options_(options) {}

  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> c) : pool_(pool), c_(std::move(c)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (c_) pool_->Return(std::move(c_));
    }
    Connection* operator->() { return c_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> c_;
  };

  Lease Acquire();
  // A connection of its own, outside the pool (the engine's presence connection).
  std::unique_ptr<Connection> Dedicated();
  const RedisAddress& address() const { return address_; }

 private:
  void Return(std::unique_ptr<Connection> c);

  RedisAddress address_;
  RedisOptions options_;
  ReconnectGate gate_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> free_;
};

}  // namespace shmkv::detail
