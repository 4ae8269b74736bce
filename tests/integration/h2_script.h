// Drives tests/integration/h2_client.py, the scripted python3-h2 client of the HTTP/2 suites:
// a JSON spec in (the requests to send, with their fields, bodies and trailers), a JSON account
// of what came back out (streams, headers, trailers, resets, GOAWAY).
#pragma once

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "integration/harness.h"
#include "integration/tls_pki.h"

namespace turnout::test {

// Runs the client against 127.0.0.1:`port` with `spec`; its JSON answer (the test fails if the
// script reports an error or prints no JSON).
inline nlohmann::json h2_client(int port, nlohmann::json spec) {
  spec["port"] = port;
  TempDir d;
  d.write("spec.json", spec.dump());
  Run r = run("/usr/bin/python3 " TURNOUT_SOURCE_DIR "/tests/integration/h2_client.py < " + d.file("spec.json"));
  INFO("h2_client output: " << r.out);
  nlohmann::json out = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(!out.is_discarded());
  REQUIRE(!out.contains("error"));
  return out;
}

}  // namespace turnout::test
