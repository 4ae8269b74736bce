#include <doctest/doctest.h>

#include <llhttp.h>

#include <initializer_list>
#include <utility>

#include "turnout/http/error_status.h"
#include "turnout/http/framing.h"
#include "unit/http/head_fields.h"

using namespace turnout;
using namespace turnout::test;

namespace {

RequestHead request(Fields fields, std::string_view target = "/", uint8_t method = HTTP_GET, uint8_t minor = 1) {
  RequestHead h;
  h.method = method;
  h.method_name = put(h, llhttp_method_name(static_cast<llhttp_method_t>(method)));
  h.target = put(h, target);
  h.version_minor = minor;
  add_fields(h, fields);
  return h;
}

ResponseHead response(uint16_t status, Fields fields) {
  ResponseHead h;
  h.status = status;
  add_fields(h, fields);
  return h;
}

// The status a request is answered with: 0 when accepted.
int verdict(RequestHead h, const Limits& limits = {}) {
  auto r = decide_request_framing(h, limits);
  return r ? 0 : http_status(r.error().kind);
}

}  // namespace

TEST_CASE("parse_content_length accepts digits only") {
  uint64_t n = 7;
  CHECK(parse_content_length("0", &n));
  CHECK(n == 0);
  CHECK(parse_content_length("0042", &n));
  CHECK(n == 42);
  CHECK(parse_content_length("9999999999999999999", &n));  // 19 digits
  CHECK(n == 9999999999999999999ull);
  for (std::string_view bad : {"", "+5", "-5", " 5", "5 ", "5 5", "5,5", "0x10", "1e3", "5.0", "12345678901234567890",
                          "99999999999999999999999"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_content_length(bad, &n));
  }
}

TEST_CASE("request framing: none, length, chunked") {
  RequestHead get = request({{"Host", "a.example"}});
  REQUIRE(decide_request_framing(get, {}));
  CHECK(get.framing.kind == BodyKind::None);

  RequestHead post = request({{"Host", "a.example"}, {"Content-Length", "12"}}, "/", HTTP_POST);
  REQUIRE(decide_request_framing(post, {}));
  CHECK(post.framing.kind == BodyKind::Length);
  CHECK(post.framing.content_length == 12);

  RequestHead empty = request({{"Host", "a.example"}, {"Content-Length", "0"}}, "/", HTTP_POST);
  REQUIRE(decide_request_framing(empty, {}));
  CHECK(empty.framing.kind == BodyKind::Length);  // forwarded as "Content-Length: 0"
  CHECK(empty.framing.content_length == 0);

  RequestHead chunked = request({{"Host", "a.example"}, {"transfer-encoding", "Chunked"}}, "/", HTTP_POST);
  REQUIRE(decide_request_framing(chunked, {}));
  CHECK(chunked.framing.kind == BodyKind::Chunked);
}

TEST_CASE("request framing rejects ambiguous or malformed body headers with 400") {
  CHECK(verdict(request({{"Host", "a"}, {"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}})) == 400);
  CHECK(verdict(request({{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}})) == 400);
  CHECK(verdict(request({{"Host", "a"}, {"Content-Length", "5"}, {"Content-Length", "5"}})) == 400);
  CHECK(verdict(request({{"Host", "a"}, {"Content-Length", "5"}, {"Content-Length", "6"}})) == 400);
  for (std::string_view cl : {"5, 5", "5,6", "+5", "-1", "", " 5 5", "abc", "18446744073709551616"}) {
    CAPTURE(cl);
    CHECK(verdict(request({{"Host", "a"}, {"Content-Length", cl}})) == 400);
  }
  for (std::string_view te : {"gzip", "chunked, gzip", "gzip, chunked", "chunked, chunked", "chunked\t", "xchunked",
                         "chunked;q=1", "identity", ""}) {
    CAPTURE(te);
    CHECK(verdict(request({{"Host", "a"}, {"Transfer-Encoding", te}})) == 400);
  }
  CHECK(verdict(request({{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}})) == 400);
  CHECK(verdict(request({{"Host", "a"}, {"Transfer-Encoding", "chunked"}}, "/", HTTP_POST, 0)) == 400);
}

TEST_CASE("request framing enforces max_body_bytes for a known length") {
  Limits limits;
  limits.max_body_bytes = 100;
  CHECK(verdict(request({{"Host", "a"}, {"Content-Length", "100"}}), limits) == 0);
  CHECK(verdict(request({{"Host", "a"}, {"Content-Length", "101"}}), limits) == 413);
  CHECK(verdict(request({{"Host", "a"}, {"Transfer-Encoding", "chunked"}}), limits) == 0);  // counted while streaming
  limits.max_body_bytes = 0;  // unlimited
  CHECK(verdict(request({{"Host", "a"}, {"Content-Length", "9999999999"}}), limits) == 0);
}

TEST_CASE("request Host: required on 1.1, single, valid, normalised into head.host") {
  CHECK(verdict(request({})) == 400);
  CHECK(verdict(request({}, "/", HTTP_GET, 0)) == 0);  // HTTP/1.0 may omit Host
  CHECK(verdict(request({{"Host", "a"}, {"Host", "a"}})) == 400);
  CHECK(verdict(request({{"Host", "a"}, {"host", "b"}})) == 400);
  for (std::string_view bad : {"a b", "a/b", "[::1", "a.com:abc", "user@a.com", "a,b", "a%4", "a%zz", "a\"b", "a:80:80"}) {
    CAPTURE(bad);
    CHECK(verdict(request({{"Host", bad}})) == 400);
  }
  // A valid RFC 3986 reg-name that is not a hostname is legal, and matches no route.
  for (std::string_view reg : {"a=b", "a!b", "*.example.org", "a..b", "ex%41mple.com", "a~b:8080", "(x)", "a;b+c$&'"}) {
    CAPTURE(reg);
    RequestHead h = request({{"Host", reg}});
    REQUIRE(decide_request_framing(h, {}));
    CHECK(h.host == "");
    CHECK(h.str(h.host_header) == reg);
  }

  RequestHead h = request({{"User-Agent", "t"}, {"Host", "WWW.Example.com.:8080"}, {"Expect", "100-Continue"}});
  REQUIRE(decide_request_framing(h, {}));
  CHECK(h.host == "www.example.com");
  CHECK(h.str(h.host_header) == "WWW.Example.com.:8080");
  CHECK(h.expect_continue);

  RequestHead empty = request({{"Host", ""}});
  REQUIRE(decide_request_framing(empty, {}));  // RFC 9112 3.2: empty Host is legal
  CHECK(empty.host == "");
  CHECK_FALSE(empty.expect_continue);
}

TEST_CASE("absolute-form target: authority is the route key and must agree with Host") {
  RequestHead h = request({{"Host", "example.com"}}, "http://Example.com/x?y");
  REQUIRE(decide_request_framing(h, {}));
  CHECK(h.host == "example.com");

  RequestHead port = request({{"Host", "example.com:80"}}, "http://example.com:8080/");
  CHECK(verdict(port) == 0);  // same route key

  CHECK(verdict(request({{"Host", "evil.com"}}, "http://example.com/")) == 400);
  CHECK(verdict(request({{"Host", "example.com"}}, "http://user@example.com/")) == 400);
  CHECK(verdict(request({{"Host", "example.com"}}, "http:///x")) == 400);
  // A reg-name authority must be the same reg-name as Host (case and port aside).
  CHECK(verdict(request({{"Host", "a=b"}}, "http://A=B:80/x")) == 0);
  CHECK(verdict(request({{"Host", "a=b"}}, "http://a!b/x")) == 400);
  CHECK(verdict(request({{"Host", "example.com"}}, "http://a=b/x")) == 400);
  CHECK(verdict(request({{"Host", "a=b"}}, "http://example.com/x")) == 400);
  CHECK(verdict(request({{"Host", ""}}, "http://a=b/x")) == 400);

  RequestHead no_host = request({}, "https://api.example.com/v1", HTTP_GET, 0);
  REQUIRE(decide_request_framing(no_host, {}));
  CHECK(no_host.host == "api.example.com");
}

TEST_CASE("request target forms") {
  CHECK(verdict(request({{"Host", "a"}}, "index.html")) == 400);
  CHECK(verdict(request({{"Host", "a"}}, "ftp://a/")) == 400);
  CHECK(verdict(request({{"Host", "a"}}, "*", HTTP_OPTIONS)) == 0);
  CHECK(verdict(request({{"Host", "a"}}, "*", HTTP_GET)) == 400);
  CHECK(verdict(request({{"Host", "a:443"}}, "a:443", HTTP_CONNECT)) == 0);
  CHECK(verdict(request({{"Host", "a"}}, "a b:443", HTTP_CONNECT)) == 400);
}

TEST_CASE("response framing by status, method and headers") {
  struct Case {
    uint16_t status;
    uint8_t method;
    BodyKind kind;
  };
  const Case no_body[] = {{100, HTTP_GET, BodyKind::None}, {103, HTTP_GET, BodyKind::None},
                          {204, HTTP_GET, BodyKind::None}, {304, HTTP_GET, BodyKind::None},
                          {200, HTTP_HEAD, BodyKind::None}, {404, HTTP_HEAD, BodyKind::None}};
  for (const Case& c : no_body) {
    CAPTURE(c.status);
    ResponseHead h = response(c.status, {{"Content-Length", "10"}});
    REQUIRE(decide_response_framing(h, c.method));
    CHECK(h.framing.kind == c.kind);
  }

  ResponseHead len = response(200, {{"Content-Length", "10"}});
  REQUIRE(decide_response_framing(len, HTTP_GET));
  CHECK(len.framing.kind == BodyKind::Length);
  CHECK(len.framing.content_length == 10);
  CHECK(len.keep_alive);

  ResponseHead chunked = response(200, {{"Transfer-Encoding", "chunked"}});
  REQUIRE(decide_response_framing(chunked, HTTP_POST));
  CHECK(chunked.framing.kind == BodyKind::Chunked);

  ResponseHead eof = response(200, {});
  REQUIRE(decide_response_framing(eof, HTTP_GET));
  CHECK(eof.framing.kind == BodyKind::UntilClose);
  CHECK_FALSE(eof.keep_alive);

  ResponseHead tunnel = response(200, {});
  REQUIRE(decide_response_framing(tunnel, HTTP_CONNECT));
  CHECK(tunnel.framing.kind == BodyKind::None);
  CHECK(tunnel.upgrade);
}

TEST_CASE("response framing rejects ambiguities with 502") {
  auto code = [](ResponseHead h) {
    auto r = decide_response_framing(h, HTTP_GET);
    return r ? 0 : http_status(r.error().kind);
  };
  CHECK(code(response(200, {{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}})) == 502);
  CHECK(code(response(200, {{"Content-Length", "5"}, {"Content-Length", "5"}})) == 502);
  CHECK(code(response(200, {{"Content-Length", "5, 5"}})) == 502);
  CHECK(code(response(200, {{"Content-Length", "-1"}})) == 502);
  CHECK(code(response(200, {{"Transfer-Encoding", "gzip"}})) == 502);
  CHECK(code(response(200, {{"Transfer-Encoding", "gzip, chunked"}})) == 502);
  CHECK(code(response(200, {{"Content-Length", "5"}})) == 0);
}
