// The apps / routes / default_app sections of turnout.yaml (the part that names things and
// cross-references them). Private to src/config/; called once per load on the main thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>

#include "turnout/config/config.h"
#include "yaml_reader.h"

namespace turnout::config_detail {

// Fills cfg.apps. Every app name seen is entered (even one with errors), so that routes
// naming it do not report a second, misleading "unknown app". Returns false when `apps` is
// not a map at all (then route checks against it are skipped).
bool read_apps(YamlReader& r, const YAML::Node& apps, Config& cfg);

// Fills cfg.routes; `check_apps` false skips unknown-app checks (apps section unusable).
void read_routes(YamlReader& r, const YAML::Node& routes, bool check_apps, Config& cfg);

// Fills cfg.default_app (null -> none).
void read_default_app(YamlReader& r, const YAML::Node& n, bool check_apps, Config& cfg);

// Fills cfg.tls: certificate files are read and checked here (a key that does not match, an
// unreadable file, broken PEM are errors; an expired certificate is a warning).
void read_tls(YamlReader& r, const YAML::Node& n, Config& cfg);

// Fills cfg.etcd from `table_source` (`{etcd: {endpoints, prefix, instance, request_timeout}}`).
void read_table_source(YamlReader& r, const YAML::Node& n, Config& cfg);

// An app's `tls` (towards its servers).
void read_upstream_tls(YamlReader& r, const YAML::Node& n, const std::string& path, AppSpec& app);

// A route key as written -> its stored form (common/path_key.h canonical_route_key); "" when
// invalid, with the reason in `*why`. Valid: a hostname, an IPv4 literal, an "[IPv6]" literal,
// or "*." followed by a hostname, each optionally followed by a "/path" prefix.
std::string normalize_route_key(std::string_view key, std::string* why = nullptr);

}  // namespace turnout::config_detail
