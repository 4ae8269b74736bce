// turnout behind another proxy: `trusted_proxies` decides whose X-Forwarded-* are believed, and a
// listener with `proxy_protocol: true` takes the client's address from a PROXY v1/v2 header
// (written here byte by byte, as a balancer would) and refuses connections without one.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include "integration/harness.h"

using namespace turnout::test;

namespace {

std::string routes_for(const Backend& b) {
  return "apps:\n"
         "  front: {servers: " + yaml_list({b.addr()}) + "}\n"
         "routes:\n"
         "  front.test: [front]\n";
}

const std::string kForwardedRequest =
    "GET /fwd HTTP/1.1\r\nHost: front.test\r\nX-Forwarded-For: 203.0.113.1\r\n"
    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: www.front.test\r\n\r\n";

std::string v2_header(uint8_t ver_cmd, uint8_t fam, const std::string& body) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h.push_back(static_cast<char>(ver_cmd));
  h.push_back(static_cast<char>(fam));
  h.push_back(static_cast<char>(body.size() >> 8));
  h.push_back(static_cast<char>(body.size() & 0xff));
  return h + body;
}

std::string v2_tcp4(const char* src, uint16_t sport) {
  std::string b(12, '\0');
  inet_pton(AF_INET, src, b.data());
  inet_pton(AF_INET, "127.0.0.1", b.data() + 4);
  b[8] = static_cast<char>(sport >> 8);
  b[9] = static_cast<char>(sport & 0xff);
  b[10] = 0x1f;
  b[11] = static_cast<char>(0x90);
  return v2_header(0x21, 0x11, b);
}

}  // namespace

TEST_CASE("from a trusted proxy X-Forwarded-Proto: https reaches the backend and XFF is appended to") {
  Backend b("front");
  TurnoutProcess t;
  t.start("trusted_proxies: [\"127.0.0.0/8\", \"::1\"]\n" + routes_for(b));
  TURNOUT_INFO_STDERR(t);
  Client cl(t.port());
  REQUIRE(cl.send(kForwardedRequest));
  auto r = cl.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(b.request_count() == 1);
  auto req = b.requests()[0];
  CAPTURE(req.raw_head);
  CHECK(req.joined("X-Forwarded-Proto") == "https");
  CHECK(req.joined("X-Forwarded-Host") == "www.front.test");
  CHECK(req.joined("X-Forwarded-For") == "203.0.113.1, 127.0.0.1");
  // Absent, they are set as for anyone.
  auto plain = http_get(t.port(), "front.test", "/plain");
  REQUIRE(plain);
  auto req2 = b.requests()[1];
  CHECK(req2.joined("X-Forwarded-Proto") == "http");
  CHECK(req2.joined("X-Forwarded-Host") == "front.test");
  CHECK(req2.joined("X-Forwarded-For") == "127.0.0.1");
}

TEST_CASE("from a peer outside trusted_proxies every X-Forwarded-* is replaced") {
  Backend b("front");
  TurnoutProcess t;
  t.start("trusted_proxies: [\"10.0.0.0/8\"]\n" + routes_for(b));
  TURNOUT_INFO_STDERR(t);
  Client cl(t.port());
  REQUIRE(cl.send(kForwardedRequest));
  auto r = cl.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(b.request_count() == 1);
  auto req = b.requests()[0];
  CAPTURE(req.raw_head);
  CHECK(req.joined("X-Forwarded-Proto") == "http");
  CHECK(req.joined("X-Forwarded-Host") == "front.test");
  CHECK(req.joined("X-Forwarded-For") == "127.0.0.1");
}

TEST_CASE("without trusted_proxies X-Forwarded-For is appended to and -Proto/-Host replaced, as before") {
  Backend b("front");
  TurnoutProcess t;
  t.start(routes_for(b));
  TURNOUT_INFO_STDERR(t);
  Client cl(t.port());
  REQUIRE(cl.send(kForwardedRequest));
  REQUIRE(cl.read_response());
  REQUIRE(b.request_count() == 1);
  auto req = b.requests()[0];
  CHECK(req.joined("X-Forwarded-Proto") == "http");
  CHECK(req.joined("X-Forwarded-Host") == "front.test");
  CHECK(req.joined("X-Forwarded-For") == "203.0.113.1, 127.0.0.1");
}

TEST_CASE("PROXY v1 and v2: the carried client address is the peer for XFF, trust and the access log") {
  Backend b("front");
  TurnoutProcess t;
  // The PROXY listener first (port 0), a plain one second; 198.51.100.0/24 plays the
  // balancer's other hop that may set X-Forwarded-Proto.
  t.start("listen:\n  - {addr: \"127.0.0.1:0\", proxy_protocol: true}\n  - \"127.0.0.1:0\"\n"
          "trusted_proxies: [\"198.51.100.0/24\"]\naccess_log: stdout\n" +
          routes_for(b));
  TURNOUT_INFO_STDERR(t);
  REQUIRE(t.ports().size() == 2);
  const int pp_port = t.port(0);

  SUBCASE("v1 TCP4, header and request in one write") {
    Client cl(pp_port);
    REQUIRE(cl.send("PROXY TCP4 203.0.113.7 127.0.0.1 51234 8080\r\n"
                    "GET /v1 HTTP/1.1\r\nHost: front.test\r\nX-Forwarded-Proto: https\r\n\r\n"));
    auto r = cl.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(b.request_count() == 1);
    auto req = b.requests()[0];
    CHECK(req.joined("X-Forwarded-For") == "203.0.113.7");
    CHECK(req.joined("X-Forwarded-Proto") == "http");  // 203.0.113.7 is not trusted
    // A second request on the same connection keeps the carried address.
    REQUIRE(cl.send("GET /again HTTP/1.1\r\nHost: front.test\r\n\r\n"));
    REQUIRE(cl.read_response());
    CHECK(b.requests()[1].joined("X-Forwarded-For") == "203.0.113.7");
    CHECK(wait_until([&] { return t.stdout_text().find("203.0.113.7") != std::string::npos; }, Ms(5000)));
  }
  SUBCASE("v1 TCP6 sent a few bytes at a time") {
    Client cl(pp_port);
    std::string all = "PROXY TCP6 2001:db8::7 ::1 443 8080\r\nGET /v1 HTTP/1.1\r\nHost: front.test\r\n\r\n";
    for (size_t i = 0; i < all.size(); i += 5) {
      REQUIRE(cl.send(all.substr(i, 5)));
      std::this_thread::sleep_for(Ms(2));
    }
    auto r = cl.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(b.request_count() == 1);
    CHECK(b.requests()[0].joined("X-Forwarded-For") == "2001:db8::7");
  }
  SUBCASE("v2 PROXY TCP4 from a trusted hop keeps its X-Forwarded-Proto") {
    Client cl(pp_port);
    REQUIRE(cl.send(v2_tcp4("198.51.100.20", 40000) +
                    "GET /v2 HTTP/1.1\r\nHost: front.test\r\nX-Forwarded-Proto: https\r\n"
                    "X-Forwarded-For: 192.0.2.99\r\n\r\n"));
    auto r = cl.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(b.request_count() == 1);
    auto req = b.requests()[0];
    CHECK(req.joined("X-Forwarded-For") == "192.0.2.99, 198.51.100.20");
    CHECK(req.joined("X-Forwarded-Proto") == "https");
  }
  SUBCASE("v2 LOCAL keeps the real peer") {
    Client cl(pp_port);
    REQUIRE(cl.send(v2_header(0x20, 0x00, "") + "GET /local HTTP/1.1\r\nHost: front.test\r\n\r\n"));
    auto r = cl.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(b.request_count() == 1);
    CHECK(b.requests()[0].joined("X-Forwarded-For") == "127.0.0.1");
  }
  SUBCASE("v1 UNKNOWN keeps the real peer") {
    Client cl(pp_port);
    REQUIRE(cl.send("PROXY UNKNOWN\r\nGET /unknown HTTP/1.1\r\nHost: front.test\r\n\r\n"));
    REQUIRE(cl.read_response());
    REQUIRE(b.request_count() == 1);
    CHECK(b.requests()[0].joined("X-Forwarded-For") == "127.0.0.1");
  }
  SUBCASE("the plain listener beside it does not expect a header") {
    auto r = http_get(t.port(1), "front.test", "/plain");
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(b.request_count() == 1);
    CHECK(b.requests()[0].joined("X-Forwarded-For") == "127.0.0.1");
  }
}

TEST_CASE("PROXY listener: a missing, malformed or late header closes the connection, nothing is forwarded") {
  Backend b("front");
  TurnoutProcess t;
  t.start("listen:\n  - {addr: \"127.0.0.1:0\", proxy_protocol: true}\n"
          "timeouts: {request_header: 500ms}\n" +
          routes_for(b));
  TURNOUT_INFO_STDERR(t);

  SUBCASE("plain HTTP") {
    Client cl(t.port());
    REQUIRE(cl.send("GET / HTTP/1.1\r\nHost: front.test\r\n\r\n"));
    std::string extra;
    CHECK(cl.wait_closed(Ms(3000), &extra));
    CHECK(extra.empty());  // no HTTP answer either
  }
  SUBCASE("malformed v1") {
    Client cl(t.port());
    REQUIRE(cl.send("PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\nGET / HTTP/1.1\r\nHost: front.test\r\n\r\n"));
    CHECK(cl.wait_closed(Ms(3000)));
  }
  SUBCASE("over-long v1") {
    Client cl(t.port());
    REQUIRE(cl.send("PROXY UNKNOWN " + std::string(300, 'x') + "\r\nGET / HTTP/1.1\r\nHost: front.test\r\n\r\n"));
    CHECK(cl.wait_closed(Ms(3000)));
  }
  SUBCASE("oversized v2") {
    Client cl(t.port());
    std::string h = v2_header(0x21, 0x11, "");
    h[14] = '\x40';  // 16 KiB announced
    REQUIRE(cl.send(h));
    CHECK(cl.wait_closed(Ms(3000)));
  }
  SUBCASE("a header that never ends is cut at request_header") {
    Client cl(t.port());
    REQUIRE(cl.send("PROXY TCP4 203.0.113.7 127.0.0.1 1 2"));
    auto start = Clock::now();
    CHECK(cl.wait_closed(Ms(5000)));
    CHECK(Clock::now() - start >= Ms(300));
  }
  std::this_thread::sleep_for(Ms(100));
  CHECK(b.request_count() == 0);
  auto m = t.admin("GET", "/metrics");
  REQUIRE(m.status == 200);
  CHECK(m.body.find("turnout_proxy_protocol_errors_total 0\n") == std::string::npos);
}
