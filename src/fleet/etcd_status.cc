#include "turnout/fleet/etcd_status.h"

namespace turnout {

const char* etcd_errc_name(EtcdErrc code) {
  switch (code) {
    case EtcdErrc::Ok: return "ok";
    case EtcdErrc::ConnectFailed: return "connect failed";
    case EtcdErrc::Reset: return "connection reset";
    case EtcdErrc::Timeout: return "timeout";
    case EtcdErrc::HttpStatus: return "HTTP error";
    case EtcdErrc::Etcd: return "etcd error";
    case EtcdErrc::Malformed: return "malformed answer";
    case EtcdErrc::Canceled: return "canceled";
    case EtcdErrc::LeaseExpired: return "lease expired";
  }
  return "?";
}

std::string EtcdStatus::describe() const {
  std::string s = etcd_errc_name(code);
  if (!message.empty()) s += ": " + message;
  if (http_status != 0) s += " (HTTP " + std::to_string(http_status) + ")";
  if (!endpoint.empty()) s += " [" + endpoint + "]";
  return s;
}

}  // namespace turnout
