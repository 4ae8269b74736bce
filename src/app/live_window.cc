#include "turnout/app/live_window.h"

namespace turnout {

namespace {
double seconds_between(LiveWindow::Clock::time_point a, LiveWindow::Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
}  // namespace

void LiveWindow::sample(Clock::time_point now, const Totals& totals) {
  if (!due(now)) return;
  samples_.push_back(Sample{now, totals});
  // Keep the newest sample at least kSpan old as the window's start.
  while (samples_.size() > 2 && now - samples_[1].at >= kSpan) samples_.pop_front();
}

LiveWindow::Rates LiveWindow::rates(Clock::time_point now, const Totals& totals) const {
  Rates r;
  if (samples_.empty()) return r;
  const Sample& base = samples_.front();
  double secs = seconds_between(base.at, now);
  if (secs <= 0) return r;
  r.seconds = secs;
  r.requests_per_second = static_cast<double>(totals.requests - base.totals.requests) / secs;
  uint64_t responses = totals.responses - base.totals.responses;
  uint64_t errors = totals.errors - base.totals.errors;
  r.error_rate = responses ? static_cast<double>(errors) / static_cast<double>(responses) : 0.0;
  r.no_route = totals.no_route - base.totals.no_route;
  r.no_route_per_second = static_cast<double>(r.no_route) / secs;
  return r;
}

LiveWindow::AppRates LiveWindow::app_rates(Clock::time_point now, const std::string& app,
                                           const AppLiveCounts& current) const {
  AppRates r;
  if (samples_.empty()) return r;
  const Sample& base = samples_.front();
  double secs = seconds_between(base.at, now);
  if (secs <= 0) return r;
  AppLiveCounts before;
  if (auto it = base.totals.apps.find(app); it != base.totals.apps.end()) before = it->second;
  AppLiveCounts d = current - before;
  r.seconds = secs;
  r.requests_per_second = static_cast<double>(d.responses) / secs;
  r.error_rate = d.responses ? static_cast<double>(d.errors) / static_cast<double>(d.responses) : 0.0;
  if (uint64_t n = d.latency_count()) {
    r.p50_ms = d.latency_quantile(0.5) * 1000;
    r.p99_ms = d.latency_quantile(0.99) * 1000;
    r.mean_ms = static_cast<double>(d.latency_sum_us) / static_cast<double>(n) / 1000;
  }
  return r;
}

}  // namespace turnout
