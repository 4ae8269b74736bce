// Several workers share the load; the access log writes one line per request (to stdout, a
// file, or nowhere); SIGTERM ends turnout with exit code 0.
#include <doctest/doctest.h>

#include <csignal>
#include <map>
#include <regex>
#include <sstream>

#include "integration/harness.h"

using namespace turnout::test;

namespace {

std::string config_for(const Backend& b, const std::string& extra) {
  return "apps:\n"
         "  w: {servers: " + yaml_list({b.addr()}) + "}\n"
         "routes:\n"
         "  log.test: [w]\n" + extra;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

// Every unsigned integer in the line (digit runs), for format-independent field checks.
std::vector<uint64_t> numbers_in(const std::string& line) {
  std::vector<uint64_t> out;
  uint64_t n = 0;
  bool in = false;
  for (char c : line + " ") {
    if (c >= '0' && c <= '9') {
      n = n * 10 + static_cast<uint64_t>(c - '0');
      in = true;
    } else if (in) {
      out.push_back(n);
      n = 0;
      in = false;
    }
  }
  return out;
}

bool has_number_in(const std::string& line, uint64_t lo, uint64_t hi) {
  for (uint64_t n : numbers_in(line))
    if (n >= lo && n <= hi) return true;
  return false;
}

// The lines that mention `needle`.
std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  for (auto& l : lines_of(text))
    if (l.find(needle) != std::string::npos) out.push_back(l);
  return out;
}

constexpr size_t kBigBody = 123457;

Backend::Behavior logging_backend() {
  Backend::Behavior b;
  b.mode = Backend::Mode::Custom;
  b.handler = [](const BackendRequest& req) {
    if (req.target == "/log/big") return Reply{make_response(200, std::string(kBigBody, 'b'))};
    if (req.target == "/log/slow") {
      std::this_thread::sleep_for(Ms(300));
      return Reply{make_response(200, "slow\n")};
    }
    if (req.target == "/log/missing") return Reply{make_response(404, "nope\n")};
    return Reply{make_response(200, "ok\n")};
  };
  return b;
}

}  // namespace

TEST_CASE("workers: 2 — both workers accept connections") {
  Backend b("w");
  TurnoutProcess t;
  t.start(config_for(b, "access_log: off\n"));
  TURNOUT_INFO_STDERR(t);

  // Many concurrent connections: SO_REUSEPORT spreads them over both workers' listeners.
  std::vector<Client> clients;
  for (int i = 0; i < 64; ++i) clients.emplace_back(t.port());
  for (auto& c : clients) REQUIRE(c.send_request("GET", "/", "log.test"));
  for (auto& c : clients) {
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  // Connections are still open while we ask.
  auto st = t.admin("GET", "/v1/status");
  REQUIRE(st.status == 200);
  CAPTURE(st.body);
  REQUIRE(st.json.is_object());
  REQUIRE(st.json.contains("workers"));
  const auto& workers = st.json["workers"];
  REQUIRE(workers.is_array());
  REQUIRE(workers.size() == 2);
  std::set<int64_t> ids;
  for (const auto& w : workers) {
    REQUIRE(w.contains("id"));
    REQUIRE(w.contains("connections"));
    ids.insert(w["id"].get<int64_t>());
    CHECK(w["connections"].get<int64_t>() > 0);
  }
  CHECK(ids == std::set<int64_t>{0, 1});
}

TEST_CASE("access log on stdout: one line per request with its fields") {
  Backend b("w", logging_backend());
  TurnoutProcess t;
  t.start(config_for(b, "access_log: stdout\n"));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  int client_port = cl.local_port();
  auto ok = cl.get("log.test", "/log/plain?x=1");
  REQUIRE(ok);
  CHECK(ok->status == 200);
  REQUIRE(cl.send_request("POST", "/log/post", "log.test", {}, "some body"));
  REQUIRE(cl.read_response());
  auto big = cl.get("log.test", "/log/big");
  REQUIRE(big);
  CHECK(big->body.size() == kBigBody);
  auto slow = cl.get("log.test", "/log/slow");
  REQUIRE(slow);
  auto missing = cl.get("log.test", "/log/missing");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  auto unrouted = cl.get("nowhere.test", "/log/unrouted");
  REQUIRE(unrouted);
  CHECK(unrouted->status == 404);

  REQUIRE(wait_until([&] { return lines_with(t.stdout_text(), "/log/").size() >= 6; }, Ms(5000)));
  std::this_thread::sleep_for(Ms(200));  // nothing more should come
  std::string out = t.stdout_text();
  CAPTURE(out);
  CHECK(lines_of(out).size() == 6);

  const std::regex time_re(R"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}|\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2}|\b1\d{9})");
  const std::regex status200(R"((^|[^0-9])200([^0-9]|$))");
  const std::regex status404(R"((^|[^0-9])404([^0-9]|$))");
  std::string upstream = b.addr();

  auto one = [&](const std::string& target) {
    auto ls = lines_with(out, target);
    REQUIRE(ls.size() == 1);
    return ls[0];
  };
  {
    auto l = one("/log/plain?x=1");
    CAPTURE(l);
    CHECK(std::regex_search(l, time_re));
    CHECK(l.find("127.0.0.1") != std::string::npos);
    CHECK(l.find("log.test") != std::string::npos);
    CHECK(l.find("GET") != std::string::npos);
    CHECK(std::regex_search(l, status200));
    CHECK(l.find(upstream) != std::string::npos);
    // The client address (with or without its port) beside the upstream's: 127.0.0.1 twice.
    size_t first = l.find("127.0.0.1");
    CHECK((first != std::string::npos && l.find("127.0.0.1", first + 1) != std::string::npos));
    if (l.find("127.0.0.1:" + std::to_string(client_port)) == std::string::npos)
      MESSAGE("client port not in the access log line (IP only): " << l);
  }
  {
    auto l = one("/log/post");
    CAPTURE(l);
    CHECK(l.find("POST") != std::string::npos);
  }
  {
    auto l = one("/log/big");
    CAPTURE(l);
    // Bytes sent to the client: the body, or the body plus the head.
    CHECK(has_number_in(l, kBigBody, kBigBody + 4096));
  }
  {
    auto l = one("/log/slow");
    CAPTURE(l);
    // Duration in microseconds: at least the backend's 300 ms.
    CHECK(has_number_in(l, 300000, 10000000));
  }
  {
    auto l = one("/log/missing");
    CAPTURE(l);
    CHECK(std::regex_search(l, status404));
    CHECK(l.find(upstream) != std::string::npos);
  }
  {
    auto l = one("/log/unrouted");
    CAPTURE(l);
    CHECK(std::regex_search(l, status404));
    CHECK(l.find("nowhere.test") != std::string::npos);
  }
}

TEST_CASE("access_log_format: json — every line parses as JSON with its fields and types") {
  Backend b("w", logging_backend());
  TurnoutProcess t;
  std::string path = t.dir().file("access.json");
  t.start(config_for(b, "access_log: \"" + path + "\"\naccess_log_format: json\nworkers: 1\n"));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  auto ok = cl.get("log.test", "/log/plain?x=1");
  REQUIRE(ok);
  CHECK(ok->status == 200);
  auto big = cl.get("log.test", "/log/big");
  REQUIRE(big);
  auto slow = cl.get("log.test", "/log/slow");
  REQUIRE(slow);
  auto unrouted = cl.get("nowhere.test", "/log/unrouted");
  REQUIRE(unrouted);
  CHECK(unrouted->status == 404);
  // Characters JSON must escape (turnout refuses controls and non-ASCII in a target with 400).
  auto odd = cl.get("log.test", "/log/odd?q=\"quoted\"\\back");
  REQUIRE(odd);

  REQUIRE(wait_until([&] { return lines_with(read_file(path), "/log/").size() >= 5; }, Ms(5000)));
  std::this_thread::sleep_for(Ms(200));  // nothing more should come
  std::string text = read_file(path);
  CAPTURE(text);
  std::map<std::string, nlohmann::json> by_target;
  for (const std::string& line : lines_of(text)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    CHECK_MESSAGE(j.is_object(), "not a JSON object: " << line);
    if (!j.is_object()) continue;
    for (const char* key : {"time", "client", "host", "method", "target", "upstream"})
      CHECK_MESSAGE((j.contains(key) && j[key].is_string()), key << " missing or not a string: " << line);
    for (const char* key : {"status", "bytes", "duration_us", "worker"})
      CHECK_MESSAGE((j.contains(key) && j[key].is_number_unsigned()), key << " missing or not a number: " << line);
    if (j.contains("target") && j["target"].is_string()) by_target[j["target"].get<std::string>()] = j;
  }
  CHECK(lines_of(text).size() == 5);

  const std::regex time_re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})");
  REQUIRE(by_target.count("/log/plain?x=1"));
  const auto& plain = by_target["/log/plain?x=1"];
  CHECK(std::regex_search(plain["time"].get<std::string>(), time_re));
  CHECK(plain["client"] == "127.0.0.1");
  CHECK(plain["host"] == "log.test");
  CHECK(plain["method"] == "GET");
  CHECK(plain["status"] == 200);
  CHECK(plain["upstream"] == b.addr());
  CHECK(plain["worker"] == 0);

  REQUIRE(by_target.count("/log/big"));
  uint64_t bytes = by_target["/log/big"]["bytes"].get<uint64_t>();
  CHECK(bytes >= kBigBody);  // the body, or the body plus the head
  CHECK(bytes <= kBigBody + 4096);

  REQUIRE(by_target.count("/log/slow"));
  CHECK(by_target["/log/slow"]["duration_us"].get<uint64_t>() >= 300000);

  REQUIRE(by_target.count("/log/unrouted"));
  CHECK(by_target["/log/unrouted"]["status"] == 404);
  CHECK(by_target["/log/unrouted"]["host"] == "nowhere.test");

  // The odd target comes back with its quotes and backslash intact.
  bool found_odd = false;
  for (const auto& [target, j] : by_target) {
    if (target.rfind("/log/odd?q=", 0) != 0) continue;
    found_odd = true;
    CHECK(target == "/log/odd?q=\"quoted\"\\back");
  }
  CHECK(found_odd);
}

TEST_CASE("access_log: off writes nothing") {
  Backend b("w", logging_backend());
  TurnoutProcess t;
  t.start(config_for(b, "access_log: off\n"));
  TURNOUT_INFO_STDERR(t);

  for (int i = 0; i < 5; ++i) {
    auto r = http_get(t.port(), "log.test", "/log/off/" + std::to_string(i));
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  std::this_thread::sleep_for(Ms(500));
  CHECK(t.stdout_text().empty());
  CHECK(t.stderr_text().find("/log/off/") == std::string::npos);
}

TEST_CASE("access_log: a file path receives the lines, stdout none") {
  Backend b("w", logging_backend());
  TurnoutProcess t;
  std::string path = t.dir().file("access.log");
  t.start(config_for(b, "access_log: \"" + path + "\"\n"));
  TURNOUT_INFO_STDERR(t);

  for (int i = 0; i < 5; ++i) {
    auto r = http_get(t.port(), "log.test", "/log/file/" + std::to_string(i));
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(wait_until([&] { return lines_with(read_file(path), "/log/file/").size() == 5; }, Ms(5000)));
  CAPTURE(read_file(path));
  CHECK(lines_of(read_file(path)).size() == 5);
  CHECK(t.stdout_text().empty());
}

TEST_CASE("SIGTERM: idle connections closed, the request in flight finishes, exit code 0") {
  Backend b("w");
  b.set_behavior(behave(Backend::Mode::Default, Ms(500)));
  TurnoutProcess t;
  t.start(config_for(b, "access_log: off\ntimeouts: {drain: 5s}\n"));
  TURNOUT_INFO_STDERR(t);

  Client idle(t.port());
  auto r0 = idle.get("log.test", "/warm", {}, Ms(5000));
  REQUIRE(r0);
  CHECK(r0->status == 200);

  Client busy(t.port());
  REQUIRE(busy.send_request("GET", "/in-flight", "log.test"));
  REQUIRE(b.wait_requests(2, Ms(3000)));  // it reached the backend
  t.signal(SIGTERM);
  auto r = busy.read_response(Ms(5000));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(idle.wait_closed(Ms(5000)));
  auto code = t.wait_exit(Ms(7000));
  REQUIRE(code);
  CHECK(*code == 0);
}
