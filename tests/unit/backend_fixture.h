// Backend: a tiny HTTP server on a unit test's loop, for tests that proxy a request without the
// whole binary; table_for: a route table sending "a.test" to it.
#pragma once

#include <doctest/doctest.h>
#include <uv.h>

#include <string>
#include <vector>

#include "listener_fixture.h"
#include "turnout/route/route_builder.h"

namespace turnout::test {

// A backend on the test's loop: accepts one connection at a time, collects what it reads, and
// writes `response` once it has seen a whole request head.
struct Backend {
  LocalListener listener;
  uv_tcp_t server{};
  uv_tcp_t conn{};
  bool conn_open = false;
  std::string received;
  std::string response;
  bool answered = false;
  bool close_after_response = false;  // close the connection once the response is written
  char buf[65536];

  explicit Backend(uv_loop_t* loop, std::string resp) : response(std::move(resp)) {
    listener.close_at_exit = false;  // the handle owns the fd
    REQUIRE(uv_tcp_init(loop, &server) == 0);
    REQUIRE(uv_tcp_open(&server, listener.fd) == 0);
    server.data = this;
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&server), 16, [](uv_stream_t* s, int status) {
      auto* b = static_cast<Backend*>(s->data);
      if (status != 0 || b->conn_open) return;
      uv_tcp_init(s->loop, &b->conn);
      b->conn.data = b;
      b->conn_open = true;
      uv_accept(s, reinterpret_cast<uv_stream_t*>(&b->conn));
      uv_read_start(
          reinterpret_cast<uv_stream_t*>(&b->conn),
          [](uv_handle_t* h, size_t, uv_buf_t* out) {
            auto* b = static_cast<Backend*>(h->data);
            *out = uv_buf_init(b->buf, sizeof(b->buf));
          },
          [](uv_stream_t* h, ssize_t n, const uv_buf_t*) {
            auto* b = static_cast<Backend*>(h->data);
            if (n < 0) {
              uv_read_stop(h);
              return;
            }
            b->received.append(b->buf, static_cast<size_t>(n));
            if (!b->answered && b->received.find("\r\n\r\n") != std::string::npos) {
              b->answered = true;
              auto* req = new uv_write_t;
              req->data = b;
              uv_buf_t out = uv_buf_init(b->response.data(), static_cast<unsigned>(b->response.size()));
              uv_write(req, h, &out, 1, [](uv_write_t* r, int) {
                auto* b = static_cast<Backend*>(r->data);
                delete r;
                // A body without a length ends when the server closes.
                if (b->close_after_response && b->conn_open) {
                  b->conn_open = false;
                  uv_close(reinterpret_cast<uv_handle_t*>(&b->conn), nullptr);
                }
              });
            }
          });
    }) == 0);
  }
  // Writes more bytes on the accepted connection (tunnel traffic).
  void send(const std::string& bytes) {
    auto* copy = new std::string(bytes);
    auto* req = new uv_write_t;
    req->data = copy;
    uv_buf_t out = uv_buf_init(copy->data(), static_cast<unsigned>(copy->size()));
    uv_write(req, reinterpret_cast<uv_stream_t*>(&conn), &out, 1, [](uv_write_t* r, int) {
      delete static_cast<std::string*>(r->data);
      delete r;
    });
  }
  void close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&server), nullptr);
    if (conn_open) uv_close(reinterpret_cast<uv_handle_t*>(&conn), nullptr);
    conn_open = false;
  }
};

// One route "a.test" -> app "web" -> the given servers.
inline RouteTablePtr table_for(const std::vector<std::string>& servers) {
  Config config;
  AppSpec app;
  for (const auto& s : servers) app.servers.push_back({s, 1});
  config.apps["web"] = app;
  config.routes["a.test"] = {{"web", 1}};
  auto table = build_table(config, 1);
  REQUIRE_MESSAGE(table.ok(), (table.ok() ? "" : table.error().message));
  return *table;
}

}  // namespace turnout::test
