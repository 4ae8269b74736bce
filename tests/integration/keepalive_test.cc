// Keep-alive on both sides: many requests per client connection, pooled upstream connections,
// pipelining answered in order, HTTP/1.0 clients, Connection: close, and upstreams that close.
#include <doctest/doctest.h>

#include <set>

#include "integration/harness.h"

using namespace turnout::test;

namespace {

std::string one_app_config(const std::vector<std::string>& servers, const std::string& extra = "") {
  return "apps:\n"
         "  a: {servers: " + yaml_list(servers) + "}\n"
         "routes:\n"
         "  ka.test: [a]\n" + extra;
}

bool says_close(const Response& r) { return lower(r.joined("Connection")).find("close") != std::string::npos; }

}  // namespace

TEST_CASE("many requests on one client connection reuse one upstream connection") {
  Backend a("a");
  TurnoutProcess t;
  t.start(one_app_config({a.addr()}));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  for (int i = 0; i < 200; ++i) {
    CAPTURE(i);
    auto r = cl.get("ka.test", "/n/" + std::to_string(i));
    REQUIRE(r);
    REQUIRE(r->status == 200);
    CHECK(r->body == "a\n");
    CHECK(!says_close(*r));
  }
  CHECK(a.request_count() == 200);
  // One client connection lives on one worker; its requests are sequential, so one pooled
  // upstream connection can carry them all. Allow a spare, not one per request.
  CHECK(a.connection_count() <= 2);
}

TEST_CASE("sequential client connections share pooled upstream connections") {
  Backend a("a");
  TurnoutProcess t;
  t.start(one_app_config({a.addr()}));
  TURNOUT_INFO_STDERR(t);

  for (int i = 0; i < 60; ++i) {
    CAPTURE(i);
    Client cl(t.port());
    auto r = cl.get("ka.test", "/c/" + std::to_string(i));
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
  CHECK(a.request_count() == 60);
  // Two workers, one idle pool each: far fewer upstream connections than requests.
  CHECK(a.connection_count() <= 6);
}

TEST_CASE("pipelined requests sent in one write are answered in order") {
  Backend a("a");
  // Earlier requests answer more slowly, so a proxy that ran them in parallel would reorder.
  Backend::Behavior b;
  b.mode = Backend::Mode::Custom;
  b.handler = [](const BackendRequest& req) {
    int i = std::atoi(req.target.c_str() + 3);  // "/p/<i>"
    std::this_thread::sleep_for(Ms(5 * (10 - i)));
    return Reply{make_response(200, "answer " + req.target + " body " + std::to_string(req.body_size) + "\n",
                               {{"X-Target", req.target}})};
  };
  a.set_behavior(b);
  TurnoutProcess t;
  t.start(one_app_config({a.addr()}));
  TURNOUT_INFO_STDERR(t);

  std::string batch;
  for (int i = 0; i < 10; ++i) {
    if (i % 3 == 1) {
      std::string body(100 + i, 'b');
      batch += "POST /p/" + std::to_string(i) + " HTTP/1.1\r\nHost: ka.test\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body;
    } else {
      batch += "GET /p/" + std::to_string(i) + " HTTP/1.1\r\nHost: ka.test\r\n\r\n";
    }
  }
  Client cl(t.port());
  REQUIRE(cl.send(batch));
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    auto r = cl.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    std::string target = "/p/" + std::to_string(i);
    CHECK(r->header("X-Target").value_or("") == target);
    int body = i % 3 == 1 ? 100 + i : 0;
    CHECK(r->body == "answer " + target + " body " + std::to_string(body) + "\n");
  }
  // Still usable afterwards.
  auto r = cl.get("ka.test", "/p/9");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("HTTP/1.0 client: answered as 1.0, closed after the response unless it asked for keep-alive") {
  Backend a("a");
  TurnoutProcess t;
  t.start(one_app_config({a.addr()}));
  TURNOUT_INFO_STDERR(t);

  {
    Client cl(t.port());
    REQUIRE(cl.send("GET /old HTTP/1.0\r\nHost: ka.test\r\n\r\n"));
    auto r = cl.read_response();
    REQUIRE(r);
    CHECK(r->version == "HTTP/1.0");
    CHECK(r->status == 200);
    CHECK(r->body == "a\n");
    CHECK(cl.wait_closed(Ms(3000)));
  }
  {
    Client cl(t.port());
    REQUIRE(cl.send("GET /old-ka HTTP/1.0\r\nHost: ka.test\r\nConnection: keep-alive\r\n\r\n"));
    auto r = cl.read_response();
    REQUIRE(r);
    CHECK(r->version == "HTTP/1.0");
    CHECK(r->status == 200);
    CHECK(r->body == "a\n");
    CHECK(lower(r->joined("Connection")).find("keep-alive") != std::string::npos);
    // A 1.0 client cannot read an until-close body and keep the connection: the length must be known.
    CHECK(r->header("Content-Length"));
    REQUIRE(cl.send("GET /old-ka2 HTTP/1.0\r\nHost: ka.test\r\nConnection: keep-alive\r\n\r\n"));
    auto r2 = cl.read_response();
    REQUIRE(r2);
    CHECK(r2->status == 200);
  }
  // The backend speaks 1.1 to turnout either way.
  for (const auto& req : a.requests()) CHECK(req.version == "HTTP/1.1");
}

TEST_CASE("Connection: close from the client is honoured") {
  Backend a("a");
  TurnoutProcess t;
  t.start(one_app_config({a.addr()}));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  auto r1 = cl.get("ka.test", "/first");
  REQUIRE(r1);
  CHECK(r1->status == 200);
  REQUIRE(cl.send("GET /last HTTP/1.1\r\nHost: ka.test\r\nConnection: close\r\n\r\n"));
  auto r2 = cl.read_response();
  REQUIRE(r2);
  CHECK(r2->status == 200);
  CHECK(says_close(*r2));
  std::string extra;
  CHECK(cl.wait_closed(Ms(3000), &extra));
  CHECK(extra.empty());
}

TEST_CASE("an upstream answering Connection: close is not reused, and the next request still succeeds") {
  Backend a("a");
  Backend::Behavior b;
  b.mode = Backend::Mode::Custom;
  b.handler = [](const BackendRequest& req) {
    return Reply{make_response(200, "closing\n", {{"Connection", "close"}}), /*close_after=*/true};
  };
  a.set_behavior(b);
  TurnoutProcess t;
  t.start(one_app_config({a.addr()}));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    auto r = cl.get("ka.test", "/");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "closing\n");
    // The upstream's Connection: close is hop-by-hop: the client connection stays open.
    CHECK(!says_close(*r));
  }
  CHECK(a.connection_count() == 10);
  for (const auto& req : a.requests()) CHECK(req.index_on_conn == 0);
}

TEST_CASE("an upstream closing an idle pooled connection does not fail the next request") {
  Backend a("a");
  Backend::Behavior b;
  b.mode = Backend::Mode::Custom;
  b.handler = [](const BackendRequest&) {
    // Answers as if keeping the connection, then closes it while it sits in turnout's pool.
    return Reply{make_response(200, "ok\n"), /*close_after=*/true};
  };
  a.set_behavior(b);
  TurnoutProcess t;
  t.start(one_app_config({a.addr()}));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    auto r = cl.get("ka.test", "/idle/" + std::to_string(i));
    REQUIRE(r);
    CHECK(r->status == 200);
    std::this_thread::sleep_for(Ms(100));
  }
  CHECK(a.request_count() == 10);
}

TEST_CASE("a backend restarted on the same port is reached again through the pool") {
  Backend a("a");
  TurnoutProcess t;
  t.start(one_app_config({a.addr()}));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  auto r1 = cl.get("ka.test", "/before");
  REQUIRE(r1);
  CHECK(r1->status == 200);
  a.stop();  // kills the pooled connection too
  a.start();
  std::this_thread::sleep_for(Ms(100));
  auto r2 = cl.get("ka.test", "/after");
  REQUIRE(r2);
  CHECK(r2->status == 200);
  CHECK(r2->body == "a\n");
}
