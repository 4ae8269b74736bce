// StatsSnapshot: every figure GET /v1/status and GET /metrics show, as plain values. app/ fills
// one per request (app/StatsCollector, from the workers' counters and the merged snapshots);
// admin/ renders it (status_json.h, prometheus.h). No JSON and no counters in here, so that a
// renderer can be tested with a hand-filled snapshot and a new output format is a new renderer.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "turnout/admin/admin_actions.h"
#include "turnout/state/history_entry.h"

namespace turnout {

struct StatsSnapshot {
  // One worker's counters (read once each from its relaxed atomics).
  struct Worker {
    unsigned id = 0;
    uint64_t version = 0;                // table version it adopted
    uint64_t connections_active = 0;     // client connections open
    uint64_t connections_idle = 0;       // of those, waiting for a request
    uint64_t connections_accepted = 0;
    uint64_t requests = 0;               // request heads
    uint64_t bytes_in = 0, bytes_out = 0;
    uint64_t upstream_retries = 0;
    uint64_t no_route = 0;
    uint64_t proxy_protocol_errors = 0;
    uint64_t tls_handshake_errors = 0;  // HTTPS connections closed before their handshake completed
    uint64_t misdirected = 0;           // 421 answers
    uint64_t h2_connections = 0;        // connections that spoke HTTP/2, since start
    uint64_t h2_connections_active = 0; // of the open ones, HTTP/2
    uint64_t h2_streams = 0;            // HTTP/2 request streams opened
    uint64_t h2_goaway_calm = 0;        // HTTP/2 connections closed for a frame flood
    std::array<uint64_t, 8> local_errors{};  // 400 404 408 413 431 502 503 504
  };
  // One app's totals since start, all workers (proxy/app_live.h's AppLiveCounts).
  struct App {
    uint64_t responses = 0;
    uint64_t errors = 0;
    std::vector<uint64_t> latency;  // per bucket of latency_bounds, then the +Inf bucket
    uint64_t latency_sum_us = 0;
  };
  struct Rates {
    double seconds = 0;  // window length (0: not yet known)
    double requests_per_second = 0;
    double error_rate = 0;
    double no_route_per_second = 0;
  };

  // The process and the live table.
  std::string turnout_version;
  int64_t pid = 0;
  int64_t uptime_seconds = 0;
  int64_t started_unix_ms = 0;
  int64_t now_unix_ms = 0;
  std::vector<std::string> listeners;  // bound addresses
  uint64_t version = 0;                // live table version
  size_t routes = 0, apps = 0;
  uint64_t changes_applied = 0;        // table versions published since start
  std::optional<HistoryEntry> last_change;
  uint64_t reloads = 0, reload_failures = 0;
  uint64_t log_dropped_lines = 0;
  // Where the table comes from: "config" (this instance's file), or with table_source.etcd
  // "etcd" while connected and "disconnected" while not.
  std::string table_source = "config";
  struct Fleet {
    std::string instance, prefix, last_error;
    int64_t revision = 0;      // etcd revision applied up to
    uint64_t resyncs = 0;      // fresh reads after a compaction or an unreadable change
  };
  std::optional<Fleet> fleet;  // with table_source.etcd

  std::vector<Worker> workers;
  Rates rates;                     // the last seconds (app/live_window.h)
  uint64_t no_route = 0;           // since start, all workers
  uint64_t errors = 0;             // 5xx responses since start, all workers
  uint64_t pooled_total = 0;       // upstream connections, idle + busy
  uint64_t pooled_idle = 0;
  // (route host, app) -> responses by status class (none, 1xx..5xx); "" is the default app.
  std::map<std::pair<std::string, std::string>, std::array<uint64_t, 6>> traffic;
  std::vector<double> latency_bounds;  // upper bounds (seconds) of App::latency's buckets
  std::map<std::string, App> app_live;                   // by app name
  std::map<std::string, ServerStats> servers;            // by server address
  std::map<std::string, std::string> server_app;         // server address -> first app listing it
};

}  // namespace turnout
