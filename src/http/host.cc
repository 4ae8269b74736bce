// Host normalisation (the route key) and absolute-form splitting.
#include "turnout/http/host.h"

#include "turnout/http/header.h"

namespace turnout {
namespace {

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::string_view without_port(std::string_view host) { return host.substr(0, host.find(':')); }

}  // namespace

bool valid_reg_name_host(std::string_view host) {
  std::string_view name = without_port(host);
  std::string_view port = host.substr(name.size());
  if (!port.empty()) {
    if (port.size() > 6) return false;  // ":" and at most five digits, as normalize_host
    for (char c : port.substr(1)) {
      if (c < '0' || c > '9') return false;
    }
  }
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum || std::string_view("-._~!$&'()*+;=").find(c) != std::string_view::npos) continue;
    if (c == '%' && i + 2 < name.size() && is_hex(name[i + 1]) && is_hex(name[i + 2])) {
      i += 2;
      continue;
    }
    return false;
  }
  return true;
}

bool same_reg_name_host(std::string_view a, std::string_view b) { return iequals(without_port(a), without_port(b)); }

bool split_absolute_form(std::string_view target, std::string_view* authority, std::string_view* origin) {
  size_t scheme_len;
  if (target.size() >= 7 && iequals(target.substr(0, 7), "http://")) {
    scheme_len = 7;
  } else if (target.size() >= 8 && iequals(target.substr(0, 8), "https://")) {
    scheme_len = 8;
  } else {
    return false;
  }
  std::string_view rest = target.substr(scheme_len);
  size_t end = rest.find_first_of("/?#");
  if (end == std::string_view::npos) end = rest.size();
  *authority = rest.substr(0, end);
  std::string_view tail = rest.substr(end);
  size_t frag = tail.find('#');
  if (frag != std::string_view::npos) tail = tail.substr(0, frag);
  *origin = tail;
  return true;
}

std::string_view routing_path(std::string_view target) {
  if (!target.empty() && target.front() == '/') return target;
  std::string_view authority, origin;
  if (split_absolute_form(target, &authority, &origin)) return origin;
  return {};
}

}  // namespace turnout
