// LiveWindow: the last few seconds of traffic, for the figures an operator reads — requests per
// second, error rate, no-route requests, and per app its rate, error rate and latency
// percentiles. The main loop feeds it the running totals (merged from the workers' snapshots)
// on every stats collection; it keeps one sample per second for kSpan and answers with the
// difference between now and the oldest sample, so the workers only ever count.
//
// The single source of `ctl status`, `ctl apps`, /v1/status, /v1/apps and the status page, so
// they agree. Owned by ProxyServer; main loop only.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "turnout/proxy/app_live.h"

namespace turnout {

class LiveWindow {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kSpan{10};  // how far back rates look
  static constexpr std::chrono::seconds kStep{1};   // one stored sample per step

  // Running totals since start.
  struct Totals {
    uint64_t requests = 0;   // request heads
    uint64_t responses = 0;  // responses of any status
    uint64_t errors = 0;     // 5xx responses
    uint64_t no_route = 0;   // 404 for hosts nothing serves
    std::map<std::string, AppLiveCounts> apps;
  };

  struct Rates {
    double seconds = 0;          // length of the window the figures cover (0: not yet known)
    double requests_per_second = 0;
    double error_rate = 0;       // errors / responses in the window, 0..1
    double no_route_per_second = 0;
    uint64_t no_route = 0;       // in the window
  };
  struct AppRates {
    double seconds = 0;
    double requests_per_second = 0;  // responses per second
    double error_rate = 0;           // 0..1
    double p50_ms = -1;              // -1: no latency measured in the window
    double p99_ms = -1;
    double mean_ms = -1;
  };

  // Whether sample() would store a sample at `now` (a step has passed since the last one), so
  // the caller builds the totals only then.
  bool due(Clock::time_point now) const { return samples_.empty() || now - samples_.back().at >= kStep; }
  // Records the totals at `now` (stored when due).
  void sample(Clock::time_point now, const Totals& totals);
  // Figures over the window ending at `now`, against the current `totals`.
  Rates rates(Clock::time_point now, const Totals& totals) const;
  AppRates app_rates(Clock::time_point now, const std::string& app, const AppLiveCounts& current) const;

 private:
  struct Sample {
    Clock::time_point at;
    Totals totals;
  };
  std::deque<Sample> samples_;  // oldest first, spaced by >= kStep, spanning about kSpan
};

}  // namespace turnout
