// idle_clients: opens N keep-alive client connections to a proxy on 127.0.0.1, sends one
// request on each, reads its whole response, then holds every connection open and idle until
// stdin closes or SIGTERM arrives. The benchmark (bench/bench.py, scenario e) reads the proxy's
// RSS meanwhile, to get the memory a proxy spends per idle keep-alive client.
//
//   idle_clients --connect 127.0.0.1:PORT --host HOST [--conns 10000] [--window 256]
//
// Prints "ready ok=N failed=M ms=T" once every connection has its response (or failed), and
// "done closed_by_peer=K" at exit. Single-threaded epoll; only 127.0.0.1 targets are accepted.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

enum class ConnState { Connecting, Sending, Reading, Idle, Failed };

struct Conn {
  int fd = -1;                          // owned; closed at exit or on failure
  ConnState state = ConnState::Connecting;
  size_t sent = 0;                      // bytes of the request written so far
  std::string in;                       // response bytes read so far (head + body)
};

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

// True once `in` holds a whole response with a Content-Length body (the backends always send one).
bool response_complete(const std::string& in) {
  size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  size_t body = end + 4;
  size_t cl = 0;
  for (size_t pos = 0; pos < end;) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos || eol > end) eol = end;
    std::string line = in.substr(pos, eol - pos);
    if (line.size() > 15 && strncasecmp(line.c_str(), "content-length:", 15) == 0)
      cl = std::strtoul(line.c_str() + 15, nullptr, 10);
    pos = eol + 2;
  }
  return in.size() >= body + cl;
}

}  // namespace

int main(int argc, char** argv) {
  std::string target = "127.0.0.1:8080", host = "a.test";
  int conns = 10000, window = 256;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) { std::fprintf(stderr, "idle_clients: %s needs a value\n", a.c_str()); return 2; }
    std::string v = argv[++i];
    if (a == "--connect") target = v;
    else if (a == "--host") host = v;
    else if (a == "--conns") conns = std::atoi(v.c_str());
    else if (a == "--window") window = std::atoi(v.c_str());
    else { std::fprintf(stderr, "usage: idle_clients --connect 127.0.0.1:PORT --host H [--conns N] [--window W]\n"); return 2; }
  }
  size_t colon = target.rfind(':');
  if (colon == std::string::npos || target.substr(0, colon) != "127.0.0.1") {
    std::fprintf(stderr, "idle_clients: only 127.0.0.1:PORT targets are allowed\n");
    return 2;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(target.c_str() + colon + 1)));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);

  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < static_cast<rlim_t>(conns) + 64) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(conns) + 64);
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  const std::string request = "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: idle_clients\r\n\r\n";
  std::vector<Conn> cs(static_cast<size_t>(conns));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  auto t0 = std::chrono::steady_clock::now();
  int next = 0, active = 0, ok = 0, failed = 0, closed_by_peer = 0;

  auto fail = [&](size_t i) {
    Conn& c = cs[i];
    if (c.fd >= 0) { epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr); close(c.fd); c.fd = -1; }
    c.state = ConnState::Failed;
    ++failed;
    --active;
  };
  auto start = [&](size_t i) {
    Conn& c = cs[i];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) { c.state = ConnState::Failed; ++failed; return; }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ++active;
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno != EINPROGRESS) { fail(i); return; }
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
  };

  // Phase 1: open and use every connection, at most `window` of them in progress at once, so
  // the proxy's accept backlog never overflows (a dropped SYN would stall for a second).
  std::vector<epoll_event> evs(512);
  while ((ok + failed < conns) && !g_stop) {
    while (next < conns && active < window) start(static_cast<size_t>(next++));
    int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 1000);
    for (int k = 0; k < n; ++k) {
      size_t i = evs[k].data.u64;
      Conn& c = cs[i];
      if (c.state == ConnState::Failed) continue;
      if (c.state == ConnState::Idle) {  // the peer closed an idle one: stop watching it
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        c.state = ConnState::Failed;
        ++closed_by_peer;
        continue;
      }
      if (evs[k].events & EPOLLERR) { fail(i); continue; }
      if (c.state == ConnState::Connecting && (evs[k].events & EPOLLOUT)) c.state = ConnState::Sending;
      if (c.state == ConnState::Sending) {
        ssize_t w = send(c.fd, request.data() + c.sent, request.size() - c.sent, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) { fail(i); continue; }
        if (w > 0) c.sent += static_cast<size_t>(w);
        if (c.sent == request.size()) {
          c.state = ConnState::Reading;
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLRDHUP;
          ev.data.u64 = i;
          epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        }
      }
      if (c.state == ConnState::Reading && (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) {
        char buf[8192];
        ssize_t r = recv(c.fd, buf, sizeof(buf), 0);
        if (r <= 0 && !(r < 0 && errno == EAGAIN)) { fail(i); continue; }
        if (r > 0) c.in.append(buf, static_cast<size_t>(r));
        if (response_complete(c.in)) {
          bool good = c.in.compare(0, 12, "HTTP/1.1 200") == 0;
          c.in.clear();
          c.in.shrink_to_fit();
          if (!good) { fail(i); continue; }
          c.state = ConnState::Idle;
          ++ok;
          --active;
        }
      }
    }
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("ready ok=%d failed=%d ms=%lld\n", ok, failed, static_cast<long long>(ms));
  std::fflush(stdout);

  // Phase 2: hold everything open; count connections the peer closes meanwhile.
  pollfd in{0, POLLIN, 0};
  while (!g_stop) {
    int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 200);
    for (int k = 0; k < n; ++k) {
      Conn& c = cs[evs[k].data.u64];
      if (c.state != ConnState::Idle) continue;
      epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
      c.state = ConnState::Failed;
      ++closed_by_peer;
    }
    in.revents = 0;
    if (poll(&in, 1, 0) > 0) {
      char b[64];
      if (read(0, b, sizeof(b)) <= 0) break;  // stdin closed: the benchmark is done with us
    }
  }
  for (Conn& c : cs)
    if (c.fd >= 0) close(c.fd);
  std::printf("done closed_by_peer=%d\n", closed_by_peer);
  return 0;
}
