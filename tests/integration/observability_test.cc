// What an operator reads: `ctl status` as a summary, `ctl apps` with each app's live request
// rate, error rate and latency, the access log's app and request id (also sent upstream), and
// the access log reopened on SIGUSR1 after logrotate renamed it.
#include <doctest/doctest.h>
#include <signal.h>

#include <cstdio>
#include <regex>
#include <sstream>

#include "integration/harness.h"
#include "integration/remap_util.h"

using namespace turnout::test;
using turnout::test::remap::run_ctl;

namespace {

std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos) out.push_back(line);
  return out;
}

std::string row_of(const std::string& table, const std::string& first_word) {
  for (const auto& l : lines_with(table, first_word + " "))
    if (l.rfind(first_word + " ", 0) == 0) return l;
  return "";
}

// `web` answers after 20 ms; `/fail` answers 500.
BackendBehavior slow_web() {
  BackendBehavior b;
  b.mode = BackendMode::Custom;
  b.delay = Ms(20);
  b.handler = [](const BackendRequest& r) { return Reply{make_response(r.target == "/fail" ? 500 : 200, "ok")}; };
  return b;
}

}  // namespace

TEST_CASE("ctl status is a readable summary; ctl apps shows live rate, errors and latency per app") {
  Backend web("web", slow_web());
  TurnoutProcess t;
  t.start("access_log: off\n"
          "apps:\n"
          "  web: {servers: " + yaml_list({web.addr()}) + "}\n"
          "  spare: {servers: [\"127.0.0.1:1\"]}\n"
          "routes:\n"
          "  web.test: [web]\n");
  TURNOUT_INFO_STDERR(t);
  REQUIRE(t.admin("PUT", "/v1/routes/www.web.test/web").status == 200);

  // Traffic: 18 good, 2 failing, 3 to a host nothing serves.
  Client cl(t.port());
  for (int i = 0; i < 18; ++i) REQUIRE(cl.get("web.test", "/ok")->status == 200);
  for (int i = 0; i < 2; ++i) REQUIRE(cl.get("web.test", "/fail")->status == 500);
  for (int i = 0; i < 3; ++i) REQUIRE(cl.get("nowhere.test", "/")->status == 404);

  // The main loop merges the workers' counters every 250 ms.
  nlohmann::json apps;
  REQUIRE(wait_until(
      [&] {
        apps = t.admin("GET", "/v1/apps").json;
        return apps["apps"]["web"]["live"]["responses"] == 20;
      },
      Ms(5000)));
  INFO(apps.dump(2));
  const auto& live = apps["apps"]["web"]["live"];
  CHECK(live["errors"] == 2);
  CHECK(live["requests_per_second"].get<double>() > 0);
  // Rates cover the last 10 s, which on a loaded machine may not hold all of the traffic above.
  CHECK(live["error_rate"].get<double>() > 0);
  CHECK(live["error_rate"].get<double>() <= 0.5);
  REQUIRE(live["p50_ms"].is_number());
  CHECK(live["p50_ms"].get<double>() >= 10);  // the backend takes 20 ms
  CHECK(live["p99_ms"].get<double>() >= live["p50_ms"].get<double>());
  CHECK(apps["apps"]["web"]["health"] == "up");
  CHECK(apps["apps"]["spare"]["live"]["p50_ms"].is_null());

  auto apps_run = run_ctl(t.admin_socket(), {"apps"});
  REQUIRE(apps_run.code == 0);
  INFO("ctl apps:\n" << apps_run.out);
  CHECK(apps_run.out.find("REQ/S") != std::string::npos);
  CHECK(apps_run.out.find("ERRORS") != std::string::npos);
  CHECK(apps_run.out.find("P50") != std::string::npos);
  CHECK(apps_run.out.find("P99") != std::string::npos);
  std::string web_row = row_of(apps_run.out, "web");
  CHECK(std::regex_search(web_row, std::regex(R"re(1 up\s+[0-9.]+\s+[0-9.]+%\s+[0-9.]+ms\s+[0-9.]+ms\s+web\.test)re")));
  std::string spare_row = row_of(apps_run.out, "spare");
  CHECK(std::regex_search(spare_row, std::regex(R"re(\s+0\.0\s+0\.0%\s+-\s+-\s+-$)re")));

  auto status_run = run_ctl(t.admin_socket(), {"status"});
  REQUIRE(status_run.code == 0);
  const std::string& st = status_run.out;
  INFO("ctl status:\n" << st);
  CHECK(st.rfind("turnout 0.", 0) == 0);
  CHECK(st.find(", pid " + std::to_string(t.pid())) != std::string::npos);
  CHECK(std::regex_search(st, std::regex(R"re(\nworkers\s+2\n)re")));
  CHECK(std::regex_search(st, std::regex(R"re(\nconnections\s+[0-9]+ open \([0-9]+ idle\)\n)re")));
  CHECK(std::regex_search(st, std::regex(R"re(\ntraffic\s+[0-9.]+ req/s, [0-9.]+% errors \(5xx\), [0-9.]+ no-route req/s)re")));
  CHECK(std::regex_search(st, std::regex(R"re(\nsince start\s+23 requests, 2 errors \(5xx\), 3 for hosts with no route\n)re")));
  CHECK(std::regex_search(st, std::regex(R"re(\ntable\s+version 2: 2 routes, 2 apps\n)re")));
  CHECK(std::regex_search(st, std::regex(R"re(\nlast change\s+version 2 at .* UTC, .* ago: map web www\.web\.test)re")));
  // Not a key dump.
  CHECK(st.find("connections.active:") == std::string::npos);
  CHECK(st.find("{") == std::string::npos);
  // --json still has every field.
  auto json_run = run_ctl(t.admin_socket(), {"status", "--json"});
  REQUIRE(json_run.code == 0);
  auto j = nlohmann::json::parse(json_run.out, nullptr, false);
  REQUIRE(j.is_object());
  CHECK(j["no_route"] == 3);
  CHECK(j.contains("rates"));
}

TEST_CASE("access log lines carry the app and a request id, which the backend gets as X-Request-Id") {
  Backend web("web");
  TurnoutProcess t;
  t.start("access_log: stdout\n"
          "apps:\n  web: {servers: " + yaml_list({web.addr()}) + "}\n  gone: {servers: [\"127.0.0.1:1\"]}\n"
          "routes:\n  web.test: [web]\n  gone.test: [gone]\n");
  TURNOUT_INFO_STDERR(t);
  REQUIRE(http_get(t.port(), "gone.test", "/refused")->status == 502);
  REQUIRE(http_get(t.port(), "nowhere.test", "/unrouted")->status == 404);
  REQUIRE(http_get(t.port(), "web.test", "/made-up")->status == 200);
  REQUIRE(http_get(t.port(), "web.test", "/given", {{"X-Request-Id", "req-from-the-edge-42"}})->status == 200);
  REQUIRE(web.request_count() == 2);
  auto made = web.requests()[0];
  auto given = web.requests()[1];
  std::string id = made.header("X-Request-Id").value_or("");
  CHECK(std::regex_match(id, std::regex("[0-9a-f]{16}")));
  CHECK(given.header_count("X-Request-Id") == 1);
  CHECK(given.header("X-Request-Id") == std::optional<std::string>("req-from-the-edge-42"));

  // Each worker flushes its own lines, so wait for all four, not only the last one sent.
  REQUIRE(wait_until([&] {
    std::string o = t.stdout_text();
    for (const char* path : {"/refused", "/unrouted", "/made-up", "/given"}) {
      if (lines_with(o, path).size() != 1) return false;
    }
    return true;
  }, Ms(5000)));
  std::string out = t.stdout_text();
  INFO(out);
  // time client host method target status bytes app upstream duration worker request-id
  std::string l1 = lines_with(out, "/made-up").at(0);
  CHECK(std::regex_search(l1, std::regex(" 200 [0-9]+ web " + web.addr() + " [0-9]+us w[0-9]+ " + id + "$")));
  std::string l2 = lines_with(out, "/given").at(0);
  CHECK(std::regex_search(l2, std::regex(" web " + web.addr() + " .* req-from-the-edge-42$")));
  // turnout's own answers: a 502 still names the app and the server tried; a 404 has neither.
  CHECK(std::regex_search(lines_with(out, "/refused").at(0), std::regex(" 502 0 gone 127\\.0\\.0\\.1:1 [0-9]+us w[0-9]+ [0-9a-f]{16}$")));
  CHECK(std::regex_search(lines_with(out, "/unrouted").at(0), std::regex(" 404 0 - - [0-9]+us w[0-9]+ [0-9a-f]{16}$")));
}

TEST_CASE("SIGUSR1 reopens the access log: after logrotate renames it, new lines go to a new file") {
  Backend web("web");
  TurnoutProcess t;
  std::string path = t.dir().file("access.log");
  std::string rotated = path + ".1";
  t.start("access_log: \"" + path + "\"\n"
          "apps:\n  web: {servers: " + yaml_list({web.addr()}) + "}\nroutes:\n  web.test: [web]\n");
  TURNOUT_INFO_STDERR(t);
  Client kept(t.port());  // a keep-alive connection that spans the rotation
  REQUIRE(kept.get("web.test", "/before")->status == 200);
  REQUIRE(wait_until([&] { return lines_with(read_file(path), "/before").size() == 1; }, Ms(5000)));

  REQUIRE(std::rename(path.c_str(), rotated.c_str()) == 0);
  t.signal(SIGUSR1);
  REQUIRE(wait_until([&] { return t.stderr_text().find("access log reopened") != std::string::npos; }, Ms(5000)));

  REQUIRE(kept.get("web.test", "/after-kept")->status == 200);
  REQUIRE(http_get(t.port(), "web.test", "/after-new")->status == 200);
  CHECK(wait_until([&] { return lines_with(read_file(path), "/after-").size() == 2; }, Ms(5000)));
  INFO("new file:\n" << read_file(path) << "\nrotated:\n" << read_file(rotated));
  CHECK(lines_with(read_file(path), "/before").empty());
  CHECK(lines_with(read_file(rotated), "/before").size() == 1);
  CHECK(lines_with(read_file(rotated), "/after-").empty());
  CHECK(t.running());
}
