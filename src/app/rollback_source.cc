#include "turnout/app/rollback_source.h"

#include <fmt/format.h>

namespace turnout {

TableCommitter::Build rollback_source(const TableCommitter& committer, std::optional<uint64_t> version) {
  return [&committer, version](const RouteTable& live, uint64_t v) -> Result<TableProposal> {
    const std::deque<KeptVersion>& kept = committer.kept();
    const uint64_t current = live.version();
    uint64_t want = 0;
    if (version) {
      want = *version;
    } else {
      want = kept.back().entry.back;
      if (want == 0)
        return make_error(ErrorKind::NotFound, fmt::format("no earlier version to roll back to: the table of version {} is "
                                           "the oldest of this undo history (rollback --to N jumps to "
                                           "any kept version)", current));
    }
    if (want == 0 || want > current)
      return make_error(ErrorKind::NotFound, fmt::format("version {} was never issued (current is {})", want, current));
    const KeptVersion* target = nullptr;
    for (auto& k : kept)
      if (k.table->version() == want) target = &k;
    if (!target) {
      uint64_t oldest = kept.front().table->version();
      return make_error(ErrorKind::Gone, fmt::format("version {} is no longer kept (oldest kept is {})", want, oldest));
    }
    TableProposal p;
    p.table = target->table->with_version(v);
    p.summary = fmt::format("rollback to {}", want);
    p.back = target->entry.back;
    p.restores = want;
    p.durable = [table = p.table](StateStore& store, const HistoryEntry& entry) {
      return store.append_table(table, entry);
    };
    return p;
  };
}

}  // namespace turnout
