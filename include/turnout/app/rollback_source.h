// Rollback as a table source: makes a kept version current again, as a new version.
//
// Undo stack: a bare rollback goes to the current version's `back`; the version it makes
// inherits the restored version's `back`, so repeating it walks further back, and any other
// change starts a new stack (its `back` is the version it replaced).
#pragma once

#include <cstdint>
#include <optional>

#include "turnout/app/table_committer.h"

namespace turnout {

// The Build step of a rollback to `version` (nullopt: one step back on the undo stack), over the
// versions `committer` keeps. 404 for a version never issued or no step back, 410 for one no
// longer kept.
TableCommitter::Build rollback_source(const TableCommitter& committer, std::optional<uint64_t> version);

}  // namespace turnout
