// The admin API's endpoint table (src/admin/api.cc): AdminServer parses HTTP and hands each
// complete request here; the table matches {method, path pattern}, checks input, calls
// AdminActions (admin/admin_actions.h, included for the code that uses both) and builds the
// answer. Main loop thread only.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "turnout/admin/admin_actions.h"

namespace turnout {

// One complete admin request, as parsed by AdminServer. Owned by the connection until replied.
struct AdminRequest {
  std::string method;                                        // "GET", "PUT", ...
  std::string target;                                        // raw request target: path[?query]
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in arrival order
  std::string body;                                          // whole body (bounded by max_body)

  // The first header named `name` (lower-case), or nullptr.
  const std::string* header(std::string_view name) const;
};

// The answer to one admin request. AdminServer adds Content-Length and Connection.
struct AdminResponse {
  int status = 200;                                          // HTTP status
  std::string content_type = "application/json";            // Content-Type
  std::string body;                                          // sent as is
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Allow, ...)
};
using AdminReply = std::function<void(AdminResponse)>;

// Dispatches `request` through the endpoint table. `reply` is called exactly once: before this
// returns for reads and for errors found while checking input, later (when AdminActions' `done`
// fires) for changes. `actions` must outlive every pending reply.
void handle_admin_request(AdminActions& actions, const AdminRequest& request, AdminReply reply);

// One row of the endpoint table, for help text and the status page.
struct EndpointInfo {
  const char* method;   // "GET", "PUT", "DELETE", "POST"
  const char* pattern;  // "/v1/routes/{host}/{app}"; "{addr*}" captures the rest of the path
  bool mutates;         // true: produces a new table version (honours If-Match)
  const char* usage;    // one line: what it does and what body it takes
};
std::vector<EndpointInfo> admin_endpoints();

}  // namespace turnout
