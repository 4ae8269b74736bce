#include "turnout/net/listener.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace turnout {

Result<int> open_listen_socket(const SocketAddress& addr, ListenOptions options) {
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(ErrorKind::Internal, std::string("socket: ") + strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (options.reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    int e = errno;
    ::close(fd);
    return make_error(ErrorKind::Internal, std::string("SO_REUSEPORT: ") + strerror(e));
  }
  if (addr.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  // Accepted sockets inherit TCP_NODELAY from the listener on Linux: one setsockopt here instead
  // of one per connection.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (options.defer_accept) enable_defer_accept(fd);
  if (::bind(fd, addr.sa(), addr.length) != 0) {
    int e = errno;
    ::close(fd);
    return make_error(ErrorKind::Internal, "cannot listen on " + addr.text + ": " + strerror(e));
  }
  if (::listen(fd, options.backlog) != 0) {
    int e = errno;
    ::close(fd);
    return make_error(ErrorKind::Internal, "listen on " + addr.text + ": " + strerror(e));
  }
  return fd;
}

void enable_defer_accept(int fd) {
  // One second, as nginx's `deferred`: Linux turns it into one SYN-ACK retransmission, after
  // which a silent client's connection is handed over after all. A failure only costs the
  // optimisation, so it is not an error.
  int seconds = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof(seconds));
}

Result<SocketAddress> local_address(int fd) {
  SocketAddress out;
  socklen_t len = sizeof(out.storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&out.storage), &len) != 0)
    return make_error(ErrorKind::Internal, std::string("getsockname: ") + strerror(errno));
  out.length = len;
  out.text = format_address(out.sa());
  return out;
}

}  // namespace turnout
