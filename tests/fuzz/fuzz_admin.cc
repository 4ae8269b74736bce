// libFuzzer target: the admin API's request decoding, without sockets. A fuzzed request goes
// through handle_admin_request (the endpoint table: path matching, percent-decoding, If-Match,
// query flags, JSON bodies of every endpoint, the batch op parser) against a FakeActions that
// applies changes to a real RouteTable with apply_changes. The body is also decoded directly by
// the state file's change_from_json / table_from_json.
//
// Input (text):
//   METHOD SP TARGET LF
//   name: value LF          (zero or more; names lower-cased as AdminConnection does)
//   LF
//   body                    (the rest)
//
// Invariants checked:
//  - reply is called exactly once, before handle_admin_request returns (FakeActions answers at
//    once);
//  - the status is one the API documents; a JSON answer parses; an error answer is
//    {"error": "non-empty"}; a change answers {"version": N} with the new current version;
//  - invalid input changes nothing (the table is the same object); an accepted change moves the
//    version by exactly one;
//  - every table the API produces round-trips through table_to_json / table_from_json and through
//    the state file's snapshot bytes, and every change it applies through change_to_json /
//    change_from_json and a journal line (what the journal writes reads back the same);
//  - change_from_json / table_from_json never throw; what they accept round-trips too.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_actions.h"
#include "fuzz_check.h"
#include "fuzz_durable.h"
#include "turnout/admin/api.h"
#include "turnout/state/state_store.h"

using namespace turnout;
using namespace turnout::fuzz;
using json = nlohmann::json;

namespace {

AdminRequest decode_request(std::string_view text) {
  AdminRequest req;
  size_t eol = text.find('\n');
  std::string_view line = text.substr(0, eol);
  size_t sp = line.find(' ');
  req.method = std::string(line.substr(0, sp));
  if (sp != std::string_view::npos) req.target = std::string(line.substr(sp + 1));
  if (eol == std::string_view::npos) return req;
  text.remove_prefix(eol + 1);
  while (!text.empty()) {
    eol = text.find('\n');
    line = text.substr(0, eol);
    if (line.empty()) {
      text.remove_prefix(1);
      break;
    }
    size_t colon = line.find(':');
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    std::string value;
    if (colon != std::string_view::npos) {
      value = std::string(line.substr(colon + 1));
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    }
    req.headers.emplace_back(std::move(name), std::move(value));
    if (eol == std::string_view::npos) {
      text = {};
      break;
    }
    text.remove_prefix(eol + 1);
  }
  req.body = std::string(text);
  return req;
}

// Through the public JSON codec (DOM), then through the snapshot's bytes.
void check_table_json(const RouteTable& table) {
  json j = table_to_json(table);
  Result<RouteTablePtr> back = table_from_json(j, table.version());
  FUZZ_CHECK(back.ok(), "table_from_json refused table_to_json's output: %s\n  %s", back.error().message.c_str(),
             j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  json again = table_to_json(**back);
  FUZZ_CHECK(again == j, "table changed through JSON:\n  %s\n  %s",
             j.dump(-1, ' ', false, json::error_handler_t::replace).c_str(),
             again.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  table.for_each_route([&](const Route& r) {
    for (const RouteEntry& e : r.apps) {
      FUZZ_CHECK(table.find_app(e.app) != nullptr, "route '%s' names missing app '%s'", r.host.c_str(), e.app.c_str());
    }
  });
  if (table.default_app()) {
    FUZZ_CHECK(table.find_app(*table.default_app()) != nullptr, "default_app '%s' missing",
               table.default_app()->c_str());
  }
  check_snapshot_round_trip(table);
}

// Through the public JSON codec (DOM); an accepted change (`durable`) also through the
// journal's bytes.
void check_change_json(const Change& c, bool durable) {
  json j = change_to_json(c);
  Result<Change> back = change_from_json(j);
  FUZZ_CHECK(back.ok(), "change_from_json refused change_to_json's output: %s\n  %s", back.error().message.c_str(),
             j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  json again = change_to_json(*back);
  FUZZ_CHECK(again == j, "change changed through JSON: %s vs %s",
             j.dump(-1, ' ', false, json::error_handler_t::replace).c_str(),
             again.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  if (durable) check_change_round_trip(c);
}

// The state file's decoders straight on the body.
void decode_state_json(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return;
  std::vector<const json*> changes;
  std::vector<const json*> tables{&j};
  if (j.is_array()) {
    for (const json& e : j) changes.push_back(&e);
  } else {
    changes.push_back(&j);
    if (j.is_object()) {
      if (auto it = j.find("table"); it != j.end()) tables.push_back(&*it);
      if (auto it = j.find("changes"); it != j.end() && it->is_array()) {
        for (const json& e : *it) changes.push_back(&e);
      }
    }
  }
  for (const json* c : changes) {
    Result<Change> r = change_from_json(*c);
    if (r) check_change_json(*r, true);
  }
  for (const json* t : tables) {
    Result<RouteTablePtr> r = table_from_json(*t, 7);
    if (r) {
      FUZZ_CHECK((*r)->version() == 7, "table_from_json version");
      check_table_json(**r);
    }
  }
}

void run(std::string_view text) {
  FakeActions actions;
  AdminRequest req = decode_request(text);
  RouteTablePtr before = actions.current_table();
  int replies = 0;
  AdminResponse answer;
  handle_admin_request(actions, req, [&](AdminResponse r) {
    ++replies;
    answer = std::move(r);
  });
  FUZZ_CHECK(replies == 1, "%d replies to %s %s", replies, req.method.c_str(), printable(req.target).c_str());
  RouteTablePtr after = actions.current_table();

  int s = answer.status;
  FUZZ_CHECK(s == 200 || s == 400 || s == 404 || s == 405 || s == 409, "status %d to %s %s: %s", s,
             req.method.c_str(), printable(req.target).c_str(), printable(answer.body).c_str());
  if (answer.content_type == "application/json") {
    json j = json::parse(answer.body, nullptr, false);
    FUZZ_CHECK(!j.is_discarded(), "answer is not JSON: %s", printable(answer.body).c_str());
    if (s != 200) {
      FUZZ_CHECK(j.is_object() && j.contains("error") && j["error"].is_string() &&
                     !j["error"].get<std::string>().empty(),
                 "error answer without an error message: %s", printable(answer.body).c_str());
    } else if (req.method != "GET") {
      // Every change (and upgrade) answers {"version": N} with the version now current.
      FUZZ_CHECK(j.is_object() && j.contains("version") && j["version"].is_number_unsigned() &&
                     j["version"].get<uint64_t>() == after->version(),
                 "change answered %s, table at %llu", printable(answer.body).c_str(),
                 static_cast<unsigned long long>(after->version()));
    }
  } else {
    FUZZ_CHECK(s == 200 && req.method == "GET", "non-JSON answer '%s' with status %d", answer.content_type.c_str(), s);
  }
  if (s == 405) {
    bool allow = false;
    for (const auto& [n, v] : answer.headers) allow |= n == "Allow" && !v.empty();
    FUZZ_CHECK(allow, "405 without Allow");
  }
  // One request is at most one new version, and only a 200 may have made one.
  FUZZ_CHECK(actions.published <= 1, "%s %s published %d versions", req.method.c_str(), printable(req.target).c_str(),
             actions.published);
  FUZZ_CHECK(after->version() == before->version() + static_cast<uint64_t>(actions.published),
             "version moved from %llu to %llu with %d publishes", static_cast<unsigned long long>(before->version()),
             static_cast<unsigned long long>(after->version()), actions.published);
  if (s != 200 || req.method == "GET") {
    FUZZ_CHECK(actions.published == 0 && after == before, "%s %s answered %d but changed the table",
               req.method.c_str(), printable(req.target).c_str(), s);
  }
  if (actions.published) check_table_json(*after);
  for (const Change& c : actions.applied) check_change_json(c, false);
  for (const Change& c : actions.accepted) check_change_json(c, true);

  decode_state_json(req.body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    run(text);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "exception escaped the admin layer: %s", e.what());
  }
  return 0;
}
