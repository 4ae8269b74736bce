// Http2Session: the HTTP/2 ClientSide of one client connection (ALPN "h2" over TLS, or h2c with
// prior knowledge), on libnghttp2 in server mode. Each request stream becomes an Exchange routed
// and balanced exactly as an HTTP/1.1 request (the route table is pinned when the stream's
// HEADERS are complete, so a stream opened after an acknowledged change uses the new table and
// open streams keep theirs); the Exchange's calls become HEADERS / DATA / RST_STREAM frames.
//
// Owned by its ClientConnection, which keeps the socket, the TLS layer, the deadline and the
// worker's list; the connection hands every byte read to on_read() once it has chosen HTTP/2.
// Output is batched: frames are queued by nghttp2 during a loop turn and written once
// (ProxyContext::defer_flush); response bodies go out without a copy (NO_COPY DATA: the 9-byte
// frame header, then the server's bytes by reference).
//
// Backpressure: the request body window is given back (WINDOW_UPDATE) only once the exchange has
// taken the bytes and is not paused, so per stream at most one window (256 KiB) and per
// connection at most the connection window (1 MiB) is held; a stream's response stops reading
// its server when its queued bytes or the connection's output are above their high marks.
//
// Abuse: nghttp2's limits (rapid reset, CONTINUATION count, outbound ACK queue, SETTINGS size)
// where the library has them, and a budget of its own for frames that cost work but carry no
// request (PING, SETTINGS, PRIORITY, WINDOW_UPDATE, RST_STREAM, empty DATA): past it, GOAWAY
// ENHANCE_YOUR_CALM and close. Worker thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "turnout/common/buffer.h"
#include "turnout/proxy/client_side.h"
#include "turnout/proxy/http2_stream.h"
#include "turnout/proxy/proxy_context.h"

namespace turnout {

class ClientConnection;
class Stream;
struct Http2Callbacks;

class Http2Session final : public ClientSide, public ProxyContext::Flusher {
 public:
  // The client preface every HTTP/2 connection starts with (h2c prior knowledge is detected by it).
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  static constexpr size_t kStreamWindow = 256 * 1024;       // request body per stream
  static constexpr size_t kConnectionWindow = 1024 * 1024;  // request body per connection
  static constexpr size_t kStreamOutHigh = 256 * 1024;      // response bytes queued per stream
  static constexpr size_t kStreamOutLow = 64 * 1024;
  static constexpr double kFrameBurst = 1000;  // abuse budget: frames carrying no request...
  static constexpr double kFramesPerSecond = 100;  // ...and its refill
  // After the last GOAWAY: how long a client has to read it (input is discarded meanwhile).
  static constexpr Millis kGoawayLinger{10000};

  Http2Session(ProxyContext& ctx, ClientConnection& conn, Stream& out, bool tls);
  ~Http2Session() override;
  Http2Session(const Http2Session&) = delete;
  Http2Session& operator=(const Http2Session&) = delete;

  // Creates the nghttp2 session and queues the server's SETTINGS. False: out of memory.
  bool start();
  // Bytes read from the client (held by `chunk`; request DATA is forwarded by reference).
  void on_read(const ChunkRef& chunk, const char* p, size_t n);
  // The connection's output fell below its low watermark.
  void on_drained();
  // The connection's deadline fired (ClientConnection::on_timer).
  void on_timer();
  // Drain / shutdown / upgrade: GOAWAY in two steps, then close once open streams are done.
  void drain();
  // The connection is closing: every exchange is aborted; nothing more is sent.
  void shutdown();

  bool idle() const { return active_.empty(); }
  bool has_exchange_for(std::string_view host, std::string_view app) const;
  size_t open_streams() const { return active_.size(); }

  // ClientSide
  void forward_context(const Exchange& ex, ForwardContext& out) const override;
  void pause_request_body(Exchange& ex) override;
  void resume_request_body(Exchange& ex) override;
  void send_interim(Exchange& ex, const ResponseHead& head) override;
  void send_head(Exchange& ex, const ResponseHead& head) override;
  bool send_body(Exchange& ex, const ChunkRef& chunk, const char* at, size_t len) override;
  void send_end(Exchange& ex, const MessageHead* trailers) override;
  void send_error(Exchange& ex, int status, std::string_view why, bool close) override;
  void exchange_done(Exchange& ex) override;
  void abort(Exchange& ex) override;
  // No tunnel over HTTP/2: Upgrade is a connection-specific field (refused) and CONNECT is 501.
  void start_tunnel(Exchange& ex) override { abort(ex); }
  bool send_tunnel_data(Exchange& ex, const ChunkRef&, const char*, size_t) override { return false; }
  void end_tunnel_output(Exchange& ex) override {}

 private:
  friend struct Http2Callbacks;

  // ProxyContext::Flusher: the turn's frames go out.
  void flush_deferred() override { flush(); }
  void schedule_flush();
  void flush();

  Http2Stream* find(const Exchange& ex) const;
  Http2Stream* stream_of(int32_t id) const;
  Http2Stream* new_stream(int32_t id);
  void release_stream(Http2Stream* s);
  // The request head is complete: route it and start its exchange (or answer it here).
  void start_request(Http2Stream* s, bool end_stream);
  void request_complete(Http2Stream* s);
  // A trailer block ended the stream: true if it may go on to request_complete; otherwise the
  // stream was answered 431 (over a limit) or reset (malformed, PROTOCOL_ERROR).
  bool check_trailers(Http2Stream* s);
  // turnout answers the stream itself (404, 421, 431, ...): a short text/plain response.
  void respond_local(Http2Stream* s, int status, std::string_view why);
  void submit_head(Http2Stream* s, int status, const std::vector<std::pair<std::string_view, std::string_view>>& fields,
                   bool has_body);
  void reset_stream(Http2Stream* s, uint32_t error_code);
  void finish_exchange(Http2Stream* s);
  void log_access(Http2Stream* s, int status, uint64_t bytes, std::string_view app, std::string_view upstream);
  void assign_request_id(Http2Stream* s);
  // Costs `n` of the abuse budget; false (and GOAWAY ENHANCE_YOUR_CALM) once it is spent.
  bool spend(double n);
  void terminate(uint32_t error_code);
  void update_timer();
  // Keeps bodies_open_ in step with `s` after its exchange or request_complete changed.
  void track_body(Http2Stream* s);
  void unblock_streams();

  ProxyContext& ctx_;
  ClientConnection& conn_;   // owns this session, the socket and the deadline
  Stream& out_;              // the connection's stream
  nghttp2_session* session_ = nullptr;
  const ChunkRef* cur_chunk_ = nullptr;   // the chunk being fed to nghttp2 (zero-copy request DATA)
  std::vector<Http2Stream*> active_;      // streams nghttp2 has open (owned; unordered, Http2Stream::slot)
  std::vector<std::unique_ptr<Http2Stream>> free_;  // recycled streams, buffers kept
  std::vector<Http2Stream*> blocked_;     // streams owing on_client_drained
  std::vector<nghttp2_nv> nva_;           // fields_ as nghttp2 takes them (kept for capacity)
  std::string field_storage_;             // response fields being converted (kept for capacity)
  std::vector<std::pair<std::string_view, std::string_view>> fields_;
  double budget_ = kFrameBurst;           // abuse budget left
  uint64_t budget_at_ms_ = 0;             // loop time of the last refill
  size_t headers_open_ = 0;               // streams whose header block is still open
  size_t bodies_open_ = 0;                // streams whose exchange waits for more request body
  int drain_step_ = 0;                    // 0 none, 1 shutdown notice sent, 2 final GOAWAY sent
  bool tls_;
  bool closing_ = false;                  // GOAWAY sent for an error: close after the flush
  bool dead_ = false;                     // shutdown(): nothing more is done
  bool header_timer_ = false;             // the deadline runs for an open header block
  bool counted_down_ = false;             // left stats.h2_connections_active
};

}  // namespace turnout
