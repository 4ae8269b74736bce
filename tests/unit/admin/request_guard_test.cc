#include <doctest/doctest.h>

#include "turnout/admin/request_guard.h"

using namespace turnout;

namespace {

AdminRequest req(std::string method, std::string target, std::vector<std::pair<std::string, std::string>> headers) {
  AdminRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers = std::move(headers);
  return r;
}

const RequestGuard kGuard(RequestGuard::loopback_authorities(9901), "secret-token", false);

int status(const AdminRequest& r, bool has_body = false) { return kGuard.check(r, has_body).status; }

}  // namespace

TEST_CASE("request guard: Host must name the listener") {
  const std::pair<std::string, std::string> auth{"authorization", "Bearer secret-token"};
  CHECK(status(req("GET", "/v1/routes", {{"host", "127.0.0.1:9901"}, auth})) == 0);
  CHECK(status(req("GET", "/v1/routes", {{"host", "LOCALHOST:9901"}, auth})) == 0);
  CHECK(status(req("GET", "/v1/routes", {{"host", "[::1]:9901"}, auth})) == 0);
  CHECK(status(req("GET", "/v1/routes", {{"host", "evil.test"}, auth})) == 403);
  CHECK(status(req("GET", "/v1/routes", {{"host", "evil.test:9901"}, auth})) == 403);
  CHECK(status(req("GET", "/v1/routes", {{"host", "127.0.0.1"}, auth})) == 403);       // port 80 only
  CHECK(status(req("GET", "/v1/routes", {{"host", "127.0.0.1:99010"}, auth})) == 403);
  CHECK(status(req("GET", "/v1/routes", {auth})) == 403);                              // no Host
  CHECK(status(req("GET", "/v1/routes", {{"host", "127.0.0.1:9901"}, {"host", "evil.test"}, auth})) == 403);
  CHECK(status(req("GET", "/", {{"host", "evil.test:9901"}})) == 403);                 // page too
  CHECK(kGuard.check(req("GET", "/", {{"host", "evil.test"}}), false).message.find("evil.test") != std::string::npos);

  RequestGuard g = kGuard;
  g.allow_authority("10.1.2.3:9901");
  CHECK(g.check(req("GET", "/v1/routes", {{"host", "10.1.2.3:9901"}, auth}), false).status == 0);
  CHECK(RequestGuard::loopback_authorities(80).size() == 6);
}

TEST_CASE("request guard: Origin, when present, must be the listener's own") {
  const std::pair<std::string, std::string> host{"host", "127.0.0.1:9901"};
  const std::pair<std::string, std::string> auth{"authorization", "Bearer secret-token"};
  CHECK(status(req("DELETE", "/v1/routes/a/b", {host, auth, {"origin", "http://127.0.0.1:9901"}})) == 0);
  CHECK(status(req("DELETE", "/v1/routes/a/b", {host, auth, {"origin", "http://localhost:9901"}})) == 0);
  CHECK(status(req("DELETE", "/v1/routes/a/b", {host, auth, {"origin", "http://evil.test"}})) == 403);
  CHECK(status(req("DELETE", "/v1/routes/a/b", {host, auth, {"origin", "null"}})) == 403);
  CHECK(status(req("DELETE", "/v1/routes/a/b", {host, auth, {"origin", "https://127.0.0.1:9901"}})) == 403);
  CHECK(status(req("DELETE", "/v1/routes/a/b", {host, auth, {"origin", "http://127.0.0.1:9901/"}})) == 403);
  CHECK(status(req("GET", "/", {host, {"origin", "http://evil.test"}})) == 403);
}

TEST_CASE("request guard: the bearer token, for changes always and for reads unless open") {
  const std::pair<std::string, std::string> host{"host", "127.0.0.1:9901"};
  CHECK(status(req("PUT", "/v1/routes/a/b", {host})) == 401);
  CHECK(status(req("PUT", "/v1/routes/a/b", {host, {"authorization", "Bearer secret-toke"}})) == 401);
  CHECK(status(req("PUT", "/v1/routes/a/b", {host, {"authorization", "Bearer secret-tokenx"}})) == 401);
  CHECK(status(req("PUT", "/v1/routes/a/b", {host, {"authorization", "Basic secret-token"}})) == 401);
  CHECK(status(req("PUT", "/v1/routes/a/b", {host, {"authorization", "secret-token"}})) == 401);
  CHECK(status(req("PUT", "/v1/routes/a/b", {host, {"authorization", "bearer secret-token"}})) == 0);
  CHECK(status(req("PUT", "/v1/routes/a/b", {host, {"authorization", "Bearer secret-token"},
                                            {"authorization", "Bearer other"}})) == 401);
  CHECK(status(req("GET", "/v1/routes", {host})) == 401);
  CHECK(status(req("GET", "/", {host})) == 0);       // the status page document
  CHECK(status(req("GET", "/?x=1", {host})) == 0);
  CHECK(status(req("POST", "/", {host})) == 401);

  RequestGuard open(RequestGuard::loopback_authorities(9901), "secret-token", true);
  CHECK(open.check(req("GET", "/v1/routes", {host}), false).status == 0);
  CHECK(open.check(req("HEAD", "/v1/routes", {host}), false).status == 0);
  CHECK(open.check(req("DELETE", "/v1/routes/a/b", {host}), false).status == 401);
  CHECK(open.check(req("POST", "/v1/reload", {host}), false).status == 401);
  // An empty token never matches (a listener must not run without one).
  RequestGuard none(RequestGuard::loopback_authorities(9901), "", false);
  CHECK(none.check(req("PUT", "/v1/routes/a/b", {host, {"authorization", "Bearer "}}), false).status == 401);
}

TEST_CASE("request guard: a change's body must be JSON") {
  const std::pair<std::string, std::string> host{"host", "127.0.0.1:9901"};
  const std::pair<std::string, std::string> auth{"authorization", "Bearer secret-token"};
  CHECK(status(req("POST", "/v1/batch", {host, auth, {"content-type", "application/json"}}), true) == 0);
  CHECK(status(req("POST", "/v1/batch", {host, auth, {"content-type", "Application/JSON; charset=utf-8"}}), true) == 0);
  CHECK(status(req("POST", "/v1/batch", {host, auth, {"content-type", "text/plain"}}), true) == 403);
  CHECK(status(req("POST", "/v1/batch", {host, auth, {"content-type", "application/x-www-form-urlencoded"}}), true) == 403);
  CHECK(status(req("POST", "/v1/batch", {host, auth, {"content-type", "application/jsonx"}}), true) == 403);
  CHECK(status(req("POST", "/v1/batch", {host, auth}), true) == 403);                    // body, no type
  CHECK(status(req("POST", "/v1/reload", {host, auth, {"content-type", "text/plain"}}), false) == 403);
  CHECK(status(req("DELETE", "/v1/routes/a/b", {host, auth}), false) == 0);              // no body, no type
  CHECK(status(req("POST", "/v1/batch", {host, auth, {"content-type", "application/json"},
                                        {"content-type", "text/plain"}}), true) == 403);
  CHECK(kGuard.check(req("POST", "/v1/batch", {host, auth, {"content-type", "text/plain"}}), true)
            .message.find("application/json") != std::string::npos);
}
