#include "turnout/net/acceptor.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace turnout {

struct AcceptorCallbacks {
  static void on_poll(uv_poll_t* h, int status, int /*events*/) {
    auto* self = static_cast<Acceptor*>(h->data);
    // A poll error on a listening socket (rare: EBADF-like states) is treated as readable: the
    // accept() that follows reports the real error.
    (void)status;
    self->on_readable();
  }
  static void on_timer(uv_timer_t* t) { static_cast<Acceptor*>(t->data)->on_retry_timer(); }
  static void on_closed(uv_handle_t* h) { static_cast<Acceptor*>(h->data)->on_handle_closed(); }
};

namespace {

// Errors accept() reports for a connection that died in the queue, or that Linux passes through
// from the new socket (accept(2), "Error handling"): skip the connection, keep accepting.
bool skip_connection(int err) {
  switch (err) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:  // firewall rules
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

}  // namespace

Acceptor* Acceptor::open(uv_loop_t* loop, int listen_fd, OnAccept on_accept, OnResourceShortage on_shortage) {
  auto* a = new Acceptor(loop, listen_fd, std::move(on_accept), std::move(on_shortage));
  if (uv_poll_init_socket(loop, &a->poll_, listen_fd) != 0) {
    ::close(listen_fd);
    delete a;  // no handle was initialised
    return nullptr;
  }
  a->poll_.data = a;
  uv_timer_init(loop, &a->retry_timer_);
  a->retry_timer_.data = a;
  a->update_polling();
  return a;
}

Acceptor::Acceptor(uv_loop_t* loop, int fd, OnAccept on_accept, OnResourceShortage on_shortage)
    : loop_(loop), fd_(fd), on_accept_(std::move(on_accept)), on_shortage_(std::move(on_shortage)) {}

void Acceptor::update_polling() {
  bool want = !closing_ && !owner_paused_ && !short_of_resources_;
  if (want == polling_) return;
  polling_ = want;
  if (want) {
    uv_poll_start(&poll_, UV_READABLE, AcceptorCallbacks::on_poll);
  } else {
    uv_poll_stop(&poll_);
  }
}

void Acceptor::on_readable() {
  for (int i = 0; i < kAcceptBatch && !closing_ && !owner_paused_; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (skip_connection(err)) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        end_shortage();  // nothing queued any more: a retry found no shortage to report
        return;
      }
      // EMFILE, ENFILE, ENOBUFS, ENOMEM, or anything unexpected: accepting again at once would
      // fail the same way. Stop polling; the timer (or a freed descriptor, via resume()) retries.
      ++shortages_;
      if (!short_of_resources_) {
        short_of_resources_ = true;
        if (on_shortage_) on_shortage_(err);
      }
      update_polling();
      uv_timer_start(&retry_timer_, AcceptorCallbacks::on_timer, kShortageRetryMs, 0);
      return;
    }
    end_shortage();
    if (!on_accept_(fd, reinterpret_cast<const sockaddr*>(&peer), len)) {
      pause();
      return;
    }
  }
}

void Acceptor::end_shortage() {
  if (!short_of_resources_) return;
  short_of_resources_ = false;
  uv_timer_stop(&retry_timer_);
  update_polling();
  if (on_shortage_) on_shortage_(0);
}

void Acceptor::on_retry_timer() {
  // One direct attempt: it either works (and ends the shortage) or re-arms the timer. While the
  // owner has paused accepting, resume() makes the attempt instead.
  if (closing_ || !short_of_resources_ || owner_paused_) return;
  on_readable();
}

void Acceptor::pause() {
  owner_paused_ = true;
  update_polling();
}

void Acceptor::resume() {
  if (closing_) return;
  owner_paused_ = false;
  if (short_of_resources_) {
    // A descriptor may have been freed: try now rather than wait for the timer.
    on_retry_timer();
    return;
  }
  update_polling();
}

void Acceptor::close() {
  if (closing_) return;
  closing_ = true;
  update_polling();
  uv_timer_stop(&retry_timer_);
  pending_closes_ = 2;
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), AcceptorCallbacks::on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&retry_timer_), AcceptorCallbacks::on_closed);
}

void Acceptor::on_handle_closed() {
  if (--pending_closes_ > 0) return;
  // The poll handle is closed: only now may the fd go (libuv must not watch a closed fd).
  ::close(fd_);
  delete this;
}

}  // namespace turnout
