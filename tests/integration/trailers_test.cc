// Trailer fields through turnout (issue 13): the trailer section of a chunked HTTP/1.1 message
// is relayed where the next hop's framing can carry it (the terminal chunk of a chunked body, a
// trailing HTTP/2 HEADERS frame), without the fields a trailer must not carry, and never ends a
// message early or starts another. Real sockets both ways; HTTP/2 clients by the python3-h2
// script tests/integration/h2_client.py.
#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "integration/h2_script.h"
#include "integration/harness.h"
#include "integration/tls_pki.h"

using namespace turnout::test;
using nlohmann::json;

namespace {

// A chunked response whose trailer section has fields to relay and fields a trailer must not
// carry (framing, routing, cookies).
const char kTrailedResponse[] =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status, x-checksum\r\n\r\n"
    "5\r\nhello\r\n0\r\n"
    "grpc-status: 0\r\n"
    "Content-Length: 99\r\n"
    "X-Checksum: sha256=abc\r\n"
    "Host: evil.test\r\n"
    "Set-Cookie: s=1\r\n"
    "\r\n";

BackendBehavior trailed_response() {
  BackendBehavior b;
  b.mode = BackendMode::Custom;
  b.handler = [](const BackendRequest&) { return Reply{kTrailedResponse}; };
  return b;
}

std::string config_for(const Backend& b, bool h2c = false, const std::string& extra = "") {
  std::string listen = h2c ? "listen:\n  - { addr: \"127.0.0.1:0\", http2: true }\n" : "";
  return listen + "apps:\n  s: {servers: " + yaml_list({b.addr()}) + "}\nroutes:\n  t.test: [s]\n" + extra;
}

// A field list for the client script: [[name, value], ...] (a braced list of pairs would
// become a JSON object).
json fields(std::initializer_list<std::pair<std::string, std::string>> list) {
  json out = json::array();
  for (auto& [k, v] : list) out.push_back(json::array({k, v}));
  return out;
}

}  // namespace

TEST_CASE("h1: a chunked response's trailers reach the client in the terminal chunk, forbidden ones dropped") {
  Backend b("s", trailed_response());
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  for (int i = 0; i < 2; ++i) {  // the connection stays in step after a trailer section
    CAPTURE(i);
    REQUIRE(cl.send("GET /t HTTP/1.1\r\nHost: t.test\r\n\r\n"));
    auto head = cl.read_head();
    REQUIRE(head);
    CHECK(head->status == 200);
    CHECK(head->header("Transfer-Encoding").value_or("") == "chunked");
    std::string body, trailers;
    REQUIRE(cl.conn().read_chunked([&](std::string_view d) { body += d; }, Clock::now() + kDefaultTimeout,
                                   &trailers));
    CHECK(body == "hello");
    CHECK(trailers == "grpc-status: 0\r\nX-Checksum: sha256=abc\r\n");
  }

  // An HTTP/1.0 client gets the body until close: no terminal chunk, so no trailers.
  Client old(t.port());
  REQUIRE(old.send("GET /t HTTP/1.0\r\nHost: t.test\r\n\r\n"));
  std::string raw;
  REQUIRE(old.conn().read_until_close([&](std::string_view d) { raw += d; }, Clock::now() + kDefaultTimeout));
  CHECK(raw.find("\r\n\r\nhello") != std::string::npos);
  CHECK(raw.substr(raw.size() - 5) == "hello");
  CHECK(raw.find("grpc-status: 0") == std::string::npos);
}

TEST_CASE("h1: a chunked request's trailers reach the server in the terminal chunk, forbidden ones dropped") {
  Backend b("s");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  REQUIRE(cl.send("POST /up HTTP/1.1\r\nHost: t.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "3\r\nhel\r\n2\r\nlo\r\n0\r\n"
                  "X-Checksum: sha256=abc\r\n"
                  "Content-Length: 5\r\n"
                  "Host: evil.test\r\n"
                  "Authorization: Bearer x\r\n"
                  "x-digest:  md5=1 \r\n"
                  "\r\n"
                  // Pipelined: parsed as a request of its own, after the trailer section ended.
                  "GET /next HTTP/1.1\r\nHost: t.test\r\n\r\n"));
  auto r1 = cl.read_response();
  REQUIRE(r1);
  CHECK(r1->status == 200);
  auto r2 = cl.read_response();
  REQUIRE(r2);
  CHECK(r2->status == 200);
  REQUIRE(b.request_count() == 2);
  auto reqs = b.requests();
  CHECK(reqs[0].target == "/up");
  CHECK(reqs[0].chunked);
  CHECK(reqs[0].body == "hello");
  CHECK(reqs[0].trailers == "X-Checksum: sha256=abc\r\nx-digest: md5=1\r\n");
  CHECK(reqs[0].joined("Host") == "t.test");
  CHECK(reqs[1].target == "/next");
  CHECK(reqs[1].trailers == "");

  // A trailer section over max_header_bytes (with its head) is refused like an oversized head.
  std::string big = "POST /big HTTP/1.1\r\nHost: t.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n";
  for (int i = 0; i < 20; ++i) big += "X-Pad-" + std::to_string(i) + ": " + std::string(2000, 'p') + "\r\n";
  big += "\r\n";
  Client cl2(t.port());
  REQUIRE(cl2.send(big));
  auto r3 = cl2.read_response();
  REQUIRE(r3);
  CHECK(r3->status == 431);
  CHECK(cl2.wait_closed());
}

TEST_CASE("h2: response trailers arrive as a HEADERS frame with END_STREAM, lowercase, forbidden ones dropped") {
  Backend b("s", trailed_response());
  TurnoutProcess t;
  t.start(config_for(b, true));
  TURNOUT_INFO_STDERR(t);

  json out = h2_client(t.port(), {{"steps", {{{"requests", {{{"authority", "t.test"}, {"path", "/a"}},
                                                              {{"authority", "t.test"}, {"path", "/b"}}}}}}}});
  REQUIRE(out["results"].size() == 2);
  for (const json& r : out["results"]) {
    CHECK(r["status"] == 200);
    CHECK(r["body"] == "hello");
    CHECK(r["reset"].is_null());
    CHECK(r["trailers"] == json::array({json::array({"grpc-status", "0"}), json::array({"x-checksum", "sha256=abc"})}));
  }
}

TEST_CASE("h2: request trailers reach the server in the terminal chunk when the request goes chunked") {
  Backend b("s");
  TurnoutProcess t;
  t.start(config_for(b, true));
  TURNOUT_INFO_STDERR(t);

  json chunked_req = {{"authority", "t.test"},
                      {"path", "/chunked"},
                      {"method", "POST"},
                      {"body", "hello"},
                      {"trailers", fields({{"x-checksum", "sha256=abc"}, {"cookie", "a=1"}, {"grpc-status", "0"}})}};
  // No body at all, only trailers: still a chunked request (no content-length).
  json empty_req = {{"authority", "t.test"}, {"path", "/empty"}, {"method", "POST"}, {"trailers", fields({{"x-a", "1"}})}};
  // With content-length the body is not chunked: the trailers have nowhere to go.
  json length_req = {{"authority", "t.test"},
                     {"path", "/length"},
                     {"method", "POST"},
                     {"headers", fields({{"content-length", "5"}})},
                     {"body", "hello"},
                     {"trailers", fields({{"x-checksum", "sha256=abc"}})}};
  json out = h2_client(t.port(), {{"steps", {{{"requests", {chunked_req}}}, {{"requests", {empty_req}}},
                                             {{"requests", {length_req}}}}}});
  REQUIRE(out["results"].size() == 3);
  for (const json& r : out["results"]) CHECK(r["status"] == 200);
  REQUIRE(b.request_count() == 3);
  auto reqs = b.requests();
  CHECK(reqs[0].target == "/chunked");
  CHECK(reqs[0].chunked);
  CHECK(reqs[0].body == "hello");
  CHECK(reqs[0].trailers == "x-checksum: sha256=abc\r\ngrpc-status: 0\r\n");
  CHECK(reqs[1].target == "/empty");
  CHECK(reqs[1].chunked);
  CHECK(reqs[1].body == "");
  CHECK(reqs[1].trailers == "x-a: 1\r\n");
  CHECK(reqs[2].target == "/length");
  CHECK_FALSE(reqs[2].chunked);
  CHECK(reqs[2].body == "hello");
  CHECK(reqs[2].trailers == "");
}

TEST_CASE("h2: a pseudo-header in request trailers resets that stream with PROTOCOL_ERROR, others go on") {
  Backend b("s");
  TurnoutProcess t;
  t.start(config_for(b, true));
  TURNOUT_INFO_STDERR(t);

  json bad = {{"authority", "t.test"},
              {"path", "/bad"},
              {"method", "POST"},
              {"body", "hello"},
              {"trailers", fields({{":path", "/evil"}, {"x-a", "1"}})}};
  json good = {{"authority", "t.test"}, {"path", "/good"}, {"method", "POST"}, {"body", "hi"},
               {"trailers", fields({{"x-b", "2"}})}};
  json upper = {{"authority", "t.test"}, {"path", "/upper"}, {"method", "POST"}, {"body", "x"},
                {"trailers", fields({{"X-Upper", "2"}})}};
  json after = {{"authority", "t.test"}, {"path", "/after"}};
  json out = h2_client(t.port(), {{"steps", {{{"requests", {bad, good, upper}}}, {{"requests", {after}}}}}});
  REQUIRE(out["results"].size() == 4);
  CHECK(out["results"][0]["reset"] == 1);  // PROTOCOL_ERROR
  CHECK(out["results"][1]["status"] == 200);
  CHECK(out["results"][1]["reset"].is_null());
  CHECK(out["results"][2]["reset"] == 1);
  CHECK(out["results"][3]["status"] == 200);
  CHECK(out["goaway"].empty());
  // The good stream's trailers went through; nothing of the bad ones did.
  bool good_seen = false;
  for (const auto& r : b.requests()) {
    CHECK(r.trailers.find("evil") == std::string::npos);
    CHECK(r.trailers.find("x-a") == std::string::npos);
    if (r.target == "/good") {
      good_seen = true;
      CHECK(r.trailers == "x-b: 2\r\n");
    }
  }
  CHECK(good_seen);
}

TEST_CASE("h2: request trailers that take the header block past max_header_bytes are answered 431") {
  Backend b("s");
  TurnoutProcess t;
  t.start(config_for(b, true, "limits: {max_header_bytes: 2048}\n"));
  TURNOUT_INFO_STDERR(t);

  // Each block alone is within the limit; the head block and the trailer block together are not.
  json big = {{"authority", "t.test"},
              {"path", "/big"},
              {"method", "POST"},
              {"headers", fields({{"x-head", std::string(1000, 'h')}})},
              {"body", "hello"},
              {"trailers", fields({{"x-tail", std::string(1000, 't')}})}};
  json fits = {{"authority", "t.test"},
               {"path", "/fits"},
               {"method", "POST"},
               {"headers", fields({{"x-head", std::string(500, 'h')}})},
               {"body", "hello"},
               {"trailers", fields({{"x-tail", std::string(500, 't')}})}};
  json out = h2_client(t.port(), {{"steps", {{{"requests", {big}}}, {{"requests", {fits}}}}}});
  REQUIRE(out["results"].size() == 2);
  CHECK(out["results"][0]["status"] == 431);
  CHECK(out["results"][1]["status"] == 200);
  CHECK(out["goaway"].empty());
  bool fits_seen = false;
  for (const auto& r : b.requests()) {
    bool relayed = r.trailers.find("x-tail: ttt") != std::string::npos;
    CHECK_MESSAGE((!relayed || r.target == "/fits"), r.target);
    if (r.target == "/fits") {
      fits_seen = true;
      CHECK(r.trailers == "x-tail: " + std::string(500, 't') + "\r\n");
    }
  }
  CHECK(fits_seen);
}
