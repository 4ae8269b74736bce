#include "turnout/app/health_checker.h"

#include <llhttp.h>

#include <cstring>
#include <unordered_set>

#include "turnout/common/log.h"
#include "turnout/common/path_key.h"
#include "turnout/http/message.h"
#include "turnout/http/parser.h"
#include "turnout/net/stream.h"
#include "turnout/tls/tls_transport.h"

namespace turnout {

namespace {
constexpr size_t kIdleChunks = 2;  // read chunks kept between checks (64 KiB each)
const Limits kProbeLimits{};       // a response head is held to the proxy's limits for upstreams
}  // namespace

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
  std::shared_ptr<const ClientTlsContext> tls;  // a TLS app's: checks speak TLS as requests do
  std::string tls_name;       // SNI and the name verified (Server::tls_name)
  uv_timer_t interval{};      // next check
  Probe* probe = nullptr;     // the check in progress
  uint32_t successes = 0;     // consecutive
  uint32_t failures = 0;      // consecutive
  bool down = false;
  bool timer_open = false;
  bool removed = false;       // no longer in the table; freed when its handles are closed
  int open_handles = 0;
};

// One check: connect, send GET, read the response head, close. The verdict is the status of the
// first head (2xx/3xx: up; anything else, or no head before the deadline: a failure). Frees
// itself once its Stream and its deadline timer have closed.
struct HealthChecker::Probe final : Stream::Owner, HttpParser::Events {
  Probe(uv_loop_t* loop, std::shared_ptr<ChunkPool> pool, Target* t)
      : target(t),
        chunks(std::move(pool)),
        stream(loop, *chunks, this),
        parser(HttpParser::Kind::Response, &head, this, kProbeLimits) {
    parser.set_request_method(HTTP_GET);
  }

  // Stream::Owner
  void on_stream_read(const ChunkRef& chunk, size_t len) override {
    if (done) return;
    HttpParser::Outcome out = parser.feed(chunk.data(), len);
    if (!done && out.status != HttpParser::Status::NeedMore) end(false);  // malformed, or a head without a verdict
  }
  void on_stream_end(int) override { end(false); }
  void on_stream_drained() override {}
  void on_stream_write_error(int) override { end(false); }
  void on_stream_closed() override { handle_closed(); }

  // HttpParser::Events: the status line and headers are all a check needs.
  HeadAction on_head_complete() override {
    end(head.status >= 200 && head.status < 400);
    return HeadAction::Reject;
  }
  void on_body(const char*, size_t) override {}
  void on_message_complete() override {}

  void on_connected(int status) {
    if (done) return;
    if (status < 0) {
      end(false);
      return;
    }
    stream.write_owned(std::move(request));
    stream.flush();
    if (!done) stream.start_read();
  }

  // The verdict; closes both handles. Safe to call again (later calls do nothing).
  void end(bool ok);
  void handle_closed() {
    if (--open_handles == 0) delete this;
  }

  Target* target;  // null once the check ended or its target was removed: never read after that
  std::shared_ptr<ChunkPool> chunks;  // before `stream`: outlives the chunks it hands out
  std::unique_ptr<TlsTransport> tls;  // a TLS app's check: between stream and its socket; before
                                      //   `stream`, so it is freed after the stream's close
  Stream stream;
  uv_timer_t deadline{};
  ResponseHead head;     // filled by parser
  HttpParser parser;     // response parser, as upstream connections use
  std::string request;   // the GET, handed to the stream once connected
  int open_handles = 0;  // stream (once initialised) and deadline
  bool done = false;
};

struct HealthCallbacks {
  static void on_interval(uv_timer_t* t) {
    auto* target = static_cast<HealthChecker::Target*>(t->data);
    target->owner->start_probe(target);
  }
  static void on_probe_timer_closed(uv_handle_t* h) {
    // Not the target: the probe let go of it in end(), and the target may already be freed
    // (removed, or the checker closed, while these handles were closing).
    static_cast<HealthChecker::Probe*>(h->data)->handle_closed();
  }
  static void on_target_timer_closed(uv_handle_t* h) {
    auto* t = static_cast<HealthChecker::Target*>(h->data);
    --t->open_handles;
    if (t->open_handles == 0 && t->probe == nullptr) delete t;
  }
  static void on_deadline(uv_timer_t* t) { static_cast<HealthChecker::Probe*>(t->data)->end(false); }
  static void on_connect(Stream*, int status, void* arg) {
    static_cast<HealthChecker::Probe*>(arg)->on_connected(status);
  }
};

void HealthChecker::Probe::end(bool ok) {
  if (done) return;
  done = true;
  Target* t = target;
  target = nullptr;  // done with it: the handles close later, maybe after the target is freed
  if (t) {
    t->probe = nullptr;
    if (!t->removed) t->owner->finish_probe(t, ok);
  }
  stream.close();  // a no-op (and no callback) if it was never initialised
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline), HealthCallbacks::on_probe_timer_closed);
}

HealthChecker::HealthChecker(uv_loop_t* loop, std::function<void(DownSet)> publish)
    : loop_(loop), publish_(std::move(publish)), chunks_(std::make_shared<ChunkPool>(kIdleChunks)) {}

HealthChecker::~HealthChecker() { close(); }

void HealthChecker::update(const RouteTable& table) {
  if (closed_) return;
  // A target is kept (with its Host and its up/down state) while its app, server, path,
  // interval and TLS settings stay the same. A reload makes new client contexts (it reads the
  // ca files again): the same (ca, verify) keeps the target, which takes the new context.
  auto same_tls = [](const std::shared_ptr<const ClientTlsContext>& x, const std::shared_ptr<const ClientTlsContext>& y) {
    return x == nullptr || y == nullptr ? x == y : x->settings() == y->settings();
  };
  auto kept = [this, &same_tls](const App& a, const Server& s) {
    auto it = targets_.find(a.name + "|" + s.addr);
    return it != targets_.end() && it->second->spec.path == a.health->path &&
           it->second->spec.interval == a.health->interval && same_tls(it->second->tls, a.tls_context) &&
           it->second->tls_name == s.tls_name;
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
        if (need_host.count(e.app)) {
          // The Host of a check is the route's host part: "example.com" of "example.com/api".
          std::string host(route_key_host(r.host));
          host_of.emplace(e.app, host.rfind("*.", 0) == 0 ? host.substr(2) : host);
        }
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
        it->second->tls = a.tls_context;  // a probe under way keeps its SSL (and its SSL_CTX)
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
      t->tls = a.tls_context;
      t->tls_name = s.tls_name;
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
  auto* p = new Probe(loop_, chunks_, t);
  t->probe = p;
  p->request = "GET " + t->spec.path + " HTTP/1.1\r\nHost: " + t->host +
               "\r\nUser-Agent: turnout-health\r\nConnection: close\r\n\r\n";
  uv_timer_init(loop_, &p->deadline);
  p->deadline.data = p;
  p->open_handles = 1;
  int rc = t->address.is_unix() ? p->stream.init_pipe() : p->stream.init_tcp();
  if (rc == 0) {
    ++p->open_handles;  // the stream's close callback will count down too
    if (t->tls) {  // connected = handshake done; a certificate that does not verify fails the check
      p->tls = std::make_unique<TlsTransport>(p->stream.socket(), *p->chunks, &p->stream, *t->tls, t->tls_name, nullptr);
      p->stream.set_transport(p->tls.get());
    }
    if (t->address.is_unix()) {
      rc = p->stream.connect_pipe(reinterpret_cast<const sockaddr_un*>(&t->address.storage)->sun_path,
                                  HealthCallbacks::on_connect, p);
    } else {
      rc = p->stream.connect(t->address.sa(), HealthCallbacks::on_connect, p);
    }
  }
  uv_timer_start(&p->deadline, HealthCallbacks::on_deadline, static_cast<uint64_t>(t->spec.timeout.count()), 0);
  if (rc != 0) p->end(false);
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
      p->end(false);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&raw->interval), HealthCallbacks::on_target_timer_closed);
  }
  targets_.clear();
}

}  // namespace turnout
