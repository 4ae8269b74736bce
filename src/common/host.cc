// Host normalisation shared by the http and route layers (see host.h).
#include "turnout/common/host.h"

#include <arpa/inet.h>

#include <cstring>

namespace turnout {
namespace {

constexpr size_t kMaxHostLength = 253;  // DNS limit; longer names cannot resolve anyway

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

// ":" followed by zero to five digits (RFC 3986 allows an empty port).
bool valid_port_suffix(std::string_view s) {
  if (s.empty()) return true;
  if (s[0] != ':' || s.size() > 6) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    if (!is_digit(s[i])) return false;
  }
  return true;
}

std::string normalize_ip_literal(std::string_view host) {
  size_t close = host.find(']');
  if (close == std::string_view::npos) return {};
  if (!valid_port_suffix(host.substr(close + 1))) return {};
  std::string out(host.substr(0, close + 1));
  for (char& c : out) c = lower(c);
  // An IPv6 address, possibly with a dotted IPv4 tail; zone ids and IPvFuture are not
  // routable. inet_pton needs a NUL-terminated copy.
  std::string_view inner = std::string_view(out).substr(1, close - 1);
  char buf[INET6_ADDRSTRLEN];
  if (inner.empty() || inner.size() >= sizeof(buf)) return {};
  for (char c : inner) {
    if (!(is_hex(c) || c == ':' || c == '.')) return {};
  }
  std::memcpy(buf, inner.data(), inner.size());
  buf[inner.size()] = '\0';
  in6_addr addr;
  if (inet_pton(AF_INET6, buf, &addr) != 1) return {};
  return out;
}

}  // namespace

bool valid_ipv6_literal(std::string_view inner) {
  char buf[INET6_ADDRSTRLEN];
  if (inner.empty() || inner.size() >= sizeof(buf)) return false;
  for (char c : inner) {
    if (!(is_hex(c) || c == ':' || c == '.')) return false;
  }
  std::memcpy(buf, inner.data(), inner.size());
  buf[inner.size()] = '\0';
  in6_addr addr;
  return inet_pton(AF_INET6, buf, &addr) == 1;
}

bool valid_hostname(std::string_view name) {
  if (name.empty() || name.size() > kMaxHostLength) return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!(is_digit(c) || (c >= 'a' && c <= 'z') || c == '-' || c == '_')) return false;
    if (++label > 63) return false;
  }
  return label != 0;
}

void normalize_host_into(std::string_view host, std::string& out) {
  out.clear();
  if (host.empty()) return;
  if (host[0] == '[') {
    out = normalize_ip_literal(host);  // rare: literals are not worth a second code path
    return;
  }
  size_t colon = host.find(':');
  std::string_view name = host.substr(0, colon);
  if (colon != std::string_view::npos && !valid_port_suffix(host.substr(colon))) return;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);  // one trailing dot only
  if (name.empty() || name.size() > kMaxHostLength) return;
  char prev = '.';
  for (char c : name) {
    // Hostname letters only: sub-delims and '*' would let a client address wildcard route
    // keys directly or smuggle bytes into logs.
    if (c == '.') {
      if (prev == '.') return;  // empty label (leading dot or "..")
    } else if (!(is_alnum(c) || c == '-' || c == '_')) {
      return;
    }
    prev = c;
  }
  if (prev == '.') return;  // "example.com.." had two trailing dots
  out.assign(name);
  for (char& c : out) c = lower(c);
}

std::string normalize_host(std::string_view host) {
  std::string out;
  normalize_host_into(host, out);
  return out;
}

}  // namespace turnout
