#include "turnout/admin/status_json.h"

namespace turnout {

namespace {
const char* const kClass[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
}  // namespace

nlohmann::json render_status_json(const StatsSnapshot& s) {
  using nlohmann::json;
  json j;
  j["version"] = s.version;
  j["uptime_seconds"] = s.uptime_seconds;
  j["pid"] = s.pid;
  j["listeners"] = s.listeners;
  j["routes"] = s.routes;
  j["apps"] = s.apps;
  j["turnout_version"] = s.turnout_version;
  j["started_unix_ms"] = s.started_unix_ms;
  j["now_unix_ms"] = s.now_unix_ms;
  j["changes_applied"] = s.changes_applied;
  if (s.last_change) {
    const HistoryEntry& last = *s.last_change;
    j["last_change"] = {{"version", last.version}, {"unix_ms", last.unix_ms}, {"summary", last.summary}};
  }
  j["reloads"] = s.reloads;
  j["table_source"] = s.table_source;
  if (s.fleet) {
    j["fleet"] = {{"instance", s.fleet->instance}, {"prefix", s.fleet->prefix}, {"revision", s.fleet->revision},
                  {"resyncs", s.fleet->resyncs}};
    if (!s.fleet->last_error.empty()) j["fleet"]["error"] = s.fleet->last_error;
  }
  j["reload_failures"] = s.reload_failures;
  uint64_t active = 0, idle = 0, requests = 0, bytes_in = 0, bytes_out = 0, h2 = 0, h2_streams = 0;
  json workers = json::array();
  for (const StatsSnapshot::Worker& w : s.workers) {
    active += w.connections_active;
    idle += w.connections_idle;
    h2 += w.h2_connections_active;
    h2_streams += w.h2_streams;
    requests += w.requests;
    bytes_in += w.bytes_in;
    bytes_out += w.bytes_out;
    workers.push_back({{"id", w.id},
                       {"version", w.version},
                       {"connections", w.connections_active},
                       {"accepted", w.connections_accepted},
                       {"requests", w.requests}});
  }
  j["connections"] = {{"active", active}, {"idle", idle}, {"http2", h2}};
  j["http2_streams"] = h2_streams;
  j["requests"] = requests;
  // The last seconds (the same window as `ctl apps` and the status page).
  j["rates"] = {{"window_seconds", s.rates.seconds},
                {"requests_per_second", s.rates.requests_per_second},
                {"error_rate", s.rates.error_rate},
                {"no_route_per_second", s.rates.no_route_per_second}};
  j["no_route"] = s.no_route;
  j["errors"] = s.errors;
  j["bytes"] = {{"in", bytes_in}, {"out", bytes_out}};
  j["workers"] = workers;
  // Per route and app: responses by status class, summed over workers.
  json routes = json::object();
  for (auto& [key, counts] : s.traffic) {
    json& a = routes[key.first.empty() ? std::string("(default)") : key.first][key.second];
    a = json::object();
    for (size_t i = 0; i < counts.size(); ++i)
      if (counts[i]) a[kClass[i]] = counts[i];
  }
  j["traffic"] = routes;
  json servers = json::object();
  for (auto& [addr, st] : s.servers)
    servers[addr] = {{"up", st.up}, {"requests", st.requests}, {"in_flight", st.in_flight},
                     {"failures", st.failures}, {"idle_conns", st.idle_conns}};
  j["servers"] = servers;
  return j;
}

}  // namespace turnout
