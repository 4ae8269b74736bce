// TlsEngine: one TLS connection's record layer, with no socket. Ciphertext read from the socket
// goes in (feed), plaintext comes out (read); plaintext to send goes in (write), ciphertext to
// put on the socket comes out (take_output). The transport under a Stream drives it.
//
// Buffers: OpenSSL reads through a BIO that serves the bytes of the current feed() in place and
// writes through a BIO that appends to one output string, so the engine holds no buffer of its
// own between calls; with SSL_MODE_RELEASE_BUFFERS OpenSSL frees its record buffers when a
// connection is idle. Owned by one connection; one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "turnout/tls/server_tls_context.h"

typedef struct bio_st BIO;

namespace turnout {

class TlsEngine {
 public:
  enum class State : uint8_t {
    Handshaking,  // before the handshake completes
    Open,         // application data flows
    Closed,       // close_notify received (clean end of the peer's data)
    Failed,       // a fatal alert sent or received, or a protocol error
  };

  enum class Role : uint8_t { Server, Client };

  // Takes an SSL (owned from here on): from ServerTlsContext::new_ssl for Role::Server, from
  // ClientTlsContext::new_ssl for Role::Client (then call start() to produce the ClientHello).
  explicit TlsEngine(SSL* ssl, Role role = Role::Server);
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  // Ciphertext from the peer; every byte is consumed (a partial record waits inside OpenSSL).
  // Advances the handshake. Returns false once the connection failed.
  bool feed(const char* data, size_t len);
  // Decrypted application data into `buf`: bytes written, 0 when nothing is ready (or the peer
  // closed: see state()). Call until 0 after each feed().
  size_t read(char* buf, size_t cap);
  // Encrypts `len` bytes (all of them, while Open). Returns false once failed.
  bool write(const char* data, size_t len);
  // Client side: begins the handshake; the ClientHello is then in take_output().
  void start() { advance(); }
  // Sends close_notify (once).
  void shutdown();

  // Ciphertext to put on the socket (handshake, records, alerts); empties the engine's output.
  std::string take_output();
  bool has_output() const { return !out_.empty(); }
  // Ciphertext of the last feed() OpenSSL has not read yet (a record behind one not yet read).
  bool input_pending() const { return in_len_ > 0; }
  // Decrypted bytes OpenSSL holds that read() would return now.
  bool has_plaintext() const;

  State state() const { return state_; }
  bool handshake_done() const { return state_ == State::Open || state_ == State::Closed; }
  // The reason of a failure, for logs ("" otherwise). A client whose verification of the
  // server failed says why ("certificate verify failed: unable to get local issuer certificate").
  const std::string& error() const { return error_; }
  // After the handshake: the negotiated ALPN protocol ("" = none) and version ("TLSv1.3").
  std::string alpn() const;
  const char* version() const;
  bool resumed() const;
  SSL* ssl() const { return ssl_; }

 private:
  friend struct TlsEngineBio;
  void advance();                 // handshake steps while input allows
  bool fail_from(int rc);         // classify an SSL error; false when fatal

  SSL* ssl_ = nullptr;            // owned
  BIO* bio_ = nullptr;            // owned by ssl_ (SSL_set_bio)
  const char* in_ = nullptr;      // the feed() bytes not yet read by OpenSSL
  size_t in_len_ = 0;
  std::string out_;               // ciphertext waiting for take_output()
  std::string error_;
  State state_ = State::Handshaking;
  bool shutdown_sent_ = false;
  bool client_ = false;
};

}  // namespace turnout
