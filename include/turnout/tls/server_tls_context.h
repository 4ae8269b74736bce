// ServerTlsContext: the OpenSSL server context of the HTTPS listeners, and the per-handshake
// choice of certificate.
//
// One per process, shared by every worker: SSL_CTX is safe to share for SSL_new, and its
// session cache and ticket keys are then common to all workers, so a client resumes whichever
// worker accepts its next connection. The certificates are not in the context: each connection
// pins the CertificateSet of the table version current when it was accepted (TlsHandshakeState)
// and the ClientHello callback picks from that set, so a certificate change never touches a
// handshake already under way and needs no lock.
//
// Policy fixed here (DESIGN.md, TLS): TLS 1.2 and 1.3 only (min_version may raise it to 1.3), no
// renegotiation, no 0-RTT, buffers released while a connection is idle, ALPN chosen from the
// protocols the listener speaks.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "turnout/common/error.h"
#include "turnout/tls/certificate_set.h"
#include "turnout/tls/ticket_key_ring.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace turnout {

struct ServerTlsSettings {
  bool min_tls13 = false;               // min_version "1.3"; else "1.2"
  bool session_tickets = true;          // stateless resumption (TLS 1.2 and 1.3)
  std::vector<std::string> alpn{"http/1.1"};  // in server preference order, e.g. {"h2", "http/1.1"}
  bool operator==(const ServerTlsSettings&) const = default;
};

// What one connection's handshake needs and yields. Owned by the connection's transport, which
// points the SSL at it for as long as the SSL lives.
struct TlsHandshakeState {
  CertificateSetPtr certificates;          // pinned at accept
  const Certificate* presented = nullptr;  // set by the ClientHello callback (owned by `certificates`)
  std::string server_name;                 // the SNI the client sent, lower-case ("" = none)
  // The listener offers HTTP/2 (`http2`, default on for TLS listeners): "h2" is chosen by ALPN
  // only then, so one context serves listeners with and without HTTP/2.
  bool http2 = true;
};

class ServerTlsContext {
 public:
  // With session_tickets, tickets are sealed with `tickets` (the process's ring, shared by every
  // context it builds); without a ring, OpenSSL's own keys of this one context (unit tests).
  static Result<std::shared_ptr<ServerTlsContext>> create(const ServerTlsSettings& settings,
                                                          TicketKeyRingPtr tickets = nullptr);
  ~ServerTlsContext();
  ServerTlsContext(const ServerTlsContext&) = delete;
  ServerTlsContext& operator=(const ServerTlsContext&) = delete;

  // A server SSL for one accepted connection; `state` must outlive it. nullptr on failure.
  SSL* new_ssl(TlsHandshakeState* state) const;
  static TlsHandshakeState* state_of(SSL* ssl);
  SSL_CTX* ctx() const { return ctx_; }
  const ServerTlsSettings& settings() const { return settings_; }

 private:
  ServerTlsContext() = default;
  SSL_CTX* ctx_ = nullptr;  // owned
  ServerTlsSettings settings_;
  TicketKeyRingPtr tickets_;  // shared with the process and its other contexts; outlives ctx_'s callback
  std::string alpn_wire_;   // settings_.alpn in ALPN wire format, for the select callback
  std::string alpn_wire_h1_;  // the same without "h2", for listeners with http2: false
  friend struct AlpnSelect;
};

// ClientHello parsing used by the callback, exposed for unit tests.
namespace tls_hello {
// The host_name of a server_name extension body, lower-case, without a trailing dot; "" if none
// or malformed.
std::string server_name(const unsigned char* ext, size_t len);
// Whether a signature_algorithms extension body lists an ECDSA scheme.
bool offers_ecdsa(const unsigned char* ext, size_t len);
}  // namespace tls_hello

}  // namespace turnout
