// UpstreamConnection: one connection from a worker to a backend server, with its response parser.
//
// Owned by the worker's ConnPool from creation to its socket's close callback (the pool frees it). While
// an Exchange leases it (`user_` set) events go to that Exchange; while idle it sits in the pool
// with a read armed (to notice the server closing) and an idle deadline. Its one timeout at a time
// (connect, upstream_response, upstream_idle) is a Deadline in the worker's Deadlines: re-armed on
// every read of a response, so an append to a list rather than a timer-heap update. Worker thread
// only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "turnout/common/address.h"
#include "turnout/common/buffer.h"
#include "turnout/config/config.h"
#include "turnout/http/message.h"
#include "turnout/http/parser.h"
#include "turnout/net/deadlines.h"
#include "turnout/net/stream.h"
#include "turnout/tls/client_tls_context.h"
#include "turnout/tls/tls_transport.h"

namespace turnout {

class ConnPool;

// Why a leased connection failed.
enum class UpstreamFailure : uint8_t {
  ConnectFailed,  // refused / unreachable / connect timeout: nothing of the request was sent
  Reset,          // reset or closed before the response completed
  Timeout,        // upstream_response timeout
  Malformed,      // response failed to parse or frame (never pooled)
};

class UpstreamConnection final : public Stream::Owner, public HttpParser::Events {
 public:
  // The Exchange leasing the connection.
  class User {
   public:
    virtual ~User() = default;
    virtual void on_upstream_connected() = 0;
    // Response head complete (framing not decided yet). 1xx heads are interim: the parser goes
    // on to the final response by itself after the User returns.
    virtual HttpParser::Events::HeadAction on_upstream_head(ResponseHead& head) = 0;
    virtual void on_upstream_body(const ChunkRef& chunk, const char* at, size_t len) = 0;
    virtual void on_upstream_complete() = 0;  // the final response is complete
    // Bytes after a 101 response (tunnel).
    virtual void on_upstream_tunnel_data(const ChunkRef& chunk, const char* at, size_t len) = 0;
    virtual void on_upstream_tunnel_end() = 0;  // server half-closed the tunnel
    virtual void on_upstream_failed(UpstreamFailure why, bool response_started) = 0;
    virtual void on_upstream_drained() = 0;  // its output fell below the low watermark
  };

  enum class State : uint8_t { Connecting, Busy, Idle, Tunnel, Closing };

  UpstreamConnection(uv_loop_t* loop, ChunkPool& chunks, ConnPool& pool, Deadlines& deadlines,
                     const Timeouts& timeouts, const Limits& limits, std::string server_addr);
  ~UpstreamConnection() override;

  // Starts connecting (connect timeout armed); the user hears on_upstream_connected or
  // on_upstream_failed(ConnectFailed). A non-zero return means it could not even start.
  // With `tls` the connection speaks TLS to the server (`tls_name`: SNI and the name verified,
  // `resume`: a session to offer); connected means the handshake is done, and a failed
  // handshake (a certificate that does not verify) is a connect failure, logged with why. The
  // connect timeout covers the handshake.
  int connect(User* user, const SocketAddress& address, const ClientTlsContext* tls = nullptr,
              const std::string& tls_name = {}, SSL_SESSION* resume = nullptr);
  // Takes over a pooled idle connection for a new request.
  void lease(User* user);
  // The request is about to be written: expect a response to `method`.
  void begin_exchange(uint8_t method);
  // The request is fully written: the upstream_response timer now runs.
  void request_sent();
  // After a 101: raw bytes both ways, no parser.
  void start_tunnel();
  void detach() { user_ = nullptr; }

  Stream& stream() { return stream_; }
  ResponseHead& head() { return head_; }
  // The trailer fields of the response just completed (empty if none); valid until the next
  // response on this connection starts.
  const MessageHead& trailers() const { return parser_.trailers(); }
  State state() const { return state_; }
  const std::string& server_addr() const { return server_addr_; }
  // Whether it may go back to the pool after the current response.
  // A TLS connection only when its TLS layer is idle and clean (nothing half-read or queued).
  bool reusable() const { return reusable_ && state_ == State::Busy && (!tls_ || tls_->idle_clean()); }
  // The TLS layer (null for a plain connection): ConnPool keeps its session for the next one.
  const TlsTransport* tls() const { return tls_.get(); }
  // The TLS session the pool last kept from this connection (identity only, never dereferenced:
  // the SSL holds its own reference), so a keep-alive connection offers it to the pool once.
  const SSL_SESSION* kept_session = nullptr;
  void set_not_reusable() { reusable_ = false; }
  uint64_t uses() const { return uses_; }
  bool response_started() const { return response_started_; }

  void close();
  // Whether a socket was opened whose close callback will free this (through the pool). False
  // only when connect() failed before any socket existed: the pool frees it at once then.
  bool awaiting_close_callback() const {
    return stream_.state() == Stream::State::Open || stream_.state() == Stream::State::Closing;
  }

  // ConnPool use: park idle / wake.
  void park(Millis idle_timeout);


 private:
  friend struct UpstreamCallbacks;
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

  void fail(UpstreamFailure why);
  void arm_timer(Millis ms);
  void on_timer();
  void on_connected(int status);

  ChunkPool& chunks_;           // the worker's read chunks (for a TLS layer)
  std::unique_ptr<TlsTransport> tls_;  // TLS between stream_ and its socket; freed after stream_'s
                                       // close callback (declared first: destroyed last)
  Stream stream_;               // the socket
  ConnPool& pool_;              // owner: frees this after the socket's close callback
  Deadlines& deadlines_;        // the worker's; times deadline_
  Deadline deadline_;           // connect / response / idle timeout
  const Timeouts& timeouts_;    // worker's settings
  ResponseHead head_;           // the response being parsed
  HttpParser parser_;           // response parser (fills head_: declared after it)
  std::string server_addr_;     // pool key: the server's configured address (plus TLS parameters)
  std::string tls_server_;      // TLS: the server's address and the name verified, for the log
  std::string tls_name_;        //   line of a failed handshake
  User* user_ = nullptr;        // the leasing Exchange, or null when idle/closing
  const ChunkRef* cur_chunk_ = nullptr;  // chunk being parsed (for on_body zero-copy)
  State state_ = State::Connecting;
  uint64_t uses_ = 0;           // exchanges served
  bool reusable_ = true;        // false once framing was unsafe or extra bytes arrived
  bool response_started_ = false;  // a byte of the response arrived for this exchange
  bool complete_ = false;       // the final response was parsed
  bool interim_ = false;        // current head is a 1xx (not 101)
  bool parser_paused_ = false;  // paused after a complete response; resumed by begin_exchange
};

}  // namespace turnout
