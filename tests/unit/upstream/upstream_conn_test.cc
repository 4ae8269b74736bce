// UpstreamConnection against a small server on the test's loop: what its User (an Exchange in
// turnout) hears for a complete response, a server that closes mid-body, a refused connect and
// a server that never answers; and that only a cleanly finished connection goes back idle.
#include <doctest/doctest.h>
#include <llhttp.h>

#include <memory>
#include <string>

#include "backend_fixture.h"
#include "loop_fixture.h"
#include "turnout/net/deadlines.h"
#include "turnout/upstream/conn_pool.h"

using namespace turnout;

namespace {

// An Exchange stand-in: sends one GET when connected, records what comes back, stops the loop
// when the response is over (complete or failed).
struct User : UpstreamConnection::User {
  uv_loop_t* loop = nullptr;
  ConnPool* pool = nullptr;
  UpstreamConnection* conn = nullptr;
  int connected = 0;
  int heads = 0;
  int status = 0;
  std::string body;
  int completes = 0;
  int failures = 0;
  UpstreamFailure why{};
  bool started = false;
  bool release_on_complete = true;

  void on_upstream_connected() override {
    ++connected;
    conn->begin_exchange(HTTP_GET);
    static constexpr char kReq[] = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
    conn->stream().write_static(kReq, sizeof(kReq) - 1);
    conn->stream().flush();
    conn->request_sent();
  }
  HttpParser::Events::HeadAction on_upstream_head(ResponseHead& head) override {
    ++heads;
    status = head.status;
    return HttpParser::Events::HeadAction::Continue;
  }
  void on_upstream_body(const ChunkRef&, const char* at, size_t len) override { body.append(at, len); }
  void on_upstream_complete() override {
    ++completes;
    if (release_on_complete) pool->release(conn);
    uv_stop(loop);
  }
  void on_upstream_tunnel_data(const ChunkRef&, const char*, size_t) override {}
  void on_upstream_tunnel_end() override {}
  void on_upstream_failed(UpstreamFailure w, bool response_started) override {
    ++failures;
    why = w;
    started = response_started;
    uv_stop(loop);
  }
  void on_upstream_drained() override {}
};

// The pieces a worker gives its upstream connections, on a test loop; closed clean at the end.
struct Setup {
  std::unique_ptr<test::Backend> backend;  // before the loop: its handles close while it exists
  test::LoopFixture f;
  ChunkPool chunks;
  Deadlines deadlines{&f.loop};
  Timeouts timeouts;
  Limits limits;
  std::unique_ptr<ConnPool> pool;
  User user;
  uv_timer_t guard{};

  Setup() {
    user.loop = &f.loop;
    uv_timer_init(&f.loop, &guard);
  }
  void make_pool() {
    pool = std::make_unique<ConnPool>(&f.loop, chunks, deadlines, timeouts, limits);
    user.pool = pool.get();
  }
  void open(const SocketAddress& addr) {
    int err = 0;
    user.conn = pool->open(addr.text, addr, &user, &err);
    REQUIRE(user.conn != nullptr);
  }
  // Runs until the user stops the loop (or 5 s pass: the checks then fail instead of hanging).
  void run() {
    uv_timer_start(&guard, [](uv_timer_t* t) { uv_stop(t->loop); }, 5000, 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    uv_timer_stop(&guard);
  }
  ~Setup() {
    if (pool) pool->close_all();
    if (backend) backend->close();
    deadlines.close();
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    f.run();
    pool.reset();
  }
};

SocketAddress address_of(const test::LocalListener& l) {
  auto a = parse_address(format_address(l.addr.sa()));
  REQUIRE(a.ok());
  return *a;
}

}  // namespace

TEST_CASE("upstream connection: a complete response reaches its user, then it waits idle in the pool") {
  Setup s;
  s.make_pool();
  s.backend = std::make_unique<test::Backend>(&s.f.loop, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  s.open(address_of(s.backend->listener));
  s.run();
  CHECK(s.user.connected == 1);
  CHECK(s.user.heads == 1);
  CHECK(s.user.status == 200);
  CHECK(s.user.body == "hello");
  CHECK(s.user.completes == 1);
  CHECK(s.user.failures == 0);
  CHECK(s.backend->received.rfind("GET / HTTP/1.1\r\n", 0) == 0);
  CHECK(s.pool->idle_count() == 1);
  CHECK(s.user.conn->uses() == 1);
}

TEST_CASE("upstream connection: a server that closes mid-body is a reset after the response began") {
  Setup s;
  s.make_pool();
  s.backend = std::make_unique<test::Backend>(&s.f.loop, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel");
  s.backend->close_after_response = true;
  s.open(address_of(s.backend->listener));
  s.run();
  CHECK(s.user.heads == 1);
  CHECK(s.user.body == "hel");
  CHECK(s.user.completes == 0);
  REQUIRE(s.user.failures == 1);
  CHECK(s.user.why == UpstreamFailure::Reset);
  CHECK(s.user.started);
  CHECK(s.pool->idle_count() == 0);
}

TEST_CASE("upstream connection: a refused connect fails as ConnectFailed with nothing started") {
  Setup s;
  s.make_pool();
  SocketAddress addr;
  {
    test::LocalListener gone;  // bound, then closed: nothing listens there any more
    addr = address_of(gone);
  }
  s.open(addr);
  s.run();
  CHECK(s.user.connected == 0);
  REQUIRE(s.user.failures == 1);
  CHECK(s.user.why == UpstreamFailure::ConnectFailed);
  CHECK_FALSE(s.user.started);
  CHECK(s.pool->total_count() == 0);
}

TEST_CASE("upstream connection: a server that never answers times out after upstream_response") {
  Setup s;
  s.timeouts.upstream_response = Millis(100);
  s.make_pool();
  s.backend = std::make_unique<test::Backend>(&s.f.loop, "");
  s.open(address_of(s.backend->listener));
  s.run();
  CHECK(s.user.connected == 1);
  REQUIRE(s.user.failures == 1);
  CHECK(s.user.why == UpstreamFailure::Timeout);
  CHECK_FALSE(s.user.started);
}
