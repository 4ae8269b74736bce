// One owner per listen address (issue 15, item 2): a turnout refuses to start on an address
// another running turnout serves, naming that one's pid and admin socket, instead of splitting
// the traffic with it through SO_REUSEPORT; the address is free again once that turnout exits;
// its upgrade successor inherits the address (and `turnout upgrade` prints both pids); another
// program's socket on the port is refused as it always was.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <string>

#include "integration/harness.h"
#include "integration/remap_util.h"

using namespace turnout::test;
using namespace turnout::test::remap;

namespace {

// example.com on `app`, served on 127.0.0.1:port.
std::string config_on(int port, const std::string& app, const Backend& backend) {
  return "listen: [\"127.0.0.1:" + std::to_string(port) + "\"]\n"
         "apps:\n"
         "  " + app + ": {servers: " + yaml_list({backend.addr()}) + "}\n"
         "routes:\n"
         "  example.com: [" + app + "]\n";
}

// GET /v1/status pid; -1 when the socket does not answer.
pid_t status_pid(const std::string& socket) {
  AdminReply r = admin_request(socket, "GET", "/v1/status");
  return r.status == 200 ? static_cast<pid_t>(r.json.value("pid", int64_t{-1})) : -1;
}

// Kills a pid at scope exit unless it is gone (an upgrade successor is not the harness's child).
struct KillAtExit {
  pid_t pid = -1;
  ~KillAtExit() {
    if (pid > 1) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);  // ours once reparented (subreaper); harmless otherwise
    }
  }
};

}  // namespace

TEST_CASE("a second turnout on the same listen address refuses to start and names the first") {
  Backend blue("blue"), green("green");
  const int port = unused_port();
  TurnoutProcess first;
  first.start(config_on(port, "blue", blue));
  TURNOUT_INFO_STDERR(first);

  TurnoutProcess second;
  second.expect_exit(1, "a second turnout on a served address must refuse to start");
  CHECK_FALSE(second.try_start(config_on(port, "green", green)));
  auto code = second.wait_exit(Ms(5000));
  REQUIRE(code.has_value());
  CHECK(*code != 0);
  std::string err = second.stderr_text();
  INFO("second turnout's stderr:\n" << err);
  CHECK(err.find("pid " + std::to_string(first.pid())) != std::string::npos);
  CHECK(err.find(first.admin_socket()) != std::string::npos);
  CHECK(err.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  CHECK(err.find("turnout upgrade") != std::string::npos);

  // Every request is served by the first turnout's table: the second never took a connection.
  for (int i = 0; i < 20; ++i) CHECK(who(http_get(port, "example.com", "/")) == "blue");
  CHECK(green.request_count() == 0);

  // Once the first one is gone the address is free again: nothing stale is left behind.
  first.expect_exit(128 + SIGKILL, "a crashed turnout must leave no stale claim");
  first.signal(SIGKILL);
  REQUIRE(first.wait_exit(Ms(5000)).has_value());
  TurnoutProcess third;
  third.start(config_on(port, "green", green));
  CHECK(who(http_get(port, "example.com", "/")) == "green");
}

TEST_CASE("another program listening on the port is refused as before") {
  Backend blue("blue");
  // A plain listener (no SO_REUSEPORT) on a free port.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 8) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  const int port = ntohs(a.sin_port);

  TurnoutProcess t;
  t.expect_exit(1, "a port another program holds must be refused");
  CHECK_FALSE(t.try_start(config_on(port, "blue", blue)));
  auto code = t.wait_exit(Ms(5000));
  REQUIRE(code.has_value());
  CHECK(*code != 0);
  std::string err = t.stderr_text();
  INFO("turnout stderr:\n" << err);
  CHECK(err.find("in use") != std::string::npos);
  ::close(fd);
}

TEST_CASE("the upgrade successor keeps the address; `turnout upgrade` prints the old and the new pid") {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // the successor is reparented here when the old one exits
  Backend blue("blue"), green("green");
  const int port = unused_port();
  TurnoutProcess t;
  t.start(config_on(port, "blue", blue));
  TURNOUT_INFO_STDERR(t);
  const pid_t old_pid = t.pid();

  CtlRun up = run_turnout({"upgrade", "-s", t.admin_socket()});
  INFO("upgrade stdout: " << up.out << "\nupgrade stderr: " << up.err);
  REQUIRE(up.code == 0);
  KillAtExit successor;
  successor.pid = status_pid(t.admin_socket());
  REQUIRE(successor.pid > 0);
  CHECK(successor.pid != old_pid);
  CHECK(up.out.find("upgraded: pid " + std::to_string(old_pid) + " -> " + std::to_string(successor.pid)) !=
        std::string::npos);
  CHECK(t.wait_exit(Ms(15000)).has_value());  // the old one drained and left

  // The successor holds the address now: a newcomer is refused, naming the successor.
  TurnoutProcess second;
  second.expect_exit(1, "the successor holds the address: a newcomer must refuse to start");
  CHECK_FALSE(second.try_start(config_on(port, "green", green)));
  std::string err = second.stderr_text();
  INFO("second turnout's stderr:\n" << err);
  CHECK(err.find("pid " + std::to_string(successor.pid)) != std::string::npos);
  CHECK(who(http_get(port, "example.com", "/")) == "blue");
}
