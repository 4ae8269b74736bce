// Operator safety on the real binary (issue 15, items 3-6): guard rails that refuse a change
// which would stop serving a host unless forced, every ctl change printing the resulting route,
// reload refusing to drop runtime changes (and `ctl export` to keep them), rollback walking back
// an undo stack, and `--wait` bounded by `--timeout`.
#include <doctest/doctest.h>
#include <signal.h>

#include <memory>
#include <thread>

#include "integration/harness.h"
#include "integration/remap_util.h"

using namespace turnout::test;
using namespace turnout::test::remap;

namespace {

// blue serves example.com alone and shares both.example.com with green; `empty` has no server.
std::string safety_config(const std::string& socket, const Backend& blue, const Backend& green,
                          const std::string& extra = "") {
  return full_config(socket,
                     "  blue: {servers: " + yaml_list({blue.addr()}) + "}\n"
                     "  green: {servers: " + yaml_list({green.addr()}) + "}\n"
                     "  empty: {servers: []}\n",
                     "  example.com: [blue]\n"
                     "  both.example.com: [blue, green]\n",
                     extra);
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("guard rails: unmapping a host's last app or swapping it to an app with no server is 409 unless forced") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(safety_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();
  const json before = get_routes(sock);

  // The API: 409 naming the host, what it is routed to, and the three ways to force.
  AdminReply r = t.admin("DELETE", "/v1/routes/example.com/blue");
  CHECK(r.status == 409);
  std::string why = r.json.value("error", std::string());
  INFO("refusal: " << why);
  CHECK(contains(why, "example.com would have no app (it is routed to blue(1) now)"));
  CHECK(contains(why, "--force"));
  CHECK(contains(why, "?force=1"));
  CHECK(contains(why, "\"force\": true"));
  CHECK(get_routes(sock) == before);
  CHECK(who(http_get(t.port(), "example.com", "/")) == "blue");

  // ctl: the same refusal, exit 1, nothing changed.
  CtlRun run = run_ctl(sock, {"unmap", "blue", "example.com"});
  CHECK(run.code == 1);
  CHECK(contains(run.err, "example.com would have no app"));
  CHECK(contains(run.err, "HTTP 409"));
  // Swap to an app with no server: the site would answer 503.
  run = run_ctl(sock, {"swap", "blue", "empty", "example.com"});
  CHECK(run.code == 1);
  CHECK(contains(run.err, "example.com would be routed only to apps with no server up: empty (no servers)"));
  // Removing blue's only server would leave example.com with nothing (both.example.com keeps green).
  run = run_ctl(sock, {"remove-server", "blue", blue.addr()});
  CHECK(run.code == 1);
  CHECK(contains(run.err, "example.com would be routed only to apps with no server up: blue (no servers)"));
  CHECK(!contains(run.err, "both.example.com"));
  // Batch: refused as a whole.
  r = t.admin("POST", "/v1/batch",
              body(json::array({{{"op", "map"}, {"app", "green"}, {"host", "new.example.com"}},
                                {{"op", "unmap"}, {"app", "blue"}, {"host", "example.com"}}})));
  CHECK(r.status == 409);
  CHECK(get_routes(sock) == before);
  CHECK(who(http_get(t.port(), "example.com", "/")) == "blue");

  // Unmapping one of two apps is fine, and ctl prints the resulting route and the version.
  run = run_ctl(sock, {"unmap", "green", "both.example.com"});
  CHECK(run.code == 0);
  CHECK(contains(run.out, "both.example.com  ->  blue(1)"));
  CHECK(contains(run.out, "ok: version " + std::to_string(table_version(sock))));
  run = run_ctl(sock, {"map", "green", "both.example.com", "new.example.com", "--weight", "3"});
  CHECK(run.code == 0);
  CHECK(contains(run.out, "both.example.com  ->  blue(1), green(3)"));
  CHECK(contains(run.out, "new.example.com   ->  green(3)"));

  // Forced, each way: ctl --force, ?force=1 on a batch, "force": true in a body.
  run = run_ctl(sock, {"unmap", "blue", "example.com", "--force"});
  CHECK(run.code == 0);
  CHECK(contains(run.out, "example.com  ->  (no route: answers 404)"));
  CHECK(who(http_get(t.port(), "example.com", "/")) == "status 404");
  // new.example.com has only green: swapping it to `empty` would leave it no server.
  r = t.admin("POST", "/v1/swap", body({{"from", "green"}, {"to", "empty"}, {"hosts", {"new.example.com"}}}));
  CHECK(r.status == 409);
  CHECK(contains(r.json.value("error", std::string()), "new.example.com would be routed only to apps with no server up"));
  r = t.admin("POST", "/v1/swap",
              body({{"from", "green"}, {"to", "empty"}, {"hosts", {"new.example.com"}}, {"force", true}}));
  CHECK(r.status == 200);
  CHECK(r.json["routes"]["new.example.com"] == json({{"empty", 1}}));
  CHECK(who(http_get(t.port(), "new.example.com", "/")) == "status 503");
  r = t.admin("POST", "/v1/batch?force=1",
              body(json::array({{{"op", "unmap"}, {"app", "empty"}, {"host", "new.example.com"}}})));
  CHECK(r.status == 200);
  CHECK(r.json["routes"]["new.example.com"].is_null());
  // The forced changes are logged as such and marked in the history.
  CHECK(wait_until([&] { return contains(t.stderr_text(), "forced change"); }, Ms(3000)));
  AdminReply h = t.admin("GET", "/v1/history");
  CHECK(contains(h.body, "unmap blue example.com (forced)"));
}

TEST_CASE("reload refuses to drop runtime changes; ctl export keeps them; SIGHUP logs the refusal") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(safety_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();
  const std::string head = "listen: [\"127.0.0.1:0\"]\nworkers: 2\nadmin: {socket: \"" + sock + "\"}\naccess_log: off\n";

  // Runtime changes: green canary on example.com, a new app and its host.
  REQUIRE(t.admin("PUT", "/v1/routes/example.com/green", body({{"weight", 9}})).status == 200);
  REQUIRE(t.admin("PUT", "/v1/apps/orange", body({{"servers", {green.addr()}}})).status == 200);
  REQUIRE(t.admin("PUT", "/v1/routes/orange.example.com/orange").status == 200);
  const json live = get_routes(sock);

  // SIGHUP: refused, logged with the list, table unchanged.
  t.signal(SIGHUP);
  CHECK(wait_until([&] { return contains(t.stderr_text(), "SIGHUP: reload refused"); }, Ms(5000)));
  CHECK(contains(t.stderr_text(), "orange.example.com"));
  CHECK(get_routes(sock) == live);

  // ctl export: YAML that `turnout check` accepts and that loads as the same table.
  CtlRun exported = run_ctl(sock, {"export"});
  REQUIRE(exported.code == 0);
  CHECK(contains(exported.out, "\"orange.example.com\": [{app: \"orange\", weight: 1}]"));
  CHECK(contains(exported.out, "\"example.com\": [{app: \"blue\", weight: 1}, {app: \"green\", weight: 9}]"));
  {
    TurnoutProcess copy;
    std::string text = "listen: [\"127.0.0.1:0\"]\nworkers: 1\nadmin: {socket: \"" + copy.admin_socket() +
                       "\"}\naccess_log: off\n" + exported.out;
    copy.dir().write("turnout.yaml", text);
    CtlRun check = run_turnout({"check", "-c", copy.config_path()});
    INFO("check: " << check.out << check.err);
    CHECK(check.code == 0);
    copy.start(text);
    json copied = get_routes(copy.admin_socket());
    CHECK(copied["routes"] == live["routes"]);
    CHECK(copied["default_app"] == live["default_app"]);
    CHECK(get_app_servers(copy.admin_socket()) == get_app_servers(sock));
  }

  // The operator commits the export to the file: the reload now drops nothing and needs no force.
  t.dir().write("turnout.yaml", head + exported.out);
  CtlRun run = run_ctl(sock, {"reload"});
  INFO("reload: " << run.out << run.err);
  CHECK(run.code == 0);
  CHECK(get_routes(sock)["routes"] == live["routes"]);

  // A later runtime change, then a file without it: refused, then --force drops it.
  REQUIRE(t.admin("PUT", "/v1/routes/extra.example.com/blue").status == 200);
  run = run_ctl(sock, {"reload"});
  CHECK(run.code == 1);
  CHECK(contains(run.err, "1 runtime change the file does not contain"));
  CHECK(contains(run.err, "route extra.example.com: live blue(1), file (none)"));
  CHECK(apps_of(get_routes(sock), "extra.example.com") == std::set<std::string>{"blue"});
  run = run_ctl(sock, {"reload", "--force"});
  CHECK(run.code == 0);
  CHECK(apps_of(get_routes(sock), "extra.example.com").empty());
  CHECK(who(http_get(t.port(), "orange.example.com", "/")) == "green");  // from the committed file
}

TEST_CASE("rollback walks back one version per call, --to jumps, unknown versions say why") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(safety_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();

  std::map<int64_t, json> tables;  // version -> routes
  auto remember = [&] {
    json j = get_routes(sock);
    tables[j["version"].get<int64_t>()] = j["routes"];
    return j["version"].get<int64_t>();
  };
  const int64_t v1 = remember();
  for (int w = 2; w <= 4; ++w) REQUIRE(t.admin("PUT", "/v1/routes/both.example.com/green", body({{"weight", w}})).status == 200);
  const int64_t v4 = remember();
  REQUIRE(v4 == v1 + 3);
  // Tables of v2 and v3 by their weights.
  auto weight_of_green = [&] { return get_routes(sock)["routes"]["both.example.com"]["green"].get<int>(); };
  CHECK(weight_of_green() == 4);

  // Three rollbacks: v3's table, then v2's, then v1's — not a flip-flop between two.
  CtlRun run = run_ctl(sock, {"rollback"});
  CHECK(run.code == 0);
  CHECK(contains(run.out, "rolled back to the table of version " + std::to_string(v1 + 2)));
  CHECK(contains(run.out, "a further rollback goes to version " + std::to_string(v1 + 1)));
  CHECK(weight_of_green() == 3);
  run = run_ctl(sock, {"rollback"});
  CHECK(run.code == 0);
  CHECK(weight_of_green() == 2);
  run = run_ctl(sock, {"rollback"});
  CHECK(run.code == 0);
  CHECK(contains(run.out, "nothing earlier to roll back to"));
  CHECK(get_routes(sock)["routes"] == tables[v1]);
  const int64_t after_walk = table_version(sock);
  CHECK(after_walk == v4 + 3);  // each rollback is a new version
  // A fourth: nothing earlier, 404, nothing changes.
  AdminReply r = t.admin("POST", "/v1/rollback");
  CHECK(r.status == 404);
  CHECK(contains(r.json.value("error", std::string()), "no earlier version"));
  CHECK(table_version(sock) == after_walk);

  // --to jumps; a fresh change after rollbacks starts a new stack (its rollback undoes it).
  run = run_ctl(sock, {"rollback", "--to", std::to_string(v4)});
  CHECK(run.code == 0);
  CHECK(weight_of_green() == 4);
  REQUIRE(t.admin("PUT", "/v1/routes/both.example.com/green", body({{"weight", 7}})).status == 200);
  r = t.admin("POST", "/v1/rollback");
  CHECK(r.status == 200);
  CHECK(weight_of_green() == 4);

  // Never issued: 404 saying so, with the current version.
  const int64_t cur = table_version(sock);
  r = t.admin("POST", "/v1/rollback", body({{"version", 99}}));
  CHECK(r.status == 404);
  CHECK(r.json.value("error", std::string()) ==
        "version 99 was never issued (current is " + std::to_string(cur) + ")");
  run = run_ctl(sock, {"rollback", "99"});
  CHECK(run.code == 1);
  CHECK(contains(run.err, "version 99 was never issued"));
  CHECK(table_version(sock) == cur);
}

TEST_CASE("rollback: versions beyond the kept history are 410 naming the oldest kept") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(safety_config(t.admin_socket(), blue, green));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();
  const int64_t v1 = table_version(sock);
  for (int w = 2; w <= 40; ++w) REQUIRE(t.admin("PUT", "/v1/routes/both.example.com/green", body({{"weight", w}})).status == 200);
  AdminReply h = t.admin("GET", "/v1/history");
  REQUIRE(h.status == 200);
  const int64_t oldest = h.json["history"][0]["version"].get<int64_t>();
  REQUIRE(oldest > v1);
  AdminReply r = t.admin("POST", "/v1/rollback", body({{"version", v1}}));
  CHECK(r.status == 410);
  CHECK(r.json.value("error", std::string()) == "version " + std::to_string(v1) +
                                                    " is no longer kept (oldest kept is " + std::to_string(oldest) + ")");
}

TEST_CASE("--wait is bounded: on timeout ctl exits 3 saying the route WAS removed; the API answers 504") {
  Backend slow("slow", behave(Backend::Mode::Hang));
  Backend fast("fast");
  TurnoutProcess t;
  t.start(full_config(t.admin_socket(),
                      "  slow: {servers: " + yaml_list({slow.addr()}) + "}\n"
                      "  fast: {servers: " + yaml_list({fast.addr()}) + "}\n",
                      "  wait.example.com: [slow, fast]\n"
                      "  api.example.com: [slow, fast]\n",
                      "timeouts: {upstream_response: 60s}\n"));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();

  // Requests held by the hanging backend, one per host (the balancer alternates slow and fast).
  std::vector<std::unique_ptr<Client>> held;
  for (const std::string host : {"wait.example.com", "api.example.com"}) {
    size_t before = slow.request_count();
    for (int i = 0; i < 4 && slow.request_count() == before; ++i) {
      auto c = std::make_unique<Client>(t.port());
      REQUIRE(c->send_request("GET", "/hold", host));
      held.push_back(std::move(c));
      slow.wait_requests(before + 1, Ms(500));
    }
    REQUIRE(slow.request_count() == before + 1);
  }

  // ctl: progress on stderr, then the timeout says the change was made and what is in flight.
  CtlRun run = run_ctl(sock, {"unmap", "slow", "wait.example.com", "--wait", "--timeout", "1.5"});
  CHECK(run.code == 3);
  INFO("ctl stdout: " << run.out << "\nctl stderr: " << run.err);
  CHECK(contains(run.out, "wait.example.com  ->  fast(1)"));
  CHECK(contains(run.err, "waiting for requests in flight to finish: slow on wait.example.com (timeout 1.5s)"));
  CHECK(contains(run.err, "1 in flight (1 of slow on wait.example.com)"));
  const int64_t removed_at = table_version(sock);
  CHECK(contains(run.err, "timed out after 1.5s: the change WAS made (version " + std::to_string(removed_at) +
                              ") but 1 request is still in flight (1 of slow on wait.example.com)"));
  CHECK(apps_of(get_routes(sock), "wait.example.com") == std::set<std::string>{"fast"});

  // The API: ?wait=1&timeout= answers 504 with the version and the in-flight count.
  AdminReply r = t.admin("DELETE", "/v1/routes/api.example.com/slow?wait=1&timeout=0.5");
  CHECK(r.status == 504);
  CHECK(r.json["version"] == removed_at + 1);
  CHECK(r.json["in_flight"] == json::array({{{"host", "api.example.com"}, {"app", "slow"}, {"in_flight", 1}}}));
  CHECK(contains(r.json.value("error", std::string()), "the change WAS applied (version " + std::to_string(removed_at + 1)));
  CHECK(apps_of(get_routes(sock), "api.example.com") == std::set<std::string>{"fast"});
  CHECK(t.admin("DELETE", "/v1/routes/api.example.com/fast?wait=1&timeout=soon").status == 400);

  // Once the held requests end, --wait returns 0 at once.
  held.clear();
  slow.stop();
  REQUIRE(t.admin("PUT", "/v1/routes/wait.example.com/slow").status == 200);
  run = run_ctl(sock, {"unmap", "slow", "wait.example.com", "--wait", "--timeout", "20"});
  CHECK(run.code == 0);
  CHECK(contains(run.err, "drained after"));
}

TEST_CASE("with state_file the rollback history survives a restart (and a crash): rollback keeps walking back") {
  Backend blue("blue"), green("green");
  TempDir sd;
  const std::string sock = sd.file("admin.sock");
  const std::string state = sd.file("turnout.state.json");
  const std::string config = safety_config(sock, blue, green, "state_file: \"" + state + "\"\n");
  auto weight_of_green = [&] { return get_routes(sock)["routes"]["both.example.com"]["green"].get<int>(); };

  int64_t v1 = 0;
  json history_before;
  {
    TurnoutProcess t;
    t.start(config);
    TURNOUT_INFO_STDERR(t);
    v1 = table_version(sock);
    for (int w = 2; w <= 4; ++w)
      REQUIRE(admin_request(sock, "PUT", "/v1/routes/both.example.com/green", body({{"weight", w}})).status == 200);
    // One rollback before the crash: v4 -> v3's table; the next goes to v2's.
    REQUIRE(admin_request(sock, "POST", "/v1/rollback").status == 200);
    REQUIRE(weight_of_green() == 3);
    history_before = admin_request(sock, "GET", "/v1/history").json["history"];
    t.expect_exit(128 + SIGKILL, "simulates a crash: the history must survive it");
    t.signal(SIGKILL);
    t.wait_exit(Ms(5000));
  }
  TurnoutProcess t;
  t.start(config);
  TURNOUT_INFO_STDERR(t);
  CHECK(weight_of_green() == 3);
  // The same history, entry for entry (what made each version and where undo goes).
  json history_after = admin_request(sock, "GET", "/v1/history").json["history"];
  CHECK(history_after == history_before);
  // The walk continues where it stopped: v2's table, then v1's.
  CtlRun run = run_ctl(sock, {"rollback"});
  CHECK(run.code == 0);
  CHECK(weight_of_green() == 2);
  run = run_ctl(sock, {"rollback"});
  CHECK(run.code == 0);
  CHECK(weight_of_green() == 1);
  // And --to an old version issued before the restart.
  run = run_ctl(sock, {"rollback", "--to", std::to_string(v1 + 3)});
  CHECK(run.code == 0);
  CHECK(weight_of_green() == 4);
}
