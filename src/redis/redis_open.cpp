// redis_open.cpp: opening, destroying and describing a Redis store (RedisEngine,
// redis_engine.hpp): the checks of the server and of the options at open, the store's meta
// hash, info() and check_invariants().
//
// At open: the url is parsed (invalid_argument), the shared-memory engine's options must be at
// their defaults (invalid_argument naming the first that is not), the server must run Redis
// >= 7.0 (incompatible_layout) and must not evict keys (invalid_argument naming its
// maxmemory-policy: an evicted value would leave its index entry behind). Then the scripts are
// loaded and the meta hash {name}:meta created or read, atomically (one script), as open_mode
// says; an attach adopts the store's key and value limits, refusing others the caller set, as
// the shared-memory engine does.
#include <cstring>

#include "engine/key_range.hpp"
#include "os/os.hpp"
#include "os/throw.hpp"
#include "redis/redis_engine.hpp"

namespace shmkv::detail {
namespace {

constexpr std::string_view kLayoutVersion = "1";
// The largest value a Redis string holds (proto-max-bulk-len's default).
constexpr std::uint64_t kRedisMaxValueBytes = 512ull << 20;

// The value of `field:` in an INFO reply, or "".
std::string InfoField(std::string_view info, std::string_view field) {
  const std::string needle = "\n" + std::string(field) + ":";
  std::size_t at = info.starts_with(std::string(field) + ":") ? 0 : info.find(needle);
  if (at == std::string_view::npos) return {};
  at = info.find(':', at + 1) + 1;
  const std::size_t end = info.find_first_of("\r\n", at);
  return std::string(info.substr(at, end - at));
}

std::uint64_t ToU64(const std::string& s) {
  return s.empty() ? 0 : std::strtoull(s.c_str(), nullptr, 10);
}

// The first shared-memory option set to something else than its default, or nullptr.
const char* SharedMemoryOptionSet(const Options& o) {
  static const Options kDefault;  // static: see shmkv_options_init (GCC 12 and std::optional)
  if (o.size_bytes != kDefault.size_bytes) return "size_bytes";
  if (o.shards != kDefault.shards) return "shards";
  if (o.max_keys != kDefault.max_keys) return "max_keys";
  if (o.home_block_bytes != kDefault.home_block_bytes) return "home_block_bytes";
  if (o.ordered_index != kDefault.ordered_index) return "ordered_index";
  if (o.mode != kDefault.mode) return "mode";
  if (o.trusted_group) return "trusted_group";
  if (o.verify_reads != kDefault.verify_reads) return "verify_reads";
  if (o.persistence) return "persistence";
  return nullptr;
}

}  // namespace

RedisEngine::RedisEngine(const Options& options, RedisAddress address)
    : pool_(std::move(address), options),
      name_(options.name),
      index_key_("{" + options.name + "}:i"),
      expiry_key_("{" + options.name + "}:e"),
      meta_key_("{" + options.name + "}:meta"),
      value_prefix_("{" + options.name + "}:v:"),
      waiters_key_("{" + options.name + "}:w") {
  limits_.name = options.name;
  limits_.read_only = options.open_mode == OpenMode::read_only;
}

void RedisEngine::LoadScripts() {
  std::vector<Command> loads(static_cast<std::size_t>(Script::kCount));
  for (std::size_t i = 0; i < loads.size(); ++i)
    loads[i].Add("SCRIPT").Add("LOAD").Add(ScriptText(static_cast<Script>(i)));
  std::vector<Reply> replies = pool_.Acquire()->Run(loads, Effect::read);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    CheckNotError(replies[i].get(), "loading the scripts");
    const std::string sha(ReplyText(replies[i].get()));
    // The digest of a text never changes: a reload writes the same bytes (and a concurrent
    // reader of sha_ reads them either way).
    if (sha_[i].empty()) sha_[i] = sha;
  }
}

void RedisEngine::OpenMeta(const Options& options) {
  const bool may_create =
      options.open_mode == OpenMode::create_or_attach || options.open_mode == OpenMode::create_only;
  const std::string mk = std::to_string(options.max_key_bytes),
                    mv = std::to_string(options.max_value_bytes),
                    now = std::to_string(os::NowUnixMs());
  Command c;
  c.Add("EVALSHA").Add(sha_[static_cast<std::size_t>(Script::create_meta)]).Add("1").Add(meta_key_);
  c.Add(kLayoutVersion).Add(mk).Add(mv).Add(now).Add(may_create ? "1" : "0");
  Reply r = pool_.Acquire()->Run(c, Effect::write);
  CheckNotError(r.get(), "open");
  const long long state = r->element[0]->integer;
  limits_.max_key_bytes = options.max_key_bytes;
  limits_.max_value_bytes = options.max_value_bytes;
  const std::string where = "store '" + name_ + "' at " + pool_.address().Display();
  if (state == -1) Throw(errc::not_found, where + " does not exist");
  if (state == 1) return;
  if (options.open_mode == OpenMode::create_only) Throw(errc::already_exists, where + " exists");
  std::string layout, key_bytes, value_bytes;
  const redisReply* fields = r->element[1];
  for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
    const std::string_view f = ReplyText(fields->element[i]);
    const std::string v(ReplyText(fields->element[i + 1]));
    if (f == "layout") layout = v;
    if (f == "max_key_bytes") key_bytes = v;
    if (f == "max_value_bytes") value_bytes = v;
  }
  if (layout != kLayoutVersion)
    Throw(errc::incompatible_layout, where + " has layout version '" + layout +
                                         "'; this build reads version " +
                                         std::string(kLayoutVersion));
  static const Options kDefault;
  auto adopt = [&](const char* option, std::uint32_t given, std::uint32_t dflt,
                   const std::string& stored, std::uint32_t* into) {
    const std::uint64_t store = ToU64(stored);
    if (store == 0 || store > kRedisMaxValueBytes)
      Throw(errc::corrupted, where + " has " + option + " '" + stored + "' in " + meta_key_);
    if (given != dflt && given != store)
      Throw(errc::invalid_argument,
            where + " exists with " + option + " " + stored + "; this open asks for " + option +
                " " + std::to_string(given) + " (leave " + option + " at its default, " +
                std::to_string(dflt) + ", to attach with the store's value)");
    *into = static_cast<std::uint32_t>(store);
  };
  adopt("max_key_bytes", options.max_key_bytes, kDefault.max_key_bytes, key_bytes,
        &limits_.max_key_bytes);
  adopt("max_value_bytes", options.max_value_bytes, kDefault.max_value_bytes, value_bytes,
        &limits_.max_value_bytes);
}

std::unique_ptr<Engine> RedisEngine::Open(const Options& options) {
  RedisAddress address = ParseRedisUrl(options.url);
  if (const char* option = SharedMemoryOptionSet(options))
    Throw(errc::invalid_argument,
          std::string("option ") + option + " applies to the shared-memory engine only; store '" +
              options.name + "' is on " + address.Display() + " (leave it at its default)");
  if (options.max_key_bytes == 0 || options.max_key_bytes > 65535)
    Throw(errc::invalid_argument, "max_key_bytes " + std::to_string(options.max_key_bytes) +
                                      " is out of range; it must be 1..65535");
  if (options.max_value_bytes > kRedisMaxValueBytes)
    Throw(errc::invalid_argument, "max_value_bytes " + std::to_string(options.max_value_bytes) +
                                      " is above the " + std::to_string(kRedisMaxValueBytes) +
                                      " bytes a Redis string holds");
  auto engine = std::make_unique<RedisEngine>(options, std::move(address));
  const std::string where = engine->pool_.address().Display();
  {
    auto conn = engine->pool_.Acquire();
    Reply info = conn->Run(Command().Add("INFO").Add("server"), Effect::read);
    engine->CheckNotError(info.get(), "open");
    engine->server_version_ = InfoField(ReplyText(info.get()), "redis_version");
    if (ToU64(engine->server_version_.substr(0, engine->server_version_.find('.'))) < 7)
      Throw(errc::incompatible_layout, where + " runs Redis " + engine->server_version_ +
                                           "; shmkv needs 7.0 or later (scripts with flags)");
    Reply memory = conn->Run(Command().Add("INFO").Add("memory"), Effect::read);
    engine->CheckNotError(memory.get(), "open");
    const std::string policy = InfoField(ReplyText(memory.get()), "maxmemory_policy");
    if (!policy.empty() && policy != "noeviction")
      Throw(errc::invalid_argument,
            where + " evicts keys (maxmemory-policy " + policy +
                "): a store's values would vanish from under its index; use a server with "
                "maxmemory-policy noeviction");
  }
  engine->LoadScripts();
  engine->OpenMeta(options);
  return engine;
}

void RedisEngine::DestroyStore(const Options& options) {
  Options attach = options;
  attach.open_mode = OpenMode::attach_only;
  std::unique_ptr<Engine> engine = Open(attach);  // not_found when absent
  auto& redis = static_cast<RedisEngine&>(*engine);
  redis.Clear();
  Reply r = redis.pool_.Acquire()->Run(Command().Add("DEL").Add(redis.meta_key_), Effect::write);
  redis.CheckNotError(r.get(), "destroy");
}

bool RedisEngine::StoreExists(const Options& options) {
  const RedisAddress address = ParseRedisUrl(options.url);
  ConnectionPool pool(address, options);
  const std::string meta = "{" + options.name + "}:meta";
  Reply r = pool.Acquire()->Run(Command().Add("EXISTS").Add(meta), Effect::read);
  if (r->type == REDIS_REPLY_ERROR)
    Throw(errc::io_error, "EXISTS " + meta + " at " + address.Display() +
                              " failed: " + std::string(ReplyText(r.get())));
  return r->integer == 1;
}

Info RedisEngine::GetInfo() {
  Info info{};
  info.engine = "redis";
  info.name = name_;
  info.max_key_bytes = limits_.max_key_bytes;
  info.max_value_bytes = limits_.max_value_bytes;
  info.live_keys = Size();
  RedisInfo redis{};
  redis.url = pool_.address().Display();
  redis.server_version = server_version_;
  std::vector<Command> cmds(3);
  cmds[0].Add("ZCARD").Add(index_key_);
  cmds[1].Add("ZCARD").Add(expiry_key_);
  cmds[2].Add("INFO").Add("memory");
  std::vector<Reply> r = pool_.Acquire()->Run(cmds, Effect::read);
  for (const Reply& reply : r) CheckNotError(reply.get(), "info");
  redis.index_entries = static_cast<std::uint64_t>(r[0]->integer);
  redis.expiring_entries = static_cast<std::uint64_t>(r[1]->integer);
  redis.used_memory = ToU64(InfoField(ReplyText(r[2].get()), "used_memory"));
  redis.maxmemory = ToU64(InfoField(ReplyText(r[2].get()), "maxmemory"));
  info.redis = std::move(redis);
  info.coordination = CoordinationView();
  return info;
}

std::vector<std::string> RedisEngine::CheckInvariants() {
  std::vector<std::string> problems;
  const std::string batch = "1000";
  auto report = [&](const redisReply* items) {
    for (std::size_t i = 0; i + 2 < items->elements; i += 3) {
      const std::string key = PrintableBytes(ReplyText(items->element[i]));
      const std::string_view what = ReplyText(items->element[i + 1]);
      const std::string detail(ReplyText(items->element[i + 2]));
      if (what == "no_value")
        problems.push_back("index " + index_key_ + " has key '" + key + "', which has no value");
      else if (what == "wrong_type")
        problems.push_back("the value key of '" + key + "' is a " + detail + ", not a string");
      else if (what == "expiry_without_ttl")
        problems.push_back("key '" + key + "' has no TTL but " + expiry_key_ + " says " + detail);
      else if (what == "ttl_not_indexed")
        problems.push_back("key '" + key + "' expires at " + detail + " but is not in " +
                           expiry_key_);
      else if (what == "expiry_differs")
        problems.push_back("key '" + key + "': " + expiry_key_ + " and its TTL disagree (" +
                           detail + ")");
      else if (what == "expiry_not_indexed")
        problems.push_back(expiry_key_ + " has key '" + key + "', which is not in " + index_key_);
    }
  };
  for (const char* which : {"i", "e"}) {
    std::string at = *which == 'i' ? "-" : "0";
    for (;;) {
      Reply r = Eval(Script::check_page, nullptr, {value_prefix_, which, at, batch}, Effect::read);
      report(r->element[1]);
      if (r->element[0]->type != REDIS_REPLY_STRING) break;
      at = std::string(ReplyText(r->element[0]));
    }
  }
  CoordinationView(&problems);  // the grants' members and tokens
  // Value keys the index does not know: SCAN over the store's value keys (the name has no glob
  // character: [A-Za-z0-9._-] and the braces are literal).
  auto conn = pool_.Acquire();
  std::string cursor = "0";
  const std::string pattern = value_prefix_ + "*";
  do {
    Reply r = conn->Run(
        Command().Add("SCAN").Add(cursor).Add("MATCH").Add(pattern).Add("COUNT").Add(batch),
        Effect::read);
    CheckNotError(r.get(), "check_invariants");
    cursor = std::string(ReplyText(r->element[0]));
    const redisReply* keys = r->element[1];
    std::vector<Command> scores(keys->elements);
    std::vector<std::string_view> members(keys->elements);
    for (std::size_t i = 0; i < keys->elements; ++i) {
      members[i] = ReplyText(keys->element[i]).substr(value_prefix_.size());
      scores[i].Add("ZSCORE").Add(index_key_).Add(members[i]);
    }
    if (scores.empty()) continue;
    std::vector<Reply> found = conn->Run(scores, Effect::read);
    for (std::size_t i = 0; i < found.size(); ++i)
      if (found[i]->type == REDIS_REPLY_NIL)
        problems.push_back("key '" + PrintableBytes(members[i]) + "' has a value but is not in " +
                           index_key_);
  } while (cursor != "0");
  return problems;
}

}  // namespace shmkv::detail
