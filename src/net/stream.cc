#include "turnout/net/stream.h"

#include <cassert>
#include <cstring>
#include <memory>
#include <vector>

namespace turnout {

// One transport write in flight; owns the segments it points at until its callback.
struct Stream::WriteReq : TransportWrite {
  std::vector<Segment> segments;
  std::vector<uv_buf_t> bufs;
  size_t bytes = 0;
};

Stream::Stream(uv_loop_t* loop, ChunkPool& pool, Owner* owner)
    : socket_(loop, pool, this), transport_(&socket_), pool_(pool), owner_(owner) {}

Stream::~Stream() {
  // Freed only after the close callback (or never opened).
  assert(state_ == State::Idle || state_ == State::Closed);
}

int Stream::init_tcp() {
  int rc = socket_.init_tcp();
  if (rc == 0) state_ = State::Open;
  return rc;
}

int Stream::init_pipe() {
  int rc = socket_.init_pipe();
  if (rc == 0) state_ = State::Open;
  return rc;
}

int Stream::connect(const sockaddr* addr, ConnectCb cb, void* arg) {
  connect_cb_ = cb;
  connect_arg_ = arg;
  int rc = transport_->connect(addr);
  if (rc == 0) connecting_ = true;
  return rc;
}

int Stream::connect_pipe(const char* path, ConnectCb cb, void* arg) {
  connect_cb_ = cb;
  connect_arg_ = arg;
  int rc = transport_->connect_pipe(path);
  if (rc == 0) connecting_ = true;
  return rc;
}

void Stream::on_transport_connected(int status) {
  connecting_ = false;
  if (state_ != State::Open && status == 0) status = UV_ECANCELED;
  if (connect_cb_) connect_cb_(this, status, connect_arg_);
}

void Stream::on_transport_read(const ChunkRef& chunk, ssize_t nread) {
  if (state_ != State::Open) return;
  if (nread < 0) {
    stop_read();
    owner_->on_stream_end(static_cast<int>(nread));
    return;
  }
  owner_->on_stream_read(chunk, static_cast<size_t>(nread));
}

void Stream::on_transport_written(TransportWrite* w, int status) { on_write_done(static_cast<WriteReq*>(w), status); }

void Stream::on_transport_closed() {
  state_ = State::Closed;
  owner_->on_stream_closed();
}

void Stream::start_read() {
  if (state_ != State::Open || reading_) return;
  if (transport_->start_read() == 0) reading_ = true;
}

void Stream::stop_read() {
  if (!reading_) return;
  transport_->stop_read();
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
  int written = transport_->try_write(iov, static_cast<unsigned>(count));
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
  // The rest goes into one transport write that owns its segments until the callback.
  auto* w = new WriteReq;
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
  int rc = transport_->write(w, w->bufs.data(), static_cast<unsigned>(w->bufs.size()));
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
  transport_->shutdown();
}

void Stream::close() {
  if (state_ != State::Open) return;  // safe twice; Idle streams were never initialised
  state_ = State::Closing;
  reading_ = false;
  // Queued segments are dropped now; the in-flight write frees itself in its (cancelled) callback.
  for (auto& seg : out_) queued_bytes_ -= seg.n;
  out_.clear();
  tail_.reset();
  transport_->close();
}

}  // namespace turnout
