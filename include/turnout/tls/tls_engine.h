// TlsEngine: one TLS connection's record layer, with no socket. Ciphertext read from the socket
// goes in (feed), plaintext comes out (read); plaintext to send goes in (write), ciphertext to
// put on the socket comes out (take_output). The transport under a Stream drives it.
//
// Buffers: OpenSSL reads through a BIO that serves the bytes of the current feed() in place and
// writes through a BIO that appends to one output string, so the engine holds no buffer of its
// own between calls; with SSL_MODE_RELEASE_BUFFERS OpenSSL frees its record buffers when a
// connection is idle.
//
// Hand-over: a server connection that completes a TLS 1.3 handshake frees its SSL object (about
// 13 KiB) and carries on with Tls13RecordLayer, from the application traffic secrets OpenSSL
// reports through the keylog callback and the records counted since. The engine checks the
// hand-over against a record OpenSSL itself sealed under the new keys and keeps the SSL if the
// check cannot be made or fails. From then on the engine frames records, answers KeyUpdate and
// handles alerts itself. TLS 1.2 and client connections keep OpenSSL throughout.
// Owned by one connection; one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "turnout/tls/server_tls_context.h"
#include "turnout/tls/tls13_record_layer.h"

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
  // Encrypts the bytes of `parts` as one run: records span parts (see Tls13RecordLayer::seal),
  // so a batch of small writes costs the peer as few records as its size allows.
  bool write(const std::string_view* parts, size_t count);
  // Client side: begins the handshake; the ClientHello is then in take_output().
  void start() { advance(); }
  // Sends close_notify (once).
  void shutdown();

  // Ciphertext to put on the socket (handshake, records, alerts); empties the engine's output.
  std::string take_output();
  bool has_output() const { return !out_.empty(); }
  // Ciphertext of the last feed() not read yet (a record behind one not yet read).
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
  // The SSL object; null once the connection was handed over to the engine's own record layer.
  SSL* ssl() const { return ssl_; }
  // Whether the SSL object was freed after the handshake (see Hand-over above).
  bool handed_over() const { return records_ != nullptr; }

  // OpenSSL's keylog callback for server contexts (ServerTlsContext sets it): captures the
  // application traffic secrets of a TLS 1.3 handshake for the hand-over. Nothing is logged.
  static void on_keylog(const SSL* ssl, const char* line);

 private:
  friend struct TlsEngineBio;
  struct Handover;                // secrets and output records counted while handshaking
  void advance();                 // handshake steps while input allows
  bool fail_from(int rc);         // classify an SSL error; false when fatal
  void hand_over();               // free the SSL after a TLS 1.3 server handshake, if it checks
  // Own record layer (after hand_over):
  size_t own_read(char* buf, size_t cap);
  bool own_record(const unsigned char* rec, size_t len, char* buf, size_t cap, size_t& got);
  bool own_handshake(const char* p, size_t n, bool record_ends);  // KeyUpdate
  void own_fail(uint8_t alert, const char* why);

  SSL* ssl_ = nullptr;            // owned
  BIO* bio_ = nullptr;            // owned by ssl_ (SSL_set_bio)
  const char* in_ = nullptr;      // the feed() bytes not yet read by OpenSSL
  size_t in_len_ = 0;
  std::string out_;               // ciphertext waiting for take_output()
  std::string error_;
  std::unique_ptr<Handover> handover_;         // server, TLS 1.3, until the hand-over
  std::unique_ptr<Tls13RecordLayer> records_;  // after the hand-over
  std::string partial_;           // own layer: a record not complete yet (empty, no heap, otherwise)
  std::string held_;              // own layer: plaintext of a record larger than read()'s buffer
  size_t held_off_ = 0;
  std::string alpn_;              // after the hand-over, what the SSL negotiated
  const char* version_ = nullptr;
  unsigned char hs_[8];           // own layer: a KeyUpdate split over records
  uint8_t hs_len_ = 0;
  State state_ = State::Handshaking;
  bool shutdown_sent_ = false;
  bool client_ = false;
  bool resumed_ = false;
};

}  // namespace turnout
