#include "turnout/state/history_entry.h"

namespace turnout {

nlohmann::json history_to_json(const HistoryEntry& h) {
  return {{"unix_ms", h.unix_ms}, {"summary", h.summary}, {"back", h.back}, {"restores", h.restores}};
}

HistoryEntry history_from_json(const nlohmann::json& j, uint64_t version) {
  HistoryEntry h;
  h.version = version;
  if (!j.is_object()) return h;
  if (auto it = j.find("unix_ms"); it != j.end() && it->is_number_integer()) h.unix_ms = it->get<int64_t>();
  if (auto it = j.find("summary"); it != j.end() && it->is_string()) h.summary = it->get<std::string>();
  if (auto it = j.find("back"); it != j.end() && it->is_number_unsigned()) h.back = it->get<uint64_t>();
  if (auto it = j.find("restores"); it != j.end() && it->is_number_unsigned()) h.restores = it->get<uint64_t>();
  // A `back` at or after its own version cannot be: treat it as the start of the history.
  if (h.back >= version) h.back = 0;
  return h;
}

}  // namespace turnout
