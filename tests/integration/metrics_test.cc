// GET /metrics (issue 6 item 1): Prometheus text with requests by host, app and status class, the
// upstream response-time histogram, connections, bytes, table version and changes, server health
// and reloads — summed over the workers' own counters.
#include <doctest/doctest.h>

#include <chrono>
#include <regex>
#include <thread>

#include "integration/harness.h"

using namespace turnout::test;

namespace {

// The value of the first sample line starting with `prefix` (name and labels), or -1.
double sample(const std::string& text, const std::string& prefix) {
  size_t at = 0;
  while ((at = text.find(prefix, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      size_t sp = text.find(' ', at + prefix.size() - 1);
      size_t nl = text.find('\n', at);
      if (sp != std::string::npos && sp < nl) return std::stod(text.substr(sp + 1, nl - sp - 1));
    }
    at += prefix.size();
  }
  return -1;
}

}  // namespace

TEST_CASE("metrics: per-route traffic, latency histogram, connections, table and health") {
  Backend a("a"), b("b");
  TurnoutProcess t;
  t.start("workers: 2\n"
          "apps:\n"
          "  a: {servers: " + yaml_list({a.addr()}) + "}\n"
          "  b: {servers: " + yaml_list({b.addr(), "127.0.0.1:1"}) + "}\n"
          "routes:\n"
          "  a.test: [a]\n"
          "  b.test: [b]\n");
  TURNOUT_INFO_STDERR(t);
  for (int i = 0; i < 6; ++i) REQUIRE(http_get(t.port(), "a.test", "/")->status == 200);
  for (int i = 0; i < 4; ++i) REQUIRE(http_get(t.port(), "b.test", "/")->status == 200);
  REQUIRE(http_get(t.port(), "nope.test", "/")->status == 404);
  AdminReply change = t.admin("PUT", "/v1/routes/c.test/a");
  REQUIRE(change.status == 200);
  // The file is fine: a good reload (forced: it drops the runtime c.test on purpose).
  AdminReply bad_reload = t.admin("POST", "/v1/reload?force=1");
  REQUIRE(bad_reload.status == 200);

  // Workers' counters reach the main thread within a collection interval (250 ms).
  std::string m;
  for (int tries = 0; tries < 40; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    AdminReply r = t.admin("GET", "/metrics");
    REQUIRE(r.status == 200);
    m = r.body;
    if (sample(m, "turnout_requests_total{host=\"a.test\",app=\"a\",class=\"2xx\"}") == 6 &&
        sample(m, "turnout_requests_total{host=\"b.test\",app=\"b\",class=\"2xx\"}") == 4)
      break;
  }
  INFO(m);
  CHECK(sample(m, "turnout_requests_total{host=\"a.test\",app=\"a\",class=\"2xx\"}") == 6);
  CHECK(sample(m, "turnout_requests_total{host=\"b.test\",app=\"b\",class=\"2xx\"}") == 4);
  CHECK(sample(m, "turnout_local_responses_total{code=\"404\"}") == 1);
  // Every proxied response was timed, by app; the histogram is cumulative and ends with +Inf = count.
  CHECK(sample(m, "turnout_upstream_response_seconds_count{app=\"a\"}") == 6);
  CHECK(sample(m, "turnout_upstream_response_seconds_count{app=\"b\"}") == 4);
  CHECK(sample(m, "turnout_upstream_response_seconds_bucket{app=\"a\",le=\"+Inf\"}") == 6);
  CHECK(sample(m, "turnout_upstream_response_seconds_bucket{app=\"a\",le=\"2.5\"}") == 6);
  CHECK(sample(m, "turnout_upstream_response_seconds_sum{app=\"a\"}") > 0);
  CHECK(m.find("# TYPE turnout_upstream_response_seconds histogram") != std::string::npos);
  CHECK(sample(m, "turnout_app_responses_total{app=\"a\"}") == 6);
  CHECK(sample(m, "turnout_app_errors_total{app=\"a\"}") == 0);
  // The unrouted host is counted as such.
  CHECK(sample(m, "turnout_no_route_requests_total") == 1);
  // Who and since when: a build-info metric with the version, and the start time (Unix seconds).
  CHECK(sample(m, "turnout_build_info{version=\"") == 1);
  double start = sample(m, "process_start_time_seconds");
  double now = static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  CHECK(start > now - 300);
  CHECK(start <= now + 1);
  // Connections, pooled upstream connections and bytes.
  CHECK(sample(m, "turnout_client_connections{state=\"active\"}") >= 0);
  CHECK(sample(m, "turnout_client_connections{state=\"idle\"}") >= 0);
  CHECK(sample(m, "turnout_client_connections_accepted_total") >= 11);
  CHECK(sample(m, "turnout_upstream_connections{state=\"idle\"}") >= 1);
  CHECK(sample(m, "turnout_received_bytes_total") > 0);
  CHECK(sample(m, "turnout_sent_bytes_total") > 0);
  // Table: version 1 at start, then the map, then the reload.
  CHECK(sample(m, "turnout_table_version") == 3);
  CHECK(sample(m, "turnout_table_changes_total") == 2);
  CHECK(sample(m, "turnout_reloads_total") == 1);
  CHECK(sample(m, "turnout_reload_failures_total") == 0);
  // Health: the live server is up; per-server request counters.
  CHECK(sample(m, "turnout_server_up{app=\"a\",server=\"" + a.addr() + "\"}") == 1);
  CHECK(sample(m, "turnout_server_requests_total{app=\"a\",server=\"" + a.addr() + "\"}") == 6);
  // Counters are monotonic names ending in _total, durations in seconds.
  std::regex counter("# TYPE (\\w+) counter");
  int counters = 0;
  for (std::sregex_iterator it(m.begin(), m.end(), counter), end; it != end; ++it) {
    std::string name = (*it)[1].str();
    CAPTURE(name);
    CHECK(name.size() > 6);
    CHECK(name.compare(name.size() - 6, 6, "_total") == 0);
    ++counters;
  }
  CHECK(counters >= 8);
}

TEST_CASE("metrics: no-route and error counts move with traffic") {
  Backend a("a", behave(BackendMode::Custom));
  a.set_behavior([] {
    BackendBehavior b;
    b.mode = BackendMode::Custom;
    b.handler = [](const BackendRequest& r) {
      return Reply{make_response(r.target == "/fail" ? 500 : 200, "x")};
    };
    return b;
  }());
  TurnoutProcess t;
  t.start("apps:\n  a: {servers: " + yaml_list({a.addr()}) + "}\nroutes:\n  a.test: [a]\n");
  TURNOUT_INFO_STDERR(t);
  auto metrics = [&] { return t.admin("GET", "/metrics").body; };
  CHECK(sample(metrics(), "turnout_no_route_requests_total") == 0);
  for (int i = 0; i < 3; ++i) REQUIRE(http_get(t.port(), "unknown.test", "/")->status == 404);
  for (int i = 0; i < 2; ++i) REQUIRE(http_get(t.port(), "a.test", "/fail")->status == 500);
  REQUIRE(http_get(t.port(), "a.test", "/ok")->status == 200);
  std::string m;
  CHECK(wait_until(
      [&] {
        m = metrics();
        return sample(m, "turnout_app_responses_total{app=\"a\"}") == 3;
      },
      Ms(5000)));
  INFO(m);
  CHECK(sample(m, "turnout_no_route_requests_total") == 3);
  CHECK(sample(m, "turnout_app_errors_total{app=\"a\"}") == 2);
}
