#include <doctest/doctest.h>

#include <string>

#include "turnout/admin/prometheus.h"
#include "turnout/admin/status_json.h"

using namespace turnout;

namespace {

// Two workers, one app with one server, a little traffic: every section of both outputs.
StatsSnapshot sample() {
  StatsSnapshot s;
  s.turnout_version = "1.2.3";
  s.pid = 4242;
  s.uptime_seconds = 61;
  s.started_unix_ms = 1700000000123;
  s.now_unix_ms = 1700000061123;
  s.listeners = {"127.0.0.1:8080"};
  s.version = 7;
  s.routes = 3;
  s.apps = 1;
  s.changes_applied = 6;
  s.last_change = HistoryEntry{7, 1700000050000, "map web a.example", 6, 0};
  s.reloads = 2;
  s.reload_failures = 1;
  s.log_dropped_lines = 5;
  StatsSnapshot::Worker w0;
  w0.id = 0;
  w0.version = 7;
  w0.connections_active = 4;
  w0.connections_idle = 1;
  w0.connections_accepted = 10;
  w0.requests = 20;
  w0.bytes_in = 1000;
  w0.bytes_out = 5000;
  w0.local_errors[1] = 2;  // 404
  w0.no_route = 2;
  w0.h2_connections = 6;
  w0.h2_connections_active = 2;
  w0.h2_streams = 9;
  StatsSnapshot::Worker w1 = w0;
  w1.id = 1;
  w1.version = 6;
  w1.connections_active = 1;
  w1.connections_idle = 3;  // more idle than active on one worker: never negative busy
  s.workers = {w0, w1};
  s.rates = {10, 1.5, 0.25, 0.5};
  s.no_route = 4;
  s.errors = 1;
  s.pooled_total = 3;
  s.pooled_idle = 2;
  s.traffic[{"", "web"}] = {0, 0, 5, 0, 0, 1};
  s.traffic[{"a.example", "we\"b"}] = {1, 0, 2, 0, 0, 0};
  s.latency_bounds = {0.001, 0.5};
  s.app_live["web"] = {6, 1, {2, 3, 1}, 1500000};
  s.servers["127.0.0.1:9001"] = ServerStats{false, 9, 1, 2, 0, 3};
  s.server_app["127.0.0.1:9001"] = "web";
  return s;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST_CASE("prometheus text from a hand-filled snapshot") {
  std::string m = render_prometheus(sample());
  CHECK(m.rfind("# HELP turnout_table_version Version of the live route table.\n"
                "# TYPE turnout_table_version gauge\nturnout_table_version 7\n", 0) == 0);
  CHECK(has_line(m, "turnout_table_changes_total 6"));
  CHECK(has_line(m, "turnout_reload_failures_total 1"));
  CHECK(has_line(m, "turnout_build_info{version=\"1.2.3\"} 1"));
  CHECK(has_line(m, "process_start_time_seconds 1700000000.123"));
  CHECK(has_line(m, "turnout_uptime_seconds 61"));
  CHECK(has_line(m, "turnout_client_connections{state=\"active\"} 1"));  // 5 open, 4 of them idle
  CHECK(has_line(m, "turnout_client_connections{state=\"idle\"} 4"));
  CHECK(has_line(m, "turnout_h2_connections_total 12"));
  CHECK(has_line(m, "turnout_h2_connections 4"));
  CHECK(has_line(m, "turnout_h2_streams_total 18"));
  CHECK(has_line(m, "turnout_request_heads_total 40"));
  CHECK(has_line(m, "turnout_upstream_connections{state=\"busy\"} 1"));
  CHECK(has_line(m, "turnout_local_responses_total{code=\"404\"} 4"));
  CHECK(has_line(m, "turnout_requests_total{host=\"(default)\",app=\"web\",class=\"2xx\"} 5"));
  CHECK(has_line(m, "turnout_requests_total{host=\"a.example\",app=\"we\\\"b\",class=\"none\"} 1"));
  CHECK(m.find("class=\"1xx\"") == std::string::npos);  // zero counts are not listed
  CHECK(has_line(m, "turnout_upstream_response_seconds_bucket{app=\"web\",le=\"0.001\"} 2"));
  CHECK(has_line(m, "turnout_upstream_response_seconds_bucket{app=\"web\",le=\"0.5\"} 5"));
  CHECK(has_line(m, "turnout_upstream_response_seconds_bucket{app=\"web\",le=\"+Inf\"} 6"));
  CHECK(has_line(m, "turnout_upstream_response_seconds_sum{app=\"web\"} 1.500000"));
  CHECK(has_line(m, "turnout_upstream_response_seconds_count{app=\"web\"} 6"));
  CHECK(has_line(m, "turnout_server_up{app=\"web\",server=\"127.0.0.1:9001\"} 0"));
  CHECK(has_line(m, "turnout_server_in_flight{app=\"web\",server=\"127.0.0.1:9001\"} 1"));
  const std::string last = "\nturnout_log_dropped_lines_total 5\n";  // the last line
  REQUIRE(m.size() > last.size());
  CHECK(m.substr(m.size() - last.size()) == last);
}

TEST_CASE("prometheus label values are escaped") {
  CHECK(prom_label("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
}

TEST_CASE("status JSON from a hand-filled snapshot") {
  nlohmann::json j = render_status_json(sample());
  CHECK(j["version"] == 7);
  CHECK(j["pid"] == 4242);
  CHECK(j["turnout_version"] == "1.2.3");
  CHECK(j["listeners"] == nlohmann::json::array({"127.0.0.1:8080"}));
  CHECK(j["last_change"]["summary"] == "map web a.example");
  CHECK(j["connections"]["active"] == 5);
  CHECK(j["connections"]["idle"] == 4);
  CHECK(j["connections"]["http2"] == 4);
  CHECK(j["http2_streams"] == 18);
  CHECK(j["requests"] == 40);
  CHECK(j["bytes"]["out"] == 10000);
  CHECK(j["rates"]["requests_per_second"] == 1.5);
  CHECK(j["workers"].size() == 2);
  CHECK(j["workers"][1]["version"] == 6);
  CHECK(j["traffic"]["(default)"]["web"] == nlohmann::json{{"2xx", 5}, {"5xx", 1}});
  CHECK(j["servers"]["127.0.0.1:9001"]["up"] == false);
  CHECK(j["servers"]["127.0.0.1:9001"]["idle_conns"] == 3);

  StatsSnapshot fresh;  // no change yet: no last_change key
  CHECK_FALSE(render_status_json(fresh).contains("last_change"));
}
