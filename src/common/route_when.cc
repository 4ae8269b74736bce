// Validation of route canary rules (route_when.h).
#include "turnout/common/route_when.h"

#include <string_view>

namespace turnout {

namespace {

bool token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  for (char t : std::string_view("!#$%&'*+-.^_`|~"))
    if (c == static_cast<unsigned char>(t)) return true;
  return false;
}

// RFC 6265 4.1.1 cookie-octet: what a server may put in a cookie value unquoted.
bool cookie_octet(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) || (c >= 0x3C && c <= 0x5B) ||
         (c >= 0x5D && c <= 0x7E);
}

}  // namespace

std::string check_route_when(RouteWhen& when) {
  if (when.kind == RouteWhen::Kind::None) return {};
  const char* what = when.kind == RouteWhen::Kind::Header ? "header" : "cookie";
  if (when.name.empty()) return std::string("when: the ") + what + " name is empty";
  for (char c : when.name)
    if (!token_char(static_cast<unsigned char>(c)))
      return std::string("when: '") + when.name + "' is not a valid " + what + " name";
  if (when.value.empty()) return "when: the value is empty (an absent " + std::string(what) + " never matches a rule)";
  if (when.value.size() > kMaxWhenValue) return "when: the value is longer than " + std::to_string(kMaxWhenValue) + " bytes";
  for (size_t i = 0; i < when.value.size(); ++i) {
    auto c = static_cast<unsigned char>(when.value[i]);
    bool ok = when.kind == RouteWhen::Kind::Cookie
                  ? cookie_octet(c)
                  // Received header values are trimmed of whitespace: inner spaces only.
                  : (c > 0x20 && c < 0x7F) || (c == ' ' && i > 0 && i + 1 < when.value.size());
    if (!ok) return std::string("when: the ") + what + " value holds a byte a " + what + " value cannot carry";
  }
  if (when.kind == RouteWhen::Kind::Header)
    for (char& c : when.name)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return {};
}

std::string describe_route_when(const RouteWhen& when) {
  switch (when.kind) {
    case RouteWhen::Kind::None: return {};
    case RouteWhen::Kind::Header: return "header " + when.name + "=" + when.value;
    case RouteWhen::Kind::Cookie: return "cookie " + when.name + "=" + when.value;
  }
  return {};
}

}  // namespace turnout
