// Graceful stop (issue 6 item 3; DESIGN.md "Signals"): SIGTERM/SIGINT stop accepting, finish the
// requests in flight (up to timeouts.drain), close idle keep-alive connections, then exit 0.
//
// What a connection opened after the signal sees: turnout closes its listening sockets when the
// drain starts, so connect() is refused — or, when it raced the close into a backlog, it is never
// answered and never reaches a backend.
#include <doctest/doctest.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include "integration/harness.h"
#include "integration/remap_util.h"

using namespace turnout::test;
using namespace turnout::test::remap;

namespace {

const std::string kHost = "app.test";

std::string config_for(const Backend& b, const std::string& drain) {
  return "access_log: off\n"
         "timeouts: {drain: " + drain + "}\n"
         "apps:\n  app: {servers: [\"" + b.addr() + "\"]}\n"
         "routes:\n  " + kHost + ": [app]\n";
}

// A GET sent on its own connection whose response is read later.
struct Pending {
  Client client;   // the connection carrying the request
  std::string id;  // the request's target, to find it at the backend
};

Pending send_get(int port, const std::string& id) {
  Client c(port);
  REQUIRE(c.send_request("GET", "/" + id, kHost));
  return Pending{std::move(c), id};
}

// What became of a connection opened after the signal.
struct LateConnect {
  bool connected = false;       // the TCP handshake completed (the listening socket still existed)
  std::string answer;           // bytes turnout sent on it (must stay empty)
  bool closed = false;          // EOF or reset seen
  std::optional<Client> client;  // kept open until the process exits, to see what happens to it
};

double secs_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

TEST_CASE("SIGTERM: requests in flight complete, new connections get nothing, idle ones close, exit 0") {
  Backend b("b");
  TurnoutProcess proc;
  proc.start(config_for(b, "10s"));
  TURNOUT_INFO_STDERR(proc);
  int port = proc.port();

  // Idle keep-alive connections: one answered request each, then silence.
  std::vector<Client> idle;
  for (int i = 0; i < 3; ++i) {
    idle.emplace_back(port);
    auto r = idle.back().get(kHost, "/idle" + std::to_string(i));
    REQUIRE(r);
    REQUIRE(r->status == 200);
    REQUIRE_FALSE(lower(r->joined("Connection")).find("close") != std::string::npos);
  }

  // Requests in flight: the backend holds each for 500 ms.
  b.set_behavior(behave(Backend::Mode::Default, Ms(500)));
  std::vector<Pending> flying;
  for (int i = 0; i < 4; ++i) flying.push_back(send_get(port, "flying" + std::to_string(i)));
  REQUIRE(b.wait_requests(3 + 4, Ms(5000)));  // all four reached the backend

  auto t0 = Clock::now();
  proc.signal(SIGTERM);
  std::this_thread::sleep_for(Ms(100));  // the workers have seen the drain

  // A connection opened now is not served.
  LateConnect late;
  late.client = Client::try_connect(port);
  late.connected = late.client.has_value();
  if (late.connected) {
    late.client->send_request("GET", "/late", kHost);
    late.answer = late.client->conn().read_some(Ms(300));
  }

  // Every request in flight completes with its 200, told that the connection closes after it.
  for (auto& p : flying) {
    CAPTURE(p.id);
    auto r = p.client.read_response(Ms(5000));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "b\n");
    CHECK(r->header("X-Seen-Target") == std::optional<std::string>("/" + p.id));
    CHECK(lower(r->joined("Connection")).find("close") != std::string::npos);
    std::string extra;
    CHECK(p.client.wait_closed(Ms(3000), &extra));
    CHECK(extra.empty());
    p.client.conn().close();  // as a client does on EOF: turnout's lingering close ends here
  }
  double answered_at = secs_since(t0);
  CHECK(answered_at < 1.0);  // the 500 ms held by the backend, not the drain deadline

  // Idle keep-alive connections are closed (after a short grace), with nothing sent on them.
  for (auto& c : idle) {
    std::string extra;
    CHECK(c.wait_closed(Ms(3000), &extra));
    CHECK(extra.empty());
    c.conn().close();
  }

  // The process exits 0 once all of that is done, long before the 10 s drain deadline.
  auto code = proc.wait_exit(Ms(10000));
  double exited_at = secs_since(t0);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(exited_at < 2.0);  // the 1 s idle grace, not the 10 s deadline
  CHECK(proc.stderr_text().find("drain deadline reached") == std::string::npos);

  // The late connection never got an answer, and is gone now that the process is.
  // Refused (the listening sockets are closed when the drain starts), or — when it raced the close
  // into a backlog — accepted by the kernel but never answered.
  CHECK(late.answer.empty());
  if (late.connected) {
    std::string extra;
    late.closed = late.client->wait_closed(Ms(1000), &extra);
    CHECK(late.closed);
    CHECK(extra.empty());
  }
  CHECK(b.requests().size() == 3 + 4);  // /late never reached the backend
  std::printf("drain: late connect %s; in-flight answered %.3f s after SIGTERM; exit after %.3f s\n",
              late.connected ? "completed its handshake, never answered, closed at exit" : "refused", answered_at,
              exited_at);
}

TEST_CASE("SIGTERM: the drain deadline bounds the wait for a slow request") {
  Backend b("b", behave(Backend::Mode::Default, Ms(5000)));
  TurnoutProcess proc;
  proc.start(config_for(b, "1s"));
  TURNOUT_INFO_STDERR(proc);

  Pending slow = send_get(proc.port(), "slow");
  REQUIRE(b.wait_requests(1, Ms(5000)));
  auto t0 = Clock::now();
  proc.signal(SIGTERM);
  auto code = proc.wait_exit(Ms(5000));
  double exited_at = secs_since(t0);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(exited_at >= 0.9);  // it did wait for the request, up to the deadline
  CHECK(exited_at <= 1.5);  // and not longer
  CHECK(proc.stderr_text().find("drain deadline reached") != std::string::npos);

  // The slow request's connection was closed at the deadline, without a (partial) answer.
  std::string extra;
  CHECK(slow.client.wait_closed(Ms(1000), &extra));
  CHECK(extra.empty());
  std::printf("drain deadline: exit after %.3f s with drain: 1s and a 5 s request\n", exited_at);
}

TEST_CASE("SIGINT stops like SIGTERM") {
  Backend b("b");
  TurnoutProcess proc;
  proc.start(config_for(b, "10s"));
  TURNOUT_INFO_STDERR(proc);
  Client c(proc.port());
  auto r = c.get(kHost, "/before");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  auto t0 = Clock::now();
  proc.signal(SIGINT);
  CHECK(c.wait_closed(Ms(3000)));
  auto code = proc.wait_exit(Ms(5000));
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(secs_since(t0) < 3.0);
}
