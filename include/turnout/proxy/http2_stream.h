// Http2Stream: one HTTP/2 request stream of an Http2Session — its request head (built by
// H2RequestBuilder), its Exchange while one runs, the request body's flow-control state and the
// response body bytes queued for DATA frames. Owned by its session; lives from the first HEADERS
// frame until nghttp2 closes the stream, then goes back to the session's free list (its head
// buffers kept for the next stream). Worker thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "turnout/common/buffer.h"
#include "turnout/common/fifo.h"
#include "turnout/http/h2_headers.h"
#include "turnout/http/message.h"
#include "turnout/proxy/exchange.h"

namespace turnout {

struct Http2Stream {
  struct Segment {
    ChunkRef chunk;  // holds the bytes until they are written
    const char* p;
    size_t n;
  };

  int32_t id = 0;
  RequestHead head;             // the request as forwarded; read by `ex`
  H2RequestBuilder builder;     // fills `head` from the HEADERS (and CONTINUATION) frames
  std::unique_ptr<Exchange> ex; // the request being proxied, if any
  std::string request_id;       // X-Request-Id for the access log (and upstream when generated)
  bool request_id_generated = false;
  uint64_t start_us = 0;        // first HEADERS frame
  // Request body
  uint64_t body_received = 0;   // DATA payload bytes, checked against content-length
  size_t unconsumed = 0;        // received while the exchange was paused: WINDOW_UPDATE on resume
  bool paused = false;          // the exchange cannot take more body yet
  bool headers_open = false;    // the request header block has not ended yet
  bool in_trailers = false;     // a trailer block is being received (into `request_trailers`)
  MessageHead request_trailers; // the request's trailer fields; read by `ex` (terminal chunk)
  H2TrailerBuilder trailer_builder;  // fills `request_trailers` from the trailer HEADERS block
  bool request_complete = false;
  bool body_open = false;       // counted in the session's bodies_open_ (ex && !request_complete)
  size_t slot = 0;              // index in the session's active_ list
  // Response
  Fifo<Segment> out;            // body bytes not yet framed
  size_t out_bytes = 0;
  std::string trailer_storage;  // trailers to send after the body (send_end), lowercase names
  std::vector<std::pair<std::string_view, std::string_view>> trailers;
  int status = 0;               // sent to the client
  uint64_t bytes_sent = 0;      // response body bytes
  bool response_started = false;  // HEADERS submitted
  bool response_ended = false;    // no more body bytes will come
  bool deferred = false;          // the data source said DEFERRED: resume when bytes come
  bool blocked = false;           // send_body returned false: on_client_drained owed

  void reset() {
    id = 0;
    head.clear();
    ex.reset();
    request_id.clear();
    request_id_generated = false;
    start_us = 0;
    body_received = 0;
    unconsumed = 0;
    paused = headers_open = in_trailers = request_complete = body_open = false;
    slot = 0;
    request_trailers.clear();
    out.clear();
    out_bytes = 0;
    trailer_storage.clear();
    trailers.clear();
    status = 0;
    bytes_sent = 0;
    response_started = response_ended = deferred = blocked = false;
  }
};

}  // namespace turnout
