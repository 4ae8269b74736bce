// RouteTable: one immutable, versioned snapshot of all apps and routes.
//
// Built on the main thread (route_builder.h), published to every worker as a RouteTablePtr,
// pinned by each exchange when its request head is complete. It holds plain data only (no uv
// handles, no pools, no per-worker cursors), so the last reference may drop on any thread.
//
// Structural sharing: routes and apps live in persistent hash maps (persistent_map.h), so a
// table derived from another by one change shares all but O(log n) nodes with it; a change at
// 1M routes costs microseconds and keeping the last versions for rollback costs little memory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "turnout/common/address.h"
#include "turnout/common/host.h"      // normalize_host
#include "turnout/common/path_key.h"  // route keys with a path
#include "turnout/config/config.h"
#include "turnout/route/persistent_map.h"
#include "turnout/tls/certificate_set.h"
#include "turnout/tls/client_tls_context.h"

namespace turnout {

// One backend server in an app.
struct Server {
  std::string addr;       // as configured and normalised: "127.0.0.1:9001", "unix:/run/app.sock"
  SocketAddress address;  // resolved once when the app was built
  uint32_t weight = 1;    // share within the app, >= 1
  // TLS apps: the name sent as SNI and verified (server_name, else the host of addr; "" for a
  // unix socket without server_name: then only the chain is verified).
  std::string tls_name;
  // The worker pools' key: addr for plain servers; for TLS also the name, ca and verify, so a
  // pooled connection is only reused by an app that would have made the same one.
  std::string pool_key;
};

// A named set of servers. Immutable once built; replaced as a whole when it changes.
struct App {
  std::string name;
  std::vector<Server> servers;       // in configured order; may be empty
  std::optional<HealthSpec> health;  // active health check settings, if any
  std::optional<UpstreamTlsSpec> tls;  // speak TLS to the servers (apps.NAME.tls), if set
  // With tls: the client context of its (ca, verify), shared by every app of the table with
  // the same pair and by every worker (SSL_CTX is safe to share for SSL_new).
  std::shared_ptr<const ClientTlsContext> tls_context;
  uint64_t id = 0;                   // unique per App object ever built: lets per-worker state
                                     // (round-robin cursors) notice a replaced app
};
using AppPtr = std::shared_ptr<const App>;

// One app serving a route, and its weight among the route's apps. (app, when) identifies an
// entry: one app may serve a route unconditionally and under several rules.
struct RouteEntry {
  std::string app;      // name of an app present in the same table
  uint32_t weight = 1;  // >= 1
  RouteWhen when;       // Kind::None: for the requests no rule of the route admits
};

// A route key (a hostname or "*.suffix" wildcard, either optionally with a "/path" prefix, or
// the default route) and the apps that serve it.
struct Route {
  // The whole stored key: "example.com", "*.example.org", "example.com/api",
  // "*.example.org/static", or "" for default_app (common/path_key.h canonical_route_key).
  std::string host;
  std::vector<RouteEntry> apps;    // never empty; sorted by (app name, when)
  uint64_t id = 0;                 // unique per Route object ever built (see App::id)
  // A host's own route (no path): true while the same host also has path routes, so lookup
  // only does the path work for such hosts and every other host costs one map lookup.
  bool has_path_routes = false;
  // Set by the builder: some entry has `when` (then apps.size() <= kMaxRuleRouteEntries and the
  // request's headers are read to choose; without rules nothing is read).
  bool has_rules = false;
  uint64_t plain_entries = 0;      // with rules: bit i set when apps[i] has no `when`

  // The path prefix of a "host/path" key ("/api"), "" for a host's own route.
  std::string_view path() const { return route_key_path(host); }
};
using RoutePtr = std::shared_ptr<const Route>;

class RouteTable {
 public:
  uint64_t version() const { return version_; }

  // `host` must already be normalised (normalize_host). The host first: exact match, then the
  // longest matching wildcard ("*.example.org" matches one or more labels before
  // ".example.org"), among hosts with any route (their own or a path route). Within that host,
  // the longest path route whose prefix ends on a segment boundary of `path`'s matching form
  // (common/path_key.h; "/api" matches "/api", "/api/x", "/api?q", never "/apix"), then the
  // host's own route. Else the default route (default_app); nullptr when none applies (-> 404).
  // `path` is the origin-form request target as received ("" or "*": no path). A host with its
  // own route and no path route costs one map lookup as before (Route::has_path_routes); the
  // path is only normalised for hosts that have path routes.
  const Route* lookup(std::string_view host, std::string_view path = {}) const;

  // The route stored under `key` ("example.com", "*.example.org", "example.com/api"), if any.
  const Route* find_route(std::string_view key) const;
  const App* find_app(std::string_view name) const;
  AppPtr find_app_ptr(std::string_view name) const;
  const std::optional<std::string>& default_app() const { return default_app_; }

  size_t route_count() const;  // exact + wildcard routes, with their path routes (not the default)
  size_t app_count() const;
  // Number of routes that map `app` (0 = safe to delete).
  uint64_t app_route_count(std::string_view app) const;

  // Iteration for the admin API and the state file, in unspecified order.
  void for_each_route(const std::function<void(const Route&)>& fn) const;
  void for_each_app(const std::function<void(const App&)>& fn) const;

  // The certificates HTTPS listeners present in this version (never null; empty without TLS).
  // Part of the table so that a certificate change is a version like a route change.
  const CertificateSetPtr& certificates() const { return certificates_; }

  // Same content, another version number: shares everything (rollback makes a new version).
  std::shared_ptr<const RouteTable> with_version(uint64_t version) const;

 private:
  friend class RouteTableBuilder;
  struct AppSlot {
    AppPtr app;               // the app itself
    uint64_t route_refs = 0;  // routes mapping it
  };
  uint64_t version_ = 0;
  PersistentMap<RoutePtr> exact_;      // host -> route
  PersistentMap<RoutePtr> wildcard_;   // suffix after "*." -> route
  // Both maps also hold the path routes, under "host/path" and "suffix/path". Per host part
  // ("example.com", or the suffix of a wildcard), how many path routes it has: the builder sets
  // Route::has_path_routes from it, and lookup finds here the hosts that only have path routes.
  PersistentMap<uint32_t> exact_paths_;
  PersistentMap<uint32_t> wildcard_paths_;
  PersistentMap<AppSlot> apps_;        // name -> app
  std::optional<std::string> default_app_;
  RoutePtr default_route_;             // built from default_app_, or null
  CertificateSetPtr certificates_;     // set by the builder (CertificateSet::empty() when none)
};
using RouteTablePtr = std::shared_ptr<const RouteTable>;

// True for a valid route key in its stored form: a hostname, an IP literal, or "*." followed
// by a hostname, optionally followed by a canonical "/path" (common/path_key.h). Callers
// canonicalise first (canonical_route_key).
bool valid_route_key(std::string_view key);

}  // namespace turnout
