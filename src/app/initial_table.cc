#include "turnout/app/initial_table.h"

#include <chrono>

#include "turnout/common/log.h"
#include "turnout/route/route_builder.h"

namespace turnout {

namespace {
HistoryEntry history_entry(uint64_t version, std::string summary) {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  return HistoryEntry{version, now, std::move(summary), 0, 0};
}

void keep_loaded(InitialTable& out, std::vector<StateStore::Version>& history) {
  for (auto& h : history) out.kept.push_back(KeptVersion{std::move(h.table), std::move(h.entry)});
}
}  // namespace

Result<InitialTable> load_initial_table(const Config& config, RouteTablePtr handed_over) {
  InitialTable out;
  if (handed_over) {
    // Upgrade: the live table of the old process, runtime changes included, same version.
    out.current = std::move(handed_over);
    HistoryEntry entry = history_entry(out.current->version(), "taken over on upgrade");
    if (!config.state_file.empty()) {
      out.store = std::make_unique<StateStore>(config.state_file);
      // The old process stopped changing the table before handing it over: when its state
      // file holds this very version, keep its history (rollback goes on across the upgrade).
      auto loaded = out.store->load(config.content_hash);
      if (loaded && loaded->kind == StateStore::LoadKind::Loaded && loaded->table &&
          loaded->table->version() == out.current->version()) {
        keep_loaded(out, loaded->history);
        out.kept.back().table = out.current;
        return out;
      }
      if (auto r = out.store->reset(out.current, config.content_hash, entry); !r) return r.error();
    }
    out.kept.push_back(KeptVersion{out.current, std::move(entry)});
    return out;
  }
  auto built = build_table(config, 1);
  if (!built) return built.error();
  out.current = *built;
  HistoryEntry entry = history_entry(out.current->version(), "start from " + config.path);
  if (!config.state_file.empty()) {
    out.store = std::make_unique<StateStore>(config.state_file);
    auto loaded = out.store->load(config.content_hash);
    if (!loaded) {
      TLOG_ERROR("state file unreadable; starting from the config", "file={} error={}", config.state_file,
                 log_quote(loaded.error().message));
    } else if (loaded->kind == StateStore::LoadKind::Loaded && loaded->table) {
      out.current = loaded->table;
      TLOG_INFO("state loaded", "file={} version={} routes={} history={}", config.state_file,
                out.current->version(), out.current->route_count(), loaded->history.size());
      // The versions the state kept come back with their history entries: rollback continues.
      keep_loaded(out, loaded->history);
      if (out.kept.empty())
        out.kept.push_back(KeptVersion{out.current, history_entry(out.current->version(), "restored from state")});
      return out;
    } else if (loaded->kind == StateStore::LoadKind::ConfigNewer) {
      TLOG_WARN("config changed since the state was saved; starting from the config, old state kept aside",
                "file={} old={}.old", config.state_file, config.state_file);
    }
    if (auto r = out.store->reset(out.current, config.content_hash, entry); !r) return r.error();
  }
  out.kept.push_back(KeptVersion{out.current, std::move(entry)});
  return out;
}

}  // namespace turnout
