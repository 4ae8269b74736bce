// libFuzzer target: the HTTPS listener's path — a server TlsEngine from the process's
// ServerTlsContext, with the certificate set a connection pins — fed either raw bytes as if a
// client sent them to a TLS port, or a client's request stream carried over a real TLS session.
//
// Input: see fuzz_http.h (SplitInput); the piece sizes cut the ciphertext fed to the server and,
// over TLS, the client's writes (so records split requests anywhere). flags:
//   & 3    the SNI the client sends: none, "a.test", "x.wild.test", "nowhere.test"
//   & 4    raw mode: the stream goes to the server as ciphertext (garbage, partial records,
//          plain HTTP on a TLS port); otherwise it is the plaintext of a TLS session
//   & 8    the client offers TLS 1.2 only (else 1.3)
//   & 16   the client accepts RSA signatures only (else any)
//
// Invariants checked:
//  - raw mode: the engine never reports application data before a handshake completes and
//    never recovers from Failed; nothing it outputs is plaintext HTTP;
//  - over TLS: the handshake completes; the certificate presented is the one SNI selection
//    must pick (exact name, one-label wildcard, else the default) and of the key type the
//    client accepts; the server reads exactly the bytes the client wrote, in order, however
//    records and reads split them; those bytes parse (HttpParser, as ClientConnection drives it)
//    to the same messages as the stream parsed without TLS.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "fuzz_http.h"
#include "tls/test_certs.h"
#include "turnout/tls/certificate.h"
#include "turnout/tls/certificate_set.h"
#include "turnout/tls/server_tls_context.h"
#include "turnout/tls/tls_engine.h"

using namespace turnout;
using namespace turnout::fuzz;

namespace {

struct Fixture {
  std::shared_ptr<ServerTlsContext> server;
  CertificateSetPtr certs;
  SSL_CTX* client13 = nullptr;
  SSL_CTX* client12 = nullptr;

  Fixture() {
    test::Pem a = test::make_cert({.cn = "a-ec", .dns = {"a.test"}});
    test::Pem a_rsa = test::make_cert({.cn = "a-rsa", .dns = {"a.test"}, .ecdsa = false});
    test::Pem wild = test::make_cert({.cn = "wild", .dns = {"*.wild.test"}});
    std::map<std::string, CertificatePtr> by_name;
    by_name["a"] = *Certificate::from_pem("a", a.cert, a.key);
    by_name["a-rsa"] = *Certificate::from_pem("a-rsa", a_rsa.cert, a_rsa.key);
    by_name["wild"] = *Certificate::from_pem("wild", wild.cert, wild.key);
    Result<CertificateSetPtr> set = CertificateSet::build(std::move(by_name), "a");
    FUZZ_CHECK(set.ok(), "certificate set: %s", set ? "" : set.error().message.c_str());
    certs = *set;
    Result<std::shared_ptr<ServerTlsContext>> ctx = ServerTlsContext::create(ServerTlsSettings{});
    FUZZ_CHECK(ctx.ok(), "server context: %s", ctx ? "" : ctx.error().message.c_str());
    server = *ctx;
    client13 = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(client13, TLS1_3_VERSION);
    client12 = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(client12, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(client12, TLS1_2_VERSION);
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

const char* const kNames[4] = {nullptr, "a.test", "x.wild.test", "nowhere.test"};

// Feeds `len` bytes of ciphertext to the server in pieces; appends what it decrypts to `plain`.
void feed_server(TlsEngine& e, const char* data, size_t len, const std::vector<size_t>& pieces, size_t& piece,
                 std::string& plain) {
  size_t off = 0;
  while (off < len) {
    size_t n = pieces.empty() ? len - off : std::min(pieces[piece++ % pieces.size()], len - off);
    bool was_failed = e.state() == TlsEngine::State::Failed;
    bool ok = e.feed(data + off, n);
    FUZZ_CHECK(!(was_failed && ok), "feed() succeeded after the engine failed");
    off += n;
    char buf[4096];
    while (size_t got = e.read(buf, sizeof buf)) {
      FUZZ_CHECK(e.handshake_done(), "%zu bytes of application data before the handshake completed", got);
      plain.append(buf, got);
    }
  }
}

// Ciphertext the client wrote into its network BIO.
std::string drain_client(BIO* net) {
  std::string out;
  char buf[16384];
  int n;
  while ((n = BIO_read(net, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

void raw_mode(const SplitInput& in) {
  TlsHandshakeState state{fixture().certs, nullptr, {}};
  SSL* ssl = fixture().server->new_ssl(&state);
  FUZZ_CHECK(ssl != nullptr, "new_ssl failed");
  TlsEngine engine(ssl);
  std::string plain;
  size_t piece = 0;
  feed_server(engine, in.data, in.size, in.pieces, piece, plain);
  std::string out = engine.take_output();
  FUZZ_CHECK(out.rfind("HTTP/", 0) != 0, "a TLS port answered in plaintext HTTP");
  if (engine.state() == TlsEngine::State::Failed) FUZZ_CHECK(plain.empty() || engine.handshake_done(), "data after failure");
  ERR_clear_error();
}

void tls_mode(const SplitInput& in) {
  const Fixture& f = fixture();
  const char* sni = kNames[in.flags & 3];
  bool rsa_only = (in.flags & 16) != 0;
  TlsHandshakeState state{f.certs, nullptr, {}};
  SSL* server_ssl = f.server->new_ssl(&state);
  FUZZ_CHECK(server_ssl != nullptr, "new_ssl failed");
  TlsEngine engine(server_ssl);

  SSL* client = SSL_new((in.flags & 8) ? f.client12 : f.client13);
  BIO* inner = nullptr;
  BIO* net = nullptr;
  BIO_new_bio_pair(&inner, 0, &net, 0);
  SSL_set_bio(client, inner, inner);
  SSL_set_connect_state(client);
  if (sni) SSL_set_tlsext_host_name(client, sni);
  if (rsa_only) SSL_set1_sigalgs_list(client, "rsa_pss_rsae_sha256:rsa_pkcs1_sha256");

  // Handshake: carry bytes both ways until both ends are done (a few flights).
  std::string plain;
  size_t piece = 0;
  for (int i = 0; i < 16 && !(SSL_is_init_finished(client) && engine.handshake_done()); ++i) {
    SSL_do_handshake(client);
    std::string c2s = drain_client(net);
    feed_server(engine, c2s.data(), c2s.size(), in.pieces, piece, plain);
    std::string s2c = engine.take_output();
    if (!s2c.empty()) BIO_write(net, s2c.data(), static_cast<int>(s2c.size()));
  }
  SSL_do_handshake(client);
  // The certificate SNI selection must pick: exact name (ECDSA, or RSA for a client that takes
  // only RSA), one-label wildcard, else the default ("a", ECDSA only). A client that cannot
  // verify the only candidate fails the handshake, and that is all it gets.
  std::string name = sni ? sni : "";
  std::string expect = name == "a.test" ? (rsa_only ? "a-rsa" : "a") : name == "x.wild.test" ? "wild" : "a";
  bool servable = name == "a.test" || !rsa_only;
  bool done = SSL_is_init_finished(client) && engine.handshake_done();
  if (!servable) {
    FUZZ_CHECK(!engine.handshake_done() || state.presented == nullptr || state.presented->name() == expect,
               "sni %s presented '%s' to an RSA-only client", name.c_str(),
               state.presented ? state.presented->name().c_str() : "-");
    SSL_free(client);
    BIO_free(net);
    ERR_clear_error();
    return;
  }
  FUZZ_CHECK(done, "handshake did not complete (sni %s, %s, rsa only %d): %s", sni ? sni : "-",
             (in.flags & 8) ? "1.2" : "1.3", rsa_only, engine.error().c_str());
  FUZZ_CHECK(state.presented != nullptr, "no certificate presented");
  FUZZ_CHECK(state.presented->name() == expect, "sni %s presented '%s', want '%s'", sni ? sni : "-",
             state.presented->name().c_str(), expect.c_str());

  // The request stream: written by the client in pieces (records), read by the server.
  size_t off = 0;
  size_t wpiece = 0;
  while (off < in.size) {
    size_t n = in.pieces.empty() ? in.size - off : std::min(in.pieces[wpiece++ % in.pieces.size()], in.size - off);
    FUZZ_CHECK(SSL_write(client, in.data + off, static_cast<int>(n)) == static_cast<int>(n), "client write failed");
    off += n;
    std::string c2s = drain_client(net);
    feed_server(engine, c2s.data(), c2s.size(), in.pieces, piece, plain);
    FUZZ_CHECK(engine.state() == TlsEngine::State::Open, "server failed mid-stream: %s", engine.error().c_str());
  }
  FUZZ_CHECK(plain == std::string(in.data, in.size), "server read %zu bytes, client wrote %zu (or they differ)",
             plain.size(), in.size);

  // The same messages as the stream without TLS.
  Limits limits = limits_profile(0);
  RequestHead h1, h2;
  struct Ignore : HttpParser::Events {
    HeadAction on_head_complete() override { return HeadAction::Continue; }
    void on_body(const char*, size_t) override {}
    void on_message_complete() override {}
  } ev;
  HttpParser over_tls(HttpParser::Kind::Request, &h1, &ev, limits);
  HttpParser direct(HttpParser::Kind::Request, &h2, &ev, limits);
  std::string t1, t2;
  drive(over_tls, plain.data(), plain.size(), {}, t1);
  drive(direct, in.data, in.size, {}, t2);
  FUZZ_CHECK(t1 == t2, "messages differ over TLS:\n%s\nvs\n%s", t1.c_str(), t2.c_str());

  // close_notify ends the server's input cleanly.
  SSL_shutdown(client);
  std::string c2s = drain_client(net);
  feed_server(engine, c2s.data(), c2s.size(), in.pieces, piece, plain);
  FUZZ_CHECK(engine.state() == TlsEngine::State::Closed, "close_notify left state %d", static_cast<int>(engine.state()));
  SSL_free(client);
  BIO_free(net);
  ERR_clear_error();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  SplitInput in = decode_split_input(data, size);
  if (in.flags & 4) {
    raw_mode(in);
  } else {
    tls_mode(in);
  }
  return 0;
}
