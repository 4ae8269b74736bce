// Balancer: smooth weighted round-robin (the nginx algorithm) over a route's apps by app weight,
// then over the chosen app's servers by server weight, skipping servers that are down or were
// already tried for this request. Over one cycle of total weight W, each item is picked exactly
// weight times, interleaved as evenly as possible.
//
// One Balancer per worker (per-worker mutable state beside the immutable snapshot): cursors are
// keyed by Route::id / App::id, so a replaced route or app starts a fresh cycle. Worker thread
// only; no locks, no atomics.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <unordered_map>
#include <vector>

#include "turnout/route/route_table.h"

namespace turnout {

// Tells the balancer which servers to skip. Implemented by the worker (health + tried set).
class ServerFilter {
 public:
  virtual ~ServerFilter() = default;
  virtual bool usable(const Server& server) const = 0;
};

// Smooth weighted round-robin state for one set of weighted items.
class SmoothWrr {
 public:
  // Picks an index among items whose `eligible[i]` is true; -1 if none. `weights.size()` must
  // equal the size given at the first call (the owner resets on change).
  int next(std::span<const uint32_t> weights, const std::vector<bool>& eligible);
  void reset() { current_.clear(); }

 private:
  std::vector<int64_t> current_;  // current weight per item
};

class Balancer {
 public:
  struct Pick {
    const App* app = nullptr;        // in the pinned table
    const Server* server = nullptr;  // in `app`
  };

  // Picks an app of `route` (present in `table`) among the entries whose bit is set in
  // `admitted` (route_rules.h: the entries a request's rules admit; kAllEntries without rules),
  // then a server of it that `filter` accepts. An app with no usable server is skipped at the
  // app level. Returns {nullptr, nullptr} when no server of any admitted app is usable (-> 503).
  // Each admitted set of a route has its own cycle, so weights are exact within each set. When
  // no app a rule admitted has a usable server, the route's entries without `when` are tried.
  Pick pick(const RouteTable& table, const Route& route, const ServerFilter& filter,
            uint64_t admitted = ~uint64_t{0});

  // Drops cursors of routes/apps not seen for a while. Called on table change; sweeps at most
  // once per kIdlePicks picks.
  void prune();

 private:
  Pick pick_among(const RouteTable& table, const Route& route, const ServerFilter& filter, uint64_t admitted);

  struct Cursor {
    uint64_t id = 0;   // Route::id or App::id this state belongs to
    SmoothWrr wrr;
    uint64_t last_used = 0;  // pick() count at last use, for prune()
  };
  struct RuleKey {
    uint64_t route_id;  // Route::id
    uint64_t admitted;  // the admitted set this cycle runs over
    bool operator==(const RuleKey&) const = default;
  };
  struct RuleKeyHash {
    size_t operator()(const RuleKey& k) const { return std::hash<uint64_t>()(k.route_id * 0x9E3779B97F4A7C15ull ^ k.admitted); }
  };
  std::unordered_map<uint64_t, Cursor> route_cursors_;  // key: Route::id (routes without rules)
  std::unordered_map<RuleKey, Cursor, RuleKeyHash> rule_cursors_;  // routes with rules: per admitted set
  std::unordered_map<uint64_t, Cursor> app_cursors_;    // key: App::id
  uint64_t picks_ = 0;
  uint64_t last_prune_ = 0;  // picks_ at the last sweep
  std::vector<bool> scratch_eligible_;
  std::vector<uint32_t> scratch_weights_;
};

}  // namespace turnout
