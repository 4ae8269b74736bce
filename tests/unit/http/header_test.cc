#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "turnout/http/header.h"

using namespace turnout;

TEST_CASE("lookup_token finds every policy header in any case") {
  struct Case {
    const char* name;
    HeaderToken token;
  };
  const Case cases[] = {
      {"Host", HeaderToken::Host},
      {"content-length", HeaderToken::ContentLength},
      {"TRANSFER-ENCODING", HeaderToken::TransferEncoding},
      {"Connection", HeaderToken::Connection},
      {"keep-alive", HeaderToken::KeepAlive},
      {"Proxy-Connection", HeaderToken::ProxyConnection},
      {"te", HeaderToken::TE},
      {"Trailer", HeaderToken::Trailer},
      {"UpGrade", HeaderToken::Upgrade},
      {"Expect", HeaderToken::Expect},
      {"x-forwarded-for", HeaderToken::XForwardedFor},
      {"X-Forwarded-Proto", HeaderToken::XForwardedProto},
      {"X-FORWARDED-HOST", HeaderToken::XForwardedHost},
      {"via", HeaderToken::Via},
      {"Proxy-Authenticate", HeaderToken::ProxyAuthenticate},
      {"HTTP2-Settings", HeaderToken::Http2Settings},
      {"http2-settings", HeaderToken::Http2Settings},
      {"Cookie", HeaderToken::Cookie},
      {"cookie", HeaderToken::Cookie},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    CHECK(lookup_token(c.name) == c.token);
  }
}

TEST_CASE("lookup_token returns Other for near misses") {
  for (std::string_view name : {"", "Hos", "Hosts", "Host ", " Host", "Content-Lengt", "Content-Length2", "Transfer_Encoding",
                           "TE2", "Vias", "X-Forwarded-Fox", "Keep Alive", "Trailers", "Date", "Cookies", "HTTP2-Setting",
                           "HTTP3-Settings"}) {
    CAPTURE(name);
    CHECK(lookup_token(name) == HeaderToken::Other);
  }
}

TEST_CASE("token_flags is the forwarding policy table") {
  for (HeaderToken t : {HeaderToken::Connection, HeaderToken::KeepAlive, HeaderToken::ProxyConnection, HeaderToken::TE,
                        HeaderToken::Trailer, HeaderToken::Upgrade, HeaderToken::Http2Settings}) {
    CHECK(token_flags(t) == kHopByHop);
  }
  CHECK(token_flags(HeaderToken::ContentLength) == kFraming);
  CHECK(token_flags(HeaderToken::TransferEncoding) == kFraming);
  CHECK(token_flags(HeaderToken::XForwardedProto) == kRewrittenByProxy);
  CHECK(token_flags(HeaderToken::XForwardedHost) == kRewrittenByProxy);
  for (HeaderToken t : {HeaderToken::Other, HeaderToken::Host, HeaderToken::Expect, HeaderToken::XForwardedFor,
                        HeaderToken::Via, HeaderToken::ProxyAuthenticate, HeaderToken::Cookie}) {
    CHECK(token_flags(t) == 0);
  }
  CHECK(token_flags(HeaderToken::Count) == 0);
}

TEST_CASE("iequals compares ASCII case-insensitively") {
  CHECK(iequals("Chunked", "chunked"));
  CHECK(iequals("", ""));
  CHECK_FALSE(iequals("chunked", "chunked "));
  CHECK_FALSE(iequals("chunke", "chunked"));
  CHECK_FALSE(iequals("a", "b"));
  CHECK_FALSE(iequals("\xc3\xa9", "\xc3\x89"));  // no Unicode folding
}

TEST_CASE("for_each_list_element splits with bounds checks and skips empty elements") {
  auto split = [](std::string_view v) {
    std::vector<std::string> out;
    for_each_list_element(v, [&](std::string_view el) { out.emplace_back(el); });
    return out;
  };
  CHECK(split("") == std::vector<std::string>{});
  CHECK(split(",") == std::vector<std::string>{});
  CHECK(split(" , ,\t") == std::vector<std::string>{});
  CHECK(split("close") == std::vector<std::string>{"close"});
  CHECK(split(", X-Forwarded-For") == std::vector<std::string>{"X-Forwarded-For"});
  CHECK(split("a,b , \tc\t,") == std::vector<std::string>{"a", "b", "c"});
  CHECK(split(",,,keep-alive,,") == std::vector<std::string>{"keep-alive"});
}

TEST_CASE("allowed_in_trailer: framing, routing, connection, auth and payload fields are not") {
  auto allowed = [](std::string_view name) { return allowed_in_trailer(lookup_token(name), name); };
  for (std::string_view name : {"Content-Length", "transfer-encoding", "HOST", "Connection", "Keep-Alive",
                                "Proxy-Connection", "TE", "Trailer", "Upgrade", "HTTP2-Settings", "Expect",
                                "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Via", "Forwarded",
                                "Authorization", "Proxy-Authorization", "Proxy-Authenticate", "WWW-Authenticate",
                                "Cookie", "Set-Cookie", "Cache-Control", "Max-Forwards", "Range", "If-Match",
                                "Content-Type", "Content-Encoding", "Content-Range", "Date", "Location", "Vary"}) {
    CAPTURE(name);
    CHECK_FALSE(allowed(name));
  }
  for (std::string_view name : {"grpc-status", "Grpc-Message", "X-Checksum", "Server-Timing", "Digest",
                                "Content-MD5", "X-Content-Type", "Cookies", "Hosts"}) {
    CAPTURE(name);
    CHECK(allowed(name));
  }
}
