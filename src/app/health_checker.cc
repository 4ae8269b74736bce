#include "turnout/app/health_checker.h"

#include <cstring>
#include <unordered_set>

#include "turnout/common/log.h"

namespace turnout {

// One (app, server) pair under active checks. Owned by targets_ until removed (or the checker
// closes); then freed when its interval timer's handle has closed. A removed target first
// detaches its running probe, so no probe outlives its target holding a pointer to it.
struct HealthChecker::Target {
  HealthChecker* owner;
  std::string app;
  std::string addr;
  SocketAddress address;
  HealthSpec spec;
  std::string host;           // Host header for the check
  uv_timer_t interval{};      // next check
  Probe* probe = nullptr;     // the check in progress
  uint32_t successes = 0;     // consecutive
  uint32_t failures = 0;      // consecutive
  bool down = false;
  bool timer_open = false;
  bool removed = false;       // no longer in the table; freed when its handles are closed
  int open_handles = 0;
};

// One check: connect, send GET, read the status line, close. Frees itself after its handles close.
struct HealthChecker::Probe {
  Target* target;  // null once the check ended or its target was removed: never read after that
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  uv_connect_t connect_req{};
  uv_write_t write_req{};
  uv_timer_t deadline{};
  std::string request;   // owned until the write callback
  std::string response;  // first bytes of the answer
  char buf[512];
  int open_handles = 0;
  bool done = false;
};

struct HealthCallbacks {
  static void on_interval(uv_timer_t* t) {
    auto* target = static_cast<HealthChecker::Target*>(t->data);
    target->owner->start_probe(target);
  }
  static void on_probe_closed(uv_handle_t* h) {
    auto* p = static_cast<HealthChecker::Probe*>(h->data);
    if (--p->open_handles > 0) return;
    // Not the target: the probe let go of it in end(), and the target may already be freed
    // (removed, or the checker closed, while these handles were closing).
    delete p;
  }
  static void on_target_timer_closed(uv_handle_t* h) {
    auto* t = static_cast<HealthChecker::Target*>(h->data);
    --t->open_handles;
    if (t->open_handles == 0 && t->probe == nullptr) delete t;
  }
  static void end(HealthChecker::Probe* p, bool ok) {
    if (p->done) return;
    p->done = true;
    HealthChecker::Target* t = p->target;
    p->target = nullptr;  // done with it: its handles close later, maybe after the target is freed
    if (t) {
      t->probe = nullptr;
      if (!t->removed) t->owner->finish_probe(t, ok);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&p->h), on_probe_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&p->deadline), on_probe_closed);
  }
  static void on_deadline(uv_timer_t* t) { end(static_cast<HealthChecker::Probe*>(t->data), false); }
  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* b) {
    auto* p = static_cast<HealthChecker::Probe*>(h->data);
    *b = uv_buf_init(p->buf, sizeof(p->buf));
  }
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t*) {
    auto* p = static_cast<HealthChecker::Probe*>(s->data);
    if (p->done) return;
    if (n < 0) {
      end(p, false);
      return;
    }
    p->response.append(p->buf, static_cast<size_t>(n));
    // "HTTP/1.x NNN": enough to judge.
    if (p->response.size() >= 12) {
      bool ok = p->response.compare(0, 7, "HTTP/1.") == 0 && p->response[8] == ' ' &&
                (p->response[9] == '2' || p->response[9] == '3');
      end(p, ok);
    }
  }
  static void on_write(uv_write_t* w, int status) {
    auto* p = static_cast<HealthChecker::Probe*>(w->data);
    if (status < 0) end(p, false);
  }
  static void on_connect(uv_connect_t* c, int status) {
    auto* p = static_cast<HealthChecker::Probe*>(c->data);
    if (p->done) return;
    if (status < 0) {
      end(p, false);
      return;
    }
    auto* s = reinterpret_cast<uv_stream_t*>(&p->h);
    uv_buf_t b = uv_buf_init(p->request.data(), static_cast<unsigned>(p->request.size()));
    p->write_req.data = p;
    if (uv_write(&p->write_req, s, &b, 1, on_write) != 0 || uv_read_start(s, on_alloc, on_read) != 0) end(p, false);
  }
};

HealthChecker::HealthChecker(uv_loop_t* loop, std::function<void(DownSet)> publish)
    : loop_(loop), publish_(std::move(publish)) {}

HealthChecker::~HealthChecker() { close(); }

void HealthChecker::update(const RouteTable& table) {
  if (closed_) return;
  // A target is kept (with its Host) while its app, server, path and interval stay the same.
  auto kept = [this](const App& a, const Server& s) {
    auto it = targets_.find(a.name + "|" + s.addr);
    return it != targets_.end() && it->second->spec.path == a.health->path &&
           it->second->spec.interval == a.health->interval;
  };
  // The Host header of a new check: the first route mapping the app, else the server address.
  // Finding it walks every route, so only when some target is new: a route change (the common
  // case, on tables of a million routes) must not cost a walk of the table.
  std::unordered_set<std::string> need_host;
  table.for_each_app([&](const App& a) {
    if (!a.health) return;
    for (auto& s : a.servers)
      if (!kept(a, s)) need_host.insert(a.name);
  });
  std::unordered_map<std::string, std::string> host_of;
  if (!need_host.empty()) {
    table.for_each_route([&](const Route& r) {
      for (auto& e : r.apps)
        if (need_host.count(e.app)) host_of.emplace(e.app, r.host.rfind("*.", 0) == 0 ? r.host.substr(2) : r.host);
    });
  }
  std::map<std::string, std::unique_ptr<Target>> next;
  table.for_each_app([&](const App& a) {
    if (!a.health) return;
    for (auto& s : a.servers) {
      std::string key = a.name + "|" + s.addr;
      auto it = targets_.find(key);
      if (kept(a, s)) {
        it->second->spec = *a.health;
        next.emplace(key, std::move(it->second));
        targets_.erase(it);
        continue;
      }
      auto t = std::make_unique<Target>();
      t->owner = this;
      t->app = a.name;
      t->addr = s.addr;
      t->address = s.address;
      t->spec = *a.health;
      auto h = host_of.find(a.name);
      t->host = h != host_of.end() ? h->second : s.addr;
      uv_timer_init(loop_, &t->interval);
      t->interval.data = t.get();
      t->timer_open = true;
      t->open_handles = 1;
      // First check soon after start, then every interval.
      uv_timer_start(&t->interval, HealthCallbacks::on_interval, 100,
                     static_cast<uint64_t>(t->spec.interval.count()));
      next.emplace(key, std::move(t));
    }
  });
  bool dropped_down = false;
  for (auto& [key, t] : targets_) {  // no longer checked
    dropped_down |= t->down;
    Target* raw = t.release();
    raw->removed = true;
    if (raw->probe) raw->probe->target = nullptr, raw->probe = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&raw->interval), HealthCallbacks::on_target_timer_closed);
  }
  targets_ = std::move(next);
  if (dropped_down) publish_down_set();
}

void HealthChecker::start_probe(Target* t) {
  if (t->probe || closed_) return;  // the previous one is still running
  auto* p = new Probe;
  p->target = t;
  t->probe = p;
  p->request = "GET " + t->spec.path + " HTTP/1.1\r\nHost: " + t->host +
               "\r\nUser-Agent: turnout-health\r\nConnection: close\r\n\r\n";
  int rc;
  if (t->address.is_unix()) {
    rc = uv_pipe_init(loop_, &p->h.pipe, 0);
    p->h.pipe.data = p;
  } else {
    rc = uv_tcp_init(loop_, &p->h.tcp);
    p->h.tcp.data = p;
  }
  uv_timer_init(loop_, &p->deadline);
  p->deadline.data = p;
  p->open_handles = 2;
  p->connect_req.data = p;
  if (rc == 0) {
    if (t->address.is_unix()) {
      uv_pipe_connect(&p->connect_req, &p->h.pipe, reinterpret_cast<const sockaddr_un*>(&t->address.storage)->sun_path,
                      HealthCallbacks::on_connect);
    } else {
      rc = uv_tcp_connect(&p->connect_req, &p->h.tcp, t->address.sa(), HealthCallbacks::on_connect);
    }
  }
  uv_timer_start(&p->deadline, HealthCallbacks::on_deadline, static_cast<uint64_t>(t->spec.timeout.count()), 0);
  if (rc != 0) HealthCallbacks::end(p, false);
}

void HealthChecker::finish_probe(Target* t, bool ok) {
  if (ok) {
    t->failures = 0;
    ++t->successes;
    if (t->down && t->successes >= t->spec.rise) {
      t->down = false;
      TLOG_INFO("server up", "app={} server={} checks={}", t->app, t->addr, t->successes);
      publish_down_set();
    }
  } else {
    t->successes = 0;
    ++t->failures;
    if (!t->down && t->failures >= t->spec.fall) {
      t->down = true;
      TLOG_WARN("server down", "app={} server={} failed_checks={}", t->app, t->addr, t->failures);
      publish_down_set();
    }
  }
}

void HealthChecker::publish_down_set() {
  auto set = std::make_shared<std::unordered_map<std::string, bool>>();
  for (auto& [key, t] : targets_)
    if (t->down) (*set)[t->addr] = true;
  publish_(std::move(set));
}

bool HealthChecker::down(const std::string& addr) const {
  for (auto& [key, t] : targets_)
    if (t->addr == addr && t->down) return true;
  return false;
}

void HealthChecker::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& [key, t] : targets_) {
    Target* raw = t.release();
    raw->removed = true;
    if (raw->probe) {
      Probe* p = raw->probe;
      raw->probe = nullptr;
      p->target = nullptr;
      HealthCallbacks::end(p, false);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&raw->interval), HealthCallbacks::on_target_timer_closed);
  }
  targets_.clear();
}

}  // namespace turnout
