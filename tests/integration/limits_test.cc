// Limits from the config (issue 5, item 2): a chunked body growing past max_body_bytes is a 413
// that closes the connection and releases the upstream; max_connections pauses accepting at the
// limit and resumes below it, and a connection that has sent nothing takes no slot; running out of file descriptors neither crashes turnout nor makes
// it spin, and it serves again once descriptors are free. (431 for header bytes and count, and
// 413 for a Content-Length over the limit, are in errors_test.cc.)
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "integration/harness.h"

using namespace turnout::test;

namespace {

std::string one_app(const Backend& b, const std::string& extra) {
  return "apps:\n"
         "  e: {servers: " + yaml_list({b.addr()}) + "}\n"
         "routes:\n"
         "  lim.test: [e]\n" + extra;
}

std::string chunk(size_t n, char fill) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", n);
  return size + std::string(n, fill) + "\r\n";
}

const std::string kChunkedHead =
    "POST /upload HTTP/1.1\r\nHost: lim.test\r\nTransfer-Encoding: chunked\r\n\r\n";

// utime + stime of a process, in seconds (from /proc/PID/stat); -1 when unreadable.
double cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t paren = all.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream in(all.substr(paren + 2));
  std::string field;
  std::vector<std::string> fields;
  while (in >> field) fields.push_back(field);
  // After "(comm) ": state is field 3, utime field 14, stime field 15.
  if (fields.size() < 13) return -1;
  double ticks = static_cast<double>(std::stoull(fields[11]) + std::stoull(fields[12]));
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The soft "Max open files" of a process, -1 when unreadable.
long max_open_files(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("Max open files", 0) == 0) return std::atol(line.c_str() + 26);
  }
  return -1;
}

// Points the harness at a wrapper that lowers RLIMIT_NOFILE, then execs the real binary (same
// pid, so TurnoutProcess's pid, /proc and signals are turnout's own). Restores the environment.
class LowFdLimit {
 public:
  LowFdLimit(const TempDir& dir, int limit) {
    const char* prev = std::getenv("TURNOUT_TEST_BINARY");
    if (prev) prev_ = prev;
    std::string real = prev && *prev ? prev : TURNOUT_BINARY;
    std::string script = dir.file("turnout-lowfd.sh");
    dir.write("turnout-lowfd.sh", "#!/bin/sh\nulimit -n " + std::to_string(limit) + " || exit 99\nexec '" + real +
                                      "' \"$@\"\n");
    REQUIRE(::chmod(script.c_str(), 0755) == 0);
    ::setenv("TURNOUT_TEST_BINARY", script.c_str(), 1);
  }
  ~LowFdLimit() {
    if (prev_) ::setenv("TURNOUT_TEST_BINARY", prev_->c_str(), 1);
    else ::unsetenv("TURNOUT_TEST_BINARY");
  }

 private:
  std::optional<std::string> prev_;  // the variable as it was
};

}  // namespace

TEST_CASE("a chunked body over max_body_bytes in one piece: 413, connection closed, nothing upstream") {
  Backend b("e");
  TurnoutProcess t;
  t.start(one_app(b, "limits: {max_body_bytes: 1000}\n"));
  TURNOUT_INFO_STDERR(t);

  // No last chunk: the client would go on sending; turnout must not wait for the rest.
  Client cl(t.port());
  REQUIRE(cl.send(kChunkedHead + chunk(600, 'a') + chunk(600, 'b')));
  auto r = cl.read_response(Ms(3000));
  REQUIRE(r);
  CHECK(r->status == 413);
  CHECK(!r->header("X-Backend"));
  CHECK(cl.wait_closed(Ms(3000)));

  std::this_thread::sleep_for(Ms(300));
  CHECK(b.request_count() == 0);
  // At the limit exactly is fine.
  Client ok(t.port());
  REQUIRE(ok.send(kChunkedHead + chunk(600, 'a') + chunk(400, 'b') + "0\r\n\r\n"));
  auto r2 = ok.read_response(Ms(5000));
  REQUIRE(r2);
  CHECK(r2->status == 200);
  REQUIRE(b.request_count() == 1);
  CHECK(b.requests()[0].body_size == 1000);
}

TEST_CASE("a chunked body that grows past max_body_bytes mid-stream: 413, connection closed, upstream released") {
  Backend b("e");
  TurnoutProcess t;
  t.start(one_app(b, "workers: 1\nlimits: {max_body_bytes: 1000}\n"));
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  REQUIRE(cl.send(kChunkedHead + chunk(600, 'a')));
  // The head and the first 600 bytes are on their way to the backend.
  REQUIRE(wait_until([&] { return b.connection_count() >= 1; }, Ms(3000)));
  std::this_thread::sleep_for(Ms(200));
  cl.send(chunk(600, 'b'));  // 1200 > 1000

  auto r = cl.read_response(Ms(3000));
  CHECK_MESSAGE(r.has_value(), "turnout closed the connection without an answer");
  if (r) {
    CHECK(r->status == 413);
    CHECK(!r->header("X-Backend"));
  }
  CHECK(cl.wait_closed(Ms(3000)));

  // The backend is not left waiting for the rest of a body that will never come: its
  // connection is closed and the request it saw is incomplete and within the limit.
  REQUIRE(b.wait_requests(1, Ms(3000)));
  auto reqs = b.requests();
  CHECK_FALSE(reqs[0].body_complete);
  CHECK(reqs[0].body_size <= 1000);
  CHECK(wait_until([&] { return b.open_connections() == 0; }, Ms(3000)));

  auto next = http_get(t.port(), "lim.test", "/next");
  REQUIRE(next);
  CHECK(next->status == 200);
}

TEST_CASE("max_connections: accepting pauses at the limit and resumes when a connection closes") {
  Backend b("e");
  TurnoutProcess t;
  t.start(one_app(b, "workers: 1\nlimits: {max_connections: 4}\n"));
  TURNOUT_INFO_STDERR(t);

  // Four idle keep-alive connections, each proven served.
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<Client>(t.port()));
    auto r = held.back()->get("lim.test", "/held/" + std::to_string(i));
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }

  // A fifth connects (the kernel completes the handshake) but is not served.
  Client fifth(t.port());
  REQUIRE(fifth.send_request("GET", "/fifth", "lim.test"));
  auto early = fifth.read_response(Ms(500));
  CHECK_FALSE(early.has_value());
  CHECK_FALSE(fifth.conn().eof());
  CHECK(b.request_count() == 4);
  // The admin API is not behind the client limit.
  CHECK(t.admin("GET", "/v1/status").status == 200);
  // The held connections still work.
  auto again = held[0]->get("lim.test", "/held/again");
  REQUIRE(again);
  CHECK(again->status == 200);

  // One closes: the fifth is served.
  auto closed_at = Clock::now();
  held[3].reset();
  auto r5 = fifth.read_response(Ms(3000));
  REQUIRE(r5);
  CHECK(r5->status == 200);
  CHECK(Clock::now() - closed_at < Ms(1500));

  // At the limit again (three held plus the fifth): a sixth waits, then gets in the same way.
  Client sixth(t.port());
  REQUIRE(sixth.send_request("GET", "/sixth", "lim.test"));
  CHECK_FALSE(sixth.read_response(Ms(500)).has_value());
  held[0].reset();
  auto r6 = sixth.read_response(Ms(3000));
  REQUIRE(r6);
  CHECK(r6->status == 200);
}

TEST_CASE("max_connections: a client that has sent nothing yet takes no slot") {
  // Listeners defer accepting until a connection's first bytes arrive (TCP_DEFER_ACCEPT), so a
  // silent connection cannot lock out clients that speak. The kernel hands it over anyway after
  // about a second, which bounds how long this test may take for the talking client.
  Backend b("e");
  TurnoutProcess t;
  t.start(one_app(b, "workers: 1\nlimits: {max_connections: 1}\n"
                     "timeouts: {request_header: 10s, client_idle: 10s}\n"));
  TURNOUT_INFO_STDERR(t);

  Client silent(t.port());  // the handshake completes; not a byte is sent
  std::this_thread::sleep_for(Ms(100));

  auto start = Clock::now();
  {
    Client talker(t.port());
    auto r = talker.get("lim.test", "/talker", {}, Ms(3000));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(Clock::now() - start < Ms(700));
  }

  // The silent client is served once it speaks.
  REQUIRE(silent.send_request("GET", "/late", "lim.test"));
  auto late = silent.read_response(Ms(3000));
  REQUIRE(late);
  CHECK(late->status == 200);
  CHECK(b.request_count() == 2);
}

TEST_CASE("out of file descriptors: no crash, no busy loop, serving again once they are free") {
  Backend b("e");
  TempDir wrapper_dir;
  TurnoutProcess t;
  {
    LowFdLimit low(wrapper_dir, 64);
    t.start(one_app(b, "timeouts: {upstream_idle: 200ms}\naccess_log: off\n"));
  }
  TURNOUT_INFO_STDERR(t);
  REQUIRE(max_open_files(t.pid()) == 64);

  auto first = http_get(t.port(), "lim.test", "/before");
  REQUIRE(first);
  REQUIRE(first->status == 200);
  std::this_thread::sleep_for(Ms(400));  // the pooled upstream connection idles out
  int fds_before = t.fd_count();
  REQUIRE(fds_before > 0);

  // 100 connections, each with a request: far more than 64 descriptors allow.
  std::vector<Client> clients;
  for (int i = 0; i < 100; ++i) {
    auto c = Client::try_connect(t.port());
    if (!c) continue;  // the listen backlog may be full: that is turnout pausing, fine
    c->send_request("GET", "/flood/" + std::to_string(i), "lim.test");
    clients.push_back(std::move(*c));
  }
  const size_t connected = clients.size();
  INFO("connected " << connected << " of 100");
  std::this_thread::sleep_for(Ms(300));

  // Saturated for 2 s: turnout keeps running and does not spin.
  double cpu0 = cpu_seconds(t.pid());
  std::this_thread::sleep_for(Ms(2000));
  double cpu1 = cpu_seconds(t.pid());
  REQUIRE(cpu0 >= 0);
  REQUIRE(cpu1 >= 0);
  INFO("turnout CPU time over 2 s while saturated: " << (cpu1 - cpu0) << " s");
  CHECK(cpu1 - cpu0 < 0.5);
  REQUIRE(t.running());

  // What the clients saw: each an answer or a close, never a hang forever (reported, not judged).
  int answered = 0, closed = 0, silent = 0;
  for (auto& c : clients) {
    std::string s = c.conn().read_some(Ms(1));
    if (!s.empty()) ++answered;
    else if (c.conn().eof()) ++closed;
    else ++silent;
  }
  MESSAGE("while saturated: " << answered << " answered, " << closed << " closed, " << silent << " waiting");

  clients.clear();
  auto freed_at = Clock::now();
  std::optional<Response> after;
  wait_until(
      [&] {
        after = http_get(t.port(), "lim.test", "/after", {}, Ms(1000));
        return after && after->status == 200;
      },
      Ms(5000));
  INFO("after the flood: " << (after ? "status " + std::to_string(after->status) : std::string("no answer")));
  CHECK((after && after->status == 200));
  MESSAGE("served again " << std::chrono::duration_cast<Ms>(Clock::now() - freed_at).count()
                          << " ms after the connections closed");
  CHECK(t.running());
  // No descriptor leaked by the episode.
  bool fds_back = wait_until([&] { return t.fd_count() <= fds_before + 2; }, Ms(3000));
  INFO("fds before " << fds_before << ", now " << t.fd_count());
  CHECK(fds_back);
}
