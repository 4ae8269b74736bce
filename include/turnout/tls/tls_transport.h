// TlsTransport: TLS between a connection's socket and its Stream (net/transport.h). It reads
// ciphertext from the SocketTransport below, feeds it to a TlsEngine and reports the plaintext
// upward in pooled chunks; it encrypts the Stream's writes and writes the ciphertext below.
//
// Backpressure is kept: a write is reported done to the Stream only once its ciphertext is on
// the socket, and try_write refuses (UV_EAGAIN) while ciphertext is still queued below, so the
// Stream's watermarks see TLS bytes like plain ones. Reads stop below when the Stream stops
// reading; plaintext already decrypted (a record carrying several pipelined requests) is
// delivered after start_read() from a deferred callback, never inside start_read() itself.
//
// Memory: no buffer while idle (TlsEngine); one heap record per write that cannot complete at
// once; the deferred-delivery handle exists only for a connection that needed it.
//
// Owned by its connection, which frees it only after the Stream's close callback. Worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "turnout/common/buffer.h"
#include "turnout/net/socket_transport.h"
#include "turnout/net/transport.h"
#include "turnout/tls/client_tls_context.h"
#include "turnout/tls/server_tls_context.h"
#include "turnout/tls/tls_engine.h"

typedef struct ssl_session_st SSL_SESSION;

namespace turnout {

class TlsTransport final : public Transport, public Transport::Events {
 public:
  // Server side of an accepted socket. `certs`: the table version's certificates, pinned for
  // the handshake. The Stream routes its I/O here (Stream::set_transport).
  // `http2`: the listener offers "h2" by ALPN.
  TlsTransport(SocketTransport& lower, ChunkPool& pool, Transport::Events* upper, const ServerTlsContext& ctx,
               CertificateSetPtr certs, bool http2 = false);
  // Client side, towards a server: connect() connects the socket below, then runs the
  // handshake, and on_transport_connected reports 0 only once it is done (UV_EPROTO when it
  // failed, e.g. the server's certificate did not verify: engine().error() says why).
  // `name`: SNI and the name verified (ClientTlsContext::new_ssl); `resume`: a session of an
  // earlier connection to the same server to offer (may be null; not taken over).
  TlsTransport(SocketTransport& lower, ChunkPool& pool, Transport::Events* upper, const ClientTlsContext& ctx,
               const std::string& name, SSL_SESSION* resume);
  ~TlsTransport() override;
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  // Transport (called by the Stream)
  int connect(const sockaddr* addr) override;
  int connect_pipe(const char* path) override;
  int handshake() override;
  int start_read() override;
  void stop_read() override;
  int try_write(const uv_buf_t* bufs, unsigned count) override;
  int write(TransportWrite* w, const uv_buf_t* bufs, unsigned count) override;
  void shutdown() override;
  void close() override;

  // Bytes that arrived before TLS started (after a PROXY protocol header), fed first.
  void feed_early(const ChunkRef& chunk, const char* data, size_t len);

  bool handshake_done() const { return engine_.handshake_done(); }
  // The certificate the handshake presented (null before), for 421 on a Host it does not cover.
  const Certificate* presented() const { return state_.presented; }
  const std::string& server_name() const { return state_.server_name; }
  const TlsEngine& engine() const { return engine_; }
  // Nothing in flight either way: handshake done, no ciphertext unread or queued, no plaintext
  // held. Only such a connection may wait in a pool for another request.
  bool idle_clean() const {
    return engine_.state() == TlsEngine::State::Open && !engine_.input_pending() && !engine_.has_plaintext() &&
           !engine_.has_output() && writes_below_ == 0;
  }

 private:
  struct CipherWrite;
  struct Deferred;
  friend struct TlsTransportCallbacks;

  // Transport::Events (from the socket below)
  void on_transport_read(const ChunkRef& chunk, ssize_t nread) override;
  void on_transport_connected(int status) override;
  void on_transport_written(TransportWrite* w, int status) override;
  void on_transport_closed() override;

  void consume(const ChunkRef& chunk, const char* data, size_t len);
  void deliver();                 // plaintext upward while the Stream reads
  void flush_output(TransportWrite* upper_write);  // engine output to the socket
  bool seal(const uv_buf_t* bufs, unsigned count);  // a write's bytes into the engine's records
  void fail(int status);          // report an error upward once
  void report_connected(int status);  // client: the handshake's outcome, once
  void schedule_delivery();

  SocketTransport& lower_;
  ChunkPool& pool_;
  Transport::Events* upper_;
  TlsHandshakeState state_;       // pinned certificates, what the handshake chose
  TlsEngine engine_;
  ChunkRef input_;                // ciphertext the engine still reads in place
  Deferred* deferred_ = nullptr;  // deferred delivery after start_read (self-freeing on close)
  uint32_t writes_below_ = 0;     // our writes in flight on the socket (order and backpressure)
  bool upper_reading_ = false;
  bool eof_reported_ = false;
  bool closing_ = false;
  bool client_handshake_ = false;  // client: socket connected, handshake not reported yet
};

}  // namespace turnout
