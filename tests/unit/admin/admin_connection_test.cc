// AdminConnection alone, over a socketpair on a private loop: what a client of the admin socket
// sees on the wire (pipelined answers in order, 400/413/431 then close, 100 Continue, the
// takeover hand-off), with a small AdminActions that answers reads from a real table.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "loop_fixture.h"
#include "turnout/admin/admin_connection.h"
#include "turnout/admin/api.h"
#include "turnout/common/log.h"
#include "turnout/route/route_builder.h"

using namespace turnout;

namespace {

// Reads answer from a one-app table; changes are counted and answered at once.
class SmallActions : public AdminActions {
 public:
  SmallActions() {
    Config c;
    c.apps["example"].servers = {{"127.0.0.1:9001", 1}};
    c.routes["example.com"] = {{"example", 1}};
    Result<RouteTablePtr> t = build_table(c, 7);
    REQUIRE(t.ok());
    table_ = *t;
  }
  RouteTablePtr current_table() const override { return table_; }
  void apply(std::vector<Change> changes, std::optional<uint64_t>, std::string, bool, Done done) override {
    ++applies;
    Result<RouteTablePtr> next = apply_changes(*table_, changes, table_->version() + 1);
    if (!next) return done(next.error());
    table_ = *next;
    done(table_->version());
  }
  void rollback(std::optional<uint64_t>, std::optional<uint64_t>, Done done) override { done(make_error(ErrorKind::NotImplemented, "no")); }
  void reload(bool, Done done) override { done(make_error(ErrorKind::NotImplemented, "no")); }
  void wait_drained(std::string, std::string, uint64_t, std::function<void(uint64_t)> done) override { done(0); }
  void upgrade(Done done) override { done(make_error(ErrorKind::NotImplemented, "no")); }
  void takeover(int fd) override { takeover_fds.push_back(fd); }
  std::vector<HistoryEntry> history() const override { return {}; }
  std::map<std::string, ServerStats> server_stats() override { return {}; }
  nlohmann::json status() override { return {{"version", table_->version()}}; }
  std::string metrics() override { return ""; }

  int applies = 0;
  std::vector<int> takeover_fds;  // owned by the test once handed over

 private:
  RouteTablePtr table_;
};

struct Answer {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;
};

// Splits `raw` into answers (Content-Length framed; 100 Continue has no body).
std::vector<Answer> split_answers(std::string raw) {
  std::vector<Answer> out;
  while (true) {
    size_t end = raw.find("\r\n\r\n");
    if (end == std::string::npos) break;
    Answer a;
    a.head = raw.substr(0, end);
    a.status = std::atoi(a.head.substr(9, 3).c_str());
    size_t length = 0;
    size_t cl = a.head.find("Content-Length: ");
    if (cl != std::string::npos) length = std::strtoul(a.head.c_str() + cl + 16, nullptr, 10);
    a.body = raw.substr(end + 4, length);
    raw.erase(0, end + 4 + length);
    out.push_back(std::move(a));
  }
  return out;
}

// One admin connection on one end of a socketpair; the test plays the client on the other.
struct Session : test::LoopFixture {
  SmallActions actions;
  int client = -1;
  AdminConnection* conn = nullptr;
  bool closed = false;

  explicit Session(size_t max_body = 1 << 20) {
    set_log_level(LogLevel::Warn);
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    client = fds[1];
    AdminConnection::Settings s;
    s.actions = &actions;
    s.max_body = max_body;
    conn = AdminConnection::open(&loop, fds[0], std::move(s), [this](AdminConnection*) { closed = true; });
    REQUIRE(conn != nullptr);
  }
  ~Session() {
    if (!closed) conn->close();
    uv_run(&loop, UV_RUN_DEFAULT);
    if (client >= 0) ::close(client);
  }

  // Sends `input` (then EOF unless `keep_open`), runs the loop until the server closed the
  // connection, and returns everything it wrote.
  std::string exchange(const std::string& input, bool keep_open = false) {
    REQUIRE(::write(client, input.data(), input.size()) == static_cast<ssize_t>(input.size()));
    if (!keep_open) ::shutdown(client, SHUT_WR);
    // Bounded: a connection that never closes fails the test instead of hanging it.
    for (int i = 0; i < 2000 && !closed; ++i) uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
    CHECK(closed);
    uv_run(&loop, UV_RUN_DEFAULT);  // close callbacks
    return read_all();
  }

  std::string read_all() {
    std::string out;
    ::fcntl(client, F_SETFL, ::fcntl(client, F_GETFL) | O_NONBLOCK);
    char buf[65536];
    while (true) {
      ssize_t n = ::read(client, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
};

const char* kGetRoutes = "GET /v1/routes HTTP/1.1\r\nHost: admin\r\n\r\n";

}  // namespace

TEST_CASE("pipelined requests are answered in order, then the connection closes on EOF") {
  Session s;
  std::string in = std::string(kGetRoutes) + "GET /v1/status HTTP/1.1\r\nHost: admin\r\n\r\n" +
                   "PUT /v1/routes/www.example.com/example HTTP/1.1\r\nHost: admin\r\nContent-Length: 13\r\n\r\n"
                   "{\"weight\": 2}" + kGetRoutes;
  std::vector<Answer> answers = split_answers(s.exchange(in));
  REQUIRE(answers.size() == 4);
  CHECK(answers[0].status == 200);
  CHECK(answers[0].body.find("\"example.com\"") != std::string::npos);
  CHECK(answers[0].body.find("www.example.com") == std::string::npos);
  CHECK(answers[1].status == 200);
  CHECK(answers[1].body.find("\"version\":7") != std::string::npos);
  CHECK(answers[2].status == 200);
  CHECK(answers[2].body.find("\"version\":8") != std::string::npos);
  CHECK(answers[3].body.find("\"www.example.com\":{\"example\":2}") != std::string::npos);
  for (const Answer& a : answers) CHECK(a.head.find("Connection: close") == std::string::npos);
  CHECK(s.actions.applies == 1);
}

TEST_CASE("Connection: close is answered with Connection: close and the rest is not read") {
  Session s;
  std::string in = "GET /v1/routes HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n" + std::string(kGetRoutes);
  std::vector<Answer> answers = split_answers(s.exchange(in, /*keep_open=*/true));
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].status == 200);
  CHECK(answers[0].head.find("Connection: close") != std::string::npos);
}

TEST_CASE("a malformed request gets 400 and the connection closes") {
  Session s;
  // A bare LF ends the request line; the valid request after it is never answered.
  std::string in = "GET /v1/routes HTTP/1.1\nHost: admin\r\n\r\n" + std::string(kGetRoutes);
  std::vector<Answer> answers = split_answers(s.exchange(in, /*keep_open=*/true));
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].status == 400);
  CHECK(answers[0].head.find("Connection: close") != std::string::npos);
  CHECK(answers[0].body.find("malformed request") != std::string::npos);
}

TEST_CASE("an extension method gets 400 (the admin API has none)") {
  Session s;
  std::vector<Answer> answers = split_answers(s.exchange("BREW /v1/routes HTTP/1.1\r\nHost: admin\r\n\r\n", true));
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].status == 400);
}

TEST_CASE("a request line the parser refuses with 501 or 505 is the admin API's 400") {
  SUBCASE("HTTP/2.0") {
    Session s;
    std::vector<Answer> answers = split_answers(s.exchange("GET /v1/routes HTTP/2.0\r\nHost: admin\r\n\r\n", true));
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].status == 400);
  }
  SUBCASE("a method too long") {
    Session s;
    std::vector<Answer> answers =
        split_answers(s.exchange(std::string(100, 'G') + " /v1/routes HTTP/1.1\r\nHost: admin\r\n\r\n", true));
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].status == 400);
  }
}

TEST_CASE("a request after a valid one that is malformed: the first is answered, then 400") {
  Session s;
  std::string in = std::string(kGetRoutes) + "GET /v1/routes HTTP/1.1\r\nHost: admin\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
  std::vector<Answer> answers = split_answers(s.exchange(in, /*keep_open=*/true));
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].status == 200);
  CHECK(answers[1].status == 400);
}

TEST_CASE("bodies over max_body answer 413, by Content-Length or as chunks arrive") {
  SUBCASE("Content-Length") {
    Session s(16);
    std::string in = "PUT /v1/apps/x HTTP/1.1\r\nHost: admin\r\nContent-Length: 17\r\n\r\n";
    std::vector<Answer> answers = split_answers(s.exchange(in, /*keep_open=*/true));
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].status == 413);
    CHECK(answers[0].body.find("request body over 16 bytes") != std::string::npos);
    CHECK(s.actions.applies == 0);
  }
  SUBCASE("chunked") {
    Session s(16);
    std::string in = "PUT /v1/apps/x HTTP/1.1\r\nHost: admin\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n";
    std::vector<Answer> answers = split_answers(s.exchange(in, /*keep_open=*/true));
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].status == 413);
    CHECK(s.actions.applies == 0);
  }
  SUBCASE("a chunked body within the limit is whole") {
    Session s(64);
    std::string in = "PUT /v1/apps/x HTTP/1.1\r\nHost: admin\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "f\r\n{\"servers\": [\"1\r\n10\r\n27.0.0.1:9009\"]}\r\n0\r\n\r\n";
    std::vector<Answer> answers = split_answers(s.exchange(in));
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].status == 200);
    CHECK(s.actions.applies == 1);
  }
}

TEST_CASE("a head over the limit answers 431, a long target 414") {
  SUBCASE("431") {
    Session s;
    std::string in = "GET /v1/routes HTTP/1.1\r\nHost: admin\r\nX-Big: " +
                     std::string(AdminConnection::kMaxHeadBytes, 'a') + "\r\n\r\n";
    std::vector<Answer> answers = split_answers(s.exchange(in, /*keep_open=*/true));
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].status == 431);
  }
  SUBCASE("414") {
    Session s;
    std::string in = "GET /v1/" + std::string(AdminConnection::kMaxHeadBytes, 'a') + " HTTP/1.1\r\n";
    std::vector<Answer> answers = split_answers(s.exchange(in, /*keep_open=*/true));
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].status == 414);
  }
}

TEST_CASE("Expect: 100-continue gets 100 Continue before the answer") {
  Session s;
  std::string body = "{\"addr\": \"127.0.0.1:9002\"}";
  std::string in = "POST /v1/apps/example/servers HTTP/1.1\r\nHost: admin\r\nExpect: 100-continue\r\n"
                   "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string raw = s.exchange(in);
  CHECK(raw.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0) == 0);
  std::vector<Answer> answers = split_answers(raw);
  REQUIRE(answers.size() == 2);
  CHECK(answers[1].status == 200);
}

TEST_CASE("POST /v1/takeover hands a duplicate of the connection's socket to AdminActions") {
  Session s;
  std::string before = s.exchange("POST /v1/takeover HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n", true);
  CHECK(before.empty());  // no HTTP answer: the connection left HTTP
  REQUIRE(s.actions.takeover_fds.size() == 1);
  int fd = s.actions.takeover_fds[0];
  // The hand-off channel is the same socket: what the new owner writes, the client reads.
  REQUIRE(::write(fd, "hand-off", 8) == 8);
  ::close(fd);
  CHECK(s.read_all() == "hand-off");
}
