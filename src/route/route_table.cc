#include "turnout/route/route_table.h"

#include <arpa/inet.h>

#include <cstring>

namespace turnout {

const Route* RouteTable::lookup(std::string_view host) const {
  if (const RoutePtr* exact = exact_.find(host)) return exact->get();
  // Longest wildcard first: the suffix after the first dot is the longest candidate. IP
  // literals in brackets never match a wildcard.
  if (!wildcard_.empty() && !host.empty() && host.front() != '[') {
    for (size_t dot = host.find('.'); dot != std::string_view::npos; dot = host.find('.', dot + 1)) {
      if (dot == 0) continue;  // "*.x" needs at least one label before ".x"
      if (const RoutePtr* wild = wildcard_.find(host.substr(dot + 1))) return wild->get();
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

bool valid_route_key(std::string_view key) {
  if (key.empty()) return false;
  if (key.front() == '[') return key.size() > 2 && key.back() == ']' && valid_ipv6_literal(key.substr(1, key.size() - 2));
  if (key.substr(0, 2) == "*.") key.remove_prefix(2);
  return valid_hostname(key);
}

}  // namespace turnout
