// connection.cpp: Connection and ConnectionPool (connection.hpp).
#include "redis/connection.hpp"

#include <hiredis/sds.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>

#include "os/os.hpp"
#include "os/throw.hpp"

namespace shmkv::detail {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace

void ReconnectGate::CheckOpen(const RedisAddress& address) {
  std::lock_guard<std::mutex> lock(mu_);
  if (window_.count() == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now >= closed_until_) return;
  const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(closed_until_ - now);
  Throw(errc::unavailable, "cannot connect to " + address.Display() + ": " + last_failure_ +
                               " (next attempt in " + std::to_string(wait.count() + 1) + " ms)");
}

void ReconnectGate::Failed(const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  window_ =
      std::clamp(window_ * 2, std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
  closed_until_ = std::chrono::steady_clock::now() + window_;
  last_failure_ = why;
}

void ReconnectGate::Succeeded() {
  std::lock_guard<std::mutex> lock(mu_);
  window_ = std::chrono::milliseconds(0);
}

Connection::Connection(const RedisAddress& address, const RedisOptions& options,
                       ReconnectGate* gate)
    : address_(address), options_(options), gate_(gate) {}

Connection::~Connection() {
  Drop();
}

void Connection::Drop() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

void Connection::Connect() {
  Drop();
  gate_->CheckOpen(address_);
  const timeval connect_tv = ToTimeval(options_.connect_timeout);
  redisContext* c = address_.unix_socket
                        ? redisConnectUnixWithTimeout(address_.path.c_str(), connect_tv)
                        : redisConnectWithTimeout(address_.host.c_str(), address_.port, connect_tv);
  if (!c || c->err) {
    const std::string why = c ? std::string(c->errstr) : std::string("out of memory");
    if (c) redisFree(c);
    gate_->Failed(why);
    Throw(errc::unavailable, "cannot connect to " + address_.Display() + ": " + why);
  }
  gate_->Succeeded();
  ctx_ = c;
  os::CloseOnExec(ctx_->fd);
  if (options_.command_timeout.count() > 0)
    redisSetTimeout(ctx_, ToTimeval(options_.command_timeout + blocking_wait_));
  if (!address_.unix_socket) redisEnableKeepAlive(ctx_);
  std::vector<Command> setup;
  if (!address_.password.empty()) {
    setup.emplace_back().Add("AUTH");
    if (!address_.user.empty()) setup.back().Add(address_.user);
    setup.back().Add(address_.password);
  }
  const std::string db = std::to_string(address_.db);
  if (address_.db != 0) setup.emplace_back().Add("SELECT").Add(db);
  if (setup.empty()) return;
  std::vector<Reply> replies;
  if (!Exchange(setup, &replies))
    Throw(errc::unavailable,
          "lost the connection to " + address_.Display() + " while setting it up: " + last_error_);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (replies[i]->type != REDIS_REPLY_ERROR) continue;
    const std::string text(ReplyText(replies[i].get()));
    Drop();
    if (setup[i].arg(0) == "AUTH")
      Throw(errc::permission_denied, address_.Display() + " refused the password: " + text);
    Throw(errc::invalid_argument, address_.Display() + " refused database " + db + ": " + text);
  }
}

bool Connection::Exchange(std::span<const Command> commands, std::vector<Reply>* replies) {
  replies->clear();
  last_error_.clear();
  for (const Command& c : commands)
    if (redisAppendCommandArgv(ctx_, c.argc(), c.argv(), c.lengths()) != REDIS_OK) break;
  bool sent = !ctx_->err && Flush();
  while (sent && !ctx_->err && replies->size() < commands.size()) {
    void* reply = nullptr;
    if (redisGetReply(ctx_, &reply) != REDIS_OK || !reply) break;
    replies->emplace_back(static_cast<redisReply*>(reply));
  }
  if (replies->size() == commands.size()) return true;
  if (sent || last_error_.empty())
    last_error_ = ctx_->errstr[0] ? std::string(ctx_->errstr) : std::string("connection lost");
  Drop();
  return false;
}

// hiredis's own redisBufferWrite sends with write(2), which raises SIGPIPE (by default fatal to
// the whole load generator) when the server has closed the socket: send the context's buffer
// with MSG_NOSIGNAL instead, and empty it as redisBufferWrite does.
bool Connection::Flush() {
  const std::size_t len = sdslen(ctx_->obuf);
  for (std::size_t sent = 0; sent < len;) {
    const long n = os::SendNoSignal(ctx_->fd, ctx_->obuf + sent, len - sent);
    if (n <= 0) {
      last_error_ = n < 0 ? os::ErrnoText(errno) : std::string("connection closed");
      return false;
    }
    sent += static_cast<std::size_t>(n);
  }
  // sdsclear, written with the header's inline functions: hiredis 0.14's headers declare the
  // sds functions without C linkage, so they cannot be called from C++.
  sdssetlen(ctx_->obuf, 0);
  ctx_->obuf[0] = '\0';
  return true;
}

void Connection::RaiseLost(const std::string& why) const {
  Throw(errc::outcome_unknown,
        "lost the connection to " + address_.Display() + " after sending a write (" + why +
            "): it may or may not have been applied; read the key to find out");
}

std::vector<Reply> Connection::Run(std::span<const Command> commands, Effect effect) {
  // A connection the server closed while it sat in the pool (a restart, an idle timeout) is
  // replaced before a write is sent, so that the write cannot be lost with it. (A read needs no
  // check: it is simply sent again.)
  if (ctx_ && effect == Effect::write && os::SocketClosed(ctx_->fd)) Drop();
  if (!ctx_) Connect();
  std::vector<Reply> replies;
  if (Exchange(commands, &replies)) return replies;
  if (effect == Effect::write) RaiseLost(last_error_);
  Connect();
  if (Exchange(commands, &replies)) return replies;
  Throw(errc::unavailable,
        "lost the connection to " + address_.Display() + " twice while reading: " + last_error_);
}

Reply Connection::Run(const Command& command, Effect effect) {
  return std::move(Run(std::span<const Command>(&command, 1), effect)[0]);
}

Reply Connection::RunBlocking(const Command& command, std::chrono::milliseconds wait) {
  blocking_wait_ = wait;
  if (ctx_ && options_.command_timeout.count() > 0)
    redisSetTimeout(ctx_, ToTimeval(options_.command_timeout + wait));
  struct Restore {
    Connection* c;
    ~Restore() {
      c->blocking_wait_ = std::chrono::milliseconds(0);
      if (c->ctx_ && c->options_.command_timeout.count() > 0)
        redisSetTimeout(c->ctx_, ToTimeval(c->options_.command_timeout));
    }
  } restore{this};
  return Run(command, Effect::read);
}

bool Connection::Open() const {
  return ctx_ && !os::SocketClosed(ctx_->fd);
}

std::unique_ptr<Connection> ConnectionPool::Dedicated() {
  return std::make_unique<Connection>(address_, options_, &gate_);
}

ConnectionPool::Lease ConnectionPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      std::unique_ptr<Connection> c = std::move(free_.back());
      free_.pop_back();
      return Lease(this, std::move(c));
    }
  }
  return Lease(this, std::make_unique<Connection>(address_, options_, &gate_));
}

void ConnectionPool::Return(std::unique_ptr<Connection> c) {
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(std::move(c));
}

}  // namespace shmkv::detail
