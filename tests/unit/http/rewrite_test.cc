#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "turnout/http/framing.h"
#include "turnout/http/parser.h"
#include "turnout/http/rewrite.h"

using namespace turnout;

namespace {

// Parses one complete head the way the proxy does (parser, then framing.cc).
template <class Head>
struct Parsed : HttpParser::Events {
  Head head;
  uint8_t request_method = HTTP_GET;
  HeadAction on_head_complete() override {
    if constexpr (std::is_same_v<Head, RequestHead>) {
      REQUIRE(decide_request_framing(head, Limits{}));
    } else {
      REQUIRE(decide_response_framing(head, request_method));
    }
    return HeadAction::Continue;
  }
  void on_body(const char*, size_t) override {}
  void on_message_complete() override {}
};

std::unique_ptr<Parsed<RequestHead>> parse_request(std::string_view raw) {
  auto p = std::make_unique<Parsed<RequestHead>>();
  Limits limits;
  HttpParser parser(HttpParser::Kind::Request, &p->head, p.get(), limits);
  HttpParser::Outcome o = parser.feed(raw.data(), raw.size());
  REQUIRE(o.status != HttpParser::Status::Error);
  return p;
}

std::unique_ptr<Parsed<ResponseHead>> parse_response(std::string_view raw, uint8_t method = HTTP_GET) {
  auto p = std::make_unique<Parsed<ResponseHead>>();
  p->request_method = method;
  Limits limits;
  HttpParser parser(HttpParser::Kind::Response, &p->head, p.get(), limits);
  parser.set_request_method(method);
  HttpParser::Outcome o = parser.feed(raw.data(), raw.size());
  REQUIRE(o.status != HttpParser::Status::Error);
  return p;
}

std::string upstream(std::string_view raw, ForwardContext ctx = {"10.0.0.9", "http", false}) {
  auto p = parse_request(raw);
  std::string out;
  build_upstream_request(p->head, p->head.framing, ctx, out);
  return out;
}

}  // namespace

TEST_CASE("upstream request: passes other headers in order, adds X-Forwarded-* and Via") {
  std::string out = upstream(
      "GET /a?b=c HTTP/1.1\r\n"
      "Host: www.example.com\r\n"
      "User-Agent:  Mozilla/5.0 (X11)  \r\n"
      "Cookie: a=1; b=2\r\n"
      "Accept: */*\r\n"
      "\r\n");
  CHECK(out ==
        "GET /a?b=c HTTP/1.1\r\n"
        "Host: www.example.com\r\n"
        "User-Agent: Mozilla/5.0 (X11)\r\n"
        "Cookie: a=1; b=2\r\n"
        "Accept: */*\r\n"
        "X-Forwarded-For: 10.0.0.9\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: www.example.com\r\n"
        "Via: 1.1 turnout\r\n"
        "\r\n");
}

TEST_CASE("upstream request: hop-by-hop headers and those named in Connection are removed") {
  std::string out = upstream(
      "GET / HTTP/1.1\r\n"
      "Host: a\r\n"
      "Connection: keep-alive, X-Secret\r\n"
      "Keep-Alive: timeout=5\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "TE: trailers\r\n"
      "Trailer: X-Checksum\r\n"
      "Upgrade: h2c\r\n"
      "X-Secret: 42\r\n"
      "x-secret: 43\r\n"
      "X-Kept: 1\r\n"
      "\r\n");
  CHECK(out ==
        "GET / HTTP/1.1\r\n"
        "Host: a\r\n"
        "X-Kept: 1\r\n"
        "X-Forwarded-For: 10.0.0.9\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: a\r\n"
        "Via: 1.1 turnout\r\n"
        "\r\n");
}

TEST_CASE("upstream request: Connection lists with empty elements still name headers (CVE-2021-33197)") {
  std::string out = upstream(
      "GET / HTTP/1.1\r\n"
      "Host: a\r\n"
      "Connection: , X-Forwarded-For\r\n"
      "Connection: ,,X-Internal , \r\n"
      "X-Forwarded-For: 1.2.3.4\r\n"
      "X-Internal: yes\r\n"
      "X-Other: 1\r\n"
      "\r\n");
  // The client may retract its own X-Forwarded-For claim, but never the one turnout adds.
  CHECK(out.find("X-Forwarded-For: 10.0.0.9\r\n") != std::string::npos);
  CHECK(out.find("1.2.3.4") == std::string::npos);
  CHECK(out.find("X-Internal") == std::string::npos);
  CHECK(out.find("X-Other: 1\r\n") != std::string::npos);
  CHECK(out.find("Connection") == std::string::npos);
}

TEST_CASE("upstream request: a long Connection list removes every header it names") {
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive";
  std::string fields;
  for (int i = 0; i < 40; ++i) {
    raw += ", X-H" + std::to_string(i);
    fields += "x-h" + std::to_string(i) + ": v\r\n";
  }
  raw += "\r\n" + fields + "X-Keep: 1\r\n\r\n";
  std::string out = upstream(raw);
  CHECK(out.find("X-H") == std::string::npos);
  CHECK(out.find("x-h") == std::string::npos);
  CHECK(out.find("X-Keep: 1\r\n") != std::string::npos);
}

TEST_CASE("upstream request: Host survives being named in Connection") {
  std::string out = upstream("GET / HTTP/1.1\r\nHost: a.example\r\nConnection: Host\r\n\r\n");
  CHECK(out.find("\r\nHost: a.example\r\n") != std::string::npos);
}

TEST_CASE("upstream request: X-Forwarded-For is appended to, multiple fields combined") {
  std::string one = upstream("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.1\r\n\r\n");
  CHECK(one.find("X-Forwarded-For: 203.0.113.1, 10.0.0.9\r\n") != std::string::npos);

  std::string many = upstream(
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.1, 198.51.100.2\r\n"
      "x-forwarded-for: 192.0.2.3\r\n\r\n");
  CHECK(many.find("X-Forwarded-For: 203.0.113.1, 198.51.100.2, 192.0.2.3, 10.0.0.9\r\n") != std::string::npos);
  CHECK(many.find("x-forwarded-for") == std::string::npos);
  size_t first = many.find("X-Forwarded-For");
  CHECK(many.find("X-Forwarded-For", first + 1) == std::string::npos);
}

TEST_CASE("upstream request: X-Forwarded-Proto and -Host are replaced, not trusted") {
  std::string out = upstream(
      "GET / HTTP/1.1\r\nHost: shop.example:8443\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: admin.example\r\n\r\n",
      {"::1", "https", false});
  CHECK(out.find("X-Forwarded-Proto: https\r\n") != std::string::npos);
  CHECK(out.find("X-Forwarded-Host: shop.example:8443\r\n") != std::string::npos);
  CHECK(out.find("admin.example") == std::string::npos);
  CHECK(out.find("X-Forwarded-For: ::1\r\n") != std::string::npos);

  std::string plain = upstream("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n");
  CHECK(plain.find("X-Forwarded-Proto: http\r\n") != std::string::npos);
  CHECK(plain.find("https") == std::string::npos);
}

TEST_CASE("upstream request: from a trusted proxy X-Forwarded-Proto/-Host are kept and XFF appended to") {
  const std::string raw =
      "GET / HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 203.0.113.1\r\n"
      "X-Forwarded-Proto: https\r\nX-Forwarded-Host: www.shop.example\r\n\r\n";
  std::string out = upstream(raw, {"10.0.0.9", "http", false, ForwardTrust::Trusted});
  CHECK(out.find("X-Forwarded-Proto: https\r\n") != std::string::npos);
  CHECK(out.find("X-Forwarded-Proto: http\r\n") == std::string::npos);
  CHECK(out.find("X-Forwarded-Host: www.shop.example\r\n") != std::string::npos);
  CHECK(out.find("X-Forwarded-Host: shop.example\r\n") == std::string::npos);
  CHECK(out.find("X-Forwarded-For: 203.0.113.1, 10.0.0.9\r\n") != std::string::npos);

  // Absent ones are set as usual.
  std::string bare = upstream("GET / HTTP/1.1\r\nHost: a\r\n\r\n", {"10.0.0.9", "http", false, ForwardTrust::Trusted});
  CHECK(bare.find("X-Forwarded-Proto: http\r\n") != std::string::npos);
  CHECK(bare.find("X-Forwarded-Host: a\r\n") != std::string::npos);
  CHECK(bare.find("X-Forwarded-For: 10.0.0.9\r\n") != std::string::npos);

  // A trusted proxy's -Proto named in Connection is hop-by-hop: ours replaces it.
  std::string named = upstream(
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Forwarded-Proto\r\nX-Forwarded-Proto: https\r\n\r\n",
      {"10.0.0.9", "http", false, ForwardTrust::Trusted});
  CHECK(named.find("X-Forwarded-Proto: http\r\n") != std::string::npos);
  CHECK(named.find("https") == std::string::npos);
}

TEST_CASE("upstream request: with trusted_proxies set, an untrusted peer's X-Forwarded-* are all replaced") {
  std::string out = upstream(
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.1\r\nX-Forwarded-Proto: https\r\n"
      "X-Forwarded-Host: evil\r\n\r\n",
      {"10.0.0.9", "http", false, ForwardTrust::Untrusted});
  CHECK(out.find("X-Forwarded-For: 10.0.0.9\r\n") != std::string::npos);
  CHECK(out.find("203.0.113.1") == std::string::npos);
  CHECK(out.find("X-Forwarded-Proto: http\r\n") != std::string::npos);
  CHECK(out.find("https") == std::string::npos);
  CHECK(out.find("evil") == std::string::npos);
}

TEST_CASE("upstream request: Via is appended as a new element") {
  std::string out = upstream("GET / HTTP/1.1\r\nHost: a\r\nVia: 1.0 foo\r\nVia: 1.1 bar (Apache)\r\n\r\n");
  CHECK(out.find("Via: 1.0 foo, 1.1 bar (Apache), 1.1 turnout\r\n") != std::string::npos);
  size_t first = out.find("Via:");
  CHECK(out.find("Via:", first + 1) == std::string::npos);
}

TEST_CASE("upstream request: framing headers are regenerated from the decided framing") {
  std::string len = upstream("POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 0005\r\n\r\nhello");
  CHECK(len.find("Content-Length: 5\r\n") != std::string::npos);
  CHECK(len.find("0005") == std::string::npos);
  CHECK(len.find("content-length") == std::string::npos);

  std::string chunked = upstream("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
  CHECK(chunked.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(chunked.find("Chunked") == std::string::npos);
  CHECK(chunked.find("Content-Length") == std::string::npos);

  std::string none = upstream("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(none.find("Content-Length") == std::string::npos);
  CHECK(none.find("Transfer-Encoding") == std::string::npos);

  // The owner may change the framing (e.g. a chunked body sent on with a known length).
  auto p = parse_request("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string out;
  build_upstream_request(p->head, Framing{BodyKind::Length, 12}, {"10.0.0.9"}, out);
  CHECK(out.find("Content-Length: 12\r\n") != std::string::npos);
  CHECK(out.find("Transfer-Encoding") == std::string::npos);
}

TEST_CASE("upstream request: HTTP/1.0 becomes HTTP/1.1, absolute-form becomes origin-form") {
  std::string ten = upstream("GET /x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
  CHECK(ten.rfind("GET /x HTTP/1.1\r\nHost: a\r\n", 0) == 0);
  CHECK(ten.find("keep-alive") == std::string::npos);

  CHECK(upstream("GET http://a.example/p/q?r=1#frag HTTP/1.1\r\nHost: a.example\r\n\r\n")
            .rfind("GET /p/q?r=1 HTTP/1.1\r\nHost: a.example\r\n", 0) == 0);
  CHECK(upstream("GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n").rfind("GET / HTTP/1.1\r\n", 0) == 0);
  CHECK(upstream("GET http://a.example?x=1 HTTP/1.1\r\nHost: a.example\r\n\r\n")
            .rfind("GET /?x=1 HTTP/1.1\r\n", 0) == 0);

  // No Host (HTTP/1.0): the absolute-form authority becomes Host and X-Forwarded-Host.
  std::string no_host = upstream("GET http://b.example:8080/ HTTP/1.0\r\n\r\n");
  CHECK(no_host.rfind("GET / HTTP/1.1\r\nHost: b.example:8080\r\n", 0) == 0);
  CHECK(no_host.find("X-Forwarded-Host: b.example:8080\r\n") != std::string::npos);
}

TEST_CASE("upstream request: an upgrade offers the allowed protocols and sends Connection: upgrade") {
  std::string raw =
      "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Drop\r\n"
      "X-Drop: 1\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  std::string out = upstream(raw, {"10.0.0.9", "http", true});
  CHECK(out ==
        "GET /chat HTTP/1.1\r\n"
        "Host: a\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "X-Forwarded-For: 10.0.0.9\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: a\r\n"
        "Via: 1.1 turnout\r\n"
        "Upgrade: websocket\r\n"
        "Connection: upgrade\r\n"
        "\r\n");
  // Not upgrading: the same request loses its Upgrade header.
  CHECK(upstream(raw).find("Upgrade") == std::string::npos);
}

TEST_CASE("upstream request: h2c is never offered, HTTP2-Settings never forwarded") {
  // h2c alongside WebSocket: only WebSocket is offered.
  std::string both =
      "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, websocket\r\nConnection: Upgrade, HTTP2-Settings\r\n"
      "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
  auto p = parse_request(both);
  REQUIRE(p->head.upgrade);
  std::string out;
  build_upstream_request(p->head, p->head.framing, {"10.0.0.9", "http", true}, out);
  CHECK(out.find("Upgrade: websocket\r\nConnection: upgrade\r\n") != std::string::npos);
  CHECK(out.find("h2c") == std::string::npos);
  CHECK(out.find("HTTP2-Settings") == std::string::npos);

  // h2c alone, with or without Connection naming it: a plain HTTP/1.1 request.
  for (std::string_view raw : {
           "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
           "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
           "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: H2C\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"}) {
    CAPTURE(raw);
    auto h = parse_request(raw);
    CHECK_FALSE(h->head.upgrade);
    std::string plain;
    build_upstream_request(h->head, h->head.framing, {"10.0.0.9", "http", h->head.upgrade}, plain);
    CHECK(plain.find("pgrade") == std::string::npos);
    CHECK(plain.find("h2c") == std::string::npos);
    CHECK(plain.find("H2C") == std::string::npos);
    CHECK(plain.find("HTTP2-Settings") == std::string::npos);
    CHECK(plain.find("Connection") == std::string::npos);
  }
}

TEST_CASE("upstream request: appends to `out` without disturbing what is there") {
  auto p = parse_request("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string out = "previous bytes";
  build_upstream_request(p->head, p->head.framing, {"1.1.1.1"}, out);
  CHECK(out.rfind("previous bytesGET / HTTP/1.1\r\n", 0) == 0);
}

TEST_CASE("downstream response: filtered headers, Via, framing, keep-alive") {
  auto p = parse_response(
      "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: keep-alive, X-Backend\r\nKeep-Alive: timeout=5\r\n"
      "X-Backend: app-3\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string out;
  build_downstream_response(p->head, p->head.framing, 1, true, out);
  CHECK(out ==
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/html\r\n"
        "Set-Cookie: a=1\r\n"
        "Set-Cookie: b=2\r\n"
        "Via: 1.1 turnout\r\n"
        "Transfer-Encoding: chunked\r\n"
        "\r\n");

  out.clear();
  build_downstream_response(p->head, p->head.framing, 1, false, out);
  CHECK(out.find("Connection: close\r\n") != std::string::npos);
}

TEST_CASE("downstream response: an HTTP/1.0 client gets a 1.0 status line and explicit keep-alive") {
  auto p = parse_response("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nVia: 1.1 cache\r\n\r\nnop");
  std::string out;
  build_downstream_response(p->head, p->head.framing, 0, true, out);
  CHECK(out ==
        "HTTP/1.0 404 Not Found\r\n"
        "Via: 1.1 cache, 1.1 turnout\r\n"
        "Content-Length: 3\r\n"
        "Connection: keep-alive\r\n"
        "\r\n");
  out.clear();
  build_downstream_response(p->head, Framing{BodyKind::UntilClose, 0}, 0, false, out);
  CHECK(out == "HTTP/1.0 404 Not Found\r\nVia: 1.1 cache, 1.1 turnout\r\nConnection: close\r\n\r\n");
}

TEST_CASE("downstream response: HEAD and 304 keep their representation metadata, 204 does not") {
  auto head = parse_response("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: \"x\"\r\n\r\n", HTTP_HEAD);
  REQUIRE(head->head.framing.kind == BodyKind::None);
  std::string out;
  build_downstream_response(head->head, head->head.framing, 1, true, out);
  CHECK(out == "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: \"x\"\r\nVia: 1.1 turnout\r\n\r\n");

  auto not_modified = parse_response("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n");
  out.clear();
  build_downstream_response(not_modified->head, not_modified->head.framing, 1, true, out);
  CHECK(out == "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\nVia: 1.1 turnout\r\n\r\n");

  auto no_content = parse_response("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
  out.clear();
  build_downstream_response(no_content->head, no_content->head.framing, 1, true, out);
  CHECK(out == "HTTP/1.1 204 No Content\r\nVia: 1.1 turnout\r\n\r\n");
}

TEST_CASE("downstream response: 101 keeps Upgrade and sends Connection: upgrade") {
  auto p = parse_response(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  std::string out;
  build_downstream_response(p->head, p->head.framing, 1, true, out);
  CHECK(out ==
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        "Via: 1.1 turnout\r\n"
        "Connection: upgrade\r\n"
        "\r\n");
}

TEST_CASE("downstream response: a missing reason gets the standard phrase") {
  auto p = parse_response("HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n");
  std::string out;
  build_downstream_response(p->head, p->head.framing, 1, true, out);
  CHECK(out.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
}

TEST_CASE("error responses are complete, short and exact") {
  std::string out;
  build_error_response(404, "no route for host", false, out);
  CHECK(out ==
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 18\r\nConnection: close\r\n\r\n"
        "no route for host\n");
  out.clear();
  build_error_response(503, "", true, out);
  CHECK(out == "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\n\n");
}

TEST_CASE("reason_phrase") {
  CHECK(reason_phrase(200) == "OK");
  CHECK(reason_phrase(400) == "Bad Request");
  CHECK(reason_phrase(408) == "Request Timeout");
  CHECK(reason_phrase(413) == "Content Too Large");
  CHECK(reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(reason_phrase(502) == "Bad Gateway");
  CHECK(reason_phrase(504) == "Gateway Timeout");
  CHECK(reason_phrase(299) == "Unknown");
}

TEST_CASE("the last chunk carries the allowed trailer fields as received") {
  std::string out;
  build_last_chunk(nullptr, out);
  CHECK(out == "0\r\n\r\n");
  MessageHead t;
  out.clear();
  build_last_chunk(&t, out);
  CHECK(out == "0\r\n\r\n");
  auto add = [&t](std::string_view n, std::string_view v) {
    HeaderField f;
    f.name = Slice{static_cast<uint32_t>(t.storage.size()), static_cast<uint32_t>(n.size())};
    t.storage.append(n);
    f.value = Slice{static_cast<uint32_t>(t.storage.size()), static_cast<uint32_t>(v.size())};
    t.storage.append(v);
    f.token = lookup_token(n);
    t.headers.push_back(f);
  };
  add("Grpc-Status", "0");
  add("Content-Length", "5");
  add("Transfer-Encoding", "chunked");
  add("Host", "evil.test");
  add("Set-Cookie", "a=1");
  add("X-Checksum", "sha256=abc");
  out = "prefix|";
  build_last_chunk(&t, out);
  CHECK(out == "prefix|0\r\nGrpc-Status: 0\r\nX-Checksum: sha256=abc\r\n\r\n");
}
