// `ctl export` (admin/table_export.h): the live table as config YAML that reads back as the
// same table.
#include "turnout/admin/table_export.h"

#include <doctest/doctest.h>

#include <string>

#include "turnout/route/route_builder.h"

using namespace turnout;

TEST_CASE("export: sorted YAML with weights, health and the default app") {
  Config c;
  c.apps["green"] = AppSpec{{{"127.0.0.1:9002", 3}}, HealthSpec{"/health", Millis(2000), Millis(500), 2, 3}};
  c.apps["blue"] = AppSpec{{{"127.0.0.1:9001", 1}, {"unix:/run/blue.sock", 2}}, std::nullopt};
  c.apps["empty"] = AppSpec{{}, std::nullopt};
  c.routes["www.example.com"] = {{"blue", 1}};
  c.routes["*.example.org"] = {{"blue", 1}, {"green", 9}};
  c.default_app = "green";
  auto t = build_table(c, 7);
  REQUIRE(t.ok());
  CHECK(export_table_yaml(**t) ==
        "# turnout routing table, version 7: the apps, routes and default_app\n"
        "# sections of a config file (turnout ctl export).\n"
        "apps:\n"
        "  \"blue\":\n"
        "    servers: [{addr: \"127.0.0.1:9001\", weight: 1}, {addr: \"unix:/run/blue.sock\", weight: 2}]\n"
        "  \"empty\":\n"
        "    servers: []\n"
        "  \"green\":\n"
        "    servers: [{addr: \"127.0.0.1:9002\", weight: 3}]\n"
        "    health: {path: \"/health\", interval: 2000ms, timeout: 500ms, rise: 2, fall: 3}\n"
        "routes:\n"
        "  \"*.example.org\": [{app: \"blue\", weight: 1}, {app: \"green\", weight: 9}]\n"
        "  \"www.example.com\": [{app: \"blue\", weight: 1}]\n"
        "default_app: \"green\"\n");
}
