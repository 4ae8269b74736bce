#include "turnout/admin/certificate_json.h"

#include <ctime>

#include <fmt/format.h>

namespace turnout {

std::string rfc3339_utc(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

nlohmann::json certificate_json(const Certificate& cert, bool is_default, int64_t now_unix) {
  return {{"name", cert.name()},
          {"dns_names", cert.dns_names()},
          {"subject", cert.subject()},
          {"issuer", cert.issuer()},
          {"not_before", rfc3339_utc(cert.not_before())},
          {"not_after", rfc3339_utc(cert.not_after())},
          {"key_type", std::string(cert.key_type_name())},
          {"sha256", cert.fingerprint_sha256()},
          {"expired", cert.expired(now_unix)},
          {"default", is_default}};
}

}  // namespace turnout
