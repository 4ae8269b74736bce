// Where a large route table's memory goes: builds the table of scenario (g) (hosts h<i>.r.test ->
// app "a") through the admin API's path (apply_changes, batches of --batch Map changes, the last
// 32 versions kept as TablePublisher does), then measures each structure by itself with
// mallinfo2() deltas: the bytes malloc hands out for it, chunk headers and rounding included.
//
//   route_memory_bench [--routes 1000000] [--batch 10000] [--keep 32] [--bottom-up 1]
//
// Prints `key=value` lines (bench/bench.py and bench/results/route-memory.md read them):
//   stage lines: live heap (uordblks) and RSS after the load, with and without the kept versions,
//   after malloc_trim; structure lines: bytes per route of each part of the current table,
//   each measured on its own copy of the same keys; lever lines: the same table in other layouts
//   (a value that points to an interned app set instead of a Route of its own, and so on), built
//   with the same PersistentMap, so each lever's saving is measured, not estimated.
// --bottom-up 1 instead builds the same table at once from a config (build_table: the map's
// Builder, no path copies) and reports the heap and RSS it leaves, to compare with the batches'.
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "turnout/route/route_builder.h"

using namespace turnout;

namespace {

size_t live_heap() { return mallinfo2().uordblks; }
size_t heap_arena() { return mallinfo2().arena; }

size_t rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  size_t kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::strncmp(line, "VmRSS:", 6) == 0) kib = std::strtoull(line + 6, nullptr, 10);
  std::fclose(f);
  return kib;
}

std::string host_of(size_t i) { return "h" + std::to_string(i) + ".r.test"; }

void stage(const char* name, size_t routes, size_t heap, size_t base) {
  std::printf("stage=%s routes=%zu heap_bytes=%zu heap_per_route=%.1f arena_bytes=%zu rss_kib=%zu\n", name, routes,
              heap - base, routes ? double(heap - base) / double(routes) : 0.0, heap_arena(), rss_kib());
}

void part(const char* name, size_t routes, size_t bytes, const char* how) {
  std::printf("part=%s bytes=%zu per_route=%.1f how=\"%s\"\n", name, bytes, double(bytes) / double(routes), how);
}

// Live heap bytes `make` leaves allocated: what the structure it builds costs.
template <class Make>
size_t cost(Make&& make) {
  size_t before = live_heap();
  make();
  return live_heap() - before;
}

}  // namespace

int main(int argc, char** argv) {
  size_t routes = 1'000'000, batch = 10'000, keep = 32, bottom_up = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    size_t v = std::strtoull(argv[i + 1], nullptr, 10);
    if (k == "--routes") routes = v;
    else if (k == "--batch") batch = v;
    else if (k == "--keep") keep = v;
    else if (k == "--bottom-up") bottom_up = v;
    else {
      std::fprintf(stderr, "usage: route_memory_bench [--routes N] [--batch N] [--keep N] [--bottom-up 1]\n");
      return 2;
    }
  }
  std::printf("sizeof_route=%zu sizeof_route_entry=%zu sizeof_string=%zu sizeof_route_ptr=%zu "
              "sizeof_app=%zu sizeof_server=%zu slot_bytes=%zu\n",
              sizeof(Route), sizeof(RouteEntry), sizeof(std::string), sizeof(RoutePtr), sizeof(App), sizeof(Server),
              2 * sizeof(uint64_t) + sizeof(RoutePtr));

  // ---- the table as the admin API builds it: the bench config's apps, then batches of maps
  Config config;
  config.apps["a"] = AppSpec{{{"127.0.0.1:9001", 1}, {"127.0.0.1:9002", 1}}, std::nullopt, std::nullopt};
  config.apps["a2"] = AppSpec{{{"127.0.0.1:9003", 1}, {"127.0.0.1:9004", 1}}, std::nullopt, std::nullopt};
  config.apps["big"] = AppSpec{{{"127.0.0.1:9005", 1}, {"127.0.0.1:9006", 1}}, std::nullopt, std::nullopt};
  config.routes["a.test"] = {{"a", 1}};
  config.routes["big.test"] = {{"big", 1}};
  if (bottom_up) {
    const size_t before = live_heap();
    Config big = config;
    for (size_t i = 0; i < routes; ++i) big.routes[host_of(i)] = {{"a", 1}};
    auto start = std::chrono::steady_clock::now();
    auto table = build_table(big, 1);
    if (!table) return 1;
    std::printf("build_seconds=%.2f\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    big = Config{};
    stage("bottom_up_current_only", routes, live_heap(), before);
    malloc_trim(0);
    stage("bottom_up_trimmed", routes, live_heap(), before);
    return 0;
  }
  auto first = build_table(config, 1);
  if (!first) {
    std::fprintf(stderr, "build_table: %s\n", first.error().message.c_str());
    return 1;
  }
  std::deque<RouteTablePtr> kept{*first};
  const size_t empty_table = live_heap();
  uint64_t version = 1;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t from = 0; from < routes; from += batch) {
    std::vector<Change> changes;
    changes.reserve(batch);
    for (size_t i = from; i < std::min(routes, from + batch); ++i) {
      Change c;
      c.op = Change::Op::Map;
      c.host = host_of(i);
      c.app = "a";
      changes.push_back(std::move(c));
    }
    auto next = apply_changes(*kept.back(), changes, ++version);
    if (!next) {
      std::fprintf(stderr, "apply_changes: %s\n", next.error().message.c_str());
      return 1;
    }
    kept.push_back(*next);
    while (kept.size() > keep) kept.pop_front();
  }
  double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("load_seconds=%.2f batches=%zu kept=%zu\n", load_s, (routes + batch - 1) / batch, kept.size());
  stage("loaded_with_history", routes, live_heap(), empty_table);
  const size_t with_history = live_heap();

  RouteTablePtr current = kept.back();
  kept.clear();
  stage("loaded_current_only", routes, live_heap(), empty_table);
  const size_t current_only = live_heap();
  std::printf("history_bytes=%zu history_per_route=%.1f\n", with_history - current_only,
              double(with_history - current_only) / double(routes));

  // History after small changes: `keep` single-route changes push the load's versions out; the
  // kept versions then differ from the current one by one path each.
  std::deque<RouteTablePtr> small{current};
  for (size_t i = 0; i < keep; ++i) {
    Change c;
    c.op = Change::Op::Map;
    c.host = host_of(i * 7919 % routes);
    c.app = "a2";
    auto next = apply_changes(*small.back(), std::span<const Change>(&c, 1), ++version);
    if (!next) return 1;
    small.push_back(*next);
    while (small.size() > keep) small.pop_front();
  }
  stage("after_single_changes_history", routes, live_heap(), empty_table);
  std::printf("single_change_history_bytes=%zu\n", live_heap() - current_only);
  small.clear();
  current.reset();  // keep only the measurements below
  stage("table_freed", routes, live_heap(), empty_table);
  std::printf("rss_before_trim_kib=%zu\n", rss_kib());
  malloc_trim(0);
  std::printf("rss_after_trim_kib=%zu\n", rss_kib());

  // ---- each structure of the current table on its own, same keys
  std::vector<std::string> hosts;
  hosts.reserve(routes);
  for (size_t i = 0; i < routes; ++i) hosts.push_back(host_of(i));
  size_t host_heap = 0;
  for (const std::string& h : hosts) host_heap += h.size() > 15 ? h.size() + 1 : 0;

  std::vector<RoutePtr> objs;
  objs.reserve(routes);
  size_t route_blocks = cost([&] {
    for (size_t i = 0; i < routes; ++i) {
      auto r = std::make_shared<Route>();
      r->id = i;
      objs.push_back(std::move(r));
    }
  });
  part("route_object_and_control_block", routes, route_blocks,
       "make_shared<Route>: one block holding the shared_ptr control block and the Route");
  size_t host_strings = cost([&] {
    for (size_t i = 0; i < routes; ++i) const_cast<Route&>(*objs[i]).host = hosts[i];
  });
  part("route_host_string_heap", routes, host_strings,
       "Route::host beyond the 15-byte small-string buffer (0 when every host fits it)");
  size_t entry_vectors = cost([&] {
    for (size_t i = 0; i < routes; ++i) const_cast<Route&>(*objs[i]).apps = {RouteEntry{"a", 1}};
  });
  part("route_entry_vector_heap", routes, entry_vectors, "Route::apps: a vector of one RouteEntry{\"a\", 1} per route");

  PersistentMap<RoutePtr> map;
  size_t nodes = cost([&] {
    for (size_t i = 0; i < routes; ++i) map = map.set(hosts[i], objs[i]);
  });
  part("hamt_nodes", routes, nodes,
       "PersistentMap<RoutePtr> nodes: header, child pointers, 32-byte slots (hash, key offset/length, "
       "shared_ptr) and the key bytes");
  std::printf("structures_total_bytes=%zu structures_per_route=%.1f\n", route_blocks + host_strings + entry_vectors + nodes,
              double(route_blocks + host_strings + entry_vectors + nodes) / double(routes));
  map = {};
  objs.clear();
  objs.shrink_to_fit();

  // ---- levers: the same keys in other layouts, built with the same map
  // 1. Interned app sets: every route with the same targets points at one shared object; the
  //    value is still a shared_ptr (16 bytes), there is no Route object per route.
  {
    auto shared_set = std::make_shared<Route>();
    shared_set->apps = {RouteEntry{"a", 1}};
    PersistentMap<RoutePtr> m;
    size_t b = cost([&] {
      for (size_t i = 0; i < routes; ++i) m = m.set(hosts[i], shared_set);
    });
    part("lever_interned_shared_ptr_value", routes, b,
         "map value = shared_ptr to an interned app set; no Route, host string or vector per route");
  }
  // 2. Interned app sets behind a 4-byte index (the table owns a vector of app sets).
  {
    PersistentMap<uint32_t> m;
    size_t b = cost([&] {
      for (size_t i = 0; i < routes; ++i) m = m.set(hosts[i], 0u);
    });
    part("lever_interned_index_value", routes, b,
         "map value = uint32 index of an interned app set (slot 24 bytes: hash, key offset/length, index)");
  }
  // 3. Routes kept, interned entry vectors (a Route per route, pointing at a shared app set).
  {
    auto shared_set = std::make_shared<const std::vector<RouteEntry>>(std::vector<RouteEntry>{RouteEntry{"a", 1}});
    struct SlimRoute {
      std::shared_ptr<const std::vector<RouteEntry>> apps;
      uint64_t id;
    };
    std::vector<std::shared_ptr<const SlimRoute>> slim;
    slim.reserve(routes);
    size_t b = cost([&] {
      for (size_t i = 0; i < routes; ++i) slim.push_back(std::make_shared<const SlimRoute>(SlimRoute{shared_set, i}));
    });
    part("lever_route_without_host_and_vector", routes, b,
         "a Route object per route that drops its host copy (the key is in the node) and points at an "
         "interned app set: make_shared block only (compare route_object_and_control_block + "
         "route_entry_vector_heap)");
  }
  return 0;
}
