// Listening sockets. The main thread creates one SO_REUSEPORT socket per worker and listen
// address (the first binds the configured port; the others bind the port the kernel chose when
// the config says 0), so every worker accepts on its own socket and the kernel spreads
// connections. Workers adopt the fds with uv_tcp_open (Debian's libuv 1.44 has no
// UV_TCP_REUSEPORT). The same fds are what a binary upgrade passes to the next process.
#pragma once

#include <string>
#include <vector>

#include "turnout/common/address.h"
#include "turnout/common/error.h"

namespace turnout {

struct ListenOptions {
  bool reuse_port = true;  // SO_REUSEPORT: one socket per worker on the same port
  int backlog = 1024;
  // TCP_DEFER_ACCEPT: the kernel hands over a connection only once its first bytes have arrived
  // (or after about a second of silence). The worker is then woken once per connection, with the
  // request ready to read, instead of once for the handshake and again for the data; and a
  // connection that never speaks takes no slot of limits.max_connections while it is silent.
  // Off for the admin socket, whose clients always speak first anyway.
  bool defer_accept = false;
};

// One listening socket handed to a worker, with what its connections must speak first.
struct ListenSocket {
  int fd = -1;
  bool proxy_protocol = false;  // listen entry with proxy_protocol: true (net/proxy_protocol.h)
  bool tls = false;             // listen entry with tls: true: a TLS handshake before HTTP
  bool http2 = false;           // listen entry with http2 (ALPN h2 / h2c with prior knowledge)
};

// The options of the proxy's client listeners.
inline constexpr ListenOptions kClientListenOptions{.reuse_port = true, .backlog = 1024,
                                                   .defer_accept = true};

// Turns TCP_DEFER_ACCEPT on for a listening socket (also one inherited from an older binary).
void enable_defer_accept(int fd);

// Creates a non-blocking, close-on-exec, SO_REUSEADDR (+ SO_REUSEPORT unless told otherwise)
// socket with TCP_NODELAY (and TCP_DEFER_ACCEPT if asked), bound to `addr` and listening.
// Returns the fd.
Result<int> open_listen_socket(const SocketAddress& addr, ListenOptions options = {});

// The address a socket is bound to (to learn the port chosen for port 0).
Result<SocketAddress> local_address(int fd);

}  // namespace turnout
