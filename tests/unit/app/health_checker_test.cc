// HealthChecker against real backends on its own loop (TCP on 127.0.0.1:0 and a unix socket):
// what it sends, how a status is judged, timeouts, and the down sets it publishes.
#include <doctest/doctest.h>

#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <string>
#include <vector>

#include "loop_fixture.h"
#include "turnout/app/health_checker.h"
#include "turnout/common/log.h"
#include "turnout/route/route_builder.h"

using namespace turnout;

namespace {

// A backend that answers every request with `response` (or never answers when it is empty) and
// keeps what it was sent. Its connections are closed by the peer or by close().
struct Backend {
  struct Conn {
    union {
      uv_tcp_t tcp;
      uv_pipe_t pipe;
    } h;
    uv_write_t write;
    Backend* backend;
    std::string got;
    bool answered = false;
  };

  explicit Backend(uv_loop_t* loop, bool unix_socket) : loop(loop), unix_socket(unix_socket) {
    if (unix_socket) {
      path = "/tmp/turnout-health-test-" + std::to_string(::getpid()) + ".sock";
      ::unlink(path.c_str());
      REQUIRE(uv_pipe_init(loop, &server.pipe, 0) == 0);
      REQUIRE(uv_pipe_bind(&server.pipe, path.c_str()) == 0);
      addr = "unix:" + path;
    } else {
      REQUIRE(uv_tcp_init(loop, &server.tcp) == 0);
      sockaddr_in sin{};
      uv_ip4_addr("127.0.0.1", 0, &sin);
      REQUIRE(uv_tcp_bind(&server.tcp, reinterpret_cast<const sockaddr*>(&sin), 0) == 0);
      sockaddr_storage bound{};
      int len = sizeof bound;
      uv_tcp_getsockname(&server.tcp, reinterpret_cast<sockaddr*>(&bound), &len);
      addr = "127.0.0.1:" + std::to_string(ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
    }
    server.tcp.data = this;  // uv_*_init cleared it
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&server), 16, on_connection) == 0);
  }

  // After the checker closed: closes everything and runs the loop until the handles are gone.
  void close() {
    for (Conn* c : open) uv_close(reinterpret_cast<uv_handle_t*>(&c->h), on_conn_closed);
    open.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&server), nullptr);
    uv_run(loop, UV_RUN_DEFAULT);
  }

  static void on_connection(uv_stream_t* s, int status) {
    auto* b = static_cast<Backend*>(s->data);
    if (status < 0) return;
    auto* c = new Conn{};
    c->backend = b;
    if (b->unix_socket) uv_pipe_init(b->loop, &c->h.pipe, 0);
    else uv_tcp_init(b->loop, &c->h.tcp);
    c->h.tcp.data = c;
    uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->h));
    ++b->accepted;
    b->open.push_back(c);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->h), on_alloc, on_read);
  }
  static void on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
    static char mem[4096];
    *buf = uv_buf_init(mem, sizeof mem);
  }
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* c = static_cast<Conn*>(s->data);
    Backend* b = c->backend;
    if (n < 0) {
      b->forget(c);
      uv_close(reinterpret_cast<uv_handle_t*>(s), on_conn_closed);
      return;
    }
    c->got.append(buf->base, static_cast<size_t>(n));
    if (c->answered || c->got.find("\r\n\r\n") == std::string::npos) return;
    c->answered = true;
    b->requests.push_back(c->got);
    if (b->response.empty()) return;  // a server that hangs
    uv_buf_t out = uv_buf_init(b->response.data(), static_cast<unsigned>(b->response.size()));
    uv_write(&c->write, s, &out, 1, nullptr);
  }
  static void on_conn_closed(uv_handle_t* h) { delete static_cast<Conn*>(h->data); }
  void forget(Conn* c) { std::erase(open, c); }

  uv_loop_t* loop;
  bool unix_socket;
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } server;
  std::string path;      // unix socket file
  std::string addr;      // as written in a config
  std::string response;  // the whole answer; "" = never answer
  int accepted = 0;
  std::vector<std::string> requests;
  std::vector<Conn*> open;
};

RouteTablePtr table_for(const std::string& addr, Millis timeout) {
  Config c;
  c.apps["example"].servers = {{addr, 1}};
  c.apps["example"].health = HealthSpec{"/healthz", Millis(30), timeout, 1, 2};
  c.routes["example.com"] = {{"example", 1}};
  Result<RouteTablePtr> t = build_table(c, 1);
  REQUIRE(t.ok());
  return *t;
}

struct Checks : test::LoopFixture {
  std::vector<HealthChecker::DownSet> published;
  HealthChecker checker{&loop, [this](HealthChecker::DownSet s) { published.push_back(std::move(s)); }};

  Checks() { set_log_level(LogLevel::Error); }

  // Runs the loop until `done()` or 10 s pass.
  template <typename F>
  bool run_until(F done) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < end) uv_run(&loop, UV_RUN_ONCE);
    return done();
  }
  bool last_down(const std::string& addr) const {
    return !published.empty() && published.back()->count(addr) != 0;
  }
};

const char* k200 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
const char* k503 = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";

}  // namespace

TEST_CASE("health: a 2xx server stays up; the check is a GET of the path with the route's host") {
  Checks t;
  Backend b(&t.loop, false);
  b.response = k200;
  t.checker.update(*table_for(b.addr, Millis(1000)));
  CHECK(t.run_until([&] { return b.accepted >= 3 && b.open.empty(); }));
  CHECK(t.published.empty());
  CHECK_FALSE(t.checker.down(b.addr));
  REQUIRE(!b.requests.empty());
  CHECK(b.requests[0].rfind("GET /healthz HTTP/1.1\r\nHost: example.com\r\n", 0) == 0);
  t.checker.close();
  b.close();
}

TEST_CASE("health: a 5xx server goes down after `fall` checks and up again after `rise`, over a unix socket") {
  Checks t;
  Backend b(&t.loop, true);
  b.response = k503;
  t.checker.update(*table_for(b.addr, Millis(1000)));
  CHECK(t.run_until([&] { return !t.published.empty(); }));
  CHECK(b.accepted >= 2);  // fall = 2
  CHECK(t.last_down(b.addr));
  CHECK(t.checker.down(b.addr));
  b.response = "HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n";  // 3xx is a success
  CHECK(t.run_until([&] { return t.published.size() == 2; }));
  CHECK_FALSE(t.last_down(b.addr));
  CHECK_FALSE(t.checker.down(b.addr));
  t.checker.close();
  b.close();
  ::unlink(b.path.c_str());
}

TEST_CASE("health: no answer within the timeout, a refused connect and a malformed head are failures") {
  SUBCASE("timeout") {
    Checks t;
    Backend b(&t.loop, false);
    b.response = "";  // accepts, reads, never answers
    t.checker.update(*table_for(b.addr, Millis(50)));
    CHECK(t.run_until([&] { return !t.published.empty(); }));
    CHECK(t.last_down(b.addr));
    t.checker.close();
    b.close();
  }
  SUBCASE("refused") {
    Checks t;
    std::string path = "/tmp/turnout-health-test-none-" + std::to_string(::getpid()) + ".sock";
    t.checker.update(*table_for("unix:" + path, Millis(1000)));
    CHECK(t.run_until([&] { return !t.published.empty(); }));
    CHECK(t.last_down("unix:" + path));
    t.checker.close();
  }
  SUBCASE("malformed status line") {
    Checks t;
    Backend b(&t.loop, false);
    b.response = "HTTP/1.1 2xx OK\r\n\r\n";
    t.checker.update(*table_for(b.addr, Millis(1000)));
    CHECK(t.run_until([&] { return !t.published.empty(); }));
    CHECK(t.last_down(b.addr));
    t.checker.close();
    b.close();
  }
}
