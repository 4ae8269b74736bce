// The table turnout starts with, and the history and state file that come with it: the live
// table handed over by the old process (upgrade), else the state file's when it matches the
// config, else the config's. What TablePublisher::start() takes.
#pragma once

#include <deque>
#include <memory>

#include "turnout/app/table_committer.h"
#include "turnout/config/config.h"

namespace turnout {

struct InitialTable {
  RouteTablePtr current;
  std::deque<KeptVersion> kept;       // oldest first, ends with `current`
  std::unique_ptr<StateStore> store;  // null without state_file
};

// `handed_over`: the table received from the old process on upgrade, or null.
Result<InitialTable> load_initial_table(const Config& config, RouteTablePtr handed_over);

}  // namespace turnout
