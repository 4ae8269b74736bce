#include "turnout/net/stream.h"

#include <cassert>
#include <cstring>
#include <memory>
#include <vector>

namespace turnout {

// One uv_write in flight; owns the segments it points at until its callback.
struct Stream::WriteReq {
  uv_write_t req;
  Stream* stream;
  std::vector<Segment> segments;
  std::vector<uv_buf_t> bufs;
  size_t bytes = 0;
};

struct Stream::Request {
  union {
    uv_connect_t connect;
    uv_shutdown_t shutdown;
  };
  Stream* stream;  // outlives the request: its handle closes only after this callback ran
  ConnectCb cb;    // connect only
  void* arg;       // passed to cb
};

struct StreamCallbacks {
  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* s = static_cast<Stream*>(h->data);
    Chunk* c = s->pool_.acquire();
    ++c->refs;  // the read in progress holds it until on_read
    buf->base = c->data;
    buf->len = Chunk::kSize;
  }

  static void on_read(uv_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
    auto* s = static_cast<Stream*>(h->data);
    ChunkRef chunk;
    if (buf->base != nullptr) {
      Chunk* c = Chunk::from_data(buf->base);
      chunk = ChunkRef(c);
      --c->refs;  // hand the read's reference over to `chunk`
    }
    if (nread == 0) return;  // EAGAIN: nothing read
    if (s->state_ != Stream::State::Open) return;
    if (nread < 0) {
      s->stop_read();
      s->owner_->on_stream_end(static_cast<int>(nread));
      return;
    }
    s->owner_->on_stream_read(chunk, static_cast<size_t>(nread));
  }

  static void on_write(uv_write_t* req, int status) {
    auto* w = static_cast<Stream::WriteReq*>(req->data);
    w->stream->on_write_done(w, status);
  }

  static void on_connect(uv_connect_t* req, int status) {
    std::unique_ptr<Stream::Request> r(static_cast<Stream::Request*>(req->data));
    Stream* s = r->stream;
    s->connecting_ = false;
    if (s->state_ != Stream::State::Open && status == 0) status = UV_ECANCELED;
    if (r->cb) r->cb(s, status, r->arg);
  }

  static void on_shutdown(uv_shutdown_t* req, int status) {
    (void)status;  // a failed half-close shows up as a read/write error anyway
    delete static_cast<Stream::Request*>(req->data);
  }

  static void on_close(uv_handle_t* h) {
    auto* s = static_cast<Stream*>(h->data);
    s->state_ = Stream::State::Closed;
    s->owner_->on_stream_closed();
  }
};

Stream::Stream(uv_loop_t* loop, ChunkPool& pool, Owner* owner) : loop_(loop), pool_(pool), owner_(owner) {}

Stream::~Stream() {
  // Freed only after the close callback (or never opened).
  assert(state_ == State::Idle || state_ == State::Closed);
}

int Stream::init_tcp() {
  int rc = uv_tcp_init(loop_, &h_.tcp);
  if (rc == 0) {
    h_.tcp.data = this;
    state_ = State::Open;
  }
  return rc;
}

int Stream::init_pipe() {
  int rc = uv_pipe_init(loop_, &h_.pipe, 0);
  if (rc == 0) {
    h_.pipe.data = this;
    is_pipe_ = true;
    state_ = State::Open;
  }
  return rc;
}

int Stream::connect(const sockaddr* addr, ConnectCb cb, void* arg) {
  auto* r = new Request{{}, this, cb, arg};
  r->connect.data = r;
  int rc = uv_tcp_connect(&r->connect, &h_.tcp, addr, StreamCallbacks::on_connect);
  if (rc != 0) {
    delete r;  // no callback follows a synchronous failure
    return rc;
  }
  connecting_ = true;
  return 0;
}

int Stream::connect_pipe(const char* path, ConnectCb cb, void* arg) {
  auto* r = new Request{{}, this, cb, arg};
  r->connect.data = r;
  uv_pipe_connect(&r->connect, &h_.pipe, path, StreamCallbacks::on_connect);  // always calls back
  connecting_ = true;
  return 0;
}

void Stream::start_read() {
  if (state_ != State::Open || reading_) return;
  if (uv_read_start(handle(), StreamCallbacks::on_alloc, StreamCallbacks::on_read) == 0) reading_ = true;
}

void Stream::stop_read() {
  if (!reading_) return;
  uv_read_stop(handle());
  reading_ = false;
}

void Stream::write_copy(const char* p, size_t n) {
  if (n == 0) return;
  write_owned(std::string(p, n));
}

void Stream::write_owned(std::string&& bytes) {
  if (bytes.empty() || state_ != State::Open) return;
  size_t n = bytes.size();
  out_.push_back(Segment{ChunkRef(), std::move(bytes), true, nullptr, n});
  queued_bytes_ += n;
  if (queued_bytes_ >= kHighWatermark) was_above_high_ = true;
}

void Stream::write_ref(const ChunkRef& chunk, const char* p, size_t n) {
  if (n == 0 || state_ != State::Open) return;
  out_.push_back(Segment{chunk, std::string(), false, p, n});
  queued_bytes_ += n;
  if (queued_bytes_ >= kHighWatermark) was_above_high_ = true;
}

void Stream::write_small(const char* p, size_t n) {
  if (n == 0 || state_ != State::Open) return;
  if (n > Chunk::kSize / 2) {
    write_copy(p, n);
    return;
  }
  if (!tail_ || tail_used_ + n > Chunk::kSize) {
    tail_ = ChunkRef(pool_.acquire());
    tail_used_ = 0;
  }
  char* dst = tail_.data() + tail_used_;
  std::memcpy(dst, p, n);
  tail_used_ += n;
  queued_bytes_ += n;
  if (queued_bytes_ >= kHighWatermark) was_above_high_ = true;
  if (!out_.empty()) {
    Segment& last = out_.back();
    if (last.chunk.get() == tail_.get() && last.p + last.n == dst) {
      last.n += n;  // contiguous with the previous small write: one iovec
      return;
    }
  }
  out_.push_back(Segment{tail_, std::string(), false, dst, n});
}

void Stream::write_static(const char* p, size_t n) {
  if (n == 0 || state_ != State::Open) return;
  out_.push_back(Segment{ChunkRef(), std::string(), false, p, n});
  queued_bytes_ += n;
}

void Stream::close_after_flush() {
  close_wanted_ = true;
  flush();
}

void Stream::flush() {
  if (state_ != State::Open || inflight_ != nullptr || connecting_) return;
  if (out_.empty()) {
    if (close_wanted_) {
      close();
      return;
    }
    if (shutdown_wanted_) do_shutdown();
    return;
  }
  constexpr size_t kMaxIov = 64;
  uv_buf_t iov[kMaxIov];
  size_t count = 0;
  for (auto it = out_.begin(); it != out_.end() && count < kMaxIov; ++it, ++count) {
    // Owned bytes move with their segment when the queue's storage grows: point at them now.
    if (it->is_owned) it->p = it->owned.data() + (it->owned.size() - it->n);
    iov[count] = uv_buf_init(const_cast<char*>(it->p), static_cast<unsigned>(it->n));
  }
  int written = uv_try_write(handle(), iov, static_cast<unsigned>(count));
  if (written < 0 && written != UV_EAGAIN && written != UV_ENOSYS) {
    owner_->on_stream_write_error(written);
    return;
  }
  size_t done = written > 0 ? static_cast<size_t>(written) : 0;
  queued_bytes_ -= done;
  while (done > 0) {
    Segment& s = out_.front();
    if (done >= s.n) {
      done -= s.n;
      out_.pop_front();
    } else {
      s.p += done;
      s.n -= done;
      done = 0;
    }
  }
  if (out_.empty()) {
    tail_.reset();  // everything is written: an idle connection holds no chunk
    tail_used_ = 0;
    if (was_above_high_ && queued_bytes_ < kLowWatermark) {
      was_above_high_ = false;
      owner_->on_stream_drained();
    }
    if (close_wanted_ && state_ == State::Open) {
      close();
      return;
    }
    if (shutdown_wanted_ && state_ == State::Open) do_shutdown();
    return;
  }
  // The rest goes into one uv_write that owns its segments until the callback.
  auto* w = new WriteReq;
  w->stream = this;
  w->req.data = w;
  size_t take = std::min(out_.size(), static_cast<size_t>(256));
  w->segments.reserve(take);
  w->bufs.reserve(take);
  for (size_t i = 0; i < take; ++i) {
    w->segments.push_back(std::move(out_.front()));
    out_.pop_front();
    Segment& s = w->segments.back();
    // An owned segment's string may have moved: re-point into its new storage.
    if (s.is_owned) s.p = s.owned.data() + (s.owned.size() - s.n);
    w->bufs.push_back(uv_buf_init(const_cast<char*>(s.p), static_cast<unsigned>(s.n)));
    w->bytes += s.n;
  }
  int rc = uv_write(&w->req, handle(), w->bufs.data(), static_cast<unsigned>(w->bufs.size()),
                    StreamCallbacks::on_write);
  if (rc != 0) {
    queued_bytes_ -= w->bytes;
    delete w;
    owner_->on_stream_write_error(rc);
    return;
  }
  inflight_ = w;
}

void Stream::on_write_done(WriteReq* req, int status) {
  inflight_ = nullptr;
  queued_bytes_ -= req->bytes;
  delete req;
  if (state_ != State::Open) return;  // closing: the owner is going away
  if (status < 0) {
    owner_->on_stream_write_error(status);
    return;
  }
  if (was_above_high_ && queued_bytes_ < kLowWatermark) {
    was_above_high_ = false;
    owner_->on_stream_drained();
    if (state_ != State::Open) return;
  }
  flush();
}

void Stream::shutdown_after_flush() {
  shutdown_wanted_ = true;
  flush();
}

void Stream::do_shutdown() {
  if (shutdown_sent_) return;
  shutdown_sent_ = true;
  auto* r = new Request{{}, this, nullptr, nullptr};
  r->shutdown.data = r;
  if (uv_shutdown(&r->shutdown, handle(), StreamCallbacks::on_shutdown) != 0) delete r;  // no callback then
}

void Stream::close() {
  if (state_ != State::Open) return;  // safe twice; Idle streams were never initialised
  state_ = State::Closing;
  reading_ = false;
  // Queued segments are dropped now; the in-flight write frees itself in its (cancelled) callback.
  for (auto& seg : out_) queued_bytes_ -= seg.n;
  out_.clear();
  tail_.reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&h_), StreamCallbacks::on_close);
}

}  // namespace turnout
