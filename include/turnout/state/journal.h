// StateStore: the durable copy of the live table (DESIGN.md "State").
//
// Layout: `<state_file>` is a JSON snapshot {"config_hash", "version", "table"}; beside it
// `<state_file>.journal` holds one JSON line per accepted change set {"version", "changes"} (or
// {"version", "table"} for a rollback/reload). Each append is written and fsynced before the
// API answers; now and then the journal is compacted: snapshot to a temp file, fsync, rename,
// fsync the directory, truncate the journal. A torn last journal line (crash mid-write) is
// ignored on load, so what loads is always a state that was acknowledged.
// Main thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "turnout/common/error.h"
#include "turnout/config/config.h"
#include "turnout/route/route_builder.h"
#include "turnout/route/route_table.h"

namespace turnout {

// Table <-> JSON: {"apps": {name: {"servers": [{"addr", "weight"}], "health"?}},
//                  "routes": {host: {app: weight}}, "default_app": name|null}
nlohmann::json table_to_json(const RouteTable& table);
Result<RouteTablePtr> table_from_json(const nlohmann::json& j, uint64_t version);
nlohmann::json change_to_json(const Change& c);
Result<Change> change_from_json(const nlohmann::json& j);

class StateStore {
 public:
  // What load() found.
  enum class LoadKind {
    None,         // no state file: start from the config
    Loaded,       // state matches the config hash: `table` is the live table to resume
    ConfigNewer,  // config edited since: state moved aside to <state_file>.old
  };
  struct Loaded {
    LoadKind kind = LoadKind::None;
    RouteTablePtr table;  // for Loaded
  };

  explicit StateStore(std::string path);
  ~StateStore();

  // Reads snapshot + journal. `config_hash` is Config::content_hash. ConfigNewer also moves
  // the journal to <state_file>.journal.old; a journal with no snapshot is moved there too
  // (None). Journal entries at or below the snapshot's version are skipped; a torn last line
  // is dropped (warning logged). Any other damage is an Error (500), and the damaged files
  // are moved aside like ConfigNewer's. After Loaded the store is ready to append; after
  // None, ConfigNewer or an Error, reset() it with the config's table.
  Result<Loaded> load(const std::string& config_hash);
  // Replaces the whole state with `table` (start, reload, rollback). Durable on return.
  // Versions passed to reset must not go below those already journalled.
  Result<void> reset(const RouteTablePtr& table, const std::string& config_hash);
  // Appends one accepted change set that produced table_after->version() (which must be higher
  // than the last version written). Durable on return; requires load() or reset() first.
  Result<void> append(const RouteTablePtr& table_after, std::span<const Change> changes);
  // Appends a whole table as a version (rollback). Durable on return; same rules as append().
  Result<void> append_table(const RouteTablePtr& table);

 private:
  Result<void> compact(const RouteTable& table);
  // One write() of a whole "\n"-terminated line, then fdatasync; compacts when due.
  Result<void> append_line(const RouteTablePtr& table_after, std::string_view line);
  Result<void> open_journal();
  void close_journal();
  std::string journal_path() const;  // "<path>.journal"

  std::string path_;
  std::string config_hash_;
  int journal_fd_ = -1;
  uint64_t journal_entries_ = 0;
  uint64_t journal_bytes_ = 0;   // acknowledged journal length; a failed append truncates back to it
  uint64_t snapshot_bytes_ = 0;  // size of the last snapshot written or read (compaction trigger)
  RouteTablePtr last_;  // last table written, for compaction
};

}  // namespace turnout
