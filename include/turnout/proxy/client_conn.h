// ClientConnection: one accepted client socket speaking HTTP/1.1, and the HTTP/1.1 ClientSide of
// its exchanges. Owns the socket, the keep-alive loop, the request state (head and parser, taken
// from the worker's pool at a request's first byte and returned when the connection goes idle)
// and at most one Exchange (the request being proxied). Pipelined requests wait, unparsed, until
// the current response is done. As the ClientSide it owns the response's wire form: the head
// rewrite, the body framing (chunked / Content-Length / until close) and the keep-alive decision.
//
// Created by the Worker on accept; freed after its socket handle's close callback ran
// (handle_closed). Worker thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "turnout/common/buffer.h"
#include "turnout/common/fifo.h"
#include "turnout/http/message.h"
#include "turnout/http/parser.h"
#include "turnout/http/rewrite.h"
#include "turnout/net/proxy_protocol.h"
#include "turnout/net/deadlines.h"
#include "turnout/net/stream.h"
#include "turnout/proxy/client_side.h"
#include "turnout/proxy/proxy_context.h"
#include "turnout/tls/tls_transport.h"

namespace turnout {

class Exchange;
class Http2Session;

class ClientConnection final : public Stream::Owner, public HttpParser::Events, public ClientSide {
 public:
  enum class State : uint8_t {
    ReadingHead,  // waiting for / reading a request head (idle keep-alive included)
    Active,       // an exchange is in progress (body and/or response)
    Tunnel,       // upgraded: raw bytes both ways through the exchange
    Lingering,    // response sent, write side shut: discarding input until EOF or timeout
    Http2,        // HTTP/2 (ALPN h2 or h2c prior knowledge): the session has every byte
    Closing,      // handles closing; freed from the last close callback
  };

  // Read-pause reasons (bitmask): reading resumes only when none is set.
  enum PauseReason : uint8_t {
    kPausedPipelined = 1,  // parser paused with unparsed input waiting
    kPausedUpstream = 2,   // the upstream side cannot take more body bytes yet
  };

  ClientConnection(ProxyContext& ctx, uint64_t id);
  ~ClientConnection() override;

  // Takes the accepted socket `fd` (owned from this call, closed on failure) from `peer`; starts
  // reading. With `proxy_protocol`, a PROXY v1/v2 header must come first (within the
  // request_header timeout) and names the client. Returns non-zero on failure (then call close()).
  // With `tls`, a TLS handshake (after the PROXY header, if any) comes before HTTP, within
  // handshake_timeout; the certificate is chosen from the current table's by SNI. With `http2`,
  // HTTP/2 is spoken when ALPN chose "h2" (TLS) or the client preface comes first (plaintext).
  int open(int fd, const sockaddr* peer, bool proxy_protocol = false, bool tls = false, bool http2 = false);
  void close();
  // The HTTP/2 session sent its last GOAWAY: half-close once it is written, then read and drop
  // what the client still sends until it closes or `timeout` passes: closing with its input
  // unread would reset the connection and destroy the GOAWAY before the client read it.
  void linger(Millis timeout) { begin_linger(timeout); }

  const std::string& peer_ip() const { return peer_ip_; }
  // What this client's X-Forwarded-* are worth under the current trusted_proxies.
  ForwardTrust forward_trust() const;
  uint64_t id() const { return id_; }

  // ClientSide: the Exchange's view of this connection (HTTP/1.1 framing).
  void forward_context(const Exchange& ex, ForwardContext& out) const override;
  void pause_request_body(Exchange& ex) override { pause_reading(kPausedUpstream); }
  void resume_request_body(Exchange& ex) override { resume_reading(kPausedUpstream); }
  void send_interim(Exchange& ex, const ResponseHead& head) override;
  void send_head(Exchange& ex, const ResponseHead& head) override;
  bool send_body(Exchange& ex, const ChunkRef& chunk, const char* at, size_t len) override;
  void send_end(Exchange& ex, const MessageHead* trailers) override;
  void send_error(Exchange& ex, int status, std::string_view why, bool close) override;
  void exchange_done(Exchange& ex) override;
  void abort(Exchange& ex) override { abort_connection(); }
  void start_tunnel(Exchange& ex) override;
  bool send_tunnel_data(Exchange& ex, const ChunkRef& chunk, const char* at, size_t len) override;
  void end_tunnel_output(Exchange& ex) override { stream_.shutdown_after_flush(); }

  // Drain: close now if idle, else finish the current response with Connection: close.
  void drain();
  bool idle() const;
  // In-flight query for `unmap --wait`.
  bool has_exchange_for(std::string_view host, std::string_view app) const;

  // Worker's intrusive list.
  ClientConnection* next = nullptr;
  ClientConnection* prev = nullptr;

 private:
  friend struct ClientCallbacks;
  friend class Http2Session;  // shares the socket, the TLS layer and the deadline
  struct Input {
    ChunkRef chunk;          // holds the bytes
    const char* p = nullptr; // unparsed start
    size_t n = 0;            // unparsed length
  };

  // Stream::Owner
  void on_stream_read(const ChunkRef& chunk, size_t len) override;
  void on_stream_end(int status) override;
  void on_stream_drained() override;
  void on_stream_write_error(int status) override;
  void on_stream_closed() override;
  // HttpParser::Events
  HeadAction on_head_complete() override;
  void on_body(const char* at, size_t len) override;
  void on_message_complete() override;

  void pause_reading(PauseReason why);
  void resume_reading(PauseReason why);
  // The exchange finished (response fully queued, request fully read). `keep_alive`: the
  // connection may carry another request.
  void on_exchange_done(bool keep_alive);
  // The exchange failed after the response started: nothing can be said to the client.
  void abort_connection();
  // Upgrade succeeded (101 sent): raw bytes from now on, starting with any already read.
  void enter_tunnel();
  // Answers with a short error and ends the exchange (closing when the request cannot be
  // skipped or `close` is set).
  void respond_error(int status, std::string_view body, bool close);

  void process_input();
  // Before the first request: HTTP/2 or HTTP/1.1? False while the bytes cannot tell yet (part of
  // a client preface), or when HTTP/2 took them.
  bool choose_protocol();
  bool start_http2();
  // The PROXY header layer: consumes its bytes from `chunk`, then hands the rest to HTTP.
  void read_proxy_header(const ChunkRef& chunk, size_t len);
  void set_peer(const sockaddr* peer);
  void update_reading();
  void arm_timer(Millis ms);
  void on_timer();
  void finish_exchange_object();
  // A request's first byte: take a request state from the worker's pool. Idle: give it back.
  void take_request_state();
  void return_request_state();
  // A request head is being read (its first byte has arrived, its end not yet).
  bool reading_head() const { return rs_ && rs_->parser->in_message(); }
  void start_next_request();
  void reset_for_next_request();
  void begin_linger(Millis timeout);
  void handle_closed();
  void log_access(int status, uint64_t bytes, std::string_view app, std::string_view upstream, uint64_t start_us);
  void assign_request_id();

  ProxyContext& ctx_;                  // the worker's shared state
  Stream stream_;                      // the client socket
  Deadline deadline_;                  // request-header / idle / linger deadline (ctx_.deadlines)
  std::unique_ptr<RequestState> rs_;   // head + parser from a request's first byte until idle again
  std::unique_ptr<Exchange> exchange_; // the request being proxied, if any
  Fifo<Input> input_;                  // bytes read but not parsed yet (pipelining, pre-tunnel)
  const ChunkRef* cur_chunk_ = nullptr;  // chunk being fed to the parser (for zero-copy bodies)
  std::unique_ptr<ProxyProtocolParser> proxy_header_;  // until the PROXY header is read
  // HTTPS: the TLS layer under stream_ (freed with this connection, after the stream's close
  // callback). `tls_after_proxy_header_`: created once the PROXY header is read.
  std::unique_ptr<TlsTransport> tls_;
  // HTTP/2: the session that took the connection over (freed with it). `http2_`: the listener
  // offers HTTP/2; `protocol_chosen_`: the first bytes have been looked at.
  std::unique_ptr<Http2Session> h2_;
  bool http2_ = false;
  bool protocol_chosen_ = false;
  bool tls_after_proxy_header_ = false;
  bool start_tls(const ChunkRef* early, const char* p, size_t n);
  sockaddr_storage peer_{};            // the client: the socket's peer, or the PROXY header's source
  std::string peer_ip_;                // client address for X-Forwarded-For and the access log
  std::string request_id_;             // the current request's id, for the access log and upstream
  bool request_id_generated_ = false;  // request_id_ was made up here (the request had none)
  uint64_t id_;                        // connection id for logs
  uint64_t requests_ = 0;              // requests served on this connection
  uint64_t head_start_us_ = 0;         // when the current request's first byte arrived
  State state_ = State::ReadingHead;
  uint8_t pause_ = 0;                  // PauseReason bits
  int pending_closes_ = 0;             // handle close callbacks still to come
  bool parser_paused_ = false;         // a message completed; parser waits for resume()
  bool request_complete_ = false;      // the current request has been fully read
  bool local_response_ = false;        // turnout answered this request itself (no exchange)
  bool local_keep_alive_ = true;       // ...and the connection may carry on afterwards
  bool response_keep_alive_ = true;    // the exchange's response lets the connection carry on
  BodyKind down_body_ = BodyKind::None;  // the exchange's response body framing towards the client
  bool peer_eof_ = false;              // client half-closed
  bool idle_counted_ = false;          // counted in stats.connections_idle
  bool in_feed_ = false;               // inside parser_.feed(): callbacks must not re-enter it
  bool next_request_pending_ = false;  // the exchange ended inside feed(); continue after it
};

}  // namespace turnout
