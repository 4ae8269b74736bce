#include "turnout/app/handoff.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace turnout {

namespace {
constexpr char kMagic[8] = {'T', 'R', 'N', 'O', 'U', 'T', '0', '1'};
constexpr size_t kMaxFds = 250;  // below SCM_MAX_FD (253)

struct Header {
  char magic[8];
  uint32_t fd_count;
  uint32_t payload_len;
};

std::string sys_error(const char* what) { return std::string(what) + ": " + strerror(errno); }

// Waits until `fd` is readable/writable or the timeout passes.
bool wait_fd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int rc = ::poll(&p, 1, timeout_ms);
    if (rc < 0 && errno == EINTR) continue;
    return rc > 0;
  }
}

Result<void> write_all(int sock, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(sock, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!wait_fd(sock, POLLOUT, 30000)) return make_error(ErrorKind::Internal, "hand-off: peer stopped reading");
        continue;
      }
      return make_error(ErrorKind::Internal, sys_error("hand-off send"));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

Result<void> read_all(int sock, char* p, size_t n, int timeout_ms) {
  while (n > 0) {
    if (!wait_fd(sock, POLLIN, timeout_ms)) return make_error(ErrorKind::Internal, "hand-off: timed out reading");
    ssize_t r = ::recv(sock, p, n, 0);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return make_error(ErrorKind::Internal, sys_error("hand-off recv"));
    }
    if (r == 0) return make_error(ErrorKind::Internal, "hand-off: peer closed the connection");
    p += r;
    n -= static_cast<size_t>(r);
  }
  return {};
}
}  // namespace

Result<void> send_handoff(int sock, const std::vector<int>& fds, const std::string& payload) {
  if (fds.size() > kMaxFds) return make_error(ErrorKind::Internal, "hand-off: too many listening sockets");
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.fd_count = static_cast<uint32_t>(fds.size());
  h.payload_len = static_cast<uint32_t>(payload.size());
  iovec iov{&h, sizeof(h)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    ssize_t w = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_fd(sock, POLLOUT, 30000)) return make_error(ErrorKind::Internal, "hand-off: peer stopped reading");
      continue;
    }
    if (w < 0) return make_error(ErrorKind::Internal, sys_error("hand-off sendmsg"));
    if (static_cast<size_t>(w) < sizeof(h))
      if (auto r = write_all(sock, reinterpret_cast<const char*>(&h) + w, sizeof(h) - static_cast<size_t>(w)); !r)
        return r;
    break;
  }
  return write_all(sock, payload.data(), payload.size());
}

Result<void> wait_ready(int sock, int timeout_ms) {
  char buf[6];
  if (auto r = read_all(sock, buf, sizeof(buf), timeout_ms); !r) return r;
  if (std::memcmp(buf, "READY\n", 6) != 0) return make_error(ErrorKind::Internal, "hand-off: unexpected answer from the new process");
  return {};
}

Result<int> request_handoff(const std::string& path) {
  int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return make_error(ErrorKind::Internal, sys_error("socket"));
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  if (path.size() >= sizeof(un.sun_path)) {
    ::close(sock);
    return make_error(ErrorKind::Invalid, "admin socket path too long");
  }
  std::memcpy(un.sun_path, path.data(), path.size());
  if (::connect(sock, reinterpret_cast<sockaddr*>(&un), sizeof(un)) != 0) {
    std::string e = sys_error(("cannot connect to the running turnout at " + path).c_str());
    ::close(sock);
    return make_error(ErrorKind::Internal, e);
  }
  const char req[] = "POST /v1/takeover HTTP/1.1\r\nHost: turnout\r\nContent-Length: 0\r\n\r\n";
  if (auto r = write_all(sock, req, sizeof(req) - 1); !r) {
    ::close(sock);
    return r.error();
  }
  return sock;
}

Result<Handoff> receive_handoff(int sock, int timeout_ms) {
  Handoff out;
  Header h{};
  if (!wait_fd(sock, POLLIN, timeout_ms)) return make_error(ErrorKind::Internal, "hand-off: the running turnout did not answer");
  iovec iov{&h, sizeof(h)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxFds));
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t r;
  do {
    r = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return make_error(ErrorKind::Internal, sys_error("hand-off recvmsg"));
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const int* p = reinterpret_cast<const int*>(CMSG_DATA(c));
      out.fds.assign(p, p + n);
    }
  }
  auto fail = [&](Error e) -> Result<Handoff> {
    for (int fd : out.fds) ::close(fd);
    return e;
  };
  if (r == 0) return fail(make_error(ErrorKind::Internal, "hand-off refused: " + std::string("the running turnout closed the connection")));
  // An HTTP answer instead of the header means the running turnout refused (e.g. 503).
  if (static_cast<size_t>(r) >= 5 && std::memcmp(&h, "HTTP/", 5) == 0) {
    std::string answer(reinterpret_cast<char*>(&h), static_cast<size_t>(r));
    char more[512];
    ssize_t m = ::recv(sock, more, sizeof(more), MSG_DONTWAIT);
    if (m > 0) answer.append(more, static_cast<size_t>(m));
    return fail(make_error(ErrorKind::Internal, "hand-off refused by the running turnout: " + answer.substr(0, answer.find("\r\n"))));
  }
  if (static_cast<size_t>(r) < sizeof(h)) {
    if (auto rr = read_all(sock, reinterpret_cast<char*>(&h) + r, sizeof(h) - static_cast<size_t>(r), timeout_ms); !rr)
      return fail(rr.error());
  }
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0) return fail(make_error(ErrorKind::Internal, "hand-off: bad header"));
  if (out.fds.size() != h.fd_count) return fail(make_error(ErrorKind::Internal, "hand-off: descriptors missing"));
  out.payload.resize(h.payload_len);
  if (auto rr = read_all(sock, out.payload.data(), out.payload.size(), timeout_ms); !rr) return fail(rr.error());
  return out;
}

Result<void> send_ready(int sock) { return write_all(sock, "READY\n", 6); }

void notify_systemd(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  size_t len = std::strlen(path);
  if (len >= sizeof(un.sun_path)) {
    ::close(s);
    return;
  }
  std::memcpy(un.sun_path, path, len);
  if (un.sun_path[0] == '@') un.sun_path[0] = '\0';  // abstract namespace
  ::sendto(s, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&un),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  ::close(s);
}

}  // namespace turnout
