// Bodies both ways (Content-Length, chunked, until-close), bodiless responses (HEAD, 204, 304),
// Expect: 100-continue end to end, and Upgrade tunnels.
#include <doctest/doctest.h>

#include "integration/harness.h"

using namespace turnout::test;

namespace {

constexpr size_t kFiveMiB = 5u << 20;

std::string config_for(const Backend& b, const std::string& extra = "") {
  return "apps:\n"
         "  s: {servers: " + yaml_list({b.addr()}) + "}\n"
         "routes:\n"
         "  stream.test: [s]\n" + extra;
}

// A chunked encoding of `body` with irregular chunk sizes (1 byte up to ~100 KiB).
std::string chunked(const std::string& body) {
  std::string out;
  size_t off = 0, k = 0;
  static const size_t sizes[] = {1, 7, 4096, 100000, 13, 65536, 3, 99999};
  while (off < body.size()) {
    size_t n = std::min(sizes[k++ % 8], body.size() - off);
    char hex[32];
    std::snprintf(hex, sizeof hex, "%zx", n);
    out += hex;
    out += k % 5 == 0 ? ";ext=1\r\n" : "\r\n";
    out.append(body, off, n);
    out += "\r\n";
    off += n;
  }
  out += "0\r\n\r\n";
  return out;
}

}  // namespace

TEST_CASE("a 5 MiB Content-Length request body reaches the backend intact") {
  Backend b("s");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  std::string body = random_bytes(kFiveMiB, 1);
  Client cl(t.port());
  REQUIRE(cl.send_request("POST", "/upload", "stream.test", {{"Content-Type", "application/octet-stream"}}, body));
  auto r = cl.read_response(Ms(20000));
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(b.request_count() == 1);
  auto req = b.requests()[0];
  CHECK(req.body_complete);
  CHECK(req.body_size == body.size());
  CHECK(req.body_hash == fnv64(body));
  // Known length in, known length out: no reason to re-chunk.
  CHECK(req.header("Content-Length").value_or("") == std::to_string(body.size()));
  CHECK(!req.header("Transfer-Encoding"));
}

TEST_CASE("a 5 MiB chunked request body reaches the backend intact") {
  Backend b("s");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  std::string body = random_bytes(kFiveMiB, 2);
  Client cl(t.port());
  REQUIRE(cl.send("POST /upload HTTP/1.1\r\nHost: stream.test\r\nTransfer-Encoding: chunked\r\n\r\n"));
  REQUIRE(cl.send(chunked(body), Ms(20000)));
  auto r = cl.read_response(Ms(20000));
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(b.request_count() == 1);
  auto req = b.requests()[0];
  CHECK(req.body_complete);
  CHECK(req.body_size == body.size());
  CHECK(req.body_hash == fnv64(body));
  CHECK(!(req.header("Content-Length") && req.header("Transfer-Encoding")));

  // And the connection carries on afterwards.
  auto r2 = cl.get("stream.test", "/after");
  REQUIRE(r2);
  CHECK(r2->status == 200);
}

TEST_CASE("echo: a 5 MiB body goes up and comes back intact on one keep-alive connection") {
  Backend b("s", behave(Backend::Mode::Echo));
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    std::string body = random_bytes(kFiveMiB + static_cast<size_t>(i), 10 + static_cast<uint64_t>(i));
    REQUIRE(cl.send_request("PUT", "/echo", "stream.test", {}, body));
    auto r = cl.read_response(Ms(20000));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.size() == body.size());
    CHECK(fnv64(r->body) == fnv64(body));
  }
}

TEST_CASE("Content-Length and chunked responses reach the client intact") {
  Backend b("s");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  for (bool use_chunked : {false, true}) {
    CAPTURE(use_chunked);
    Backend::Behavior beh;
    beh.mode = Backend::Mode::Huge;
    beh.huge_bytes = kFiveMiB + 12345;
    beh.huge_chunked = use_chunked;
    b.set_behavior(beh);
    Client cl(t.port());
    for (int i = 0; i < 2; ++i) {  // twice on one connection: the framing ended where it should
      CAPTURE(i);
      REQUIRE(cl.send_request("GET", "/big", "stream.test"));
      auto head = cl.read_head(Ms(10000));
      REQUIRE(head);
      CHECK(head->status == 200);
      PatternChecker check;
      CHECK(cl.read_body(*head, false, [&](std::string_view d) { check.update(d); }, Ms(20000)));
      CHECK(check.offset == beh.huge_bytes);
      CHECK(check.ok());
      if (!use_chunked) CHECK(head->header("Content-Length").value_or("") == std::to_string(beh.huge_bytes));
    }
  }
}

TEST_CASE("a response delimited by the upstream closing reaches the client whole") {
  Backend b("s");
  std::string body = random_bytes(300000, 3);
  Backend::Behavior beh;
  beh.mode = Backend::Mode::Custom;
  beh.handler = [&body](const BackendRequest&) {
    return Reply{"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + body, /*close_after=*/true};
  };
  b.set_behavior(beh);
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  auto r = cl.get("stream.test", "/until-close", {}, Ms(10000));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.size() == body.size());
  CHECK(fnv64(r->body) == fnv64(body));
  // Either turnout re-framed it (chunked, connection kept) or it closes after it; never a length
  // it could not know.
  if (!r->chunked) CHECK(r->until_close);
}

TEST_CASE("HEAD, 204 and 304 responses carry no body and the connection stays in sync") {
  Backend b("s");
  Backend::Behavior beh;
  beh.mode = Backend::Mode::Custom;
  beh.handler = [](const BackendRequest& req) {
    if (req.method == "HEAD")
      return Reply{"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/plain\r\n\r\n"};
    if (req.target == "/204") return Reply{"HTTP/1.1 204 No Content\r\nX-Kind: nc\r\n\r\n"};
    if (req.target == "/304") return Reply{"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 99\r\n\r\n"};
    return Reply{make_response(200, "plain " + req.target + "\n")};
  };
  b.set_behavior(beh);
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    REQUIRE(cl.send_request("HEAD", "/head", "stream.test"));
    auto h = cl.read_response(Ms(5000), /*request_was_head=*/true);
    REQUIRE(h);
    CHECK(h->status == 200);
    // The GET that follows must parse cleanly: no body bytes were sent for the HEAD.
    auto g = cl.get("stream.test", "/after-head");
    REQUIRE(g);
    CHECK(g->status == 200);
    CHECK(g->body == "plain /after-head\n");

    auto n = cl.get("stream.test", "/204");
    REQUIRE(n);
    CHECK(n->status == 204);
    CHECK(n->header("X-Kind").value_or("") == "nc");
    CHECK(!n->header("Transfer-Encoding"));
    auto g2 = cl.get("stream.test", "/after-204");
    REQUIRE(g2);
    CHECK(g2->body == "plain /after-204\n");

    auto m = cl.get("stream.test", "/304", {{"If-None-Match", "\"v1\""}});
    REQUIRE(m);
    CHECK(m->status == 304);
    CHECK(m->header("ETag").value_or("") == "\"v1\"");
    auto g3 = cl.get("stream.test", "/after-304");
    REQUIRE(g3);
    CHECK(g3->body == "plain /after-304\n");
  }
  // Nothing stray arrived after the last response.
  CHECK(cl.conn().read_some(Ms(200)).empty());
}

TEST_CASE("Expect: 100-continue works end to end") {
  Backend b("s");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  std::string body = random_bytes(200000, 4);
  Client cl(t.port());
  REQUIRE(cl.send("POST /expect HTTP/1.1\r\nHost: stream.test\r\nExpect: 100-continue\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n"));
  // The client waits for the interim answer before sending its body.
  auto interim = cl.read_head(Ms(5000));
  REQUIRE(interim);
  CHECK(interim->status == 100);
  REQUIRE(cl.send(body));
  auto r = cl.read_response(Ms(10000));
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(b.request_count() == 1);
  auto req = b.requests()[0];
  CHECK(req.body_size == body.size());
  CHECK(req.body_hash == fnv64(body));

  // Exactly one 100 reached the client: the next response on the connection is the next request's.
  auto r2 = cl.get("stream.test", "/next");
  REQUIRE(r2);
  CHECK(r2->status == 200);
  CHECK(r2->header("X-Seen-Target").value_or("") == "/next");
}

TEST_CASE("Expect: 100-continue with a backend that never sends 100: the client's body still goes through") {
  // Many servers ignore Expect. A client gives up waiting for the 100 (curl after 1 s) and sends
  // its body anyway: turnout must relay it and the response, not wait for a 100 that never comes.
  BackendBehavior quiet;
  quiet.answer_continue = false;
  Backend b("s", quiet);
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  std::string body = random_bytes(200000, 5);
  Client cl(t.port());
  REQUIRE(cl.send("POST /expect-ignored HTTP/1.1\r\nHost: stream.test\r\nExpect: 100-continue\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n"));
  // No interim answer comes: the backend sent none, and turnout must not invent a final one.
  CHECK(cl.conn().read_some(Ms(1000)).empty());
  REQUIRE(cl.send(body));
  auto r = cl.read_response(Ms(10000));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("X-Seen-Target").value_or("") == "/expect-ignored");
  REQUIRE(b.request_count() == 1);
  auto req = b.requests()[0];
  CHECK(lower(req.header("Expect").value_or("")) == "100-continue");
  CHECK(req.body_complete);
  CHECK(req.body_size == body.size());
  CHECK(req.body_hash == fnv64(body));

  // The connection is still in step: the next response is the next request's.
  auto r2 = cl.get("stream.test", "/next");
  REQUIRE(r2);
  CHECK(r2->status == 200);
  CHECK(r2->header("X-Seen-Target").value_or("") == "/next");
}

TEST_CASE("Expect: 100-continue answered 417 by the backend: the client gets the 417 without sending its body") {
  BackendBehavior refuse;
  refuse.expect_reply = make_response(417, "no uploads here\n", {{"Connection", "close"}});
  Backend b("s", refuse);
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  REQUIRE(cl.send("POST /refused HTTP/1.1\r\nHost: stream.test\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n"
                  "\r\n"));
  // The final answer comes first (no 100 before it), and the body is never sent.
  auto r = cl.read_head(Ms(5000));
  REQUIRE(r);
  CHECK(r->status == 417);
  REQUIRE(cl.read_body(*r, false, [](std::string_view) {}, Ms(5000)));
  REQUIRE(b.wait_requests(1, Ms(2000)));
  CHECK(b.requests()[0].target == "/refused");
  CHECK(b.requests()[0].body_size == 0);
  // The client connection either waits for the body it announced or is closed; turnout is not
  // stuck either way: a new client is served at once.
  b.set_behavior({});
  auto next = http_get(t.port(), "stream.test", "/after-417");
  REQUIRE(next);
  CHECK(next->status == 200);
  CHECK(next->header("X-Seen-Target").value_or("") == "/after-417");
}

TEST_CASE("WebSocket upgrade tunnels bytes both ways") {
  Backend b("s", behave(Backend::Mode::Upgrade));
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  REQUIRE(cl.send("GET /ws HTTP/1.1\r\nHost: stream.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  auto r = cl.read_head(Ms(5000));
  REQUIRE(r);
  CHECK(r->status == 101);
  CHECK(lower(r->header("Upgrade").value_or("")) == "websocket");
  CHECK(lower(r->joined("Connection")).find("upgrade") != std::string::npos);

  REQUIRE(b.request_count() == 1);
  auto req = b.requests()[0];
  CHECK(lower(req.header("Upgrade").value_or("")) == "websocket");
  CHECK(lower(req.joined("Connection")).find("upgrade") != std::string::npos);
  CHECK(req.header("Sec-WebSocket-Key").value_or("") == "dGhlIHNhbXBsZSBub25jZQ==");

  // The backend's first bytes came in the same packet as its 101 head.
  std::string greeting = "hello from backend\n";
  std::string got;
  auto deadline = Clock::now() + Ms(5000);
  while (got.size() < greeting.size() && Clock::now() < deadline) got += cl.conn().read_some(Ms(500));
  CHECK(got == greeting);

  // Small frames, then 1 MiB, echoed back.
  REQUIRE(cl.send("ping"));
  std::string echo;
  deadline = Clock::now() + Ms(5000);
  while (echo.size() < 4 && Clock::now() < deadline) echo += cl.conn().read_some(Ms(500));
  CHECK(echo == "ping");

  std::string big = random_bytes(1 << 20, 5);
  std::thread writer([&] { cl.conn().send_all(big, Ms(20000)); });
  std::string back;
  deadline = Clock::now() + Ms(20000);
  while (back.size() < big.size() && Clock::now() < deadline) back += cl.conn().read_some(Ms(1000));
  writer.join();
  CHECK(back.size() == big.size());
  CHECK(fnv64(back) == fnv64(big));

  // Closing our side ends the tunnel on the backend too.
  cl.conn().shutdown_write();
  CHECK(cl.wait_closed(Ms(5000)));
  CHECK(wait_until([&] { return b.open_connections() == 0; }, Ms(5000)));
}
