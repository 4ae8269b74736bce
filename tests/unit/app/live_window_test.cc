#include "turnout/app/live_window.h"

#include <doctest/doctest.h>

using namespace turnout;
using namespace std::chrono_literals;

TEST_CASE("latency buckets and quantiles") {
  CHECK(latency_bucket(0) == 0);
  CHECK(latency_bucket(500) == 0);     // 0.5 ms is the first bound, inclusive
  CHECK(latency_bucket(501) == 1);
  CHECK(latency_bucket(20000) == 5);   // 20 ms -> (10, 25] ms
  CHECK(latency_bucket(10'000'000) == kLatencyBounds.size());  // +Inf
  AppLiveCounts c;
  CHECK(c.latency_quantile(0.5) == -1);
  c.latency[latency_bucket(20000)] = 99;
  c.latency[latency_bucket(3'000'000)] = 1;
  CHECK(c.latency_quantile(0.5) > 0.010);
  CHECK(c.latency_quantile(0.5) <= 0.025);
  CHECK(c.latency_quantile(0.99) <= 0.025);
  CHECK(c.latency_quantile(1.0) == kLatencyBounds.back());
}

TEST_CASE("rates cover the window since the oldest sample, about ten seconds") {
  LiveWindow w;
  auto t0 = LiveWindow::Clock::time_point{} + 1000s;
  LiveWindow::Totals tot;
  w.sample(t0, tot);
  // 20 s at 100 requests per second, 10% errors, one no-route request per second.
  for (int s = 1; s <= 20; ++s) {
    tot.requests += 100;
    tot.responses += 100;
    tot.errors += 10;
    tot.no_route += 1;
    AppLiveCounts& a = tot.apps["web"];
    a.responses += 100;
    a.errors += 10;
    a.latency[latency_bucket(20000)] += 100;
    a.latency_sum_us += 100 * 20000;
    w.sample(t0 + std::chrono::seconds(s), tot);
    w.sample(t0 + std::chrono::seconds(s) + 250ms, tot);  // ignored: within the step
  }
  auto now = t0 + 20s;
  auto r = w.rates(now, tot);
  CHECK(r.seconds >= 10);
  CHECK(r.seconds <= 11);
  CHECK(r.requests_per_second == doctest::Approx(100));
  CHECK(r.error_rate == doctest::Approx(0.1));
  CHECK(r.no_route_per_second == doctest::Approx(1));
  auto a = w.app_rates(now, "web", tot.apps["web"]);
  CHECK(a.requests_per_second == doctest::Approx(100));
  CHECK(a.error_rate == doctest::Approx(0.1));
  CHECK(a.mean_ms == doctest::Approx(20));
  CHECK(a.p50_ms > 10);
  CHECK(a.p50_ms <= 25);
  // Traffic stops: after the window has passed, the rates fall to zero.
  for (int s = 21; s <= 35; ++s) w.sample(t0 + std::chrono::seconds(s), tot);
  auto quiet = w.rates(t0 + 35s, tot);
  CHECK(quiet.requests_per_second == 0);
  auto qa = w.app_rates(t0 + 35s, "web", tot.apps["web"]);
  CHECK(qa.requests_per_second == 0);
  CHECK(qa.p99_ms == -1);
  // An app never seen has no figures.
  CHECK(w.app_rates(t0 + 35s, "other", AppLiveCounts{}).requests_per_second == 0);
}
