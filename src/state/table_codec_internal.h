// Pieces of the table codec shared inside src/state/ (journal.cc, state_doc.cc); the public
// half is in include/turnout/state/state_store.h. Main thread.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "turnout/common/error.h"
#include "turnout/config/config.h"
#include "turnout/route/route_table.h"

namespace turnout {

// Appends the text of table_to_json(table) (same keys and values) without building a DOM, so
// a snapshot of a million routes costs one string, not a million-node tree. An Error when a
// string of the table is not valid UTF-8 (then `out` holds nothing worth writing): the state
// file keeps every byte or refuses.
Result<void> append_table_text(const RouteTable& table, std::string& out);

// The "apps" object of a table -> cfg.apps (servers, weights, health), type-checked.
Result<void> apps_from_json(const nlohmann::json& apps, Config& cfg);

// The "certificates" object of a table -> cfg.tls.certificates, each parsed and checked.
Result<void> certificates_from_json(const nlohmann::json& certs, Config& cfg);

}  // namespace turnout
