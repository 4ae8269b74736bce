#include "turnout/route/route_builder.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace turnout;

namespace {

Config base_config() {
  Config config;
  config.apps["example"] = AppSpec{{{"127.0.0.1:9001", 1}, {"127.0.0.1:9002", 1}}, HealthSpec{}};
  config.apps["example2"] = AppSpec{{{"127.0.0.1:9101", 3}}, std::nullopt};
  config.apps["spare"] = AppSpec{{}, std::nullopt};
  config.routes["example.com"] = {{"example", 1}};
  config.routes["www.example.com"] = {{"example", 1}};
  config.routes["*.example.org"] = {{"example2", 1}};
  return config;
}

RouteTablePtr base_table() {
  auto table = build_table(base_config(), 1);
  REQUIRE_MESSAGE(table.ok(), (table.ok() ? "" : table.error().message));
  return *table;
}

Change map(std::string app, std::string host, uint32_t weight = 1) {
  Change c;
  c.op = Change::Op::Map;
  c.app = std::move(app);
  c.host = std::move(host);
  c.weight = weight;
  return c;
}
Change unmap(std::string app, std::string host, bool if_present = false) {
  Change c = map(std::move(app), std::move(host));
  c.op = Change::Op::Unmap;
  c.if_present = if_present;
  return c;
}
Change app_op(Change::Op op, std::string app) {
  Change c;
  c.op = op;
  c.app = std::move(app);
  return c;
}
Change put_app(std::string app, std::vector<ServerSpec> servers) {
  Change c = app_op(Change::Op::PutApp, std::move(app));
  c.servers = std::move(servers);
  return c;
}
Change server_op(Change::Op op, std::string app, std::string addr, uint32_t weight = 1) {
  Change c = app_op(op, std::move(app));
  c.addr = std::move(addr);
  c.weight = weight;
  return c;
}

RouteTablePtr apply_ok(const RouteTable& base, std::vector<Change> changes, uint64_t version = 2) {
  auto next = apply_changes(base, changes, version);
  REQUIRE_MESSAGE(next.ok(), (next.ok() ? "" : next.error().message));
  CHECK((*next)->version() == version);
  return *next;
}

int apply_code(const RouteTable& base, std::vector<Change> changes) {
  auto next = apply_changes(base, changes, 2);
  if (next.ok()) return 200;
  CHECK(!next.error().message.empty());
  switch (next.error().kind) {  // the admin API's statuses, which these cases were written in
    case ErrorKind::Invalid: return 400;
    case ErrorKind::NotFound: return 404;
    case ErrorKind::Conflict: return 409;
    default: return 500;
  }
}

std::string apps_of(const RouteTable& table, std::string_view host) {
  const Route* route = table.lookup(host);
  if (route == nullptr) return "404";
  std::string out;
  for (const RouteEntry& e : route->apps) out += (out.empty() ? "" : ",") + e.app + ":" + std::to_string(e.weight);
  return out;
}

}  // namespace

TEST_CASE("op_name") {
  CHECK(std::string(op_name(Change::Op::Map)) == "map");
  CHECK(std::string(op_name(Change::Op::Unmap)) == "unmap");
  CHECK(std::string(op_name(Change::Op::PutApp)) == "put-app");
  CHECK(std::string(op_name(Change::Op::DeleteApp)) == "delete-app");
}

TEST_CASE("build_table rejects an invalid config on its own") {
  SUBCASE("route to an unknown app") {
    Config config = base_config();
    config.routes["x.com"] = {{"ghost", 1}};
    auto table = build_table(config, 1);
    REQUIRE_FALSE(table.ok());
    CHECK(table.error().message.find("ghost") != std::string::npos);
  }
  SUBCASE("bad address") {
    Config config = base_config();
    config.apps["bad"] = AppSpec{{{"127.0.0.1:99999", 1}}, std::nullopt};
    auto table = build_table(config, 1);
    REQUIRE_FALSE(table.ok());
    CHECK(table.error().message.find("bad") != std::string::npos);
  }
  SUBCASE("invalid host key") {
    Config config = base_config();
    config.routes["Bad Host"] = {{"example", 1}};
    CHECK_FALSE(build_table(config, 1).ok());
  }
  SUBCASE("route with no app, weight 0, duplicate app, duplicate server") {
    Config a = base_config();
    a.routes["x.com"] = {};
    CHECK_FALSE(build_table(a, 1).ok());
    Config b = base_config();
    b.routes["x.com"] = {{"example", 0}};
    CHECK_FALSE(build_table(b, 1).ok());
    Config c = base_config();
    c.routes["x.com"] = {{"example", 1}, {"example", 2}};
    CHECK_FALSE(build_table(c, 1).ok());
    Config d = base_config();
    d.apps["dup"] = AppSpec{{{"127.0.0.1:1", 1}, {"127.0.0.1:1", 1}}, std::nullopt};
    CHECK_FALSE(build_table(d, 1).ok());
    Config e = base_config();
    e.apps["zero"] = AppSpec{{{"127.0.0.1:1", 0}}, std::nullopt};
    CHECK_FALSE(build_table(e, 1).ok());
  }
  SUBCASE("unknown default_app") {
    Config config = base_config();
    config.default_app = "ghost";
    CHECK_FALSE(build_table(config, 1).ok());
  }
}

TEST_CASE("map adds an app beside the current one, and is idempotent") {
  auto base = base_table();
  auto next = apply_ok(*base, {map("example2", "example.com")});
  CHECK(apps_of(*next, "example.com") == "example:1,example2:1");
  CHECK(apps_of(*base, "example.com") == "example:1");
  CHECK(next->app_route_count("example2") == 2);

  // Mapping again changes nothing, not even the route object (its balancing cycle continues).
  auto again = apply_ok(*next, {map("example2", "example.com")}, 3);
  CHECK(again->lookup("example.com") == next->lookup("example.com"));
  CHECK(again->app_route_count("example2") == 2);

  // A new weight re-weights in place with a fresh route id.
  auto heavier = apply_ok(*next, {map("example2", "example.com", 9)}, 3);
  CHECK(apps_of(*heavier, "example.com") == "example:1,example2:9");
  CHECK(heavier->lookup("example.com")->id != next->lookup("example.com")->id);
  CHECK(heavier->app_route_count("example2") == 2);
}

TEST_CASE("map creates a route for a new host, including wildcards") {
  auto base = base_table();
  auto next = apply_ok(*base, {map("example2", "new.example.net"), map("example", "*.example.net")});
  CHECK(apps_of(*next, "new.example.net") == "example2:1");
  CHECK(apps_of(*next, "other.example.net") == "example:1");
  CHECK(apps_of(*base, "new.example.net") == "404");
  CHECK(next->route_count() == base->route_count() + 2);
}

TEST_CASE("blue-green: map, unmap, rollback by mapping back, and swap") {
  auto v1 = base_table();
  auto v2 = apply_ok(*v1, {map("example2", "example.com")}, 2);
  auto v3 = apply_ok(*v2, {unmap("example", "example.com")}, 3);
  CHECK(apps_of(*v3, "example.com") == "example2:1");
  auto v4 = apply_ok(*v3, {map("example", "example.com")}, 4);
  CHECK(apps_of(*v4, "example.com") == "example:1,example2:1");

  // swap FROM TO hosts... = map TO + unmap FROM (if present), one version.
  auto swapped = apply_ok(*v1, {map("example2", "example.com"), unmap("example", "example.com", true),
                                map("example2", "www.example.com"), unmap("example", "www.example.com", true),
                                map("example2", "fresh.example.com"), unmap("example", "fresh.example.com", true)});
  CHECK(apps_of(*swapped, "example.com") == "example2:1");
  CHECK(apps_of(*swapped, "www.example.com") == "example2:1");
  CHECK(apps_of(*swapped, "fresh.example.com") == "example2:1");
  CHECK(swapped->app_route_count("example") == 0);
  CHECK(swapped->app_route_count("example2") == 4);
}

TEST_CASE("unmapping the last app removes the route") {
  auto base = base_table();
  auto next = apply_ok(*base, {unmap("example", "example.com")});
  CHECK(next->find_route("example.com") == nullptr);
  CHECK(next->route_count() == base->route_count() - 1);
  CHECK(apps_of(*next, "example.com") == "404");
  CHECK(next->app_route_count("example") == 1);
}

TEST_CASE("error codes") {
  auto base = base_table();
  using Op = Change::Op;
  CHECK(apply_code(*base, {map("example", "Bad Host")}) == 400);
  CHECK(apply_code(*base, {map("example", "")}) == 400);
  CHECK(apply_code(*base, {map("example", "x.com", 0)}) == 400);
  CHECK(apply_code(*base, {map("ghost", "x.com")}) == 404);
  CHECK(apply_code(*base, {unmap("example2", "example.com")}) == 404);
  CHECK(apply_code(*base, {unmap("example", "nowhere.com")}) == 404);
  CHECK(apply_code(*base, {unmap("example", "nowhere.com", true)}) == 200);
  CHECK(apply_code(*base, {unmap("example", "bad host")}) == 400);
  CHECK(apply_code(*base, {app_op(Op::DeleteApp, "ghost")}) == 404);
  CHECK(apply_code(*base, {app_op(Op::DeleteApp, "example")}) == 409);
  CHECK(apply_code(*base, {app_op(Op::DeleteApp, "spare")}) == 200);
  CHECK(apply_code(*base, {server_op(Op::AddServer, "example", "127.0.0.1:9001")}) == 409);
  CHECK(apply_code(*base, {server_op(Op::AddServer, "example", "127.0.0.1:9003", 0)}) == 400);
  CHECK(apply_code(*base, {server_op(Op::AddServer, "example", "not an address")}) == 400);
  CHECK(apply_code(*base, {server_op(Op::AddServer, "ghost", "127.0.0.1:9003")}) == 404);
  CHECK(apply_code(*base, {server_op(Op::RemoveServer, "example", "127.0.0.1:9999")}) == 404);
  CHECK(apply_code(*base, {server_op(Op::RemoveServer, "ghost", "127.0.0.1:9001")}) == 404);
  CHECK(apply_code(*base, {put_app("new", {{"127.0.0.1:1", 0}})}) == 400);
  CHECK(apply_code(*base, {put_app("new", {{"bogus", 1}})}) == 400);
  CHECK(apply_code(*base, {put_app("", {})}) == 400);
  CHECK(apply_code(*base, {put_app("a/b", {})}) == 400);
  CHECK(apply_code(*base, {put_app("a b", {})}) == 400);
  CHECK(apply_code(*base, {put_app("App_1.v2-blue", {})}) == 200);
  CHECK(apply_code(*base, {app_op(Op::SetDefault, "ghost")}) == 404);
}

TEST_CASE("a failing batch changes nothing") {
  auto base = base_table();
  const Route* before = base->lookup("example.com");
  const App* app_before = base->find_app("example");
  auto failed = apply_changes(*base,
                              std::vector<Change>{map("example2", "example.com"), unmap("example", "www.example.com"),
                                                  put_app("new", {{"127.0.0.1:5000", 1}}),
                                                  server_op(Change::Op::RemoveServer, "example", "127.0.0.1:9001"),
                                                  map("ghost", "example.com")},
                              2);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().kind == ErrorKind::NotFound);
  CHECK(base->version() == 1);
  CHECK(base->lookup("example.com") == before);
  CHECK(apps_of(*base, "example.com") == "example:1");
  CHECK(apps_of(*base, "www.example.com") == "example:1");
  CHECK(base->find_app("new") == nullptr);
  CHECK(base->find_app("example") == app_before);
  CHECK(app_before->servers.size() == 2);
  CHECK(base->app_route_count("example") == 2);
  CHECK(base->app_route_count("example2") == 1);
}

TEST_CASE("apps: put, replace, add and remove servers, delete") {
  auto base = base_table();
  using Op = Change::Op;
  const App* old_app = base->find_app("example");

  auto added = apply_ok(*base, {server_op(Op::AddServer, "example", "127.0.0.1:9003", 4)});
  const App* app = added->find_app("example");
  REQUIRE(app->servers.size() == 3);
  CHECK(app->servers[2].addr == "127.0.0.1:9003");
  CHECK(app->servers[2].weight == 4);
  CHECK(app->id != old_app->id);  // a changed app is a new object: balancers restart its cycle
  CHECK(app->health.has_value());
  CHECK(added->app_route_count("example") == 2);
  CHECK(old_app->servers.size() == 2);

  auto removed = apply_ok(*added, {server_op(Op::RemoveServer, "example", "127.0.0.1:9001")}, 3);
  REQUIRE(removed->find_app("example")->servers.size() == 2);
  CHECK(removed->find_app("example")->servers[0].addr == "127.0.0.1:9002");

  // Replacing keeps the routes that map it and its health check.
  auto replaced = apply_ok(*base, {put_app("example", {{"127.0.0.1:7000", 2}})});
  CHECK(replaced->find_app("example")->servers.size() == 1);
  CHECK(replaced->find_app("example")->health.has_value());
  CHECK(replaced->app_route_count("example") == 2);
  CHECK(replaced->find_app("example")->id != old_app->id);

  auto created = apply_ok(*base, {put_app("brand-new", {}), map("brand-new", "new.example.com")});
  CHECK(created->find_app("brand-new")->servers.empty());
  CHECK(created->app_route_count("brand-new") == 1);
  CHECK(created->app_count() == base->app_count() + 1);

  // Delete needs every route gone first; in one batch that works.
  CHECK(apply_code(*base, {app_op(Op::DeleteApp, "example")}) == 409);
  auto deleted = apply_ok(*base, {unmap("example", "example.com"), unmap("example", "www.example.com"),
                                  app_op(Op::DeleteApp, "example")});
  CHECK(deleted->find_app("example") == nullptr);
  CHECK(base->find_app("example") != nullptr);
}

TEST_CASE("default app") {
  auto base = base_table();
  CHECK(apps_of(*base, "unknown.net") == "404");
  auto with_default = apply_ok(*base, {app_op(Change::Op::SetDefault, "spare")});
  CHECK(apps_of(*with_default, "unknown.net") == "spare:1");
  REQUIRE(with_default->default_app());
  CHECK(*with_default->default_app() == "spare");
  // The default counts as a use of the app: it cannot be deleted while it is the default.
  CHECK(with_default->app_route_count("spare") == 1);
  CHECK(apply_code(*with_default, {app_op(Change::Op::DeleteApp, "spare")}) == 409);

  auto cleared = apply_ok(*with_default, {app_op(Change::Op::SetDefault, "")}, 3);
  CHECK(apps_of(*cleared, "unknown.net") == "404");
  CHECK_FALSE(cleared->default_app());
  CHECK(cleared->app_route_count("spare") == 0);
  CHECK(apply_code(*cleared, {app_op(Change::Op::DeleteApp, "spare")}) == 200);

  Config config = base_config();
  config.default_app = "example2";
  auto from_config = build_table(config, 1);
  REQUIRE(from_config.ok());
  CHECK(apps_of(**from_config, "unknown.net") == "example2:1");
  CHECK((*from_config)->app_route_count("example2") == 2);
}

TEST_CASE("rollback: an old table made current again as a new version") {
  auto v1 = base_table();
  auto v2 = apply_ok(*v1, {unmap("example", "example.com")}, 2);
  auto v3 = v1->with_version(3);
  CHECK(v3->version() == 3);
  CHECK(apps_of(*v3, "example.com") == "example:1");
  CHECK(apps_of(*v2, "example.com") == "404");
  // Later changes build on the rolled-back content.
  auto v4 = apply_ok(*v3, {map("example2", "example.com")}, 4);
  CHECK(apps_of(*v4, "example.com") == "example:1,example2:1");
}

TEST_CASE("an app's tls: one client context per (ca, verify), kept by put-app and add-server, in the pool key") {
  Config config = base_config();
  config.apps["a"].servers = {{"127.0.0.1:9443", 1}};
  config.apps["a"].tls = UpstreamTlsSpec{"", "", false};
  config.apps["b"].servers = {{"127.0.0.1:9443", 1}};
  config.apps["b"].tls = UpstreamTlsSpec{"", "app.internal", false};
  config.apps["plain"].servers = {{"127.0.0.1:9443", 1}};
  auto built = build_table(config, 1);
  REQUIRE_MESSAGE(built.ok(), (built.ok() ? "" : built.error().message));
  RouteTablePtr t = *built;
  const App* a = t->find_app("a");
  const App* b = t->find_app("b");
  const App* plain = t->find_app("plain");
  REQUIRE(a->tls_context != nullptr);
  CHECK(a->tls_context == b->tls_context);  // same (ca, verify): one SSL_CTX
  CHECK(plain->tls_context == nullptr);
  CHECK(a->servers[0].tls_name == "127.0.0.1");  // no server_name: the server's host
  CHECK(b->servers[0].tls_name == "app.internal");
  // One server, three ways to reach it: pooled connections are never shared between them.
  CHECK(plain->servers[0].pool_key == "127.0.0.1:9443");
  CHECK(a->servers[0].pool_key != plain->servers[0].pool_key);
  CHECK(a->servers[0].pool_key != b->servers[0].pool_key);

  using Op = Change::Op;
  auto replaced = apply_ok(*t, {put_app("b", {{"127.0.0.1:9444", 1}})});
  const App* rb = replaced->find_app("b");
  REQUIRE(rb->tls.has_value());
  CHECK(rb->tls->server_name == "app.internal");
  CHECK(rb->tls_context == b->tls_context);
  CHECK(rb->servers[0].tls_name == "app.internal");
  auto added = apply_ok(*replaced, {server_op(Op::AddServer, "a", "[::1]:9445")}, 3);
  CHECK(added->find_app("a")->servers[1].tls_name == "::1");
  CHECK(added->find_app("a")->servers[1].pool_key.find("[::1]:9445 tls") == 0);

  // A ca that cannot be read fails the build, naming the app.
  Config bad = base_config();
  bad.apps["c"].servers = {{"127.0.0.1:9443", 1}};
  bad.apps["c"].tls = UpstreamTlsSpec{"/nonexistent/ca.pem", "", true};
  auto failed = build_table(bad, 1);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().message.find("app 'c': tls: ca /nonexistent/ca.pem") == 0);
}

TEST_CASE("set-route replaces a route's apps whole, keeps reference counts, and removes it when empty") {
  auto base = base_table();
  Change c;
  c.op = Change::Op::SetRoute;
  c.host = "example.com";
  c.targets = {{"example2", 9}, {"example", 1}};
  auto next = apply_changes(*base, std::vector<Change>{c}, 2);
  REQUIRE(next.ok());
  const Route* r = (*next)->find_route("example.com");
  REQUIRE(r != nullptr);
  REQUIRE(r->apps.size() == 2);
  CHECK(r->apps[0].app == "example");  // sorted by name
  CHECK(r->apps[1].weight == 9);
  CHECK((*next)->app_route_count("example2") == 2);

  // The same apps and weights: the route object (and its round-robin cycle) is kept.
  auto again = apply_changes(**next, std::vector<Change>{c}, 3);
  REQUIRE(again.ok());
  CHECK((*again)->find_route("example.com") == r);

  c.targets.clear();
  auto removed = apply_changes(**again, std::vector<Change>{c}, 4);
  REQUIRE(removed.ok());
  CHECK((*removed)->find_route("example.com") == nullptr);
  CHECK((*removed)->app_route_count("example") == 1);  // www.example.com still
  CHECK((*removed)->app_route_count("example2") == 1);

  Change bad = c;
  bad.targets = {{"nope", 1}};
  auto refused = apply_changes(*base, std::vector<Change>{bad}, 2);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == ErrorKind::NotFound);
}

TEST_CASE("set-app replaces an app whole, health check included") {
  auto base = base_table();
  REQUIRE(base->find_app("example")->health);
  Change c;
  c.op = Change::Op::SetApp;
  c.app = "example";
  c.servers = {{"127.0.0.1:9009", 2}};
  auto next = apply_changes(*base, std::vector<Change>{c}, 2);
  REQUIRE(next.ok());
  const App* app = (*next)->find_app("example");
  REQUIRE(app != nullptr);
  CHECK_FALSE(app->health);  // unlike put-app, which keeps it
  REQUIRE(app->servers.size() == 1);
  CHECK(app->servers[0].weight == 2);
  CHECK((*next)->app_route_count("example") == 2);  // routes still map it
  c.app = "fresh";
  auto created = apply_changes(*base, std::vector<Change>{c}, 2);
  REQUIRE(created.ok());
  CHECK((*created)->find_app("fresh") != nullptr);
}

TEST_CASE("rules: (app, when) is the entry; map re-weights it, unmap with when removes only it") {
  RouteTablePtr t = base_table();
  RouteWhen canary{RouteWhen::Kind::Header, "X-Canary", "1"};
  RouteWhen cookie{RouteWhen::Kind::Cookie, "canary", "always"};
  Change m1 = map("example2", "example.com");
  m1.when = canary;
  Change m2 = map("example2", "example.com", 2);
  m2.when = cookie;
  Change m3 = map("example2", "example.com");  // the same app without a rule: a third entry
  auto next = apply_changes(*t, std::vector<Change>{m1, m2, m3}, 2);
  REQUIRE(next.ok());
  const Route* r = (*next)->find_route("example.com");
  REQUIRE(r != nullptr);
  REQUIRE(r->apps.size() == 4);
  CHECK(r->has_rules);
  CHECK((*next)->app_route_count("example2") == 4);  // example2 three times here, once on *.example.org
  for (const RouteEntry& e : r->apps)
    if (e.when.kind == RouteWhen::Kind::Header) CHECK(e.when.name == "x-canary");  // stored lower-cased
  // Only the entries without a rule: example and example2.
  int plain = 0;
  for (size_t i = 0; i < r->apps.size(); ++i) plain += (r->plain_entries >> i) & 1;
  CHECK(plain == 2);

  // Re-weighting the header entry leaves the others alone; doing it twice keeps the route.
  Change reweight = m1;
  reweight.weight = 5;
  auto w = apply_changes(**next, std::vector<Change>{reweight}, 3);
  REQUIRE(w.ok());
  auto again = apply_changes(**w, std::vector<Change>{reweight}, 4);
  REQUIRE(again.ok());
  CHECK((*again)->find_route("example.com")->id == (*w)->find_route("example.com")->id);
  // Unmap with a rule: that entry only.
  Change u = unmap("example2", "example.com");
  u.when = cookie;
  auto one = apply_changes(**w, std::vector<Change>{u}, 5);
  REQUIRE(one.ok());
  CHECK((*one)->find_route("example.com")->apps.size() == 3);
  auto missing = apply_changes(**one, std::vector<Change>{u}, 6);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().kind == ErrorKind::NotFound);
  // Unmap without a rule: every entry of the app.
  auto gone = apply_changes(**one, std::vector<Change>{unmap("example2", "example.com")}, 7);
  REQUIRE(gone.ok());
  const Route* left = (*gone)->find_route("example.com");
  REQUIRE(left->apps.size() == 1);
  CHECK(left->apps[0].app == "example");
  CHECK_FALSE(left->has_rules);
  CHECK((*gone)->app_route_count("example2") == 1);
}

TEST_CASE("rules: invalid rules and duplicate entries are refused") {
  RouteTablePtr t = base_table();
  auto refused = [&](RouteWhen when) {
    Change m = map("example2", "example.com");
    m.when = std::move(when);
    auto next = apply_changes(*t, std::vector<Change>{m}, 2);
    return !next.ok() && next.error().kind == ErrorKind::Invalid;
  };
  CHECK(refused({RouteWhen::Kind::Header, "X Canary", "1"}));
  CHECK(refused({RouteWhen::Kind::Header, "", "1"}));
  CHECK(refused({RouteWhen::Kind::Header, "X-Canary", ""}));
  CHECK(refused({RouteWhen::Kind::Header, "X-Canary", " 1"}));
  CHECK(refused({RouteWhen::Kind::Header, "X-Canary", "a\x01"}));
  CHECK(refused({RouteWhen::Kind::Cookie, "canary", "a;b"}));
  CHECK(refused({RouteWhen::Kind::Cookie, "canary", "a b"}));
  CHECK(refused({RouteWhen::Kind::Cookie, "can=ary", "1"}));
  CHECK_FALSE(refused({RouteWhen::Kind::Header, "X-Canary", "a b"}));

  Config config = base_config();
  RouteWhen w{RouteWhen::Kind::Header, "X-Canary", "1"};
  config.routes["example.com"] = {{"example", 1, {}}, {"example2", 1, w}, {"example2", 2, w}};
  auto dup = build_table(config, 1);
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().message.find("twice") != std::string::npos);
  // Same app, different rules: allowed. Only rules: allowed.
  config.routes["example.com"] = {{"example2", 1, w}, {"example2", 2, {RouteWhen::Kind::Cookie, "c", "1"}}};
  CHECK(build_table(config, 1).ok());
}
