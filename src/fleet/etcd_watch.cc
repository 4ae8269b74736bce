#include "turnout/fleet/etcd_watch.h"

#include <algorithm>
#include <utility>

#include "turnout/fleet/etcd_client.h"
#include "turnout/fleet/etcd_codec.h"

namespace turnout {

using etcd_codec::WatchMessage;

EtcdWatch::EtcdWatch(EtcdClient& client, WatchOptions options, EtcdWatchHandler* handler)
    : loop_(client.loop()),
      pool_(client.chunk_pool()),
      endpoints_(client.endpoints()),
      tls_(client.tls()),
      tls_names_(client.tls_names()),
      connect_timeout_ms_(client.options().connect_timeout_ms),
      start_timeout_ms_(options.start_timeout_ms != 0 ? options.start_timeout_ms : client.options().request_timeout_ms),
      options_(std::move(options)),
      handler_(handler),
      endpoint_(client.current_endpoint()) {
  connect();
}

EtcdWatch::~EtcdWatch() { close(); }

const std::string& EtcdWatch::endpoint() const { return endpoints_[endpoint_].text; }

void EtcdWatch::close() {
  state_ = State::Done;
  handler_ = nullptr;
  if (EtcdConnection* c = std::exchange(conn_, nullptr)) c->close(false);
}

void EtcdWatch::connect() {
  conn_ = new EtcdConnection(loop_, pool_, endpoints_[endpoint_], connect_timeout_ms_, this, tls_,
                             tls_ ? tls_names_[endpoint_] : std::string());
  EtcdHttpRequest req;
  req.path = "/v3/watch";
  req.body = etcd_codec::watch_create_body(options_.key, options_.range_end, options_.start_revision,
                                           options_.progress_notify);
  req.deadline = uv_now(loop_) + start_timeout_ms_;
  req.idle_ms = options_.idle_timeout_ms;
  req.authorization = options_.authorization;
  // The connection may call these after a handler destroyed the watch (fail() reports to its
  // owner first): the weak token says whether `this` is still there.
  std::weak_ptr<bool> alive = alive_;
  req.on_data = [this, alive](std::string_view bytes) {
    if (!alive.expired()) on_data(bytes);
  };
  req.on_done = [this, alive](const EtcdStatus& s, int, std::string&&) {
    if (!alive.expired()) on_done(s);
  };
  conn_->submit(std::move(req));
}

void EtcdWatch::on_connection_down(EtcdConnection* c, const EtcdStatus& why, std::deque<EtcdHttpRequest>&&) {
  if (c == conn_) conn_ = nullptr;
  if (state_ == State::Done) return;
  if (why.code == EtcdErrc::ConnectFailed && state_ == State::Starting && ++tried_ < endpoints_.size()) {
    endpoint_ = (endpoint_ + 1) % endpoints_.size();
    connect();
    return;
  }
  finish_failed(why);
}

void EtcdWatch::on_done(const EtcdStatus& status) {
  if (state_ == State::Done) return;
  if (status.ok()) finish_failed(EtcdStatus::error(EtcdErrc::Reset, "etcd ended the watch stream", endpoint()));
  else finish_failed(status);
}

void EtcdWatch::finish_failed(const EtcdStatus& status) {
  state_ = State::Done;
  if (EtcdConnection* c = std::exchange(conn_, nullptr)) c->close(false);
  if (EtcdWatchHandler* h = std::exchange(handler_, nullptr)) h->on_watch_failed(status);
}

void EtcdWatch::on_data(std::string_view bytes) {
  if (state_ == State::Done) return;
  // Collect first, deliver after: a handler may close (or destroy) the watch, splitter included.
  std::vector<std::string> objects;
  bool ok = splitter_.feed(bytes, [&objects](std::string_view o) { objects.emplace_back(o); });
  std::weak_ptr<bool> alive = alive_;
  for (std::string& o : objects) {
    if (alive.expired() || state_ == State::Done) return;
    auto m = etcd_codec::decode_watch_message(o);
    if (!m.ok()) {
      m.status.endpoint = endpoint();
      finish_failed(m.status);
      return;
    }
    WatchMessage& msg = m.value;
    switch (msg.kind) {
      case WatchMessage::Kind::Created:
        state_ = State::Watching;
        if (options_.start_revision == 0) revision_ = msg.revision;
        else revision_ = std::max(revision_, options_.start_revision - 1);
        handler_->on_watch_created(msg.revision);
        break;
      case WatchMessage::Kind::Events:
        revision_ = std::max(revision_, msg.events.back().kv.mod_revision);
        handler_->on_watch_events(msg.revision, std::move(msg.events));
        break;
      case WatchMessage::Kind::Progress:
        revision_ = std::max(revision_, msg.revision);
        handler_->on_watch_progress(msg.revision);
        break;
      case WatchMessage::Kind::Canceled: {
        state_ = State::Done;
        if (EtcdConnection* c = std::exchange(conn_, nullptr)) c->close(false);
        EtcdWatchHandler* h = std::exchange(handler_, nullptr);
        h->on_watch_canceled(msg.compact_revision, msg.reason);
        return;
      }
    }
  }
  if (!ok && !alive.expired() && state_ != State::Done)
    finish_failed(EtcdStatus::error(EtcdErrc::Malformed, "the watch stream is not a sequence of JSON objects", endpoint()));
}

}  // namespace turnout
