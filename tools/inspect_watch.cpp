// inspect_watch.cpp: `shmkv-inspect NAME watch`, a top-like live view: operation rates,
// fill level, lock states and the hottest shards. On a terminal it redraws in place on the
// alternate screen and restores the terminal on exit; otherwise it prints frames one after
// another (--json: one JSON line per refresh). Each refresh copies only the shard headers
// (counters, counts), one shard lock at a time, with the usual lock protocol (src/shm/inspect.hpp).
// It exits 0 on SIGINT/SIGTERM/SIGHUP and 1 when the segment is removed or replaced.
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "inspect_cli.hpp"
#include "os/os.hpp"

namespace inspect_cli {

using namespace inspect_out;
using shmkv::detail::kChunkBytes;
using shmkv::detail::kMaxLoadPercent;

namespace {

struct Rates {
  double gets, hits, misses, sets, deletes, cas_success, cas_failure, lock_waits;
};

int TerminalRows() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) return ws.ws_row;
  return 24;
}
int TerminalCols() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace

int RunWatch(Ctx& c) {
  const auto interval = std::max<std::chrono::microseconds>(
      c.args.Has("interval") ? ParseDuration(c.args.opts["interval"], "--interval")
                             : std::chrono::seconds(1),
      std::chrono::milliseconds(50));
  const bool tty = !c.args.json && ::isatty(STDOUT_FILENO);
  const auto& h = c.in->header();
  const std::uint64_t arena = h.chunk_count * kChunkBytes;
  const std::uint64_t capacity = h.slots_per_shard * h.shard_count * kMaxLoadPercent / 100;
  if (tty) Out("\x1b[?1049h\x1b[?25l");  // alternate screen, hide the cursor
  auto restore = [&] {
    if (tty) Out("\x1b[?25h\x1b[?1049l");
    std::fflush(stdout);
  };
  std::vector<ins::ShardSnapshot> prev;
  auto prev_t = std::chrono::steady_clock::now();
  for (std::uint64_t frame = 1;; ++frame) {
    if (c.in->Removed()) {
      restore();
      Err("shmkv-inspect: segment '" + c.in->name() + "' was removed; exiting");
      return kExitNotFound;
    }
    const std::uint64_t now_ms = shmkv::detail::os::NowUnixMs();
    auto cur = ins::SnapshotAll(*c.in, ins::kHeader, c.policy, now_ms);
    auto procs = ins::Processes(*c.in);
    const auto t = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(t - prev_t).count();
    const bool have_rates = !prev.empty() && dt > 0;
    ins::Counters total, before;
    std::uint64_t keys = 0, chunks = 0, held = 0, dead = 0;
    struct Hot {
      std::uint32_t shard;
      double ops, gets, sets, deletes;
    };
    std::vector<Hot> hot;
    for (const auto& s : cur) {
      total += s.counters;
      keys += s.count;
      chunks += s.chunk_count;
      held += s.visit.lock.kind == ins::LockKind::held;
      dead += s.visit.lock.kind != ins::LockKind::held && s.visit.lock.kind != ins::LockKind::free;
      const ins::Counters p = have_rates ? prev[s.index].counters : ins::Counters{};
      if (have_rates) before += p;
      auto rate = [&](std::uint64_t now, std::uint64_t then) {
        return have_rates && now >= then ? double(now - then) / dt : 0.0;
      };
      hot.push_back({s.index, rate(s.counters.ops(), p.ops()), rate(s.counters.gets, p.gets),
                     rate(s.counters.sets, p.sets), rate(s.counters.deletes, p.deletes)});
    }
    auto rate = [&](std::uint64_t now, std::uint64_t then) {
      return have_rates && now >= then ? double(now - then) / dt : 0.0;
    };
    Rates r{rate(total.gets, before.gets),
            rate(total.hits, before.hits),
            rate(total.misses, before.misses),
            rate(total.sets, before.sets),
            rate(total.deletes, before.deletes),
            rate(total.cas_success, before.cas_success),
            rate(total.cas_failure, before.cas_failure),
            rate(total.lock_waits, before.lock_waits)};
    // Hottest first by the last interval's ops, then by ops since creation.
    std::stable_sort(hot.begin(), hot.end(), [&](const Hot& a, const Hot& b) {
      if (a.ops != b.ops) return a.ops > b.ops;
      return cur[a.shard].counters.ops() > cur[b.shard].counters.ops();
    });
    const std::size_t top =
        c.args.Has("top") ? ParseCount(c.args.opts["top"], "--top")
                          : (tty ? std::size_t(std::max(1, TerminalRows() - 8)) : std::size_t(10));
    if (hot.size() > top) hot.resize(top);
    const std::uint64_t used =
        std::min((chunks + h.index.nodes) * kChunkBytes, arena);  // index nodes too
    const std::uint64_t dead_procs =
        std::count_if(procs.begin(), procs.end(), [](const auto& p) { return !p.alive; });

    if (c.args.json) {
      auto rj = [&](double v) { return JsonFixed(v, 1); };
      std::vector<std::string> hj;
      for (const auto& x : hot)
        hj.push_back(Obj()
                         .Num("shard", x.shard)
                         .Raw("ops_per_s", rj(x.ops))
                         .Num("keys", cur[x.shard].count)
                         .Raw("lock", LockJson(cur[x.shard].visit.lock))
                         .Done());
      Obj o;
      o.Num("refresh", frame)
          .Num("time_unix_ms", now_ms)
          .Num("interval_ms", static_cast<std::uint64_t>(interval.count() / 1000))
          .Num("keys", keys)
          .Num("key_capacity", capacity)
          .Num("arena_bytes", arena)
          .Num("arena_used_bytes", used);
      if (have_rates)
        o.Raw("rates", Obj()
                           .Raw("gets", rj(r.gets))
                           .Raw("hits", rj(r.hits))
                           .Raw("misses", rj(r.misses))
                           .Raw("sets", rj(r.sets))
                           .Raw("deletes", rj(r.deletes))
                           .Raw("cas_success", rj(r.cas_success))
                           .Raw("cas_failure", rj(r.cas_failure))
                           .Raw("lock_waits", rj(r.lock_waits))
                           .Done());
      else
        o.Null("rates");
      o.Raw("locks", Obj().Num("held", held).Num("dead", dead).Done())
          .Num("processes", procs.size())
          .Num("dead_processes", dead_procs)
          .Raw("hottest", Array(hj));
      OutLine(o.Done());
    } else {
      auto rs = [&](double v) { return have_rates ? HumanCount(std::uint64_t(v + 0.5)) : "-"; };
      std::vector<std::string> lines;
      lines.push_back(Format("shmkv-inspect watch  %s  #%" PRIu64 "  every %s  %s  (Ctrl-C quits)",
                             c.in->name().c_str(), frame,
                             HumanDuration(interval.count() / 1000).c_str(),
                             UnixMsToUtc(now_ms).c_str()));
      lines.push_back(Format("keys    %" PRIu64 " of %" PRIu64 " (%s)    arena %s of %s (%s)", keys,
                             capacity, Percent(keys, capacity).c_str(), HumanBytes(used).c_str(),
                             HumanBytes(arena).c_str(), Percent(used, arena).c_str()));
      lines.push_back("ops/s   gets " + rs(r.gets) + "  hits " + rs(r.hits) + "  misses " +
                      rs(r.misses) + "  sets " + rs(r.sets) + "  deletes " + rs(r.deletes) +
                      "  cas " + rs(r.cas_success) + " ok / " + rs(r.cas_failure) + " failed");
      lines.push_back(Format("locks   %" PRIu64 " held, %" PRIu64 " held by dead processes    "
                             "lock waits/s %s    processes %zu (%" PRIu64 " dead)",
                             held, dead, rs(r.lock_waits).c_str(), procs.size(), dead_procs));
      lines.push_back("");
      Table t({{"shard", true},
               {"ops/s", true},
               {"gets/s", true},
               {"sets/s", true},
               {"deletes/s", true},
               {"keys", true},
               {"load", true},
               {"lock", false}});
      for (const auto& x : hot)
        t.Row({std::to_string(x.shard), rs(x.ops), rs(x.gets), rs(x.sets), rs(x.deletes),
               std::to_string(cur[x.shard].count),
               Format("%.1f%%", 100 * cur[x.shard].load_factor()),
               cur[x.shard].visit.lock.Describe()});
      for (auto& l : t.Lines()) lines.push_back(std::move(l));
      if (tty) {
        const std::size_t cols = static_cast<std::size_t>(TerminalCols());
        std::string screen = "\x1b[H";
        for (auto& l : lines) {
          if (l.size() > cols) l.resize(cols);
          screen += l + "\x1b[K\r\n";
        }
        Out(screen + "\x1b[J");
      } else {
        for (const auto& l : lines) OutLine(l);
        OutLine("");
      }
    }
    std::fflush(stdout);
    prev = std::move(cur);
    prev_t = t;
    const auto deadline = t + interval;
    while (!g_stop && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          deadline - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
    if (g_stop) {
      restore();
      return kExitOk;
    }
  }
}

}  // namespace inspect_cli
