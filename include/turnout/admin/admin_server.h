// AdminServer: the HTTP/1.1 + JSON admin API (DESIGN.md "Admin API") on a unix socket (mode 0600)
// and, optionally, a TCP listener (loopback only unless allow_remote) where every request passes
// a RequestGuard (own Host and Origin, bearer token, JSON bodies).
//
// Owner: app/Server, on the main loop thread; every method is called on that thread. Requests are
// parsed here (admin_connection.h) and answered by the endpoint table (api.h) through
// AdminActions. Life: close() (or the destructor) closes listeners and connections at once; their
// memory is freed by their close callbacks, so the loop must run once more before
// uv_loop_close(). After close() nothing here touches the AdminServer or AdminActions again,
// except replies still pending inside AdminActions, which are dropped (the connection is gone).
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_set>

#include "turnout/admin/api.h"
#include "turnout/admin/request_guard.h"
#include "turnout/common/buffer.h"
#include "turnout/common/error.h"

namespace turnout {

class Acceptor;
class AdminConnection;

struct AdminOptions {
  std::string socket_path;     // unix socket path; "" = no unix listener
  std::string tcp_addr;        // "host:port" TCP listener; "" = none; port 0 picks a free port
  bool allow_remote = false;   // permit a non-loopback tcp_addr (a token is then required)
  std::string token;           // TCP requests need "Authorization: Bearer <token>"; required with tcp_addr
  bool open_reads = false;     // TCP: GET/HEAD need no token (Host and Origin are still checked)
  size_t max_body = 1 << 20;   // request bodies above this answer 413
};

class AdminServer {
 public:
  AdminServer(uv_loop_t* loop, AdminActions& actions, AdminOptions options);
  ~AdminServer();  // close(); the handles are freed when the loop next runs
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens. The unix socket: a stale file left by a crashed run (connect() is
  // refused) is replaced; a live one is never stolen ("is in use by a running turnout"); a path
  // that is not a socket is left alone (error). On error nothing stays open.
  Result<void> start();

  // Binary upgrade, new process: serve on listening descriptors inherited from the old one
  // (-1 = none) instead of binding. The unix socket file stays where it is.
  Result<void> adopt(int unix_fd, int tcp_fd);

  // Stops listening, closes every connection (pending answers are dropped), removes the socket
  // file this server created. Safe to call twice.
  void close();
  // Stops accepting (connections already open finish their answers until close()). With
  // `keep_socket_file` the file is left in place: a successor process serves on it now.
  void stop_listening(bool keep_socket_file);
  // Binary upgrade, old process: while the listening sockets are handed over, new admin
  // connections wait in the kernel backlog for whichever process serves next, so that only one
  // process ever answers on the shared socket. resume_accepting() undoes it if the hand-off fails.
  void pause_accepting();
  void resume_accepting();

  // Listening descriptors, for handing them to a successor process later; -1 when absent.
  int unix_fd() const;
  int tcp_fd() const;
  // The bound TCP port (useful with port 0); 0 when there is no TCP listener.
  int tcp_port() const;
  // Open client connections.
  size_t connection_count() const { return connections_.size(); }

 private:
  static constexpr int kAdminBacklog = 64;
  Result<void> start_unix();
  Result<void> start_tcp();
  // Starts accepting on a listening fd (owned from this call); nullptr on failure.
  Acceptor* serve(int listen_fd, bool is_tcp);
  void on_connection(int fd, bool is_tcp);
  void forget(AdminConnection* conn);
  void build_guard();  // once the TCP listener is bound (its port is known)

  uv_loop_t* loop_;                                // the main loop
  AdminActions& actions_;                          // outlives this server (app/Server)
  AdminOptions options_;                           // as given
  Acceptor* unix_ = nullptr;                       // frees itself after close()
  Acceptor* tcp_ = nullptr;                        // frees itself after close()
  RequestGuard guard_;                             // TCP policy, copied into each TCP connection
  std::shared_ptr<ChunkPool> chunks_;              // read chunks of every connection (main loop);
                                                   //   each holds a reference until it is freed
  std::unordered_set<AdminConnection*> connections_;  // open ones; each frees itself once closed
  dev_t socket_dev_ = 0;                           // identity of the socket file we created,
  ino_t socket_ino_ = 0;                           //   so close() never unlinks someone else's
  bool closed_ = false;                            // close() ran
  bool keep_socket_file_ = false;                  // release(): the file belongs to a successor
};

}  // namespace turnout
