// What a reload would drop (DESIGN.md "Operator safety"): the runtime changes — routes, apps and
// default_app that differ between the live table and the table the config file gave at the
// last start or reload — whose live value the newly read file does not have.
//
// Cost: O(table); it runs only on reload, which builds a whole table anyway. Pure functions.
#pragma once

#include <string>
#include <vector>

#include "turnout/route/route_table.h"

namespace turnout {

// One runtime change a reload would drop.
struct DroppedChange {
  std::string kind;  // "route", "app", "certificate" or "default_app"
  std::string key;   // host, app name, or "" for default_app
  std::string live;  // live value, e.g. "blue(1), green(9)"; "(none)" when removed at runtime
  std::string file;  // the file's value; "(none)" when the file lacks it
};

// `base`: the table the file gave at the last load; `live`: the current table; `next`: the
// table the file gives now. Sorted by kind, then key.
std::vector<DroppedChange> dropped_by_reload(const RouteTable& base, const RouteTable& live, const RouteTable& next);

// The 409 message: every dropped change on its own line, then how to keep or force.
std::string reload_refusal_message(const std::vector<DroppedChange>& dropped);

// "127.0.0.1:9001(1), 127.0.0.1:9002(2)": an app's servers with weights ("(no servers)").
std::string describe_app(const App& app);

}  // namespace turnout
