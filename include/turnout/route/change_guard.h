// Guard rails for admin changes (DESIGN.md "Operator safety"): a change that would stop a host
// from being served is refused (409) unless forced.
//
// "Served" means the host has a route with at least one live app: an app that exists, has a
// server, and has a server that is up. A change is refused when, for a host it touches, the host
// is routed now and would have no route after it, or would be routed only to apps with no server
// up (unless it already was: a change does not break what was already broken).
//
// A certificate change is refused when a routed host that a certificate covers now would have
// none covering it after (its HTTPS would fail the handshake or answer 421).
//
// Cost: O(size of the change). The hosts checked are the ones the change maps or unmaps; an
// app-level change (replace, add or remove a server) that takes a mapped app from live to
// dead additionally visits the routes to find that app's hosts — only then, so ordinary
// changes never scan a table of a million routes. Pure functions; main thread (reads tables).
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "turnout/route/route_builder.h"
#include "turnout/route/route_table.h"

namespace turnout {

// Whether a server (by its normalised addr) is up now; unknown servers count as up.
using ServerUpFn = std::function<bool(const std::string& addr)>;

// One host the change would break, and why.
struct GuardProblem {
  std::string host;    // route key
  std::string reason;  // "would have no app (it is routed to blue now)", ...
};

// The hosts `changes` (which turned `before` into `after`) would stop serving; empty = safe.
std::vector<GuardProblem> guard_changes(const RouteTable& before, const RouteTable& after,
                                        std::span<const Change> changes, const ServerUpFn& up);

// The 409 message for `problems`: each host and why, then how to force the change.
std::string guard_message(const std::vector<GuardProblem>& problems);

// "blue(1), green(9)": a route's apps with weights, as every change answer prints them.
std::string describe_route(const Route& route);

}  // namespace turnout
