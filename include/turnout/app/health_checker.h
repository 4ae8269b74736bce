// HealthChecker: active health checks, run once on the main loop (not once per worker).
//
// For every app of the live table that has a `health` section, each server gets a GET of
// `health.path` every `interval` over a fresh connection; a 2xx/3xx status line within
// `timeout` is a success. `fall` consecutive failures mark an up server down, `rise` consecutive
// successes mark it up again. Each change of the down set is handed to `publish` (which posts it
// to every worker) and logged. A check is a Stream (net/stream.h) and a response HttpParser
// (http/parser.h), the pieces an upstream connection uses, so a check reads a status line exactly
// as proxied traffic would. Owner: ProxyServer; main thread only. close() before the loop ends;
// in-flight checks are cancelled and their memory freed in close callbacks.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "turnout/common/buffer.h"
#include "turnout/route/route_table.h"

namespace turnout {

class HealthChecker {
 public:
  using DownSet = std::shared_ptr<const std::unordered_map<std::string, bool>>;  // addr -> down
  HealthChecker(uv_loop_t* loop, std::function<void(DownSet)> publish);
  ~HealthChecker();

  // The table changed: start checks for new (app, server) pairs, stop removed ones.
  void update(const RouteTable& table);
  void close();
  // Current active-check verdict: true when `addr` is marked down.
  bool down(const std::string& addr) const;

 private:
  struct Target;
  struct Probe;
  friend struct HealthCallbacks;
  void start_probe(Target* t);
  void finish_probe(Target* t, bool ok);
  void publish_down_set();

  uv_loop_t* loop_;
  std::function<void(DownSet)> publish_;
  std::shared_ptr<ChunkPool> chunks_;  // read chunks of the checks; each check holds a reference,
                                       //   as it may close after the checker is gone
  std::map<std::string, std::unique_ptr<Target>> targets_;  // key: app + "|" + addr
  bool closed_ = false;
};

}  // namespace turnout
