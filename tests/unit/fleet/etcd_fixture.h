// EtcdServer: a real etcd (/usr/bin/etcd) for one test case — started by PID on free loopback
// ports with a temporary data dir, ready once /health answers, SIGKILLed and reaped at the end.
// EtcdFixture adds a uv loop, an EtcdClient on it and run_until(); its destructor closes the
// client and checks the loop closes clean (uv_loop_close == 0: no handle leaked).
// Shared with the integration tests (tests/integration/fleet_test.cc includes "fleet/etcd_fixture.h"
// and drives etcd and turnout side by side); EtcdServer::restart() brings the same member back on
// the same ports and data dir, as an operator restarting etcd would.
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "turnout/fleet/etcd_client.h"

namespace turnout::test {

constexpr const char* kEtcdBinary = "/usr/bin/etcd";

// A loopback port nobody listens on right now (bound to port 0, then closed).
inline uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// One blocking HTTP/1.0 request on loopback; the whole answer, or "" if nothing answered.
inline std::string http_request(uint16_t port, const std::string& method, const std::string& path,
                                const std::string& body = {}) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    std::string req = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

inline std::string http_get(uint16_t port, const std::string& path) { return http_request(port, "GET", path); }
inline std::string http_post(uint16_t port, const std::string& path, const std::string& body) {
  return http_request(port, "POST", path, body);
}

// TLS for an EtcdServer's client URL: its certificate and key, and with `client_ca` etcd asks
// every client for a certificate issued by that CA (--client-cert-auth).
struct EtcdTlsFiles {
  std::string cert, key;
  std::string client_ca;  // "" = clients are not authenticated by certificate
};

class EtcdServer {
 public:
  // `extra`: more etcd flags (e.g. --auth-token-ttl=1). With `tls` the client URL is https://
  // (a second, plain one on another port serves the health check the fixture polls).
  explicit EtcdServer(std::vector<std::string> extra = {}, std::optional<EtcdTlsFiles> tls = std::nullopt)
      : extra_(std::move(extra)), tls_(std::move(tls)) {
    REQUIRE_MESSAGE(::access(kEtcdBinary, X_OK) == 0, "etcd is required: apt-get install etcd-server");
    char tmpl[] = "/tmp/turnout-etcd-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    port_ = free_port();
    peer_port_ = free_port();
    while (peer_port_ == port_) peer_port_ = free_port();
    health_port_ = port_;
    if (tls_)
      while (health_port_ == port_ || health_port_ == peer_port_) health_port_ = free_port();
    launch();
  }

  ~EtcdServer() {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  uint16_t port() const { return port_; }
  std::string endpoint() const { return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_); }

  // SIGSTOP: etcd keeps its sockets open but answers nothing (a hung member).
  // Returns once the kernel shows it stopped: kill() returns before every thread has stopped,
  // and a loaded machine can leave etcd running long enough to answer one more request.
  void stop() {
    ::kill(pid_, SIGSTOP);
    wait_state('T');
  }
  void cont() { ::kill(pid_, SIGCONT); }
  // SIGKILL and reap (a stopped etcd dies too).
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  // kill(), then the same member again on the same ports and data dir (its keys and revision
  // survive); waits until it is healthy.
  void restart() {
    kill();
    launch();
  }

 private:
  // Polls /proc/PID/stat until the process state is `want` (at most 2 s).
  void wait_state(char want) const {
    const std::string path = "/proc/" + std::to_string(pid_) + "/stat";
    for (int i = 0; i < 400; ++i) {
      std::ifstream in(path);
      std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      size_t paren = stat.rfind(')');
      if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == want) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Starts etcd on port_/peer_port_ with dir_/data and waits for /health (15 s).
  void launch() {
    std::string client_url = endpoint();
    std::string listen_urls = client_url;
    if (tls_) listen_urls += ",http://127.0.0.1:" + std::to_string(health_port_);
    std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args = {kEtcdBinary,
                                     "--name=t",
                                     "--data-dir=" + dir_ + "/data",
                                     "--listen-client-urls=" + listen_urls,
                                     "--advertise-client-urls=" + client_url,
                                     "--listen-peer-urls=" + peer_url,
                                     "--initial-advertise-peer-urls=" + peer_url,
                                     "--initial-cluster=t=" + peer_url,
                                     "--experimental-watch-progress-notify-interval=1s",
                                     "--log-level=error",
                                     "--logger=zap"};
    if (tls_) {
      args.push_back("--cert-file=" + tls_->cert);
      args.push_back("--key-file=" + tls_->key);
      if (!tls_->client_ca.empty()) {
        args.push_back("--client-cert-auth");
        args.push_back("--trusted-ca-file=" + tls_->client_ca);
      }
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::string log = dir_ + "/etcd.log";
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(kEtcdBinary, argv.data());
      ::_exit(127);
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < until) {
      if (http_get(health_port_, "/health").find("\"health\":\"true\"") != std::string::npos) return;
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("etcd did not become healthy; log in " << log);
  }

  std::vector<std::string> extra_;  // more etcd flags, kept across restart()
  std::optional<EtcdTlsFiles> tls_;  // https:// client URL, kept across restart()
  uint16_t health_port_ = 0;         // plain client URL for /health (port_ without TLS)
  std::string dir_;
  uint16_t port_ = 0;       // client port, kept across restart()
  uint16_t peer_port_ = 0;  // peer port, kept across restart()
  pid_t pid_ = -1;
};

struct EtcdFixture {
  EtcdServer etcd;
  uv_loop_t loop{};
  uv_timer_t timer{};
  bool timed_out = false;
  std::unique_ptr<EtcdClient> client;
  std::shared_ptr<const ClientTlsContext> client_tls;  // for https:// (null: plain)
  std::string client_tls_name;                         // the name etcd's certificate must carry ("": the host)

  explicit EtcdFixture(uint64_t request_timeout_ms = 5000) : EtcdFixture(std::vector<std::string>{}, request_timeout_ms) {}
  // `etcd_flags`: more flags for the etcd this fixture starts.
  explicit EtcdFixture(std::vector<std::string> etcd_flags, uint64_t request_timeout_ms = 5000)
      : EtcdFixture(std::move(etcd_flags), std::nullopt, nullptr, request_timeout_ms) {}
  // etcd with TLS on its client URL; the fixture's own client (and make_client's) uses
  // `client_tls` (its CA, and a client certificate when etcd asks for one).
  EtcdFixture(std::vector<std::string> etcd_flags, std::optional<EtcdTlsFiles> tls,
              std::shared_ptr<const ClientTlsContext> tls_context, uint64_t request_timeout_ms = 5000)
      : EtcdFixture(std::move(etcd_flags), std::move(tls), std::move(tls_context), "", request_timeout_ms) {}
  EtcdFixture(std::vector<std::string> etcd_flags, std::optional<EtcdTlsFiles> tls,
              std::shared_ptr<const ClientTlsContext> tls_context, std::string tls_name, uint64_t request_timeout_ms = 5000)
      : etcd(std::move(etcd_flags), std::move(tls)), client_tls(std::move(tls_context)), client_tls_name(std::move(tls_name)) {
    uv_loop_init(&loop);
    uv_timer_init(&loop, &timer);
    timer.data = this;
    client = make_client({etcd.endpoint()}, request_timeout_ms);
  }

  ~EtcdFixture() {
    client.reset();  // closes: pending requests are canceled, handles close on the next run
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }

  std::unique_ptr<EtcdClient> make_client(std::vector<std::string> endpoints, uint64_t request_timeout_ms = 5000) {
    EtcdClientOptions o;
    o.endpoints = std::move(endpoints);
    o.request_timeout_ms = request_timeout_ms;
    o.connect_timeout_ms = 1000;
    o.tls = client_tls;
    o.tls_server_name = client_tls_name;
    auto c = EtcdClient::create(&loop, std::move(o));
    REQUIRE(c.ok());
    return std::move(*c);
  }

  // Runs the loop until `done()` holds or `ms` pass; true if it held.
  bool run_until(const std::function<bool()>& done, uint64_t ms = 5000) {
    timed_out = false;
    uv_update_time(&loop);
    uv_timer_start(&timer, [](uv_timer_t* t) { static_cast<EtcdFixture*>(t->data)->timed_out = true; }, ms, 0);
    while (!done() && !timed_out) uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&timer);
    return done();
  }

  // Runs the loop for `ms`.
  void run_for(uint64_t ms) {
    run_until([] { return false; }, ms);
  }

  // Synchronous helpers for test set-up: each runs the loop until its answer.
  template <class T, class Start>
  EtcdResult<T> wait_for(Start start, uint64_t ms = 5000) {
    bool got = false;
    EtcdResult<T> out;
    start([&](EtcdResult<T>&& r) {
      out = std::move(r);
      got = true;
    });
    REQUIRE_MESSAGE(run_until([&] { return got; }, ms), "no answer within " << ms << " ms");
    return out;
  }

  EtcdResult<PutResult> put(const std::string& k, const std::string& v, int64_t lease = 0) {
    return wait_for<PutResult>([&](auto cb) { client->put(k, v, cb, lease); });
  }
  EtcdResult<RangeResult> get(const std::string& k) {
    return wait_for<RangeResult>([&](auto cb) { client->range(k, {}, cb); });
  }
  EtcdResult<RangeResult> get_prefix(const std::string& p) {
    return wait_for<RangeResult>([&](auto cb) { client->range_prefix(p, cb); });
  }
  EtcdResult<TxnResult> txn(const TxnRequest& t) {
    return wait_for<TxnResult>([&](auto cb) { client->txn(t, cb); });
  }
  EtcdResult<PutResult> compact(int64_t revision) {
    return wait_for<PutResult>([&](auto cb) { client->compact(revision, cb); });
  }
};

}  // namespace turnout::test
