// ClientTlsContext: the OpenSSL client context for TLS towards an app's servers
// (`apps.NAME.tls`), and the per-connection client SSL.
//
// One per distinct (ca, verify) spec, shared by every worker: SSL_CTX is safe to share for
// SSL_new once configured, so workers take SSLs from it without a lock. Nothing per server
// lives here; the name to verify and send as SNI is given per connection.
//
// Policy fixed here (DESIGN.md, TLS): TLS 1.2 and 1.3 only, no renegotiation, ALPN http/1.1,
// buffers released while a connection is idle, the server's certificate verified against `ca`
// (or the system store) unless `verify: false` was written out.
#pragma once

#include <memory>
#include <string>

#include "turnout/common/error.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace turnout {

struct ClientTlsSettings {
  std::string ca;      // PEM bundle of trusted CAs; "" = the system store
  bool verify = true;  // false: no verification of the server at all
  // A client certificate (chain) and its key, PEM files, for servers that authenticate their
  // clients (etcd with --client-cert-auth); both "" = none.
  std::string cert;
  std::string key;
  bool operator==(const ClientTlsSettings&) const = default;
};

class ClientTlsContext {
 public:
  // Fails when `ca` cannot be read or holds no certificate, or the system store cannot be set;
  // with `cert`, when it or `key` cannot be read or the key is not the certificate's.
  static Result<std::shared_ptr<ClientTlsContext>> create(const ClientTlsSettings& settings);
  ~ClientTlsContext();
  ClientTlsContext(const ClientTlsContext&) = delete;
  ClientTlsContext& operator=(const ClientTlsContext&) = delete;

  // A client SSL for one connection to a server known as `name`: a host name is sent as SNI and
  // verified against the certificate's DNS names; an IP address (no SNI, as RFC 6066 says) is
  // verified against its IP addresses. nullptr on failure.
  SSL* new_ssl(const std::string& name) const;
  SSL_CTX* ctx() const { return ctx_; }
  const ClientTlsSettings& settings() const { return settings_; }

 private:
  ClientTlsContext() = default;
  SSL_CTX* ctx_ = nullptr;  // owned
  ClientTlsSettings settings_;
};

}  // namespace turnout
