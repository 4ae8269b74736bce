#include "turnout/route/route_table.h"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "turnout/route/route_builder.h"

using namespace turnout;

namespace {

Config base_config() {
  Config config;
  config.apps["example"] = AppSpec{{{"127.0.0.1:9001", 1}, {"127.0.0.1:9002", 1}}, std::nullopt};
  config.apps["example2"] = AppSpec{{{"127.0.0.1:9101", 3}}, std::nullopt};
  config.apps["wild"] = AppSpec{{{"127.0.0.1:9201", 1}}, std::nullopt};
  config.apps["deep"] = AppSpec{{{"unix:/tmp/deep.sock", 1}}, std::nullopt};
  config.routes["example.com"] = {{"example", 1}};
  config.routes["www.example.com"] = {{"example", 1}};
  config.routes["*.example.org"] = {{"wild", 1}};
  config.routes["*.deep.example.org"] = {{"deep", 1}};
  config.routes["canary.example.com"] = {{"example2", 9}, {"example", 1}};
  return config;
}

RouteTablePtr build(const Config& config, uint64_t version = 1) {
  auto table = build_table(config, version);
  REQUIRE_MESSAGE(table.ok(), (table.ok() ? "" : table.error().message));
  return *table;
}

std::string served_by(const RouteTable& table, std::string_view host) {
  const Route* route = table.lookup(host);
  if (route == nullptr) return "404";
  std::string out;
  for (const RouteEntry& e : route->apps) out += (out.empty() ? "" : ",") + e.app;
  return out;
}

}  // namespace

TEST_CASE("lookup: exact match") {
  auto table = build(base_config());
  CHECK(table->version() == 1);
  CHECK(served_by(*table, "example.com") == "example");
  CHECK(served_by(*table, "www.example.com") == "example");
  CHECK(served_by(*table, "other.com") == "404");
  CHECK(table->lookup("example.com")->host == "example.com");
}

TEST_CASE("lookup: a wildcard matches one or more labels, the longest wildcard wins") {
  auto table = build(base_config());
  CHECK(served_by(*table, "a.example.org") == "wild");
  CHECK(served_by(*table, "a.b.example.org") == "wild");
  CHECK(served_by(*table, "example.org") == "404");  // the apex is not covered by *.example.org
  CHECK(served_by(*table, "deep.example.org") == "wild");
  CHECK(served_by(*table, "x.deep.example.org") == "deep");
  CHECK(served_by(*table, "y.x.deep.example.org") == "deep");
  CHECK(served_by(*table, "aexample.org") == "404");  // a label boundary is required
  CHECK(table->lookup("a.example.org")->host == "*.example.org");
}

TEST_CASE("lookup: an exact route beats a wildcard") {
  Config config = base_config();
  config.routes["special.example.org"] = {{"example", 1}};
  auto table = build(config);
  CHECK(served_by(*table, "special.example.org") == "example");
  CHECK(served_by(*table, "other.example.org") == "wild");
}

TEST_CASE("lookup: default_app serves hosts with no route") {
  Config config = base_config();
  config.default_app = "example2";
  auto table = build(config);
  CHECK(served_by(*table, "unknown.net") == "example2");
  CHECK(served_by(*table, "example.org") == "example2");
  CHECK(served_by(*table, "a.example.org") == "wild");
  CHECK(table->lookup("unknown.net")->host.empty());
  REQUIRE(table->default_app());
  CHECK(*table->default_app() == "example2");
  CHECK(table->route_count() == 5);  // the default route is not counted
}

TEST_CASE("route apps are sorted by name and carry their weights") {
  auto table = build(base_config());
  const Route* route = table->find_route("canary.example.com");
  REQUIRE(route != nullptr);
  REQUIRE(route->apps.size() == 2);
  CHECK(route->apps[0].app == "example");
  CHECK(route->apps[0].weight == 1);
  CHECK(route->apps[1].app == "example2");
  CHECK(route->apps[1].weight == 9);
}

TEST_CASE("find_route, find_app and counts") {
  auto table = build(base_config());
  CHECK(table->find_route("*.example.org") != nullptr);
  CHECK(table->find_route("example.org") == nullptr);
  CHECK(table->find_route("a.example.org") == nullptr);  // find_route is not lookup
  CHECK(table->route_count() == 5);
  CHECK(table->app_count() == 4);
  const App* app = table->find_app("example");
  REQUIRE(app != nullptr);
  REQUIRE(app->servers.size() == 2);
  CHECK(app->servers[0].addr == "127.0.0.1:9001");
  CHECK(app->servers[0].address.port() == 9001);
  CHECK(table->find_app("deep")->servers[0].address.is_unix());
  CHECK(table->find_app("nope") == nullptr);
  CHECK(table->find_app_ptr("example").get() == app);
  CHECK(table->app_route_count("example") == 3);
  CHECK(table->app_route_count("example2") == 1);
  CHECK(table->app_route_count("nope") == 0);

  std::set<std::string> hosts;
  table->for_each_route([&](const Route& r) { hosts.insert(r.host); });
  CHECK(hosts == std::set<std::string>{"example.com", "www.example.com", "*.example.org", "*.deep.example.org",
                                       "canary.example.com"});
  std::set<std::string> apps;
  table->for_each_app([&](const App& a) { apps.insert(a.name); });
  CHECK(apps == std::set<std::string>{"example", "example2", "wild", "deep"});
}

TEST_CASE("ids are unique across apps, routes and tables") {
  auto a = build(base_config());
  auto b = build(base_config());
  std::set<uint64_t> ids;
  size_t objects = 0;
  for (const auto& table : {a, b}) {
    table->for_each_route([&](const Route& r) { ids.insert(r.id); ++objects; });
    table->for_each_app([&](const App& app) { ids.insert(app.id); ++objects; });
  }
  CHECK(ids.size() == objects);
  CHECK(ids.count(0) == 0);
}

TEST_CASE("with_version shares everything and only changes the version") {
  auto table = build(base_config(), 7);
  auto again = table->with_version(12);
  CHECK(again->version() == 12);
  CHECK(table->version() == 7);
  CHECK(again->lookup("example.com") == table->lookup("example.com"));  // the same Route object
  CHECK(again->find_app("example") == table->find_app("example"));
  CHECK(again->route_count() == table->route_count());
}

TEST_CASE("100k routes: one change makes a new table and leaves the old one as it was") {
  Config config;
  config.apps["a"] = AppSpec{{{"127.0.0.1:9001", 1}}, std::nullopt};
  config.apps["b"] = AppSpec{{{"127.0.0.1:9002", 1}}, std::nullopt};
  const int n = 100000;
  for (int i = 0; i < n; ++i) config.routes["host" + std::to_string(i) + ".example.com"] = {{"a", 1}};
  config.routes["*.wild.example.com"] = {{"b", 1}};
  auto old_table = build(config, 1);
  REQUIRE(old_table->route_count() == static_cast<size_t>(n + 1));
  CHECK(old_table->app_route_count("a") == static_cast<uint64_t>(n));

  std::vector<Change> changes(2);
  changes[0].op = Change::Op::Map;
  changes[0].app = "b";
  changes[0].host = "host500.example.com";
  changes[1].op = Change::Op::Unmap;
  changes[1].app = "a";
  changes[1].host = "host500.example.com";
  auto next = apply_changes(*old_table, changes, 2);
  REQUIRE(next.ok());
  const RouteTable& new_table = **next;
  CHECK(new_table.version() == 2);
  CHECK(served_by(new_table, "host500.example.com") == "b");
  CHECK(served_by(*old_table, "host500.example.com") == "a");
  CHECK(old_table->version() == 1);
  CHECK(new_table.app_route_count("a") == static_cast<uint64_t>(n - 1));
  CHECK(old_table->app_route_count("a") == static_cast<uint64_t>(n));
  // Untouched routes are the same objects in both tables.
  CHECK(new_table.lookup("host501.example.com") == old_table->lookup("host501.example.com"));
  CHECK(new_table.lookup("x.wild.example.com") == old_table->lookup("x.wild.example.com"));
  CHECK(new_table.route_count() == old_table->route_count());
}

namespace {

Config path_config() {
  Config config = base_config();
  config.apps["api"] = AppSpec{{{"127.0.0.1:9301", 1}}, std::nullopt};
  config.apps["v2"] = AppSpec{{{"127.0.0.1:9302", 1}}, std::nullopt};
  config.apps["static"] = AppSpec{{{"127.0.0.1:9303", 1}}, std::nullopt};
  config.routes["example.com/api"] = {{"api", 1}};
  config.routes["example.com/api/v2"] = {{"v2", 1}};
  config.routes["example.com/a%2Fb"] = {{"v2", 1}};
  config.routes["*.example.org/static"] = {{"static", 1}};
  config.routes["paths-only.example.net/api"] = {{"api", 1}};
  config.default_app = "deep";
  return config;
}

std::string served(const RouteTable& table, std::string_view host, std::string_view path) {
  const Route* route = table.lookup(host, path);
  if (route == nullptr) return "404";
  std::string out;
  for (const RouteEntry& e : route->apps) out += (out.empty() ? "" : ",") + e.app;
  return out;
}

}  // namespace

TEST_CASE("lookup with paths: longest prefix on a segment boundary, then the host's own route") {
  auto table = build(path_config());
  CHECK(served(*table, "example.com", "/") == "example");
  CHECK(served(*table, "example.com", "/api") == "api");
  CHECK(served(*table, "example.com", "/api/") == "api");
  CHECK(served(*table, "example.com", "/api/x/y") == "api");
  CHECK(served(*table, "example.com", "/api?q=1") == "api");
  CHECK(served(*table, "example.com", "/apix") == "example");
  CHECK(served(*table, "example.com", "/api/v2") == "v2");
  CHECK(served(*table, "example.com", "/api/v2/users") == "v2");
  CHECK(served(*table, "example.com", "/api/v20") == "api");
  CHECK(served(*table, "example.com", "") == "example");   // no path (tests, CONNECT)
  CHECK(served(*table, "example.com", "*") == "example");  // OPTIONS *
  CHECK(table->lookup("example.com", "/api")->path() == "/api");
  CHECK(table->lookup("example.com", "/api")->host == "example.com/api");
}

TEST_CASE("lookup with paths: the tricks match on the normalised path") {
  auto table = build(path_config());
  CHECK(served(*table, "example.com", "//api") == "example");  // empty segment: not /api
  CHECK(served(*table, "example.com", "/API") == "example");   // case-sensitive
  CHECK(served(*table, "example.com", "/api/../admin") == "example");
  CHECK(served(*table, "example.com", "/admin/../api/x") == "api");
  CHECK(served(*table, "example.com", "/%61pi") == "api");
  CHECK(served(*table, "example.com", "/%61pi/%76%32") == "v2");
  CHECK(served(*table, "example.com", "/api%2F..") == "example");  // one segment "api%2F.."
  CHECK(served(*table, "example.com", "/api/%2e%2e") == "example");
  CHECK(served(*table, "example.com", "/a%2fb/c") == "v2");       // lower-case hex matches
  CHECK(served(*table, "example.com", "/a/b") == "example");      // a real slash is not %2F
  CHECK(served(*table, "example.com", "/api/x/../../api") == "api");
}

TEST_CASE("lookup with paths: wildcard hosts, path-only hosts, default") {
  auto table = build(path_config());
  CHECK(served(*table, "a.example.org", "/static/x.css") == "static");
  CHECK(served(*table, "a.b.example.org", "/static") == "static");
  CHECK(served(*table, "a.example.org", "/other") == "wild");
  CHECK(served(*table, "x.deep.example.org", "/static") == "deep");  // the longer wildcard wins first
  CHECK(served(*table, "paths-only.example.net", "/api/1") == "api");
  CHECK(served(*table, "paths-only.example.net", "/") == "deep");  // no own route: default_app
  CHECK(served(*table, "unknown.net", "/api") == "deep");
  CHECK(table->find_route("example.com/api") != nullptr);
  CHECK(table->find_route("*.example.org/static") != nullptr);
  CHECK(table->route_count() == 10);
}

TEST_CASE("lookup with paths: changes keep the per-host path count right") {
  auto table = build(path_config());
  auto changed = apply_changes(*table,
                               std::vector<Change>{{.op = Change::Op::Unmap, .host = "paths-only.example.net/api", .app = "api"},
                                                   {.op = Change::Op::Map, .host = "www.example.com/api", .app = "api"}},
                               2);
  REQUIRE(changed.ok());
  CHECK(served(**changed, "paths-only.example.net", "/api") == "deep");
  CHECK(served(**changed, "www.example.com", "/api/x") == "api");
  CHECK(served(**changed, "www.example.com", "/x") == "example");
  // The host's own route is the same route (same id: its balancing cycle goes on).
  CHECK((*changed)->lookup("www.example.com", "/x")->id == table->lookup("www.example.com")->id);
  CHECK((*changed)->lookup("www.example.com")->has_path_routes);
  CHECK_FALSE(table->lookup("www.example.com")->has_path_routes);
  // Re-mapping with another weight replaces the route: still one path route for the host.
  auto again = apply_changes(**changed, std::vector<Change>{{.op = Change::Op::Map, .host = "www.example.com/api", .app = "api", .weight = 3},
                                                            {.op = Change::Op::Unmap, .host = "www.example.com/api", .app = "api"}},
                             3);
  REQUIRE(again.ok());
  CHECK(served(**again, "www.example.com", "/api/x") == "example");
  CHECK((*again)->find_route("www.example.com/api") == nullptr);
  // The old version is untouched.
  CHECK(served(*table, "paths-only.example.net", "/api") == "api");
}

TEST_CASE("lookup with paths: keys that are not canonical are refused") {
  auto table = build(base_config());
  for (const char* bad : {"example.com/api/", "example.com/%61pi", "example.com//x", "example.com/a/../b", "Example.com/x"}) {
    auto next = apply_changes(*table, std::vector<Change>{{.op = Change::Op::Map, .host = bad, .app = "example"}}, 2);
    CHECK_MESSAGE(!next.ok(), bad);
  }
}
