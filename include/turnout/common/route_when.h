// RouteWhen: a canary rule on a route entry, as plain data, and its validation. Shared by the
// config file, the admin API, the state file and the route table (which checks again, so that
// no table holds a rule that cannot match). Any thread.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>

namespace turnout {

// A canary rule on a route entry (`when: {header|cookie: NAME, value: V}`): the entry receives
// only the requests whose header (or cookie) NAME has exactly the value V. Kind None = no rule.
struct RouteWhen {
  enum class Kind : uint8_t { None, Header, Cookie };
  Kind kind = Kind::None;
  std::string name;   // header name lower-cased (matched case-insensitively); cookie name as written
  std::string value;  // compared byte for byte
  explicit operator bool() const { return kind != Kind::None; }
  bool operator==(const RouteWhen&) const = default;
  auto operator<=>(const RouteWhen&) const = default;
};

// Why `when` cannot be used ("" when it can): the header name must be a token, the cookie name
// a token, the value non-empty, at most kMaxWhenValue bytes, of visible ASCII (a header value
// may hold inner spaces; a cookie value only cookie-octets, RFC 6265 4.1.1). Normalises a
// header name to lower case.
inline constexpr size_t kMaxWhenValue = 4096;
std::string check_route_when(RouteWhen& when);
// "header X-Canary=1" / "cookie canary=always", for messages and summaries.
std::string describe_route_when(const RouteWhen& when);
// A route whose entries carry rules holds at most this many entries (the balancer keeps the
// admitted set as a 64-bit mask).
inline constexpr size_t kMaxRuleRouteEntries = 64;

}  // namespace turnout
