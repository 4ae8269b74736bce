#include "turnout/proxy/http2_session.h"

#include <llhttp.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "turnout/common/log.h"
#include "turnout/http/error_status.h"
#include "turnout/http/host.h"
#include "turnout/http/rewrite.h"
#include "turnout/net/stream.h"
#include "turnout/proxy/access_log.h"
#include "turnout/proxy/client_conn.h"

namespace turnout {

namespace {

constexpr size_t kMaxFreeStreams = 16;       // recycled stream objects kept per session
constexpr Millis kGoawayStep{1000};          // between the shutdown notice and the final GOAWAY
constexpr uint32_t kMaxContinuations = 8;    // CONTINUATION frames per header block
constexpr uint64_t kResetBurst = 1000;       // RST_STREAM by the client: burst...
constexpr uint64_t kResetRate = 33;          // ...and per second (nghttp2's defaults, CVE-2023-44487)

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  nghttp2_nv nv;
  nv.name = reinterpret_cast<uint8_t*>(const_cast<char*>(name.data()));
  nv.value = reinterpret_cast<uint8_t*>(const_cast<char*>(value.data()));
  nv.namelen = name.size();
  nv.valuelen = value.size();
  // nghttp2 copies both at submit time; lowercase names are ours to guarantee (h2_headers.h).
  nv.flags = NGHTTP2_NV_FLAG_NONE;
  return nv;
}

}  // namespace

// nghttp2 calls these with the session as user_data.
struct Http2Callbacks {
  static Http2Session& self(void* p) { return *static_cast<Http2Session*>(p); }

  static ssize_t send(nghttp2_session*, const uint8_t* data, size_t len, int, void* u) {
    Http2Session& s = self(u);
    // Frame bytes are only valid during the call: copied into the stream's pooled tail chunk.
    s.out_.write_small(reinterpret_cast<const char*>(data), len);
    s.ctx_.stats.bytes_out.add(len);
    return static_cast<ssize_t>(len);
  }

  // DATA without a copy: the frame header here, the payload from the stream's queued spans.
  static int send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd, size_t length,
                       nghttp2_data_source* source, void* u) {
    Http2Session& s = self(u);
    auto* st = static_cast<Http2Stream*>(source->ptr);
    s.out_.write_small(reinterpret_cast<const char*>(framehd), 9);
    s.ctx_.stats.bytes_out.add(9);
    size_t left = length;
    while (left > 0 && !st->out.empty()) {
      Http2Stream::Segment& seg = st->out.front();
      size_t n = std::min(left, seg.n);
      s.out_.write_ref(seg.chunk, seg.p, n);
      seg.p += n;
      seg.n -= n;
      left -= n;
      st->out_bytes -= n;
      if (seg.n == 0) st->out.pop_front();
    }
    // Every DATA frame we send earns back a little of the client's budget: the WINDOW_UPDATEs
    // that answer a large download are not abuse.
    s.budget_ = std::min(Http2Session::kFrameBurst, s.budget_ + 2);  // stream + connection
    return 0;
  }

  static ssize_t read_data(nghttp2_session* session, int32_t id, uint8_t*, size_t length, uint32_t* flags,
                           nghttp2_data_source* source, void* u) {
    Http2Session& s = self(u);
    auto* st = static_cast<Http2Stream*>(source->ptr);
    size_t n = std::min(length, st->out_bytes);
    if (n == 0 && !st->response_ended) {
      st->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (st->response_ended && n == st->out_bytes) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!st->trailers.empty()) {
        s.nva_.clear();
        for (auto& [k, v] : st->trailers) s.nva_.push_back(make_nv(k, v));
        if (nghttp2_submit_trailer(session, id, s.nva_.data(), s.nva_.size()) == 0)
          *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
    return static_cast<ssize_t>(n);
  }

  static int begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* u) {
    Http2Session& s = self(u);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      Http2Stream* st = s.new_stream(frame->hd.stream_id);
      nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, st);
      st->headers_open = true;
      if (s.headers_open_++ == 0) s.update_timer();
    } else if (Http2Stream* st = s.stream_of(frame->hd.stream_id)) {
      // A second HEADERS block on a request stream: its trailers (nghttp2 has checked that it
      // ends the stream).
      st->in_trailers = true;
      st->trailer_builder.begin(&st->request_trailers, &s.ctx_.limits, st->builder.block_bytes(),
                                st->builder.field_count());
    }
    return 0;
  }

  static int header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                    const uint8_t* value, size_t valuelen, uint8_t, void* u) {
    Http2Session& s = self(u);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Http2Stream* st = s.stream_of(frame->hd.stream_id);
    if (!st) return 0;
    if (st->in_trailers) {
      st->trailer_builder.add(std::string_view(reinterpret_cast<const char*>(name), namelen),
                              std::string_view(reinterpret_cast<const char*>(value), valuelen));
      return 0;
    }
    st->builder.add(std::string_view(reinterpret_cast<const char*>(name), namelen),
                    std::string_view(reinterpret_cast<const char*>(value), valuelen));
    return 0;
  }

  static int frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* u) {
    Http2Session& s = self(u);
    const bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    switch (frame->hd.type) {
      case NGHTTP2_DATA: {
        // Empty DATA that does not end the stream does nothing but cost us a frame.
        if (frame->hd.length == 0 && !end_stream && !s.spend(1)) return 0;
        if (end_stream) {
          if (Http2Stream* st = s.stream_of(frame->hd.stream_id)) s.request_complete(st);
        }
        return 0;
      }
      case NGHTTP2_HEADERS: {
        Http2Stream* st = s.stream_of(frame->hd.stream_id);
        if (!st) return 0;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST && st->headers_open) {
          st->headers_open = false;
          --s.headers_open_;
          s.update_timer();
          s.start_request(st, end_stream);
        } else if (end_stream) {
          st->in_trailers = false;
          if (s.check_trailers(st)) s.request_complete(st);
        }
        return 0;
      }
      case NGHTTP2_PING:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) s.spend(1);
        return 0;
      case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) s.spend(1);
        return 0;
      case NGHTTP2_PRIORITY:
      case NGHTTP2_WINDOW_UPDATE:
        s.spend(1);
        return 0;
      case NGHTTP2_RST_STREAM:
        // Twice the price: a rapid reset (CVE-2023-44487) trips this budget at 500 and gets
        // ENHANCE_YOUR_CALM, before nghttp2's own limit (1,000, then GOAWAY INTERNAL_ERROR).
        s.spend(2);
        return 0;
      default:
        return 0;
    }
  }

  // PRIORITY and RST_STREAM for streams nghttp2 no longer (or never) tracks still cost.
  static int invalid_frame_recv(nghttp2_session*, const nghttp2_frame* frame, int, void* u) {
    self(u).spend(1);
    return 0;
  }

  static int data_chunk_recv(nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data, size_t len,
                             void* u) {
    Http2Session& s = self(u);
    Http2Stream* st = s.stream_of(id);
    if (!st || !st->ex || st->request_complete || s.cur_chunk_ == nullptr) {
      // Nobody takes these bytes (answered already, or reset): the window is given back at once.
      nghttp2_session_consume(session, id, len);
      return 0;
    }
    st->body_received += len;
    Exchange* ex = st->ex.get();
    ex->on_request_body(*s.cur_chunk_, reinterpret_cast<const char*>(data), len);
    // The exchange may have ended (413) or paused inside the call.
    if (st->paused && st->ex)
      st->unconsumed += len;
    else
      nghttp2_session_consume(session, id, len);
    return 0;
  }

  static int frame_send(nghttp2_session* session, const nghttp2_frame* frame, void*) {
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
    if (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) return 0;
    // The response is complete while the request body still comes (an early answer, 413...):
    // RFC 9113 8.1 — tell the client to stop sending it.
    if (nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0)
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    return 0;
  }

  static int stream_close(nghttp2_session* session, int32_t id, uint32_t, void* u) {
    Http2Session& s = self(u);
    Http2Stream* st = s.stream_of(id);
    if (!st) return 0;
    nghttp2_session_set_stream_user_data(session, id, nullptr);
    s.release_stream(st);
    return 0;
  }
};

Http2Session::Http2Session(ProxyContext& ctx, ClientConnection& conn, Stream& out, bool tls)
    : ctx_(ctx), conn_(conn), out_(out), tls_(tls) {}

Http2Session::~Http2Session() {
  ctx_.cancel_flush(this);
  shutdown();
  if (session_) nghttp2_session_del(session_);  // calls no stream-close callback: the streams go here
  for (Http2Stream* st : active_) delete st;
}

namespace {

// The callbacks and options are the same for every session: built once per process. nghttp2
// copies both into a session when it creates it and never writes them, so workers share them.
struct Http2Setup {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_option* opt = nullptr;
  Http2Setup() {
    if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0) return;
    nghttp2_session_callbacks_set_send_callback(cbs, Http2Callbacks::send);
    nghttp2_session_callbacks_set_send_data_callback(cbs, Http2Callbacks::send_data);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, Http2Callbacks::begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, Http2Callbacks::header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, Http2Callbacks::frame_recv);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, Http2Callbacks::invalid_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, Http2Callbacks::data_chunk_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, Http2Callbacks::frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, Http2Callbacks::stream_close);
    // The request body window is ours to give back (backpressure), not nghttp2's.
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
#ifdef TURNOUT_HAVE_NGHTTP2_RESET_RATE
    nghttp2_option_set_stream_reset_rate_limit(opt, kResetBurst, kResetRate);
#endif
#ifdef TURNOUT_HAVE_NGHTTP2_MAX_CONTINUATIONS
    nghttp2_option_set_max_continuations(opt, kMaxContinuations);
#endif
  }
};

const Http2Setup& http2_setup() {
  static const Http2Setup setup;
  return setup;
}

}  // namespace

bool Http2Session::start() {
  const Http2Setup& setup = http2_setup();
  if (setup.cbs == nullptr || setup.opt == nullptr) return false;
  int rc = nghttp2_session_server_new2(&session_, setup.cbs, this, setup.opt);
  if (rc != 0) {
    session_ = nullptr;
    return false;
  }
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, ctx_.limits.h2_max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, ctx_.limits.max_header_bytes},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, static_cast<int32_t>(kConnectionWindow));
  budget_at_ms_ = uv_now(ctx_.loop);
  ctx_.stats.h2_connections.add();
  ctx_.stats.h2_connections_active.add();
  update_timer();
  schedule_flush();
  return true;
}

void Http2Session::on_read(const ChunkRef& chunk, const char* p, size_t n) {
  if (dead_ || closing_ || !session_) return;
  cur_chunk_ = &chunk;
  ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(p), n);
  cur_chunk_ = nullptr;
  if (dead_) return;
  if (rv < 0) {
    TLOG_DEBUG("HTTP/2 connection error", "peer={} error={}", conn_.peer_ip(), nghttp2_strerror(static_cast<int>(rv)));
    if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
      conn_.close();  // not HTTP/2 at all: nothing to say
      return;
    }
    terminate(rv == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
    return;
  }
  // A client that keeps sending while not reading what we send waits until it does.
  if (out_.above_high_watermark()) out_.stop_read();
  update_timer();  // a request body that moved re-arms its stall deadline
  schedule_flush();
}

void Http2Session::on_drained() {
  if (dead_) return;
  if (!closing_) out_.start_read();
  unblock_streams();
  schedule_flush();
}

void Http2Session::schedule_flush() {
  if (!dead_) ctx_.defer_flush(this);
}

void Http2Session::flush() {
  if (dead_ || !session_) return;
  int rv = nghttp2_session_send(session_);
  out_.flush();
  if (rv != 0) {
    conn_.close();
    return;
  }
  if (closing_ || (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_))) {
    // GOAWAY sent and nothing left open: the connection ends once the bytes are out, and the
    // client gets to read them before it sees the close. A flooding client that does not read
    // has the GOAWAY stuck behind the answers it left unread (its receive window is shut): it
    // reads it if it reads within kGoawayLinger; until then its input is dropped unparsed.
    dead_ = true;
    shutdown();
    conn_.linger(kGoawayLinger);
    return;
  }
  unblock_streams();
}

void Http2Session::unblock_streams() {
  if (blocked_.empty() || out_.above_high_watermark()) return;
  // on_client_drained may end exchanges (and so change blocked_): walk a snapshot by index.
  for (size_t i = 0; i < blocked_.size();) {
    Http2Stream* st = blocked_[i];
    if (st->out_bytes > kStreamOutLow) {
      ++i;
      continue;
    }
    st->blocked = false;
    blocked_.erase(blocked_.begin() + static_cast<ptrdiff_t>(i));
    if (st->ex) st->ex->on_client_drained();
  }
}

bool Http2Session::spend(double n) {
  uint64_t now = uv_now(ctx_.loop);
  budget_ = std::min(kFrameBurst, budget_ + static_cast<double>(now - budget_at_ms_) * kFramesPerSecond / 1000.0);
  budget_at_ms_ = now;
  budget_ -= n;
  if (budget_ >= 0) return true;
  if (!closing_) {
    ctx_.stats.h2_goaway_calm.add();
    TLOG_INFO("HTTP/2 connection closed for a frame flood", "peer={}", conn_.peer_ip());
    terminate(NGHTTP2_ENHANCE_YOUR_CALM);
  }
  return false;
}

void Http2Session::terminate(uint32_t error_code) {
  if (closing_ || dead_ || !session_) return;
  closing_ = true;
  nghttp2_session_terminate_session(session_, error_code);
  // Stop reading: whatever else the client sends is not looked at.
  out_.stop_read();
  schedule_flush();
}

void Http2Session::update_timer() {
  if (dead_ || drain_step_ == 1) return;  // the final GOAWAY's timer stays armed
  if (headers_open_ > 0) {
    // A header block still open after request_header: the connection is cut (on_timer). Armed
    // when the first open block began, not moved by later ones.
    if (!header_timer_) {
      header_timer_ = true;
      conn_.arm_timer(ctx_.timeouts.request_header);
    }
    return;
  }
  header_timer_ = false;
  // Idle (no stream), or a request body that stopped arriving: client_idle, as in HTTP/1.1.
  // Streams whose requests are complete wait on their servers' timeouts, not on this one.
  if (active_.empty() || bodies_open_ > 0)
    conn_.arm_timer(ctx_.timeouts.client_idle);
  else
    conn_.deadline_.cancel();
}

void Http2Session::on_timer() {
  if (dead_ || !session_) return;
  if (drain_step_ == 1) {
    drain_step_ = 2;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    update_timer();
    flush();
    return;
  }
  if (headers_open_ > 0) {
    TLOG_DEBUG("HTTP/2 header block timeout", "peer={}", conn_.peer_ip());
    terminate(NGHTTP2_ENHANCE_YOUR_CALM);
    return;
  }
  if (active_.empty()) {
    terminate(NGHTTP2_NO_ERROR);  // idle past client_idle
    return;
  }
  // Request bodies stalled for client_idle: those streams are cancelled, the others go on.
  std::vector<Http2Stream*> stalled;
  for (Http2Stream* st : active_)
    if (!st->request_complete && st->ex) stalled.push_back(st);
  for (Http2Stream* st : stalled) reset_stream(st, NGHTTP2_CANCEL);
  update_timer();
}

void Http2Session::drain() {
  if (dead_ || closing_ || !session_ || drain_step_ != 0) return;
  // Step one: the client learns no new streams are wanted, while the streams it is opening right
  // now are still taken; step two (after kGoawayStep) names the last one processed.
  nghttp2_submit_shutdown_notice(session_);
  drain_step_ = 1;
  header_timer_ = false;
  conn_.arm_timer(kGoawayStep);
  schedule_flush();
}

void Http2Session::shutdown() {
  for (Http2Stream* st : active_) {
    if (st->ex) {
      st->ex->abort();
      finish_exchange(st);
    }
  }
  blocked_.clear();
  dead_ = true;
  if (session_ && !counted_down_) {
    counted_down_ = true;
    ctx_.stats.h2_connections_active.sub();
  }
}

bool Http2Session::has_exchange_for(std::string_view host, std::string_view app) const {
  for (Http2Stream* st : active_)
    if (st->ex && st->ex->route_host() == host && st->ex->app_name() == app) return true;
  return false;
}

Http2Stream* Http2Session::find(const Exchange& ex) const {
  // Set when the stream took the exchange, cleared when it let it go (finish_exchange).
  return static_cast<Http2Stream*>(ex.client_data());
}

void Http2Session::track_body(Http2Stream* st) {
  bool open = st->ex && !st->request_complete;
  if (open == st->body_open) return;
  st->body_open = open;
  if (open)
    ++bodies_open_;
  else
    --bodies_open_;
}

Http2Stream* Http2Session::stream_of(int32_t id) const {
  return session_ ? static_cast<Http2Stream*>(nghttp2_session_get_stream_user_data(session_, id)) : nullptr;
}

Http2Stream* Http2Session::new_stream(int32_t id) {
  std::unique_ptr<Http2Stream> st;
  if (!free_.empty()) {
    st = std::move(free_.back());
    free_.pop_back();
  } else {
    st = std::make_unique<Http2Stream>();
  }
  st->id = id;
  st->start_us = now_us();
  st->builder.begin(&st->head, &ctx_.limits);
  ctx_.stats.h2_streams.add();
  st->slot = active_.size();
  active_.push_back(st.release());
  update_timer();
  return active_.back();
}

void Http2Session::release_stream(Http2Stream* st) {
  if (st->ex) {
    // Reset by the client (or the connection) mid-exchange: the server's side is dropped.
    st->ex->abort();
    finish_exchange(st);
  }
  if (st->headers_open) {
    st->headers_open = false;
    --headers_open_;
  }
  if (st->blocked) blocked_.erase(std::remove(blocked_.begin(), blocked_.end(), st), blocked_.end());
  // O(1): the last stream takes this one's slot.
  Http2Stream* last = active_.back();
  active_[st->slot] = last;
  last->slot = st->slot;
  active_.pop_back();
  st->reset();
  if (free_.size() < kMaxFreeStreams && st->head.storage.capacity() <= ProxyContext::kMaxPooledHeadBytes &&
      st->request_trailers.storage.capacity() <= ProxyContext::kMaxPooledHeadBytes)
    free_.emplace_back(st);
  else
    delete st;
  update_timer();
}

void Http2Session::finish_exchange(Http2Stream* st) {
  if (!st->ex) return;
  st->ex->set_client_data(nullptr);  // calls it still makes find no stream
  ctx_.defer_delete(std::move(st->ex));
  track_body(st);
}

void Http2Session::assign_request_id(Http2Stream* st) {
  st->request_id_generated = ctx_.assign_request_id(st->head, st->request_id);
}

void Http2Session::start_request(Http2Stream* st, bool end_stream) {
  ctx_.stats.requests.add();
  H2HeadError err = st->builder.finish(end_stream);
  if (err == H2HeadError::Malformed) {
    TLOG_DEBUG("HTTP/2 malformed request", "peer={} stream={} error={}", conn_.peer_ip(), st->id,
               st->builder.error_reason());
    reset_stream(st, NGHTTP2_PROTOCOL_ERROR);
    return;
  }
  assign_request_id(st);
  if (end_stream) st->request_complete = true;
  if (err == H2HeadError::Respond) {
    respond_local(st, st->builder.error_status(), st->builder.error_reason());
    return;
  }
  // The table in force now: a stream opened after an acknowledged change sees it.
  const RouteTablePtr& table = ctx_.table;
  const RequestHead& req = st->head;
  const TlsTransport* tls = conn_.tls_.get();
  const Certificate* presented = tls ? tls->presented() : nullptr;
  const Route* route = table ? table->lookup(req.host, routing_path(req.str(req.target))) : nullptr;
  if (tls && (presented == nullptr || !presented->covers(req.host))) {
    // A connection reused for a name its certificate does not cover (RFC 9113 9.1.1).
    ctx_.stats.misdirected.add();
    respond_local(st, 421, "the certificate of this connection does not cover this host");
    return;
  }
  if (route == nullptr) {
    ctx_.stats.no_route.add();
    respond_local(st, 404, "no route for host");
    return;
  }
  st->ex = std::make_unique<Exchange>(ctx_, *this, st->head, table, *route, st->start_us);
  st->ex->set_client_data(st);
  track_body(st);
  st->ex->start();
  if (st->ex && st->request_complete) st->ex->on_request_complete();
}

void Http2Session::request_complete(Http2Stream* st) {
  if (st->request_complete) return;
  st->request_complete = true;
  track_body(st);
  if (st->builder.has_content_length() && st->body_received != st->builder.content_length()) {
    // RFC 9113 8.1.1: DATA that does not add up to content-length is malformed.
    reset_stream(st, NGHTTP2_PROTOCOL_ERROR);
    return;
  }
  // Trailers go upstream in the terminal chunk if the request is sent chunked (no
  // content-length); the exchange drops them otherwise.
  if (st->ex) st->ex->on_request_complete(&st->request_trailers);
}

bool Http2Session::check_trailers(Http2Stream* st) {
  H2HeadError err = st->trailer_builder.error();
  if (err == H2HeadError::None) return true;
  TLOG_DEBUG("HTTP/2 request trailers refused", "peer={} stream={} error={}", conn_.peer_ip(), st->id,
             st->trailer_builder.error_reason());
  st->request_complete = true;  // the block ended the stream
  track_body(st);
  if (err == H2HeadError::Respond && !st->response_started) {
    // Over a limit, as a head would be: 431 on the stream; the server's side is dropped.
    respond_local(st, 431, st->trailer_builder.error_reason());
    if (st->ex) {
      st->ex->abort();
      finish_exchange(st);
    }
    return false;
  }
  // RFC 9113 8.1.1: a malformed trailer block is a stream error of type PROTOCOL_ERROR.
  reset_stream(st, err == H2HeadError::Malformed ? NGHTTP2_PROTOCOL_ERROR : NGHTTP2_INTERNAL_ERROR);
  return false;
}

void Http2Session::reset_stream(Http2Stream* st, uint32_t error_code) {
  if (st->ex) {
    st->ex->abort();
    finish_exchange(st);
  }
  if (session_) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, st->id, error_code);
  schedule_flush();
}

void Http2Session::submit_head(Http2Stream* st, int status,
                               const std::vector<std::pair<std::string_view, std::string_view>>& fields,
                               bool has_body) {
  nva_.clear();
  for (auto& [k, v] : fields) nva_.push_back(make_nv(k, v));
  nghttp2_data_provider prov;
  prov.source.ptr = st;
  prov.read_callback = Http2Callbacks::read_data;
  st->status = status;
  st->response_started = true;
  nghttp2_submit_response(session_, st->id, nva_.data(), nva_.size(), has_body ? &prov : nullptr);
  schedule_flush();
}

void Http2Session::respond_local(Http2Stream* st, int status, std::string_view why) {
  int idx = local_error_index(status);
  if (idx >= 0) ctx_.stats.local_errors[idx].add();
  ctx_.stats.responses_by_class[status / 100 % 6].add();
  // The body is copied into a pooled chunk and sent like a server's (NO_COPY DATA).
  std::string& text = ctx_.scratch;
  text.assign(why.substr(0, 1024));  // our own short reasons
  text.push_back('\n');
  size_t n = text.size();
  ChunkRef chunk(ctx_.chunks.acquire());
  std::memcpy(chunk.data(), text.data(), n);
  st->out.push_back(Http2Stream::Segment{chunk, chunk.data(), n});
  st->out_bytes = n;
  st->response_ended = true;
  char len[24];
  auto r = std::to_chars(len, len + sizeof len, n);
  char code[8];
  auto c = std::to_chars(code, code + sizeof code, status);
  fields_.clear();
  fields_.emplace_back(":status", std::string_view(code, static_cast<size_t>(c.ptr - code)));
  fields_.emplace_back("content-type", "text/plain; charset=utf-8");
  fields_.emplace_back("content-length", std::string_view(len, static_cast<size_t>(r.ptr - len)));
  bool head_only = st->head.method == HTTP_HEAD;
  if (head_only) {
    st->out.clear();
    st->out_bytes = 0;
  }
  submit_head(st, status, fields_, !head_only);
  std::string_view app = "-", server = "-";
  if (st->ex) {
    if (!st->ex->app_name().empty()) app = st->ex->app_name();
    if (!st->ex->server_addr().empty()) server = st->ex->server_addr();
  }
  log_access(st, status, 0, app, server);
}

void Http2Session::log_access(Http2Stream* st, int status, uint64_t bytes, std::string_view app,
                              std::string_view upstream) {
  if (!access_log_enabled()) return;
  AccessRecord rec;
  rec.client = conn_.peer_ip();
  const RequestHead& req = st->head;
  rec.method = req.str(req.method_name);
  rec.target = req.str(req.target);
  rec.host = req.host;
  rec.protocol = "h2";
  rec.status = status;
  rec.bytes = bytes;
  rec.app = app;
  rec.upstream = upstream;
  rec.duration_us = st->start_us ? now_us() - st->start_us : 0;
  rec.request_id = st->request_id;
  AccessLog::write(ctx_, rec);
}

// --- ClientSide ---

void Http2Session::forward_context(const Exchange& ex, ForwardContext& out) const {
  out.client_ip = conn_.peer_ip();
  out.trust = conn_.forward_trust();
  if (tls_) out.proto = "https";
  if (Http2Stream* st = find(ex); st && st->request_id_generated) out.request_id = st->request_id;
}

void Http2Session::pause_request_body(Exchange& ex) {
  if (Http2Stream* st = find(ex)) st->paused = true;
}

void Http2Session::resume_request_body(Exchange& ex) {
  Http2Stream* st = find(ex);
  if (!st) return;
  st->paused = false;
  if (st->unconsumed > 0 && session_ && !dead_) {
    nghttp2_session_consume(session_, st->id, st->unconsumed);
    st->unconsumed = 0;
    schedule_flush();  // the WINDOW_UPDATE
  }
}

void Http2Session::send_interim(Exchange& ex, const ResponseHead& head) {
  Http2Stream* st = find(ex);
  if (!st || dead_ || head.status == 101) return;
  build_h2_response_fields(head, Framing{}, field_storage_, fields_);
  nva_.clear();
  for (auto& [k, v] : fields_) nva_.push_back(make_nv(k, v));
  nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, st->id, nullptr, nva_.data(), nva_.size(), nullptr);
  schedule_flush();
}

void Http2Session::send_head(Exchange& ex, const ResponseHead& head) {
  Http2Stream* st = find(ex);
  if (!st || dead_) return;
  // A body of unknown length (chunked, until close) is just DATA until END_STREAM.
  build_h2_response_fields(head, head.framing, field_storage_, fields_);
  submit_head(st, head.status, fields_, head.framing.kind != BodyKind::None);
  if (head.framing.kind == BodyKind::None) st->response_ended = true;
}

bool Http2Session::send_body(Exchange& ex, const ChunkRef& chunk, const char* at, size_t len) {
  Http2Stream* st = find(ex);
  if (!st || dead_) return true;
  if (len > 0) {
    st->out.push_back(Http2Stream::Segment{chunk, at, len});
    st->out_bytes += len;
    st->bytes_sent += len;
  }
  if (st->deferred) {
    st->deferred = false;
    nghttp2_session_resume_data(session_, st->id);
  }
  schedule_flush();
  if (st->out_bytes > kStreamOutHigh || out_.above_high_watermark()) {
    if (!st->blocked) {
      st->blocked = true;
      blocked_.push_back(st);
    }
    return false;
  }
  return true;
}

void Http2Session::send_end(Exchange& ex, const MessageHead* trailers) {
  Http2Stream* st = find(ex);
  if (!st || dead_) return;
  if (trailers && !trailers->headers.empty()) build_h2_trailer_fields(*trailers, st->trailer_storage, st->trailers);
  st->response_ended = true;
  if (st->deferred) {
    st->deferred = false;
    nghttp2_session_resume_data(session_, st->id);
  }
  schedule_flush();
}

void Http2Session::send_error(Exchange& ex, int status, std::string_view why, bool close) {
  Http2Stream* st = find(ex);
  if (!st || dead_) return;
  // The stream ends with the answer whatever `close` says: the connection carries on.
  respond_local(st, status, why);
  finish_exchange(st);
}

void Http2Session::exchange_done(Exchange& ex) {
  Http2Stream* st = find(ex);
  if (!st) return;
  log_access(st, ex.status(), ex.bytes_sent(), ex.app_name().empty() ? std::string_view("-") : ex.app_name(),
             ex.server_addr().empty() ? std::string_view("-") : ex.server_addr());
  finish_exchange(st);
}

void Http2Session::abort(Exchange& ex) {
  Http2Stream* st = find(ex);
  if (!st) return;
  finish_exchange(st);
  if (session_ && !dead_) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
  schedule_flush();
}

}  // namespace turnout
