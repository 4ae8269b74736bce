// Certificates changed through the admin API as a client sees them (DESIGN.md "TLS"): a PUT is
// a table version, so the next handshake for the name presents the new certificate while open
// TLS connections carry on with theirs; DELETE is guarded; rollback, batch and the state file
// treat a certificate like any other part of the table. Certificates are made at test time by
// the openssl CLI; clients are curl and a small OpenSSL client here (TlsClient), which keeps a
// connection open and tells which certificate it was shown.
#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "integration/harness.h"
#include "integration/tls_pki.h"
#include "integration/process_sweeper.h"

using namespace turnout::test;
using json = nlohmann::json;

namespace {

// curl over HTTPS to `host` (resolved to loopback), printing the status code ("000": no answer).
Run curl(int port, const Pki& pki, const std::string& host) {
  return run("curl -s -o /dev/null -w '%{http_code}' --cacert " + pki.ca() + " --resolve " + host + ":" +
             std::to_string(port) + ":127.0.0.1 https://" + host + ":" + std::to_string(port) + "/");
}

// A blocking HTTPS/1.1 keep-alive client on one connection: verifies the certificate against
// the test CA for `host` (sent as SNI) and remembers the CN it was shown. Used by one thread.
class TlsClient {
 public:
  TlsClient(int port, const std::string& host, const std::string& ca_file) : host_(host) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) != 1) {
      fail("cannot load the CA");
      return;
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{10, 0};  // generous: the machine is loaded
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(port));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
      fail("connect failed");
      return;
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, host.c_str());
    SSL_set1_host(ssl_, host.c_str());
    if (SSL_connect(ssl_) != 1) {
      fail("handshake failed: " + openssl_error());
      return;
    }
    X509* peer = SSL_get1_peer_certificate(ssl_);
    if (peer == nullptr) {
      fail("no peer certificate");
      return;
    }
    std::array<char, 256> cn{};
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn.data(), cn.size());
    cn_ = cn.data();
    X509_free(peer);
    ok_ = true;
  }
  ~TlsClient() {
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& peer_cn() const { return cn_; }  // the certificate's CN, as shown at the handshake

  // GET / on this connection; the status, or 0 (with error()) when it fails.
  int get() {
    if (!ok_) return 0;
    std::string req = "GET / HTTP/1.1\r\nHost: " + host_ + "\r\n\r\n";
    if (SSL_write(ssl_, req.data(), static_cast<int>(req.size())) != static_cast<int>(req.size())) {
      fail("write failed: " + openssl_error());
      return 0;
    }
    size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) return 0;
    }
    std::string head = lower(buf_.substr(0, head_end));
    size_t cl = head.find("\r\ncontent-length:");
    if (head.size() < 12 || cl == std::string::npos) {
      fail("no Content-Length in: " + head);
      return 0;
    }
    size_t length = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
    while (buf_.size() < head_end + 4 + length) {
      if (!read_more()) return 0;
    }
    int status = std::atoi(head.c_str() + 9);
    buf_.erase(0, head_end + 4 + length);
    return status;
  }

 private:
  static std::string openssl_error() {
    std::array<char, 256> text{};
    ERR_error_string_n(ERR_get_error(), text.data(), text.size());
    return text.data();
  }
  void fail(std::string message) {
    ok_ = false;
    error_ = std::move(message);
  }
  bool read_more() {
    std::array<char, 16384> chunk{};
    int n = SSL_read(ssl_, chunk.data(), static_cast<int>(chunk.size()));
    if (n <= 0) {
      fail("read failed (SSL error " + std::to_string(SSL_get_error(ssl_, n)) + ")");
      return false;
    }
    buf_.append(chunk.data(), static_cast<size_t>(n));
    return true;
  }

  std::string host_;
  SSL_CTX* ctx_ = nullptr;  // owned
  SSL* ssl_ = nullptr;      // owned
  int fd_ = -1;             // owned
  bool ok_ = false;
  std::string error_;
  std::string cn_;
  std::string buf_;  // bytes read and not yet consumed
};

// A TLS listener, app `web` for a.test and n.test, certificate "a" from a file; `extra` is
// appended (state_file, ...). The admin socket is given, so a restart on the same file works.
std::string config(const Backend& b, const Pki& pki, const std::string& admin_socket, const std::string& extra = "") {
  return "listen:\n  - { addr: \"127.0.0.1:0\", tls: true }\n"
         "workers: 2\n"
         "admin: {socket: \"" + admin_socket + "\"}\n"
         "timeouts: {drain: 2s}\n" + extra +
         "apps:\n  web: {servers: " + yaml_list({b.addr()}) + "}\n"
         "routes:\n  a.test: [web]\n  n.test: [web]\n"
         "tls:\n  certificates:\n    a: { cert: " + pki.crt("a") + ", key: " + pki.key("a") + " }\n";
}

}  // namespace

TEST_CASE("certificates by API: PUT serves a new name, replace keeps open connections, DELETE guarded, rollback") {
  Backend b("web");
  Pki pki;
  pki.issue("a", "a.test");
  pki.issue("n1", "n.test");
  pki.issue("n2", "n.test");
  TempDir sd;
  const std::string sock = sd.file("admin.sock");
  TurnoutProcess t;
  t.start(config(b, pki, sock));
  TURNOUT_INFO_STDERR(t);

  // No certificate serves n.test yet: the handshake fails.
  CHECK(curl(t.port(), pki, "n.test").out == "000");

  // PUT: the next handshake for n.test succeeds and presents it.
  AdminReply put = admin_request(sock, "PUT", "/v1/certificates/n", pki.body("n1"));
  REQUIRE_MESSAGE(put.status == 200, put.body);
  CHECK(put.json["certificates"]["n"]["dns_names"] == json{"n.test"});
  CHECK(curl(t.port(), pki, "n.test").out == "200");
  TlsClient first(t.port(), "n.test", pki.ca());
  REQUIRE_MESSAGE(first.ok(), first.error());
  CHECK(first.peer_cn() == "n1");
  CHECK(first.get() == 200);

  // Replace: new handshakes see n2; the open keep-alive connection keeps working on n1's session.
  AdminReply replaced = admin_request(sock, "PUT", "/v1/certificates/n", pki.body("n2"));
  REQUIRE_MESSAGE(replaced.status == 200, replaced.body);
  CHECK(replaced.json["version"].get<int>() == put.json["version"].get<int>() + 1);
  {
    TlsClient second(t.port(), "n.test", pki.ca());
    REQUIRE_MESSAGE(second.ok(), second.error());
    CHECK(second.peer_cn() == "n2");
    CHECK(second.get() == 200);
  }
  CHECK(first.get() == 200);
  CHECK(first.get() == 200);

  // The key is never shown: not in GET, not in a change's answer, not in the logs.
  AdminReply list = admin_request(sock, "GET", "/v1/certificates");
  CHECK(list.status == 200);
  CHECK(list.json["certificates"]["n"]["sha256"] != put.json["certificates"]["n"]["sha256"]);
  AdminReply history = admin_request(sock, "GET", "/v1/history");
  for (const std::string& text : {list.body, put.body, replaced.body, history.body, t.stderr_text(), t.stdout_text()}) {
    CHECK(text.find("PRIVATE KEY") == std::string::npos);
    CHECK(text.find(pki.key_line("n1")) == std::string::npos);
    CHECK(text.find(pki.key_line("n2")) == std::string::npos);
  }

  // Rollback: the previous certificate is served again.
  AdminReply back = admin_request(sock, "POST", "/v1/rollback");
  REQUIRE_MESSAGE(back.status == 200, back.body);
  {
    TlsClient again(t.port(), "n.test", pki.ca());
    REQUIRE_MESSAGE(again.ok(), again.error());
    CHECK(again.peer_cn() == "n1");
  }

  // DELETE: refused while the route n.test needs it, done with force; then n.test has no HTTPS.
  AdminReply refused = admin_request(sock, "DELETE", "/v1/certificates/n");
  CHECK(refused.status == 409);
  CHECK(refused.body.find("n.test") != std::string::npos);
  CHECK(curl(t.port(), pki, "n.test").out == "200");
  AdminReply forced = admin_request(sock, "DELETE", "/v1/certificates/n?force=1");
  CHECK(forced.status == 200);
  CHECK(forced.json["certificates"]["n"].is_null());
  CHECK(curl(t.port(), pki, "n.test").out == "000");
  CHECK(admin_request(sock, "GET", "/v1/certificates/n").status == 404);
  CHECK(admin_request(sock, "DELETE", "/v1/certificates/n").status == 404);
  CHECK(curl(t.port(), pki, "a.test").out == "200");  // the file's certificate was never touched
  CHECK(first.get() == 200);  // nor was the connection open since the first PUT
}

TEST_CASE("certificates by API: a batch of map + cert-set is one version, kept by a restart with state_file") {
  Backend b("web");
  Pki pki;
  pki.issue("a", "a.test");
  pki.issue("m", "m.test");
  TempDir sd;
  const std::string sock = sd.file("admin.sock");
  const std::string state = sd.file("turnout.state.json");
  const std::string cfg = config(b, pki, sock, "state_file: \"" + state + "\"\n");
  std::string fingerprint;
  {
    TurnoutProcess t;
    t.start(cfg);
    TURNOUT_INFO_STDERR(t);
    CHECK(curl(t.port(), pki, "m.test").out == "000");
    int before = admin_request(sock, "GET", "/v1/routes").json["version"].get<int>();
    json ops = json::array({{{"op", "map"}, {"app", "web"}, {"host", "m.test"}},
                            {{"op", "cert-set"}, {"name", "m"}, {"cert", read_file(pki.crt("m"))},
                             {"key", read_file(pki.key("m"))}}});
    AdminReply batch = admin_request(sock, "POST", "/v1/batch", ops.dump());
    REQUIRE_MESSAGE(batch.status == 200, batch.body);
    CHECK(batch.json["version"].get<int>() == before + 1);
    CHECK(batch.json["routes"]["m.test"] == json{{"web", 1}});
    fingerprint = batch.json["certificates"]["m"]["sha256"].get<std::string>();
    CHECK(curl(t.port(), pki, "m.test").out == "200");
    json history = admin_request(sock, "GET", "/v1/history").json["history"];
    CHECK(history.back()["summary"] == "map web m.test; cert-set m");

    // The state file holds the key, so only its owner may read it.
    struct stat st {};
    REQUIRE(::stat(state.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  // A restart on the same config loads the state: the route and the certificate are back.
  TurnoutProcess t;
  t.start(cfg);
  TURNOUT_INFO_STDERR(t);
  AdminReply one = admin_request(sock, "GET", "/v1/certificates/m");
  REQUIRE_MESSAGE(one.status == 200, one.body);
  CHECK(one.json["sha256"] == fingerprint);
  CHECK(curl(t.port(), pki, "m.test").out == "200");
  TlsClient c(t.port(), "m.test", pki.ca());
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c.peer_cn() == "m");
}

TEST_CASE("certificates by API: a certificate set through the API is carried across a binary upgrade") {
  Backend b("web");
  Pki pki;
  pki.issue("a", "a.test");
  pki.issue("n1", "n.test");
  TempDir sd;
  const std::string sock = sd.file("admin.sock");
  TurnoutProcess t;
  ProcessSweeper sweeper(t);
  t.start(config(b, pki, sock));  // no state_file: the table can only come through the hand-off
  TURNOUT_INFO_STDERR(t);
  AdminReply put = admin_request(sock, "PUT", "/v1/certificates/n", pki.body("n1"));
  REQUIRE_MESSAGE(put.status == 200, put.body);
  const json before = admin_request(sock, "GET", "/v1/certificates/n").json;
  const int64_t version = admin_request(sock, "GET", "/v1/routes").json["version"].get<int64_t>();
  {
    TlsClient c(t.port(), "n.test", pki.ca());
    REQUIRE_MESSAGE(c.ok(), c.error());
    CHECK(c.peer_cn() == "n1");
  }

  AdminReply up = admin_request(sock, "POST", "/v1/upgrade", "");
  REQUIRE_MESSAGE(up.status == 200, up.body);
  AdminReply status = admin_request(sock, "GET", "/v1/status");
  REQUIRE(status.status == 200);
  const pid_t successor = static_cast<pid_t>(status.json.value("pid", int64_t{-1}));
  sweeper.add(successor);
  CHECK(successor != t.pid());
  CHECK(t.wait_exit(Ms(5000)) == std::optional<int>(0));

  // The new process presents the certificate the API installed, as the same table version.
  TlsClient c(t.port(), "n.test", pki.ca());
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c.peer_cn() == "n1");
  CHECK(c.get() == 200);
  AdminReply after = admin_request(sock, "GET", "/v1/certificates/n");
  REQUIRE_MESSAGE(after.status == 200, after.body);
  CHECK(after.json["sha256"] == before["sha256"]);
  CHECK(admin_request(sock, "GET", "/v1/routes").json["version"].get<int64_t>() == version);
}

TEST_CASE("certificates by API: 200 replacements while four TLS keep-alive clients send requests") {
  Backend b("web");
  Pki pki;
  pki.issue("a", "a.test");
  pki.issue("n1", "n.test");
  pki.issue("n2", "n.test");
  TempDir sd;
  const std::string sock = sd.file("admin.sock");
  TurnoutProcess t;
  t.start(config(b, pki, sock));
  TURNOUT_INFO_STDERR(t);
  const std::string bodies[2] = {pki.body("n1"), pki.body("n2")};
  REQUIRE(admin_request(sock, "PUT", "/v1/certificates/n", bodies[0]).status == 200);

  // Each client makes a new connection (a new handshake) every 10 requests, so handshakes
  // overlap the replacements as well as keep-alive requests do.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> requests{0}, handshakes{0}, failed_requests{0}, failed_handshakes{0};
  std::vector<std::string> first_errors(4);
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&, i] {
      while (!stop.load()) {
        TlsClient c(t.port(), "n.test", pki.ca());
        ++handshakes;
        if (!c.ok()) {
          ++failed_handshakes;
          if (first_errors[i].empty()) first_errors[i] = c.error();
          continue;
        }
        for (int r = 0; r < 10 && !stop.load(); ++r) {
          ++requests;
          if (c.get() != 200) {
            ++failed_requests;
            if (first_errors[i].empty()) first_errors[i] = c.error();
            break;
          }
        }
      }
    });
  }
  int refused = 0;
  for (int i = 1; i <= 200; ++i) {
    if (admin_request(sock, "PUT", "/v1/certificates/n", bodies[i % 2]).status != 200) ++refused;
  }
  stop = true;
  for (std::thread& c : clients) c.join();
  INFO("requests " << requests.load() << ", handshakes " << handshakes.load() << "; first errors: " << first_errors[0] << " | "
                   << first_errors[1] << " | " << first_errors[2] << " | " << first_errors[3]);
  MESSAGE("200 replacements under " << requests.load() << " requests on " << handshakes.load() << " TLS connections");
  CHECK(refused == 0);
  CHECK(failed_handshakes == 0);
  CHECK(failed_requests == 0);
  CHECK(requests > 0);
  CHECK(handshakes >= 4);
}
