#include "turnout/common/path_key.h"

#include <doctest/doctest.h>

#include <string>

using turnout::canonical_route_key;
using turnout::canonical_route_path;
using turnout::normalize_request_path;

namespace {

std::string key(std::string_view raw) { return canonical_route_key(raw, nullptr); }

std::string why_not(std::string_view raw) {
  std::string why;
  std::string k = canonical_route_key(raw, &why);
  return k.empty() ? why : "accepted as " + k;
}

}  // namespace

TEST_CASE("request path: query and fragment are not part of the path") {
  CHECK(normalize_request_path("/api?q=1") == "/api");
  CHECK(normalize_request_path("/api?q=/../admin") == "/api");
  CHECK(normalize_request_path("/api#frag") == "/api");
  CHECK(normalize_request_path("/?x") == "/");
  CHECK(normalize_request_path("/") == "/");
}

TEST_CASE("request path: no path in asterisk, authority or empty targets") {
  CHECK(normalize_request_path("*") == "");
  CHECK(normalize_request_path("example.com:443") == "");
  CHECK(normalize_request_path("") == "");
}

TEST_CASE("request path: dot-segments are removed (RFC 3986 5.2.4)") {
  CHECK(normalize_request_path("/api/../admin") == "/admin");
  CHECK(normalize_request_path("/a/./b") == "/a/b");
  CHECK(normalize_request_path("/a/b/..") == "/a/");
  CHECK(normalize_request_path("/a/b/.") == "/a/b/");
  CHECK(normalize_request_path("/a/b/../c/./d") == "/a/c/d");
  CHECK(normalize_request_path("/..") == "/");
  CHECK(normalize_request_path("/../../admin") == "/admin");
  CHECK(normalize_request_path("/.") == "/");
  CHECK(normalize_request_path("/...") == "/...");  // three dots are a name
  CHECK(normalize_request_path("/a..") == "/a..");
  CHECK(normalize_request_path("/api/..?x") == "/");
}

TEST_CASE("request path: encoded dots count as dots") {
  CHECK(normalize_request_path("/api/%2e%2e/admin") == "/admin");
  CHECK(normalize_request_path("/api/%2E%2E/admin") == "/admin");
  CHECK(normalize_request_path("/api/.%2e/admin") == "/admin");
  CHECK(normalize_request_path("/a/%2e/b") == "/a/b");
}

TEST_CASE("request path: unreserved escapes are decoded, others kept in upper case") {
  CHECK(normalize_request_path("/%61pi") == "/api");
  CHECK(normalize_request_path("/%41PI") == "/API");
  CHECK(normalize_request_path("/%7E") == "/~");
  CHECK(normalize_request_path("/%7e") == "/~");
  CHECK(normalize_request_path("/%2D%2e%5F") == "/-._");
  CHECK(normalize_request_path("/a%2fb") == "/a%2Fb");  // '/' stays encoded: not a separator
  CHECK(normalize_request_path("/a%2Fb") == "/a%2Fb");
  CHECK(normalize_request_path("/a%20b") == "/a%20b");
  CHECK(normalize_request_path("/%25") == "/%25");
  CHECK(normalize_request_path("/%2561") == "/%2561");  // decoded once only
}

TEST_CASE("request path: an encoded slash never makes a separator for ..") {
  CHECK(normalize_request_path("/api%2F..") == "/api%2F..");
  CHECK(normalize_request_path("/api%2f..") == "/api%2F..");
  CHECK(normalize_request_path("/api%2F../admin") == "/api%2F../admin");
}

TEST_CASE("request path: malformed escapes are kept as bytes") {
  CHECK(normalize_request_path("/%zz") == "/%zz");
  CHECK(normalize_request_path("/a%4") == "/a%4");
  CHECK(normalize_request_path("/a%") == "/a%");
  CHECK(normalize_request_path("/%%61") == "/%a");
}

TEST_CASE("request path: empty segments and case are kept") {
  CHECK(normalize_request_path("//api") == "//api");
  CHECK(normalize_request_path("/api//x") == "/api//x");
  CHECK(normalize_request_path("/API") == "/API");
}

TEST_CASE("request path: a long path is normalised whole and never grows") {
  std::string raw = "/";
  for (int i = 0; i < 5000; ++i) raw += "%61/./";
  std::string out = normalize_request_path(raw);
  CHECK(out.size() <= raw.size());
  CHECK(out.substr(0, 6) == "/a/a/a");
  CHECK(out.size() == 1 + 2 * 5000);
}

TEST_CASE("route key: host part as before, path canonicalised") {
  CHECK(key("Example.COM") == "example.com");
  CHECK(key("example.com.") == "example.com");
  CHECK(key("Example.COM/api") == "example.com/api");
  CHECK(key("example.com./API") == "example.com/API");  // the path keeps its case
  CHECK(key("example.com/api/") == "example.com/api");
  CHECK(key("example.com/%61pi") == "example.com/api");
  CHECK(key("example.com/a%2fb") == "example.com/a%2Fb");
  CHECK(key("*.example.org/static") == "*.example.org/static");
  CHECK(key("[::1]/x") == "[::1]/x");
  CHECK(key("127.0.0.1/x/y") == "127.0.0.1/x/y");
  CHECK(key("example.com/a:b@c!$&'()*+,;=-._~") == "example.com/a:b@c!$&'()*+,;=-._~");
}

TEST_CASE("route key: what is refused, and why") {
  CHECK(why_not("example.com/") == "the path '/' is the host's own route: use the host alone as the key");
  CHECK(why_not("example.com/api?x") == "a route path has no query ('?')");
  CHECK(why_not("example.com/api#x") == "a route path has no fragment ('#')");
  CHECK(why_not("example.com/a b").find("no spaces") != std::string::npos);
  CHECK(why_not("example.com/a\tb").find("control") != std::string::npos);
  CHECK(why_not("example.com/a\x80").find("non-ASCII") != std::string::npos);
  CHECK(why_not("example.com/a%zz") == "'%' must start an escape of two hex digits");
  CHECK(why_not("example.com/a%4") == "'%' must start an escape of two hex digits");
  CHECK(why_not("example.com//api") == "a route path has no empty segment ('//')");
  CHECK(why_not("example.com/a//b") == "a route path has no empty segment ('//')");
  CHECK(why_not("example.com/a/../b") == "a route path has no '.' or '..' segment");
  CHECK(why_not("example.com/./b") == "a route path has no '.' or '..' segment");
  CHECK(why_not("example.com/a/%2e%2E") == "a route path has no '.' or '..' segment");
  CHECK(why_not("example.com/a\"b") == "'\"' must be escaped in a route path");
  CHECK(why_not("example.com/<x>") == "'<' must be escaped in a route path");
  CHECK(why_not("exa mple.com/api").find("is not a hostname") != std::string::npos);
  CHECK(why_not("/api").find("is not a hostname") != std::string::npos);
  CHECK(why_not("*/api").find("is not a hostname") != std::string::npos);
  CHECK(why_not("example.com/" + std::string(1100, 'a')).find("longer than") != std::string::npos);
  CHECK(key("example.com/" + std::string(1000, 'a')).size() == 12 + 1000);
}

TEST_CASE("route path: a request of the key's own spelling normalises to it") {
  for (const char* path : {"/api", "/a%2Fb", "/%61pi", "/a/b/c", "/~x", "/a%20b"}) {
    std::string stored = canonical_route_path(path, nullptr);
    CHECK(normalize_request_path(path) == stored);
  }
}
