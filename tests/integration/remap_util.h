// Helpers shared by the live-remapping integration tests (admin_map_unmap, remap_under_load,
// state_crash, reload): running `turnout ctl`, reading the admin API's tables, writing whole
// configs, and a raw upgraded tunnel through turnout. Test-thread code unless a comment says
// otherwise; nothing here asserts, so the helpers may be called from client threads too.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/harness.h"

namespace turnout::test::remap {

using json = nlohmann::json;

// What one `turnout ctl` run printed and returned.
struct CtlRun {
  int code = -1;    // exit code; 128+signal when killed; -1 when it could not run
  std::string out;  // stdout
  std::string err;  // stderr
};

// The turnout binary the tests run (the harness's choice, same override).
inline std::string turnout_binary() {
  const char* b = std::getenv("TURNOUT_TEST_BINARY");
  return b && *b ? b : TURNOUT_BINARY;
}

// Runs `turnout ARGS...` (stdin /dev/null) and waits for it (at most 30 s, then SIGKILL).
inline CtlRun run_turnout(const std::vector<std::string>& args) {
  CtlRun run;
  TempDir tmp;
  std::vector<std::string> argv_s = {turnout_binary()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string out_path = tmp.file("out"), err_path = tmp.file("err");
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0 || err_fd < 0) return run;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  if (pid < 0) return run;
  int st = 0;
  auto deadline = Clock::now() + Ms(30000);
  for (;;) {
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (r < 0) return run;
    if (Clock::now() > deadline) ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(Ms(2));
  }
  run.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  run.out = tmp.read("out");
  run.err = tmp.read("err");
  return run;
}

// Runs `turnout ctl -s SOCKET ARGS...` and waits for it.
inline CtlRun run_ctl(const std::string& socket, const std::vector<std::string>& args) {
  std::vector<std::string> all = {"ctl", "-s", socket};
  all.insert(all.end(), args.begin(), args.end());
  return run_turnout(all);
}

// GET /v1/routes (whole answer); a discarded json when the socket did not answer.
inline json get_routes(const std::string& socket) {
  AdminReply r = admin_request(socket, "GET", "/v1/routes");
  if (r.status != 200) return json(json::value_t::discarded);
  return r.json;
}

// The table version, or -1 when the API did not answer.
inline int64_t table_version(const std::string& socket) {
  json j = get_routes(socket);
  if (j.is_discarded() || !j.contains("version") || !j["version"].is_number_integer()) return -1;
  return j["version"].get<int64_t>();
}

// GET /v1/apps reduced to what a change decides: app -> sorted {addr -> weight}. Counters,
// health and hosts are left out (they move with traffic).
using AppServers = std::map<std::string, std::map<std::string, int64_t>>;
inline std::optional<AppServers> get_app_servers(const std::string& socket) {
  AdminReply r = admin_request(socket, "GET", "/v1/apps");
  if (r.status != 200 || !r.json.is_object() || !r.json.contains("apps") || !r.json["apps"].is_object()) {
    return std::nullopt;
  }
  AppServers out;
  for (const auto& [name, app] : r.json["apps"].items()) {
    auto& servers = out[name];
    if (!app.contains("servers")) continue;
    for (const auto& s : app["servers"]) servers[s.value("addr", std::string())] = s.value("weight", int64_t{0});
  }
  return out;
}

// The apps a host maps to in a GET /v1/routes answer (empty when unrouted).
inline std::set<std::string> apps_of(const json& routes_answer, const std::string& host) {
  std::set<std::string> out;
  if (!routes_answer.is_object() || !routes_answer.contains("routes")) return out;
  const json& routes = routes_answer["routes"];
  auto it = routes.find(host);
  if (it == routes.end() || !it->is_object()) return out;
  for (const auto& [app, w] : it->items()) out.insert(app);
  return out;
}

// A JSON body for the admin API.
inline std::string body(const json& j) { return j.dump(); }

// Percent-encodes everything but RFC 3986 unreserved characters (for addresses in paths).
inline std::string url_encode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// Which backend answered ("X-Backend"), or "status N" for anything turnout answered itself.
inline std::string who(const std::optional<Response>& r) {
  if (!r) return "no response";
  if (auto b = r->header("X-Backend")) return *b;
  return "status " + std::to_string(r->status);
}

// A whole config: the harness adds nothing to it (listen, workers and admin are given), so the
// same text can be rewritten for a reload or reused by a restarted process. `apps` and `routes`
// are the YAML bodies of those sections (lines indented by two spaces).
inline std::string full_config(const std::string& admin_socket, const std::string& apps, const std::string& routes,
                               const std::string& extra = "") {
  return "listen: [\"127.0.0.1:0\"]\n"
         "workers: 2\n"
         "admin: {socket: \"" + admin_socket + "\"}\n"
         "access_log: off\n" +
         extra + "apps:\n" + apps + "routes:\n" + routes;
}

// An upgraded connection through turnout to a BackendMode::Upgrade backend, which echoes bytes.
// Owned by one thread at a time.
class Tunnel {
 public:
  // Connects, sends the upgrade request for `host` and reads the 101 head and the greeting.
  // Returns nullopt (with *why filled) when any of that fails.
  static std::optional<Tunnel> open(int port, const std::string& host, std::string* why,
                                    const std::string& greeting = "hello from backend\n") {
    auto c = Client::try_connect(port);
    if (!c) {
      *why = "connect failed";
      return std::nullopt;
    }
    if (!c->send("GET /ws HTTP/1.1\r\nHost: " + host +
                 "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")) {
      *why = "send failed";
      return std::nullopt;
    }
    auto head = c->read_head();
    if (!head || head->status != 101) {
      *why = head ? "status " + std::to_string(head->status) : "no 101 head";
      return std::nullopt;
    }
    Tunnel t(std::move(*c), head->header("X-Backend").value_or(""));
    std::string got;
    if (!t.read_exact(greeting.size(), &got, Ms(5000)) || got != greeting) {
      *why = "greeting was \"" + got + "\"";
      return std::nullopt;
    }
    return t;
  }

  // Sends `msg` and reads its echo; false (with *why) on anything but an exact echo.
  bool echo(const std::string& msg, std::string* why, Ms timeout = Ms(5000)) {
    if (!client_.send(msg, timeout)) {
      *why = "send failed (tunnel closed?)";
      return false;
    }
    std::string got;
    if (!read_exact(msg.size(), &got, timeout)) {
      *why = client_.conn().eof() ? "tunnel closed (EOF) while waiting for the echo" : "no echo in time";
      return false;
    }
    if (got != msg) {
      *why = "echo was \"" + got + "\", sent \"" + msg + "\"";
      return false;
    }
    return true;
  }

  const std::string& backend() const { return backend_; }
  Client& client() { return client_; }

 private:
  Tunnel(Client&& c, std::string backend) : client_(std::move(c)), backend_(std::move(backend)) {}
  bool read_exact(size_t n, std::string* out, Ms timeout) {
    return client_.conn().read_exact(n, [out](std::string_view d) { out->append(d); }, Clock::now() + timeout);
  }

  Client client_;        // the upgraded connection
  std::string backend_;  // X-Backend of the 101
};

// Joins a thread when the scope ends, also when a REQUIRE leaves it early.
class JoinGuard {
 public:
  explicit JoinGuard(std::thread& t) : t_(t) {}
  ~JoinGuard() {
    if (t_.joinable()) t_.join();
  }
  JoinGuard(const JoinGuard&) = delete;
  JoinGuard& operator=(const JoinGuard&) = delete;

 private:
  std::thread& t_;  // joined by the destructor
};

// Milliseconds of `t` since `origin`, for messages.
inline double ms_since(Clock::time_point origin, Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(t - origin).count();
}

}  // namespace turnout::test::remap
