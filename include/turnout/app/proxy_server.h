// ProxyServer: the main thread. Owns the config, the listening sockets (app/ListenSet: one
// SO_REUSEPORT socket per worker and address), the workers, the admin API, the signal handlers,
// and the parts that each do one job for it: TablePublisher (every table change: admin API,
// reload, rollback), StatsCollector (the workers' counters), Upgrade (binary upgrade hand-off).
//
// Lives on the stack of main(); everything runs on the main loop thread. Shutdown order: stop
// admin and signals, drain, post stop to every worker, join them, then close the main handles
// (no EventQueue::post may race the close of the queue it posts to).
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "turnout/admin/admin_server.h"
#include "turnout/admin/admin_actions.h"
#include "turnout/admin/stats_snapshot.h"
#include "turnout/app/config_reload.h"
#include "turnout/app/health_checker.h"
#include "turnout/app/listen_owner.h"
#include "turnout/app/listen_set.h"
#include "turnout/app/stats_collector.h"
#include "turnout/app/table_publisher.h"
#include "turnout/app/upgrade.h"
#include "turnout/app/worker.h"
#include "turnout/app/ticket_key_rotation.h"
#include "turnout/config/config.h"
#include "turnout/net/event_queue.h"
#include "turnout/proxy/proxy_context.h"

namespace turnout {

class FleetTableSource;

class ProxyServer final : public AdminActions, private TableSubscribers {
 public:
  // `binary` is the path to exec for an upgrade (argv[0] resolved at start). `takeover`: start by
  // taking the sockets and live table over from the turnout running on the admin socket.
  ProxyServer(Config config, std::string binary, bool takeover);
  ~ProxyServer() override;

  // Runs until SIGTERM/SIGINT and a drain; returns the process exit code.
  int run();

  // AdminActions (main thread)
  RouteTablePtr current_table() const override { return publisher_.current(); }
  void apply(std::vector<Change> changes, std::optional<uint64_t> if_match, std::string summary, bool force,
             Done done) override;
  void rollback(std::optional<uint64_t> version, std::optional<uint64_t> if_match, Done done) override;
  void import_table(nlohmann::json table, std::optional<uint64_t> if_match, bool force, Done done) override;
  void reload(bool force, Done done) override { reload_.reload(force, std::move(done)); }
  void wait_drained(std::string host, std::string app, uint64_t timeout_ms,
                    std::function<void(uint64_t)> done) override;
  std::vector<HistoryEntry> history() const override;
  std::optional<nlohmann::json> fleet() override;
  void wait_fleet(uint64_t version, uint64_t timeout_ms, std::function<void(nlohmann::json)> done) override;
  std::map<std::string, ServerStats> server_stats() override { return stats_.server_stats(*current_table()); }
  std::map<std::string, AppLiveStats> app_live_stats() override { return stats_.app_live_stats(*current_table()); }
  nlohmann::json status() override;
  std::string metrics() override;
  void takeover(int fd) override { upgrade_.takeover(fd); }
  void upgrade(Done done) override { upgrade_.upgrade(std::move(done)); }

 private:
  friend struct ServerCallbacks;

  // TableSubscribers: the workers adopt each published table (with the settings of the config).
  size_t subscriber_count() const override { return workers_.size(); }
  void deliver(const RouteTablePtr& table) override;

  Result<void> start_admin();               // admin API on its socket(s), or on the received ones
  std::optional<Error> refusal() const;  // why table changes are refused now, if they are
  StatsSnapshot stats_snapshot() const;
  void on_signal(int signum);
  void begin_shutdown();
  void check_drained();
  void finish_shutdown();
  ProxySettingsPtr make_settings(const Config& c) const;
  // A reload adopted its config: its settings go with the next table, or at once in fleet mode
  // (where a reload publishes no table).
  void adopt_settings();
  // Where table changes go: the shared table in fleet mode, else this instance's publisher.
  TableCommitter& committer();

  Config config_;                           // the live config (listen and workers: as started)
  bool takeover_ = false;                   // this process started by taking over another
  uv_loop_t loop_{};                        // the main loop
  EventQueue inbox_;                        // workers -> main (acks, stats, hand-off result)
  uv_signal_t sig_hup_{}, sig_term_{}, sig_int_{}, sig_usr2_{};
  uv_signal_t sig_usr1_{};                  // reopens the access log (logrotate)
  uv_timer_t stats_timer_{};                // refreshes the per-worker stats snapshot
  uv_timer_t drain_timer_{};                // drain progress / deadline
  TicketKeyRotation tickets_;               // the process's ticket keys, in every server TLS context
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<ListenOwner> owner_;      // claims on the listen addresses (one turnout each)
  std::unique_ptr<HealthChecker> health_;   // active checks (apps with a `health` section)
  std::vector<std::unique_ptr<Worker>> workers_;
  ListenSet listeners_;                     // listening sockets until the workers take them
  ProxySettingsPtr settings_;               // timeouts/limits published with each table
  TablePublisher publisher_{*this};         // the live table, its history and acknowledgements
  std::unique_ptr<FleetTableSource> fleet_;  // table_source.etcd: the table is the fleet's
  ConfigReload reload_{config_, publisher_, [this] { adopt_settings(); }};
  StatsCollector stats_{inbox_, workers_};
  Upgrade upgrade_;                         // binary upgrade, either side
  std::chrono::steady_clock::time_point started_;
  int64_t started_unix_ms_ = 0;             // process start, for process_start_time_seconds
  uint64_t drain_deadline_ms_ = 0;
  bool shutting_down_ = false;
  bool stopped_workers_ = false;
};

}  // namespace turnout
