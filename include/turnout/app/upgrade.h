// Upgrade: the binary upgrade, both sides of it.
//
// Old process: upgrade() (SIGUSR2 or POST /v1/upgrade) spawns the new binary with --takeover;
// the new process connects to our admin socket and asks for takeover(fd); a thread sends it the
// listening sockets, the admin sockets, the listen claims, the live table and the TLS session
// ticket keys (app/handoff.h) and waits for READY; then the waiters are answered and the
// `taken_over` hook drains this process.
// While handing over, changes are refused (handing_over()) and admin connections queue for the
// new process.
//
// New process: adopt_handoff() before the loop runs (sockets into the ListenSet, table, ticket
// keys and admin descriptors kept here), adopt_admin() and claim_listeners() while starting,
// confirm_ready() once workers accept and the admin API answers.
//
// Owner: app/ProxyServer, main loop thread (the hand-off thread posts its result through
// `inbox`). The destructor joins that thread and closes any descriptor still held.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "turnout/admin/admin_actions.h"
#include "turnout/admin/admin_server.h"
#include "turnout/app/listen_owner.h"
#include "turnout/app/listen_set.h"
#include "turnout/config/config.h"
#include "turnout/net/event_queue.h"
#include "turnout/route/route_table.h"

namespace turnout {

class Upgrade {
 public:
  using Done = AdminActions::Done;
  struct Hooks {
    std::function<RouteTablePtr()> live_table;  // what a successor gets
    std::function<bool()> shutting_down;        // this process is draining
    std::function<void()> taken_over;           // the successor runs: drain and exit
    std::function<std::string()> ticket_keys;   // TicketKeyRing::encode() of ours ("" = none)
  };
  // `binary` is what an upgrade execs; `config` and `listeners` are the server's (outlive this).
  Upgrade(const Config& config, std::string binary, EventQueue& inbox, ListenSet& listeners, Hooks hooks);
  ~Upgrade();
  Upgrade(const Upgrade&) = delete;
  Upgrade& operator=(const Upgrade&) = delete;

  // --- new process ---
  // Asks the running turnout (on our admin socket) for its sockets and live table.
  Result<void> adopt_handoff();
  RouteTablePtr handed_over_table() const { return table_; }
  // The old process's ticket keys (TicketKeyRing::encode()), moved out and wiped here; "" if it
  // sent none (an older binary), when tickets it issued cannot be opened.
  std::string take_ticket_keys();
  // Starts `admin` on the received admin descriptors (owned by it from now on).
  Result<void> adopt_admin(AdminServer& admin);
  // Holds a claim on every listen address: the old process's carry over, new ones are claimed.
  Result<void> claim_listeners(ListenOwner& owner);
  // Workers accept and the admin API answers: tells the old process it may go.
  void confirm_ready(uint64_t version);

  // --- old process ---
  // The main loop, admin server and listen claims, once they exist (either may be null).
  void attach(uv_loop_t* loop, AdminServer* admin, ListenOwner* owner);
  // Starts the new binary; `done` is answered once it took over (or failed). One at a time.
  void upgrade(Done done);
  // A new turnout asks for our sockets and table on this admin connection (`fd` owned here).
  void takeover(int fd);
  const std::string& binary() const { return binary_; }
  // Changes are refused while this is true.
  bool handing_over() const { return handing_over_; }
  // Shutdown: stop watching the successor (it outlives us).
  void close();

 private:
  void spawn_successor();
  void on_handoff_result(Result<void> r);

  const Config& config_;
  std::string binary_;
  EventQueue& inbox_;
  ListenSet& listeners_;
  Hooks hooks_;
  uv_loop_t* loop_ = nullptr;
  AdminServer* admin_ = nullptr;
  ListenOwner* owner_ = nullptr;
  // New process, until run() has them in place.
  int handoff_sock_ = -1;                      // the connection to the old one until READY
  RouteTablePtr table_;                        // the live table received
  std::string ticket_keys_;                    // ticket keys received (secret), until taken
  std::vector<int> admin_fds_;                 // admin unix + tcp fds received (-1 = none)
  std::map<std::string, int> claims_;          // claims received, addr -> fd
  // Old process.
  std::thread handoff_thread_;                 // sends sockets, waits for READY
  bool handing_over_ = false;                  // changes refused while handing over
  pid_t successor_pid_ = 0;                    // the child started by an upgrade
  uv_process_t* successor_ = nullptr;          // ...its handle until it exits or we stop (freed in close cb)
  std::vector<Done> waiters_;                  // answered when the hand-off completes
};

}  // namespace turnout
