// Route lookup and balancing as a client sees them: Host normalisation, wildcards, default_app,
// 404 for unknown hosts, absolute-form targets, server weights within an app and app weights
// within a route.
#include <doctest/doctest.h>

#include <map>

#include "integration/harness.h"

using namespace turnout::test;

namespace {

// Which backend answered, or "status N" for anything turnout answered itself.
std::string who(const std::optional<Response>& r) {
  if (!r) return "no response";
  if (auto b = r->header("X-Backend")) return *b;
  return "status " + std::to_string(r->status);
}

std::string three_app_config(const Backend& a, const Backend& b, const Backend& c, const std::string& extra = "") {
  return "apps:\n"
         "  a: {servers: " + yaml_list({a.addr()}) + "}\n"
         "  b: {servers: " + yaml_list({b.addr()}) + "}\n"
         "  c: {servers: " + yaml_list({c.addr()}) + "}\n"
         "routes:\n"
         "  exact.test: [a]\n"
         "  \"*.wild.test\": [b]\n"
         "  \"*.deep.wild.test\": [c]\n" + extra;
}

}  // namespace

TEST_CASE("exact host match ignores port, case and a trailing dot; Host reaches the backend unchanged") {
  Backend a("a"), b("b"), c("c");
  TurnoutProcess t;
  t.start(three_app_config(a, b, c));
  TURNOUT_INFO_STDERR(t);

  for (std::string host : {"exact.test", "exact.test:8080", "EXACT.TEST", "Exact.Test.", "exact.test.:80"}) {
    CAPTURE(host);
    auto r = http_get(t.port(), host, "/x");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(who(r) == "a");
    CHECK(r->body == "a\n");
    CHECK(r->header("X-Seen-Host").value_or("") == host);
  }
  CHECK(a.request_count() == 5);
  CHECK(b.request_count() == 0);
  CHECK(c.request_count() == 0);
}

TEST_CASE("wildcards match one or more labels and the longest suffix wins") {
  Backend a("a"), b("b"), c("c");
  TurnoutProcess t;
  t.start(three_app_config(a, b, c));
  TURNOUT_INFO_STDERR(t);

  const std::map<std::string, std::string> expect = {
      {"x.wild.test", "b"},        {"a.b.wild.test", "b"},         {"deep.wild.test", "b"},
      {"X.WILD.TEST.", "b"},       {"x.wild.test:81", "b"},        {"x.deep.wild.test", "c"},
      {"a.b.deep.wild.test", "c"}, {"Y.Deep.Wild.Test:9", "c"},    {"wild.test", "status 404"},
      {"xwild.test", "status 404"}, {"x.wild.test.other", "status 404"},
  };
  for (const auto& [host, backend] : expect) {
    CAPTURE(host);
    CHECK(who(http_get(t.port(), host, "/")) == backend);
  }
}

TEST_CASE("unknown host: 404 with a short text body, nothing reaches a backend, connection usable") {
  Backend a("a"), b("b"), c("c");
  TurnoutProcess t;
  t.start(three_app_config(a, b, c));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  auto r = cl.get("nowhere.test", "/");
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(!r->body.empty());
  CHECK(r->body.size() < 256);
  CHECK(r->header("Content-Type").value_or("").rfind("text/plain", 0) == 0);
  CHECK(!r->header("X-Backend"));
  // A 404 is an answer, not a protocol error: unless turnout said it would close, the same
  // connection routes the next request.
  if (r->joined("Connection").find("close") == std::string::npos) {
    auto r2 = cl.get("exact.test", "/");
    REQUIRE(r2);
    CHECK(who(r2) == "a");
  }
  CHECK(b.request_count() == 0);
  CHECK(c.request_count() == 0);
}

TEST_CASE("default_app serves hosts without a route; routed hosts still go to their app") {
  Backend a("a"), d("d");
  TurnoutProcess t;
  t.start("apps:\n"
          "  a: {servers: " + yaml_list({a.addr()}) + "}\n"
          "  d: {servers: " + yaml_list({d.addr()}) + "}\n"
          "routes:\n"
          "  exact.test: [a]\n"
          "default_app: d\n");
  TURNOUT_INFO_STDERR(t);

  CHECK(who(http_get(t.port(), "unknown.test", "/")) == "d");
  CHECK(who(http_get(t.port(), "sub.exact.test", "/")) == "d");
  CHECK(who(http_get(t.port(), "EXACT.test:1", "/")) == "a");
}

TEST_CASE("absolute-form target routes by its authority and reaches the backend in origin-form") {
  Backend a("a"), b("b"), c("c");
  TurnoutProcess t;
  t.start(three_app_config(a, b, c));
  TURNOUT_INFO_STDERR(t);

  {
    Client cl(t.port());
    REQUIRE(cl.send("GET http://exact.test/abs/path?x=1 HTTP/1.1\r\nHost: exact.test\r\n\r\n"));
    auto r = cl.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(who(r) == "a");
    CHECK(r->header("X-Seen-Target").value_or("") == "/abs/path?x=1");
  }
  {
    // HTTP/1.0 without Host: the target alone decides.
    Client cl(t.port());
    REQUIRE(cl.send("GET http://x.wild.test:8080/p HTTP/1.0\r\n\r\n"));
    auto r = cl.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(who(r) == "b");
    CHECK(r->header("X-Seen-Target").value_or("") == "/p");
  }
  {
    // Authority and Host disagree: route by the authority (RFC 9112 3.2.2) or refuse with 400;
    // never by the Host header.
    size_t b_before = b.request_count();
    Client cl(t.port());
    REQUIRE(cl.send("GET http://exact.test/ HTTP/1.1\r\nHost: x.wild.test\r\n\r\n"));
    auto r = cl.read_response();
    REQUIRE(r);
    CHECK((who(r) == "a" || r->status == 400));
    CHECK(b.request_count() == b_before);
  }
}

TEST_CASE("server weights 1:3 within an app: exact shares over every cycle of one connection") {
  Backend s1("s1"), s3("s3");
  TurnoutProcess t;
  t.start("apps:\n"
          "  rr: {servers: [{addr: \"" + s1.addr() + "\", weight: 1}, {addr: \"" + s3.addr() + "\", weight: 3}]}\n"
          "routes:\n"
          "  rr.test: [rr]\n");
  TURNOUT_INFO_STDERR(t);

  // One client connection = one worker = one round-robin cursor.
  Client cl(t.port());
  std::vector<std::string> seq;
  for (int i = 0; i < 40; ++i) {
    auto r = cl.get("rr.test", "/" + std::to_string(i));
    REQUIRE(r);
    REQUIRE(r->status == 200);
    seq.push_back(who(r));
  }
  std::string joined;
  for (auto& s : seq) joined += s + " ";
  CAPTURE(joined);
  CHECK(std::count(seq.begin(), seq.end(), "s1") == 10);
  CHECK(std::count(seq.begin(), seq.end(), "s3") == 30);
  for (size_t w = 0; w < seq.size(); w += 4) {
    CAPTURE(w);
    CHECK(std::count(seq.begin() + w, seq.begin() + w + 4, "s1") == 1);
  }
  CHECK(s1.request_count() == 10);
  CHECK(s3.request_count() == 30);
}

TEST_CASE("app weights split a route's traffic by app, regardless of how many servers each app has") {
  Backend x1("x1"), x2("x2"), x3("x3"), y1("y1");
  TurnoutProcess t;
  t.start("apps:\n"
          "  x: {servers: " + yaml_list({x1.addr(), x2.addr(), x3.addr()}) + "}\n"
          "  y: {servers: " + yaml_list({y1.addr()}) + "}\n"
          "routes:\n"
          "  split.test: [x, {app: y, weight: 9}]\n"
          "  even.test: [x, y]\n");
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  auto run = [&](const std::string& host, int n) {
    std::vector<std::string> seq;
    for (int i = 0; i < n; ++i) {
      auto r = cl.get(host, "/");
      REQUIRE(r);
      REQUIRE(r->status == 200);
      seq.push_back(who(r));
    }
    return seq;
  };
  auto is_x = [](const std::string& s) { return s[0] == 'x'; };

  SUBCASE("1:9") {
    auto seq = run("split.test", 100);
    CHECK(std::count_if(seq.begin(), seq.end(), is_x) == 10);
    CHECK(std::count(seq.begin(), seq.end(), "y1") == 90);
    for (size_t w = 0; w < seq.size(); w += 10) {
      CAPTURE(w);
      CHECK(std::count_if(seq.begin() + w, seq.begin() + w + 10, is_x) == 1);
    }
  }
  SUBCASE("1:1 with three servers against one") {
    auto seq = run("even.test", 100);
    CHECK(std::count_if(seq.begin(), seq.end(), is_x) == 50);
    CHECK(std::count(seq.begin(), seq.end(), "y1") == 50);
    for (const char* s : {"x1", "x2", "x3"}) {
      CAPTURE(s);
      auto n = std::count(seq.begin(), seq.end(), s);
      CHECK(n >= 16);
      CHECK(n <= 17);
    }
  }
}
