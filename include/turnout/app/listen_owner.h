// ListenOwner: one running turnout per listen address.
//
// Client listeners use SO_REUSEPORT (one socket per worker), so the kernel would let a second
// turnout bind the same address and silently split the traffic with its own table. To prevent
// it, a turnout holds one claim per listen address: a listening unix socket in the abstract
// namespace named "\0turnout-listen:<ip:port>". The kernel keeps the name unique and drops it
// with the last descriptor, so a crashed turnout leaves nothing stale behind. A starter that
// finds a name taken connects to it; the holder answers one JSON line {"pid", "admin_socket"}
// and the starter refuses to start, naming both. A binary upgrade hands the claim descriptors to
// the successor with the listeners (app/handoff), so the successor holds the names without ever
// releasing them.
//
// Owner: app/Server on the main loop thread; close() before the loop's last run (the answering
// Acceptors free themselves in their close callbacks).
#pragma once

#include <uv.h>

#include <map>
#include <string>

#include "turnout/common/error.h"

namespace turnout {

class Acceptor;

class ListenOwner {
 public:
  // `admin_socket` is named in the answer to other starters (made absolute here).
  ListenOwner(uv_loop_t* loop, const std::string& admin_socket);
  ~ListenOwner();
  ListenOwner(const ListenOwner&) = delete;
  ListenOwner& operator=(const ListenOwner&) = delete;

  // Claims `addr` ("ip:port" as format_address writes it). Error when another turnout holds
  // it: "another turnout (pid N, admin socket S) already serves ADDR ...". Claiming an address
  // this object already holds is a no-op.
  Result<void> claim(const std::string& addr);
  // Binary upgrade, new process: the claim on `addr` received from the old one (owned from now).
  void adopt(const std::string& addr, int fd);
  // Stops answering and releases every claim (a successor that received them keeps its copies).
  void close();

  // The claims held, addr -> listening descriptor (still owned here), for a hand-off.
  std::map<std::string, int> fds() const;

  // The abstract socket name (without the leading NUL) that stands for `addr`.
  static std::string claim_name(const std::string& addr);
  // Asks the holder of `addr`'s claim who it is; the error text for a starter. Blocking, short.
  static Error holder_error(const std::string& addr);

 private:
  void serve(const std::string& addr, int fd);
  void answer(int fd);  // one "who holds this" connection

  uv_loop_t* loop_;                          // the main loop
  std::string answer_;                       // the JSON line sent to every asker
  std::map<std::string, Acceptor*> claims_;  // addr -> its answering Acceptor (owns the fd)
};

}  // namespace turnout
