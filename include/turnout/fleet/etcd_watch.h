// EtcdWatch: one etcd watch as a long-lived streaming POST /v3/watch on its own connection
// (a create_request with key, range_end, start_revision and progress_notify). The answer body is
// a stream of JSON objects, one per etcd WatchResponse; each is delivered as it completes:
// creation, a group of events (all the events of one response — a transaction's writes share one
// revision and always arrive in one group, which is what lets a reader apply a transaction as one
// unit), progress notifications, and cancellation (with compact_revision when the start revision
// was compacted away).
//
// A watch ends once: canceled by etcd, or failed (connect failure on every endpoint, reset,
// malformed stream, the stream ending, or no byte for `idle_timeout_ms`). Resuming — a fresh
// read, then a new watch from the next revision — is the user's decision, since after a
// compaction only a full read is consistent.
//
// Lifetime: owned by its user; close() (or the destructor) ends it without further callbacks,
// and may be called from a callback. Do not destroy it from inside its own callback — close()
// there and destroy it later. Main loop only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "turnout/common/address.h"
#include "turnout/common/buffer.h"
#include "turnout/fleet/etcd_connection.h"
#include "turnout/fleet/etcd_status.h"
#include "turnout/fleet/etcd_types.h"
#include "turnout/fleet/json_stream_splitter.h"

namespace turnout {

class EtcdClient;

struct WatchOptions {
  std::string key;
  std::string range_end;         // empty: `key` alone; prefix_range_end(p) for a prefix
  int64_t start_revision = 0;    // 0: from now on
  bool progress_notify = true;   // ask etcd for progress notifications when idle
  uint64_t idle_timeout_ms = 0;  // fail when the stream is silent this long (0: never); set it
                                 // above etcd's progress interval to notice a hung etcd
  uint64_t start_timeout_ms = 0; // connect + answer head deadline (0: the client's request timeout)
  std::string authorization;     // etcd auth token (EtcdClient::watch fills it in)
};

class EtcdWatchHandler {
 public:
  virtual ~EtcdWatchHandler() = default;
  // etcd registered the watch at store revision `revision`.
  virtual void on_watch_created(int64_t revision) {}
  // One WatchResponse's events, in revision order; `revision` is the store revision it was sent at.
  virtual void on_watch_events(int64_t revision, std::vector<WatchEvent>&& events) = 0;
  // Everything up to `revision` has been delivered.
  virtual void on_watch_progress(int64_t revision) {}
  // etcd canceled the watch: compact_revision > 0 means the start revision is compacted and the
  // oldest still available is compact_revision. The watch has ended.
  virtual void on_watch_canceled(int64_t compact_revision, const std::string& reason) = 0;
  // The watch broke (see above). It has ended.
  virtual void on_watch_failed(const EtcdStatus& status) = 0;
};

class EtcdWatch final : public EtcdConnection::Owner {
 public:
  // Starts at once (use EtcdClient::watch); the handler hears nothing before the loop runs. The
  // endpoints and settings are copied from the client, which is not referenced afterwards.
  EtcdWatch(EtcdClient& client, WatchOptions options, EtcdWatchHandler* handler);
  ~EtcdWatch() override;
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  void close();
  bool active() const { return state_ != State::Done; }
  // The highest revision known delivered (events, progress, or the creation revision).
  int64_t revision() const { return revision_; }
  const std::string& endpoint() const;

 private:
  enum class State : uint8_t { Starting, Watching, Done };

  void connect();
  void on_connection_down(EtcdConnection* c, const EtcdStatus& why, std::deque<EtcdHttpRequest>&& unsent) override;
  void on_data(std::string_view bytes);
  void on_done(const EtcdStatus& status);
  // Ends the watch and tells the handler (unless closed).
  void finish_failed(const EtcdStatus& status);

  uv_loop_t* loop_;
  std::shared_ptr<ChunkPool> pool_;
  std::vector<SocketAddress> endpoints_;  // the client's, copied
  std::shared_ptr<const ClientTlsContext> tls_;  // the client's (null for http://)
  std::vector<std::string> tls_names_;           // per endpoint, the client's
  uint64_t connect_timeout_ms_;
  uint64_t start_timeout_ms_;
  WatchOptions options_;
  EtcdWatchHandler* handler_;             // null once closed
  EtcdConnection* conn_ = nullptr;        // frees itself once closed
  size_t endpoint_ = 0;                   // index of the endpoint conn_ goes to
  size_t tried_ = 0;                      // endpoints that failed to connect for this watch
  JsonStreamSplitter splitter_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // weak refs tell callbacks the watch is gone
  int64_t revision_ = 0;
  State state_ = State::Starting;
};

}  // namespace turnout
