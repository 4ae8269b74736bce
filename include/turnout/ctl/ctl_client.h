// The HTTP/1.1 client of `turnout ctl`: one request per connection (Connection: close) over the
// admin unix socket or a TCP address, blocking. Used only by the ctl process.
#pragma once

#include <string>

#include "turnout/common/error.h"
#include "turnout/ctl/ctl.h"

namespace turnout {

struct CtlAnswer {
  int status = 0;    // HTTP status
  std::string body;  // the whole body
};

// Sends `request` to `target` (a socket path, or "http://host:port") and reads the answer.
// Errors are meant for stderr, e.g. "cannot connect to ./turnout.sock: No such file or
// directory (is turnout running? set -s SOCKET)".
Result<CtlAnswer> ctl_call(const std::string& target, const std::string& token, const CtlRequest& request);

// Splits a raw HTTP/1.1 answer (as read until EOF) into status and body. Exposed for tests.
Result<CtlAnswer> parse_http_answer(const std::string& raw);

}  // namespace turnout
