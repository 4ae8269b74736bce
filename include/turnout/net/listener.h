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
};

// Creates a non-blocking, close-on-exec, SO_REUSEADDR (+ SO_REUSEPORT unless told otherwise)
// socket with TCP_NODELAY, bound to `addr` and listening. Returns the fd.
Result<int> open_listen_socket(const SocketAddress& addr, ListenOptions options = {});

// The address a socket is bound to (to learn the port chosen for port 0).
Result<SocketAddress> local_address(int fd);

}  // namespace turnout
