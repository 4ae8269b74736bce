// The admin API over its real unix socket: AdminServer + endpoint table + a FakeActions that
// applies changes to a real RouteTable. The test drives the uv loop itself (no threads): a
// blocking client writes raw HTTP, then the loop runs until the answer is readable.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "turnout/admin/admin_server.h"
#include "turnout/admin/api.h"
#include "turnout/common/log.h"
#include "turnout/route/route_builder.h"
#include "tls/test_certs.h"

using namespace turnout;
using json = nlohmann::json;

namespace {

Config base_config() {
  Config c;
  c.apps["example"].servers = {{"127.0.0.1:9001", 1}, {"127.0.0.1:9002", 1}};
  c.apps["example2"].servers = {{"127.0.0.1:9101", 3}};
  c.apps["spare"].servers = {};
  c.routes["example.com"] = {{"example", 1}};
  c.routes["www.example.com"] = {{"example", 1}};
  c.routes["*.example.org"] = {{"example", 1}};
  return c;
}

// AdminActions over a real RouteTable. `hold` queues answers until release(), the way the real
// server answers only after every worker acknowledged.
class FakeActions : public AdminActions {
 public:
  FakeActions() {
    Result<RouteTablePtr> t = build_table(base_config(), 1);
    REQUIRE(t.ok());
    current_ = *t;
    kept_[1] = current_;
  }

  RouteTablePtr current_table() const override { return current_; }

  void apply(std::vector<Change> changes, std::optional<uint64_t> if_match, std::string summary, bool force,
             Done done) override {
    ++apply_calls;
    last_changes = changes;
    last_summary = summary;
    last_force = force;
    if (if_match && *if_match != current_->version()) {
      done(make_error(ErrorKind::Conflict, "table is at version " + std::to_string(current_->version())));
      return;
    }
    Result<RouteTablePtr> next = apply_changes(*current_, changes, current_->version() + 1);
    if (!next) {
      done(next.error());
      return;
    }
    publish(*next, summary, std::move(done));
  }

  void rollback(std::optional<uint64_t> version, std::optional<uint64_t> if_match, Done done) override {
    ++rollback_calls;
    if (if_match && *if_match != current_->version()) return done(make_error(ErrorKind::Conflict, "stale"));
    uint64_t v = version.value_or(current_->version() - 1);
    auto it = kept_.find(v);
    if (it == kept_.end()) return done(make_error(ErrorKind::NotFound, "version " + std::to_string(v) + " is not kept"));
    publish(it->second->with_version(current_->version() + 1), "rollback to " + std::to_string(v), std::move(done));
  }

  void reload(bool force, Done done) override {
    ++reload_calls;
    last_force = force;
    if (reload_error) return done(make_error(ErrorKind::Invalid, *reload_error));
    publish(current_->with_version(current_->version() + 1), "reload", std::move(done));
  }

  void wait_drained(std::string host, std::string app, uint64_t timeout_ms,
                    std::function<void(uint64_t)> done) override {
    drain_requests.emplace_back(host, app);
    drain_timeouts.push_back(timeout_ms);
    drain_waiters.push_back(std::move(done));
  }

  std::vector<HistoryEntry> history() const override { return history_; }
  std::map<std::string, ServerStats> server_stats() override { return stats; }
  json status() override { return {{"version", current_->version()}, {"uptime_s", 12}, {"connections", 3}}; }
  std::string metrics() override { return "turnout_table_version " + std::to_string(current_->version()) + "\n"; }
  void upgrade(Done done) override { done(make_error(ErrorKind::NotImplemented, "no upgrade in this fake")); }
  void takeover(int fd) override { ::close(fd); }

  // Answers everything held, in order.
  void release() {
    auto pending = std::move(held_);
    held_.clear();
    for (auto& fn : pending) fn();
  }
  size_t held() const { return held_.size(); }

  bool hold = false;                                  // queue answers until release()
  int apply_calls = 0;
  int rollback_calls = 0;
  int reload_calls = 0;
  std::vector<Change> last_changes;
  std::string last_summary;
  std::optional<std::string> reload_error;            // reload fails with this (400)
  std::vector<std::pair<std::string, std::string>> drain_requests;
  std::vector<std::function<void(uint64_t)>> drain_waiters;
  std::vector<uint64_t> drain_timeouts;              // timeout_ms of each wait_drained
  bool last_force = false;                           // force of the last apply/reload
  std::map<std::string, ServerStats> stats;

 private:
  void publish(RouteTablePtr next, const std::string& summary, Done done) {
    current_ = std::move(next);
    kept_[current_->version()] = current_;
    history_.push_back({current_->version(), 1700000000000, summary});
    uint64_t v = current_->version();
    if (hold) {
      held_.push_back([done = std::move(done), v] { done(v); });
    } else {
      done(v);
    }
  }

  RouteTablePtr current_;
  std::map<uint64_t, RouteTablePtr> kept_;
  std::vector<HistoryEntry> history_;
  std::vector<std::function<void()>> held_;
};

std::string make_temp_dir() {
  char tmpl[] = "/tmp/turnout-admin-XXXXXX";
  char* dir = mkdtemp(tmpl);
  REQUIRE(dir != nullptr);
  return dir;
}

struct Answer {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  json j;  // parsed body, or discarded
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Splits one complete answer off the front of `buf`; false if not complete yet.
bool take_answer(std::string& buf, Answer* out) {
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::string head = buf.substr(0, end);
  Answer a;
  a.status = std::atoi(head.substr(9, 3).c_str());
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    size_t next = head.find("\r\n", pos + 2);
    std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    a.headers[name] = value;
    pos = next;
  }
  size_t length = std::strtoul(a.header("content-length").c_str(), nullptr, 10);
  if (buf.size() < end + 4 + length) return false;
  a.body = buf.substr(end + 4, length);
  a.j = json::parse(a.body, nullptr, false);
  buf.erase(0, end + 4 + length);
  if (a.status == 100) return take_answer(buf, out);
  *out = std::move(a);
  return true;
}

// Owns a loop, a FakeActions and an AdminServer on a socket in a fresh temp directory.
// Ends by closing the server and checking the loop closes clean (no leaked handle).
struct Fixture {
  explicit Fixture(AdminOptions opts = {}, bool start = true) {
    set_log_level(LogLevel::Warn);  // "admin listening" lines would drown the test output
    REQUIRE(uv_loop_init(&loop) == 0);
    dir = make_temp_dir();
    if (opts.socket_path.empty()) opts.socket_path = dir + "/turnout.sock";
    options = opts;
    server = std::make_unique<AdminServer>(&loop, actions, opts);
    if (start) {
      Result<void> r = server->start();
      REQUIRE_MESSAGE(r.ok(), r.error().message);
    }
  }
  ~Fixture() {
    server->close();
    server.reset();
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    std::filesystem::remove_all(dir);
  }
  void spin(int turns = 5) {
    for (int i = 0; i < turns; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  }

  uv_loop_t loop;
  std::string dir;
  AdminOptions options;
  FakeActions actions;
  std::unique_ptr<AdminServer> server;
};

int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

int connect_tcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(port));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  return fd;
}

// A raw HTTP client on one connection; the fixture's loop is run while waiting.
struct Client {
  Client(Fixture& f, int fd_) : fx(f), fd(fd_) {
    REQUIRE(fd >= 0);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  explicit Client(Fixture& f) : Client(f, connect_unix(f.options.socket_path)) {}
  ~Client() {
    if (fd >= 0) ::close(fd);
  }

  void send_raw(const std::string& data) {
    size_t off = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (off < data.size()) {
      ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (n < 0 && errno == EAGAIN) {
        fx.spin(1);
        REQUIRE(std::chrono::steady_clock::now() < deadline);
      } else {
        return;  // peer closed (e.g. after 413): the answer is still readable
      }
    }
  }

  // Reads what is available; returns false on EOF.
  bool pump(int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return true;
    char tmp[65536];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n > 0) {
      buf.append(tmp, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EAGAIN) return true;
    eof = true;
    return false;
  }

  // Runs the loop until an answer arrives (fails the test after 5 s).
  Answer answer() {
    Answer a;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!take_answer(buf, &a)) {
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "no answer; got so far: " << buf);
      fx.spin(1);
      if (!pump(2) && !take_answer(buf, &a)) FAIL("connection closed before an answer; got: " << buf);
      if (a.status != 0) break;
    }
    return a;
  }

  // True if nothing arrived while the loop ran a while.
  bool silent(int turns = 20) {
    for (int i = 0; i < turns; ++i) {
      fx.spin(1);
      pump(1);
    }
    return buf.empty();
  }

  // True if the server closed the connection.
  bool closed_by_server() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!eof && std::chrono::steady_clock::now() < deadline) {
      fx.spin(1);
      pump(2);
    }
    return eof;
  }

  // Sends one request without waiting for its answer.
  void send_request(const std::string& method, const std::string& target, const std::string& body = "",
                    const std::string& extra_headers = "") {
    // extra_headers starting with "Host:" replace the default one (the TCP listener checks it).
    bool own_host = extra_headers.rfind("Host:", 0) == 0;
    std::string raw = method + " " + target + " HTTP/1.1\r\n" + (own_host ? "" : "Host: x\r\n") + extra_headers;
    if (!body.empty() || method == "POST" || method == "PUT") raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    raw += "\r\n" + body;
    send_raw(raw);
  }

  Answer request(const std::string& method, const std::string& target, const std::string& body = "",
                 const std::string& extra_headers = "") {
    send_request(method, target, body, extra_headers);
    return answer();
  }

  Fixture& fx;
  int fd;
  std::string buf;
  bool eof = false;
};

// One request on a fresh connection.
Answer call(Fixture& f, const std::string& method, const std::string& target, const std::string& body = "",
            const std::string& extra_headers = "") {
  Client c(f);
  return c.request(method, target, body, extra_headers);
}

uint64_t version_of(Fixture& f) { return f.actions.current_table()->version(); }

}  // namespace

TEST_CASE("GET /v1/routes lists hosts, apps and weights as JSON") {
  Fixture f;
  Answer a = call(f, "GET", "/v1/routes");
  CHECK(a.status == 200);
  CHECK(a.header("content-type") == "application/json");
  CHECK(a.header("content-length") == std::to_string(a.body.size()));
  REQUIRE(!a.j.is_discarded());
  CHECK(a.j["version"] == 1);
  CHECK(a.j["routes"]["example.com"] == json{{"example", 1}});
  CHECK(a.j["routes"]["*.example.org"] == json{{"example", 1}});
  CHECK(a.j["routes"].size() == 3);
  CHECK(a.j["default_app"].is_null());
}

TEST_CASE("PUT and DELETE /v1/routes/{host}/{app} map and unmap, answering the new version") {
  Fixture f;
  Answer a = call(f, "PUT", "/v1/routes/Example.COM/example2");
  CHECK(a.status == 200);
  // The answer carries the resulting route of the host it touched, for `ctl` to print.
  CHECK(a.j == json{{"version", 2}, {"routes", {{"example.com", {{"example", 1}, {"example2", 1}}}}}});
  Answer routes = call(f, "GET", "/v1/routes");
  CHECK(routes.j["routes"]["example.com"] == json{{"example", 1}, {"example2", 1}});

  SUBCASE("a weight in the body re-weights the mapping") {
    Answer w = call(f, "PUT", "/v1/routes/example.com/example2", R"({"weight": 9})");
    CHECK(w.status == 200);
    CHECK(call(f, "GET", "/v1/routes").j["routes"]["example.com"]["example2"] == 9);
  }
  SUBCASE("unmap, then unmapping again is 404 and changes nothing") {
    Answer d = call(f, "DELETE", "/v1/routes/example.com/example");
    CHECK(d.status == 200);
    CHECK(d.j["version"] == 3);
    CHECK(call(f, "GET", "/v1/routes").j["routes"]["example.com"] == json{{"example2", 1}});
    Answer again = call(f, "DELETE", "/v1/routes/example.com/example");
    CHECK(again.status == 404);
    CHECK(again.j["error"].is_string());
    CHECK(version_of(f) == 3);
  }
  SUBCASE("a wildcard host works as a path component") {
    Answer d = call(f, "DELETE", "/v1/routes/*.example.org/example");
    CHECK(d.status == 200);
    CHECK(!call(f, "GET", "/v1/routes").j["routes"].contains("*.example.org"));
  }
  SUBCASE("the summary recorded in the history names the change") {
    CHECK(f.actions.last_summary == "map example2 example.com");
    Answer h = call(f, "GET", "/v1/history");
    CHECK(h.status == 200);
    CHECK(h.j["history"].back()["summary"] == "map example2 example.com");
    CHECK(h.j["history"].back()["version"] == 2);
  }
}

TEST_CASE("bad input answers 4xx with an error and changes nothing") {
  Fixture f;
  SUBCASE("invalid host") {
    Answer a = call(f, "PUT", "/v1/routes/bad_host!/example");
    CHECK(a.status == 400);
    CHECK(a.j["error"].get<std::string>().find("invalid route key") != std::string::npos);
  }
  SUBCASE("invalid JSON") {
    Answer a = call(f, "PUT", "/v1/apps/newapp", "{\"servers\": [");
    CHECK(a.status == 400);
    CHECK(a.j["error"] == "request body is not valid JSON");
  }
  SUBCASE("wrong JSON shape") {
    CHECK(call(f, "PUT", "/v1/apps/newapp", R"({"servers": "127.0.0.1:1"})").status == 400);
    CHECK(call(f, "PUT", "/v1/routes/example.com/example2", R"({"weight": 0})").status == 400);
    CHECK(call(f, "PUT", "/v1/routes/example.com/example2", R"({"weight": "2"})").status == 400);
    CHECK(call(f, "POST", "/v1/apps/example/servers", R"({"weight": 2})").status == 400);
  }
  SUBCASE("a batch with one bad op applies none") {
    Answer a = call(f, "POST", "/v1/batch",
                    R"([{"op": "map", "app": "example2", "host": "example.com"}, {"op": "teleport"}])");
    CHECK(a.status == 400);
    CHECK(a.j["error"].get<std::string>().rfind("batch[1]: unknown op", 0) == 0);
  }
  SUBCASE("a batch failing in the table applies none") {
    Answer a = call(f, "POST", "/v1/batch",
                    R"([{"op": "map", "app": "example2", "host": "example.com"},
                        {"op": "unmap", "app": "example2", "host": "nowhere.com"}])");
    CHECK(a.status == 404);
    CHECK(call(f, "GET", "/v1/routes").j["routes"]["example.com"] == json{{"example", 1}});
  }
  SUBCASE("unknown app") {
    CHECK(call(f, "PUT", "/v1/routes/example.com/nosuchapp").status == 404);
  }
  CHECK(version_of(f) == 1);
}

TEST_CASE("If-Match makes a change conditional on the table version") {
  Fixture f;
  CHECK(call(f, "PUT", "/v1/routes/example.com/example2", "", "If-Match: 1\r\n").status == 200);
  Answer stale = call(f, "PUT", "/v1/routes/www.example.com/example2", "", "If-Match: \"1\"\r\n");
  CHECK(stale.status == 409);
  CHECK(stale.j["error"].is_string());
  CHECK(call(f, "PUT", "/v1/routes/www.example.com/example2", "", "If-Match: \"2\"\r\n").status == 200);
  CHECK(call(f, "PUT", "/v1/routes/www.example.com/example2", "", "If-Match: two\r\n").status == 400);
  CHECK(call(f, "POST", "/v1/reload", "", "If-Match: 1\r\n").status == 409);
  CHECK(f.actions.reload_calls == 0);
  CHECK(version_of(f) == 3);
}

TEST_CASE("apps: list with counters and hosts, create, delete, add and remove servers") {
  Fixture f;
  f.actions.stats["127.0.0.1:9002"] = ServerStats{false, 5, 1, 2, 0, 0};
  Answer a = call(f, "GET", "/v1/apps");
  CHECK(a.status == 200);
  CHECK(a.j["version"] == 1);
  json ex = a.j["apps"]["example"];
  CHECK(ex["hosts"] == json{"*.example.org", "example.com", "www.example.com"});
  REQUIRE(ex["servers"].size() == 2);
  CHECK(ex["servers"][0] == json{{"addr", "127.0.0.1:9001"}, {"weight", 1}, {"up", true}, {"requests", 0},
                                 {"in_flight", 0}, {"failures", 0}});
  CHECK(ex["servers"][1]["up"] == false);
  CHECK(ex["servers"][1]["requests"] == 5);
  CHECK(ex["servers"][1]["in_flight"] == 1);
  CHECK(ex["servers"][1]["failures"] == 2);
  CHECK(a.j["apps"]["example2"]["hosts"] == json::array());
  CHECK(a.j["apps"]["example2"]["servers"][0]["weight"] == 3);

  Answer put = call(f, "PUT", "/v1/apps/blue", R"({"servers": ["127.0.0.1:9201", {"addr": "127.0.0.1:9202", "weight": 2}]})");
  CHECK(put.status == 200);
  json blue = call(f, "GET", "/v1/apps").j["apps"]["blue"];
  CHECK(blue["servers"].size() == 2);
  CHECK(blue["servers"][1]["weight"] == 2);

  CHECK(call(f, "DELETE", "/v1/apps/example").status == 409);  // still mapped
  CHECK(call(f, "DELETE", "/v1/apps/blue").status == 200);
  CHECK(call(f, "DELETE", "/v1/apps/blue").status == 404);

  CHECK(call(f, "POST", "/v1/apps/spare/servers", R"({"addr": "127.0.0.1:9301", "weight": 4})").status == 200);
  CHECK(call(f, "POST", "/v1/apps/spare/servers", R"({"addr": "127.0.0.1:9301"})").status == 409);
  CHECK(call(f, "POST", "/v1/apps/spare/servers", R"({"addr": "unix:/run/app.sock"})").status == 200);
  json spare = call(f, "GET", "/v1/apps").j["apps"]["spare"];
  REQUIRE(spare["servers"].size() == 2);
  CHECK(spare["servers"][0]["weight"] == 4);

  SUBCASE("a server address with ':' and '/' as they come") {
    CHECK(call(f, "DELETE", "/v1/apps/spare/servers/unix:/run/app.sock").status == 200);
    CHECK(call(f, "DELETE", "/v1/apps/spare/servers/127.0.0.1:9301").status == 200);
  }
  SUBCASE("a server address percent-encoded") {
    CHECK(call(f, "DELETE", "/v1/apps/spare/servers/unix%3A%2Frun%2Fapp.sock").status == 200);
    CHECK(call(f, "DELETE", "/v1/apps/spare/servers/127.0.0.1%3A9301").status == 200);
  }
  CHECK(call(f, "GET", "/v1/apps").j["apps"]["spare"]["servers"].empty());
  CHECK(call(f, "DELETE", "/v1/apps/spare/servers/127.0.0.1:9301").status == 404);
  CHECK(call(f, "DELETE", "/v1/apps/spare/servers/%zz").status == 400);
}

TEST_CASE("batch and swap are one version each") {
  Fixture f;
  SUBCASE("batch of every kind of op") {
    Answer a = call(f, "POST", "/v1/batch", R"([
      {"op": "app-create", "app": "green", "servers": ["127.0.0.1:9401"]},
      {"op": "map", "app": "green", "host": "green.example.com", "weight": 2},
      {"op": "swap", "from": "example", "to": "example2", "host": "www.example.com"},
      {"op": "add-server", "app": "green", "addr": "127.0.0.1:9402"},
      {"op": "remove-server", "app": "green", "addr": "127.0.0.1:9401"},
      {"op": "unmap", "app": "example", "host": "example.com"},
      {"op": "set-default", "app": "example2"},
      {"op": "app-delete", "app": "spare"}
    ])");
    CHECK(a.status == 200);
    CHECK(a.j["version"] == 2);
    CHECK(a.j["routes"]["example.com"].is_null());  // unmapped: no route left
    CHECK(a.j["apps"]["spare"].is_null());          // deleted
    CHECK(f.actions.apply_calls == 1);
    json r = call(f, "GET", "/v1/routes").j;
    CHECK(r["routes"]["green.example.com"] == json{{"green", 2}});
    CHECK(r["routes"]["www.example.com"] == json{{"example2", 1}});
    CHECK(!r["routes"].contains("example.com"));
    CHECK(r["default_app"] == "example2");
    json apps = call(f, "GET", "/v1/apps").j["apps"];
    CHECK(!apps.contains("spare"));
    CHECK(apps["green"]["servers"][0]["addr"] == "127.0.0.1:9402");
  }
  SUBCASE("swap endpoint over several hosts") {
    Answer a = call(f, "POST", "/v1/swap", R"({"from": "example", "to": "example2", "hosts": ["example.com", "WWW.example.com"]})");
    CHECK(a.status == 200);
    CHECK(a.j["version"] == 2);
    json r = call(f, "GET", "/v1/routes").j["routes"];
    CHECK(r["example.com"] == json{{"example2", 1}});
    CHECK(r["www.example.com"] == json{{"example2", 1}});
    CHECK(r["*.example.org"] == json{{"example", 1}});
    CHECK(f.actions.last_summary == "swap example example2 example.com www.example.com");
    // Swapping back works even though example2 was never... the reverse of a swap is a swap.
    CHECK(call(f, "POST", "/v1/swap", R"({"from": "example2", "to": "example", "hosts": ["example.com"]})").status == 200);
    CHECK(call(f, "GET", "/v1/routes").j["routes"]["example.com"] == json{{"example", 1}});
  }
  SUBCASE("swap with from == to is refused") {
    CHECK(call(f, "POST", "/v1/swap", R"({"from": "example", "to": "example", "hosts": ["example.com"]})").status == 400);
    CHECK(f.actions.apply_calls == 0);
  }
  SUBCASE("empty batch is refused") {
    CHECK(call(f, "POST", "/v1/batch", "[]").status == 400);
  }
}

TEST_CASE("rollback and reload") {
  Fixture f;
  REQUIRE(call(f, "PUT", "/v1/routes/example.com/example2").status == 200);
  REQUIRE(call(f, "DELETE", "/v1/routes/example.com/example").status == 200);
  SUBCASE("to an explicit version") {
    Answer a = call(f, "POST", "/v1/rollback", R"({"version": 1})");
    CHECK(a.status == 200);
    CHECK(a.j["version"] == 4);
    CHECK(call(f, "GET", "/v1/routes").j["routes"]["example.com"] == json{{"example", 1}});
  }
  SUBCASE("without a body: the one before") {
    CHECK(call(f, "POST", "/v1/rollback").j["version"] == 4);
    CHECK(call(f, "GET", "/v1/routes").j["routes"]["example.com"] == json{{"example", 1}, {"example2", 1}});
  }
  SUBCASE("a version not kept") {
    CHECK(call(f, "POST", "/v1/rollback", R"({"version": 99})").status == 404);
    CHECK(call(f, "POST", "/v1/rollback", R"({"version": -1})").status == 400);
  }
  SUBCASE("reload ok and failing") {
    CHECK(call(f, "POST", "/v1/reload").j == json{{"version", 4}});
    f.actions.reload_error = "conf/turnout.yaml:3: unknown key 'lisen'\nconf/turnout.yaml:9: bad duration";
    Answer bad = call(f, "POST", "/v1/reload");
    CHECK(bad.status == 400);
    CHECK(bad.j["error"] == *f.actions.reload_error);
    CHECK(version_of(f) == 4);
  }
}

TEST_CASE("status, history, metrics and the status page") {
  Fixture f;
  Answer s = call(f, "GET", "/v1/status");
  CHECK(s.status == 200);
  CHECK(s.j["uptime_s"] == 12);
  Answer m = call(f, "GET", "/metrics");
  CHECK(m.status == 200);
  CHECK(m.header("content-type") == "text/plain; version=0.0.4");
  CHECK(m.body == "turnout_table_version 1\n");
  Answer h = call(f, "GET", "/v1/history");
  CHECK(h.j["history"].is_array());
  Answer page = call(f, "GET", "/");
  CHECK(page.status == 200);
  CHECK(page.header("content-type").rfind("text/html", 0) == 0);
  // The page renders the JSON API in the browser (admin/status_page), under a same-origin CSP.
  CHECK(page.body.find("/v1/routes") != std::string::npos);
  CHECK(page.header("content-security-policy").find("connect-src 'self'") != std::string::npos);
}

TEST_CASE("unknown paths are 404, wrong methods 405 with Allow") {
  Fixture f;
  Answer a = call(f, "GET", "/v1/nothing");
  CHECK(a.status == 404);
  CHECK(a.j["error"].is_string());
  CHECK(call(f, "GET", "/v1/routes/").status == 404);
  Answer b = call(f, "POST", "/v1/routes");
  CHECK(b.status == 405);
  CHECK(b.header("allow") == "GET");
  Answer c = call(f, "GET", "/v1/routes/example.com/example");
  CHECK(c.status == 405);
  CHECK(c.header("allow") == "PUT, DELETE");
  REQUIRE(!admin_endpoints().empty());
  CHECK(std::string(admin_endpoints()[0].pattern) == "/v1/routes");
}

TEST_CASE("an answer to a change waits for `done`; pipelined requests wait their turn") {
  Fixture f;
  f.actions.hold = true;
  Client c(f);
  c.send_raw("PUT /v1/routes/example.com/example2 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
             "GET /v1/routes HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(c.silent());
  CHECK(f.actions.held() == 1);
  f.actions.release();
  Answer first = c.answer();
  CHECK(first.status == 200);
  CHECK(first.j["version"] == 2);
  Answer second = c.answer();
  CHECK(second.status == 200);
  CHECK(second.j["version"] == 2);  // parsed only after the change was answered
  CHECK(second.j["routes"]["example.com"].contains("example2"));
  // Keep-alive: the connection takes another request.
  f.actions.hold = false;
  CHECK(c.request("GET", "/v1/status").status == 200);
}

TEST_CASE("DELETE ?wait=1 answers only once the route has drained") {
  Fixture f;
  Client c(f);
  c.send_raw("DELETE /v1/routes/example.com/example?wait=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(c.silent());
  REQUIRE(f.actions.drain_requests.size() == 1);
  CHECK(f.actions.drain_requests[0] == std::pair<std::string, std::string>("example.com", "example"));
  CHECK(version_of(f) == 2);  // applied already; only the answer waits
  f.actions.drain_waiters[0](0);
  Answer a = c.answer();
  CHECK(a.status == 200);
  CHECK(a.j["version"] == 2);

  SUBCASE("batch?wait=1 waits for every unmap in it") {
    Client d(f);
    d.send_request("POST", "/v1/batch?wait=1",
                   R"([{"op": "unmap", "app": "example", "host": "www.example.com"},)"
                   R"({"op": "unmap", "app": "example", "host": "*.example.org"}])");
    CHECK(d.silent());
    REQUIRE(f.actions.drain_waiters.size() == 3);
    f.actions.drain_waiters[1](0);
    CHECK(d.silent());
    f.actions.drain_waiters[2](0);
    CHECK(d.answer().j["version"] == 3);
  }
}

TEST_CASE("request limits and malformed requests") {
  AdminOptions opts;
  opts.max_body = 1024;
  Fixture f(opts);
  SUBCASE("a Content-Length over max_body is 413 and the connection closes") {
    Client c(f);
    Answer a = c.request("PUT", "/v1/apps/big", std::string(2000, 'x'));
    CHECK(a.status == 413);
    CHECK(a.j["error"].is_string());
    CHECK(a.header("connection") == "close");
    CHECK(c.closed_by_server());
  }
  SUBCASE("a chunked body over max_body is 413") {
    Client c(f);
    std::string chunk(1500, 'y');
    c.send_raw("POST /v1/batch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5dc\r\n" + chunk + "\r\n0\r\n\r\n");
    CHECK(c.answer().status == 413);
  }
  SUBCASE("a body within the limit in chunks is fine") {
    Client c(f);
    std::string body = R"({"servers": []})";
    char size[16];
    std::snprintf(size, sizeof size, "%zx", body.size());
    c.send_raw("PUT /v1/apps/small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) + "\r\n" +
               body + "\r\n0\r\n\r\n");
    CHECK(c.answer().status == 200);
  }
  SUBCASE("garbage is 400 and closes") {
    Client c(f);
    c.send_raw("HELLO\r\n\r\n");
    CHECK(c.answer().status == 400);
    CHECK(c.closed_by_server());
  }
  SUBCASE("Content-Length and Transfer-Encoding together are refused") {
    Client c(f);
    c.send_raw("POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    CHECK(c.answer().status == 400);
  }
  SUBCASE("Expect: 100-continue gets 100 before the answer") {
    Client c(f);
    c.send_raw("PUT /v1/routes/example.com/example2 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 13\r\n\r\n");
    for (int i = 0; i < 200 && c.buf.find("100 Continue") == std::string::npos; ++i) {
      f.spin(1);
      c.pump(2);
    }
    CHECK(c.buf.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0) == 0);
    c.send_raw(R"({"weight": 2})");
    CHECK(c.answer().status == 200);
  }
  SUBCASE("Connection: close is honoured") {
    Client c(f);
    Answer a = c.request("GET", "/v1/routes", "", "Connection: close\r\n");
    CHECK(a.status == 200);
    CHECK(c.closed_by_server());
  }
  CHECK(version_of(f) <= 2);
}

TEST_CASE("the unix socket: mode 0600, stale file replaced, live socket not stolen") {
  SUBCASE("mode 0600, removed on close") {
    std::string path;
    {
      Fixture f;
      path = f.options.socket_path;
      struct stat st {};
      REQUIRE(::lstat(path.c_str(), &st) == 0);
      CHECK(S_ISSOCK(st.st_mode));
      CHECK((st.st_mode & 0777) == 0600);
      CHECK(st.st_uid == ::getuid());
      CHECK(f.server->unix_fd() >= 0);
      f.server->close();
      CHECK(::access(path.c_str(), F_OK) != 0);
    }
  }
  SUBCASE("a stale socket file from a crashed run is replaced") {
    AdminOptions opts;
    Fixture f(opts, /*start=*/false);
    std::string path = f.dir + "/turnout.sock";
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0);
    ::close(fd);  // the file stays, nobody listens: what a crash leaves
    REQUIRE(connect_unix(path) < 0);
    CHECK(errno == ECONNREFUSED);
    Result<void> r = f.server->start();
    REQUIRE_MESSAGE(r.ok(), r.error().message);
    CHECK(call(f, "GET", "/v1/routes").status == 200);
  }
  SUBCASE("a live socket is not stolen") {
    Fixture first;
    AdminOptions opts;
    opts.socket_path = first.options.socket_path;
    FakeActions other;
    AdminServer second(&first.loop, other, opts);
    Result<void> r = second.start();
    REQUIRE(!r.ok());
    CHECK(r.error().message == "admin socket " + opts.socket_path + " is in use by a running turnout");
    second.close();
    CHECK(call(first, "GET", "/v1/routes").status == 200);  // the first one still serves
  }
  SUBCASE("a path that is not a socket is left alone") {
    AdminOptions opts;
    Fixture f(opts, false);
    std::string path = f.dir + "/turnout.sock";
    { FILE* file = std::fopen(path.c_str(), "w"); std::fputs("keep me", file); std::fclose(file); }
    Result<void> r = f.server->start();
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("is not a socket") != std::string::npos);
    CHECK(std::filesystem::file_size(path) == 7);
  }
}

TEST_CASE("TCP listener: loopback only unless allowed, bearer token, own Host and Origin") {
  SUBCASE("token required") {
    AdminOptions opts;
    opts.tcp_addr = "127.0.0.1:0";
    opts.token = "s3cret";
    Fixture f(opts);
    int port = f.server->tcp_port();
    REQUIRE(port > 0);
    const std::string host = "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
    {
      Client c(f, connect_tcp(port));
      Answer a = c.request("GET", "/v1/routes", "", host);
      CHECK(a.status == 401);
      CHECK(a.header("www-authenticate") == "Bearer");
    }
    {
      Client c(f, connect_tcp(port));
      CHECK(c.request("GET", "/v1/routes", "", host + "Authorization: Bearer wrong\r\n").status == 401);
    }
    {
      Client c(f, connect_tcp(port));
      CHECK(c.request("GET", "/v1/routes", "", host + "Authorization: Bearer s3cret\r\n").status == 200);
      CHECK(c.request("PUT", "/v1/routes/example.com/example2", "", host + "Authorization: Bearer s3cret\r\n").status == 200);
    }
    {
      Client c(f, connect_tcp(port));  // a foreign Host, even with the token
      CHECK(c.request("GET", "/v1/routes", "", "Host: x\r\nAuthorization: Bearer s3cret\r\n").status == 403);
    }
    {
      Client c(f, connect_tcp(port));
      CHECK(c.request("GET", "/v1/routes", "", host + "Origin: http://evil.test\r\nAuthorization: Bearer s3cret\r\n")
                .status == 403);
    }
    CHECK(call(f, "GET", "/v1/routes").status == 200);  // the unix socket needs no token
  }
  SUBCASE("open_reads: GETs without the token, changes with it") {
    AdminOptions opts;
    opts.tcp_addr = "127.0.0.1:0";
    opts.token = "s3cret";
    opts.open_reads = true;
    Fixture f(opts);
    const std::string host = "Host: localhost:" + std::to_string(f.server->tcp_port()) + "\r\n";
    Client c(f, connect_tcp(f.server->tcp_port()));
    CHECK(c.request("GET", "/v1/status", "", host).status == 200);
    Client d(f, connect_tcp(f.server->tcp_port()));
    CHECK(d.request("PUT", "/v1/routes/example.com/example2", "", host).status == 401);
  }
  SUBCASE("no token: the listener does not start") {
    AdminOptions opts;
    opts.tcp_addr = "127.0.0.1:0";
    Fixture f(opts, false);
    Result<void> r = f.server->start();
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("token") != std::string::npos);
  }
  SUBCASE("non-loopback refused without allow_remote") {
    AdminOptions opts;
    opts.tcp_addr = "0.0.0.0:0";
    Fixture f(opts, false);
    Result<void> r = f.server->start();
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("not a loopback address") != std::string::npos);
    CHECK(::access(f.options.socket_path.c_str(), F_OK) != 0);  // nothing stays open
  }
  SUBCASE("allow_remote still needs a token") {
    AdminOptions opts;
    opts.tcp_addr = "0.0.0.0:0";
    opts.allow_remote = true;
    Fixture f(opts, false);
    CHECK(!f.server->start().ok());
  }
}

TEST_CASE("close() with requests in flight frees everything; late answers are dropped") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  std::string dir = make_temp_dir();
  FakeActions actions;
  actions.hold = true;
  AdminOptions opts;
  opts.socket_path = dir + "/turnout.sock";
  {
    AdminServer server(&loop, actions, opts);
    REQUIRE(server.start().ok());
    int a = connect_unix(opts.socket_path);
    int b = connect_unix(opts.socket_path);
    REQUIRE(a >= 0);
    REQUIRE(b >= 0);
    std::string req = "PUT /v1/routes/example.com/example2 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    REQUIRE(::send(a, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size()));
    REQUIRE(::send(b, "GET /v1/rou", 11, 0) == 11);  // half a request
    for (int i = 0; i < 50 && actions.held() == 0; ++i) {
      uv_run(&loop, UV_RUN_NOWAIT);
      ::usleep(1000);
    }
    REQUIRE(actions.held() == 1);
    CHECK(server.connection_count() == 2);
    server.close();
    server.close();  // twice is fine
    CHECK(server.connection_count() == 0);
    ::close(a);
    ::close(b);
  }
  actions.release();  // the change answers after its connection is gone
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("force: ?force=1 on any change endpoint or \"force\": true in an object body reaches the change") {
  Fixture f;
  CHECK(call(f, "DELETE", "/v1/routes/example.com/example").status == 200);
  CHECK_FALSE(f.actions.last_force);
  CHECK(call(f, "PUT", "/v1/routes/example.com/example?force=1").status == 200);
  CHECK(f.actions.last_force);
  CHECK(call(f, "PUT", "/v1/routes/example.com/example2", R"({"weight": 2, "force": true})").status == 200);
  CHECK(f.actions.last_force);
  CHECK(call(f, "POST", "/v1/batch?force=1", R"([{"op": "map", "app": "example", "host": "a.example.com"}])").status == 200);
  CHECK(f.actions.last_force);
  CHECK(call(f, "POST", "/v1/batch", R"([{"op": "map", "app": "example", "host": "b.example.com"}])").status == 200);
  CHECK_FALSE(f.actions.last_force);
  CHECK(call(f, "PUT", "/v1/apps/blue", R"({"servers": ["127.0.0.1:1"], "force": "yes"})").status == 400);
  CHECK(call(f, "POST", "/v1/reload?force=1").status == 200);
  CHECK(f.actions.last_force);
}

TEST_CASE("?wait=1 is bounded: timeout=SECONDS (default 60), 504 with the in-flight count") {
  Fixture f;
  Client c(f);
  c.send_raw("DELETE /v1/routes/example.com/example?wait=1&timeout=2.5 HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(c.silent());
  REQUIRE(f.actions.drain_timeouts.size() == 1);
  CHECK(f.actions.drain_timeouts[0] == 2500);
  f.actions.drain_waiters[0](3);  // timed out with 3 in flight
  Answer a = c.answer();
  CHECK(a.status == 504);
  CHECK(a.j["version"] == 2);
  CHECK(a.j["in_flight"] == json::array({{{"host", "example.com"}, {"app", "example"}, {"in_flight", 3}}}));
  CHECK(a.j["error"].get<std::string>().find("WAS applied (version 2)") != std::string::npos);

  CHECK(call(f, "DELETE", "/v1/routes/www.example.com/example?wait=1&timeout=soon").status == 400);
  CHECK(call(f, "DELETE", "/v1/routes/www.example.com/example?wait=1&timeout=-1").status == 400);
  CHECK(f.actions.drain_timeouts.size() == 1);  // refused before any change
  CHECK(version_of(f) == 2);
}

TEST_CASE("GET /v1/export is the live table as YAML; GET /v1/in-flight counts at once") {
  Fixture f;
  Answer a = call(f, "GET", "/v1/export");
  CHECK(a.status == 200);
  CHECK(a.header("content-type") == "application/yaml");
  CHECK(a.header("x-turnout-version") == "1");
  CHECK(a.body.find("\"www.example.com\": [{app: \"example\", weight: 1}]") != std::string::npos);
  Client c(f);
  c.send_raw("GET /v1/in-flight/example.com/example HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(c.silent());  // answered once the workers were counted
  REQUIRE(f.actions.drain_timeouts.size() == 1);
  CHECK(f.actions.drain_timeouts[0] == 0);
  f.actions.drain_waiters[0](4);
  Answer n = c.answer();
  CHECK(n.j == json{{"host", "example.com"}, {"app", "example"}, {"in_flight", 4}});
}

TEST_CASE("a verb's endpoint and its batch op read its fields alike: same refusal, same change") {
  Fixture f;
  // Each row: the single endpoint, then the same change as a batch op. The batch answer is the
  // endpoint's, prefixed with the op's index.
  struct Row {
    const char* method;
    const char* path;
    const char* body;
    const char* op;
  };
  const Row bad[] = {
      {"PUT", "/v1/routes/example.com/example2", R"({"weight": 0})",
       R"({"op": "map", "host": "example.com", "app": "example2", "weight": 0})"},
      {"PUT", "/v1/routes/bad_host!/example2", "", R"({"op": "map", "host": "bad_host!", "app": "example2"})"},
      {"DELETE", "/v1/routes/bad_host!/example", "", R"({"op": "unmap", "host": "bad_host!", "app": "example"})"},
      {"POST", "/v1/apps/example/servers", R"({"addr": ""})", R"({"op": "add-server", "app": "example", "addr": ""})"},
      {"POST", "/v1/apps/example/servers", R"({"weight": 2})", R"({"op": "add-server", "app": "example", "weight": 2})"},
      {"PUT", "/v1/apps/newapp", R"({"servers": "127.0.0.1:1"})",
       R"({"op": "app-create", "app": "newapp", "servers": "127.0.0.1:1"})"},
      {"POST", "/v1/swap", R"({"from": "example", "to": "example", "hosts": ["example.com"]})",
       R"({"op": "swap", "from": "example", "to": "example", "host": "example.com"})"},
  };
  for (const Row& r : bad) {
    CAPTURE(r.op);
    Answer single = call(f, r.method, r.path, r.body);
    Answer batch = call(f, "POST", "/v1/batch", std::string("[") + r.op + "]");
    CHECK(single.status == 400);
    CHECK(batch.status == single.status);
    CHECK(batch.j["error"].get<std::string>() == "batch[0]: " + single.j["error"].get<std::string>());
  }
  CHECK(f.actions.apply_calls == 0);

  // A valid map: the same Change either way.
  REQUIRE(call(f, "PUT", "/v1/routes/example.com/example2", R"({"weight": 3})").status == 200);
  std::vector<Change> single = f.actions.last_changes;
  REQUIRE(call(f, "POST", "/v1/batch", R"([{"op": "map", "host": "example.com", "app": "example2", "weight": 3}])")
              .status == 200);
  REQUIRE(single.size() == 1);
  REQUIRE(f.actions.last_changes.size() == 1);
  CHECK(f.actions.last_changes[0].op == single[0].op);
  CHECK(f.actions.last_changes[0].host == single[0].host);
  CHECK(f.actions.last_changes[0].app == single[0].app);
  CHECK(f.actions.last_changes[0].weight == single[0].weight);
  CHECK(f.actions.last_summary == "map example2 example.com weight 3");
}

namespace {

// {"cert": ..., "key": ...} as a JSON body (PEM has newlines: let the library escape them).
std::string cert_body(const std::string& cert, const std::string& key) { return json{{"cert", cert}, {"key", key}}.dump(); }

}  // namespace

TEST_CASE("certificates: PUT adds and replaces, GET lists without the key, DELETE removes") {
  Fixture f;
  turnout::test::CertSpec spec;
  spec.cn = "site";
  spec.dns = {"example.com", "*.example.com"};
  turnout::test::Pem pem = turnout::test::make_cert(spec);

  Answer empty = call(f, "GET", "/v1/certificates");
  CHECK(empty.status == 200);
  CHECK(empty.j["certificates"] == json::object());
  CHECK(empty.j["default_certificate"].is_null());
  CHECK(call(f, "GET", "/v1/certificates/site").status == 404);

  Answer put = call(f, "PUT", "/v1/certificates/site", cert_body(pem.cert, pem.key));
  REQUIRE_MESSAGE(put.status == 200, put.body);
  CHECK(put.j["version"] == 2);
  json summary = put.j["certificates"]["site"];
  CHECK(summary["dns_names"] == json{"example.com", "*.example.com"});
  CHECK(summary["key_type"] == "ECDSA");
  CHECK(summary["expired"] == false);
  CHECK(summary["default"] == false);
  CHECK(summary["subject"].get<std::string>().find("CN=site") != std::string::npos);
  // RFC 3339 UTC: 2026-12-07T06:54:24Z
  std::string not_after = summary["not_after"].get<std::string>();
  CHECK(not_after.size() == 20);
  CHECK(not_after[10] == 'T');
  CHECK(not_after.back() == 'Z');
  CHECK(summary["sha256"].get<std::string>().size() == 95);  // 32 bytes as AB:CD:...
  CHECK(f.actions.last_summary == "cert-set site");
  REQUIRE(f.actions.last_changes.size() == 1);
  CHECK(f.actions.last_changes[0].op == Change::Op::CertSet);
  CHECK(f.actions.last_changes[0].name == "site");

  Answer list = call(f, "GET", "/v1/certificates");
  CHECK(list.j["version"] == 2);
  CHECK(list.j["certificates"]["site"] == summary);
  Answer one = call(f, "GET", "/v1/certificates/site");
  CHECK(one.status == 200);
  CHECK(one.j["sha256"] == summary["sha256"]);
  // The private key is in no answer.
  for (const Answer* a : {&put, &list, &one}) {
    CHECK(a->body.find("PRIVATE KEY") == std::string::npos);
    CHECK(a->body.find("\"key\"") == std::string::npos);
  }

  // Replacing: another key and certificate under the same name, a new version.
  turnout::test::Pem other = turnout::test::make_cert(spec);
  Answer replaced = call(f, "PUT", "/v1/certificates/site", cert_body(other.cert, other.key));
  CHECK(replaced.status == 200);
  CHECK(replaced.j["version"] == 3);
  CHECK(replaced.j["certificates"]["site"]["sha256"] != summary["sha256"]);

  Answer del = call(f, "DELETE", "/v1/certificates/site");
  CHECK(del.status == 200);
  CHECK(del.j["version"] == 4);
  CHECK(del.j["certificates"]["site"].is_null());
  CHECK(f.actions.last_changes[0].op == Change::Op::CertDelete);
  CHECK(call(f, "GET", "/v1/certificates/site").status == 404);
  CHECK(call(f, "DELETE", "/v1/certificates/site").status == 404);  // the route builder's answer
}

TEST_CASE("certificates: bad PEM, a key that does not match, an expired certificate are 400 and change nothing") {
  Fixture f;
  turnout::test::CertSpec spec;
  spec.dns = {"example.com"};
  turnout::test::Pem a = turnout::test::make_cert(spec);
  turnout::test::Pem b = turnout::test::make_cert(spec);
  turnout::test::CertSpec old = spec;
  old.valid_from_s = -10 * 86400;
  old.valid_until_s = -86400;
  turnout::test::Pem expired = turnout::test::make_cert(old);

  struct Row {
    std::string body;
    std::string error_part;
  };
  const Row rows[] = {
      {cert_body("not a certificate", a.key), "no PEM certificate"},
      {cert_body(a.cert, b.key), "match"},
      {cert_body(expired.cert, expired.key), "expired"},
      {json{{"cert", a.cert}}.dump(), "missing \"key\""},
      {json{{"cert", 1}, {"key", a.key}}.dump(), "\"cert\" must be a string"},
      {"[]", "body must be an object"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.error_part);
    Answer single = call(f, "PUT", "/v1/certificates/site", r.body);
    CHECK(single.status == 400);
    CHECK(single.j["error"].get<std::string>().find(r.error_part) != std::string::npos);
    CHECK(single.body.find("PRIVATE KEY") == std::string::npos);
  }
  CHECK(call(f, "PUT", "/v1/certificates/bad%20name", cert_body(a.cert, a.key)).status == 400);
  CHECK(f.actions.apply_calls == 0);
  CHECK(version_of(f) == 1);

  // The batch op reads the same fields with the same parser: the same refusal.
  json op = {{"op", "cert-set"}, {"name", "site"}, {"cert", a.cert}, {"key", b.key}};
  Answer single = call(f, "PUT", "/v1/certificates/site", cert_body(a.cert, b.key));
  Answer batch = call(f, "POST", "/v1/batch", json::array({op}).dump());
  CHECK(batch.status == 400);
  CHECK(batch.j["error"].get<std::string>() == "batch[0]: " + single.j["error"].get<std::string>());
  CHECK(call(f, "POST", "/v1/batch", R"([{"op": "cert-delete"}])").status == 400);
  CHECK(f.actions.apply_calls == 0);
}

TEST_CASE("certificates: a batch of map + cert-set + cert-delete is one version") {
  Fixture f;
  turnout::test::CertSpec spec;
  spec.dns = {"green.example.com"};
  turnout::test::Pem green = turnout::test::make_cert(spec);
  json ops = json::array({
      {{"op", "cert-set"}, {"name", "green"}, {"cert", green.cert}, {"key", green.key}},
      {{"op", "cert-set"}, {"name", "spare"}, {"cert", green.cert}, {"key", green.key}},
      {{"op", "map"}, {"app", "example2"}, {"host", "green.example.com"}},
      {{"op", "cert-delete"}, {"name", "spare"}},
  });
  Answer a = call(f, "POST", "/v1/batch", ops.dump());
  REQUIRE_MESSAGE(a.status == 200, a.body);
  CHECK(a.j["version"] == 2);
  CHECK(f.actions.apply_calls == 1);
  CHECK(f.actions.last_summary == "cert-set green; cert-set spare; map example2 green.example.com; cert-delete spare");
  CHECK(a.j["certificates"]["green"]["dns_names"] == json{"green.example.com"});
  CHECK(a.j["certificates"]["spare"].is_null());
  CHECK(a.j["routes"]["green.example.com"] == json{{"example2", 1}});
  CHECK(a.body.find("PRIVATE KEY") == std::string::npos);
  json list = call(f, "GET", "/v1/certificates").j["certificates"];
  CHECK(list.size() == 1);
  CHECK(list.contains("green"));
}

TEST_CASE("certificates: a chain fits in the admin request body limit") {
  // A leaf and its CA as PEM, JSON-escaped, is a few KiB; a long RSA chain tens of KiB. The
  // limit (AdminOptions::max_body) must leave room for that.
  AdminOptions defaults;
  CHECK(defaults.max_body >= 256 * 1024);
  Fixture f;
  turnout::test::CertSpec ca_spec;
  ca_spec.ca = true;
  ca_spec.ecdsa = false;
  turnout::test::Pem ca = turnout::test::make_cert(ca_spec);
  turnout::test::CertSpec leaf;
  leaf.ecdsa = false;
  leaf.dns = {"example.com"};
  leaf.issuer = &ca;
  turnout::test::Pem pem = turnout::test::make_cert(leaf);
  Answer a = call(f, "PUT", "/v1/certificates/rsa", cert_body(pem.cert, pem.key));
  CHECK_MESSAGE(a.status == 200, a.body);
  CHECK(a.j["certificates"]["rsa"]["key_type"] == "RSA");
}
