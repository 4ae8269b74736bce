// The header policy table: which names turnout acts on and what it does with them.
#include "turnout/http/header.h"

#include <array>

namespace turnout {
namespace {

constexpr char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

// `lc` is already lower case, so only `a` needs folding.
bool iequals_lower(std::string_view a, std::string_view lc) {
  if (a.size() != lc.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lc[i]) return false;
  }
  return true;
}

constexpr std::array<uint32_t, static_cast<size_t>(HeaderToken::Count)> kFlags = [] {
  std::array<uint32_t, static_cast<size_t>(HeaderToken::Count)> f{};
  auto set = [&f](HeaderToken t, uint32_t v) { f[static_cast<size_t>(t)] = v; };
  set(HeaderToken::Connection, kHopByHop);
  set(HeaderToken::KeepAlive, kHopByHop);
  set(HeaderToken::ProxyConnection, kHopByHop);
  set(HeaderToken::TE, kHopByHop);
  set(HeaderToken::Trailer, kHopByHop);
  set(HeaderToken::Upgrade, kHopByHop);  // kept by rewrite.cc only when upgrading
  set(HeaderToken::ContentLength, kFraming);
  set(HeaderToken::TransferEncoding, kFraming);
  set(HeaderToken::XForwardedProto, kRewrittenByProxy);
  set(HeaderToken::XForwardedHost, kRewrittenByProxy);
  // Host, Expect, X-Forwarded-For, Via: end to end, but rewrite.cc combines XFF and Via.
  // Proxy-Authenticate: deliberately forwarded (see header.h).
  return f;
}();

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

HeaderToken lookup_token(std::string_view n) {
  // Switch on length first so that most names cost one compare or none.
  switch (n.size()) {
    case 2:
      if (iequals_lower(n, "te")) return HeaderToken::TE;
      break;
    case 3:
      if (iequals_lower(n, "via")) return HeaderToken::Via;
      break;
    case 4:
      if (iequals_lower(n, "host")) return HeaderToken::Host;
      break;
    case 6:
      if (iequals_lower(n, "expect")) return HeaderToken::Expect;
      break;
    case 7:
      if (iequals_lower(n, "upgrade")) return HeaderToken::Upgrade;
      if (iequals_lower(n, "trailer")) return HeaderToken::Trailer;
      break;
    case 10:
      if (iequals_lower(n, "connection")) return HeaderToken::Connection;
      if (iequals_lower(n, "keep-alive")) return HeaderToken::KeepAlive;
      break;
    case 14:
      if (iequals_lower(n, "content-length")) return HeaderToken::ContentLength;
      break;
    case 15:
      if (iequals_lower(n, "x-forwarded-for")) return HeaderToken::XForwardedFor;
      break;
    case 16:
      if (iequals_lower(n, "proxy-connection")) return HeaderToken::ProxyConnection;
      if (iequals_lower(n, "x-forwarded-host")) return HeaderToken::XForwardedHost;
      break;
    case 17:
      if (iequals_lower(n, "transfer-encoding")) return HeaderToken::TransferEncoding;
      if (iequals_lower(n, "x-forwarded-proto")) return HeaderToken::XForwardedProto;
      break;
    case 18:
      if (iequals_lower(n, "proxy-authenticate")) return HeaderToken::ProxyAuthenticate;
      break;
    default:
      break;
  }
  return HeaderToken::Other;
}

uint32_t token_flags(HeaderToken token) {
  auto i = static_cast<size_t>(token);
  return i < kFlags.size() ? kFlags[i] : 0;
}

}  // namespace turnout
