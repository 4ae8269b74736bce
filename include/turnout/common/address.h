// Parsing and formatting of the addresses turnout listens on and connects to:
//   "127.0.0.1:8080", "[::1]:8080", "localhost:8080" (resolved once, at parse time), "unix:/path/to.sock".
// Plain value type, any thread.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "turnout/common/error.h"

namespace turnout {

struct SocketAddress {
  sockaddr_storage storage{};  // filled for AF_INET, AF_INET6 and AF_UNIX
  socklen_t length = 0;        // bytes of `storage` in use
  std::string text;            // the address as the operator wrote it, normalised ("127.0.0.1:9001", "unix:/x")

  int family() const { return storage.ss_family; }
  bool is_unix() const { return storage.ss_family == AF_UNIX; }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  uint16_t port() const;              // 0 for unix sockets
  bool is_loopback() const;           // 127.0.0.0/8, ::1, or a unix socket
};

// Parses "host:port", "[v6]:port" or "unix:/path". A host name other than an IP literal is
// resolved with getaddrinfo (blocking; only called while loading config on the main thread).
Result<SocketAddress> parse_address(std::string_view text);

// Formats a socket address as "ip:port" / "[v6]:port" (for logs and X-Forwarded-For use ip only).
std::string format_address(const sockaddr* sa, bool with_port = true);

}  // namespace turnout
