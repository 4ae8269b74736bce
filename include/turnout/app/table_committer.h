// TableCommitter: what a table source submits a new route table to. The admin API's changes,
// a config reload and a rollback are table sources (and so will be any later one, such as a
// watched key-value store): each builds the next table from the current one and hands it over
// as a Proposal; the committer (app/TablePublisher) runs the checks every change shares, makes
// it durable, publishes it to the workers and answers once they all adopted it.
//
// Main loop thread only. The `build` callback runs after the shared checks, on the table it
// builds on: inside commit() for the local publisher, later for a fleet source (which runs its
// instance's changes one at a time). It owns what it captures, and must not call commit() itself.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "turnout/common/error.h"
#include "turnout/route/route_table.h"
#include "turnout/state/history_entry.h"
#include "turnout/state/state_store.h"

namespace turnout {

// One kept version: a recent table, for rollback, and the history entry that made it.
struct KeptVersion {
  RouteTablePtr table;
  HistoryEntry entry;
};

// What a source proposes as the next version.
struct TableProposal {
  RouteTablePtr table;   // the next table; its version is the one `build` was given
  std::string summary;   // the history entry's summary
  uint64_t back = 0;     // HistoryEntry::back: where a bare rollback from it goes
  uint64_t restores = 0; // HistoryEntry::restores: the version a rollback made current again
  // Writes the version to the state file (append, append_table or reset); skipped when there
  // is none. A failure answers 500 "state file: ..." and changes nothing.
  std::function<Result<void>(StateStore& store, const HistoryEntry& entry)> durable;
  // Runs once the version is durable, just before it is published (reload adopts its config).
  std::function<void()> on_durable;
  // The edits that made `table`, when the source has them (admin changes): a shared store
  // writes only the objects they touch. Unset (rollback, reload): whole tables are compared.
  std::optional<std::vector<Change>> changes;
};

class TableCommitter {
 public:
  using Done = std::function<void(Result<uint64_t> version)>;
  using Build = std::function<Result<TableProposal>(const RouteTable& current, uint64_t next_version)>;
  virtual ~TableCommitter() = default;

  // The latest published table.
  virtual RouteTablePtr current() const = 0;
  // The kept versions, oldest first; the last is the current one.
  virtual const std::deque<KeptVersion>& kept() const = 0;
  // Refuses while closed (503), or with `if_match` not the current version (409); else calls
  // `build`, makes its proposal durable, publishes it, and answers `done(version)` once every
  // worker adopted it. Errors (from the checks, `build` or the durable write) answer at once and
  // change nothing.
  virtual void commit(std::optional<uint64_t> if_match, Build build, Done done) = 0;
};

}  // namespace turnout
