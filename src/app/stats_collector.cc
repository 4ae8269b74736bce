#include "turnout/app/stats_collector.h"

#include "turnout/common/log.h"

namespace turnout {

StatsCollector::StatsCollector(EventQueue& inbox, const std::vector<std::unique_ptr<Worker>>& workers)
    : inbox_(inbox), workers_(workers) {}

void StatsCollector::collect() {
  // The totals merged so far (at most one interval behind) go into the rate window.
  auto now = std::chrono::steady_clock::now();
  if (live_.due(now)) live_.sample(now, live_totals());
  for (auto& w : workers_) {
    unsigned id = w->id();
    w->post([this, id](Worker& worker) {
      auto snap = std::make_shared<WorkerSnapshot>(worker.snapshot());
      inbox_.post([this, id, snap] {
        if (id >= snapshots_.size()) return;
        for (auto& t : snap->traffic) {
          ClassCounts& c = traffic_[{std::move(t.host), std::move(t.app)}];
          for (size_t i = 0; i < c.size(); ++i) c[i] += t.delta[i];
        }
        snap->traffic.clear();
        for (auto& [app, delta] : snap->app_live) app_live_[app] += delta;
        snap->app_live.clear();
        snapshots_[id] = std::move(*snap);
      });
    });
  }
}

bool StatsCollector::passive_up(const std::string& addr) const {
  for (const WorkerSnapshot& snap : snapshots_) {
    auto it = snap.servers.find(addr);
    if (it != snap.servers.end() && !it->second.up) return false;
  }
  return true;
}

std::map<std::string, ServerStats> StatsCollector::server_stats(const RouteTable& table) const {
  std::map<std::string, ServerStats> out;
  table.for_each_app([&](const App& a) {
    for (auto& s : a.servers) out[s.addr];
  });
  for (auto& snap : snapshots_) {
    for (auto& [addr, st] : snap.servers) {
      auto it = out.find(addr);
      if (it == out.end()) continue;
      it->second.idle_conns += st.idle_conns;
      it->second.requests += st.counters.requests;
      it->second.in_flight += st.counters.in_flight;
      it->second.failures += st.counters.failures;
      if (!st.up) it->second.up = false;
    }
  }
  return out;
}

LiveWindow::Totals StatsCollector::live_totals() const {
  LiveWindow::Totals t;
  for (auto& w : workers_) {
    const ProxyStats& s = w->stats();
    t.requests += s.requests.get();
    for (size_t i = 1; i < s.responses_by_class.size(); ++i) t.responses += s.responses_by_class[i].get();
    t.errors += s.responses_by_class[5].get();
    t.no_route += s.no_route.get();
  }
  t.apps = app_live_;
  return t;
}

std::map<std::string, AppLiveStats> StatsCollector::app_live_stats(const RouteTable& table) const {
  std::map<std::string, AppLiveStats> out;
  auto now = std::chrono::steady_clock::now();
  table.for_each_app([&](const App& a) {
    AppLiveCounts current;
    if (auto it = app_live_.find(a.name); it != app_live_.end()) current = it->second;
    LiveWindow::AppRates r = live_.app_rates(now, a.name, current);
    AppLiveStats& s = out[a.name];
    s.requests_per_second = r.requests_per_second;
    s.error_rate = r.error_rate;
    s.p50_ms = r.p50_ms;
    s.p99_ms = r.p99_ms;
    s.mean_ms = r.mean_ms;
    s.responses = current.responses;
    s.errors = current.errors;
  });
  return out;
}

void StatsCollector::fill(StatsSnapshot& out, const RouteTable& table) const {
  for (auto& w : workers_) {
    const ProxyStats& s = w->stats();
    StatsSnapshot::Worker o;
    o.id = w->id();
    o.version = w->table_version();
    o.connections_active = s.connections_active.get();
    o.connections_idle = s.connections_idle.get();
    o.connections_accepted = s.connections_accepted.get();
    o.requests = s.requests.get();
    o.bytes_in = s.bytes_in.get();
    o.bytes_out = s.bytes_out.get();
    o.upstream_retries = s.upstream_retries.get();
    o.no_route = s.no_route.get();
    o.proxy_protocol_errors = s.proxy_protocol_errors.get();
    o.tls_handshake_errors = s.tls_handshake_errors.get();
    o.misdirected = s.misdirected.get();
    o.h2_connections = s.h2_connections.get();
    o.h2_connections_active = s.h2_connections_active.get();
    o.h2_streams = s.h2_streams.get();
    o.h2_goaway_calm = s.h2_goaway_calm.get();
    for (size_t i = 0; i < o.local_errors.size(); ++i) o.local_errors[i] = s.local_errors[i].get();
    out.workers.push_back(o);
  }
  LiveWindow::Totals totals = live_totals();
  LiveWindow::Rates rates = live_.rates(std::chrono::steady_clock::now(), totals);
  out.rates = {rates.seconds, rates.requests_per_second, rates.error_rate, rates.no_route_per_second};
  out.no_route = totals.no_route;
  out.errors = totals.errors;
  for (auto& snap : snapshots_) {
    out.pooled_total += snap.pooled_total;
    out.pooled_idle += snap.pooled_idle;
  }
  for (auto& [key, counts] : traffic_) out.traffic[key] = counts;
  out.latency_bounds.assign(kLatencyBounds.begin(), kLatencyBounds.end());
  for (auto& [app, c] : app_live_)
    out.app_live[app] = {c.responses, c.errors, std::vector<uint64_t>(c.latency.begin(), c.latency.end()),
                         c.latency_sum_us};
  out.servers = server_stats(table);
  table.for_each_app([&](const App& a) {
    for (auto& s : a.servers) out.server_app.emplace(s.addr, a.name);
  });
}

}  // namespace turnout
