// engine_lmdb.cpp: LMDB peer. A fresh environment in a mkdtemp() directory under /dev/shm,
// opened with MDB_NOSYNC | MDB_WRITEMAP | MDB_NOMETASYNC (plus MDB_NOTLS, so a reset read txn
// is not tied to the thread). Every worker opens its own environment after fork().
//   get  = mdb_txn_renew / mdb_get / copy out / mdb_txn_reset on the worker's read txn
//   set  = one write txn: mdb_put, commit
//   incr = one write txn: mdb_get, parse, +1, mdb_put, commit (counters are ASCII decimal)
//   pop  = one write txn: cursor MDB_FIRST, copy, mdb_cursor_del, commit
// The preload writes in key order with MDB_APPEND ("ctr:" sorts before "key:").
// Mix prefix (prefix.hpp): put and erase are one write txn each (mdb_put, mdb_del); list and
// scan position a cursor with MDB_SET_RANGE (at the prefix, or at the cursor key, skipped if
// present) and copy entries with MDB_NEXT; count walks the prefix's range; random_key counts,
// then walks to the i-th key (LMDB has no order statistics); pop_random does that in a write
// txn and deletes with the cursor. Reads use the worker's read txn (renew/reset).
#include <lmdb.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <stdexcept>
#include <utility>

#include "prefix.hpp"

namespace shmkv_bench {
namespace {

void check(int rc, const char* what) {
  if (rc != MDB_SUCCESS)
    throw std::runtime_error(std::string("lmdb: ") + what + ": " + mdb_strerror(rc));
}

constexpr unsigned kEnvFlags = MDB_NOSYNC | MDB_WRITEMAP | MDB_NOMETASYNC | MDB_NOTLS;

class Lmdb {
 public:
  explicit Lmdb(const Config& cfg) : cfg_(cfg) {
    char tmpl[] = "/dev/shm/shmkv-bench-lmdb.XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("lmdb: mkdtemp under /dev/shm failed");
    dir_ = tmpl;
    for (const char* f : {"", "/data.mdb", "/lock.mdb"}) register_cleanup_path(dir_ + f);
    // B+tree leaves with random overwrites are ~50-70% full and copy-on-write needs free pages:
    // reserve 4x the raw data plus slack. tmpfs only spends memory on touched pages.
    map_size_ = cfg.keys * (cfg.value_size + kKeyLen + 64) * 4 + (256ull << 20);
    open_env();
  }
  ~Lmdb() {
    close_env();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    for (const char* f : {"", "/data.mdb", "/lock.mdb"}) unregister_cleanup_path(dir_ + f);
  }

  void preload(const Dataset& ds) {
    MDB_txn* txn = nullptr;
    std::vector<char> val(ds.value_size);
    char key[kKeyLen];
    auto put = [&](const char* k, const char* v, std::size_t vlen, std::uint64_t n) {
      if (!txn) check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
      MDB_val mk{kKeyLen, const_cast<char*>(k)}, mv{vlen, const_cast<char*>(v)};
      check(mdb_put(txn, dbi_, &mk, &mv, MDB_APPEND), "put (preload)");
      if (n % 100000 == 99999) {
        check(mdb_txn_commit(txn), "commit");
        txn = nullptr;
      }
    };
    std::uint64_t n = 0;
    if (ds.counters)
      for (int c = 0; c < kCounters; ++c) put(Dataset::counter_name(c).data(), "0", 1, n++);
    for (std::uint64_t i = 0; i < ds.keys; ++i) {
      ds.key(i, key);
      ds.value(i, val.data());
      put(key, val.data(), val.size(), n++);
    }
    if (txn) check(mdb_txn_commit(txn), "commit");
  }
  std::string memory_report() {
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(env_, &info);
    mdb_env_stat(env_, &st);
    std::uint64_t bytes = (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
    char buf[200];
    std::snprintf(buf, sizeof buf, "map_bytes=%zu used_bytes=%llu bytes_per_key=%.1f",
                  info.me_mapsize, static_cast<unsigned long long>(bytes),
                  static_cast<double>(bytes) / cfg_.keys);
    return buf;
  }
  void close_handles() { close_env(); }
  void attach(int) {
    open_env();
    check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &rtxn_), "txn_begin (read)");
    mdb_txn_reset(rtxn_);
  }
  void reopen() { open_env(); }

  bool get(const char* key, std::size_t klen, Sink& sink) {
    char buf[4096];
    check(mdb_txn_renew(rtxn_), "txn_renew");
    MDB_val mk{klen, const_cast<char*>(key)}, mv;
    int rc = mdb_get(rtxn_, dbi_, &mk, &mv);
    std::size_t len = rc == MDB_SUCCESS ? mv.mv_size : 0;
    const char* p = nullptr;
    std::vector<char> big;
    if (rc == MDB_SUCCESS) {
      if (len <= sizeof buf) {
        copy_bytes(buf, mv.mv_data, len);
        p = buf;
      } else {
        big.assign(static_cast<char*>(mv.mv_data), static_cast<char*>(mv.mv_data) + len);
        p = big.data();
      }
    }
    mdb_txn_reset(rtxn_);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) check(rc, "get");
    sink.got(rc == MDB_SUCCESS, p, len);
    return rc == MDB_SUCCESS;
  }

  void exec(const Op* ops, std::size_t n, Sink& sink) {
    for (std::size_t i = 0; i < n; ++i) {
      const Op& op = ops[i];
      switch (op.kind) {
        case OpKind::get:
          get(op.key, kKeyLen, sink);
          break;
        case OpKind::set:
          put(std::string_view(op.key, kKeyLen), std::string_view(op.value, cfg_.value_size));
          break;
        case OpKind::incr:
          sink.incremented(incr(op.key));
          break;
        case OpKind::pop:
          pop(sink);
          if (sink.empty) return;
          break;
      }
    }
  }

  // --- mix prefix ---
  void put(std::string_view key, std::string_view value) {
    MDB_txn* txn;
    check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    MDB_val mk = val(key), mv = val(value);
    int rc = mdb_put(txn, dbi_, &mk, &mv, 0);
    if (rc != MDB_SUCCESS) mdb_txn_abort(txn);
    check(rc, "put");
    check(mdb_txn_commit(txn), "commit");
  }
  bool erase(std::string_view key) {
    MDB_txn* txn;
    check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    MDB_val mk = val(key);
    int rc = mdb_del(txn, dbi_, &mk, nullptr);
    if (rc != MDB_SUCCESS) mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "del");
    check(mdb_txn_commit(txn), "commit");
    return true;
  }
  std::uint64_t count(std::string_view prefix) {
    Cursor c(*this, Cursor::kRead);
    return count_range(c.cur, prefix);
  }
  std::optional<std::string> random_key(std::string_view prefix) {
    Cursor c(*this, Cursor::kRead);
    MDB_val mk, mv;
    if (!random_entry(c.cur, prefix, &mk, &mv)) return std::nullopt;
    return std::string(as_view(mk));
  }
  std::optional<std::string> pop_random(std::string_view prefix) {
    Cursor c(*this, Cursor::kWrite);
    MDB_val mk, mv;
    if (!random_entry(c.cur, prefix, &mk, &mv)) return std::nullopt;
    std::string key(as_view(mk));
    popped_value_.assign(as_view(mv));
    check(mdb_cursor_del(c.cur, 0), "cursor_del");
    c.commit();
    return key;
  }
  void list(std::string_view prefix, std::size_t limit, Page& out) {
    Cursor c(*this, Cursor::kRead);
    MDB_val mk, mv;
    copy_range(c.cur, seek(c.cur, prefix, &mk, &mv), &mk, &mv, prefix, limit, out);
  }
  void scan(std::string_view cursor, std::size_t limit, Page& out) {
    Cursor c(*this, Cursor::kRead);
    MDB_val mk, mv;
    int rc = seek(c.cur, cursor, &mk, &mv);
    if (rc == MDB_SUCCESS && as_view(mk) == cursor) rc = mdb_cursor_get(c.cur, &mk, &mv, MDB_NEXT);
    copy_range(c.cur, rc, &mk, &mv, "", limit, out);
  }

  std::int64_t read_counter(const std::string& key) {
    MDB_txn* txn;
    check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn), "txn_begin");
    MDB_val mk{key.size(), const_cast<char*>(key.data())}, mv;
    int rc = mdb_get(txn, dbi_, &mk, &mv);
    std::int64_t v = 0;
    bool ok = rc == MDB_SUCCESS && parse_i64(static_cast<char*>(mv.mv_data), mv.mv_size, &v);
    mdb_txn_abort(txn);
    if (!ok) throw std::runtime_error("lmdb: counter " + key + " missing or not a number");
    return v;
  }
  std::uint64_t remaining_keys() {
    MDB_txn* txn;
    MDB_stat st;
    check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn), "txn_begin");
    int rc = mdb_stat(txn, dbi_, &st);
    mdb_txn_abort(txn);
    check(rc, "stat");
    return st.ms_entries;
  }
  std::string final_check() { return ""; }

 private:
  static MDB_val val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
  static std::string_view as_view(const MDB_val& v) {
    return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
  }

  // A cursor in the worker's read txn (renewed, reset at the end) or in a new write txn
  // (aborted at the end unless commit() ran).
  class Cursor {
   public:
    enum Mode { kRead, kWrite };
    Cursor(Lmdb& db, Mode mode) : mode_(mode) {
      if (mode == kWrite) {
        check(mdb_txn_begin(db.env_, nullptr, 0, &txn_), "txn_begin");
      } else {
        txn_ = db.rtxn_;
        check(mdb_txn_renew(txn_), "txn_renew");
      }
      int rc = mdb_cursor_open(txn_, db.dbi_, &cur);
      if (rc != MDB_SUCCESS) end();
      check(rc, "cursor_open");
    }
    Cursor(const Cursor&) = delete;
    Cursor& operator=(const Cursor&) = delete;
    ~Cursor() {
      if (cur) mdb_cursor_close(cur);
      if (txn_) end();
    }
    void commit() {
      mdb_cursor_close(cur);
      cur = nullptr;
      MDB_txn* txn = std::exchange(txn_, nullptr);
      check(mdb_txn_commit(txn), "commit");
    }
    MDB_cursor* cur = nullptr;

   private:
    void end() {
      if (mode_ == kWrite)
        mdb_txn_abort(txn_);
      else
        mdb_txn_reset(txn_);
      txn_ = nullptr;
    }
    Mode mode_;
    MDB_txn* txn_ = nullptr;
  };

  // rc of the cursor's last positioning: is it on a key with the prefix?
  static bool in_range(int rc, const MDB_val& mk, std::string_view prefix) {
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "cursor_get");
    return as_view(mk).starts_with(prefix);
  }
  // Positions the cursor on the first key >= key (MDB_SET_RANGE; MDB_FIRST for ""); its rc.
  static int seek(MDB_cursor* cur, std::string_view key, MDB_val* mk, MDB_val* mv) {
    *mk = val(key);
    return mdb_cursor_get(cur, mk, mv, key.empty() ? MDB_FIRST : MDB_SET_RANGE);
  }
  static std::uint64_t count_range(MDB_cursor* cur, std::string_view prefix) {
    MDB_val mk, mv;
    std::uint64_t n = 0;
    for (int rc = seek(cur, prefix, &mk, &mv); in_range(rc, mk, prefix);
         rc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT))
      ++n;
    return n;
  }
  // Counts the keys with the prefix, then walks to a uniformly drawn one; false if none.
  bool random_entry(MDB_cursor* cur, std::string_view prefix, MDB_val* mk, MDB_val* mv) {
    const std::uint64_t n = count_range(cur, prefix);
    if (n == 0) return false;
    int rc = seek(cur, prefix, mk, mv);
    for (std::uint64_t i = rng_() % n; i > 0 && rc == MDB_SUCCESS; --i)
      rc = mdb_cursor_get(cur, mk, mv, MDB_NEXT);
    check(rc, "cursor_get (random)");
    return true;
  }
  // Copies up to limit entries with the prefix, from the cursor's position (rc, *mk, *mv) on.
  static void copy_range(MDB_cursor* cur, int rc, MDB_val* mk, MDB_val* mv, std::string_view prefix,
                         std::size_t limit, Page& out) {
    out.clear();
    for (; out.size() < limit && in_range(rc, *mk, prefix);
         rc = mdb_cursor_get(cur, mk, mv, MDB_NEXT))
      out.push_back({std::string(as_view(*mk)), std::string(as_view(*mv))});
  }

  void open_env() {
    check(mdb_env_create(&env_), "env_create");
    check(mdb_env_set_mapsize(env_, map_size_), "set_mapsize");
    check(mdb_env_set_maxreaders(env_, 512), "set_maxreaders");
    check(mdb_env_open(env_, dir_.c_str(), kEnvFlags, 0600), "env_open");
    MDB_txn* txn;
    check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    check(mdb_dbi_open(txn, nullptr, MDB_CREATE, &dbi_), "dbi_open");
    check(mdb_txn_commit(txn), "commit");
  }
  void close_env() {
    if (rtxn_) mdb_txn_abort(rtxn_);
    rtxn_ = nullptr;
    if (env_) mdb_env_close(env_);
    env_ = nullptr;
  }

  std::int64_t incr(const char* key) {
    MDB_txn* txn;
    check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    MDB_val mk{kKeyLen, const_cast<char*>(key)}, mv;
    std::int64_t v = 0;
    int rc = mdb_get(txn, dbi_, &mk, &mv);
    if (rc == MDB_SUCCESS && !parse_i64(static_cast<char*>(mv.mv_data), mv.mv_size, &v)) {
      mdb_txn_abort(txn);
      throw std::runtime_error("lmdb: counter is not a number");
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
      mdb_txn_abort(txn);
      check(rc, "get (incr)");
    }
    ++v;
    char buf[24];
    MDB_val nv{format_i64(v, buf), buf};
    rc = mdb_put(txn, dbi_, &mk, &nv, 0);
    if (rc != MDB_SUCCESS) mdb_txn_abort(txn);
    check(rc, "put (incr)");
    check(mdb_txn_commit(txn), "commit");
    return v;
  }

  void pop(Sink& sink) {
    Cursor c(*this, Cursor::kWrite);
    MDB_val mk, mv;
    int rc = mdb_cursor_get(c.cur, &mk, &mv, MDB_FIRST);
    if (rc == MDB_NOTFOUND) {
      sink.pop_empty();
      return;
    }
    check(rc, "pop");
    char key[256];
    std::size_t klen = mk.mv_size < sizeof key ? mk.mv_size : sizeof key;
    std::size_t vlen = mv.mv_size;
    std::memcpy(key, mk.mv_data, klen);
    check(mdb_cursor_del(c.cur, 0), "pop");
    c.commit();
    sink.popped_one(key, klen, vlen);
  }

  const Config& cfg_;
  std::string dir_;
  std::size_t map_size_ = 0;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  MDB_txn* rtxn_ = nullptr;
  std::mt19937_64 rng_{cfg_.seed};
  std::string popped_value_;  // pop_random's copy of the value
};

}  // namespace

int run_lmdb(const Config& cfg) {
  return cfg.mix == Mix::prefix ? run_prefix<Lmdb>(cfg) : run_bench<Lmdb>(cfg);
}

}  // namespace shmkv_bench
