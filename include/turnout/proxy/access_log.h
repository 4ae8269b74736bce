// AccessLog: one line per answered request, in the text or JSON format of access_log_format,
// appended to the worker's batch buffer (ProxyContext::access_buf) and handed to the log writer
// in blocks. The protocol side (ClientConnection today, an HTTP/2 session later) fills an
// AccessRecord when a request is answered; the line's layout lives only here.
// Worker thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace turnout {

struct ProxyContext;

// What one line says. Views stay valid for the call only; empty fields print as "-" where the
// format has always done so (host, method, target, request id).
struct AccessRecord {
  std::string_view client;      // client address, no port
  std::string_view host;        // request host ("" = none)
  std::string_view method;      // request method ("" = no request parsed)
  std::string_view target;      // request target
  std::string_view protocol = "h1";  // "h1" (HTTP/1.x) or "h2" (HTTP/2)
  int status = 0;               // status sent to the client
  uint64_t bytes = 0;           // response body bytes sent
  std::string_view app = "-";   // app that served it, "-" for none
  std::string_view upstream = "-";  // server tried last, "-" for none
  uint64_t duration_us = 0;     // from the request's first byte to now
  std::string_view request_id;  // X-Request-Id ("" = none)
};

class AccessLog {
 public:
  // Appends `rec` as one line to `out` (text when !json), stamped `time` and `worker`.
  static void format(std::string& out, const AccessRecord& rec, std::string_view time, unsigned worker, bool json);
  // Appends `rec` to ctx.access_buf when access logging is on, submitting the buffer once it
  // holds 32 KiB.
  static void write(ProxyContext& ctx, const AccessRecord& rec);
};

}  // namespace turnout
