// HTTP/1.1 body framing onto a Stream: one span as-is (Content-Length, until close, tunnel) or
// as one chunk of a chunked body, and the terminal chunk. Shared by both HTTP/1.1 directions:
// the request as sent to a server (Exchange) and the response as sent to a client
// (ClientConnection). Inline: it runs once per body span on the request path.
#pragma once

#include <charconv>
#include <cstddef>

#include "turnout/common/buffer.h"
#include "turnout/net/stream.h"

namespace turnout {

// "0\r\n\r\n": the end of a chunked body without trailers.
inline constexpr char kLastChunk[] = "0\r\n\r\n";
inline constexpr size_t kLastChunkLen = sizeof(kLastChunk) - 1;

// Queues one body span on `out` (held by `chunk` until written), chunk-encoded when `chunked`.
inline void write_body(Stream& out, bool chunked, const ChunkRef& chunk, const char* at, size_t len) {
  if (len == 0) return;
  if (chunked) {
    char size_line[24];
    auto r = std::to_chars(size_line, size_line + 20, len, 16);
    *r.ptr++ = '\r';
    *r.ptr++ = '\n';
    out.write_small(size_line, static_cast<size_t>(r.ptr - size_line));
    out.write_ref(chunk, at, len);
    out.write_small("\r\n", 2);
  } else {
    out.write_ref(chunk, at, len);
  }
}

}  // namespace turnout
