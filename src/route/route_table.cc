#include "turnout/route/route_table.h"

#include <arpa/inet.h>

#include <cstring>

namespace turnout {

const Route* RouteTable::lookup(std::string_view host) const {
  if (const RoutePtr* exact = exact_.find(host)) return exact->get();
  // Longest wildcard first: the suffix after the first dot is the longest candidate. IP
  // literals in brackets never match a wildcard.
  if (!wildcard_.empty() && !host.empty() && host.front() != '[') {
    for (size_t dot = host.find('.'); dot != std::string_view::npos; dot = host.find('.', dot + 1)) {
      if (dot == 0) continue;  // "*.x" needs at least one label before ".x"
      if (const RoutePtr* wild = wildcard_.find(host.substr(dot + 1))) return wild->get();
    }
  }
  return default_route_.get();
}

const Route* RouteTable::find_route(std::string_view key) const {
  const RoutePtr* found = key.substr(0, 2) == "*." ? wildcard_.find(key.substr(2)) : exact_.find(key);
  return found != nullptr ? found->get() : nullptr;
}

const App* RouteTable::find_app(std::string_view name) const {
  const AppSlot* slot = apps_.find(name);
  return slot != nullptr ? slot->app.get() : nullptr;
}

AppPtr RouteTable::find_app_ptr(std::string_view name) const {
  const AppSlot* slot = apps_.find(name);
  return slot != nullptr ? slot->app : nullptr;
}

size_t RouteTable::route_count() const { return exact_.size() + wildcard_.size(); }

size_t RouteTable::app_count() const { return apps_.size(); }

uint64_t RouteTable::app_route_count(std::string_view app) const {
  const AppSlot* slot = apps_.find(app);
  return slot != nullptr ? slot->route_refs : 0;
}

void RouteTable::for_each_route(const std::function<void(const Route&)>& fn) const {
  exact_.for_each([&](const std::string&, const RoutePtr& route) { fn(*route); });
  wildcard_.for_each([&](const std::string&, const RoutePtr& route) { fn(*route); });
}

void RouteTable::for_each_app(const std::function<void(const App&)>& fn) const {
  apps_.for_each([&](const std::string&, const AppSlot& slot) { fn(*slot.app); });
}

std::shared_ptr<const RouteTable> RouteTable::with_version(uint64_t version) const {
  auto copy = std::make_shared<RouteTable>(*this);  // copies map roots and pointers only
  copy->version_ = version;
  return copy;
}

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || is_digit(c); }

// RFC 3986 reg-name bytes, without pct-encoding (which no real Host uses and would let two
// spellings reach one route).
bool is_reg_name_char(char c) {
  if (is_alnum_lower(lower(c))) return true;
  switch (c) {
    case '-': case '.': case '_': case '~':
    case '!': case '$': case '&': case '\'': case '(': case ')':
    case '*': case '+': case ',': case ';': case '=':
      return true;
    default:
      return false;
  }
}

// ":" followed by at most five digits (an empty port is allowed by RFC 3986).
bool valid_port_suffix(std::string_view rest) {
  if (rest.empty() || rest.front() != ':' || rest.size() > 6) return false;
  for (char c : rest.substr(1))
    if (!is_digit(c)) return false;
  return true;
}

// The text between brackets of an IP literal, already lower-cased.
bool valid_ipv6(std::string_view inner) {
  char buf[INET6_ADDRSTRLEN];
  if (inner.empty() || inner.size() >= sizeof(buf)) return false;
  for (char c : inner)
    if (!(is_alnum_lower(c) && c <= 'f') && c != ':' && c != '.') return false;
  std::memcpy(buf, inner.data(), inner.size());
  buf[inner.size()] = '\0';
  in6_addr addr;
  return inet_pton(AF_INET6, buf, &addr) == 1;
}

// A lower-case DNS-style name: labels of [a-z0-9_-], 1-63 bytes, 253 bytes at most in all.
bool valid_hostname(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!is_alnum_lower(c) && c != '-' && c != '_') return false;
    if (++label > 63) return false;
  }
  return label != 0;
}

}  // namespace

std::string normalize_host(std::string_view host) {
  if (host.empty()) return {};
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return {};
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && !valid_port_suffix(rest)) return {};
    std::string out(host.substr(0, close + 1));
    for (char& c : out) c = lower(c);
    if (!valid_ipv6(std::string_view(out).substr(1, close - 1))) return {};
    return out;
  }
  std::string_view name = host;
  size_t colon = host.find(':');
  if (colon != std::string_view::npos) {
    if (!valid_port_suffix(host.substr(colon))) return {};
    name = host.substr(0, colon);
  }
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253 || name.back() == '.') return {};
  std::string out(name.size(), '\0');
  char prev = '.';  // rejects a leading dot and empty labels
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (!is_reg_name_char(c) || (c == '.' && prev == '.')) return {};
    out[i] = lower(c);
    prev = c;
  }
  return out;
}

bool valid_route_key(std::string_view key) {
  if (key.empty()) return false;
  if (key.front() == '[') return key.size() > 2 && key.back() == ']' && valid_ipv6(key.substr(1, key.size() - 2));
  if (key.substr(0, 2) == "*.") key.remove_prefix(2);
  return valid_hostname(key);
}

}  // namespace turnout
