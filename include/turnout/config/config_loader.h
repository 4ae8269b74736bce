// load_config(): YAML file -> validated Config, or every error found, each naming file, line and key.
// The only place in turnout that catches yaml-cpp exceptions. Main thread only (may resolve names).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "turnout/config/config.h"

namespace turnout {

struct ConfigError {
  std::string file;     // path as given
  int line = 0;         // 1-based; 0 when unknown (e.g. file unreadable)
  std::string key;      // dotted path of the offending key, e.g. "apps.example.servers[1]"
  std::string message;  // what is wrong
  // "conf/turnout.yaml:12: apps.example.servers[1]: invalid port in '127.0.0.1:99999'"
  std::string to_string() const;
};

struct LoadResult {
  std::optional<Config> config;     // set iff errors is empty
  std::vector<ConfigError> errors;  // every error found, in file order
  // What `run` serves anyway but an operator must fix (an expired certificate): logged by `run`
  // and reload, and an error for `check`, the gate before a deploy.
  std::vector<ConfigError> warnings;
  bool ok() const { return config.has_value(); }
};

// Reads and validates the file at `path`.
LoadResult load_config(const std::string& path);

// Validates YAML text; `path` is only used in error messages and Config::path.
LoadResult parse_config(std::string_view yaml_text, const std::string& path);

// "250ms", "2s", "1m" -> milliseconds; nullopt when malformed.
std::optional<Millis> parse_duration(std::string_view text);

// Hash used to tie a state file to the config it was built on (FNV-1a 64, hex).
std::string hash_bytes(std::string_view bytes);

}  // namespace turnout
