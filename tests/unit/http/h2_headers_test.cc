#include <doctest/doctest.h>

#include <llhttp.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>
#include <algorithm>

#include "turnout/http/h2_headers.h"
#include "unit/http/head_fields.h"

using namespace turnout;
using namespace turnout::test;

namespace {

using Pairs = std::initializer_list<std::pair<std::string_view, std::string_view>>;

struct Built {
  RequestHead head;
  H2RequestBuilder b;
  H2HeadError err = H2HeadError::None;
};

void build(Built& out, Pairs fields, bool end_stream = true, Limits limits = {}) {
  static Limits kept;
  kept = limits;
  out.b.begin(&out.head, &kept);
  for (auto& [n, v] : fields) out.b.add(n, v);
  out.err = out.b.finish(end_stream);
}

std::vector<std::pair<std::string_view, std::string_view>> get_a() {
  return {{":method", "GET"}, {":scheme", "https"}, {":path", "/x?y=1"}, {":authority", "A.Test:8443"}};
}

std::string field(const RequestHead& h, std::string_view name) {
  for (const HeaderField& f : h.headers)
    if (h.name(f) == name) return std::string(h.value(f));
  return "<none>";
}

size_t count(const RequestHead& h, std::string_view name) {
  size_t n = 0;
  for (const HeaderField& f : h.headers) n += h.name(f) == name;
  return n;
}

}  // namespace

TEST_CASE("h2 request: pseudo-headers become the request line and Host") {
  Built r;
  build(r, {{":method", "GET"}, {":scheme", "https"}, {":path", "/x?y=1"}, {":authority", "A.Test:8443"},
            {"accept", "*/*"}});
  REQUIRE(r.err == H2HeadError::None);
  CHECK(r.head.str(r.head.method_name) == "GET");
  CHECK(r.head.method == HTTP_GET);
  CHECK(r.head.str(r.head.target) == "/x?y=1");
  CHECK(r.head.host == "a.test");  // routed like Host
  CHECK(field(r.head, "host") == "A.Test:8443");
  CHECK(r.head.name(r.head.headers.front()) == "host");  // written first
  CHECK(field(r.head, "accept") == "*/*");
  CHECK(r.head.framing.kind == BodyKind::None);
}

TEST_CASE("h2 request: host is used when :authority is absent; both must agree") {
  Built r;
  build(r, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "b.test"}});
  REQUIRE(r.err == H2HeadError::None);
  CHECK(r.head.host == "b.test");
  CHECK(count(r.head, "host") == 1);

  Built same;
  build(same, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "b.test"}, {"host", "B.test"}});
  CHECK(same.err == H2HeadError::None);

  Built differ;
  build(differ, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}, {"host", "b.test"}});
  CHECK(differ.err == H2HeadError::Malformed);
}

TEST_CASE("h2 request: connection-specific fields are a stream error") {
  for (std::string_view name : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}) {
    CAPTURE(name);
    Built r;
    build(r, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}, {name, "x"}});
    CHECK(r.err == H2HeadError::Malformed);
  }
}

TEST_CASE("h2 request: te is only trailers, and is not forwarded") {
  Built ok;
  build(ok, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}, {"te", "trailers"}});
  CHECK(ok.err == H2HeadError::None);
  CHECK(count(ok.head, "te") == 0);
  Built bad;
  build(bad, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}, {"te", "gzip"}});
  CHECK(bad.err == H2HeadError::Malformed);
}

TEST_CASE("h2 request: uppercase names, bad values and misplaced pseudo-headers are malformed") {
  Built upper;
  build(upper, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"X-Foo", "1"}});
  CHECK(upper.err == H2HeadError::Malformed);
  Built late;
  build(late, {{":method", "GET"}, {"x-foo", "1"}, {":scheme", "http"}, {":path", "/"}});
  CHECK(late.err == H2HeadError::Malformed);
  Built crlf;
  build(crlf, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"x-foo", "a\r\nb: c"}});
  CHECK(crlf.err == H2HeadError::Malformed);
  Built twice;
  build(twice, {{":method", "GET"}, {":method", "POST"}, {":scheme", "http"}, {":path", "/"}});
  CHECK(twice.err == H2HeadError::Malformed);
  Built missing;
  build(missing, {{":method", "GET"}, {":scheme", "http"}});
  CHECK(missing.err == H2HeadError::Malformed);
  Built proto;
  build(proto, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":protocol", "websocket"}});
  CHECK(proto.err == H2HeadError::Malformed);
}

TEST_CASE("h2 request: cookie crumbs are joined with '; '") {
  Built r;
  build(r, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}, {"cookie", "a=1"},
            {"x-mid", "m"}, {"cookie", "b=2"}, {"cookie", "c=3"}});
  REQUIRE(r.err == H2HeadError::None);
  CHECK(count(r.head, "cookie") == 1);
  CHECK(field(r.head, "cookie") == "a=1; b=2; c=3");
}

TEST_CASE("h2 request: body framing from content-length and END_STREAM") {
  Built none;
  build(none, {{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}}, true);
  CHECK(none.head.framing.kind == BodyKind::None);

  Built unknown;
  build(unknown, {{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}}, false);
  REQUIRE(unknown.err == H2HeadError::None);
  CHECK(unknown.head.framing.kind == BodyKind::Chunked);  // sent upstream chunked

  Built cl;
  build(cl, {{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}, {"content-length", "5"}},
        false);
  REQUIRE(cl.err == H2HeadError::None);
  CHECK(cl.head.framing.kind == BodyKind::Length);
  CHECK(cl.head.framing.content_length == 5);
  CHECK(cl.b.has_content_length());
  CHECK(cl.b.content_length() == 5);

  Built cl_no_data;
  build(cl_no_data,
        {{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}, {"content-length", "5"}}, true);
  CHECK(cl_no_data.err == H2HeadError::Malformed);

  Built bad_cl;
  build(bad_cl, {{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}, {"content-length", "+5"}},
        false);
  CHECK(bad_cl.err == H2HeadError::Malformed);

  Limits small;
  small.max_body_bytes = 4;
  Built big;
  build(big, {{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}, {"content-length", "5"}},
        false, small);
  CHECK(big.err == H2HeadError::Respond);
  CHECK(big.b.error_status() == 413);
}

TEST_CASE("h2 request: the header block is counted against max_header_bytes and max_headers") {
  Limits l;
  l.max_header_bytes = 256;
  std::string big(300, 'v');
  Built r;
  build(r, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}, {"x-big", big}}, true, l);
  CHECK(r.err == H2HeadError::Respond);
  CHECK(r.b.error_status() == 431);

  // Many small fields add up the same way, whatever frames carried them.
  Limits l2;
  l2.max_header_bytes = 1000;
  Built many;
  many.b.begin(&many.head, &l2);
  for (auto& [n, v] : get_a()) many.b.add(n, v);
  for (int i = 0; i < 40; ++i) many.b.add("x-f", "0123456789");
  CHECK(many.b.finish(true) == H2HeadError::Respond);
  CHECK(many.b.error_status() == 431);

  Limits l3;
  l3.max_headers = 3;
  Built count_limit;
  count_limit.b.begin(&count_limit.head, &l3);
  for (auto& [n, v] : get_a()) count_limit.b.add(n, v);
  for (int i = 0; i < 4; ++i) count_limit.b.add("x-f", "1");
  CHECK(count_limit.b.finish(true) == H2HeadError::Respond);
  CHECK(count_limit.b.error_status() == 431);
}

TEST_CASE("h2 request: CONNECT is answered 501, bad targets 400") {
  Built c;
  build(c, {{":method", "CONNECT"}, {":authority", "a.test:443"}});
  CHECK(c.err == H2HeadError::Respond);
  CHECK(c.b.error_status() == 501);
  Built t;
  build(t, {{":method", "GET"}, {":scheme", "http"}, {":path", "x"}, {":authority", "a.test"}});
  CHECK(t.err == H2HeadError::Respond);
  CHECK(t.b.error_status() == 400);
  Built ext;
  build(ext, {{":method", "QUERY"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}});
  CHECK(ext.err == H2HeadError::None);
  CHECK(ext.head.str(ext.head.method_name) == "QUERY");
}

TEST_CASE("h2 response: :status first, lowercase names, no connection-specific fields") {
  ResponseHead h;
  h.status = 200;
  add_fields(h, {{"Content-Type", "text/html"},
                 {"Connection", "keep-alive, X-Hop"},
                 {"Keep-Alive", "timeout=5"},
                 {"X-Hop", "1"},
                 {"Transfer-Encoding", "chunked"},
                 {"Upgrade", "h2c"},
                 {"Proxy-Connection", "x"},
                 {"Set-Cookie", "a=1"},
                 {"Set-Cookie", "b=2"}});
  std::string storage;
  std::vector<std::pair<std::string_view, std::string_view>> out;
  build_h2_response_fields(h, Framing{BodyKind::Chunked, 0}, storage, out);
  REQUIRE(!out.empty());
  CHECK(out[0].first == ":status");
  CHECK(out[0].second == "200");
  std::vector<std::string> names;
  for (auto& [n, v] : out) names.emplace_back(n);
  for (const std::string& n : names) {
    CAPTURE(n);
    for (char c : n) CHECK(!(c >= 'A' && c <= 'Z'));
    CHECK(n != "connection");
    CHECK(n != "keep-alive");
    CHECK(n != "x-hop");
    CHECK(n != "transfer-encoding");
    CHECK(n != "upgrade");
    CHECK(n != "proxy-connection");
    CHECK(n != "content-length");
  }
  CHECK(std::count(names.begin(), names.end(), "set-cookie") == 2);
  CHECK(std::count(names.begin(), names.end(), "content-type") == 1);

  build_h2_response_fields(h, Framing{BodyKind::Length, 42}, storage, out);
  bool cl = false;
  for (auto& [n, v] : out) cl = cl || (n == "content-length" && v == "42");
  CHECK(cl);
}

TEST_CASE("h2 response: a HEAD answer keeps its content-length as metadata") {
  ResponseHead h;
  h.status = 200;
  add_fields(h, {{"Content-Length", "1234"}});
  std::string storage;
  std::vector<std::pair<std::string_view, std::string_view>> out;
  build_h2_response_fields(h, Framing{}, storage, out);
  bool cl = false;
  for (auto& [n, v] : out) cl = cl || (n == "content-length" && v == "1234");
  CHECK(cl);
}

TEST_CASE("h2 trailers: lowercase, connection-specific fields dropped") {
  MessageHead t;
  add_fields(t, {{"Grpc-Status", "0"}, {"Connection", "close"}});
  std::string storage;
  std::vector<std::pair<std::string_view, std::string_view>> out;
  build_h2_trailer_fields(t, storage, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].first == "grpc-status");
  CHECK(out[0].second == "0");
}

TEST_CASE("h2 trailers: only the fields a trailer may carry; names and values owned") {
  MessageHead t;
  add_fields(t, {{"Grpc-Status", "0"}, {"Content-Length", "3"}, {"Host", "x"}, {"X-Sum", "abc"}});
  std::string storage;
  std::vector<std::pair<std::string_view, std::string_view>> out;
  build_h2_trailer_fields(t, storage, out);
  t.clear();  // the server connection's next response: the fields must not point into it
  t.storage.assign(64, '#');
  REQUIRE(out.size() == 2);
  CHECK(out[0] == std::pair<std::string_view, std::string_view>{"grpc-status", "0"});
  CHECK(out[1] == std::pair<std::string_view, std::string_view>{"x-sum", "abc"});
}

TEST_CASE("h2 request trailers: checked and bounded with the head block") {
  Built head;
  build(head, {{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.test"}}, false);
  REQUIRE(head.err == H2HeadError::None);
  Limits limits;
  MessageHead t;
  H2TrailerBuilder tb;
  tb.begin(&t, &limits, head.b.block_bytes(), head.b.field_count());
  CHECK(tb.add("grpc-status", "0") == H2HeadError::None);
  CHECK(tb.add("x-sum", "abc") == H2HeadError::None);
  REQUIRE(t.headers.size() == 2);
  CHECK(t.name(t.headers[1]) == "x-sum");
  CHECK(t.value(t.headers[1]) == "abc");

  struct Bad {
    std::string_view name, value;
  };
  for (Bad b : {Bad{":status", "200"}, Bad{":path", "/x"}, Bad{"X-Upper", "1"}, Bad{"bad name", "1"}, Bad{"", "1"},
                Bad{"x", "a\r\nb"}, Bad{"x", " lead"}, Bad{"connection", "close"},
                Bad{"transfer-encoding", "chunked"}, Bad{"te", "gzip"}}) {
    CAPTURE(b.name);
    tb.begin(&t, &limits, head.b.block_bytes(), head.b.field_count());
    CHECK(tb.add(b.name, b.value) == H2HeadError::Malformed);
    CHECK(tb.add("x-after", "1") == H2HeadError::Malformed);  // the first error stays
  }

  // The head block's bytes count: a trailer that fits alone is too large on top of them.
  limits.max_header_bytes = static_cast<uint32_t>(head.b.block_bytes() + 32 + 10);
  tb.begin(&t, &limits, head.b.block_bytes(), head.b.field_count());
  CHECK(tb.add("x", std::string(9, 'v')) == H2HeadError::None);
  tb.begin(&t, &limits, head.b.block_bytes(), head.b.field_count());
  CHECK(tb.add("x", std::string(10, 'v')) == H2HeadError::Respond);
  CHECK(tb.error_reason() == "request trailers too large");
  limits = Limits{};
  limits.max_headers = 1;  // + 4 pseudo-headers: the head block used 4
  tb.begin(&t, &limits, head.b.block_bytes(), head.b.field_count());
  CHECK(tb.add("a", "1") == H2HeadError::None);
  CHECK(tb.add("b", "2") == H2HeadError::Respond);
}
