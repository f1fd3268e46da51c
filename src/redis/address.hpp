// address.hpp: where a Redis store lives, parsed from Options::url (internal). No state.
//
//   redis://[[user]:password@]host[:port][/db]   TCP, port 6379 by default, database 0
//   unix:///path/to/redis.sock[?db=N]            a unix socket
//
// A malformed url raises invalid_argument naming it (with the password masked) and what is wrong.
#pragma once

#include <string>

namespace shmkv::detail {

struct RedisAddress {
  bool unix_socket = false;
  std::string host;  // TCP
  int port = 6379;   // TCP
  std::string path;  // unix socket
  int db = 0;
  std::string user;      // AUTH user (empty: the default user)
  std::string password;  // AUTH password (empty: no AUTH)

  // The url without the password, for messages and Info::redis.
  std::string Display() const;
};

RedisAddress ParseRedisUrl(const std::string& url);

}  // namespace shmkv::detail
