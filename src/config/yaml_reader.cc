#include "yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <set>

#include <fmt/format.h>

#include "turnout/common/utf8.h"

namespace turnout::config_detail {

namespace {

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "empty";
    default: return "'" + n.Scalar() + "'";
  }
}

}  // namespace

MapView::MapView(YamlReader& reader, const YAML::Node& node, std::string path,
                 std::initializer_list<const char*> allowed, bool null_ok)
    : reader_(reader), node_(node), path_(std::move(path)) {
  if (null_ok && (!node.IsDefined() || node.IsNull())) {
    valid_ = true;
    return;
  }
  if (!node.IsMap()) {
    reader_.error(node, path_.empty() ? "(top level)" : path_, "must be a map, not " + describe(node));
    return;
  }
  valid_ = true;
  std::set<std::string> seen;
  for (const auto& kv : node) {
    const YAML::Node& k = kv.first;
    if (!k.IsScalar()) {
      reader_.error(k, path_, "keys must be plain strings");
      continue;
    }
    const std::string& name = k.Scalar();
    std::string key_path = child(name);
    bool known = std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return name == a; });
    if (!known) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      reader_.error(k, key_path, "unknown key (expected one of: " + list + ")");
      continue;
    }
    if (!seen.insert(name).second) {
      reader_.error(k, key_path, "duplicate key");
      continue;
    }
    entries_.emplace_back(name, kv.second);
  }
}

YAML::Node MapView::get(std::string_view key) const {
  for (const auto& [name, value] : entries_)
    if (name == key) return value;
  return YAML::Node(YAML::NodeType::Undefined);
}

YAML::Node MapView::require(std::string_view key) const {
  YAML::Node n = get(key);
  if (!n.IsDefined() && valid_) {
    int line = node_.IsDefined() ? reader_.line_of(node_) : 0;
    reader_.error_at_line(line == 0 ? 1 : line, child(key), "required key is missing");
  }
  return n;
}

std::string MapView::child(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

int YamlReader::line_of(const YAML::Node& n) const {
  if (!n.IsDefined()) return 0;
  YAML::Mark m = n.Mark();
  if (m.line < 0) return 0;
  if (!n.IsNull() || m.pos < 0 || static_cast<size_t>(m.pos) > text_.size()) return m.line + 1;
  // An empty value ("key:" then a newline) is marked at the token after it. Walk back to the
  // last line with content before that token, skipping blank and comment-only lines.
  size_t end = static_cast<size_t>(m.pos);
  int line = m.line;
  while (true) {
    size_t nl = end == 0 ? std::string_view::npos : text_.rfind('\n', end - 1);
    size_t start = nl == std::string_view::npos ? 0 : nl + 1;
    std::string_view part = text_.substr(start, end - start);
    size_t first = part.find_first_not_of(" \t\r");
    bool empty = first == std::string_view::npos || (part[first] == '#' && line != m.line);
    if (!empty || start == 0) return line + 1;
    end = start - 1;  // the '\n' ending the previous line
    --line;
  }
}

void YamlReader::error(const YAML::Node& at, std::string key, std::string message) {
  int column = at.IsDefined() ? std::max(at.Mark().column, 0) : 0;
  errors_.push_back({column, errors_.size(), ConfigError{file_, line_of(at), std::move(key), std::move(message)}});
}

void YamlReader::warn(const YAML::Node& at, std::string key, std::string message) {
  warnings_.push_back(ConfigError{file_, line_of(at), std::move(key), std::move(message)});
}

void YamlReader::error_at_line(int line, std::string key, std::string message) {
  errors_.push_back({0, errors_.size(), ConfigError{file_, line, std::move(key), std::move(message)}});
}

std::vector<ConfigError> YamlReader::take_errors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const Entry& a, const Entry& b) {
    if (a.error.line != b.error.line) return a.error.line < b.error.line;
    if (a.column != b.column) return a.column < b.column;
    return a.seq < b.seq;
  });
  std::vector<ConfigError> out;
  out.reserve(errors_.size());
  for (auto& e : errors_) out.push_back(std::move(e.error));
  errors_.clear();
  return out;
}

std::optional<std::string> YamlReader::string(const YAML::Node& n, const std::string& key, bool allow_empty) {
  if (!n.IsScalar()) {
    error(n, key, "must be a string, not " + describe(n));
    return std::nullopt;
  }
  if (!allow_empty && n.Scalar().empty()) {
    error(n, key, "must not be empty");
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<uint64_t> YamlReader::integer(const YAML::Node& n, const std::string& key, uint64_t min,
                                            uint64_t max) {
  std::string range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (!n.IsScalar()) {
    error(n, key, "must be " + range + ", not " + describe(n));
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || v < min || v > max) {
    error(n, key, "must be " + range + ", not '" + s + "'");
    return std::nullopt;
  }
  return v;
}

std::optional<bool> YamlReader::boolean(const YAML::Node& n, const std::string& key) {
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (s == "true" || s == "True" || s == "TRUE" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "False" || s == "FALSE" || s == "no" || s == "off") return false;
  }
  error(n, key, "must be true or false, not " + describe(n));
  return std::nullopt;
}

std::optional<Millis> YamlReader::duration(const YAML::Node& n, const std::string& key, Millis min) {
  std::optional<Millis> d;
  if (n.IsScalar()) d = parse_duration(n.Scalar());
  if (!d) {
    error(n, key, "must be a duration with a unit (e.g. 250ms, 2s, 1m), not " + describe(n));
    return std::nullopt;
  }
  if (*d < min) {
    error(n, key, "must be at least " + std::to_string(min.count()) + "ms");
    return std::nullopt;
  }
  return d;
}

namespace {

std::string utf8_problem(std::string_view s) {
  size_t at = utf8_error_offset(s);
  return fmt::format("is not valid UTF-8 (byte 0x{:02X} at offset {}); the config must be UTF-8 text",
                     static_cast<unsigned char>(s[at]), at);
}

}  // namespace

void YamlReader::check_utf8(const YAML::Node& n, const std::string& path) {
  std::set<size_t> visited;
  check_utf8(n, path, visited);
}

void YamlReader::check_utf8(const YAML::Node& n, const std::string& path, std::set<size_t>& visited) {
  // An alias is the node it names, at the anchor's position: visiting each position once keeps
  // the walk linear in the text, even for an alias inside its own anchor (a cycle) or aliases
  // nested to make exponentially many paths.
  if ((n.IsMap() || n.IsSequence()) && !visited.insert(static_cast<size_t>(n.Mark().pos)).second) return;
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      if (!is_valid_utf8(n.Scalar())) error(n, path.empty() ? "(top level)" : path, "value " + utf8_problem(n.Scalar()));
      break;
    case YAML::NodeType::Sequence:
      for (size_t i = 0; i < n.size(); ++i) check_utf8(n[i], path + "[" + std::to_string(i) + "]", visited);
      break;
    case YAML::NodeType::Map:
      for (const auto& kv : n) {
        const YAML::Node& k = kv.first;
        if (!k.IsScalar()) continue;  // the section readers report non-scalar keys
        if (!is_valid_utf8(k.Scalar())) {
          error(k, path.empty() ? "(top level)" : path, "a key " + utf8_problem(k.Scalar()));
          continue;  // its value would be reported under an unprintable path
        }
        check_utf8(kv.second, path.empty() ? k.Scalar() : path + "." + k.Scalar(), visited);
      }
      break;
    default:
      break;
  }
}

}  // namespace turnout::config_detail
