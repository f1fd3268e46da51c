// shmkv/options.hpp: how to open a store.
//
// Size fields take effect only when the segment is created; Store::info() reports the values
// recorded in the segment. Attaching with size_bytes, shards, max_key_bytes or max_value_bytes
// set to a value other than its default and other than the segment's raises invalid_argument
// naming the option and both values; left at their defaults, they take the segment's values.
// (max_keys and home_block_bytes are not recorded as given, so attaching ignores them.)
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "shmkv/persistence.hpp"

namespace shmkv {

// Options::max_value_bytes's default.
inline constexpr std::uint32_t kDefaultMaxValueBytes = 1u << 20;

enum class OpenMode {
  create_or_attach,  // attach if the segment exists, else create it (the default)
  create_only,       // create; errc::already_exists if it exists
  attach_only,       // attach; errc::not_found if it does not exist
  read_only,         // attach; every mutation raises errc::read_only. The mapping is still
                     // read-write (robust locks need it), so the OS must grant write access.
};

// The shared-memory engine's options (the default engine, and today the only one). Options
// inherits them, so that `options.size_bytes = ...` reads as it always did; an engine that does
// not use a field ignores it.
struct SharedMemoryOptions {
  // Total segment bytes. Default 64 MiB, at least 1 MiB. Fixed at creation. A store takes
  // its memory from /dev/shm in two parts (docs/design.md "What a creation reserves"):
  // - At creation, at once (posix_fallocate): everything below the arena, that is 8 bytes
  //   per hash-table slot (about 1.15 slots per max_keys, more for small shards) and 8 per key
  //   the tables may hold (90 % of the slots), 32 bytes per 4 KiB arena chunk (size_bytes /
  //   128) and about 163 KiB (headers and the coordination table) + 576 bytes per shard, plus
  //   home_block_bytes per slot with home blocks. With the default max_keys that is about
  //   7.5-8 % of size_bytes: 5.2 MiB for 64 MiB, 76 MiB for 1 GiB, 603 MiB for 8 GiB, about
  //   7.3 GiB for 100 GiB. A lower max_keys lowers it (the chunk table's 0.8 % remains).
  // - The arena, 256 KiB at a time as records and the ordered index's nodes fill it
  //   (posix_fallocate again, so a write that finds /dev/shm full is store_full, never
  //   SIGBUS).
  // Creating is refused, before any file exists, when the first part is larger than the free
  // space of /dev/shm (store_full) or size_bytes larger than all of /dev/shm (invalid_argument:
  // it could never fill), each naming both byte counts. A size_bytes between the free space and
  // the total is accepted: the store fills until /dev/shm does, then writes are store_full.
  std::uint64_t size_bytes = 64ull << 20;

  // Number of shards, a power of two (each has its own robust mutex). 0 = chosen from the core
  // count (16 per core, at least 64, at most 1024). More shards mean less lock contention.
  std::uint32_t shards = 0;

  // How many keys the hash tables can hold in total (0 = size_bytes / 256, at least 1024). Each
  // potential key costs about 17 bytes of index (an 8-byte slot, slots at most 90 % full, and an
  // 8-byte dense entry), reserved at creation; the rest of the segment holds keys and values.
  std::uint64_t max_keys = 0;

  // Home blocks, for stores whose records are mostly of one size (0 = none, the default; else
  // 33..512, rounded up to an allocation size class). The arena then reserves one block of this
  // size for every hash-table slot, and a record of up to this size (32-byte header + key +
  // value) whose key's home slot has a free block is stored there. A get fetches the slot and
  // that block together, one memory round trip instead of two: faster gets and updates on
  // tables larger than the CPU cache. The cost is home_block_bytes per slot (about
  // 1.2 x max_keys slots), reserved at creation whether used or not.
  std::uint32_t home_block_bytes = 0;

  // Keep an ordered index of the keys (default on): list, scan, count, ranges, random_key,
  // pop_random and delete_prefix then cost O(log n + k) instead of a walk over every key. It
  // costs about 23 bytes per key of arena and a little time on each insert and delete of a key
  // (docs/benchmarks.md "Prefix and range operations"). Fixed at creation.
  bool ordered_index = true;

  // File mode of a newly created segment. Default 0600: only the creating user may attach.
  // Group write (0660) needs trusted_group; write for other users (0606, 0666) is refused:
  // whoever may write the segment can change what every attached process reads.
  std::uint32_t mode = 0600;

  // The group this store is shared with on purpose (a gid), or none (the default). Sharing
  // write access means trusting every member of the group with the store's content: a member
  // can change or read any key, and stop or slow every other user of the store (by holding
  // a lock); the library still checks everything it reads, so a member cannot crash another
  // process or make it write outside the segment. Without it, attaching to a segment (or
  // persistence directory or file) that another user owns, that the group may write, or that
  // any user may write is refused with errc::permission_denied naming the owner and the
  // mode: a segment that someone else created first under your store's name is a trap, not
  // your store. With it, a new segment gets this group, and an existing one is accepted when
  // it belongs to this group and no user outside it may write it.
  std::optional<std::uint32_t> trusted_group;

  // Verify record checksums on reads (default off). Every record carries a 32-bit checksum
  // of its key and value (docs/design.md "Record checksums"), written by every write and
  // always checked by check_invariants(), `shmkv check` and `shmkv-inspect check`. With this
  // on, get, exists, the read-modify-writes (increment, swap, compare_and_swap, ...), list,
  // scan, random_key and pop_random also check every record they read and raise
  // errc::corrupted, naming the shard, the key and the offset, instead of returning damaged
  // bytes. Off by default because it costs one XXH3 of the value per read: about 12 ns for
  // 100 bytes, 20 % of a cache-resident get and more than the 3 % budget on the 1M-key
  // benchmark (docs/benchmarks.md "Record checksums"). Process-local: each handle chooses.
  bool verify_reads = false;

  // Disk backend (snapshot + journal, see persistence.hpp). Absent (the default) = memory only.
  // Taken into account when this open creates the segment (the directory and snapshot settings
  // are recorded in it) or recovers it from the directory; when attaching, only the fsync policy
  // applies (to this process's writes) and a different directory is refused.
  std::optional<PersistenceOptions> persistence;
};

// The Redis engine's options (Options::url set; docs/design.md "The Redis engine").
struct RedisOptions {
  // How long connecting to the server may take before unavailable is raised.
  std::chrono::milliseconds connect_timeout{2000};
  // How long one command may wait for its reply (0 = no limit; negative timeouts are
  // invalid_argument). A read that times out is retried once on a new
  // connection; a write that times out raises outcome_unknown (it may have run).
  std::chrono::milliseconds command_timeout{10000};
};

// How to open a store: what every engine takes, then (inherited) each engine's own. An engine
// refuses the other engine's options when they are set to anything but their defaults
// (invalid_argument naming the option).
struct Options : SharedMemoryOptions, RedisOptions {
  // The store's name: 1-200 of [A-Za-z0-9._-]. A shared-memory store's segment lives at
  // /dev/shm/shmkv.<name>; a Redis store's keys live under the hash tag {<name>}.
  std::string name = "default";

  // Where the store lives. Empty (the default): the shared-memory segment of this host. Else a
  // Redis (>= 7.0) or Valkey server, so that processes on several hosts share the store:
  //   redis://[[user]:password@]host[:port][/db]   (TCP; port 6379 by default)
  //   unix:///path/to/redis.sock[?db=N]            (a local unix socket)
  // Every operation works on both engines with the same results and errors (the conformance
  // suite, tests/conformance/, runs on both); each costs a network round trip (about 6-15 us on
  // one host) instead of a memory access. A Redis store's names of options that concern the
  // segment (size_bytes, shards, max_keys, home_block_bytes, ordered_index = false, mode,
  // trusted_group, verify_reads, persistence) are refused with invalid_argument: durability
  // and memory are the server's configuration.
  std::string url;

  OpenMode open_mode = OpenMode::create_or_attach;

  // Largest key accepted, in bytes (1..65535). Default 1024. Fixed when a store is created;
  // every engine refuses longer keys (key_too_long) before doing anything.
  std::uint32_t max_key_bytes = 1024;

  // Largest value accepted, in bytes. Fixed when a store is created, which checks that a
  // record of this size (32-byte header + max_key_bytes + max_value_bytes) can be stored in the
  // empty store, next to the ordered index's first nodes. At its default, kDefaultMaxValueBytes
  // (1 MiB), it is lowered to the largest value that can when 1 MiB cannot (a store of about
  // 1.3 MiB or less: with 64 shards, a 1 MiB store gets 771 KiB); info() reports the value
  // chosen. Any other value that does not fit is invalid_argument naming it and the largest
  // that fits. (Like the attach checks above, "at its default" means equal to it.)
  std::uint32_t max_value_bytes = kDefaultMaxValueBytes;
};

}  // namespace shmkv
