// AppLiveCounts: what an operator asks of an app right now — responses, errors and upstream
// latency. Each worker keeps one per app (ProxyContext::app_live, written on the request path
// with no lock and no atomics); the main loop merges the workers' deltas on demand into totals
// for /metrics, and samples those totals into a short window (app/live_window.h) for rates and
// percentiles in `ctl apps` and the status page. Plain value type, any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace turnout {

// Upper bounds (seconds) of the upstream latency buckets; one more bucket holds the rest (+Inf).
inline constexpr std::array<double, 12> kLatencyBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                          0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
inline constexpr size_t kLatencyBuckets = kLatencyBounds.size() + 1;

// The bucket a latency of `us` microseconds falls in.
size_t latency_bucket(uint64_t us);

struct AppLiveCounts {
  uint64_t responses = 0;       // exchanges ended, whatever the outcome
  uint64_t errors = 0;          // of those: 5xx (turnout's 502/503/504 included) or no response
  std::array<uint64_t, kLatencyBuckets> latency{};  // upstream response time (request sent -> head)
  uint64_t latency_sum_us = 0;  // sum of the latencies counted in `latency`

  uint64_t latency_count() const;
  AppLiveCounts& operator+=(const AppLiveCounts& o);
  AppLiveCounts operator-(const AppLiveCounts& o) const;  // o must be an earlier value of this
  // The q-quantile (0..1) of `latency` in seconds, linearly interpolated inside its bucket
  // (the +Inf bucket reports the last finite bound); -1 when nothing was counted.
  double latency_quantile(double q) const;
};

}  // namespace turnout
