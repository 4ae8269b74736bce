#include "turnout/fleet/etcd_client.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "turnout/fleet/etcd_codec.h"
#include "turnout/fleet/etcd_lease_keeper.h"
#include "turnout/fleet/etcd_watch.h"

namespace turnout {
namespace {

// Turns a collected answer into the typed result with `decode` (errors pass through as they are).
template <class T, class Decode>
std::function<void(const EtcdStatus&, int, std::string&&)> typed(EtcdClient::Callback<T> cb, Decode decode) {
  return [cb = std::move(cb), decode](const EtcdStatus& s, int, std::string&& body) {
    EtcdResult<T> r;
    if (!s.ok()) {
      r.status = s;
    } else {
      r = decode(body);
      if (!r.status.ok()) r.status.endpoint = s.endpoint;
      else r.status = s;
    }
    if (cb) cb(std::move(r));
  };
}

}  // namespace

Result<std::unique_ptr<EtcdClient>> EtcdClient::create(uv_loop_t* loop, EtcdClientOptions options) {
  if (options.endpoints.empty()) return make_error(ErrorKind::Invalid, "etcd: no endpoints");
  std::vector<SocketAddress> addrs;
  std::vector<std::string> names;
  const bool https = options.endpoints.front().starts_with("https://");
  for (const std::string& e : options.endpoints) {
    std::string_view text = e;
    if (text.starts_with("https://") != https)
      return make_error(ErrorKind::Invalid, "etcd endpoint " + e + ": every endpoint must use the same scheme");
    if (https) text.remove_prefix(8);
    else if (text.starts_with("http://")) text.remove_prefix(7);
    if (!text.empty() && text.back() == '/') text.remove_suffix(1);
    auto addr = parse_address(text);
    if (!addr) return make_error(ErrorKind::Invalid, "etcd endpoint " + e + ": " + addr.error().message);
    if (addr->is_unix()) return make_error(ErrorKind::Invalid, "etcd endpoint " + e + ": must be host:port");
    // The host as written ("etcd-1.internal", "10.0.0.5", "[::1]" without brackets) is what the
    // certificate must name, not what it resolved to.
    std::string_view host = text.substr(0, text.rfind(':'));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    names.push_back(!options.tls_server_name.empty() ? options.tls_server_name : std::string(host));
    addrs.push_back(std::move(*addr));
  }
  if (!https) {
    options.tls = nullptr;
  } else if (!options.tls) {
    auto ctx = ClientTlsContext::create({});
    if (!ctx) return make_error(ctx.error().kind, "etcd TLS: " + ctx.error().message);
    options.tls = std::move(*ctx);
  }
  return std::unique_ptr<EtcdClient>(new EtcdClient(loop, std::move(options), std::move(addrs), std::move(names)));
}

EtcdClient::EtcdClient(uv_loop_t* loop, EtcdClientOptions options, std::vector<SocketAddress> endpoints,
                       std::vector<std::string> tls_names)
    : loop_(loop),
      options_(std::move(options)),
      endpoints_(std::move(endpoints)),
      tls_names_(std::move(tls_names)),
      pool_(std::make_shared<ChunkPool>(8)) {}

EtcdClient::~EtcdClient() { close(); }

void EtcdClient::close() {
  if (closed_) return;
  closed_ = true;
  if (EtcdConnection* c = std::exchange(conn_, nullptr)) c->close(true);
  std::deque<AwaitingToken> held = std::move(awaiting_token_);
  for (AwaitingToken& a : held)
    if (a.done) a.done(EtcdStatus::error(EtcdErrc::Canceled, "etcd client closed"), 0, {});
}

EtcdConnection* EtcdClient::connection() {
  if (conn_ == nullptr)
    conn_ = new EtcdConnection(loop_, pool_, endpoints_[current_], options_.connect_timeout_ms, this, options_.tls,
                               tls_names_[current_]);
  return conn_;
}

void EtcdClient::call(std::string path, std::string body,
                      std::function<void(const EtcdStatus&, int, std::string&&)> done, uint64_t timeout_ms) {
  submit(std::move(path), std::move(body), std::move(done), timeout_ms, false);
}

void EtcdClient::submit(std::string path, std::string body, RawDone done, uint64_t timeout_ms, bool retried) {
  if (closed_) {
    if (done) done(EtcdStatus::error(EtcdErrc::Canceled, "etcd client closed"), 0, {});
    return;
  }
  if (!options_.user.empty() && token_.empty()) {
    awaiting_token_.push_back(AwaitingToken{std::move(path), std::move(body), std::move(done), timeout_ms});
    return authenticate();
  }
  EtcdHttpRequest req;
  req.path = std::move(path);
  req.authorization = token_;
  req.deadline = uv_now(loop_) + (timeout_ms != 0 ? timeout_ms : options_.request_timeout_ms);
  // Kept for a second try: an answer of "invalid auth token" means nothing was applied.
  std::string again;
  if (!options_.user.empty() && !retried) again = body;
  req.body = std::move(body);
  req.on_done = [this, done = std::move(done), path = req.path, again = std::move(again), timeout_ms,
                 retried](const EtcdStatus& s, int http_status, std::string&& b) mutable {
    // Canceled answers may come from close(), the client's own destructor included: `this` is
    // touched only for answers that came back from an endpoint.
    if (s.code != EtcdErrc::ConnectFailed && s.code != EtcdErrc::Canceled) failed_in_row_ = 0;
    if (!retried && !options_.user.empty() && s.code == EtcdErrc::Etcd && s.grpc_code == 16) {
      token_.clear();
      return submit(std::move(path), std::move(again), std::move(done), timeout_ms, true);
    }
    if (done) done(s, http_status, std::move(b));
  };
  connection()->submit(std::move(req));
}

void EtcdClient::authenticate() {
  if (authenticating_) return;
  authenticating_ = true;
  EtcdHttpRequest req;
  req.path = "/v3/auth/authenticate";
  req.body = nlohmann::json{{"name", options_.user}, {"password", options_.password}}.dump();
  req.deadline = uv_now(loop_) + options_.request_timeout_ms;
  req.on_done = [this](const EtcdStatus& s, int, std::string&& b) {
    if (s.code == EtcdErrc::Canceled) return;  // closing: the held requests are failed there
    authenticating_ = false;
    EtcdStatus failed = s;
    if (s.ok()) {
      nlohmann::json j = nlohmann::json::parse(b, nullptr, false);
      auto t = j.is_object() ? j.find("token") : j.end();
      if (t != j.end() && t->is_string() && !t->get<std::string>().empty()) {
        token_ = t->get<std::string>();
      } else {
        failed = EtcdStatus::error(EtcdErrc::Malformed, "no token in etcd's authenticate answer", s.endpoint);
      }
    }
    std::deque<AwaitingToken> held = std::move(awaiting_token_);
    if (token_.empty()) {
      failed.message = "etcd authentication as " + options_.user + " failed: " + failed.message;
      for (AwaitingToken& a : held)
        if (a.done) a.done(failed, 0, {});
      return;
    }
    for (AwaitingToken& a : held) submit(std::move(a.path), std::move(a.body), std::move(a.done), a.timeout_ms, false);
  };
  connection()->submit(std::move(req));
}

void EtcdClient::on_connection_down(EtcdConnection* c, const EtcdStatus& why, std::deque<EtcdHttpRequest>&& unsent) {
  if (c == conn_) conn_ = nullptr;
  // An endpoint that refuses or stalls is left for the next; one that reset a connection may
  // just have closed an idle one, so it is tried again.
  if (why.code == EtcdErrc::ConnectFailed || why.code == EtcdErrc::Timeout) current_ = (current_ + 1) % endpoints_.size();
  if (why.code == EtcdErrc::ConnectFailed && ++failed_in_row_ >= endpoints_.size()) {
    failed_in_row_ = 0;
    EtcdStatus all = why;
    if (endpoints_.size() > 1) all.message = "no etcd endpoint accepted a connection (last: " + why.message + ")";
    for (auto& r : unsent)
      if (r.on_done) r.on_done(all, 0, {});
    return;
  }
  for (auto& r : unsent) {
    if (closed_) {
      if (r.on_done) r.on_done(EtcdStatus::error(EtcdErrc::Canceled, "etcd client closed"), 0, {});
      continue;
    }
    connection()->submit(std::move(r));
  }
}

void EtcdClient::range(std::string key, std::string range_end, Callback<RangeResult> cb, int64_t revision) {
  call("/v3/kv/range", etcd_codec::range_body(key, range_end, 0, revision),
       typed<RangeResult>(std::move(cb), etcd_codec::decode_range));
}

void EtcdClient::range_prefix(std::string prefix, Callback<RangeResult> cb) {
  std::string end = prefix_range_end(prefix);
  range(std::move(prefix), std::move(end), std::move(cb));
}

void EtcdClient::put(std::string key, std::string value, Callback<PutResult> cb, int64_t lease) {
  call("/v3/kv/put", etcd_codec::put_body(key, value, lease), typed<PutResult>(std::move(cb), etcd_codec::decode_put));
}

void EtcdClient::delete_range(std::string key, std::string range_end, Callback<DeleteResult> cb) {
  call("/v3/kv/deleterange", etcd_codec::delete_body(key, range_end),
       typed<DeleteResult>(std::move(cb), etcd_codec::decode_delete));
}

void EtcdClient::txn(const TxnRequest& txn, Callback<TxnResult> cb) {
  call("/v3/kv/txn", etcd_codec::txn_body(txn), typed<TxnResult>(std::move(cb), etcd_codec::decode_txn));
}

void EtcdClient::compact(int64_t revision, Callback<PutResult> cb) {
  call("/v3/kv/compaction", etcd_codec::compaction_body(revision),
       typed<PutResult>(std::move(cb), etcd_codec::decode_compaction));
}

void EtcdClient::lease_grant(int64_t ttl_seconds, Callback<LeaseGrant> cb) {
  call("/v3/lease/grant", etcd_codec::lease_grant_body(ttl_seconds),
       typed<LeaseGrant>(std::move(cb), etcd_codec::decode_lease_grant));
}

void EtcdClient::lease_keepalive(int64_t id, Callback<LeaseGrant> cb, uint64_t timeout_ms) {
  call("/v3/lease/keepalive", etcd_codec::lease_id_body(id),
       typed<LeaseGrant>(std::move(cb), [id](std::string_view body) {
         auto r = etcd_codec::decode_lease_keepalive(body);
         if (r.ok() && r.value.ttl <= 0)
           r.status = EtcdStatus::error(EtcdErrc::LeaseExpired, "lease " + std::to_string(id) + " has expired");
         return r;
       }),
       timeout_ms);
}

void EtcdClient::lease_revoke(int64_t id, Callback<PutResult> cb) {
  call("/v3/lease/revoke", etcd_codec::lease_id_body(id),
       typed<PutResult>(std::move(cb), etcd_codec::decode_lease_revoke));
}

std::unique_ptr<EtcdWatch> EtcdClient::watch(const WatchOptions& options, EtcdWatchHandler* handler) {
  WatchOptions w = options;
  if (w.authorization.empty()) w.authorization = token_;
  return std::make_unique<EtcdWatch>(*this, w, handler);
}

std::unique_ptr<EtcdLeaseKeeper> EtcdClient::keep_alive(int64_t id, int64_t ttl_seconds, EtcdLeaseHandler* handler) {
  return std::make_unique<EtcdLeaseKeeper>(*this, id, ttl_seconds, handler);
}

}  // namespace turnout
