// segment_image.hpp: a test's read-write mapping of a segment file, to damage it as a stray
// write, a bug or another user would, and to find a key's slot and record in a clean image by
// probing as the library does. Test code: it trusts the image it was given.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "shm/key_hash.hpp"
#include "shm/layout.hpp"
#include "shm/shard.hpp"
#include "test_util.hpp"

namespace testutil {

class SegmentImage {
 public:
  explicit SegmentImage(const std::string& name) : path_(segment_path(name)) {
    fd_ = ::open(path_.c_str(), O_RDWR);
    REQUIRE(fd_ >= 0);
    struct stat st {};
    REQUIRE(::fstat(fd_, &st) == 0);
    size_ = static_cast<std::size_t>(st.st_size);
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    REQUIRE(p != MAP_FAILED);
    base_ = static_cast<std::uint8_t*>(p);
  }
  ~SegmentImage() {
    ::munmap(base_, size_);
    ::close(fd_);
  }
  SegmentImage(const SegmentImage&) = delete;
  SegmentImage& operator=(const SegmentImage&) = delete;

  shmkv::detail::SegmentHeader* header() const {
    return reinterpret_cast<shmkv::detail::SegmentHeader*>(base_);
  }
  std::uint8_t* at(std::uint64_t off) const { return base_ + off; }
  shmkv::detail::ShardHeader* shard(std::uint32_t i) const {
    return reinterpret_cast<shmkv::detail::ShardHeader*>(at(header()->off_shards)) + i;
  }
  // The shard of `key`: the top shard_bits bits of its hash.
  std::uint32_t shard_of(std::string_view key) const {
    const std::uint64_t hash = shmkv::detail::HashKey(header()->hash_seed, key);
    const std::uint32_t bits = header()->shard_bits;
    return bits == 0 ? 0 : static_cast<std::uint32_t>(hash >> (64 - bits));
  }
  // The slot of `key`, found by probing from its home slot.
  shmkv::detail::Slot* slot_of(std::string_view key) const {
    namespace det = shmkv::detail;
    const det::SegmentHeader* h = header();
    const std::uint64_t hash = det::HashKey(h->hash_seed, key);
    const std::uint64_t cap = h->slots_per_shard;
    auto* slots = reinterpret_cast<det::Slot*>(at(h->off_slots)) + shard_of(key) * cap;
    for (std::uint64_t i = det::HomeSlot(det::KeyHash{hash}, cap), d = 0; d < cap; ++d) {
      det::Slot* s = &slots[i];
      const auto* r = reinterpret_cast<const det::RecordHeader*>(at(s->rec()));
      if (s->word != 0 && r->key_len == key.size() &&
          std::memcmp(r + 1, key.data(), key.size()) == 0)
        return s;
      i = (i + 1) % cap;
    }
    FAIL("key not found in the image");
    return nullptr;
  }
  std::uint64_t record_offset(std::string_view key) const { return slot_of(key)->rec(); }
  shmkv::detail::RecordHeader* record(std::uint64_t off) const {
    return reinterpret_cast<shmkv::detail::RecordHeader*>(at(off));
  }
  shmkv::detail::RecordHeader* record_of(std::string_view key) const {
    return record(record_offset(key));
  }
  char* key_bytes(std::uint64_t off) const { return reinterpret_cast<char*>(record(off) + 1); }
  char* value_bytes(std::uint64_t off) const { return key_bytes(off) + record(off)->key_len; }

 private:
  std::string path_;
  int fd_ = -1;
  std::size_t size_ = 0;
  std::uint8_t* base_ = nullptr;
};

}  // namespace testutil
