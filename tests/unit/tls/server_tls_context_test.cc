#include "turnout/tls/server_tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <doctest/doctest.h>

#include <string>

#include "tls/test_certs.h"

using namespace turnout;
using turnout::test::CertSpec;
using turnout::test::make_cert;
using turnout::test::Pem;

namespace {

CertificatePtr load(const std::string& name, const Pem& p) {
  auto c = Certificate::from_pem(name, p.cert, p.key);
  REQUIRE_MESSAGE(c.ok(), c.error().message);
  return *c;
}

// What a client saw of one handshake, run in memory (a BIO pair) against a server SSL.
struct Outcome {
  bool ok = false;
  std::string presented;      // the server's choice (TlsHandshakeState)
  std::string peer_cn;        // the leaf the client received
  std::string alpn;           // negotiated protocol
  int version = 0;
  int client_alert = -1;      // alert the client received (SSL_AD_*), if the handshake failed
  bool server_resumed = false;
  int tickets = 0;            // TLS 1.3 session tickets the client received
  SSL_SESSION* session = nullptr;  // the client's session, for resumption (caller frees)
};

struct ClientSpec {
  std::string sni;
  std::string sigalgs;             // e.g. "RSA+SHA256" to offer no ECDSA
  std::string alpn_wire;           // ALPN list in wire format
  int max_version = 0;
  SSL_SESSION* resume = nullptr;
  bool server_http2 = true;        // the listener's http2 setting (TlsHandshakeState::http2)
};

int g_alert = -1;
int g_tickets = 0;
int on_new_session(SSL*, SSL_SESSION*) {
  ++g_tickets;
  return 0;  // not kept: the test takes the session with SSL_get1_session
}
void on_info(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_READ_ALERT) != 0) g_alert = ret & 0xff;
}

Outcome handshake(const ServerTlsContext& server, CertificateSetPtr certs, const Pem& ca, const ClientSpec& spec) {
  Outcome out;
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), ca.x509.get());
  SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_info_callback(cctx, on_info);
  // Counts the tickets received; no internal store (see below).
  SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(cctx, on_new_session);
  // No client cache: freeing a context with one marks its sessions not resumable.
  if (spec.max_version) {
    SSL_CTX_set_min_proto_version(cctx, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(cctx, spec.max_version);
    SSL_CTX_set_security_level(cctx, 0);
  }
  SSL* c = SSL_new(cctx);
  if (!spec.sni.empty()) SSL_set_tlsext_host_name(c, spec.sni.c_str());
  if (!spec.sigalgs.empty()) REQUIRE(SSL_set1_sigalgs_list(c, spec.sigalgs.c_str()) == 1);
  if (!spec.alpn_wire.empty())
    SSL_set_alpn_protos(c, reinterpret_cast<const unsigned char*>(spec.alpn_wire.data()),
                        static_cast<unsigned>(spec.alpn_wire.size()));
  if (spec.resume) SSL_set_session(c, spec.resume);

  TlsHandshakeState state{certs, nullptr, "", spec.server_http2};
  SSL* s = server.new_ssl(&state);
  REQUIRE(s);
  BIO *bc = nullptr, *bs = nullptr;
  BIO_new_bio_pair(&bc, 0, &bs, 0);
  SSL_set_bio(c, bc, bc);
  SSL_set_bio(s, bs, bs);
  SSL_set_connect_state(c);
  SSL_set_accept_state(s);
  g_alert = -1;
  g_tickets = 0;
  bool c_done = false, s_done = false, failed = false;
  for (int i = 0; i < 50 && !(c_done && s_done) && !failed; ++i) {
    if (!c_done) {
      int rc = SSL_do_handshake(c);
      if (rc == 1) c_done = true;
      else if (int e = SSL_get_error(c, rc); e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) failed = true;
    }
    if (!s_done && !failed) {
      int rc = SSL_do_handshake(s);
      if (rc == 1) s_done = true;
      else if (int e = SSL_get_error(s, rc); e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        SSL_do_handshake(c);  // let the client read the alert
        failed = true;
      }
    }
  }
  ERR_clear_error();
  out.ok = c_done && s_done && !failed;
  out.client_alert = g_alert;
  if (state.presented) out.presented = state.presented->name();
  if (out.ok) {
    // TLS 1.3 tickets come after the handshake: let the client read them.
    char buf[1];
    SSL_read(c, buf, 1);  // nothing to read: processes the tickets, then wants more
    ERR_clear_error();
    X509* peer = SSL_get1_peer_certificate(c);
    if (peer) {
      char cn[256] = "";
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
      out.peer_cn = cn;
      X509_free(peer);
    }
    const unsigned char* a = nullptr;
    unsigned n = 0;
    SSL_get0_alpn_selected(c, &a, &n);
    out.alpn.assign(reinterpret_cast<const char*>(a ? a : reinterpret_cast<const unsigned char*>("")), n);
    out.version = SSL_version(c);
    out.server_resumed = SSL_session_reused(s) == 1;
    out.tickets = g_tickets;
    out.session = SSL_get1_session(c);
    // A connection closed without close_notify loses its session from the server's cache.
    SSL_shutdown(s);
    SSL_shutdown(c);
  }
  SSL_free(c);
  SSL_free(s);
  SSL_CTX_free(cctx);
  return out;
}

std::string alpn_wire(std::initializer_list<std::string> protos) {
  std::string w;
  for (const auto& p : protos) w += static_cast<char>(p.size()) + p;
  return w;
}

struct Fixture {
  Pem ca = make_cert({.cn = "Test CA", .ca = true});
  Pem www_ec = make_cert({.cn = "www-ec", .dns = {"www.example.com"}, .issuer = &ca});
  Pem www_rsa = make_cert({.cn = "www-rsa", .dns = {"www.example.com"}, .ecdsa = false, .issuer = &ca});
  Pem wild = make_cert({.cn = "wild", .dns = {"*.example.com"}, .issuer = &ca});
  CertificateSetPtr set(const std::string& default_name) {
    auto s = CertificateSet::build({{"www-ec", load("www-ec", www_ec)}, {"www-rsa", load("www-rsa", www_rsa)},
                                    {"wild", load("wild", wild)}},
                                   default_name);
    REQUIRE(s.ok());
    return *s;
  }
};

}  // namespace

TEST_CASE("a handshake presents the certificate SNI selects, ECDSA or RSA by what the client offers") {
  Fixture f;
  auto ctx = ServerTlsContext::create({});
  REQUIRE(ctx.ok());
  auto certs = f.set("");

  Outcome ec = handshake(**ctx, certs, f.ca, {.sni = "www.example.com"});
  CHECK(ec.ok);
  CHECK(ec.presented == "www-ec");
  CHECK(ec.peer_cn == "www-ec");
  CHECK(ec.version == TLS1_3_VERSION);
  SSL_SESSION_free(ec.session);

  Outcome rsa = handshake(**ctx, certs, f.ca, {.sni = "www.example.com", .sigalgs = "RSA+SHA256:RSA-PSS+SHA256"});
  CHECK(rsa.ok);
  CHECK(rsa.presented == "www-rsa");
  CHECK(rsa.peer_cn == "www-rsa");
  SSL_SESSION_free(rsa.session);

  Outcome w = handshake(**ctx, certs, f.ca, {.sni = "API.Example.com"});
  CHECK(w.ok);
  CHECK(w.presented == "wild");
  SSL_SESSION_free(w.session);
}

TEST_CASE("an unknown name without a default certificate fails with unrecognized_name") {
  Fixture f;
  auto ctx = ServerTlsContext::create({});
  REQUIRE(ctx.ok());
  Outcome o = handshake(**ctx, f.set(""), f.ca, {.sni = "other.test"});
  CHECK_FALSE(o.ok);
  CHECK(o.client_alert == SSL_AD_UNRECOGNIZED_NAME);
  Outcome none = handshake(**ctx, f.set(""), f.ca, {});
  CHECK_FALSE(none.ok);
  CHECK(none.client_alert == SSL_AD_UNRECOGNIZED_NAME);

  // With a default, the same clients get it (and a Host check answers 421 later).
  Outcome d = handshake(**ctx, f.set("wild"), f.ca, {});
  CHECK(d.presented == "wild");
  SSL_SESSION_free(d.session);
}

TEST_CASE("TLS 1.0 and 1.1 are refused, and min_version 1.3 refuses 1.2") {
  Fixture f;
  auto ctx = ServerTlsContext::create({});
  REQUIRE(ctx.ok());
  CHECK_FALSE(handshake(**ctx, f.set(""), f.ca, {.sni = "www.example.com", .max_version = TLS1_1_VERSION}).ok);
  Outcome t12 = handshake(**ctx, f.set(""), f.ca, {.sni = "www.example.com", .max_version = TLS1_2_VERSION});
  CHECK(t12.ok);
  CHECK(t12.version == TLS1_2_VERSION);
  CHECK(t12.presented == "www-ec");  // an ECDHE-ECDSA suite was offered
  SSL_SESSION_free(t12.session);

  auto strict = ServerTlsContext::create({.min_tls13 = true});
  REQUIRE(strict.ok());
  CHECK_FALSE(handshake(**strict, f.set(""), f.ca, {.sni = "www.example.com", .max_version = TLS1_2_VERSION}).ok);
}

TEST_CASE("ALPN takes the server's first protocol the client offers, and goes on without one otherwise") {
  Fixture f;
  auto both = ServerTlsContext::create({.alpn = {"h2", "http/1.1"}});
  REQUIRE(both.ok());
  Outcome a = handshake(**both, f.set(""), f.ca, {.sni = "www.example.com", .alpn_wire = alpn_wire({"http/1.1", "h2"})});
  CHECK(a.alpn == "h2");
  SSL_SESSION_free(a.session);
  auto h1 = ServerTlsContext::create({});
  REQUIRE(h1.ok());
  Outcome b = handshake(**h1, f.set(""), f.ca, {.sni = "www.example.com", .alpn_wire = alpn_wire({"h2", "http/1.1"})});
  CHECK(b.alpn == "http/1.1");
  SSL_SESSION_free(b.session);
  // One context, listeners with and without HTTP/2: a connection of an http2: false listener
  // never gets h2.
  Outcome off = handshake(**both, f.set(""), f.ca,
                          {.sni = "www.example.com", .alpn_wire = alpn_wire({"h2", "http/1.1"}), .server_http2 = false});
  CHECK(off.alpn == "http/1.1");
  SSL_SESSION_free(off.session);
  Outcome only_h2 = handshake(**both, f.set(""), f.ca,
                              {.sni = "www.example.com", .alpn_wire = alpn_wire({"h2"}), .server_http2 = false});
  CHECK(only_h2.ok);
  CHECK(only_h2.alpn.empty());
  SSL_SESSION_free(only_h2.session);
  Outcome c = handshake(**h1, f.set(""), f.ca, {.sni = "www.example.com", .alpn_wire = alpn_wire({"spdy/3"})});
  CHECK(c.ok);
  CHECK(c.alpn.empty());
  SSL_SESSION_free(c.session);
}

TEST_CASE("a session resumes on the same context: by ticket, and from the session cache with tickets off") {
  Fixture f;
  auto ctx = ServerTlsContext::create({});
  REQUIRE(ctx.ok());
  auto certs = f.set("");
  Outcome first = handshake(**ctx, certs, f.ca, {.sni = "www.example.com"});
  REQUIRE(first.ok);
  REQUIRE(first.session);
  CHECK(SSL_SESSION_is_resumable(first.session) == 1);
  // One ticket per handshake (OpenSSL's default is two, each one more session encoded and
  // encrypted): a client resumes with it, and each resumption brings the next.
  CHECK(first.tickets == 1);
  Outcome again = handshake(**ctx, certs, f.ca, {.sni = "www.example.com", .resume = first.session});
  CHECK(again.ok);
  CHECK(again.server_resumed);
  CHECK(again.tickets == 1);
  SSL_SESSION_free(first.session);
  SSL_SESSION_free(again.session);

  // TLS 1.2 without tickets resumes from the session cache.
  auto cache_only = ServerTlsContext::create({.session_tickets = false});
  REQUIRE(cache_only.ok());
  Outcome s1 = handshake(**cache_only, certs, f.ca, {.sni = "www.example.com", .max_version = TLS1_2_VERSION});
  REQUIRE(s1.ok);
  Outcome s2 = handshake(**cache_only, certs, f.ca,
                         {.sni = "www.example.com", .max_version = TLS1_2_VERSION, .resume = s1.session});
  CHECK(s2.server_resumed);
  SSL_SESSION_free(s1.session);
  SSL_SESSION_free(s2.session);
}

TEST_CASE("ClientHello extensions are parsed strictly") {
  const unsigned char sni[] = {0, 14, 0, 0, 11, 'W', 'w', 'W', '.', 'a', '.', 't', 'e', 's', 't', '.'};
  CHECK(tls_hello::server_name(sni, sizeof sni) == "www.a.test");
  const unsigned char short_sni[] = {0, 20, 0, 0, 11, 'w'};
  CHECK(tls_hello::server_name(short_sni, sizeof short_sni).empty());
  const unsigned char nul[] = {0, 5, 0, 0, 2, 'a', 0};
  CHECK(tls_hello::server_name(nul, sizeof nul).empty());
  const unsigned char ec[] = {0, 4, 0x08, 0x04, 0x04, 0x03};
  CHECK(tls_hello::offers_ecdsa(ec, sizeof ec));
  const unsigned char rsa[] = {0, 4, 0x08, 0x04, 0x04, 0x01};
  CHECK_FALSE(tls_hello::offers_ecdsa(rsa, sizeof rsa));
}

TEST_CASE("tickets sealed with the process's ring resume on every context built with it") {
  Fixture f;
  auto certs = f.set("");
  auto ring = TicketKeyRing::create(0);
  REQUIRE(ring.ok());
  // Two contexts, as after a reload that rebuilt the context: one ring, so one set of tickets.
  auto a = ServerTlsContext::create({}, *ring);
  auto b = ServerTlsContext::create({.alpn = {"h2", "http/1.1"}}, *ring);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  for (int max : {0, TLS1_2_VERSION}) {
    CAPTURE(max);
    Outcome first = handshake(**a, certs, f.ca, {.sni = "www.example.com", .max_version = max});
    REQUIRE(first.ok);
    REQUIRE(first.session);
    CHECK(SSL_SESSION_has_ticket(first.session) == 1);
    Outcome other = handshake(**b, certs, f.ca, {.sni = "www.example.com", .max_version = max, .resume = first.session});
    CHECK(other.ok);
    CHECK(other.server_resumed);
    SSL_SESSION_free(first.session);
    SSL_SESSION_free(other.session);
  }

  // A context with OpenSSL's own keys (another process) cannot open them: a full handshake.
  auto foreign = ServerTlsContext::create({});
  REQUIRE(foreign.ok());
  Outcome first = handshake(**a, certs, f.ca, {.sni = "www.example.com"});
  REQUIRE(first.ok);
  Outcome elsewhere = handshake(**foreign, certs, f.ca, {.sni = "www.example.com", .resume = first.session});
  CHECK(elsewhere.ok);
  CHECK_FALSE(elsewhere.server_resumed);
  SSL_SESSION_free(elsewhere.session);

  // A copy of the ring (the upgrade hand-off) opens them in another process.
  auto copy = TicketKeyRing::decode((*ring)->encode());
  REQUIRE(copy.ok());
  auto successor = ServerTlsContext::create({}, *copy);
  REQUIRE(successor.ok());
  Outcome after = handshake(**successor, certs, f.ca, {.sni = "www.example.com", .resume = first.session});
  CHECK(after.ok);
  CHECK(after.server_resumed);
  SSL_SESSION_free(after.session);
  SSL_SESSION_free(first.session);
}

TEST_CASE("after rotation the previous key still resumes; a retired key gets a full handshake, not an error") {
  Fixture f;
  auto certs = f.set("");
  auto ring = TicketKeyRing::create(0);
  REQUIRE(ring.ok());
  auto ctx = ServerTlsContext::create({}, *ring);
  REQUIRE(ctx.ok());
  Outcome first = handshake(**ctx, certs, f.ca, {.sni = "www.example.com"});
  REQUIRE(first.ok);
  REQUIRE((*ring)->rotate(1).ok());
  Outcome second = handshake(**ctx, certs, f.ca, {.sni = "www.example.com", .resume = first.session});
  CHECK(second.ok);
  CHECK(second.server_resumed);
  for (size_t i = 0; i < TicketKeyRing::kKeep; ++i) REQUIRE((*ring)->rotate(2 + static_cast<int64_t>(i)).ok());
  Outcome late = handshake(**ctx, certs, f.ca, {.sni = "www.example.com", .resume = first.session});
  CHECK(late.ok);
  CHECK_FALSE(late.server_resumed);
  CHECK(late.client_alert == -1);
  SSL_SESSION_free(first.session);
  SSL_SESSION_free(second.session);
  SSL_SESSION_free(late.session);
}

TEST_CASE("session_tickets: false issues no TLS 1.2 ticket and resumes from the cache instead") {
  Fixture f;
  auto certs = f.set("");
  auto ring = TicketKeyRing::create(0);
  REQUIRE(ring.ok());
  auto ctx = ServerTlsContext::create({.session_tickets = false}, *ring);
  REQUIRE(ctx.ok());
  Outcome s1 = handshake(**ctx, certs, f.ca, {.sni = "www.example.com", .max_version = TLS1_2_VERSION});
  REQUIRE(s1.ok);
  CHECK(SSL_SESSION_has_ticket(s1.session) == 0);
  Outcome s2 = handshake(**ctx, certs, f.ca, {.sni = "www.example.com", .max_version = TLS1_2_VERSION, .resume = s1.session});
  CHECK(s2.server_resumed);
  SSL_SESSION_free(s1.session);
  SSL_SESSION_free(s2.session);

  // TLS 1.3 gets a stateful ticket: a session id resumed from the same cache, no key involved.
  Outcome t1 = handshake(**ctx, certs, f.ca, {.sni = "www.example.com"});
  REQUIRE(t1.ok);
  REQUIRE(t1.version == TLS1_3_VERSION);
  Outcome t2 = handshake(**ctx, certs, f.ca, {.sni = "www.example.com", .resume = t1.session});
  CHECK(t2.server_resumed);
  SSL_SESSION_free(t1.session);
  SSL_SESSION_free(t2.session);
}
