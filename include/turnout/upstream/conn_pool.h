// ConnPool: a worker's upstream connections, idle ones keyed by server address.
//
// Owns every UpstreamConnection of its worker from creation until its socket's close callback,
// and frees them. Idle connections are reused LIFO (warmest first) and closed after upstream_idle.
// When the route table changes, connections to servers no longer in it are retired: idle ones
// closed at once, busy ones closed instead of pooled when their response ends.
// Worker thread only; no locks.
#pragma once

#include <uv.h>

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "turnout/common/buffer.h"
#include "turnout/config/config.h"
#include "turnout/net/deadlines.h"
#include "turnout/upstream/upstream_conn.h"

namespace turnout {

class ConnPool {
 public:
  // `deadlines` times the connections out (connect, upstream_response, upstream_idle); it
  // outlives the pool's connections (Worker::stop closes the pool first).
  ConnPool(uv_loop_t* loop, ChunkPool& chunks, Deadlines& deadlines, const Timeouts& timeouts,
           const Limits& limits);
  ~ConnPool();

  // `server_addr` is the pool key: the server's address, plus for TLS the name and the client
  // context, so a connection is only reused by an app that would have made the same one.
  // An idle connection to `server_addr`, leased to `user`, or nullptr.
  UpstreamConnection* take_idle(const std::string& server_addr, UpstreamConnection::User* user);
  // A new connection, connecting. nullptr (and `*err`) if it could not even start. With `tls`
  // it speaks TLS (SNI and verified name `tls_name`) and offers the last session this worker
  // kept for `server_addr`, so a new connection resumes instead of a full handshake.
  UpstreamConnection* open(const std::string& server_addr, const SocketAddress& address,
                           UpstreamConnection::User* user, int* err, const ClientTlsContext* tls = nullptr,
                           const std::string& tls_name = {});
  // The exchange is done with `conn`: pooled if reusable and its server is still routed, else closed.
  void release(UpstreamConnection* conn);

  // The servers the current table routes to; idle connections to others are closed now.
  void set_live_servers(std::unordered_set<std::string> live);

  // Closes every idle connection (drain / shutdown).
  void close_idle();
  // Closes everything (shutdown).
  void close_all();

  size_t idle_count() const { return idle_total_; }
  size_t total_count() const { return all_.size(); }
  size_t idle_count_for(const std::string& server_addr) const;

  // Called by UpstreamConnection.
  void on_conn_closed(UpstreamConnection* conn);
  void on_idle_conn_gone(UpstreamConnection* conn);  // idle one closing: unlink from idle list

 private:
  uv_loop_t* loop_;
  ChunkPool& chunks_;
  Deadlines& deadlines_;
  const Timeouts& timeouts_;
  const Limits& limits_;
  std::unordered_map<std::string, std::vector<UpstreamConnection*>> idle_;  // addr -> idle, LIFO
  std::unordered_set<UpstreamConnection*> all_;  // every live connection (owned)
  std::unordered_set<std::string> live_;         // servers in the current table
  bool live_known_ = false;                      // before the first table, everything is live
  size_t idle_total_ = 0;
  // TLS: the last resumable session per server key, this worker's alone (no lock). Owned
  // references (SSL_SESSION_free).
  std::unordered_map<std::string, SSL_SESSION*> sessions_;
  void keep_session(UpstreamConnection* conn);
};

}  // namespace turnout
