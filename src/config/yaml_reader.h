// YamlReader: the generic half of the config loader — walks yaml-cpp nodes, turns every problem
// into a ConfigError (file, line, dotted key) and keeps going, so one run lists every error.
// Private to src/config/; owned by one load_config() call on the main thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "turnout/config/config_loader.h"

namespace turnout::config_detail {

class YamlReader;

// The checked keys of one YAML map: unknown and duplicate keys are reported on construction,
// later lookups see only the first occurrence of each allowed key.
class MapView {
 public:
  // Reports "must be a map" unless `node` is a map (or null when `null_ok`: then it is empty).
  MapView(YamlReader& reader, const YAML::Node& node, std::string path, std::initializer_list<const char*> allowed,
          bool null_ok = false);

  bool valid() const { return valid_; }
  const std::string& path() const { return path_; }
  // The value under `key`, or an undefined node when absent.
  YAML::Node get(std::string_view key) const;
  // Same, reporting "required key is missing" (at the map's line) when absent.
  YAML::Node require(std::string_view key) const;
  // "path.key" (or "key" at the root).
  std::string child(std::string_view key) const;

 private:
  YamlReader& reader_;
  YAML::Node node_;
  std::string path_;
  bool valid_ = false;
  std::vector<std::pair<std::string, YAML::Node>> entries_;  // allowed keys, first occurrence, file order
};

class YamlReader {
 public:
  // `text` is the whole document (kept by the caller for the reader's life), used to place
  // errors about empty values, whose yaml-cpp mark points at the next token instead.
  YamlReader(std::string file, std::string_view text) : file_(std::move(file)), text_(text) {}

  // Records an error at `at`'s line (or `fallback_line` when the node carries no mark).
  void error(const YAML::Node& at, std::string key, std::string message);
  void error_at_line(int line, std::string key, std::string message);
  bool failed() const { return !errors_.empty(); }
  // Records something `run` accepts but an operator must fix (see LoadResult::warnings).
  void warn(const YAML::Node& at, std::string key, std::string message);
  std::vector<ConfigError> take_warnings() { return std::move(warnings_); }
  // Every error so far, sorted into file order.
  std::vector<ConfigError> take_errors();

  // Typed scalar readers: report a typed error and return nullopt on a mismatch.
  std::optional<std::string> string(const YAML::Node& n, const std::string& key, bool allow_empty = false);
  std::optional<uint64_t> integer(const YAML::Node& n, const std::string& key, uint64_t min, uint64_t max);
  std::optional<bool> boolean(const YAML::Node& n, const std::string& key);
  std::optional<Millis> duration(const YAML::Node& n, const std::string& key, Millis min);

  int line_of(const YAML::Node& n) const;  // 1-based, 0 when unknown

  // Reports every key and scalar under `n` that is not valid UTF-8. yaml-cpp passes such bytes
  // through; the rest of turnout (admin JSON, state file) speaks UTF-8 only.
  void check_utf8(const YAML::Node& n, const std::string& path);

 private:
  void check_utf8(const YAML::Node& n, const std::string& path, std::set<size_t>& visited);

  struct Entry {
    int column;
    uint64_t seq;
    ConfigError error;
  };
  std::string file_;
  std::string_view text_;
  std::vector<Entry> errors_;
  std::vector<ConfigError> warnings_;  // in the order found (file order within a section)
};

}  // namespace turnout::config_detail
