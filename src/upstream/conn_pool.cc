#include "turnout/upstream/conn_pool.h"

#include <openssl/ssl.h>

#include <algorithm>

namespace turnout {

ConnPool::ConnPool(uv_loop_t* loop, ChunkPool& chunks, Deadlines& deadlines, const Timeouts& timeouts,
                   const Limits& limits)
    : loop_(loop), chunks_(chunks), deadlines_(deadlines), timeouts_(timeouts), limits_(limits) {}

ConnPool::~ConnPool() {
  // Every connection must have been closed (close_all) and its callbacks run before this.
  for (auto* c : all_) delete c;
  for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
}

void ConnPool::keep_session(UpstreamConnection* conn) {
  const TlsTransport* tls = conn->tls();
  if (tls == nullptr || !tls->engine().handshake_done()) return;
  // TLS 1.3 tickets arrive after the handshake: by the end of a response they have been read.
  // A keep-alive connection keeps its session: it is stored once, not on every response.
  SSL_SESSION* s = SSL_get0_session(tls->engine().ssl());
  if (s == nullptr || s == conn->kept_session || SSL_SESSION_is_resumable(s) != 1) return;
  SSL_SESSION_up_ref(s);
  conn->kept_session = s;
  SSL_SESSION*& slot = sessions_[conn->server_addr()];
  if (slot != nullptr) SSL_SESSION_free(slot);
  slot = s;
}

UpstreamConnection* ConnPool::take_idle(const std::string& server_addr, UpstreamConnection::User* user) {
  auto it = idle_.find(server_addr);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  UpstreamConnection* c = it->second.back();
  it->second.pop_back();
  --idle_total_;
  c->lease(user);
  return c;
}

UpstreamConnection* ConnPool::open(const std::string& server_addr, const SocketAddress& address,
                                   UpstreamConnection::User* user, int* err, const ClientTlsContext* tls,
                                   const std::string& tls_name) {
  auto* c = new UpstreamConnection(loop_, chunks_, *this, deadlines_, timeouts_, limits_, server_addr);
  all_.insert(c);
  SSL_SESSION* resume = nullptr;
  if (tls != nullptr)
    if (auto it = sessions_.find(server_addr); it != sessions_.end()) resume = it->second;
  int rc = c->connect(user, address, tls, tls_name, resume);
  if (rc != 0) {
    if (err) *err = rc;
    c->detach();
    c->close();  // freed from its socket's close callback...
    if (!c->awaiting_close_callback()) on_conn_closed(c);  // ...or now, if no socket was opened
    return nullptr;
  }
  return c;
}

void ConnPool::release(UpstreamConnection* conn) {
  conn->detach();
  keep_session(conn);
  bool routed = !live_known_ || live_.count(conn->server_addr()) > 0;
  if (!conn->reusable() || !routed) {
    conn->close();
    return;
  }
  conn->park(timeouts_.upstream_idle);
  idle_[conn->server_addr()].push_back(conn);
  ++idle_total_;
}

void ConnPool::on_idle_conn_gone(UpstreamConnection* conn) {
  auto it = idle_.find(conn->server_addr());
  if (it == idle_.end()) return;
  auto& v = it->second;
  auto pos = std::find(v.begin(), v.end(), conn);
  if (pos != v.end()) {
    v.erase(pos);
    --idle_total_;
  }
  if (v.empty()) idle_.erase(it);
}

void ConnPool::set_live_servers(std::unordered_set<std::string> live) {
  live_ = std::move(live);
  live_known_ = true;
  for (auto it = sessions_.begin(); it != sessions_.end();) {  // sessions of servers gone
    if (live_.count(it->first)) {
      ++it;
    } else {
      SSL_SESSION_free(it->second);
      it = sessions_.erase(it);
    }
  }
  std::vector<UpstreamConnection*> doomed;
  for (auto& [addr, conns] : idle_)
    if (!live_.count(addr)) doomed.insert(doomed.end(), conns.begin(), conns.end());
  for (auto* c : doomed) c->close();  // unlinks itself through on_idle_conn_gone
}

void ConnPool::close_idle() {
  std::vector<UpstreamConnection*> doomed;
  for (auto& [addr, conns] : idle_) doomed.insert(doomed.end(), conns.begin(), conns.end());
  for (auto* c : doomed) c->close();
}

void ConnPool::close_all() {
  std::vector<UpstreamConnection*> doomed(all_.begin(), all_.end());
  for (auto* c : doomed) c->close();
}

size_t ConnPool::idle_count_for(const std::string& server_addr) const {
  auto it = idle_.find(server_addr);
  return it == idle_.end() ? 0 : it->second.size();
}

void ConnPool::on_conn_closed(UpstreamConnection* conn) {
  all_.erase(conn);
  delete conn;
}

}  // namespace turnout
