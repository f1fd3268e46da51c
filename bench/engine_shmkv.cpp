// engine_shmkv.cpp: the store under test. The parent creates a fresh segment
// "shmkv-bench.<pid>" and preloads it with Store::set; every worker attaches with its own
// Store::open after fork(). Two variants of the segment's options:
// - Engine shmkv (and shmkv-batch) is the store a new user gets: Options::name and
//   Options::size_bytes = keys * 400 + 64 MiB, every other option at its library default (no
//   max_keys, no home blocks; shards as --shards says, 0 = the library's choice), where mix
//   insert counts keys + workers * ops as keys. This is the variant the headline figures come
//   from (issue 19).
// - Engine shmkv-tuned sizes the store for the workload by hand: max_keys = keys * 1.3 + 1024,
//   home blocks of the record size (32 + key + value bytes) when that is at most 512 bytes, or as
//   --home-block-bytes says, and size_bytes = keys * 400 + 64 MiB + 1.25 * max_keys home blocks.
// get = Store::get(key, &buffer) (the buffer, reused, is the
// copy), set = Store::set, incr = Store::increment_by(key, 1), pop = Store::pop_random() (no
// prefix: in the pop mix the store holds only the N keys). Engine shmkv-batch is the defaults
// store with each batch's consecutive gets sent as one get_many (the batched-read API), like
// redis-pipe for Redis. Mix prefix (prefix.hpp): put = set, erase = del, and random_key, count,
// pop_random, list and scan are the Store calls of the same names.
// Engine shmkv-redis is the same Store on its Redis engine: the parent starts its own
// redis-server the way engines redis and redis-pipe do (redis_server.hpp) and every handle opens
// the store "shmkv-bench.<pid>" with Options::url = unix://<its socket> and nothing else (the
// segment options above do not apply); the preload goes through set_many, 4096 keys a call.
// Each operation is then one round trip of the Redis engine (get = GET, set and incr = a
// MULTI/EXEC transaction, pop = a script): set against engine redis's, what the engine adds.
#include <unistd.h>

#include <cinttypes>
#include <optional>
#include <shmkv/shmkv.hpp>

#include "prefix.hpp"
#include "redis_server.hpp"

namespace shmkv_bench {
namespace {

class Shmkv {
 public:
  explicit Shmkv(const Config& cfg) : cfg_(cfg) {
    name_ = "shmkv-bench." + std::to_string(::getpid());
    shmkv::Options o = options(shmkv::OpenMode::create_only);
    if (on_redis_) {
      server_.emplace(cfg.redis_server);
      url_ = server_->url();
      o.url = url_;
    } else {
      if (shmkv::Store::segment_exists(name_)) shmkv::Store::destroy(name_);
      // Mix insert adds workers * ops new keys to the preloaded ones.
      const std::uint64_t keys =
          cfg.keys +
          (cfg.mix == Mix::insert ? cfg.ops * static_cast<std::uint64_t>(cfg.workers) : 0);
      o.size_bytes = keys * 400 + (64ull << 20);
      o.shards = cfg.shards;
      if (cfg.engine == "shmkv-tuned") {
        o.max_keys = keys + keys * 3 / 10 + 1024;
        const std::uint64_t record = 32 + kKeyLen + cfg.value_size;
        o.home_block_bytes = static_cast<std::uint32_t>(
            cfg.home_block_bytes >= 0 ? cfg.home_block_bytes : (record <= 512 ? record : 0));
        o.size_bytes += o.max_keys * 5 / 4 * o.home_block_bytes;
      }
      register_cleanup_path("/dev/shm/shmkv." + name_);  // where options.hpp says it lives
    }
    store_ = shmkv::Store::open(o);
    if (on_redis_) baseline_memory_ = store_->info().redis->used_memory;
  }
  ~Shmkv() {
    store_.reset();
    if (on_redis_) return;  // the server, and the store with it, goes with server_
    try {
      shmkv::Store::destroy(name_);
      unregister_cleanup_path("/dev/shm/shmkv." + name_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shmkv-bench: destroy %s: %s\n", name_.c_str(), e.what());
    }
  }

  void preload(const Dataset& ds) {
    char key[kKeyLen];
    std::string val(ds.value_size, '\0');
    std::vector<std::pair<std::string, std::string>> batch;
    for (std::uint64_t i = 0; i < ds.keys; ++i) {
      ds.key(i, key);
      ds.value(i, val.data());
      if (!on_redis_) {
        store_->set(std::string_view(key, kKeyLen), val);
        continue;
      }
      batch.emplace_back(std::string(key, kKeyLen), val);
      if (batch.size() == kPreloadBatch) {
        store_->set_many(batch);
        batch.clear();
      }
    }
    if (!batch.empty()) store_->set_many(batch);
    if (ds.counters)
      for (int c = 0; c < kCounters; ++c) store_->set(Dataset::counter_name(c), "0");
  }
  std::string memory_report() {
    shmkv::Info in = store_->info();
    if (in.redis) {
      char buf[200];
      std::snprintf(buf, sizeof buf,
                    "used_memory=%" PRIu64 " baseline=%" PRIu64 " index_entries=%" PRIu64
                    " bytes_per_key=%.1f (includes the ordered index)",
                    in.redis->used_memory, baseline_memory_, in.redis->index_entries,
                    static_cast<double>(in.redis->used_memory - baseline_memory_) / cfg_.keys);
      return buf;
    }
    std::uint64_t records = 0;
    for (const auto& s : in.shard) records += s.used_bytes;
    std::uint64_t index = in.size_bytes - in.arena_bytes;  // header, tables, dense arrays
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "shards=%u max_keys=%" PRIu64 " size_bytes=%" PRIu64 " arena_used_bytes=%" PRIu64
                  " record_bytes=%" PRIu64 " index_bytes=%" PRIu64
                  " bytes_per_key=%.1f record_bytes_per_key=%.1f index_bytes_per_key=%.1f"
                  " raw_bytes_per_key=%u home_block_bytes=%u home_records=%.3f",
                  in.shards, in.max_keys, in.size_bytes, in.arena_used_bytes, records, index,
                  static_cast<double>(in.arena_used_bytes + index) / in.live_keys,
                  static_cast<double>(records) / in.live_keys,
                  static_cast<double>(index) / in.live_keys,
                  static_cast<unsigned>(kKeyLen + cfg_.value_size), in.home_block_bytes,
                  static_cast<double>(in.home_records) / in.live_keys);
    return buf;
  }
  void close_handles() { store_.reset(); }
  void attach(int) { store_ = shmkv::Store::open(options(shmkv::OpenMode::attach_only)); }
  void reopen() { attach(0); }

  bool get(const char* key, std::size_t klen, Sink& sink) {
    bool found = store_->get(std::string_view(key, klen), &value_);
    sink.got(found, value_.data(), value_.size());
    return found;
  }

  // Runs of consecutive gets go through one get_many call (engine shmkv-batch).
  void flush_gets(Sink& sink) {
    if (pending_.empty()) return;
    store_->get_many(pending_, &results_);
    for (const auto& r : results_)
      sink.got(r.has_value(), r ? r->data() : nullptr, r ? r->size() : 0);
    pending_.clear();
  }

  void exec(const Op* ops, std::size_t n, Sink& sink) {
    shmkv::Store& s = *store_;
    for (std::size_t i = 0; i < n; ++i) {
      const Op& op = ops[i];
      if (batch_gets_) {
        if (op.kind == OpKind::get) {
          pending_.emplace_back(op.key, kKeyLen);
          continue;
        }
        flush_gets(sink);
      }
      switch (op.kind) {
        case OpKind::get:
          get(op.key, kKeyLen, sink);
          break;
        case OpKind::set:
          s.set(std::string_view(op.key, kKeyLen), std::string_view(op.value, cfg_.value_size));
          break;
        case OpKind::incr:
          sink.incremented(s.increment_by(std::string_view(op.key, kKeyLen), 1));
          break;
        case OpKind::pop: {
          std::optional<shmkv::Entry> e = s.pop_random();
          if (!e) {
            sink.pop_empty();
            return;
          }
          sink.popped_one(e->key.data(), e->key.size(), e->value.size());
          break;
        }
      }
    }
    if (batch_gets_) flush_gets(sink);
  }

  // --- mix prefix ---
  void put(std::string_view key, std::string_view value) { store_->set(key, value); }
  bool erase(std::string_view key) { return store_->del(key); }
  std::optional<std::string> random_key(std::string_view prefix) {
    return store_->random_key(prefix);
  }
  std::uint64_t count(std::string_view prefix) { return store_->count(prefix); }
  std::optional<std::string> pop_random(std::string_view prefix) {
    std::optional<shmkv::Entry> e = store_->pop_random(prefix);
    if (!e) return std::nullopt;
    return std::move(e->key);
  }
  void list(std::string_view prefix, std::size_t limit, Page& out) {
    to_page(store_->list(shmkv::ListOptions{std::string(prefix), limit}), out);
  }
  void scan(std::string_view cursor, std::size_t limit, Page& out) {
    to_page(store_->scan(shmkv::ScanOptions{"", limit, std::string(cursor)}).entries, out);
  }

  std::int64_t read_counter(const std::string& key) {
    std::optional<std::string> v = store_->get(key);
    std::int64_t n = 0;
    if (!v || !parse_i64(v->data(), v->size(), &n))
      throw std::runtime_error("shmkv: counter " + key + " missing or not a number");
    return n;
  }
  std::uint64_t remaining_keys() { return store_->size(); }
  std::string final_check() {
    shmkv::Stats st = store_->stats();
    std::printf("shmkv stats: gets=%" PRIu64 " hits=%" PRIu64 " misses=%" PRIu64 " sets=%" PRIu64
                " deletes=%" PRIu64 " lock_waits=%" PRIu64 " recoveries=%" PRIu64 "\n",
                st.gets, st.hits, st.misses, st.sets, st.deletes, st.lock_waits, st.recoveries);
    std::vector<std::string> bad = store_->check_invariants();
    if (bad.empty()) return "";
    std::string msg = "check_invariants: " + std::to_string(bad.size()) + " violations, first: ";
    for (std::size_t i = 0; i < bad.size() && i < 3; ++i) msg += (i ? "; " : "") + bad[i];
    return msg;
  }

 private:
  // Sets per set_many call of a Redis preload.
  static constexpr std::size_t kPreloadBatch = 4096;

  // The options every handle opens with; the segment's sizes are the creator's (constructor).
  shmkv::Options options(shmkv::OpenMode mode) const {
    shmkv::Options o;
    o.name = name_;
    o.open_mode = mode;
    o.url = url_;
    if (!on_redis_) o.verify_reads = cfg_.verify_reads;
    return o;
  }

  static void to_page(std::vector<shmkv::Entry>&& entries, Page& out) {
    out.clear();
    for (shmkv::Entry& e : entries) out.push_back({std::move(e.key), std::move(e.value)});
  }

  const Config& cfg_;
  const bool on_redis_ = cfg_.engine == "shmkv-redis";
  std::optional<RedisServer> server_;  // engine shmkv-redis: the server the store lives on
  std::string name_, url_;
  std::uint64_t baseline_memory_ = 0;  // shmkv-redis: the server's used_memory before the preload
  std::optional<shmkv::Store> store_;
  std::string value_;
  const bool batch_gets_ = cfg_.engine == "shmkv-batch";
  std::vector<std::string_view> pending_;
  std::vector<std::optional<std::string>> results_;
};

}  // namespace

int run_shmkv(const Config& cfg) {
  return cfg.mix == Mix::prefix ? run_prefix<Shmkv>(cfg) : run_bench<Shmkv>(cfg);
}

}  // namespace shmkv_bench
