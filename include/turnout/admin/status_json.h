// The GET /v1/status body (DESIGN.md "status"), rendered from a StatsSnapshot. Pure function.
#pragma once

#include <nlohmann/json.hpp>

#include "turnout/admin/stats_snapshot.h"

namespace turnout {

nlohmann::json render_status_json(const StatsSnapshot& s);

}  // namespace turnout
