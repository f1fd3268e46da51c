// redis_coord.cpp: the Redis engine's coordination operations (RedisEngine, redis_engine.hpp):
// claims, locks, semaphore permits, barriers and the waits, each try one script call
// (scripts.hpp: claim, claim_random, take, renew, give_back, complete, pop, wait_key,
// barrier_arrive, barrier_wait).
//
// Holders and death. A grant records its holder as the CLIENT ID of the holding process's
// presence connection: one connection per handle, opened at its first grant and kept open. When
// the process dies, its kernel closes the socket and the server drops the client at once (a
// host that vanishes is dropped by the server's tcp-keepalive, 300 s by default). A try that a
// grant blocks asks CLIENT LIST which of the blocking holders are gone, and tries again with them
// named dead: their grants end then, without waiting for a lease. Leases end grants too, by the
// server's clock.
//
// Waiting never polls. A try that must wait registers the caller in {name}:w in the same script
// (so a wake between the try and the sleep is not lost) and the caller sleeps in BLPOP on its
// own list {name}:n:<waiter>, until a writer's script pushes to it (a key written, a grant given
// back, a barrier's round ended) or the first lease in its way ends. A holder's death wakes no
// one on Redis: a new try finds it at once, and a waiter held up by other processes asks again
// after at most kLivenessRecheck (1 s), one CLIENT LIST and one try, whatever their leases. A
// waiter killed while waiting leaves its entry and its list until its wait would have ended (the
// next writer drops the entry; the list expires).
//
// Nothing here holds a lock of the process: every try is one script, atomic on the server.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <random>
#include <unordered_set>

#include "os/os.hpp"
#include "os/throw.hpp"
#include "redis/redis_engine.hpp"
#include "redis/script_args.hpp"

namespace shmkv::detail {
namespace {

using std::chrono::milliseconds;

// How long a waiter held up by other processes sleeps at most before it asks the server again
// whether they are still connected: a holder's death wakes no one on Redis.
constexpr milliseconds kLivenessRecheck{1000};

// A waiter's id: 16 hex digits, random (a member of {name}:w starts with it). Two waiters with
// one id would share a wake list, and one of them would miss its wake.
std::string NewWaiterId() {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(ProcessRng()()));
  return std::string(buf, 16);
}

std::string Ms(milliseconds ms) {
  return std::to_string(ms.count());
}

std::uint64_t TokenOf(const redisReply* r) {
  if (r->type == REDIS_REPLY_INTEGER) return static_cast<std::uint64_t>(r->integer);
  std::uint64_t t = 0;
  const std::string_view text(r->str ? r->str : "", r->str ? r->len : 0);
  std::from_chars(text.data(), text.data() + text.size(), t);
  return t;
}

std::string Text(const redisReply* r) {
  return std::string(ReplyText(r));
}

// Whether CLIENT LIST's reply shows client `id` (each client is a line "id=<id> addr=...").
bool Listed(std::string_view client_list, const std::string& id) {
  const std::string field = "id=" + id + " ";
  return client_list.starts_with(field) || client_list.find("\n" + field) != std::string_view::npos;
}

}  // namespace

// --- holders, liveness, sleeping ---

void RedisEngine::DropWaiter(const std::string& id, const std::string& member) {
  std::array<Command, 2> cmds;
  const std::string list = "{" + name_ + "}:n:" + id;
  cmds[0].Add("ZREM").Add(waiters_key_).Add(member);
  cmds[1].Add("DEL").Add(list);
  pool_.Acquire()->Run(cmds, Effect::write);
}

// Drops a waiter's entry and list when its wait ends, however it ends.
struct RedisEngine::WaiterCleanup {
  RedisEngine* engine;
  const std::string& id;
  const std::string& member;
  const bool& registered;
  ~WaiterCleanup() {
    if (!registered) return;
    try {
      engine->DropWaiter(id, member);
    } catch (...) {  // the server is out of reach: the entry lapses at its end, the list expires
    }
  }
};

std::string RedisEngine::HolderId() {
  std::lock_guard<std::mutex> lock(presence_mu_);
  if (presence_ && presence_->Open()) return holder_id_;
  presence_ = pool_.Dedicated();
  Reply r = presence_->Run(Command().Add("CLIENT").Add("ID"), Effect::read);
  CheckNotError(r.get(), "claim");
  holder_id_ = std::to_string(r->integer);
  return holder_id_;
}

std::string RedisEngine::DeadAmong(const redisReply* holders, const std::string& known_dead) {
  if (holders == nullptr || holders->type != REDIS_REPLY_ARRAY || holders->elements == 0) return {};
  std::unordered_set<std::string> dead;
  for (std::size_t p = 0, q; p < known_dead.size(); p = q + 1) {
    q = known_dead.find(' ', p);
    if (q == std::string::npos) q = known_dead.size();
    if (q > p) dead.insert(known_dead.substr(p, q - p));
  }
  Command ask;
  ask.Add("CLIENT").Add("LIST").Add("ID");
  std::vector<std::string> asked;
  for (std::size_t i = 0; i < holders->elements; ++i) {
    std::string id = Text(holders->element[i]);
    if (id.empty() || dead.count(id) || std::find(asked.begin(), asked.end(), id) != asked.end())
      continue;
    asked.push_back(std::move(id));
  }
  if (asked.empty()) return {};
  for (const std::string& id : asked) ask.Add(id);
  Reply r = pool_.Acquire()->Run(ask, Effect::read);
  if (r->type == REDIS_REPLY_ERROR) return {};  // not allowed to ask (ACL): leases decide alone
  const std::string_view list = ReplyText(r.get());
  std::string newly;
  for (const std::string& id : asked)
    if (!Listed(list, id)) newly += (newly.empty() ? "" : " ") + id;
  return newly;
}

void RedisEngine::SleepOn(const std::string& waiter_id, milliseconds wait) {
  const long long ms = std::max<long long>(wait.count(), 1);
  char secs[32];
  std::snprintf(secs, sizeof secs, "%lld.%03lld", ms / 1000, ms % 1000);
  const std::string list = "{" + name_ + "}:n:" + waiter_id;
  Reply r = pool_.Acquire()->RunBlocking(Command().Add("BLPOP").Add(list).Add(secs), wait);
  CheckNotError(r.get(), "wait");
}

RedisEngine::Attempt RedisEngine::Judge(Reply r) const {
  Attempt a;
  a.granted = r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
              r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 1;
  if (!a.granted && r->type == REDIS_REPLY_ARRAY && r->elements >= 3) {
    if (r->element[1]->type == REDIS_REPLY_INTEGER) a.retry_in_ms = r->element[1]->integer;
    a.holders = r->element[2];
  }
  a.reply = std::move(r);
  return a;
}

Reply RedisEngine::AttemptUntil(char kind, std::string_view subject, milliseconds wait,
                                const AttemptFn& attempt) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + wait;
  auto left = [&] {
    return std::max(milliseconds(0), std::chrono::ceil<milliseconds>(deadline - Clock::now()));
  };
  const std::string id = wait.count() > 0 ? NewWaiterId() : std::string();
  const std::string member = id.empty() ? id : id + kind + std::string(subject);
  bool registered = false;
  // Whatever happens, the entry and the list go (they would also lapse on their own).
  WaiterCleanup cleanup{this, id, member, registered};
  std::string dead;
  for (;;) {
    const milliseconds now_left = left();
    const bool may_wait = now_left.count() > 0 && !member.empty();
    Attempt a = attempt(dead, may_wait ? member : std::string(), now_left);
    if (a.granted) return std::move(a.reply);
    registered = registered || may_wait;
    const std::string newly = DeadAmong(a.holders, dead);
    if (!newly.empty()) {
      dead += (dead.empty() ? "" : " ") + newly;
      continue;
    }
    milliseconds sleep = left();
    if (sleep.count() <= 0 || !may_wait) return nullptr;
    if (a.retry_in_ms) sleep = std::min(sleep, milliseconds(std::max(*a.retry_in_ms, 1LL)));
    if (a.holders && a.holders->elements > 0) sleep = std::min(sleep, kLivenessRecheck);
    SleepOn(id, sleep);
  }
}

// --- claims ---

std::optional<Claim> RedisEngine::ClaimKey(std::string_view key, milliseconds lease) {
  const std::string vk = ValueKey(key), holder = HolderId(), l = Ms(lease);
  Reply r = AttemptUntil('c', key, milliseconds(0), [&](const std::string& dead, auto&, auto) {
    Reply reply = Eval(Script::claim, &vk, {key, l, holder, dead}, Effect::write);
    return Judge(std::move(reply));
  });
  if (!r) return std::nullopt;
  return Claim{std::string(key), Text(r->element[1]), TokenOf(r->element[2])};
}

std::optional<Claim> RedisEngine::ClaimRandom(std::string_view prefix, milliseconds lease) {
  const LexBounds b = LexBounds::Of(KeyFilter{prefix});
  const std::string holder = HolderId(), l = Ms(lease);
  Reply r = AttemptUntil('q', prefix, milliseconds(0), [&](const std::string& dead, auto&, auto) {
    const std::string u = UniformArg();
    return Judge(Eval(Script::claim_random, nullptr, {b.below, b.lo, b.hi, u, l, holder, dead},
                      Effect::write));
  });
  if (!r) return std::nullopt;
  return Claim{Text(r->element[1]), Text(r->element[2]), TokenOf(r->element[3])};
}

bool RedisEngine::Renew(std::string_view key, std::uint64_t token, milliseconds lease) {
  const std::string t = std::to_string(token), l = Ms(lease);
  return Eval(Script::renew, nullptr, {"c", key, t, l}, Effect::write)->integer == 1;
}

bool RedisEngine::GiveBack(char kind, std::string_view name, std::uint64_t token) {
  const std::string k(1, kind), t = std::to_string(token);
  return Eval(Script::give_back, nullptr, {k, name, t}, Effect::write)->integer == 1;
}

bool RedisEngine::Release(std::string_view key, std::uint64_t token) {
  return GiveBack('c', key, token);
}

bool RedisEngine::Complete(std::string_view key, std::uint64_t token) {
  const std::string vk = ValueKey(key), t = std::to_string(token);
  return Eval(Script::complete, &vk, {key, t}, Effect::write)->integer == 1;
}

// --- locks and semaphores ---

std::optional<std::uint64_t> RedisEngine::Take(char kind, std::string_view name,
                                               std::uint32_t limit, milliseconds lease,
                                               milliseconds wait) {
  const std::string k(1, kind), n = std::to_string(limit), l = Ms(lease), holder = HolderId();
  Reply r = AttemptUntil(
      kind, name, wait, [&](const std::string& dead, const std::string& waiter, milliseconds left) {
        const std::string w = Ms(left);
        return Judge(
            Eval(Script::take, nullptr, {k, name, n, l, holder, dead, waiter, w}, Effect::write));
      });
  if (!r) return std::nullopt;
  return TokenOf(r->element[1]);
}

std::optional<std::uint64_t> RedisEngine::Lock(std::string_view name, milliseconds lease,
                                               milliseconds wait) {
  return Take('l', name, 1, lease, wait);
}

bool RedisEngine::Unlock(std::string_view name, std::uint64_t token) {
  return GiveBack('l', name, token);
}

std::optional<std::uint64_t> RedisEngine::Acquire(std::string_view semaphore, std::uint32_t permits,
                                                  milliseconds wait) {
  return Take('p', semaphore, permits, milliseconds(0), wait);
}

bool RedisEngine::ReleasePermit(std::string_view semaphore, std::uint64_t token) {
  return GiveBack('p', semaphore, token);
}

// --- waiting ---

bool RedisEngine::WaitFor(std::string_view key, milliseconds timeout) {
  const std::string vk = ValueKey(key);
  Reply r = AttemptUntil('k', key, timeout,
                         [&](const std::string&, const std::string& waiter, milliseconds left) {
                           const std::string w = Ms(left);
                           Attempt a;
                           a.reply = Eval(Script::wait_key, &vk, {waiter, w}, Effect::write);
                           a.granted = a.reply->integer == 1;
                           return a;
                         });
  return r != nullptr;
}

RedisEngine::PopResult RedisEngine::PopPage(std::string_view prefix, std::size_t n,
                                            const std::string& dead, const std::string& waiter,
                                            milliseconds left) {
  const LexBounds b = LexBounds::Of(KeyFilter{prefix});
  const std::string w = Ms(left);
  Command c = EvalCommand(Script::pop, nullptr, {});
  c.Add(b.below).Add(b.lo).Add(b.hi).Add(dead).Add(waiter).Add(w);
  std::vector<std::string> us(n);
  for (std::string& u : us) c.Add(u = UniformArg());
  PopResult out;
  Reply r = RunScript(Script::pop, c, Effect::write);
  const redisReply* kv = r->element[0];
  for (std::size_t i = 0; i + 1 < kv->elements; i += 2)
    out.entries.push_back({Text(kv->element[i]), Text(kv->element[i + 1])});
  out.attempt.granted = !out.entries.empty();
  if (r->element[1]->type == REDIS_REPLY_INTEGER) out.attempt.retry_in_ms = r->element[1]->integer;
  out.attempt.holders = r->element[2];
  out.attempt.reply = std::move(r);
  return out;
}

std::optional<Entry> RedisEngine::PopRandomWait(std::string_view prefix, milliseconds timeout) {
  std::optional<Entry> popped;
  AttemptUntil('q', prefix, timeout,
               [&](const std::string& dead, const std::string& waiter, milliseconds left) {
                 PopResult p = PopPage(prefix, 1, dead, waiter, left);
                 if (!p.entries.empty()) popped = std::move(p.entries[0]);
                 return std::move(p.attempt);
               });
  return popped;
}

// --- barriers ---

std::optional<std::size_t> RedisEngine::Barrier(std::string_view name, std::uint32_t parties,
                                                milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + timeout;
  auto left = [&] {
    return std::max(milliseconds(0), std::chrono::ceil<milliseconds>(deadline - Clock::now()));
  };
  const std::string holder = HolderId(), p = std::to_string(parties);
  const std::string id = NewWaiterId(), member = id + 'b' + std::string(name);
  std::string dead;
  Reply arrived;
  for (;;) {
    arrived = Eval(Script::barrier_arrive, nullptr, {name, p, holder, dead, member, Ms(left())},
                   Effect::write);
    if (arrived->element[0]->integer == 1)
      return static_cast<std::size_t>(arrived->element[1]->integer);
    const std::string newly = DeadAmong(arrived->element[4], dead);
    if (newly.empty()) break;
    // A party of this round is gone: break the round (this arrival goes with it) and arrive
    // again in the next one. Arriving again without that would count this process twice.
    dead += (dead.empty() ? "" : " ") + newly;
    const std::string round = std::to_string(arrived->element[2]->integer);
    const std::string token = std::to_string(arrived->element[3]->integer);
    Reply r = Eval(Script::barrier_wait, nullptr, {name, round, token, dead, member, "0", "0"},
                   Effect::write);
    const std::string_view state = ReplyText(r->element[0]);
    if (state == "done") return static_cast<std::size_t>(arrived->element[1]->integer);
    if (state == "wait") break;  // the dead one had left already: this arrival stands
  }
  const std::size_t index = static_cast<std::size_t>(arrived->element[1]->integer);
  const std::string round = std::to_string(arrived->element[2]->integer);
  const std::string token = std::to_string(arrived->element[3]->integer);
  const bool registered = true;
  WaiterCleanup cleanup{this, id, member, registered};
  for (bool leave = false;;) {
    const milliseconds now_left = left();
    Reply r = Eval(Script::barrier_wait, nullptr,
                   {name, round, token, dead, now_left.count() > 0 ? member : std::string(),
                    Ms(now_left), leave ? "1" : "0"},
                   Effect::write);
    const std::string_view state = ReplyText(r->element[0]);
    if (state == "done") return index;
    if (state == "left") return std::nullopt;
    if (state == "broken")
      Throw(
          errc::broken,
          "barrier '" + PrintableBytes(name) + "' round " + round + " is broken: a party" +
              (r->element[1]->len ? " (Redis client " + Text(r->element[1]) + ")" : std::string()) +
              " died while the others waited");
    // Still waiting: a party gone from the server breaks the round at the next try.
    const std::string newly = DeadAmong(r->element[1], dead);
    if (!newly.empty()) {
      dead += (dead.empty() ? "" : " ") + newly;
      continue;
    }
    if (now_left.count() == 0) {
      leave = true;  // timed out with every party alive: withdraw
      continue;
    }
    SleepOn(id, r->element[1]->elements > 0 ? std::min(now_left, kLivenessRecheck) : now_left);
  }
}

// --- info ---

CoordinationInfo RedisEngine::CoordinationView(std::vector<std::string>* problems) {
  CoordinationInfo c{};
  // (Commands hold views of their arguments: every argument is a named string.)
  const std::string prefix = "{" + name_ + "}:g", pattern = prefix + "*";
  const std::string token_key = "{" + name_ + "}:tok";
  auto conn = pool_.Acquire();
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {
    Reply r = conn->Run(
        Command().Add("SCAN").Add(cursor).Add("MATCH").Add(pattern).Add("COUNT").Add("1000"),
        Effect::read);
    CheckNotError(r.get(), "info");
    cursor = Text(r->element[0]);
    for (std::size_t i = 0; i < r->element[1]->elements; ++i)
      keys.push_back(Text(r->element[1]->element[i]));
  } while (cursor != "0");
  std::sort(keys.begin(), keys.end());
  std::vector<Command> cmds(keys.size() + 4);
  cmds[0].Add("TIME");
  cmds[1].Add("GET").Add(token_key);
  cmds[2].Add("ZCARD").Add(waiters_key_);
  cmds[3].Add("CLIENT").Add("LIST");
  for (std::size_t i = 0; i < keys.size(); ++i)
    cmds[i + 4].Add("ZRANGE").Add(keys[i]).Add("0").Add("-1").Add("WITHSCORES");
  std::vector<Reply> r = conn->Run(cmds, Effect::read);
  for (std::size_t i = 0; i < r.size(); ++i)
    if (i != 3) CheckNotError(r[i].get(), "info");
  const long long now_ms =
      std::stoll(Text(r[0]->element[0])) * 1000 + std::stoll(Text(r[0]->element[1])) / 1000;
  c.last_token = r[1]->type == REDIS_REPLY_STRING ? TokenOf(r[1].get()) : 0;
  c.waiters = static_cast<std::uint32_t>(r[2]->integer);
  // Who is connected (CLIENT LIST refused by an ACL: every holder counts as alive).
  const std::string clients = r[3]->type == REDIS_REPLY_ERROR ? std::string() : Text(r[3].get());
  auto connected = [&](const std::string& id) {
    return r[3]->type == REDIS_REPLY_ERROR || Listed(clients, id);
  };
  for (std::size_t k = 0; k < keys.size(); ++k) {
    // {name}:g<kind>:<name>
    const char kind = keys[k][prefix.size()];
    const std::string name = keys[k].substr(prefix.size() + 2);
    const redisReply* members = r[k + 4].get();
    for (std::size_t i = 0; i + 1 < members->elements; i += 2) {
      const std::string member = Text(members->element[i]);
      const std::string score = Text(members->element[i + 1]);
      const std::size_t space = member.find(' ');
      GrantInfo g{};
      const bool well_formed =
          space != std::string::npos && space > 0 && space + 1 < member.size() &&
          member.find_first_not_of("0123456789 ") == std::string::npos &&
          member.find(' ', space + 1) == std::string::npos &&
          (score == "inf" || score.find_first_not_of("0123456789") == std::string::npos);
      if (!well_formed) {
        if (problems)
          problems->push_back("grant set " + PrintableBytes(keys[k]) + " has member '" +
                              PrintableBytes(member) + "' (score " + PrintableBytes(score) +
                              "), not '<token> <holder client id>' with a lease end in ms");
        continue;
      }
      g.kind = kind == 'c' ? "claim" : kind == 'l' ? "lock" : kind == 'p' ? "permit" : "arrival";
      g.name_head = name.substr(0, 8);
      g.name_bytes = static_cast<std::uint32_t>(name.size());
      std::from_chars(member.data(), member.data() + space, g.token);
      const std::string holder = member.substr(space + 1);
      std::from_chars(holder.data(), holder.data() + holder.size(), g.holder_client);
      g.holder_alive = connected(holder);
      g.lease_left_ms = score == "inf" ? -1 : std::max(0LL, std::stoll(score) - now_ms);
      if (problems && g.token > c.last_token)
        problems->push_back("grant set " + PrintableBytes(keys[k]) + " holds token " +
                            std::to_string(g.token) + ", above the store's last token " +
                            std::to_string(c.last_token));
      c.grants.push_back(std::move(g));
    }
  }
  c.used = static_cast<std::uint32_t>(c.grants.size());
  return c;
}

}  // namespace shmkv::detail
