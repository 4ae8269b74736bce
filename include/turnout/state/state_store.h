// StateStore: the durable copy of the live table (DESIGN.md "State").
//
// Layout: `<state_file>` is a JSON snapshot {"config_hash", "version", "table", "meta"}; beside
// it `<state_file>.journal` holds one JSON line per accepted change set {"version", "changes",
// "meta"} (or {"version", "table", "meta"} for a rollback). "meta" is the version's history entry
// (history_entry.h). Each append is written and fsynced before the API answers; now and then the
// journal is compacted: the snapshot moves up to the version just before the last
// kHistoryKept - 1 lines (temp file, fsync, rename, fsync the directory), then the journal is
// rewritten with only those lines (same steps). A crash between the two leaves lines the new
// snapshot covers, which load() skips. So the last versions, and the rollback history, survive
// a restart. A torn last journal line (crash mid-write) is ignored on load, so what loads is
// always a state that was acknowledged.
// Main thread only.
#pragma once

#include <cstdint>
#include <deque>
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
#include "turnout/state/history_entry.h"
#include "turnout/state/table_codec.h"

namespace turnout {


class StateStore {
 public:
  // What load() found.
  enum class LoadKind {
    None,         // no state file: start from the config
    Loaded,       // state matches the config hash: `table` is the live table to resume
    ConfigNewer,  // config edited since: state moved aside to <state_file>.old
  };
  // One version the state holds, and its history entry.
  struct Version {
    RouteTablePtr table;
    HistoryEntry entry;
  };
  struct Loaded {
    LoadKind kind = LoadKind::None;
    RouteTablePtr table;           // for Loaded
    std::vector<Version> history;  // for Loaded: oldest first, ends with `table`; <= kHistoryKept
  };
  // Versions (snapshot + journal lines) kept on disk for the history, and reported by load().
  static constexpr size_t kHistoryKept = 32;

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
  // `entry` is the version's history entry (its version field is ignored: the table's is used).
  Result<void> reset(const RouteTablePtr& table, const std::string& config_hash, const HistoryEntry& entry = {});
  // Appends one accepted change set that produced table_after->version() (which must be higher
  // than the last version written). Durable on return; requires load() or reset() first.
  Result<void> append(const RouteTablePtr& table_after, std::span<const Change> changes,
                      const HistoryEntry& entry = {});
  // Appends a whole table as a version (rollback). Durable on return; same rules as append().
  Result<void> append_table(const RouteTablePtr& table, const HistoryEntry& entry = {});

 private:
  Result<void> compact();
  // One write() of a whole "\n"-terminated line, then fdatasync; compacts when due.
  Result<void> append_line(const RouteTablePtr& table_after, const HistoryEntry& entry, std::string_view line);
  void remember(const RouteTablePtr& table, const HistoryEntry& entry);  // into recent_
  Result<void> open_journal();
  void close_journal();
  std::string journal_path() const;  // "<path>.journal"

  std::string path_;
  std::string config_hash_;
  int journal_fd_ = -1;
  uint64_t journal_entries_ = 0;
  uint64_t journal_bytes_ = 0;   // acknowledged journal length; a failed append truncates back to it
  uint64_t snapshot_bytes_ = 0;  // size of the last snapshot written or read (compaction trigger)
  uint64_t compacted_bytes_ = 0;     // journal length right after the last compaction (lines kept)
  uint64_t lines_after_snapshot_ = 0;  // journal lines above the snapshot's version
  RouteTablePtr last_;  // last table written
  std::deque<Version> recent_;  // last kHistoryKept versions written or loaded, oldest first; the
                                //   last lines_after_snapshot_ of them are the journal's last lines
};

}  // namespace turnout
