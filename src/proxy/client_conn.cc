#include "turnout/http/error_status.h"
#include "turnout/http/host.h"
#include "turnout/proxy/client_conn.h"

#include <unistd.h>

#include <cstring>

#include <llhttp.h>

#include "turnout/common/address.h"
#include "turnout/common/cidr.h"
#include "turnout/common/log.h"
#include "turnout/http/framing.h"
#include "turnout/http/rewrite.h"
#include "turnout/proxy/access_log.h"
#include "turnout/proxy/body_writer.h"
#include "turnout/proxy/exchange.h"
#include "turnout/proxy/http2_session.h"

namespace turnout {

namespace {
constexpr Millis kLingerTimeout{2000};  // how long to drain a client's input after our close
constexpr Millis kDrainIdleGrace{1000}; // an idle connection's last chance to send a request when draining

}  // namespace

struct ClientCallbacks {
  static void on_deadline(Deadline* d) { static_cast<ClientConnection*>(d->data)->on_timer(); }
};

ClientConnection::ClientConnection(ProxyContext& ctx, uint64_t id)
    : ctx_(ctx),
      stream_(ctx.loop, ctx.chunks, this),
      deadline_(ClientCallbacks::on_deadline),
      id_(id) {
  deadline_.data = this;
}

ClientConnection::~ClientConnection() { return_request_state(); }

int ClientConnection::open(int fd, const sockaddr* peer, bool proxy_protocol, bool tls, bool http2) {
  http2_ = http2;
  int rc = stream_.init_tcp();
  if (rc != 0) {
    ::close(fd);
    return rc;
  }
  ++pending_closes_;
  // TCP_NODELAY is inherited from the listening socket.
  rc = uv_tcp_open(reinterpret_cast<uv_tcp_t*>(stream_.handle()), fd);
  if (rc != 0) {  // the handle did not take the fd
    ::close(fd);
    return rc;
  }
  set_peer(peer);
  if (proxy_protocol) proxy_header_ = std::make_unique<ProxyProtocolParser>();
  ctx_.stats.connections_idle.add();
  idle_counted_ = true;
  stream_.start_read();
  if (tls) {
    if (proxy_protocol)
      tls_after_proxy_header_ = true;  // the balancer's header comes before the handshake
    else if (!start_tls(nullptr, nullptr, 0))
      return UV_ENOMEM;
    // The handshake (and any PROXY header) must be done within handshake_timeout; the request
    // header deadline starts with the first byte of HTTP.
    arm_timer(ctx_.settings ? ctx_.settings->handshake_timeout : ctx_.timeouts.request_header);
    return 0;
  }
  arm_timer(ctx_.timeouts.request_header);
  return 0;
}

bool ClientConnection::start_tls(const ChunkRef* early, const char* p, size_t n) {
  if (!ctx_.settings || !ctx_.settings->tls || !ctx_.table) return false;
  tls_ = std::make_unique<TlsTransport>(stream_.socket(), ctx_.chunks, &stream_, *ctx_.settings->tls,
                                        ctx_.table->certificates(), http2_);
  stream_.set_transport(tls_.get());
  if (tls_->handshake() != 0) return false;
  if (stream_.reading()) tls_->start_read();
  if (early != nullptr && n > 0) tls_->feed_early(*early, p, n);
  return true;
}

void ClientConnection::set_peer(const sockaddr* peer) {
  std::memset(&peer_, 0, sizeof(peer_));
  size_t len = peer->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : peer->sa_family == AF_INET ? sizeof(sockaddr_in) : 0;
  std::memcpy(&peer_, peer, len);
  peer_ip_ = format_address(peer, false);
}

ForwardTrust ClientConnection::forward_trust() const {
  if (!ctx_.settings || ctx_.settings->trusted_proxies.empty()) return ForwardTrust::Unconfigured;
  return cidr_match(ctx_.settings->trusted_proxies, reinterpret_cast<const sockaddr*>(&peer_)) ? ForwardTrust::Trusted
                                                                                               : ForwardTrust::Untrusted;
}

void ClientConnection::read_proxy_header(const ChunkRef& chunk, size_t len) {
  auto out = proxy_header_->feed(chunk.data(), len);
  switch (out.status) {
    case ProxyProtocolParser::Status::NeedMore:
      return;
    case ProxyProtocolParser::Status::Error:
      // Nothing is said: whoever sent this is not the balancer we expect, and an HTTP answer
      // would tell a scanner what is behind.
      ctx_.stats.proxy_protocol_errors.add();
      TLOG_DEBUG("PROXY protocol header refused", "peer={} error={}", peer_ip_, log_quote(proxy_header_->error()));
      close();
      return;
    case ProxyProtocolParser::Status::Done:
      break;
  }
  if (proxy_header_->has_source()) set_peer(proxy_header_->source());
  proxy_header_.reset();
  if (tls_after_proxy_header_) {
    tls_after_proxy_header_ = false;
    if (!start_tls(&chunk, chunk.data() + out.consumed, len - out.consumed)) close();
    return;
  }
  if (out.consumed < len) {
    input_.push_back(Input{chunk, chunk.data() + out.consumed, len - out.consumed});
    process_input();
  }
}

void ClientConnection::arm_timer(Millis ms) { ctx_.deadlines.arm(deadline_, static_cast<uint64_t>(ms.count())); }

void ClientConnection::on_timer() {
  if (h2_ && state_ == State::Http2) {
    h2_->on_timer();
    return;
  }
  switch (state_) {
    case State::ReadingHead:
      if (tls_after_proxy_header_ || (tls_ && !tls_->handshake_done())) {
        ctx_.stats.tls_handshake_errors.add();
        close();  // no TLS yet: nothing can be answered
      } else if (proxy_header_) {
        ctx_.stats.proxy_protocol_errors.add();
        close();  // no (complete) PROXY header in time: nothing to answer
      } else if (reading_head()) {
        // Slowloris: a head that never completes.
        respond_error(408, "request header timeout", true);
      } else {
        close();  // idle keep-alive connection
      }
      break;
    case State::Active:
      // The client stopped sending its request body.
      if (!request_complete_) {
        if (exchange_) exchange_->abort();
        close();
      }
      break;
    case State::Lingering:
      close();
      break;
    default:
      break;
  }
}

void ClientConnection::pause_reading(PauseReason why) {
  pause_ |= why;
  update_reading();
}

void ClientConnection::resume_reading(PauseReason why) {
  pause_ &= static_cast<uint8_t>(~why);
  update_reading();
  if (!(pause_ & kPausedPipelined) && !input_.empty() && state_ == State::ReadingHead) process_input();
}

void ClientConnection::update_reading() {
  if (state_ == State::Closing) return;
  bool want = pause_ == 0 && !peer_eof_;
  if (want) stream_.start_read();
  else stream_.stop_read();
}

void ClientConnection::on_stream_read(const ChunkRef& chunk, size_t len) {
  ctx_.stats.bytes_in.add(len);
  if (state_ == State::Lingering) return;  // discard
  if (state_ == State::Active && !request_complete_) arm_timer(ctx_.timeouts.client_idle);
  if (state_ == State::Tunnel) {
    if (exchange_) exchange_->on_client_tunnel_data(chunk, chunk.data(), len);
    return;
  }
  if (state_ == State::Http2) {
    if (h2_) h2_->on_read(chunk, chunk.data(), len);
    return;
  }
  if (proxy_header_) {
    read_proxy_header(chunk, len);
    return;
  }
  input_.push_back(Input{chunk, chunk.data(), len});
  process_input();
}

bool ClientConnection::choose_protocol() {
  if (protocol_chosen_) return state_ != State::Http2;
  if (tls_) {
    protocol_chosen_ = true;
    if (tls_->engine().alpn() == "h2") return start_http2();
    return true;
  }
  if (!http2_) {
    protocol_chosen_ = true;
    return true;
  }
  // h2c with prior knowledge: the client preface, possibly split across reads.
  std::string_view preface = Http2Session::kPreface;
  size_t seen = 0;
  for (const Input& in : input_) {
    size_t n = std::min(in.n, preface.size() - seen);
    if (std::string_view(in.p, n) != preface.substr(seen, n)) {
      protocol_chosen_ = true;  // HTTP/1.1 (or junk, answered as today)
      return true;
    }
    seen += n;
    if (seen == preface.size()) break;
  }
  if (seen < preface.size()) return false;  // a prefix so far: wait for more
  protocol_chosen_ = true;
  return start_http2();
}

bool ClientConnection::start_http2() {
  state_ = State::Http2;
  if (idle_counted_) {
    ctx_.stats.connections_idle.sub();
    idle_counted_ = false;
  }
  deadline_.cancel();
  h2_ = std::make_unique<Http2Session>(ctx_, *this, stream_, tls_ != nullptr);
  if (!h2_->start()) {
    close();
    return false;
  }
  if (ctx_.draining) h2_->drain();  // accepted just before the drain began
  // Everything read so far is the session's (the preface included).
  while (!input_.empty() && state_ == State::Http2) {
    Input in = std::move(input_.front());
    input_.pop_front();
    h2_->on_read(in.chunk, in.p, in.n);
  }
  return false;
}

void ClientConnection::process_input() {
  if (!protocol_chosen_ && state_ == State::ReadingHead && !reading_head() && requests_ == 0 && !choose_protocol())
    return;
  while (!input_.empty() && !parser_paused_ && (state_ == State::ReadingHead || state_ == State::Active)) {
    Input& in = input_.front();
    if (state_ == State::ReadingHead && !reading_head()) {
      // First byte of a new request: the request_header deadline starts now.
      head_start_us_ = now_us();
      take_request_state();
      if (idle_counted_) {
        ctx_.stats.connections_idle.sub();
        idle_counted_ = false;
      }
      arm_timer(ctx_.timeouts.request_header);
    }
    cur_chunk_ = &in.chunk;
    in_feed_ = true;
    auto out = rs_->parser->feed(in.p, in.n);
    in_feed_ = false;
    cur_chunk_ = nullptr;
    // Closing or lingering cleared input_ (and `in` with it) inside feed(): nothing more to parse.
    if (state_ == State::Closing || state_ == State::Lingering) return;
    switch (out.status) {
      case HttpParser::Status::Error:
        if (state_ == State::ReadingHead || state_ == State::Active) {
          if (exchange_ && exchange_->response_head_sent()) {
            // Malformed body mid-request after the response began: nothing can be said; give up
            // both sides.
            exchange_->abort();
            finish_exchange_object();
            close();
            return;
          }
          // Otherwise the upstream (which may have part of the body) is dropped, never pooled,
          // and the client hears why.
          if (exchange_) {
            exchange_->abort();
            finish_exchange_object();
          }
          {
            const HttpParser& parser = *rs_->parser;
            respond_error(parser.error_status() ? parser.error_status() : 400,
                          parser.error_reason().empty() ? "bad request" : parser.error_reason(), true);
          }
        }
        input_.clear();
        return;
      case HttpParser::Status::NeedMore:
        input_.pop_front();
        break;
      case HttpParser::Status::MessageComplete:
      case HttpParser::Status::Upgrade:
        in.p += out.consumed;
        in.n -= out.consumed;
        if (in.n == 0) input_.pop_front();
        if (out.status == HttpParser::Status::Upgrade) parser_paused_ = true;
        break;
    }
    // The exchange finished inside feed(): go on with the next (pipelined) request.
    if (next_request_pending_ && state_ == State::Active) reset_for_next_request();
  }
  if (state_ == State::Closing) return;
  if (parser_paused_ && !input_.empty()) pause_reading(kPausedPipelined);
}

HttpParser::Events::HeadAction ClientConnection::on_head_complete() {
  ctx_.stats.requests.add();
  ++requests_;
  state_ = State::Active;
  request_complete_ = false;
  local_response_ = false;
  // While a request is in progress, a stalled client is cut after client_idle.
  arm_timer(ctx_.timeouts.client_idle);

  RequestHead& req = rs_->head;
  assign_request_id();
  auto framed = decide_request_framing(req, ctx_.limits);
  if (!framed) {
    respond_error(http_status(framed.error().kind), framed.error().message, true);
    return HeadAction::Reject;
  }
  const RouteTablePtr& table = ctx_.table;
  // Over HTTPS, a Host the presented certificate does not serve was meant for another
  // connection (a browser reusing one across names): 421, so the client retries on a new one.
  const Certificate* presented = tls_ ? tls_->presented() : nullptr;
  const Route* route = table ? table->lookup(req.host, routing_path(req.str(req.target))) : nullptr;
  if (tls_ && (presented == nullptr || !presented->covers(req.host))) {
    ctx_.stats.misdirected.add();
    respond_error(421, "the certificate of this connection does not cover this host", req.upgrade);
  } else if (route == nullptr) {
    // A body is read and dropped so the connection stays usable (as for every local answer).
    ctx_.stats.no_route.add();
    respond_error(404, "no route for host", req.upgrade);
  } else {
    exchange_ = std::make_unique<Exchange>(ctx_, *this, req, table, *route, head_start_us_);
    exchange_->start();
  }
  if (state_ == State::Closing || state_ == State::Lingering) return HeadAction::Reject;
  // An upgrade request too is parsed to its end, so a body it carries is forwarded as framed;
  // the parser then pauses, and the bytes after the request become the tunnel's only if the
  // server answers 101 after the whole request (Exchange, http/upgrade.h).
  return HeadAction::Continue;
}

void ClientConnection::assign_request_id() {
  request_id_generated_ = ctx_.assign_request_id(rs_->head, request_id_);
}

void ClientConnection::on_body(const char* at, size_t len) {
  if (exchange_ && cur_chunk_) exchange_->on_request_body(*cur_chunk_, at, len);
}

void ClientConnection::on_message_complete() {
  request_complete_ = true;
  parser_paused_ = true;
  if (state_ == State::Active) arm_timer(ctx_.timeouts.client_idle);
  if (local_response_) {
    // turnout answered this one itself; the connection carries on if it may.
    local_response_ = false;
    on_exchange_done(local_keep_alive_);
    return;
  }
  // The trailer fields stay in the parser, which stays paused until the exchange is over.
  if (exchange_) exchange_->on_request_complete(&rs_->parser->trailers());
}

void ClientConnection::respond_error(int status, std::string_view body, bool close_conn) {
  if (state_ == State::Closing || state_ == State::Lingering) return;
  int idx = local_error_index(status);
  if (idx >= 0) ctx_.stats.local_errors[idx].add();
  ctx_.stats.responses_by_class[status / 100 % 6].add();
  bool keep = !close_conn && rs_ && rs_->head.keep_alive && !ctx_.draining && !peer_eof_;
  std::string out;
  build_error_response(status, body, keep, out);
  ctx_.stats.bytes_out.add(out.size());
  stream_.write_owned(std::move(out));
  stream_.flush();
  // A 502/503/504 for a routed request still names the app (and the server, if one was tried).
  std::string_view app = exchange_ && !exchange_->app_name().empty() ? std::string_view(exchange_->app_name()) : "-";
  std::string_view server =
      exchange_ && !exchange_->server_addr().empty() ? std::string_view(exchange_->server_addr()) : "-";
  log_access(status, 0, app, server, head_start_us_);
  if (exchange_) finish_exchange_object();
  local_response_ = true;
  local_keep_alive_ = keep;
  if (!keep) {
    begin_linger(kLingerTimeout);
    return;
  }
  if (request_complete_) on_exchange_done(true);
}

void ClientConnection::on_exchange_done(bool keep_alive) {
  if (state_ == State::Closing || state_ == State::Lingering) return;
  if (exchange_) {
    log_access(exchange_->status(), exchange_->bytes_sent(),
               exchange_->app_name().empty() ? std::string_view("-") : std::string_view(exchange_->app_name()),
               exchange_->server_addr().empty() ? std::string_view("-") : std::string_view(exchange_->server_addr()),
               exchange_->start_us());
    finish_exchange_object();
  }
  local_response_ = false;
  if (!keep_alive || ctx_.draining || peer_eof_) {
    // The client asked to close and has nothing more in flight: close once the response is out.
    // Otherwise (we chose to close) linger, so a request it is sending cannot reset the answer.
    if (rs_ && !rs_->head.keep_alive && request_complete_ && input_.empty() && !ctx_.draining) {
      state_ = State::Lingering;
      deadline_.cancel();
      stream_.close_after_flush();
      return;
    }
    begin_linger(kLingerTimeout);
    return;
  }
  // Never resume the parser from inside one of its own callbacks: process_input() picks the
  // next request up once feed() has returned.
  next_request_pending_ = true;
  if (!in_feed_) start_next_request();
}

// --- ClientSide: the response in HTTP/1.1 ---

void ClientConnection::forward_context(const Exchange& ex, ForwardContext& out) const {
  out.client_ip = peer_ip_;
  out.trust = forward_trust();
  if (tls_) out.proto = "https";
  if (request_id_generated_) out.request_id = request_id_;
}

void ClientConnection::send_interim(Exchange& ex, const ResponseHead& head) {
  // HTTP/1.1 passes "100 Continue" to a client that asked for it and drops other 1xx.
  if (head.status == 100 && rs_ && rs_->head.expect_continue) {
    stream_.write_static("HTTP/1.1 100 Continue\r\n\r\n", 25);
    stream_.flush();
  }
}

void ClientConnection::send_head(Exchange& ex, const ResponseHead& head) {
  const RequestHead& req = rs_->head;
  bool tunnel = head.status == 101;
  // Framing towards the client: a body of unknown length is chunked for an HTTP/1.1 client so
  // its connection survives; a 1.0 client gets it until close.
  Framing down = head.framing;
  bool client_11 = req.version_major == 1 && req.version_minor >= 1;
  if (head.framing.kind == BodyKind::UntilClose || (head.framing.kind == BodyKind::Chunked && !client_11))
    down.kind = client_11 ? BodyKind::Chunked : BodyKind::UntilClose;
  down_body_ = down.kind;
  response_keep_alive_ = req.keep_alive && !ctx_.draining && !tunnel && down.kind != BodyKind::UntilClose &&
                         !(req.upgrade && !tunnel);
  if (!request_complete_ && !tunnel) {
    // The server answered before the request body was all read (e.g. 413 or 401 on upload):
    // forward its answer, then close rather than read the rest of the body.
    response_keep_alive_ = false;
  }
  std::string& out = ctx_.scratch;
  out.clear();
  build_downstream_response(head, down, req.version_minor, response_keep_alive_, out);
  ctx_.stats.bytes_out.add(out.size());
  stream_.write_small(out.data(), out.size());
}

bool ClientConnection::send_body(Exchange& ex, const ChunkRef& chunk, const char* at, size_t len) {
  write_body(stream_, down_body_ == BodyKind::Chunked, chunk, at, len);
  stream_.flush();
  return !stream_.above_high_watermark();
}

void ClientConnection::send_end(Exchange& ex, const MessageHead* trailers) {
  // Trailers ride in the terminal chunk; a body framed otherwise (until close, for an HTTP/1.0
  // client) has nowhere to carry them and they are dropped.
  if (down_body_ == BodyKind::Chunked) {
    if (trailers && !trailers->headers.empty()) {
      std::string& out = ctx_.scratch;
      out.clear();
      build_last_chunk(trailers, out);
      ctx_.stats.bytes_out.add(out.size());
      stream_.write_small(out.data(), out.size());
    } else {
      stream_.write_small(kLastChunk, kLastChunkLen);
    }
  }
  stream_.flush();
}

void ClientConnection::send_error(Exchange& ex, int status, std::string_view why, bool close_conn) {
  // A failed upgrade, or a request that asked to close, closes.
  bool close = close_conn || !rs_ || !rs_->head.keep_alive || rs_->head.upgrade;
  respond_error(status, why, close);
}

void ClientConnection::exchange_done(Exchange& ex) {
  // A response that ended while the request body was still arriving closes the connection.
  on_exchange_done(response_keep_alive_ && request_complete_);
}

void ClientConnection::start_tunnel(Exchange& ex) {
  stream_.flush();
  enter_tunnel();
}

bool ClientConnection::send_tunnel_data(Exchange& ex, const ChunkRef& chunk, const char* at, size_t len) {
  stream_.write_ref(chunk, at, len);
  stream_.flush();
  return !stream_.above_high_watermark();
}

void ClientConnection::start_next_request() {
  reset_for_next_request();
  if (!input_.empty()) process_input();
}

void ClientConnection::reset_for_next_request() {
  request_id_.clear();
  next_request_pending_ = false;
  state_ = State::ReadingHead;
  request_complete_ = false;
  parser_paused_ = false;
  if (input_.empty()) {
    return_request_state();  // idle until the next request: keep nothing
  } else if (rs_) {
    // Pipelined input waits: the same parser goes on with it.
    rs_->head.clear();
    rs_->parser->resume();
  }
  ctx_.stats.connections_idle.add();
  idle_counted_ = true;
  arm_timer(ctx_.timeouts.client_idle);
  pause_ &= static_cast<uint8_t>(~kPausedPipelined);
  update_reading();
}

void ClientConnection::take_request_state() {
  if (!rs_) rs_ = ctx_.take_request_state(this);
}

void ClientConnection::return_request_state() {
  if (rs_) ctx_.return_request_state(std::move(rs_));
}

void ClientConnection::finish_exchange_object() {
  if (exchange_) ctx_.defer_delete(std::move(exchange_));
}

void ClientConnection::enter_tunnel() {
  state_ = State::Tunnel;
  deadline_.cancel();
  pause_ = 0;
  // Bytes the client sent after its upgrade request go first.
  while (!input_.empty() && exchange_) {
    Input in = std::move(input_.front());
    input_.pop_front();
    exchange_->on_client_tunnel_data(in.chunk, in.p, in.n);
  }
  update_reading();
}

void ClientConnection::abort_connection() {
  if (exchange_) finish_exchange_object();
  close();
}

void ClientConnection::begin_linger(Millis timeout) {
  // Half-close after the response is written, then read (and drop) whatever the client still
  // sends until it closes: closing with unread input would reset the connection and could
  // destroy the response before the client read it.
  if (state_ == State::Closing) return;
  state_ = State::Lingering;
  input_.clear();
  pause_ = 0;
  stream_.shutdown_after_flush();
  arm_timer(timeout);
  update_reading();
}

void ClientConnection::drain() {
  if (h2_ && state_ == State::Http2) {
    h2_->drain();  // two-step GOAWAY; closes once the open streams are done
    return;
  }
  // Closing an idle keep-alive connection races with a request the client may be sending right
  // now (it would fail). So an idle connection gets a short grace: a request arriving in it is
  // answered with "Connection: close" and the client reconnects (to the new process, on an
  // upgrade); one that stays silent is closed when the grace ends.
  if (state_ == State::ReadingHead && !reading_head()) arm_timer(kDrainIdleGrace);
  // An active exchange sees ctx_.draining when it builds the response head (Connection: close).
}

bool ClientConnection::idle() const {
  if (h2_ && state_ == State::Http2) return h2_->idle();
  return state_ == State::ReadingHead && !reading_head();
}

bool ClientConnection::has_exchange_for(std::string_view host, std::string_view app) const {
  if (h2_) return h2_->has_exchange_for(host, app);
  return exchange_ && exchange_->route_host() == host && exchange_->app_name() == app;
}

void ClientConnection::on_stream_end(int status) {
  peer_eof_ = true;
  if (tls_ && !tls_->handshake_done()) {
    // Plain HTTP, garbage or a failed handshake on an HTTPS port: nothing was read as HTTP, so
    // nothing is answered or forwarded; the connection is all it costs.
    ctx_.stats.tls_handshake_errors.add();
    TLOG_DEBUG("TLS handshake failed", "peer={} error={}", peer_ip_, log_quote(tls_->engine().error()));
    close();
    return;
  }
  if (state_ == State::Lingering || state_ == State::Http2) {
    close();  // HTTP/2: a client that closes its side has nothing more to ask or to read
    return;
  }
  if (state_ == State::Tunnel) {
    if (exchange_) exchange_->on_client_tunnel_end();
    return;
  }
  if (state_ == State::Active && request_complete_ && status == UV_EOF && exchange_) {
    // Half-closed after a complete request: still deliver the response, then close.
    return;
  }
  if (exchange_) exchange_->abort();
  close();
}

void ClientConnection::on_stream_drained() {
  if (h2_ && state_ == State::Http2) {
    h2_->on_drained();
    return;
  }
  if (exchange_) exchange_->on_client_drained();
}

void ClientConnection::on_stream_write_error(int status) {
  (void)status;
  if (exchange_) exchange_->abort();
  close();
}

void ClientConnection::close() {
  if (state_ == State::Closing) return;
  if (exchange_) {
    exchange_->abort();
    finish_exchange_object();
  }
  if (h2_) h2_->shutdown();
  if (idle_counted_) {
    ctx_.stats.connections_idle.sub();
    idle_counted_ = false;
  }
  state_ = State::Closing;
  input_.clear();
  deadline_.cancel();
  if (pending_closes_ == 0) {
    // The socket never got a handle (open() failed early): nothing to wait for. Freed here, so
    // this must be the last thing close() does.
    ++pending_closes_;
    handle_closed();
    return;
  }
  stream_.close();
}

void ClientConnection::on_stream_closed() {
  // The stream may close by itself (close_after_flush): then the rest of the connection follows.
  if (state_ != State::Closing) close();
  handle_closed();
}

void ClientConnection::handle_closed() {
  if (--pending_closes_ == 0) {
    // Unlink from the worker and free: the socket's handle is closed.
    ctx_.unlink_client(this);
    ProxyContext& ctx = ctx_;
    delete this;
    if (ctx.on_client_closed) ctx.on_client_closed();
  }
}

void ClientConnection::log_access(int status, uint64_t bytes, std::string_view app, std::string_view upstream,
                                  uint64_t start_us) {
  if (!access_log_enabled()) return;
  AccessRecord rec;
  rec.client = peer_ip_;
  if (rs_) {
    const RequestHead& req = rs_->head;
    rec.method = req.str(req.method_name);
    rec.target = req.str(req.target);
    rec.host = req.host;
  }
  rec.status = status;
  rec.bytes = bytes;
  rec.app = app;
  rec.upstream = upstream;
  rec.duration_us = start_us ? now_us() - start_us : 0;
  rec.request_id = request_id_;
  AccessLog::write(ctx_, rec);
}

}  // namespace turnout
