// libFuzzer target: parse_config(yaml_text, "fuzz.yaml"), the config loader over arbitrary text.
//
// Invariants checked:
//  - nothing is thrown out of parse_config (yaml-cpp throws; only config/ may catch);
//  - ok() exactly when there are no errors; every error names fuzz.yaml, a line within the text
//    (or 0), and says something;
//  - a config that validates is usable: at least one listener, every route's app exists with a
//    weight >= 1, default_app exists, and build_table() accepts it (validate, then swap: a reload
//    that passed validation must never fail while building the table);
//  - that table survives the state file: its snapshot reads back as the same table.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "turnout/http/error_status.h"
#include "fuzz_check.h"
#include "fuzz_durable.h"
#include "turnout/config/config_loader.h"
#include "turnout/route/route_builder.h"

using namespace turnout;
using namespace turnout::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  LoadResult r;
  try {
    r = parse_config(text, "fuzz.yaml");
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "parse_config threw %s", e.what());
  } catch (...) {
    FUZZ_CHECK(false, "parse_config threw a non-std exception");
  }

  FUZZ_CHECK(r.ok() == r.errors.empty(), "ok()=%d with %zu errors", r.ok(), r.errors.size());
  size_t lines = 1;
  for (char c : text) lines += c == '\n';
  for (const ConfigError& e : r.errors) {
    FUZZ_CHECK(e.file == "fuzz.yaml", "error names file '%s'", e.file.c_str());
    FUZZ_CHECK(e.line >= 0 && static_cast<size_t>(e.line) <= lines + 1, "error line %d in a %zu-line text (%s)",
               e.line, lines, e.message.c_str());
    FUZZ_CHECK(!e.message.empty(), "error without a message (key '%s')", e.key.c_str());
    std::string s = e.to_string();
    FUZZ_CHECK(s.rfind("fuzz.yaml", 0) == 0, "to_string '%s'", s.c_str());
  }
  if (!r.ok()) return 0;

  const Config& cfg = *r.config;
  FUZZ_CHECK(cfg.path == "fuzz.yaml", "Config::path '%s'", cfg.path.c_str());
  FUZZ_CHECK(cfg.content_hash == hash_bytes(text), "content hash is not of the text");
  FUZZ_CHECK(!cfg.listen.empty(), "valid config without a listener");
  FUZZ_CHECK(cfg.workers >= 1, "valid config with %u workers", cfg.workers);
  for (const auto& [host, targets] : cfg.routes) {
    FUZZ_CHECK(!targets.empty(), "route '%s' without apps", printable(host).c_str());
    for (const RouteTarget& t : targets) {
      FUZZ_CHECK(cfg.apps.count(t.app) == 1, "route '%s' to unknown app '%s'", printable(host).c_str(),
                 printable(t.app).c_str());
      FUZZ_CHECK(t.weight >= 1, "route '%s' app '%s' has weight 0", printable(host).c_str(), printable(t.app).c_str());
    }
  }
  for (const auto& [name, app] : cfg.apps) {
    for (const ServerSpec& s : app.servers) {
      FUZZ_CHECK(s.weight >= 1, "app '%s' server '%s' has weight 0", printable(name).c_str(), printable(s.addr).c_str());
    }
  }
  if (cfg.default_app) {
    FUZZ_CHECK(cfg.apps.count(*cfg.default_app) == 1, "default_app '%s' is not an app",
               printable(*cfg.default_app).c_str());
  }
  Result<RouteTablePtr> table = build_table(cfg, 1);
  FUZZ_CHECK(table.ok(), "config validated but build_table refused it: %s (%d)\n--- config\n%s",
             table.error().message.c_str(), http_status(table.error().kind), printable(text).c_str());
  // With state_file set, this table is the first snapshot: it must load back as itself.
  if (known("state-utf8")) {
    for (const auto& [name, app] : cfg.apps) {
      if (app.health && !valid_utf8(app.health->path)) return 0;
      for (const ServerSpec& s : app.servers) {
        if (!valid_utf8(s.addr)) return 0;
      }
    }
  }
  check_snapshot_round_trip(**table);
  return 0;
}
