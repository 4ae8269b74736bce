// EtcdStatus / EtcdResult<T>: what every etcd client callback carries — success, or one error a
// caller can act on (retry elsewhere, resynchronise, give up). Plain value types, main loop.
#pragma once

#include <cstdint>
#include <string>

namespace turnout {

enum class EtcdErrc : uint8_t {
  Ok,
  ConnectFailed,  // no endpoint accepted a connection (refused, unreachable, connect timeout)
  Reset,          // the connection broke (reset, EOF) before the response was complete
  Timeout,        // the request's deadline passed (or a watch went silent past its idle limit)
  HttpStatus,     // a non-2xx answer without etcd's JSON error body
  Etcd,           // etcd refused the request: its gateway's {"error"/"message", "code"} body
  Malformed,      // the answer could not be parsed (HTTP framing or JSON)
  Canceled,       // the client (or watch, or lease keeper) was closed first
  LeaseExpired,   // a keep-alive found the lease gone (TTL 0)
};

struct EtcdStatus {
  EtcdErrc code = EtcdErrc::Ok;
  int http_status = 0;   // the HTTP status, when one was received
  int grpc_code = 0;     // etcd's gRPC code from an error body (3 invalid argument, 5 not found, ...)
  std::string message;   // etcd's message, or what went wrong here
  std::string endpoint;  // "127.0.0.1:2379": the endpoint that answered or failed

  bool ok() const { return code == EtcdErrc::Ok; }
  // One line for logs: "timeout: request deadline (5000 ms) passed [127.0.0.1:2379]".
  std::string describe() const;

  static EtcdStatus error(EtcdErrc code, std::string message, std::string endpoint = {}) {
    EtcdStatus s;
    s.code = code;
    s.message = std::move(message);
    s.endpoint = std::move(endpoint);
    return s;
  }
};

const char* etcd_errc_name(EtcdErrc code);

template <class T>
struct EtcdResult {
  EtcdStatus status;  // check first: `value` is meaningful only when status.ok()
  T value{};
  bool ok() const { return status.ok(); }
};

}  // namespace turnout
