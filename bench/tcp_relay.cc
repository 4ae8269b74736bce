// tcp_relay: the floor of the keep-alive benchmark. It pairs each accepted client connection with
// a new connection to the next backend (round-robin) and copies bytes both ways with read and
// write, on one epoll loop. It does not parse HTTP, route, rewrite a header or pool anything,
// so its CPU per request is what the kernel charges any user-space proxy that moves the same
// bytes over loopback TCP: two reads, two writes and a share of an epoll_wait per request.
// bench.py runs it beside turnout, nginx and HAProxy in scenario (a), where every message fits
// one read: no proxy's CPU per request there can go below this row's.
//
//   tcp_relay --listen 127.0.0.1:PORT --backend 127.0.0.1:P1 [--backend 127.0.0.1:P2 ...]

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

sockaddr_in parse_addr(const std::string& s) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  auto colon = s.rfind(':');
  if (colon == std::string::npos || inet_pton(AF_INET, s.substr(0, colon).c_str(), &a.sin_addr) != 1) {
    std::fprintf(stderr, "tcp_relay: bad address %s (want IPv4:port)\n", s.c_str());
    std::exit(2);
  }
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(s.c_str() + colon + 1)));
  return a;
}

// One side of a pair. `buf` holds bytes read from this side that its peer has not taken yet;
// while any are pending this side is not read (back-pressure), and the peer waits for EPOLLOUT.
struct Side {
  int fd = -1;
  Side* peer = nullptr;
  bool closed = false;
  bool stalled = false;  // a write to peer would block; s is out of the read set meanwhile
  size_t off = 0, len = 0;
  char buf[64 * 1024];
};

class Relay {
 public:
  Relay(int listen_fd, std::vector<sockaddr_in> backends)
      : listen_fd_(listen_fd), backends_(std::move(backends)), ep_(epoll_create1(EPOLL_CLOEXEC)) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the listener
    epoll_ctl(ep_, EPOLL_CTL_ADD, listen_fd_, &ev);
  }

  [[noreturn]] void run() {
    epoll_event events[256];
    for (;;) {
      int n = epoll_wait(ep_, events, 256, -1);
      for (int i = 0; i < n; ++i) {
        auto* s = static_cast<Side*>(events[i].data.ptr);
        if (s == nullptr) {
          accept_all();
          continue;
        }
        if (s->closed) continue;  // its pair was closed earlier in this batch
        if (events[i].events & EPOLLOUT) flush(s->peer);
        if (!s->closed && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(s);
      }
      // Pairs closed in this batch are freed only now: later events of the batch may name them.
      graveyard_.clear();
    }
  }

 private:
  void accept_all() {
    for (;;) {
      int c = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;
      int b = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      const sockaddr_in& to = backends_[next_++ % backends_.size()];
      if (b < 0 || (connect(b, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS)) {
        if (b >= 0) close(b);
        close(c);
        continue;
      }
      int one = 1;
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto* client = new Side;
      auto* backend = new Side;
      client->fd = c;
      backend->fd = b;
      client->peer = backend;
      backend->peer = client;
      // Bytes the client sends before the connect completes are written as soon as the
      // backend socket is writable (the write's EAGAIN makes them pending).
      add(client);
      add(backend);
    }
  }

  void add(Side* s) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = s;
    epoll_ctl(ep_, EPOLL_CTL_ADD, s->fd, &ev);
  }

  // Reads from s when nothing of s is pending; writes to s's peer when s has pending bytes.
  void update_interest(Side* s) {
    epoll_event ev{};
    ev.events = (s->len == 0 ? uint32_t{EPOLLIN} : 0u) | (s->peer->len > 0 ? uint32_t{EPOLLOUT} : 0u);
    ev.data.ptr = s;
    epoll_ctl(ep_, EPOLL_CTL_MOD, s->fd, &ev);
  }

  void on_readable(Side* s) {
    if (s->len > 0) return;  // a hang-up while bytes are pending: handled once they are written
    ssize_t n = read(s->fd, s->buf, sizeof s->buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      close_pair(s);
      return;
    }
    s->off = 0;
    s->len = static_cast<size_t>(n);
    flush(s);
  }

  // Writes s's pending bytes to its peer. Only a write that would block touches epoll: it
  // stops reading s and waits for the peer to be writable; the write that drains the rest
  // restores both.
  void flush(Side* s) {
    while (s->off < s->len) {
      ssize_t w = write(s->peer->fd, s->buf + s->off, s->len - s->off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EAGAIN) {
        if (!s->stalled) {
          s->stalled = true;
          update_interest(s);
          update_interest(s->peer);
        }
        return;
      }
      if (w < 0) {
        close_pair(s);
        return;
      }
      s->off += static_cast<size_t>(w);
    }
    s->off = s->len = 0;
    if (s->stalled) {
      s->stalled = false;
      update_interest(s);
      update_interest(s->peer);
    }
  }

  void close_pair(Side* s) {
    for (Side* x : {s, s->peer}) {
      if (x->closed) continue;
      x->closed = true;
      close(x->fd);  // also removes it from the epoll set
      graveyard_.emplace_back(x);
    }
  }

  int listen_fd_;
  std::vector<sockaddr_in> backends_;
  int ep_;
  size_t next_ = 0;
  std::vector<std::unique_ptr<Side>> graveyard_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen_at;
  std::vector<sockaddr_in> backends;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--listen") listen_at = argv[i + 1];
    else if (k == "--backend") backends.push_back(parse_addr(argv[i + 1]));
  }
  if (listen_at.empty() || backends.empty()) {
    std::fprintf(stderr, "usage: tcp_relay --listen IP:PORT --backend IP:PORT [--backend IP:PORT ...]\n");
    return 2;
  }
  sockaddr_in la = parse_addr(listen_at);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&la), sizeof la) != 0 || listen(fd, 4096) != 0) {
    std::perror("tcp_relay: listen");
    return 1;
  }
  Relay(fd, std::move(backends)).run();
}
