// `turnout ctl export` (GET /v1/export): the live table as config YAML — the `apps`, `routes` and
// `default_app` sections — so an operator can commit runtime changes to the config file before a
// reload. Round-trips: `turnout check` accepts it and loading it builds the same table.
// Output is sorted (apps, then routes, by name) so two exports of one table are identical.
// Pure function; main thread (it walks the whole table: O(table), on request only).
#pragma once

#include <string>

#include "turnout/route/route_table.h"

namespace turnout {

std::string export_table_yaml(const RouteTable& table);

}  // namespace turnout
