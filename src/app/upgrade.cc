#include "turnout/app/upgrade.h"

#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include "turnout/app/handoff.h"
#include "turnout/common/log.h"
#include "turnout/state/table_codec.h"

namespace turnout {

Upgrade::Upgrade(const Config& config, std::string binary, EventQueue& inbox, ListenSet& listeners, Hooks hooks)
    : config_(config), binary_(std::move(binary)), inbox_(inbox), listeners_(listeners), hooks_(std::move(hooks)) {}

Upgrade::~Upgrade() {
  if (handoff_thread_.joinable()) handoff_thread_.join();
  for (int fd : admin_fds_)
    if (fd >= 0) ::close(fd);
  if (handoff_sock_ >= 0) ::close(handoff_sock_);
  for (auto& [addr, fd] : claims_) ::close(fd);
}

// ---------------------------------------------------------------------------------------------
// New process

Result<void> Upgrade::adopt_handoff() {
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
    return make_error(ErrorKind::Internal, "hand-off: unreadable payload");
  }
  auto table = table_from_json(j["table"], j.value("version", uint64_t{1}));
  if (!table) {
    close_all();
    return make_error(ErrorKind::Internal, "hand-off: " + table.error().message);
  }
  table_ = *table;
  if (auto k = j.find("ticket_keys"); k != j.end() && k->is_string()) {
    ticket_keys_ = k->get<std::string>();
    OPENSSL_cleanse(k->get_ref<std::string&>().data(), k->get_ref<std::string&>().size());
  }
  OPENSSL_cleanse(got->payload.data(), got->payload.size());
  // Which received fd is which: listeners[a] = fd indexes of address a; admin_unix, admin_tcp.
  auto take = [&](int idx) {
    if (idx < 0 || static_cast<size_t>(idx) >= fds.size()) return -1;
    int fd = fds[static_cast<size_t>(idx)];
    fds[static_cast<size_t>(idx)] = -1;
    return fd;
  };
  admin_fds_ = {take(j.value("admin_unix", -1)), take(j.value("admin_tcp", -1))};
  if (j.contains("claims") && j["claims"].is_array()) {
    for (auto& c : j["claims"]) {
      int fd = take(c.value("fd", -1));
      if (fd >= 0) claims_[c.value("addr", std::string())] = fd;
    }
  }
  std::map<std::string, std::vector<int>> by_addr;  // old listener address -> its sockets
  for (auto& l : j["listeners"]) {
    std::vector<int>& v = by_addr[l.value("addr", std::string())];
    for (auto& idx : l["fds"]) v.push_back(take(idx.get<int>()));
  }
  close_all();  // anything not claimed

  unsigned n = config_.workers;
  listeners_.per_worker.assign(n, {});
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
      listeners_.addrs.push_back(addr.text);
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
          listeners_.addrs.push_back(addr.text);
          TLOG_INFO("listening", "addr={} workers={}", addr.text, n);
        }
      }
      listeners_.add(w % n, fd, spec);
    }
  }
  for (auto& [text, socks] : by_addr) {
    TLOG_WARN("listener not in the new config; closed", "addr={}", text);
    for (int fd : socks) ::close(fd);
  }
  return {};
}

std::string Upgrade::take_ticket_keys() {
  std::string keys = ticket_keys_;
  OPENSSL_cleanse(ticket_keys_.data(), ticket_keys_.size());
  ticket_keys_.clear();
  return keys;
}

Result<void> Upgrade::adopt_admin(AdminServer& admin) {
  Result<void> r = admin.adopt(admin_fds_[0], admin_fds_[1]);
  admin_fds_.clear();  // owned by the admin server now
  return r;
}

Result<void> Upgrade::claim_listeners(ListenOwner& owner) {
  // The old process's claims carry over (the names were never free); an address new in this
  // config is claimed afresh. Claims for addresses no longer served are released.
  for (const std::string& addr : listeners_.addrs) {
    auto it = claims_.find(addr);
    if (it != claims_.end()) {
      owner.adopt(addr, it->second);
      claims_.erase(it);
    } else if (auto r = owner.claim(addr); !r) {
      return r.error();
    }
  }
  for (auto& [addr, fd] : claims_) ::close(fd);
  claims_.clear();
  return {};
}

void Upgrade::confirm_ready(uint64_t version) {
  // Workers accept on the inherited sockets and the admin API answers: let the old one go.
  if (auto r = send_ready(handoff_sock_); !r)
    TLOG_ERROR("upgrade: could not confirm to the old process", "error={}", log_quote(r.error().message));
  ::close(handoff_sock_);
  handoff_sock_ = -1;
  TLOG_INFO("upgrade: took over sockets and live table", "version={}", version);
}

// ---------------------------------------------------------------------------------------------
// Old process

void Upgrade::attach(uv_loop_t* loop, AdminServer* admin, ListenOwner* owner) {
  loop_ = loop;
  admin_ = admin;
  owner_ = owner;
}

void Upgrade::upgrade(Done done) {
  if (hooks_.shutting_down()) return done(make_error(ErrorKind::Unavailable, "turnout is shutting down"));
  waiters_.push_back(std::move(done));
  if (successor_pid_ != 0 || handing_over_) return;  // one upgrade at a time; answer all waiters
  spawn_successor();
}

void Upgrade::spawn_successor() {
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
    auto* self = static_cast<Upgrade*>(p->data);
    self->successor_pid_ = 0;
    self->successor_ = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* h) { delete reinterpret_cast<uv_process_t*>(h); });
    // Before READY, an exit means the upgrade failed; after it, the new process is on its own.
    if (!self->waiters_.empty() || (self->handing_over_ && !self->hooks_.shutting_down()))
      self->on_handoff_result(make_error(ErrorKind::Internal, fmt::format("the new process exited (status {}, signal {}) before taking over",
                                                          status, signal)));
  };
  auto* proc = new uv_process_t;
  proc->data = this;
  int rc = uv_spawn(loop_, proc, &opts);
  if (rc != 0) {
    delete proc;
    on_handoff_result(make_error(ErrorKind::Internal, fmt::format("cannot start {}: {}", binary_, uv_strerror(rc))));
    return;
  }
  successor_pid_ = proc->pid;
  successor_ = proc;
  TLOG_INFO("upgrade: started the new process", "pid={} binary={}", proc->pid, binary_);
}

void Upgrade::takeover(int fd) {
  // A new turnout asks for our sockets and table. `fd` is ours (a dup of the admin connection).
  if (hooks_.shutting_down() || handing_over_) {
    const char refuse[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    (void)!::write(fd, refuse, sizeof(refuse) - 1);
    ::close(fd);
    return;
  }
  handing_over_ = true;
  // From here until the hand-off ends, admin connections queue in the shared backlog: the new
  // process takes them once it runs, and nobody sees the old pid answer after the new one did.
  if (admin_) admin_->pause_accepting();
  RouteTablePtr live = hooks_.live_table();
  nlohmann::json j;
  j["version"] = live->version();
  j["pid"] = static_cast<int64_t>(getpid());
  j["table"] = table_to_json(*live);
  std::vector<int> fds;
  nlohmann::json listeners = nlohmann::json::array();
  size_t per_addr = config_.workers;
  const std::vector<int>& dups = listeners_.dups;
  for (size_t a = 0; a < listeners_.addrs.size(); ++a) {
    nlohmann::json idx = nlohmann::json::array();
    for (size_t w = 0; w < per_addr && a * per_addr + w < dups.size(); ++w) {
      idx.push_back(fds.size());
      fds.push_back(dups[a * per_addr + w]);
    }
    listeners.push_back({{"addr", listeners_.addrs[a]}, {"fds", idx}});
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
  // The successor opens the session tickets we issued: clients resume across the upgrade. The
  // keys travel only on this connection, to the process that takes over our sockets.
  if (hooks_.ticket_keys) {
    std::string keys = hooks_.ticket_keys();
    if (!keys.empty()) j["ticket_keys"] = keys;
    OPENSSL_cleanse(keys.data(), keys.size());
  }
  std::string payload = j.dump();
  if (auto k = j.find("ticket_keys"); k != j.end())
    OPENSSL_cleanse(k->get_ref<std::string&>().data(), k->get_ref<std::string&>().size());
  TLOG_INFO("upgrade: handing over", "sockets={} version={}", fds.size(), live->version());
  if (handoff_thread_.joinable()) handoff_thread_.join();
  // Blocking sends and the wait for READY run on their own thread; the loop keeps serving.
  handoff_thread_ = std::thread([this, fd, fds = std::move(fds), payload = std::move(payload)] {
    Result<void> r = send_handoff(fd, fds, payload);
    OPENSSL_cleanse(const_cast<char*>(payload.data()), payload.size());
    if (r) r = wait_ready(fd, 120000);
    ::close(fd);
    inbox_.post([this, r] { on_handoff_result(r); });
  });
}

void Upgrade::on_handoff_result(Result<void> r) {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  if (!r) {
    handing_over_ = false;
    if (admin_ && !hooks_.shutting_down()) admin_->resume_accepting();
    TLOG_ERROR("upgrade: hand-off failed; this process carries on", "error={}", log_quote(r.error().message));
    // The new process may have announced itself to systemd as the main pid before it failed.
    notify_systemd(fmt::format("MAINPID={}\n", getpid()));
    for (auto& w : waiters) w(r.error());
    return;
  }
  TLOG_INFO("upgrade: the new process took over; draining", "pid={}", successor_pid_);
  uint64_t version = hooks_.live_table()->version();
  for (auto& w : waiters) w(version);
  // The admin socket file now belongs to the new process: stop accepting on it without unlinking
  // it; requests already open here are still answered while we drain.
  if (admin_) admin_->stop_listening(true);
  hooks_.taken_over();  // releases our copies of the listen claims; the new process holds its own
}

void Upgrade::close() {
  if (!successor_) return;
  // The new process outlives us: stop watching it, let it run.
  uv_process_t* p = successor_;
  successor_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* h) { delete reinterpret_cast<uv_process_t*>(h); });
}

}  // namespace turnout
