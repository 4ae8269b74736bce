// LocalListener: a listening TCP socket on 127.0.0.1 with a port the kernel chose, for unit tests
// that need a real peer (the kernel completes handshakes from the backlog without an accept).
// The fixture closes the socket at the end unless the test hands it to an owner (an Acceptor
// closes its fd itself): then set close_at_exit = false.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include "turnout/common/address.h"
#include "turnout/net/listener.h"

namespace turnout::test {

struct LocalListener {
  int fd = -1;
  SocketAddress addr;
  bool close_at_exit = true;

  LocalListener() {
    auto a = parse_address("127.0.0.1:0");
    REQUIRE(a.ok());
    auto f = open_listen_socket(*a, ListenOptions{.reuse_port = false});
    REQUIRE(f.ok());
    fd = *f;
    auto bound = local_address(fd);
    REQUIRE(bound.ok());
    addr = *bound;
  }
  ~LocalListener() {
    if (close_at_exit && fd >= 0) ::close(fd);
  }
  LocalListener(const LocalListener&) = delete;
  LocalListener& operator=(const LocalListener&) = delete;
};

}  // namespace turnout::test
