// segment.hpp: one process's mapping of a shmkv segment (internal).
//
// Invariants:
// - A segment is built under a temporary name and published with link() to /dev/shm/shmkv.<name>
//   only once its header says ready, so an opener never sees a half-built segment. A file at the
//   final name with a zero header (left by some other writer) is replaced under flock(LOCK_EX).
// - The mapping stays in place until the Segment is destroyed; it is never remapped or resized,
//   so offsets followed under a lock always stay mapped (unmapping while holding a robust mutex
//   would defeat it).
// - Each Segment claims one ProcessSlot (pid + start time) on attach and frees it on close;
//   slots of dead processes are reclaimed by the next opener.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "layout.hpp"
#include "shmkv/options.hpp"

namespace shmkv::detail {

class Segment {
 public:
  // Called on a segment this opener built, before it is published (persistence recovery fills
  // it here): nobody else can see it yet. An exception discards the segment and leaves Open.
  using BeforePublish = std::function<void(Segment&)>;

  // Creates or attaches according to options.open_mode. Throws shmkv::Error.
  static std::unique_ptr<Segment> Open(const Options& options,
                                       const BeforePublish& before_publish = {});
  static void Destroy(const std::string& name);
  static void ValidateName(const std::string& name);
  // Wraps a mapping the caller validated, without registering this process (read-only tools;
  // defined in inspect.cpp). The Segment owns fd and mapping from then on.
  static std::unique_ptr<Segment> AdoptUnregistered(std::string name, int fd, std::uint8_t* base,
                                                    std::uint64_t size);

  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  const std::string& name() const { return name_; }
  int fd() const { return fd_; }
  SegmentHeader* header() const { return reinterpret_cast<SegmentHeader*>(base_); }
  std::uint8_t* base() const { return base_; }
  std::uint64_t size() const { return size_; }

  template <typename T>
  T* At(std::uint64_t offset) const {
    return reinterpret_cast<T*>(base_ + offset);
  }
  ShardHeader* shard(std::uint32_t i) const { return At<ShardHeader>(header()->off_shards) + i; }
  ChunkInfo* chunk(std::uint64_t i) const { return At<ChunkInfo>(header()->off_chunks) + i; }
  ProcessSlot* process(std::uint32_t i) const {
    return At<ProcessSlot>(header()->off_processes) + i;
  }

  // Frees registry slots of processes that are no longer alive. Returns how many.
  std::uint32_t ReclaimDeadProcesses();

 private:
  Segment(std::string name, int fd, std::uint8_t* base, std::uint64_t size);
  void Register();

  std::string name_;
  int fd_;
  std::uint8_t* base_;
  std::uint64_t size_;
  std::int32_t registry_slot_ = -1;
};

}  // namespace shmkv::detail
