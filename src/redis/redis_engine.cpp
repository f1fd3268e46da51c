// redis_engine.cpp: the operations of RedisEngine (redis_engine.hpp): each is one command or one
// script call (several, pipelined, for batches; one per page for ordered reads, as the
// shared-memory engine's are per shard). Opening, destroying and checking live in
// redis_open.cpp.
#include "redis/redis_engine.hpp"

#include <algorithm>
#include <charconv>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "engine/int64_text.hpp"
#include "engine/key_range.hpp"
#include "os/file_io.hpp"
#include "os/os.hpp"
#include "os/throw.hpp"
#include "persist/snapshot.hpp"
#include "redis/script_args.hpp"

namespace shmkv::detail {
namespace {

// Keys a script call reads, deletes or pops at most: bounds the time one call holds the server.
constexpr std::size_t kPageKeys = 1000;
// Script calls per pipeline of a batch.
constexpr std::size_t kPipelineCalls = 512;

bool IsString(const redisReply* r) {
  return r->type == REDIS_REPLY_STRING;
}

std::string TtlArg(std::chrono::milliseconds ttl) {
  return std::to_string(ttl.count());
}

}  // namespace

void RedisEngine::CheckNotError(const redisReply* reply, const char* operation) const {
  if (reply->type == REDIS_REPLY_ERROR) [[unlikely]]
    RaiseServerError(reply, operation);
}

void RedisEngine::RaiseServerError(const redisReply* reply, const char* operation) const {
  const std::string_view text = ReplyText(reply);
  const std::string where = pool_.address().Display();
  // EXEC refused for a reason met only at EXEC (memory crossed maxmemory while the commands were
  // queued) says "EXECABORT Transaction discarded because of: <the refusal>": classify that.
  constexpr std::string_view kAborted = "EXECABORT Transaction discarded because of: ";
  const std::string_view cause = text.starts_with(kAborted) ? text.substr(kAborted.size()) : text;
  auto starts = [&](std::string_view p) { return cause.starts_with(p); };
  const std::string said = " (" + std::string(text) + ")";
  if (starts("OOM"))
    Throw(errc::store_full, std::string(operation) + " on store '" + name_ + "': " + where +
                                " is out of memory (maxmemory); nothing changed" + said);
  if (starts("BUSY"))
    Throw(errc::busy, where + " is busy running a script; " + operation + " was not run" + said);
  if (starts("LOADING") || starts("MASTERDOWN") || starts("TRYAGAIN") || starts("CLUSTERDOWN") ||
      starts("READONLY"))
    Throw(errc::unavailable, where + " cannot serve " + operation + " now" + said);
  if (starts("NOAUTH") || starts("NOPERM") || starts("WRONGPASS"))
    Throw(errc::permission_denied, where + " refused " + operation + said);
  if (starts("WRONGTYPE"))
    Throw(errc::corrupted, std::string(operation) + " on store '" + name_ +
                               "': a key of the store holds another Redis type" + said);
  Throw(errc::io_error,
        std::string(operation) + " on store '" + name_ + "' at " + where + " failed" + said);
}

Command RedisEngine::EvalCommand(Script s, const std::string* value_key,
                                 std::span<const std::string_view> args) const {
  Command c;
  c.Add("EVALSHA").Add(sha_[static_cast<std::size_t>(s)]).Add(value_key ? "3" : "2");
  c.Add(index_key_).Add(expiry_key_);
  if (value_key) c.Add(*value_key);
  for (std::string_view a : args) c.Add(a);
  return c;
}

Reply RedisEngine::RunScript(Script s, const Command& c, Effect effect) {
  auto conn = pool_.Acquire();
  Reply r = conn->Run(c, effect);
  if (r->type == REDIS_REPLY_ERROR && ReplyText(r.get()).starts_with("NOSCRIPT")) {
    LoadScripts();
    r = conn->Run(c, effect);
  }
  CheckNotError(r.get(), ScriptName(s));
  return r;
}

Reply RedisEngine::Eval(Script s, const std::string* value_key,
                        std::initializer_list<std::string_view> args, Effect effect) {
  return RunScript(s, EvalCommand(s, value_key, std::span(args.begin(), args.size())), effect);
}

std::vector<Reply> RedisEngine::EvalMany(Script s, const std::vector<std::string>& value_keys,
                                         const std::vector<std::vector<std::string_view>>& args,
                                         Effect effect) {
  std::vector<Command> cmds;
  cmds.reserve(args.size());
  for (std::size_t i = 0; i < args.size(); ++i)
    cmds.push_back(EvalCommand(s, &value_keys[i], args[i]));
  auto conn = pool_.Acquire();
  std::vector<Reply> replies = conn->Run(cmds, effect);
  std::vector<std::size_t> again;
  for (std::size_t i = 0; i < replies.size(); ++i)
    if (replies[i]->type == REDIS_REPLY_ERROR &&
        ReplyText(replies[i].get()).starts_with("NOSCRIPT"))
      again.push_back(i);
  if (!again.empty()) {  // those did not run: load the script and send them again
    LoadScripts();
    std::vector<Command> retry;
    for (std::size_t i : again) retry.push_back(cmds[i]);
    std::vector<Reply> second = conn->Run(retry, effect);
    for (std::size_t j = 0; j < again.size(); ++j) replies[again[j]] = std::move(second[j]);
  }
  for (const Reply& r : replies) CheckNotError(r.get(), ScriptName(s));
  return replies;
}

Reply RedisEngine::Transaction(std::span<const Command> body, const char* operation) {
  std::vector<Command> cmds;
  cmds.reserve(body.size() + 2);
  cmds.emplace_back().Add("MULTI");
  cmds.insert(cmds.end(), body.begin(), body.end());
  cmds.emplace_back().Add("EXEC");
  std::vector<Reply> replies = pool_.Acquire()->Run(cmds, Effect::write);
  // A command refused while queued (OOM under maxmemory, among others) aborts the whole
  // transaction before anything runs: raise what that refusal means.
  for (std::size_t i = 0; i + 1 < replies.size(); ++i)
    if (replies[i]->type == REDIS_REPLY_ERROR) RaiseServerError(replies[i].get(), operation);
  Reply exec = std::move(replies.back());
  CheckNotError(exec.get(), operation);
  if (exec->type != REDIS_REPLY_ARRAY || exec->elements != body.size())
    Throw(errc::io_error, std::string(operation) + " on store '" + name_ +
                              "': the server's EXEC reply has " + std::to_string(exec->elements) +
                              " results for " + std::to_string(body.size()) + " commands");
  return exec;
}

void RedisEngine::WakeKeys(const redisReply* anyone_waits, std::span<const std::string_view> keys) {
  if (anyone_waits->type != REDIS_REPLY_INTEGER || anyone_waits->integer == 0) return;
  Command c = EvalCommand(Script::wake_keys, nullptr, keys);
  RunScript(Script::wake_keys, c, Effect::write);
}

// --- single key ---

void RedisEngine::Close() {}

bool RedisEngine::Get(std::string_view key, std::string* value) {
  const std::string vk = ValueKey(key);
  Reply r = pool_.Acquire()->Run(Command().Add("GET").Add(vk), Effect::read);
  CheckNotError(r.get(), "get");
  if (!IsString(r.get())) {
    value->clear();
    return false;
  }
  value->assign(r->str, r->len);
  return true;
}

void RedisEngine::Set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) {
  const std::string vk = ValueKey(key);
  if (ttl.count() == 0) {
    // No expiry: plain commands in a transaction cost the server far less than a script. The
    // last asks whether anyone waits (WakeKeys).
    std::array<Command, 4> body;
    body[0].Add("SET").Add(vk).Add(value);
    body[1].Add("ZADD").Add(index_key_).Add("0").Add(key);
    body[2].Add("ZREM").Add(expiry_key_).Add(key);
    body[3].Add("EXISTS").Add(waiters_key_);
    Reply exec = Transaction(body, "set");
    for (std::size_t i = 0; i < exec->elements; ++i) CheckNotError(exec->element[i], "set");
    WakeKeys(exec->element[3], std::span(&key, 1));
    return;
  }
  // The expiry index takes the server's own expiry time (PEXPIRETIME), read in a script.
  const std::string t = TtlArg(ttl);
  Eval(Script::set, &vk, {key, value, t}, Effect::write);
}

bool RedisEngine::Exists(std::string_view key) {
  const std::string vk = ValueKey(key);
  Reply r = pool_.Acquire()->Run(Command().Add("EXISTS").Add(vk), Effect::read);
  CheckNotError(r.get(), "exists");
  return r->integer == 1;
}

bool RedisEngine::Del(std::string_view key) {
  const std::string vk = ValueKey(key);
  return Eval(Script::del, &vk, {key}, Effect::write)->integer == 1;
}

std::int64_t RedisEngine::IncrementBy(std::string_view key, std::int64_t delta) {
  const std::string vk = ValueKey(key), d = std::to_string(delta);
  // INCRBY's integer reply is exact (no Lua double in between); ZADD keeps the index in step
  // for a new key and changes nothing for an existing one. A TTL stays, as INCRBY keeps it. (A
  // key that had expired and is created again here may keep a stale member in the expiry
  // index: the next purge drops it from there only, its value being live.)
  std::array<Command, 3> body;
  body[0].Add("INCRBY").Add(vk).Add(d);
  body[1].Add("ZADD").Add(index_key_).Add("0").Add(key);
  body[2].Add("EXISTS").Add(waiters_key_);
  for (;;) {
    Reply exec = Transaction(body, "increment_by");
    const redisReply* r = exec->element[0];
    if (r->type == REDIS_REPLY_INTEGER) {
      WakeKeys(exec->element[2], std::span(&key, 1));
      return r->integer;
    }
    const std::string_view refusal = ReplyText(r);
    if (refusal.find("not an integer") == std::string_view::npos &&
        refusal.find("overflow") == std::string_view::npos)
      RaiseServerError(r, "increment_by");
    // INCRBY refused, changing nothing: an overflow, or a value it does not parse. The latter
    // may still be a counter to shmkv ("012", "-0"), which the shared-memory engine increments:
    // do the same here, replacing the value only if nobody changed it meanwhile.
    std::string current;
    if (!Get(key, &current)) continue;  // gone meanwhile: INCRBY now starts at 0
    std::int64_t v = 0;
    if (!ParseInt64(current, &v))
      Throw(errc::not_a_number, "value of key '" + std::string(key) +
                                    "' is not a decimal int64: '" + current.substr(0, 64) +
                                    (current.size() > 64 ? "...'" : "'"));
    std::int64_t result = 0;
    if (__builtin_add_overflow(v, delta, &result))
      Throw(errc::overflow, "incrementing key '" + std::string(key) + "' (" + std::to_string(v) +
                                ") by " + d + " overflows int64");
    if (refusal.find("overflow") != std::string_view::npos)
      continue;  // it changed meanwhile: try again with the new value
    const std::string next = std::to_string(result);
    if (Eval(Script::replace_counter, &vk, {key, current, next}, Effect::write)->integer == 1)
      return result;
    // Changed meanwhile: the plain path may now work.
  }
}

GetOrSetResult RedisEngine::GetOrSet(std::string_view key, std::string_view value,
                                     std::chrono::milliseconds ttl) {
  const std::string vk = ValueKey(key), t = TtlArg(ttl);
  Reply r = Eval(Script::get_or_set, &vk, {key, value, t}, Effect::write);
  if (r->element[0]->integer == 1) return {std::string(ReplyText(r->element[1])), true};
  return {std::string(value), false};
}

SwapResult RedisEngine::Swap(std::string_view key, std::string_view value,
                             std::chrono::milliseconds ttl) {
  const std::string vk = ValueKey(key), t = TtlArg(ttl);
  Reply r = Eval(Script::swap, &vk, {key, value, t}, Effect::write);
  if (r->element[0]->integer == 1) return {std::string(ReplyText(r->element[1])), true};
  return {std::nullopt, false};
}

bool RedisEngine::CompareAndSwap(std::string_view key, std::optional<std::string_view> expected,
                                 std::string_view value, std::chrono::milliseconds ttl,
                                 std::optional<std::string>* mismatch) {
  const std::string vk = ValueKey(key), t = TtlArg(ttl);
  Reply r = Eval(Script::compare_and_swap, &vk,
                 {key, expected ? "1" : "0", expected.value_or(""), value, t}, Effect::write);
  if (r->element[0]->integer == 1) return true;
  if (mismatch) {
    if (r->elements > 1)
      mismatch->emplace(ReplyText(r->element[1]));
    else
      mismatch->reset();
  }
  return false;
}

bool RedisEngine::CompareAndDelete(std::string_view key, std::string_view expected) {
  const std::string vk = ValueKey(key);
  return Eval(Script::compare_and_delete, &vk, {key, expected}, Effect::write)->integer == 1;
}

bool RedisEngine::SetIfAbsent(std::string_view key, std::string_view value,
                              std::chrono::milliseconds ttl) {
  const std::string vk = ValueKey(key), t = TtlArg(ttl);
  return Eval(Script::set_if_absent, &vk, {key, value, t}, Effect::write)->integer == 1;
}

bool RedisEngine::Expire(std::string_view key, std::chrono::milliseconds ttl) {
  const std::string vk = ValueKey(key), t = TtlArg(ttl);
  return Eval(Script::expire, &vk, {key, t}, Effect::write)->integer == 1;
}

std::optional<std::chrono::milliseconds> RedisEngine::Ttl(std::string_view key) {
  const std::string vk = ValueKey(key);
  Reply r = pool_.Acquire()->Run(Command().Add("PTTL").Add(vk), Effect::read);
  CheckNotError(r.get(), "ttl");
  if (r->integer == -2) return std::nullopt;
  if (r->integer == -1) return std::chrono::milliseconds(0);
  // Under 1 ms left reads 0 from PTTL, which would mean "no expiry": it is 1 ms.
  return std::chrono::milliseconds(std::max<long long>(r->integer, 1));
}

// --- batches ---

std::size_t RedisEngine::GetMany(std::span<const std::string_view> keys,
                                 std::vector<std::optional<std::string>>* out) {
  out->resize(keys.size());
  std::size_t found = 0;
  for (std::size_t first = 0; first < keys.size(); first += kPageKeys) {
    const std::size_t n = std::min(kPageKeys, keys.size() - first);
    std::vector<std::string> vks;
    vks.reserve(n);
    Command c;
    c.Add("MGET");
    for (std::size_t i = 0; i < n; ++i) vks.push_back(ValueKey(keys[first + i]));
    for (const std::string& vk : vks) c.Add(vk);
    Reply r = pool_.Acquire()->Run(c, Effect::read);
    CheckNotError(r.get(), "get_many");
    for (std::size_t i = 0; i < n; ++i) {
      std::optional<std::string>& slot = (*out)[first + i];
      if (IsString(r->element[i])) {
        if (slot)
          slot->assign(r->element[i]->str, r->element[i]->len);
        else
          slot.emplace(r->element[i]->str, r->element[i]->len);
        ++found;
      } else {
        slot.reset();
      }
    }
  }
  return found;
}

void RedisEngine::SetMany(const std::vector<std::pair<std::string, std::string>>& pairs,
                          std::chrono::milliseconds ttl) {
  if (ttl.count() == 0) {
    // No expiry: each chunk is one transaction of three commands (MSET, ZADD, ZREM), so each
    // chunk is even atomic as a whole.
    for (std::size_t first = 0; first < pairs.size(); first += kPipelineCalls) {
      const std::size_t n = std::min(kPipelineCalls, pairs.size() - first);
      std::vector<std::string> vks;
      vks.reserve(n);
      std::array<Command, 4> body;
      body[0].Add("MSET");
      body[1].Add("ZADD").Add(index_key_);
      body[2].Add("ZREM").Add(expiry_key_);
      body[3].Add("EXISTS").Add(waiters_key_);
      std::vector<std::string_view> keys;
      for (std::size_t i = first; i < first + n; ++i) {
        vks.push_back(ValueKey(pairs[i].first));
        body[0].Add(vks.back()).Add(pairs[i].second);
        body[1].Add("0").Add(pairs[i].first);
        body[2].Add(pairs[i].first);
        keys.push_back(pairs[i].first);
      }
      Reply exec = Transaction(body, "set_many");
      for (std::size_t i = 0; i < exec->elements; ++i) CheckNotError(exec->element[i], "set_many");
      WakeKeys(exec->element[3], keys);
    }
    return;
  }
  const std::string t = TtlArg(ttl);
  for (std::size_t first = 0; first < pairs.size(); first += kPipelineCalls) {
    const std::size_t n = std::min(kPipelineCalls, pairs.size() - first);
    std::vector<std::string> vks;
    std::vector<std::vector<std::string_view>> args;
    for (std::size_t i = first; i < first + n; ++i) {
      vks.push_back(ValueKey(pairs[i].first));
      args.push_back({pairs[i].first, pairs[i].second, t});
    }
    EvalMany(Script::set, vks, args, Effect::write);
  }
}

std::size_t RedisEngine::DeleteMany(const std::vector<std::string>& keys) {
  // Each chunk is one transaction: DEL counts the live keys it removed.
  std::size_t deleted = 0;
  for (std::size_t first = 0; first < keys.size(); first += kPipelineCalls) {
    const std::size_t n = std::min(kPipelineCalls, keys.size() - first);
    std::vector<std::string> vks;
    vks.reserve(n);
    std::array<Command, 3> body;
    body[0].Add("DEL");
    body[1].Add("ZREM").Add(index_key_);
    body[2].Add("ZREM").Add(expiry_key_);
    for (std::size_t i = first; i < first + n; ++i) {
      vks.push_back(ValueKey(keys[i]));
      body[0].Add(vks.back());
      body[1].Add(keys[i]);
      body[2].Add(keys[i]);
    }
    Reply exec = Transaction(body, "delete_many");
    for (std::size_t i = 0; i < exec->elements; ++i) CheckNotError(exec->element[i], "delete_many");
    deleted += static_cast<std::size_t>(exec->element[0]->integer);
  }
  return deleted;
}

DeletePrefixResult RedisEngine::DeleteRange(const KeyRange& range, std::size_t limit) {
  const LexBounds b = LexBounds::Of(KeyFilter::Of(range));
  DeletePrefixResult result{0, false};
  for (;;) {
    const std::size_t want = limit ? std::min(kPageKeys, limit - result.deleted) : kPageKeys;
    const std::string w = std::to_string(want);
    Reply r = Eval(Script::delete_range, nullptr, {value_prefix_, b.lo, b.hi, w}, Effect::write);
    result.deleted += static_cast<std::size_t>(r->element[0]->integer);
    result.done = r->element[1]->integer == 0;
    if (result.done || (limit && result.deleted >= limit)) return result;
  }
}

// --- ordered reads ---

RedisEngine::Page RedisEngine::ReadPage(const std::string& lo, const std::string& hi,
                                        std::size_t want, bool values) {
  const std::string w = std::to_string(want);
  Reply r =
      Eval(Script::page, nullptr, {value_prefix_, lo, hi, w, values ? "1" : "0"}, Effect::read);
  Page page;
  page.more = r->element[0]->integer == 1;
  const redisReply* items = r->element[1];
  for (std::size_t i = 0; i < items->elements;) {
    page.keys.emplace_back(ReplyText(items->element[i++]));
    if (values) page.values.emplace_back(ReplyText(items->element[i++]));
  }
  return page;
}

RedisEngine::Page RedisEngine::ReadRange(std::string lo, const std::string& hi, std::size_t limit,
                                         bool values) {
  Page all;
  for (;;) {
    const std::size_t want = limit ? std::min(kPageKeys, limit - all.keys.size()) : kPageKeys;
    Page page = ReadPage(lo, hi, want, values);
    for (std::size_t i = 0; i < page.keys.size(); ++i) {
      all.keys.push_back(std::move(page.keys[i]));
      if (values) all.values.push_back(std::move(page.values[i]));
    }
    all.more = page.more;
    if (!page.more || (limit && all.keys.size() >= limit)) return all;
    lo = "(" + all.keys.back();
  }
}

std::vector<Entry> RedisEngine::List(const ListOptions& options) {
  const LexBounds b = LexBounds::Of(KeyFilter::Of(options));
  Page page = ReadRange(b.lo, b.hi, options.limit, true);
  std::vector<Entry> out;
  out.reserve(page.keys.size());
  for (std::size_t i = 0; i < page.keys.size(); ++i)
    out.push_back({std::move(page.keys[i]), std::move(page.values[i])});
  return out;
}

std::vector<std::string> RedisEngine::ListKeys(const ListOptions& options) {
  const LexBounds b = LexBounds::Of(KeyFilter::Of(options));
  return ReadRange(b.lo, b.hi, options.limit, false).keys;
}

ScanPage RedisEngine::Scan(const ScanOptions& options) {
  const LexBounds b = LexBounds::Of(KeyFilter::Of(options));
  Page page = ReadRange(b.lo, b.hi, options.limit, true);
  ScanPage out{{}, page.keys.empty() ? options.cursor : page.keys.back(), !page.more};
  out.entries.reserve(page.keys.size());
  for (std::size_t i = 0; i < page.keys.size(); ++i)
    out.entries.push_back({std::move(page.keys[i]), std::move(page.values[i])});
  return out;
}

KeyScanPage RedisEngine::ScanKeys(const ScanOptions& options) {
  const LexBounds b = LexBounds::Of(KeyFilter::Of(options));
  Page page = ReadRange(b.lo, b.hi, options.limit, false);
  std::string cursor = page.keys.empty() ? options.cursor : page.keys.back();
  return {std::move(page.keys), std::move(cursor), !page.more};
}

std::size_t RedisEngine::Count(const KeyRange& range) {
  const LexBounds b = LexBounds::Of(KeyFilter::Of(range));
  return static_cast<std::size_t>(
      Eval(Script::count, nullptr, {b.lo, b.hi}, Effect::read)->integer);
}

// --- random ---

// n draws of script s (random) over the keys with the prefix; a draw that found nothing is left
// out.
std::vector<std::string> RedisEngine::Draw(Script s, std::string_view prefix, std::size_t n) {
  const LexBounds b = LexBounds::Of(KeyFilter{prefix});
  std::vector<std::string> us(n);
  for (std::string& u : us) u = UniformArg();
  Command c = EvalCommand(s, nullptr, {});
  c.Add(b.below).Add(b.lo).Add(b.hi);
  for (const std::string& u : us) c.Add(u);
  Reply r = RunScript(s, c, Effect::read);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < r->elements; ++i)
    if (IsString(r->element[i])) out.emplace_back(ReplyText(r->element[i]));
  return out;
}

std::optional<std::string> RedisEngine::RandomKey(std::string_view prefix) {
  std::vector<std::string> keys = Draw(Script::random, prefix, 1);
  if (keys.empty()) return std::nullopt;
  return std::move(keys[0]);
}

std::vector<std::string> RedisEngine::RandomKeys(std::size_t count, std::string_view prefix,
                                                 bool unique) {
  std::vector<std::string> out;
  if (!unique) {
    while (out.size() < count) {
      std::vector<std::string> keys =
          Draw(Script::random, prefix, std::min(kPageKeys, count - out.size()));
      if (keys.empty()) break;
      for (std::string& k : keys) out.push_back(std::move(k));
    }
    return out;
  }
  // Distinct keys: rejection sampling while they are a small part of the candidates, else a
  // shuffle of them all.
  const std::size_t candidates = Count(KeyRange{std::string(prefix), {}, {}});
  if (count * 2 >= candidates) {
    out = ListKeys(ListOptions{std::string(prefix), 0});
    thread_local std::mt19937_64 rng(os::RandomSeed());
    std::shuffle(out.begin(), out.end(), rng);
    if (out.size() > count) out.resize(count);
    return out;
  }
  std::unordered_set<std::string> seen;
  for (int empty_rounds = 0; out.size() < count && empty_rounds < 64;) {
    std::vector<std::string> keys =
        Draw(Script::random, prefix, std::min(kPageKeys, count - out.size()));
    if (keys.empty()) break;
    std::size_t before = out.size();
    for (std::string& k : keys)
      if (out.size() < count && seen.insert(k).second) out.push_back(std::move(k));
    empty_rounds = out.size() == before ? empty_rounds + 1 : 0;
  }
  return out;
}

// Pops skip claimed keys. A claim whose holder is gone from the server (redis_coord.cpp) stops
// counting when a pop finds nothing else: the page is tried again with that holder named dead.
std::optional<Entry> RedisEngine::PopRandom(std::string_view prefix) {
  std::vector<Entry> one = PopRandomMany(prefix, 1);
  if (one.empty()) return std::nullopt;
  return std::move(one[0]);
}

std::vector<Entry> RedisEngine::PopRandomMany(std::string_view prefix, std::size_t n) {
  std::vector<Entry> out;
  std::string dead;
  while (out.size() < n) {
    const std::size_t want = std::min(kPageKeys, n - out.size());
    PopResult page = PopPage(prefix, want, dead, {}, std::chrono::milliseconds(0));
    const std::size_t got = page.entries.size();
    for (Entry& e : page.entries) out.push_back(std::move(e));
    if (got == want) continue;
    const std::string newly = got == 0 ? DeadAmong(page.attempt.holders, dead) : std::string();
    if (newly.empty()) break;
    dead += (dead.empty() ? "" : " ") + newly;
  }
  return out;
}

// --- whole store ---

std::size_t RedisEngine::Size() {
  return static_cast<std::size_t>(Eval(Script::size, nullptr, {}, Effect::read)->integer);
}

void RedisEngine::Clear() {
  const std::string batch = std::to_string(kPageKeys);
  while (Eval(Script::clear, nullptr, {value_prefix_, batch}, Effect::write)->integer > 0) {
  }
}

Stats RedisEngine::GetStats() {
  return Stats{};
}

// --- backup and restore: shmkv's snapshot format, so a store moves between engines ---

BackupResult RedisEngine::Backup(const std::string& path) {
  const std::uint64_t t0 = os::NowMonotonicNs();
  const std::string file = fileio::AbsolutePath(path);
  std::vector<PlainEntry> entries;
  const std::string batch = std::to_string(kPageKeys);
  std::string lo = "-";
  for (;;) {
    Reply r = Eval(Script::backup_page, nullptr, {value_prefix_, lo, batch}, Effect::read);
    const redisReply* items = r->element[1];
    for (std::size_t i = 0; i + 2 < items->elements; i += 3) {
      const long long at = items->element[i + 2]->integer;
      entries.push_back({std::string(ReplyText(items->element[i])),
                         std::string(ReplyText(items->element[i + 1])),
                         at > 0 ? static_cast<std::uint64_t>(at) : 0});
    }
    if (!IsString(r->element[0])) break;
    lo = "(" + std::string(ReplyText(r->element[0]));
  }
  BackupResult out;
  out.entries = entries.size();
  out.bytes = WriteSnapshotOfEntries(entries, file);
  out.duration = std::chrono::microseconds((os::NowMonotonicNs() - t0) / 1000);
  return out;
}

RestoreResult RedisEngine::Restore(const std::string& path, const RestoreOptions& options) {
  const std::string file = fileio::AbsolutePath(path);
  SnapshotFile snap(file);  // not_found, corrupted, incompatible_layout, invalid_argument
  if (options.max_entries && snap.header().entry_count > options.max_entries)
    Throw(errc::limit_exceeded, file + " holds " + std::to_string(snap.header().entry_count) +
                                    " entries; max_entries is " +
                                    std::to_string(options.max_entries));
  // Everything is checked before anything changes: limits, duplicates (the last entry of a key
  // wins), expiry.
  const std::uint64_t now = os::NowUnixMs();
  const auto& entries = snap.entries();
  RestoreResult result;
  std::unordered_map<std::string_view, std::size_t> last;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const SnapshotEntry& e = entries[i];
    const std::string where = file + ": entry " + std::to_string(i);
    if (e.key.empty())
      Throw(errc::key_too_long, where + ": an empty key; keys are 1.." +
                                    std::to_string(limits_.max_key_bytes) + " bytes");
    if (e.key.size() > limits_.max_key_bytes)
      Throw(errc::key_too_long, where + ": a key of " + std::to_string(e.key.size()) +
                                    " bytes; this store's max_key_bytes is " +
                                    std::to_string(limits_.max_key_bytes));
    if (e.value.size() > limits_.max_value_bytes)
      Throw(errc::value_too_large, where + ": a value of " + std::to_string(e.value.size()) +
                                       " bytes; this store's max_value_bytes is " +
                                       std::to_string(limits_.max_value_bytes));
    if (!last.emplace(e.key, i).second) {
      last[e.key] = i;
      ++result.duplicates;
    }
  }
  std::vector<std::size_t> keep;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const SnapshotEntry& e = entries[i];
    if (last[e.key] != i) continue;
    if (e.expires_ms != 0 && e.expires_ms <= now) {
      ++result.expired;
      continue;
    }
    result.bytes += e.key.size() + e.value.size();
    keep.push_back(i);
  }
  result.entries = keep.size();
  if (options.max_bytes && result.bytes > options.max_bytes)
    Throw(errc::limit_exceeded, file + " holds " + std::to_string(result.bytes) +
                                    " bytes of keys and values; max_bytes is " +
                                    std::to_string(options.max_bytes));
  Clear();
  for (std::size_t first = 0; first < keep.size(); first += kPipelineCalls) {
    const std::size_t n = std::min(kPipelineCalls, keep.size() - first);
    std::vector<std::string> vks, ats;
    std::vector<std::vector<std::string_view>> args;
    vks.reserve(n);
    ats.reserve(n);
    for (std::size_t j = first; j < first + n; ++j) {
      const SnapshotEntry& e = entries[keep[j]];
      vks.push_back(ValueKey(e.key));
      ats.push_back(std::to_string(e.expires_ms));
    }
    for (std::size_t j = 0; j < n; ++j) {
      const SnapshotEntry& e = entries[keep[first + j]];
      args.push_back({e.key, e.value, ats[j]});
    }
    EvalMany(Script::set_at, vks, args, Effect::write);
  }
  return result;
}

RecoveryReport RedisEngine::GetRecoveryReport() {
  return RecoveryReport{};
}

void RedisEngine::Sync() {}

BackupResult RedisEngine::Snapshot() {
  Throw(errc::invalid_argument,
        "store '" + name_ +
            "' is on Redis: it has no persistence directory to snapshot into (durability is the "
            "server's configuration: RDB, AOF; backup() writes a file)");
}

}  // namespace shmkv::detail
