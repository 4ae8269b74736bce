// Binary upgrade hand-off: the running turnout passes its listening sockets (SCM_RIGHTS) and its
// live table to a new turnout process over a connection to its admin socket, so the new binary
// accepts on the very same sockets (nothing queued in a backlog is lost, no connection refused)
// and starts from the live table, not just the config file.
//
// Wire format on the unix connection, after the new process sent "POST /v1/takeover":
//   old -> new: one sendmsg of a 16-byte header {"TRNOUT01", u32 fd_count, u32 payload_len}
//               carrying fd_count descriptors, then payload_len bytes of JSON;
//   new -> old: "READY\n" once its workers and admin API run on the received descriptors.
// Blocking calls on a dedicated thread (old side) or before the loop starts (new side).
#pragma once

#include <string>
#include <vector>

#include "turnout/common/error.h"

namespace turnout {

struct Handoff {
  std::vector<int> fds;  // received descriptors, owned by the caller
  std::string payload;   // JSON: version, table, listeners, which fd is which
};

// Old side. `sock` is blocking or non-blocking; waits as needed. Does not close anything.
Result<void> send_handoff(int sock, const std::vector<int>& fds, const std::string& payload);
// Old side: waits up to `timeout_ms` for "READY\n".
Result<void> wait_ready(int sock, int timeout_ms);

// New side: connects to the admin unix socket at `path` and asks for the hand-off.
Result<int> request_handoff(const std::string& admin_socket_path);
Result<Handoff> receive_handoff(int sock, int timeout_ms);
Result<void> send_ready(int sock);

// Tells systemd (Type=notify, NotifyAccess=all) the new main PID and readiness, when
// $NOTIFY_SOCKET is set; a no-op otherwise.
void notify_systemd(const std::string& state);

}  // namespace turnout
