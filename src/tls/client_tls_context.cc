#include "turnout/tls/client_tls_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "openssl_util.h"

namespace turnout {
namespace {

using tls_detail::kTls12Ciphers;
using tls_detail::openssl_error;


bool is_ip(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

}  // namespace

Result<std::shared_ptr<ClientTlsContext>> ClientTlsContext::create(const ClientTlsSettings& settings) {
  std::shared_ptr<ClientTlsContext> c(new ClientTlsContext());
  c->settings_ = settings;
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!c->ctx_) return make_error(ErrorKind::Internal, "TLS client context: " + openssl_error());
  SSL_CTX* ctx = c->ctx_;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) return make_error(ErrorKind::Internal, "TLS client ciphers: " + openssl_error());
  static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  if (SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn) != 0) return make_error(ErrorKind::Internal, "TLS client ALPN");
  // Sessions are kept by the caller per server (SSL_get1_session), not in a shared cache.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (settings.verify) {
    if (settings.ca.empty()) {
      if (SSL_CTX_set_default_verify_paths(ctx) != 1)
        return make_error(ErrorKind::Internal, "TLS client: the system certificate store: " + openssl_error());
    } else if (FILE* f = std::fopen(settings.ca.c_str(), "r"); f == nullptr) {
      // OpenSSL's own words for a missing file are a library code; the operator wants errno's.
      return make_error(ErrorKind::Invalid, "ca " + settings.ca + ": " + std::strerror(errno));
    } else if (std::fclose(f); SSL_CTX_load_verify_locations(ctx, settings.ca.c_str(), nullptr) != 1) {
      return make_error(ErrorKind::Invalid, "ca " + settings.ca + ": " + openssl_error());
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!settings.cert.empty() || !settings.key.empty()) {
    if (settings.cert.empty() || settings.key.empty())
      return make_error(ErrorKind::Invalid, "a client certificate needs both cert and key");
    for (const auto& [what, file] : {std::pair{"cert ", &settings.cert}, std::pair{"key ", &settings.key}}) {
      FILE* f = std::fopen(file->c_str(), "r");
      if (f == nullptr) return make_error(ErrorKind::Invalid, what + *file + ": " + std::strerror(errno));
      std::fclose(f);
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, settings.cert.c_str()) != 1)
      return make_error(ErrorKind::Invalid, "cert " + settings.cert + ": " + openssl_error());
    // OpenSSL checks the key against the certificate as it loads it; its words for a mismatch
    // ("key values mismatch") become the operator's.
    const bool loaded = SSL_CTX_use_PrivateKey_file(ctx, settings.key.c_str(), SSL_FILETYPE_PEM) == 1;
    if (!loaded || SSL_CTX_check_private_key(ctx) != 1) {
      std::string why = openssl_error();
      if (why.find("mismatch") != std::string::npos || loaded)
        return make_error(ErrorKind::Invalid, "key " + settings.key + " does not match cert " + settings.cert);
      return make_error(ErrorKind::Invalid, "key " + settings.key + ": " + why);
    }
  }
  ERR_clear_error();
  return c;
}

ClientTlsContext::~ClientTlsContext() { SSL_CTX_free(ctx_); }

SSL* ClientTlsContext::new_ssl(const std::string& name) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  bool ok = true;
  if (is_ip(name)) {
    if (settings_.verify) ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1;
  } else if (!name.empty()) {
    ok = SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
    if (ok && settings_.verify) {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set1_host(ssl, name.c_str()) == 1;
    }
  }
  if (!ok) {
    SSL_free(ssl);
    ERR_clear_error();
    return nullptr;
  }
  return ssl;
}

}  // namespace turnout
