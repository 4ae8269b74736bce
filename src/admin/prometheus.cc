#include "turnout/admin/prometheus.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace turnout {

std::string prom_label(std::string_view v) {
  std::string o;
  o.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') {
      o += '\\';
      o += c;
    } else if (c == '\n') {
      o += "\\n";
    } else {
      o += c;
    }
  }
  return o;
}

namespace {
void prom_header(std::string& out, const char* name, const char* type, const char* help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}
}  // namespace

std::string render_prometheus(const StatsSnapshot& s) {
  std::string out;
  out.reserve(8192);
  auto sum = [&](auto getter) {
    uint64_t t = 0;
    for (const StatsSnapshot::Worker& w : s.workers) t += getter(w);
    return t;
  };
  auto put = [&](const char* name, const char* type, const char* help, uint64_t v) {
    prom_header(out, name, type, help);
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, v);
  };
  using W = StatsSnapshot::Worker;
  put("turnout_table_version", "gauge", "Version of the live route table.", s.version);
  put("turnout_table_changes_total", "counter", "Table versions published since start.", s.changes_applied);
  put("turnout_routes", "gauge", "Hostnames routed by the live table.", s.routes);
  put("turnout_reloads_total", "counter", "Config reloads applied.", s.reloads);
  put("turnout_table_source_connected", "gauge",
      "1 while the table source is reachable (always, without table_source.etcd); 0 while changes are refused.",
      s.table_source == "disconnected" ? 0 : 1);
  if (s.fleet)
    put("turnout_table_source_resyncs_total", "counter", "Fresh reads of the shared table (compaction, unreadable change).",
        s.fleet->resyncs);
  put("turnout_reload_failures_total", "counter", "Config reloads refused for errors.", s.reload_failures);
  prom_header(out, "turnout_build_info", "gauge", "Always 1; the labels say which turnout this is.");
  fmt::format_to(std::back_inserter(out), "turnout_build_info{{version=\"{}\"}} 1\n", prom_label(s.turnout_version));
  prom_header(out, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.");
  fmt::format_to(std::back_inserter(out), "process_start_time_seconds {:.3f}\n",
                 static_cast<double>(s.started_unix_ms) / 1000.0);
  put("turnout_uptime_seconds", "gauge", "Seconds since start.", static_cast<uint64_t>(s.uptime_seconds));

  prom_header(out, "turnout_client_connections", "gauge", "Open client connections by state.");
  uint64_t active = sum([](const W& w) { return w.connections_active; });
  uint64_t idle = sum([](const W& w) { return w.connections_idle; });
  fmt::format_to(std::back_inserter(out), "turnout_client_connections{{state=\"active\"}} {}\n", active - std::min(active, idle));
  fmt::format_to(std::back_inserter(out), "turnout_client_connections{{state=\"idle\"}} {}\n", idle);
  put("turnout_client_connections_accepted_total", "counter", "Client connections accepted.",
      sum([](const W& w) { return w.connections_accepted; }));
  put("turnout_request_heads_total", "counter", "Request heads received.", sum([](const W& w) { return w.requests; }));
  put("turnout_received_bytes_total", "counter", "Bytes received from clients.",
      sum([](const W& w) { return w.bytes_in; }));
  put("turnout_sent_bytes_total", "counter", "Bytes sent to clients.", sum([](const W& w) { return w.bytes_out; }));
  put("turnout_upstream_retries_total", "counter", "Requests retried on another server or a fresh connection.",
      sum([](const W& w) { return w.upstream_retries; }));

  put("turnout_no_route_requests_total", "counter",
      "Requests answered 404 because no route (and no default_app) serves their host.",
      sum([](const W& w) { return w.no_route; }));
  put("turnout_proxy_protocol_errors_total", "counter",
      "Client connections closed for a missing or malformed PROXY protocol header.",
      sum([](const W& w) { return w.proxy_protocol_errors; }));
  put("turnout_tls_handshake_errors_total", "counter",
      "HTTPS client connections closed before a TLS handshake completed (plain HTTP, garbage, "
      "unknown name without a default certificate, old TLS, or handshake_timeout).",
      sum([](const W& w) { return w.tls_handshake_errors; }));
  put("turnout_misdirected_requests_total", "counter",
      "HTTPS requests answered 421 because the connection's certificate does not cover their Host.",
      sum([](const W& w) { return w.misdirected; }));
  put("turnout_h2_connections_total", "counter", "Client connections that spoke HTTP/2 (ALPN h2 or h2c).",
      sum([](const W& w) { return w.h2_connections; }));
  put("turnout_h2_connections", "gauge", "Open client connections speaking HTTP/2.",
      sum([](const W& w) { return w.h2_connections_active; }));
  put("turnout_h2_streams_total", "counter", "HTTP/2 request streams opened.",
      sum([](const W& w) { return w.h2_streams; }));
  put("turnout_h2_flood_closes_total", "counter",
      "HTTP/2 connections closed with GOAWAY ENHANCE_YOUR_CALM for a frame flood.",
      sum([](const W& w) { return w.h2_goaway_calm; }));

  prom_header(out, "turnout_upstream_connections", "gauge", "Upstream connections by state.");
  fmt::format_to(std::back_inserter(out), "turnout_upstream_connections{{state=\"idle\"}} {}\n", s.pooled_idle);
  fmt::format_to(std::back_inserter(out), "turnout_upstream_connections{{state=\"busy\"}} {}\n",
                 s.pooled_total - std::min(s.pooled_total, s.pooled_idle));

  prom_header(out, "turnout_local_responses_total", "counter", "Error responses generated by turnout, by code.");
  static const int kCodes[] = {400, 404, 408, 413, 431, 502, 503, 504};
  for (size_t i = 0; i < 8; ++i)
    fmt::format_to(std::back_inserter(out), "turnout_local_responses_total{{code=\"{}\"}} {}\n", kCodes[i],
                   sum([i](const W& w) { return w.local_errors[i]; }));

  prom_header(out, "turnout_requests_total", "counter", "Requests by route host, app and response status class.");
  static const char* kClass[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (auto& [key, counts] : s.traffic)
    for (size_t i = 0; i < counts.size(); ++i)
      if (counts[i])
        fmt::format_to(std::back_inserter(out), "turnout_requests_total{{host=\"{}\",app=\"{}\",class=\"{}\"}} {}\n",
                       prom_label(key.first.empty() ? "(default)" : key.first), prom_label(key.second), kClass[i],
                       counts[i]);

  prom_header(out, "turnout_upstream_response_seconds", "histogram",
              "Time from sending a request upstream to its response head, by app.");
  for (auto& [app, c] : s.app_live) {
    std::string label = prom_label(app);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < s.latency_bounds.size() && i < c.latency.size(); ++i) {
      cumulative += c.latency[i];
      fmt::format_to(std::back_inserter(out), "turnout_upstream_response_seconds_bucket{{app=\"{}\",le=\"{}\"}} {}\n",
                     label, s.latency_bounds[i], cumulative);
    }
    if (!c.latency.empty()) cumulative += c.latency.back();
    fmt::format_to(std::back_inserter(out), "turnout_upstream_response_seconds_bucket{{app=\"{}\",le=\"+Inf\"}} {}\n",
                   label, cumulative);
    fmt::format_to(std::back_inserter(out), "turnout_upstream_response_seconds_sum{{app=\"{}\"}} {:.6f}\n", label,
                   static_cast<double>(c.latency_sum_us) / 1e6);
    fmt::format_to(std::back_inserter(out), "turnout_upstream_response_seconds_count{{app=\"{}\"}} {}\n", label,
                   cumulative);
  }
  prom_header(out, "turnout_app_responses_total", "counter", "Responses to requests routed to each app.");
  for (auto& [app, c] : s.app_live)
    fmt::format_to(std::back_inserter(out), "turnout_app_responses_total{{app=\"{}\"}} {}\n", prom_label(app), c.responses);
  prom_header(out, "turnout_app_errors_total", "counter",
              "Responses with a 5xx status (turnout's 502/503/504 included) or none, by app.");
  for (auto& [app, c] : s.app_live)
    fmt::format_to(std::back_inserter(out), "turnout_app_errors_total{{app=\"{}\"}} {}\n", prom_label(app), c.errors);

  auto app_of = [&](const std::string& addr) -> std::string_view {
    auto it = s.server_app.find(addr);
    return it == s.server_app.end() ? std::string_view() : std::string_view(it->second);
  };
  prom_header(out, "turnout_server_up", "gauge", "1 when the server is considered up (passive and active health).");
  for (auto& [addr, st] : s.servers)
    fmt::format_to(std::back_inserter(out), "turnout_server_up{{app=\"{}\",server=\"{}\"}} {}\n",
                   prom_label(app_of(addr)), prom_label(addr), st.up ? 1 : 0);
  prom_header(out, "turnout_server_requests_total", "counter", "Requests sent to each server.");
  for (auto& [addr, st] : s.servers)
    fmt::format_to(std::back_inserter(out), "turnout_server_requests_total{{app=\"{}\",server=\"{}\"}} {}\n",
                   prom_label(app_of(addr)), prom_label(addr), st.requests);
  prom_header(out, "turnout_server_failures_total", "counter", "Connect failures, resets and timeouts per server.");
  for (auto& [addr, st] : s.servers)
    fmt::format_to(std::back_inserter(out), "turnout_server_failures_total{{app=\"{}\",server=\"{}\"}} {}\n",
                   prom_label(app_of(addr)), prom_label(addr), st.failures);
  prom_header(out, "turnout_server_in_flight", "gauge", "Requests in flight per server.");
  for (auto& [addr, st] : s.servers)
    fmt::format_to(std::back_inserter(out), "turnout_server_in_flight{{app=\"{}\",server=\"{}\"}} {}\n",
                   prom_label(app_of(addr)), prom_label(addr), st.in_flight);
  put("turnout_log_dropped_lines_total", "counter", "Log lines dropped because the writer fell behind.",
      s.log_dropped_lines);
  return out;
}

}  // namespace turnout
