// Table and change <-> JSON: the form the state file, its journal and the upgrade hand-off carry
// a table version in. Reading is type-checked: a malformed document yields an Error, never a
// throw. Pure functions; main thread (they build tables).
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "turnout/common/error.h"
#include "turnout/route/route_builder.h"
#include "turnout/route/route_table.h"

namespace turnout {

// Table <-> JSON: {"apps": {name: {"servers": [{"addr", "weight"}], "health"?}},
//                  "routes": {host: {app: weight} | [{"app", "weight", "when"?}]},
//                  "default_app": name|null,
//                  "certificates"?: {name: {"cert", "key"}}, "default_certificate"?: name|null}
nlohmann::json table_to_json(const RouteTable& table);
Result<RouteTablePtr> table_from_json(const nlohmann::json& j, uint64_t version);
// One object of a table <-> JSON, in the forms above: an app {"servers", "health"?, "tls"?}, a
// route {app: weight}, a certificate {"cert", "key"} (PEM, the key included). A shared table
// store (fleet/) keeps one such value per key.
nlohmann::json app_to_json(const App& app);
Result<AppSpec> app_spec_from_json(const std::string& name, const nlohmann::json& j);
// A route without rules is {app: weight}; with rules [{"app", "weight", "when"?}] (one app may
// then appear several times); both are read.
nlohmann::json route_to_json(const Route& route);
// A canary rule <-> {"header" | "cookie": NAME, "value": V}; reading validates it
// (check_route_when), `where` prefixes the message.
nlohmann::json when_to_json(const RouteWhen& when);
Result<RouteWhen> when_from_json(const nlohmann::json& j, const std::string& where);
Result<std::vector<RouteTarget>> route_targets_from_json(const std::string& host, const nlohmann::json& j);
nlohmann::json certificate_to_json(const Certificate& cert);
Result<CertificatePtr> certificate_from_json(const std::string& name, const nlohmann::json& j);
// One change (an admin API edit) <-> JSON, as journal lines hold them.
nlohmann::json change_to_json(const Change& c);
Result<Change> change_from_json(const nlohmann::json& j);

}  // namespace turnout
