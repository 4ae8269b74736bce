// Transport: the raw I/O under a Stream — connect, read, write, half-close, close — so that
// Stream's buffering, watermarks and batched writes sit on any byte carrier. SocketTransport
// (socket_transport.h) carries TCP and unix sockets. A TLS transport sits between a
// SocketTransport and the Stream: it reads ciphertext from the socket and reports plaintext
// reads upward, takes plaintext writes and writes ciphertext below, and reports
// on_transport_connected only once its handshake is done (for an accepted socket, handshake()
// starts it).
//
// Cost: one virtual call per I/O event (a read, a try_write, a write and its completion), none
// per byte, and no allocation per read or write: reads land in the worker's pooled chunks, and
// the caller's write request embeds the TransportWrite the transport needs.
// Worker thread only.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include "turnout/common/buffer.h"

namespace turnout {

// The start of a caller's write request: whatever a transport needs to carry one write (the
// socket transport's uv_write_t). Owned by the caller until on_transport_written.
struct TransportWrite {
  uv_write_t req;
};

class Transport {
 public:
  // The layer above (Stream, or a TLS transport above a socket one).
  class Events {
   public:
    virtual ~Events() = default;
    // `nread` > 0 bytes at chunk.data(), or the end of input (nread < 0: UV_EOF, or an error).
    // The receiver may keep the ChunkRef.
    virtual void on_transport_read(const ChunkRef& chunk, ssize_t nread) = 0;
    // connect() finished (and, for TLS, its handshake): 0 or an error (UV_ECANCELED when
    // closed first). Always called once per successful connect() call.
    virtual void on_transport_connected(int status) = 0;
    // A write() is done with its bytes; `w` is the caller's again.
    virtual void on_transport_written(TransportWrite* w, int status) = 0;
    // The transport is closed; its memory may be freed now (not before).
    virtual void on_transport_closed() = 0;
  };

  virtual ~Transport() = default;

  // Starts connecting to a TCP address / unix socket path. Non-zero: failed at once (no
  // on_transport_connected follows).
  virtual int connect(const sockaddr* addr) = 0;
  virtual int connect_pipe(const char* path) = 0;
  // Starts the handshake of an accepted connection (on_transport_connected when done). Plain
  // sockets have none: 0 and no callback.
  virtual int handshake() { return 0; }

  virtual int start_read() = 0;
  virtual void stop_read() = 0;
  // Writes what can go without waiting: bytes taken (>= 0), UV_EAGAIN, or an error.
  virtual int try_write(const uv_buf_t* bufs, unsigned count) = 0;
  // Writes all of `bufs`, which stay valid until on_transport_written(w). Non-zero: refused at
  // once (no callback follows).
  virtual int write(TransportWrite* w, const uv_buf_t* bufs, unsigned count) = 0;
  // Half-close once the writes already handed over are done.
  virtual void shutdown() = 0;
  // Closes; on_transport_closed follows (once). Pending writes complete with UV_ECANCELED first.
  virtual void close() = 0;
};

}  // namespace turnout
