#include "turnout/app/worker.h"

#include <unistd.h>

#include <cassert>
#include <cstring>
#include <future>
#include <unordered_set>

#include "turnout/common/log.h"
#include "turnout/proxy/client_conn.h"
#include "turnout/proxy/exchange.h"

namespace turnout {

namespace {
constexpr uint64_t kAccessLogFlushMs = 200;
}

struct WorkerCallbacks {
  static void on_log_timer(uv_timer_t* t) { static_cast<Worker*>(t->data)->flush_access_log(); }
};

Worker::Worker(unsigned id, std::vector<ListenSocket> listen_fds, uint32_t max_connections)
    : id_(id), listen_fds_(std::move(listen_fds)), max_connections_(max_connections) {}

Worker::~Worker() {
  assert(!thread_.joinable());
  for (const ListenSocket& s : listen_fds_) ::close(s.fd);
}

void Worker::start(RouteTablePtr table, ProxySettingsPtr settings) {
  std::promise<void> started;
  auto fut = started.get_future();
  thread_ = std::thread([this, table = std::move(table), settings = std::move(settings), &started]() mutable {
    std::string name = "w";
    name += std::to_string(id_);  // (not "w" + ...: GCC 12 warns falsely about that at -O2)
    set_log_thread_name(name);
    uv_loop_init(&loop_);
    inbox_.init(&loop_);
    started.set_value();
    run(std::move(table), std::move(settings));
  });
  fut.wait();
}

void Worker::post(std::function<void(Worker&)> fn) {
  inbox_.post([this, fn = std::move(fn)] { fn(*this); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::run(RouteTablePtr table, ProxySettingsPtr settings) {
  ctx_ = std::make_unique<ProxyContext>(&loop_, id_, stats_);
  // A closed connection frees a descriptor and a max_connections slot: accepting may resume.
  ctx_->on_client_closed = [this] { resume_accepting(); };
  adopt(std::move(table), std::move(settings));
  for (const ListenSocket& s : listen_fds_) {
    int fd = s.fd;
    Acceptor* a = Acceptor::open(
        &loop_, fd, [this, s](int cfd, const sockaddr* peer, socklen_t) { return on_accept(cfd, peer, s); },
        [this](int err) { on_accept_shortage(err); });
    if (a == nullptr) {
      TLOG_ERROR("cannot listen", "worker={} fd={}", id_, fd);
      continue;
    }
    acceptors_.push_back(a);
  }
  listen_fds_.clear();  // owned by the acceptors now
  uv_timer_init(&loop_, &log_timer_);
  log_timer_.data = this;
  uv_timer_start(&log_timer_, WorkerCallbacks::on_log_timer, kAccessLogFlushMs, kAccessLogFlushMs);

  uv_run(&loop_, UV_RUN_DEFAULT);

  // Everything is closed; run once more for close callbacks still queued, then the loop must
  // close clean (a leaked handle is a bug).
  uv_run(&loop_, UV_RUN_DEFAULT);
  ctx_.reset();
  int rc = uv_loop_close(&loop_);
  if (rc != 0) {
    TLOG_ERROR("worker loop did not close clean", "worker={} rc={}", id_, rc);
    uv_walk(&loop_, [](uv_handle_t* h, void*) { TLOG_ERROR("leaked handle", "type={}", uv_handle_type_name(h->type)); }, nullptr);
  }
}

void Worker::adopt(RouteTablePtr table, ProxySettingsPtr settings) {
  if (settings && settings != ctx_->settings) {
    ctx_->settings = settings;
    ctx_->timeouts = settings->timeouts;
    ctx_->limits = settings->limits;
  }
  if (!table) return;
  // Servers the new table routes to; idle connections to any other are closed now, busy ones
  // when their response ends (ConnPool::release).
  std::unordered_set<std::string> live;
  bool changed_servers = !ctx_->table;
  if (ctx_->table) {
    // Cheap check first: the app set is small even when the route set is huge.
    size_t old_servers = 0, new_servers = 0;
    ctx_->table->for_each_app([&](const App& a) { old_servers += a.servers.size(); });
    table->for_each_app([&](const App& a) {
      new_servers += a.servers.size();
      const App* old = ctx_->table->find_app(a.name);
      if (old != &a) changed_servers = true;
    });
    if (old_servers != new_servers || ctx_->table->app_count() != table->app_count()) changed_servers = true;
  }
  ctx_->table = std::move(table);
  if (changed_servers) {
    ctx_->table->for_each_app([&](const App& a) {
      for (auto& s : a.servers) live.insert(s.pool_key);
    });
    ctx_->pool.set_live_servers(std::move(live));
  }
  ctx_->balancer.prune();
  version_.store(ctx_->table->version(), std::memory_order_release);
}

bool Worker::on_accept(int fd, const sockaddr* peer, const ListenSocket& how) {
  if (draining_ || stopping_) {  // the acceptors are closing; this one arrived first
    ::close(fd);
    return false;
  }
  auto* conn = new ClientConnection(*ctx_, (static_cast<uint64_t>(id_) << 48) | next_conn_id_++);
  // Link first: close() unlinks from the list in its final callback.
  ctx_->link_client(conn);
  ctx_->stats.connections_accepted.add();
  if (conn->open(fd, peer, how.proxy_protocol, how.tls, how.http2) != 0) conn->close();
  if (ctx_->client_count < max_connections_) return true;
  // At the limit: every listener of this worker pauses (not only this one), so the limit holds
  // exactly; connections wait in the kernel backlog until one closes (resume_accepting).
  for (auto* a : acceptors_) a->pause();
  return false;
}

void Worker::on_accept_shortage(int err) {
  // Near the descriptor limit accepting can flap paused/resumed with every closed connection;
  // one line per second per worker says as much as a line per flap.
  uint64_t now = uv_now(&loop_);
  if (err != 0) {
    ++accept_shortages_;
    if (last_shortage_log_ms_ != 0 && now - last_shortage_log_ms_ < 1000) return;
    last_shortage_log_ms_ = now;
    TLOG_WARN("accepting paused", "worker={} error={} retry_ms={} pauses={}", id_, std::strerror(err),
              Acceptor::kShortageRetryMs, accept_shortages_);
  } else if (now - last_shortage_log_ms_ >= 1000) {
    last_shortage_log_ms_ = now;
    TLOG_INFO("accepting resumed", "worker={} pauses={}", id_, accept_shortages_);
  }
}

void Worker::resume_accepting() {
  if (draining_ || stopping_ || ctx_->client_count >= max_connections_) return;
  for (auto* a : acceptors_)
    if (a->paused()) a->resume();
}

void Worker::flush_access_log() {
  if (!ctx_->access_buf.empty()) {
    access_log_submit(std::move(ctx_->access_buf));
    ctx_->access_buf.clear();
  }
}

void Worker::begin_drain() {
  if (draining_) return;
  draining_ = true;
  ctx_->draining = true;
  for (auto* a : acceptors_) a->close();
  acceptors_.clear();
  std::vector<ClientConnection*> conns;
  for (auto* c = ctx_->clients_head; c; c = c->next) conns.push_back(c);
  for (auto* c : conns) c->drain();
  ctx_->pool.close_idle();
}

void Worker::stop() {
  if (stopping_) return;
  stopping_ = true;
  flush_access_log();
  for (auto* a : acceptors_) a->close();
  acceptors_.clear();
  std::vector<ClientConnection*> conns;
  for (auto* c = ctx_->clients_head; c; c = c->next) conns.push_back(c);
  for (auto* c : conns) c->close();
  ctx_->pool.close_all();
  ctx_->deadlines.close();
  uv_timer_stop(&log_timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&log_timer_), nullptr);
  if (ctx_->reaper_armed) uv_check_stop(&ctx_->reaper);
  ctx_->graveyard.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&ctx_->reaper), nullptr);
  uv_idle_stop(&ctx_->flush_idle);
  uv_close(reinterpret_cast<uv_handle_t*>(&ctx_->flush_idle), nullptr);
  inbox_.close();
}

size_t Worker::in_flight(std::string_view host, std::string_view app) const {
  size_t n = 0;
  for (auto* c = ctx_->clients_head; c; c = c->next)
    if (c->has_exchange_for(host, app)) ++n;
  return n;
}

WorkerSnapshot Worker::snapshot() {
  WorkerSnapshot out;
  ctx_->table->for_each_app([&](const App& a) {
    for (auto& s : a.servers) {
      auto& st = out.servers[s.addr];
      st.idle_conns = ctx_->pool.idle_count_for(s.addr);
      st.up = ctx_->server_up(s.addr);
      auto it = ctx_->servers.find(s.addr);
      if (it != ctx_->servers.end()) st.counters = it->second;
    }
  });
  out.traffic.reserve(ctx_->traffic_dirty.size());
  for (auto& d : ctx_->traffic_dirty) {
    WorkerSnapshot::TrafficDelta t{*d.host, *d.app, {}};
    for (size_t i = 0; i < t.delta.size(); ++i) t.delta[i] = d.entry->counts[i] - d.entry->reported[i];
    d.entry->reported = d.entry->counts;
    d.entry->dirty = false;
    out.traffic.push_back(std::move(t));
  }
  ctx_->traffic_dirty.clear();
  out.app_live.reserve(ctx_->app_live_dirty.size());
  for (auto& [name, entry] : ctx_->app_live_dirty) {
    out.app_live.emplace_back(*name, entry->counts - entry->reported);
    entry->reported = entry->counts;
    entry->dirty = false;
  }
  ctx_->app_live_dirty.clear();
  out.pooled_total = ctx_->pool.total_count();
  out.pooled_idle = ctx_->pool.idle_count();
  out.clients = ctx_->client_count;
  return out;
}

}  // namespace turnout
