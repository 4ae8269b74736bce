// Header tokens: the header names turnout acts on, each with policy flags, so that the
// forwarding policy is one reviewable table (header.cc) rather than scattered string compares.
// Pure functions, any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace turnout {

enum class HeaderToken : uint8_t {
  Other = 0,
  Host,
  ContentLength,
  TransferEncoding,
  Connection,
  KeepAlive,
  ProxyConnection,
  TE,
  Trailer,
  Upgrade,
  Expect,
  XForwardedFor,
  XForwardedProto,
  XForwardedHost,
  Via,
  ProxyAuthenticate,   // hop-by-hop by RFC 9110 but forwarded (auth to the origin is end to end here)
  Http2Settings,       // HTTP2-Settings: only meaningful with "Upgrade: h2c", which is never relayed
  Cookie,              // forwarded as received; read by route rules and affinity (http/cookie.h)
  Count
};

// Policy flags per token.
enum HeaderFlag : uint32_t {
  kHopByHop = 1u << 0,         // removed before forwarding in either direction
  kFraming = 1u << 1,          // Content-Length / Transfer-Encoding: regenerated from decided framing
  kRewrittenByProxy = 1u << 2, // X-Forwarded-Proto / -Host: replaced, not passed through
};

// Case-insensitive lookup of a header name; Other for anything not in the table.
HeaderToken lookup_token(std::string_view name);
uint32_t token_flags(HeaderToken token);

// Whether a trailer field may be forwarded (RFC 9110 6.5.1, RFC 9112 7.1.2: a trailer must not
// carry what framing, routing, the connection, authentication, request modifiers, response
// control or payload processing depend on, since a recipient may merge it into the head). Not
// forwarded: every name turnout acts on in a head (the HeaderToken table: Host, Content-Length,
// Transfer-Encoding, Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade,
// HTTP2-Settings, Expect, X-Forwarded-For/-Proto/-Host, Via, Proxy-Authenticate, Cookie), and
// Forwarded, Authorization, Proxy-Authorization, WWW-Authenticate, Authentication-Info,
// Proxy-Authentication-Info, Set-Cookie, Cache-Control, Pragma, Max-Forwards, Range,
// If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range, Age, Date, Expires,
// Location, Retry-After, Vary, Content-Type, Content-Encoding, Content-Range, Content-Location.
// `token` is lookup_token(name). Only trailer fields pay for the name compares.
bool allowed_in_trailer(HeaderToken token, std::string_view name);

// tchar (RFC 9110 5.6.2): the bytes of a token (header names, methods, chunk extensions).
inline constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();
inline bool is_tchar(char c) { return kTchar[static_cast<unsigned char>(c)]; }

// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

// Calls fn(element) for each comma-separated element of a list header value, trimmed of
// optional whitespace; empty elements are skipped. Bounds-checked, allocation-free.
template <class Fn>
void for_each_list_element(std::string_view value, Fn&& fn) {
  size_t i = 0;
  while (i <= value.size()) {
    size_t comma = value.find(',', i);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view el = value.substr(i, comma - i);
    while (!el.empty() && (el.front() == ' ' || el.front() == '\t')) el.remove_prefix(1);
    while (!el.empty() && (el.back() == ' ' || el.back() == '\t')) el.remove_suffix(1);
    if (!el.empty()) fn(el);
    i = comma + 1;
  }
}

}  // namespace turnout
