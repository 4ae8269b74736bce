#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "descriptors_fixture.h"
#include "listener_fixture.h"
#include "loop_fixture.h"
#include "turnout/common/address.h"
#include "turnout/net/acceptor.h"
#include "turnout/net/listener.h"

using namespace turnout;

namespace {

// The Acceptor under test owns (and closes) the listening fd.
struct Listening : test::LocalListener {
  Listening() { close_at_exit = false; }
};

// A blocking client socket connected to `addr` (the kernel completes the handshake from the
// backlog whether or not anyone has accepted yet).
int connect_client(const SocketAddress& addr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  REQUIRE(::connect(fd, addr.sa(), addr.length) == 0);
  return fd;
}

// Runs the loop for about `ms` milliseconds (the acceptor keeps it alive, so UV_RUN_DEFAULT
// would never return).
void run_for(uv_loop_t* loop, uint64_t ms) {
  uv_timer_t t;
  uv_timer_init(loop, &t);
  uv_timer_start(&t, [](uv_timer_t* h) { uv_stop(h->loop); }, ms, 0);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
}

using test::DescriptorsExhausted;
using test::fd_open;

}  // namespace

TEST_CASE("Acceptor: accepts with the peer address, pauses with connections left queued, resumes, closes clean") {
  test::LoopFixture f;
  Listening l;
  std::vector<int> accepted;
  std::vector<std::string> peers;
  bool take_more = true;
  Acceptor* a = Acceptor::open(&f.loop, l.fd, [&](int fd, const sockaddr* peer, socklen_t) {
    accepted.push_back(fd);
    peers.push_back(format_address(peer, false));
    return take_more;
  });
  REQUIRE(a != nullptr);
  CHECK(a->fd() == l.fd);

  int c1 = connect_client(l.addr);
  run_for(&f.loop, 50);
  REQUIRE(accepted.size() == 1);
  CHECK(peers[0] == "127.0.0.1");
  // The accepted socket is non-blocking and close-on-exec.
  CHECK((::fcntl(accepted[0], F_GETFL) & O_NONBLOCK) != 0);
  CHECK((::fcntl(accepted[0], F_GETFD) & FD_CLOEXEC) != 0);

  // The owner says "no more" (a connection limit): the next ones wait in the kernel backlog.
  take_more = false;
  int c2 = connect_client(l.addr);
  int c3 = connect_client(l.addr);
  run_for(&f.loop, 50);
  CHECK(accepted.size() == 2);
  CHECK(a->paused());
  run_for(&f.loop, 50);
  CHECK(accepted.size() == 2);  // paused: the third stays queued

  take_more = true;
  a->resume();
  run_for(&f.loop, 50);
  CHECK(accepted.size() == 3);
  CHECK_FALSE(a->paused());

  a->close();
  f.run();  // close callbacks: the Acceptor frees itself and closes the listening socket
  CHECK_FALSE(fd_open(l.fd));
  for (int fd : accepted) ::close(fd);
  for (int fd : {c1, c2, c3}) ::close(fd);
}

TEST_CASE("Acceptor: out of descriptors it pauses and retries on a timer instead of spinning, then accepts") {
  test::LoopFixture f;
  Listening l;
  std::vector<int> accepted;
  std::vector<int> shortage_events;
  Acceptor* a = Acceptor::open(
      &f.loop, l.fd,
      [&](int fd, const sockaddr*, socklen_t) {
        accepted.push_back(fd);
        return true;
      },
      [&](int err) { shortage_events.push_back(err); });
  REQUIRE(a != nullptr);

  int client = connect_client(l.addr);

  DescriptorsExhausted exhausted;
  const int fill_errno = exhausted.fill_errno;

  run_for(&f.loop, 350);
  // Read everything before asserting: a failing assertion while no descriptor is free could not
  // even be reported (the sanitizers' reporters open files).
  const size_t accepted_while_short = accepted.size();
  const std::vector<int> events_while_short = shortage_events;
  const bool paused_while_short = a->paused();
  const uint64_t attempts = a->shortages();

  // Descriptors come back: resume() (what the worker calls when a connection closes) retries now.
  exhausted.release();
  a->resume();

  CHECK(fill_errno == EMFILE);
  CHECK(accepted_while_short == 0);
  REQUIRE(events_while_short.size() == 1);
  CHECK(events_while_short[0] == EMFILE);
  CHECK(paused_while_short);
  // A spinning acceptor would have tried thousands of times; this one tries once per retry
  // period (100 ms) plus the first attempt.
  INFO("accept attempts refused: " << attempts);
  CHECK(attempts >= 2);
  CHECK(attempts <= 10);

  CHECK(accepted.size() == 1);
  REQUIRE(shortage_events.size() == 2);
  CHECK(shortage_events[1] == 0);
  CHECK_FALSE(a->paused());

  a->close();
  f.run();
  for (int fd : accepted) ::close(fd);
  ::close(client);
}

TEST_CASE("Acceptor: the retry timer alone resumes accepting once descriptors are free") {
  test::LoopFixture f;
  Listening l;
  std::vector<int> accepted;
  Acceptor* a = Acceptor::open(&f.loop, l.fd, [&](int fd, const sockaddr*, socklen_t) {
    accepted.push_back(fd);
    return true;
  });
  REQUIRE(a != nullptr);
  int client = connect_client(l.addr);

  DescriptorsExhausted exhausted;
  run_for(&f.loop, 150);
  const size_t accepted_while_short = accepted.size();
  exhausted.release();
  CHECK(accepted_while_short == 0);

  run_for(&f.loop, 250);  // no resume(): the 100 ms retry timer finds a free descriptor
  CHECK(accepted.size() == 1);
  CHECK_FALSE(a->paused());

  a->close();
  f.run();
  for (int fd : accepted) ::close(fd);
  ::close(client);
}
