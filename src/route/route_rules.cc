#include "turnout/route/route_rules.h"

#include "turnout/http/cookie.h"

namespace turnout {

bool meets(const RouteWhen& when, const MessageHead& request) {
  switch (when.kind) {
    case RouteWhen::Kind::None: return true;
    case RouteWhen::Kind::Header: return has_header_value(request, when.name, when.value);
    case RouteWhen::Kind::Cookie: return has_cookie(request, when.name, when.value);
  }
  return false;
}

uint64_t admitted_entries(const Route& route, const MessageHead& request) {
  if (!route.has_rules) return kAllEntries;
  uint64_t met = 0;
  for (size_t i = 0; i < route.apps.size(); ++i)
    if (route.apps[i].when && meets(route.apps[i].when, request)) met |= uint64_t{1} << i;
  return met != 0 ? met : route.plain_entries;
}

}  // namespace turnout
