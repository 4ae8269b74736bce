#include "turnout/upstream/upstream_conn.h"

#include <llhttp.h>

#include "turnout/common/log.h"
#include "turnout/upstream/conn_pool.h"

namespace turnout {

struct UpstreamCallbacks {
  static void on_connect(Stream*, int status, void* arg) {
    static_cast<UpstreamConnection*>(arg)->on_connected(status);
  }
  static void on_deadline(Deadline* d) { static_cast<UpstreamConnection*>(d->data)->on_timer(); }
};

UpstreamConnection::UpstreamConnection(uv_loop_t* loop, ChunkPool& chunks, ConnPool& pool, Deadlines& deadlines,
                                       const Timeouts& timeouts, const Limits& limits, std::string server_addr)
    : chunks_(chunks),
      stream_(loop, chunks, this),
      pool_(pool),
      deadlines_(deadlines),
      deadline_(UpstreamCallbacks::on_deadline),
      timeouts_(timeouts),
      parser_(HttpParser::Kind::Response, &head_, this, limits),
      server_addr_(std::move(server_addr)) {
  deadline_.data = this;
}

UpstreamConnection::~UpstreamConnection() = default;

int UpstreamConnection::connect(User* user, const SocketAddress& address, const ClientTlsContext* tls,
                                 const std::string& tls_name, SSL_SESSION* resume) {
  user_ = user;
  state_ = State::Connecting;
  if (tls != nullptr) {
    tls_server_ = address.text;
    tls_name_ = tls_name;
    tls_ = std::make_unique<TlsTransport>(stream_.socket(), chunks_, &stream_, *tls, tls_name, resume);
    stream_.set_transport(tls_.get());
  }
  int rc;
  if (address.is_unix()) {
    rc = stream_.init_pipe();
    if (rc == 0) {
      rc = stream_.connect_pipe(reinterpret_cast<const sockaddr_un*>(&address.storage)->sun_path,
                                UpstreamCallbacks::on_connect, this);
    }
  } else {
    rc = stream_.init_tcp();
    if (rc == 0) {
      uv_tcp_nodelay(reinterpret_cast<uv_tcp_t*>(stream_.handle()), 1);
      rc = stream_.connect(address.sa(), UpstreamCallbacks::on_connect, this);
    }
  }
  if (rc == 0) arm_timer(timeouts_.connect);
  return rc;
}

void UpstreamConnection::on_connected(int status) {
  if (state_ == State::Closing) return;
  deadline_.cancel();
  if (status != 0) {
    if (tls_ && status == UV_EPROTO)  // the operator needs the why: a 502 alone does not say it
      TLOG_WARN("upstream TLS handshake failed", "server={} name={} error=\"{}\"", tls_server_,
                tls_name_.empty() ? "-" : tls_name_, tls_->engine().error());
    fail(UpstreamFailure::ConnectFailed);
    return;
  }
  state_ = State::Busy;
  stream_.start_read();
  if (user_) user_->on_upstream_connected();
}

void UpstreamConnection::lease(User* user) {
  user_ = user;
  state_ = State::Busy;
  deadline_.cancel();
}

void UpstreamConnection::begin_exchange(uint8_t method) {
  ++uses_;
  if (parser_paused_) {
    parser_.resume();  // left paused after the previous response on this connection
    parser_paused_ = false;
  }
  head_.clear();
  parser_.set_request_method(method);
  response_started_ = false;
  complete_ = false;
  interim_ = false;
}

void UpstreamConnection::request_sent() {
  if (state_ == State::Busy && !complete_) arm_timer(timeouts_.upstream_response);
}

void UpstreamConnection::start_tunnel() {
  state_ = State::Tunnel;
  reusable_ = false;
  deadline_.cancel();
}

void UpstreamConnection::arm_timer(Millis ms) { deadlines_.arm(deadline_, static_cast<uint64_t>(ms.count())); }

void UpstreamConnection::on_timer() {
  switch (state_) {
    case State::Connecting:
      fail(UpstreamFailure::ConnectFailed);
      break;
    case State::Busy:
      fail(UpstreamFailure::Timeout);
      break;
    case State::Idle:
      close();
      break;
    default:
      break;
  }
}

void UpstreamConnection::park(Millis idle_timeout) {
  state_ = State::Idle;
  user_ = nullptr;
  stream_.start_read();  // notice the server closing while idle
  arm_timer(idle_timeout);
}

void UpstreamConnection::fail(UpstreamFailure why) {
  if (state_ == State::Closing) return;
  reusable_ = false;
  User* u = user_;
  user_ = nullptr;
  bool started = response_started_;
  close();
  if (u) u->on_upstream_failed(why, started);
}

void UpstreamConnection::on_stream_read(const ChunkRef& chunk, size_t len) {
  if (state_ == State::Idle) {
    // A pooled connection must be silent; anything here (even a late "408") makes it unusable.
    close();
    return;
  }
  if (state_ == State::Tunnel) {
    if (user_) user_->on_upstream_tunnel_data(chunk, chunk.data(), len);
    return;
  }
  if (state_ != State::Busy || user_ == nullptr) return;
  if (complete_) {  // bytes after a complete response: the connection is out of sync
    reusable_ = false;
    return;
  }
  response_started_ = true;
  arm_timer(timeouts_.upstream_response);  // the timeout is between reads, not for the whole body
  const char* p = chunk.data();
  size_t off = 0;
  cur_chunk_ = &chunk;
  while (off < len && state_ == State::Busy && user_ != nullptr) {
    auto out = parser_.feed(p + off, len - off);
    if (out.status == HttpParser::Status::Error) {
      cur_chunk_ = nullptr;
      fail(UpstreamFailure::Malformed);
      return;
    }
    if (out.status == HttpParser::Status::NeedMore) break;
    off += out.consumed;
    if (out.status == HttpParser::Status::Upgrade) {
      // 101: what follows the head is tunnel data (the Exchange switched us to Tunnel).
      if (off < len && user_ && state_ == State::Tunnel) user_->on_upstream_tunnel_data(chunk, p + off, len - off);
      break;
    }
    // MessageComplete
    if (interim_) {
      interim_ = false;
      head_.clear();
      parser_.resume();
      continue;
    }
    if (off < len) reusable_ = false;  // extra bytes after the response
    complete_ = true;
    parser_paused_ = true;
    deadline_.cancel();
    User* u = user_;
    cur_chunk_ = nullptr;
    if (u) u->on_upstream_complete();
    return;
  }
  cur_chunk_ = nullptr;
}

HttpParser::Events::HeadAction UpstreamConnection::on_head_complete() {
  if (!user_) return HeadAction::Reject;
  interim_ = head_.status >= 100 && head_.status < 200 && head_.status != 101;
  return user_->on_upstream_head(head_);
}

void UpstreamConnection::on_body(const char* at, size_t len) {
  if (user_ && cur_chunk_) user_->on_upstream_body(*cur_chunk_, at, len);
}

void UpstreamConnection::on_message_complete() {}

void UpstreamConnection::on_stream_end(int status) {
  if (state_ == State::Idle) {
    close();
    return;
  }
  if (state_ == State::Tunnel) {
    if (user_) user_->on_upstream_tunnel_end();
    return;
  }
  if (state_ == State::Busy && !complete_) {
    // An until-close body ends here.
    if (status == UV_EOF && response_started_ && parser_.finish()) {
      complete_ = true;
      reusable_ = false;
      deadline_.cancel();
      User* u = user_;
      if (u) u->on_upstream_complete();
      return;
    }
    fail(UpstreamFailure::Reset);
    return;
  }
  reusable_ = false;
}

void UpstreamConnection::on_stream_drained() {
  if (user_) user_->on_upstream_drained();
}

void UpstreamConnection::on_stream_write_error(int status) {
  (void)status;
  if (state_ == State::Tunnel) {
    User* u = user_;
    user_ = nullptr;
    close();
    if (u) u->on_upstream_failed(UpstreamFailure::Reset, true);
    return;
  }
  fail(UpstreamFailure::Reset);
}

void UpstreamConnection::close() {
  if (state_ == State::Closing) return;
  bool was_idle = state_ == State::Idle;
  state_ = State::Closing;
  user_ = nullptr;
  if (was_idle) pool_.on_idle_conn_gone(this);
  deadline_.cancel();
  stream_.close();  // its callback frees this (through the pool); a no-op if no socket was opened
}

void UpstreamConnection::on_stream_closed() { pool_.on_conn_closed(this); }

}  // namespace turnout
