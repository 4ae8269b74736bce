#include "turnout/app/listen_set.h"

#include <unistd.h>

#include "turnout/common/log.h"

namespace turnout {

ListenSet::~ListenSet() {
  for (auto& socks : per_worker)
    for (const ListenSocket& s : socks) ::close(s.fd);
  close_dups();
}

void ListenSet::add(unsigned worker, int fd, const ListenSpec& spec) {
  per_worker[worker].push_back(ListenSocket{fd, spec.proxy_protocol, spec.tls, spec.http2});
  dups.push_back(::dup(fd));
}

void ListenSet::close_dups() {
  for (int fd : dups) ::close(fd);
  dups.clear();
}

Result<void> ListenSet::open(const Config& config, ListenOwner& owner) {
  unsigned n = config.workers;
  per_worker.assign(n, {});
  for (const auto& spec : config.listen) {
    SocketAddress addr = spec.address;
    // Claim a fixed address before binding it, so that a second turnout never accepts even one
    // connection there (SO_REUSEPORT would let it); port 0 is claimed once the kernel chose one.
    if (addr.port() != 0)
      if (auto r = owner.claim(format_address(addr.sa())); !r) return r.error();
    for (unsigned w = 0; w < n; ++w) {
      auto fd = open_listen_socket(addr, kClientListenOptions);
      if (!fd) return fd.error();
      if (w == 0) {
        // With port 0 the kernel picks a port; the other workers join that same port.
        auto bound = local_address(*fd);
        if (!bound) {
          ::close(*fd);
          return bound.error();
        }
        if (auto r = owner.claim(bound->text); !r) {
          ::close(*fd);
          return r.error();
        }
        addr = *bound;
        addrs.push_back(addr.text);
        TLOG_INFO("listening", "addr={} workers={}", addr.text, n);
      }
      add(w, *fd, spec);
    }
  }
  return {};
}

}  // namespace turnout
