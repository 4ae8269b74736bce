// Canary rules (DESIGN.md "Routes beyond the host"): route entries with `when: {header|cookie,
// value}` receive only the requests with exactly that value, the rest go to the entries without
// `when`; through the config, the admin API (PUT/DELETE/batch, GET /v1/routes) and a restart
// from the state file, on real sockets.
#include <doctest/doctest.h>

#include <csignal>
#include <map>
#include <string>

#include "integration/h2_script.h"
#include "integration/harness.h"
#include "integration/remap_util.h"

using namespace turnout::test;
using turnout::test::remap::full_config;
using json = nlohmann::json;

namespace {

std::string who(const std::optional<Response>& r) {
  if (!r) return "no response";
  if (auto b = r->header("X-Backend")) return *b;
  return "status " + std::to_string(r->status);
}

// stable for everyone, canary for "X-Canary: 1" or cookie canary=always, green for testers only.
std::string rules_config(const Backend& stable, const Backend& canary, const Backend& green, const std::string& extra = "",
                         const std::string& extra_apps = "") {
  return "apps:\n" + extra_apps +
         "  stable: {servers: " + yaml_list({stable.addr()}) + "}\n"
         "  canary: {servers: " + yaml_list({canary.addr()}) + "}\n"
         "  green: {servers: " + yaml_list({green.addr()}) + "}\n"
         "routes:\n"
         "  beta.test:\n"
         "    - { app: canary, when: { header: \"X-Canary\", value: \"1\" } }\n"
         "    - { app: canary, when: { cookie: \"canary\", value: \"always\" } }\n"
         "    - stable\n"
         "  testers.test:\n"
         "    - { app: green, when: { header: \"X-Tester\", value: \"yes\" } }\n" + extra;
}

std::map<std::string, int> tally(int port, const std::string& host, const Headers& extra, int n) {
  std::map<std::string, int> out;
  Client c(port);
  for (int i = 0; i < n; ++i) out[who(c.get(host, "/", extra))]++;
  return out;
}

}  // namespace

TEST_CASE("header and cookie rules send matching requests to the canary and the rest to the entries without when") {
  Backend stable("stable"), canary("canary"), green("green");
  TurnoutProcess t;
  t.start(rules_config(stable, canary, green));
  TURNOUT_INFO_STDERR(t);

  CHECK(tally(t.port(), "beta.test", {}, 6) == std::map<std::string, int>{{"stable", 6}});
  CHECK(tally(t.port(), "beta.test", {{"X-Canary", "1"}}, 6) == std::map<std::string, int>{{"canary", 6}});
  CHECK(tally(t.port(), "beta.test", {{"x-canary", "1"}}, 2) == std::map<std::string, int>{{"canary", 2}});
  // Values are exact: anything else is everyone else.
  CHECK(tally(t.port(), "beta.test", {{"X-Canary", "0"}}, 2) == std::map<std::string, int>{{"stable", 2}});
  CHECK(tally(t.port(), "beta.test", {{"X-Canary", "10"}}, 2) == std::map<std::string, int>{{"stable", 2}});
  // Cookies: among others, in any of several Cookie fields; names are case-sensitive.
  CHECK(tally(t.port(), "beta.test", {{"Cookie", "sid=1; canary=always; theme=x"}}, 3) ==
        std::map<std::string, int>{{"canary", 3}});
  CHECK(tally(t.port(), "beta.test", {{"Cookie", "sid=1"}, {"Cookie", "canary=always"}}, 3) ==
        std::map<std::string, int>{{"canary", 3}});
  CHECK(tally(t.port(), "beta.test", {{"Cookie", "Canary=always"}}, 2) == std::map<std::string, int>{{"stable", 2}});
  CHECK(tally(t.port(), "beta.test", {{"Cookie", "canary=never"}}, 2) == std::map<std::string, int>{{"stable", 2}});
  // Both rules met: the same app, twice in the candidate set.
  CHECK(tally(t.port(), "beta.test", {{"X-Canary", "1"}, {"Cookie", "canary=always"}}, 4) ==
        std::map<std::string, int>{{"canary", 4}});
  // The request reaches the canary as sent: header and cookie forwarded unchanged.
  auto seen = canary.requests();
  REQUIRE(!seen.empty());
  CHECK(seen.back().header("X-Canary").value_or("") == "1");
  CHECK(seen.back().joined("Cookie") == "canary=always");

  // A route made only of rules: a request meeting none is 404, not sent anywhere.
  auto r = http_get(t.port(), "testers.test", "/");
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(who(http_get(t.port(), "testers.test", "/", {{"X-Tester", "yes"}})) == "green");
  CHECK(green.request_count() == 1);
}

TEST_CASE("requests meeting several rules are weighted among those entries; a down canary falls back") {
  Backend stable("stable"), canary("canary"), green("green");
  TurnoutProcess t;
  t.start(rules_config(stable, canary, green,
                       "  split.test:\n"
                       "    - { app: canary, weight: 1, when: { header: \"X-Canary\", value: \"1\" } }\n"
                       "    - { app: green, weight: 3, when: { cookie: \"beta\", value: \"on\" } }\n"
                       "    - { app: stable, weight: 1 }\n"
                       "  down.test:\n"
                       "    - { app: dead, when: { header: \"X-Canary\", value: \"1\" } }\n"
                       "    - stable\n"
                       "  dead_only.test:\n"
                       "    - { app: dead, when: { header: \"X-Canary\", value: \"1\" } }\n",
                       "  dead: {servers: [\"127.0.0.1:" + std::to_string(unused_port()) + "\"]}\n"));
  TURNOUT_INFO_STDERR(t);

  // One connection, so one worker's cycle: exact shares over each cycle of the candidate set.
  CHECK(tally(t.port(), "split.test", {{"X-Canary", "1"}, {"Cookie", "beta=on"}}, 8) ==
        std::map<std::string, int>{{"canary", 2}, {"green", 6}});
  CHECK(tally(t.port(), "split.test", {{"Cookie", "beta=on"}}, 3) == std::map<std::string, int>{{"green", 3}});
  CHECK(tally(t.port(), "split.test", {}, 3) == std::map<std::string, int>{{"stable", 3}});

  // The canary's only server refuses connections: the retry goes to the entries without when.
  CHECK(tally(t.port(), "down.test", {{"X-Canary", "1"}}, 4) == std::map<std::string, int>{{"stable", 4}});
  // With nothing else to go to, the tester gets the failure.
  auto r = http_get(t.port(), "dead_only.test", "/", {{"X-Canary", "1"}});
  REQUIRE(r);
  CHECK(r->status >= 502);
}

TEST_CASE("admin API: map and unmap entries by (app, when); GET /v1/routes shows rules; a bad rule is 400") {
  Backend stable("stable"), canary("canary"), green("green");
  TurnoutProcess t;
  t.start(rules_config(stable, canary, green));
  TURNOUT_INFO_STDERR(t);

  json routes = t.admin("GET", "/v1/routes").json;
  CHECK(routes["routes"]["beta.test"] == json{{"stable", 1}});
  CHECK(routes["rules"]["beta.test"].size() == 2);
  CHECK(routes["routes"]["testers.test"] == json::object());
  // An app under two rules of one route is listed once among its hosts.
  CHECK(t.admin("GET", "/v1/apps").json["apps"]["canary"]["hosts"] == json{"beta.test"});

  // Map green for a header on beta.test, with a weight; the answer shows the route's rules.
  auto put = t.admin("PUT", "/v1/routes/beta.test/green",
                     R"({"weight": 2, "when": {"header": "X-Green", "value": "please"}})");
  REQUIRE(put.status == 200);
  CHECK(put.json["rules"]["beta.test"].size() == 3);
  CHECK(who(http_get(t.port(), "beta.test", "/", {{"X-Green", "please"}})) == "green");
  CHECK(who(http_get(t.port(), "beta.test", "/")) == "stable");

  // The same app without a rule is another entry: green now shares everyone else's traffic.
  REQUIRE(t.admin("PUT", "/v1/routes/beta.test/green", R"({"weight": 1})").status == 200);
  CHECK(tally(t.port(), "beta.test", {}, 4) == std::map<std::string, int>{{"green", 2}, {"stable", 2}});

  // Unmap with a rule: only that entry.
  REQUIRE(t.admin("DELETE", "/v1/routes/beta.test/canary", R"({"when": {"header": "X-Canary", "value": "1"}})").status == 200);
  CHECK(tally(t.port(), "beta.test", {{"X-Canary", "1"}}, 4) == std::map<std::string, int>{{"green", 2}, {"stable", 2}});
  CHECK(who(http_get(t.port(), "beta.test", "/", {{"Cookie", "canary=always"}})) == "canary");
  CHECK(t.admin("DELETE", "/v1/routes/beta.test/canary", R"({"when": {"header": "X-Canary", "value": "1"}})").status == 404);

  // Batch: both kinds in one version.
  auto batch = t.admin("POST", "/v1/batch",
                       R"([{"op": "map", "host": "batch.test", "app": "stable"},
                           {"op": "map", "host": "batch.test", "app": "canary", "when": {"cookie": "c", "value": "1"}}])");
  REQUIRE(batch.status == 200);
  CHECK(who(http_get(t.port(), "batch.test", "/", {{"Cookie", "c=1"}})) == "canary");
  CHECK(who(http_get(t.port(), "batch.test", "/")) == "stable");

  // Unmap without a rule: every entry of the app leaves the route.
  REQUIRE(t.admin("DELETE", "/v1/routes/beta.test/green").status == 200);
  routes = t.admin("GET", "/v1/routes").json;
  CHECK(routes["routes"]["beta.test"] == json{{"stable", 1}});
  REQUIRE(routes["rules"]["beta.test"].size() == 1);
  CHECK(routes["rules"]["beta.test"][0] ==
        json{{"app", "canary"}, {"weight", 1}, {"when", {{"cookie", "canary"}, {"value", "always"}}}});

  // Rejected rules change nothing.
  for (const char* body : {R"({"when": {"header": "X Bad", "value": "1"}})", R"({"when": {"header": "X-A", "value": ""}})",
                           R"({"when": {"header": "X-A", "cookie": "b", "value": "1"}})",
                           R"({"when": {"header": "X-A", "value": "1", "extra": 1}})",
                           R"({"when": {"cookie": "c", "value": "a;b"}})", R"({"when": "X-A=1"})"}) {
    CAPTURE(body);
    CHECK(t.admin("PUT", "/v1/routes/beta.test/green", body).status == 400);
  }
  CHECK(t.admin("GET", "/v1/routes").json["version"] == routes["version"]);

  // The history says what each version did.
  json history = t.admin("GET", "/v1/history").json["history"];
  std::string all = history.dump();
  CHECK(all.find("map green beta.test weight 2 when header x-green=please") != std::string::npos);
  CHECK(all.find("unmap canary beta.test when header x-canary=1") != std::string::npos);
}

TEST_CASE("rules survive a restart through the state file, and rollback restores them") {
  Backend stable("stable"), canary("canary"), green("green");
  TempDir sd;
  const std::string sock = sd.file("admin.sock");
  const std::string state = sd.file("turnout.state.json");
  const std::string config =
      full_config(sock,
                  "  stable: {servers: " + yaml_list({stable.addr()}) + "}\n"
                  "  canary: {servers: " + yaml_list({canary.addr()}) + "}\n",
                  "  beta.test: [stable]\n", "state_file: \"" + state + "\"\n");
  {
    TurnoutProcess t;
    t.start(config);
    TURNOUT_INFO_STDERR(t);
    REQUIRE(admin_request(sock, "PUT", "/v1/routes/beta.test/canary", R"({"when": {"header": "X-Canary", "value": "1"}})")
                .status == 200);
    REQUIRE(admin_request(sock, "PUT", "/v1/routes/beta.test/canary", R"({"when": {"cookie": "canary", "value": "on"}})")
                .status == 200);
    CHECK(who(http_get(t.port(), "beta.test", "/", {{"X-Canary", "1"}})) == "canary");
    t.expect_exit(128 + SIGKILL, "a crash: the state file alone must bring the rules back");
    t.signal(SIGKILL);
    t.wait_exit(Ms(5000));
  }
  TurnoutProcess t;
  t.start(config);
  TURNOUT_INFO_STDERR(t);
  CHECK(who(http_get(t.port(), "beta.test", "/", {{"X-Canary", "1"}})) == "canary");
  CHECK(who(http_get(t.port(), "beta.test", "/", {{"Cookie", "canary=on"}})) == "canary");
  CHECK(who(http_get(t.port(), "beta.test", "/")) == "stable");
  // Rollback walks back one rule at a time.
  REQUIRE(admin_request(sock, "POST", "/v1/rollback").status == 200);
  CHECK(who(http_get(t.port(), "beta.test", "/", {{"Cookie", "canary=on"}})) == "stable");
  CHECK(who(http_get(t.port(), "beta.test", "/", {{"X-Canary", "1"}})) == "canary");
  // ctl export writes the rules back as config.
  auto exported = admin_request(sock, "GET", "/v1/export");
  REQUIRE(exported.status == 200);
  CHECK(exported.body.find("when: {header: \"x-canary\", value: \"1\"}") != std::string::npos);
}

TEST_CASE("check refuses bad rules with their line") {
  Backend stable("stable"), canary("canary"), green("green");
  TurnoutProcess t;
  bool ok = t.try_start(rules_config(stable, canary, green,
                                     "  bad.test:\n"
                                     "    - { app: canary, when: { header: \"X Canary\", value: \"1\" } }\n"
                                     "    - stable\n"));
  CHECK_FALSE(ok);
  t.expect_exit(kAnyExit, "the config is refused");
  CHECK(t.stderr_text().find("not a valid header name") != std::string::npos);
}

TEST_CASE("HTTP/2 streams: rules read headers and cookie crumbs of each stream") {
  Backend stable("stable"), canary("canary"), green("green");
  TurnoutProcess t;
  t.start("listen:\n  - { addr: \"127.0.0.1:0\", http2: true }\n" + rules_config(stable, canary, green));
  TURNOUT_INFO_STDERR(t);
  auto req = [](std::vector<std::pair<std::string, std::string>> headers) {
    json r = {{"authority", "beta.test"}, {"path", "/"}, {"headers", json::array()}};
    for (auto& [n, v] : headers) r["headers"].push_back(json::array({n, v}));
    return r;
  };
  // One connection, four streams: plain, header, cookie split over two crumbs, a near miss.
  json out = h2_client(t.port(0), {{"steps", {{{"requests", {req({}), req({{"x-canary", "1"}}),
                                                              req({{"cookie", "sid=1"}, {"cookie", "canary=always"}}),
                                                              req({{"cookie", "canary=alway"}})}}}}}});
  REQUIRE(out["results"].size() == 4);
  CHECK(out["results"][0]["body"] == "stable\n");
  CHECK(out["results"][1]["body"] == "canary\n");
  CHECK(out["results"][2]["body"] == "canary\n");
  CHECK(out["results"][3]["body"] == "stable\n");
}
