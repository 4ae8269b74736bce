#include <doctest/doctest.h>

#include <string>

#include "context_fixture.h"

using namespace turnout;

namespace {

using Context = test::ContextFixture;

uint64_t total(const ProxyContext::AppCounts& apps) {
  uint64_t n = 0;
  for (auto& [app, e] : apps)
    for (uint64_t c : e.counts) n += c;
  return n;
}

}  // namespace

TEST_CASE("traffic counters: hosts beyond the cap share one entry, nothing is lost") {
  Context c;
  const size_t cap = ProxyContext::kMaxTrafficHosts;
  for (size_t i = 0; i < cap + 500; ++i) c.ctx->count_traffic("h" + std::to_string(i) + ".test", "web", 2);
  c.ctx->count_traffic("h0.test", "web", 5);           // a host counted by name stays so
  c.ctx->count_traffic("h" + std::to_string(cap + 7) + ".test", "web", 4);  // an overflow host again

  auto& traffic = c.ctx->traffic;
  CHECK(traffic.size() == cap + 1);
  REQUIRE(traffic.count(ProxyContext::kOtherHosts) == 1);
  CHECK(total(traffic.at(ProxyContext::kOtherHosts)) == 501);
  CHECK(traffic.at("h0.test").at("web").counts[2] == 1);
  CHECK(traffic.at("h0.test").at("web").counts[5] == 1);
  CHECK(traffic.count("h" + std::to_string(cap + 1) + ".test") == 0);
  uint64_t all = 0;
  for (auto& [host, apps] : traffic) all += total(apps);
  CHECK(all == cap + 502);
}
