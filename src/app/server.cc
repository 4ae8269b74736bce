#include "turnout/app/server.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "turnout/common/log.h"
#include "turnout/config/config_loader.h"
#include "turnout/net/listener.h"
#include "turnout/route/change_guard.h"
#include "turnout/route/route_builder.h"
#include "turnout/route/table_diff.h"
#include "turnout/app/handoff.h"
#include "turnout/config/token_file.h"

#include <sys/wait.h>
#include <cstring>

namespace turnout {

namespace {
constexpr size_t kKeep = 32;                 // versions kept for rollback (>= 16)
constexpr uint64_t kStatsIntervalMs = 250;   // per-worker stats snapshot refresh
constexpr uint64_t kDrainPollMs = 50;

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

struct ServerCallbacks {
  static void on_signal(uv_signal_t* h, int signum) { static_cast<ProxyServer*>(h->data)->on_signal(signum); }
  static void on_stats(uv_timer_t* t) { static_cast<ProxyServer*>(t->data)->collect_stats(); }
  static void on_drain(uv_timer_t* t) { static_cast<ProxyServer*>(t->data)->check_drained(); }
};

ProxyServer::ProxyServer(Config config, std::string binary, bool takeover)
    : config_(std::move(config)), binary_(std::move(binary)), takeover_(takeover) {}

ProxyServer::~ProxyServer() {
  if (handoff_thread_.joinable()) handoff_thread_.join();
  for (auto& socks : worker_fds_)
    for (const ListenSocket& s : socks) ::close(s.fd);
  for (int fd : handoff_fds_) ::close(fd);
  for (int fd : handoff_admin_fds_)
    if (fd >= 0) ::close(fd);
  if (handoff_sock_ >= 0) ::close(handoff_sock_);
  for (auto& [addr, fd] : handoff_claims_) ::close(fd);
}

ProxySettingsPtr ProxyServer::make_settings(const Config& c) const {
  auto s = std::make_shared<ProxySettings>();
  s->timeouts = c.timeouts;
  s->limits = c.limits;
  s->access_log_json = c.access_log_format == "json";
  s->trusted_proxies = c.trusted_proxies;
  return s;
}

Result<void> ProxyServer::open_listeners() {
  unsigned n = config_.workers;
  worker_fds_.assign(n, {});
  for (const auto& spec : config_.listen) {
    SocketAddress addr = spec.address;
    // Claim a fixed address before binding it, so that a second turnout never accepts even one
    // connection there (SO_REUSEPORT would let it); port 0 is claimed once the kernel chose one.
    if (addr.port() != 0)
      if (auto r = owner_->claim(format_address(addr.sa())); !r) return r.error();
    for (unsigned w = 0; w < n; ++w) {
      auto fd = open_listen_socket(addr, kClientListenOptions);
      if (!fd) return fd.error();
      if (w == 0) {
        // With port 0 the kernel picks a port; the other workers join that same port.
        auto bound = local_address(*fd);
        if (!bound) {
          ::close(*fd);
          return bound.error();
        }
        if (auto r = owner_->claim(bound->text); !r) {
          ::close(*fd);
          return r.error();
        }
        addr = *bound;
        listen_addrs_.push_back(addr.text);
        TLOG_INFO("listening", "addr={} workers={}", addr.text, n);
      }
      worker_fds_[w].push_back(ListenSocket{*fd, spec.proxy_protocol});
      handoff_fds_.push_back(::dup(*fd));
    }
  }
  return {};
}

Result<void> ProxyServer::adopt_handoff() {
  // Ask the running turnout (on our admin socket) for its sockets and live table.
  auto sock = request_handoff(config_.admin.socket);
  if (!sock) return sock.error();
  handoff_sock_ = *sock;
  auto got = receive_handoff(handoff_sock_, 120000);
  if (!got) return got.error();
  std::vector<int> fds = std::move(got->fds);
  auto close_all = [&] {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  };
  nlohmann::json j = nlohmann::json::parse(got->payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    close_all();
    return make_error(500, "hand-off: unreadable payload");
  }
  auto table = table_from_json(j["table"], j.value("version", uint64_t{1}));
  if (!table) {
    close_all();
    return make_error(500, "hand-off: " + table.error().message);
  }
  handoff_table_ = *table;
  // Which received fd is which: listeners[a] = fd indexes of address a; admin_unix, admin_tcp.
  auto take = [&](int idx) {
    if (idx < 0 || static_cast<size_t>(idx) >= fds.size()) return -1;
    int fd = fds[static_cast<size_t>(idx)];
    fds[static_cast<size_t>(idx)] = -1;
    return fd;
  };
  handoff_admin_fds_ = {take(j.value("admin_unix", -1)), take(j.value("admin_tcp", -1))};
  if (j.contains("claims") && j["claims"].is_array()) {
    for (auto& c : j["claims"]) {
      int fd = take(c.value("fd", -1));
      if (fd >= 0) handoff_claims_[c.value("addr", std::string())] = fd;
    }
  }
  std::map<std::string, std::vector<int>> by_addr;  // old listener address -> its sockets
  for (auto& l : j["listeners"]) {
    std::vector<int>& v = by_addr[l.value("addr", std::string())];
    for (auto& idx : l["fds"]) v.push_back(take(idx.get<int>()));
  }
  close_all();  // anything not claimed

  unsigned n = config_.workers;
  worker_fds_.assign(n, {});
  for (const auto& spec : config_.listen) {
    SocketAddress addr = spec.address;
    std::vector<int> inherited;
    // Port 0 in the config means "whatever the old process had" for the same host.
    for (auto& [text, socks] : by_addr) {
      auto parsed = parse_address(text);
      if (!parsed) continue;
      bool same = text == spec.address.text ||
                  (spec.address.port() == 0 && format_address(parsed->sa(), false) == format_address(spec.address.sa(), false));
      if (same) {
        inherited = std::move(socks);
        addr = *parsed;
        by_addr.erase(text);
        break;
      }
    }
    if (!inherited.empty()) {
      listen_addrs_.push_back(addr.text);
      TLOG_INFO("listening", "addr={} workers={} inherited_sockets={}", addr.text, n, inherited.size());
    }
    // Spread the inherited sockets over our workers; open more if we have more workers.
    for (unsigned w = 0; w < std::max<size_t>(n, inherited.size()); ++w) {
      int fd;
      if (w < inherited.size()) {
        fd = inherited[w];
        enable_defer_accept(fd);  // a socket from an older binary may not have it yet
      } else {
        auto opened = open_listen_socket(addr, kClientListenOptions);
        if (!opened) return opened.error();
        fd = *opened;
        if (inherited.empty() && w == 0) {
          auto bound = local_address(fd);
          if (bound) addr = *bound;
          listen_addrs_.push_back(addr.text);
          TLOG_INFO("listening", "addr={} workers={}", addr.text, n);
        }
      }
      worker_fds_[w % n].push_back(ListenSocket{fd, spec.proxy_protocol});
      handoff_fds_.push_back(::dup(fd));
    }
  }
  for (auto& [text, socks] : by_addr) {
    TLOG_WARN("listener not in the new config; closed", "addr={}", text);
    for (int fd : socks) ::close(fd);
  }
  return {};
}

Result<void> ProxyServer::claim_listeners() {
  // The old process's claims carry over (the names were never free); an address new in this
  // config is claimed afresh. Claims for addresses no longer served are released.
  for (const std::string& addr : listen_addrs_) {
    auto it = handoff_claims_.find(addr);
    if (it != handoff_claims_.end()) {
      owner_->adopt(addr, it->second);
      handoff_claims_.erase(it);
    } else if (auto r = owner_->claim(addr); !r) {
      return r.error();
    }
  }
  for (auto& [addr, fd] : handoff_claims_) ::close(fd);
  handoff_claims_.clear();
  return {};
}

Result<void> ProxyServer::load_initial_table() {
  if (handoff_table_) {
    // Upgrade: the live table of the old process, runtime changes included, same version.
    current_ = handoff_table_;
    HistoryEntry entry = history_entry(current_->version(), "taken over on upgrade", 0, 0);
    if (!config_.state_file.empty()) {
      state_ = std::make_unique<StateStore>(config_.state_file);
      // The old process stopped changing the table before handing it over: when its state
      // file holds this very version, keep its history (rollback goes on across the upgrade).
      auto loaded = state_->load(config_.content_hash);
      if (loaded && loaded->kind == StateStore::LoadKind::Loaded && loaded->table &&
          loaded->table->version() == current_->version()) {
        for (auto& h : loaded->history) kept_.push_back(Kept{std::move(h.table), std::move(h.entry)});
        kept_.back().table = current_;
        return {};
      }
      if (auto r = state_->reset(current_, config_.content_hash, entry); !r) return r.error();
    }
    kept_.push_back(Kept{current_, std::move(entry)});
    return {};
  }
  auto built = build_table(config_, 1);
  if (!built) return built.error();
  current_ = *built;
  HistoryEntry entry = history_entry(current_->version(), "start from " + config_.path, 0, 0);
  if (!config_.state_file.empty()) {
    state_ = std::make_unique<StateStore>(config_.state_file);
    auto loaded = state_->load(config_.content_hash);
    if (!loaded) {
      TLOG_ERROR("state file unreadable; starting from the config", "file={} error={}", config_.state_file,
                 log_quote(loaded.error().message));
    } else if (loaded->kind == StateStore::LoadKind::Loaded && loaded->table) {
      current_ = loaded->table;
      TLOG_INFO("state loaded", "file={} version={} routes={} history={}", config_.state_file, current_->version(),
                current_->route_count(), loaded->history.size());
      // The versions the state kept come back with their history entries: rollback continues.
      for (auto& h : loaded->history) kept_.push_back(Kept{std::move(h.table), std::move(h.entry)});
      if (kept_.empty()) kept_.push_back(Kept{current_, history_entry(current_->version(), "restored from state", 0, 0)});
      return {};
    } else if (loaded->kind == StateStore::LoadKind::ConfigNewer) {
      TLOG_WARN("config changed since the state was saved; starting from the config, old state kept aside",
                "file={} old={}.old", config_.state_file, config_.state_file);
    }
    auto r = state_->reset(current_, config_.content_hash, entry);
    if (!r) return r.error();
  }
  kept_.push_back(Kept{current_, std::move(entry)});
  return {};
}

int ProxyServer::run() {
  started_ = std::chrono::steady_clock::now();
  started_unix_ms_ = unix_ms();
  signal(SIGPIPE, SIG_IGN);
  if (takeover_) {
    if (auto r = adopt_handoff(); !r) {
      TLOG_ERROR("upgrade: cannot take over from the running turnout", "error={}", log_quote(r.error().message));
      return 1;
    }
  }
  uv_loop_init(&loop_);
  inbox_.init(&loop_);
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
    if (!token) return abandon("cannot start the admin API", token.error());
    opts.token = token->token;
    TLOG_INFO(token->created ? "admin token generated" : "admin token read", "file={}",
              log_quote(config_.admin.token_file));
  }
  admin_ = std::make_unique<AdminServer>(&loop_, *this, opts);
  Result<void> admin_started = takeover_ ? admin_->adopt(handoff_admin_fds_[0], handoff_admin_fds_[1])
                                         : admin_->start();
  if (takeover_) handoff_admin_fds_.clear();  // owned by the admin server now
  if (!admin_started) return abandon("cannot start the admin API", admin_started.error());
  owner_ = std::make_unique<ListenOwner>(&loop_, config_.admin.socket);
  if (takeover_) {
    if (auto r = claim_listeners(); !r) return abandon("cannot listen", r.error());
  } else if (auto r = open_listeners(); !r) {
    // Before the table is built: a second turnout on the same addresses stops here, before it
    // touches the state file.
    return abandon("cannot listen", r.error());
  }
  if (auto r = load_initial_table(); !r) return abandon("cannot build the route table", r.error());

  unsigned n = config_.workers;
  uint32_t per_worker = std::max<uint32_t>(1, config_.limits.max_connections / n);
  acked_.assign(n, current_->version());
  snapshots_.assign(n, {});
  for (unsigned i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, std::move(worker_fds_[i]), per_worker));
    worker_fds_[i].clear();
  }
  for (auto& w : workers_) w->start(current_, settings_);
  health_ = std::make_unique<HealthChecker>(&loop_, [this](HealthChecker::DownSet down) {
    for (auto& w : workers_) w->post([down](Worker& worker) { worker.set_active_down(down); });
  });
  health_->update(*current_);

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

  // Ready: workers accept and the admin API answers. systemd (Type=notify) hears it first, and
  // after an upgrade it learns the new main pid here, before the old process is told below that
  // it may exit: the old main pid exiting with no MAINPID= moved yet would look to systemd like
  // the service dying (and it would stop or restart this process).
  notify_systemd(fmt::format("MAINPID={}\nREADY=1\n", getpid()));
  if (takeover_) {
    // Workers accept on the inherited sockets and the admin API answers: let the old one go.
    if (auto r = send_ready(handoff_sock_); !r)
      TLOG_ERROR("upgrade: could not confirm to the old process", "error={}", log_quote(r.error().message));
    ::close(handoff_sock_);
    handoff_sock_ = -1;
    TLOG_INFO("upgrade: took over sockets and live table", "version={}", current_->version());
  }
  signal(SIGUSR2, SIG_IGN);
  uv_signal_init(&loop_, &sig_usr2_);
  sig_usr2_.data = this;
  uv_signal_start(&sig_usr2_, ServerCallbacks::on_signal, SIGUSR2);
  uv_signal_init(&loop_, &sig_usr1_);
  sig_usr1_.data = this;
  uv_signal_start(&sig_usr1_, ServerCallbacks::on_signal, SIGUSR1);
  TLOG_INFO("ready", "version={} workers={} routes={} apps={} admin={} pid={}", current_->version(), n,
            current_->route_count(), current_->app_count(), log_quote(config_.admin.socket), getpid());
  uv_run(&loop_, UV_RUN_DEFAULT);

  int rc = uv_loop_close(&loop_);
  if (rc != 0) TLOG_ERROR("main loop did not close clean", "rc={}", rc);
  TLOG_INFO("stopped");
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The publish step.

HistoryEntry ProxyServer::history_entry(uint64_t version, std::string summary, uint64_t back, uint64_t restores) {
  return HistoryEntry{version, unix_ms(), std::move(summary), back, restores};
}

void ProxyServer::publish(RouteTablePtr next, HistoryEntry entry, std::function<void()> on_adopted) {
  current_ = next;
  ++changes_applied_;
  TLOG_INFO("table published", "version={} change={}", entry.version, log_quote(entry.summary));
  kept_.push_back(Kept{next, std::move(entry)});
  while (kept_.size() > kKeep) {
    // Possibly the last reference to a large unique part of the trie: freed off the main loop.
    reclaimer_.retire(std::move(kept_.front().table));
    kept_.pop_front();
  }
  pending_.push_back(PendingAck{next->version(), std::move(on_adopted)});
  if (health_) health_->update(*next);
  ProxySettingsPtr settings = settings_;
  for (auto& w : workers_) {
    unsigned id = w->id();
    w->post([this, next, settings, id](Worker& worker) {
      worker.adopt(next, settings);
      uint64_t v = next->version();
      inbox_.post([this, id, v] { on_worker_ack(id, v); });
    });
  }
  if (workers_.empty()) on_worker_ack(0, next->version());
}

void ProxyServer::on_worker_ack(unsigned worker, uint64_t version) {
  if (worker < acked_.size()) acked_[worker] = std::max(acked_[worker], version);
  uint64_t all = acked_.empty() ? version : *std::min_element(acked_.begin(), acked_.end());
  while (!pending_.empty() && pending_.front().version <= all) {
    auto done = std::move(pending_.front().done);
    pending_.pop_front();
    if (done) done();
  }
}

void ProxyServer::apply(std::vector<Change> changes, std::optional<uint64_t> if_match, std::string summary, bool force,
                        Done done) {
  if (shutting_down_) return done(make_error(503, "turnout is shutting down"));
  if (handing_over_) return done(make_error(503, "turnout is handing over to a new process (upgrade)"));
  if (if_match && *if_match != current_->version())
    return done(make_error(409, fmt::format("table is at version {}, not {}", current_->version(), *if_match)));
  uint64_t v = current_->version() + 1;
  auto next = apply_changes(*current_, changes, v);
  if (!next) return done(next.error());
  // Guard rails: only the hosts this change touches are checked (route/change_guard.h).
  std::vector<GuardProblem> problems = guard_changes(*current_, **next, changes, server_up_fn());
  if (!problems.empty()) {
    if (!force) return done(make_error(409, guard_message(problems)));
    std::string hosts;
    for (const GuardProblem& p : problems) hosts += (hosts.empty() ? "" : " ") + p.host;
    TLOG_WARN("forced change: it stops serving hosts", "version={} change={} hosts={}", v, log_quote(summary),
              log_quote(hosts));
    summary += " (forced)";
  }
  HistoryEntry entry = history_entry(v, std::move(summary), current_->version(), 0);
  if (state_) {
    if (auto r = state_->append(*next, changes, entry); !r)
      return done(make_error(500, "state file: " + r.error().message));
  }
  publish(*next, std::move(entry), [done = std::move(done), v] { done(v); });
}

ServerUpFn ProxyServer::server_up_fn() const {
  // Active checks and every worker's passive verdict (as of the last stats snapshot).
  return [this](const std::string& addr) {
    if (health_ && health_->down(addr)) return false;
    for (const WorkerSnapshot& snap : snapshots_) {
      auto it = snap.servers.find(addr);
      if (it != snap.servers.end() && !it->second.up) return false;
    }
    return true;
  };
}

void ProxyServer::rollback(std::optional<uint64_t> version, std::optional<uint64_t> if_match, Done done) {
  if (shutting_down_) return done(make_error(503, "turnout is shutting down"));
  if (handing_over_) return done(make_error(503, "turnout is handing over to a new process (upgrade)"));
  if (if_match && *if_match != current_->version())
    return done(make_error(409, fmt::format("table is at version {}, not {}", current_->version(), *if_match)));
  // Undo stack: a bare rollback goes to the current version's `back`; the version it makes
  // inherits the restored version's `back`, so repeating it walks further back, and any other
  // change starts a new stack (its `back` is the version it replaced).
  const uint64_t current = current_->version();
  uint64_t want = 0;
  if (version) {
    want = *version;
  } else {
    want = kept_.back().entry.back;
    if (want == 0)
      return done(make_error(404, fmt::format("no earlier version to roll back to: the table of version {} is "
                                              "the oldest of this undo history (rollback --to N jumps to "
                                              "any kept version)", current)));
  }
  if (want == 0 || want > current)
    return done(make_error(404, fmt::format("version {} was never issued (current is {})", want, current)));
  const Kept* target = nullptr;
  for (auto& k : kept_)
    if (k.table->version() == want) target = &k;
  if (!target) {
    uint64_t oldest = kept_.front().table->version();
    return done(make_error(410, fmt::format("version {} is no longer kept (oldest kept is {})", want, oldest)));
  }
  uint64_t v = current + 1;
  auto next = target->table->with_version(v);
  HistoryEntry entry = history_entry(v, fmt::format("rollback to {}", want), target->entry.back, want);
  if (state_) {
    if (auto r = state_->append_table(next, entry); !r)
      return done(make_error(500, "state file: " + r.error().message));
  }
  publish(next, std::move(entry), [done = std::move(done), v] { done(v); });
}

void ProxyServer::reload(bool force, Done done) {
  if (shutting_down_) return done(make_error(503, "turnout is shutting down"));
  if (handing_over_) return done(make_error(503, "turnout is handing over to a new process (upgrade)"));
  auto loaded = load_config(config_.path);
  if (!loaded.ok()) {
    ++reload_failures_;
    std::string msg;
    for (auto& e : loaded.errors) {
      if (!msg.empty()) msg += "\n";
      msg += e.to_string();
    }
    TLOG_ERROR("reload failed; nothing changed", "errors={}", log_quote(msg));
    return done(make_error(400, msg));
  }
  Config next_config = std::move(*loaded.config);
  uint64_t v = current_->version() + 1;
  auto next = build_table(next_config, v);
  if (!next) {
    ++reload_failures_;
    return done(make_error(400, next.error().message));
  }
  // Runtime changes (live vs what the file gave at the last load) the file does not have.
  // (Not counted in reload_failures_: the file is fine, the operator has to choose.)
  auto base = build_table(config_, current_->version());
  bool dropping = false;
  if (base) {
    std::vector<DroppedChange> dropped = dropped_by_reload(**base, *current_, **next);
    dropping = !dropped.empty();
    if (!dropped.empty() && !force) {
      TLOG_WARN("reload refused: it would drop runtime changes", "count={}", dropped.size());
      return done(make_error(409, reload_refusal_message(dropped)));
    }
    if (!dropped.empty())
      TLOG_WARN("forced reload: runtime changes dropped", "count={} first={}", dropped.size(),
                log_quote(dropped.front().kind + " " + dropped.front().key));
  }
  HistoryEntry entry = history_entry(v, std::string(dropping ? "reload (forced) " : "reload ") + config_.path,
                                     current_->version(), 0);
  if (state_) {
    if (auto r = state_->reset(*next, next_config.content_hash, entry); !r)
      return done(make_error(500, "state file: " + r.error().message));
  }
  bool listen_changed = next_config.listen.size() != config_.listen.size();
  for (size_t i = 0; !listen_changed && i < config_.listen.size(); ++i)
    listen_changed = next_config.listen[i].text != config_.listen[i].text ||
                     next_config.listen[i].proxy_protocol != config_.listen[i].proxy_protocol;
  if (listen_changed || next_config.workers != config_.workers)
    TLOG_WARN("listen addresses (and their proxy_protocol) and workers are kept until restart");
  if (next_config.access_log != config_.access_log) {
    std::string err;
    if (!access_log_open(next_config.access_log, &err)) TLOG_ERROR("access log", "error={}", log_quote(err));
  }
  if (next_config.log_level != config_.log_level) {
    LogLevel lvl;
    if (parse_log_level(next_config.log_level, &lvl)) set_log_level(lvl);
  }
  auto listen = config_.listen;
  auto workers = config_.workers;
  config_ = std::move(next_config);
  config_.listen = std::move(listen);
  config_.workers = workers;
  settings_ = make_settings(config_);
  ++reloads_;
  publish(*next, std::move(entry), [done = std::move(done), v] { done(v); });
}

// One `unmap --wait`: polls the workers until no exchange for (host, app) is in flight.
struct ProxyServer::DrainWait {
  ProxyServer* self;
  std::string host, app;
  std::function<void(uint64_t)> done;  // 0 = drained, n = still in flight at the deadline
  uint64_t deadline_ms = 0;            // uv_now() bound of the wait
  size_t outstanding = 0;  // workers not yet answered this round
  size_t found = 0;        // in-flight exchanges found this round
  uv_timer_t timer{};      // re-polls every 10 ms; the DrainWait is freed in its close callback
};

void ProxyServer::wait_drained(std::string host, std::string app, uint64_t timeout_ms,
                               std::function<void(uint64_t)> done) {
  // Every worker has adopted the table without the mapping (the caller waited for that), so no
  // new request can start there; poll until the ones in flight are gone or the time is up.
  auto* w = new DrainWait{this, std::move(host), std::move(app), std::move(done), uv_now(&loop_) + timeout_ms};
  uv_timer_init(&loop_, &w->timer);
  w->timer.data = w;
  poll_drained(w);
}

void ProxyServer::poll_drained(DrainWait* w) {
  w->outstanding = workers_.size();
  w->found = 0;
  for (auto& worker : workers_) {
    worker->post([this, w](Worker& wk) {
      size_t n = wk.in_flight(w->host, w->app);
      inbox_.post([this, w, n] {
        w->found += n;
        if (--w->outstanding > 0) return;
        bool timed_out = uv_now(&loop_) >= w->deadline_ms;
        if (w->found == 0 || shutting_down_ || timed_out) {
          w->done(shutting_down_ ? 0 : w->found);
          uv_close(reinterpret_cast<uv_handle_t*>(&w->timer),
                   [](uv_handle_t* h) { delete static_cast<DrainWait*>(h->data); });
          return;
        }
        uv_timer_start(
            &w->timer, [](uv_timer_t* t) {
              auto* dw = static_cast<DrainWait*>(t->data);
              dw->self->poll_drained(dw);
            },
            10, 0);
      });
    });
  }
}

std::vector<HistoryEntry> ProxyServer::history() const {
  std::vector<HistoryEntry> out;
  for (auto& k : kept_) out.push_back(k.entry);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Stats

void ProxyServer::collect_stats() {
  // The totals merged so far (at most one interval behind) go into the rate window.
  auto now = std::chrono::steady_clock::now();
  if (live_.due(now)) live_.sample(now, live_totals());
  for (auto& w : workers_) {
    unsigned id = w->id();
    w->post([this, id](Worker& worker) {
      auto snap = std::make_shared<WorkerSnapshot>(worker.snapshot());
      inbox_.post([this, id, snap] {
        if (id >= snapshots_.size()) return;
        for (auto& t : snap->traffic) {
          ClassCounts& c = traffic_[{std::move(t.host), std::move(t.app)}];
          for (size_t i = 0; i < c.size(); ++i) c[i] += t.delta[i];
        }
        snap->traffic.clear();
        for (auto& [app, delta] : snap->app_live) app_live_[app] += delta;
        snap->app_live.clear();
        snapshots_[id] = std::move(*snap);
      });
    });
  }
}

std::map<std::string, ServerStats> ProxyServer::server_stats() {
  std::map<std::string, ServerStats> out;
  current_->for_each_app([&](const App& a) {
    for (auto& s : a.servers) out[s.addr];
  });
  for (auto& snap : snapshots_) {
    for (auto& [addr, st] : snap.servers) {
      auto it = out.find(addr);
      if (it == out.end()) continue;
      it->second.idle_conns += st.idle_conns;
      it->second.requests += st.counters.requests;
      it->second.in_flight += st.counters.in_flight;
      it->second.failures += st.counters.failures;
      if (!st.up) it->second.up = false;
    }
  }
  return out;
}

LiveWindow::Totals ProxyServer::live_totals() const {
  LiveWindow::Totals t;
  for (auto& w : workers_) {
    const ProxyStats& s = w->stats();
    t.requests += s.requests.get();
    for (size_t i = 1; i < s.responses_by_class.size(); ++i) t.responses += s.responses_by_class[i].get();
    t.errors += s.responses_by_class[5].get();
    t.no_route += s.no_route.get();
  }
  t.apps = app_live_;
  return t;
}

std::map<std::string, AppLiveStats> ProxyServer::app_live_stats() {
  std::map<std::string, AppLiveStats> out;
  auto now = std::chrono::steady_clock::now();
  current_->for_each_app([&](const App& a) {
    AppLiveCounts current;
    if (auto it = app_live_.find(a.name); it != app_live_.end()) current = it->second;
    LiveWindow::AppRates r = live_.app_rates(now, a.name, current);
    AppLiveStats& s = out[a.name];
    s.requests_per_second = r.requests_per_second;
    s.error_rate = r.error_rate;
    s.p50_ms = r.p50_ms;
    s.p99_ms = r.p99_ms;
    s.mean_ms = r.mean_ms;
    s.responses = current.responses;
    s.errors = current.errors;
  });
  return out;
}

nlohmann::json ProxyServer::status() {
  using nlohmann::json;
  json j;
  j["version"] = current_->version();
  j["uptime_seconds"] =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
  j["pid"] = static_cast<int64_t>(getpid());
  j["listeners"] = listen_addrs_;
  j["routes"] = current_->route_count();
  j["apps"] = current_->app_count();
  j["turnout_version"] = TURNOUT_VERSION;
  j["started_unix_ms"] = started_unix_ms_;
  j["now_unix_ms"] = unix_ms();
  j["changes_applied"] = changes_applied_;
  if (!kept_.empty()) {
    const HistoryEntry& last = kept_.back().entry;
    j["last_change"] = {{"version", last.version}, {"unix_ms", last.unix_ms}, {"summary", last.summary}};
  }
  j["reloads"] = reloads_;
  j["reload_failures"] = reload_failures_;
  uint64_t active = 0, idle = 0, requests = 0, bytes_in = 0, bytes_out = 0;
  json workers = json::array();
  for (auto& w : workers_) {
    const ProxyStats& s = w->stats();
    active += s.connections_active.get();
    idle += s.connections_idle.get();
    requests += s.requests.get();
    bytes_in += s.bytes_in.get();
    bytes_out += s.bytes_out.get();
    workers.push_back({{"id", w->id()},
                       {"version", w->table_version()},
                       {"connections", s.connections_active.get()},
                       {"accepted", s.connections_accepted.get()},
                       {"requests", s.requests.get()}});
  }
  j["connections"] = {{"active", active}, {"idle", idle}};
  j["requests"] = requests;
  // The last seconds (the same window as `ctl apps` and the status page).
  LiveWindow::Totals totals = live_totals();
  LiveWindow::Rates rates = live_.rates(std::chrono::steady_clock::now(), totals);
  j["rates"] = {{"window_seconds", rates.seconds},
                {"requests_per_second", rates.requests_per_second},
                {"error_rate", rates.error_rate},
                {"no_route_per_second", rates.no_route_per_second}};
  j["no_route"] = totals.no_route;
  j["errors"] = totals.errors;
  j["bytes"] = {{"in", bytes_in}, {"out", bytes_out}};
  j["workers"] = workers;
  // Per route and app: responses by status class, summed over workers.
  json routes = json::object();
  static const char* kClass[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (auto& [key, counts] : traffic_) {
    json& a = routes[key.first.empty() ? std::string("(default)") : key.first][key.second];
    a = json::object();
    for (size_t i = 0; i < counts.size(); ++i)
      if (counts[i]) a[kClass[i]] = counts[i];
  }
  j["traffic"] = routes;
  json servers = json::object();
  for (auto& [addr, st] : server_stats())
    servers[addr] = {{"up", st.up}, {"requests", st.requests}, {"in_flight", st.in_flight},
                     {"failures", st.failures}, {"idle_conns", st.idle_conns}};
  j["servers"] = servers;
  return j;
}

namespace {
// Prometheus label value escaping: backslash, double quote and newline.
std::string prom_label(std::string_view v) {
  std::string o;
  o.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') {
      o += '\\';
      o += c;
    } else if (c == '\n') {
      o += "\\n";
    } else {
      o += c;
    }
  }
  return o;
}

void prom_header(std::string& out, const char* name, const char* type, const char* help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}
}  // namespace

std::string ProxyServer::metrics() {
  std::string out;
  out.reserve(8192);
  auto sum = [&](auto getter) {
    uint64_t t = 0;
    for (auto& w : workers_) t += getter(w->stats());
    return t;
  };
  auto put = [&](const char* name, const char* type, const char* help, uint64_t v) {
    prom_header(out, name, type, help);
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, v);
  };
  put("turnout_table_version", "gauge", "Version of the live route table.", current_->version());
  put("turnout_table_changes_total", "counter", "Table versions published since start.", changes_applied_);
  put("turnout_routes", "gauge", "Hostnames routed by the live table.", current_->route_count());
  put("turnout_reloads_total", "counter", "Config reloads applied.", reloads_);
  put("turnout_reload_failures_total", "counter", "Config reloads refused for errors.", reload_failures_);
  prom_header(out, "turnout_build_info", "gauge", "Always 1; the labels say which turnout this is.");
  fmt::format_to(std::back_inserter(out), "turnout_build_info{{version=\"{}\"}} 1\n", prom_label(TURNOUT_VERSION));
  prom_header(out, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.");
  fmt::format_to(std::back_inserter(out), "process_start_time_seconds {:.3f}\n",
                 static_cast<double>(started_unix_ms_) / 1000.0);
  put("turnout_uptime_seconds", "gauge", "Seconds since start.",
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count()));

  prom_header(out, "turnout_client_connections", "gauge", "Open client connections by state.");
  uint64_t active = sum([](const ProxyStats& s) { return s.connections_active.get(); });
  uint64_t idle = sum([](const ProxyStats& s) { return s.connections_idle.get(); });
  fmt::format_to(std::back_inserter(out), "turnout_client_connections{{state=\"active\"}} {}\n", active - std::min(active, idle));
  fmt::format_to(std::back_inserter(out), "turnout_client_connections{{state=\"idle\"}} {}\n", idle);
  put("turnout_client_connections_accepted_total", "counter", "Client connections accepted.",
      sum([](const ProxyStats& s) { return s.connections_accepted.get(); }));
  put("turnout_request_heads_total", "counter", "Request heads received.",
      sum([](const ProxyStats& s) { return s.requests.get(); }));
  put("turnout_received_bytes_total", "counter", "Bytes received from clients.",
      sum([](const ProxyStats& s) { return s.bytes_in.get(); }));
  put("turnout_sent_bytes_total", "counter", "Bytes sent to clients.",
      sum([](const ProxyStats& s) { return s.bytes_out.get(); }));
  put("turnout_upstream_retries_total", "counter", "Requests retried on another server or a fresh connection.",
      sum([](const ProxyStats& s) { return s.upstream_retries.get(); }));

  put("turnout_no_route_requests_total", "counter",
      "Requests answered 404 because no route (and no default_app) serves their host.",
      sum([](const ProxyStats& s) { return s.no_route.get(); }));
  put("turnout_proxy_protocol_errors_total", "counter",
      "Client connections closed for a missing or malformed PROXY protocol header.",
      sum([](const ProxyStats& s) { return s.proxy_protocol_errors.get(); }));

  uint64_t pooled_total = 0, pooled_idle = 0;
  for (auto& snap : snapshots_) {
    pooled_total += snap.pooled_total;
    pooled_idle += snap.pooled_idle;
  }
  prom_header(out, "turnout_upstream_connections", "gauge", "Upstream connections by state.");
  fmt::format_to(std::back_inserter(out), "turnout_upstream_connections{{state=\"idle\"}} {}\n", pooled_idle);
  fmt::format_to(std::back_inserter(out), "turnout_upstream_connections{{state=\"busy\"}} {}\n",
                 pooled_total - std::min(pooled_total, pooled_idle));

  prom_header(out, "turnout_local_responses_total", "counter", "Error responses generated by turnout, by code.");
  static const int kCodes[] = {400, 404, 408, 413, 431, 502, 503, 504};
  for (size_t i = 0; i < 8; ++i)
    fmt::format_to(std::back_inserter(out), "turnout_local_responses_total{{code=\"{}\"}} {}\n", kCodes[i],
                   sum([i](const ProxyStats& s) { return s.local_errors[i].get(); }));

  prom_header(out, "turnout_requests_total", "counter", "Requests by route host, app and response status class.");
  static const char* kClass[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (auto& [key, counts] : traffic_)
    for (size_t i = 0; i < counts.size(); ++i)
      if (counts[i])
        fmt::format_to(std::back_inserter(out), "turnout_requests_total{{host=\"{}\",app=\"{}\",class=\"{}\"}} {}\n",
                       prom_label(key.first.empty() ? "(default)" : key.first), prom_label(key.second), kClass[i],
                       counts[i]);

  prom_header(out, "turnout_upstream_response_seconds", "histogram",
              "Time from sending a request upstream to its response head, by app.");
  for (auto& [app, c] : app_live_) {
    std::string label = prom_label(app);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kLatencyBounds.size(); ++i) {
      cumulative += c.latency[i];
      fmt::format_to(std::back_inserter(out), "turnout_upstream_response_seconds_bucket{{app=\"{}\",le=\"{}\"}} {}\n",
                     label, kLatencyBounds[i], cumulative);
    }
    cumulative += c.latency.back();
    fmt::format_to(std::back_inserter(out), "turnout_upstream_response_seconds_bucket{{app=\"{}\",le=\"+Inf\"}} {}\n",
                   label, cumulative);
    fmt::format_to(std::back_inserter(out), "turnout_upstream_response_seconds_sum{{app=\"{}\"}} {:.6f}\n", label,
                   static_cast<double>(c.latency_sum_us) / 1e6);
    fmt::format_to(std::back_inserter(out), "turnout_upstream_response_seconds_count{{app=\"{}\"}} {}\n", label,
                   cumulative);
  }
  prom_header(out, "turnout_app_responses_total", "counter", "Responses to requests routed to each app.");
  for (auto& [app, c] : app_live_)
    fmt::format_to(std::back_inserter(out), "turnout_app_responses_total{{app=\"{}\"}} {}\n", prom_label(app), c.responses);
  prom_header(out, "turnout_app_errors_total", "counter",
              "Responses with a 5xx status (turnout's 502/503/504 included) or none, by app.");
  for (auto& [app, c] : app_live_)
    fmt::format_to(std::back_inserter(out), "turnout_app_errors_total{{app=\"{}\"}} {}\n", prom_label(app), c.errors);

  auto stats = server_stats();
  std::map<std::string, std::string> app_of;  // server addr -> app (first app listing it)
  current_->for_each_app([&](const App& a) {
    for (auto& s : a.servers) app_of.emplace(s.addr, a.name);
  });
  prom_header(out, "turnout_server_up", "gauge", "1 when the server is considered up (passive and active health).");
  for (auto& [addr, st] : stats)
    fmt::format_to(std::back_inserter(out), "turnout_server_up{{app=\"{}\",server=\"{}\"}} {}\n",
                   prom_label(app_of[addr]), prom_label(addr), st.up ? 1 : 0);
  prom_header(out, "turnout_server_requests_total", "counter", "Requests sent to each server.");
  for (auto& [addr, st] : stats)
    fmt::format_to(std::back_inserter(out), "turnout_server_requests_total{{app=\"{}\",server=\"{}\"}} {}\n",
                   prom_label(app_of[addr]), prom_label(addr), st.requests);
  prom_header(out, "turnout_server_failures_total", "counter", "Connect failures, resets and timeouts per server.");
  for (auto& [addr, st] : stats)
    fmt::format_to(std::back_inserter(out), "turnout_server_failures_total{{app=\"{}\",server=\"{}\"}} {}\n",
                   prom_label(app_of[addr]), prom_label(addr), st.failures);
  prom_header(out, "turnout_server_in_flight", "gauge", "Requests in flight per server.");
  for (auto& [addr, st] : stats)
    fmt::format_to(std::back_inserter(out), "turnout_server_in_flight{{app=\"{}\",server=\"{}\"}} {}\n",
                   prom_label(app_of[addr]), prom_label(addr), st.in_flight);
  put("turnout_log_dropped_lines_total", "counter", "Log lines dropped because the writer fell behind.",
      log_dropped_lines());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Binary upgrade (old process side)

void ProxyServer::upgrade(Done done) {
  if (shutting_down_) return done(make_error(503, "turnout is shutting down"));
  upgrade_waiters_.push_back(std::move(done));
  if (successor_pid_ != 0 || handing_over_) return;  // one upgrade at a time; answer all waiters
  spawn_successor();
}

void ProxyServer::spawn_successor() {
  std::string config_path = config_.path;
  std::vector<std::string> args_s = {binary_, "run", "-c", config_path, "--takeover"};
  std::vector<char*> args;
  for (auto& a : args_s) args.push_back(a.data());
  args.push_back(nullptr);
  uv_stdio_container_t stdio[3];
  for (int i = 0; i < 3; ++i) {
    stdio[i].flags = UV_INHERIT_FD;
    stdio[i].data.fd = i;
  }
  uv_process_options_t opts{};
  opts.file = binary_.c_str();
  opts.args = args.data();
  opts.stdio = stdio;
  opts.stdio_count = 3;
  opts.exit_cb = [](uv_process_t* p, int64_t status, int signal) {
    auto* self = static_cast<ProxyServer*>(p->data);
    self->successor_pid_ = 0;
    self->successor_ = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* h) { delete reinterpret_cast<uv_process_t*>(h); });
    // Before READY, an exit means the upgrade failed; after it, the new process is on its own.
    if (!self->upgrade_waiters_.empty() || (self->handing_over_ && !self->shutting_down_))
      self->on_handoff_result(make_error(500, fmt::format("the new process exited (status {}, signal {}) before taking over",
                                                          status, signal)));
  };
  auto* proc = new uv_process_t;
  proc->data = this;
  int rc = uv_spawn(&loop_, proc, &opts);
  if (rc != 0) {
    delete proc;
    on_handoff_result(make_error(500, fmt::format("cannot start {}: {}", binary_, uv_strerror(rc))));
    return;
  }
  successor_pid_ = proc->pid;
  successor_ = proc;
  TLOG_INFO("upgrade: started the new process", "pid={} binary={}", proc->pid, binary_);
}

void ProxyServer::takeover(int fd) {
  // A new turnout asks for our sockets and table. `fd` is ours (a dup of the admin connection).
  if (shutting_down_ || handing_over_) {
    const char refuse[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    (void)!::write(fd, refuse, sizeof(refuse) - 1);
    ::close(fd);
    return;
  }
  handing_over_ = true;
  // From here until the hand-off ends, admin connections queue in the shared backlog: the new
  // process takes them once it runs, and nobody sees the old pid answer after the new one did.
  if (admin_) admin_->pause_accepting();
  nlohmann::json j;
  j["version"] = current_->version();
  j["pid"] = static_cast<int64_t>(getpid());
  j["table"] = table_to_json(*current_);
  std::vector<int> fds;
  nlohmann::json listeners = nlohmann::json::array();
  size_t per_addr = config_.workers;
  for (size_t a = 0; a < listen_addrs_.size(); ++a) {
    nlohmann::json idx = nlohmann::json::array();
    for (size_t w = 0; w < per_addr && a * per_addr + w < handoff_fds_.size(); ++w) {
      idx.push_back(fds.size());
      fds.push_back(handoff_fds_[a * per_addr + w]);
    }
    listeners.push_back({{"addr", listen_addrs_[a]}, {"fds", idx}});
  }
  j["listeners"] = listeners;
  int unix_fd = admin_ ? admin_->unix_fd() : -1;
  int tcp_fd = admin_ ? admin_->tcp_fd() : -1;
  j["admin_unix"] = unix_fd >= 0 ? static_cast<int>(fds.size()) : -1;
  if (unix_fd >= 0) fds.push_back(unix_fd);
  j["admin_tcp"] = tcp_fd >= 0 ? static_cast<int>(fds.size()) : -1;
  if (tcp_fd >= 0) fds.push_back(tcp_fd);
  nlohmann::json claims = nlohmann::json::array();
  if (owner_) {
    for (const auto& [addr, claim_fd] : owner_->fds()) {
      claims.push_back({{"addr", addr}, {"fd", fds.size()}});
      fds.push_back(claim_fd);
    }
  }
  j["claims"] = claims;
  std::string payload = j.dump();
  TLOG_INFO("upgrade: handing over", "sockets={} version={}", fds.size(), current_->version());
  if (handoff_thread_.joinable()) handoff_thread_.join();
  // Blocking sends and the wait for READY run on their own thread; the loop keeps serving.
  handoff_thread_ = std::thread([this, fd, fds = std::move(fds), payload = std::move(payload)] {
    Result<void> r = send_handoff(fd, fds, payload);
    if (r) r = wait_ready(fd, 120000);
    ::close(fd);
    inbox_.post([this, r] { on_handoff_result(r); });
  });
}

void ProxyServer::on_handoff_result(Result<void> r) {
  auto waiters = std::move(upgrade_waiters_);
  upgrade_waiters_.clear();
  if (!r) {
    handing_over_ = false;
    if (admin_ && !shutting_down_) admin_->resume_accepting();
    TLOG_ERROR("upgrade: hand-off failed; this process carries on", "error={}", log_quote(r.error().message));
    // The new process may have announced itself to systemd as the main pid before it failed.
    notify_systemd(fmt::format("MAINPID={}\n", getpid()));
    for (auto& w : waiters) w(r.error());
    return;
  }
  TLOG_INFO("upgrade: the new process took over; draining", "pid={}", successor_pid_);
  for (auto& w : waiters) w(current_->version());
  // The admin socket file now belongs to the new process: stop accepting on it without unlinking
  // it; requests already open here are still answered while we drain.
  if (admin_) admin_->stop_listening(true);
  begin_shutdown();  // releases our copies of the listen claims; the new process holds its own
}

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
    TLOG_INFO("SIGUSR2: upgrading", "binary={}", binary_);
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
  // Our duplicates of the listening sockets would keep them open after the workers close theirs,
  // and the kernel would go on completing handshakes nobody answers: let them close (a process
  // that took over holds its own descriptors).
  for (int fd : handoff_fds_) ::close(fd);
  handoff_fds_.clear();
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
  pending_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&sig_hup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sig_term_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sig_int_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sig_usr2_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sig_usr1_), nullptr);
  if (successor_) {
    // The new process outlives us: stop watching it, let it run.
    uv_process_t* p = successor_;
    successor_ = nullptr;
    p->data = this;
    uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* h) { delete reinterpret_cast<uv_process_t*>(h); });
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&stats_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
  inbox_.close();
  workers_.clear();
}

}  // namespace turnout
