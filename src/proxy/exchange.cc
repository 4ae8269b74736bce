#include "turnout/proxy/exchange.h"

#include <llhttp.h>

#include <algorithm>
#include <cassert>

#include "turnout/common/block_cache.h"
#include "turnout/common/log.h"
#include "turnout/http/framing.h"
#include "turnout/http/rewrite.h"
#include "turnout/http/upgrade.h"
#include "turnout/proxy/body_writer.h"
#include "turnout/route/route_rules.h"

namespace turnout {

namespace {
constexpr size_t kMaxAttempts = 2;  // the first try plus one retry on another server

}  // namespace

Exchange::Exchange(ProxyContext& ctx, ClientSide& client, const RequestHead& request, RouteTablePtr table,
                   const Route& route, uint64_t start_us)
    : ctx_(ctx),
      client_(&client),
      req_(&request),
      table_(std::move(table)),
      route_(&route),
      route_host_(route.host),
      start_us_(start_us) {
  upgrade_ = request.upgrade;
  up_framing_ = request.framing;
  // Rules are read once, here; a route without rules reads no header.
  if (route.has_rules) admitted_ = admitted_entries(route, request);
}

void* Exchange::operator new(size_t size) {
  assert(size == sizeof(Exchange));  // final: no larger derived class
  (void)size;
  return ThreadBlockCache<sizeof(Exchange)>::take();
}

void Exchange::operator delete(void* p) { ThreadBlockCache<sizeof(Exchange)>::give(p); }

Exchange::~Exchange() {
  count_end(false);
  if (!app_name_.empty()) {
    ctx_.count_traffic(route_host_, app_name_, static_cast<size_t>(status_ / 100 % 6), latency_us_);
  }
  // Never holds a lease past abort()/release; a stray one is closed, not pooled.
  if (up_) {
    up_->detach();
    up_->close();
  }
}

bool Exchange::usable(const Server& server) const {
  if (std::find(tried_.begin(), tried_.end(), &server) != tried_.end()) return false;
  return ctx_.server_up(server.addr);
}

void Exchange::start() {
  if (admitted_ == 0) {
    // Every entry of the route has a rule and the request meets none: nobody serves it.
    fail_with(404, "no route for this request");
    return;
  }
  attempt();
}

void Exchange::count_start() {
  counters_ = &ctx_.server_counters(server_->addr);
  ++counters_->requests;
  ++counters_->in_flight;
}

void Exchange::count_end(bool failed) {
  if (!counters_) return;
  --counters_->in_flight;
  if (failed) ++counters_->failures;
  counters_ = nullptr;
}

void Exchange::attempt() {
  ++attempts_;
  auto pick = ctx_.balancer.pick(*table_, *route_, *this, admitted_);
  if (pick.server == nullptr) {
    if (!tried_.empty()) fail_with(502, "upstream connect failed");
    else fail_with(503, "no server available");
    return;
  }
  count_end(true);  // a previous attempt failed
  server_ = pick.server;
  app_name_ = pick.app->name;
  server_addr_ = server_->addr;
  count_start();
  state_ = State::Connecting;
  from_pool_ = false;
  if (UpstreamConnection* idle = ctx_.pool.take_idle(server_->pool_key, this)) {
    up_ = idle;
    from_pool_ = true;
    send_request();
    return;
  }
  int err = 0;
  up_ = ctx_.pool.open(server_->pool_key, server_->address, this, &err, pick.app->tls_context.get(), server_->tls_name);
  if (up_ == nullptr) {
    // Could not even start connecting (fd exhaustion, bad family): treat as a connect failure.
    on_upstream_failed(UpstreamFailure::ConnectFailed, false);
  }
}

void Exchange::on_upstream_connected() {
  if (server_) ctx_.server_ok(server_->addr);
  send_request();
}

void Exchange::send_request() {
  state_ = State::Sending;
  if (!client_) return;
  up_->begin_exchange(req_->method);
  ForwardContext fwd;
  client_->forward_context(*this, fwd);
  fwd.upgrade = upgrade_;
  std::string& head = ctx_.scratch;
  head.clear();
  build_upstream_request(*req_, up_framing_, fwd, head);
  Stream& out = up_->stream();
  out.write_small(head.data(), head.size());
  bool chunked = up_framing_.kind == BodyKind::Chunked;
  for (auto& p : pending_) write_body(out, chunked, p.chunk, p.p, p.n);
  if (!pending_.empty()) request_body_started_ = true;
  pending_.clear();
  pending_bytes_ = 0;
  upstream_start_us_ = now_us();
  if (request_complete_) finish_request_upstream();
  out.flush();
  if (client_ && !out.above_high_watermark()) client_->resume_request_body(*this);
}

void Exchange::on_request_body(const ChunkRef& chunk, const char* at, size_t len) {
  request_body_bytes_ += len;
  if (ctx_.limits.max_body_bytes && request_body_bytes_ > ctx_.limits.max_body_bytes) {
    // A chunked body grew past the limit (a Content-Length one was refused at the head).
    // The rest of the body is not read: answer 413 and close, unless the response already began.
    if (!response_head_sent_) {
      fail_with(413, "request body too large", true);
    } else if (client_) {
      ClientSide* c = client_;
      abort();
      c->abort(*this);
    }
    return;
  }
  if (state_ == State::Connecting) {
    pending_.push_back(Pending{chunk, at, len});
    pending_bytes_ += len;
    if (pending_bytes_ >= Stream::kHighWatermark && client_) client_->pause_request_body(*this);
    return;
  }
  if (!up_ || state_ == State::Failed) return;  // answered already (e.g. early response): drop
  write_request_body(chunk, at, len);
}

void Exchange::write_request_body(const ChunkRef& chunk, const char* at, size_t len) {
  Stream& out = up_->stream();
  write_body(out, up_framing_.kind == BodyKind::Chunked, chunk, at, len);
  request_body_started_ = true;
  out.flush();
  if (out.above_high_watermark() && client_) client_->pause_request_body(*this);
}

void Exchange::on_request_complete(const MessageHead* trailers) {
  request_complete_ = true;
  req_trailers_ = trailers && !trailers->headers.empty() ? trailers : nullptr;
  if (up_ && (state_ == State::Sending || state_ == State::Receiving)) {
    finish_request_upstream();
    up_->stream().flush();
  }
  maybe_done();
}

void Exchange::finish_request_upstream() {
  if (up_framing_.kind == BodyKind::Chunked) {
    if (req_trailers_) {
      std::string& last = ctx_.scratch;
      last.clear();
      build_last_chunk(req_trailers_, last);
      up_->stream().write_small(last.data(), last.size());
    } else {
      up_->stream().write_small(kLastChunk, kLastChunkLen);
    }
  }
  up_->request_sent();
}

void Exchange::on_upstream_drained() {
  if (client_) client_->resume_request_body(*this);
}

HttpParser::Events::HeadAction Exchange::on_upstream_head(ResponseHead& head) {
  using HeadAction = HttpParser::Events::HeadAction;
  if (!client_) return HeadAction::Reject;
  if (head.status >= 100 && head.status < 200 && head.status != 101) {
    // Interim response: the protocol decides whether the client hears it.
    if (!response_head_sent_) client_->send_interim(*this, head);
    return HeadAction::SkipBody;
  }
  auto framed = decide_response_framing(head, req_->method);
  if (!framed) {
    up_->set_not_reusable();
    return HeadAction::Reject;  // -> on_upstream_failed(Malformed) -> 502
  }
  bool tunnel = head.status == 101;
  if (tunnel && !check_switching_protocols(head, *req_, request_complete_)) {
    // A switch the client did not offer (h2c), or before its whole request: 502, never relayed.
    up_->set_not_reusable();
    return HeadAction::Reject;
  }
  state_ = State::Receiving;
  status_ = head.status;
  // Framing towards the client and whether its connection carries on are the protocol's.
  client_->send_head(*this, head);
  response_head_sent_ = true;
  ctx_.stats.responses_by_class[head.status / 100 % 6].add();
  record_latency();
  if (tunnel) {
    state_ = State::Tunnel;
    up_->start_tunnel();
    client_->start_tunnel(*this);
    return HeadAction::Upgrade;
  }
  // The client's framing has a body exactly when the server's has.
  if (head.framing.kind == BodyKind::None) return HeadAction::SkipBody;
  return HeadAction::Continue;
}

void Exchange::record_latency() {
  // Counted with the response when the exchange ends (count_traffic), in one lookup.
  if (upstream_start_us_) latency_us_ = now_us() - upstream_start_us_;
}

void Exchange::on_upstream_body(const ChunkRef& chunk, const char* at, size_t len) {
  if (!client_) return;
  body_bytes_out_ += len;
  ctx_.stats.bytes_out.add(len);
  // Backpressure: a slow client slows the server.
  if (!client_->send_body(*this, chunk, at, len) && up_) up_->stream().stop_read();
}

void Exchange::on_client_drained() {
  if (up_ && (state_ == State::Receiving || state_ == State::Tunnel)) up_->stream().start_read();
}

void Exchange::on_upstream_complete() {
  if (!client_) return;
  // The trailer section of a chunked response (the server connection's parser keeps it until
  // its next response starts, which cannot happen inside this call).
  const MessageHead& trailers = up_->trailers();
  client_->send_end(*this, trailers.headers.empty() ? nullptr : &trailers);
  response_complete_ = true;
  state_ = State::Done;
  count_end(false);
  release_upstream();
  maybe_done();
}

void Exchange::release_upstream() {
  if (!up_) return;
  UpstreamConnection* c = up_;
  up_ = nullptr;
  if (!request_complete_) c->set_not_reusable();  // it never got the whole request
  // A server asked to switch protocols (or to open a CONNECT tunnel) may have switched
  // whatever it answered: its connection is never reused.
  if (upgrade_) c->set_not_reusable();
  ctx_.pool.release(c);
}

void Exchange::maybe_done() {
  if (!response_complete_ || !client_) return;
  // Also when the request body is still arriving: the protocol ends the exchange now (HTTP/1.1
  // closes the connection rather than read the rest).
  ClientSide* c = client_;
  client_ = nullptr;
  c->exchange_done(*this);
}

void Exchange::on_upstream_failed(UpstreamFailure why, bool response_started) {
  up_ = nullptr;  // the connection closed itself
  ctx_.stats.upstream_failures.add();
  if (!client_) return;
  if (why == UpstreamFailure::ConnectFailed || why == UpstreamFailure::Reset) {
    if (server_ && (why == UpstreamFailure::ConnectFailed || !from_pool_)) ctx_.server_failed(server_->addr);
  }
  if (response_head_sent_ || response_started) {
    // Too late for an error status: the client sees the connection end.
    if (state_ == State::Tunnel || response_head_sent_) {
      ClientSide* c = client_;
      client_ = nullptr;
      c->abort(*this);
      return;
    }
  }
  // Nothing of the response reached the client yet.
  bool nothing_sent = why == UpstreamFailure::ConnectFailed;
  bool pooled_reset = why == UpstreamFailure::Reset && from_pool_ && !response_started && !request_body_started_ &&
                      up_framing_.kind == BodyKind::None;
  if ((nothing_sent || pooled_reset) && attempts_ < kMaxAttempts && state_ != State::Tunnel) {
    ctx_.stats.upstream_retries.add();
    if (nothing_sent && server_) tried_.push_back(server_);
    // A pooled connection the server closed just as we reused it never got the request: send
    // it again (the balancer picks the server; a dead pooled connection was already closed).
    attempt();
    return;
  }
  switch (why) {
    case UpstreamFailure::ConnectFailed: fail_with(502, "upstream connect failed"); break;
    case UpstreamFailure::Reset: fail_with(502, "upstream connection reset"); break;
    case UpstreamFailure::Timeout: fail_with(504, "upstream timeout"); break;
    case UpstreamFailure::Malformed: fail_with(502, "upstream sent a malformed response"); break;
  }
}

void Exchange::fail_with(int status, const char* why, bool force_close) {
  state_ = State::Failed;
  status_ = status;
  count_end(status == 502 || status == 504);
  if (up_) {
    UpstreamConnection* c = up_;
    up_ = nullptr;
    c->detach();
    c->close();
  }
  pending_.clear();
  if (!client_) return;
  ClientSide* c = client_;
  client_ = nullptr;
  // The protocol keeps the connection when it can (HTTP/1.1: the request is fully read, or its
  // body can still be skipped); `force_close` says it cannot.
  c->send_error(*this, status, why, force_close);
}

void Exchange::on_upstream_tunnel_data(const ChunkRef& chunk, const char* at, size_t len) {
  if (!client_) return;
  ctx_.stats.bytes_out.add(len);
  body_bytes_out_ += len;
  if (!client_->send_tunnel_data(*this, chunk, at, len) && up_) up_->stream().stop_read();
}

void Exchange::on_upstream_tunnel_end() {
  if (client_) client_->end_tunnel_output(*this);
  tunnel_up_eof_ = true;
  if (tunnel_client_eof_ && client_) {
    ClientSide* c = client_;
    client_ = nullptr;
    c->abort(*this);
  }
}

void Exchange::on_client_tunnel_data(const ChunkRef& chunk, const char* at, size_t len) {
  if (!up_) return;
  Stream& out = up_->stream();
  out.write_ref(chunk, at, len);
  out.flush();
  if (out.above_high_watermark() && client_) client_->pause_request_body(*this);
}

void Exchange::on_client_tunnel_end() {
  if (up_) up_->stream().shutdown_after_flush();
  tunnel_client_eof_ = true;
  if (tunnel_up_eof_ && client_) {
    ClientSide* c = client_;
    client_ = nullptr;
    c->abort(*this);
  }
}

void Exchange::abort() {
  client_ = nullptr;
  state_ = State::Failed;
  pending_.clear();
  if (up_) {
    UpstreamConnection* c = up_;
    up_ = nullptr;
    c->detach();
    c->close();  // mid-exchange: never pooled
  }
}

}  // namespace turnout
