// TLS towards servers: a client engine from ClientTlsContext against the listeners' own
// ServerTlsContext, in memory. What an app's `tls` spec accepts and refuses.
#include "turnout/tls/client_tls_context.h"

#include <openssl/ssl.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tls/test_certs.h"
#include "turnout/tls/server_tls_context.h"
#include "turnout/tls/tls_engine.h"

using namespace turnout;
using turnout::test::make_cert;
using turnout::test::Pem;

namespace {

// A PEM file for `ca`, removed at the end.
struct TempPem {
  std::string path;
  explicit TempPem(const std::string& text) {
    char tmpl[] = "/tmp/turnout-ca-XXXXXX";
    int fd = mkstemp(tmpl);
    REQUIRE(fd >= 0);
    close(fd);
    path = tmpl;
    std::ofstream(path) << text;
  }
  ~TempPem() { std::remove(path.c_str()); }
};

// The server: a.test, issued by `ca`.
struct Server {
  Pem ca = make_cert({.cn = "CA", .ca = true});
  Pem leaf = make_cert({.cn = "a.test", .dns = {"a.test"}, .issuer = &ca});
  std::shared_ptr<ServerTlsContext> ctx;
  CertificateSetPtr certs;
  Server() {
    auto c = ServerTlsContext::create({});
    REQUIRE(c.ok());
    ctx = *c;
    auto cert = Certificate::from_pem("a", leaf.cert, leaf.key);
    REQUIRE(cert.ok());
    auto set = CertificateSet::build({{"a", *cert}}, "a");  // default: also without SNI or for other names
    REQUIRE(set.ok());
    certs = *set;
  }
};

// One connection: client engine <-> server engine, bytes carried by the test.
struct Conn {
  TlsHandshakeState state;
  std::unique_ptr<TlsEngine> server;
  std::unique_ptr<TlsEngine> client;
  std::string server_got, client_got;

  Conn(Server& s, const ClientTlsContext& cctx, const std::string& name, SSL_SESSION* resume = nullptr) {
    state.certificates = s.certs;
    server = std::make_unique<TlsEngine>(s.ctx->new_ssl(&state));
    SSL* ssl = cctx.new_ssl(name);
    REQUIRE(ssl != nullptr);
    if (resume != nullptr) REQUIRE(SSL_set_session(ssl, resume) == 1);
    client = std::make_unique<TlsEngine>(ssl, TlsEngine::Role::Client);
    client->start();
  }
  static void drain(TlsEngine& e, std::string& got) {
    char buf[4096];
    while (size_t n = e.read(buf, sizeof buf)) got.append(buf, n);
  }
  // Carries bytes both ways until nothing moves; false when either side failed.
  bool pump() {
    for (int round = 0; round < 100; ++round) {
      std::string c2s = client->take_output();
      std::string s2c = server->take_output();
      if (c2s.empty() && s2c.empty()) break;
      if (!c2s.empty()) {
        server->feed(c2s.data(), c2s.size());
        drain(*server, server_got);
      }
      if (!s2c.empty()) {
        client->feed(s2c.data(), s2c.size());
        drain(*client, client_got);
      }
    }
    return client->state() != TlsEngine::State::Failed && server->state() != TlsEngine::State::Failed;
  }
};

std::shared_ptr<ClientTlsContext> client_ctx(const ClientTlsSettings& s) {
  auto c = ClientTlsContext::create(s);
  REQUIRE(c.ok());
  return *c;
}

}  // namespace

TEST_CASE("a client verifying against the app's ca completes the handshake and carries data both ways") {
  Server s;
  TempPem ca(s.ca.cert);
  auto cctx = client_ctx({.ca = ca.path});
  Conn c(s, *cctx, "a.test");
  REQUIRE(c.pump());
  REQUIRE(c.client->handshake_done());
  CHECK(c.server->handshake_done());
  CHECK(c.state.server_name == "a.test");  // SNI sent
  CHECK(c.client->alpn() == "http/1.1");
  CHECK(c.server->alpn() == "http/1.1");

  std::string req = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
  REQUIRE(c.client->write(req.data(), req.size()));
  std::string resp = "HTTP/1.1 204 No Content\r\n\r\n";
  REQUIRE(c.pump());
  REQUIRE(c.server->write(resp.data(), resp.size()));
  REQUIRE(c.pump());
  CHECK(c.server_got == req);
  CHECK(c.client_got == resp);
}

TEST_CASE("a server certificate for another name fails the client handshake, saying why") {
  Server s;
  TempPem ca(s.ca.cert);
  auto cctx = client_ctx({.ca = ca.path});
  Conn c(s, *cctx, "b.test");
  CHECK_FALSE(c.pump());
  CHECK(c.client->state() == TlsEngine::State::Failed);
  CHECK_FALSE(c.client->handshake_done());
  CHECK(c.client->error().find("certificate verify failed: hostname mismatch") == 0);
  char buf[16];
  CHECK(c.client->read(buf, sizeof buf) == 0);
  CHECK_FALSE(c.client->write("x", 1));
}

TEST_CASE("an IP server without server_name is verified as that IP") {
  Server s;  // its certificate names a.test only
  TempPem ca(s.ca.cert);
  auto cctx = client_ctx({.ca = ca.path});
  Conn c(s, *cctx, "127.0.0.1");
  CHECK_FALSE(c.pump());
  CHECK(c.state.server_name.empty());  // no SNI for an IP address
  INFO(c.client->error());
  CHECK(c.client->error().find("certificate verify failed: IP address mismatch") == 0);
}

TEST_CASE("a server certificate from a CA the app does not trust fails the client handshake") {
  Server s;
  Pem other = make_cert({.cn = "Other CA", .ca = true});
  TempPem ca(other.cert);
  auto cctx = client_ctx({.ca = ca.path});
  Conn c(s, *cctx, "a.test");
  CHECK_FALSE(c.pump());
  INFO(c.client->error());
  // The chain carries its (self-signed) CA, which the app's ca does not hold.
  CHECK(c.client->error().find("certificate verify failed: self-signed certificate in certificate chain") == 0);

  // The system store does not know the test CA either.
  auto sys = client_ctx({});
  Conn d(s, *sys, "a.test");
  CHECK_FALSE(d.pump());
  CHECK(d.client->error().find("certificate verify failed: ") == 0);
}

TEST_CASE("verify: false accepts any certificate for any name") {
  Server s;
  auto cctx = client_ctx({.verify = false});
  Conn c(s, *cctx, "b.test");
  bool ok = c.pump();
  INFO(c.client->error() << " / " << c.server->error());
  REQUIRE(ok);
  CHECK(c.client->handshake_done());
  CHECK(c.state.server_name == "b.test");  // SNI still sent
}

TEST_CASE("a client context refuses an unreadable ca file") {
  auto c = ClientTlsContext::create({.ca = "/nonexistent/ca.pem"});
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.find("ca /nonexistent/ca.pem: ") == 0);
}

TEST_CASE("the session of one connection resumes the next connection to the same server") {
  Server s;
  TempPem ca(s.ca.cert);
  auto cctx = client_ctx({.ca = ca.path});
  SSL_SESSION* session = nullptr;
  {
    Conn first(s, *cctx, "a.test");
    REQUIRE(first.pump());
    REQUIRE(first.client->handshake_done());
    CHECK_FALSE(first.client->resumed());
    // TLS 1.3 tickets arrive after the handshake; the client reads them with its first read.
    session = SSL_get1_session(first.client->ssl());
    REQUIRE(session != nullptr);
    CHECK(SSL_SESSION_is_resumable(session) == 1);
  }
  Conn second(s, *cctx, "a.test", session);
  SSL_SESSION_free(session);
  REQUIRE(second.pump());
  REQUIRE(second.client->handshake_done());
  CHECK(second.client->resumed());
  CHECK(second.server->resumed());
}
