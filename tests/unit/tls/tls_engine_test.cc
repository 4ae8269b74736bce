#include "turnout/tls/tls_engine.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "tls/test_certs.h"

using namespace turnout;
using turnout::test::make_cert;
using turnout::test::Pem;

namespace {

// A real OpenSSL client on one end of a BIO pair; the test carries bytes between it and an
// engine, in chunks of `step` bytes (1 = byte by byte: partial records everywhere).
struct Pair {
  Pem ca = make_cert({.cn = "CA", .ca = true});
  Pem leaf = make_cert({.cn = "a.test", .dns = {"a.test"}, .issuer = &ca});
  std::shared_ptr<ServerTlsContext> server;
  TlsHandshakeState state;
  std::unique_ptr<TlsEngine> engine;
  SSL_CTX* cctx = nullptr;
  SSL* client = nullptr;
  BIO* net = nullptr;  // the network end of the client's BIO pair
  size_t step = 1 << 20;

  Pair() {
    auto ctx = ServerTlsContext::create({});
    REQUIRE(ctx.ok());
    server = *ctx;
    auto c = Certificate::from_pem("a", leaf.cert, leaf.key);
    REQUIRE(c.ok());
    auto set = CertificateSet::build({{"a", *c}}, "");
    REQUIRE(set.ok());
    state.certificates = *set;
    engine = std::make_unique<TlsEngine>(server->new_ssl(&state));
    cctx = SSL_CTX_new(TLS_client_method());
    X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), ca.x509.get());
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, nullptr);
    client = SSL_new(cctx);
    SSL_set_tlsext_host_name(client, "a.test");
    SSL_set1_host(client, "a.test");
    BIO* inner = nullptr;
    BIO_new_bio_pair(&inner, 1 << 20, &net, 1 << 20);
    SSL_set_bio(client, inner, inner);
    SSL_set_connect_state(client);
  }
  ~Pair() {
    engine.reset();
    SSL_free(client);
    BIO_free(net);
    SSL_CTX_free(cctx);
  }
  // Moves bytes both ways until nothing moves; plaintext the engine decrypts is appended to
  // `got`. Returns false if the engine failed.
  bool pump(std::string& got) {
    for (int round = 0; round < 10000; ++round) {
      bool moved = false;
      char buf[4096];
      int n = BIO_read(net, buf, static_cast<int>(std::min(step, sizeof buf)));
      if (n > 0) {
        moved = true;
        if (!engine->feed(buf, static_cast<size_t>(n))) return false;
        char plain[1024];
        while (size_t k = engine->read(plain, sizeof plain)) got.append(plain, k);
      }
      std::string out = engine->take_output();
      if (!out.empty()) {
        moved = true;
        REQUIRE(BIO_write(net, out.data(), static_cast<int>(out.size())) == static_cast<int>(out.size()));
      }
      if (!SSL_is_init_finished(client)) {
        SSL_do_handshake(client);
        ERR_clear_error();
      }
      if (!moved && BIO_ctrl_pending(net) == 0) return engine->state() != TlsEngine::State::Failed;
    }
    return engine->state() != TlsEngine::State::Failed;
  }
  std::string client_read() {
    std::string out;
    char buf[4096];
    size_t n = 0;
    while (SSL_read_ex(client, buf, sizeof buf, &n) == 1) out.append(buf, n);
    ERR_clear_error();
    return out;
  }
};

}  // namespace

TEST_CASE("a TLS connection carries data both ways through the engine, whole or byte by byte") {
  for (size_t step : {size_t{1 << 20}, size_t{1}, size_t{7}}) {
    CAPTURE(step);
    Pair p;
    p.step = step;
    std::string got;
    REQUIRE(p.pump(got));
    REQUIRE(SSL_is_init_finished(p.client));
    CHECK(p.engine->handshake_done());
    CHECK(std::string(p.engine->version()) == "TLSv1.3");
    CHECK(p.state.presented != nullptr);

    std::string request = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
    REQUIRE(SSL_write(p.client, request.data(), static_cast<int>(request.size())) > 0);
    REQUIRE(p.pump(got));
    CHECK(got == request);

    std::string big(100000, 'x');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    REQUIRE(p.engine->write(big.data(), big.size()));
    std::string out = p.engine->take_output();
    CHECK(out.size() > big.size());  // record overhead
    CHECK_FALSE(p.engine->has_output());
    REQUIRE(BIO_write(p.net, out.data(), static_cast<int>(out.size())) == static_cast<int>(out.size()));
    CHECK(p.client_read() == big);
  }
}

TEST_CASE("plain HTTP on a TLS port fails the handshake and reaches nothing") {
  Pair p;
  std::string http = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
  CHECK_FALSE(p.engine->feed(http.data(), http.size()));
  CHECK(p.engine->state() == TlsEngine::State::Failed);
  CHECK_FALSE(p.engine->error().empty());
  char buf[64];
  CHECK(p.engine->read(buf, sizeof buf) == 0);
}

TEST_CASE("close_notify from the client ends the engine's input cleanly") {
  Pair p;
  std::string got;
  REQUIRE(p.pump(got));
  std::string body = "last words";
  REQUIRE(SSL_write(p.client, body.data(), static_cast<int>(body.size())) > 0);
  SSL_shutdown(p.client);
  REQUIRE(p.pump(got));
  CHECK(got == body);
  CHECK(p.engine->state() == TlsEngine::State::Closed);
  p.engine->shutdown();
  CHECK(p.engine->has_output());  // our close_notify
}

namespace {

std::string pattern(size_t n, char first) {
  std::string s(n, ' ');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(first + i % 26);
  return s;
}

// Server -> client: everything the engine has for the client, read by the client.
std::string to_client(Pair& p) {
  std::string out = p.engine->take_output();
  REQUIRE(BIO_write(p.net, out.data(), static_cast<int>(out.size())) == static_cast<int>(out.size()));
  return p.client_read();
}

}  // namespace

TEST_CASE("a TLS 1.3 server connection frees its SSL after the handshake and carries on, each cipher suite") {
  for (const char* suite : {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
    for (size_t step : {size_t{1 << 20}, size_t{997}}) {  // 997: records split everywhere
      CAPTURE(suite);
      CAPTURE(step);
      Pair p;
      p.step = step;
      REQUIRE(SSL_set_ciphersuites(p.client, suite) == 1);
      std::string got;
      REQUIRE(p.pump(got));
      REQUIRE(p.engine->handed_over());
      CHECK(p.engine->ssl() == nullptr);
      CHECK(std::string(p.engine->version()) == "TLSv1.3");
      CHECK_FALSE(p.engine->resumed());
      // Client -> server: records of every size, the largest split over several.
      std::string up = pattern(70000, 'a');
      REQUIRE(SSL_write(p.client, up.data(), static_cast<int>(up.size())) > 0);
      REQUIRE(p.pump(got));
      CHECK(got.size() == up.size());
      CHECK((got == up));
      // Server -> client, after the ticket the client reads first.
      std::string down = pattern(50000, 'A');
      REQUIRE(p.engine->write(down.data(), down.size()));
      CHECK((to_client(p) == down));
      CHECK(SSL_get_session(p.client) != nullptr);
    }
  }
}

TEST_CASE("the own record layer follows the client's key updates and answers a requested one") {
  Pair p;
  std::string got;
  REQUIRE(p.pump(got));
  REQUIRE(p.engine->handed_over());
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    REQUIRE(SSL_key_update(p.client, round == 1 ? SSL_KEY_UPDATE_NOT_REQUESTED : SSL_KEY_UPDATE_REQUESTED) == 1);
    std::string up = "after update " + std::to_string(round);
    REQUIRE(SSL_write(p.client, up.data(), static_cast<int>(up.size())) > 0);  // KeyUpdate, then data under the new key
    got.clear();
    REQUIRE(p.pump(got));
    CHECK(got == up);
    std::string down = "answer " + std::to_string(round);
    REQUIRE(p.engine->write(down.data(), down.size()));
    CHECK(to_client(p) == down);  // the client opens it with the key it expects
  }
  CHECK(p.engine->state() == TlsEngine::State::Open);
}

TEST_CASE("a tampered record after the hand-over fails the connection with a fatal alert") {
  Pair p;
  std::string got;
  REQUIRE(p.pump(got));
  REQUIRE(p.engine->handed_over());
  REQUIRE(to_client(p).empty());  // the ticket
  std::string msg = "hello";
  REQUIRE(SSL_write(p.client, msg.data(), static_cast<int>(msg.size())) > 0);
  char rec[256];
  int n = BIO_read(p.net, rec, sizeof rec);
  REQUIRE(n > 10);
  rec[n - 3] ^= 1;  // in the tag
  CHECK(p.engine->feed(rec, static_cast<size_t>(n)));
  char buf[64];
  CHECK(p.engine->read(buf, sizeof buf) == 0);
  CHECK(p.engine->state() == TlsEngine::State::Failed);
  CHECK(p.engine->error() == "TLS record failed authentication");
  // The client hears bad_record_mac.
  std::string out = p.engine->take_output();
  REQUIRE(BIO_write(p.net, out.data(), static_cast<int>(out.size())) == static_cast<int>(out.size()));
  char b[16];
  size_t k = 0;
  CHECK(SSL_read_ex(p.client, b, sizeof b, &k) == 0);
  CHECK(SSL_get_error(p.client, 0) == SSL_ERROR_SSL);
  ERR_clear_error();
}

TEST_CASE("records of the wrong type, too long or in clear after the hand-over are refused") {
  for (const std::string& bad : {std::string("\x14\x03\x03\x00\x01\x01", 6),        // ChangeCipherSpec
                                 std::string("\x17\x03\x03\x41\x01", 5),            // longer than 2^14 + 256
                                 std::string("\x16\x03\x03\x00\x04\x01\x00\x00\x00", 9)}) {  // a clear handshake record
    Pair p;
    std::string got;
    REQUIRE(p.pump(got));
    REQUIRE(p.engine->handed_over());
    CHECK(p.engine->feed(bad.data(), bad.size()));
    char buf[64];
    CHECK(p.engine->read(buf, sizeof buf) == 0);
    CHECK(p.engine->state() == TlsEngine::State::Failed);
    CHECK(p.engine->has_output());  // the fatal alert
  }
}

TEST_CASE("a TLS 1.2 connection keeps its SSL and works as before") {
  Pair p;
  REQUIRE(SSL_set_max_proto_version(p.client, TLS1_2_VERSION) == 1);
  std::string got;
  REQUIRE(p.pump(got));
  CHECK(std::string(p.engine->version()) == "TLSv1.2");
  CHECK_FALSE(p.engine->handed_over());
  CHECK(p.engine->ssl() != nullptr);
  std::string up = "over TLS 1.2";
  REQUIRE(SSL_write(p.client, up.data(), static_cast<int>(up.size())) > 0);
  REQUIRE(p.pump(got));
  CHECK(got == up);
}

TEST_CASE("close_notify after the hand-over ends the input cleanly; ours goes out sealed") {
  Pair p;
  std::string got;
  REQUIRE(p.pump(got));
  REQUIRE(p.engine->handed_over());
  REQUIRE(to_client(p).empty());
  p.engine->shutdown();
  std::string out = p.engine->take_output();
  REQUIRE(BIO_write(p.net, out.data(), static_cast<int>(out.size())) == static_cast<int>(out.size()));
  char b[16];
  size_t k = 0;
  CHECK(SSL_read_ex(p.client, b, sizeof b, &k) == 0);
  CHECK(SSL_get_error(p.client, 0) == SSL_ERROR_ZERO_RETURN);  // the client saw our close_notify
  ERR_clear_error();
}

namespace {

// TLS records in `wire` (header lengths followed); -1 if it does not end on a record boundary.
int count_records(const std::string& wire) {
  int n = 0;
  size_t at = 0;
  while (at + 5 <= wire.size()) {
    size_t len = (static_cast<unsigned char>(wire[at + 3]) << 8) | static_cast<unsigned char>(wire[at + 4]);
    at += 5 + len;
    ++n;
  }
  return at == wire.size() ? n : -1;
}

}  // namespace

TEST_CASE("a write of many small parts costs the client one record per 16 KiB, with or without the SSL") {
  for (bool tls12 : {false, true}) {
    CAPTURE(tls12);
    Pair p;
    if (tls12) REQUIRE(SSL_set_max_proto_version(p.client, TLS1_2_VERSION) == 1);
    std::string got;
    REQUIRE(p.pump(got));
    CHECK(p.engine->handed_over() == !tls12);
    REQUIRE(to_client(p).empty());  // the session tickets

    // Forty frames' worth of small pieces (and an empty one): one record.
    std::vector<std::string> small;
    for (int i = 0; i < 40; ++i) small.push_back(pattern(9 + i, static_cast<char>('A' + i % 20)));
    small.insert(small.begin() + 7, std::string());
    std::vector<std::string_view> parts(small.begin(), small.end());
    std::string want;
    for (auto& s : small) want += s;
    REQUIRE(p.engine->write(parts.data(), parts.size()));
    std::string out = p.engine->take_output();
    CHECK(count_records(out) == 1);
    REQUIRE(BIO_write(p.net, out.data(), static_cast<int>(out.size())) == static_cast<int>(out.size()));
    CHECK((p.client_read() == want));

    // 30,000 bytes in three parts, record boundaries inside them: two full-size records at most.
    std::vector<std::string> big = {pattern(10000, 'a'), pattern(3, 'x'), pattern(19997, 'A')};
    std::vector<std::string_view> big_parts(big.begin(), big.end());
    REQUIRE(p.engine->write(big_parts.data(), big_parts.size()));
    out = p.engine->take_output();
    CHECK(count_records(out) == 2);
    REQUIRE(BIO_write(p.net, out.data(), static_cast<int>(out.size())) == static_cast<int>(out.size()));
    CHECK((p.client_read() == big[0] + big[1] + big[2]));
  }
}
