// Config reload as a table source: re-reads the config file, builds its table and submits it.
// Unless forced, a reload that would drop runtime changes (route/table_diff.h) is refused.
// Once the new version is durable it becomes the live config (listen addresses and workers are
// kept until restart), and `adopted` runs so the owner can publish settings derived from it.
//
// Owner: app/ProxyServer, main loop only. `config` is the server's live config.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "turnout/app/table_committer.h"
#include "turnout/config/config.h"

namespace turnout {

class ConfigReload {
 public:
  ConfigReload(Config& config, TableCommitter& committer, std::function<void()> adopted);

  void reload(bool force, TableCommitter::Done done);
  // Fleet mode: the table is shared (app/fleet_table_source.h); a reload re-reads the file's
  // local settings only (listeners, timeouts, limits, log) and answers the current version.
  void set_table_shared(bool shared) { table_shared_ = shared; }

  uint64_t reloads() const { return reloads_; }            // applied since start
  uint64_t failures() const { return failures_; }          // refused for errors in the file

 private:
  Result<std::shared_ptr<Config>> load();  // the file, checked; errors counted and logged
  void adopt(Config& next);                // makes `next` the live config (listen, workers kept)

  Config& config_;
  bool table_shared_ = false;
  TableCommitter& committer_;
  std::function<void()> adopted_;
  uint64_t reloads_ = 0, failures_ = 0;
};

}  // namespace turnout
