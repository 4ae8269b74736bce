#include "turnout/balance/balancer.h"

#include <algorithm>

namespace turnout {

namespace {

// A cursor unused for this many picks is dropped by prune(); a route that comes back simply
// starts a fresh cycle.
constexpr uint64_t kIdlePicks = 1 << 16;

}  // namespace

int SmoothWrr::next(std::span<const uint32_t> weights, const std::vector<bool>& eligible) {
  // A size change means the owner reused the state for other items: start over.
  if (current_.size() != weights.size()) current_.assign(weights.size(), 0);
  int best = -1;
  int64_t total = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (!eligible[i]) continue;
    current_[i] += weights[i];
    total += weights[i];
    // Strictly greater: ties go to the earliest item, as in nginx.
    if (best < 0 || current_[i] > current_[static_cast<size_t>(best)]) best = static_cast<int>(i);
  }
  if (best >= 0) current_[static_cast<size_t>(best)] -= total;
  return best;
}

namespace {

bool has_usable_server(const App& app, const ServerFilter& filter) {
  for (const Server& server : app.servers)
    if (filter.usable(server)) return true;
  return false;
}

}  // namespace

Balancer::Pick Balancer::pick(const RouteTable& table, const Route& route, const ServerFilter& filter,
                              uint64_t admitted) {
  Pick chosen = pick_among(table, route, filter, admitted);
  // The apps a rule sends this request to have no usable server: the request is served like one
  // meeting no rule, rather than failed (a canary that is down does not take its testers down).
  if (chosen.server == nullptr && route.has_rules && admitted != route.plain_entries && route.plain_entries != 0)
    chosen = pick_among(table, route, filter, route.plain_entries);
  return chosen;
}

Balancer::Pick Balancer::pick_among(const RouteTable& table, const Route& route, const ServerFilter& filter,
                                    uint64_t admitted) {
  ++picks_;
  const App* app = nullptr;
  // Bits past the 64th never restrict: only routes without rules have that many entries.
  auto is_admitted = [admitted](size_t i) { return i >= 64 || (admitted >> i) & 1; };
  if (route.apps.size() == 1) {
    if (!is_admitted(0)) return {};
    app = table.find_app(route.apps.front().app);
    if (app == nullptr) return {};
  } else {
    scratch_weights_.clear();
    scratch_eligible_.clear();
    const App* candidates[64];  // apps resolved once; larger routes resolve again after the pick
    const size_t cached = std::min<size_t>(route.apps.size(), 64);
    bool any = false;
    for (size_t i = 0; i < route.apps.size(); ++i) {
      const App* candidate = table.find_app(route.apps[i].app);
      if (i < cached) candidates[i] = candidate;
      bool usable = is_admitted(i) && candidate != nullptr && has_usable_server(*candidate, filter);
      any = any || usable;
      scratch_weights_.push_back(route.apps[i].weight);
      scratch_eligible_.push_back(usable);
    }
    if (!any) return {};
    Cursor& cursor = route.has_rules ? rule_cursors_[RuleKey{route.id, admitted}] : route_cursors_[route.id];
    cursor.id = route.id;
    cursor.last_used = picks_;
    int index = cursor.wrr.next(scratch_weights_, scratch_eligible_);
    if (index < 0) return {};
    app = static_cast<size_t>(index) < cached ? candidates[index] : table.find_app(route.apps[static_cast<size_t>(index)].app);
  }

  if (app->servers.size() == 1) {
    const Server& only = app->servers.front();
    return filter.usable(only) ? Pick{app, &only} : Pick{};
  }
  scratch_weights_.clear();
  scratch_eligible_.clear();
  bool any = false;
  for (const Server& server : app->servers) {
    bool usable = filter.usable(server);
    any = any || usable;
    scratch_weights_.push_back(server.weight);
    scratch_eligible_.push_back(usable);
  }
  if (!any) return {};
  Cursor& cursor = app_cursors_[app->id];
  cursor.id = app->id;
  cursor.last_used = picks_;
  int index = cursor.wrr.next(scratch_weights_, scratch_eligible_);
  if (index < 0) return {};
  return Pick{app, &app->servers[static_cast<size_t>(index)]};
}

void Balancer::prune() {
  // Amortised: a sweep visits every cursor (one per multi-app route picked, up to the route
  // count), so it runs at most once per kIdlePicks picks, not on every table change — a stream
  // of changes on a million-route table must not pay a million-entry sweep each.
  if (picks_ - last_prune_ < kIdlePicks) return;
  last_prune_ = picks_;
  auto drop_idle = [this](std::unordered_map<uint64_t, Cursor>& cursors) {
    for (auto it = cursors.begin(); it != cursors.end();) {
      if (picks_ - it->second.last_used > kIdlePicks)
        it = cursors.erase(it);
      else
        ++it;
    }
  };
  drop_idle(route_cursors_);
  drop_idle(app_cursors_);
  for (auto it = rule_cursors_.begin(); it != rule_cursors_.end();) {
    if (picks_ - it->second.last_used > kIdlePicks)
      it = rule_cursors_.erase(it);
    else
      ++it;
  }
}

}  // namespace turnout
