// ProxyContext: everything a worker's connections share — the loop, the chunk pool, the upstream
// pool, the balancer, the pinned route table and settings, counters and the access-log buffer.
// Owned by the Worker (app/worker.h) and outlives every connection of that worker.
// Worker thread only, except the counters, which the main thread reads (relaxed atomics written
// by this worker alone: no lock and no contended cache line on the request path).
#pragma once

#include <uv.h>

#include <array>
#include <functional>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "turnout/net/deadlines.h"
#include "turnout/balance/balancer.h"
#include "turnout/common/buffer.h"
#include "turnout/config/config.h"
#include "turnout/http/message.h"
#include "turnout/http/parser.h"
#include "turnout/proxy/app_live.h"
#include "turnout/route/route_table.h"
#include "turnout/tls/server_tls_context.h"
#include "turnout/upstream/conn_pool.h"

namespace turnout {

class ClientConnection;

// Settings that may change on reload, published with the table.
struct ProxySettings {
  Timeouts timeouts;
  Limits limits;
  bool access_log_json = false;  // access_log_format: json
  std::vector<CidrRange> trusted_proxies;  // peers whose X-Forwarded-* are kept (rewrite.h)
  // HTTPS listeners: the process's TLS context (null when no listener has tls: true) and how
  // long a client has to complete its handshake.
  std::shared_ptr<const ServerTlsContext> tls;
  Millis handshake_timeout{10000};
};
using ProxySettingsPtr = std::shared_ptr<const ProxySettings>;

// A counter with one writer (its worker) and any number of readers.
struct Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

struct ProxyStats {
  Counter connections_accepted;   // client connections ever accepted
  Counter connections_active;     // client connections open now
  Counter connections_idle;       // of those, waiting for a request
  Counter requests;               // request heads completed
  std::array<Counter, 6> responses_by_class;  // index status/100 (1xx..5xx), [0] unused
  Counter bytes_in;               // from clients
  Counter bytes_out;              // to clients
  Counter upstream_retries;       // requests retried on another server / fresh connection
  Counter upstream_failures;      // connect failures, resets, timeouts, malformed responses
  Counter proxy_protocol_errors;  // connections closed for a missing or malformed PROXY header
  Counter tls_handshake_errors;   // HTTPS connections closed before a handshake completed
  Counter misdirected;            // 421: Host not covered by the connection's certificate
  std::array<Counter, 8> local_errors;  // 400 404 408 413 431 502 503 504 answered by turnout
  Counter no_route;               // requests for a host no route (and no default_app) serves: 404
  Counter h2_connections;         // client connections that spoke HTTP/2 (ALPN h2 or h2c)
  Counter h2_connections_active;  // of those, open now
  Counter h2_streams;             // HTTP/2 request streams opened
  Counter h2_goaway_calm;         // HTTP/2 connections closed for abuse (GOAWAY ENHANCE_YOUR_CALM)
};

// Hash for unordered maps with std::string keys that are looked up by string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Per-server counters of one worker. Written by the worker only; copied for the main thread by
// a posted collection (never read concurrently). Nodes of the owning unordered_map are stable,
// so an exchange keeps a pointer to its server's counters for its whole life.
struct ServerCounters {
  uint64_t requests = 0;      // requests sent to the server
  uint64_t in_flight = 0;     // sent and not yet finished
  uint64_t failures = 0;      // connect failures, resets, timeouts, malformed responses
};

// Responses per status class (index status/100; [0] counts exchanges that ended without one).
using ClassCounts = std::array<uint64_t, 6>;

// Index into ProxyStats::local_errors for a status, or -1.
int local_error_index(int status);

// Passive health of a server as seen by this worker.
struct ServerHealth {
  uint32_t consecutive_failures = 0;  // connect failures / resets in a row
  uint64_t down_until_ms = 0;         // loop time until which it is skipped
  uint32_t backoff_ms = 0;            // current back-off (doubles on each trip)
};

// A client request in progress: its head and the parser filling it. A connection takes one from
// its worker's pool at the first byte of a request and gives it back when it goes idle, so an
// idle keep-alive connection carries neither (about 350 bytes, plus the head's heap buffers),
// and a busy one reuses another's buffers without allocating.
struct RequestState {
  RequestHead head;                  // filled by `parser`; read by the connection's Exchange
  std::optional<HttpParser> parser;  // built afresh for each connection that takes the state
};

// Monotonic time in µs for request timings (start, latency, duration in the access log); every
// protocol and the exchange read the same clock.
inline uint64_t now_us() { return uv_hrtime() / 1000; }

struct ProxyContext {
  ProxyContext(uv_loop_t* loop, unsigned worker_id, ProxyStats& stats);

  // Fields by concern. Each list or pool is linked, filled and emptied by the member functions
  // declared beside it, never by hand elsewhere.

  // ---- The worker's loop and the resources it hands out
  uv_loop_t* loop;                 // the worker's loop
  unsigned worker_id;              // 0..workers-1, for logs
  ChunkPool chunks;                // read buffers
  Deadlines deadlines;             // client and upstream connections' timeouts; closed by Worker::stop()
  // Idle request states. The cap only needs to cover the connections that read a request at
  // the same moment; beyond it (a burst has ended) they are freed.
  std::vector<std::unique_ptr<RequestState>> request_states;
  static constexpr size_t kMaxPooledRequests = 256;
  // A head buffer grown past this by one large request is freed rather than kept in the pool.
  static constexpr size_t kMaxPooledHeadBytes = 16 * 1024;
  // ---- Settings in force (published with the table; see Worker::adopt)
  ProxySettingsPtr settings;       // current timeouts and limits (pinned per connection use)
  Timeouts timeouts;               // copy of settings->timeouts that ConnPool refers to
  Limits limits;                   // copy of settings->limits that parsers refer to
  // ---- Routing, balancing and upstream connections
  ConnPool pool;                   // upstream connections
  Balancer balancer;               // round-robin cursors
  RouteTablePtr table;             // current snapshot; each exchange pins its own copy
  // ---- Statistics: written here only, read by the main thread's collection
  ProxyStats& stats;               // owned by the Worker, read by the main thread
  std::unordered_map<std::string, ServerHealth> health;  // passive health by server addr
  std::unordered_map<std::string, ServerCounters, StringHash, std::equal_to<>> servers;  // by server addr
  // Responses by route key ("" = default app) and app: requests by host, app and status class.
  // At most kMaxTrafficHosts hosts per worker are counted by name; hosts first seen after that
  // are counted together under kOtherHosts (not a valid host name, so it cannot collide).
  static constexpr size_t kMaxTrafficHosts = 10000;
  static constexpr const char* kOtherHosts = "(other)";
  // Live figures per app (app_live.h), sent to the main thread as deltas like `traffic`.
  struct AppLiveEntry {
    AppLiveCounts counts;    // since start
    AppLiveCounts reported;  // what the main thread has already been sent
    bool dirty = false;      // in app_live_dirty
  };
  std::unordered_map<std::string, AppLiveEntry, StringHash, std::equal_to<>> app_live;
  std::vector<std::pair<const std::string*, AppLiveEntry*>> app_live_dirty;
  struct TrafficEntry {
    ClassCounts counts{};   // since start
    ClassCounts reported{}; // what the main thread has already been sent
    bool dirty = false;     // in traffic_dirty
    // Its app's live entry, found once when this entry is made (app_live never erases a node),
    // so counting a response costs no second lookup by app name.
    std::pair<const std::string, AppLiveEntry>* live = nullptr;
  };
  using AppCounts = std::unordered_map<std::string, TrafficEntry, StringHash, std::equal_to<>>;
  std::unordered_map<std::string, AppCounts, StringHash, std::equal_to<>> traffic;
  // Entries changed since the last collection (node addresses are stable), so a collection costs
  // the hosts that saw traffic, not the size of the table: at 1M routes a full copy every 250 ms
  // was a third of a worker's CPU.
  struct DirtyTraffic {
    const std::string* host;
    const std::string* app;
    TrafficEntry* entry;
  };
  std::vector<DirtyTraffic> traffic_dirty;
  // Looked up by view: a key string is built only the first time a server / host / app is seen.
  ServerCounters& server_counters(std::string_view addr);
  // Counts one response of `status_class` (status / 100, 0 = none) for host and app, and its
  // upstream response time when one was measured (kNoLatency: none).
  static constexpr uint64_t kNoLatency = ~uint64_t{0};
  void count_traffic(std::string_view host, std::string_view app, size_t status_class,
                     uint64_t latency_us = kNoLatency);
  // ---- Client connections
  bool draining = false;           // stop keep-alive, close idle connections

  // Live client connections (for drain, in-flight queries). Intrusive doubly linked list, linked
  // and unlinked only by these two (the worker on accept, the connection when it is freed).
  ClientConnection* clients_head = nullptr;
  size_t client_count = 0;
  void link_client(ClientConnection* conn);
  void unlink_client(ClientConnection* conn);
  std::function<void()> on_client_closed;  // the worker re-admits connections held back by max_connections

  // ---- Buffers reused across requests
  // Scratch buffer for building heads before they are copied into a stream (keeps its capacity).
  std::string scratch;

  // Access log: lines batched here and handed to the log writer by the worker's flush timer.
  std::string access_buf;

  // ---- Deferred work
  // Objects whose deletion waits until the current callback stack has unwound.
  struct Deferred {
    virtual ~Deferred() = default;
  };
  std::vector<std::unique_ptr<Deferred>> graveyard;
  uv_check_t reaper{};             // empties the graveyard once per loop iteration
  bool reaper_armed = false;
  void defer_delete(std::unique_ptr<Deferred> obj);
  // Output batched per loop turn: an HTTP/2 session queues its frames during the turn's
  // callbacks and writes them once, from the same check as the graveyard (before it is emptied).
  struct Flusher {
    virtual ~Flusher() = default;
    virtual void flush_deferred() = 0;
    bool flush_queued = false;  // in `flushers`
  };
  std::vector<Flusher*> flushers;
  std::vector<Flusher*> flushing_;  // the batch being run (kept for its capacity)
  // Active while flushers wait: output deferred from a timer or close callback (which run
  // outside the poll phase) goes out before the loop blocks in poll again.
  uv_idle_t flush_idle{};
  void run_flushers();
  void defer_flush(Flusher* f);
  // `f` is going away: drop it from the batch.
  void cancel_flush(Flusher* f);
  // A request state from the pool (or new), its parser built to report to `events`.
  std::unique_ptr<RequestState> take_request_state(HttpParser::Events* events);
  // Back to the pool, or freed when the pool is full or its buffers grew large.
  void return_request_state(std::unique_ptr<RequestState> state);

  // A new request id: 16 hex digits, unique per worker (a bijective mix of a random per-worker
  // seed and a counter), so ids from different workers and restarts do not collide in practice.
  std::string next_request_id();
  // The id of `req` into `id`: its own X-Request-Id, kept so one id follows the request through
  // every hop (cut to 128 bytes and made printable for the log, where it is written unquoted),
  // else a new one. Returns true when the id is new (it is then sent to the server).
  bool assign_request_id(const RequestHead& req, std::string& id);
  uint64_t request_id_seed_ = 0;
  uint64_t request_id_next_ = 0;

  // Cached "2026-11-26T21:30:00Z" for access logs, refreshed once per second of loop time.
  const std::string& now_text();
  std::string now_text_;
  uint64_t now_text_sec_ = 0;

  // Passive health: record a connect failure / reset, or a success.
  void server_failed(const std::string& addr);
  void server_ok(const std::string& addr);
  bool server_up(const std::string& addr) const;
  // Servers marked down by the main thread's active checks (replaced as a whole).
  std::shared_ptr<const std::unordered_map<std::string, bool>> active_down;
};

}  // namespace turnout
