// Where `turnout ctl` sends its request and with which token, when -s and --token do not say:
// from the config given with -c (admin.socket, else admin.http with admin.token or the token in
// admin.token_file), else ./turnout.sock when it exists, else the packaged socket
// /run/turnout/turnout.sock. Used only by the ctl process, before it connects.
#pragma once

#include <functional>
#include <string>

#include "turnout/common/error.h"
#include "turnout/ctl/ctl.h"

namespace turnout {

// The socket the .deb's config (packaging/turnout.yaml) serves the admin API on.
inline constexpr const char* kPackagedAdminSocket = "/run/turnout/turnout.sock";

struct CtlTarget {
  std::string target;      // socket path or "http://host:port"
  std::string token;       // bearer token ("" = none)
  std::string token_file;  // where the token lives, for the 401 hint ("" = unknown)
  std::string token_note;  // why the token file was not used ("" = it was, or was not needed)
};

// Resolves the target of `options` (already parsed). `exists` tells whether a path exists
// (a parameter so tests need not touch the real /run). Errors: -c names an unreadable or
// invalid config, or one without any admin listener.
Result<CtlTarget> resolve_ctl_target(const CtlOptions& options,
                                     const std::function<bool(const std::string&)>& exists);

// What ctl adds to a 401 answer: where the token is and how to pass it.
std::string ctl_unauthorized_hint(const CtlTarget& target);

}  // namespace turnout
