// fuzz_api_child.cpp: the public API run against a corrupted segment (see fuzz_api_child.hpp).
//
// Invariants: runs only in a forked child; every result goes to the shared ApiReport before the
// next call, so a crash loses nothing already seen. The model holds, per key: its value, whether
// it has a TTL, and how sure we are that it is there (certain; maybe absent, for an excused key;
// unknown, after a failed mutation touched it). Only certain facts are asserted.
#include "fuzz_api_child.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shmkv/shmkv.hpp"

namespace fuzz {

namespace {

using namespace std::chrono_literals;
using shmkv::errc;

struct StopRun {};  // errc::busy: stop here

enum Certainty { kCertain = 0, kMaybeAbsent = 1, kUnknown = 2 };

struct KeyState {
  std::string value;
  bool ttl = false;
  Certainty c = kCertain;
};

void Copy(char* dst, std::size_t n, const std::string& s) {
  std::snprintf(dst, n, "%s", s.c_str());
}

std::string Short(std::string_view v) {
  std::string s(v.substr(0, 24));
  for (char& ch : s)
    if (static_cast<unsigned char>(ch) < 32 || static_cast<unsigned char>(ch) > 126) ch = '?';
  return "'" + s + (v.size() > 24 ? "...'" : "'") + " (" + std::to_string(v.size()) + " B)";
}

// "got 'abc' (3 B), expected 'abd' (3 B), first difference at byte 2".
std::string Diff(std::string_view got, std::string_view want) {
  std::size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return "got " + Short(got) + ", expected " + Short(want) + ", first difference at byte " +
         std::to_string(i);
}

class Runner {
 public:
  Runner(const Image& img, const std::set<std::string>& excused, ApiReport* r) : img_(img), r_(r) {
    for (const auto& [k, e] : img.data)
      model_[k] = {e.value, e.ttl, excused.count(k) ? kMaybeAbsent : kCertain};
  }

  template <typename F>
  bool Run(const std::string& op, F&& f) {
    Copy(r_->op, sizeof r_->op, op);
    try {
      f();
      return true;
    } catch (const shmkv::Error& e) {
      if (r_->typed_errors++ == 0)
        Copy(r_->first_typed, sizeof r_->first_typed,
             op + ": " + shmkv::errc_name(e.code_value()) + ": " + e.what());
      if (e.code_value() == errc::busy) {
        r_->busy = 1;
        throw StopRun{};
      }
      return false;
    } catch (const StopRun&) {
      throw;
    } catch (const std::exception& e) {
      Foreign(op, e.what());
      return false;
    } catch (...) {
      Foreign(op, "exception of an unknown type");
      return false;
    }
  }

  void Wrong(const std::string& what) {
    if (r_->wrong++ == 0) {
      Copy(r_->wrong_op, sizeof r_->wrong_op, r_->op);
      Copy(r_->first_wrong, sizeof r_->first_wrong, what);
    }
  }
  void Foreign(const std::string& op, const std::string& what) {
    if (r_->foreign++ == 0) {
      Copy(r_->foreign_op, sizeof r_->foreign_op, op);
      Copy(r_->foreign_what, sizeof r_->foreign_what, what);
    }
  }
  void Check(shmkv::Store& s) {
    Run("check_invariants", [&] {
      try {
        auto v = s.check_invariants();
        SetCheck(v.empty() ? kCheckOk : kCheckViolations, v.empty() ? "" : v.front());
      } catch (const shmkv::Error& e) {
        SetCheck(e.code_value() == errc::corrupted ? kCheckThrewCorrupted : kCheckThrewOther,
                 std::string(shmkv::errc_name(e.code_value())) + ": " + e.what());
        throw;
      }
    });
  }
  void SetCheck(int state, const std::string& line) {
    const bool flagged = state == kCheckViolations || state == kCheckThrewCorrupted;
    const bool was = r_->check_state == kCheckViolations || r_->check_state == kCheckThrewCorrupted;
    if (r_->check_state == kCheckNotRun || (flagged && !was)) {
      r_->check_state = state;
      Copy(r_->check_line, sizeof r_->check_line, line);
    }
  }

  // --- comparisons against the model ---
  void Get(const std::string& key, const std::optional<std::string>& got) {
    auto it = model_.find(key);
    if (it == model_.end()) {
      if (got) Wrong(key + " should be absent, got " + Short(*got));
      return;
    }
    const KeyState& k = it->second;
    if (k.c == kUnknown) return;
    if (got) {
      if (*got != k.value) Wrong(key + ": " + Diff(*got, k.value));
    } else if (k.c == kMaybeAbsent) {
      ++r_->excused;
    } else {
      Wrong(key + " is missing");
    }
  }
  void Listing(const std::vector<shmkv::Entry>& got, const std::string& prefix, std::size_t limit,
               const std::string& after = {}) {
    const std::string* prev = nullptr;
    for (const auto& e : got) {
      if (prev && !(*prev < e.key)) return Wrong("keys out of order: " + *prev + ", " + e.key);
      if (!e.key.starts_with(prefix)) return Wrong("key " + e.key + " lacks prefix " + prefix);
      if (!after.empty() && !(after < e.key)) return Wrong("key " + e.key + " before cursor");
      prev = &e.key;
      auto it = model_.find(e.key);
      if (it == model_.end()) return Wrong("unexpected key " + Short(e.key));
      if (it->second.c != kUnknown && e.value != it->second.value)
        return Wrong(e.key + " listed: " + Diff(e.value, it->second.value));
    }
    const bool bounded = limit != 0 && got.size() >= limit;
    std::size_t i = 0;
    for (auto it = model_.lower_bound(prefix); it != model_.end(); ++it) {
      if (!it->first.starts_with(prefix)) break;
      if (!after.empty() && !(after < it->first)) continue;
      if (bounded && !got.empty() && got.back().key < it->first) break;
      while (i < got.size() && got[i].key < it->first) ++i;
      const bool listed = i < got.size() && got[i].key == it->first;
      if (!listed && it->second.c == kCertain) return Wrong("listing lacks " + it->first);
      if (!listed && it->second.c == kMaybeAbsent) ++r_->excused;
    }
  }
  void Count(std::size_t got, const std::string& prefix, const char* what) {
    std::size_t lo = 0, hi = 0;
    for (auto it = model_.lower_bound(prefix); it != model_.end(); ++it) {
      if (!it->first.starts_with(prefix)) break;
      lo += it->second.c == kCertain;
      ++hi;
    }
    if (got < lo || got > hi)
      Wrong(std::string(what) + "('" + prefix + "') = " + std::to_string(got) + ", expected " +
            std::to_string(lo) + (hi != lo ? ".." + std::to_string(hi) : ""));
    else if (got != hi)
      ++r_->excused;
  }
  void RandomKey(const std::optional<std::string>& k, const std::string& prefix) {
    if (k) {
      if (!k->starts_with(prefix) || !model_.count(*k)) Wrong("random key " + Short(*k));
      return;
    }
    for (auto it = model_.lower_bound(prefix); it != model_.end(); ++it) {
      if (!it->first.starts_with(prefix)) break;
      if (it->second.c == kCertain) return Wrong("random_key('" + prefix + "') found nothing");
    }
  }

  bool Certain(const std::string& key) const {
    auto it = model_.find(key);
    return it != model_.end() && it->second.c == kCertain;
  }
  void Unknown(const std::string& key) { model_[key].c = kUnknown; }
  void Put(const std::string& key, const std::string& value, bool ttl) {
    model_[key] = {value, ttl, kCertain};
  }

  void Reads(shmkv::Store& s);
  void Writes(shmkv::Store& s, const std::string& backup);

 private:
  const Image& img_;
  ApiReport* r_;
  std::map<std::string, KeyState> model_;
};

void Runner::Reads(shmkv::Store& s) {
  std::vector<std::string> keys;
  for (const auto& [k, _] : model_) keys.push_back(k);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    Run("get(" + keys[i] + ")", [&] { Get(keys[i], s.get(keys[i])); });
    if (i % 3 == 0)
      Run("get(" + keys[i] + ", buffer)", [&] {
        std::string v;
        Get(keys[i], s.get(keys[i], &v) ? std::optional<std::string>(v) : std::nullopt);
      });
    if (i % 10 == 0)
      Run("exists(" + keys[i] + ")", [&] {
        const bool e = s.exists(keys[i]);
        if (!e && Certain(keys[i])) Wrong("exists(" + keys[i] + ") = false");
      });
    if (i % 5 == 0)
      Run("ttl(" + keys[i] + ")", [&] {
        auto t = s.ttl(keys[i]);
        const KeyState& k = model_.at(keys[i]);
        if (k.c != kCertain) return;
        if (!t) return Wrong("ttl(" + keys[i] + ") = absent");
        if (k.ttl && (*t <= 0ms || *t > std::chrono::milliseconds(30ll * 24 * 3600 * 1000)))
          Wrong("ttl(" + keys[i] + ") = " + std::to_string(t->count()) + " ms");
        if (!k.ttl && *t != 0ms) Wrong("ttl(" + keys[i] + ") = " + std::to_string(t->count()));
      });
  }
  for (int i = 0; i < 10; ++i) {
    const std::string k = i < 5 ? "nokey:" + std::to_string(i) : "key:" + std::to_string(1000 + i);
    Run("get(" + k + ")", [&] { Get(k, s.get(k)); });
    Run("exists(" + k + ")", [&] {
      if (s.exists(k)) Wrong("exists(" + k + ") = true");
    });
  }
  std::vector<std::string> batch;
  for (std::size_t i = 0; i < keys.size(); i += 15) batch.push_back(keys[i]);
  batch.push_back("nokey:x");
  Run("get_many(vector)", [&] {
    auto got = s.get_many(batch);
    if (got.size() != batch.size()) return Wrong("get_many returned " + std::to_string(got.size()));
    for (std::size_t i = 0; i < batch.size(); ++i) Get(batch[i], got[i]);
  });
  Run("get_many(span)", [&] {
    std::vector<std::string_view> views(batch.begin(), batch.end());
    std::vector<std::optional<std::string>> out;
    const std::size_t found = s.get_many(views, &out);
    if (out.size() != batch.size())
      return Wrong("get_many(span) size " + std::to_string(out.size()));
    std::size_t n = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Get(batch[i], out[i]);
      n += out[i].has_value();
    }
    if (n != found)
      Wrong("get_many(span) counted " + std::to_string(found) + " of " + std::to_string(n));
  });
  Run("list()", [&] { Listing(s.list(), "", 0); });
  Run("list(key:1, limit 10)", [&] { Listing(s.list({"key:1", 10}), "key:1", 10); });
  Run("scan(pages of 97)", [&] {
    std::vector<shmkv::Entry> all;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      auto p = s.scan({"", 97, cursor});
      if (!p.entries.empty() && !cursor.empty() && !(cursor < p.entries.front().key))
        return Wrong("scan page starts at or before its cursor");
      for (auto& e : p.entries) all.push_back(std::move(e));
      if (p.done) return Listing(all, "", 0);
      if (p.cursor == cursor) return Wrong("scan cursor did not advance");
      cursor = p.cursor;
    }
    Wrong("scan did not finish in 100 pages");
  });
  Run("count()", [&] { Count(s.count(), "", "count"); });
  Run("count(key:5)", [&] { Count(s.count("key:5"), "key:5", "count"); });
  Run("size()", [&] { Count(s.size(), "", "size"); });
  Run("random_key()", [&] { RandomKey(s.random_key(), ""); });
  Run("random_key(key:4)", [&] { RandomKey(s.random_key("key:4"), "key:4"); });
  Run("random_key(nokey)", [&] { RandomKey(s.random_key("nokey"), "nokey"); });
  Run("random_keys(10, unique)", [&] {
    auto ks = s.random_keys(10, "", true);
    std::set<std::string> seen;
    for (const auto& k : ks) {
      if (!seen.insert(k).second) Wrong("random_keys returned " + k + " twice");
      RandomKey(k, "");
    }
  });
  Run("info()", [&] {
    shmkv::Info in = s.info();
    const Config& c = img_.config;
    if (in.shards != c.shards || in.size_bytes != c.size_bytes || in.max_key_bytes != 1024 ||
        in.max_value_bytes != (1u << 20) || in.home_block_bytes != c.home_block_bytes ||
        in.shard.size() != c.shards)
      Wrong("info: shards " + std::to_string(in.shards) + " size " + std::to_string(in.size_bytes) +
            " max key " + std::to_string(in.max_key_bytes) + " max value " +
            std::to_string(in.max_value_bytes) + " home block " +
            std::to_string(in.home_block_bytes) + " shard rows " + std::to_string(in.shard.size()));
    Count(in.live_keys, "", "info.live_keys");
  });
  Run("stats()", [&] { (void)s.stats(); });
  Check(s);
}

void Runner::Writes(shmkv::Store& s, const std::string& backup) {
  auto value_of = [&](const std::string& k) { return model_.count(k) ? model_[k].value : ""; };
  // set / get, with and without TTL.
  if (Run("set(key:3)", [&] { s.set("key:3", "new-3"); }))
    Put("key:3", "new-3", false);
  else
    Unknown("key:3");
  Run("get(key:3) after set", [&] { Get("key:3", s.get("key:3")); });
  if (Run("set(key:4, ttl 1h)", [&] { s.set("key:4", "new-4", 1h); }))
    Put("key:4", "new-4", true);
  else
    Unknown("key:4");
  Run("ttl(key:4) after set", [&] {
    auto t = s.ttl("key:4");
    if (Certain("key:4") && (!t || *t <= 0ms || *t > 1h)) Wrong("ttl(key:4) after set");
  });
  // set_many / get_many.
  std::vector<std::pair<std::string, std::string>> pairs;
  for (int i = 100; i < 120; ++i)
    pairs.emplace_back("key:" + std::to_string(i), "many-" + std::to_string(i));
  const bool many = Run("set_many(20)", [&] { s.set_many(pairs); });
  for (const auto& [k, v] : pairs) many ? Put(k, v, false) : Unknown(k);
  Run("get_many after set_many", [&] {
    std::vector<std::string> ks;
    for (const auto& p : pairs) ks.push_back(p.first);
    auto got = s.get_many(ks);
    for (std::size_t i = 0; i < ks.size() && i < got.size(); ++i) Get(ks[i], got[i]);
  });
  // del.
  {
    const bool certain = Certain("key:9");
    bool r = false;
    if (Run("del(key:9)", [&] { r = s.del("key:9"); })) {
      if (certain && !r) Wrong("del(key:9) = false");
      model_.erase("key:9");
      Run("get(key:9) after del", [&] { Get("key:9", s.get("key:9")); });
      Run("del(key:9) again", [&] {
        if (s.del("key:9")) Wrong("second del(key:9) = true");
      });
    } else {
      Unknown("key:9");
    }
  }
  // Counters.
  {
    const bool certain = Certain("key:11");
    const std::string before = value_of("key:11");
    std::int64_t got = 0;
    if (Run("increment_by(key:11, 5)", [&] { got = s.increment_by("key:11", 5); })) {
      if (certain && got != std::stoll(before) + 5)
        Wrong("increment_by(key:11, 5) = " + std::to_string(got) + " after " + before);
      Put("key:11", std::to_string(got), false);
      model_["key:11"].c = certain ? kCertain : kUnknown;
    } else {
      Unknown("key:11");
    }
    Run("increment_by(key:0) on a non-number", [&] {
      try {
        s.increment_by("key:0", 1);
        if (Certain("key:0")) Wrong("increment_by on '" + Short(value_of("key:0")) + "' returned");
        Unknown("key:0");
      } catch (const shmkv::Error& e) {
        if (e.code_value() != errc::not_a_number) {
          Unknown("key:0");
          throw;
        }
      }
    });
  }
  // compare_and_swap / compare_and_delete.
  {
    const bool c20 = Certain("key:20"), c21 = Certain("key:21");
    const std::string v20 = value_of("key:20");
    bool r = false;
    if (Run("compare_and_swap(key:20, right)",
            [&] { r = s.compare_and_swap("key:20", std::string_view(v20), "cas-20"); })) {
      if (c20 && !r) Wrong("compare_and_swap(key:20, its value) = false");
      if (r)
        Put("key:20", "cas-20", false);
      else
        Unknown("key:20");
    } else {
      Unknown("key:20");
    }
    if (Run("compare_and_swap(key:21, wrong)",
            [&] { r = s.compare_and_swap("key:21", std::string_view("nope"), "cas-21"); })) {
      if (r) Wrong("compare_and_swap(key:21, wrong value) = true");
      if (r) Unknown("key:21");
    } else {
      Unknown("key:21");
    }
    (void)c21;
    if (Run("compare_and_swap(new:1, absent)",
            [&] { r = s.compare_and_swap("new:1", std::nullopt, "n1"); })) {
      if (!r) Wrong("compare_and_swap(new:1, absent) = false");
      Put("new:1", "n1", false);
    } else {
      Unknown("new:1");
    }
    const bool c22 = Certain("key:22");
    const std::string v22 = value_of("key:22");
    if (Run("compare_and_delete(key:22)", [&] { r = s.compare_and_delete("key:22", v22); })) {
      if (c22 && !r) Wrong("compare_and_delete(key:22, its value) = false");
      if (r) model_.erase("key:22");
    } else {
      Unknown("key:22");
    }
  }
  // get_or_set / swap / set_if_absent / expire.
  {
    const bool c23 = Certain("key:23");
    const std::string v23 = value_of("key:23");
    shmkv::GetOrSetResult g;
    if (Run("get_or_set(key:23)", [&] { g = s.get_or_set("key:23", "gos"); })) {
      if (c23 && (!g.loaded || g.value != v23)) Wrong("get_or_set(key:23) = " + Short(g.value));
      if (!g.loaded) Put("key:23", "gos", false);
    } else {
      Unknown("key:23");
    }
    if (Run("get_or_set(new:2)", [&] { g = s.get_or_set("new:2", "g2"); })) {
      if (g.loaded || g.value != "g2") Wrong("get_or_set(new:2) loaded " + Short(g.value));
      Put("new:2", "g2", false);
    } else {
      Unknown("new:2");
    }
    const bool c24 = Certain("key:24");
    const std::string v24 = value_of("key:24");
    shmkv::SwapResult sw;
    if (Run("swap(key:24)", [&] { sw = s.swap("key:24", "sw"); })) {
      if (c24 && (!sw.loaded || sw.previous != v24)) Wrong("swap(key:24) previous differs");
      Put("key:24", "sw", false);
    } else {
      Unknown("key:24");
    }
    bool r = false;
    const bool c25 = Certain("key:25");
    if (Run("set_if_absent(key:25)", [&] { r = s.set_if_absent("key:25", "x"); })) {
      if (c25 && r) Wrong("set_if_absent(key:25) = true on a present key");
      if (r) Put("key:25", "x", false);
    } else {
      Unknown("key:25");
    }
    if (Run("set_if_absent(new:3)", [&] { r = s.set_if_absent("new:3", "y"); })) {
      if (!r) Wrong("set_if_absent(new:3) = false");
      Put("new:3", "y", false);
    } else {
      Unknown("new:3");
    }
    const bool c26 = Certain("key:26");
    if (Run("expire(key:26, 1h)", [&] { r = s.expire("key:26", 1h); })) {
      if (c26 && !r) Wrong("expire(key:26) = false");
      if (c26) model_["key:26"].ttl = true;
    } else {
      Unknown("key:26");
    }
  }
  // delete_many / pop_random / delete_prefix.
  {
    const std::size_t lo = Certain("key:27") + Certain("key:28");
    const std::size_t hi = model_.count("key:27") + model_.count("key:28");
    std::size_t n = 0;
    if (Run("delete_many(3)", [&] { n = s.delete_many({"key:27", "key:28", "nokey:1"}); })) {
      if (n < lo || n > hi) Wrong("delete_many = " + std::to_string(n));
      model_.erase("key:27");
      model_.erase("key:28");
    } else {
      Unknown("key:27");
      Unknown("key:28");
    }
    std::optional<shmkv::Entry> popped;
    if (Run("pop_random(key:)", [&] { popped = s.pop_random("key:"); })) {
      if (!popped) {
        RandomKey(std::nullopt, "key:");
      } else {
        Get(popped->key, popped->value);
        model_.erase(popped->key);
      }
    }
    std::size_t lo99 = 0, hi99 = 0;
    std::vector<std::string> k99;
    for (auto it = model_.lower_bound("key:99"); it != model_.end(); ++it) {
      if (!it->first.starts_with("key:99")) break;
      lo99 += it->second.c == kCertain;
      ++hi99;
      k99.push_back(it->first);
    }
    shmkv::DeletePrefixResult d{};
    if (Run("delete_prefix(key:99)", [&] { d = s.delete_prefix("key:99"); })) {
      if (d.deleted < lo99 || d.deleted > hi99 || !d.done)
        Wrong("delete_prefix(key:99) deleted " + std::to_string(d.deleted) + ", expected " +
              std::to_string(lo99) + ".." + std::to_string(hi99));
      for (const auto& k : k99) model_.erase(k);
      Run("count(key:99) after delete_prefix",
          [&] { Count(s.count("key:99"), "key:99", "count"); });
    } else {
      for (const auto& k : k99) Unknown(k);
    }
  }
  // Coordination (issue 16): a damaged table gives typed errors or works; what it grants is the
  // key's (key:3 is claimed by the process that built the image, alive throughout).
  {
    std::optional<shmkv::Claim> c;
    if (Run("claim(key:1)", [&] { c = s.claim("key:1", 10s); }) && c) {
      Get(c->key, c->value);
      Run("release(key:1)", [&] {
        if (!s.release(c->key, c->token)) Wrong("release of the claim just granted = false");
      });
    }
    std::optional<shmkv::Claim> r;
    if (Run("claim_random(key:)", [&] { r = s.claim_random("key:", 10s); }) && r) {
      Get(r->key, r->value);
      const std::string key = r->key;
      if (Run("complete(claim_random)", [&] {
            if (!s.complete(key, r->token)) Wrong("complete of the claim just granted = false");
          }))
        model_.erase(key);
      else
        Unknown(key);
    }
    std::optional<std::uint64_t> t;
    if (Run("lock(L)", [&] { t = s.lock("L", 10s, 0ms); }) && t)
      Run("unlock(L)", [&] {
        if (!s.unlock("L", *t)) Wrong("unlock of the lock just granted = false");
      });
    std::optional<std::uint64_t> p;
    if (Run("acquire(S, 1)", [&] { p = s.acquire("S", 1, 0ms); }) && p)
      Run("release_permit(S)", [&] {
        if (!s.release_permit("S", *p)) Wrong("release_permit of the permit just granted = false");
      });
    Run("barrier(B, 1)", [&] { (void)s.barrier("B", 1, 0ms); });
    Run("wait_for(key:2, 0)", [&] { (void)s.wait_for("key:2", 0ms); });
    Run("info().coordination", [&] { (void)s.info(); });
  }
  Run("list() after writes", [&] { Listing(s.list(), "", 0); });
  Run("count() after writes", [&] { Count(s.count(), "", "count"); });
  Check(s);
  Run("sync()", [&] { s.sync(); });
  Run("recovery_report()", [&] { (void)s.recovery_report(); });
  // Restore the backup taken before the writes: whatever it holds (it was read from the
  // corrupted store), the content is then unknown; only crashes count here.
  Run("restore(backup)", [&] { (void)s.restore(backup); });
  for (auto& [k, st] : model_) st.c = kUnknown;
  if (Run("clear()", [&] { s.clear(); })) {
    model_.clear();
    Run("size() after clear", [&] { Count(s.size(), "", "size"); });
    Run("list() after clear", [&] { Listing(s.list(), "", 0); });
  } else {
    for (auto& [k, st] : model_) st.c = kUnknown;
  }
  if (Run("set(after:clear)", [&] { s.set("after:clear", "z"); })) Put("after:clear", "z", false);
  Run("get(after:clear)", [&] { Get("after:clear", s.get("after:clear")); });
}

}  // namespace

int RunApiChild(const std::string& name, const Image& image, const std::set<std::string>& excused,
                const std::string& tmp_dir, ApiReport* report, Sabotage sabotage) {
  Runner run(image, excused, report);
  try {
    std::optional<shmkv::Store> store;
    shmkv::Options o;
    o.name = name;
    o.open_mode = shmkv::OpenMode::attach_only;
    Copy(report->op, sizeof report->op, "open(attach_only)");
    try {
      store.emplace(shmkv::Store::open(o));
      report->attached = 1;
    } catch (const shmkv::Error& e) {
      report->attach_errc = static_cast<int>(e.code_value());
      Copy(report->first_typed, sizeof report->first_typed,
           std::string("open(attach_only): ") + shmkv::errc_name(e.code_value()) + ": " + e.what());
      ++report->typed_errors;
    }
    if (!store) {
      // The default open mode must not replace a segment that holds data with an empty one.
      const Config& c = image.config;
      o.open_mode = shmkv::OpenMode::create_or_attach;
      o.size_bytes = c.size_bytes;
      o.shards = c.shards;
      o.home_block_bytes = c.home_block_bytes;
      o.max_keys = c.max_keys;
      run.Run("open(create_or_attach)", [&] {
        shmkv::Store s = shmkv::Store::open(o);
        const std::size_t n = s.size();
        if (n < image.data.size() / 2) report->replaced = 1;
      });
      report->done = 1;
      return 0;
    }
    if (sabotage == Sabotage::crash) {
      Copy(report->op, sizeof report->op, "sabotage");
      ::raise(SIGSEGV);
    }
    if (sabotage == Sabotage::hang) {
      Copy(report->op, sizeof report->op, "sabotage");
      ::sleep(3600);
    }
    if (sabotage == Sabotage::wrong) run.Put("key:1", "sabotaged", false);
    run.Reads(*store);
    const std::string backup = tmp_dir + "/backup-" + name + ".msgpack";
    run.Run("backup()", [&] {
      shmkv::BackupResult b = store->backup(backup);
      if (b.entries > image.data.size()) run.Wrong("backup wrote " + std::to_string(b.entries));
    });
    run.Writes(*store, backup);
    ::unlink(backup.c_str());
    Copy(report->op, sizeof report->op, "close()");
    store->close();
  } catch (const StopRun&) {
  }
  report->done = 1;
  return 0;
}

}  // namespace fuzz
