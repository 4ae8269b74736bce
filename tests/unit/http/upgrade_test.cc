#include <doctest/doctest.h>

#include <llhttp.h>

#include <string>

#include "turnout/http/error_status.h"
#include "turnout/http/upgrade.h"
#include "unit/http/head_fields.h"

using namespace turnout;
using namespace turnout::test;

namespace {

// A request as llhttp leaves it: `upgrade` when it saw Upgrade plus "Connection: upgrade".
RequestHead request(Fields fields, bool upgrade = true, uint8_t method = HTTP_GET) {
  RequestHead h;
  h.method = method;
  h.upgrade = upgrade;
  add_fields(h, fields);
  return h;
}

RequestHead decided(Fields fields, bool upgrade = true, uint8_t method = HTTP_GET) {
  RequestHead h = request(fields, upgrade, method);
  decide_request_upgrade(h);
  return h;
}

ResponseHead switching(Fields fields) {
  ResponseHead h;
  h.status = 101;
  h.upgrade = true;
  add_fields(h, fields);
  return h;
}

}  // namespace

TEST_CASE("only WebSocket is relayed; h2c never") {
  CHECK(upgrade_protocol_allowed("websocket"));
  CHECK(upgrade_protocol_allowed("WebSocket"));
  CHECK(upgrade_protocol_allowed("websocket/13"));
  CHECK_FALSE(upgrade_protocol_allowed("h2c"));
  CHECK_FALSE(upgrade_protocol_allowed("H2C"));
  CHECK_FALSE(upgrade_protocol_allowed("h2"));
  CHECK_FALSE(upgrade_protocol_allowed("HTTP/2.0"));
  CHECK_FALSE(upgrade_protocol_allowed("TLS/1.2"));
  CHECK_FALSE(upgrade_protocol_allowed("websocketx"));
  CHECK_FALSE(upgrade_protocol_allowed(""));
}

TEST_CASE("the request's offer keeps the allowed protocols of every Upgrade field, in order") {
  RequestHead ws = decided({{"Host", "a"}, {"Upgrade", "websocket"}, {"Connection", "Upgrade"}});
  CHECK(ws.upgrade);
  CHECK(ws.str(ws.upgrade_protocols) == "websocket");

  RequestHead list = decided({{"Upgrade", "h2c, WebSocket/13 ,, foo"}, {"upgrade", "websocket"}});
  CHECK(list.upgrade);
  CHECK(list.str(list.upgrade_protocols) == "WebSocket/13, websocket");
  // The received fields are untouched (rewrite.cc drops them and writes the offer).
  CHECK(list.value(list.headers[0]) == "h2c, WebSocket/13 ,, foo");
}

TEST_CASE("an offer with nothing turnout relays is no upgrade at all") {
  for (Fields f : {Fields{{"Upgrade", "h2c"}, {"HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"}},
                   Fields{{"Upgrade", "h2c, foo/1"}}, Fields{{"Upgrade", ""}}, Fields{{"Upgrade", " , "}}}) {
    RequestHead h = decided(f);
    CHECK_FALSE(h.upgrade);
    CHECK(h.upgrade_protocols.len == 0);
  }
  // llhttp did not see "Connection: upgrade": nothing to decide.
  RequestHead plain = decided({{"Upgrade", "websocket"}}, false);
  CHECK_FALSE(plain.upgrade);
  CHECK(plain.upgrade_protocols.len == 0);
}

TEST_CASE("CONNECT stays a tunnel request without an Upgrade offer") {
  RequestHead c = decided({{"Host", "db:5432"}}, true, HTTP_CONNECT);
  CHECK(c.upgrade);
  CHECK(c.upgrade_protocols.len == 0);
}

TEST_CASE("a long Upgrade list is filtered without dangling (storage grows while it is read)") {
  std::string many;
  for (int i = 0; i < 200; ++i) many += (i % 3 == 0 ? "websocket, " : "h2c, ");
  RequestHead h = request({{"Upgrade", many}});
  h.storage.shrink_to_fit();  // any append would reallocate
  decide_request_upgrade(h);
  std::string want;
  for (int i = 0; i < 200; i += 3) want += want.empty() ? "websocket" : ", websocket";
  CHECK(h.str(h.upgrade_protocols) == want);
}

TEST_CASE("a 101 switches only to an offered protocol, and only after the whole request") {
  RequestHead ws = decided({{"Upgrade", "websocket"}});
  CHECK(check_switching_protocols(switching({{"Upgrade", "websocket"}}), ws, true));
  CHECK(check_switching_protocols(switching({{"Upgrade", "WebSocket"}}), ws, true));

  auto code = [](const ResponseHead& res, const RequestHead& req, bool complete) {
    auto r = check_switching_protocols(res, req, complete);
    return r ? 0 : http_status(r.error().kind);
  };
  CHECK(code(switching({{"Upgrade", "websocket"}}), ws, false) == 502);       // body still coming
  CHECK(code(switching({{"Upgrade", "h2c"}}), ws, true) == 502);              // not offered
  CHECK(code(switching({{"Upgrade", "websocket, h2c"}}), ws, true) == 502);
  CHECK(code(switching({}), ws, true) == 502);                                // no Upgrade field
  CHECK(code(switching({{"Upgrade", ""}}), ws, true) == 502);

  RequestHead h2c = decided({{"Upgrade", "h2c"}, {"HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"}});
  CHECK(code(switching({{"Upgrade", "h2c"}}), h2c, true) == 502);             // never offered upstream
  RequestHead none = decided({}, false);
  CHECK(code(switching({{"Upgrade", "websocket"}}), none, true) == 502);
}
