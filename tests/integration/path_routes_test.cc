// Path routes (DESIGN.md "Routes beyond the host"): "host/path" keys matched by the longest
// prefix on a segment boundary of the normalised path, over HTTP/1.1 and HTTP/2, while the
// backend always receives the request target byte for byte; the keys through the admin API,
// `turnout ctl` and a restart from the state file.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/h2_script.h"
#include "integration/harness.h"
#include "integration/remap_util.h"

using namespace turnout::test;
using nlohmann::json;
using turnout::test::remap::apps_of;
using turnout::test::remap::get_routes;
using turnout::test::remap::run_ctl;

namespace {

std::string config(const Backend& site, const Backend& api, const Backend& admin, const Backend& fallback,
                   const std::string& extra = "") {
  return "listen:\n  - { addr: \"127.0.0.1:0\", http2: true }\n"
         "apps:\n"
         "  site: {servers: " + yaml_list({site.addr()}) + "}\n"
         "  api: {servers: " + yaml_list({api.addr()}) + "}\n"
         "  admin: {servers: " + yaml_list({admin.addr()}) + "}\n"
         "  fallback: {servers: " + yaml_list({fallback.addr()}) + "}\n"
         "routes:\n"
         "  example.test: [site]\n"
         "  example.test/api: [api]\n"
         "  example.test/admin: [admin]\n"
         "  \"*.wild.test/static\": [api]\n"
         "  only-paths.test/api: [api]\n"
         "default_app: fallback\n" + extra;
}

struct Case {
  const char* host;
  const char* target;  // sent as is
  const char* app;     // who must answer
};

// Every trick of the matching rules, with who serves it.
const std::vector<Case> kCases = {
    {"example.test", "/", "site"},
    {"example.test", "/api", "api"},
    {"example.test", "/api/", "api"},
    {"example.test", "/api/x/y?q=/admin", "api"},
    {"example.test", "/api?q=1", "api"},
    {"example.test", "/apix", "site"},                // not a segment boundary
    {"example.test", "//api", "site"},                // an empty segment first: not /api
    {"example.test", "/API", "site"},                 // case-sensitive
    {"example.test", "/api/../admin", "admin"},       // dot-segments removed
    {"example.test", "/api/%2e%2E/admin/x", "admin"}, // encoded dots too
    {"example.test", "/%61pi", "api"},                // unreserved escapes decoded
    {"example.test", "/%61%70%69/v1", "api"},
    {"example.test", "/api%2F..", "site"},            // one segment "api%2F..": not /api
    {"example.test", "/api%2f../admin", "site"},
    {"example.test", "/admin/./x", "admin"},
    {"example.test", "/x/../../api", "api"},
    {"example.test", "/%zz/api", "site"},             // a bad escape is only bytes
    {"EXAMPLE.test:80", "/api", "api"},
    {"a.wild.test", "/static/app.css", "api"},
    {"a.b.wild.test", "/static", "api"},
    {"a.wild.test", "/other", "fallback"},            // a path-only host: default_app
    {"only-paths.test", "/api/1", "api"},
    {"only-paths.test", "/", "fallback"},
    {"nowhere.test", "/api", "fallback"},
};

Backend* backend_named(const std::string& name, std::vector<Backend*> all) {
  for (Backend* b : all)
    if (b->name() == name) return b;
  return nullptr;
}

}  // namespace

TEST_CASE("HTTP/1.1: each trick is routed as specified and forwarded byte for byte") {
  Backend site("site"), api("api"), admin("admin"), fallback("fallback");
  TurnoutProcess t;
  t.start(config(site, api, admin, fallback));
  TURNOUT_INFO_STDERR(t);
  for (const Case& c : kCases) {
    CAPTURE(c.host);
    CAPTURE(c.target);
    auto r = http_get(t.port(), c.host, c.target);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("X-Backend").value_or("") == c.app);
    CHECK(r->header("X-Seen-Target").value_or("") == c.target);
  }
  // What the backends saw: the targets exactly as sent, nothing rewritten.
  Backend* b = backend_named("admin", {&site, &api, &admin, &fallback});
  std::vector<std::string> seen;
  for (const auto& req : b->requests()) seen.push_back(req.target);
  CHECK(seen == std::vector<std::string>{"/api/../admin", "/api/%2e%2E/admin/x", "/admin/./x"});

  // The status page's data counts traffic per route key, path routes included.
  json status;
  CHECK(wait_until(
      [&] {
        status = t.admin("GET", "/v1/status").json;
        return status.contains("traffic") && status["traffic"].contains("example.test/api") &&
               status["traffic"].contains("*.wild.test/static");
      },
      Ms(5000)));
  CHECK(t.admin("GET", "/v1/routes").json["routes"].contains("example.test/admin"));
}

TEST_CASE("HTTP/1.1: absolute-form targets route by their path; OPTIONS * and CONNECT have none") {
  Backend site("site"), api("api"), admin("admin"), fallback("fallback");
  TurnoutProcess t;
  t.start(config(site, api, admin, fallback));
  TURNOUT_INFO_STDERR(t);
  {
    Client cl(t.port());
    REQUIRE(cl.send("GET http://example.test/api/x HTTP/1.1\r\nHost: example.test\r\n\r\n"));
    auto r = cl.read_response();
    REQUIRE(r);
    CHECK(r->header("X-Backend").value_or("") == "api");
  }
  {
    Client cl(t.port());
    REQUIRE(cl.send("OPTIONS * HTTP/1.1\r\nHost: example.test\r\n\r\n"));
    auto r = cl.read_response();
    REQUIRE(r);
    CHECK(r->header("X-Backend").value_or("") == "site");  // the host's own route
    CHECK(r->header("X-Seen-Target").value_or("") == "*");
  }
}

TEST_CASE("HTTP/2: :path is matched the same way and forwarded as received") {
  Backend site("site"), api("api"), admin("admin"), fallback("fallback");
  TurnoutProcess t;
  t.start(config(site, api, admin, fallback));
  TURNOUT_INFO_STDERR(t);
  json requests = json::array();
  for (const Case& c : kCases) {
    if (std::string(c.host).find(':') != std::string::npos) continue;
    requests.push_back(json{{"authority", c.host}, {"path", c.target}});
  }
  json out = h2_client(t.port(0), {{"steps", {{{"requests", requests}}}}});
  REQUIRE(out["results"].size() == requests.size());
  size_t i = 0;
  for (const Case& c : kCases) {
    if (std::string(c.host).find(':') != std::string::npos) continue;
    CAPTURE(c.host);
    CAPTURE(c.target);
    const json& res = out["results"][i++];
    CHECK(res["status"] == 200);
    CHECK(res["body"] == std::string(c.app) + "\n");
    std::string seen;
    for (const auto& h : res["headers"])
      if (h[0] == "x-seen-target") seen = h[1];
    CHECK(seen == c.target);
  }
}

TEST_CASE("admin API and ctl: path keys are URL-encoded, listed as their own keys, kept across a restart") {
  Backend site("site"), api("api"), admin("admin"), fallback("fallback");
  TempDir state_dir;
  // The same file both times (the admin socket too), so the restart starts from the state.
  const std::string sock = state_dir.file("admin.sock");
  std::string state = "state_file: \"" + state_dir.file("turnout.state") + "\"\nadmin: {socket: \"" + sock + "\"}\n";
  auto adm = [&](std::string_view method, std::string_view path, std::string_view body = {}) {
    return admin_request(sock, method, path, body);
  };
  {
    TurnoutProcess t;
    t.start(config(site, api, admin, fallback, state));
    TURNOUT_INFO_STDERR(t);

    // PUT with the key encoded; the stored form is canonical.
    auto put = adm("PUT", "/v1/routes/example.test%2Fv2%2F/api");
    CHECK(put.status == 200);
    CHECK(apps_of(get_routes(sock), "example.test/v2") == std::set<std::string>{"api"});
    CHECK(http_get(t.port(), "example.test", "/v2/x")->header("X-Backend").value_or("") == "api");
    // An unreserved escape in the key is the same key.
    CHECK(adm("PUT", "/v1/routes/example.test%2F%2576%2532/admin").status == 200);
    CHECK(apps_of(get_routes(sock), "example.test/v2") == std::set<std::string>{"api", "admin"});
    CHECK(adm("DELETE", "/v1/routes/example.test%2Fv2/admin").status == 200);

    // Bad keys: 400 saying why.
    auto bad = adm("PUT", "/v1/routes/example.test%2Fa%2F..%2Fb/api");
    CHECK(bad.status == 400);
    CHECK(bad.body.find("'..'") != std::string::npos);
    CHECK(adm("PUT", "/v1/routes/example.test%2Fa%3Fq/api").status == 400);
    CHECK(adm("PUT", "/v1/routes/example.test%2F/api").status == 400);

    // ctl map / routes / swap / unmap with path keys.
    auto m = run_ctl(sock, {"map", "admin", "example.test/ops", "*.wild.test/ops"});
    INFO("ctl: " << m.out << m.err);
    CHECK(m.code == 0);
    CHECK(http_get(t.port(), "example.test", "/ops/1")->header("X-Backend").value_or("") == "admin");
    CHECK(http_get(t.port(), "z.wild.test", "/ops")->header("X-Backend").value_or("") == "admin");
    auto routes = run_ctl(sock, {"routes"});
    CHECK(routes.code == 0);
    CHECK(routes.out.find("example.test/ops") != std::string::npos);
    CHECK(routes.out.find("*.wild.test/static") != std::string::npos);
    auto sw = run_ctl(sock, {"swap", "admin", "site", "example.test/ops"});
    INFO("ctl: " << sw.out << sw.err);
    CHECK(sw.code == 0);
    CHECK(http_get(t.port(), "example.test", "/ops/1")->header("X-Backend").value_or("") == "site");
    auto um = run_ctl(sock, {"unmap", "admin", "*.wild.test/ops"});
    INFO("ctl: " << um.out << um.err);
    // The last app of a route: the guard asks for --force, as for a host.
    CHECK(um.code != 0);
    CHECK(run_ctl(sock, {"unmap", "admin", "*.wild.test/ops", "--force"}).code == 0);
    CHECK(http_get(t.port(), "z.wild.test", "/ops")->header("X-Backend").value_or("") == "fallback");

    // A batch with a path key.
    auto batch = adm("POST", "/v1/batch", R"([{"op":"map","app":"admin","host":"Example.Test/Batch/"}])");
    CHECK(batch.status == 200);
    CHECK(apps_of(get_routes(sock), "example.test/Batch") == std::set<std::string>{"admin"});
    CHECK(http_get(t.port(), "example.test", "/Batch")->header("X-Backend").value_or("") == "admin");
    CHECK(http_get(t.port(), "example.test", "/batch")->header("X-Backend").value_or("") == "site");
  }
  // Restart from the state file: the runtime path routes are back.
  TurnoutProcess t2;
  t2.start(config(site, api, admin, fallback, state));
  TURNOUT_INFO_STDERR(t2);
  json routes = get_routes(sock);
  CHECK(apps_of(routes, "example.test/v2") == std::set<std::string>{"api"});
  CHECK(apps_of(routes, "example.test/ops") == std::set<std::string>{"site"});
  CHECK(apps_of(routes, "example.test/Batch") == std::set<std::string>{"admin"});
  CHECK(http_get(t2.port(), "example.test", "/v2/%61")->header("X-Backend").value_or("") == "api");
  CHECK(http_get(t2.port(), "example.test", "/Batch/x")->header("X-Backend").value_or("") == "admin");
}

TEST_CASE("check and run refuse a bad path key, saying why") {
  Backend site("site"), api("api"), admin("admin"), fallback("fallback");
  TurnoutProcess t;
  t.expect_exit(kAnyExit, "turnout must refuse a config with a bad route key");
  std::string yaml = config(site, api, admin, fallback);
  yaml.insert(yaml.find("default_app:"), "  \"example.test/a b\": [api]\n");
  CHECK_FALSE(t.try_start(yaml));
  CHECK(t.stderr_text().find("example.test/a b") != std::string::npos);
  CHECK(t.stderr_text().find("no spaces") != std::string::npos);
}
