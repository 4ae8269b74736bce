// Acceptor: takes connections off one listening socket on one libuv loop. It polls the socket
// (uv_poll_t) and calls accept4() itself rather than using uv_listen.
//
// Why not uv_listen: libuv 1.44 answers EMFILE with a reserve-descriptor trick kept per loop. With
// several loops in one process (a worker per thread), another thread can take the slot the
// reserve frees; the reserve is then lost and libuv retries accept() in a loop that never returns
// while descriptors stay exhausted — a worker spinning at 100% CPU and serving nothing. Here,
// running out of descriptors (or kernel memory) pauses accepting: connections wait in the kernel
// backlog, and a back-off timer, or the owner reporting a freed descriptor, resumes it.
//
// Owner: whoever opens it calls close(); the Acceptor then frees itself after its handles' close
// callbacks and closes the listening fd. Loop thread only.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <functional>

namespace turnout {

class Acceptor {
 public:
  // Called with each accepted socket (non-blocking, close-on-exec; the callee owns `fd`) and the
  // peer's address. Returns false to pause accepting (a connection limit was reached); the owner
  // calls resume() when it can take more.
  using OnAccept = std::function<bool(int fd, const sockaddr* peer, socklen_t peer_len)>;
  // Told once when accepting pauses for lack of descriptors or memory (errno value) and once when
  // it works again (0), so the owner can log the episode instead of every failed accept.
  using OnResourceShortage = std::function<void(int err)>;

  // Takes ownership of `listen_fd` (already bound and listening, non-blocking). Returns nullptr
  // on failure, with the fd closed.
  static Acceptor* open(uv_loop_t* loop, int listen_fd, OnAccept on_accept, OnResourceShortage on_shortage = {});

  // Stops accepting until resume(). Connections queue in the kernel meanwhile.
  void pause();
  // Accepts again after pause(); also retries at once after a descriptor shortage (call it when a
  // connection closes).
  void resume();
  // Stops, closes the listening socket and frees this object after its close callbacks.
  void close();

  int fd() const { return fd_; }
  bool paused() const { return owner_paused_ || short_of_resources_; }
  // Accept attempts refused for lack of descriptors or memory so far.
  uint64_t shortages() const { return shortages_; }

  // How long accepting waits after EMFILE/ENFILE/ENOBUFS/ENOMEM before it tries again.
  static constexpr uint64_t kShortageRetryMs = 100;
  // Connections taken per readiness event, so one busy listener cannot starve the loop.
  static constexpr int kAcceptBatch = 64;

 private:
  friend struct AcceptorCallbacks;
  Acceptor(uv_loop_t* loop, int fd, OnAccept on_accept, OnResourceShortage on_shortage);
  ~Acceptor() = default;
  void on_readable();
  void on_retry_timer();
  void end_shortage();
  void update_polling();
  void on_handle_closed();

  uv_loop_t* loop_;
  int fd_;                         // the listening socket; closed with the Acceptor
  OnAccept on_accept_;
  OnResourceShortage on_shortage_;
  uv_poll_t poll_{};
  uv_timer_t retry_timer_{};       // runs while short of resources
  bool polling_ = false;           // uv_poll_start is in effect
  bool owner_paused_ = false;      // pause() until resume()
  bool short_of_resources_ = false;  // the last accept failed with EMFILE/ENFILE/ENOBUFS/ENOMEM
  bool closing_ = false;
  int pending_closes_ = 0;
  uint64_t shortages_ = 0;
};

}  // namespace turnout
