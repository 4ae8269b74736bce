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

// fuzz_request / fuzz_response, id close-header-over-16: "end-to-end headers changed". Whether a
// header literally named "Close" is forwarded depends on how many names the Connection fields
// list. rewrite.cc's ConnectionNames skips "close" (a connection option) when it collects up to
// 16 names, but past 16 its contains() re-scans the raw lists without that filter, so
// "Connection: close" then also drops a "Close" header. Either answer is defensible (RFC 9110
// reserves the Close field name); depending on the count is not.
namespace {
std::string with_connection_names(size_t n) {
  std::string names = "close";
  for (size_t i = 0; i < n; ++i) names += ", x" + std::to_string(i);
  return forwarded_request("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: " + names + "\r\nClose: 1\r\n\r\n");
}
}  // namespace

TEST_CASE("fuzz regression: a Close header is treated alike whatever the number of Connection names") {
  bool forwarded_16 = with_connection_names(16).find("\r\nClose: 1\r\n") != std::string::npos;
  bool forwarded_17 = with_connection_names(17).find("\r\nClose: 1\r\n") != std::string::npos;
  CHECK(forwarded_16 == forwarded_17);
}

// fuzz_response, id status-range: "response with status 0 accepted". llhttp 8.1 takes a status
// line with no status code ("HTTP/1.1 \r\n" -> 0), with two digits ("HTTP/1.1 20 X") or below
// 100 ("000", "099"), and decide_response_framing does not check the range, so turnout forwards
// "HTTP/1.1 0 Unknown" to the client. RFC 9112 4: status-code = 3DIGIT; RFC 9110 15: values
// outside 100..599 are invalid. DESIGN.md / issue 5: a garbage status line is a 502.
namespace {
// True if turnout refuses `raw` as an upstream response (parser error or framing error).
bool response_refused(std::string_view raw) {
  OneHead<ResponseHead> ev;
  Limits limits;
  HttpParser parser(HttpParser::Kind::Response, &ev.head, &ev, limits);
  parser.set_request_method(HTTP_GET);
  HttpParser::Outcome o = parser.feed(raw.data(), raw.size());
  if (o.status == HttpParser::Status::Error) return true;
  REQUIRE(ev.heads == 1);
  return !decide_response_framing(ev.head, HTTP_GET).ok();
}
}  // namespace

TEST_CASE("fuzz regression: a status line without a three-digit status is refused") {
  CHECK(response_refused("HTTP/1.1 \r\nContent-Length: 0\r\n\r\n"));
  CHECK(response_refused("HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n"));
  CHECK(response_refused("HTTP/1.1 000 X\r\nContent-Length: 0\r\n\r\n"));
  CHECK(response_refused("HTTP/1.1 099 X\r\nContent-Length: 0\r\n\r\n"));
}

TEST_CASE("fuzz regression: ordinary status codes are still accepted") {
  CHECK_FALSE(response_refused("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  CHECK_FALSE(response_refused("HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n"));
  CHECK_FALSE(response_refused("HTTP/1.1 103 Early Hints\r\n\r\n"));
}
