// stress_worker_ops.cpp: the operations of a shmkv-stress worker (see stress_worker.hpp): writes
// of owned keys announced to the parent before the call and acknowledged after it, multi-key
// operations, scratch keys, and reads checked against the worker's model.
#include <algorithm>
#include <utility>

#include "stress_worker.hpp"

namespace stress {

// Single-key writes of owned keys.
void Worker::DoOwnWrite(Op op) {
  std::uint32_t k = op == kExpire || op == kNotNumber ? ValueKey() : AnyKey();
  if (op == kIncOwn && !IsNumericKey(k)) k = (k | 7) < cfg_.keys ? k | 7 : 7;
  const std::string key = Key(k);
  const State old = st_[k];
  const bool may = old.kind == kMayExpire;
  switch (op) {
    case kSet: {
      // 0: short TTL (the key may vanish any time), 1: a TTL that outlives the run, else none.
      std::uint64_t t = IsNumericKey(k) ? 9 : rng_.Below(10);
      State next = Fresh(k, t == 0 ? kMayExpire : kPresent);
      milliseconds ttl = t == 0 ? ShortTtl() : t == 1 ? kLongTtl : milliseconds(0);
      Announce(k, next);
      Flush();
      store_.set(key, ValueOf(k, next), ttl);
      Settle(k, next);
      break;
    }
    case kExpire: {
      if (old.kind == kAbsent) {
        if (store_.expire(key, kLongTtl)) Wrong(k, "expire", "returned true on an absent key");
        break;
      }
      unsigned t = static_cast<unsigned>(rng_.Below(3));
      State next{old.v, t == 1 ? kMayExpire : kPresent};
      Announce(k, next);
      Flush();
      bool r = store_.expire(key, t == 0 ? milliseconds(0) : t == 1 ? ShortTtl() : kLongTtl);
      if (r) {
        Settle(k, next);
      } else if (may) {
        Settle(k, State{});
      } else {
        Wrong(k, "expire", "returned false on a present key");
        Resync();
      }
      break;
    }
    case kDel: {
      Announce(k, State{});
      Flush();
      bool r = store_.del(key);
      if (!may && r != (old.kind == kPresent))
        Wrong(k, "del",
              std::string("returned ") + (r ? "true" : "false") + "; model " + Describe(old));
      Settle(k, State{});
      break;
    }
    case kIncOwn: {
      std::int64_t delta = static_cast<std::int64_t>(rng_.Below(2001)) - 1000;
      State next{(old.kind == kAbsent ? 0 : old.v) + delta, kPresent};
      Announce(k, next);
      Flush();
      std::int64_t r = store_.increment_by(key, delta);
      if (r != next.v) {
        Wrong(k, "increment_by",
              "returned " + std::to_string(r) + ", expected " + std::to_string(next.v));
        Resync();
      } else {
        Settle(k, next);
      }
      break;
    }
    case kNotNumber: {
      if (old.kind != kPresent) break;
      try {
        std::int64_t r = store_.increment_by(key, 1);
        Wrong(k, "increment_by", "on a non-number returned " + std::to_string(r));
        pending_.push_back({k, old, State{r, kPresent}});
        Resync();
      } catch (const shmkv::Error& e) {
        if (e.code() != shmkv::errc::not_a_number) throw;
      }
      Observe(k, store_.get(key), "get after not_a_number");
      break;
    }
    case kCas: {
      State next = Fresh(k);
      bool wrong = rng_.Chance(25);
      std::optional<std::string> expected;
      if (old.kind != kAbsent) expected = ValueOf(k, old);
      if (wrong) {
        if (old.kind == kAbsent || may || rng_.Chance(50))
          expected = std::string(kNeverHeld);
        else
          expected = std::nullopt;
        pending_.push_back({k, old, next});
        if (store_.compare_and_swap(key, expected, ValueOf(k, next))) {
          Wrong(k, "compare_and_swap", "succeeded with a wrong expected value");
          Resync();
        }
        pending_.clear();
        break;
      }
      Announce(k, next);
      Flush();
      bool r = store_.compare_and_swap(key, expected, ValueOf(k, next));
      if (r) {
        Settle(k, next);
      } else if (may) {
        Settle(k, State{});  // expired: the expected value was gone
      } else {
        Wrong(k, "compare_and_swap", "failed; model " + Describe(old));
        Resync();
      }
      break;
    }
    case kCad: {
      if (old.kind == kAbsent) {
        if (store_.compare_and_delete(key, kNeverHeld))
          Wrong(k, "compare_and_delete", "succeeded on an absent key");
        break;
      }
      Announce(k, State{});
      Flush();
      bool r = store_.compare_and_delete(key, ValueOf(k, old));
      if (!r && !may) Wrong(k, "compare_and_delete", "failed; model " + Describe(old));
      Settle(k, State{});
      break;
    }
    case kGetOrSet: {
      State next = Fresh(k);
      Announce(k, next);
      Flush();
      auto r = store_.get_or_set(key, ValueOf(k, next));
      if (r.loaded) {
        Seen prior;
        if (Decode(k, r.value, &prior))
          Settle(k, CheckPrior(k, old, prior, "get_or_set") ? old : State{*prior, kPresent});
      } else {
        if (old.kind == kPresent) Wrong(k, "get_or_set", "stored over " + Describe(old));
        Settle(k, next);
      }
      break;
    }
    case kSetIfAbsent: {
      bool short_ttl = !IsNumericKey(k) && rng_.Chance(20);
      State next = Fresh(k, short_ttl ? kMayExpire : kPresent);
      Announce(k, next);
      Flush();
      if (store_.set_if_absent(key, ValueOf(k, next), short_ttl ? ShortTtl() : milliseconds(0))) {
        if (old.kind == kPresent) Wrong(k, "set_if_absent", "stored over " + Describe(old));
        Settle(k, next);
      } else if (old.kind == kAbsent) {
        Wrong(k, "set_if_absent", "did not store on an absent key");
        Resync();
      } else {
        Settle(k, old);
      }
      break;
    }
    case kSwap: {
      State next = Fresh(k);
      Announce(k, next);
      Flush();
      auto r = store_.swap(key, ValueOf(k, next));
      Settle(k, next);
      if (r.loaded != r.previous.has_value()) Wrong(k, "swap", "loaded disagrees with previous");
      Seen prior;
      if (Decode(k, r.previous, &prior)) CheckPrior(k, old, prior, "swap");
      break;
    }
    default:
      break;
  }
}

bool Worker::CheckPrior(std::uint32_t k, const State& old, Seen prior, const char* op) {
  if (Matches(old, prior)) return true;
  Fail(kLost, k, 0,
       std::string(op) + " found " + Describe(prior) + " at " + Key(k) + ", model says " +
           Describe(old));
  return false;
}

// Writes and reads of several owned keys at once.
void Worker::DoMulti(Op op) {
  std::vector<std::uint32_t> ks = DistinctKeys(2 + rng_.Below(5));
  if (op == kSetMany) {
    unsigned t = static_cast<unsigned>(rng_.Below(10));
    bool any_numeric = std::any_of(ks.begin(), ks.end(), IsNumericKey);
    if (any_numeric) t = 5;  // numeric keys never get a TTL
    milliseconds ttl = t == 0 ? ShortTtl() : t == 1 ? kLongTtl : milliseconds(0);
    std::vector<std::pair<std::string, std::string>> pairs;
    std::vector<State> next;
    for (std::uint32_t k : ks) {
      next.push_back(Fresh(k, t == 0 ? kMayExpire : kPresent));
      pairs.emplace_back(Key(k), ValueOf(k, next.back()));
      Announce(k, next.back());
    }
    Flush();
    store_.set_many(pairs, ttl);
    for (std::size_t i = 0; i < ks.size(); ++i) Settle(ks[i], next[i]);
  } else if (op == kDeleteMany) {
    std::vector<std::string> keys;
    std::size_t lo = 0, hi = 0;
    for (std::uint32_t k : ks) {
      keys.push_back(Key(k));
      lo += st_[k].kind == kPresent;
      hi += st_[k].kind != kAbsent;
      Announce(k, State{});
    }
    Flush();
    std::size_t n = store_.delete_many(keys);
    if (n < lo || n > hi)
      Fail(kError, ks[0], -1,
           "delete_many deleted " + std::to_string(n) + " keys; model says " + std::to_string(lo) +
               ".." + std::to_string(hi));
    for (std::uint32_t k : ks) Settle(k, State{});
  } else {  // kGetMany: owned keys and two keys of other slots
    std::vector<std::string> keys;
    for (std::uint32_t k : ks) keys.push_back(Key(k));
    for (int i = 0; i < 2; ++i)
      keys.push_back(OwnedKey(static_cast<int>(rng_.Below(cfg_.workers)), AnyKey()));
    auto got = store_.get_many(keys);
    if (got.size() != keys.size()) return Fail(kError, 0, -1, "get_many returned a wrong count");
    for (std::size_t i = 0; i < ks.size(); ++i) Observe(ks[i], got[i], "get_many");
    for (std::size_t i = ks.size(); i < keys.size(); ++i) {
      if (keys[i].starts_with(prefix_))
        Observe(static_cast<std::uint32_t>(std::stoul(keys[i].substr(prefix_.size()))), got[i],
                "get_many");
      else
        VerifyOther(keys[i], got[i]);
    }
  }
}

// Scratch keys: the slot's own "s<slot>:" (counted exactly) and the shared "x:" (contended).
void Worker::DoScratch() {
  const std::string prefix = ScratchPrefix(slot_);
  unsigned what = static_cast<unsigned>(rng_.Below(10));
  if (what < 5) {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::set<std::string> batch;
    for (std::uint64_t i = 0, n = 1 + rng_.Below(8); i < n; ++i) {
      std::string key = prefix + std::to_string(rng_.Below(64));
      if (batch.insert(key).second) pairs.emplace_back(key, MakeValue(key, rng_.Next()));
    }
    store_.set_many(pairs);
    scratch_.insert(batch.begin(), batch.end());
  } else if (what < 7) {
    std::size_t limit = what == 5 ? 0 : 1 + rng_.Below(8);
    auto r = store_.delete_prefix(prefix, limit);
    std::size_t want = limit == 0 ? scratch_.size() : std::min(limit, scratch_.size());
    if (r.deleted != want || r.done != (want == scratch_.size()))
      Fail(kError, 0, -1,
           "delete_prefix(" + prefix + ", " + std::to_string(limit) + ") deleted " +
               std::to_string(r.deleted) + (r.done ? " (done)" : "") + "; expected " +
               std::to_string(want) + " of " + std::to_string(scratch_.size()));
    auto left = store_.list({prefix, 0});
    if (left.size() != scratch_.size() - std::min(scratch_.size(), r.deleted))
      Fail(kError, 0, -1,
           "after delete_prefix " + std::to_string(left.size()) + " scratch keys remain, " +
               "expected " + std::to_string(scratch_.size() - r.deleted));
    scratch_.clear();
    for (const auto& e : left) {
      VerifyOther(e.key, e.value);
      scratch_.insert(e.key);
    }
  } else if (what < 9) {
    std::string key = std::string(kSharedScratch) + std::to_string(rng_.Below(256));
    store_.set(key, MakeValue(key, rng_.Next()));
  } else {
    auto r = store_.delete_prefix(kSharedScratch, 8);
    if (r.deleted > 8) Fail(kError, 0, -1, "delete_prefix(x:, 8) deleted more than 8 keys");
  }
}

void Worker::CheckListing(const std::string& prefix, const std::vector<shmkv::Entry>& entries,
                          bool complete, const char* op) {
  std::vector<bool> listed(cfg_.keys, false);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (i > 0 && !(entries[i - 1].key < e.key))
      return Fail(kError, 0, -1, std::string(op) + " is not in strictly ascending key order");
    if (!e.key.starts_with(prefix))
      return Fail(kError, 0, -1, std::string(op) + "(" + prefix + ") returned " + e.key);
    std::uint32_t k = static_cast<std::uint32_t>(std::stoul(e.key.substr(prefix_.size())));
    if (k >= cfg_.keys || Key(k) != e.key)
      return Fail(kError, 0, -1, std::string(op) + " returned a key never written: " + e.key);
    listed[k] = true;
    Observe(k, e.value, op);
  }
  for (std::uint32_t k = 0; k < cfg_.keys; ++k) {
    if (listed[k] || st_[k].kind != kPresent || !Key(k).starts_with(prefix)) continue;
    if (complete || (!entries.empty() && Key(k) < entries.back().key)) {
      Fail(kLost, k, 0, std::string(op) + "(" + prefix + ") left out " + Key(k));
      Settle(k, State{});  // report a vanished key once
    }
  }
}

void Worker::DoReads(Op op) {
  std::uint32_t k = AnyKey();
  switch (op) {
    case kGetOwn:
      Observe(k, store_.get(Key(k)), "get");
      break;
    case kExistsTtl: {
      bool present = rng_.Chance(50) ? store_.exists(Key(k)) : store_.ttl(Key(k)).has_value();
      if (st_[k].kind != kMayExpire && present != (st_[k].kind == kPresent)) {
        Fail(kLost, k, 0,
             "exists/ttl says " + Key(k) + (present ? " is" : " is not") + " present; model " +
                 Describe(st_[k]));
        if (!present) Settle(k, State{});
      } else if (!present && st_[k].kind == kMayExpire) {
        Settle(k, State{});
      }
      break;
    }
    case kGetOther: {
      std::string key = OwnedKey(static_cast<int>(rng_.Below(cfg_.workers)), k);
      if (key.starts_with(prefix_))
        Observe(k, store_.get(key), "get");
      else
        VerifyOther(key, store_.get(key));
      break;
    }
    case kRandomKey: {
      auto r = store_.random_key(prefix_);
      if (!r) {
        for (std::uint32_t i = 0; i < cfg_.keys; ++i)
          if (st_[i].kind == kPresent)
            return Fail(kLost, i, 0,
                        "random_key(" + prefix_ + ") found nothing; " + Key(i) + " is present");
        break;
      }
      std::uint32_t i = static_cast<std::uint32_t>(std::stoul(r->substr(prefix_.size())));
      if (i >= cfg_.keys || Key(i) != *r || st_[i].kind == kAbsent)
        Fail(kError, 0, -1, "random_key(" + prefix_ + ") returned " + *r + ", absent in the model");
      break;
    }
    case kList:
    case kScan:
    case kCount: {
      std::string prefix = prefix_;
      if (rng_.Chance(50)) prefix += static_cast<char>('1' + rng_.Below(9));
      if (op == kCount) {
        std::size_t lo = 0, hi = 0;
        for (std::uint32_t i = 0; i < cfg_.keys; ++i) {
          if (!Key(i).starts_with(prefix)) continue;
          lo += st_[i].kind == kPresent;
          hi += st_[i].kind != kAbsent;
        }
        std::size_t n = store_.count(prefix);
        if (n < lo || n > hi)
          Fail(kError, 0, -1,
               "count(" + prefix + ") = " + std::to_string(n) + "; model " + std::to_string(lo) +
                   ".." + std::to_string(hi));
      } else if (op == kList) {
        std::size_t limit = rng_.Chance(50) ? 0 : 1 + rng_.Below(20);
        auto entries = store_.list({prefix, limit});
        if (limit != 0 && entries.size() > limit)
          return Fail(kError, 0, -1, "list returned more than its limit");
        CheckListing(prefix, entries, limit == 0 || entries.size() < limit, "list");
      } else {
        std::vector<shmkv::Entry> all;
        shmkv::ScanOptions so{prefix, 1 + rng_.Below(16), ""};
        for (std::uint32_t page = 0;; ++page) {
          if (page > cfg_.keys + 1) return Fail(kError, 0, -1, "scan does not finish");
          auto p = store_.scan(so);
          if (p.entries.size() > so.limit) return Fail(kError, 0, -1, "scan page above limit");
          for (auto& e : p.entries) all.push_back(std::move(e));
          if (p.done) break;
          so.cursor = p.cursor;
        }
        CheckListing(prefix, all, true, "scan");
      }
      break;
    }
    case kListOther: {
      std::string prefix = SlotPrefix(static_cast<int>(rng_.Below(cfg_.workers)));
      if (prefix == prefix_) break;
      for (const auto& e : store_.list({prefix, 32})) VerifyOther(e.key, e.value);
      break;
    }
    default:
      break;
  }
}

}  // namespace stress
