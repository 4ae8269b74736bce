// ProxyServer: the main thread. Owns the config, the listening sockets (created here, one
// SO_REUSEPORT socket per worker and address), the workers, the admin API, the state file, the
// signal handlers and the one publish step through which every table change goes (admin API,
// reload, rollback): validate and build the next table, make it durable, post it to every
// worker, and answer once every worker has acknowledged that version.
//
// Lives on the stack of main(); everything runs on the main loop thread. Shutdown order: stop
// admin and signals, drain, post stop to every worker, join them, then close the main handles
// (no EventQueue::post may race the close of the queue it posts to).
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "turnout/admin/admin_server.h"
#include "turnout/admin/api.h"
#include "turnout/app/health_checker.h"
#include "turnout/app/listen_owner.h"
#include "turnout/app/live_window.h"
#include "turnout/app/worker.h"
#include "turnout/common/reclaimer.h"
#include "turnout/config/config.h"
#include "turnout/net/event_queue.h"
#include "turnout/proxy/proxy_context.h"
#include "turnout/route/change_guard.h"
#include "turnout/state/journal.h"

namespace turnout {

class ProxyServer final : public AdminActions {
 public:
  // `binary` is the path to exec for an upgrade (argv[0] resolved at start). `takeover`: start by
  // taking the sockets and live table over from the turnout running on the admin socket.
  ProxyServer(Config config, std::string binary, bool takeover);
  ~ProxyServer() override;

  // Runs until SIGTERM/SIGINT and a drain; returns the process exit code.
  int run();

  // AdminActions (main thread)
  RouteTablePtr current_table() const override { return current_; }
  void apply(std::vector<Change> changes, std::optional<uint64_t> if_match, std::string summary, bool force,
             Done done) override;
  void rollback(std::optional<uint64_t> version, std::optional<uint64_t> if_match, Done done) override;
  void reload(bool force, Done done) override;
  void wait_drained(std::string host, std::string app, uint64_t timeout_ms,
                    std::function<void(uint64_t)> done) override;
  std::vector<HistoryEntry> history() const override;
  std::map<std::string, ServerStats> server_stats() override;
  std::map<std::string, AppLiveStats> app_live_stats() override;
  nlohmann::json status() override;
  std::string metrics() override;
  void takeover(int fd) override;
  void upgrade(Done done) override;

 private:
  friend struct ServerCallbacks;
  struct PendingAck {
    uint64_t version;            // answered once every worker adopted at least this
    std::function<void()> done;  // the API's answer
  };
  struct Kept {
    RouteTablePtr table;  // a recent version, for rollback
    HistoryEntry entry;   // what made it
  };

  struct DrainWait;
  void poll_drained(DrainWait* w);
  Result<void> open_listeners();
  Result<void> adopt_handoff();               // new process: sockets + table from the old one
  Result<void> claim_listeners();             // new process: hold a claim on every listen address
  void spawn_successor();                     // old process: fork/exec the new binary
  void on_handoff_result(Result<void> r);     // old process: the new one is ready, or failed
  Result<void> load_initial_table();
  // The one publish step: every change of the live table goes through here. `back`/`restores`
  // go into its history entry (the rollback undo stack, HistoryEntry).
  void publish(RouteTablePtr next, HistoryEntry entry, std::function<void()> on_adopted);
  static HistoryEntry history_entry(uint64_t version, std::string summary, uint64_t back, uint64_t restores);
  // Whether a server is up now (active and passive health), for the guard rails.
  ServerUpFn server_up_fn() const;
  void on_worker_ack(unsigned worker, uint64_t version);
  void collect_stats();
  void on_signal(int signum);
  void begin_shutdown();
  void check_drained();
  void finish_shutdown();
  ProxySettingsPtr make_settings(const Config& c) const;

  Config config_;                           // the config the live table started from
  uv_loop_t loop_{};                        // the main loop
  EventQueue inbox_;                        // workers -> main (acks, stats)
  uv_signal_t sig_hup_{}, sig_term_{}, sig_int_{}, sig_usr2_{};
  uv_signal_t sig_usr1_{};                  // reopens the access log (logrotate)
  uv_timer_t stats_timer_{};                // refreshes the per-worker stats snapshot
  uv_timer_t drain_timer_{};                // drain progress / deadline
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<ListenOwner> owner_;      // claims on the listen addresses (one turnout each)
  std::map<std::string, int> handoff_claims_;  // new process: claims received, addr -> fd, until run()
  std::unique_ptr<HealthChecker> health_;   // active checks (apps with a `health` section)
  std::unique_ptr<StateStore> state_;       // null without state_file
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::vector<ListenSocket>> worker_fds_;  // listening sockets per worker until started
  std::vector<std::string> listen_addrs_;   // bound addresses, for status
  std::vector<int> handoff_fds_;            // dups of every listening socket (address-major, then
                                            //   worker), passed to a successor on upgrade
  std::string binary_;                      // what an upgrade execs
  bool takeover_ = false;                   // this process started by taking over another
  int handoff_sock_ = -1;                   // new process: the connection to the old one until READY
  RouteTablePtr handoff_table_;             // new process: the live table received
  std::vector<int> handoff_admin_fds_;      // new process: admin unix + tcp fds received (-1 = none)
  std::thread handoff_thread_;              // old process: sends sockets, waits for READY
  bool handing_over_ = false;               // old process: changes refused while handing over
  pid_t successor_pid_ = 0;                 // old process: the child started by an upgrade
  uv_process_t* successor_ = nullptr;       // ...its handle until it exits or we stop (freed in close cb)
  std::vector<Done> upgrade_waiters_;       // answered when the hand-off completes
  RouteTablePtr current_;                   // the latest published table
  ProxySettingsPtr settings_;               // timeouts/limits published with it
  std::deque<Kept> kept_;                   // last kKeep versions, oldest first
  Reclaimer reclaimer_;                     // frees versions that leave kept_, off the main loop
  std::vector<uint64_t> acked_;             // per worker: highest version adopted
  std::deque<PendingAck> pending_;          // ordered by version
  std::vector<WorkerSnapshot> snapshots_;   // last copy of each worker's counters (<= 250 ms old)
  std::map<std::pair<std::string, std::string>, ClassCounts> traffic_;  // (host, app) -> responses, all workers
  std::map<std::string, AppLiveCounts> app_live_;  // app -> responses/errors/latency, all workers
  LiveWindow live_;                         // the last seconds of the totals, for rates
  LiveWindow::Totals live_totals() const;   // the running totals LiveWindow samples
  std::chrono::steady_clock::time_point started_;
  int64_t started_unix_ms_ = 0;             // process start, for process_start_time_seconds
  uint64_t changes_applied_ = 0;            // accepted changes since start
  uint64_t reloads_ = 0, reload_failures_ = 0;
  uint64_t drain_deadline_ms_ = 0;
  bool shutting_down_ = false;
  bool stopped_workers_ = false;
};

}  // namespace turnout
