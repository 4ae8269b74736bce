#include "turnout/fleet/etcd_connection.h"

#include <llhttp.h>

#include <algorithm>
#include <utility>

#include "turnout/fleet/etcd_codec.h"

namespace turnout {
namespace {

// A unary answer larger than this fails as malformed (a 100k-route range is tens of MiB).
constexpr size_t kMaxBodyBytes = 256u << 20;

}  // namespace

struct EtcdConnectionCallbacks {
  static void on_connect(Stream*, int status, void* arg) { static_cast<EtcdConnection*>(arg)->on_connected(status); }
  static void on_timer(uv_timer_t* t) { static_cast<EtcdConnection*>(t->data)->on_timer(); }
  static void on_timer_closed(uv_handle_t* h) { static_cast<EtcdConnection*>(h->data)->on_handle_closed(); }
};

EtcdConnection::EtcdConnection(uv_loop_t* loop, std::shared_ptr<ChunkPool> pool, SocketAddress endpoint,
                               uint64_t connect_timeout_ms, Owner* owner, std::shared_ptr<const ClientTlsContext> tls,
                               std::string tls_name)
    : loop_(loop),
      pool_(std::move(pool)),
      endpoint_(std::move(endpoint)),
      connect_timeout_ms_(connect_timeout_ms),
      owner_(owner),
      tls_context_(std::move(tls)),
      tls_name_(std::move(tls_name)),
      stream_(loop, *pool_, this),
      parser_(HttpParser::Kind::Response, &head_, this, limits_) {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
}

EtcdConnection::~EtcdConnection() = default;

EtcdStatus EtcdConnection::status(EtcdErrc code, std::string message) const {
  return EtcdStatus::error(code, std::move(message), endpoint_.text);
}

void EtcdConnection::submit(EtcdHttpRequest&& req) {
  if (state_ == State::Closing) {
    if (req.on_done) req.on_done(status(EtcdErrc::Canceled, "connection closed"), 0, {});
    return;
  }
  req.written = false;
  queue_.push_back(std::move(req));
  if (state_ == State::Idle) start_connect();
  else send_next();
  arm_timer();
}

void EtcdConnection::start_connect() {
  state_ = State::Connecting;
  if (tls_context_) {
    tls_ = std::make_unique<TlsTransport>(stream_.socket(), *pool_, &stream_, *tls_context_, tls_name_, nullptr);
    stream_.set_transport(tls_.get());
  }
  int rc = stream_.init_tcp();
  if (rc == 0) {
    uv_tcp_nodelay(reinterpret_cast<uv_tcp_t*>(stream_.handle()), 1);
    rc = stream_.connect(endpoint_.sa(), EtcdConnectionCallbacks::on_connect, this);
  }
  // A connect that fails at once is reported from the timer, never from inside submit().
  connect_error_ = rc;
  connect_deadline_ = uv_now(loop_) + (rc == 0 ? connect_timeout_ms_ : 0);
}

void EtcdConnection::on_connected(int status_code) {
  if (state_ != State::Connecting) return;  // closed first (UV_ECANCELED)
  if (status_code != 0) {
    // A failed handshake says why (the certificate did not verify, no common protocol...), which
    // is what the operator needs; the TLS layer reports it as UV_EPROTO.
    if (tls_ && status_code == UV_EPROTO)
      fail(status(EtcdErrc::ConnectFailed, "TLS handshake with " + (tls_name_.empty() ? endpoint_.text : tls_name_) +
                                               " failed: " + tls_->engine().error()));
    else
      fail(status(EtcdErrc::ConnectFailed, uv_strerror(status_code)));
    return;
  }
  state_ = State::Open;
  connect_deadline_ = 0;
  stream_.start_read();
  send_next();
  arm_timer();
}

void EtcdConnection::send_next() {
  if (state_ != State::Open || in_flight_ || queue_.empty()) return;
  EtcdHttpRequest& req = queue_.front();
  std::string bytes;
  bytes.reserve(req.path.size() + req.body.size() + 128);
  bytes += "POST ";
  bytes += req.path;
  bytes += " HTTP/1.1\r\nHost: ";
  bytes += endpoint_.text;
  if (!req.authorization.empty()) {
    bytes += "\r\nAuthorization: ";
    bytes += req.authorization;
  }
  bytes += "\r\nContent-Type: application/json\r\nContent-Length: ";
  bytes += std::to_string(req.body.size());
  bytes += "\r\n\r\n";
  bytes += req.body;
  req.written = true;
  in_flight_ = true;
  head_seen_ = false;
  body_.clear();
  body_overflow_ = false;
  idle_deadline_ = 0;
  if (parser_paused_) {
    parser_.resume();
    parser_paused_ = false;
  }
  parser_.set_request_method(HTTP_POST);
  stream_.write_owned(std::move(bytes));
  stream_.flush();
}

void EtcdConnection::on_stream_read(const ChunkRef& chunk, size_t len) {
  if (state_ != State::Open) return;
  if (!in_flight_) {  // nothing was asked: the connection is out of step
    fail(status(EtcdErrc::Malformed, "etcd sent bytes nobody asked for"));
    return;
  }
  const EtcdHttpRequest& req = queue_.front();
  if (head_seen_ && req.idle_ms != 0) idle_deadline_ = uv_now(loop_) + req.idle_ms;
  const char* p = chunk.data();
  size_t off = 0;
  while (off < len) {
    auto out = parser_.feed(p + off, len - off);
    if (state_ != State::Open) return;  // a stream's on_data closed us
    if (out.status == HttpParser::Status::Error) {
      fail(status(EtcdErrc::Malformed, "etcd's answer is not valid HTTP: " + parser_.error_reason()));
      return;
    }
    if (out.status == HttpParser::Status::NeedMore) break;
    off += out.consumed;
    if (out.status == HttpParser::Status::Upgrade) {
      fail(status(EtcdErrc::Malformed, "etcd switched protocols"));
      return;
    }
    parser_paused_ = true;
    bool extra = off < len;
    complete_front();
    if (state_ != State::Open) return;
    if (extra) {
      fail(status(EtcdErrc::Malformed, "etcd sent bytes after its answer"));
      return;
    }
    break;
  }
  arm_timer();
}

HttpParser::Events::HeadAction EtcdConnection::on_head_complete() {
  if (state_ != State::Open || !in_flight_) return HeadAction::Reject;
  head_seen_ = true;
  const EtcdHttpRequest& req = queue_.front();
  if (req.idle_ms != 0) idle_deadline_ = uv_now(loop_) + req.idle_ms;
  return HeadAction::Continue;
}

void EtcdConnection::on_body(const char* at, size_t len) {
  if (state_ != State::Open || !in_flight_) return;
  EtcdHttpRequest& req = queue_.front();
  if (req.on_data && head_.status / 100 == 2) {
    req.on_data(std::string_view(at, len));
    return;
  }
  if (body_.size() + len > kMaxBodyBytes) {
    body_overflow_ = true;
    return;
  }
  body_.append(at, len);
}

void EtcdConnection::complete_front() {
  EtcdHttpRequest req = std::move(queue_.front());
  queue_.pop_front();
  in_flight_ = false;
  idle_deadline_ = 0;
  int http_status = head_.status;
  EtcdStatus s;
  s.endpoint = endpoint_.text;
  s.http_status = http_status;
  if (body_overflow_) {
    s = status(EtcdErrc::Malformed, "etcd's answer is larger than " + std::to_string(kMaxBodyBytes) + " bytes");
  } else if (http_status / 100 != 2) {
    s = etcd_codec::error_from_response(http_status, body_);
    s.endpoint = endpoint_.text;
  }
  auto done = std::move(req.on_done);
  std::string body = std::move(body_);
  body_.clear();
  // etcd asked to close: the rest of the queue moves to a new connection.
  if (!head_.keep_alive) fail(status(EtcdErrc::Reset, "etcd closed the connection"));
  if (done) done(s, http_status, std::move(body));
  send_next();
}

void EtcdConnection::on_stream_end(int status_code) {
  fail(status(EtcdErrc::Reset, status_code == UV_EOF ? "etcd closed the connection" : uv_strerror(status_code)));
}

void EtcdConnection::on_stream_write_error(int status_code) { fail(status(EtcdErrc::Reset, uv_strerror(status_code))); }

void EtcdConnection::fail(const EtcdStatus& why) {
  if (state_ == State::Closing) return;
  std::function<void(const EtcdStatus&, int, std::string&&)> done;
  if (in_flight_) {
    done = std::move(queue_.front().on_done);
    queue_.pop_front();
    in_flight_ = false;
  }
  Owner* o = std::exchange(owner_, nullptr);
  std::deque<EtcdHttpRequest> unsent = std::move(queue_);
  queue_.clear();
  close_handles();
  // The owner first, so requests its user submits from `done` go to the next connection.
  if (o) {
    o->on_connection_down(this, why, std::move(unsent));
  } else {
    for (auto& r : unsent)
      if (r.on_done) r.on_done(why, 0, {});
  }
  if (done) done(why, head_seen_ ? head_.status : 0, {});
}

void EtcdConnection::close(bool cancel_pending) {
  if (state_ == State::Closing) return;
  owner_ = nullptr;
  std::deque<EtcdHttpRequest> pending = std::move(queue_);
  queue_.clear();
  in_flight_ = false;
  close_handles();
  if (!cancel_pending) return;
  for (auto& r : pending)
    if (r.on_done) r.on_done(status(EtcdErrc::Canceled, "etcd client closed"), 0, {});
}

void EtcdConnection::close_handles() {
  state_ = State::Closing;
  uv_timer_stop(&timer_);
  ++closes_pending_;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), EtcdConnectionCallbacks::on_timer_closed);
  if (stream_.state() == Stream::State::Open) {
    ++closes_pending_;
    stream_.close();
  }
}

void EtcdConnection::on_stream_closed() { on_handle_closed(); }

void EtcdConnection::on_handle_closed() {
  if (--closes_pending_ == 0) delete this;
}

uint64_t EtcdConnection::front_deadline() const {
  if (!in_flight_) return 0;
  const EtcdHttpRequest& req = queue_.front();
  if (req.on_data && head_seen_) return idle_deadline_;  // a stream runs as long as it is not silent
  return req.deadline;
}

void EtcdConnection::on_timer() {
  if (state_ == State::Closing) return;
  uint64_t now = uv_now(loop_);
  if (state_ == State::Connecting && connect_deadline_ != 0 && now >= connect_deadline_) {
    fail(status(EtcdErrc::ConnectFailed, connect_error_ != 0
                                             ? std::string(uv_strerror(connect_error_))
                                             : "connect timed out after " + std::to_string(connect_timeout_ms_) + " ms"));
    return;
  }
  if (uint64_t d = front_deadline(); d != 0 && now >= d) {
    bool idle = queue_.front().on_data && head_seen_;
    fail(status(EtcdErrc::Timeout, idle ? "no data from etcd for " + std::to_string(queue_.front().idle_ms) + " ms"
                                        : "request deadline passed"));
    return;
  }
  // Queued requests whose deadline passed before they could be written.
  std::deque<EtcdHttpRequest> expired;
  for (auto it = queue_.begin() + (in_flight_ ? 1 : 0); it != queue_.end();) {
    if (it->deadline != 0 && now >= it->deadline) {
      expired.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  arm_timer();
  for (auto& r : expired)
    if (r.on_done) r.on_done(status(EtcdErrc::Timeout, "request deadline passed before it was sent"), 0, {});
}

void EtcdConnection::arm_timer() {
  if (state_ == State::Closing) return;
  uint64_t next = 0;
  auto consider = [&next](uint64_t d) {
    if (d != 0 && (next == 0 || d < next)) next = d;
  };
  if (state_ == State::Connecting) consider(connect_deadline_);
  consider(front_deadline());
  for (auto it = queue_.begin() + (in_flight_ ? 1 : 0); it != queue_.end(); ++it) consider(it->deadline);
  if (next == 0) {
    uv_timer_stop(&timer_);
    return;
  }
  uint64_t now = uv_now(loop_);
  uv_timer_start(&timer_, EtcdConnectionCallbacks::on_timer, next > now ? next - now : 0, 0);
}

}  // namespace turnout
