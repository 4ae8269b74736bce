#include "turnout/tls/server_tls_context.h"

#include "turnout/tls/tls_engine.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include <fmt/format.h>

#include "openssl_util.h"


namespace turnout {
namespace {

using tls_detail::kTls12Ciphers;
using tls_detail::openssl_error;

constexpr const char* kGroups = "X25519:P-256:P-384";
// Sessions kept for TLS 1.2 clients without tickets (and TLS 1.3 with session_tickets: false);
// the oldest are evicted beyond it. About 20k sessions of a few hundred bytes each.
constexpr long kSessionCacheSize = 20480;

int state_index() {
  static int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool offers_tls13(SSL* ssl) {
  const unsigned char* p = nullptr;
  size_t n = 0;
  if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_supported_versions, &p, &n) || n < 1) return false;
  size_t len = p[0];
  if (len + 1 > n) return false;
  for (size_t i = 1; i + 1 < 1 + len; i += 2)
    if (p[i] == 0x03 && p[i + 1] == 0x04) return true;
  return false;
}

// TLS 1.2 signs with the certificate's key through the cipher suite: an ECDSA certificate needs
// an ECDHE-ECDSA suite offered.
bool offers_ecdsa_suite(SSL* ssl) {
  const unsigned char* p = nullptr;
  size_t n = SSL_client_hello_get0_ciphers(ssl, &p);
  for (size_t i = 0; i + 1 < n; i += 2) {
    const SSL_CIPHER* c = SSL_CIPHER_find(ssl, p + i);
    if (c && SSL_CIPHER_get_auth_nid(c) == NID_auth_ecdsa) return true;
  }
  return false;
}

// Picks this connection's certificate from its pinned set, before OpenSSL chooses anything that
// depends on it. Failing here sends the alert and ends the handshake.
int on_client_hello(SSL* ssl, int* alert, void*) {
  TlsHandshakeState* st = ServerTlsContext::state_of(ssl);
  if (!st || !st->certificates) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  const unsigned char* p = nullptr;
  size_t n = 0;
  std::string sni;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &n)) sni = tls_hello::server_name(p, n);
  bool ecdsa = false;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_signature_algorithms, &p, &n)) ecdsa = tls_hello::offers_ecdsa(p, n);
  if (ecdsa && !offers_tls13(ssl) && !offers_ecdsa_suite(ssl)) ecdsa = false;
  const Certificate* c = st->certificates->select(sni).pick(ecdsa);
  if (!c) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_CLIENT_HELLO_ERROR;
  }
  if (SSL_use_cert_and_key(ssl, c->leaf(), c->key(), c->intermediates(), 1) != 1) {
    ERR_clear_error();
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  st->presented = c;
  st->server_name = std::move(sni);
  return SSL_CLIENT_HELLO_SUCCESS;
}

}  // namespace

// The ALPN list for one connection: without "h2" when its listener turned HTTP/2 off.
struct AlpnSelect {
  static const std::string* wire(const ServerTlsContext& c, const TlsHandshakeState* st) {
    return st != nullptr && !st->http2 ? &c.alpn_wire_h1_ : &c.alpn_wire_;
  }
};

namespace {

// ALPN: the server's first protocol the client also offers. A client offering none of ours goes
// on without ALPN (and is spoken HTTP/1.1 to), as browsers and proxies expect.
int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
            void* arg) {
  const auto* wire = AlpnSelect::wire(*static_cast<const ServerTlsContext*>(arg), ServerTlsContext::state_of(ssl));
  unsigned char* chosen = nullptr;
  int rc = SSL_select_next_proto(&chosen, outlen, reinterpret_cast<const unsigned char*>(wire->data()),
                                 static_cast<unsigned int>(wire->size()), in, inlen);
  if (rc != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

namespace tls_hello {

std::string server_name(const unsigned char* ext, size_t len) {
  if (len < 2) return "";
  size_t list = (size_t{ext[0]} << 8) | ext[1];
  if (list + 2 != len) return "";
  size_t i = 2;
  while (i + 3 <= len) {
    unsigned type = ext[i];
    size_t n = (size_t{ext[i + 1]} << 8) | ext[i + 2];
    i += 3;
    if (i + n > len) return "";
    if (type == 0) {  // host_name
      std::string out(reinterpret_cast<const char*>(ext + i), n);
      for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c == '\0') return "";
      }
      if (!out.empty() && out.back() == '.') out.pop_back();
      return out;
    }
    i += n;
  }
  return "";
}

bool offers_ecdsa(const unsigned char* ext, size_t len) {
  if (len < 2) return false;
  size_t list = (size_t{ext[0]} << 8) | ext[1];
  if (list + 2 > len) return false;
  for (size_t i = 2; i + 1 < 2 + list; i += 2) {
    // ecdsa_secp256r1_sha256 (0x0403), _secp384r1_sha384 (0x0503), _secp521r1_sha512 (0x0603),
    // and TLS 1.2's ecdsa with SHA-1/SHA-224 (0x0203, 0x0303).
    if (ext[i + 1] == 0x03 && ext[i] >= 0x02 && ext[i] <= 0x06) return true;
  }
  return false;
}

}  // namespace tls_hello

Result<std::shared_ptr<ServerTlsContext>> ServerTlsContext::create(const ServerTlsSettings& settings,
                                                                 TicketKeyRingPtr tickets) {
  ERR_clear_error();
  std::shared_ptr<ServerTlsContext> t(new ServerTlsContext());
  t->settings_ = settings;
  for (const std::string& p : settings.alpn) {
    if (p.empty() || p.size() > 255) return make_error(ErrorKind::Invalid, fmt::format("ALPN protocol '{}' is not 1-255 bytes", p));
    t->alpn_wire_ += static_cast<char>(p.size());
    t->alpn_wire_ += p;
    if (p == "h2") continue;
    t->alpn_wire_h1_ += static_cast<char>(p.size());
    t->alpn_wire_h1_ += p;
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return make_error(ErrorKind::Internal, "TLS context: " + openssl_error());
  t->ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, settings.min_tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;  // and client renegotiation is off by default in 3.0
  // Without tickets TLS 1.2 resumes by session id and TLS 1.3 by stateful tickets (OpenSSL sends a
  // session id as the ticket), both from the session cache below: no key seals session state.
  if (!settings.session_tickets) opts |= SSL_OP_NO_TICKET;
  SSL_CTX_set_options(ctx, opts);
  // One TLS 1.3 ticket per handshake, not OpenSSL's two: the second costs a session copy, its
  // encoding and encryption on every full handshake (measured: bench/results/tls-profile.md),
  // and a client that resumes gets a fresh ticket with each resumed connection anyway.
  SSL_CTX_set_num_tickets(ctx, 1);
  // An idle keep-alive connection holds no 17 KiB read/write buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_max_early_data(ctx, 0);  // no 0-RTT: early data is replayable
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 || SSL_CTX_set1_groups_list(ctx, kGroups) != 1)
    return make_error(ErrorKind::Internal, "TLS context: " + openssl_error());
  // TLS 1.2 clients without tickets resume from the context's cache, common to all workers.
  static const unsigned char kSidContext[] = "turnout";
  SSL_CTX_set_session_id_context(ctx, kSidContext, sizeof kSidContext - 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, kSessionCacheSize);
  // One lifetime for cached sessions and tickets (the hint sent with each): keys are kept for
  // decryption exactly that long after they stop encrypting.
  SSL_CTX_set_timeout(ctx, static_cast<long>(TicketKeyRing::kLifetime.count()));
  if (settings.session_tickets && tickets) {
    t->tickets_ = std::move(tickets);
    t->tickets_->install(ctx);
  }
  SSL_CTX_set_client_hello_cb(ctx, on_client_hello, nullptr);
  // The application traffic secrets of TLS 1.3 handshakes go to the connection's engine, which
  // frees the SSL object once the handshake is done (TlsEngine, hand-over). Nothing is logged.
  SSL_CTX_set_keylog_callback(ctx, TlsEngine::on_keylog);
  if (!t->alpn_wire_.empty()) SSL_CTX_set_alpn_select_cb(ctx, on_alpn, t.get());
  return t;
}

ServerTlsContext::~ServerTlsContext() { SSL_CTX_free(ctx_); }

SSL* ServerTlsContext::new_ssl(TlsHandshakeState* state) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) {
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_ex_data(ssl, state_index(), state);
  return ssl;
}

TlsHandshakeState* ServerTlsContext::state_of(SSL* ssl) {
  return static_cast<TlsHandshakeState*>(SSL_get_ex_data(ssl, state_index()));
}

}  // namespace turnout
