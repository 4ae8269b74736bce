// Route table micro-benchmark: build time, lookup cost (exact hit, wildcard hit, miss) and the
// cost of one admin change, at 1k, 100k and 1M exact routes (+ 1000 wildcards).
//
// Build (standalone; links the route layer):
//   cmake --build <build-dir> --target turnout_route
//   g++ -std=c++20 -O2 -I include bench/micro/route_match_bench.cc
//       <build-dir>/libturnout_route.a <build-dir>/libturnout_common.a -lfmt -luv -pthread -o route_match_bench
//   ./route_match_bench            # or: ./route_match_bench 1000 100000 (sizes to run)
//   ./route_match_bench --paths    # one host in ten also gets a path route ("hostN.../api")
//
// "hit (random)" looks up keys spread over the whole table (cache-cold at 1M, like a CDN front);
// "hit (hot 1k)" cycles over 1000 hosts (a typical proxy's working set); the std::unordered_map
// column is the same random-hit loop on a plain hash map, for scale. "hot+path" is the hot loop
// with a request path ("/static/app.js?v=1": what a host without path routes pays for being
// asked with a path); "path host" looks up "/api/v1/users" on hosts that have a path route.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "turnout/route/route_builder.h"

using namespace turnout;

// Thread CPU time: the build machines are shared, and wall time would count other processes.
struct Clock {
  using time_point = std::chrono::nanoseconds;
  static time_point now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  }
};

namespace {

constexpr int kWildcards = 1000;
constexpr size_t kLookups = 2'000'000;
bool g_paths = false;  // --paths: one host in ten also has "/api"

double ns_since(Clock::time_point start) {
  return static_cast<double>((Clock::now() - start).count());
}

std::string exact_host(size_t i) { return "host" + std::to_string(i) + ".example.com"; }

Config make_config(size_t routes) {
  Config config;
  config.apps["a"] = AppSpec{{{"127.0.0.1:9001", 1}, {"127.0.0.1:9002", 1}}, std::nullopt};
  config.apps["b"] = AppSpec{{{"127.0.0.1:9101", 1}}, std::nullopt};
  for (size_t i = 0; i < routes; ++i) config.routes[exact_host(i)] = {{i % 2 ? "a" : "b", 1}};
  if (g_paths)
    for (size_t i = 0; i < routes; i += 10) config.routes[exact_host(i) + "/api"] = {{"a", 1}};
  for (int i = 0; i < kWildcards; ++i) config.routes["*.w" + std::to_string(i) + ".example.net"] = {{"a", 1}};
  return config;
}

// ns per lookup over `keys`, repeated to kLookups lookups.
double time_lookups(const RouteTable& table, const std::vector<std::string>& keys, uint64_t& sink,
                    std::string_view path = {}) {
  auto start = Clock::now();
  for (size_t i = 0; i < kLookups; ++i) {
    const Route* route = table.lookup(keys[i % keys.size()], path);
    sink += route != nullptr ? route->id : 1;
  }
  return ns_since(start) / kLookups;
}

struct Row {
  size_t routes;
  double build_ms, hit_random, hit_hot, wildcard, miss, std_random, std_hot, change_us, hot_path, path_host;
};

Row run(size_t n) {
  Row row{};
  row.routes = n;
  std::mt19937_64 rng(42);
  Config config = make_config(n);

  auto start = Clock::now();
  auto built = build_table(config, 1);
  row.build_ms = ns_since(start) / 1e6;
  if (!built) {
    std::fprintf(stderr, "build failed: %s\n", built.error().message.c_str());
    std::exit(1);
  }
  RouteTablePtr table = *built;

  const size_t sample = std::min<size_t>(n, 1'000'000);
  std::vector<std::string> random_hits, hot_hits, wildcard_hits, misses;
  for (size_t i = 0; i < sample; ++i) random_hits.push_back(exact_host(rng() % n));
  for (size_t i = 0; i < 1000; ++i) hot_hits.push_back(exact_host(rng() % n));
  for (size_t i = 0; i < 1000; ++i) wildcard_hits.push_back("x" + std::to_string(i) + ".w" + std::to_string(rng() % kWildcards) + ".example.net");
  for (size_t i = 0; i < 1000; ++i) misses.push_back("nohost" + std::to_string(rng()) + ".example.com");

  uint64_t sink = 0;
  time_lookups(*table, hot_hits, sink);  // warm up
  row.hit_random = time_lookups(*table, random_hits, sink);
  row.hit_hot = time_lookups(*table, hot_hits, sink);
  row.wildcard = time_lookups(*table, wildcard_hits, sink);
  row.miss = time_lookups(*table, misses, sink);
  row.hot_path = time_lookups(*table, hot_hits, sink, "/static/app.js?v=1");
  std::vector<std::string> path_hosts;
  for (size_t i = 0; i < 1000; ++i) path_hosts.push_back(exact_host(rng() % ((n + 9) / 10) * 10));
  row.path_host = time_lookups(*table, path_hosts, sink, "/api/v1/users");

  {
    // The same routes in a plain hash map, each lookup also reading the Route as lookup() callers do.
    std::unordered_map<std::string, RoutePtr> plain;
    plain.reserve(n);
    table->for_each_route([&](const Route& route) { plain.emplace(route.host, RoutePtr(RoutePtr(), &route)); });
    auto t = Clock::now();
    for (size_t i = 0; i < kLookups; ++i) {
      auto it = plain.find(random_hits[i % random_hits.size()]);
      sink += it != plain.end() ? it->second->id : 1;
    }
    row.std_random = ns_since(t) / kLookups;
    t = Clock::now();
    for (size_t i = 0; i < kLookups; ++i) {
      auto it = plain.find(hot_hits[i % hot_hits.size()]);
      sink += it != plain.end() ? it->second->id : 1;
    }
    row.std_hot = ns_since(t) / kLookups;
  }

  // One admin change (map an app beside another on one host), applied to the same base each time.
  const int changes = 2000;
  std::vector<Change> change(1);
  change[0].op = Change::Op::Map;
  change[0].app = "a";
  change[0].weight = 3;
  uint64_t version = 2;
  start = Clock::now();
  for (int i = 0; i < changes; ++i) {
    change[0].host = exact_host(rng() % n);
    auto next = apply_changes(*table, change, version++);
    if (!next) std::exit(1);
    sink += (*next)->version();
  }
  row.change_us = ns_since(start) / changes / 1e3;
  if (sink == 42) std::puts("");  // keeps the loops from being optimised away
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes = {1000, 100000, 1000000};
  std::vector<size_t> asked;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--paths")
      g_paths = true;
    else
      asked.push_back(std::strtoull(argv[i], nullptr, 10));
  }
  if (!asked.empty()) sizes = asked;
  std::printf("%9s %9s %11s %11s %10s %10s %11s %11s %10s %10s %10s\n", "routes", "build ms", "hit random", "hit hot1k",
              "wildcard", "miss", "umap random", "umap hot1k", "change", "hot+path", "path host");
  std::vector<Row> rows;
  for (size_t n : sizes) {
    Row r = run(n);
    rows.push_back(r);
    std::printf("%9zu %9.1f %9.1fns %9.1fns %8.1fns %8.1fns %9.1fns %9.1fns %8.2fus %8.1fns %8.1fns\n", r.routes,
                r.build_ms, r.hit_random, r.hit_hot, r.wildcard, r.miss, r.std_random, r.std_hot, r.change_us,
                r.hot_path, r.path_host);
  }
  if (rows.size() > 1) {
    const Row& small = rows.front();
    const Row& big = rows.back();
    std::printf("lookup cost %zu vs %zu routes: hot hit %.2fx (unordered_map %.2fx), random hit %.2fx (unordered_map %.2fx)\n",
                big.routes, small.routes, big.hit_hot / small.hit_hot, big.std_hot / small.std_hot,
                big.hit_random / small.hit_random, big.std_random / small.std_random);
  }
  return 0;
}
