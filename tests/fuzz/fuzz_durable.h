// Durability invariants shared by the fuzz targets: what the state file writes for a table or a
// change must read back as the same table or change. The bytes are produced the way
// src/state/journal.cc produces them (append_table_text for snapshots and table entries,
// change_to_json().dump(replace) for journal lines) and read back with parse_state_doc (the
// loader's own reader), so a difference here is a change acknowledged and then lost at restart.
// Uses src/state's private headers (state_doc.h, table_codec_internal.h).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "state_doc.h"
#include "table_codec_internal.h"
#include "turnout/route/route_builder.h"
#include "turnout/state/state_store.h"

namespace turnout::fuzz {

inline std::string dump_replace(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The snapshot of `table` read back by the loader is the same table; and append_table_text
// writes exactly what table_to_json holds.
inline void check_snapshot_round_trip(const RouteTable& table) {
  std::string text = "{\"config_hash\":\"0123456789abcdef\",\"version\":" + std::to_string(table.version()) +
                     ",\"table\":";
  size_t table_at = text.size();
  Result<void> wrote = append_table_text(table, text);
  if (!wrote) {
    // Refused: only right when some string of the table is not UTF-8 (the writer never replaces
    // bytes, so such a table cannot be written).
    bool strict_dump_fails = false;
    try {
      (void)table_to_json(table).dump();
    } catch (const nlohmann::json::type_error&) {
      strict_dump_fails = true;
    }
    FUZZ_CHECK(strict_dump_fails, "append_table_text refused a table that is valid UTF-8: %s",
               wrote.error().message.c_str());
    return;
  }
  std::string table_text = text.substr(table_at);
  text += "}";

  nlohmann::json want = table_to_json(table);
  nlohmann::json written = nlohmann::json::parse(table_text, nullptr, false);
  FUZZ_CHECK(!written.is_discarded(), "append_table_text wrote invalid JSON:\n  %s", printable(table_text).c_str());
  FUZZ_CHECK(written == nlohmann::json::parse(dump_replace(want)),
             "append_table_text differs from table_to_json:\n  %s\n  %s", printable(table_text).c_str(),
             printable(dump_replace(want)).c_str());

  Result<StateDoc> doc = parse_state_doc(text);
  FUZZ_CHECK(doc.ok(), "snapshot does not read back: %s\n  %s", doc.error().message.c_str(), printable(text).c_str());
  FUZZ_CHECK(doc->table && doc->version && *doc->version == table.version() && doc->config_hash,
             "snapshot read back without its table, version or hash");
  Result<RouteTablePtr> back = build_table(*doc->table, *doc->version);
  FUZZ_CHECK(back.ok(), "snapshot reads back but does not build: %s\n  %s", back.error().message.c_str(),
             printable(text).c_str());
  nlohmann::json got = table_to_json(**back);
  FUZZ_CHECK(got == want, "table changed through the snapshot:\n  before %s\n  after  %s",
             printable(dump_replace(want)).c_str(), printable(dump_replace(got)).c_str());
}

// A journal line holding `c` reads back as the same change.
inline void check_change_round_trip(const Change& c) {
  nlohmann::json want = change_to_json(c);
  std::string line = "{\"version\":2,\"changes\":[" + dump_replace(want) + "]}";
  Result<StateDoc> doc = parse_state_doc(line);
  FUZZ_CHECK(doc.ok() && doc->changes && doc->changes->is_array() && doc->changes->size() == 1,
             "journal line does not read back: %s\n  %s", doc.ok() ? "no changes" : doc.error().message.c_str(),
             printable(line).c_str());
  Result<Change> back = change_from_json((*doc->changes)[0]);
  FUZZ_CHECK(back.ok(), "change_from_json refused a journal line: %s\n  %s", back.error().message.c_str(),
             printable(line).c_str());
  nlohmann::json got = change_to_json(*back);
  FUZZ_CHECK(got == want, "change changed through the journal:\n  before %s\n  after  %s",
             printable(dump_replace(want)).c_str(), printable(dump_replace(got)).c_str());
}

}  // namespace turnout::fuzz
