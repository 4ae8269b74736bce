#include <doctest/doctest.h>

#include "turnout/http/host.h"

using namespace turnout;

TEST_CASE("normalize_host strips the port, lower-cases and removes one trailing dot") {
  CHECK(normalize_host("Example.COM") == "example.com");
  CHECK(normalize_host("example.com:8080") == "example.com");
  CHECK(normalize_host("example.com.") == "example.com");
  CHECK(normalize_host("Example.com.:80") == "example.com");
  CHECK(normalize_host("example.com:") == "example.com");  // empty port is allowed by RFC 3986
  CHECK(normalize_host("a_b-c.example") == "a_b-c.example");
  CHECK(normalize_host("127.0.0.1:9000") == "127.0.0.1");
  CHECK(normalize_host("localhost") == "localhost");
}

TEST_CASE("normalize_host keeps IPv6 literals with their brackets") {
  CHECK(normalize_host("[::1]") == "[::1]");
  CHECK(normalize_host("[::1]:8080") == "[::1]");
  CHECK(normalize_host("[2001:DB8::A]:443") == "[2001:db8::a]");
  CHECK(normalize_host("[::ffff:10.0.0.1]") == "[::ffff:10.0.0.1]");
}

TEST_CASE("normalize_host returns empty for empty or invalid hosts") {
  for (std::string_view h : {"", ".", "..", "example.com..", ".example.com", "a..b", "a b", "a/b", "a@b", "*.example.org",
                        "exa%41mple.com", "example.com:http", "example.com:123456", "example.com:80:80", "[::1",
                        "[::1]x", "[]", "[abc]", "[:::]", "[1:2:3:4:5:6:7:8:9]", "[::1]:80x", "[v1.x]", "[fe80::1%25eth0]", "a\tb", "caf\xc3\xa9.com", ":80"}) {
    CAPTURE(h);
    CHECK(normalize_host(h) == "");
  }
  CHECK(normalize_host(std::string(254, 'a')) == "");
  CHECK(normalize_host(std::string(253, 'a')) == std::string(253, 'a'));
}

TEST_CASE("split_absolute_form separates authority from origin-form") {
  std::string_view authority;
  std::string_view origin;
  REQUIRE(split_absolute_form("http://Example.com:8080/a/b?c=d#frag", &authority, &origin));
  CHECK(authority == "Example.com:8080");
  CHECK(origin == "/a/b?c=d");
  REQUIRE(split_absolute_form("HTTPS://example.com", &authority, &origin));
  CHECK(authority == "example.com");
  CHECK(origin == "");
  REQUIRE(split_absolute_form("http://example.com?x=1", &authority, &origin));
  CHECK(authority == "example.com");
  CHECK(origin == "?x=1");
  CHECK_FALSE(split_absolute_form("/index.html", &authority, &origin));
  CHECK_FALSE(split_absolute_form("ftp://example.com/", &authority, &origin));
  CHECK_FALSE(split_absolute_form("http:/example.com", &authority, &origin));
  CHECK_FALSE(split_absolute_form("*", &authority, &origin));
}

TEST_CASE("valid_reg_name_host: RFC 3986 reg-names with an optional port, ',' excepted") {
  for (std::string_view h : {"a=b", "a!b", "*.example.org", "a..b", "example.com", "ex%41mple.com", "a~b", "a=b:8080",
                             "a=b:", "!$&'()*+;=", "-._~"}) {
    CAPTURE(h);
    CHECK(valid_reg_name_host(h));
  }
  for (std::string_view h : {"", ":80", "a,b", "a b", "a/b", "a@b", "a%4", "a%g0", "a%", "a=b:80x", "a=b:123456",
                             "[::1]", "a\"b", "a<b", "caf\xc3\xa9"}) {
    CAPTURE(h);
    CHECK_FALSE(valid_reg_name_host(h));
  }
  CHECK(same_reg_name_host("A=B:80", "a=b"));
  CHECK(same_reg_name_host("a=b", "a=b:443"));
  CHECK_FALSE(same_reg_name_host("a=b", "a!b"));
}
