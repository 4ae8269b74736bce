// The errors turnout answers itself: 400, 404, 408, 413, 431, 502, 503, 504, each with a short
// body; ambiguous requests close the connection; a request that never reached a server is
// retried once on another one.
#include <doctest/doctest.h>

#include "integration/harness.h"

using namespace turnout::test;

namespace {

std::string one_app(const std::vector<std::string>& servers, const std::string& extra = "") {
  return "apps:\n"
         "  e: {servers: " + yaml_list(servers) + "}\n"
         "routes:\n"
         "  err.test: [e]\n" + extra;
}

// Checks the common shape of an error turnout generated.
void check_error(const std::optional<Response>& r, int status) {
  REQUIRE(r);
  CHECK(r->status == status);
  CHECK(!r->body.empty());
  CHECK(r->body.size() < 512);
  CHECK(!r->header("X-Backend"));
}

// Sends raw bytes on a fresh connection, expects `status`, then (when must_close) the close.
void expect_rejected(int port, const std::string& raw, int status, bool must_close) {
  CAPTURE(raw);
  Client cl(port);
  REQUIRE(cl.send(raw));
  auto r = cl.read_response(Ms(5000));
  check_error(r, status);
  if (must_close) {
    std::string extra;
    CHECK(cl.wait_closed(Ms(3000), &extra));
    CHECK(extra.empty());  // and nothing after the error (no smuggled second response)
  }
}

}  // namespace

TEST_CASE("400 and close for ambiguous framing; nothing reaches the backend") {
  Backend b("e");
  TurnoutProcess t;
  t.start(one_app({b.addr()}));
  TURNOUT_INFO_STDERR(t);

  // CL + TE: the classic smuggling vector. The trailing GET must never be parsed as a request.
  expect_rejected(t.port(),
                  "POST / HTTP/1.1\r\nHost: err.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: err.test\r\n\r\n",
                  400, true);
  // Duplicate differing Content-Length, as two fields and as a list.
  expect_rejected(t.port(),
                  "POST / HTTP/1.1\r\nHost: err.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                  400, true);
  expect_rejected(t.port(), "POST / HTTP/1.1\r\nHost: err.test\r\nContent-Length: 5, 6\r\n\r\nhello!", 400, true);
  // Malformed Content-Length values.
  expect_rejected(t.port(), "POST / HTTP/1.1\r\nHost: err.test\r\nContent-Length: +5\r\n\r\nhello", 400, true);
  expect_rejected(t.port(), "POST / HTTP/1.1\r\nHost: err.test\r\nContent-Length:\r\n\r\n", 400, true);
  // A transfer coding that does not end in chunked.
  expect_rejected(t.port(), "POST / HTTP/1.1\r\nHost: err.test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400,
                  true);
  // Bare LF line endings.
  expect_rejected(t.port(), "GET / HTTP/1.1\nHost: err.test\n\n", 400, true);
  // HTTP/1.1 without Host, and two Hosts.
  expect_rejected(t.port(), "GET / HTTP/1.1\r\n\r\n", 400, true);
  expect_rejected(t.port(), "GET / HTTP/1.1\r\nHost: err.test\r\nHost: other.test\r\n\r\n", 400, true);

  CHECK(b.request_count() == 0);
}

TEST_CASE("404 for a host without a route") {
  Backend b("e");
  TurnoutProcess t;
  t.start(one_app({b.addr()}));
  TURNOUT_INFO_STDERR(t);

  check_error(http_get(t.port(), "missing.test", "/"), 404);
  CHECK(b.request_count() == 0);
}

TEST_CASE("408 when the request head does not complete in time") {
  Backend b("e");
  TurnoutProcess t;
  t.start(one_app({b.addr()}, "timeouts: {request_header: 500ms}\n"));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  auto t0 = Clock::now();
  REQUIRE(cl.send("GET /slow HTTP/1.1\r\nHost: err.test\r\nX-Partial: "));
  auto r = cl.read_response(Ms(5000));
  auto took = Clock::now() - t0;
  check_error(r, 408);
  CHECK(took >= Ms(400));
  CHECK(took < Ms(3000));
  CHECK(cl.wait_closed(Ms(3000)));
  CHECK(b.request_count() == 0);
}

TEST_CASE("413 when the body is over max_body_bytes") {
  Backend b("e");
  TurnoutProcess t;
  t.start(one_app({b.addr()}, "limits: {max_body_bytes: 1000}\n"));
  TURNOUT_INFO_STDERR(t);

  {
    Client cl(t.port());
    REQUIRE(cl.send("POST /big HTTP/1.1\r\nHost: err.test\r\nContent-Length: 2000\r\n\r\n"));
    check_error(cl.read_response(Ms(5000)), 413);
  }
  // At the limit is fine.
  {
    Client cl(t.port());
    REQUIRE(cl.send_request("POST", "/ok", "err.test", {}, std::string(1000, 'x')));
    auto r = cl.read_response(Ms(5000));
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(b.request_count() == 1);
}

TEST_CASE("431 when the request head is over max_header_bytes or max_headers") {
  Backend b("e");
  TurnoutProcess t;
  t.start(one_app({b.addr()}, "limits: {max_header_bytes: 2048, max_headers: 10}\n"));
  TURNOUT_INFO_STDERR(t);

  SUBCASE("too many bytes") {
    Client cl(t.port());
    REQUIRE(cl.send_request("GET", "/", "err.test", {{"X-Big", std::string(3000, 'a')}}));
    check_error(cl.read_response(Ms(5000)), 431);
  }
  SUBCASE("too many headers") {
    Headers many;
    for (int i = 0; i < 20; ++i) many.emplace_back("X-H" + std::to_string(i), "v");
    Client cl(t.port());
    REQUIRE(cl.send_request("GET", "/", "err.test", many));
    check_error(cl.read_response(Ms(5000)), 431);
  }
  SUBCASE("within both limits") {
    Headers some;
    for (int i = 0; i < 8; ++i) some.emplace_back("X-H" + std::to_string(i), std::string(100, 'v'));
    auto r = http_get(t.port(), "err.test", "/", some);
    REQUIRE(r);
    CHECK(r->status == 200);
  }
}

TEST_CASE("502 when the server refuses; a refused connect is retried once on another server") {
  Backend live("live");
  int dead1 = unused_port();
  int dead2 = unused_port();
  TurnoutProcess t;
  t.start("apps:\n"
          "  half: {servers: " + yaml_list({local_addr(dead1), live.addr()}) + "}\n"
          "  none: {servers: " + yaml_list({local_addr(dead1), local_addr(dead2)}) + "}\n"
          "  one:  {servers: " + yaml_list({local_addr(dead2)}) + "}\n"
          "routes:\n"
          "  half.test: [half]\n"
          "  none.test: [none]\n"
          "  one.test: [one]\n");
  TURNOUT_INFO_STDERR(t);

  // Fresh connections spread over both workers and both round-robin positions.
  for (int i = 0; i < 20; ++i) {
    CAPTURE(i);
    auto r = http_get(t.port(), "half.test", "/r/" + std::to_string(i));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "live\n");
  }
  // The same on one keep-alive connection.
  Client cl(t.port());
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    auto r = cl.get("half.test", "/k/" + std::to_string(i));
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(live.request_count() == 30);

  check_error(http_get(t.port(), "none.test", "/"), 502);
  check_error(http_get(t.port(), "one.test", "/"), 502);
}

TEST_CASE("502 for a malformed, reset or closed upstream response") {
  Backend garbage("g", behave(Backend::Mode::GarbageStatus));
  Backend reset("r", behave(Backend::Mode::ResetBeforeAnswer));
  Backend closer("c", behave(Backend::Mode::CloseWithoutAnswer));
  TurnoutProcess t;
  t.start("apps:\n"
          "  g: {servers: " + yaml_list({garbage.addr()}) + "}\n"
          "  r: {servers: " + yaml_list({reset.addr()}) + "}\n"
          "  c: {servers: " + yaml_list({closer.addr()}) + "}\n"
          "routes:\n"
          "  garbage.test: [g]\n"
          "  reset.test: [r]\n"
          "  close.test: [c]\n");
  TURNOUT_INFO_STDERR(t);

  check_error(http_get(t.port(), "garbage.test", "/"), 502);
  check_error(http_get(t.port(), "reset.test", "/"), 502);
  check_error(http_get(t.port(), "close.test", "/"), 502);
  // turnout is still healthy afterwards.
  check_error(http_get(t.port(), "garbage.test", "/again"), 502);
}

TEST_CASE("a reset in the middle of a response ends the client connection without a fake success") {
  Backend b("m", behave(Backend::Mode::ResetMidResponse));
  TurnoutProcess t;
  t.start(one_app({b.addr()}));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  REQUIRE(cl.send_request("GET", "/mid", "err.test"));
  auto head = cl.read_head(Ms(5000));
  REQUIRE(head);
  CHECK(head->status == 200);
  uint64_t got = 0;
  bool complete = cl.read_body(*head, false, [&](std::string_view d) { got += d.size(); }, Ms(5000));
  // The body cannot be completed: the client must see the connection end, not a short body
  // presented as whole.
  CHECK(!complete);
  CHECK(got < 1048576);
  CHECK(cl.conn().eof());
}

TEST_CASE("503 for an app without servers") {
  TurnoutProcess t;
  t.start("apps:\n"
          "  empty: {servers: []}\n"
          "routes:\n"
          "  empty.test: [empty]\n");
  TURNOUT_INFO_STDERR(t);

  check_error(http_get(t.port(), "empty.test", "/"), 503);
}

TEST_CASE("504 when the upstream does not answer within upstream_response") {
  Backend b("hang", behave(Backend::Mode::Hang));
  TurnoutProcess t;
  t.start(one_app({b.addr()}, "timeouts: {upstream_response: 500ms}\n"));
  TURNOUT_INFO_STDERR(t);

  auto t0 = Clock::now();
  auto r = http_get(t.port(), "err.test", "/", {}, Ms(10000));
  auto took = Clock::now() - t0;
  check_error(r, 504);
  CHECK(took >= Ms(400));
  // The request reached a server, so no retry doubles the wait.
  CHECK(took < Ms(2000));
  CHECK(b.request_count() == 1);
  // turnout gave up on that upstream connection.
  CHECK(wait_until([&] { return b.open_connections() == 0; }, Ms(3000)));
}
