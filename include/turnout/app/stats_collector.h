// StatsCollector: the main loop's copy of what the workers count. Every kStatsIntervalMs it asks
// each worker for a snapshot (pools, passive health, traffic and per-app deltas), merges the
// deltas into totals and samples them into the rate window; on demand it fills a StatsSnapshot
// (rendered by admin/status_json.h and admin/prometheus.h) and the per-server and per-app
// figures of the admin API.
//
// Owner: app/ProxyServer, main loop only. `workers` and `inbox` outlive it; snapshots posted
// back through `inbox` refer to this object, so it lives until the inbox is drained and closed.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "turnout/admin/admin_actions.h"
#include "turnout/admin/stats_snapshot.h"
#include "turnout/app/live_window.h"
#include "turnout/app/worker.h"
#include "turnout/net/event_queue.h"

namespace turnout {

class StatsCollector {
 public:
  StatsCollector(EventQueue& inbox, const std::vector<std::unique_ptr<Worker>>& workers);

  // Once the workers exist.
  void start() { snapshots_.assign(workers_.size(), {}); }
  // Samples the rate window and asks every worker for a fresh snapshot.
  void collect();

  // Whether every worker's passive health has `addr` up (as of the last snapshots).
  bool passive_up(const std::string& addr) const;
  // The servers `table` lists, with their counters summed over workers.
  std::map<std::string, ServerStats> server_stats(const RouteTable& table) const;
  // The apps `table` lists, with their last seconds.
  std::map<std::string, AppLiveStats> app_live_stats(const RouteTable& table) const;
  // The workers', traffic, app and server figures of `out` (the caller fills the rest).
  void fill(StatsSnapshot& out, const RouteTable& table) const;

 private:
  LiveWindow::Totals live_totals() const;  // the running totals LiveWindow samples

  EventQueue& inbox_;                                  // workers -> main
  const std::vector<std::unique_ptr<Worker>>& workers_;
  std::vector<WorkerSnapshot> snapshots_;  // last copy of each worker's counters (<= 250 ms old)
  std::map<std::pair<std::string, std::string>, ClassCounts> traffic_;  // (host, app) -> responses, all workers
  std::map<std::string, AppLiveCounts> app_live_;  // app -> responses/errors/latency, all workers
  LiveWindow live_;                                // the last seconds of the totals, for rates
};

}  // namespace turnout
