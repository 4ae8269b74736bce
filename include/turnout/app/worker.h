// Worker: one thread, one libuv loop, its own SO_REUSEPORT listening sockets, its own upstream
// pool, balancer and counters (ProxyContext), and an inbox through which the main thread posts
// new route tables and queries. No locks on the request path: the only shared state is the
// immutable RouteTable and the relaxed counters.
//
// Owner: app/Server creates, starts, stops and joins every Worker. post() may be called from any
// thread until join(); everything else runs on the worker's own thread.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "turnout/net/acceptor.h"
#include "turnout/net/event_queue.h"
#include "turnout/net/listener.h"
#include "turnout/proxy/proxy_context.h"
#include "turnout/route/route_table.h"

namespace turnout {

class ClientConnection;

// Per-server counters of one worker, collected by the main thread on demand.
struct WorkerServerStats {
  uint64_t idle_conns = 0;  // pooled
  bool up = true;           // passive health as seen by this worker
  ServerCounters counters;  // requests, in flight, failures
};

// What the main thread copies from a worker for status, metrics and `ctl apps`.
struct WorkerSnapshot {
  std::unordered_map<std::string, WorkerServerStats> servers;  // by server addr
  struct TrafficDelta {
    std::string host, app;  // route key, app
    ClassCounts delta;      // responses since the previous snapshot
  };
  std::vector<TrafficDelta> traffic;  // only entries that changed since the previous snapshot
  std::vector<std::pair<std::string, AppLiveCounts>> app_live;  // per app, deltas likewise
  uint64_t pooled_total = 0;   // upstream connections, idle + busy
  uint64_t pooled_idle = 0;    // idle upstream connections
  size_t clients = 0;          // open client connections
};

class Worker {
 public:
  Worker(unsigned id, std::vector<ListenSocket> listen_fds, uint32_t max_connections);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the thread with the first table. Returns once the loop is running.
  void start(RouteTablePtr table, ProxySettingsPtr settings);
  // Any thread: runs `fn` on this worker's loop.
  void post(std::function<void(Worker&)> fn);
  void join();

  // --- worker thread only ---
  // Adopts a new snapshot: the pointer swap is the whole switch; connections to servers the
  // table no longer routes are retired.
  void adopt(RouteTablePtr table, ProxySettingsPtr settings);
  // Servers marked down by the main thread's active health checks.
  void set_active_down(std::shared_ptr<const std::unordered_map<std::string, bool>> down) {
    ctx_->active_down = std::move(down);
  }
  // Stops accepting, closes idle connections, marks the rest to close after their response.
  void begin_drain();
  // Closes everything; the loop then ends and the thread exits.
  void stop();
  // In-flight exchanges routed by `host` to `app`.
  size_t in_flight(std::string_view host, std::string_view app) const;
  // Counters, pools and passive health, copied for the main thread; traffic as deltas.
  WorkerSnapshot snapshot();
  // Open client connections (drain progress).
  size_t client_count() const { return ctx_ ? ctx_->client_count : 0; }

  unsigned id() const { return id_; }
  // Counters: readable from any thread.
  const ProxyStats& stats() const { return stats_; }
  uint64_t table_version() const { return version_.load(std::memory_order_acquire); }

 private:
  friend struct WorkerCallbacks;
  void run(RouteTablePtr table, ProxySettingsPtr settings);
  // A new client socket from one of the acceptors; false pauses them all (max_connections).
  bool on_accept(int fd, const sockaddr* peer, const ListenSocket& how);
  void on_accept_shortage(int err);
  // After a connection closed: accepting resumes below the limit, and retries at once after a
  // descriptor shortage.
  void resume_accepting();
  void flush_access_log();

  unsigned id_;                          // 0..workers-1
  std::vector<ListenSocket> listen_fds_; // owned until handed to the acceptors
  uint32_t max_connections_;             // this worker's share of limits.max_connections
  std::thread thread_;
  uv_loop_t loop_{};
  EventQueue inbox_;                     // main -> worker
  std::unique_ptr<ProxyContext> ctx_;    // created on the worker thread
  std::vector<Acceptor*> acceptors_;     // one per listening socket; each frees itself after close()
  uv_timer_t log_timer_{};               // flushes the access-log buffer
  ProxyStats stats_;                     // written by this worker, read by the main thread
  std::atomic<uint64_t> version_{0};     // adopted table version
  uint64_t next_conn_id_ = 1;
  uint64_t accept_shortages_ = 0;        // times accepting paused for lack of descriptors/memory
  uint64_t last_shortage_log_ms_ = 0;    // loop time of the last "accepting paused" line
  bool draining_ = false;
  bool stopping_ = false;
};

}  // namespace turnout
