// HTTP/1.1 details on real sockets: Upgrade and CONNECT requests that carry a body, h2c never
// tunnelled, chunk extensions, extension methods, which protocols and versions are HTTP, Host
// reg-names and 414 for a long request line.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "integration/harness.h"

using namespace turnout::test;

namespace {

std::string config_for(const Backend& b, const std::string& extra = "") {
  return "apps:\n"
         "  w: {servers: " + yaml_list({b.addr()}) + "}\n"
         "routes:\n"
         "  wire.test: [w]\n" + extra;
}

// A server that answers each connection with `reply` as soon as the request head is in, without
// reading any body: what a server that switches protocols early does. Records every byte it got.
class EarlyServer {
 public:
  explicit EarlyServer(std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~EarlyServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string addr() const { return local_addr(port_); }
  std::string received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  void run() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      Conn conn(c);
      std::string head;
      if (!conn.read_head(head, Clock::now() + Ms(5000))) continue;
      conn.send_all(reply_, Ms(2000));
      std::string rest = conn.take_buffered();
      auto until = Clock::now() + Ms(1500);
      while (!stop_ && Clock::now() < until && !conn.eof()) rest += conn.read_some(Ms(100));
      std::lock_guard<std::mutex> lock(mu_);
      received_ += head + rest;
    }
  }

  std::string reply_;            // written once the head is read
  int fd_ = -1;                  // listening socket
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;           // accept loop, one connection at a time
  std::mutex mu_;                // guards received_
  std::string received_;         // every byte of every connection
};

// Reads from the client until `want` bytes arrived or the timeout passes.
std::string read_n(Client& cl, size_t want, Ms timeout = Ms(5000)) {
  std::string got = cl.conn().take_buffered();
  auto deadline = Clock::now() + timeout;
  while (got.size() < want && Clock::now() < deadline) got += cl.conn().read_some(Ms(200));
  return got;
}

const std::string kWsHeaders =
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

}  // namespace

TEST_CASE("an Upgrade request with a body: the body reaches the backend, then the 101 opens the tunnel") {
  Backend b("w", behave(Backend::Mode::Upgrade));
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  struct Framed {
    const char* what;
    std::string framing;  // framing header and body as sent
    bool chunked;
  };
  for (const Framed& f : {Framed{"Content-Length", "Content-Length: 4\r\n\r\nabcd", false},
                          Framed{"chunked", "Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n3;x=y\r\nbcd\r\n0\r\n\r\n", true}}) {
    CAPTURE(f.what);
    b.reset_records();
    Client cl(t.port());
    // The request and the client's first tunnel bytes in one write: "ping" follows the body.
    REQUIRE(cl.send("POST /up HTTP/1.1\r\nHost: wire.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
                    kWsHeaders + f.framing + "ping"));
    auto r = cl.read_head(Ms(5000));
    REQUIRE(r);
    CHECK(r->status == 101);
    CHECK(lower(r->header("Upgrade").value_or("")) == "websocket");
    REQUIRE(b.wait_requests(1));
    auto req = b.requests()[0];
    CHECK(req.body == "abcd");
    CHECK(req.chunked == f.chunked);
    CHECK(req.body_complete);
    // The greeting, then "ping" echoed: the tunnel began right after the body, not inside it.
    std::string greeting = b.behavior().upgrade_greeting;
    CHECK(read_n(cl, greeting.size() + 4) == greeting + "ping");
    REQUIRE(cl.send("pong"));
    CHECK(read_n(cl, 4) == "pong");
  }
}

TEST_CASE("an Upgrade the server declines, with a body: answered at once, body forwarded") {
  // The exact report: "Upgrade: foo" with a 4-byte body hung for 60 s with nothing upstream.
  Backend b("w");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  for (std::string framing : {"Content-Length: 4\r\n\r\nabcd", "Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"}) {
    CAPTURE(framing);
    b.reset_records();
    Client cl(t.port());
    auto start = Clock::now();
    REQUIRE(cl.send("POST /up HTTP/1.1\r\nHost: wire.test\r\nConnection: Upgrade\r\nUpgrade: foo\r\n" + framing));
    auto r = cl.read_response(Ms(5000));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(Clock::now() - start < Ms(3000));
    REQUIRE(b.request_count() == 1);
    auto req = b.requests()[0];
    CHECK(req.body == "abcd");
    CHECK_FALSE(req.header("Upgrade"));  // foo is not a protocol turnout relays
  }
  // Same with WebSocket offered and a server that answers 200: the body reaches it, and the
  // client connection, which asked for a switch that did not happen, is closed after the answer.
  b.reset_records();
  Client cl(t.port());
  REQUIRE(cl.send("POST /up HTTP/1.1\r\nHost: wire.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                  "Content-Length: 4\r\n\r\nabcd"));
  auto r = cl.read_response(Ms(5000));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(b.requests().at(0).body == "abcd");
  CHECK(b.requests().at(0).header("Upgrade").value_or("") == "websocket");
  CHECK(cl.wait_closed(Ms(3000)));
}

TEST_CASE("CONNECT with a body: the body is forwarded as framed and the answer comes back") {
  Backend b("w");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  REQUIRE(cl.send("CONNECT wire.test:443 HTTP/1.1\r\nHost: wire.test:443\r\nContent-Length: 4\r\n\r\nabcd"));
  auto r = cl.read_response(Ms(5000));
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(b.request_count() == 1);
  CHECK(b.requests()[0].method == "CONNECT");
  CHECK(b.requests()[0].body == "abcd");
  // turnout opens no CONNECT tunnel: the connection ends with the answer.
  CHECK(cl.wait_closed(Ms(3000)));
}

TEST_CASE("a 101 before the request body is complete: 502, nothing of the switch reaches the client") {
  EarlyServer early("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nEARLY");
  TurnoutProcess t;
  t.start("apps:\n  w: {servers: [\"" + early.addr() + "\"]}\nroutes:\n  wire.test: [w]\n");
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  REQUIRE(cl.send("POST /up HTTP/1.1\r\nHost: wire.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" + kWsHeaders +
                  "Content-Length: 10\r\n\r\nabcd"));  // 6 body bytes still to come
  auto r = cl.read_response(Ms(5000));
  REQUIRE(r);
  CHECK(r->status == 502);
  std::string after;
  CHECK(cl.wait_closed(Ms(3000), &after));
  CHECK(after.find("EARLY") == std::string::npos);
  CHECK(r->body.find("EARLY") == std::string::npos);
}

TEST_CASE("h2c is never tunnelled: the backend never sees it, the client never gets its 101") {
  // A backend that switches to h2c whenever it is asked to (the h2c smuggling target), and
  // records what it was sent.
  Backend b("w", [] {
    Backend::Behavior bh;
    bh.mode = Backend::Mode::Custom;
    bh.handler = [](const BackendRequest& req) {
      std::string up = lower(req.joined("Upgrade"));
      if (up.find("h2c") != std::string::npos) {
        return Reply{"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", true, false};
      }
      return Reply{make_response(200, "plain " + req.method + "\n", {{"X-Backend", "w"}}), false, false};
    };
    return bh;
  }());
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  const std::string settings = "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n";
  const std::vector<std::string> heads = {
      "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" + settings,
      "Connection: Upgrade\r\nUpgrade: h2c\r\n" + settings,
      "Upgrade: h2c\r\n" + settings,
      "Connection: Upgrade\r\nUpgrade: h2c\r\n",
      "Connection: Upgrade\r\nUpgrade: H2C\r\n" + settings,
      "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: foo, h2c\r\n" + settings,
      "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n" + settings,
  };
  for (const std::string& h : heads) {
    CAPTURE(h);
    b.reset_records();
    Client cl(t.port());
    REQUIRE(cl.send("GET / HTTP/1.1\r\nHost: wire.test\r\n" + h + "\r\n"));
    auto r = cl.read_response(Ms(5000));
    REQUIRE(r);
    CHECK(r->status != 101);
    REQUIRE(b.request_count() == 1);
    auto req = b.requests()[0];
    CHECK(lower(req.raw_head).find("h2c") == std::string::npos);
    CHECK(lower(req.raw_head).find("http2-settings") == std::string::npos);
    cl.wait_closed(Ms(500));
  }
  // h2c alone is served as plain HTTP/1.1, and the connection carries on.
  Client cl(t.port());
  REQUIRE(cl.send("GET /a HTTP/1.1\r\nHost: wire.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
                  settings + "\r\n"));
  auto r = cl.read_response(Ms(5000));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "plain GET\n");
  auto r2 = cl.get("wire.test", "/b");
  REQUIRE(r2);
  CHECK(r2->status == 200);
}

TEST_CASE("a 101 to a protocol the client did not offer is a 502, never relayed") {
  // A backend that answers every request with a switch to h2c.
  EarlyServer rogue("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nPRI-ish");
  TurnoutProcess t;
  t.start("apps:\n  w: {servers: [\"" + rogue.addr() + "\"]}\nroutes:\n  wire.test: [w]\n");
  TURNOUT_INFO_STDERR(t);

  for (const std::string& extra : std::vector<std::string>{"", "Connection: Upgrade\r\nUpgrade: websocket\r\n" + kWsHeaders,
                                                           "Connection: Upgrade\r\nUpgrade: h2c\r\n"}) {
    CAPTURE(extra);
    Client cl(t.port());
    REQUIRE(cl.send("GET / HTTP/1.1\r\nHost: wire.test\r\n" + extra + "\r\n"));
    auto r = cl.read_response(Ms(5000));
    REQUIRE(r);
    CHECK(r->status == 502);
    std::string after;
    cl.wait_closed(Ms(2000), &after);
    CHECK(after.find("PRI-ish") == std::string::npos);
  }
}

TEST_CASE("WebSocket offered beside h2c still upgrades end to end") {
  Backend b("w", behave(Backend::Mode::Upgrade));
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  REQUIRE(cl.send("GET /ws HTTP/1.1\r\nHost: wire.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                  "Upgrade: h2c, websocket\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n" + kWsHeaders + "\r\n"));
  auto r = cl.read_head(Ms(5000));
  REQUIRE(r);
  CHECK(r->status == 101);
  REQUIRE(b.request_count() == 1);
  auto req = b.requests()[0];
  CHECK(req.header("Upgrade").value_or("") == "websocket");
  CHECK(!req.header("HTTP2-Settings"));
  std::string greeting = b.behavior().upgrade_greeting;
  CHECK(read_n(cl, greeting.size()) == greeting);
  REQUIRE(cl.send("hello"));
  CHECK(read_n(cl, 5) == "hello");
}

TEST_CASE("valid chunk extensions are accepted and the body arrives intact; invalid ones are 400") {
  Backend b("w");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  const std::string post = "POST /c HTTP/1.1\r\nHost: wire.test\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::string line : {"2;a=b;c=d", "2 ;a=b", "2; a=b", "2;a = b", "2;a=\"b\\\"c\"", "2\t;\tname", "2;a=\"x;y=z\""}) {
    CAPTURE(line);
    b.reset_records();
    Client cl(t.port());
    REQUIRE(cl.send(post + line + "\r\nxy\r\n1 ; last\r\nz\r\n0 ;end=\"1\"\r\n\r\n"));
    auto r = cl.read_response(Ms(5000));
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(b.request_count() == 1);
    CHECK(b.requests()[0].body == "xyz");
  }
  b.reset_records();
  for (const std::string& line : std::vector<std::string>{"2;a=\"b", "2;a=b ", "2 ", "2;a=b\rc", "2;=b", "2;a(b)",
                                                          "2;a=\"b\x01\"", "2;" + std::string(300, 'e')}) {
    CAPTURE(line);
    Client cl(t.port());
    REQUIRE(cl.send(post + line + "\r\nxy\r\n0\r\n\r\n"));
    auto r = cl.read_response(Ms(5000));
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(cl.wait_closed(Ms(3000)));
  }
  // Nothing of the refused requests got past their head: a request upstream would have no body.
  std::this_thread::sleep_for(Ms(200));
  for (const auto& req : b.requests()) CHECK(!req.body_complete);
}

TEST_CASE("extension methods are forwarded with the framing of any request") {
  Backend b("w", behave(Backend::Mode::Echo));
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  // Pipelined on one connection: each answer must match its request.
  REQUIRE(cl.send("QUERY /search HTTP/1.1\r\nHost: wire.test\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nq=abc"
                  "BREW /pot HTTP/1.1\r\nHost: wire.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntea\r\n0\r\n\r\n"
                  "MKCOLA /x HTTP/1.1\r\nHost: wire.test\r\n\r\n"
                  "PLAY /movie HTTP/1.1\r\nHost: wire.test\r\nContent-Length: 1\r\n\r\n!"));
  for (std::string want : {"q=abc", "tea", "", "!"}) {
    auto r = cl.read_response(Ms(5000));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == want);
  }
  REQUIRE(b.request_count() == 4);
  auto reqs = b.requests();
  CHECK(reqs[0].method == "QUERY");
  CHECK(reqs[0].target == "/search");
  CHECK(reqs[1].method == "BREW");
  CHECK(reqs[1].chunked);
  CHECK(reqs[2].method == "MKCOLA");
  CHECK(reqs[3].method == "PLAY");
  for (const auto& r : reqs) CHECK(r.conn_id == reqs[0].conn_id);  // one upstream connection, reused

  // Case variants of standard methods and PRI are refused: a server folding case would
  // frame "head" unlike turnout.
  for (std::string m : {"head", "Get", "connect", "PRI"}) {
    CAPTURE(m);
    Client c2(t.port());
    REQUIRE(c2.send(m + " / HTTP/1.1\r\nHost: wire.test\r\n\r\n"));
    auto r = c2.read_response(Ms(5000));
    REQUIRE(r);
    CHECK(r->status == 400);
  }
  CHECK(b.request_count() == 4);
}

TEST_CASE("only HTTP/1.x is HTTP: other protocols 400, HTTP/2 and 3 in a request line 505, 1.2..1.9 as 1.1") {
  Backend b("w");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  struct Case {
    std::string line;
    int status;
  };
  for (const Case& c : {Case{"OPTIONS * RTSP/1.0", 400}, Case{"OPTIONS / RTSP/1.0", 400}, Case{"SOURCE / ICE/1.0", 400},
                        Case{"GET / http/1.1", 400}, Case{"GET / HTTP/1.10", 400}, Case{"GET / HTTP/2.0", 505},
                        Case{"GET / HTTP/3.0", 505}, Case{"GET / HTTP/0.9", 505}}) {
    CAPTURE(c.line);
    Client cl(t.port());
    REQUIRE(cl.send(c.line + "\r\nHost: wire.test\r\nCSeq: 1\r\n\r\n"));
    auto r = cl.read_response(Ms(5000));
    REQUIRE(r);
    CHECK(r->status == c.status);
    CHECK(r->version == "HTTP/1.1");
    CHECK(cl.wait_closed(Ms(3000)));
  }
  CHECK(b.request_count() == 0);

  Client cl(t.port());
  REQUIRE(cl.send("GET /v HTTP/1.2\r\nHost: wire.test\r\n\r\n"));
  auto r = cl.read_response(Ms(5000));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->version == "HTTP/1.1");
  REQUIRE(b.request_count() == 1);
  CHECK(b.requests()[0].version == "HTTP/1.1");
  auto r2 = cl.get("wire.test", "/again");  // kept alive, as a 1.1 connection
  REQUIRE(r2);
  CHECK(r2->status == 200);
}

TEST_CASE("Host reg-names with sub-delims route to default_app (else 404); ',' is refused") {
  Backend b("w");
  Backend d("d");
  TurnoutProcess t;
  t.start("apps:\n  w: {servers: " + yaml_list({b.addr()}) + "}\n  d: {servers: " + yaml_list({d.addr()}) +
          "}\nroutes:\n  wire.test: [w]\n  \"*.wire.test\": [w]\ndefault_app: d\n");
  TURNOUT_INFO_STDERR(t);

  for (std::string host : {"a=b", "a!b", "*.wire.test", "x=y.wire.test", "wire%2Etest", "a..wire.test"}) {
    CAPTURE(host);
    auto r = http_get(t.port(), host, "/");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("X-Backend").value_or("") == "d");  // never the route of a hostname
    CHECK(r->header("X-Seen-Host").value_or("") == host);
  }
  auto routed = http_get(t.port(), "x.wire.test", "/");
  REQUIRE(routed);
  CHECK(routed->header("X-Backend").value_or("") == "w");
  for (std::string host : {"a,b", "a b", "a/b", "a%zz"}) {
    CAPTURE(host);
    auto r = http_get(t.port(), host, "/");
    REQUIRE(r);
    CHECK(r->status == 400);
  }

  // Without default_app, a reg-name gets 404 like any host without a route.
  TurnoutProcess t2;
  t2.start(config_for(b));
  auto r = http_get(t2.port(), "a=b", "/");
  REQUIRE(r);
  CHECK(r->status == 404);
}

TEST_CASE("an over-long request line is 414, a long head 431") {
  Backend b("w");
  TurnoutProcess t;
  t.start(config_for(b, "limits: {max_header_bytes: 2048}\n"));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  REQUIRE(cl.send("GET /" + std::string(3000, 'u') + " HTTP/1.1\r\nHost: wire.test\r\n\r\n"));
  auto r = cl.read_response(Ms(5000));
  REQUIRE(r);
  CHECK(r->status == 414);
  CHECK(cl.wait_closed(Ms(3000)));

  Client c2(t.port());
  REQUIRE(c2.send("GET /" + std::string(1000, 'u') + " HTTP/1.1\r\nHost: wire.test\r\nX: " + std::string(1500, 'x') +
                  "\r\n\r\n"));
  auto r2 = c2.read_response(Ms(5000));
  REQUIRE(r2);
  CHECK(r2->status == 431);

  auto ok = http_get(t.port(), "wire.test", "/" + std::string(1500, 'u'));
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(b.request_count() == 1);
}
