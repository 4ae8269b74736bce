// The admin API and `turnout ctl` end to end against live traffic (issue 3, items 1-4): map,
// unmap (and ?wait=1), swap, batch, rollback, add/remove server, app create/delete, If-Match,
// errors that change nothing, the admin socket's mode, stale and live socket files, and ctl's
// tables, --json and exit codes.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "integration/harness.h"
#include "integration/remap_util.h"

using namespace turnout::test;
using namespace turnout::test::remap;

namespace {

// Two apps of one server each; two hosts on blue.
std::string blue_green_config(const std::string& socket, const Backend& blue, const Backend& green,
                              const std::string& more_apps = "", const std::string& more_routes = "") {
  return full_config(socket,
                     "  blue: {servers: " + yaml_list({blue.addr()}) + "}\n"
                     "  green: {servers: " + yaml_list({green.addr()}) + "}\n" + more_apps,
                     "  example.com: [blue]\n"
                     "  www.example.com: [blue]\n" + more_routes);
}

// Sends n GETs on one keep-alive connection and counts who answered each.
std::map<std::string, int> tally(Client& cl, const std::string& host, int n) {
  std::map<std::string, int> seen;
  for (int i = 0; i < n; ++i) seen[who(cl.get(host, "/t/" + std::to_string(i)))]++;
  return seen;
}

std::string show(const std::map<std::string, int>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += k + "=" + std::to_string(v) + " ";
  return s;
}

// A change answered {"version": N}; returns N (or -1).
int64_t answered_version(const AdminReply& r) {
  if (r.status != 200 || !r.json.is_object() || !r.json.contains("version") || !r.json["version"].is_number_integer()) {
    return -1;
  }
  return r.json["version"].get<int64_t>();
}

// Routes and default_app of a GET /v1/routes answer, without the version.
json table_part(const json& routes_answer) {
  if (!routes_answer.is_object()) return routes_answer;
  return json{{"routes", routes_answer.value("routes", json())}, {"default_app", routes_answer.value("default_app", json())}};
}

// A backend whose answer is delayed and whose reply time is recorded (the moment it starts
// writing the response), for unmap --wait.
struct SlowState {
  std::mutex mu;                              // guards replied
  std::vector<Clock::time_point> replied;     // one per answered request
};
Backend::Behavior slow_behavior(const std::string& name, Ms delay, std::shared_ptr<SlowState> state) {
  Backend::Behavior b;
  b.mode = Backend::Mode::Custom;
  b.handler = [name, delay, state](const BackendRequest&) {
    std::this_thread::sleep_for(delay);
    {
      std::lock_guard lk(state->mu);
      state->replied.push_back(Clock::now());
    }
    return Reply{make_response(200, name + "\n", {{"X-Backend", name}})};
  };
  return b;
}

}  // namespace

TEST_CASE("map: the next request after the answer reaches the new app, then both share by weight; unmap leaves the other") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(blue_green_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();

  Client cl(t.port());
  CHECK(who(cl.get("example.com", "/")) == "blue");
  CHECK(who(cl.get("new.example.com", "/")) == "status 404");
  int64_t v0 = table_version(sock);
  REQUIRE(v0 > 0);

  // A host with no route: the first request after the answer is served by the mapped app.
  AdminReply r = t.admin("PUT", "/v1/routes/new.example.com/green");
  CHECK(r.status == 200);
  CHECK(answered_version(r) == v0 + 1);
  CHECK(who(cl.get("new.example.com", "/")) == "green");

  // Beside blue: both share example.com, one to one (smooth round-robin over apps).
  r = t.admin("PUT", "/v1/routes/example.com/green", body({{"weight", 1}}));
  CHECK(answered_version(r) == v0 + 2);
  {
    auto seen = tally(cl, "example.com", 20);
    INFO("served: " << show(seen));
    CHECK(seen.size() == 2);
    CHECK(seen["blue"] >= 9);
    CHECK(seen["blue"] <= 11);
    CHECK(seen["green"] >= 9);
    CHECK(seen["green"] <= 11);
  }
  json routes = get_routes(sock);
  CHECK(routes["routes"]["example.com"] == json({{"blue", 1}, {"green", 1}}));
  CHECK(routes["routes"]["www.example.com"] == json({{"blue", 1}}));

  // Mapping again changes nothing but may make a version; the weight changes the share.
  r = t.admin("PUT", "/v1/routes/example.com/green");
  CHECK(r.status == 200);
  CHECK(get_routes(sock)["routes"]["example.com"] == json({{"blue", 1}, {"green", 1}}));
  int64_t before_weight = table_version(sock);
  r = t.admin("PUT", "/v1/routes/example.com/green", body({{"weight", 3}}));
  CHECK(answered_version(r) == before_weight + 1);
  CHECK(get_routes(sock)["routes"]["example.com"] == json({{"blue", 1}, {"green", 3}}));
  {
    auto seen = tally(cl, "example.com", 40);
    INFO("served: " << show(seen));
    CHECK(seen.size() == 2);
    CHECK(seen["green"] >= 28);
    CHECK(seen["green"] <= 32);
  }

  // Unmap blue: the very next request on the same connection is green, and all after it.
  int64_t before_unmap = table_version(sock);
  r = t.admin("DELETE", "/v1/routes/example.com/blue");
  CHECK(answered_version(r) == before_unmap + 1);
  {
    auto seen = tally(cl, "example.com", 10);
    INFO("served: " << show(seen));
    CHECK(seen["green"] == 10);
  }
  CHECK(get_routes(sock)["routes"]["example.com"] == json({{"green", 3}}));
  // www.example.com was not touched.
  CHECK(who(cl.get("www.example.com", "/")) == "blue");

  // Unmapping what is not mapped: 404 with an error, nothing changes.
  r = t.admin("DELETE", "/v1/routes/example.com/blue");
  CHECK(r.status == 404);
  CHECK(r.json.is_object());
  CHECK(r.json.value("error", std::string()) != "");
  CHECK(table_version(sock) == before_unmap + 1);
  CHECK(who(cl.get("example.com", "/")) == "green");
}

TEST_CASE("swap by POST /v1/batch and by `turnout ctl swap`: one version, all hosts at once") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(blue_green_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();
  Client cl(t.port());
  CHECK(who(cl.get("example.com", "/")) == "blue");
  int64_t v0 = table_version(sock);

  json ops = json::array({{{"op", "swap"}, {"from", "blue"}, {"to", "green"}, {"host", "example.com"}},
                          {{"op", "swap"}, {"from", "blue"}, {"to", "green"}, {"host", "www.example.com"}}});
  AdminReply r = t.admin("POST", "/v1/batch", body(ops));
  CHECK(r.status == 200);
  CHECK(answered_version(r) == v0 + 1);
  for (int i = 0; i < 6; ++i) {
    CHECK(who(cl.get("example.com", "/")) == "green");
    CHECK(who(cl.get("www.example.com", "/")) == "green");
  }
  json routes = get_routes(sock);
  CHECK(routes["version"] == v0 + 1);
  CHECK(routes["routes"]["example.com"] == json({{"green", 1}}));
  CHECK(routes["routes"]["www.example.com"] == json({{"green", 1}}));

  CtlRun run = run_ctl(sock, {"swap", "green", "blue", "example.com", "www.example.com"});
  INFO("ctl stdout: " << run.out << "\nctl stderr: " << run.err);
  CHECK(run.code == 0);
  CHECK(table_version(sock) == v0 + 2);
  for (int i = 0; i < 6; ++i) {
    CHECK(who(cl.get("example.com", "/")) == "blue");
    CHECK(who(cl.get("www.example.com", "/")) == "blue");
  }

  // A mixed batch is one version too, and every op in it is applied.
  ops = json::array({{{"op", "map"}, {"app", "green"}, {"host", "example.com"}, {"weight", 2}},
                     {{"op", "unmap"}, {"app", "blue"}, {"host", "www.example.com"}},
                     {{"op", "map"}, {"app", "green"}, {"host", "www.example.com"}}});
  r = t.admin("POST", "/v1/batch", body(ops));
  CHECK(answered_version(r) == v0 + 3);
  routes = get_routes(sock);
  CHECK(routes["routes"]["example.com"] == json({{"blue", 1}, {"green", 2}}));
  CHECK(routes["routes"]["www.example.com"] == json({{"green", 1}}));
  CHECK(who(cl.get("www.example.com", "/")) == "green");
}

TEST_CASE("rollback to a given version (16 back) and to the previous one, by API and by ctl") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(blue_green_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();
  Client cl(t.port());

  std::map<int64_t, json> tables;  // version -> routes + default_app
  json first = get_routes(sock);
  tables[first["version"].get<int64_t>()] = table_part(first);
  // 20 versions, each a different table: green's weight on example.com, and blue on and off
  // www.example.com every few.
  for (int i = 1; i <= 20; ++i) {
    AdminReply r;
    if (i % 5 == 0) {
      bool mapped = apps_of(get_routes(sock), "www.example.com").count("green") > 0;
      r = mapped ? t.admin("DELETE", "/v1/routes/www.example.com/green")
                 : t.admin("PUT", "/v1/routes/www.example.com/green");
    } else {
      r = t.admin("PUT", "/v1/routes/example.com/green", body({{"weight", i}}));
    }
    REQUIRE(r.status == 200);
    json now = get_routes(sock);
    REQUIRE(now["version"] == answered_version(r));
    tables[answered_version(r)] = table_part(now);
  }
  int64_t cur = table_version(sock);

  // 16 versions back.
  int64_t target = cur - 16;
  REQUIRE(tables.count(target));
  AdminReply r = t.admin("POST", "/v1/rollback", body({{"version", target}}));
  CHECK(r.status == 200);
  CHECK(answered_version(r) == cur + 1);  // a rollback is a new version
  CHECK(table_part(get_routes(sock)) == tables[target]);
  // Traffic follows: the target table had blue and green (weight 4) on example.com.
  REQUIRE(tables[target]["routes"]["example.com"] == json({{"blue", 1}, {"green", target - first["version"].get<int64_t>()}}));
  {
    auto seen = tally(cl, "example.com", 16);
    INFO("served: " << show(seen));
    CHECK(seen.size() == 2);
  }

  // Default: one step back on the undo stack, from where the jump landed: the version before
  // the target (not a toggle back to cur).
  r = t.admin("POST", "/v1/rollback");
  CHECK(r.status == 200);
  CHECK(answered_version(r) == cur + 2);
  CHECK(r.json["restored"] == target - 1);
  CHECK(table_part(get_routes(sock)) == tables[target - 1]);

  // By ctl, to a version and to the previous one.
  CtlRun run = run_ctl(sock, {"rollback", std::to_string(cur - 10)});
  INFO("ctl stdout: " << run.out << "\nctl stderr: " << run.err);
  CHECK(run.code == 0);
  CHECK(table_version(sock) == cur + 3);
  CHECK(table_part(get_routes(sock)) == tables[cur - 10]);
  run = run_ctl(sock, {"rollback"});
  CHECK(run.code == 0);
  CHECK(table_version(sock) == cur + 4);
  CHECK(table_part(get_routes(sock)) == tables[cur - 11]);  // one step further back from cur - 10

  // A version that never existed: 404, nothing changes.
  json before = get_routes(sock);
  r = t.admin("POST", "/v1/rollback", body({{"version", cur + 1000}}));
  CHECK(r.status == 404);
  CHECK(r.json.value("error", std::string()) != "");
  CHECK(get_routes(sock) == before);
  run = run_ctl(sock, {"rollback", std::to_string(cur + 1000)});
  CHECK(run.code == 1);
  CHECK(run.err.find("404") != std::string::npos);
  CHECK(get_routes(sock) == before);
}

TEST_CASE("rollback history limit: the last 32 versions are kept, the oldest is dropped and a rollback to it is 410") {
  // turnout keeps the last 32 tables for rollback (src/app/server.cc kKeep). 40 changes pass
  // that limit: the kept window slides, the oldest kept version still rolls back, the one just
  // before it is refused with an error that says so, and nothing changes on a refusal.
  constexpr int64_t kKept = 32;
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(blue_green_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();

  std::map<int64_t, json> tables;  // version -> routes + default_app
  json first = get_routes(sock);
  const int64_t v0 = first["version"].get<int64_t>();
  tables[v0] = table_part(first);
  for (int i = 1; i <= 40; ++i) {
    AdminReply r = t.admin("PUT", "/v1/routes/example.com/green", body({{"weight", i}}));
    REQUIRE(r.status == 200);
    tables[answered_version(r)] = table_part(get_routes(sock));
  }
  const int64_t cur = table_version(sock);
  REQUIRE(cur == v0 + 40);

  // The history holds exactly the last 32 versions, oldest first, ending with the current one.
  AdminReply h = t.admin("GET", "/v1/history");
  REQUIRE(h.status == 200);
  const json& entries = h.json["history"];
  REQUIRE(entries.is_array());
  REQUIRE(static_cast<int64_t>(entries.size()) == kKept);
  CHECK(entries.front()["version"].get<int64_t>() == cur - kKept + 1);
  CHECK(entries.back()["version"].get<int64_t>() == cur);

  // Passed: the version just before the window was dropped. 410 (issued, no longer kept), naming
  // the oldest kept; no change.
  json before = get_routes(sock);
  AdminReply r = t.admin("POST", "/v1/rollback", body({{"version", cur - kKept}}));
  CHECK(r.status == 410);
  CHECK_MESSAGE(r.json.value("error", std::string()).find("no longer kept") != std::string::npos, r.body);
  CHECK(get_routes(sock) == before);
  CtlRun run = run_ctl(sock, {"rollback", std::to_string(v0)});
  CHECK(run.code == 1);
  CHECK(run.err.find("410") != std::string::npos);
  CHECK(get_routes(sock) == before);

  // Reached: the oldest version still kept rolls back, as a new version with its table.
  const int64_t oldest = cur - kKept + 1;
  r = t.admin("POST", "/v1/rollback", body({{"version", oldest}}));
  CHECK_MESSAGE(r.status == 200, r.body);
  CHECK(answered_version(r) == cur + 1);
  CHECK(table_part(get_routes(sock)) == tables[oldest]);
  // The rollback itself is a version: the window slid by one, so `oldest` is now gone too.
  r = t.admin("POST", "/v1/rollback", body({{"version", oldest}}));
  CHECK(r.status == 410);
}

TEST_CASE("add-server and remove-server change an app's servers for the next request; in-flight requests finish") {
  Backend blue("blue"), green("green"), blue2("blue2");
  auto slow_state = std::make_shared<SlowState>();
  Backend slow("slow", slow_behavior("slow", Ms(800), slow_state));
  TurnoutProcess t;
  t.start(blue_green_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();
  Client cl(t.port());
  int64_t v0 = table_version(sock);

  AdminReply r = t.admin("POST", "/v1/apps/blue/servers", body({{"addr", blue2.addr()}}));
  CHECK(r.status == 200);
  CHECK(answered_version(r) == v0 + 1);
  {
    auto seen = tally(cl, "example.com", 10);
    INFO("served: " << show(seen));
    CHECK(seen["blue"] == 5);
    CHECK(seen["blue2"] == 5);
  }
  auto apps = get_app_servers(sock);
  REQUIRE(apps);
  CHECK((*apps)["blue"] == std::map<std::string, int64_t>{{blue.addr(), 1}, {blue2.addr(), 1}});

  r = t.admin("DELETE", "/v1/apps/blue/servers/" + url_encode(blue2.addr()));
  CHECK(r.status == 200);
  CHECK(answered_version(r) == v0 + 2);
  {
    auto seen = tally(cl, "example.com", 10);
    INFO("served: " << show(seen));
    CHECK(seen["blue"] == 10);
  }
  // Removing it again: an error, nothing changes.
  r = t.admin("DELETE", "/v1/apps/blue/servers/" + url_encode(blue2.addr()));
  CHECK(r.status == 404);
  CHECK(table_version(sock) == v0 + 2);

  // By ctl, with a weight.
  CtlRun run = run_ctl(sock, {"add-server", "blue", blue2.addr(), "--weight", "2"});
  INFO("ctl stdout: " << run.out << "\nctl stderr: " << run.err);
  CHECK(run.code == 0);
  {
    auto seen = tally(cl, "example.com", 30);
    INFO("served: " << show(seen));
    CHECK(seen["blue2"] == 20);
    CHECK(seen["blue"] == 10);
  }
  run = run_ctl(sock, {"remove-server", "blue", blue2.addr()});
  CHECK(run.code == 0);
  CHECK(table_version(sock) == v0 + 4);
  {
    auto seen = tally(cl, "example.com", 6);
    INFO("served: " << show(seen));
    CHECK(seen["blue"] == 6);
  }

  // A server removed while a request is in flight on it: that request still completes there.
  r = t.admin("POST", "/v1/apps/blue/servers", body({{"addr", slow.addr()}}));
  REQUIRE(r.status == 200);
  std::optional<Response> slow_answer;
  std::atomic<bool> finished{false};
  std::thread th;
  JoinGuard guard(th);
  // Round-robin alternates blue and slow: at most two tries land one on slow.
  for (int attempt = 0; attempt < 3 && slow.request_count() == 0; ++attempt) {
    if (th.joinable()) th.join();
    finished = false;
    th = std::thread([&] {
      slow_answer = http_get(t.port(), "example.com", "/inflight", {}, Ms(10000));
      finished = true;
    });
    wait_until([&] { return slow.request_count() > 0 || finished; }, Ms(3000));
  }
  REQUIRE(slow.request_count() == 1);
  r = t.admin("DELETE", "/v1/apps/blue/servers/" + url_encode(slow.addr()));
  CHECK(r.status == 200);
  th.join();
  REQUIRE(slow_answer);
  CHECK(slow_answer->status == 200);
  CHECK(who(slow_answer) == "slow");
  {
    auto seen = tally(cl, "example.com", 6);
    INFO("served: " << show(seen));
    CHECK(seen["blue"] == 6);
  }
}

TEST_CASE("app create and delete; delete is refused with 409 while the app is mapped") {
  Backend blue("blue"), green("green"), red("red"), purple("purple");
  TurnoutProcess t;
  t.start(blue_green_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();
  int64_t v0 = table_version(sock);

  AdminReply r = t.admin("PUT", "/v1/apps/red", body({{"servers", {red.addr()}}}));
  CHECK(r.status == 200);
  CHECK(answered_version(r) == v0 + 1);
  auto apps = get_app_servers(sock);
  REQUIRE(apps);
  CHECK((*apps)["red"] == std::map<std::string, int64_t>{{red.addr(), 1}});
  CHECK(who(http_get(t.port(), "red.example.com", "/")) == "status 404");
  r = t.admin("PUT", "/v1/routes/red.example.com/red");
  CHECK(answered_version(r) == v0 + 2);
  CHECK(who(http_get(t.port(), "red.example.com", "/")) == "red");

  // Still mapped: 409, nothing changes.
  json before = get_routes(sock);
  r = t.admin("DELETE", "/v1/apps/red");
  CHECK(r.status == 409);
  CHECK(r.json.value("error", std::string()) != "");
  CHECK(get_routes(sock) == before);
  CHECK(get_app_servers(sock)->count("red") == 1);
  CHECK(who(http_get(t.port(), "red.example.com", "/")) == "red");

  // red.example.com has only red: unmapping it is refused unless forced (guard rails).
  r = t.admin("DELETE", "/v1/routes/red.example.com/red");
  CHECK(r.status == 409);
  r = t.admin("DELETE", "/v1/routes/red.example.com/red?force=1");
  CHECK(r.status == 200);
  r = t.admin("DELETE", "/v1/apps/red");
  CHECK(r.status == 200);
  CHECK(answered_version(r) == v0 + 4);
  CHECK(get_app_servers(sock)->count("red") == 0);
  CHECK(who(http_get(t.port(), "red.example.com", "/")) == "status 404");
  r = t.admin("DELETE", "/v1/apps/red");
  CHECK(r.status == 404);
  CHECK(table_version(sock) == v0 + 4);
  // Mapping an app that does not exist is an error.
  r = t.admin("PUT", "/v1/routes/red.example.com/red");
  CHECK(r.status >= 400);
  CHECK(r.status < 500);
  CHECK(table_version(sock) == v0 + 4);

  // The same through ctl.
  CtlRun run = run_ctl(sock, {"app-create", "purple", purple.addr()});
  INFO("ctl stdout: " << run.out << "\nctl stderr: " << run.err);
  CHECK(run.code == 0);
  run = run_ctl(sock, {"map", "purple", "purple.example.com"});
  CHECK(run.code == 0);
  CHECK(who(http_get(t.port(), "purple.example.com", "/")) == "purple");
  int64_t v = table_version(sock);
  run = run_ctl(sock, {"app-delete", "purple"});
  CHECK(run.code == 1);
  CHECK(run.err.find("409") != std::string::npos);
  CHECK(table_version(sock) == v);
  run = run_ctl(sock, {"unmap", "purple", "purple.example.com", "--force"});
  CHECK(run.code == 0);
  run = run_ctl(sock, {"app-delete", "purple"});
  CHECK(run.code == 0);
  CHECK(get_app_servers(sock)->count("purple") == 0);
}

TEST_CASE("If-Match: a change on the current version applies; on a stale one it is 409 and changes nothing") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(blue_green_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();
  int64_t v0 = table_version(sock);
  auto if_match = [](int64_t v) { return Headers{{"If-Match", std::to_string(v)}}; };

  AdminReply r = admin_request(sock, "PUT", "/v1/routes/example.com/green", "", if_match(v0));
  CHECK(r.status == 200);
  CHECK(answered_version(r) == v0 + 1);

  json before = get_routes(sock);
  auto apps_before = get_app_servers(sock);
  struct Stale {
    const char* method;
    std::string path;
    std::string body;
  };
  std::vector<Stale> stale = {
      {"PUT", "/v1/routes/example.com/green", body({{"weight", 5}})},
      {"DELETE", "/v1/routes/example.com/blue", ""},
      {"POST", "/v1/batch", body(json::array({{{"op", "unmap"}, {"app", "blue"}, {"host", "www.example.com"}}}))},
      {"POST", "/v1/rollback", body({{"version", v0}})},
      {"POST", "/v1/apps/blue/servers", body({{"addr", green.addr()}})},
      {"PUT", "/v1/apps/gray", body({{"servers", {green.addr()}}})},
  };
  for (const auto& s : stale) {
    CAPTURE(s.method);
    CAPTURE(s.path);
    r = admin_request(sock, s.method, s.path, s.body, if_match(v0));
    CHECK(r.status == 409);
    CHECK(r.json.value("error", std::string()) != "");
    CHECK(get_routes(sock) == before);
    CHECK(get_app_servers(sock) == apps_before);
  }
  // The current version still works.
  r = admin_request(sock, "DELETE", "/v1/routes/example.com/blue", "", if_match(v0 + 1));
  CHECK(answered_version(r) == v0 + 2);
  CHECK(who(http_get(t.port(), "example.com", "/")) == "green");
}

TEST_CASE("errors answer 4xx with {\"error\": ...} and change nothing") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(blue_green_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();

  json before = get_routes(sock);
  auto apps_before = get_app_servers(sock);
  REQUIRE(apps_before);
  struct Bad {
    const char* method;
    std::string path;
    std::string body;
    int status;  // exact status the design fixes, or 0 for "any 4xx"
  };
  std::vector<Bad> bad = {
      {"PUT", "/v1/routes/example.com/nosuch", "", 0},
      {"DELETE", "/v1/routes/example.com/green", "", 404},
      {"DELETE", "/v1/routes/nowhere.example.com/blue", "", 404},
      {"PUT", "/v1/routes/example.com/green", "{not json", 400},
      {"PUT", "/v1/routes/example.com/green", body({{"weight", 0}}), 400},
      {"PUT", "/v1/routes/example.com/green", body({{"weight", "heavy"}}), 400},
      {"PUT", "/v1/routes/exa mple.com/green", "", 0},
      // Atomic: the valid first op is not applied either.
      {"POST", "/v1/batch",
       body(json::array({{{"op", "map"}, {"app", "green"}, {"host", "example.com"}},
                         {{"op", "map"}, {"app", "nosuch"}, {"host", "example.com"}}})),
       0},
      {"POST", "/v1/batch",
       body(json::array({{{"op", "map"}, {"app", "green"}, {"host", "example.com"}}, {{"op", "frobnicate"}}})), 400},
      {"POST", "/v1/batch",
       body(json::array({{{"op", "unmap"}, {"app", "blue"}, {"host", "example.com"}},
                         {{"op", "unmap"}, {"app", "green"}, {"host", "www.example.com"}}})),
       404},
      {"POST", "/v1/batch", body({{"op", "map"}}), 400},
      {"POST", "/v1/batch", "[{\"op\": \"map\", \"app\": \"green\"", 400},
      {"PUT", "/v1/apps/gray", body({{"servers", "127.0.0.1:1"}}), 400},
      {"PUT", "/v1/apps/gray", body({{"servers", {"not an address"}}}), 400},
      {"PUT", "/v1/apps/gray", "", 400},
      {"POST", "/v1/apps/nosuch/servers", body({{"addr", "127.0.0.1:1"}}), 404},
      {"POST", "/v1/apps/blue/servers", body({{"addr", "bogus"}}), 400},
      {"POST", "/v1/apps/blue/servers", body({{"addr", blue.addr()}, {"weight", -1}}), 400},
      {"DELETE", "/v1/apps/blue/servers/" + url_encode("127.0.0.1:1"), "", 404},
      {"DELETE", "/v1/apps/nosuch", "", 404},
      {"DELETE", "/v1/apps/blue", "", 409},
      {"POST", "/v1/rollback", body({{"version", 999999}}), 404},
      {"POST", "/v1/rollback", body({{"version", "latest"}}), 400},
      {"GET", "/v1/nothing", "", 404},
      {"POST", "/v1/routes", "", 0},
  };
  for (const auto& b : bad) {
    CAPTURE(b.method);
    CAPTURE(b.path);
    CAPTURE(b.body);
    AdminReply r = t.admin(b.method, b.path, b.body);
    CAPTURE(r.body);
    if (b.status != 0) {
      CHECK(r.status == b.status);
    } else {
      CHECK(r.status >= 400);
      CHECK(r.status < 500);
    }
    CHECK(r.json.is_object());
    CHECK(r.json.value("error", std::string()) != "");
    CHECK(get_routes(sock) == before);
    CHECK(get_app_servers(sock) == apps_before);
  }
  CHECK(who(http_get(t.port(), "example.com", "/")) == "blue");
}

TEST_CASE("the admin socket is created with mode 0600, and a stale socket file from a crashed run is replaced") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  // A socket file nobody listens on: what a crashed run leaves behind.
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", t.admin_socket().c_str());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    ::close(fd);
    struct stat st {};
    REQUIRE(::lstat(t.admin_socket().c_str(), &st) == 0);
    REQUIRE(S_ISSOCK(st.st_mode));
  }
  REQUIRE(admin_request(t.admin_socket(), "GET", "/v1/routes").status == 0);  // refused: stale
  t.start(blue_green_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);

  struct stat st {};
  REQUIRE(::lstat(t.admin_socket().c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(t.admin("GET", "/v1/routes").status == 200);
  CHECK(run_ctl(t.admin_socket(), {"routes"}).code == 0);
}

TEST_CASE("a live admin socket is not stolen: a second turnout on it refuses to start and says why") {
  Backend blue("blue"), green("green");
  TurnoutProcess first;
  first.start(blue_green_config(first.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(first);
  REQUIRE(first.admin("PUT", "/v1/routes/example.com/green").status == 200);
  json before = get_routes(first.admin_socket());

  TurnoutProcess second;
  second.expect_exit(1, "the admin socket is live: a second turnout must refuse to start");
  CHECK_FALSE(second.try_start(blue_green_config(first.admin_socket(), blue, green)));
  auto code = second.wait_exit(Ms(5000));
  CHECK(code.has_value());
  CHECK(code.value_or(0) != 0);
  std::string err = second.stderr_text();
  INFO("second turnout stderr:\n" << err);
  CHECK(err.find(first.admin_socket()) != std::string::npos);
  CHECK(err.find("in use") != std::string::npos);

  // The first one still owns its socket and its table.
  struct stat st {};
  CHECK(::lstat(first.admin_socket().c_str(), &st) == 0);
  CHECK(get_routes(first.admin_socket()) == before);
  CHECK(first.running());
  CHECK(http_get(first.port(), "example.com", "/").has_value());
}

TEST_CASE("turnout ctl: tables for people, --json for scripts, exit 1 with a message when it cannot") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(blue_green_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();

  CtlRun run = run_ctl(sock, {"map", "green", "example.com", "canary.example.com", "--weight", "4"});
  INFO("ctl stdout: " << run.out << "\nctl stderr: " << run.err);
  CHECK(run.code == 0);
  json routes = get_routes(sock);
  CHECK(routes["routes"]["example.com"] == json({{"blue", 1}, {"green", 4}}));
  CHECK(routes["routes"]["canary.example.com"] == json({{"green", 4}}));

  run = run_ctl(sock, {"routes"});
  CHECK(run.code == 0);
  CHECK(run.out.find("HOST") != std::string::npos);
  CHECK(run.out.find("canary.example.com") != std::string::npos);
  CHECK(run.out.find("www.example.com") != std::string::npos);
  CHECK(run.out.find("green") != std::string::npos);
  CHECK(run.out.find('{') == std::string::npos);  // a table, not JSON

  run = run_ctl(sock, {"apps"});
  CHECK(run.code == 0);
  CHECK(run.out.find("APP") != std::string::npos);
  CHECK(run.out.find(blue.addr()) != std::string::npos);
  CHECK(run.out.find(green.addr()) != std::string::npos);
  CHECK(run.out.find("canary.example.com") != std::string::npos);

  run = run_ctl(sock, {"routes", "--json"});
  CHECK(run.code == 0);
  json j = json::parse(run.out, nullptr, false);
  CHECK(j == get_routes(sock));
  run = run_ctl(sock, {"apps", "--json"});
  CHECK(run.code == 0);
  j = json::parse(run.out, nullptr, false);
  REQUIRE(j.is_object());
  CHECK(j["apps"].contains("blue"));
  CHECK(j["apps"].contains("green"));
  run = run_ctl(sock, {"map", "blue", "canary.example.com", "--json"});
  CHECK(run.code == 0);
  j = json::parse(run.out, nullptr, false);
  CHECK(j["version"] == table_version(sock));
  CHECK(j["routes"]["canary.example.com"]["blue"] == 1);  // the resulting route comes with it

  // The API refuses: exit 1, its message on stderr, nothing changed.
  int64_t v = table_version(sock);
  run = run_ctl(sock, {"unmap", "green", "www.example.com"});
  CHECK(run.code == 1);
  CHECK(run.err.find("404") != std::string::npos);
  CHECK(run.err.find("turnout ctl") != std::string::npos);
  CHECK(table_version(sock) == v);

  // No socket: exit 1 and a message naming it.
  std::string missing = t.dir().file("missing.sock");
  run = run_ctl(missing, {"routes"});
  CHECK(run.code == 1);
  CHECK(run.err.find(missing) != std::string::npos);
  CHECK(run.out.empty());

  // status after live traffic (per-route counters are then non-empty).
  CHECK(who(http_get(t.port(), "www.example.com", "/")) == "blue");
  CHECK(who(http_get(t.port(), "nowhere.example.com", "/")) == "status 404");
  std::this_thread::sleep_for(Ms(600));  // counters are collected from the workers every 250 ms
  AdminReply apps = t.admin("GET", "/v1/apps");
  REQUIRE(apps.status == 200);
  int64_t blue_requests = -1;
  for (const auto& s : apps.json["apps"]["blue"]["servers"]) {
    if (s.value("addr", std::string()) == blue.addr()) blue_requests = s.value("requests", int64_t{-1});
  }
  CHECK(blue_requests >= 1);
  AdminReply metrics = t.admin("GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("turnout_table_version " + std::to_string(table_version(sock))) != std::string::npos);
  AdminReply page = t.admin("GET", "/");
  CHECK(page.status == 200);
  // The page holds no data itself: it loads the live table from the JSON API in the browser
  // (status_page_test checks what it shows in a real Chromium).
  CHECK(page.body.find("/v1/routes") != std::string::npos);
  AdminReply status = t.admin("GET", "/v1/status");
  CHECK(status.status == 200);
  CHECK(status.json.is_object());
  if (status.json.is_object()) CHECK(status.json.value("version", int64_t{-1}) == table_version(sock));
  run = run_ctl(sock, {"status"});
  CHECK(run.code == 0);
  CHECK(!run.out.empty());
  CHECK(t.running());
}

TEST_CASE("unmap ?wait=1 answers only after the unmapped app's in-flight request completed; without it at once") {
  auto state = std::make_shared<SlowState>();
  Backend slow("slow", slow_behavior("slow", Ms(1000), state));
  Backend fast("fast");
  TurnoutProcess t;
  t.start(full_config(t.admin_socket(),
                      "  slow: {servers: " + yaml_list({slow.addr()}) + "}\n"
                      "  fast: {servers: " + yaml_list({fast.addr()}) + "}\n",
                      "  wait.example.com: [slow]\n"));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();

  // One round: a request in flight on `slow`, fast mapped beside it, then slow unmapped by `unmap`.
  // Returns {answer time, backend reply time}.
  auto round = [&](const std::function<bool()>& unmap, const char* label) {
    CAPTURE(label);
    size_t before = slow.request_count();
    std::optional<Response> answer;
    std::thread client([&] { answer = http_get(t.port(), "wait.example.com", "/slow", {}, Ms(10000)); });
    JoinGuard guard(client);
    REQUIRE(slow.wait_requests(before + 1, Ms(3000)));
    REQUIRE(t.admin("PUT", "/v1/routes/wait.example.com/fast").status == 200);
    bool ok = unmap();
    Clock::time_point answered = Clock::now();
    client.join();
    CHECK(ok);
    // The request in flight succeeded on the unmapped app.
    REQUIRE(answer);
    CHECK(answer->status == 200);
    CHECK(who(answer) == "slow");
    Clock::time_point replied;
    {
      std::lock_guard lk(state->mu);
      REQUIRE(state->replied.size() == before + 1);
      replied = state->replied.back();
    }
    // The next request goes to fast only; put slow back alone for the next round.
    CHECK(who(http_get(t.port(), "wait.example.com", "/")) == "fast");
    REQUIRE(t.admin("POST", "/v1/batch",
                    body(json::array({{{"op", "swap"}, {"from", "fast"}, {"to", "slow"}, {"host", "wait.example.com"}}})))
                .status == 200);
    return std::make_pair(answered, replied);
  };

  auto [answered, replied] = round([&] {
    return t.admin("DELETE", "/v1/routes/wait.example.com/slow?wait=1").status == 200;
  }, "DELETE ?wait=1");
  INFO("answered " << ms_since(replied, answered) << " ms after the backend replied");
  CHECK(answered >= replied);

  // Without wait the answer comes while the request is still in flight: the test can tell.
  std::tie(answered, replied) = round([&] {
    return t.admin("DELETE", "/v1/routes/wait.example.com/slow").status == 200;
  }, "DELETE");
  CHECK(answered < replied);

  // `turnout ctl unmap --wait` does the same.
  std::tie(answered, replied) = round([&] {
    CtlRun run = run_ctl(sock, {"unmap", "slow", "wait.example.com", "--wait"});
    INFO("ctl stderr: " << run.err);
    return run.code == 0;
  }, "ctl unmap --wait");
  CHECK(answered >= replied);
}

TEST_CASE("the optional loopback TCP admin listener serves the same API, and ctl reaches it by http://") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  std::string config = full_config(t.admin_socket(),
                                   "  blue: {servers: " + yaml_list({blue.addr()}) + "}\n"
                                   "  green: {servers: " + yaml_list({green.addr()}) + "}\n",
                                   "  example.com: [blue]\n");
  const std::string admin_line = "admin: {socket: \"" + t.admin_socket() + "\"}";
  REQUIRE(config.find(admin_line) != std::string::npos);
  config.replace(config.find(admin_line), admin_line.size(),
                 "admin: {socket: \"" + t.admin_socket() + "\", http: \"127.0.0.1:0\"}");
  t.start(config);
  TURNOUT_INFO_STDERR(t);
  // "msg="admin listening" http=127.0.0.1:0 port=N"
  std::string log = t.stderr_text();
  size_t at = log.find("admin listening\" http=");
  REQUIRE(at != std::string::npos);
  size_t p = log.find("port=", at);
  REQUIRE(p != std::string::npos);
  int port = std::atoi(log.c_str() + p + 5);
  REQUIRE(port > 0);

  // The listener wants the token turnout generated beside its admin socket, and its own Host.
  std::string token = read_file(t.dir().file("turnout.token"));
  while (!token.empty() && token.back() == '\n') token.pop_back();
  REQUIRE(!token.empty());
  const std::string head = "Host: 127.0.0.1:" + std::to_string(port) + "\r\nAuthorization: Bearer " + token + "\r\n";
  Client admin(port);
  REQUIRE(admin.send("PUT /v1/routes/example.com/green HTTP/1.1\r\n" + head + "Content-Length: 0\r\n\r\n"));
  auto r = admin.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body, nullptr, false)["version"] == table_version(t.admin_socket()));
  REQUIRE(admin.send("GET /v1/routes HTTP/1.1\r\n" + head + "\r\n"));
  r = admin.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body, nullptr, false) == get_routes(t.admin_socket()));

  CtlRun run = run_ctl("http://127.0.0.1:" + std::to_string(port), {"--token", token, "unmap", "blue", "example.com"});
  INFO("ctl stdout: " << run.out << "\nctl stderr: " << run.err);
  CHECK(run.code == 0);
  CHECK(who(http_get(t.port(), "example.com", "/")) == "green");
}
