// The GET /metrics body (Prometheus text format 0.0.4), rendered from a StatsSnapshot. Pure
// function; metric names, help texts and label sets are the contract of DESIGN.md "metrics".
#pragma once

#include <string>
#include <string_view>

#include "turnout/admin/stats_snapshot.h"

namespace turnout {

std::string render_prometheus(const StatsSnapshot& s);

// Prometheus label value escaping: backslash, double quote and newline.
std::string prom_label(std::string_view v);

}  // namespace turnout
