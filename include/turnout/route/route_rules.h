// Which entries of a route may receive a request: the entries whose `when` the request meets;
// when it meets none, the entries without `when` (DESIGN.md "Routes beyond the host").
// Read once per exchange, and only for a route that has rules: a route without rules costs
// nothing here. Pure; any thread.
#pragma once

#include <cstdint>

#include "turnout/http/message.h"
#include "turnout/route/route_table.h"

namespace turnout {

// Every entry of a route without rules (the balancer's "no restriction").
inline constexpr uint64_t kAllEntries = ~uint64_t{0};

// Bit i set when route.apps[i] may receive `request`. kAllEntries for a route without rules;
// 0 when the route has rules, the request meets none and no entry is without `when` (-> 404).
uint64_t admitted_entries(const Route& route, const MessageHead& request);

// Whether `request` meets `when` (a header field / cookie with exactly that value).
bool meets(const RouteWhen& when, const MessageHead& request);

}  // namespace turnout
