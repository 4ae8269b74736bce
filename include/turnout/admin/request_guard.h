// RequestGuard: who may talk to the TCP admin listener (DESIGN.md "Operator safety").
//
// A loopback TCP port can be reached by every local user and by every web page the operator's
// browser opens, so the TCP listener trusts no one by address. It answers
//   403 to a request whose Host is not its own address (DNS rebinding: a page on evil.test that
//       re-resolves to 127.0.0.1 still sends "Host: evil.test"),
//   403 to a request whose Origin is present and not its own (cross-site requests),
//   401 to a change (any method but GET/HEAD) without "Authorization: Bearer <token>", and to a
//       read too unless admin.open_reads; the status page document itself (GET /) holds no data
//       and is served without the token, so a browser can load it and ask for the token,
//   403 to a change that carries a body (or a Content-Type) other than application/json (a
//       browser form or a "simple" cross-site fetch cannot send that without a CORS preflight).
// The unix socket is trusted by its file permissions (0600) and never consults a guard.
//
// Owner: AdminServer builds the policy for the TCP listener and copies it into each connection;
// AdminConnection calls check() once a request head is complete. Plain data, main loop only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "turnout/admin/api.h"

namespace turnout {

class RequestGuard {
 public:
  // Why a request is refused; status 0 = allowed.
  struct Verdict {
    int status = 0;       // 0, 401 or 403
    std::string message;  // for the error body
  };

  RequestGuard() = default;
  // `authorities`: the host[:port] forms a client may put in Host (and after "http://" in
  // Origin), compared case-insensitively. `token` must not be empty for a TCP listener.
  RequestGuard(std::vector<std::string> authorities, std::string token, bool open_reads);

  // Adds one more acceptable authority (e.g. the local address a connection arrived on).
  void allow_authority(std::string authority);

  // Judges a request head. `has_body`: a non-empty Content-Length or a chunked body.
  Verdict check(const AdminRequest& request, bool has_body) const;

  // "127.0.0.1:9901", "localhost:9901", "[::1]:9901", plus the forms without ":80" on port 80.
  static std::vector<std::string> loopback_authorities(int port);

  const std::vector<std::string>& authorities() const { return authorities_; }

 private:
  bool own_authority(std::string_view authority) const;
  bool token_ok(const AdminRequest& request) const;

  std::vector<std::string> authorities_;  // lower-case host[:port] forms that name this listener
  std::string token_;                     // the bearer token every change needs
  bool open_reads_ = false;               // GET/HEAD need no token
};

}  // namespace turnout
