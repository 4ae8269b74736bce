// Human-readable output of `turnout ctl`: tables in the spirit of Cloud Foundry's `af apps`.
// Pure functions from the admin API's JSON to text (each line ends with '\n'); they tolerate
// missing fields, since the JSON comes from another process. Any thread.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace turnout {

// Left-aligned columns separated by two spaces; rows[0] is the header. Trailing spaces trimmed.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

// GET /v1/routes -> HOST / APPS table sorted by host; "example(1), example2(9)".
std::string format_routes(const nlohmann::json& j);
// GET /v1/apps -> APP / SERVERS / STATE / HOSTS table sorted by app.
std::string format_apps(const nlohmann::json& j);
// GET /v1/status -> "key: value" lines; nested objects flattened as "a.b: value".
std::string format_status(const nlohmann::json& j);
// GET /v1/history -> VERSION / TIME (UTC) / CHANGE table, oldest first.
std::string format_history(const nlohmann::json& j);
// GET /v1/fleet: "fleet version N (table source etcd)" then INSTANCE VERSION LAG ADDR rows.
std::string format_fleet(const nlohmann::json& j);
// GET /v1/certificates -> NAME / DNS NAMES / KEY / NOT AFTER / SHA256 (prefix) / FLAGS table.
std::string format_certificates(const nlohmann::json& j);
// A change's answer {"version": N} -> "ok: version N".
std::string format_change(const nlohmann::json& j);

}  // namespace turnout
