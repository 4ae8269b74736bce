#include "turnout/proxy/proxy_context.h"

#include <ctime>
#include <random>

#include <fmt/format.h>

#include "turnout/proxy/client_conn.h"

namespace turnout {

namespace {
constexpr uint32_t kFailuresToTrip = 3;       // consecutive failures before a server is skipped
constexpr uint32_t kFirstBackoffMs = 1000;    // first down period
constexpr uint32_t kMaxBackoffMs = 30000;     // back-off cap

void on_reap(uv_check_t* h) {
  auto* ctx = static_cast<ProxyContext*>(h->data);
  // Deferred output first: flushing may hand exchanges to the graveyard.
  ctx->run_flushers();
  // Deleting may queue more (an exchange's destructor closing a connection does not), so swap
  // first. The emptied vector then goes back, keeping its capacity: no allocation per request.
  decltype(ctx->graveyard) doomed;
  doomed.swap(ctx->graveyard);
  doomed.clear();
  if (ctx->graveyard.empty()) {
    ctx->graveyard.swap(doomed);
    uv_check_stop(&ctx->reaper);
    ctx->reaper_armed = false;
  }
}
void on_flush_idle(uv_idle_t* h) { static_cast<ProxyContext*>(h->data)->run_flushers(); }
}  // namespace

void ProxyContext::run_flushers() {
  if (flushers.empty()) return;
  flushing_.swap(flushers);
  for (size_t i = 0; i < flushing_.size(); ++i) {
    Flusher* f = flushing_[i];
    if (f == nullptr) continue;  // cancelled during the batch
    f->flush_queued = false;
    f->flush_deferred();
  }
  flushing_.clear();
  if (flushers.empty()) uv_idle_stop(&flush_idle);
}

void ProxyContext::defer_flush(Flusher* f) {
  if (f->flush_queued) return;
  f->flush_queued = true;
  if (flushers.empty()) uv_idle_start(&flush_idle, on_flush_idle);
  flushers.push_back(f);
  if (!reaper_armed) {
    reaper_armed = true;
    uv_check_start(&reaper, on_reap);
  }
}

void ProxyContext::cancel_flush(Flusher* f) {
  if (!f->flush_queued) return;
  f->flush_queued = false;
  for (auto& x : flushers)
    if (x == f) x = nullptr;
  for (auto& x : flushing_)
    if (x == f) x = nullptr;
}

int local_error_index(int status) {
  switch (status) {
    case 400: return 0;
    case 404: return 1;
    case 408: return 2;
    case 413: return 3;
    case 431: return 4;
    case 502: return 5;
    case 503: return 6;
    case 504: return 7;
    default: return -1;
  }
}

ProxyContext::ProxyContext(uv_loop_t* l, unsigned id, ProxyStats& s)
    : loop(l), worker_id(id), deadlines(l), pool(l, chunks, deadlines, timeouts, limits), stats(s) {
  uv_check_init(loop, &reaper);
  reaper.data = this;
  uv_idle_init(loop, &flush_idle);
  flush_idle.data = this;
}

void ProxyContext::defer_delete(std::unique_ptr<Deferred> obj) {
  graveyard.push_back(std::move(obj));
  if (!reaper_armed) {
    reaper_armed = true;
    uv_check_start(&reaper, on_reap);
  }
}

std::unique_ptr<RequestState> ProxyContext::take_request_state(HttpParser::Events* events) {
  std::unique_ptr<RequestState> state;
  if (!request_states.empty()) {
    state = std::move(request_states.back());
    request_states.pop_back();
  } else {
    state = std::make_unique<RequestState>();
  }
  state->parser.emplace(HttpParser::Kind::Request, &state->head, events, limits);
  return state;
}

void ProxyContext::return_request_state(std::unique_ptr<RequestState> state) {
  if (!state) return;
  if (request_states.size() >= kMaxPooledRequests || state->head.storage.capacity() > kMaxPooledHeadBytes) return;
  state->parser.reset();
  state->head.clear();
  request_states.push_back(std::move(state));
}

std::string ProxyContext::next_request_id() {
  if (request_id_seed_ == 0) {
    std::random_device rd;
    request_id_seed_ = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ (static_cast<uint64_t>(worker_id) << 56) ^ 1;
  }
  // splitmix64: a bijection of the counter, so no two requests of this worker share an id.
  uint64_t z = request_id_seed_ + (++request_id_next_) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return fmt::format("{:016x}", z);
}

bool ProxyContext::assign_request_id(const RequestHead& req, std::string& id) {
  for (const HeaderField& h : req.headers) {
    if (!iequals(req.name(h), "x-request-id") || req.value(h).empty()) continue;
    id.assign(req.value(h).substr(0, 128));
    for (char& c : id)
      if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f || c == '"' || c == '\\') c = '_';
    return false;
  }
  id = next_request_id();
  return true;
}

const std::string& ProxyContext::now_text() {
  auto now = std::time(nullptr);
  if (static_cast<uint64_t>(now) != now_text_sec_) {
    now_text_sec_ = static_cast<uint64_t>(now);
    std::tm tm{};
    gmtime_r(&now, &tm);
    now_text_ = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                            tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  return now_text_;
}

ServerCounters& ProxyContext::server_counters(std::string_view addr) {
  auto it = servers.find(addr);
  if (it == servers.end()) it = servers.emplace(std::string(addr), ServerCounters{}).first;
  return it->second;
}

void ProxyContext::count_traffic(std::string_view host, std::string_view app, size_t status_class,
                                 uint64_t latency_us) {
  auto h = traffic.find(host);
  if (h == traffic.end()) {
    // Past the cap, new hosts share one entry: a million routed hosts must not mean a million
    // counters per worker, an allocation per first request, and a million metric series.
    std::string_view key = traffic.size() < kMaxTrafficHosts ? host : std::string_view(kOtherHosts);
    h = traffic.find(key);
    if (h == traffic.end()) h = traffic.emplace(std::string(key), AppCounts{}).first;
  }
  auto a = h->second.find(app);
  if (a == h->second.end()) {
    a = h->second.emplace(std::string(app), TrafficEntry{}).first;
    auto l = app_live.find(app);
    if (l == app_live.end()) l = app_live.emplace(std::string(app), AppLiveEntry{}).first;
    a->second.live = &*l;
  }
  TrafficEntry& e = a->second;
  ++e.counts[status_class];
  if (!e.dirty) {
    e.dirty = true;
    traffic_dirty.push_back(DirtyTraffic{&h->first, &a->first, &e});
  }
  AppLiveEntry& le = e.live->second;
  ++le.counts.responses;
  if (status_class == 5 || status_class == 0) ++le.counts.errors;
  if (latency_us != kNoLatency) {
    le.counts.latency[latency_bucket(latency_us)]++;
    le.counts.latency_sum_us += latency_us;
  }
  if (!le.dirty) {
    le.dirty = true;
    app_live_dirty.emplace_back(&e.live->first, &le);
  }
}

void ProxyContext::server_failed(const std::string& addr) {
  auto& h = health[addr];
  if (h.backoff_ms > 0 || ++h.consecutive_failures >= kFailuresToTrip) {
    // Tripped before: one more failure sends it straight back to a longer back-off.
    h.backoff_ms = h.backoff_ms == 0 ? kFirstBackoffMs : std::min(h.backoff_ms * 2, kMaxBackoffMs);
    h.down_until_ms = uv_now(loop) + h.backoff_ms;
    h.consecutive_failures = 0;
  }
}

void ProxyContext::server_ok(const std::string& addr) {
  if (health.empty()) return;
  auto it = health.find(addr);
  if (it != health.end()) health.erase(it);
}

bool ProxyContext::server_up(const std::string& addr) const {
  if (active_down && !active_down->empty()) {
    auto a = active_down->find(addr);
    if (a != active_down->end() && a->second) return false;
  }
  if (health.empty()) return true;
  auto it = health.find(addr);
  if (it == health.end()) return true;
  return it->second.down_until_ms <= uv_now(loop);
}

void ProxyContext::link_client(ClientConnection* conn) {
  conn->prev = nullptr;
  conn->next = clients_head;
  if (clients_head) clients_head->prev = conn;
  clients_head = conn;
  ++client_count;
  stats.connections_active.add();
}

void ProxyContext::unlink_client(ClientConnection* conn) {
  if (conn->prev) conn->prev->next = conn->next;
  else clients_head = conn->next;
  if (conn->next) conn->next->prev = conn->prev;
  conn->next = conn->prev = nullptr;
  --client_count;
  stats.connections_active.sub();
}

}  // namespace turnout
