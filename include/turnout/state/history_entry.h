// One entry of the change history: what made a table version, and the rollback undo stack.
// Kept in memory by app/Server for the last versions, persisted beside each version in the
// state file (state/state_store.h) so the history survives a restart, and shown by GET /v1/history.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace turnout {

struct HistoryEntry {
  uint64_t version = 0;
  int64_t unix_ms = 0;          // when it was published
  std::string summary;          // "map example2 example.com", "reload", "rollback to 12"
  uint64_t back = 0;            // where a bare rollback from this version goes (0 = nowhere):
                                //   the version before it for a change or reload; for a
                                //   rollback, the `back` of the version it restored (undo stack)
  uint64_t restores = 0;        // rollback: the version whose table it made current again
};

// {"unix_ms", "summary", "back", "restores"} (the version is stored beside it).
nlohmann::json history_to_json(const HistoryEntry& h);
// Lenient: missing or mistyped fields keep their defaults (a state from an older turnout).
HistoryEntry history_from_json(const nlohmann::json& j, uint64_t version);

}  // namespace turnout
