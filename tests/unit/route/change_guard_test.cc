// Guard rails (route/change_guard.h) and the reload diff (route/table_diff.h): which changes
// stop serving a host, and which runtime changes a reload would drop.
#include "turnout/route/change_guard.h"
#include "turnout/route/table_diff.h"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

using namespace turnout;

namespace {

Config guard_config() {
  Config config;
  config.apps["blue"] = AppSpec{{{"127.0.0.1:9001", 1}}, std::nullopt};
  config.apps["green"] = AppSpec{{{"127.0.0.1:9002", 1}, {"127.0.0.1:9003", 1}}, std::nullopt};
  config.apps["empty"] = AppSpec{{}, std::nullopt};
  config.routes["example.com"] = {{"blue", 1}};
  config.routes["both.example.com"] = {{"blue", 1}, {"green", 1}};
  config.routes["*.example.org"] = {{"green", 1}};
  return config;
}

RouteTablePtr table_of(const Config& c, uint64_t version = 1) {
  auto t = build_table(c, version);
  REQUIRE_MESSAGE(t.ok(), (t.ok() ? "" : t.error().message));
  return *t;
}

Change change(Change::Op op, std::string app, std::string host = "", std::string addr = "") {
  Change c;
  c.op = op;
  c.app = std::move(app);
  c.host = std::move(host);
  c.addr = std::move(addr);
  return c;
}

// The hosts the guard names for `changes` on the guard config, with `down` servers down.
std::set<std::string> refused(const std::vector<Change>& changes, std::set<std::string> down = {}) {
  RouteTablePtr before = table_of(guard_config());
  auto after = apply_changes(*before, changes, 2);
  REQUIRE_MESSAGE(after.ok(), (after.ok() ? "" : after.error().message));
  ServerUpFn up = [down](const std::string& addr) { return down.count(addr) == 0; };
  std::set<std::string> hosts;
  for (const GuardProblem& p : guard_changes(*before, **after, changes, up)) hosts.insert(p.host);
  return hosts;
}

}  // namespace

TEST_CASE("guard: unmapping a host's last app is caught; unmapping one of two is not") {
  CHECK(refused({change(Change::Op::Unmap, "blue", "example.com")}) == std::set<std::string>{"example.com"});
  CHECK(refused({change(Change::Op::Unmap, "green", "*.example.org")}) == std::set<std::string>{"*.example.org"});
  CHECK(refused({change(Change::Op::Unmap, "blue", "both.example.com")}).empty());
  // A swap (map the new app, unmap the old) keeps the host served.
  CHECK(refused({change(Change::Op::Map, "green", "example.com"), change(Change::Op::Unmap, "blue", "example.com")})
            .empty());
}

TEST_CASE("guard: routing a host only to apps with no server up is caught") {
  // Swap to an app with no servers.
  CHECK(refused({change(Change::Op::Map, "empty", "example.com"), change(Change::Op::Unmap, "blue", "example.com")}) ==
        std::set<std::string>{"example.com"});
  // Swap to an app whose servers are all down.
  CHECK(refused({change(Change::Op::Map, "green", "example.com"), change(Change::Op::Unmap, "blue", "example.com")},
                {"127.0.0.1:9002", "127.0.0.1:9003"}) == std::set<std::string>{"example.com"});
  // One of green's servers up is enough.
  CHECK(refused({change(Change::Op::Map, "green", "example.com"), change(Change::Op::Unmap, "blue", "example.com")},
                {"127.0.0.1:9002"})
            .empty());
  // A new host mapped only to an app with no servers.
  CHECK(refused({change(Change::Op::Map, "empty", "new.example.com")}) == std::set<std::string>{"new.example.com"});
  // A host already broken (blue down) is not the change's doing: re-weighting it passes.
  Change reweight = change(Change::Op::Map, "blue", "example.com");
  reweight.weight = 5;
  CHECK(refused({reweight}, {"127.0.0.1:9001"}).empty());
}

TEST_CASE("guard: removing an app's last server catches the hosts only it serves") {
  std::vector<Change> remove = {change(Change::Op::RemoveServer, "blue", "", "127.0.0.1:9001")};
  // example.com has only blue; both.example.com still has green.
  CHECK(refused(remove) == std::set<std::string>{"example.com"});
  // Replacing green with no servers breaks *.example.org only.
  Change put = change(Change::Op::PutApp, "green");
  CHECK(refused({put}) == std::set<std::string>{"*.example.org"});
  // Removing one of green's two servers is fine.
  CHECK(refused({change(Change::Op::RemoveServer, "green", "", "127.0.0.1:9002")}).empty());
  // An unmapped app may lose its servers.
  CHECK(refused({change(Change::Op::PutApp, "empty")}).empty());
}

TEST_CASE("guard message names each host, why, and how to force") {
  RouteTablePtr before = table_of(guard_config());
  std::vector<Change> c = {change(Change::Op::Unmap, "blue", "example.com")};
  auto after = apply_changes(*before, c, 2);
  REQUIRE(after.ok());
  std::string msg = guard_message(guard_changes(*before, **after, c, nullptr));
  CHECK(msg.find("example.com would have no app (it is routed to blue(1) now)") != std::string::npos);
  CHECK(msg.find("--force") != std::string::npos);
  CHECK(msg.find("?force=1") != std::string::npos);
  CHECK(msg.find("\"force\": true") != std::string::npos);
}

TEST_CASE("reload diff: runtime changes the file lacks are listed; file edits and kept changes are not") {
  Config file = guard_config();
  RouteTablePtr base = table_of(file);
  // At runtime: green canary on example.com, a new app and host, and *.example.org unmapped.
  Change canary = change(Change::Op::Map, "green", "example.com");
  canary.weight = 9;
  Change create = change(Change::Op::PutApp, "red");
  create.servers = {{"127.0.0.1:9009", 1}};
  std::vector<Change> runtime = {canary, create, change(Change::Op::Map, "red", "red.example.com"),
                                 change(Change::Op::Unmap, "green", "*.example.org")};
  auto live = apply_changes(*base, runtime, 5);
  REQUIRE(live.ok());

  SUBCASE("the same file drops them all") {
    std::vector<DroppedChange> d = dropped_by_reload(*base, **live, *table_of(file, 6));
    REQUIRE(d.size() == 4);
    CHECK(d[0].kind == "app");
    CHECK(d[0].key == "red");
    CHECK(d[0].file == "(none)");
    CHECK(d[1].key == "*.example.org");
    CHECK(d[1].live == "(none)");
    CHECK(d[1].file == "green(1)");
    CHECK(d[2].key == "example.com");
    CHECK(d[2].live == "blue(1), green(9)");
    CHECK(d[3].key == "red.example.com");
    std::string msg = reload_refusal_message(d);
    CHECK(msg.find("4 runtime changes") != std::string::npos);
    CHECK(msg.find("route example.com: live blue(1), green(9), file blue(1)") != std::string::npos);
    CHECK(msg.find("ctl export") != std::string::npos);
    CHECK(msg.find("--force") != std::string::npos);
  }
  SUBCASE("a file that took the changes in drops nothing; its own edits are not runtime changes") {
    Config edited = file;
    edited.routes["example.com"] = {{"blue", 1}, {"green", 9}};
    edited.apps["red"] = AppSpec{{{"127.0.0.1:9009", 1}}, std::nullopt};
    edited.routes["red.example.com"] = {{"red", 1}};
    edited.routes.erase("*.example.org");
    edited.routes["fresh.example.com"] = {{"blue", 1}};  // an edit of the file only
    CHECK(dropped_by_reload(*base, **live, *table_of(edited, 6)).empty());
  }
  SUBCASE("no runtime changes: nothing to drop, whatever the file now says") {
    Config edited = file;
    edited.routes.clear();
    CHECK(dropped_by_reload(*base, *base, *table_of(edited, 6)).empty());
  }
}

// ---------------------------------------------------------------- certificates

#include "tls/test_certs.h"

namespace {

CertificatePtr test_cert(const std::string& name, std::vector<std::string> dns) {
  auto p = turnout::test::make_cert({.dns = std::move(dns)});
  auto c = Certificate::from_pem(name, p.cert, p.key);
  REQUIRE(c.ok());
  return *c;
}

Config tls_guard_config() {
  Config c = guard_config();
  c.tls.certificates["main"] = test_cert("main", {"example.com"});
  c.tls.certificates["org"] = test_cert("org", {"*.example.org"});
  c.tls.certificates["spare"] = test_cert("spare", {"spare.test"});
  return c;
}

Change cert_change(Change::Op op, std::string name, CertificatePtr cert = nullptr) {
  Change c;
  c.op = op;
  c.name = std::move(name);
  c.certificate = std::move(cert);
  return c;
}

}  // namespace

TEST_CASE("certificates are part of the table: set, replace, delete, default kept") {
  Config c = tls_guard_config();
  c.tls.default_certificate = "spare";
  RouteTablePtr t = table_of(c);
  CHECK(t->certificates()->select("example.com").ecdsa->name() == "main");
  CertificatePtr next = test_cert("main", {"example.com", "www.example.com"});
  auto replaced = apply_changes(*t, std::vector<Change>{cert_change(Change::Op::CertSet, "main", next)}, 2);
  REQUIRE(replaced.ok());
  CHECK((*replaced)->certificates()->select("www.example.com").ecdsa == next.get());
  CHECK(t->certificates()->select("www.example.com").ecdsa->name() == "spare");  // the old version is untouched
  CHECK((*replaced)->certificates()->default_name() == "spare");

  auto unknown = apply_changes(*t, std::vector<Change>{cert_change(Change::Op::CertDelete, "nope")}, 2);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().kind == ErrorKind::NotFound);
  auto the_default = apply_changes(*t, std::vector<Change>{cert_change(Change::Op::CertDelete, "spare")}, 2);
  REQUIRE_FALSE(the_default.ok());
  CHECK(the_default.error().kind == ErrorKind::Conflict);
  auto bad_name = apply_changes(*t, std::vector<Change>{cert_change(Change::Op::CertSet, "a b", next)}, 2);
  REQUIRE_FALSE(bad_name.ok());
  CHECK(bad_name.error().kind == ErrorKind::Invalid);

  // Route changes share the certificate set.
  auto mapped = apply_changes(*t, std::vector<Change>{change(Change::Op::Map, "green", "example.com")}, 2);
  REQUIRE(mapped.ok());
  CHECK((*mapped)->certificates() == t->certificates());
}

TEST_CASE("guard: deleting the certificate a routed host is served with is caught") {
  RouteTablePtr before = table_of(tls_guard_config());
  ServerUpFn up = [](const std::string&) { return true; };
  auto hosts_refused = [&](std::vector<Change> changes) {
    auto after = apply_changes(*before, changes, 2);
    REQUIRE(after.ok());
    std::set<std::string> hosts;
    for (const GuardProblem& p : guard_changes(*before, **after, changes, up)) hosts.insert(p.host);
    return hosts;
  };
  CHECK(hosts_refused({cert_change(Change::Op::CertDelete, "main")}) == std::set<std::string>{"example.com"});
  CHECK(hosts_refused({cert_change(Change::Op::CertDelete, "org")}) == std::set<std::string>{"*.example.org"});
  CHECK(hosts_refused({cert_change(Change::Op::CertDelete, "spare")}).empty());  // serves no route
  // Replacing it with one that still covers the host is fine; with one that does not, caught.
  CHECK(hosts_refused({cert_change(Change::Op::CertSet, "main", test_cert("main", {"example.com"}))}).empty());
  CHECK(hosts_refused({cert_change(Change::Op::CertSet, "main", test_cert("main", {"other.test"}))}) ==
        std::set<std::string>{"example.com"});
}

TEST_CASE("reload: a certificate set at runtime that the file lacks is listed") {
  RouteTablePtr base = table_of(tls_guard_config());
  CertificatePtr runtime = test_cert("runtime", {"new.example.com"});
  auto live = apply_changes(*base, std::vector<Change>{cert_change(Change::Op::CertSet, "runtime", runtime)}, 2);
  REQUIRE(live.ok());
  auto dropped = dropped_by_reload(*base, **live, *base);
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].kind == "certificate");
  CHECK(dropped[0].key == "runtime");
  CHECK(dropped[0].live.find("new.example.com (SHA-256 ") == 0);
  CHECK(dropped[0].file == "(none)");
  CHECK(dropped_by_reload(*base, **live, **live).empty());  // the file has it now
}
