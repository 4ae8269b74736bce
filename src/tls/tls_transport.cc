#include "turnout/tls/tls_transport.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <string>
#include <string_view>

namespace turnout {

// One write of ciphertext to the socket; `upper` is the Stream's write it completes (null for
// output the engine made on its own: handshake, alerts, a try_write's remainder).
struct TlsTransport::CipherWrite {
  TransportWrite below;  // first member: the socket reports it back
  std::string bytes;
  TransportWrite* upper = nullptr;
};

// Deferred delivery of plaintext already decrypted when the Stream resumes reading.
struct TlsTransport::Deferred {
  uv_idle_t idle;
  TlsTransport* t;  // null once the transport closed (then the handle frees itself)
};

struct TlsTransportCallbacks {
  static void on_idle(uv_idle_t* h) {
    auto* d = static_cast<TlsTransport::Deferred*>(h->data);
    uv_idle_stop(h);
    if (d->t != nullptr) d->t->deliver();
  }
  static void on_idle_closed(uv_handle_t* h) { delete static_cast<TlsTransport::Deferred*>(h->data); }
};

TlsTransport::TlsTransport(SocketTransport& lower, ChunkPool& pool, Transport::Events* upper,
                           const ServerTlsContext& ctx, CertificateSetPtr certs, bool http2)
    : lower_(lower), pool_(pool), upper_(upper), state_{std::move(certs), nullptr, {}, http2}, engine_(ctx.new_ssl(&state_)) {
  lower_.set_events(this);
}

namespace {
SSL* client_ssl(const ClientTlsContext& ctx, const std::string& name, SSL_SESSION* resume) {
  SSL* ssl = ctx.new_ssl(name);
  if (ssl != nullptr && resume != nullptr) SSL_set_session(ssl, resume);  // a refused one: full handshake
  return ssl;
}
}  // namespace

TlsTransport::TlsTransport(SocketTransport& lower, ChunkPool& pool, Transport::Events* upper,
                           const ClientTlsContext& ctx, const std::string& name, SSL_SESSION* resume)
    : lower_(lower), pool_(pool), upper_(upper), engine_(client_ssl(ctx, name, resume), TlsEngine::Role::Client) {
  lower_.set_events(this);
}

int TlsTransport::connect(const sockaddr* addr) {
  if (engine_.state() == TlsEngine::State::Failed) return UV_ENOMEM;
  return lower_.connect(addr);
}

int TlsTransport::connect_pipe(const char* path) {
  if (engine_.state() == TlsEngine::State::Failed) return UV_ENOMEM;
  return lower_.connect_pipe(path);
}

void TlsTransport::report_connected(int status) {
  client_handshake_ = false;
  upper_->on_transport_connected(status);
}

TlsTransport::~TlsTransport() {
  if (deferred_ != nullptr) deferred_->t = nullptr;  // close() normally did this
}

int TlsTransport::handshake() {
  if (engine_.state() == TlsEngine::State::Failed) return UV_ENOMEM;
  // The client speaks first; reading continues through the handshake. The socket may be
  // reading already (TLS after a PROXY header, or a Stream that started first).
  int rc = lower_.start_read();
  return rc == UV_EALREADY ? 0 : rc;
}

int TlsTransport::start_read() {
  upper_reading_ = true;
  int rc = lower_.start_read();
  schedule_delivery();
  return rc == UV_EALREADY ? 0 : rc;
}

void TlsTransport::stop_read() {
  upper_reading_ = false;
  if (engine_.handshake_done()) lower_.stop_read();  // during the handshake, keep reading it
}

void TlsTransport::feed_early(const ChunkRef& chunk, const char* data, size_t len) { consume(chunk, data, len); }

void TlsTransport::on_transport_read(const ChunkRef& chunk, ssize_t nread) {
  if (nread < 0 && client_handshake_) {  // the server went away during the handshake
    fail(nread == UV_EOF ? UV_ECONNRESET : static_cast<int>(nread));
    return;
  }
  if (nread < 0) {
    if (!eof_reported_) {
      eof_reported_ = true;
      upper_->on_transport_read(ChunkRef(), nread);
    }
    return;
  }
  consume(chunk, chunk.data(), static_cast<size_t>(nread));
}

void TlsTransport::consume(const ChunkRef& chunk, const char* data, size_t len) {
  input_ = chunk;
  bool handshaking = !engine_.handshake_done();
  bool ok = engine_.feed(data, len);
  // The last output of a TLS 1.3 server handshake is the session ticket, which a client needs
  // only for its next connection. When the client's first request came in the same read as its
  // Finished, the ticket goes out with the answer to it instead of costing a write and a segment
  // of its own. A client that sent nothing yet gets it at once (it may leave without a request).
  bool ticket_only = ok && handshaking && engine_.handed_over() && engine_.input_pending();
  if (!ticket_only) flush_output(nullptr);  // handshake messages, alerts
  if (!ok) {
    input_.reset();
    fail(UV_EPROTO);
    return;
  }
  if (client_handshake_) {
    if (!engine_.handshake_done()) return;
    // Reads below stay on only while the Stream reads (it starts once told it is connected).
    if (!upper_reading_) lower_.stop_read();
    report_connected(0);
    if (closing_) return;
  }
  deliver();
}

void TlsTransport::deliver() {
  while (upper_reading_ && !eof_reported_) {
    Chunk* c = pool_.acquire();
    ChunkRef plain(c);
    size_t n = engine_.read(c->data, Chunk::kSize);
    if (n == 0) break;
    upper_->on_transport_read(plain, static_cast<ssize_t>(n));
  }
  if (!engine_.input_pending()) input_.reset();  // every byte of it is inside OpenSSL now
  if (engine_.state() == TlsEngine::State::Closed && upper_reading_ && !eof_reported_) {
    eof_reported_ = true;  // close_notify: the clean end of the client's data
    upper_->on_transport_read(ChunkRef(), UV_EOF);
  } else if (engine_.state() == TlsEngine::State::Failed) {
    fail(UV_EPROTO);
  }
}

void TlsTransport::schedule_delivery() {
  if (!engine_.handshake_done() || (!engine_.input_pending() && !engine_.has_plaintext())) return;
  if (deferred_ == nullptr) {
    deferred_ = new Deferred{};
    deferred_->t = this;
    uv_idle_init(lower_.loop(), &deferred_->idle);
    deferred_->idle.data = deferred_;
  }
  uv_idle_start(&deferred_->idle, TlsTransportCallbacks::on_idle);
}

void TlsTransport::fail(int status) {
  if (client_handshake_) {  // a client's handshake failed: that is the connect's outcome
    lower_.stop_read();
    report_connected(status);
    return;
  }
  if (eof_reported_) return;
  eof_reported_ = true;
  upper_->on_transport_read(ChunkRef(), status);
}

void TlsTransport::flush_output(TransportWrite* upper_write) {
  // A Stream write always completes from the socket's callback, never inside write().
  if (!engine_.has_output() && upper_write == nullptr) return;
  auto* w = new CipherWrite{};
  w->bytes = engine_.take_output();
  w->upper = upper_write;
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  if (writes_below_ == 0 && upper_write == nullptr) {
    // Nothing queued below: what the socket takes at once needs no write request.
    int n = lower_.try_write(&buf, 1);
    if (n == static_cast<int>(w->bytes.size())) {
      delete w;
      return;
    }
    if (n > 0) {
      w->bytes.erase(0, static_cast<size_t>(n));
      buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    }
  }
  int rc = lower_.write(&w->below, &buf, 1);
  if (rc != 0) {
    TransportWrite* up = w->upper;
    delete w;
    if (up != nullptr) upper_->on_transport_written(up, rc);
    else fail(rc);
    return;
  }
  ++writes_below_;
}

bool TlsTransport::seal(const uv_buf_t* bufs, unsigned count) {
  // The buffers of one write are sealed together (records span them): a Stream's batch of
  // small pieces costs the peer one record per 16 KiB, not one per piece.
  constexpr unsigned kBatch = 64;
  std::string_view parts[kBatch];
  for (unsigned at = 0; at < count; at += kBatch) {
    unsigned n = std::min(kBatch, count - at);
    for (unsigned i = 0; i < n; ++i) parts[i] = std::string_view(bufs[at + i].base, bufs[at + i].len);
    if (!engine_.write(parts, n)) return false;
  }
  return true;
}

int TlsTransport::try_write(const uv_buf_t* bufs, unsigned count) {
  if (!engine_.handshake_done()) return UV_EAGAIN;
  if (engine_.state() == TlsEngine::State::Failed) return UV_EPROTO;
  if (writes_below_ > 0) return UV_EAGAIN;  // keep order, and let the Stream see the backlog
  size_t total = 0;
  for (unsigned i = 0; i < count; ++i) total += bufs[i].len;
  if (!seal(bufs, count)) return UV_EPROTO;
  flush_output(nullptr);
  return static_cast<int>(total);
}

int TlsTransport::write(TransportWrite* w, const uv_buf_t* bufs, unsigned count) {
  if (!engine_.handshake_done() || engine_.state() == TlsEngine::State::Failed) return UV_EPROTO;
  if (!seal(bufs, count)) return UV_EPROTO;
  flush_output(w);
  return 0;
}

void TlsTransport::on_transport_written(TransportWrite* below, int status) {
  auto* w = reinterpret_cast<CipherWrite*>(below);  // `below` is CipherWrite's first member
  --writes_below_;
  TransportWrite* up = w->upper;
  delete w;
  if (up != nullptr)
    upper_->on_transport_written(up, status);
  else if (status < 0 && status != UV_ECANCELED)
    fail(status);
}

void TlsTransport::shutdown() {
  engine_.shutdown();  // close_notify, then the socket's half-close after it
  flush_output(nullptr);
  lower_.shutdown();
}

void TlsTransport::close() {
  if (closing_) return;
  closing_ = true;
  if (client_handshake_) report_connected(UV_ECANCELED);  // the connect's one outcome
  if (deferred_ != nullptr) {
    deferred_->t = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&deferred_->idle), TlsTransportCallbacks::on_idle_closed);
    deferred_ = nullptr;
  }
  lower_.close();
}

void TlsTransport::on_transport_connected(int status) {
  // A server transport never connects; a client one starts its handshake once the socket is up.
  if (status != 0 || closing_) {
    upper_->on_transport_connected(status);
    return;
  }
  client_handshake_ = true;
  int rc = lower_.start_read();
  if (rc != 0 && rc != UV_EALREADY) {
    report_connected(rc);
    return;
  }
  engine_.start();  // the ClientHello
  if (engine_.state() == TlsEngine::State::Failed) {
    fail(UV_EPROTO);
    return;
  }
  flush_output(nullptr);
}

void TlsTransport::on_transport_closed() {
  input_.reset();
  upper_->on_transport_closed();
}

}  // namespace turnout
