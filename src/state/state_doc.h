// parse_state_doc(): one state-file document — the snapshot, or one journal line — read with a
// SAX handler that streams "table.routes" straight into Config specs. A DOM of a million routes
// would cost seconds and gigabytes; this costs one pass. Private to src/state/; main thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "turnout/common/error.h"
#include "turnout/config/config.h"

namespace turnout {

// The top-level keys a state document may hold; which must be present is the caller's rule.
struct StateDoc {
  std::optional<std::string> config_hash;  // snapshot only
  std::optional<uint64_t> version;         // snapshot and every journal line
  std::optional<Config> table;             // "table": apps, routes and default_app as specs
  std::optional<nlohmann::json> changes;   // journal line: the array of change objects
  std::optional<nlohmann::json> meta;      // both: the version's history entry (history_entry.h)
};

// Never throws; a syntax or shape error yields an Error (code 400) naming what is wrong.
Result<StateDoc> parse_state_doc(std::string_view text);

}  // namespace turnout
