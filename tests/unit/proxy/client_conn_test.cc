// ClientConnection on a loopback socket: the HTTP/1.1 side of the proxy as a client sees it —
// local answers and the keep-alive loop, a malformed request answered 400 and closed, and the
// response framing it owns (a server's body without a length re-framed as chunked for an
// HTTP/1.1 client, kept as until-close for an HTTP/1.0 one).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "backend_fixture.h"
#include "context_fixture.h"
#include "turnout/proxy/client_conn.h"

using namespace turnout;
using namespace std::chrono_literals;

namespace {

// A client socket connected to a ClientConnection on the fixture's loop.
struct Client {
  test::ContextFixture& c;
  test::LocalListener listener;
  int fd = -1;
  ClientConnection* conn = nullptr;

  explicit Client(test::ContextFixture& cf) : c(cf) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    REQUIRE(::connect(fd, listener.addr.sa(), listener.addr.length) == 0);
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int server_fd = ::accept(listener.fd, reinterpret_cast<sockaddr*>(&peer), &len);
    REQUIRE(server_fd >= 0);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    // Linked the way the worker links an accepted connection; it unlinks itself when closed.
    conn = new ClientConnection(*c.ctx, 1);
    c.ctx->link_client(conn);
    REQUIRE(conn->open(server_fd, reinterpret_cast<sockaddr*>(&peer)) == 0);
  }
  ~Client() {
    if (c.ctx->clients_head) c.ctx->clients_head->close();
    for (int i = 0; i < 100 && c.ctx->clients_head; ++i) uv_run(&c.f.loop, UV_RUN_NOWAIT);
    CHECK(c.ctx->clients_head == nullptr);
    if (fd >= 0) ::close(fd);
  }
  void send(const std::string& bytes) { REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size())); }
  // Runs the loop and collects what the client receives until `until` appears, the connection
  // ends (*eof set), or 5 s pass.
  std::string receive(const std::string& until, bool* eof = nullptr) {
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      uv_run(&c.f.loop, UV_RUN_NOWAIT);
      char buf[4096];
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n > 0) {
        got.append(buf, static_cast<size_t>(n));
        if (!until.empty() && got.find(until) != std::string::npos) return got;
        continue;
      }
      if (n == 0) {
        if (eof) *eof = true;
        return got;
      }
      std::this_thread::sleep_for(1ms);
    }
    return got;
  }
};

}  // namespace

TEST_CASE("client connection: a request for no route is answered 404 and the connection carries on") {
  test::ContextFixture c;
  {
    Client client(c);
    client.send("GET /a HTTP/1.1\r\nHost: nowhere.test\r\n\r\n");
    std::string first = client.receive("no route for host");
    CHECK(first.rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
    CHECK(first.find("Connection: close") == std::string::npos);
    // Kept alive: a second request on the same connection is answered too.
    client.send("GET /b HTTP/1.1\r\nHost: nowhere.test\r\n\r\n");
    std::string second = client.receive("no route for host");
    CHECK(second.rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
    CHECK(c.stats.requests.get() == 2);
    CHECK(c.stats.no_route.get() == 2);
  }
}

TEST_CASE("client connection: a malformed request is answered 400, then the connection ends") {
  test::ContextFixture c;
  {
    Client client(c);
    client.send("GET / HTTP/1.1\r\nHost: a.test\r\nBad Header\r\n\r\n");
    bool eof = false;
    std::string got = client.receive("", &eof);
    CHECK(got.rfind("HTTP/1.1 400 ", 0) == 0);
    CHECK(got.find("Connection: close\r\n") != std::string::npos);
    CHECK(eof);
  }
}

TEST_CASE("client connection: a body without a length is chunked for HTTP/1.1 and kept alive") {
  test::ContextFixture c;
  std::unique_ptr<test::Backend> backend = std::make_unique<test::Backend>(&c.f.loop, "HTTP/1.1 200 OK\r\n\r\nhello");
  backend->close_after_response = true;
  c.ctx->table = test::table_for({format_address(backend->listener.addr.sa())});
  {
    Client client(c);
    client.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    std::string got = client.receive("0\r\n\r\n");
    CHECK(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(got.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
    CHECK(got.find("\r\n\r\n5\r\nhello\r\n0\r\n\r\n") != std::string::npos);
    CHECK(got.find("Connection: close") == std::string::npos);
    CHECK(backend->received.find("X-Forwarded-For: 127.0.0.1\r\n") != std::string::npos);
  }
  backend->close();
  uv_run(&c.f.loop, UV_RUN_NOWAIT);
}

TEST_CASE("client connection: a body without a length goes to an HTTP/1.0 client until close") {
  test::ContextFixture c;
  std::unique_ptr<test::Backend> backend = std::make_unique<test::Backend>(&c.f.loop, "HTTP/1.1 200 OK\r\n\r\nhello");
  backend->close_after_response = true;
  c.ctx->table = test::table_for({format_address(backend->listener.addr.sa())});
  {
    Client client(c);
    client.send("GET / HTTP/1.0\r\nHost: a.test\r\n\r\n");
    bool eof = false;
    std::string got = client.receive("", &eof);
    CHECK(got.rfind("HTTP/1.0 200 OK\r\n", 0) == 0);
    CHECK(got.find("Transfer-Encoding") == std::string::npos);
    CHECK(got.size() >= 5);
    CHECK(got.substr(got.size() - 9) == "\r\n\r\nhello");
    CHECK(eof);
  }
  backend->close();
  uv_run(&c.f.loop, UV_RUN_NOWAIT);
}
