// ClientSide: what an Exchange needs of the client protocol that carries its request.
//
// The Exchange decides *what* is answered (which server, which status, when it is over); the
// ClientSide decides *how* it goes on the wire: the HTTP/1.1 implementation (ClientConnection)
// frames the body (chunked / Content-Length / until close), rewrites the head and makes the
// keep-alive decision; an HTTP/2 session would turn the same calls into HEADERS and DATA frames.
// Every call names its Exchange, so one ClientSide may carry many exchanges at once (an HTTP/2
// session owns one per stream); the HTTP/1.1 one carries at most one at a time.
//
// Events flow back through the Exchange's own methods: on_request_body / on_request_complete
// (request bytes), on_client_drained (the client's output fell below the low watermark),
// on_client_tunnel_data / on_client_tunnel_end, and abort() when the client is gone.
//
// Cost: one virtual call per event (head, body span, end), none per byte. Worker thread only.
#pragma once

#include <cstddef>
#include <string_view>

#include "turnout/common/buffer.h"
#include "turnout/http/message.h"
#include "turnout/http/rewrite.h"

namespace turnout {

class Exchange;

class ClientSide {
 public:
  virtual ~ClientSide() = default;

  // --- the request ---
  // What the server is told about the client (address, trust of its X-Forwarded-*, request id).
  // Views stay valid while `ex` is in progress.
  virtual void forward_context(const Exchange& ex, ForwardContext& out) const = 0;
  // Stop / resume reading `ex`'s request body (the server cannot take more yet / can again).
  virtual void pause_request_body(Exchange& ex) = 0;
  virtual void resume_request_body(Exchange& ex) = 0;

  // --- the response ---
  // An interim (1xx, not 101) response from the server. The protocol decides whether the client
  // hears it (HTTP/1.1: only "100 Continue", and only to a request that expected it).
  virtual void send_interim(Exchange& ex, const ResponseHead& head) = 0;
  // The final response head, framing already decided for the server's side (head.framing).
  // Queues the head as the client will see it; nothing is flushed yet.
  virtual void send_head(Exchange& ex, const ResponseHead& head) = 0;
  // Response body bytes (held by `chunk` until written). Returns false when the client's output
  // is above its high watermark: the exchange stops reading the server until on_client_drained.
  virtual bool send_body(Exchange& ex, const ChunkRef& chunk, const char* at, size_t len) = 0;
  // The response is complete (with its trailers, if the server sent any: null today). Flushes.
  virtual void send_end(Exchange& ex, const MessageHead* trailers) = 0;
  // turnout answers the request itself with `status` (no response head went out yet). `close`
  // forces the client connection (or stream) to end after it. `ex` is over after this call.
  virtual void send_error(Exchange& ex, int status, std::string_view why, bool close) = 0;
  // Both the response and the request are complete: `ex` is over after this call, and the
  // protocol decides whether its connection carries on.
  virtual void exchange_done(Exchange& ex) = 0;
  // Something failed after the response began (or a tunnel ended both ways): nothing more can
  // be said; the client sees its connection (HTTP/2: its stream) end. `ex` is over.
  virtual void abort(Exchange& ex) = 0;

  // --- the tunnel (101 Switching Protocols, CONNECT) ---
  // The response head that opens the tunnel went out (send_head): raw bytes both ways from now
  // on, starting with any the client already sent after its request.
  virtual void start_tunnel(Exchange& ex) = 0;
  // Raw bytes from the server; false when the client's output is above its high watermark.
  virtual bool send_tunnel_data(Exchange& ex, const ChunkRef& chunk, const char* at, size_t len) = 0;
  // The server half-closed the tunnel: half-close towards the client once the bytes are out.
  virtual void end_tunnel_output(Exchange& ex) = 0;
};

}  // namespace turnout
