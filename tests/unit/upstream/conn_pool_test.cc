// ConnPool and UpstreamConnection against a real listening socket: a pooled connection is closed
// by its upstream_idle deadline (a Deadline in the worker's Deadlines, not a timer of its own),
// and a connection that fails at once is freed with nothing left on the loop.
#include <doctest/doctest.h>

#include <chrono>

#include "descriptors_fixture.h"
#include "listener_fixture.h"
#include "loop_fixture.h"
#include "turnout/net/deadlines.h"
#include "turnout/upstream/conn_pool.h"

using namespace turnout;
using namespace std::chrono_literals;

namespace {

// An Exchange stand-in: hands the connection back to the pool as soon as it is connected.
struct ReleasingUser : UpstreamConnection::User {
  ConnPool* pool = nullptr;
  UpstreamConnection* conn = nullptr;
  int connected = 0;
  int failed = 0;
  void on_upstream_connected() override {
    ++connected;
    pool->release(conn);
  }
  HttpParser::Events::HeadAction on_upstream_head(ResponseHead&) override {
    return HttpParser::Events::HeadAction::Continue;
  }
  void on_upstream_body(const ChunkRef&, const char*, size_t) override {}
  void on_upstream_complete() override {}
  void on_upstream_tunnel_data(const ChunkRef&, const char*, size_t) override {}
  void on_upstream_tunnel_end() override {}
  void on_upstream_failed(UpstreamFailure, bool) override { ++failed; }
  void on_upstream_drained() override {}
};

}  // namespace

TEST_CASE("ConnPool: a pooled connection is closed after upstream_idle, and the loop closes clean") {
  test::LoopFixture f;
  test::LocalListener server;
  ChunkPool chunks;
  Deadlines deadlines(&f.loop);
  Timeouts timeouts;
  timeouts.upstream_idle = Millis(80);
  Limits limits;
  ConnPool pool(&f.loop, chunks, deadlines, timeouts, limits);

  ReleasingUser user;
  user.pool = &pool;
  int err = 0;
  auto start = std::chrono::steady_clock::now();
  user.conn = pool.open("server", server.addr, &user, &err);
  REQUIRE(user.conn != nullptr);
  CHECK(pool.total_count() == 1);

  // Watch for the moment the pool empties, then stop the deadlines so the loop can end (their
  // per-duration timers otherwise stay set until the connect timeout's would have fired).
  struct Watch {
    ConnPool* pool;
    Deadlines* deadlines;
    std::chrono::steady_clock::time_point start;
    std::chrono::steady_clock::time_point emptied{};
  } watch{&pool, &deadlines, start};
  uv_timer_t poll;
  uv_timer_init(&f.loop, &poll);
  poll.data = &watch;
  uv_timer_start(&poll, [](uv_timer_t* t) {
    auto* w = static_cast<Watch*>(t->data);
    auto now = std::chrono::steady_clock::now();
    if (w->pool->total_count() != 0) {
      if (now - w->start < 3s) return;
      w->pool->close_all();  // never idled out: give up (the checks below fail) without hanging
    } else {
      w->emptied = now;
    }
    w->deadlines->close();
    uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
  }, 5, 5);

  f.run();  // connects, is pooled, idles out
  REQUIRE(watch.emptied != std::chrono::steady_clock::time_point{});
  auto elapsed = watch.emptied - start;

  CHECK(user.connected == 1);
  CHECK(user.failed == 0);
  CHECK(pool.total_count() == 0);
  CHECK(pool.idle_count() == 0);
  CHECK(elapsed >= 70ms);  // the idle deadline, not something sooner, closed it
  CHECK(elapsed < 1s);
}

TEST_CASE("ConnPool: a connection that fails at once is reported and freed, nothing pooled") {
  test::LoopFixture f;
  test::LocalListener server;
  ChunkPool chunks;
  Deadlines deadlines(&f.loop);
  Timeouts timeouts;
  Limits limits;
  ConnPool pool(&f.loop, chunks, deadlines, timeouts, limits);

  ReleasingUser user;
  user.pool = &pool;
  int err = 0;
  {
    test::DescriptorsExhausted full;  // assert nothing while exhausted (see the fixture)
    user.conn = pool.open("server", server.addr, &user, &err);
  }
  CHECK(user.conn == nullptr);
  CHECK(err == UV_EMFILE);
  f.run();  // the close callback frees it
  CHECK(pool.total_count() == 0);
  CHECK(user.connected == 0);
  CHECK(user.failed == 0);  // a synchronous failure is the caller's to handle: no callback
  deadlines.close();
}
