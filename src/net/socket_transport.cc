#include "turnout/net/socket_transport.h"

namespace turnout {

// A connect or shutdown in progress lives on the heap from its start until its callback (which
// libuv always calls, with UV_ECANCELED when the handle closes first): most sockets never
// connect (clients) or shut down (pooled upstreams), so none carries the request inline.
struct SocketCallbacks {
  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* t = static_cast<SocketTransport*>(h->data);
    Chunk* c = t->pool_.acquire();
    ++c->refs;  // the read in progress holds it until on_read
    buf->base = c->data;
    buf->len = Chunk::kSize;
  }

  static void on_read(uv_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
    auto* t = static_cast<SocketTransport*>(h->data);
    ChunkRef chunk;
    if (buf->base != nullptr) {
      Chunk* c = Chunk::from_data(buf->base);
      chunk = ChunkRef(c);
      --c->refs;  // hand the read's reference over to `chunk`
    }
    if (nread == 0) return;  // EAGAIN: nothing read
    t->events_->on_transport_read(chunk, nread);
  }

  static void on_write(uv_write_t* req, int status) {
    auto* w = reinterpret_cast<TransportWrite*>(req);  // req is TransportWrite's first member
    static_cast<SocketTransport*>(req->handle->data)->events_->on_transport_written(w, status);
  }

  static void on_connect(uv_connect_t* req, int status) {
    auto* t = static_cast<SocketTransport*>(req->data);
    delete req;
    t->events_->on_transport_connected(status);
  }

  static void on_shutdown(uv_shutdown_t* req, int status) {
    (void)status;  // a failed half-close shows up as a read/write error anyway
    delete req;
  }

  static void on_close(uv_handle_t* h) { static_cast<SocketTransport*>(h->data)->events_->on_transport_closed(); }
};

int SocketTransport::init_tcp() {
  int rc = uv_tcp_init(loop_, &h_.tcp);
  if (rc == 0) h_.tcp.data = this;
  return rc;
}

int SocketTransport::init_pipe() {
  int rc = uv_pipe_init(loop_, &h_.pipe, 0);
  if (rc == 0) {
    h_.pipe.data = this;
    is_pipe_ = true;
  }
  return rc;
}

int SocketTransport::connect(const sockaddr* addr) {
  auto* req = new uv_connect_t;
  req->data = this;
  int rc = uv_tcp_connect(req, &h_.tcp, addr, SocketCallbacks::on_connect);
  if (rc != 0) delete req;  // no callback follows a synchronous failure
  return rc;
}

int SocketTransport::connect_pipe(const char* path) {
  auto* req = new uv_connect_t;
  req->data = this;
  uv_pipe_connect(req, &h_.pipe, path, SocketCallbacks::on_connect);  // always calls back
  return 0;
}

int SocketTransport::start_read() { return uv_read_start(handle(), SocketCallbacks::on_alloc, SocketCallbacks::on_read); }

void SocketTransport::stop_read() { uv_read_stop(handle()); }

int SocketTransport::try_write(const uv_buf_t* bufs, unsigned count) { return uv_try_write(handle(), bufs, count); }

int SocketTransport::write(TransportWrite* w, const uv_buf_t* bufs, unsigned count) {
  return uv_write(&w->req, handle(), bufs, count, SocketCallbacks::on_write);
}

void SocketTransport::shutdown() {
  if (shutdown_sent_) return;
  shutdown_sent_ = true;
  auto* req = new uv_shutdown_t;
  if (uv_shutdown(req, handle(), SocketCallbacks::on_shutdown) != 0) delete req;  // no callback then
}

void SocketTransport::close() {
  uv_handle_t* h = reinterpret_cast<uv_handle_t*>(&h_);
  if (!uv_is_closing(h)) uv_close(h, SocketCallbacks::on_close);
}

}  // namespace turnout
