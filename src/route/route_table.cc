#include "turnout/route/route_table.h"

#include <arpa/inet.h>

#include <cstring>

namespace turnout {

namespace {

// The longest path route of one host for `target`: `routes` holds it under `host_key` + path.
// The candidate keys are host_key + the matching form of the path, cut back one segment at a
// time, so each is a prefix of one buffer: no allocation unless the path is long.
const Route* longest_path_route(const PersistentMap<RoutePtr>& routes, std::string_view host_key,
                                std::string_view target) {
  if (target.empty() || target.front() != '/') return nullptr;  // "*", authority form: no path
  constexpr size_t kStackBytes = 1024;
  char stack[kStackBytes];
  std::string heap;
  char* buf = stack;
  if (host_key.size() + target.size() > kStackBytes) {
    heap.resize(host_key.size() + target.size());
    buf = heap.data();
  }
  std::memcpy(buf, host_key.data(), host_key.size());
  const size_t base = host_key.size();
  size_t end = base + normalize_request_path(target, buf + base);
  const size_t longest_key = base + kMaxRoutePathLength;
  while (end > base) {
    // Stored paths never end in '/' ("/api/" matches the key "/api" at the next cut).
    if (buf[end - 1] != '/' && end <= longest_key) {
      if (const RoutePtr* found = routes.find(std::string_view(buf, end))) return found->get();
    }
    size_t cut = end - 1;
    while (cut > base && buf[cut] != '/') --cut;
    end = cut;
  }
  return nullptr;
}

}  // namespace

const Route* RouteTable::lookup(std::string_view host, std::string_view path) const {
  // A host with its own route and no path route: one map lookup, as without path routes.
  if (const RoutePtr* exact = exact_.find(host)) {
    const Route* own = exact->get();
    if (!own->has_path_routes) return own;
    const Route* by_path = longest_path_route(exact_, host, path);
    return by_path != nullptr ? by_path : own;
  }
  // A host with only path routes.
  if (!exact_paths_.empty() && exact_paths_.contains(host)) {
    const Route* by_path = longest_path_route(exact_, host, path);
    return by_path != nullptr ? by_path : default_route_.get();
  }
  // Longest wildcard first: the suffix after the first dot is the longest candidate. IP
  // literals in brackets never match a wildcard.
  if (!wildcard_.empty() && !host.empty() && host.front() != '[') {
    for (size_t dot = host.find('.'); dot != std::string_view::npos; dot = host.find('.', dot + 1)) {
      if (dot == 0) continue;  // "*.x" needs at least one label before ".x"
      std::string_view suffix = host.substr(dot + 1);
      if (const RoutePtr* wild = wildcard_.find(suffix)) {
        const Route* own = wild->get();
        if (!own->has_path_routes) return own;
        const Route* by_path = longest_path_route(wildcard_, suffix, path);
        return by_path != nullptr ? by_path : own;
      }
      if (!wildcard_paths_.empty() && wildcard_paths_.contains(suffix)) {
        const Route* by_path = longest_path_route(wildcard_, suffix, path);
        return by_path != nullptr ? by_path : default_route_.get();
      }
    }
  }
  return default_route_.get();
}

const Route* RouteTable::find_route(std::string_view key) const {
  const RoutePtr* found = key.substr(0, 2) == "*." ? wildcard_.find(key.substr(2)) : exact_.find(key);
  return found != nullptr ? found->get() : nullptr;
}

const App* RouteTable::find_app(std::string_view name) const {
  const AppSlot* slot = apps_.find(name);
  return slot != nullptr ? slot->app.get() : nullptr;
}

AppPtr RouteTable::find_app_ptr(std::string_view name) const {
  const AppSlot* slot = apps_.find(name);
  return slot != nullptr ? slot->app : nullptr;
}

size_t RouteTable::route_count() const { return exact_.size() + wildcard_.size(); }

size_t RouteTable::app_count() const { return apps_.size(); }

uint64_t RouteTable::app_route_count(std::string_view app) const {
  const AppSlot* slot = apps_.find(app);
  return slot != nullptr ? slot->route_refs : 0;
}

void RouteTable::for_each_route(const std::function<void(const Route&)>& fn) const {
  exact_.for_each([&](const std::string&, const RoutePtr& route) { fn(*route); });
  wildcard_.for_each([&](const std::string&, const RoutePtr& route) { fn(*route); });
}

void RouteTable::for_each_app(const std::function<void(const App&)>& fn) const {
  apps_.for_each([&](const std::string&, const AppSlot& slot) { fn(*slot.app); });
}

std::shared_ptr<const RouteTable> RouteTable::with_version(uint64_t version) const {
  auto copy = std::make_shared<RouteTable>(*this);  // copies map roots and pointers only
  copy->version_ = version;
  return copy;
}

bool valid_route_key(std::string_view key) { return !key.empty() && canonical_route_key(key, nullptr) == key; }

}  // namespace turnout
