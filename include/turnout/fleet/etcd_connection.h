// EtcdConnection: one HTTP/1.1 keep-alive connection to one etcd endpoint, carrying POSTs to the
// v3 JSON gateway one at a time (no pipelining: a request is written once the previous answer is
// complete), each with a deadline. A request either collects its answer (unary calls) or gets
// the body bytes as they arrive (the watch stream), with an idle limit between reads.
//
// Lifetime: created with `new` by its owner (EtcdClient, EtcdWatch); it frees itself once its
// socket and timer are closed (handle memory only in close callbacks), so the owner just calls
// close() — or hears on_connection_down() — and forgets the pointer. After either, nothing
// reaches the owner again.
//
// TLS (https:// endpoints): the Stream takes a TlsTransport over its socket before connecting,
// as UpstreamConnection does; the connection counts as open once the handshake is done, and
// nothing above the Stream changes.
// Main loop only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "turnout/common/address.h"
#include "turnout/common/buffer.h"
#include "turnout/config/config.h"
#include "turnout/fleet/etcd_status.h"
#include "turnout/http/message.h"
#include "turnout/http/parser.h"
#include "turnout/net/stream.h"
#include "turnout/tls/client_tls_context.h"
#include "turnout/tls/tls_transport.h"

namespace turnout {

// One POST to the gateway.
struct EtcdHttpRequest {
  std::string path;            // "/v3/kv/range"
  std::string body;            // JSON
  std::string authorization;   // etcd auth token for the Authorization header ("": none)
  uint64_t deadline = 0;       // loop time (uv_now, ms) by which the answer must be complete (or,
                               // for a stream, its head have arrived); 0 = none
  uint64_t idle_ms = 0;        // streams: once the head is in, fail if no byte comes for this long
  // Streams: body bytes as they arrive (the request then completes only when the answer ends).
  // Unset: the body is collected and handed to on_done.
  std::function<void(std::string_view bytes)> on_data;
  // Once: the outcome, the HTTP status (0 if none) and the collected body (unary 2xx answers,
  // and error bodies). Not called after the connection was closed by its owner with
  // close(false).
  std::function<void(const EtcdStatus& status, int http_status, std::string&& body)> on_done;
  bool written = false;        // bytes of it went out: never retried elsewhere
};

class EtcdConnection final : public Stream::Owner, public HttpParser::Events {
 public:
  class Owner {
   public:
    virtual ~Owner() = default;
    // The connection failed (connect failure, reset, a timed-out request, a Connection: close
    // answer, the server closing it while idle) and is closing. The request it was answering has
    // its on_done already; `unsent` are the requests not yet written, for the owner to retry on
    // another connection (or fail). The owner must forget the connection now.
    virtual void on_connection_down(EtcdConnection* c, const EtcdStatus& why, std::deque<EtcdHttpRequest>&& unsent) = 0;
  };

  // `endpoint` is resolved; `connect_timeout_ms` bounds the TCP connect (then a connect failure,
  // so the owner can fail over). `pool` gives read chunks and lives as long as any connection.
  // `tls`: the client context for an https:// endpoint (null: plain HTTP), which outlives the
  // connection (the client holds it); `tls_name` is sent as SNI and verified.
  EtcdConnection(uv_loop_t* loop, std::shared_ptr<ChunkPool> pool, SocketAddress endpoint, uint64_t connect_timeout_ms,
                 Owner* owner, std::shared_ptr<const ClientTlsContext> tls = nullptr, std::string tls_name = {});
  EtcdConnection(const EtcdConnection&) = delete;
  EtcdConnection& operator=(const EtcdConnection&) = delete;

  // Queues a request; connects on the first one.
  void submit(EtcdHttpRequest&& req);
  // Closes. With `cancel_pending` every request still queued or in flight gets on_done(Canceled)
  // first, else they are dropped silently. The owner hears nothing more; safe twice.
  void close(bool cancel_pending);

  const std::string& endpoint() const { return endpoint_.text; }
  size_t pending() const { return queue_.size(); }
  bool connected() const { return state_ == State::Open; }

 private:
  friend struct EtcdConnectionCallbacks;
  enum class State : uint8_t { Idle, Connecting, Open, Closing };

  ~EtcdConnection() override;

  // Stream::Owner
  void on_stream_read(const ChunkRef& chunk, size_t len) override;
  void on_stream_end(int status) override;
  void on_stream_drained() override {}
  void on_stream_write_error(int status) override;
  void on_stream_closed() override;
  // HttpParser::Events
  HeadAction on_head_complete() override;
  void on_body(const char* at, size_t len) override;
  void on_message_complete() override {}

  void start_connect();
  void on_connected(int status);
  void send_next();
  void on_timer();
  void arm_timer();
  // The in-flight request's answer is complete (or the stream ended).
  void complete_front();
  // Fails the in-flight request with `why`, hands the rest to the owner, closes.
  void fail(const EtcdStatus& why);
  void on_handle_closed();
  void close_handles();
  // The in-flight request's deadline (a stream's idle deadline once its head is in); 0 = none.
  uint64_t front_deadline() const;
  EtcdStatus status(EtcdErrc code, std::string message) const;

  uv_loop_t* loop_;
  std::shared_ptr<ChunkPool> pool_;  // shared: chunks held by the stream outlive any one owner
  SocketAddress endpoint_;
  uint64_t connect_timeout_ms_;
  Owner* owner_;                     // null once closed or down
  std::shared_ptr<const ClientTlsContext> tls_context_;  // null for http://
  std::string tls_name_;
  Stream stream_;
  // The TLS layer under stream_ (https://); freed with the connection, after the stream's close.
  std::unique_ptr<TlsTransport> tls_;
  uv_timer_t timer_;                 // the nearest deadline (connect, requests, stream idle)
  Limits limits_;                    // the parser's limits (responses use its own minimums)
  ResponseHead head_;
  HttpParser parser_;
  std::deque<EtcdHttpRequest> queue_;  // front is in flight once written
  std::string body_;                 // the in-flight unary answer's body so far
  uint64_t connect_deadline_ = 0;    // loop time; 0 when not connecting
  uint64_t idle_deadline_ = 0;       // the in-flight stream's next-byte deadline; 0 = none
  int connect_error_ = 0;            // a connect that failed at once, reported from the timer
  State state_ = State::Idle;
  bool in_flight_ = false;           // queue_.front() is written and awaited
  bool head_seen_ = false;           // its answer's head is in
  bool body_overflow_ = false;       // the unary answer passed kMaxBodyBytes
  bool parser_paused_ = false;       // resume() before the next answer
  int closes_pending_ = 0;           // handles whose close callback has not run yet
};

}  // namespace turnout
