// What the admin API says about a certificate (GET /v1/certificates, and a certificate change's
// answer): its name, DNS names, subject, issuer, validity in RFC 3339 UTC, key type, SHA-256
// fingerprint, whether it has expired and whether it is the default. Never the key: the private
// key stays in the table, the state file and the TLS contexts only. Any thread.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "turnout/tls/certificate.h"

namespace turnout {

// Unix seconds as RFC 3339 UTC: "2026-12-07T06:54:24Z".
std::string rfc3339_utc(int64_t unix_seconds);

// The summary of `cert`; `is_default`: it is the table's default_certificate; `now_unix` decides
// "expired".
nlohmann::json certificate_json(const Certificate& cert, bool is_default, int64_t now_unix);

}  // namespace turnout
