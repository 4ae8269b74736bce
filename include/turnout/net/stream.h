// Stream: one connection (TCP, or a unix socket for `unix:` servers) with pooled reads, batched
// writes and watermarks, over a Transport (transport.h) that does the raw I/O.
//
// Reads land in 64 KiB chunks from the worker's ChunkPool and are handed to the owner by
// reference. Writes are queued as segments (owned bytes, or spans of chunks held by ChunkRef)
// and flushed once per call to flush(): the transport's try_write of up to 64 iovecs first, and
// only the remainder goes into one transport write whose request owns its segments until its
// callback (libuv's buffer lifetime rule). At most one write is in flight.
//
// The Stream embeds the SocketTransport of its socket (no allocation); set_transport() puts
// another transport (TLS) between the two.
//
// Lifetime: the Stream is a member of its owner (ClientConnection, UpstreamConnection). close()
// is safe to call twice; the owner is told through Owner::on_stream_closed() from the close
// callback and may free itself only then. Worker thread only.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "turnout/common/buffer.h"
#include "turnout/common/fifo.h"
#include "turnout/net/socket_transport.h"
#include "turnout/net/transport.h"

namespace turnout {

class Stream final : public Transport::Events {
 public:
  class Owner {
   public:
    virtual ~Owner() = default;
    // `len` bytes at chunk.data(). The owner may keep the ChunkRef (zero-copy forwarding).
    virtual void on_stream_read(const ChunkRef& chunk, size_t len) = 0;
    // Peer closed its side (UV_EOF) or the connection failed (status < 0).
    virtual void on_stream_end(int status) = 0;
    // Queued output fell below the low watermark after having been above the high one.
    virtual void on_stream_drained() = 0;
    // A write failed: the connection is broken (the owner usually closes).
    virtual void on_stream_write_error(int status) = 0;
    // The handle is closed; the owner may be freed now (not before).
    virtual void on_stream_closed() = 0;
  };

  enum class State : uint8_t { Idle, Open, Closing, Closed };

  static constexpr size_t kHighWatermark = 256 * 1024;  // stop reading the source above this
  static constexpr size_t kLowWatermark = 64 * 1024;    // resume below this

  Stream(uv_loop_t* loop, ChunkPool& pool, Owner* owner);
  ~Stream() override;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Initialise as a TCP (or unix pipe) handle; must precede connect/accept/open.
  int init_tcp();
  int init_pipe();
  uv_stream_t* handle() { return socket_.handle(); }
  bool is_pipe() const { return socket_.is_pipe(); }
  // The socket under this stream; a layer above it (TLS) takes it as its own lower transport.
  SocketTransport& socket() { return socket_; }
  // Routes all I/O through `t` (which sits on socket() and reports to this stream) instead of
  // the socket itself. Before connect/accept; `t` outlives the stream's close callback.
  void set_transport(Transport* t) { transport_ = t; }

  // Connects; `cb(status)` runs on the loop (status UV_ECANCELED if closed first).
  using ConnectCb = void (*)(Stream* stream, int status, void* arg);
  int connect(const sockaddr* addr, ConnectCb cb, void* arg);
  int connect_pipe(const char* path, ConnectCb cb, void* arg);

  void start_read();
  void stop_read();
  bool reading() const { return reading_; }

  // Queue bytes to send. `copy` copies; `append_owned` takes the string; `append_ref` holds the
  // chunk until the bytes are written.
  void write_copy(const char* p, size_t n);
  void write_owned(std::string&& bytes);
  void write_ref(const ChunkRef& chunk, const char* p, size_t n);
  // Small bytes (heads, chunk-size lines): copied into a pooled tail chunk shared by consecutive
  // small writes, so building a head costs no malloc and adjacent pieces go out as one iovec.
  void write_small(const char* p, size_t n);
  // Bytes with static lifetime ("\r\n", "0\r\n\r\n"): queued without copy or ownership.
  void write_static(const char* p, size_t n);
  // Closes once everything queued is written (after a half-close); see ClientConnection linger.
  bool flushed() const { return queued_bytes_ == 0; }
  // Sends what is queued (try_write, then one uv_write for the rest).
  void flush();
  // Half-close after the queued output is written (until-close bodies, tunnels).
  void shutdown_after_flush();
  // close() once the queued output is written.
  void close_after_flush();

  size_t queued_bytes() const { return queued_bytes_; }
  bool above_high_watermark() const { return queued_bytes_ >= kHighWatermark; }
  bool write_idle() const { return queued_bytes_ == 0; }

  void close();
  State state() const { return state_; }
  bool open() const { return state_ == State::Open; }

 private:
  struct Segment {
    ChunkRef chunk;          // holds referenced bytes alive (empty for owned bytes)
    std::string owned;       // owned bytes (empty for chunk spans and static bytes)
    bool is_owned = false;   // p points into `owned` (re-pointed when the segment moves)
    const char* p = nullptr; // start of the unsent bytes
    size_t n = 0;            // unsent length
  };
  struct WriteReq;

  // Transport::Events (from transport_: the socket, or the layer on it)
  void on_transport_read(const ChunkRef& chunk, ssize_t nread) override;
  void on_transport_connected(int status) override;
  void on_transport_written(TransportWrite* w, int status) override;
  void on_transport_closed() override;

  void on_write_done(WriteReq* req, int status);
  void do_shutdown();

  SocketTransport socket_;        // the socket (handle inline; freed with the stream)
  Transport* transport_;          // where I/O goes: &socket_, or a layer on top of it (TLS)
  ChunkPool& pool_;
  Owner* owner_;                  // notified of events; outlives the Stream's close callback
  ConnectCb connect_cb_ = nullptr;  // the connect in progress: told its outcome
  void* connect_arg_ = nullptr;     // ...with this
  Fifo<Segment> out_;             // queued, not yet handed to the transport
  WriteReq* inflight_ = nullptr;  // the write in progress, owns its segments
  ChunkRef tail_;                 // chunk receiving write_small() bytes; dropped when all is written
  size_t tail_used_ = 0;          // bytes of tail_ handed out (never rewritten once queued)
  size_t queued_bytes_ = 0;       // bytes in out_ + inflight_
  State state_ = State::Idle;
  bool reading_ = false;
  bool connecting_ = false;
  bool was_above_high_ = false;   // for on_stream_drained edge
  bool shutdown_wanted_ = false;
  bool shutdown_sent_ = false;
  bool close_wanted_ = false;     // close_after_flush() pending
};

}  // namespace turnout
