#include <doctest/doctest.h>

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "turnout/ctl/ctl.h"
#include "turnout/ctl/ctl_client.h"
#include "turnout/ctl/ctl_format.h"

using namespace turnout;
using json = nlohmann::json;

namespace {

Result<CtlOptions> parse(std::vector<std::string> args, const char* env_socket = nullptr) {
  return parse_ctl_args(args, env_socket, nullptr);
}

CtlRequest request_for(std::vector<std::string> args) {
  Result<CtlOptions> o = parse(std::move(args));
  REQUIRE_MESSAGE(o.ok(), o.error().message);
  return build_ctl_request(*o);
}

}  // namespace

TEST_CASE("ctl arguments: socket, token, flags anywhere") {
  Result<CtlOptions> o = parse({"routes"});
  REQUIRE(o.ok());
  CHECK(o->target == "./turnout.sock");
  CHECK(o->verb == "routes");
  CHECK(!o->json);

  CHECK(parse({"routes"}, "/run/turnout.sock")->target == "/run/turnout.sock");
  CHECK(parse({"-s", "/tmp/t.sock", "routes"}, "/run/turnout.sock")->target == "/tmp/t.sock");
  CHECK(parse({"--socket=/tmp/t.sock", "routes"})->target == "/tmp/t.sock");
  Result<CtlOptions> tcp = parse({"-s", "http://127.0.0.1:9901", "--token", "T", "apps", "--json"});
  REQUIRE(tcp.ok());
  CHECK(tcp->target == "http://127.0.0.1:9901");
  CHECK(tcp->token == "T");
  CHECK(tcp->json);

  Result<CtlOptions> map = parse({"map", "example2", "example.com", "www.example.com", "--weight", "9"});
  REQUIRE(map.ok());
  CHECK(map->args == std::vector<std::string>{"example2", "example.com", "www.example.com"});
  CHECK(map->weight == 9u);
  CHECK(parse({"--help"})->help);
}

TEST_CASE("ctl usage errors carry code 2") {
  auto err = [](std::vector<std::string> args) {
    Result<CtlOptions> o = parse(std::move(args));
    REQUIRE(!o.ok());
    CHECK(o.error().kind == ErrorKind::Usage);
    return o.error().message;
  };
  CHECK(err({}) == "missing verb");
  CHECK(err({"teleport"}) == "unknown verb \"teleport\"");
  CHECK(err({"map", "example2"}) == "map: missing arguments");
  CHECK(err({"routes", "extra"}) == "routes: too many arguments");
  CHECK(err({"map", "a", "h", "--weight", "0"}).find("--weight must be") == 0);
  CHECK(err({"map", "a", "h", "--weight"}) == "--weight needs a value");
  CHECK(err({"map", "a", "h", "--wait"}) == "map: --wait does not apply");
  CHECK(err({"unmap", "a", "h", "--weight", "2"}) == "unmap: --weight does not apply");
  CHECK(err({"routes", "--frobnicate"}) == "unknown option \"--frobnicate\"");
  CHECK(err({"rollback", "latest"}) == "rollback: \"latest\" is not a version");
  CHECK(err({"rollback", "--to", "x"}) == "--to: \"x\" is not a version");
  CHECK(err({"rollback", "--to", "3", "4"}) == "rollback: give the version once, as --to N or N");
  CHECK(err({"unmap", "a", "h", "--timeout", "3"}) == "unmap: --timeout applies with --wait or --fleet");
  CHECK(err({"routes", "--fleet"}) == "routes: --fleet applies to changes");
  CHECK(err({"unmap", "a", "h", "--fleet", "--wait"}) == "unmap: --wait and --fleet are one at a time");
  CHECK(err({"unmap", "a", "h", "--wait", "--timeout", "soon"}).find("--timeout must be seconds") == 0);
  CHECK(err({"routes", "--force"}) == "routes: --force does not apply");
  CHECK(err({"rollback", "--force"}) == "rollback: --force does not apply");
  // Bytes that are not UTF-8 are refused, not sent with U+FFFD in their place.
  CHECK(err({"map", "example2", "caf\xe9.example.com"}) == "argument \"caf\\xe9.example.com\" is not valid UTF-8");
  CHECK(parse({"map", "example2", "caf\xc3\xa9.example.com"}).ok());
  CHECK(ctl_usage().find("swap FROM_APP TO_APP HOST...") != std::string::npos);
}

TEST_CASE("each verb becomes one API request") {
  CHECK(request_for({"routes"}).path == "/v1/routes");
  CHECK(request_for({"status"}).method == "GET");

  CtlRequest map = request_for({"map", "example2", "example.com", "www.example.com"});
  CHECK(map.method == "POST");
  CHECK(map.path == "/v1/batch");
  CHECK(json::parse(map.body) == json::parse(R"([{"op": "map", "app": "example2", "host": "example.com"},
                                                 {"op": "map", "app": "example2", "host": "www.example.com"}])"));
  CHECK(json::parse(request_for({"map", "a", "h", "--weight", "3"}).body)[0]["weight"] == 3);

  CtlRequest unmap_one = request_for({"unmap", "example", "example.com", "--wait"});
  CHECK(unmap_one.method == "DELETE");
  // --wait: the change is answered at once; ctl then polls the in-flight count itself.
  CHECK(unmap_one.path == "/v1/routes/example.com/example");
  std::vector<CtlDrainTarget> drains = ctl_drain_targets(*parse({"unmap", "example", "example.com", "--wait"}));
  REQUIRE(drains.size() == 1);
  CHECK(drains[0].host == "example.com");
  CHECK(drains[0].app == "example");
  CHECK(ctl_drain_targets(*parse({"unmap", "example", "example.com"})).empty());
  drains = ctl_drain_targets(*parse({"swap", "blue", "green", "a.com", "b.com", "--wait", "--timeout", "5"}));
  REQUIRE(drains.size() == 2);
  CHECK(drains[1].host == "b.com");
  CHECK(drains[1].app == "blue");
  CHECK(parse({"unmap", "a", "h", "--wait", "--timeout", "2.5"})->timeout_s == 2.5);
  CHECK(request_for({"unmap", "example", "*.example.org"}).path == "/v1/routes/%2A.example.org/example");
  CtlRequest unmap_many = request_for({"unmap", "example", "a.com", "b.com", "--wait"});
  CHECK(unmap_many.path == "/v1/batch");
  // --force: ?force=1 on every change endpoint, batch included.
  CHECK(request_for({"unmap", "example", "a.com", "b.com", "--force"}).path == "/v1/batch?force=1");
  CHECK(request_for({"unmap", "example", "a.com", "--force"}).path == "/v1/routes/a.com/example?force=1");
  CHECK(request_for({"remove-server", "a", "127.0.0.1:1", "--force"}).path == "/v1/apps/a/servers/127.0.0.1%3A1?force=1");
  CHECK(request_for({"reload", "--force"}).path == "/v1/reload?force=1");
  CHECK(json::parse(unmap_many.body).size() == 2);

  CtlRequest swap = request_for({"swap", "example", "example2", "example.com", "www.example.com"});
  CHECK(swap.path == "/v1/swap");
  CHECK(json::parse(swap.body) == json{{"from", "example"}, {"to", "example2"}, {"hosts", {"example.com", "www.example.com"}}});

  CtlRequest add = request_for({"add-server", "example", "unix:/run/app.sock", "--weight", "2"});
  CHECK(add.path == "/v1/apps/example/servers");
  CHECK(json::parse(add.body) == json{{"addr", "unix:/run/app.sock"}, {"weight", 2}});
  CHECK(request_for({"remove-server", "example", "unix:/run/app.sock"}).path ==
        "/v1/apps/example/servers/unix%3A%2Frun%2Fapp.sock");

  CtlRequest create = request_for({"app-create", "blue", "127.0.0.1:9001", "127.0.0.1:9002"});
  CHECK(create.method == "PUT");
  CHECK(create.path == "/v1/apps/blue");
  CHECK(json::parse(create.body) == json{{"servers", {"127.0.0.1:9001", "127.0.0.1:9002"}}});
  CHECK(request_for({"app-delete", "blue"}).method == "DELETE");

  CHECK(request_for({"rollback"}).body.empty());
  CHECK(json::parse(request_for({"rollback", "12"}).body) == json{{"version", 12}});
  CHECK(json::parse(request_for({"rollback", "--to", "7"}).body) == json{{"version", 7}});
  CHECK(request_for({"export"}).path == "/v1/export");
  CHECK(request_for({"reload"}).path == "/v1/reload");
  CHECK(request_for({"history"}).path == "/v1/history");
}

TEST_CASE("routes table: sorted by host, weights shown, default last") {
  json j = json::parse(R"({"version": 7, "default_app": "example",
    "routes": {"www.example.com": {"example": 1}, "canary.example.com": {"example": 1, "example2": 9},
               "*.example.org": {"example": 1}}})");
  CHECK(format_routes(j) ==
        "table version 7\n"
        "\n"
        "HOST                APPS\n"
        "*.example.org       example(1)\n"
        "canary.example.com  example(1), example2(9)\n"
        "www.example.com     example(1)\n"
        "(default)           example\n");
  CHECK(format_routes(json::parse(R"({"version": 1, "routes": {}, "default_app": null})")) ==
        "table version 1\n\nHOST  APPS\nno routes\n");
}

TEST_CASE("apps table: servers, up/down state, hosts") {
  json j = json::parse(R"({"version": 3, "default_app": null, "apps": {
    "example": {"servers": [{"addr": "127.0.0.1:9001", "weight": 1, "up": true},
                            {"addr": "127.0.0.1:9002", "weight": 1, "up": false}],
                "hosts": ["example.com", "www.example.com"]},
    "example2": {"servers": [{"addr": "127.0.0.1:9101", "weight": 3, "up": true}], "hosts": []},
    "empty": {"servers": [], "hosts": []}}})");
  CHECK(format_apps(j) ==
        "table version 3\n"
        "\n"
        "APP       SERVERS                         STATE         REQ/S  ERRORS  P50  P99  HOSTS\n"
        "empty     -                               no servers    -      -       -    -    -\n"
        "example   127.0.0.1:9001, 127.0.0.1:9002  1 up, 1 down  -      -       -    -    example.com, www.example.com\n"
        "example2  127.0.0.1:9101(3)               1 up          -      -       -    -    -\n"
        "\nREQ/S, ERRORS and latency (P50, P99: request sent to response head) cover the last 10 s.\n");
}

TEST_CASE("apps table: live request rate, error rate and latency columns") {
  json j = json::parse(R"({"version": 3, "default_app": null, "apps": {
    "web": {"servers": [{"addr": "127.0.0.1:9001", "weight": 1, "up": true}], "hosts": ["web.test"],
            "health": "up",
            "live": {"requests_per_second": 12.34, "error_rate": 0.025, "p50_ms": 3.21, "p99_ms": 48.7,
                     "mean_ms": 5.0, "responses": 100, "errors": 3}},
    "idle": {"servers": [{"addr": "127.0.0.1:9002", "weight": 1, "up": true}], "hosts": [],
             "live": {"requests_per_second": 0, "error_rate": 0, "p50_ms": null, "p99_ms": null}}}})");
  std::string out = format_apps(j);
  INFO(out);
  CHECK(out.find("APP   SERVERS         STATE  REQ/S  ERRORS  P50    P99   HOSTS\n") != std::string::npos);
  CHECK(out.find("web   127.0.0.1:9001  1 up   12.3   2.5%    3.2ms  49ms  web.test\n") != std::string::npos);
  CHECK(out.find("idle  127.0.0.1:9002  1 up   0.0    0.0%    -      -     -\n") != std::string::npos);
}

TEST_CASE("status, history and change answers") {
  json status = json::parse(R"({"version": 4, "uptime_s": 10, "workers": {"count": 2}, "listen": ["a", "b"]})");
  CHECK(format_status(status) == "listen: a, b\nuptime_s: 10\nversion: 4\nworkers.count: 2\n");
  json now = json::parse(R"({"turnout_version": "0.1.0", "pid": 42, "uptime_seconds": 3725,
    "started_unix_ms": 1700000000000, "now_unix_ms": 1700003725000, "listeners": ["127.0.0.1:8080"],
    "workers": [{}, {}], "connections": {"active": 5, "idle": 3}, "requests": 1234, "errors": 7, "no_route": 2,
    "rates": {"window_seconds": 10.2, "requests_per_second": 12.5, "error_rate": 0.004, "no_route_per_second": 0},
    "version": 7, "routes": 4, "apps": 3, "reloads": 1, "reload_failures": 0,
    "last_change": {"version": 7, "unix_ms": 1700003545000, "summary": "map example2 example.com"}})");
  CHECK(format_status(now) ==
        "turnout 0.1.0, pid 42, up 1h 02m (since 2023-11-14 22:13:20 UTC)\n"
        "\n"
        "listening    127.0.0.1:8080\n"
        "workers      2\n"
        "connections  5 open (3 idle)\n"
        "traffic      12.5 req/s, 0.4% errors (5xx), 0.0 no-route req/s over the last 10s\n"
        "since start  1234 requests, 7 errors (5xx), 2 for hosts with no route\n"
        "table        version 7: 4 routes, 3 apps\n"
        "last change  version 7 at 2023-11-14 23:12:25 UTC, 3m 00s ago: map example2 example.com\n"
        "reloads      1\n");
  json history = json::parse(R"({"version": 2, "history": [
    {"version": 1, "unix_ms": 0, "summary": "start"},
    {"version": 2, "unix_ms": 1700000000000, "summary": "map example2 example.com"}]})");
  CHECK(format_history(history) ==
        "VERSION  TIME (UTC)           CHANGE\n"
        "1        1970-01-01 00:00:00  start\n"
        "2        2023-11-14 22:13:20  map example2 example.com\n");
  CHECK(format_change(json{{"version", 7}}) == "ok: version 7\n");
  // A change prints the resulting route of every host it touched, and the servers of every app.
  CHECK(format_change(json::parse(R"({"version": 8, "routes": {"example.com": {"blue": 1, "green": 9},
                                       "old.example.com": null},
                                      "apps": {"blue": {"servers": [{"addr": "127.0.0.1:9001", "weight": 1}]}}})")) ==
        "example.com      ->  blue(1), green(9)\n"
        "old.example.com  ->  (no route: answers 404)\n"
        "app blue: 127.0.0.1:9001(1)\n"
        "ok: version 8\n");
  CHECK(format_change(json::parse(R"({"version": 12, "restored": 9, "next_rollback": 8})")) ==
        "rolled back to the table of version 9; a further rollback goes to version 8\nok: version 12\n");
  CHECK(format_table({{"A", "B"}, {"long value", ""}}) == "A           B\nlong value\n");
}

TEST_CASE("rendering an answer: tables, --json verbatim, API errors") {
  CtlOptions o = *parse({"map", "a", "h"});
  std::string out, err;
  CHECK(render_ctl_answer(o, CtlAnswer{200, "{\"version\":7}\n"}, &out, &err) == 0);
  CHECK(out == "ok: version 7\n");
  CHECK(err.empty());

  out.clear();
  CHECK(render_ctl_answer(o, CtlAnswer{409, R"({"error":"app 'a' is still mapped"})"}, &out, &err) == 1);
  CHECK(err == "turnout ctl: app 'a' is still mapped (HTTP 409)\n");

  CtlOptions j = *parse({"routes", "--json"});
  out.clear();
  err.clear();
  CHECK(render_ctl_answer(j, CtlAnswer{200, R"({"version":1,"routes":{}})"}, &out, &err) == 0);
  CHECK(out == "{\"version\":1,\"routes\":{}}\n");
}

TEST_CASE("parse_http_answer") {
  Result<CtlAnswer> a = parse_http_answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
  REQUIRE(a.ok());
  CHECK(a->status == 200);
  CHECK(a->body == "{}");
  Result<CtlAnswer> b = parse_http_answer("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 409 Conflict\r\ncontent-length: 3\r\n\r\nabcdef");
  REQUIRE(b.ok());
  CHECK(b->status == 409);
  CHECK(b->body == "abc");
  CHECK(!parse_http_answer("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}").ok());
  CHECK(!parse_http_answer("garbage").ok());
}

TEST_CASE("a missing socket gives a clear message and exit 1") {
  char dir_tmpl[] = "/tmp/turnout-ctl-XXXXXX";
  REQUIRE(mkdtemp(dir_tmpl) != nullptr);
  std::string path = std::string(dir_tmpl) + "/turnout.sock";
  Result<CtlAnswer> r = ctl_call(path, "", CtlRequest{"GET", "/v1/routes", ""});
  REQUIRE(!r.ok());
  CHECK(r.error().message ==
        "cannot connect to " + path + ": No such file or directory (is turnout running? set -s SOCKET)");
  ::rmdir(dir_tmpl);

  // Through run_ctl, as a user types it.
  std::string sock_arg = path;
  std::vector<std::string> args = {"turnout", "ctl", "-s", sock_arg, "routes"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  CHECK(run_ctl(static_cast<int>(argv.size()), argv.data()) == 1);
  std::vector<std::string> bad = {"turnout", "ctl", "nonsense"};
  std::vector<char*> bad_argv;
  for (auto& a : bad) bad_argv.push_back(a.data());
  CHECK(run_ctl(static_cast<int>(bad_argv.size()), bad_argv.data()) == 2);
}

TEST_CASE("cert-set reads the PEM files here and sends their text; certs and cert-delete") {
  char dir_tmpl[] = "/tmp/turnout-ctl-XXXXXX";
  REQUIRE(::mkdtemp(dir_tmpl) != nullptr);
  std::string dir = dir_tmpl;
  std::string cert = dir + "/site.crt", key = dir + "/site.key";
  {
    std::ofstream(cert) << "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    std::ofstream(key) << "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
  }
  Result<CtlOptions> o = parse({"cert-set", "my site", cert, key, "--force"});
  REQUIRE(o.ok());
  REQUIRE(read_ctl_files(*o).ok());
  CtlRequest r = build_ctl_request(*o);
  CHECK(r.method == "PUT");
  CHECK(r.path == "/v1/certificates/my%20site?force=1");
  json body = json::parse(r.body);
  CHECK(body["cert"] == "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  CHECK(body["key"] == "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");

  Result<CtlOptions> missing = parse({"cert-set", "site", dir + "/nope.crt", key});
  REQUIRE(missing.ok());
  Result<void> read = read_ctl_files(*missing);
  REQUIRE(!read.ok());
  CHECK(read.error().message.find(dir + "/nope.crt") != std::string::npos);
  std::remove(cert.c_str());
  std::remove(key.c_str());
  ::rmdir(dir.c_str());

  CHECK(parse({"cert-set", "site", "only-cert"}).error().kind == ErrorKind::Usage);
  CHECK(parse({"cert-delete"}).error().kind == ErrorKind::Usage);
  CHECK(parse({"certs", "--wait"}).error().kind == ErrorKind::Usage);
  CtlRequest del = request_for({"cert-delete", "site", "--force"});
  CHECK(del.method == "DELETE");
  CHECK(del.path == "/v1/certificates/site?force=1");
  CtlRequest list = request_for({"certs"});
  CHECK(list.method == "GET");
  CHECK(list.path == "/v1/certificates");
}

TEST_CASE("certs table and a certificate change's answer") {
  json j = json::parse(R"({"version": 7, "default_certificate": "b", "certificates": {
    "b": {"name": "b", "dns_names": ["b.test", "*.b.test"], "key_type": "RSA", "not_after": "2027-01-01T00:00:00Z",
          "sha256": "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55", "expired": false, "default": true},
    "a": {"name": "a", "dns_names": ["a.test"], "key_type": "ECDSA", "not_after": "2026-01-01T00:00:00Z",
          "sha256": "01:02", "expired": true, "default": false}}})");
  std::string t = format_certificates(j);
  CHECK(t == "table version 7\n\n"
             "NAME  DNS NAMES         KEY    NOT AFTER             SHA256                      FLAGS\n"
             "a     a.test            ECDSA  2026-01-01T00:00:00Z  01:02                       EXPIRED\n"
             "b     b.test, *.b.test  RSA    2027-01-01T00:00:00Z  AA:BB:CC:DD:EE:FF:00:11...  default\n");
  CHECK(format_certificates(json::parse(R"({"version": 1, "certificates": {}})")) ==
        "table version 1\n\n(no certificates)\n");
  std::string change = format_change(json::parse(R"({"version": 8, "certificates": {"a": null,
      "c": {"dns_names": ["c.test"], "key_type": "ECDSA", "not_after": "2027-01-01T00:00:00Z", "sha256": "01:02"}}})"));
  CHECK(change == "certificate a: (deleted)\n"
                  "certificate c: c.test (ECDSA, not after 2027-01-01T00:00:00Z, sha256 01:02)\n"
                  "ok: version 8\n");
}

TEST_CASE("--fleet asks a change to wait for the whole fleet; ctl fleet lists instances") {
  CtlRequest r = request_for({"map", "green", "a.com", "b.com", "--fleet"});
  CHECK(r.method == "POST");
  CHECK(r.path == "/v1/batch?wait=fleet");
  r = request_for({"unmap", "green", "a.com", "--fleet", "--timeout", "2.5", "--force"});
  CHECK(r.path == "/v1/routes/a.com/green?force=1&wait=fleet&timeout=2.5");
  r = request_for({"rollback", "--fleet"});
  CHECK(r.path == "/v1/rollback?wait=fleet");
  r = request_for({"fleet"});
  CHECK(r.method == "GET");
  CHECK(r.path == "/v1/fleet");

  nlohmann::json j = {{"version", 9},
                      {"instance", "edge-1"},
                      {"table_source", "etcd"},
                      {"instances",
                       {{"edge-1", {{"version", 9}, {"lag", 0}, {"addr", "unix:/a.sock"}}},
                        {"edge-2", {{"version", 7}, {"lag", 2}, {"addr", "http://127.0.0.1:9"}}}}}};
  std::string out = format_fleet(j);
  CHECK(out.find("fleet version 9 (this instance: edge-1, table source: etcd)") == 0);
  CHECK(out.find("edge-2    7        2    http://127.0.0.1:9") != std::string::npos);
}

TEST_CASE("ctl map/unmap --when-header / --when-cookie send the rule in the body") {
  CtlRequest m = request_for({"-s", "/x.sock", "map", "canary", "beta.example.com", "--when-header", "X-Canary=1", "--weight", "2"});
  CHECK(m.method == "POST");
  CHECK(m.path == "/v1/batch");
  json ops = json::parse(m.body);
  REQUIRE(ops.size() == 1);
  CHECK(ops[0]["when"] == json{{"header", "x-canary"}, {"value", "1"}});
  CHECK(ops[0]["weight"] == 2);
  CtlRequest u = request_for({"-s", "/x.sock", "unmap", "canary", "beta.example.com", "--when-cookie=canary=a=b"});
  CHECK(u.path == "/v1/batch");
  json uops = json::parse(u.body);
  CHECK(uops[0]["op"] == "unmap");
  CHECK(uops[0]["when"] == json{{"cookie", "canary"}, {"value", "a=b"}});
  // Without a rule, a single unmap stays a DELETE.
  CHECK(request_for({"-s", "/x.sock", "unmap", "canary", "beta.example.com"}).method == "DELETE");

  for (std::vector<std::string> bad : {std::vector<std::string>{"-s", "/x.sock", "map", "a", "h", "--when-header", "X-Canary"},
                                       {"-s", "/x.sock", "map", "a", "h", "--when-header", "X Canary=1"},
                                       {"-s", "/x.sock", "map", "a", "h", "--when-cookie", "c="},
                                       {"-s", "/x.sock", "map", "a", "h", "--when-header", "A=1", "--when-cookie", "c=1"},
                                       {"-s", "/x.sock", "add-server", "a", "127.0.0.1:1", "--when-header", "A=1"}}) {
    auto o = parse(bad);
    REQUIRE_FALSE(o.ok());
    CHECK(o.error().kind == ErrorKind::Usage);
  }
}

TEST_CASE("routes table and change answers show rules beside the plain shares") {
  json j = {{"version", 7},
            {"routes", {{"beta.example.com", {{"stable", 1}}}}},
            {"rules", {{"beta.example.com", json::array({{{"app", "canary"}, {"weight", 1}, {"when", {{"header", "x-canary"}, {"value", "1"}}}}})}}},
            {"default_app", nullptr}};
  std::string out = format_routes(j);
  CHECK(out.find("stable(1), canary(1) when header x-canary=1") != std::string::npos);
  std::string change = format_change(j);
  CHECK(change.find("beta.example.com  ->  stable(1), canary(1) when header x-canary=1") != std::string::npos);
}
