// EtcdClient: an asynchronous etcd v3 client on a libuv loop, speaking etcd 3.4's JSON gateway
// over HTTP/1.1 (http:// endpoints). Unary calls share one keep-alive EtcdConnection to the
// current endpoint, answered in order; a connect failure moves the not-yet-sent requests to the
// next endpoint (each endpoint tried once per round), and a request that was written is never
// replayed — it fails (Reset, Timeout) and the caller decides. Every request has a deadline
// (`request_timeout_ms` unless given). Watches (etcd_watch.h) and lease keep-alive
// (etcd_lease_keeper.h) build on it.
//
// It runs on the main loop, never on a worker's request path: callbacks run on the loop, and a
// callback may call the client again (even close() it).
//
// Lifetime: owned by its user. close() (or the destructor) fails every pending request with
// EtcdErrc::Canceled and starts closing the connection, whose handles are freed in their close
// callbacks — run the loop once more before uv_loop_close(). Watches and lease keepers made from
// the client must be closed before it.
//
// Authentication: with options.user, a token from /v3/auth/authenticate goes in an
// Authorization header on every request (watches take the current one); a request etcd answers
// "invalid auth token" (it was not applied) is sent once more with a fresh token.
//
// TLS: https:// endpoints (all or none) are reached over TLS 1.2/1.3 with `options.tls` (the
// system store and verification when unset), each endpoint's certificate verified against its
// host as written (or `options.tls_server_name`); a client certificate in the context answers
// etcd's --client-cert-auth.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "turnout/common/address.h"
#include "turnout/common/buffer.h"
#include "turnout/common/error.h"
#include "turnout/fleet/etcd_connection.h"
#include "turnout/fleet/etcd_status.h"
#include "turnout/fleet/etcd_types.h"

namespace turnout {

class EtcdWatch;
class EtcdWatchHandler;
class EtcdLeaseKeeper;
class EtcdLeaseHandler;
struct WatchOptions;

struct EtcdClientOptions {
  std::vector<std::string> endpoints;  // "http://127.0.0.1:2379" or "127.0.0.1:2379"; at least one
  uint64_t request_timeout_ms = 5000;  // default deadline of a request, queueing included
  uint64_t connect_timeout_ms = 2000;  // a connect slower than this fails over to the next endpoint
  // etcd authentication: with a user, every request carries a token from /v3/auth/authenticate,
  // fetched before the first request and again when etcd says it is no longer valid.
  std::string user;
  std::string password;
  // https:// endpoints: the client context (null: built from the defaults) and the name every
  // endpoint's certificate must carry ("" = each endpoint's host).
  std::shared_ptr<const ClientTlsContext> tls;
  std::string tls_server_name;
};

class EtcdClient final : public EtcdConnection::Owner {
 public:
  template <class T>
  using Callback = std::function<void(EtcdResult<T>&&)>;

  // Parses the endpoints (host names are resolved here, blocking: call at config time).
  static Result<std::unique_ptr<EtcdClient>> create(uv_loop_t* loop, EtcdClientOptions options);
  ~EtcdClient() override;
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // Keys in [key, range_end) (range_end empty: `key` alone), at `revision` (0: latest).
  void range(std::string key, std::string range_end, Callback<RangeResult> cb, int64_t revision = 0);
  // Every key starting with `prefix`.
  void range_prefix(std::string prefix, Callback<RangeResult> cb);
  void put(std::string key, std::string value, Callback<PutResult> cb, int64_t lease = 0);
  void delete_range(std::string key, std::string range_end, Callback<DeleteResult> cb);
  void txn(const TxnRequest& txn, Callback<TxnResult> cb);
  // Compacts history up to `revision` (watches from older revisions are then canceled).
  void compact(int64_t revision, Callback<PutResult> cb);
  void lease_grant(int64_t ttl_seconds, Callback<LeaseGrant> cb);
  // One keep-alive; ttl 0 in the answer is reported as EtcdErrc::LeaseExpired.
  void lease_keepalive(int64_t id, Callback<LeaseGrant> cb, uint64_t timeout_ms = 0);
  void lease_revoke(int64_t id, Callback<PutResult> cb);

  // A watch on its own connection, starting at the current endpoint (see etcd_watch.h);
  // `handler` outlives the watch.
  std::unique_ptr<EtcdWatch> watch(const WatchOptions& options, EtcdWatchHandler* handler);
  // Keeps lease `id` (granted with `ttl_seconds`) alive until the keeper is closed (see
  // etcd_lease_keeper.h); `handler` outlives the keeper.
  std::unique_ptr<EtcdLeaseKeeper> keep_alive(int64_t id, int64_t ttl_seconds, EtcdLeaseHandler* handler);

  // Fails pending requests with Canceled and closes the connection; later calls fail at once
  // with Canceled. Safe twice.
  void close();
  bool closed() const { return closed_; }

  uv_loop_t* loop() const { return loop_; }
  const EtcdClientOptions& options() const { return options_; }
  const std::vector<SocketAddress>& endpoints() const { return endpoints_; }
  // https:// endpoints: the context every connection's TLS uses (null for http://), and per
  // endpoint the name its certificate must carry.
  const std::shared_ptr<const ClientTlsContext>& tls() const { return options_.tls; }
  const std::vector<std::string>& tls_names() const { return tls_names_; }
  const std::shared_ptr<ChunkPool>& chunk_pool() const { return pool_; }
  // The endpoint unary requests go to now (and new watches start at).
  size_t current_endpoint() const { return current_; }

  // Sends one POST with the default deadline (or `timeout_ms`); the building block of the calls
  // above, public for the watch's and keeper's use.
  void call(std::string path, std::string body,
            std::function<void(const EtcdStatus&, int http_status, std::string&& body)> done, uint64_t timeout_ms = 0);

 private:
  EtcdClient(uv_loop_t* loop, EtcdClientOptions options, std::vector<SocketAddress> endpoints,
             std::vector<std::string> tls_names);

  void on_connection_down(EtcdConnection* c, const EtcdStatus& why, std::deque<EtcdHttpRequest>&& unsent) override;
  EtcdConnection* connection();
  using RawDone = std::function<void(const EtcdStatus&, int http_status, std::string&& body)>;
  struct AwaitingToken {
    std::string path, body;
    RawDone done;
    uint64_t timeout_ms;
  };
  void submit(std::string path, std::string body, RawDone done, uint64_t timeout_ms, bool retried);
  void authenticate();

  uv_loop_t* loop_;
  EtcdClientOptions options_;
  std::vector<SocketAddress> endpoints_;  // resolved, in the order given
  std::vector<std::string> tls_names_;    // per endpoint: the name its certificate must carry
  std::shared_ptr<ChunkPool> pool_;       // read chunks of every connection made from this client
  EtcdConnection* conn_ = nullptr;        // the unary connection; frees itself once closed
  size_t current_ = 0;                    // index into endpoints_ of conn_ (or the next one)
  size_t failed_in_row_ = 0;              // connect failures since the last connect that worked
  bool closed_ = false;
  std::string token_;                     // etcd auth token ("" until authenticated, or without a user)
  bool authenticating_ = false;
  std::deque<AwaitingToken> awaiting_token_;  // requests held until a token arrives
};

}  // namespace turnout
