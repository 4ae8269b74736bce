// Reload (DESIGN.md "Config file", issue 3 item 5): SIGHUP, POST /v1/reload and `turnout ctl
// reload` re-read the file; a broken file changes nothing and every error names file, line and
// key (in the API answer and in the log); listeners, workers and keep-alive client connections
// survive; a reload replaces runtime changes made through the API.
#include <doctest/doctest.h>
#include <signal.h>

#include <map>
#include <sstream>

#include "integration/harness.h"
#include "integration/remap_util.h"

using namespace turnout::test;
using namespace turnout::test::remap;

namespace {

struct Apps {
  Backend blue{"blue"};
  Backend green{"green"};
  Backend red{"red"};
  std::string yaml() const {
    return "  blue: {servers: " + yaml_list({blue.addr()}) + "}\n"
           "  green: {servers: " + yaml_list({green.addr()}) + "}\n"
           "  red: {servers: " + yaml_list({red.addr()}) + "}\n";
  }
};

// A config whose example.com goes to `apps_for_example` (a YAML flow list body).
std::string config(const TurnoutProcess& t, const Apps& apps, const std::string& example_apps,
                   const std::string& more_routes = "", const std::string& more_apps = "") {
  return full_config(t.admin_socket(), apps.yaml() + more_apps,
                     "  example.com: [" + example_apps + "]\n"
                     "  www.example.com: [blue]\n" + more_routes);
}

// 1-based number of the first line of `text` containing `needle`, 0 when none does.
int line_of(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find(needle) != std::string::npos) return n;
  }
  return 0;
}

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

// Sends n GETs on one keep-alive connection and counts who answered.
std::map<std::string, int> tally(Client& cl, const std::string& host, int n) {
  std::map<std::string, int> seen;
  for (int i = 0; i < n; ++i) seen[who(cl.get(host, "/r/" + std::to_string(i)))]++;
  return seen;
}

size_t worker_count(const TurnoutProcess& t) {
  AdminReply r = t.admin("GET", "/v1/status");
  if (r.status != 200 || !r.json.contains("workers") || !r.json["workers"].is_array()) return 0;
  return r.json["workers"].size();
}

}  // namespace

TEST_CASE("SIGHUP, POST /v1/reload and ctl reload re-read the file; listeners, workers and keep-alive connections survive") {
  Apps apps;
  auto slow_backend = std::make_unique<Backend>("slow", behave(BackendMode::Default, Ms(800)));
  TurnoutProcess t;
  const std::string slow_app = "  slow: {servers: " + yaml_list({slow_backend->addr()}) + "}\n";
  t.start(config(t, apps, "blue", "  slow.example.com: [slow]\n", slow_app));
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();
  const int port = t.port();
  const pid_t pid = t.pid();
  const size_t workers = worker_count(t);
  CHECK(workers == 2);

  Client cl(port);
  CHECK(who(cl.get("example.com", "/")) == "blue");

  // SIGHUP. It has no answer: wait for the version to move.
  int64_t v0 = table_version(sock);
  t.dir().write("turnout.yaml", config(t, apps, "green", "  slow.example.com: [slow]\n", slow_app));
  t.signal(SIGHUP);
  CHECK(wait_until([&] { return table_version(sock) == v0 + 1; }, Ms(5000)));
  CHECK(who(cl.get("example.com", "/")) == "green");  // the same connection, routed by the new table
  CHECK(who(cl.get("www.example.com", "/")) == "blue");

  // POST /v1/reload, with a request in flight on an app the new file drops entirely.
  std::optional<Response> slow_answer;
  std::thread in_flight([&] { slow_answer = http_get(port, "slow.example.com", "/slow", {}, Ms(10000)); });
  JoinGuard guard(in_flight);
  REQUIRE(slow_backend->wait_requests(1, Ms(3000)));
  t.dir().write("turnout.yaml", config(t, apps, "blue, green"));
  AdminReply r = t.admin("POST", "/v1/reload");
  CHECK(r.status == 200);
  CHECK(r.json.value("version", int64_t{-1}) == v0 + 2);
  {
    auto seen = tally(cl, "example.com", 10);
    CHECK(seen["blue"] == 5);
    CHECK(seen["green"] == 5);
  }
  CHECK(who(cl.get("slow.example.com", "/")) == "status 404");
  in_flight.join();
  REQUIRE(slow_answer);
  CHECK(slow_answer->status == 200);
  CHECK(who(slow_answer) == "slow");

  // turnout ctl reload.
  t.dir().write("turnout.yaml", config(t, apps, "red"));
  CtlRun run = run_ctl(sock, {"reload"});
  INFO("ctl stdout: " << run.out << "\nctl stderr: " << run.err);
  CHECK(run.code == 0);
  CHECK(table_version(sock) == v0 + 3);
  CHECK(who(cl.get("example.com", "/")) == "red");

  // Same process, same port, same workers; new connections are accepted as before.
  CHECK(t.running());
  CHECK(t.pid() == pid);
  for (int i = 0; i < 8; ++i) CHECK(who(http_get(port, "example.com", "/new")) == "red");
  CHECK(who(cl.get("example.com", "/")) == "red");
  CHECK_FALSE(cl.wait_closed(Ms(200)));
  CHECK(worker_count(t) == workers);
  CHECK(t.running());
}

TEST_CASE("a broken file changes nothing; every error names file, line and key, in the answer and in the log") {
  Apps apps;
  TurnoutProcess t;
  const std::string good = config(t, apps, "blue");
  t.start(good);
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();
  const std::string path = t.config_path();
  Client cl(t.port());
  CHECK(who(cl.get("example.com", "/")) == "blue");
  REQUIRE(t.admin("PUT", "/v1/routes/runtime.example.com/green").status == 200);
  const json before = get_routes(sock);
  const auto apps_before = get_app_servers(sock);

  struct Broken {
    const char* what;
    std::string text;
    std::vector<std::pair<std::string, std::string>> errors;  // {line marker, key text}: each must be reported
  };
  std::vector<Broken> broken = {
      {"unknown top-level key", good + "bogus_key: 1\n", {{"bogus_key", "bogus_key"}}},
      {"unknown key inside an app",
       config(t, apps, "blue", "", "  purple: {servers: [\"127.0.0.1:1\"], colour: purple}\n"),
       {{"colour", "colour"}}},
      {"route to an unknown app", config(t, apps, "nosuch"), {{"nosuch", "example.com"}}},
      {"two errors at once", config(t, apps, "green", "  other.example.com: [ghost]\n") + "bogus_key: 1\n",
       {{"ghost", "other.example.com"}, {"bogus_key", "bogus_key"}}},
      {"bad duration", good + "timeouts: {connect: soon}\n", {{"soon", "connect"}}},
  };
  for (const auto& b : broken) {
    CAPTURE(b.what);
    CAPTURE(b.text);
    t.dir().write("turnout.yaml", b.text);
    const std::string log_before = t.stderr_text();
    size_t failures_logged = count_of(log_before, "reload failed");
    AdminReply r = t.admin("POST", "/v1/reload");
    CAPTURE(r.body);
    CHECK(r.status == 400);
    std::string error = r.json.value("error", std::string());
    for (const auto& [marker, key] : b.errors) {
      int line = line_of(b.text, marker);
      REQUIRE(line > 0);
      CHECK(error.find(path + ":" + std::to_string(line)) != std::string::npos);
      CHECK(error.find(key) != std::string::npos);
    }
    CHECK(get_routes(sock) == before);
    CHECK(get_app_servers(sock) == apps_before);
    CHECK(who(cl.get("example.com", "/")) == "blue");
    CHECK(who(cl.get("runtime.example.com", "/")) == "green");  // runtime changes kept too
    // The log has the same errors.
    CHECK(wait_until([&] { return count_of(t.stderr_text(), "reload failed") > failures_logged; }, Ms(3000)));
    std::string log = t.stderr_text().substr(log_before.size());
    CAPTURE(log);
    for (const auto& [marker, key] : b.errors) {
      CHECK(log.find(path + ":" + std::to_string(line_of(b.text, marker))) != std::string::npos);
      CHECK(log.find(key) != std::string::npos);
    }
  }

  // Bad YAML: file and line of the syntax error (yaml-cpp points at or just after it).
  {
    std::string text = good + "extra: [unclosed\n";
    t.dir().write("turnout.yaml", text);
    AdminReply r = t.admin("POST", "/v1/reload");
    CAPTURE(r.body);
    CHECK(r.status == 400);
    std::string error = r.json.value("error", std::string());
    int line = line_of(text, "unclosed");
    bool names_line = error.find(path + ":" + std::to_string(line)) != std::string::npos ||
                      error.find(path + ":" + std::to_string(line + 1)) != std::string::npos;
    CHECK(names_line);
    CHECK(get_routes(sock) == before);
  }

  // SIGHUP with a broken file: logged, nothing changes.
  {
    std::string text = config(t, apps, "nosuch");
    t.dir().write("turnout.yaml", text);
    const std::string log_before = t.stderr_text();
    size_t failures_logged = count_of(log_before, "reload failed");
    t.signal(SIGHUP);
    CHECK(wait_until([&] { return count_of(t.stderr_text(), "reload failed") > failures_logged; }, Ms(3000)));
    CHECK(t.stderr_text().substr(log_before.size()).find(path + ":" + std::to_string(line_of(text, "nosuch"))) != std::string::npos);
    CHECK(get_routes(sock) == before);
    CHECK(who(cl.get("example.com", "/")) == "blue");
  }

  // ctl reload with a broken file: exit 1, the errors on stderr.
  {
    std::string text = good + "bogus_key: 1\n";
    t.dir().write("turnout.yaml", text);
    CtlRun run = run_ctl(sock, {"reload"});
    INFO("ctl stdout: " << run.out << "\nctl stderr: " << run.err);
    CHECK(run.code == 1);
    CHECK(run.err.find(path + ":" + std::to_string(line_of(text, "bogus_key"))) != std::string::npos);
    CHECK(run.err.find("bogus_key") != std::string::npos);
    CHECK(get_routes(sock) == before);
  }

  // Fixed: the reload applies (forced: it drops runtime.example.com, a runtime change).
  t.dir().write("turnout.yaml", config(t, apps, "green"));
  AdminReply r = t.admin("POST", "/v1/reload?force=1");
  CHECK(r.status == 200);
  CHECK(who(cl.get("example.com", "/")) == "green");
  CHECK(t.running());
}

TEST_CASE("a reload that would drop runtime changes is refused listing them; forced, the file's table replaces them") {
  Apps apps;
  Backend orange("orange");
  TurnoutProcess t;
  const std::string file = config(t, apps, "blue");
  t.start(file);
  TURNOUT_INFO_STDERR(t);
  const std::string sock = t.admin_socket();
  const json from_file = get_routes(sock);
  const auto apps_from_file = get_app_servers(sock);
  Client cl(t.port());

  REQUIRE(t.admin("PUT", "/v1/routes/example.com/green").status == 200);
  REQUIRE(t.admin("DELETE", "/v1/routes/example.com/blue").status == 200);
  REQUIRE(t.admin("PUT", "/v1/apps/orange", body({{"servers", {orange.addr()}}})).status == 200);
  REQUIRE(t.admin("PUT", "/v1/routes/orange.example.com/orange").status == 200);
  REQUIRE(t.admin("POST", "/v1/apps/blue/servers", body({{"addr", apps.red.addr()}})).status == 200);
  CHECK(who(cl.get("example.com", "/")) == "green");
  CHECK(who(cl.get("orange.example.com", "/")) == "orange");

  // Unforced: 409 naming every runtime change the file lacks; nothing changes.
  const json live = get_routes(sock);
  AdminReply r = t.admin("POST", "/v1/reload");
  CHECK(r.status == 409);
  const std::string why = r.json.value("error", std::string());
  INFO("refusal: " << why);
  CHECK(why.find("4 runtime changes") != std::string::npos);
  CHECK(why.find("route example.com: live green(1), file blue(1)") != std::string::npos);
  CHECK(why.find("route orange.example.com: live orange(1), file (none)") != std::string::npos);
  CHECK(why.find("app orange:") != std::string::npos);
  CHECK(why.find("app blue:") != std::string::npos);
  CHECK(why.find("--force") != std::string::npos);
  CHECK(get_routes(sock) == live);
  CtlRun refused = run_ctl(sock, {"reload"});
  CHECK(refused.code == 1);
  CHECK(refused.err.find("route orange.example.com") != std::string::npos);
  CHECK(refused.err.find("ctl export") != std::string::npos);
  CHECK(get_routes(sock) == live);

  r = t.admin("POST", "/v1/reload?force=1");
  CHECK(r.status == 200);
  json now = get_routes(sock);
  CHECK(now["routes"] == from_file["routes"]);
  CHECK(now["default_app"] == from_file["default_app"]);
  CHECK(now["version"].get<int64_t>() == r.json.value("version", int64_t{-1}));
  CHECK(get_app_servers(sock) == apps_from_file);
  for (int i = 0; i < 4; ++i) CHECK(who(cl.get("example.com", "/")) == "blue");
  CHECK(who(cl.get("orange.example.com", "/")) == "status 404");
}
