// Exchange: one proxied request/response. Owns the decisions made for the request (pinned
// route table, route, chosen app and server, framing both ways), the upstream lease, the
// request body bytes not yet sent, and backpressure between the two sockets.
//
// It speaks to the client only through a ClientSide (client_side.h): it says what is answered
// (interim, head, body, end, an error of its own, a tunnel) and the protocol says how. It never
// touches the client's socket.
//
// Created by the protocol side (ClientConnection for HTTP/1.1) when a request head is complete;
// handed to the worker's graveyard (deleted after the current callback stack unwinds) when done
// or aborted. Worker thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "turnout/balance/balancer.h"
#include "turnout/common/buffer.h"
#include "turnout/http/message.h"
#include "turnout/proxy/client_side.h"
#include "turnout/proxy/proxy_context.h"
#include "turnout/route/route_table.h"
#include "turnout/upstream/upstream_conn.h"

namespace turnout {

class Exchange final : public UpstreamConnection::User, public ServerFilter, public ProxyContext::Deferred {
 public:
  enum class State : uint8_t {
    Connecting,       // choosing a server / waiting for a connection
    Sending,          // head written; request body may still be streaming
    Receiving,        // response head received; streaming the response body
    Tunnel,           // 101: raw bytes both ways
    Done,             // response complete (the request may still be finishing)
    Failed,           // aborted; waiting to be reaped
  };

  // `request` is owned by the client side and outlives the exchange's use of it (it is read only
  // while the exchange is attached to `client`).
  Exchange(ProxyContext& ctx, ClientSide& client, const RequestHead& request, RouteTablePtr table,
           const Route& route, uint64_t start_us);
  ~Exchange() override;
  // One Exchange per request: its memory is recycled through a per-thread cache, not malloc.
  static void* operator new(size_t size);
  static void operator delete(void* p);

  // Picks a server and starts sending. May synchronously answer an error through the client.
  void start();

  // Request side (from the ClientSide's parser).
  void on_request_body(const ChunkRef& chunk, const char* at, size_t len);
  // The request is complete. `trailers` (owned by the client side, valid while the exchange is
  // attached to it; null or empty when none) go upstream in the terminal chunk when the request
  // is sent chunked; a Content-Length request has nowhere to carry them and drops them.
  void on_request_complete(const MessageHead* trailers = nullptr);
  void on_client_tunnel_data(const ChunkRef& chunk, const char* at, size_t len);
  void on_client_tunnel_end();
  void on_client_drained();
  // The client is gone: release the upstream (closed, never pooled mid-response).
  void abort();

  State state() const { return state_; }
  std::string_view route_host() const { return route_host_; }
  std::string_view app_name() const { return app_name_; }
  std::string_view server_addr() const { return server_addr_; }
  int status() const { return status_; }
  uint64_t bytes_sent() const { return body_bytes_out_; }
  uint64_t start_us() const { return start_us_; }
  bool upgrading() const { return upgrade_; }
  // The client has seen our response head: an error can no longer be answered with a status.
  bool response_head_sent() const { return response_head_sent_; }

  // The client side's own record of this exchange (an HTTP/2 stream), so that it finds it in
  // O(1) from the exchange its calls name. Opaque here; the client side sets it and clears it
  // when the exchange leaves it.
  void set_client_data(void* p) { client_data_ = p; }
  void* client_data() const { return client_data_; }

  // ServerFilter: skip servers already tried or down.
  bool usable(const Server& server) const override;

 private:
  // UpstreamConnection::User
  void on_upstream_connected() override;
  HttpParser::Events::HeadAction on_upstream_head(ResponseHead& head) override;
  void on_upstream_body(const ChunkRef& chunk, const char* at, size_t len) override;
  void on_upstream_complete() override;
  void on_upstream_tunnel_data(const ChunkRef& chunk, const char* at, size_t len) override;
  void on_upstream_tunnel_end() override;
  void on_upstream_failed(UpstreamFailure why, bool response_started) override;
  void on_upstream_drained() override;

  void attempt();                 // pick + lease/connect
  void send_request();            // head + buffered body to the leased connection
  void write_request_body(const ChunkRef& chunk, const char* at, size_t len);
  void finish_request_upstream(); // terminal chunk, response timer
  void fail_with(int status, const char* why, bool force_close = false);
  void release_upstream();
  void maybe_done();
  void record_latency();
  void count_start();               // the request goes to server_
  void count_end(bool failed);      // ...and is over

  struct Pending {
    ChunkRef chunk;  // keeps the body bytes alive until the upstream is ready
    const char* p;
    size_t n;
  };

  ProxyContext& ctx_;                 // worker state
  ClientSide* client_;                // the protocol carrying the request; null once over or aborted
  const RequestHead* req_;            // the request head, owned by the client side
  const MessageHead* req_trailers_ = nullptr;  // the request's trailer fields, owned by the client side
  void* client_data_ = nullptr;       // set_client_data(): the client side's, not ours
  RouteTablePtr table_;               // pinned for the whole exchange
  const Route* route_;                // in table_
  // Views into table_, which this exchange pins for its whole life: no copy per request.
  std::string_view route_host_;       // route key ("" = default app), for in-flight queries
  std::string_view app_name_;         // chosen app
  std::string_view server_addr_;      // chosen server, for logs
  const Server* server_ = nullptr;    // in table_
  ServerCounters* counters_ = nullptr;  // ctx_.servers entry of server_ while a request is in flight
  UpstreamConnection* up_ = nullptr;  // leased connection
  std::vector<const Server*> tried_;  // servers that failed to connect for this request
  uint64_t admitted_ = ~uint64_t{0};  // entries of route_ this request may go to (route_rules.h)
  std::vector<Pending> pending_;      // request body held until a connection is ready
  size_t pending_bytes_ = 0;
  Framing up_framing_;                // request body framing as sent upstream
  uint64_t start_us_;                 // request head complete (µs, loop clock)
  uint64_t upstream_start_us_ = 0;    // request sent to the server
  uint64_t latency_us_ = ProxyContext::kNoLatency;  // response head after the request; counted at the end
  uint64_t body_bytes_out_ = 0;       // response body bytes sent to the client
  uint64_t request_body_bytes_ = 0;   // request body bytes received (413 check)
  State state_ = State::Connecting;
  int status_ = 0;                    // response status sent to the client
  uint8_t attempts_ = 0;              // connection attempts made
  bool from_pool_ = false;            // current upstream came from the idle pool
  bool request_complete_ = false;     // the client's request was fully read
  bool request_body_started_ = false; // a body byte went upstream (no retry after that)
  bool response_head_sent_ = false;   // the client has seen our response head
  bool response_complete_ = false;
  bool upgrade_ = false;              // the request asks for an upgrade
  bool tunnel_up_eof_ = false;        // tunnel: the server half-closed
  bool tunnel_client_eof_ = false;    // tunnel: the client half-closed
};

}  // namespace turnout
