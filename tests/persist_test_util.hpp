// persist_test_util.hpp: helpers for the persistence tests (temporary directories, file
// surgery: flip a byte, truncate, patch a version).
#pragma once

#include <stdlib.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "shmkv/shmkv.hpp"
#include "test_util.hpp"

namespace persisttest {

namespace fs = std::filesystem;

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/shmkv-persist-XXXXXX";
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

inline shmkv::Options persistent_options(const std::string& name, const std::string& dir,
                                         shmkv::FsyncPolicy policy = shmkv::FsyncPolicy::interval,
                                         std::uint32_t keep = 2) {
  shmkv::Options o = testutil::small_options(name, 16ull << 20, 4);
  shmkv::PersistenceOptions p;
  p.directory = dir;
  p.fsync = policy;
  p.keep_snapshots = keep;
  p.snapshot_interval = std::chrono::hours(1);  // tests take snapshots explicitly
  o.persistence = p;
  return o;
}

// Every live key and its value.
inline std::map<std::string, std::string> contents_of(shmkv::Store& s) {
  std::map<std::string, std::string> out;
  for (auto& e : s.list()) out[e.key] = e.value;
  return out;
}

// Full paths of the files in dir whose name contains needle, sorted.
inline std::vector<std::string> files_matching(const std::string& dir, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(needle) != std::string::npos)
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

inline std::uint64_t file_size(const std::string& path) {
  return fs::file_size(path);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline void write_at(const std::string& path, std::uint64_t off, const std::string& bytes) {
  std::string b = read_file(path);
  b.replace(off, bytes.size(), bytes);
  write_file(path, b);
}

inline void flip_byte(const std::string& path, std::uint64_t off) {
  std::string b = read_file(path);
  b.at(off) = static_cast<char>(b.at(off) ^ 0x5a);
  write_file(path, b);
}

inline void truncate_file(const std::string& path, std::uint64_t len) {
  fs::resize_file(path, len);
}

// Sets a journal's format version and recomputes its header checksum (a well-formed file from
// a "newer build").
inline void rewrite_journal_version(const std::string& path, std::uint32_t version) {
  std::string b = read_file(path);
  for (int i = 0; i < 4; ++i) b[8 + i] = static_cast<char>(version >> (8 * i));
  std::uint32_t sum = static_cast<std::uint32_t>(XXH3_64bits(b.data(), 60));
  for (int i = 0; i < 4; ++i) b[60 + i] = static_cast<char>(sum >> (8 * i));
  write_file(path, b);
}

// Sets a snapshot's format_version (a positive fixint right after the "format_version" key).
inline void rewrite_snapshot_version(const std::string& path, std::uint8_t version) {
  std::string b = read_file(path);
  auto pos = b.find("format_version");
  b[pos + 14] = static_cast<char>(version);
  write_file(path, b);
}

// Bytes of the last record of a journal (walks the frames).
inline std::uint64_t record_bytes_of_last(const std::string& path) {
  std::string b = read_file(path);
  std::uint64_t off = 64, last = 0;
  while (off + 16 <= b.size()) {
    std::uint32_t len = 0;
    for (int i = 3; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(b[off + 4 + i]);
    last = 16 + len;
    off += last;
  }
  return last;
}

}  // namespace persisttest
