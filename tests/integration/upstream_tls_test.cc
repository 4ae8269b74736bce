// TLS towards an app's servers (`apps.NAME.tls`) as the servers see it: a TLS backend in this
// test (OpenSSL, one thread per connection) counts connections, handshakes, resumptions and
// requests, and notes any connection whose first byte is not a TLS record (plaintext). The
// certificates are made at test time by the openssl CLI.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "integration/harness.h"

using namespace turnout::test;
using json = nlohmann::json;

namespace {

std::string sh(const std::string& cmd, int* code) {
  std::string out;
  FILE* p = ::popen(("timeout 20 " + cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = ::pclose(p);
  *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

// CA `name`.crt/.key (self-signed).
void make_ca(const TempDir& dir, const std::string& name) {
  int code = 0;
  std::string out = sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=" +
                           name + " -keyout " + dir.file(name + ".key") + " -out " + dir.file(name + ".crt"),
                       &code);
  REQUIRE_MESSAGE(code == 0, out);
}

void make_leaf(const TempDir& dir, const std::string& ca, const std::string& out = "leaf") {
  int code = 0;
  std::string out_text = sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=backend -keyout " +
                                dir.file(out + ".key") + " -out " + dir.file(out + ".csr"),
                            &code);
  REQUIRE_MESSAGE(code == 0, out_text);
  dir.write("leaf.ext", "subjectAltName=DNS:backend.test,IP:127.0.0.1\n");
  out_text = sh("openssl x509 -req -in " + dir.file(out + ".csr") + " -CA " + dir.file(ca + ".crt") + " -CAkey " +
                    dir.file(ca + ".key") + " -CAcreateserial -days 10 -extfile " + dir.file("leaf.ext") + " -out " +
                    dir.file(out + ".crt"),
                &code);
  REQUIRE_MESSAGE(code == 0, out_text);
}

// A TLS HTTP/1.1 server on 127.0.0.1:0. Every response is 200 "ok" with keep-alive, except a
// request for /close, answered with Connection: close and a closed connection.
class TlsBackend {
 public:
  TlsBackend(const std::string& cert, const std::string& key) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    REQUIRE(SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) == 1);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 64) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~TlsBackend() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(fd_);
    {
      std::lock_guard<std::mutex> g(mu_);
      for (int c : open_) ::shutdown(c, SHUT_RDWR);
    }
    for (auto& t : conns_) t.join();
    SSL_CTX_free(ctx_);
  }
  int port() const { return port_; }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }

  std::atomic<int> connections{0};
  std::atomic<int> handshakes{0};   // completed
  std::atomic<int> resumed{0};      // completed by resumption
  std::atomic<int> requests{0};
  std::atomic<int> plaintext{0};    // connections whose first byte was not a TLS handshake record
  std::atomic<int> sni_backend_test{0};  // handshakes that asked for backend.test by SNI

 private:
  void accept_loop() {
    while (!stopping_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++connections;
      std::lock_guard<std::mutex> g(mu_);
      open_.push_back(c);
      conns_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    unsigned char first = 0;
    if (::recv(c, &first, 1, MSG_PEEK) == 1 && first != 0x16) ++plaintext;
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, c);
    if (SSL_accept(ssl) == 1) {
      ++handshakes;
      if (SSL_session_reused(ssl)) ++resumed;
      const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
      if (sni && std::string(sni) == "backend.test") ++sni_backend_test;
      std::string in;
      char buf[4096];
      bool open = true;
      while (open) {
        int n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        size_t end;
        while ((end = in.find("\r\n\r\n")) != std::string::npos) {
          std::string head = in.substr(0, end);
          in.erase(0, end + 4);
          ++requests;
          bool close = head.rfind("GET /close ", 0) == 0;
          std::string resp = std::string("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n") +
                             (close ? "Connection: close\r\n" : "") + "\r\nok";
          SSL_write(ssl, resp.data(), static_cast<int>(resp.size()));
          if (close) {
            SSL_shutdown(ssl);
            open = false;
            break;
          }
        }
      }
    }
    ERR_clear_error();
    SSL_free(ssl);
    ::shutdown(c, SHUT_RDWR);
    std::lock_guard<std::mutex> g(mu_);
    ::close(c);
    for (auto& o : open_)
      if (o == c) o = -1;
  }

  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> open_;
  std::vector<std::thread> conns_;
};

// "up" of `addr` in app `app` of GET /v1/apps; nullopt when it is not listed.
std::optional<bool> server_up(const TurnoutProcess& t, const std::string& app, const std::string& addr) {
  AdminReply r = t.admin("GET", "/v1/apps");
  if (r.status != 200 || !r.json.is_object()) return std::nullopt;
  const json& apps = r.json.value("apps", json::object());
  if (!apps.contains(app)) return std::nullopt;
  for (const auto& s : apps[app].value("servers", json::array()))
    if (s.value("addr", std::string()) == addr && s.contains("up") && s["up"].is_boolean()) return s["up"].get<bool>();
  return std::nullopt;
}

std::string app_config(const std::string& server, const std::string& tls) {
  return "listen: \"127.0.0.1:0\"\n"
         "apps:\n  secure: { servers: [\"" + server + "\"], tls: " + tls + " }\n"
         "routes:\n  example.com: [secure]\n";
}

}  // namespace

TEST_CASE("an app with tls reaches its server over verified TLS, one pooled connection for several requests") {
  TempDir pki;
  make_ca(pki, "ca");
  make_leaf(pki, "ca");
  TlsBackend b(pki.file("leaf.crt"), pki.file("leaf.key"));
  TurnoutProcess t;
  t.start(app_config(b.addr(), "{ ca: " + pki.file("ca.crt") + ", server_name: backend.test }"));
  TURNOUT_INFO_STDERR(t);
  Client c(t.port());
  for (int i = 0; i < 3; ++i) {
    auto r = c.get("example.com", "/x");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "ok");
  }
  CHECK(b.requests == 3);
  CHECK(b.connections == 1);  // the TLS connection went back to the pool and was reused
  CHECK(b.handshakes == 1);
  CHECK(b.sni_backend_test == 1);
  CHECK(b.plaintext == 0);
}

TEST_CASE("a new upstream TLS connection resumes the session of the previous one") {
  TempDir pki;
  make_ca(pki, "ca");
  make_leaf(pki, "ca");
  TlsBackend b(pki.file("leaf.crt"), pki.file("leaf.key"));
  TurnoutProcess t;
  // No server_name: the server's IP is verified (the certificate lists 127.0.0.1).
  t.start(app_config(b.addr(), "{ ca: " + pki.file("ca.crt") + " }") + "workers: 1\n");
  TURNOUT_INFO_STDERR(t);
  Client c(t.port());
  for (int i = 0; i < 3; ++i) {
    auto r = c.get("example.com", "/close");  // the server closes after each response
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(b.requests == 3);
  CHECK(b.connections == 3);
  CHECK(b.handshakes == 3);
  CHECK(b.resumed == 2);  // each connection after the first resumed the last session
}

TEST_CASE("a server certificate the app's ca does not verify: 502, logged, nothing sent in plaintext") {
  TempDir pki;
  make_ca(pki, "ca");
  make_ca(pki, "other");
  make_leaf(pki, "ca");
  TlsBackend b(pki.file("leaf.crt"), pki.file("leaf.key"));
  TurnoutProcess t;
  t.start(app_config(b.addr(), "{ ca: " + pki.file("other.crt") + ", server_name: backend.test }"));
  TURNOUT_INFO_STDERR(t);
  auto r = http_get(t.port(), "example.com", "/x");
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK(b.requests == 0);
  CHECK(b.handshakes == 0);
  CHECK(b.connections >= 1);
  CHECK(b.plaintext == 0);
  CHECK(wait_until([&] { return t.stderr_text().find("upstream TLS handshake failed") != std::string::npos; },
                   Ms(5000)));
  std::string log = t.stderr_text();
  CHECK(log.find(b.addr()) != std::string::npos);
  CHECK(log.find("certificate verify failed: unable to get local issuer certificate") != std::string::npos);

  // The name is verified too: the right ca for a name the certificate does not carry.
  TurnoutProcess t2;
  t2.start(app_config(b.addr(), "{ ca: " + pki.file("ca.crt") + ", server_name: other.test }"));
  auto r2 = http_get(t2.port(), "example.com", "/x");
  REQUIRE(r2);
  CHECK(r2->status == 502);
  CHECK(b.requests == 0);
  CHECK(wait_until([&] { return t2.stderr_text().find("hostname mismatch") != std::string::npos; }, Ms(5000)));
}

TEST_CASE("verify: false reaches a server whose certificate would not verify") {
  TempDir pki;
  make_ca(pki, "ca");
  make_ca(pki, "other");
  make_leaf(pki, "ca");
  TlsBackend b(pki.file("leaf.crt"), pki.file("leaf.key"));
  TurnoutProcess t;
  t.start(app_config(b.addr(), "{ ca: " + pki.file("other.crt") + ", server_name: other.test, verify: false }"));
  TURNOUT_INFO_STDERR(t);
  auto r = http_get(t.port(), "example.com", "/x");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(b.requests == 1);
}

TEST_CASE("an app replaced through the admin API keeps its tls towards the new servers") {
  TempDir pki;
  make_ca(pki, "ca");
  make_leaf(pki, "ca");
  TlsBackend b(pki.file("leaf.crt"), pki.file("leaf.key"));
  TlsBackend b2(pki.file("leaf.crt"), pki.file("leaf.key"));
  TurnoutProcess t;
  t.start(app_config(b.addr(), "{ ca: " + pki.file("ca.crt") + ", server_name: backend.test }"));
  TURNOUT_INFO_STDERR(t);
  auto put = t.admin("PUT", "/v1/apps/secure", "{\"servers\": [\"" + b2.addr() + "\"]}");
  INFO(put.body);
  REQUIRE(put.status == 200);
  auto r = http_get(t.port(), "example.com", "/x");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(b2.requests == 1);
  CHECK(b2.plaintext == 0);
}

TEST_CASE("health checks of a TLS app speak TLS to its servers") {
  TempDir pki;
  make_ca(pki, "ca");
  make_leaf(pki, "ca");
  TlsBackend b(pki.file("leaf.crt"), pki.file("leaf.key"));
  TurnoutProcess t;
  t.start("listen: \"127.0.0.1:0\"\n"
          "apps:\n  secure: { servers: [\"" + b.addr() + "\"], tls: { ca: " + pki.file("ca.crt") +
          ", server_name: backend.test }, health: { path: /healthz, interval: 200ms, timeout: 1s, rise: 1, fall: 1 } }\n"
          "routes:\n  example.com: [secure]\n");
  TURNOUT_INFO_STDERR(t);
  // No client request: whatever reaches the server is a check, and it came over verified TLS.
  CHECK(wait_until([&] { return b.requests >= 2; }, Ms(10000)));
  CHECK(b.plaintext == 0);
  CHECK(b.sni_backend_test >= 2);
  auto ok = http_get(t.port(), "example.com", "/x");
  REQUIRE(ok);
  CHECK(ok->status == 200);  // the server is up
}

TEST_CASE("a server whose certificate does not verify is skipped: the request is retried on another server") {
  TempDir pki;
  make_ca(pki, "ca");
  make_ca(pki, "other");
  make_leaf(pki, "ca");
  make_leaf(pki, "other", "stranger");  // right name, wrong issuer
  TlsBackend bad(pki.file("stranger.crt"), pki.file("stranger.key"));
  TlsBackend good(pki.file("leaf.crt"), pki.file("leaf.key"));
  TurnoutProcess t;
  t.start("workers: 1\n"
          "apps:\n  secure: { servers: [\"" + bad.addr() + "\", \"" + good.addr() + "\"], tls: { ca: " +
          pki.file("ca.crt") + ", server_name: backend.test } }\n"
          "routes:\n  example.com: [secure]\n");
  TURNOUT_INFO_STDERR(t);
  for (int i = 0; i < 4; ++i) {  // round robin sends some of them to `bad` first
    auto r = http_get(t.port(), "example.com", "/x");
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(good.requests == 4);
  CHECK(bad.connections >= 1);  // it was tried...
  CHECK(bad.handshakes == 0);   // ...and refused during the handshake
  CHECK(bad.requests == 0);
  CHECK(bad.plaintext == 0);
  CHECK(wait_until([&] { return t.stderr_text().find("server=" + bad.addr() + " name=backend.test") != std::string::npos; },
                   Ms(5000)));
}

TEST_CASE("a health-checked server whose certificate does not verify is down") {
  TempDir pki;
  make_ca(pki, "ca");
  make_ca(pki, "other");
  make_leaf(pki, "other");
  TlsBackend b(pki.file("leaf.crt"), pki.file("leaf.key"));
  TurnoutProcess t;
  t.start("workers: 1\n"
          "apps:\n  secure: { servers: [\"" + b.addr() + "\"], tls: { ca: " + pki.file("ca.crt") +
          ", server_name: backend.test }, health: { path: /healthz, interval: 200ms, timeout: 1s, rise: 1, fall: 1 } }\n"
          "routes:\n  example.com: [secure]\n");
  TURNOUT_INFO_STDERR(t);
  REQUIRE(wait_until([&] { return server_up(t, "secure", b.addr()) == std::optional<bool>(false); }, Ms(10000)));
  CHECK(b.connections >= 1);
  CHECK(b.handshakes == 0);
  CHECK(b.requests == 0);
  CHECK(b.plaintext == 0);
  auto r = http_get(t.port(), "example.com", "/x");
  REQUIRE(r);
  CHECK(r->status == 503);  // no server up
}
