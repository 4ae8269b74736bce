#include "turnout/config/config_loader.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>

using namespace turnout;
using namespace std::chrono_literals;

namespace {

const std::string kFixtures = TURNOUT_FIXTURES;

// Smallest valid file; tests append or prepend lines to it.
const std::string kMinimal =
    "listen: \"127.0.0.1:8080\"\n"                  // 1
    "apps:\n"                                       // 2
    "  a: { servers: [\"127.0.0.1:9001\"] }\n"      // 3
    "  b: { servers: [\"127.0.0.1:9002\"] }\n"      // 4
    "routes:\n"                                     // 5
    "  example.com: [a]\n";                         // 6

LoadResult parse(const std::string& text) { return parse_config(text, "t.yaml"); }

Config ok(const std::string& text) {
  LoadResult r = parse(text);
  std::string all;
  for (const auto& e : r.errors) all += e.to_string() + "\n";
  INFO(all);
  REQUIRE(r.ok());
  return *r.config;
}

// Asserts exactly one error and returns it.
ConfigError one_error(const std::string& text) {
  LoadResult r = parse(text);
  CHECK_FALSE(r.ok());
  std::string all;
  for (const auto& e : r.errors) all += e.to_string() + "\n";
  INFO(all);
  REQUIRE(r.errors.size() == 1);
  return r.errors[0];
}

}  // namespace

TEST_CASE("the demo conf/turnout.yaml loads as the README describes") {
  LoadResult r = load_config(kFixtures + "/../../conf/turnout.yaml");
  std::string all;
  for (const auto& e : r.errors) all += e.to_string() + "\n";
  INFO(all);
  REQUIRE(r.ok());
  const Config& c = *r.config;
  REQUIRE(c.listen.size() == 1);
  CHECK(c.listen[0].text == "127.0.0.1:8080");
  CHECK(c.listen[0].address.port() == 8080);
  CHECK(c.workers == std::max(1u, std::thread::hardware_concurrency()));
  CHECK(c.admin.socket == "./turnout.sock");
  CHECK(c.admin.http == "127.0.0.1:9901");
  CHECK(c.state_file == "./turnout.state.json");
  REQUIRE(c.apps.size() == 2);
  REQUIRE(c.apps.at("example").servers.size() == 2);
  CHECK(c.apps.at("example").servers[1].addr == "127.0.0.1:9002");
  CHECK(c.apps.at("example2").servers[0].addr == "127.0.0.1:9101");
  CHECK(c.routes.size() == 4);
  CHECK(c.routes.at("example.aws.af.cm")[0].app == "example2");
  CHECK(c.routes.at("*.example.org")[0].app == "example");
  CHECK_FALSE(c.default_app.has_value());
  CHECK(c.access_log == "stdout");
  CHECK(c.content_hash.size() == 16);
  CHECK(c.path == kFixtures + "/../../conf/turnout.yaml");
}

TEST_CASE("every optional key takes DESIGN.md's default") {
  Config c = ok(kMinimal);
  CHECK(c.workers == std::max(1u, std::thread::hardware_concurrency()));
  CHECK(c.admin.socket == "./turnout.sock");
  CHECK(c.admin.http.empty());
  CHECK_FALSE(c.admin.allow_remote);
  CHECK(c.admin.token.empty());
  CHECK(c.state_file.empty());
  CHECK_FALSE(c.default_app.has_value());
  CHECK(c.timeouts.connect == 2s);
  CHECK(c.timeouts.request_header == 10s);
  CHECK(c.timeouts.upstream_response == 60s);
  CHECK(c.timeouts.client_idle == 60s);
  CHECK(c.timeouts.upstream_idle == 30s);
  CHECK(c.timeouts.drain == 30s);
  CHECK(c.limits.max_header_bytes == 32768);
  CHECK(c.limits.max_headers == 100);
  CHECK(c.limits.max_body_bytes == 0);
  CHECK(c.limits.max_connections == 20000);
  CHECK(c.access_log == "stdout");
  CHECK(c.access_log_format == "text");
  CHECK(c.log_level == "info");
  CHECK_FALSE(c.apps.at("a").health.has_value());
  CHECK(c.apps.at("a").servers[0].weight == 1);
  CHECK(c.routes.at("example.com")[0].weight == 1);
  // The demo file writes the defaults out; they must agree with the built-in ones.
  LoadResult demo = load_config(kFixtures + "/../../conf/turnout.yaml");
  REQUIRE(demo.ok());
  CHECK(demo.config->timeouts.drain == c.timeouts.drain);
  CHECK(demo.config->timeouts.connect == c.timeouts.connect);
  CHECK(demo.config->limits.max_connections == c.limits.max_connections);
  CHECK(demo.config->limits.max_header_bytes == c.limits.max_header_bytes);
}

TEST_CASE("a file using every feature: IPv6, unix servers, weights, wildcards, health") {
  LoadResult r = load_config(kFixtures + "/config/full.yaml");
  std::string all;
  for (const auto& e : r.errors) all += e.to_string() + "\n";
  INFO(all);
  REQUIRE(r.ok());
  const Config& c = *r.config;
  REQUIRE(c.listen.size() == 2);
  CHECK(c.listen[1].address.family() == AF_INET6);
  CHECK(c.listen[1].address.port() == 18081);
  CHECK(c.workers == 3);
  CHECK(c.admin.socket == "/tmp/turnout-test.sock");
  CHECK(c.admin.http == "[::1]:19901");
  const AppSpec& web = c.apps.at("web");
  REQUIRE(web.servers.size() == 3);
  CHECK(web.servers[1].addr == "127.0.0.1:9002");
  CHECK(web.servers[1].weight == 3);
  CHECK(web.servers[2].addr == "unix:/run/web.sock");
  REQUIRE(web.health.has_value());
  CHECK(web.health->path == "/healthz");
  CHECK(web.health->interval == 2s);
  CHECK(web.health->timeout == 500ms);
  CHECK(web.health->rise == 1);
  CHECK(web.health->fall == 5);
  CHECK(c.apps.at("Canary_v2.1-b").servers[0].weight == 2);
  CHECK(c.apps.at("empty").servers.empty());
  // Hosts are lower-cased and lose one trailing dot.
  CHECK(c.routes.count("example.com") == 1);
  CHECK(c.routes.count("*.example.org") == 1);
  CHECK(c.routes.count("10.0.0.1") == 1);
  CHECK(c.routes.count("[::1]") == 1);
  const auto& canary = c.routes.at("canary.example.com");
  REQUIRE(canary.size() == 2);
  CHECK(canary[0].app == "web");
  CHECK(canary[0].weight == 1);
  CHECK(canary[1].app == "Canary_v2.1-b");
  CHECK(canary[1].weight == 9);
  CHECK(c.default_app == std::optional<std::string>("web"));
  CHECK(c.timeouts.connect == 250ms);
  CHECK(c.timeouts.request_header == 60s);
  CHECK(c.timeouts.drain == 0ms);
  CHECK(c.timeouts.client_idle == 60s);  // untouched keys keep their default
  CHECK(c.limits.max_body_bytes == 1048576);
  CHECK(c.limits.max_connections == 5);
  CHECK(c.limits.max_headers == 100);
  CHECK(c.access_log == "/var/log/turnout/access.log");
  CHECK(c.access_log_format == "json");
  CHECK(c.log_level == "debug");
}

TEST_CASE("listen accepts one string or a list, IPv4 and IPv6") {
  Config c = ok(kMinimal);
  REQUIRE(c.listen.size() == 1);
  CHECK(c.listen[0].address.family() == AF_INET);
  Config c6 = ok("listen: [\"[::1]:8443\", \"0.0.0.0:8080\"]\n" + kMinimal.substr(kMinimal.find('\n') + 1));
  REQUIRE(c6.listen.size() == 2);
  CHECK(c6.listen[0].address.family() == AF_INET6);
  CHECK(c6.listen[0].text == "[::1]:8443");
  CHECK(c6.listen[1].address.port() == 8080);
}

TEST_CASE("listen entries may be {addr, proxy_protocol} maps; trusted_proxies takes v4 and v6 ranges") {
  Config c = ok("listen:\n  - \"127.0.0.1:8080\"\n  - {addr: \"127.0.0.1:8081\", proxy_protocol: true}\n"
                "  - {addr: \"127.0.0.1:8082\"}\n"
                "trusted_proxies: [\"10.0.0.0/8\", \"2001:db8::/32\", \"127.0.0.1\"]\n" +
                kMinimal.substr(kMinimal.find('\n') + 1));
  REQUIRE(c.listen.size() == 3);
  CHECK_FALSE(c.listen[0].proxy_protocol);
  CHECK(c.listen[1].proxy_protocol);
  CHECK(c.listen[1].address.port() == 8081);
  CHECK_FALSE(c.listen[2].proxy_protocol);
  REQUIRE(c.trusted_proxies.size() == 3);
  CHECK(c.trusted_proxies[1].text() == "2001:db8::/32");
  CHECK(c.trusted_proxies[2].text() == "127.0.0.1/32");
  CHECK(ok(kMinimal).trusted_proxies.empty());
}

TEST_CASE("durations need a unit") {
  CHECK(parse_duration("250ms") == std::optional<Millis>(250ms));
  CHECK(parse_duration("2s") == std::optional<Millis>(2000ms));
  CHECK(parse_duration("1m") == std::optional<Millis>(60000ms));
  CHECK(parse_duration("0s") == std::optional<Millis>(0ms));
  CHECK_FALSE(parse_duration("5").has_value());
  CHECK_FALSE(parse_duration("").has_value());
  CHECK_FALSE(parse_duration("s").has_value());
  CHECK_FALSE(parse_duration("1h").has_value());
  CHECK_FALSE(parse_duration("1.5s").has_value());
  CHECK_FALSE(parse_duration("-1s").has_value());
  CHECK_FALSE(parse_duration("2 s").has_value());
  CHECK_FALSE(parse_duration("99999999999999999999ms").has_value());

  ConfigError e = one_error(kMinimal + "timeouts:\n  connect: 2s\n  drain: 30\n");
  CHECK(e.line == 9);
  CHECK(e.key == "timeouts.drain");
  CHECK(e.message.find("unit") != std::string::npos);
  e = one_error(kMinimal + "timeouts: { connect: 0ms }\n");
  CHECK(e.key == "timeouts.connect");
  CHECK(e.line == 7);
}

TEST_CASE("FNV-1a hash of the file bytes") {
  CHECK(hash_bytes("") == "cbf29ce484222325");
  CHECK(hash_bytes("a") == "af63dc4c8601ec8c");
  CHECK(ok(kMinimal).content_hash == hash_bytes(kMinimal));
  CHECK(ok(kMinimal + "\n").content_hash != hash_bytes(kMinimal));
}

TEST_CASE("each error names its line and key") {
  struct Case {
    std::string yaml;
    int line;
    std::string key;
    std::string message_part;
  };
  const std::string apps_routes = kMinimal.substr(kMinimal.find('\n') + 1);
  const Case cases[] = {
      {"listen: \"127.0.0.1:99999\"\n" + apps_routes, 1, "listen", "invalid port"},
      {"listen: [\"127.0.0.1:80\", \"unix:/x.sock\"]\n" + apps_routes, 1, "listen[1]", "host:port"},
      {"listen: []\n" + apps_routes, 1, "listen", "non-empty"},
      {"listen:\n  - {addr: \"127.0.0.1:80\", proxy_protocol: yes please}\n" + apps_routes, 2,
       "listen[0].proxy_protocol", "true or false"},
      {"listen:\n  - {proxy_protocol: true}\n" + apps_routes, 2, "listen[0].addr", "required"},
      {"listen:\n  - {addr: \"127.0.0.1:80\", tls: true}\n" + apps_routes, 2, "listen[0].tls",
       "needs a certificate in tls.certificates"},
      {"listen:\n  - {addr: \"127.0.0.1:80\", http3: true}\n" + apps_routes, 2, "listen[0].http3", "unknown"},
      {kMinimal + "trusted_proxies: [\"10.0.0.0/8\", \"10.0.0.1/8\"]\n", 7, "trusted_proxies[1]", "host bits"},
      {kMinimal + "trusted_proxies:\n  - \"::1\"\n  - lb.example.com\n", 9, "trusted_proxies[1]",
       "not an IP address"},
      {kMinimal + "trusted_proxies:\n  - 10.0.0.0/40\n", 8, "trusted_proxies[0]", "prefix length"},
      {kMinimal + "trusted_proxies: 10.0.0.0/8\n", 7, "trusted_proxies", "list"},
      {kMinimal + "workers: 0\n", 7, "workers", "auto or an integer"},
      {kMinimal + "workers: 257\n", 7, "workers", "256"},
      {kMinimal + "workers: many\n", 7, "workers", "auto"},
      {kMinimal + "admin:\n  http: 0.0.0.0:9901\n", 8, "admin.http", "allow_remote"},
      {kMinimal + "admin:\n  http: 0.0.0.0:9901\n  allow_remote: true\n", 9, "admin.allow_remote", "token"},
      {kMinimal + "admin:\n  allow_remote: maybe\n", 8, "admin.allow_remote", "true or false"},
      {kMinimal + "default_app: c\n", 7, "default_app", "unknown app 'c'"},
      {kMinimal + "  www.example.com: [a, c]\n", 7, "routes.www.example.com[1]", "unknown app 'c'"},
      {kMinimal + "  www.example.com: [a, {app: b}, {app: a, weight: 2}]\n", 7, "routes.www.example.com[2]",
       "listed twice"},
      {kMinimal + "  www.example.com: []\n", 7, "routes.www.example.com", "non-empty list"},
      {kMinimal + "  www.example.com: a\n", 7, "routes.www.example.com", "list"},
      {kMinimal + "  Example.com.: [b]\n", 7, "routes.Example.com.", "duplicate route for 'example.com'"},
      {kMinimal + "  \"*\": [a]\n", 7, "routes.*", "not a hostname"},
      {kMinimal + "  bad_host!: [a]\n", 7, "routes.bad_host!", "not a hostname"},
      {kMinimal + "  x.example.com: [{app: a, weight: 0}]\n", 7, "routes.x.example.com[0].weight", "integer from 1"},
      {kMinimal + "  x.example.com: [{weight: 2}]\n", 7, "routes.x.example.com[0].app", "required"},
      {kMinimal + "limits: { max_headers: -1 }\n", 7, "limits.max_headers", "integer"},
      {kMinimal + "limits:\n  max_header_bytes: 100\n", 8, "limits.max_header_bytes", "from 256"},
      {kMinimal + "limits:\n  max_connections: 0\n", 8, "limits.max_connections", "from 1"},
      {kMinimal + "access_log_format: xml\n", 7, "access_log_format", "text | json"},
      {kMinimal + "log_level: verbose\n", 7, "log_level", "debug"},
      {kMinimal + "access_log: \"\"\n", 7, "access_log", "empty"},
      {kMinimal + "state_file: [a]\n", 7, "state_file", "string"},
      {"listen: \"127.0.0.1:8080\"\napps:\n  a: { servers: [\"127.0.0.1:9001\", \"localhost\"] }\nroutes: {}\n", 3,
       "apps.a.servers[1]", "host:port"},
      {"listen: \"127.0.0.1:8080\"\napps:\n  a:\n    servers:\n      - 127.0.0.1:9001\n      - {addr: 127.0.0.1:9001}\n"
       "routes: {}\n",
       6, "apps.a.servers[1].addr", "duplicate server"},
      {"listen: \"127.0.0.1:8080\"\napps:\n  a:\n    servers:\n      - {addr: \"unix:\", weight: 2}\nroutes: {}\n", 5,
       "apps.a.servers[0].addr", "empty path"},
      {"listen: \"127.0.0.1:8080\"\napps:\n  a:\n    servers:\n      - {addr: 127.0.0.1:1, weight: 0}\nroutes: {}\n", 5,
       "apps.a.servers[0].weight", "from 1"},
      {"listen: \"127.0.0.1:8080\"\napps:\n  bad/name: { servers: [] }\nroutes: {}\n", 3, "apps.bad/name",
       "[A-Za-z0-9_.-]+"},
      {"listen: \"127.0.0.1:8080\"\napps:\n  a: {}\nroutes: {}\n", 3, "apps.a.servers", "required"},
      {"listen: \"127.0.0.1:8080\"\napps:\n  a: { servers: [], health: { path: healthz } }\nroutes: {}\n", 3,
       "apps.a.health.path", "start with '/'"},
      {"listen: \"127.0.0.1:8080\"\napps:\n  a:\n    servers: []\n    health:\n      rise: 0\nroutes: {}\n", 6,
       "apps.a.health.rise", "from 1"},
      {"listen: \"127.0.0.1:8080\"\napps: [a]\nroutes: {}\n", 2, "apps", "must be a map"},
      {"apps: {}\nroutes: {}\n", 1, "listen", "required key is missing"},
      {kMinimal + "listen: \"127.0.0.1:8081\"\n", 7, "listen", "duplicate key"},
      // An empty value is reported on its key's line, not on the next token's.
      {"listen:\napps: {}\nroutes: {}\n", 1, "listen", "non-empty list"},
      {kMinimal + "  www.example.com:\n\n  # a comment\ndefault_app: a\n", 7, "routes.www.example.com", "non-empty"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.yaml);
    ConfigError e = one_error(c.yaml);
    CHECK(e.file == "t.yaml");
    CHECK(e.line == c.line);
    CHECK(e.key == c.key);
    CHECK_MESSAGE(e.message.find(c.message_part) != std::string::npos, e.message);
  }
}

TEST_CASE("access_log takes stdout, off (not a YAML boolean) or a path") {
  CHECK(ok(kMinimal + "access_log: off\n").access_log == "off");
  CHECK(ok(kMinimal + "access_log: stdout\n").access_log == "stdout");
  CHECK(ok(kMinimal + "access_log: ./logs/access.log\n").access_log == "./logs/access.log");
}

TEST_CASE("admin: remote http only with allow_remote and a token") {
  Config c = ok(kMinimal + "admin:\n  http: 0.0.0.0:9901\n  allow_remote: true\n  token: s3cret\n");
  CHECK(c.admin.allow_remote);
  CHECK(c.admin.token == "s3cret");
  CHECK(c.admin.http == "0.0.0.0:9901");
  Config loop = ok(kMinimal + "admin: { socket: \"\", http: \"127.0.0.1:0\" }\n");
  CHECK(loop.admin.socket.empty());
  CHECK(loop.admin.http == "127.0.0.1:0");
}

TEST_CASE("unknown keys are errors at every level") {
  LoadResult r = parse(
      "listen: \"127.0.0.1:8080\"\n"                       // 1
      "lisen: \"127.0.0.1:8081\"\n"                        // 2
      "admin: { socket: ./s, sokcet: ./t }\n"              // 3
      "apps:\n"                                            // 4
      "  a:\n"                                             // 5
      "    servers:\n"                                     // 6
      "      - { addr: \"127.0.0.1:1\", wieght: 2 }\n"     // 7
      "    health: { path: /, intreval: 1s }\n"            // 8
      "    extra: 1\n"                                     // 9
      "routes:\n"                                          // 10
      "  example.com: [{ app: a, weigth: 2 }]\n"           // 11
      "timeouts: { conect: 1s }\n"                         // 12
      "limits: { max_bodies: 1 }\n");                      // 13
  REQUIRE(r.errors.size() == 8);
  const std::pair<int, const char*> expect[] = {
      {2, "lisen"},         {3, "admin.sokcet"},        {7, "apps.a.servers[0].wieght"},
      {8, "apps.a.health.intreval"}, {9, "apps.a.extra"}, {11, "routes.example.com[0].weigth"},
      {12, "timeouts.conect"}, {13, "limits.max_bodies"},
  };
  for (size_t i = 0; i < 8; ++i) {
    CAPTURE(i);
    CHECK(r.errors[i].line == expect[i].first);
    CHECK(r.errors[i].key == expect[i].second);
    CHECK(r.errors[i].message.find("unknown key") != std::string::npos);
  }
}

TEST_CASE("several errors at once, in file order, from a file") {
  std::string path = kFixtures + "/config/many_errors.yaml";
  LoadResult r = load_config(path);
  CHECK_FALSE(r.ok());
  std::string all;
  for (const auto& e : r.errors) all += e.to_string() + "\n";
  INFO(all);
  REQUIRE(r.errors.size() == 7);
  const std::pair<int, const char*> expect[] = {
      {2, "listen[0]"},
      {3, "workers"},
      {6, "apps.example.servers[1]"},
      {7, "apps.example.helth"},
      {9, "routes.example.com[1]"},
      {10, "timeouts.connect"},
      {11, "colour"},
  };
  for (size_t i = 0; i < 7; ++i) {
    CAPTURE(i);
    CHECK(r.errors[i].file == path);
    CHECK(r.errors[i].line == expect[i].first);
    CHECK(r.errors[i].key == expect[i].second);
  }
  CHECK(r.errors[0].to_string() == path + ":2: listen[0]: address '127.0.0.1:99999' has an invalid port");
}

TEST_CASE("YAML syntax error: one error with its line") {
  LoadResult r = parse("listen: \"127.0.0.1:8080\"\napps:\n  a: { servers: [\"x\" }\nroutes: {}\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line == 3);
  CHECK(r.errors[0].message.find("YAML syntax error") != std::string::npos);
  CHECK(r.errors[0].to_string().rfind("t.yaml:3: YAML syntax error", 0) == 0);
}

TEST_CASE("unreadable file and empty file") {
  LoadResult r = load_config("/nonexistent/turnout.yaml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line == 0);
  CHECK(r.errors[0].to_string().rfind("/nonexistent/turnout.yaml: cannot open", 0) == 0);

  LoadResult empty = parse("");
  REQUIRE(empty.errors.size() == 3);  // listen, apps, routes
  CHECK(empty.errors[0].key == "listen");
  CHECK(empty.errors[1].key == "apps");
  CHECK(empty.errors[2].key == "routes");

  LoadResult scalar = parse("hello\n");
  REQUIRE(scalar.errors.size() == 1);
  CHECK(scalar.errors[0].message.find("must be a map") != std::string::npos);
}

TEST_CASE("a route to an app whose own definition is broken reports only the app") {
  LoadResult r = parse(
      "listen: \"127.0.0.1:8080\"\n"
      "apps:\n"
      "  a: { servers: [\"bad\"] }\n"
      "routes:\n"
      "  example.com: [a]\n"
      "default_app: a\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].key == "apps.a.servers[0]");
}

TEST_CASE("ConfigError::to_string") {
  CHECK(ConfigError{"conf/turnout.yaml", 12, "apps.example.servers[1]", "invalid port"}.to_string() ==
        "conf/turnout.yaml:12: apps.example.servers[1]: invalid port");
  CHECK(ConfigError{"x.yaml", 0, "", "cannot open"}.to_string() == "x.yaml: cannot open");
}

TEST_CASE("bytes that are not UTF-8 are refused with file, line and key, never passed on") {
  // A unix socket path and a health path with raw bytes: the state file and admin JSON could not
  // carry them unchanged, so the loader refuses them where the operator can fix them.
  ConfigError e = one_error(
      "listen: \"127.0.0.1:8080\"\n"
      "apps:\n"
      "  a:\n"
      "    servers: [\"unix:/run/\xd0.sock\"]\n"  // 4
      "routes:\n"
      "  example.com: [a]\n");
  CHECK(e.line == 4);
  CHECK(e.key == "apps.a.servers[0]");
  CHECK(e.message.find("not valid UTF-8") != std::string::npos);
  CHECK(e.message.find("0xD0") != std::string::npos);

  LoadResult r = parse(
      "listen: \"127.0.0.1:8080\"\n"
      "apps:\n"
      "  a: { servers: [\"127.0.0.1:9001\"], health: { path: \"/\xff\" } }\n"  // 3
      "  w\xe9\x62: { servers: [\"127.0.0.1:9002\"] }\n"                        // 4: Latin-1 key
      "routes:\n"
      "  example.com: [a]\n");
  REQUIRE_FALSE(r.ok());
  bool health_reported = false, key_reported = false;
  for (const auto& err : r.errors) {
    if (err.line == 3 && err.key == "apps.a.health.path") health_reported = true;
    if (err.line == 4 && err.key == "apps" && err.message.find("key is not valid UTF-8") != std::string::npos)
      key_reported = true;
  }
  CHECK(health_reported);
  CHECK(key_reported);

  // Valid UTF-8 beyond ASCII is fine.
  Config c = ok(
      "listen: \"127.0.0.1:8080\"\n"
      "apps:\n"
      "  a: { servers: [\"unix:/run/caf\xc3\xa9.sock\"], health: { path: \"/sant\xc3\xa9\" } }\n"
      "routes:\n"
      "  example.com: [a]\n");
  CHECK(c.apps.at("a").servers.at(0).addr == "unix:/run/caf\xc3\xa9.sock");
}

// fuzz_config found it: an alias inside its own anchor makes the YAML tree a cycle. The UTF-8
// walk recursed until the stack overflowed; now every node is visited once and the file is
// simply refused (or accepted) like any other.
TEST_CASE("an alias inside its own anchor (a cycle) is walked once, not forever") {
  LoadResult r = parse("base: &b { servers250ms: Kb, c: { <<: *b } }\nrnmtes: { a.com: [a, a] }\n");
  CHECK_FALSE(r.ok());
  // Aliases nested to make 2^40 paths through a small file: linear work all the same.
  std::string bomb = "listen: \"127.0.0.1:8080\"\nx0: &a0 [caf\xe9]\n";  // a raw Latin-1 byte
  for (int i = 1; i <= 40; ++i)
    bomb += "x" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) + ", *a" +
            std::to_string(i - 1) + "]\n";
  LoadResult b = parse(bomb);
  REQUIRE_FALSE(b.ok());
  size_t utf8_errors = 0;
  for (const auto& e : b.errors) utf8_errors += e.message.find("not valid UTF-8") != std::string::npos;
  CHECK(utf8_errors == 1);  // the one bad scalar, reported once
}

TEST_CASE("listen entries take http2 (plaintext default off); limits take h2_max_concurrent_streams") {
  Config c = ok("listen:\n  - \"127.0.0.1:8080\"\n  - {addr: \"127.0.0.1:8081\", http2: true}\n"
                "  - {addr: \"127.0.0.1:8082\", http2: false}\n"
                "limits: {h2_max_concurrent_streams: 50}\n" +
                kMinimal.substr(kMinimal.find('\n') + 1));
  REQUIRE(c.listen.size() == 3);
  CHECK_FALSE(c.listen[0].http2);
  CHECK(c.listen[1].http2);
  CHECK_FALSE(c.listen[2].http2);
  CHECK(c.limits.h2_max_concurrent_streams == 50);
  CHECK(ok(kMinimal).limits.h2_max_concurrent_streams == 100);

  ConfigError bad = one_error("listen:\n  - {addr: \"127.0.0.1:8081\", http2: maybe}\n" +
                              kMinimal.substr(kMinimal.find('\n') + 1));
  CHECK(bad.key == "listen[0].http2");
  ConfigError zero = one_error(kMinimal + "limits: {h2_max_concurrent_streams: 0}\n");
  CHECK(zero.key == "limits.h2_max_concurrent_streams");
}

TEST_CASE("table_source.etcd: endpoints, prefix, instance and credentials; mistakes named by key") {
  Config c = ok(kMinimal + "table_source:\n  etcd:\n    endpoints: [\"http://127.0.0.1:2379\", \"10.0.0.2:2379\"]\n"
                           "    prefix: /edge\n    instance: edge-1\n    request_timeout: 2s\n    user: turnout\n"
                           "    password: s3cret\n");
  REQUIRE(c.etcd);
  CHECK(c.etcd->endpoints.size() == 2);
  CHECK(c.etcd->prefix == "/edge/");  // a trailing slash keeps "/edge" from matching "/edge2"
  CHECK(c.etcd->instance == "edge-1");
  CHECK(c.etcd->request_timeout == 2000ms);
  CHECK(c.etcd->user == "turnout");
  CHECK(c.etcd->password == "s3cret");

  Config defaults = ok(kMinimal + "table_source:\n  etcd: { endpoints: [\"127.0.0.1:2379\"] }\n");
  REQUIRE(defaults.etcd);
  CHECK(defaults.etcd->prefix == "/turnout/");
  CHECK_FALSE(defaults.etcd->instance.empty());  // the host name
  CHECK_FALSE(ok(kMinimal).etcd);

  ConfigError e = one_error(kMinimal + "table_source:\n  etcd: { endpoints: [\"https://127.0.0.1:2379\", \"http://10.0.0.2:2379\"] }\n");
  CHECK(e.key == "table_source.etcd.endpoints[1]");
  CHECK(e.message.find("same scheme") != std::string::npos);
  e = one_error(kMinimal + "table_source:\n  etcd: { endpoints: [\"127.0.0.1:2379\"], tls: {verify: false} }\n");
  CHECK(e.key == "table_source.etcd.tls");
  CHECK(e.message.find("https://") != std::string::npos);
  e = one_error(kMinimal + "table_source:\n  etcd: { endpoints: [] }\n");
  CHECK(e.key == "table_source.etcd.endpoints");
  e = one_error(kMinimal + "table_source:\n  etcd: { endpoints: [\"127.0.0.1:2379\"], instance: \"a b\" }\n");
  CHECK(e.key == "table_source.etcd.instance");
  e = one_error(kMinimal + "table_source:\n  etcd: { endpoints: [\"127.0.0.1:2379\"], password: x }\n");
  CHECK(e.message.find("needs a user") != std::string::npos);
  e = one_error(kMinimal + "table_source:\n  etcd: { endpoints: [\"127.0.0.1:2379\"], prefx: /a/ }\n");
  CHECK(e.key == "table_source.etcd.prefx");
  e = one_error(kMinimal + "table_source:\n  consul: {}\n");
  CHECK(e.key == "table_source.consul");
}

TEST_CASE("table_source.etcd over TLS: https:// endpoints, tls {ca, cert, key, verify, server_name}; files checked") {
  Config plain = ok(kMinimal + "table_source:\n  etcd: { endpoints: [\"https://127.0.0.1:2379\"] }\n");
  REQUIRE(plain.etcd);
  CHECK(plain.etcd->tls);  // the system store, verified
  CHECK(plain.etcd->tls_settings.verify);
  CHECK(plain.etcd->tls_settings.ca.empty());
  CHECK_FALSE(ok(kMinimal + "table_source:\n  etcd: { endpoints: [\"127.0.0.1:2379\"] }\n").etcd->tls);

  Config named = ok(kMinimal + "table_source:\n  etcd:\n    endpoints: [\"https://etcd-1:2379\", \"https://etcd-2:2379\"]\n"
                               "    tls: {verify: false, server_name: etcd.internal}\n");
  REQUIRE(named.etcd);
  CHECK_FALSE(named.etcd->tls_settings.verify);
  CHECK(named.etcd->tls_server_name == "etcd.internal");

  ConfigError e = one_error(kMinimal + "table_source:\n  etcd:\n    endpoints: [\"https://127.0.0.1:2379\"]\n"
                                       "    tls: {ca: /nonexistent/etcd-ca.pem}\n");
  CHECK(e.key == "table_source.etcd.tls.ca");
  CHECK(e.message.find("/nonexistent/etcd-ca.pem") != std::string::npos);
  e = one_error(kMinimal + "table_source:\n  etcd:\n    endpoints: [\"https://127.0.0.1:2379\"]\n"
                           "    tls: {cert: /etc/hostname}\n");
  CHECK(e.key == "table_source.etcd.tls.key");
  CHECK(e.message.find("both cert and key") != std::string::npos);
  e = one_error(kMinimal + "table_source:\n  etcd:\n    endpoints: [\"https://127.0.0.1:2379\"]\n"
                           "    tls: {cert: /nonexistent/c.pem, key: /nonexistent/k.pem}\n");
  CHECK(e.key == "table_source.etcd.tls.cert");
  e = one_error(kMinimal + "table_source:\n  etcd:\n    endpoints: [\"https://127.0.0.1:2379\"]\n"
                           "    tls: {cafile: x}\n");
  CHECK(e.key == "table_source.etcd.tls.cafile");
}

TEST_CASE("routes: when rules are read, validated and identify entries with their app") {
  Config c = ok(
      "listen: \"127.0.0.1:8080\"\n"
      "apps:\n"
      "  a: { servers: [\"127.0.0.1:9001\"] }\n"
      "  b: { servers: [\"127.0.0.1:9002\"] }\n"
      "routes:\n"
      "  beta.example.com:\n"
      "    - { app: b, when: { header: \"X-Canary\", value: \"1\" } }\n"
      "    - { app: b, weight: 2, when: { cookie: \"canary\", value: \"always\" } }\n"
      "    - a\n"
      "  testers.example.com:\n"
      "    - { app: b, when: { header: X-Tester, value: \"yes please\" } }\n");
  const auto& beta = c.routes.at("beta.example.com");
  REQUIRE(beta.size() == 3);
  CHECK(beta[0].when == RouteWhen{RouteWhen::Kind::Header, "x-canary", "1"});
  CHECK(beta[1].when == RouteWhen{RouteWhen::Kind::Cookie, "canary", "always"});
  CHECK(beta[1].weight == 2);
  CHECK_FALSE(beta[2].when);
  CHECK(c.routes.at("testers.example.com")[0].when.value == "yes please");

  auto route_with = [](const std::string& entry) {
    return std::string(
               "listen: \"127.0.0.1:8080\"\n"
               "apps:\n"
               "  a: { servers: [\"127.0.0.1:9001\"] }\n"
               "  b: { servers: [\"127.0.0.1:9002\"] }\n"
               "routes:\n"
               "  beta.example.com:\n"
               "    - ") + entry + "\n    - a\n";
  };
  struct Bad {
    const char* entry;
    const char* says;
  };
  for (Bad bad : {Bad{"{ app: b, when: { header: \"X Canary\", value: \"1\" } }", "not a valid header name"},
                  Bad{"{ app: b, when: { header: X-Canary, value: \"\" } }", "value is empty"},
                  Bad{"{ app: b, when: { header: X-Canary } }", "value"},
                  Bad{"{ app: b, when: { header: X-A, cookie: b, value: \"1\" } }", "exactly one of header or cookie"},
                  Bad{"{ app: b, when: { value: \"1\" } }", "exactly one of header or cookie"},
                  Bad{"{ app: b, when: { header: X-A, value: \"1\", regex: true } }", "regex"},
                  Bad{"{ app: b, when: { cookie: c, value: \"a;b\" } }", "cannot carry"},
                  Bad{"{ app: a, when: { header: X-A, value: \"1\" } }\n    - { app: a, when: { header: x-a, value: \"1\" } }",
                      "listed twice"}}) {
    CAPTURE(bad.entry);
    ConfigError e = one_error(route_with(bad.entry));
    CHECK(e.to_string().find(bad.says) != std::string::npos);
  }
}
