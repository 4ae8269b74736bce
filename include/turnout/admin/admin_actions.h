// AdminActions: what the running server does for the admin layer (implemented by app/ProxyServer
// on the main loop). It is the only way the admin layer reaches the running proxy: every
// mutation ends in the server's one publish step (app/TablePublisher). All calls happen on the
// main loop thread; `done` callbacks are invoked later on the same thread (after the change is
// durable and every worker acknowledged the new version), or immediately for validation errors.
// The endpoint table that calls it is admin/api.h.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "turnout/common/error.h"
#include "turnout/route/route_builder.h"
#include "turnout/route/route_table.h"
#include "turnout/state/history_entry.h"

namespace turnout {

// Live counters of one server, summed over workers.
struct ServerStats {
  bool up = true;               // health (passive + active)
  uint64_t requests = 0;        // requests sent to it
  uint64_t in_flight = 0;       // requests sent and not yet answered
  uint64_t failures = 0;        // connect failures, resets, timeouts
  uint64_t active_conns = 0;    // busy upstream connections
  uint64_t idle_conns = 0;      // pooled idle connections
};

// The last seconds of one app's traffic (app/live_window.h): what `ctl apps` and the status
// page show beside its servers.
struct AppLiveStats {
  double requests_per_second = 0;  // responses per second over the window
  double error_rate = 0;           // share of 5xx or unanswered, 0..1
  double p50_ms = -1;              // upstream response time percentiles; -1 = none measured
  double p99_ms = -1;
  double mean_ms = -1;
  uint64_t responses = 0;          // since start
  uint64_t errors = 0;             // since start
};

class AdminActions {
 public:
  using Done = std::function<void(Result<uint64_t> version)>;
  virtual ~AdminActions() = default;

  // The table every worker has adopted (the answer to every GET).
  virtual RouteTablePtr current_table() const = 0;

  // Applies `changes` as one new version. `if_match`: fail with 409 unless the current version
  // equals it. `summary` is recorded in the history. Validation errors answer at once. Unless
  // `force`, a change that would stop serving a host (route/change_guard.h) is 409; a forced
  // change is logged as such.
  virtual void apply(std::vector<Change> changes, std::optional<uint64_t> if_match, std::string summary,
                     bool force, Done done) = 0;
  // Makes an earlier version current again, as a new version. nullopt = one step back on the
  // undo stack (HistoryEntry::back). 404 for a version never issued, 410 for one no longer kept.
  virtual void rollback(std::optional<uint64_t> version, std::optional<uint64_t> if_match, Done done) = 0;
  // Re-reads the config file; on errors answers 400 with every error (one per line) and changes
  // nothing. Unless `force`, 409 listing the runtime changes the file lacks (route/table_diff.h).
  virtual void reload(bool force, Done done) = 0;
  // Replaces the whole table with `table` (state/table_codec.h's JSON: what `ctl import FILE`
  // sends) as one new version. Unless `force`, 409 listing the routes it would remove.
  virtual void import_table(nlohmann::json table, std::optional<uint64_t> if_match, bool force, Done done) {
    done(make_error(ErrorKind::NotImplemented, "import is not available"));
  }
  // Calls `done(0)` once no request routed by `host` to `app` is in flight on any worker, or
  // `done(n)` with the n still in flight when `timeout_ms` passes first (0: one count, at once).
  virtual void wait_drained(std::string host, std::string app, uint64_t timeout_ms,
                            std::function<void(uint64_t in_flight)> done) = 0;

  // Binary upgrade. upgrade(): start the new binary, answer once it took over (or failed).
  // takeover(fd): a new turnout on this admin connection asks for the listening sockets and the
  // live table; `fd` is a dup of the connection, owned by the callee from now on.
  virtual void upgrade(Done done) = 0;
  virtual void takeover(int fd) = 0;

  // Fleet mode (table_source.etcd). fleet(): GET /v1/fleet's body, or nullopt without a fleet.
  // wait_fleet(): calls `done` with the live instances that have not applied `version` — an
  // empty array once all have, else those still behind when `timeout_ms` passed
  // ([{"instance", "version"}]).
  virtual std::optional<nlohmann::json> fleet() { return std::nullopt; }
  virtual void wait_fleet(uint64_t version, uint64_t timeout_ms, std::function<void(nlohmann::json laggards)> done) {
    done(nlohmann::json::array());
  }

  virtual std::vector<HistoryEntry> history() const = 0;            // oldest first, last 16+
  virtual std::map<std::string, ServerStats> server_stats() = 0;    // addr -> stats
  virtual std::map<std::string, AppLiveStats> app_live_stats() { return {}; }  // app -> last seconds
  virtual nlohmann::json status() = 0;                              // GET /v1/status body
  virtual std::string metrics() = 0;                                // GET /metrics body
};

}  // namespace turnout
