// HTTP/2 towards clients (issue 13; DESIGN.md "HTTP/2 towards clients"): ALPN h2 on TLS
// listeners, h2c with prior knowledge on plaintext ones that ask for it, streams routed by
// :authority over the pooled HTTP/1.1 upstreams, bodies both ways, errors on streams, live
// remaps, GOAWAY on drain and on floods. Clients: curl, nghttp and the scripted python3-h2
// client tests/integration/h2_client.py.
#include <doctest/doctest.h>
#include <signal.h>

#include <fstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "integration/h2_script.h"
#include "integration/harness.h"
#include "integration/tls_pki.h"

using namespace turnout::test;
using nlohmann::json;

namespace {

std::string apps_and_routes(const Backend& a, const Backend& b) {
  return "apps:\n  app_a: {servers: " + yaml_list({a.addr()}) + "}\n  app_b: {servers: " + yaml_list({b.addr()}) +
         "}\n  dead: {servers: [\"127.0.0.1:1\"]}\n"
         "routes:\n  a.test: [app_a]\n  b.test: [app_b]\n  dead.test: [dead]\n";
}

// h2c on listener 0, plain HTTP/1.1 only on listener 1.
std::string h2c_config(const Backend& a, const Backend& b, const std::string& extra = "") {
  return "listen:\n  - { addr: \"127.0.0.1:0\", http2: true }\n  - \"127.0.0.1:0\"\n" + apps_and_routes(a, b) +
         "access_log: stdout\n" + extra;
}

json req(const std::string& authority, const std::string& path) { return json{{"authority", authority}, {"path", path}}; }

std::string header_of(const json& result, const std::string& name) {
  for (const auto& h : result["headers"])
    if (h[0] == name) return h[1];
  return "";
}

}  // namespace

TEST_CASE("HTTP/2 h2c: prior knowledge on an http2 listener, routing by :authority, HTTP/1.1 on the same port") {
  Backend a("A"), b("B");
  TurnoutProcess t;
  t.start(h2c_config(a, b));
  TURNOUT_INFO_STDERR(t);
  std::string port = std::to_string(t.port(0));

  Run c = run("curl -s --http2-prior-knowledge -w ' %{http_version}' -H 'Host: a.test' http://127.0.0.1:" + port + "/x");
  CHECK(c.out == "A\n 2");
  Run h1 = run("curl -s --http1.1 -w ' %{http_version}' -H 'Host: b.test' http://127.0.0.1:" + port + "/y");
  CHECK(h1.out == "B\n 1.1");

  // Two hosts, one connection: each stream goes where its :authority routes.
  json out = h2_client(t.port(0), {{"steps", {{{"requests", {req("a.test", "/1"), req("b.test", "/2"), req("nope.test", "/3")}}}}}});
  REQUIRE(out["results"].size() == 3);
  CHECK(out["results"][0]["status"] == 200);
  CHECK(out["results"][0]["body"] == "A\n");
  CHECK(out["results"][1]["status"] == 200);
  CHECK(out["results"][1]["body"] == "B\n");
  CHECK(out["results"][2]["status"] == 404);
  CHECK(header_of(out["results"][0], "via") == "1.1 turnout");
  REQUIRE(a.request_count() >= 2);
  CHECK(a.requests().back().joined("Host") == "a.test");
  CHECK(a.requests().back().target == "/1");
  CHECK(a.requests().back().version == "HTTP/1.1");

  // A plaintext listener without http2 reads the preface as a (bad) HTTP/1.1 request.
  Run no = run("curl -s --http2-prior-knowledge -o /dev/null -w '%{http_code}' -H 'Host: a.test' http://127.0.0.1:" +
               std::to_string(t.port(1)) + "/");
  CHECK(no.out != "200");

  // The access log names the protocol.
  CHECK(wait_until([&] { return t.stdout_text().find(" GET /1 h2 200 ") != std::string::npos; }, Ms(3000)));
  CHECK(t.stdout_text().find(" GET /y h1 200 ") != std::string::npos);
}

TEST_CASE("HTTP/2 h2c: nghttp multiplexes many streams on one connection") {
  Backend a("A"), b("B");
  TurnoutProcess t;
  t.start(h2c_config(a, b));
  TURNOUT_INFO_STDERR(t);
  Run r = run("nghttp -n -s -m 20 -H ':authority: a.test' http://127.0.0.1:" + std::to_string(t.port(0)) + "/m");
  size_t ok = 0;
  for (size_t at = 0; (at = r.out.find(" 200 ", at)) != std::string::npos; ++at) ++ok;
  CHECK_MESSAGE(ok == 20, r.out);
  CHECK(a.request_count() == 20);
}

TEST_CASE("HTTP/2 over TLS: ALPN h2 by default, http2: false offers only http/1.1") {
  Backend a("A"), b("B");
  Pki pki;
  pki.issue("ab", "a.test,b.test");
  TurnoutProcess t;
  t.start("listen:\n  - { addr: \"127.0.0.1:0\", tls: true }\n  - { addr: \"127.0.0.1:0\", tls: true, http2: false }\n" +
          apps_and_routes(a, b) + "tls:\n  certificates:\n" + pki.entry("ab"));
  TURNOUT_INFO_STDERR(t);
  auto curl = [&](int port, const std::string& host) {
    return run("curl -s --http2 -w ' %{http_version}' --cacert " + pki.ca() + " --resolve " + host + ":" +
               std::to_string(port) + ":127.0.0.1 https://" + host + ":" + std::to_string(port) + "/t");
  };
  CHECK(curl(t.port(0), "a.test").out == "A\n 2");
  CHECK(curl(t.port(0), "b.test").out == "B\n 2");
  CHECK(curl(t.port(1), "a.test").out == "A\n 1.1");
  REQUIRE(a.request_count() >= 1);
  CHECK(a.requests()[0].joined("X-Forwarded-Proto") == "https");

  Run h2 = run("openssl s_client -alpn h2,http/1.1 -servername a.test -connect 127.0.0.1:" + std::to_string(t.port(0)) +
               " </dev/null");
  CHECK(h2.out.find("ALPN protocol: h2") != std::string::npos);
  Run h1 = run("openssl s_client -alpn h2,http/1.1 -servername a.test -connect 127.0.0.1:" + std::to_string(t.port(1)) +
               " </dev/null");
  CHECK(h1.out.find("ALPN protocol: http/1.1") != std::string::npos);

  // Streams on one TLS connection, with the python client (ALPN h2).
  json out = h2_client(t.port(0), {{"tls", true}, {"ca", pki.ca()}, {"sni", "a.test"},
                                   {"steps", {{{"requests", {req("a.test", "/1"), req("b.test", "/2")}}}}}});
  CHECK(out["results"][0]["body"] == "A\n");
  CHECK(out["results"][1]["body"] == "B\n");
}

TEST_CASE("HTTP/2: a 1 MiB upload and a 5 MiB download are byte-exact") {
  Backend a("A", behave(Backend::Mode::Echo)), b("B", huge_response(5 << 20));
  TurnoutProcess t;
  t.start(h2c_config(a, b));
  TURNOUT_INFO_STDERR(t);
  json up = req("a.test", "/up");
  up["method"] = "POST";
  up["body_len"] = 1 << 20;
  json up2 = up;
  up2["headers"] = json::array({json::array({"content-length", std::to_string(1 << 20)})});
  json out = h2_client(t.port(0), {{"steps", {{{"requests", {up, up2, req("b.test", "/big")}}}}}});
  REQUIRE(out["results"].size() == 3);
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    CHECK(out["results"][i]["status"] == 200);
    CHECK(out["results"][i]["len"] == 1 << 20);
    CHECK(out["results"][i]["sha256"] == out["results"][i]["sent_sha256"]);
  }
  CHECK(out["results"][2]["status"] == 200);
  CHECK(out["results"][2]["len"] == 5 << 20);
  CHECK(out["results"][2]["pattern_ok"] == true);
  // Without content-length the body went upstream chunked; with it, as a Content-Length body.
  auto reqs = a.requests();
  REQUIRE(reqs.size() == 2);
  size_t chunked = reqs[0].chunked + reqs[1].chunked;
  CHECK(chunked == 1);
  CHECK(reqs[0].body_size == 1 << 20);
  CHECK(reqs[1].body_size == 1 << 20);
}

TEST_CASE("HTTP/2: an upstream error is a 502 on its stream while another stream succeeds") {
  Backend a("A"), b("B");
  TurnoutProcess t;
  t.start(h2c_config(a, b));
  TURNOUT_INFO_STDERR(t);
  json out = h2_client(t.port(0), {{"steps", {{{"requests", {req("dead.test", "/x"), req("a.test", "/y")}}},
                                              {{"requests", {req("a.test", "/z")}}}}}});
  REQUIRE(out["results"].size() == 3);
  CHECK(out["results"][0]["status"] == 502);
  CHECK(out["results"][1]["status"] == 200);
  CHECK(out["results"][2]["status"] == 200);  // the connection carried on
  CHECK(out["goaway"].empty());
}

TEST_CASE("HTTP/2: connection-specific or malformed fields reset the stream, not the connection; cookies are joined") {
  Backend a("A"), b("B");
  TurnoutProcess t;
  t.start(h2c_config(a, b));
  TURNOUT_INFO_STDERR(t);
  json bad = req("a.test", "/bad");
  bad["headers"] = json::array({json::array({"connection", "close"})});
  json te = req("a.test", "/te");
  te["headers"] = json::array({json::array({"transfer-encoding", "chunked"})});
  json upper = req("a.test", "/upper");
  upper["headers"] = json::array({json::array({"X-Upper", "1"})});
  json cookie = req("a.test", "/cookie");
  cookie["headers"] = json::array({json::array({"cookie", "a=1"}), json::array({"cookie", "b=2"})});
  json out = h2_client(t.port(0), {{"steps", {{{"requests", {bad, te, upper}}}, {{"requests", {cookie}}}}}});
  REQUIRE(out["results"].size() == 4);
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(out["results"][i]["reset"] == 1);  // PROTOCOL_ERROR
  }
  CHECK(out["results"][3]["status"] == 200);
  REQUIRE(a.request_count() == 1);
  CHECK(a.requests()[0].target == "/cookie");
  CHECK(a.requests()[0].header_count("cookie") == 1);
  CHECK(a.requests()[0].joined("cookie") == "a=1; b=2");
}

TEST_CASE("HTTP/2: a header block past max_header_bytes across CONTINUATION frames gets 431 on its stream") {
  Backend a("A"), b("B");
  TurnoutProcess t;
  t.start(h2c_config(a, b, "limits: {max_header_bytes: 20000, h2_max_concurrent_streams: 5}\n"));
  TURNOUT_INFO_STDERR(t);
  // 24 KiB of fields: one HEADERS frame and a CONTINUATION (frames are at most 16 KiB).
  json big = req("a.test", "/big");
  json fields = json::array();
  for (int i = 0; i < 24; ++i) fields.push_back(json::array({"x-f" + std::to_string(i), std::string(1000, 'v')}));
  big["headers"] = fields;
  json out = h2_client(t.port(0), {{"steps", {{{"requests", {big}}}, {{"requests", {req("a.test", "/ok")}}}}}});
  REQUIRE(out["results"].size() == 2);
  CHECK(out["results"][0]["status"] == 431);
  CHECK(out["results"][1]["status"] == 200);
  CHECK(a.request_count() == 1);

  // More streams than h2_max_concurrent_streams after the SETTINGS ACK: nghttp2's GOAWAY
  // PROTOCOL_ERROR; the proxy serves the next client.
  json many = h2_client(t.port(0), {{"steps", {{{"flood", "too_many_streams"}, {"count", 8}}}}});
  CHECK(many["closed"] == true);
  REQUIRE(!many["goaway"].empty());
  CHECK(many["goaway"][0] == 1);
  Run c = run("curl -s --http2-prior-knowledge -H 'Host: a.test' http://127.0.0.1:" + std::to_string(t.port(0)) + "/after");
  CHECK(c.out == "A\n");
}

TEST_CASE("HTTP/2: a remap mid-connection sends new streams to the new app") {
  Backend a("A"), b("B");
  TurnoutProcess t;
  t.start(h2c_config(a, b));
  TURNOUT_INFO_STDERR(t);
  TempDir d;
  json spec = {{"steps",
                {{{"requests", {req("a.test", "/before")}}},
                 {{"touch", d.file("phase1")}},
                 {{"wait_file", d.file("go")}},
                 {{"requests", {req("a.test", "/after")}}}}}};
  json out;
  std::thread client([&] { out = h2_client(t.port(0), spec); });
  bool phase1 = wait_until([&] { return !d.read("phase1").empty() || std::ifstream(d.file("phase1")).good(); }, Ms(10000));
  CHECK(phase1);
  AdminReply r = t.admin("PUT", "/v1/routes/a.test/app_b");
  CHECK(r.status == 200);
  r = t.admin("DELETE", "/v1/routes/a.test/app_a");
  CHECK(r.status == 200);
  d.write("go", "1");
  client.join();
  REQUIRE(out["results"].size() == 2);
  CHECK(out["results"][0]["body"] == "A\n");
  CHECK(out["results"][1]["body"] == "B\n");
}

TEST_CASE("HTTP/2: SIGTERM sends GOAWAY and an in-flight slow response still completes") {
  Backend a("A", behave(Backend::Mode::Default, Ms(1500))), b("B");
  TurnoutProcess t;
  t.start(h2c_config(a, b));
  TURNOUT_INFO_STDERR(t);
  // nghttp (python3-h2 treats a GOAWAY as the end of the connection, even a graceful one).
  Run r;
  std::thread client([&] {
    r = run("nghttp -nv -H ':authority: a.test' http://127.0.0.1:" + std::to_string(t.port(0)) + "/slow");
  });
  REQUIRE(a.wait_requests(1, Ms(5000)));
  t.signal(SIGTERM);
  client.join();
  INFO(r.out);
  // Two steps: the shutdown notice (highest stream id), then the last stream processed.
  CHECK(r.out.find("last_stream_id=2147483647, error_code=NO_ERROR") != std::string::npos);
  CHECK(r.out.find("last_stream_id=13, error_code=NO_ERROR") != std::string::npos);
  size_t status = r.out.find(":status: 200");
  size_t goaway = r.out.find("recv GOAWAY");
  CHECK(status != std::string::npos);
  CHECK(goaway < status);  // the response came after the GOAWAY
  CHECK(r.out.find("; END_STREAM") != std::string::npos);
  CHECK(t.wait_exit(Ms(10000)) == 0);
}

TEST_CASE("HTTP/2: frame floods are answered with GOAWAY ENHANCE_YOUR_CALM and others are still served") {
  Backend a("A"), b("B");
  TurnoutProcess t;
  t.start(h2c_config(a, b));
  TURNOUT_INFO_STDERR(t);
  for (std::string kind : {"ping", "settings", "window_update", "empty_data", "rapid_reset"}) {
    CAPTURE(kind);
    json out = h2_client(t.port(0), {{"steps", {{{"flood", kind}, {"count", 20000}}}}});
    CHECK(out["closed"] == true);
    bool calm = false;
    for (auto& g : out["goaway"]) calm = calm || g == 11;
    CHECK(calm);
    Run c = run("curl -s --http2-prior-knowledge -H 'Host: a.test' http://127.0.0.1:" + std::to_string(t.port(0)) + "/after");
    CHECK(c.out == "A\n");
  }
  AdminReply m = t.admin("GET", "/metrics");
  CHECK(m.body.find("turnout_h2_connections_total") != std::string::npos);
}

TEST_CASE("HTTP/2: a header block left open past request_header closes the connection with GOAWAY") {
  Backend a("A"), b("B");
  TurnoutProcess t;
  t.start(h2c_config(a, b, "timeouts: {request_header: 1s, drain: 2s}\n"));
  TURNOUT_INFO_STDERR(t);
  auto start = Clock::now();
  json out = h2_client(t.port(0), {{"steps", {{{"flood", "stall_headers"}, {"count", 1}}}}});
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  CHECK(out["closed"] == true);
  REQUIRE(!out["goaway"].empty());
  CHECK(out["goaway"][0] == 11);
  CHECK(took < 5.0);
  Run c = run("curl -s --http2-prior-knowledge -H 'Host: a.test' http://127.0.0.1:" + std::to_string(t.port(0)) + "/after");
  CHECK(c.out == "A\n");
}
