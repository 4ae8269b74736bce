// Header policy on the wire: hop-by-hop headers (and those named in Connection) removed both
// ways, X-Forwarded-* and Via set, everything else passed byte for byte and in order.
#include <doctest/doctest.h>

#include "integration/harness.h"

using namespace turnout::test;

namespace {

std::string config_for(const Backend& b) {
  return "apps:\n"
         "  h: {servers: " + yaml_list({b.addr()}) + "}\n"
         "routes:\n"
         "  hdr.test: [h]\n";
}

// Header names of `h` other than those in `skip` (case-insensitive), in order.
std::vector<std::pair<std::string, std::string>> without(const Headers& h, std::initializer_list<const char*> skip) {
  Headers out;
  for (const auto& kv : h) {
    bool drop = false;
    for (const char* s : skip) drop = drop || iequal(kv.first, s);
    if (!drop) out.push_back(kv);
  }
  return out;
}

const std::initializer_list<const char*> kHopByHop = {"Connection", "Keep-Alive", "Proxy-Connection", "TE",
                                                      "Trailer",    "Upgrade"};

}  // namespace

TEST_CASE("hop-by-hop request headers and those named in Connection do not reach the backend") {
  Backend b("h");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  REQUIRE(cl.send("GET /hop HTTP/1.1\r\n"
                  "Host: hdr.test\r\n"
                  "Connection: keep-alive, X-Secret-Hop, x-other-hop\r\n"
                  "Keep-Alive: timeout=5\r\n"
                  "Proxy-Connection: keep-alive\r\n"
                  "TE: trailers\r\n"
                  "Trailer: X-Foo\r\n"
                  "Upgrade: h2c\r\n"
                  "X-Secret-Hop: must not pass\r\n"
                  "X-Other-Hop: nor this\r\n"
                  "X-Kept: kept\r\n"
                  "\r\n"));
  auto r = cl.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(b.request_count() == 1);
  auto req = b.requests()[0];
  CAPTURE(req.raw_head);
  for (const char* name : {"Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade", "X-Secret-Hop",
                           "X-Other-Hop"}) {
    CAPTURE(name);
    CHECK(!req.header(name));
  }
  // turnout may send its own Connection header upstream, but never the client's tokens.
  CHECK(lower(req.joined("Connection")).find("secret") == std::string::npos);
  CHECK(req.header("X-Kept").value_or("") == "kept");
}

TEST_CASE("a Connection header whose first element is empty still removes the headers it names") {
  // Go CVE-2021-33197: ", X-Forwarded-For" made a proxy keep every named header.
  Backend b("h");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  REQUIRE(cl.send("GET /empty-first HTTP/1.1\r\nHost: hdr.test\r\nConnection: , X-Drop-Me\r\n"
                  "Connection: X-Drop-Too\r\nX-Drop-Me: 1\r\nX-Drop-Too: 2\r\nX-Keep-Me: 3\r\n\r\n"));
  auto r = cl.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(b.request_count() == 1);
  auto req = b.requests()[0];
  CAPTURE(req.raw_head);
  CHECK(!req.header("X-Drop-Me"));
  CHECK(!req.header("X-Drop-Too"));
  CHECK(req.header("X-Keep-Me").value_or("") == "3");
}

TEST_CASE("X-Forwarded-For is appended to, X-Forwarded-Proto and -Host are set, Via is added") {
  Backend b("h");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  SUBCASE("with client-supplied values") {
    Client cl(t.port());
    REQUIRE(cl.send("GET /xff HTTP/1.1\r\nHost: hdr.test\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n"
                    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nVia: 1.0 fred\r\n\r\n"));
    auto r = cl.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(b.request_count() == 1);
    auto req = b.requests()[0];
    CAPTURE(req.raw_head);
    CHECK(req.joined("X-Forwarded-For") == "10.0.0.1, 10.0.0.2, 127.0.0.1");
    CHECK(req.header_count("X-Forwarded-Proto") == 1);
    CHECK(req.header("X-Forwarded-Proto").value_or("") == "http");
    CHECK(req.header_count("X-Forwarded-Host") == 1);
    CHECK(req.header("X-Forwarded-Host").value_or("") == "hdr.test");
    std::string via = req.joined("Via");
    CHECK(via.find("1.0 fred") == 0);  // the earlier hop stays first
    CHECK(via.find("turnout") != std::string::npos);
  }
  SUBCASE("without") {
    Client cl(t.port());
    auto r = cl.get("hdr.test", "/plain");
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(b.request_count() == 1);
    auto req = b.requests()[0];
    CAPTURE(req.raw_head);
    CHECK(req.joined("X-Forwarded-For") == "127.0.0.1");
    CHECK(req.header("X-Forwarded-Proto").value_or("") == "http");
    CHECK(req.header("X-Forwarded-Host").value_or("") == "hdr.test");
    CHECK(req.joined("Via").find("turnout") != std::string::npos);
    CHECK(req.header("Host").value_or("") == "hdr.test");
    // Via on the way back too.
    CHECK(r->joined("Via").find("turnout") != std::string::npos);
  }
}

TEST_CASE("other request headers pass byte for byte and in order") {
  Backend b("h");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  const Headers sent = {
      {"X-Custom-Header", "value with  two  spaces"},
      {"x-lower-case", "MiXeD CaSe VaLuE"},
      {"X-Dup", "1"},
      {"Accept", "text/html, application/json;q=0.9"},
      {"X-Dup", "2"},
      {"Cookie", "a=1; b=2"},
      {"X-Empty", ""},
      {"X-Quoted", "\"a,b\", c"},
      {"User-Agent", "itest/1.0 (+turnout)"},
      {"Authorization", "Bearer abc.def"},
  };
  Client cl(t.port());
  REQUIRE(cl.send_request("GET", "/pass?q=%20x&y", "hdr.test", sent));
  auto r = cl.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(b.request_count() == 1);
  auto req = b.requests()[0];
  CAPTURE(req.raw_head);
  CHECK(req.target == "/pass?q=%20x&y");
  CHECK(req.method == "GET");
  // X-Request-Id is added (the request had none): see the access log test in observability_test.
  auto passed = without(req.headers, {"Host", "Connection", "X-Forwarded-For", "X-Forwarded-Proto",
                                      "X-Forwarded-Host", "X-Request-Id", "Via", "Content-Length",
                                      "Transfer-Encoding"});
  CHECK(passed == sent);
  // Names keep their case on the wire.
  CHECK(req.raw_head.find("\r\nX-Custom-Header: value with  two  spaces\r\n") != std::string::npos);
  CHECK(req.raw_head.find("\r\nx-lower-case: MiXeD CaSe VaLuE\r\n") != std::string::npos);
  // A GET without a body gets no invented framing.
  CHECK(!req.header("Transfer-Encoding"));
  CHECK(req.header("Content-Length").value_or("0") == "0");
}

TEST_CASE("response headers: hop-by-hop removed, the rest passed in order, Via added") {
  Backend b("h");
  Backend::Behavior beh;
  beh.mode = Backend::Mode::Custom;
  beh.handler = [](const BackendRequest&) {
    return Reply{"HTTP/1.1 200 OK\r\n"
                 "Connection: X-Resp-Hop\r\n"
                 "X-Resp-Hop: secret\r\n"
                 "Keep-Alive: timeout=5\r\n"
                 "Proxy-Connection: keep-alive\r\n"
                 "Trailer: X-T\r\n"
                 "Upgrade: h2c\r\n"
                 "Set-Cookie: a=1; Path=/\r\n"
                 "X-App: y\r\n"
                 "Set-Cookie: b=2; HttpOnly\r\n"
                 "Cache-Control: no-cache, private\r\n"
                 "content-type: text/plain; charset=utf-8\r\n"
                 "Content-Length: 5\r\n"
                 "\r\n"
                 "body\n"};
  };
  b.set_behavior(beh);
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  auto r = cl.get("hdr.test", "/resp");
  REQUIRE(r);
  CAPTURE(r->raw_head);
  CHECK(r->status == 200);
  CHECK(r->body == "body\n");
  for (const char* name : {"X-Resp-Hop", "Keep-Alive", "Proxy-Connection", "Trailer", "Upgrade"}) {
    CAPTURE(name);
    CHECK(!r->header(name));
  }
  CHECK(lower(r->joined("Connection")).find("x-resp-hop") == std::string::npos);
  CHECK(r->joined("Via").find("turnout") != std::string::npos);
  auto passed = without(r->headers, {"Connection", "Via", "Content-Length", "Transfer-Encoding", "Date", "Server"});
  const Headers expect = {
      {"Set-Cookie", "a=1; Path=/"},
      {"X-App", "y"},
      {"Set-Cookie", "b=2; HttpOnly"},
      {"Cache-Control", "no-cache, private"},
      {"content-type", "text/plain; charset=utf-8"},
  };
  CHECK(passed == expect);
  CHECK(r->header("Content-Length").value_or("") == "5");
}

TEST_CASE("Upgrade is removed from a request that is not upgrading") {
  // Upgrade without "Connection: upgrade" is not an upgrade request: the header is hop-by-hop.
  Backend b("h", behave(Backend::Mode::Upgrade));
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  auto r = cl.get("hdr.test", "/no-upgrade", {{"Upgrade", "websocket"}});
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(b.request_count() == 1);
  CHECK(!b.requests()[0].header("Upgrade"));
  // The connection is still plain HTTP.
  auto r2 = cl.get("hdr.test", "/again");
  REQUIRE(r2);
  CHECK(r2->status == 200);
}
