// SocketTransport: the Transport of a plain socket — a libuv TCP handle, or a unix pipe handle
// for `unix:` servers. Owns the handle (memory inline: the owner frees the transport only after
// on_transport_closed). Reads land in 64 KiB chunks from the worker's ChunkPool.
// Worker thread only.
#pragma once

#include <uv.h>

#include <cstdint>

#include "turnout/common/buffer.h"
#include "turnout/net/transport.h"

namespace turnout {

class SocketTransport final : public Transport {
 public:
  SocketTransport(uv_loop_t* loop, ChunkPool& pool, Events* events) : loop_(loop), pool_(pool), events_(events) {}
  SocketTransport(const SocketTransport&) = delete;
  SocketTransport& operator=(const SocketTransport&) = delete;

  // Initialise as a TCP / unix pipe handle; one of them precedes anything else.
  int init_tcp();
  int init_pipe();
  uv_stream_t* handle() { return reinterpret_cast<uv_stream_t*>(&h_); }
  uv_loop_t* loop() const { return loop_; }
  bool is_pipe() const { return is_pipe_; }
  // Reports to `e` from now on: a layer (TLS) put between this socket and its Stream.
  void set_events(Events* e) { events_ = e; }

  int connect(const sockaddr* addr) override;
  int connect_pipe(const char* path) override;
  int start_read() override;
  void stop_read() override;
  int try_write(const uv_buf_t* bufs, unsigned count) override;
  int write(TransportWrite* w, const uv_buf_t* bufs, unsigned count) override;
  void shutdown() override;
  void close() override;

 private:
  friend struct SocketCallbacks;
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h_;                   // the handle; data points to this transport
  uv_loop_t* loop_;
  ChunkPool& pool_;       // read buffers
  Events* events_;        // the Stream (or a TLS layer) above; outlives the close callback
  bool is_pipe_ = false;
  bool shutdown_sent_ = false;
};

}  // namespace turnout
