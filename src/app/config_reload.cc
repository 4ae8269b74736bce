#include "turnout/app/config_reload.h"

#include <memory>

#include "turnout/common/log.h"
#include "turnout/config/config_loader.h"
#include "turnout/route/route_builder.h"
#include "turnout/route/table_diff.h"

namespace turnout {

ConfigReload::ConfigReload(Config& config, TableCommitter& committer, std::function<void()> adopted)
    : config_(config), committer_(committer), adopted_(std::move(adopted)) {}

Result<std::shared_ptr<Config>> ConfigReload::load() {
  auto loaded = load_config(config_.path);
  if (!loaded.ok()) {
    ++failures_;
    std::string msg;
    for (auto& e : loaded.errors) {
      if (!msg.empty()) msg += "\n";
      msg += e.to_string();
    }
    TLOG_ERROR("reload failed; nothing changed", "errors={}", log_quote(msg));
    return make_error(ErrorKind::Invalid, msg);
  }
  return std::make_shared<Config>(std::move(*loaded.config));
}

void ConfigReload::reload(bool force, TableCommitter::Done done) {
  if (table_shared_) {
    // Fleet mode: the table is the fleet's, in etcd; the file gives this instance's own settings.
    auto next_config = load();
    if (!next_config) return done(next_config.error());
    if ((*next_config)->etcd.has_value() != config_.etcd.has_value() ||
        ((*next_config)->etcd && ((*next_config)->etcd->endpoints != config_.etcd->endpoints ||
                                   (*next_config)->etcd->prefix != config_.etcd->prefix ||
                                   (*next_config)->etcd->instance != config_.etcd->instance)))
      TLOG_WARN("table_source is kept until restart");
    auto etcd = config_.etcd;
    adopt(**next_config);
    config_.etcd = std::move(etcd);
    TLOG_INFO("reloaded local settings; the shared table is left alone", "file={}", config_.path);
    return done(committer_.current()->version());
  }
  committer_.commit(std::nullopt, [this, force](const RouteTable& live, uint64_t v) -> Result<TableProposal> {
    auto loaded_config = load();
    if (!loaded_config) return loaded_config.error();
    auto next_config = std::move(*loaded_config);
    auto next = build_table(*next_config, v);
    if (!next) {
      ++failures_;
      return make_error(ErrorKind::Invalid, next.error().message);
    }
    // Runtime changes (live vs what the file gave at the last load) the file does not have.
    // (Not counted in failures_: the file is fine, the operator has to choose.)
    auto base = build_table(config_, live.version());
    bool dropping = false;
    if (base) {
      std::vector<DroppedChange> dropped = dropped_by_reload(**base, live, **next);
      dropping = !dropped.empty();
      if (!dropped.empty() && !force) {
        TLOG_WARN("reload refused: it would drop runtime changes", "count={}", dropped.size());
        return make_error(ErrorKind::Conflict, reload_refusal_message(dropped));
      }
      if (!dropped.empty())
        TLOG_WARN("forced reload: runtime changes dropped", "count={} first={}", dropped.size(),
                  log_quote(dropped.front().kind + " " + dropped.front().key));
    }
    TableProposal p;
    p.table = *next;
    p.summary = std::string(dropping ? "reload (forced) " : "reload ") + config_.path;
    p.back = live.version();
    p.durable = [table = p.table, next_config](StateStore& store, const HistoryEntry& entry) {
      return store.reset(table, next_config->content_hash, entry);
    };
    p.on_durable = [this, next_config] { adopt(*next_config); };
    return p;
  }, std::move(done));
}

void ConfigReload::adopt(Config& next_c) {
  bool listen_changed = next_c.listen.size() != config_.listen.size();
  for (size_t i = 0; !listen_changed && i < config_.listen.size(); ++i)
    listen_changed = next_c.listen[i].text != config_.listen[i].text ||
                     next_c.listen[i].proxy_protocol != config_.listen[i].proxy_protocol ||
                     next_c.listen[i].tls != config_.listen[i].tls ||
                     next_c.listen[i].http2 != config_.listen[i].http2;
  if (listen_changed || next_c.workers != config_.workers)
    TLOG_WARN("listen addresses (and their proxy_protocol, tls and http2) and workers are kept until restart");
  if (next_c.access_log != config_.access_log) {
    std::string err;
    if (!access_log_open(next_c.access_log, &err)) TLOG_ERROR("access log", "error={}", log_quote(err));
  }
  if (next_c.log_level != config_.log_level) {
    LogLevel lvl;
    if (parse_log_level(next_c.log_level, &lvl)) set_log_level(lvl);
  }
  auto listen = config_.listen;
  auto workers = config_.workers;
  config_ = std::move(next_c);
  config_.listen = std::move(listen);
  config_.workers = workers;
  if (adopted_) adopted_();
  ++reloads_;
}

}  // namespace turnout
