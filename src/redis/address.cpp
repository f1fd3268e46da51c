// address.cpp: Options::url to RedisAddress (address.hpp). No state.
#include "redis/address.hpp"

#include <charconv>
#include <string_view>

#include "os/throw.hpp"

namespace shmkv::detail {
namespace {

// The url for a message: the password, if any, replaced by "***".
std::string Masked(const std::string& url) {
  const std::size_t scheme = url.find("://");
  const std::size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  const std::size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

[[noreturn]] void Bad(const std::string& url, const std::string& why) {
  Throw(errc::invalid_argument,
        "url '" + Masked(url) + "' " + why +
            " (expected redis://[[user]:password@]host[:port][/db] or unix:///path.sock[?db=N])");
}

int ParseNumber(const std::string& url, std::string_view text, const char* what, int max) {
  int v = -1;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < 0 || v > max)
    Bad(url, std::string("has ") + what + " '" + std::string(text) + "'; it must be 0.." +
                 std::to_string(max));
  return v;
}

}  // namespace

std::string RedisAddress::Display() const {
  std::string s = unix_socket ? "unix://" + path : "redis://" + host + ":" + std::to_string(port);
  if (db != 0) s += unix_socket ? "?db=" + std::to_string(db) : "/" + std::to_string(db);
  return s;
}

RedisAddress ParseRedisUrl(const std::string& url) {
  constexpr int kMaxDb = 1 << 20;
  RedisAddress a;
  std::string_view rest(url);
  if (rest.starts_with("unix://")) {
    rest.remove_prefix(7);
    a.unix_socket = true;
    const std::size_t q = rest.find('?');
    a.path = std::string(rest.substr(0, q));
    if (a.path.empty() || a.path[0] != '/') Bad(url, "has no absolute socket path");
    if (q != std::string_view::npos) {
      std::string_view query = rest.substr(q + 1);
      if (!query.starts_with("db=")) Bad(url, "has the query '" + std::string(query) + "'");
      a.db = ParseNumber(url, query.substr(3), "the database", kMaxDb);
    }
    return a;
  }
  if (!rest.starts_with("redis://")) Bad(url, "names no known engine");
  rest.remove_prefix(8);
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos)
    a.db = ParseNumber(url, rest.substr(slash + 1), "the database", kMaxDb);
  const std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) Bad(url, "has a user but no ':password'");
    a.user = std::string(userinfo.substr(0, colon));
    a.password = std::string(userinfo.substr(colon + 1));
  }
  std::string_view host = authority;
  if (authority.starts_with('[')) {  // [IPv6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) Bad(url, "has an unclosed '['");
    host = authority.substr(1, close - 1);
    authority.remove_prefix(close + 1);
    if (!authority.empty()) {
      if (authority[0] != ':') Bad(url, "has text after ']'");
      a.port = ParseNumber(url, authority.substr(1), "the port", 65535);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      a.port = ParseNumber(url, authority.substr(colon + 1), "the port", 65535);
    }
  }
  if (host.empty()) Bad(url, "has no host");
  if (a.port == 0) Bad(url, "has port 0");
  a.host = std::string(host);
  return a;
}

}  // namespace shmkv::detail
