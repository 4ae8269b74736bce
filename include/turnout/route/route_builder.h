// Building RouteTables: from a Config (start, reload) or from the current table plus a list of
// changes (admin API). Validate, then build: a failing change list yields an Error and no table.
// Main thread only (resolves server addresses).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "turnout/common/error.h"
#include "turnout/config/config.h"
#include "turnout/route/route_table.h"

namespace turnout {

// One edit of the table. Several form one atomic version (batch, swap).
struct Change {
  enum class Op {
    Map,           // map `app` to `host` with `weight` (creates or re-weights; idempotent)
    Unmap,         // unmap `app` from `host`; 404 if not mapped (unless `if_present`)
    PutApp,        // create or replace app `app` with `servers`
    DeleteApp,     // delete app `app`; 409 while any route maps it, 404 if unknown
    AddServer,     // add server `addr` (weight `weight`) to `app`; 409 if already there
    RemoveServer,  // remove server `addr` from `app`; 404 if absent
    SetDefault,    // default_app = `app` ("" clears it)
    CertSet,       // add or replace certificate `name` with `certificate`
    CertDelete,    // remove certificate `name`; 404 if unknown, 409 if it is the default
    // Whole-object writes, as a shared table store (fleet/) holds objects rather than edits:
    SetApp,        // create or replace app `app` as a whole: `servers`, `health`, `tls`
    SetRoute,      // route `host` served by exactly `targets` (apps must exist); empty: no route
  };
  Op op = Op::Map;
  std::string host;                 // route key: normalised host or "*.suffix"
  std::string app;                  // app name
  uint32_t weight = 1;              // Map, AddServer
  std::string addr;                 // AddServer, RemoveServer
  std::vector<ServerSpec> servers;  // PutApp
  bool if_present = false;          // Unmap: no error when not mapped (swap uses it)
  std::string name;                 // CertSet, CertDelete: certificate name
  CertificatePtr certificate;       // CertSet: parsed and checked (expiry is the caller's rule)
  std::optional<HealthSpec> health;      // SetApp
  std::optional<UpstreamTlsSpec> tls;    // SetApp
  std::vector<RouteTarget> targets;      // SetRoute
  // Map: the entry (app, when) to add or re-weight. Unmap: none removes every entry of `app`,
  // a rule only the entry with exactly that rule.
  RouteWhen when;
};

const char* op_name(Change::Op op);  // "map", "unmap", "put-app", ...

// The whole table from a validated config.
Result<RouteTablePtr> build_table(const Config& config, uint64_t version);

// `base` with every change applied in order, as `version`. All or nothing: the first failing
// change yields its Error (code 400/404/409) and `base` is untouched.
Result<RouteTablePtr> apply_changes(const RouteTable& base, std::span<const Change> changes, uint64_t version);

}  // namespace turnout
