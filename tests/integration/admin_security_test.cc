// Admin security (issue 5, item 8; issue 15, item 1): the unix socket is 0600 and owned by the
// running user whatever the umask; a TCP admin listener beyond loopback needs `allow_remote:
// true`, which needs a token; every TCP listener needs `Authorization: Bearer <token>` (from
// admin.token, or generated into admin.token_file), refuses foreign Host and Origin headers and
// non-JSON change bodies; admin request bodies are size-limited; invalid input answers 4xx and
// changes nothing (the table version included).
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <tuple>

#include "integration/harness.h"
#include "integration/remap_util.h"

using namespace turnout::test;
using namespace turnout::test::remap;

namespace {

const std::string kToken = "s3cret-Token_for.tests";

// blue and green, example.com on blue; `admin` is the whole admin mapping.
std::string config(const std::string& admin, const Backend& blue, const Backend& green) {
  return "admin: " + admin + "\n"
         "apps:\n"
         "  blue: {servers: " + yaml_list({blue.addr()}) + "}\n"
         "  green: {servers: " + yaml_list({green.addr()}) + "}\n"
         "routes:\n"
         "  example.com: [blue]\n";
}

std::string admin_map(const TurnoutProcess& t, const std::string& extra) {
  return "{socket: \"" + t.admin_socket() + "\"" + extra + "}";
}

// The TCP admin port from "msg="admin listening" http=ADDR port=N".
int admin_tcp_port(const TurnoutProcess& t) {
  std::string log = t.stderr_text();
  size_t at = log.find("admin listening\" http=");
  if (at == std::string::npos) return -1;
  size_t p = log.find("port=", at);
  if (p == std::string::npos) return -1;
  return std::atoi(log.c_str() + p + 5);
}

// One request on a fresh TCP connection to the admin listener.
std::optional<Response> tcp_admin(int port, const std::string& method, const std::string& path,
                                  const std::string& body, const Headers& headers) {
  Client cl(port);
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nConnection: close\r\n";
  for (const auto& [n, v] : headers) req += n + ": " + v + "\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  if (!cl.send(req)) return std::nullopt;
  return cl.read_response(Ms(5000));
}

// Connects to a unix socket; -1 on failure.
int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// What a raw admin exchange over the unix socket returned.
struct RawReply {
  int status = 0;     // 0 when nothing parsable came back
  std::string head;   // status line through CRLFCRLF
  std::string body;   // everything after the head until turnout closed
};

// Sends `head`, then as much of `body` as turnout takes within 3 s (it may stop reading once it
// has decided), then reads the answer through to the close.
RawReply unix_exchange(const std::string& socket, const std::string& head, const std::string& body) {
  RawReply out;
  int fd = connect_unix(socket);
  if (fd < 0) return out;
  Conn c(fd);
  if (!c.send_all(head, Ms(3000))) return out;
  c.send_all(body, Ms(3000));
  std::string all;
  c.read_until_close([&](std::string_view d) { all.append(d); }, Clock::now() + Ms(5000));
  size_t end = all.find("\r\n\r\n");
  if (all.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return out;
  out.status = std::atoi(all.c_str() + 9);
  out.head = all.substr(0, end + 4);
  out.body = all.substr(end + 4);
  return out;
}

// The table as the API shows it, for "changes nothing" checks.
struct TableState {
  int64_t version = -1;
  json routes;
  std::optional<AppServers> apps;
  bool operator==(const TableState& o) const { return version == o.version && routes == o.routes && apps == o.apps; }
};
TableState table_state(const TurnoutProcess& t) {
  TableState s;
  s.routes = get_routes(t.admin_socket());
  if (s.routes.is_object() && s.routes.contains("version")) s.version = s.routes["version"].get<int64_t>();
  s.apps = get_app_servers(t.admin_socket());
  return s;
}

// A raw request on a fresh TCP connection to the admin listener; the answer, or nullopt.
std::optional<Response> tcp_raw(int port, const std::string& request) {
  Client cl(port);
  if (!cl.send(request)) return std::nullopt;
  return cl.read_response(Ms(5000));
}

// "METHOD PATH" with the given header lines (each "Name: value\r\n") and body.
std::string raw_request(const std::string& method, const std::string& path, const std::string& header_lines,
                        const std::string& body = "") {
  return method + " " + path + " HTTP/1.1\r\n" + header_lines + "Connection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The admin token turnout generated (first line of the file), "" when missing.
std::string token_in(const std::string& path) {
  std::string t = read_file(path);
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  return t;
}

// A config with a loopback TCP admin listener on a free port; `extra` goes inside admin {}.
std::string tcp_config(const TurnoutProcess& t, const Backend& blue, const Backend& green, const std::string& extra = "") {
  return config(admin_map(t, ", http: \"127.0.0.1:0\"" + extra), blue, green);
}

const std::string kBatch = R"([{"op": "swap", "from": "blue", "to": "green", "host": "example.com"}])";

}  // namespace

TEST_CASE("the admin socket is 0600 and owned by the running user, even under umask 0") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  mode_t old = ::umask(0);  // inherited by turnout: it must not rely on the caller's umask
  bool started = t.try_start(config(admin_map(t, ""), blue, green));
  ::umask(old);
  TURNOUT_INFO_STDERR(t);
  REQUIRE(started);

  struct stat st {};
  REQUIRE(::lstat(t.admin_socket().c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_uid == ::getuid());
  CHECK(st.st_gid == ::getgid());
  CHECK(t.admin("GET", "/v1/routes").status == 200);
}

TEST_CASE("admin http beyond loopback without allow_remote: turnout refuses to start and `turnout check` says why") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.expect_exit(1, "admin http beyond loopback without allow_remote must be refused");
  CHECK_FALSE(t.try_start(config(admin_map(t, ", http: \"0.0.0.0:0\""), blue, green)));
  auto code = t.wait_exit(Ms(5000));
  REQUIRE(code.has_value());
  CHECK(*code != 0);
  std::string err = t.stderr_text();
  INFO("turnout stderr:\n" << err);
  CHECK(err.find("0.0.0.0") != std::string::npos);
  CHECK(err.find("allow_remote") != std::string::npos);

  CtlRun check = run_turnout({"check", "-c", t.config_path()});
  INFO("check stdout:\n" << check.out << "\ncheck stderr:\n" << check.err);
  CHECK(check.code == 1);
  std::string said = check.out + check.err;
  CHECK(said.find("allow_remote") != std::string::npos);
  CHECK(said.find("admin") != std::string::npos);
  CHECK(said.find("turnout.yaml") != std::string::npos);  // names the file
}

TEST_CASE("allow_remote without a token: turnout refuses to start and `turnout check` says why") {
  Backend blue("blue"), green("green");
  for (std::string token_part : {std::string(""), std::string(", token: \"\"")}) {
    CAPTURE(token_part);
    TurnoutProcess t;
    t.expect_exit(1, "allow_remote without a token must be refused");
    CHECK_FALSE(t.try_start(config(admin_map(t, ", http: \"0.0.0.0:0\", allow_remote: true" + token_part), blue, green)));
    auto code = t.wait_exit(Ms(5000));
    REQUIRE(code.has_value());
    CHECK(*code != 0);
    std::string err = t.stderr_text();
    INFO("turnout stderr:\n" << err);
    CHECK(err.find("token") != std::string::npos);

    CtlRun check = run_turnout({"check", "-c", t.config_path()});
    INFO("check stdout:\n" << check.out << "\ncheck stderr:\n" << check.err);
    CHECK(check.code == 1);
    CHECK((check.out + check.err).find("token") != std::string::npos);
  }
}

TEST_CASE("allow_remote with a token: requests without the bearer token get 401 and change nothing; with it they work") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(config(admin_map(t, ", http: \"0.0.0.0:0\", allow_remote: true, token: \"" + kToken + "\""), blue, green));
  TURNOUT_INFO_STDERR(t);
  int port = admin_tcp_port(t);
  REQUIRE(port > 0);
  const TableState before = table_state(t);
  REQUIRE(before.version > 0);

  const std::vector<std::pair<std::string, Headers>> refused = {
      {"no Authorization", {}},
      {"wrong token", {{"Authorization", "Bearer wrong-token"}}},
      {"token with a suffix", {{"Authorization", "Bearer " + kToken + "x"}}},
      {"token prefix only", {{"Authorization", "Bearer " + kToken.substr(0, kToken.size() - 1)}}},
      {"no scheme", {{"Authorization", kToken}}},
      {"Basic scheme", {{"Authorization", "Basic " + kToken}}},
      {"empty bearer", {{"Authorization", "Bearer "}}},
      {"token in another header", {{"X-Token", kToken}}},
  };
  for (const auto& [name, headers] : refused) {
    CAPTURE(name);
    for (auto [method, path, body] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"PUT", "/v1/routes/example.com/green", ""},
             {"DELETE", "/v1/routes/example.com/blue", ""},
             {"POST", "/v1/batch", R"([{"op": "swap", "from": "blue", "to": "green", "host": "example.com"}])"},
             {"PUT", "/v1/apps/evil", R"({"servers": ["127.0.0.1:1"]})"},
             {"GET", "/v1/routes", ""},
             {"GET", "/v1/apps", ""},
             {"POST", "/v1/reload", ""},
         }) {
      CAPTURE(method);
      CAPTURE(path);
      auto r = tcp_admin(port, method, path, body, headers);
      REQUIRE(r);
      CHECK(r->status == 401);
      CHECK(r->header("WWW-Authenticate").has_value());
      CHECK(r->body.find(kToken) == std::string::npos);
      CHECK(r->body.find("blue") == std::string::npos);  // no table data leaks
    }
  }
  CHECK(table_state(t) == before);
  CHECK(who(http_get(t.port(), "example.com", "/")) == "blue");

  // With the token: reads and changes work.
  const Headers auth = {{"Authorization", "Bearer " + kToken}};
  auto r = tcp_admin(port, "GET", "/v1/routes", "", auth);
  REQUIRE(r);
  CHECK(r->status == 200);
  r = tcp_admin(port, "PUT", "/v1/routes/example.com/green", "", auth);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body, nullptr, false)["version"] == before.version + 1);
  r = tcp_admin(port, "DELETE", "/v1/routes/example.com/blue", "", {{"authorization", "bearer " + kToken}});
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(who(http_get(t.port(), "example.com", "/")) == "green");
  // The unix socket (0600, same user) needs no token.
  CHECK(t.admin("GET", "/v1/routes").status == 200);
}

TEST_CASE("admin request bodies over the limit get 413 and change nothing") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(config(admin_map(t, ""), blue, green));
  TURNOUT_INFO_STDERR(t);
  const TableState before = table_state(t);
  REQUIRE(before.version > 0);

  // A valid JSON body of 2 MiB (the padding is inside a string).
  const std::string big = R"({"servers": ["127.0.0.1:1"], "x": ")" + std::string(2 << 20, 'a') + "\"}";
  SUBCASE("announced by Content-Length") {
    RawReply r = unix_exchange(t.admin_socket(),
                               "PUT /v1/apps/big HTTP/1.1\r\nHost: admin\r\nContent-Type: application/json\r\n"
                               "Content-Length: " + std::to_string(big.size()) + "\r\n\r\n",
                               big);
    INFO("answer head: " << r.head);
    CHECK(r.status == 413);
    CHECK(json::parse(r.body, nullptr, false).value("error", std::string()) != "");
  }
  SUBCASE("chunked") {
    std::string chunked;
    for (size_t off = 0; off < big.size(); off += 65536) {
      std::string piece = big.substr(off, 65536);
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
      chunked += size + piece + "\r\n";
    }
    chunked += "0\r\n\r\n";
    RawReply r = unix_exchange(t.admin_socket(),
                               "POST /v1/batch HTTP/1.1\r\nHost: admin\r\nContent-Type: application/json\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n",
                               chunked);
    INFO("answer head: " << r.head);
    CHECK(r.status == 413);
  }
  SUBCASE("announced, with only the head sent") {
    RawReply r = unix_exchange(t.admin_socket(),
                               "PUT /v1/apps/big HTTP/1.1\r\nHost: admin\r\nContent-Length: 104857600\r\n\r\n", "");
    CHECK(r.status == 413);
  }
  CHECK(table_state(t) == before);
  CHECK(t.admin("GET", "/v1/status").status == 200);
}

TEST_CASE("invalid admin input answers 4xx and changes nothing, not even the version") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(config(admin_map(t, ""), blue, green));
  TURNOUT_INFO_STDERR(t);
  const TableState before = table_state(t);
  REQUIRE(before.version > 0);

  struct Bad {
    std::string method, path, body;
  };
  const std::vector<Bad> bad = {
      {"POST", "/v1/batch", "{not json"},
      {"POST", "/v1/batch", "[{\"op\": \"map\", \"app\": \"green\", \"host\": \"example.com\"}"},  // truncated
      {"POST", "/v1/batch", "[{\"op\": \"map\", \"app\": \"green\", \"host\": \"example.com\"}, {\"op\": \"explode\"}]"},
      {"POST", "/v1/batch", "[{\"op\": \"map\", \"app\": \"green\", \"host\": \"exa mple.com\"}]"},
      {"POST", "/v1/batch", "[{\"op\": \"map\", \"app\": \"green\", \"host\": \"\"}]"},
      {"POST", "/v1/batch", "[{\"op\": \"map\", \"app\": \"green\", \"host\": \"a.com/b?c\"}]"},
      {"POST", "/v1/batch", "[{\"op\": \"map\", \"app\": \"green\", \"host\": 7}]"},
      {"POST", "/v1/batch", "[{\"op\": \"map\", \"app\": \"green\", \"host\": \"example.com\", \"weight\": 0}]"},
      {"POST", "/v1/batch", "{\"op\": \"map\", \"app\": \"green\", \"host\": \"example.com\"}"},  // not a list
      {"POST", "/v1/batch", "\"map\""},
      {"PUT", "/v1/routes/exa%20mple.com/green", ""},
      {"PUT", "/v1/routes/a..b/green", ""},
      {"PUT", "/v1/routes/%00evil.com/green", ""},
      {"PUT", "/v1/routes/example.com%2f..%2fadmin/green", ""},
      {"PUT", "/v1/routes/example.com/green", "{\"weight\": "},
      {"PUT", "/v1/routes/example.com/green", "[1, 2]"},
      {"PUT", "/v1/apps/gray", "{\"servers\": [\"127.0.0.1:1\"] trailing"},
      {"PUT", "/v1/apps/gray", "{\"servers\": [\"nowhere\"]}"},
      {"PUT", "/v1/apps/gray", "{\"servers\": [{\"addr\": \"127.0.0.1:1\", \"weight\": -5}]}"},
      {"POST", "/v1/apps/blue/servers", "{\"addr\": 12}"},
      {"POST", "/v1/rollback", "{\"version\": -1}"},
      {"POST", "/v1/rollback", "{bad"},
  };
  for (const auto& b : bad) {
    CAPTURE(b.method);
    CAPTURE(b.path);
    CAPTURE(b.body);
    AdminReply r = t.admin(b.method, b.path, b.body);
    CAPTURE(r.body);
    CHECK(r.status >= 400);
    CHECK(r.status < 500);
    CHECK(r.json.is_object());
    CHECK(table_state(t) == before);
  }
  // A good change afterwards gets exactly the next version.
  AdminReply ok = t.admin("PUT", "/v1/routes/example.com/green");
  CHECK(ok.status == 200);
  CHECK(ok.json["version"] == before.version + 1);
}

TEST_CASE("a TCP admin listener without admin.token generates one into a 0600 token file; changes need it") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  mode_t old = ::umask(0);  // the file must be 0600 whatever the umask
  bool started = t.try_start(tcp_config(t, blue, green));
  ::umask(old);
  TURNOUT_INFO_STDERR(t);
  REQUIRE(started);
  int port = admin_tcp_port(t);
  REQUIRE(port > 0);
  const std::string host = "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";

  // Default admin.token_file: turnout.token beside the admin socket.
  const std::string file = t.dir().file("turnout.token");
  struct stat st {};
  REQUIRE(::lstat(file.c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
  const std::string token = token_in(file);
  CHECK(token.size() == 64);
  CHECK(token.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(t.stderr_text().find("admin token generated") != std::string::npos);
  CHECK(t.stderr_text().find(token) == std::string::npos);  // never logged

  const TableState before = table_state(t);
  REQUIRE(before.version > 0);
  for (const std::string& auth : {std::string(), std::string("Authorization: Bearer wrong\r\n"),
                                  "Authorization: Bearer " + token.substr(1) + "\r\n"}) {
    CAPTURE(auth);
    auto r = tcp_raw(port, raw_request("DELETE", "/v1/routes/example.com/blue", host + auth));
    REQUIRE(r);
    CHECK(r->status == 401);
    r = tcp_raw(port, raw_request("POST", "/v1/batch", host + auth + "Content-Type: application/json\r\n", kBatch));
    REQUIRE(r);
    CHECK(r->status == 401);
    r = tcp_raw(port, raw_request("GET", "/v1/routes", host + auth));
    REQUIRE(r);
    CHECK(r->status == 401);  // reads too, without admin.open_reads
    CHECK(r->body.find("example.com") == std::string::npos);
  }
  CHECK(table_state(t) == before);

  // The status page document holds no data: it loads without the token and asks for it.
  auto page = tcp_raw(port, raw_request("GET", "/", host));
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->body.find("token-form") != std::string::npos);

  const std::string auth = "Authorization: Bearer " + token + "\r\n";
  auto r = tcp_raw(port, raw_request("GET", "/v1/routes", host + auth));
  REQUIRE(r);
  CHECK(r->status == 200);
  r = tcp_raw(port, raw_request("POST", "/v1/batch", host + auth + "Content-Type: application/json\r\n", kBatch));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body, nullptr, false)["version"] == before.version + 1);
  CHECK(who(http_get(t.port(), "example.com", "/")) == "green");
}

TEST_CASE("an existing token file is reused; one readable by others stops turnout with a message") {
  Backend blue("blue"), green("green");
  TempDir keys;
  const std::string file = keys.file("admin.token");
  SUBCASE("0600: its token is the one required") {
    keys.write("admin.token", "my-own-token-1234\n");
    REQUIRE(::chmod(file.c_str(), 0600) == 0);
    TurnoutProcess t;
    t.start(tcp_config(t, blue, green, ", token_file: \"" + file + "\""));
    TURNOUT_INFO_STDERR(t);
    int port = admin_tcp_port(t);
    REQUIRE(port > 0);
    const std::string host = "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
    CHECK(token_in(file) == "my-own-token-1234");  // not overwritten
    auto r = tcp_raw(port, raw_request("PUT", "/v1/routes/example.com/green", host + "Authorization: Bearer my-own-token-1234\r\n"));
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  SUBCASE("0644: refused") {
    keys.write("admin.token", "my-own-token-1234\n");
    REQUIRE(::chmod(file.c_str(), 0644) == 0);
    TurnoutProcess t;
    t.expect_exit(1, "a token file readable by others must stop turnout");
    CHECK_FALSE(t.try_start(tcp_config(t, blue, green, ", token_file: \"" + file + "\"")));
    auto code = t.wait_exit(Ms(5000));
    REQUIRE(code.has_value());
    CHECK(*code != 0);
    std::string err = t.stderr_text();
    INFO("turnout stderr:\n" << err);
    CHECK(err.find(file) != std::string::npos);
    CHECK(err.find("chmod 600") != std::string::npos);
  }
}

TEST_CASE("browser-style requests are refused: foreign Origin, foreign Host, non-JSON change bodies") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(tcp_config(t, blue, green));
  TURNOUT_INFO_STDERR(t);
  int port = admin_tcp_port(t);
  REQUIRE(port > 0);
  const std::string p = std::to_string(port);
  const std::string token = token_in(t.dir().file("turnout.token"));
  REQUIRE(!token.empty());
  const std::string host = "Host: 127.0.0.1:" + p + "\r\n";
  const std::string auth = "Authorization: Bearer " + token + "\r\n";
  const std::string json_type = "Content-Type: application/json\r\n";
  const TableState before = table_state(t);
  REQUIRE(before.version > 0);

  struct Case {
    const char* name;
    std::string method, path, headers, body;
  };
  const std::vector<Case> refused = {
      // The attack from the issue, as a page on evil.test sends it (no token: a page has none).
      {"the issue's attack", "POST", "/v1/batch", host + "Origin: http://evil.test\r\nContent-Type: text/plain\r\n", kBatch},
      // The same, even if the page somehow had the token.
      {"foreign Origin, token", "POST", "/v1/batch", host + auth + "Origin: http://evil.test\r\n" + json_type, kBatch},
      {"foreign Origin on a read", "GET", "/v1/routes", host + auth + "Origin: http://evil.test\r\n", ""},
      {"Origin null", "DELETE", "/v1/routes/example.com/blue", host + auth + "Origin: null\r\n", ""},
      {"Origin on another port", "DELETE", "/v1/routes/example.com/blue", host + auth + "Origin: http://127.0.0.1:1\r\n", ""},
      {"https Origin", "DELETE", "/v1/routes/example.com/blue", host + auth + "Origin: https://127.0.0.1:" + p + "\r\n", ""},
      // DNS rebinding: evil.test resolves to 127.0.0.1, the browser still says Host: evil.test.
      {"Host evil.test", "DELETE", "/v1/routes/example.com/blue", "Host: evil.test\r\n" + auth, ""},
      {"Host evil.test:port", "GET", "/v1/routes", "Host: evil.test:" + p + "\r\n" + auth, ""},
      {"Host on another port", "GET", "/v1/routes", "Host: 127.0.0.1:1\r\n" + auth, ""},
      {"rebound status page", "GET", "/", "Host: evil.test:" + p + "\r\n", ""},
      // Bodies a form or a simple cross-site fetch can send, with the token.
      {"text/plain body", "POST", "/v1/batch", host + auth + "Content-Type: text/plain\r\n", kBatch},
      {"form body", "POST", "/v1/batch", host + auth + "Content-Type: application/x-www-form-urlencoded\r\n", kBatch},
      {"multipart body", "PUT", "/v1/apps/evil", host + auth + "Content-Type: multipart/form-data; boundary=x\r\n",
       R"({"servers": ["127.0.0.1:1"]})"},
      {"no Content-Type", "PUT", "/v1/apps/evil", host + auth, R"({"servers": ["127.0.0.1:1"]})"},
  };
  for (const Case& c : refused) {
    CAPTURE(c.name);
    auto r = tcp_raw(port, raw_request(c.method, c.path, c.headers, c.body));
    REQUIRE(r);
    CHECK(r->status == 403);
    CHECK(json::parse(r->body, nullptr, false).value("error", std::string()) != "");
    CHECK(r->body.find("example.com") == std::string::npos);  // no table data leaks
  }
  CHECK(table_state(t) == before);
  CHECK(who(http_get(t.port(), "example.com", "/")) == "blue");

  // Its own names and origin are fine, and a JSON type may carry parameters.
  const std::vector<Case> allowed = {
      {"own Origin", "GET", "/v1/routes", host + auth + "Origin: http://127.0.0.1:" + p + "\r\n", ""},
      {"Host localhost", "GET", "/v1/routes", "Host: localhost:" + p + "\r\n" + auth, ""},
      {"Host [::1]", "GET", "/v1/routes", "Host: [::1]:" + p + "\r\n" + auth, ""},
      {"JSON with charset", "PUT", "/v1/routes/example.com/green",
       host + auth + "Content-Type: application/json; charset=utf-8\r\n", R"({"weight": 1})"},
      {"bodiless DELETE", "DELETE", "/v1/routes/example.com/blue", host + auth + "Origin: http://localhost:" + p + "\r\n", ""},
  };
  for (const Case& c : allowed) {
    CAPTURE(c.name);
    auto r = tcp_raw(port, raw_request(c.method, c.path, c.headers, c.body));
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(who(http_get(t.port(), "example.com", "/")) == "green");
}

TEST_CASE("admin.open_reads: GETs on the TCP listener need no token, changes still do") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(tcp_config(t, blue, green, ", open_reads: true"));
  TURNOUT_INFO_STDERR(t);
  int port = admin_tcp_port(t);
  REQUIRE(port > 0);
  const std::string host = "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  auto r = tcp_raw(port, raw_request("GET", "/v1/routes", host));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.find("example.com") != std::string::npos);
  const TableState before = table_state(t);
  r = tcp_raw(port, raw_request("PUT", "/v1/routes/example.com/green", host));
  REQUIRE(r);
  CHECK(r->status == 401);
  // Host and Origin are still checked on reads.
  r = tcp_raw(port, raw_request("GET", "/v1/routes", "Host: evil.test\r\n"));
  REQUIRE(r);
  CHECK(r->status == 403);
  CHECK(table_state(t) == before);
}

TEST_CASE("another local user: the TCP listener answers 401, the unix socket and the token file refuse it") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: switching to the user nobody needs root");
    return;
  }
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(tcp_config(t, blue, green));
  TURNOUT_INFO_STDERR(t);
  int port = admin_tcp_port(t);
  REQUIRE(port > 0);
  const TableState before = table_state(t);

  // A child process as nobody (uid/gid 65534) tries what the issue's local user did.
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipefd[0]);
    std::string out;
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
      out = "setuid failed";
    } else {
      // TCP: the change the issue's `curl -X DELETE` made, as curl sends it.
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      std::string status = "no answer";
      if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        std::string req = "DELETE /v1/routes/example.com/blue HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                          "\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n";
        (void)!::write(fd, req.data(), req.size());
        char buf[64] = {};
        ssize_t n = ::read(fd, buf, sizeof buf - 1);
        if (n > 12) status = std::string(buf + 9, 3);
      }
      out += "tcp=" + status + "\n";
      int u = connect_unix(t.admin_socket());
      out += std::string("unix=") + (u >= 0 ? "connected" : std::strerror(errno)) + "\n";
      int tf = ::open(t.dir().file("turnout.token").c_str(), O_RDONLY);
      out += std::string("token_file=") + (tf >= 0 ? "readable" : std::strerror(errno)) + "\n";
    }
    (void)!::write(pipefd[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  INFO("as nobody:\n" << out);
  CHECK(out.find("tcp=401\n") != std::string::npos);
  CHECK(out.find("unix=Permission denied\n") != std::string::npos);
  CHECK(out.find("token_file=Permission denied\n") != std::string::npos);
  CHECK(table_state(t) == before);
}

TEST_CASE("ctl over TCP: the token comes from --token or -c CONFIG's token file; a 401 says where it is") {
  Backend blue("blue"), green("green");
  TurnoutProcess t;
  t.start(tcp_config(t, blue, green));
  TURNOUT_INFO_STDERR(t);
  int port = admin_tcp_port(t);
  REQUIRE(port > 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  const std::string token_file = t.dir().file("turnout.token");
  const TableState before = table_state(t);

  CtlRun refused = run_turnout({"ctl", "-s", url, "unmap", "blue", "example.com"});
  INFO("ctl stdout: " << refused.out << "\nctl stderr: " << refused.err);
  CHECK(refused.code == 1);
  CHECK(refused.err.find("HTTP 401") != std::string::npos);
  CHECK(refused.err.find("--token") != std::string::npos);
  CHECK(table_state(t) == before);

  // With -c, the 401 names the very file (here the token given is wrong).
  CtlRun wrong = run_turnout({"ctl", "-c", t.config_path(), "-s", url, "--token", "nope", "map", "green", "example.com"});
  INFO("ctl stderr: " << wrong.err);
  CHECK(wrong.code == 1);
  CHECK(wrong.err.find(token_file) != std::string::npos);
  CHECK(table_state(t) == before);

  CtlRun with_config = run_turnout({"ctl", "-c", t.config_path(), "-s", url, "map", "green", "example.com"});
  INFO("ctl stderr: " << with_config.err);
  CHECK(with_config.code == 0);
  CtlRun with_flag = run_turnout({"ctl", "-s", url, "--token", token_in(token_file), "unmap", "blue", "example.com"});
  INFO("ctl stderr: " << with_flag.err);
  CHECK(with_flag.code == 0);
  CHECK(who(http_get(t.port(), "example.com", "/")) == "green");
  // -c alone: the admin socket of the config.
  CtlRun by_config = run_turnout({"ctl", "-c", t.config_path(), "routes"});
  CHECK(by_config.code == 0);
  CHECK(by_config.out.find("green") != std::string::npos);
}
