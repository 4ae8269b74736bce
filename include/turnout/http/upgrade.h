// Upgrade policy (RFC 9110 7.8): which protocol switches turnout relays, and when a server's
// switch may reach the client. Pure functions over parsed heads; any thread.
//
// Only WebSocket is relayed. h2c in particular never is: a tunnelled h2c connection would let
// a client speak HTTP/2 straight to a backend, past every rule the proxy applies per request
// (the "h2c smuggling" class), and RFC 9113 dropped the h2c upgrade anyway. A request that
// offers only protocols turnout does not relay is served as plain HTTP/1.1: its Upgrade and
// HTTP2-Settings fields are removed like any hop-by-hop field.
#pragma once

#include <string_view>

#include "turnout/common/error.h"
#include "turnout/http/message.h"

namespace turnout {

// True for a protocol ("websocket", "WebSocket/13": the name, case-insensitive, decides) that
// turnout relays an upgrade to.
bool upgrade_protocol_allowed(std::string_view protocol);

// At request head complete, after llhttp set head.upgrade (an Upgrade field plus "upgrade" in
// Connection, or CONNECT). Keeps the allowed protocols of every Upgrade field, in order, as
// head.upgrade_protocols (written to head.storage); clears head.upgrade when none is left.
// CONNECT is left as it is: it is a tunnel by method, not an Upgrade.
void decide_request_upgrade(RequestHead& head);

// Whether a 101 response `res` may switch the client connection to a tunnel. 502 unless the
// request offered an upgrade upstream (req.upgrade_protocols), its Upgrade field names only
// protocols among those (RFC 9110 7.8: a server must not switch to anything else), and the
// request's body has been read in full (`request_complete`): the client's bytes after its
// request are the new protocol's, and a server that switches before the body is over would
// read the rest of the body as the new protocol.
Result<void> check_switching_protocols(const ResponseHead& res, const RequestHead& req, bool request_complete);

}  // namespace turnout
