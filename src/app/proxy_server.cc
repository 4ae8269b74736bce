#include "turnout/app/proxy_server.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "turnout/admin/prometheus.h"
#include "turnout/admin/status_json.h"
#include "turnout/app/drain_wait.h"
#include "turnout/app/fleet_table_source.h"
#include "turnout/app/handoff.h"
#include "turnout/app/initial_table.h"
#include "turnout/app/rollback_source.h"
#include "turnout/common/log.h"
#include "turnout/config/token_file.h"
#include "turnout/route/change_guard.h"
#include "turnout/route/route_builder.h"
#include "turnout/state/table_codec.h"

namespace turnout {

namespace {
constexpr uint64_t kStatsIntervalMs = 250;   // per-worker stats snapshot refresh
constexpr uint64_t kDrainPollMs = 50;

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

struct ServerCallbacks {
  static void on_signal(uv_signal_t* h, int signum) { static_cast<ProxyServer*>(h->data)->on_signal(signum); }
  static void on_stats(uv_timer_t* t) { static_cast<ProxyServer*>(t->data)->stats_.collect(); }
  static void on_drain(uv_timer_t* t) { static_cast<ProxyServer*>(t->data)->check_drained(); }
};

ProxyServer::ProxyServer(Config config, std::string binary, bool takeover)
    : config_(std::move(config)),
      takeover_(takeover),
      upgrade_(config_, std::move(binary), inbox_, listeners_,
               Upgrade::Hooks{[this] { return publisher_.current(); }, [this] { return shutting_down_; },
                              [this] { begin_shutdown(); },
                              [this] { return tickets_.encode(); }}) {
  publisher_.set_gate([this] { return refusal(); });
}

ProxyServer::~ProxyServer() = default;

ProxySettingsPtr ProxyServer::make_settings(const Config& c) const {
  auto s = std::make_shared<ProxySettings>();
  s->timeouts = c.timeouts;
  s->limits = c.limits;
  s->access_log_json = c.access_log_format == "json";
  s->trusted_proxies = c.trusted_proxies;
  s->handshake_timeout = c.tls.handshake_timeout;
  // Listeners are kept until a restart, so once HTTPS listeners run a reload never removes the
  // context they need.
  bool https = settings_ && settings_->tls;
  for (const ListenSpec& l : c.listen) https = https || l.tls;
  if (https) {
    ServerTlsSettings ts;
    ts.min_tls13 = c.tls.min_tls13;
    ts.session_tickets = c.tls.session_tickets;
    // "h2" is always in the context's list; a listener with http2: false leaves it out of its
    // connections' choice (TlsHandshakeState::http2).
    ts.alpn = {"h2", "http/1.1"};
    // The same context across reloads that keep its settings: its session cache and ticket keys
    // go on serving resumptions.
    if (settings_ && settings_->tls && settings_->tls->settings() == ts) {
      s->tls = settings_->tls;
    } else if (auto ctx = ServerTlsContext::create(ts, tickets_.ring())) {
      s->tls = *ctx;
    } else {
      TLOG_ERROR("TLS context", "error={}", log_quote(ctx.error().message));
    }
  }
  return s;
}

Result<void> ProxyServer::start_admin() {
  AdminOptions opts;
  opts.socket_path = config_.admin.socket;
  opts.tcp_addr = config_.admin.http;
  opts.allow_remote = config_.admin.allow_remote;
  opts.token = config_.admin.token;
  opts.open_reads = config_.admin.open_reads;
  if (!opts.tcp_addr.empty() && opts.token.empty()) {
    // The TCP listener never runs without a token: without admin.token, it is the one in
    // admin.token_file, generated at the first start.
    Result<TokenFile> token = load_or_create_token_file(config_.admin.token_file);
    if (!token) return token.error();
    opts.token = token->token;
    TLOG_INFO(token->created ? "admin token generated" : "admin token read", "file={}",
              log_quote(config_.admin.token_file));
  }
  admin_ = std::make_unique<AdminServer>(&loop_, *this, opts);
  return takeover_ ? upgrade_.adopt_admin(*admin_) : admin_->start();
}

int ProxyServer::run() {
  started_ = std::chrono::steady_clock::now();
  started_unix_ms_ = unix_ms();
  signal(SIGPIPE, SIG_IGN);
  if (takeover_) {
    if (auto r = upgrade_.adopt_handoff(); !r) {
      TLOG_ERROR("upgrade: cannot take over from the running turnout", "error={}", log_quote(r.error().message));
      return 1;
    }
  }
  uv_loop_init(&loop_);
  inbox_.init(&loop_);
  tickets_.start_ring(takeover_ ? upgrade_.take_ticket_keys() : std::string());
  settings_ = make_settings(config_);
  // Nothing that could harm a running turnout happens before the admin socket is ours: a second
  // turnout started by mistake on the same config stops here, before it touches the state file.
  auto abandon = [this](const char* what, const Error& e) {
    TLOG_ERROR(what, "error={}", log_quote(e.message));
    if (admin_) admin_->close();
    if (owner_) owner_->close();
    inbox_.close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    return 1;
  };
  if (auto r = start_admin(); !r) return abandon("cannot start the admin API", r.error());
  owner_ = std::make_unique<ListenOwner>(&loop_, config_.admin.socket);
  upgrade_.attach(&loop_, admin_.get(), owner_.get());
  if (takeover_) {
    if (auto r = upgrade_.claim_listeners(*owner_); !r) return abandon("cannot listen", r.error());
  } else if (auto r = listeners_.open(config_, *owner_); !r) {
    // Before the table is built: a second turnout on the same addresses stops here, before it
    // touches the state file.
    return abandon("cannot listen", r.error());
  }
  auto initial = load_initial_table(config_, upgrade_.handed_over_table());
  if (!initial) return abandon("cannot build the route table", initial.error());
  if (config_.etcd) {
    std::string admin_addr = !config_.admin.http.empty() ? "http://" + config_.admin.http : "unix:" + config_.admin.socket;
    fleet_ = std::make_unique<FleetTableSource>(&loop_, publisher_, *config_.etcd, config_.content_hash, config_.path,
                                                std::move(admin_addr));
    if (auto r = fleet_->open(); !r) {
      fleet_->close();
      return abandon("cannot use the table source", r.error());
    }
    reload_.set_table_shared(true);
  }

  unsigned n = config_.workers;
  uint32_t per_worker = std::max<uint32_t>(1, config_.limits.max_connections / n);
  for (unsigned i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, std::move(listeners_.per_worker[i]), per_worker));
    listeners_.per_worker[i].clear();
  }
  publisher_.start(initial->current, std::move(initial->kept), std::move(initial->store));
  stats_.start();
  RouteTablePtr current = publisher_.current();
  for (auto& w : workers_) w->start(current, settings_);
  health_ = std::make_unique<HealthChecker>(&loop_, [this](HealthChecker::DownSet down) {
    for (auto& w : workers_) w->post([down](Worker& worker) { worker.set_active_down(down); });
  });
  health_->update(*current);
  // The shared table: read (or seeded) now; until then this instance serves its own.
  if (fleet_) fleet_->start();

  uv_signal_init(&loop_, &sig_hup_);
  uv_signal_init(&loop_, &sig_term_);
  uv_signal_init(&loop_, &sig_int_);
  sig_hup_.data = sig_term_.data = sig_int_.data = this;
  uv_signal_start(&sig_hup_, ServerCallbacks::on_signal, SIGHUP);
  uv_signal_start(&sig_term_, ServerCallbacks::on_signal, SIGTERM);
  uv_signal_start(&sig_int_, ServerCallbacks::on_signal, SIGINT);
  uv_timer_init(&loop_, &stats_timer_);
  stats_timer_.data = this;
  uv_timer_start(&stats_timer_, ServerCallbacks::on_stats, 0, kStatsIntervalMs);
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  tickets_.start_timer(&loop_);

  // Ready: workers accept and the admin API answers. systemd (Type=notify) hears it first, and
  // after an upgrade it learns the new main pid here, before the old process is told below that
  // it may exit: the old main pid exiting with no MAINPID= moved yet would look to systemd like
  // the service dying (and it would stop or restart this process).
  notify_systemd(fmt::format("MAINPID={}\nREADY=1\n", getpid()));
  if (takeover_) upgrade_.confirm_ready(current->version());
  signal(SIGUSR2, SIG_IGN);
  uv_signal_init(&loop_, &sig_usr2_);
  sig_usr2_.data = this;
  uv_signal_start(&sig_usr2_, ServerCallbacks::on_signal, SIGUSR2);
  uv_signal_init(&loop_, &sig_usr1_);
  sig_usr1_.data = this;
  uv_signal_start(&sig_usr1_, ServerCallbacks::on_signal, SIGUSR1);
  TLOG_INFO("ready", "version={} workers={} routes={} apps={} admin={} pid={}", current->version(), n,
            current->route_count(), current->app_count(), log_quote(config_.admin.socket), getpid());
  uv_run(&loop_, UV_RUN_DEFAULT);

  int rc = uv_loop_close(&loop_);
  if (rc != 0) TLOG_ERROR("main loop did not close clean", "rc={}", rc);
  TLOG_INFO("stopped");
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Table changes: this server's table sources submit to the publisher; the workers adopt.

std::optional<Error> ProxyServer::refusal() const {
  if (shutting_down_) return make_error(ErrorKind::Unavailable, "turnout is shutting down");
  if (upgrade_.handing_over()) return make_error(ErrorKind::Unavailable, "turnout is handing over to a new process (upgrade)");
  return std::nullopt;
}

TableCommitter& ProxyServer::committer() {
  if (fleet_) return *fleet_;
  return publisher_;
}

void ProxyServer::adopt_settings() {
  settings_ = make_settings(config_);
  if (!fleet_) return;
  ProxySettingsPtr settings = settings_;
  for (auto& w : workers_) w->post([settings](Worker& worker) { worker.adopt(nullptr, settings); });
}

void ProxyServer::deliver(const RouteTablePtr& next) {
  if (health_) health_->update(*next);
  ProxySettingsPtr settings = settings_;
  for (auto& w : workers_) {
    unsigned id = w->id();
    w->post([this, next, settings, id](Worker& worker) {
      worker.adopt(next, settings);
      uint64_t v = next->version();
      inbox_.post([this, id, v] { publisher_.on_ack(id, v); });
    });
  }
}

void ProxyServer::apply(std::vector<Change> changes, std::optional<uint64_t> if_match, std::string summary, bool force,
                        Done done) {
  // The build may run after this returns (a fleet source queues it): it owns its inputs.
  auto build = [this, changes = std::make_shared<const std::vector<Change>>(std::move(changes)),
                summary = std::move(summary), force](const RouteTable& live, uint64_t v) -> Result<TableProposal> {
    auto next = apply_changes(live, *changes, v);
    if (!next) return next.error();
    // Guard rails: only the hosts this change touches are checked (route/change_guard.h), against
    // active checks and every worker's passive verdict (as of the last stats snapshot).
    auto up = [this](const std::string& addr) { return !(health_ && health_->down(addr)) && stats_.passive_up(addr); };
    std::vector<GuardProblem> problems = guard_changes(live, **next, *changes, up);
    std::string why = summary;
    if (!problems.empty()) {
      if (!force) return make_error(ErrorKind::Conflict, guard_message(problems));
      std::string hosts;
      for (const GuardProblem& p : problems) hosts += (hosts.empty() ? "" : " ") + p.host;
      TLOG_WARN("forced change: it stops serving hosts", "version={} change={} hosts={}", v, log_quote(summary),
                log_quote(hosts));
      why += " (forced)";
    }
    TableProposal p;
    p.table = *next;
    p.summary = std::move(why);
    p.back = live.version();
    p.durable = [changes, table = p.table](StateStore& store, const HistoryEntry& entry) {
      return store.append(table, *changes, entry);
    };
    p.changes = *changes;
    return p;
  };
  committer().commit(if_match, std::move(build), std::move(done));
}

void ProxyServer::rollback(std::optional<uint64_t> version, std::optional<uint64_t> if_match, Done done) {
  committer().commit(if_match, rollback_source(committer(), version), std::move(done));
}

void ProxyServer::import_table(nlohmann::json table, std::optional<uint64_t> if_match, bool force, Done done) {
  auto doc = std::make_shared<const nlohmann::json>(std::move(table));
  committer().commit(if_match, [doc, force](const RouteTable& live, uint64_t v) -> Result<TableProposal> {
    auto next = table_from_json(*doc, v);
    if (!next) return make_error(ErrorKind::Invalid, "import: " + next.error().message);
    // Safe by default: hosts the live table routes and the imported one does not.
    std::vector<std::string> dropped;
    live.for_each_route([&](const Route& r) {
      if ((*next)->find_route(r.host) == nullptr) dropped.push_back(r.host);
    });
    std::sort(dropped.begin(), dropped.end());
    if (!dropped.empty() && !force) {
      std::string list;
      for (size_t i = 0; i < dropped.size() && i < 20; ++i) list += "\n  " + dropped[i];
      if (dropped.size() > 20) list += fmt::format("\n  ... and {} more", dropped.size() - 20);
      return make_error(ErrorKind::Conflict, fmt::format("import would stop routing {} host(s) the live table routes:{}\n"
                                                         "(--force imports anyway)", dropped.size(), list));
    }
    TableProposal p;
    p.table = *next;
    p.summary = dropped.empty() ? "import" : "import (forced)";
    p.back = live.version();
    p.durable = [table = p.table](StateStore& store, const HistoryEntry& entry) { return store.append_table(table, entry); };
    return p;
  }, std::move(done));
}

void ProxyServer::wait_drained(std::string host, std::string app, uint64_t timeout_ms,
                               std::function<void(uint64_t)> done) {
  DrainWait::start({&loop_, &inbox_, &workers_, &shutting_down_}, std::move(host), std::move(app), timeout_ms,
                   std::move(done));
}

std::optional<nlohmann::json> ProxyServer::fleet() {
  if (!fleet_) return std::nullopt;
  const uint64_t version = publisher_.current()->version();
  nlohmann::json instances = nlohmann::json::object();
  for (const auto& [name, inst] : fleet_->instances())
    instances[name] = {{"version", inst.version}, {"addr", inst.addr}, {"lag", version > inst.version ? version - inst.version : 0}};
  return nlohmann::json{{"version", version},
                        {"instance", fleet_->spec().instance},
                        {"table_source", fleet_->connected() ? "etcd" : "disconnected"},
                        {"instances", std::move(instances)}};
}

void ProxyServer::wait_fleet(uint64_t version, uint64_t timeout_ms, std::function<void(nlohmann::json)> done) {
  if (!fleet_) return done(nlohmann::json::array());
  fleet_->wait_fleet(version, timeout_ms, [done = std::move(done)](FleetTableSource::Laggards late) {
    nlohmann::json out = nlohmann::json::array();
    for (auto& [name, v] : late) out.push_back({{"instance", name}, {"version", v}});
    done(std::move(out));
  });
}

std::vector<HistoryEntry> ProxyServer::history() const {
  std::vector<HistoryEntry> out;
  for (auto& k : publisher_.kept()) out.push_back(k.entry);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Stats: filled here, rendered in admin/ (status_json.h, prometheus.h).

StatsSnapshot ProxyServer::stats_snapshot() const {
  StatsSnapshot s;
  RouteTablePtr current = publisher_.current();
  s.turnout_version = TURNOUT_VERSION;
  s.pid = static_cast<int64_t>(getpid());
  s.uptime_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
  s.started_unix_ms = started_unix_ms_;
  s.now_unix_ms = unix_ms();
  s.listeners = listeners_.addrs;
  s.version = current->version();
  s.routes = current->route_count();
  s.apps = current->app_count();
  s.changes_applied = publisher_.changes_applied();
  if (!publisher_.kept().empty()) s.last_change = publisher_.kept().back().entry;
  s.reloads = reload_.reloads();
  s.reload_failures = reload_.failures();
  s.log_dropped_lines = log_dropped_lines();
  if (fleet_) {
    s.table_source = fleet_->connected() ? "etcd" : "disconnected";
    s.fleet = StatsSnapshot::Fleet{fleet_->spec().instance, fleet_->spec().prefix, fleet_->last_error(),
                                   fleet_->revision(), fleet_->resyncs()};
  }
  stats_.fill(s, *current);
  return s;
}

nlohmann::json ProxyServer::status() { return render_status_json(stats_snapshot()); }

std::string ProxyServer::metrics() { return render_prometheus(stats_snapshot()); }

// ---------------------------------------------------------------------------------------------
// Signals and shutdown

void ProxyServer::on_signal(int signum) {
  if (signum == SIGUSR1) {
    // logrotate: the file was renamed; write to a fresh one under the configured name.
    std::string err;
    if (access_log_reopen(&err))
      TLOG_INFO("SIGUSR1: access log reopened", "file={}", log_quote(config_.access_log));
    else
      TLOG_ERROR("SIGUSR1: access log", "error={}", log_quote(err));
    return;
  }
  if (signum == SIGUSR2) {
    TLOG_INFO("SIGUSR2: upgrading", "binary={}", upgrade_.binary());
    upgrade([](Result<uint64_t> r) {
      if (!r) TLOG_ERROR("upgrade failed", "error={}", log_quote(r.error().message));
    });
    return;
  }
  if (signum == SIGHUP) {
    TLOG_INFO("SIGHUP: reloading", "file={}", config_.path);
    // A signal cannot say "force": a reload that would drop runtime changes is refused and
    // logged with the list; `turnout ctl reload --force` is the way to drop them on purpose.
    reload(false, [](Result<uint64_t> r) {
      if (r) TLOG_INFO("reloaded", "version={}", *r);
      else TLOG_ERROR("SIGHUP: reload refused", "error={}", log_quote(r.error().message));
    });
    return;
  }
  TLOG_INFO("shutting down", "signal={}", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  begin_shutdown();
}

void ProxyServer::begin_shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  // Stop accepting admin connections now; open ones are answered until the drain ends.
  if (admin_) admin_->stop_listening(false);
  // Our listeners close with the drain: a turnout started now may claim the addresses.
  if (owner_) owner_->close();
  if (health_) health_->close();
  if (fleet_) fleet_->leave();
  // Our duplicates of the listening sockets would keep them open after the workers close theirs,
  // and the kernel would go on completing handshakes nobody answers: let them close (a process
  // that took over holds its own descriptors).
  listeners_.close_dups();
  uv_signal_stop(&sig_hup_);
  uv_signal_stop(&sig_usr2_);
  for (auto& w : workers_) w->post([](Worker& worker) { worker.begin_drain(); });
  drain_deadline_ms_ = uv_now(&loop_) + static_cast<uint64_t>(config_.timeouts.drain.count());
  uv_timer_start(&drain_timer_, ServerCallbacks::on_drain, kDrainPollMs, kDrainPollMs);
}

void ProxyServer::check_drained() {
  // Ask the workers how many client connections remain; finish when none or at the deadline.
  if (stopped_workers_) return;
  bool deadline = uv_now(&loop_) >= drain_deadline_ms_;
  size_t open = 0;
  for (auto& w : workers_) open += w->stats().connections_active.get();
  if (open == 0 || deadline) {
    if (deadline && open > 0) TLOG_WARN("drain deadline reached; closing remaining connections", "open={}", open);
    finish_shutdown();
  }
}

void ProxyServer::finish_shutdown() {
  stopped_workers_ = true;
  if (admin_) admin_->close();
  uv_timer_stop(&stats_timer_);
  uv_timer_stop(&drain_timer_);
  for (auto& w : workers_) w->post([](Worker& worker) { worker.stop(); });
  for (auto& w : workers_) w->join();
  // Workers are gone: nothing posts to the inbox any more; run what they posted last.
  inbox_.drain();
  if (fleet_) fleet_->close();
  publisher_.drop_pending();
  uv_close(reinterpret_cast<uv_handle_t*>(&sig_hup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sig_term_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sig_int_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sig_usr2_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sig_usr1_), nullptr);
  upgrade_.close();  // the new process, if any, outlives us
  uv_close(reinterpret_cast<uv_handle_t*>(&stats_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
  tickets_.close();
  inbox_.close();
  workers_.clear();
}

}  // namespace turnout
