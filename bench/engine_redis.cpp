// engine_redis.cpp: Redis peer, engines "redis" (one command per round trip) and "redis-pipe"
// (--pipeline commands appended, then their replies read; default depth 32).
//
// The parent starts its own redis-server (redis_server.hpp) and stops it at the end. Each worker
// connects after fork(). Commands go through redisAppendCommandArgv (binary safe, no format
// parsing):
//   get = GET, set = SET, incr = INCRBY key 1,
//   pop = EVALSHA of a Lua script that SPOPs a name from the set "shmkv-bench:popset" (filled
//         with every key name when the mix is pop), then GETs and DELs that key: atomic, one
//         round trip, each key popped once.
// Mix prefix (prefix.hpp), the way a Redis engine would keep an ordered index: every key is also
// a member, score 0, of the sorted set "shmkv-bench:lex" (ZADD in the preload), so the members
// are in byte order. count = ZLEXCOUNT [prefix (end; everything else is one EVALSHA (atomic, one
// round trip): put = SET + ZADD, erase = DEL + ZREM, random_key = ZLEXCOUNT, then ZRANGEBYLEX
// LIMIT i 1 with i = a client-drawn random number mod the count, pop_random = the same + GET +
// DEL + ZREM, list and scan = ZRANGEBYLEX LIMIT 0 n + MGET of the keys.
#include <hiredis/hiredis.h>

#include <array>
#include <random>
#include <stdexcept>

#include "prefix.hpp"
#include "redis_server.hpp"

namespace shmkv_bench {
namespace {

constexpr char kPopSet[] = "shmkv-bench:popset";
constexpr char kLexIndex[] = "shmkv-bench:lex";

// The scripts, loaded at connect. Mix prefix: KEYS[1] is the lex index; put and erase: KEYS[2]
// the key, ARGV[1] the value; the others: ARGV[1..2] the ZRANGEBYLEX bounds, ARGV[3] the random
// number or the page size.
enum Script { kPop, kPut, kErase, kRandomKey, kPrefixPop, kRange, kScripts };
const std::string kPick =  // k = a uniformly drawn member within the bounds
    "local n = redis.call('ZLEXCOUNT', KEYS[1], ARGV[1], ARGV[2]) "
    "if n == 0 then return false end "
    "local k = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', "
    "tonumber(ARGV[3]) % n, 1)[1] ";
const std::array<std::string, kScripts> kScriptText = {
    "local k = redis.call('SPOP', KEYS[1]) "
    "if not k then return false end "
    "local v = redis.call('GET', k) "
    "redis.call('DEL', k) "
    "return {k, v}",
    "redis.call('SET', KEYS[2], ARGV[1]) redis.call('ZADD', KEYS[1], 0, KEYS[2])",
    "if redis.call('DEL', KEYS[2]) == 0 then return 0 end "
    "redis.call('ZREM', KEYS[1], KEYS[2]) return 1",
    kPick + "return k",
    kPick +
        "local v = redis.call('GET', k) redis.call('DEL', k) redis.call('ZREM', KEYS[1], k) "
        "return {k, v}",
    "local ks = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[3]) "
    "if #ks == 0 then return {} end "
    "return {ks, redis.call('MGET', unpack(ks))}",
};

// ZRANGEBYLEX bounds of the keys with the prefix.
std::string lex_min(std::string_view prefix) {
  return prefix.empty() ? "-" : "[" + std::string(prefix);
}
std::string lex_max(std::string_view prefix) {
  std::string end = prefix_end(prefix);
  return end.empty() ? "+" : "(" + end;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

class Redis {
 public:
  explicit Redis(const Config& cfg)
      : cfg_(cfg),
        depth_(cfg.engine == "redis-pipe" ? cfg.pipeline : 1),
        server_(cfg.redis_server) {
    attach(0);
    baseline_memory_ = used_memory();
    for (int s = 0; s < kScripts; ++s) {
      Reply r = call({"SCRIPT", "LOAD", kScriptText[s]});
      if (r->type != REDIS_REPLY_STRING) throw std::runtime_error("redis: SCRIPT LOAD failed");
      sha_[s].assign(r->str, r->len);
    }
  }
  ~Redis() {
    if (ctx_) redisFree(ctx_);
  }

  void preload(const Dataset& ds) {
    // MSET of 256 pairs per command, 16 commands in flight.
    constexpr std::size_t kPairs = 256;
    std::vector<std::string> keys, vals;
    std::vector<const char*> argv;
    std::vector<std::size_t> argl;
    std::size_t pending = 0;
    auto flush_cmd = [&](const char* cmd) {
      if (keys.empty()) return;
      argv.assign(1, cmd);
      argl.assign(1, std::strlen(cmd));
      const bool pairs = std::strcmp(cmd, "MSET") == 0, zadd = std::strcmp(cmd, "ZADD") == 0;
      if (!pairs) {
        argv.push_back(zadd ? kLexIndex : kPopSet);
        argl.push_back(std::strlen(argv.back()));
      }
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (zadd) {  // score 0
          argv.push_back("0");
          argl.push_back(1);
        }
        argv.push_back(keys[i].data());
        argl.push_back(keys[i].size());
        if (pairs) {
          argv.push_back(vals[i].data());
          argl.push_back(vals[i].size());
        }
      }
      redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), argl.data());
      if (++pending == 16) drain(pending);
      keys.clear();
      vals.clear();
    };
    std::string key(kKeyLen, '\0'), val(ds.value_size, '\0');
    if (ds.counters) {
      for (int c = 0; c < kCounters; ++c) {
        keys.push_back(Dataset::counter_name(c));
        vals.push_back("0");
      }
      flush_cmd("MSET");
    }
    for (std::uint64_t i = 0; i < ds.keys; ++i) {
      ds.key(i, key.data());
      ds.value(i, val.data());
      keys.push_back(key);
      vals.push_back(val);
      if (keys.size() == kPairs) flush_cmd("MSET");
    }
    flush_cmd("MSET");
    if (!ds.counters) {  // mix pop: the set the pop script draws from; prefix: the lex index
      const char* add = cfg_.mix == Mix::prefix ? "ZADD" : "SADD";
      for (std::uint64_t i = 0; i < ds.keys; ++i) {
        ds.key(i, key.data());
        keys.push_back(key);
        if (keys.size() == kPairs) flush_cmd(add);
      }
      flush_cmd(add);
    }
    drain(pending);
  }
  std::string memory_report() {
    std::uint64_t used = used_memory();
    char buf[200];
    std::snprintf(buf, sizeof buf, "used_memory=%llu baseline=%llu bytes_per_key=%.1f%s",
                  static_cast<unsigned long long>(used),
                  static_cast<unsigned long long>(baseline_memory_),
                  static_cast<double>(used - baseline_memory_) / cfg_.keys,
                  cfg_.mix == Mix::pop      ? " (includes the pop set)"
                  : cfg_.mix == Mix::prefix ? " (includes the lex index)"
                                            : "");
    return buf;
  }
  void close_handles() {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
  void attach(int) {
    ctx_ = redisConnectUnix(server_.socket_path().c_str());
    if (!ctx_ || ctx_->err)
      throw std::runtime_error(std::string("redis: connect: ") + (ctx_ ? ctx_->errstr : "?"));
  }
  void reopen() { attach(0); }

  bool get(const char* key, std::size_t klen, Sink& sink) {
    append_get(key, klen);
    Reply r = reply();
    return on_reply(OpKind::get, r.get(), sink);
  }

  void exec(const Op* ops, std::size_t n, Sink& sink) {
    for (std::size_t i = 0; i < n; i += depth_) {
      std::size_t m = n - i < depth_ ? n - i : depth_;
      for (std::size_t j = 0; j < m; ++j) append(ops[i + j]);
      for (std::size_t j = 0; j < m; ++j) {
        Reply r = reply();
        on_reply(ops[i + j].kind, r.get(), sink);
      }
      if (sink.empty) return;
    }
  }

  // --- mix prefix ---
  void put(std::string_view key, std::string_view value) {
    call({"EVALSHA", sha_[kPut], "2", kLexIndex, key, value});
  }
  bool erase(std::string_view key) {
    Reply r = call({"EVALSHA", sha_[kErase], "2", kLexIndex, key});
    return r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  }
  std::uint64_t count(std::string_view prefix) {
    Reply r = call({"ZLEXCOUNT", kLexIndex, lex_min(prefix), lex_max(prefix)});
    return r->type == REDIS_REPLY_INTEGER ? static_cast<std::uint64_t>(r->integer) : ~0ull;
  }
  std::optional<std::string> random_key(std::string_view prefix) {
    Reply r = pick(kRandomKey, prefix);
    if (r->type != REDIS_REPLY_STRING) return std::nullopt;
    return std::string(r->str, r->len);
  }
  std::optional<std::string> pop_random(std::string_view prefix) {
    Reply r = pick(kPrefixPop, prefix);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return std::nullopt;
    const redisReply* k = r->element[0];
    return std::string(k->str, k->len);
  }
  void list(std::string_view prefix, std::size_t limit, Page& out) {
    range(lex_min(prefix), lex_max(prefix), limit, out);
  }
  void scan(std::string_view cursor, std::size_t limit, Page& out) {
    range(cursor.empty() ? "-" : "(" + std::string(cursor), "+", limit, out);
  }

  std::int64_t read_counter(const std::string& key) {
    Reply r(static_cast<redisReply*>(redisCommand(ctx_, "GET %b", key.data(), key.size())));
    std::int64_t v = 0;
    if (!r || r->type != REDIS_REPLY_STRING || !parse_i64(r->str, r->len, &v))
      throw std::runtime_error("redis: counter " + key + " missing or not a number");
    return v;
  }
  std::uint64_t remaining_keys() {
    Reply r(static_cast<redisReply*>(redisCommand(ctx_, "DBSIZE")));
    if (!r || r->type != REDIS_REPLY_INTEGER) throw std::runtime_error("redis: DBSIZE failed");
    return static_cast<std::uint64_t>(r->integer);
  }
  std::string final_check() { return ""; }

 private:
  // One command, its reply; an error reply raises.
  Reply call(std::initializer_list<std::string_view> args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> argl;
    for (std::string_view a : args) {
      argv.push_back(a.data());
      argl.push_back(a.size());
    }
    redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), argl.data());
    Reply r = reply();
    if (r->type == REDIS_REPLY_ERROR)
      throw std::runtime_error("redis: " + std::string(*args.begin()) + ": " + r->str);
    return r;
  }
  Reply pick(Script s, std::string_view prefix) {
    return call({"EVALSHA", sha_[s], "1", kLexIndex, lex_min(prefix), lex_max(prefix),
                 std::to_string(rng_() >> 16)});  // < 2^48: exact in a Lua number
  }
  void range(const std::string& min, const std::string& max, std::size_t limit, Page& out) {
    Reply r = call({"EVALSHA", sha_[kRange], "1", kLexIndex, min, max, std::to_string(limit)});
    out.clear();
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return;
    const redisReply *ks = r->element[0], *vs = r->element[1];
    for (std::size_t i = 0; i < ks->elements && i < vs->elements; ++i)
      out.push_back({std::string(ks->element[i]->str, ks->element[i]->len),
                     std::string(vs->element[i]->str, vs->element[i]->len)});
  }
  void append_get(const char* key, std::size_t klen) {
    const char* argv[2] = {"GET", key};
    std::size_t argl[2] = {3, klen};
    redisAppendCommandArgv(ctx_, 2, argv, argl);
  }
  void append(const Op& op) {
    switch (op.kind) {
      case OpKind::get:
        append_get(op.key, kKeyLen);
        return;
      case OpKind::set: {
        const char* argv[3] = {"SET", op.key, op.value};
        std::size_t argl[3] = {3, kKeyLen, cfg_.value_size};
        redisAppendCommandArgv(ctx_, 3, argv, argl);
        return;
      }
      case OpKind::incr: {
        const char* argv[3] = {"INCRBY", op.key, "1"};
        std::size_t argl[3] = {6, kKeyLen, 1};
        redisAppendCommandArgv(ctx_, 3, argv, argl);
        return;
      }
      case OpKind::pop: {
        const char* argv[4] = {"EVALSHA", sha_[kPop].c_str(), "1", kPopSet};
        std::size_t argl[4] = {7, sha_[kPop].size(), 1, sizeof kPopSet - 1};
        redisAppendCommandArgv(ctx_, 4, argv, argl);
        return;
      }
    }
  }
  Reply reply() {
    void* r = nullptr;
    if (redisGetReply(ctx_, &r) != REDIS_OK || !r)
      throw std::runtime_error(std::string("redis: ") + (ctx_->err ? ctx_->errstr : "no reply"));
    return Reply(static_cast<redisReply*>(r));
  }
  bool on_reply(OpKind kind, const redisReply* r, Sink& sink) {
    switch (kind) {
      case OpKind::get: {
        bool found = r->type == REDIS_REPLY_STRING;
        sink.got(found, found ? r->str : nullptr, found ? r->len : 0);
        return found;
      }
      case OpKind::set:
        if (r->type != REDIS_REPLY_STATUS) ++sink.bad;
        return true;
      case OpKind::incr:
        if (r->type == REDIS_REPLY_INTEGER)
          sink.incremented(r->integer);
        else
          ++sink.bad;
        return true;
      case OpKind::pop:
        if (r->type == REDIS_REPLY_NIL) {
          sink.pop_empty();
        } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                   r->element[0]->type == REDIS_REPLY_STRING &&
                   r->element[1]->type == REDIS_REPLY_STRING) {
          sink.popped_one(r->element[0]->str, r->element[0]->len, r->element[1]->len);
        } else {
          ++sink.bad;
        }
        return true;
    }
    return false;
  }
  void drain(std::size_t& pending) {
    for (; pending > 0; --pending) {
      Reply r = reply();
      if (r->type == REDIS_REPLY_ERROR)
        throw std::runtime_error(std::string("redis: preload: ") + r->str);
    }
  }
  std::uint64_t used_memory() {
    Reply r(static_cast<redisReply*>(redisCommand(ctx_, "INFO memory")));
    if (!r || r->type != REDIS_REPLY_STRING) return 0;
    std::string s(r->str, r->len);
    auto p = s.find("used_memory:");
    return p == std::string::npos ? 0 : std::strtoull(s.c_str() + p + 12, nullptr, 10);
  }

  const Config& cfg_;
  std::size_t depth_;
  RedisServer server_;
  std::array<std::string, kScripts> sha_;
  std::mt19937_64 rng_{cfg_.seed};
  redisContext* ctx_ = nullptr;
  std::uint64_t baseline_memory_ = 0;
};

}  // namespace

int run_redis(const Config& cfg) {
  return cfg.mix == Mix::prefix ? run_prefix<Redis>(cfg) : run_bench<Redis>(cfg);
}

}  // namespace shmkv_bench
