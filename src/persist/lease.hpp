// lease.hpp: leases, one 64-bit word in the segment header each (internal).
//
// A lease names one process that may run a long, exclusive job on the whole store without
// holding a lock across it: the snapshot writer (SegmentHeader::snapshot_lease) and backup or
// restore (backup_lease). The word is pid << 32 | deadline in CLOCK_MONOTONIC seconds, changed
// only by compare-and-swap. A lease is free when 0, past its deadline, or held by a dead pid, so a
// holder killed by SIGKILL blocks nobody for longer than its deadline, and usually not at all.
// Nothing else is shared: a process keeps the word it wrote (`mine`) to renew and release it.
#pragma once

#include <atomic>
#include <cstdint>

namespace shmkv::detail {

// Leases last this long unless renewed (snapshot and backup writers renew before every shard).
inline constexpr std::uint64_t kLeaseSeconds = 120;

// Lease words in the segment header (snapshot_lease, backup_lease): pid << 32 | deadline in
// CLOCK_MONOTONIC seconds. A lease is free when 0, past its deadline, or held by a dead pid.
bool ClaimLease(std::atomic<std::uint64_t>* word, std::uint64_t seconds, std::uint64_t* mine);
bool RenewLease(std::atomic<std::uint64_t>* word, std::uint64_t seconds, std::uint64_t* mine);
void ReleaseLease(std::atomic<std::uint64_t>* word, std::uint64_t mine);

std::uint64_t MonotonicMs();

}  // namespace shmkv::detail
