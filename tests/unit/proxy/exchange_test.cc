// Exchange driven through a fake ClientSide: what the protocol side is asked to send (interim,
// head, body, end, an error of turnout's own, a tunnel) for a backend on loopback, without any
// client socket. The backend is a tiny libuv server on the test's loop that answers every
// request it reads with a canned response.
#include <doctest/doctest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "backend_fixture.h"
#include "context_fixture.h"
#include "turnout/http/framing.h"
#include "turnout/proxy/exchange.h"

using namespace turnout;

namespace {

using Context = test::ContextFixture;
using test::Backend;
using test::table_for;

// Records every call an Exchange makes of its client side; stops the loop when the exchange is over.
struct FakeClient : ClientSide {
  uv_loop_t* loop = nullptr;
  std::vector<std::string> calls;  // in order: "interim 100", "head 200", "body", "end", ...
  std::vector<int> head_status;
  std::string body;
  std::string tunnel;
  int error_status = 0;
  std::string error_why;
  bool error_close = false;
  bool over = false;
  bool accept_body = true;  // send_body's answer (false: above the high watermark)
  int paused = 0;
  int resumed = 0;

  void finish() {
    over = true;
    uv_stop(loop);
  }
  void forward_context(const Exchange&, ForwardContext& out) const override {
    out.client_ip = "192.0.2.9";
    out.request_id = "req-7";
  }
  void pause_request_body(Exchange&) override { ++paused; }
  void resume_request_body(Exchange&) override { ++resumed; }
  void send_interim(Exchange&, const ResponseHead& head) override {
    calls.push_back("interim " + std::to_string(head.status));
  }
  void send_head(Exchange&, const ResponseHead& head) override {
    calls.push_back("head " + std::to_string(head.status));
    head_status.push_back(head.status);
  }
  bool send_body(Exchange&, const ChunkRef&, const char* at, size_t len) override {
    if (calls.empty() || calls.back() != "body") calls.push_back("body");
    body.append(at, len);
    return accept_body;
  }
  void send_end(Exchange&, const MessageHead* trailers) override {
    calls.push_back(trailers ? "end+trailers" : "end");
  }
  void send_error(Exchange&, int status, std::string_view why, bool close) override {
    calls.push_back("error " + std::to_string(status));
    error_status = status;
    error_why = std::string(why);
    error_close = close;
    finish();
  }
  void exchange_done(Exchange&) override {
    calls.push_back("done");
    finish();
  }
  void abort(Exchange&) override {
    calls.push_back("abort");
    finish();
  }
  void start_tunnel(Exchange&) override {
    calls.push_back("tunnel");
    uv_stop(loop);
  }
  bool send_tunnel_data(Exchange&, const ChunkRef&, const char* at, size_t len) override {
    tunnel.append(at, len);
    if (tunnel.find("pong") != std::string::npos) uv_stop(loop);
    return true;
  }
  void end_tunnel_output(Exchange&) override { calls.push_back("tunnel end"); }
};

// A request parsed the way the HTTP/1.1 client side parses it (head, then framing decided).
struct ParsedRequest : HttpParser::Events {
  std::unique_ptr<RequestState> rs;
  explicit ParsedRequest(ProxyContext& ctx, const std::string& bytes) {
    rs = ctx.take_request_state(this);
    rs->parser->feed(bytes.data(), bytes.size());
    REQUIRE(decide_request_framing(rs->head, ctx.limits).ok());
  }
  HeadAction on_head_complete() override { return HeadAction::Continue; }
  void on_body(const char*, size_t) override {}
  void on_message_complete() override {}
};

struct Run {
  // Before the loop: these handles' memory outlives their close callbacks.
  std::unique_ptr<Backend> backend;
  uv_timer_t guard{};
  Context c;
  FakeClient client;
  RouteTablePtr table;
  std::unique_ptr<ParsedRequest> req;
  std::unique_ptr<Exchange> ex;

  Run() {
    client.loop = &c.f.loop;
    uv_timer_init(&c.f.loop, &guard);
  }
  // Runs the loop until the fake client stops it (or 5 s, so a broken exchange fails instead of hanging).
  void run() {
    uv_timer_start(&guard, [](uv_timer_t* t) { uv_stop(t->loop); }, 5000, 0);
    uv_run(&c.f.loop, UV_RUN_DEFAULT);
    uv_timer_stop(&guard);
  }
  // Proxies `request` to a backend answering `response` (or to `servers` when no response is
  // given), the request complete at once, and runs until the exchange is over.
  void proxy(const std::string& request, const std::string& response) {
    backend = std::make_unique<Backend>(&c.f.loop, response);
    proxy_to({format_address(backend->listener.addr.sa())}, request);
  }
  void proxy_to(const std::vector<std::string>& servers, const std::string& request) {
    table = table_for(servers);
    req = std::make_unique<ParsedRequest>(*c.ctx, request);
    ex = std::make_unique<Exchange>(*c.ctx, client, req->rs->head, table, *table->lookup("a.test"), 0);
    ex->start();
    ex->on_request_complete();
    run();
  }
  ~Run() {
    ex.reset();
    if (req) c.ctx->return_request_state(std::move(req->rs));
    if (backend) backend->close();
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
  }
};

}  // namespace

TEST_CASE("exchange: a response reaches the client side as head, body and end, then done") {
  Run r;
  r.proxy("GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");

  CHECK(r.client.calls == std::vector<std::string>{"head 200", "body", "end", "done"});
  CHECK(r.client.body == "hello");
  CHECK(r.ex->status() == 200);
  CHECK(r.ex->bytes_sent() == 5);
  CHECK(r.ex->app_name() == "web");
  // The server was told what the client side said about the client.
  CHECK(r.backend->received.rfind("GET /x HTTP/1.1\r\n", 0) == 0);
  CHECK(r.backend->received.find("X-Forwarded-For: 192.0.2.9\r\n") != std::string::npos);
  CHECK(r.backend->received.find("X-Request-Id: req-7\r\n") != std::string::npos);
}

TEST_CASE("exchange: a chunked response is handed over as its payload, not its chunk framing") {
  Run r;
  r.proxy("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");

  CHECK(r.client.calls == std::vector<std::string>{"head 200", "body", "end", "done"});
  CHECK(r.client.body == "abcde");
}

TEST_CASE("exchange: an interim 100 goes to the client side before the final head") {
  Run r;
  r.proxy("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");

  CHECK(r.client.calls == std::vector<std::string>{"interim 100", "head 204", "end", "done"});
  CHECK(r.client.body.empty());
}

TEST_CASE("exchange: a server that refuses the connection is answered 502 by turnout") {
  Run r;
  std::string addr;
  {
    test::LocalListener gone;  // bound, then closed: nothing listens on the port any more
    addr = format_address(gone.addr.sa());
  }
  r.proxy_to({addr}, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");

  CHECK(r.client.calls == std::vector<std::string>{"error 502"});
  CHECK(r.client.error_status == 502);
  CHECK(r.client.error_why == "upstream connect failed");
  CHECK_FALSE(r.client.error_close);  // the protocol may keep its connection
  CHECK(r.ex->status() == 502);
  CHECK(r.c.stats.upstream_failures.get() >= 1);
}

TEST_CASE("exchange: a malformed response is answered 502, never relayed") {
  Run r;
  r.proxy("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
          "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello");

  CHECK(r.client.calls == std::vector<std::string>{"error 502"});
  CHECK(r.client.head_status.empty());
}

TEST_CASE("exchange: a 101 opens a tunnel through the client side, server bytes arrive raw") {
  Run r;
  r.proxy("GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n");
  REQUIRE(r.client.calls == std::vector<std::string>{"head 101", "tunnel"});
  CHECK(r.ex->state() == Exchange::State::Tunnel);

  r.backend->send("pong");
  r.run();
  CHECK(r.client.tunnel == "pong");
  r.ex->abort();  // the client went away
}
