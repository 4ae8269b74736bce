// Health (issue 5, item 5): passive — a server whose connects fail is skipped for a back-off
// that grows, and the requests that met it are retried elsewhere, so clients see no error;
// active — `health: {path, interval, timeout, rise, fall}` marks a server down and up again,
// visible in GET /v1/apps and `turnout ctl apps`, checked once per process rather than once per
// worker; a host whose servers are all down answers 503.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <sstream>

#include "integration/harness.h"
#include "integration/remap_util.h"

using namespace turnout::test;
using namespace turnout::test::remap;

namespace {

long ms_since(Clock::time_point t0) { return static_cast<long>(std::chrono::duration_cast<Ms>(Clock::now() - t0).count()); }

// One server's entry in GET /v1/apps, or null.
json server_entry(const TurnoutProcess& t, const std::string& app, const std::string& addr) {
  AdminReply r = t.admin("GET", "/v1/apps");
  if (r.status != 200 || !r.json.is_object()) return nullptr;
  const json& apps = r.json.value("apps", json::object());
  if (!apps.contains(app)) return nullptr;
  for (const auto& s : apps[app].value("servers", json::array()))
    if (s.value("addr", std::string()) == addr) return s;
  return nullptr;
}

// "up" of a server in GET /v1/apps; nullopt when it is not listed.
std::optional<bool> server_up(const TurnoutProcess& t, const std::string& app, const std::string& addr) {
  json s = server_entry(t, app, addr);
  if (!s.is_object() || !s.contains("up") || !s["up"].is_boolean()) return std::nullopt;
  return s["up"].get<bool>();
}

// Attempts turnout made on a server ("requests" in GET /v1/apps), -1 when not listed.
int64_t server_attempts(const TurnoutProcess& t, const std::string& app, const std::string& addr) {
  json s = server_entry(t, app, addr);
  if (!s.is_object() || !s.contains("requests")) return -1;
  return s["requests"].get<int64_t>();
}

// Per-worker stats reach the admin API every 250 ms or so: wait until a value has settled.
int64_t settled_attempts(const TurnoutProcess& t, const std::string& app, const std::string& addr) {
  std::this_thread::sleep_for(Ms(600));
  return server_attempts(t, app, addr);
}

// A backend whose /healthz answers with a status the test sets; everything else 200 with its name.
struct Checked {
  std::shared_ptr<std::atomic<int>> health = std::make_shared<std::atomic<int>>(200);  // /healthz status
  std::unique_ptr<Backend> backend;

  explicit Checked(const std::string& name, int initial) {
    health->store(initial);
    Backend::Behavior b;
    b.mode = Backend::Mode::Custom;
    b.handler = [name, h = health](const BackendRequest& r) {
      if (r.target == "/healthz") return Reply{make_response(h->load(), "health\n")};
      return Reply{make_response(200, name + "\n", {{"X-Backend", name}})};
    };
    backend = std::make_unique<Backend>(name, b);
  }
  std::string addr() const { return backend->addr(); }
  // Requests other than health checks.
  size_t traffic() const {
    size_t n = 0;
    for (const auto& r : backend->requests()) n += r.target != "/healthz";
    return n;
  }
  size_t checks() const {
    size_t n = 0;
    for (const auto& r : backend->requests()) n += r.target == "/healthz";
    return n;
  }
};

const char* kHealth = "health: {path: /healthz, interval: 100ms, timeout: 100ms, rise: 2, fall: 2}";

// The row of `turnout ctl apps` for one app.
std::string ctl_apps_row(const TurnoutProcess& t, const std::string& app) {
  CtlRun run = run_ctl(t.admin_socket(), {"apps"});
  if (run.code != 0) return "ctl failed: " + run.err;
  std::istringstream in(run.out);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(app + " ", 0) == 0) return line;
  return "no row for " + app + " in:\n" + run.out;
}

}  // namespace

TEST_CASE("passive: a refusing server is skipped after 3 failures, for a back-off that grows; clients see no error") {
  Backend live("live");
  const std::string dead = local_addr(unused_port());
  TurnoutProcess t;
  // One worker: passive health state is per worker, so its counters are exact here.
  t.start("workers: 1\n"
          "apps:\n"
          "  p: {servers: " + yaml_list({dead, live.addr()}) + "}\n"
          "routes:\n"
          "  pass.test: [p]\n");
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  int errors = 0;
  auto request = [&](const std::string& path) {
    auto r = cl.get("pass.test", path);
    if (!r || r->status != 200 || r->header("X-Backend") != std::optional<std::string>("live")) ++errors;
    if (cl.conn().eof()) cl = Client(t.port());
  };

  // Round-robin meets the dead server every other request until it is marked down.
  for (int i = 0; i < 12; ++i) request("/a/" + std::to_string(i));
  auto tripped = Clock::now();
  CHECK(errors == 0);
  // Shown down in the admin API while its back-off lasts.
  CHECK(wait_until([&] { return server_up(t, "p", dead) == std::optional<bool>(false); }, Ms(800)));
  CHECK(settled_attempts(t, "p", dead) == 3);

  // Skipped for a while: 700 ms of requests do not touch it.
  while (ms_since(tripped) < 700) {
    request("/b");
    std::this_thread::sleep_for(Ms(50));
  }
  CHECK(errors == 0);
  CHECK(settled_attempts(t, "p", dead) == 3);

  // After 1.5 s it has been tried again (the first back-off is over) and failed again ...
  while (ms_since(tripped) < 1500) std::this_thread::sleep_for(Ms(10));
  auto retried = Clock::now();
  while (ms_since(retried) < 1600) {
    request("/c");
    std::this_thread::sleep_for(Ms(50));
  }
  CHECK(errors == 0);
  // ... exactly once: the second back-off is longer than the 1.6 s of requests that followed.
  CHECK(settled_attempts(t, "p", dead) == 4);
  CHECK(live.request_count() > 20);
}

TEST_CASE("active: a server failing its check is marked down within ~0.5 s, gets no traffic, and comes back") {
  Checked sick("sick", 500), well("well", 200);
  TurnoutProcess t;
  t.start("workers: 2\n"
          "apps:\n"
          "  a: {servers: " + yaml_list({sick.addr(), well.addr()}) + ", " + kHealth + "}\n"
          "routes:\n"
          "  act.test: [a]\n");
  TURNOUT_INFO_STDERR(t);
  auto started = Clock::now();

  REQUIRE(wait_until([&] { return server_up(t, "a", sick.addr()) == std::optional<bool>(false); }, Ms(3000)));
  long down_after = ms_since(started);
  INFO("marked down " << down_after << " ms after start");
  CHECK(down_after < 1000);
  CHECK(server_up(t, "a", well.addr()) == std::optional<bool>(true));
  std::string row = ctl_apps_row(t, "a");
  INFO("ctl apps: " << row);
  CHECK(row.find("1 up, 1 down") != std::string::npos);
  // The checks carry the route's host and the configured path.
  auto checks = sick.backend->requests();
  REQUIRE(!checks.empty());
  CHECK(checks[0].target == "/healthz");
  CHECK(checks[0].header("Host") == std::optional<std::string>("act.test"));

  // No traffic while down.
  size_t sick_before = sick.traffic();
  for (int i = 0; i < 20; ++i) {
    CAPTURE(i);
    auto r = http_get(t.port(), "act.test", "/t/" + std::to_string(i));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("X-Backend") == std::optional<std::string>("well"));
  }
  CHECK(sick.traffic() == sick_before);

  // Healthy again: up after `rise` good checks, and it gets its share.
  sick.health->store(200);
  auto healed = Clock::now();
  REQUIRE(wait_until([&] { return server_up(t, "a", sick.addr()) == std::optional<bool>(true); }, Ms(3000)));
  INFO("up again " << ms_since(healed) << " ms after the check passed");
  CHECK(ms_since(healed) < 1500);
  row = ctl_apps_row(t, "a");
  CHECK(row.find("2 up") != std::string::npos);
  Client cl(t.port());
  for (int i = 0; i < 20; ++i) {
    auto r = cl.get("act.test", "/u/" + std::to_string(i));
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(sick.traffic() >= sick_before + 5);
}

TEST_CASE("active checks run once per process, not once per worker") {
  Checked h("h", 200);
  TurnoutProcess t;
  t.start("workers: 4\n"
          "apps:\n"
          "  a: {servers: " + yaml_list({h.addr()}) + ", " + kHealth + "}\n"
          "routes:\n"
          "  once.test: [a]\n");
  TURNOUT_INFO_STDERR(t);

  std::this_thread::sleep_for(Ms(300));
  size_t c0 = h.checks();
  std::this_thread::sleep_for(Ms(1000));
  size_t n = h.checks() - c0;
  INFO(n << " health checks in 1 s at interval 100 ms with 4 workers");
  CHECK(n >= 5);
  CHECK(n <= 15);  // once per worker would be ~40
}

TEST_CASE("a host whose servers are all down answers 503, by active and by passive health") {
  Checked sick("sick", 500);
  const std::string dead = local_addr(unused_port());
  TurnoutProcess t;
  t.start("workers: 1\n"
          "apps:\n"
          "  checked: {servers: " + yaml_list({sick.addr()}) + ", " + kHealth + "}\n"
          "  refusing: {servers: " + yaml_list({dead}) + "}\n"
          "routes:\n"
          "  checked.test: [checked]\n"
          "  refusing.test: [refusing]\n");
  TURNOUT_INFO_STDERR(t);

  SUBCASE("active") {
    REQUIRE(wait_until([&] { return server_up(t, "checked", sick.addr()) == std::optional<bool>(false); }, Ms(3000)));
    auto r = http_get(t.port(), "checked.test", "/");
    REQUIRE(r);
    CHECK(r->status == 503);
    CHECK(!r->header("X-Backend"));
    CHECK(r->body.size() < 512);
    CHECK(sick.traffic() == 0);
    CHECK(ctl_apps_row(t, "checked").find("0 up, 1 down") != std::string::npos);

    sick.health->store(200);
    REQUIRE(wait_until([&] { return server_up(t, "checked", sick.addr()) == std::optional<bool>(true); }, Ms(3000)));
    r = http_get(t.port(), "checked.test", "/");
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  SUBCASE("passive") {
    // Connect failures answer 502 until the server is marked down, then 503 without trying.
    std::vector<int> statuses;
    for (int i = 0; i < 6; ++i) {
      auto r = http_get(t.port(), "refusing.test", "/");
      REQUIRE(r);
      statuses.push_back(r->status);
    }
    std::string seen;
    for (int s : statuses) seen += std::to_string(s) + " ";
    INFO("statuses: " << seen);
    CHECK(statuses == std::vector<int>{502, 502, 502, 503, 503, 503});
  }
}
