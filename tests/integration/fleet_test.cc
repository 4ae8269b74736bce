// Fleet mode end to end (DESIGN.md "Fleet"): real turnout instances sharing one table through a
// real etcd (tests/unit/fleet/etcd_fixture.h, which also gives the test its own etcd client to
// look at the keys and to write as a foreign writer would). Seeding and adoption, a change made on
// one instance routing on the others at the same version, If-Match across instances, etcd hung or
// restarted, writes that are not turnout changes, a compaction while an instance is behind, and a
// reload that leaves the shared table alone. Every wait is a poll with a deadline.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fleet/etcd_fixture.h"
#include "integration/harness.h"
#include "integration/remap_util.h"
#include "integration/tls_pki.h"

using namespace turnout;
using namespace turnout::test;
using namespace turnout::test::remap;

namespace {

// A change is seen by every instance "within about a second"; the bound leaves room for a
// loaded machine and the sanitizer builds.
constexpr Ms kConverge{kSanitizedBuild ? 8000 : 4000};
// How long an instance may take to notice a hung (SIGSTOPped) etcd, and to come back after it.
constexpr Ms kNotice{20000};

// The table_source block of one instance (no prefix line: the default "/turnout/").
std::string table_source(const EtcdServer& etcd, const std::string& instance, const std::string& prefix = "") {
  return "table_source:\n"
         "  etcd:\n"
         "    endpoints: [\"" + etcd.endpoint() + "\"]\n" +
         (prefix.empty() ? "" : "    prefix: " + prefix + "\n") +
         "    instance: " + instance + "\n";
}

// A whole fleet-mode config for `t` (its own admin socket), rewritable for a reload.
std::string fleet_config(const TurnoutProcess& t, const EtcdServer& etcd, const std::string& instance,
                         const std::string& apps, const std::string& routes, const std::string& extra = "") {
  return full_config(t.admin_socket(), apps, routes, table_source(etcd, instance) + extra);
}

std::string app_line(const std::string& name, const Backend& b) {
  return "  " + name + ": {servers: " + yaml_list({b.addr()}) + "}\n";
}

// GET /v1/status, or a discarded json.
json status_of(const TurnoutProcess& t) {
  AdminReply r = t.admin("GET", "/v1/status");
  return r.status == 200 && r.json.is_object() ? r.json : json(json::value_t::discarded);
}

// "etcd", "disconnected", or "" when the status does not say.
std::string source_of(const TurnoutProcess& t) {
  json s = status_of(t);
  return s.is_object() && s.contains("table_source") && s["table_source"].is_string() ? s["table_source"].get<std::string>()
                                                                                     : "";
}

// The fleet version an instance has applied, as /v1/status says; -1 when it does not answer.
int64_t status_version(const TurnoutProcess& t) {
  json s = status_of(t);
  return s.is_object() && s.contains("version") && s["version"].is_number_integer() ? s["version"].get<int64_t>() : -1;
}

// The value of an unlabelled metric in GET /metrics, nullopt when absent.
std::optional<double> metric(const TurnoutProcess& t, const std::string& name) {
  AdminReply r = t.admin("GET", "/metrics");
  if (r.status != 200) return std::nullopt;
  size_t pos = 0;
  while (pos < r.body.size()) {
    size_t end = r.body.find('\n', pos);
    if (end == std::string::npos) end = r.body.size();
    std::string line = r.body.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return std::nullopt;
}

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

// Everything a user can read of the table on one instance.
struct View {
  int64_t version = -1;          // GET /v1/status "version"
  json table;                    // table_part(GET /v1/routes)
  std::optional<AppServers> apps;  // GET /v1/apps reduced
  bool operator==(const View& o) const { return version == o.version && table == o.table && apps == o.apps; }
};
View view_of(const TurnoutProcess& t) {
  return View{status_version(t), table_part(get_routes(t.admin_socket())), get_app_servers(t.admin_socket())};
}
std::string show(const View& v) {
  std::string apps;
  if (v.apps)
    for (const auto& [app, servers] : *v.apps) apps += app + "(" + std::to_string(servers.size()) + ") ";
  return "version " + std::to_string(v.version) + " " + v.table.dump() + " apps " + apps;
}

// Waits until every instance shows version `version` and the same table; returns how long it
// took, or nullopt (with the views in the test's log) when it did not happen within kConverge.
std::optional<Ms> converge(const std::vector<const TurnoutProcess*>& fleet, int64_t version) {
  auto t0 = Clock::now();
  bool ok = wait_until(
      [&] {
        View first = view_of(*fleet[0]);
        if (first.version != version) return false;
        for (size_t i = 1; i < fleet.size(); ++i)
          if (!(view_of(*fleet[i]) == first)) return false;
        return true;
      },
      kConverge);
  if (!ok) {
    for (const TurnoutProcess* t : fleet) MESSAGE("instance view: " << show(view_of(*t)));
    return std::nullopt;
  }
  return std::chrono::duration_cast<Ms>(Clock::now() - t0);
}

// Who answers `n` GETs for `host` through `t`, tallied.
std::map<std::string, int> tally(const TurnoutProcess& t, const std::string& host, int n) {
  std::map<std::string, int> seen;
  Client cl(t.port());
  for (int i = 0; i < n; ++i) seen[who(cl.get(host, "/f/" + std::to_string(i)))]++;
  return seen;
}

std::string show(const std::map<std::string, int>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += k + "=" + std::to_string(v) + " ";
  return s;
}

Headers if_match(int64_t v) { return {{"If-Match", std::to_string(v)}}; }

// The single value at `key` in etcd, nullopt when absent.
std::optional<std::string> etcd_value(EtcdFixture& f, const std::string& key) {
  auto r = f.get(key);
  REQUIRE_MESSAGE(r.ok(), "etcd read of " << key << " failed");
  if (r.value.kvs.empty()) return std::nullopt;
  return r.value.kvs.front().value;
}

json etcd_json(EtcdFixture& f, const std::string& key) {
  auto v = etcd_value(f, key);
  return v ? json::parse(*v, nullptr, false) : json(json::value_t::discarded);
}

// A change written straight to etcd as turnout writes one: `ops` plus `<prefix>version` moved
// from its current value to the next, in one transaction guarded on the version key's revision.
// Returns the store revision of the transaction.
int64_t foreign_change(EtcdFixture& f, const std::string& prefix, std::vector<TxnOp> ops, const std::string& summary) {
  auto cur = f.get(prefix + "version");
  REQUIRE_MESSAGE(cur.ok(), cur.status.message);
  REQUIRE(cur.value.kvs.size() == 1);
  json v = json::parse(cur.value.kvs.front().value, nullptr, false);
  REQUIRE(v.is_object());
  v["version"] = v["version"].get<int64_t>() + 1;
  v["summary"] = summary;
  TxnRequest t;
  t.compare.push_back(Compare::mod_revision(prefix + "version", Compare::Op::Equal, cur.value.kvs.front().mod_revision));
  t.success = std::move(ops);
  t.success.push_back(TxnOp::put(prefix + "version", v.dump()));
  auto r = f.txn(t);
  REQUIRE(r.ok());
  REQUIRE(r.value.succeeded);
  return r.value.revision;
}

// Sends SIGCONT to a turnout the test SIGSTOPped, also when an assertion leaves the test early
// (a stopped turnout cannot end on SIGTERM).
class ResumeGuard {
 public:
  // Returns once the kernel shows the process stopped (kill() returns before every thread has).
  explicit ResumeGuard(const TurnoutProcess& t) : t_(t) {
    t_.signal(SIGSTOP);
    const std::string path = "/proc/" + std::to_string(t_.pid()) + "/stat";
    wait_until([&] {
      std::string stat = read_file(path);
      size_t paren = stat.rfind(')');
      return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'T';
    }, Ms(2000));
  }
  ~ResumeGuard() { resume(); }
  ResumeGuard(const ResumeGuard&) = delete;
  ResumeGuard& operator=(const ResumeGuard&) = delete;
  void resume() {
    if (stopped_) t_.signal(SIGCONT);
    stopped_ = false;
  }

 private:
  const TurnoutProcess& t_;  // the stopped instance
  bool stopped_ = true;      // SIGCONT not sent yet
};

// Two instances on one etcd, edge-a and edge-b, with the same file: apps blue and green,
// example.com -> blue.
struct TwoInstances {
  EtcdFixture f;
  Backend blue{"blue"}, green{"green"};
  TurnoutProcess a, b;
  std::string apps = app_line("blue", blue) + app_line("green", green);
  std::string routes = "  example.com: [blue]\n";

  TwoInstances() {
    a.start(fleet_config(a, f.etcd, "edge-a", apps, routes));
    b.start(fleet_config(b, f.etcd, "edge-b", apps, routes));
    // Ready is not yet connected: an instance takes changes once its status says "etcd".
    for (const TurnoutProcess* t : {&a, &b})
      REQUIRE_MESSAGE(wait_until([&] { return source_of(*t) == "etcd"; }, kNotice), t->stderr_tail());
  }
  std::vector<const TurnoutProcess*> fleet() const { return {&a, &b}; }
};

}  // namespace

TEST_CASE("the first instance seeds an empty prefix from its file; a later one with another file adopts etcd's table") {
  EtcdFixture f;
  Backend blue("blue"), green("green"), red("red");
  TurnoutProcess a, b;
  a.start(fleet_config(a, f.etcd, "edge-1", app_line("blue", blue) + app_line("green", green),
                       "  example.com: [blue]\n", "default_app: green\n"));
  TURNOUT_INFO_STDERR(a);
  // Ready is not yet seeded: the prefix holds the table once a's status says "etcd".
  REQUIRE_MESSAGE(wait_until([&] { return source_of(a) == "etcd"; }, kNotice), a.stderr_tail());
  int64_t v = table_version(a.admin_socket());
  REQUIRE(v >= 0);

  // The default prefix holds the file's table, one key per object, as the admin API writes it.
  json version_key = etcd_json(f, "/turnout/version");
  REQUIRE(version_key.is_object());
  CHECK(version_key.value("version", int64_t{-1}) == v);
  CHECK(etcd_json(f, "/turnout/routes/example.com") == json({{"blue", 1}}));
  CHECK(etcd_json(f, "/turnout/default_app") == json("green"));
  json blue_key = etcd_json(f, "/turnout/apps/blue");
  REQUIRE(blue_key.is_object());
  REQUIRE(blue_key["servers"].is_array());
  REQUIRE(blue_key["servers"].size() == 1);
  CHECK(blue_key["servers"][0]["addr"] == blue.addr());
  CHECK(blue_key["servers"][0]["weight"] == 1);
  CHECK(etcd_json(f, "/turnout/apps/green").is_object());
  auto routes = f.get_prefix("/turnout/routes/");
  REQUIRE(routes.ok());
  CHECK(routes.value.kvs.size() == 1);

  // b's file names another app and route: etcd wins, b serves a's table.
  b.start(fleet_config(b, f.etcd, "edge-2", app_line("red", red), "  other.com: [red]\n", "default_app: red\n"));
  TURNOUT_INFO_STDERR(b);
  REQUIRE_MESSAGE(wait_until([&] { return source_of(b) == "etcd"; }, kNotice), b.stderr_tail());
  auto took = converge({&a, &b}, v);
  REQUIRE(took);
  CHECK(view_of(b).apps == get_app_servers(a.admin_socket()));
  CHECK_FALSE(get_app_servers(b.admin_socket())->contains("red"));
  CHECK(who(http_get(b.port(), "example.com", "/")) == "blue");
  CHECK(who(http_get(b.port(), "other.com", "/")) == "green");  // etcd's default_app, not b's red
  CHECK(red.request_count() == 0);
  CHECK_FALSE(etcd_value(f, "/turnout/apps/red"));
  CHECK_FALSE(etcd_value(f, "/turnout/routes/other.com"));
  CHECK(etcd_json(f, "/turnout/version").value("version", int64_t{-1}) == v);  // not seeded twice

  for (const TurnoutProcess* t : {&a, &b}) {
    CHECK(wait_until([&] { return source_of(*t) == "etcd"; }, kNotice));
    CHECK(metric(*t, "turnout_table_source_connected") == 1.0);
  }

  // a restarted with its file still adopts etcd's table (a change made meanwhile survives).
  AdminReply r = b.admin("PUT", "/v1/routes/example.com/green", body({{"weight", 1}}));
  REQUIRE(r.status == 200);
  int64_t v1 = answered_version(r);
  CHECK(v1 == v + 1);
  REQUIRE(converge({&a, &b}, v1));
  a.stop();
  TurnoutProcess a2;
  a2.start(fleet_config(a2, f.etcd, "edge-1", app_line("blue", blue) + app_line("green", green),
                        "  example.com: [blue]\n", "default_app: green\n"));
  REQUIRE_MESSAGE(wait_until([&] { return source_of(a2) == "etcd"; }, kNotice), a2.stderr_tail());
  CHECK(converge({&a2, &b}, v1));
  CHECK(apps_of(get_routes(a2.admin_socket()), "example.com") == std::set<std::string>{"blue", "green"});
}

TEST_CASE("every change made on one instance routes on the others, at the version it answered") {
  TwoInstances fl;
  TURNOUT_INFO_STDERR(fl.a);
  TURNOUT_INFO_STDERR(fl.b);
  Backend gray("gray");
  int64_t v0 = table_version(fl.a.admin_socket());
  REQUIRE(fl.f.get("/turnout/version").ok());
  REQUIRE(converge(fl.fleet(), v0));

  struct Step {
    const char* what;
    TurnoutProcess* on;
    std::string method, path, body;
  };
  std::vector<Step> steps = {
      {"map", &fl.a, "PUT", "/v1/routes/example.com/green", body({{"weight", 1}})},
      {"unmap", &fl.b, "DELETE", "/v1/routes/example.com/blue", ""},
      {"batch swap", &fl.a, "POST", "/v1/batch",
       body(json::array({{{"op", "swap"}, {"from", "green"}, {"to", "blue"}, {"host", "example.com"}},
                         {{"op", "map"}, {"app", "green"}, {"host", "www.example.com"}}}))},
      {"app create", &fl.b, "PUT", "/v1/apps/gray", body({{"servers", {gray.addr()}}})},
      {"add server", &fl.a, "POST", "/v1/apps/gray/servers", body({{"addr", fl.green.addr()}, {"weight", 1}})},
      {"map gray", &fl.b, "PUT", "/v1/routes/gray.example.com/gray", body({{"weight", 1}})},
  };
  int64_t expect = v0;
  Ms slowest{0};
  std::map<int64_t, View> seen;  // version -> the table then, for the rollback below
  seen[v0] = view_of(fl.a);
  for (const Step& s : steps) {
    CAPTURE(s.what);
    AdminReply r = s.on->admin(s.method, s.path, s.body);
    CHECK_MESSAGE(r.status == 200, r.body);
    CHECK(answered_version(r) == ++expect);
    auto took = converge(fl.fleet(), expect);
    REQUIRE(took);
    slowest = std::max(slowest, *took);
    seen[expect] = view_of(fl.a);
  }
  MESSAGE("slowest convergence after a change: " << slowest.count() << " ms");

  // Proxied traffic agrees on both instances.
  for (const TurnoutProcess* t : {&fl.a, &fl.b}) {
    CHECK(tally(*t, "example.com", 4) == std::map<std::string, int>{{"blue", 4}});
    CHECK(tally(*t, "www.example.com", 4) == std::map<std::string, int>{{"green", 4}});
    auto g = tally(*t, "gray.example.com", 8);
    CHECK_MESSAGE(g == (std::map<std::string, int>{{"gray", 4}, {"green", 4}}), show(g));
  }

  // A rollback on b to a version a made: a new version, the old table, on both.
  int64_t target = v0 + 1;  // after the map: example.com -> blue + green
  AdminReply r = fl.b.admin("POST", "/v1/rollback", body({{"version", target}}));
  CHECK_MESSAGE(r.status == 200, r.body);
  CHECK(answered_version(r) == ++expect);
  REQUIRE(converge(fl.fleet(), expect));
  CHECK(view_of(fl.a).table == seen[target].table);
  CHECK(view_of(fl.a).apps == seen[target].apps);
  auto mixed = tally(fl.b, "example.com", 8);
  CHECK_MESSAGE(mixed == (std::map<std::string, int>{{"blue", 4}, {"green", 4}}), show(mixed));

  // turnout ctl against b, seen on a.
  CtlRun run = run_ctl(fl.b.admin_socket(), {"swap", "green", "blue", "example.com"});
  CHECK_MESSAGE(run.code == 0, run.err);
  REQUIRE(converge(fl.fleet(), ++expect));
  CHECK(tally(fl.a, "example.com", 4) == std::map<std::string, int>{{"blue", 4}});

  // etcd's version key says the same version.
  CHECK(etcd_json(fl.f, "/turnout/version").value("version", int64_t{-1}) == expect);
}

TEST_CASE("?wait=fleet answers once every live instance applied the change, else 504 naming who lags; GET /v1/fleet") {
  TwoInstances fl;
  TURNOUT_INFO_STDERR(fl.a);
  TURNOUT_INFO_STDERR(fl.b);
  int64_t v = table_version(fl.a.admin_socket());
  REQUIRE(converge(fl.fleet(), v));

  // Answered with wait=fleet: the other instance is already there, no polling needed.
  for (int i = 0; i < 6; ++i) {
    CAPTURE(i);
    TurnoutProcess& on = i % 2 ? fl.b : fl.a;
    TurnoutProcess& other = i % 2 ? fl.a : fl.b;
    std::string host = "w" + std::to_string(i) + ".example.com";
    AdminReply r = on.admin("PUT", "/v1/routes/" + host + "/green?wait=fleet", body({{"weight", 1}}));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(answered_version(r) == ++v);
    CHECK(status_version(other) == v);
    CHECK(who(http_get(other.port(), host, "/")) == "green");
  }
  // ctl --fleet is the same request.
  CtlRun run = run_ctl(fl.b.admin_socket(), {"map", "green", "ctl.example.com", "--fleet"});
  CHECK_MESSAGE(run.code == 0, run.out << run.err);
  CHECK(status_version(fl.a) == ++v);

  AdminReply r = fl.a.admin("GET", "/v1/fleet");
  REQUIRE(r.status == 200);
  CHECK(r.json.value("version", int64_t{-1}) == v);
  REQUIRE(r.json.contains("instances"));
  for (const char* name : {"edge-a", "edge-b"}) {
    CAPTURE(name);
    REQUIRE(r.json["instances"].contains(name));
    CHECK(r.json["instances"][name].value("version", int64_t{-1}) == v);
    CHECK(r.json["instances"][name].value("addr", std::string()) != "");
  }

  // edge-b hung (its lease still live): the change is made, the wait times out naming edge-b.
  ResumeGuard hung(fl.b);
  r = fl.a.admin("PUT", "/v1/routes/late.example.com/green?wait=fleet&timeout=1", body({{"weight", 1}}));
  hung.resume();
  CHECK(r.status == 504);
  CHECK(r.json.value("version", int64_t{-1}) == ++v);
  std::string error = r.json.value("error", std::string());
  CHECK_MESSAGE(error.find("edge-b") != std::string::npos, error);
  CHECK_MESSAGE(error.find("edge-a") == std::string::npos, error);
  CHECK(who(http_get(fl.a.port(), "late.example.com", "/")) == "green");
  CHECK(converge(fl.fleet(), v));

  // An instance that shuts down leaves the fleet at once (its record's lease is revoked), well
  // before the 10 s lease would run out: a fleet wait no longer counts it. b has just been
  // resumed with etcd writes queued (its record for v); its requests to etcd go one at a time, so
  // the test lets those settle first: a revoke queued behind them when the process exits is
  // lost, and then the record stays until its lease runs out.
  CHECK(wait_until([&] {
    AdminReply f = fl.a.admin("GET", "/v1/fleet");
    return f.status == 200 && f.json.contains("instances") && f.json["instances"].contains("edge-b") &&
           f.json["instances"]["edge-b"].value("version", int64_t{-1}) == v;
  }, kConverge));
  fl.b.stop();
  auto t0 = std::chrono::steady_clock::now();
  CHECK(wait_until([&] {
    AdminReply f = fl.a.admin("GET", "/v1/fleet");
    return f.status == 200 && f.json.contains("instances") && !f.json["instances"].contains("edge-b");
  }, std::chrono::milliseconds(3000)));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
  r = fl.a.admin("PUT", "/v1/routes/after.example.com/green?wait=fleet&timeout=2", body({{"weight", 1}}));
  CHECK_MESSAGE(r.status == 200, r.body);
}

TEST_CASE("If-Match is fleet-wide: a stale version is 409 on any instance, and of two racing changes one wins") {
  TwoInstances fl;
  TURNOUT_INFO_STDERR(fl.a);
  TURNOUT_INFO_STDERR(fl.b);
  int64_t v = table_version(fl.a.admin_socket());
  REQUIRE(converge(fl.fleet(), v));

  // a moves the version; b, asked at once (before or after it applied a's change), refuses.
  AdminReply r = admin_request(fl.a.admin_socket(), "PUT", "/v1/routes/one.example.com/green", body({{"weight", 1}}),
                               if_match(v));
  REQUIRE(r.status == 200);
  CHECK(answered_version(r) == v + 1);
  r = admin_request(fl.b.admin_socket(), "PUT", "/v1/routes/two.example.com/green", body({{"weight", 1}}), if_match(v));
  CHECK(r.status == 409);
  REQUIRE(converge(fl.fleet(), v + 1));
  CHECK(apps_of(get_routes(fl.b.admin_socket()), "two.example.com").empty());
  ++v;

  // Both instances asked for a change at the same version at the same moment: exactly one wins.
  int wins_a = 0, wins_b = 0;
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    std::string host_a = "a" + std::to_string(round) + ".example.com";
    std::string host_b = "b" + std::to_string(round) + ".example.com";
    AdminReply ra, rb;
    std::thread ta([&] {
      ra = admin_request(fl.a.admin_socket(), "PUT", "/v1/routes/" + host_a + "/green", body({{"weight", 1}}),
                         if_match(v));
    });
    JoinGuard ga(ta);
    rb = admin_request(fl.b.admin_socket(), "PUT", "/v1/routes/" + host_b + "/blue", body({{"weight", 1}}), if_match(v));
    ta.join();
    INFO("edge-a answered " << ra.status << " " << ra.body);
    INFO("edge-b answered " << rb.status << " " << rb.body);
    CHECK(((ra.status == 200 && rb.status == 409) || (ra.status == 409 && rb.status == 200)));
    REQUIRE(converge(fl.fleet(), v + 1));
    json routes = get_routes(fl.a.admin_socket());
    CHECK(apps_of(routes, host_a).empty() == (ra.status != 200));
    CHECK(apps_of(routes, host_b).empty() == (rb.status != 200));
    wins_a += ra.status == 200;
    wins_b += rb.status == 200;
    ++v;
  }
  MESSAGE("racing If-Match changes won: a " << wins_a << ", b " << wins_b);
}

TEST_CASE("etcd hung: instances keep proxying, refuse changes with 503 and say disconnected; then recover") {
  TwoInstances fl;
  TURNOUT_INFO_STDERR(fl.a);
  TURNOUT_INFO_STDERR(fl.b);
  AdminReply r = fl.a.admin("PUT", "/v1/routes/example.com/green", body({{"weight", 1}}));
  REQUIRE(r.status == 200);
  int64_t v = answered_version(r);
  REQUIRE(converge(fl.fleet(), v));
  json table_before = view_of(fl.a).table;

  fl.f.etcd.stop();
  auto t0 = Clock::now();
  // Proxying never waits for etcd.
  for (const TurnoutProcess* t : {&fl.a, &fl.b}) {
    auto seen = tally(*t, "example.com", 4);
    CHECK_MESSAGE(seen == (std::map<std::string, int>{{"blue", 2}, {"green", 2}}), show(seen));
  }
  for (const TurnoutProcess* t : {&fl.a, &fl.b}) {
    CHECK(wait_until([&] { return source_of(*t) == "disconnected"; }, kNotice));
    CHECK(metric(*t, "turnout_table_source_connected") == 0.0);
  }
  MESSAGE("hung etcd noticed after " << std::chrono::duration_cast<Ms>(Clock::now() - t0).count() << " ms");
  auto c0 = Clock::now();
  r = fl.b.admin("PUT", "/v1/routes/refused.example.com/green", body({{"weight", 1}}));
  CHECK(r.status == 503);
  CHECK(r.json.value("error", std::string()) != "");
  MESSAGE("a change while disconnected answered " << r.status << " after "
                                                 << std::chrono::duration_cast<Ms>(Clock::now() - c0).count() << " ms");
  for (const TurnoutProcess* t : {&fl.a, &fl.b}) {
    CHECK(view_of(*t).table == table_before);  // reads still answer, from the last table
    CHECK(who(http_get(t->port(), "example.com", "/")) != "no response");
  }

  fl.f.etcd.cont();
  auto r0 = Clock::now();
  for (const TurnoutProcess* t : {&fl.a, &fl.b}) {
    CHECK(wait_until([&] { return source_of(*t) == "etcd"; }, kNotice));
    CHECK(metric(*t, "turnout_table_source_connected") == 1.0);
  }
  MESSAGE("reconnected after SIGCONT in " << std::chrono::duration_cast<Ms>(Clock::now() - r0).count() << " ms");
  r = fl.b.admin("DELETE", "/v1/routes/example.com/blue");
  CHECK_MESSAGE(r.status == 200, r.body);
  CHECK(answered_version(r) == v + 1);  // the refused change never became a version
  REQUIRE(converge(fl.fleet(), v + 1));
  CHECK(apps_of(get_routes(fl.a.admin_socket()), "refused.example.com").empty());
  CHECK(tally(fl.a, "example.com", 4) == std::map<std::string, int>{{"green", 4}});
}

TEST_CASE("etcd restarted on the same port and data dir: instances reconnect and changes go on from its version") {
  TwoInstances fl;
  TURNOUT_INFO_STDERR(fl.a);
  TURNOUT_INFO_STDERR(fl.b);
  int64_t v = table_version(fl.a.admin_socket());
  REQUIRE(converge(fl.fleet(), v));

  fl.f.etcd.kill();
  for (const TurnoutProcess* t : {&fl.a, &fl.b}) {
    CHECK(wait_until([&] { return source_of(*t) == "disconnected"; }, kNotice));
    CHECK(metric(*t, "turnout_table_source_connected") == 0.0);
    CHECK(who(http_get(t->port(), "example.com", "/")) == "blue");
  }
  AdminReply r = fl.a.admin("PUT", "/v1/routes/example.com/green", body({{"weight", 1}}));
  CHECK(r.status == 503);

  fl.f.etcd.restart();
  auto r0 = Clock::now();
  for (const TurnoutProcess* t : {&fl.a, &fl.b}) CHECK(wait_until([&] { return source_of(*t) == "etcd"; }, kNotice));
  MESSAGE("reconnected after an etcd restart in " << std::chrono::duration_cast<Ms>(Clock::now() - r0).count()
                                                  << " ms");
  r = fl.a.admin("PUT", "/v1/routes/example.com/green", body({{"weight", 1}}));
  CHECK_MESSAGE(r.status == 200, r.body);
  CHECK(answered_version(r) == v + 1);
  REQUIRE(converge(fl.fleet(), v + 1));
  auto seen = tally(fl.b, "example.com", 4);
  CHECK_MESSAGE(seen == (std::map<std::string, int>{{"blue", 2}, {"green", 2}}), show(seen));
}

TEST_CASE("a write under the prefix that does not move the version is not a turnout change: ignored, with a warning") {
  TwoInstances fl;
  TURNOUT_INFO_STDERR(fl.a);
  TURNOUT_INFO_STDERR(fl.b);
  int64_t v = table_version(fl.a.admin_socket());
  REQUIRE(converge(fl.fleet(), v));
  json table_before = view_of(fl.a).table;

  REQUIRE(fl.f.put("/turnout/routes/example.com", R"({"green":1})").ok());
  REQUIRE(fl.f.put("/turnout/routes/stray.example.com", R"({"green":1})").ok());
  TxnRequest del;
  del.success.push_back(TxnOp::del("/turnout/apps/blue"));
  REQUIRE(fl.f.txn(del).ok());

  // A real change after them: once it is applied everywhere, so would the stray writes be.
  AdminReply r = fl.a.admin("PUT", "/v1/routes/other.example.com/green", body({{"weight", 1}}));
  REQUIRE(r.status == 200);
  REQUIRE(converge(fl.fleet(), v + 1));
  for (const TurnoutProcess* t : {&fl.a, &fl.b}) {
    json routes = get_routes(t->admin_socket());
    CHECK(apps_of(routes, "example.com") == std::set<std::string>{"blue"});
    CHECK(apps_of(routes, "stray.example.com").empty());
    CHECK(get_app_servers(t->admin_socket())->contains("blue"));
    CHECK(tally(*t, "example.com", 3) == std::map<std::string, int>{{"blue", 3}});
  }
  CHECK(wait_until([&] { return fl.a.stderr_text().find("routes/example.com") != std::string::npos; }, Ms(3000)));
  CHECK(wait_until([&] { return fl.b.stderr_text().find("routes/example.com") != std::string::npos; }, Ms(3000)));
}

TEST_CASE("an instance cut off while etcd moved on and compacted resynchronises and goes on") {
  TwoInstances fl;
  TURNOUT_INFO_STDERR(fl.a);
  TURNOUT_INFO_STDERR(fl.b);
  int64_t v = table_version(fl.a.admin_socket());
  REQUIRE(converge(fl.fleet(), v));

  // b hangs; etcd restarts under it (its watch connection is gone) and moves on without it.
  ResumeGuard hung(fl.b);
  fl.f.etcd.restart();
  fl.f.run_for(100);  // the test's own client notices its connection is gone
  REQUIRE(wait_until([&] { return source_of(fl.a) == "etcd"; }, kNotice));
  int64_t expect = v;
  for (const char* host : {"c1.example.com", "c2.example.com", "c3.example.com"}) {
    AdminReply r = fl.a.admin("PUT", std::string("/v1/routes/") + host + "/green", body({{"weight", 1}}));
    CHECK_MESSAGE(r.status == 200, r.body);
    CHECK(answered_version(r) == ++expect);
  }
  // A change another writer made the way turnout does (moving the version) is a change too.
  int64_t rev = foreign_change(fl.f, "/turnout/", {TxnOp::put("/turnout/routes/example.com", R"({"green":1})")},
                               "written by hand");
  ++expect;
  auto c = fl.f.compact(rev);
  REQUIRE(c.ok());
  hung.resume();

  auto t0 = Clock::now();
  // Resynchronising can take a reconnect backoff on top of the usual delay.
  CHECK(wait_until([&] { return status_version(fl.b) == expect; }, kNotice));
  MESSAGE("b caught up after the compaction in " << std::chrono::duration_cast<Ms>(Clock::now() - t0).count() << " ms");
  REQUIRE(converge(fl.fleet(), expect));
  for (const TurnoutProcess* t : {&fl.a, &fl.b}) {
    CHECK(tally(*t, "example.com", 3) == std::map<std::string, int>{{"green", 3}});
    CHECK(apps_of(get_routes(t->admin_socket()), "c3.example.com") == std::set<std::string>{"green"});
  }
  // And b's own changes work again.
  REQUIRE(wait_until([&] { return source_of(fl.b) == "etcd"; }, kNotice));
  AdminReply r = fl.b.admin("PUT", "/v1/routes/example.com/blue", body({{"weight", 1}}));
  CHECK_MESSAGE(r.status == 200, r.body);
  CHECK(converge(fl.fleet(), expect + 1));
}

TEST_CASE("ctl reload in fleet mode re-reads local settings and leaves the shared table alone") {
  TwoInstances fl;
  TURNOUT_INFO_STDERR(fl.a);
  TURNOUT_INFO_STDERR(fl.b);
  Backend red("red");
  AdminReply r = fl.b.admin("PUT", "/v1/routes/example.com/green", body({{"weight", 1}}));
  REQUIRE(r.status == 200);
  int64_t v = answered_version(r);
  REQUIRE(converge(fl.fleet(), v));
  View before = view_of(fl.a);
  json etcd_route = etcd_json(fl.f, "/turnout/routes/example.com");

  // a's file now has another table and a body limit.
  fl.a.dir().write("turnout.yaml", fleet_config(fl.a, fl.f.etcd, "edge-a", app_line("red", red), "  example.com: [red]\n",
                                                "limits: {max_body_bytes: 16}\n"));
  CtlRun run = run_ctl(fl.a.admin_socket(), {"reload"});
  CHECK_MESSAGE(run.code == 0, run.out << run.err);

  // The local setting applies on a only...
  std::string big(100, 'x');
  {
    Client cl(fl.a.port());
    REQUIRE(cl.send_request("POST", "/", "example.com", {}, big));
    auto resp = cl.read_response();
    REQUIRE(resp);
    CHECK(resp->status == 413);
  }
  {
    Client cl(fl.b.port());
    REQUIRE(cl.send_request("POST", "/", "example.com", {}, big));
    auto resp = cl.read_response();
    REQUIRE(resp);
    CHECK(resp->status == 200);
  }
  // ...and the table is untouched everywhere: same version, routes, apps, etcd keys.
  CHECK(view_of(fl.a) == before);
  CHECK(view_of(fl.b) == before);
  CHECK(etcd_json(fl.f, "/turnout/routes/example.com") == etcd_route);
  CHECK_FALSE(etcd_value(fl.f, "/turnout/apps/red"));
  CHECK(red.request_count() == 0);
  auto seen = tally(fl.a, "example.com", 4);
  CHECK_MESSAGE(seen == (std::map<std::string, int>{{"blue", 2}, {"green", 2}}), show(seen));

  // The fleet still takes changes through a.
  r = fl.a.admin("DELETE", "/v1/routes/example.com/green");
  CHECK(r.status == 200);
  CHECK(converge(fl.fleet(), v + 1));
}

TEST_CASE("an instance restarted while etcd is down serves its state file's table, then catches up when etcd returns") {
  EtcdFixture f;
  Backend blue("blue"), green("green");
  const std::string apps = app_line("blue", blue) + app_line("green", green);
  const std::string routes = "  example.com: [blue]\n";
  TurnoutProcess a;
  a.start(fleet_config(a, f.etcd, "edge-a", apps, routes));
  TURNOUT_INFO_STDERR(a);
  // b's config names its own admin socket and state file, so a restart reads the same file with
  // the same config (a changed config would set the state aside).
  TempDir sd;
  const std::string sock = sd.file("admin.sock");
  const std::string b_config = full_config(sock, apps, routes,
                                           table_source(f.etcd, "edge-b") + "state_file: \"" + sd.file("state.json") + "\"\n");
  auto b_status = [&] {
    AdminReply r = admin_request(sock, "GET", "/v1/status");
    return r.status == 200 && r.json.is_object() ? r.json : json(json::value_t::discarded);
  };
  auto b_source = [&] {
    json s = b_status();
    return s.is_object() ? s.value("table_source", std::string()) : std::string();
  };
  auto b_version = [&] {
    json s = b_status();
    return s.is_object() ? s.value("version", int64_t{-1}) : int64_t{-1};
  };
  REQUIRE_MESSAGE(wait_until([&] { return source_of(a) == "etcd"; }, kNotice), a.stderr_tail());

  int64_t v1 = 0;
  {
    TurnoutProcess b;
    b.start(b_config);
    TURNOUT_INFO_STDERR(b);
    REQUIRE_MESSAGE(wait_until([&] { return b_source() == "etcd"; }, kNotice), b.stderr_tail());
    AdminReply r = admin_request(sock, "PUT", "/v1/routes/example.com/green", body({{"weight", 1}}));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    v1 = answered_version(r);
    REQUIRE(wait_until([&] { return status_version(a) == v1; }, kConverge));
    b.stop();
  }
  // The fleet moves on without b, then etcd goes away.
  AdminReply r = a.admin("PUT", "/v1/routes/later.example.com/green", body({{"weight", 1}}));
  REQUIRE_MESSAGE(r.status == 200, r.body);
  const int64_t v2 = answered_version(r);
  REQUIRE(v2 == v1 + 1);
  f.etcd.kill();

  // b comes back with etcd down: it serves the table its state file holds (not its config's),
  // says disconnected, and refuses changes.
  TurnoutProcess b;
  b.start(b_config);
  TURNOUT_INFO_STDERR(b);
  CHECK(b_version() == v1);
  CHECK(apps_of(get_routes(sock), "example.com") == std::set<std::string>{"blue", "green"});
  auto seen = tally(b, "example.com", 4);
  CHECK_MESSAGE(seen == (std::map<std::string, int>{{"blue", 2}, {"green", 2}}), show(seen));
  CHECK(wait_until([&] { return b_source() == "disconnected"; }, kNotice));
  r = admin_request(sock, "PUT", "/v1/routes/refused.example.com/green", body({{"weight", 1}}));
  CHECK(r.status == 503);

  // etcd returns: b reads the fleet's table and serves the change it missed.
  f.etcd.restart();
  CHECK(wait_until([&] { return b_source() == "etcd"; }, kNotice));
  CHECK(wait_until([&] { return b_version() == v2; }, kNotice));
  CHECK(apps_of(get_routes(sock), "later.example.com") == std::set<std::string>{"green"});
  CHECK(who(http_get(b.port(), "later.example.com", "/")) == "green");
  CHECK(apps_of(get_routes(sock), "refused.example.com").empty());
}

TEST_CASE("over TLS to an etcd that asks for client certificates, instances share the table as over plain HTTP") {
  Pki pki;
  pki.issue("etcd", "etcd.test");  // a DNS name only: the endpoint 127.0.0.1 verifies by server_name
  pki.issue("turnout", "turnout");
  auto client_ctx = ClientTlsContext::create({.ca = pki.ca(), .cert = pki.crt("turnout"), .key = pki.key("turnout")});
  REQUIRE(client_ctx.ok());
  EtcdFixture f({}, EtcdTlsFiles{pki.crt("etcd"), pki.key("etcd"), pki.ca()}, *client_ctx, "etcd.test");
  REQUIRE(f.etcd.endpoint().rfind("https://", 0) == 0);
  Backend blue("blue"), green("green");
  const std::string apps = app_line("blue", blue) + app_line("green", green);
  const std::string routes = "  example.com: [blue]\n";
  const std::string tls = "    tls: {ca: " + pki.ca() + ", cert: " + pki.crt("turnout") + ", key: " + pki.key("turnout") +
                          ", server_name: etcd.test}\n";
  TurnoutProcess a, b, stranger;
  a.start(full_config(a.admin_socket(), apps, routes, table_source(f.etcd, "edge-a") + tls));
  b.start(full_config(b.admin_socket(), apps, routes, table_source(f.etcd, "edge-b") + tls));
  TURNOUT_INFO_STDERR(a);
  TURNOUT_INFO_STDERR(b);
  for (const TurnoutProcess* t : {&a, &b})
    REQUIRE_MESSAGE(wait_until([&] { return source_of(*t) == "etcd"; }, kNotice), t->stderr_tail());

  AdminReply r = a.admin("PUT", "/v1/routes/example.com/green?wait=fleet", body({{"weight", 1}}));
  REQUIRE_MESSAGE(r.status == 200, r.body);
  const int64_t v = answered_version(r);
  REQUIRE(converge({&a, &b}, v));
  CHECK(tally(b, "example.com", 4) == std::map<std::string, int>{{"blue", 2}, {"green", 2}});
  CHECK(etcd_json(f, "/turnout/routes/example.com") == json({{"blue", 1}, {"green", 1}}));

  // An instance that does not trust etcd's CA never connects, and its log says why.
  stranger.start(full_config(stranger.admin_socket(), apps, routes,
                             table_source(f.etcd, "edge-c") + "    tls: {server_name: etcd.test}\n"));
  TURNOUT_INFO_STDERR(stranger);
  CHECK(wait_until([&] { return stranger.stderr_text().find("certificate verify failed") != std::string::npos; }, kNotice));
  CHECK(source_of(stranger) == "disconnected");
  CHECK(stranger.admin("PUT", "/v1/routes/example.com/blue", body({{"weight", 3}})).status == 503);
}
