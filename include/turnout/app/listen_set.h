// ListenSet: the client listening sockets of this process, from the moment they are opened (or
// received in an upgrade hand-off) until the workers take them, plus the duplicates kept for a
// successor. Closes whatever it still owns when destroyed.
//
// Owner: app/ProxyServer (main thread). app/Upgrade fills it on the new-process side and reads
// `addrs`/`dups` on the old-process side.
#pragma once

#include <string>
#include <vector>

#include "turnout/app/listen_owner.h"
#include "turnout/common/error.h"
#include "turnout/config/config.h"
#include "turnout/net/listener.h"

namespace turnout {

struct ListenSet {
  std::vector<std::vector<ListenSocket>> per_worker;  // sockets per worker until it starts
  std::vector<std::string> addrs;                     // bound addresses, for status
  std::vector<int> dups;  // dups of every listening socket (address-major, then worker),
                          //   passed to a successor on upgrade

  ListenSet() = default;
  ListenSet(const ListenSet&) = delete;
  ListenSet& operator=(const ListenSet&) = delete;
  ~ListenSet();

  // Opens `config.listen`, one socket per worker and address, each claimed in `owner` first.
  Result<void> open(const Config& config, ListenOwner& owner);
  // Adds `fd` as worker `worker`'s socket (and keeps a dup of it for a successor).
  void add(unsigned worker, int fd, const ListenSpec& spec);
  // Closes the dups: a process that took over holds its own, and ours would keep the sockets
  // open (the kernel completing handshakes nobody answers) after the workers closed theirs.
  void close_dups();
};

}  // namespace turnout
