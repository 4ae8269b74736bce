#include "turnout/proxy/app_live.h"

namespace turnout {

size_t latency_bucket(uint64_t us) {
  double s = static_cast<double>(us) / 1e6;
  size_t i = 0;
  while (i < kLatencyBounds.size() && s > kLatencyBounds[i]) ++i;
  return i;
}

uint64_t AppLiveCounts::latency_count() const {
  uint64_t n = 0;
  for (uint64_t b : latency) n += b;
  return n;
}

AppLiveCounts& AppLiveCounts::operator+=(const AppLiveCounts& o) {
  responses += o.responses;
  errors += o.errors;
  for (size_t i = 0; i < latency.size(); ++i) latency[i] += o.latency[i];
  latency_sum_us += o.latency_sum_us;
  return *this;
}

AppLiveCounts AppLiveCounts::operator-(const AppLiveCounts& o) const {
  AppLiveCounts d;
  d.responses = responses - o.responses;
  d.errors = errors - o.errors;
  for (size_t i = 0; i < latency.size(); ++i) d.latency[i] = latency[i] - o.latency[i];
  d.latency_sum_us = latency_sum_us - o.latency_sum_us;
  return d;
}

double AppLiveCounts::latency_quantile(double q) const {
  uint64_t total = latency_count();
  if (total == 0) return -1;
  // The rank of the wanted observation (1-based), at least the first.
  double rank = q * static_cast<double>(total);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < latency.size(); ++i) {
    if (latency[i] == 0) continue;
    if (static_cast<double>(seen + latency[i]) >= rank) {
      if (i == kLatencyBounds.size()) return kLatencyBounds.back();
      double lo = i == 0 ? 0.0 : kLatencyBounds[i - 1];
      double hi = kLatencyBounds[i];
      double frac = (rank - static_cast<double>(seen)) / static_cast<double>(latency[i]);
      return lo + (hi - lo) * frac;
    }
    seen += latency[i];
  }
  return kLatencyBounds.back();
}

}  // namespace turnout
