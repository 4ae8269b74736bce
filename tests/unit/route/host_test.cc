#include <doctest/doctest.h>

#include <string>

#include "turnout/route/route_table.h"

using turnout::normalize_host;
using turnout::valid_route_key;

TEST_CASE("normalize_host strips the port, lower-cases and drops one trailing dot") {
  CHECK(normalize_host("example.com") == "example.com");
  CHECK(normalize_host("Example.COM") == "example.com");
  CHECK(normalize_host("example.com:8080") == "example.com");
  CHECK(normalize_host("example.com:") == "example.com");  // empty port is legal (RFC 3986)
  CHECK(normalize_host("example.com.") == "example.com");
  CHECK(normalize_host("WWW.Example.Com.:443") == "www.example.com");
  CHECK(normalize_host("127.0.0.1:9001") == "127.0.0.1");
  CHECK(normalize_host("localhost") == "localhost");
  CHECK(normalize_host("my_host-1.internal") == "my_host-1.internal");
}

TEST_CASE("normalize_host keeps IPv6 literals in brackets") {
  CHECK(normalize_host("[::1]") == "[::1]");
  CHECK(normalize_host("[::1]:8080") == "[::1]");
  CHECK(normalize_host("[2001:DB8::A]:80") == "[2001:db8::a]");
  CHECK(normalize_host("[::ffff:192.0.2.1]") == "[::ffff:192.0.2.1]");
  CHECK(normalize_host("[::1") == "");
  CHECK(normalize_host("[::1]x") == "");
  CHECK(normalize_host("[::1]:80x") == "");
  CHECK(normalize_host("[not-an-ip]") == "");
  CHECK(normalize_host("[]") == "");
  CHECK(normalize_host("[fe80::1%25eth0]") == "");  // zone ids are not routed
}

TEST_CASE("normalize_host rejects empty and invalid hosts") {
  CHECK(normalize_host("") == "");
  CHECK(normalize_host(".") == "");
  CHECK(normalize_host(":80") == "");
  CHECK(normalize_host("example.com..") == "");
  CHECK(normalize_host(".example.com") == "");
  CHECK(normalize_host("a..b") == "");
  CHECK(normalize_host("exa mple.com") == "");
  CHECK(normalize_host("example.com/path") == "");
  CHECK(normalize_host("user@example.com") == "");
  CHECK(normalize_host("exa%41mple.com") == "");
  CHECK(normalize_host(std::string("exa\0mple.com", 12)) == "");
  CHECK(normalize_host("example.com\r") == "");
  CHECK(normalize_host("ex\xc3\xa4mple.com") == "");  // raw UTF-8: must be sent as punycode
  CHECK(normalize_host("example.com:80:80") == "");
  CHECK(normalize_host("example.com:http") == "");
  CHECK(normalize_host("example.com:1234567") == "");
  CHECK(normalize_host(std::string(300, 'a')) == "");
}

TEST_CASE("valid_route_key accepts host names, wildcards and IP literals in lower case") {
  CHECK(valid_route_key("example.com"));
  CHECK(valid_route_key("localhost"));
  CHECK(valid_route_key("127.0.0.1"));
  CHECK(valid_route_key("[::1]"));
  CHECK(valid_route_key("*.example.org"));
  CHECK(valid_route_key("*.org"));
  CHECK(valid_route_key("a-b_c.example.com"));

  CHECK_FALSE(valid_route_key(""));
  CHECK_FALSE(valid_route_key("Example.com"));
  CHECK_FALSE(valid_route_key("example.com."));
  CHECK_FALSE(valid_route_key(".example.com"));
  CHECK_FALSE(valid_route_key("a..b"));
  CHECK_FALSE(valid_route_key("*"));
  CHECK_FALSE(valid_route_key("*."));
  CHECK_FALSE(valid_route_key("*example.org"));
  CHECK_FALSE(valid_route_key("www.*.example.org"));
  CHECK_FALSE(valid_route_key("*.*.example.org"));
  CHECK_FALSE(valid_route_key("example.com:80"));
  CHECK_FALSE(valid_route_key("[::1]:80"));
  CHECK_FALSE(valid_route_key("[::G]"));
  CHECK_FALSE(valid_route_key("*.[::1]"));
  CHECK_FALSE(valid_route_key("exa mple.com"));
  CHECK_FALSE(valid_route_key(std::string(64, 'a') + ".com"));  // label over 63 bytes
  CHECK(valid_route_key(std::string(63, 'a') + ".com"));
}

TEST_CASE("normalize_host_into writes into the caller's buffer without reallocating it") {
  // The request path normalises each Host into the pooled request head: a long name must cost
  // no allocation once the buffer has grown.
  std::string out;
  out.reserve(64);
  const char* storage = out.data();
  turnout::normalize_host_into("API.Accounts.Example-Company.COM:8443", out);
  CHECK(out == "api.accounts.example-company.com");
  CHECK(out.data() == storage);

  turnout::normalize_host_into("bad host", out);  // invalid: left empty, as normalize_host says ""
  CHECK(out.empty());
  turnout::normalize_host_into("", out);
  CHECK(out.empty());
  turnout::normalize_host_into("[::1]:80", out);
  CHECK(out == "[::1]");
  turnout::normalize_host_into("Shop.Example.org.", out);
  CHECK(out == normalize_host("Shop.Example.org."));
}
