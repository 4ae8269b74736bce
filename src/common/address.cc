#include "turnout/common/address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <charconv>
#include <cstddef>
#include <cstring>

namespace turnout {

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

bool SocketAddress::is_loopback() const {
  if (family() == AF_UNIX) return true;
  if (family() == AF_INET) {
    auto a = ntohl(reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr.s_addr);
    return (a >> 24) == 127;
  }
  if (family() == AF_INET6) {
    auto* a6 = &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a6);
  }
  return false;
}

Result<SocketAddress> parse_address(std::string_view text) {
  SocketAddress out;
  if (text.rfind("unix:", 0) == 0) {
    std::string_view path = text.substr(5);
    sockaddr_un un{};
    if (path.empty()) return make_error(ErrorKind::Invalid, "unix socket address has an empty path");
    if (path.size() >= sizeof(un.sun_path))
      return make_error(ErrorKind::Invalid, "unix socket path is longer than " + std::to_string(sizeof(un.sun_path) - 1) + " bytes");
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.data(), path.size());
    std::memcpy(&out.storage, &un, sizeof(un));
    out.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    out.text = std::string(text);
    return out;
  }
  std::string_view host, port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return make_error(ErrorKind::Invalid, "address '" + std::string(text) + "' is not [ipv6]:port");
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0)
      return make_error(ErrorKind::Invalid, "address '" + std::string(text) + "' is not host:port");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return make_error(ErrorKind::Invalid, "IPv6 address '" + std::string(text) + "' must be written [addr]:port");
  }
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() || port > 65535)
    return make_error(ErrorKind::Invalid, "address '" + std::string(text) + "' has an invalid port");

  std::string host_str(host);
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, host_str.c_str(), &a4) == 1) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(port));
    sin.sin_addr = a4;
    std::memcpy(&out.storage, &sin, sizeof(sin));
    out.length = sizeof(sin);
  } else if (inet_pton(AF_INET6, host_str.c_str(), &a6) == 1) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(static_cast<uint16_t>(port));
    sin6.sin6_addr = a6;
    std::memcpy(&out.storage, &sin6, sizeof(sin6));
    out.length = sizeof(sin6);
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host_str.c_str(), nullptr, &hints, &res) != 0 || res == nullptr)
      return make_error(ErrorKind::Invalid, "cannot resolve host '" + host_str + "'");
    std::memcpy(&out.storage, res->ai_addr, res->ai_addrlen);
    out.length = res->ai_addrlen;
    freeaddrinfo(res);
    if (out.family() == AF_INET)
      reinterpret_cast<sockaddr_in*>(&out.storage)->sin_port = htons(static_cast<uint16_t>(port));
    else
      reinterpret_cast<sockaddr_in6*>(&out.storage)->sin6_port = htons(static_cast<uint16_t>(port));
  }
  out.text = std::string(text);
  return out;
}

std::string format_address(const sockaddr* sa, bool with_port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    auto* s = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &s->sin_addr, buf, sizeof(buf));
    return with_port ? std::string(buf) + ":" + std::to_string(ntohs(s->sin_port)) : std::string(buf);
  }
  if (sa->sa_family == AF_INET6) {
    auto* s = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &s->sin6_addr, buf, sizeof(buf));
    return with_port ? "[" + std::string(buf) + "]:" + std::to_string(ntohs(s->sin6_port)) : std::string(buf);
  }
  if (sa->sa_family == AF_UNIX) return "unix:" + std::string(reinterpret_cast<const sockaddr_un*>(sa)->sun_path);
  return "?";
}

}  // namespace turnout
