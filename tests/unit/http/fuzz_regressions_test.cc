// Inputs found by the libFuzzer targets (tests/fuzz/), minimised and replayed through the normal
// API: HttpParser -> decide_*_framing -> build_*. Each case names the fuzz target, the invariant
// it broke and the id under which scripts/fuzz.sh can skip it (TURNOUT_FUZZ_KNOWN).
//
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "turnout/http/framing.h"
#include "turnout/http/parser.h"
#include "turnout/http/rewrite.h"

using namespace turnout;

namespace {

// One head through the parser the way ClientConnection / UpstreamConnection see it: the head is
// kept, framing is decided by the caller after feed().
template <class Head>
struct OneHead : HttpParser::Events {
  Head head;
  int heads = 0;
  HeadAction on_head_complete() override {
    ++heads;
    return HeadAction::SkipBody;
  }
  void on_body(const char*, size_t) override {}
  void on_message_complete() override {}
};

// The head turnout sends upstream for `raw`, from client 192.0.2.7.
std::string forwarded_request(std::string_view raw) {
  OneHead<RequestHead> ev;
  Limits limits;
  HttpParser parser(HttpParser::Kind::Request, &ev.head, &ev, limits);
  HttpParser::Outcome o = parser.feed(raw.data(), raw.size());
  REQUIRE(o.status == HttpParser::Status::MessageComplete);
  REQUIRE(decide_request_framing(ev.head, limits));
  ForwardContext ctx;
  ctx.client_ip = "192.0.2.7";
  std::string out;
  build_upstream_request(ev.head, ev.head.framing, ctx, out);
  return out;
}

// The head turnout sends to a client of HTTP/1.`client_minor` for upstream response `raw` to a
// `method` request, framed the way Exchange frames it.
std::string forwarded_response(std::string_view raw, uint8_t method, uint8_t client_minor) {
  OneHead<ResponseHead> ev;
  Limits limits;
  HttpParser parser(HttpParser::Kind::Response, &ev.head, &ev, limits);
  parser.set_request_method(method);
  HttpParser::Outcome o = parser.feed(raw.data(), raw.size());
  REQUIRE(o.status == HttpParser::Status::MessageComplete);
  REQUIRE(decide_response_framing(ev.head, method));
  std::string out;
  build_downstream_response(ev.head, ev.head.framing, client_minor, true, out);
  return out;
}

}  // namespace

// fuzz_request, id via-in-connection: "hop-by-hop header named in Connection was forwarded".
// DESIGN.md: Connection "and those it names" are removed. rewrite.cc drops every other named
// header (and X-Forwarded-For explicitly), but append_combined() folds the client's Via values
// into turnout's Via whether or not Connection names Via.
TEST_CASE("fuzz regression: a Via named in Connection is not forwarded") {
  std::string out = forwarded_request(
      "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: Via\r\nVia: 1.0 other\r\n\r\n");
  CHECK(out.find("Via: 1.1 turnout\r\n") != std::string::npos);
  CHECK(out.find("1.0 other") == std::string::npos);
}

// fuzz_response, id te-to-http10: "downstream head refused by our own framing rules: Transfer-
// Encoding in an HTTP/1.0 message". A HEAD (or 304) response keeps its framing headers as
// metadata (metadata_only in rewrite.cc), and so an HTTP/1.0 client is sent Transfer-Encoding,
// which RFC 9112 6.1 forbids ("A server MUST NOT send a response containing Transfer-Encoding
// unless the corresponding request indicates HTTP/1.1") and which framing.cc itself rejects.
TEST_CASE("fuzz regression: no Transfer-Encoding to an HTTP/1.0 client, even as HEAD metadata") {
  std::string out =
      forwarded_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_HEAD, /*client_minor=*/0);
  CHECK(out.rfind("HTTP/1.0 200 OK\r\n", 0) == 0);
  CHECK(out.find("Transfer-Encoding") == std::string::npos);
}

TEST_CASE("fuzz regression: a 304 to an HTTP/1.0 client carries no Transfer-Encoding") {
  std::string out = forwarded_response("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_GET,
                                       /*client_minor=*/0);
  CHECK(out.find("Transfer-Encoding") == std::string::npos);
}

// The same inputs still answer what they must today (these pass now and after the fix).
TEST_CASE("fuzz regression: the HEAD metadata case keeps Content-Length for an HTTP/1.0 client") {
  std::string out =
      forwarded_response("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", HTTP_HEAD, /*client_minor=*/0);
  CHECK(out.find("Content-Length: 42\r\n") != std::string::npos);
  CHECK(out.find("Connection: keep-alive\r\n") != std::string::npos);
}
