// Timeouts (issue 5, item 3): client_idle closes an idle keep-alive connection; request_header
// is a deadline for the whole head that dripping bytes do not push back (slowloris); connect
// gives up on a server that never answers the SYN and retries on another one (or answers 502);
// upstream_response is measured between reads, so a slow but steady body is not cut. (408 for a
// stalled head and 504 for a silent upstream are in errors_test.cc.)
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <list>

#include "integration/harness.h"

using namespace turnout::test;

namespace {

long ms_since(Clock::time_point t0) { return static_cast<long>(std::chrono::duration_cast<Ms>(Clock::now() - t0).count()); }

int listen_loopback(int backlog, int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, backlog) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// Starts a non-blocking connect to 127.0.0.1:port and waits up to `wait` for it to complete.
// Returns the fd when connected, -1 (fd closed) when it did not complete in time.
int try_connect_within(int port, Ms wait) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (rc == 0) return fd;
  if (errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) == 1) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0) return fd;
  }
  ::close(fd);
  return -1;
}

// A server address that never answers a SYN: a listener with backlog 0 whose accept queue is
// filled by connections nobody accepts, so the kernel drops every new SYN.
class Blackhole {
 public:
  Blackhole() {
    listen_fd_ = listen_loopback(0, &port_);
    for (int i = 0; i < 16; ++i) {
      int fd = try_connect_within(port_, Ms(200));
      if (fd < 0) {
        full_ = true;
        break;
      }
      fillers_.push_back(fd);
    }
  }
  ~Blackhole() {
    for (int fd : fillers_) ::close(fd);
    ::close(listen_fd_);
  }
  Blackhole(const Blackhole&) = delete;
  Blackhole& operator=(const Blackhole&) = delete;
  int port() const { return port_; }
  std::string addr() const { return local_addr(port_); }
  bool full() const { return full_; }

 private:
  int listen_fd_ = -1;       // listening, never accepting
  int port_ = 0;
  bool full_ = false;        // a connect did not complete: SYNs are being dropped
  std::vector<int> fillers_; // connections sitting in the accept queue
};

// An upstream that answers every request with a chunked body dribbled out: `chunks` chunks of
// "hello", the i-th after gap(i). Thread per connection; stops on destruction.
class Trickle {
 public:
  using Gap = std::function<Ms(int)>;
  Trickle(int chunks, Gap gap) : chunks_(chunks), gap_(std::move(gap)) {
    listen_fd_ = listen_loopback(64, &port_);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~Trickle() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    for (auto& t : conns_) t.join();
    ::close(listen_fd_);
  }
  Trickle(const Trickle&) = delete;
  Trickle& operator=(const Trickle&) = delete;
  std::string addr() const { return local_addr(port_); }
  int requests() const { return requests_; }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      conns_.emplace_back([this, fd] { serve(fd); });
    }
  }
  void serve(int fd) {
    Conn c(fd);
    std::string head;
    while (!stop_ && c.read_head(head, Clock::now() + Ms(100))) {
      ++requests_;
      if (!c.send_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Backend: trickle\r\n\r\n")) return;
      for (int i = 0; i < chunks_ && !stop_; ++i) {
        auto until = Clock::now() + gap_(i);
        while (!stop_ && Clock::now() < until) std::this_thread::sleep_for(Ms(5));
        if (!c.send_all("5\r\nhello\r\n")) return;
      }
      if (!c.send_all("0\r\n\r\n")) return;
    }
  }

  int chunks_;                       // chunks per response
  Gap gap_;                          // pause before chunk i
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};     // requests answered (or being answered)
  std::thread acceptor_;
  std::list<std::thread> conns_;     // touched by the acceptor only, joined after it
};

}  // namespace

TEST_CASE("client_idle: an idle keep-alive connection is closed after client_idle, a busy one is not") {
  Backend b("e");
  TurnoutProcess t;
  t.start("apps:\n"
          "  e: {servers: " + yaml_list({b.addr()}) + "}\n"
          "routes:\n"
          "  to.test: [e]\n"
          "timeouts: {client_idle: 300ms}\n");
  TURNOUT_INFO_STDERR(t);

  // Requests 150 ms apart keep the connection: each one restarts the idle clock.
  Client busy(t.port());
  for (int i = 0; i < 8; ++i) {
    CAPTURE(i);
    if (i > 0) std::this_thread::sleep_for(Ms(150));
    auto r = busy.get("to.test", "/busy/" + std::to_string(i));
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK_FALSE(busy.conn().eof());

  // Then silence: closed about client_idle after the last response.
  auto last = Clock::now();
  std::string extra;
  CHECK(busy.wait_closed(Ms(3000), &extra));
  long idle_ms = ms_since(last);
  INFO("closed after " << idle_ms << " ms idle");
  CHECK(idle_ms >= 250);
  CHECK(idle_ms < 1500);
  CHECK(extra.empty());  // no stray response (e.g. a 408) on an idle close
}

TEST_CASE("request_header: a head dripped one byte every 100 ms gets 408 at the deadline, not later") {
  Backend b("e");
  TurnoutProcess t;
  t.start("apps:\n"
          "  e: {servers: " + yaml_list({b.addr()}) + "}\n"
          "routes:\n"
          "  to.test: [e]\n"
          "timeouts: {request_header: 500ms}\n");
  TURNOUT_INFO_STDERR(t);

  // Drips a head that never ends, every byte 100 ms after the one before; returns the time from
  // the first byte to turnout's answer (or its close).
  auto drip = [&](Client& cl) -> std::optional<long> {
    const std::string start = "GET /drip HTTP/1.1\r\nHost: to.test\r\nX-Drip: ";
    auto t0 = Clock::now();
    for (size_t i = 0; i < 40; ++i) {  // 4 s of dripping at most
      cl.send(i < start.size() ? start.substr(i, 1) : std::string("a"));
      if (cl.conn().fill(Clock::now() + Ms(100)) || cl.conn().eof()) return ms_since(t0);
    }
    return std::nullopt;
  };

  SUBCASE("on a fresh connection") {
    Client cl(t.port());
    REQUIRE(cl.send("GET /drip HTTP/1.1\r\n"));
    auto t0 = Clock::now();
    std::optional<long> answered_after;
    for (int i = 0; i < 40 && !answered_after; ++i) {
      cl.send(i < 14 ? std::string(1, "Host: to.test\r\n"[i]) : std::string("a"));
      if (cl.conn().fill(Clock::now() + Ms(100)) || cl.conn().eof()) answered_after = ms_since(t0);
    }
    REQUIRE_MESSAGE(answered_after, "no answer after 4 s of dripping");
    INFO("answered " << *answered_after << " ms after the first byte");
    CHECK(*answered_after >= 400);
    CHECK(*answered_after < 1200);
    auto r = cl.read_response(Ms(1000));
    REQUIRE(r);
    CHECK(r->status == 408);
    CHECK(cl.wait_closed(Ms(2000)));
  }

  SUBCASE("on a keep-alive connection: the deadline starts with the next request's first byte") {
    Client cl(t.port());
    auto first = cl.get("to.test", "/first");
    REQUIRE(first);
    REQUIRE(first->status == 200);
    std::this_thread::sleep_for(Ms(300));  // idle, well within client_idle (default 60 s)
    auto after = drip(cl);
    REQUIRE_MESSAGE(after, "no answer after 4 s of dripping");
    INFO("answered " << *after << " ms after the first byte");
    CHECK(*after >= 400);
    CHECK(*after < 1200);
    auto r = cl.read_response(Ms(1000));
    REQUIRE(r);
    CHECK(r->status == 408);
    CHECK(cl.wait_closed(Ms(2000)));
  }
  CHECK(b.request_count() <= 1);
  for (const auto& r : b.requests()) CHECK(r.target == "/first");
}

TEST_CASE("connect: a server that never answers the SYN is given up after the connect timeout; retried elsewhere, else 502") {
  Blackhole hole;
  REQUIRE_MESSAGE(hole.full(), "could not make a listener that drops SYNs (accept queue never filled)");
  // Double-check: a fresh connect really hangs.
  int probe = try_connect_within(hole.port(), Ms(300));
  if (probe >= 0) ::close(probe);
  REQUIRE_MESSAGE(probe < 0, "connects to the blackhole still complete");

  Backend live("live");
  TurnoutProcess t;
  t.start("workers: 1\n"
          "apps:\n"
          "  mixed: {servers: " + yaml_list({hole.addr(), live.addr()}) + "}\n"
          "  lone: {servers: " + yaml_list({hole.addr()}) + "}\n"
          "routes:\n"
          "  mixed.test: [mixed]\n"
          "  lone.test: [lone]\n"
          "timeouts: {connect: 300ms}\n");
  TURNOUT_INFO_STDERR(t);

  // Only the silent server: 502 once the connect timeout passes, and no second wait.
  {
    auto t0 = Clock::now();
    auto r = http_get(t.port(), "lone.test", "/", {}, Ms(10000));
    long took = ms_since(t0);
    INFO("lone: answered after " << took << " ms");
    REQUIRE(r);
    CHECK(r->status == 502);
    CHECK(took >= 250);
    CHECK(took < 1000);
  }
  // Beside a live server: every request succeeds; one that tried the silent server first is
  // late by about the connect timeout, not by the kernel's SYN retries (1 s, 3 s, ...).
  Client cl(t.port());
  long slowest = 0;
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    auto t0 = Clock::now();
    auto r = cl.get("mixed.test", "/m/" + std::to_string(i), {}, Ms(10000));
    long took = ms_since(t0);
    CAPTURE(took);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("X-Backend") == std::optional<std::string>("live"));
    CHECK(took < 1000);
    slowest = std::max(slowest, took);
  }
  INFO("slowest mixed request: " << slowest << " ms");
  CHECK(slowest >= 250);  // round-robin sent one of the two to the silent server first
  CHECK(live.request_count() == 2);
}

TEST_CASE("upstream_response is between reads: a slow, steady body is not cut; a long silence mid-body is") {
  SUBCASE("a chunk every 200 ms for 2 s with upstream_response 500 ms: delivered whole") {
    Trickle up(10, [](int) { return Ms(200); });
    TurnoutProcess t;
    t.start("apps:\n"
            "  s: {servers: " + yaml_list({up.addr()}) + "}\n"
            "routes:\n"
            "  slow.test: [s]\n"
            "timeouts: {upstream_response: 500ms}\n");
    TURNOUT_INFO_STDERR(t);

    auto t0 = Clock::now();
    Client cl(t.port());
    REQUIRE(cl.send_request("GET", "/trickle", "slow.test"));
    auto r = cl.read_response(Ms(10000));
    long took = ms_since(t0);
    INFO("took " << took << " ms");
    REQUIRE(r);
    CHECK(r->status == 200);
    std::string want;
    for (int i = 0; i < 10; ++i) want += "hello";
    CHECK(r->body == want);
    CHECK(took >= 1800);
    // And the connection is still good for another request.
    CHECK_FALSE(cl.conn().eof());
  }
  SUBCASE("3 chunks, then 1.5 s of silence with upstream_response 500 ms: the client sees the body cut, not a fake end") {
    Trickle up(6, [](int i) { return i == 3 ? Ms(1500) : Ms(100); });
    TurnoutProcess t;
    t.start("apps:\n"
            "  s: {servers: " + yaml_list({up.addr()}) + "}\n"
            "routes:\n"
            "  slow.test: [s]\n"
            "timeouts: {upstream_response: 500ms}\n");
    TURNOUT_INFO_STDERR(t);

    Client cl(t.port());
    REQUIRE(cl.send_request("GET", "/trickle", "slow.test"));
    auto head = cl.read_head(Ms(3000));
    REQUIRE(head);
    CHECK(head->status == 200);
    std::string got;
    auto t0 = Clock::now();
    bool complete = cl.read_body(*head, false, [&](std::string_view d) { got.append(d); }, Ms(5000));
    long took = ms_since(t0);
    INFO("body ended after " << took << " ms with " << got.size() << " bytes");
    CHECK_FALSE(complete);
    CHECK(cl.conn().eof());
    CHECK(got == "hellohellohello");
    // Cut about 500 ms after the third chunk, long before the silence ends.
    CHECK(took < 1400);
  }
}
