// Config: the plain data of a turnout.yaml, after validation. Built by load_config() on the main
// thread; copied freely; holds no handles (certificates are immutable shared values, loaded and
// checked with the file). Field defaults are DESIGN.md's defaults.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "turnout/common/address.h"
#include "turnout/common/cidr.h"
#include "turnout/common/route_when.h"
#include "turnout/tls/client_tls_context.h"
#include "turnout/tls/certificate.h"

namespace turnout {

using Millis = std::chrono::milliseconds;

// One backend server of an app.
struct ServerSpec {
  std::string addr;      // "host:port" or "unix:/path", as written (normalised by parse_address)
  uint32_t weight = 1;   // share of the app's traffic, >= 1
};

// Optional active health check of an app's servers (run from the main thread, not per worker).
struct HealthSpec {
  std::string path = "/";          // GET this path with the route's first host as Host
  Millis interval{5000};           // between checks of one server
  Millis timeout{1000};            // a check slower than this failed
  uint32_t rise = 2;               // consecutive successes to mark a down server up
  uint32_t fall = 3;               // consecutive failures to mark an up server down
};

// TLS towards an app's servers (`apps.NAME.tls`).
struct UpstreamTlsSpec {
  std::string ca;           // PEM bundle to verify servers against; "" = the system store
  std::string server_name;  // SNI and the name verified; "" = each server's host
  bool verify = true;       // `verify: false` must be written out
  bool operator==(const UpstreamTlsSpec&) const = default;
};

struct AppSpec {
  std::vector<ServerSpec> servers;   // may be empty (then the app answers 503)
  std::optional<HealthSpec> health;  // active checks; passive checks always run
  std::optional<UpstreamTlsSpec> tls;  // speak TLS to the servers
};

// The `tls` section: the certificates HTTPS listeners present, and how they handshake.
struct TlsSpec {
  struct Files {
    std::string cert, key;  // as written (relative to the working directory)
    int line = 0;           // where the entry is, for messages at reload
  };
  std::map<std::string, Files> files;               // certificate name -> its PEM files
  std::map<std::string, CertificatePtr> certificates;  // the same, loaded and checked
  std::string default_certificate;                  // "" = none: unknown names fail the handshake
  bool min_tls13 = false;                           // min_version "1.3" (else "1.2")
  bool session_tickets = true;
  Millis handshake_timeout{10000};
};

// One app serving a route, with its share of the route's traffic. An app may appear several
// times in one route with different `when`; (app, when) identifies the entry.
struct RouteTarget {
  std::string app;
  uint32_t weight = 1;
  RouteWhen when;  // Kind::None: receives the requests no rule admits
};

struct Timeouts {
  Millis connect{2000};             // upstream connect
  Millis request_header{10000};     // from first byte (or idle keep-alive) to complete request head
  Millis upstream_response{60000};  // request sent -> response head, and between response reads
  Millis client_idle{60000};        // keep-alive client connection with no request
  Millis upstream_idle{30000};      // pooled upstream connection unused
  Millis drain{30000};              // graceful shutdown deadline
};

struct Limits {
  uint32_t max_header_bytes = 32768;  // request head size -> 431
  uint32_t max_headers = 100;         // header count -> 431
  uint64_t max_body_bytes = 0;        // 0 = unlimited; over -> 413
  uint32_t max_connections = 20000;   // client connections across all workers
  uint32_t h2_max_concurrent_streams = 100;  // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS
};

struct AdminSpec {
  std::string socket = "./turnout.sock";  // unix socket, mode 0600; "" disables it
  std::string http;                       // optional "host:port" TCP listener; "" = none
  bool allow_remote = false;              // allow a non-loopback `http` bind (then `token` is required)
  std::string token;                      // bearer token for the TCP listener ("" = use token_file)
  std::string token_file;                 // where the TCP listener's token lives when `token` is unset;
                                          //   resolved at load: default turnout.token beside `socket`
  bool open_reads = false;                // GETs on the TCP listener need no token
};

struct ListenSpec {
  SocketAddress address;        // resolved
  std::string text;             // as written, for logs
  bool proxy_protocol = false;  // a PROXY protocol v1/v2 header is required before HTTP
  bool tls = false;             // HTTPS: a TLS handshake (certificate by SNI) before HTTP
  // HTTP/2 as well as HTTP/1.1: ALPN "h2" on a TLS listener (default on), h2c with prior
  // knowledge on a plaintext one (default off).
  bool http2 = false;
};

// `table_source.etcd`: the table lives in etcd, shared by a fleet of instances (fleet/).
struct EtcdSourceSpec {
  std::vector<std::string> endpoints;  // "http://127.0.0.1:2379" or "127.0.0.1:2379"; at least one
  std::string prefix = "/turnout/";    // every key of the table starts with it; ends with '/'
  std::string instance;                // this instance's name in the fleet; default: the host name
  Millis request_timeout{5000};        // deadline of one request to etcd
  std::string user;                    // etcd authentication ("": none)
  std::string password;                // with user: inline, or read from password_file
  // TLS to etcd: https:// endpoints (all of them, or none). The client context's settings (ca,
  // verify, a client certificate for --client-cert-auth) and the name each endpoint's
  // certificate must carry ("" = the endpoint's host as written).
  bool tls = false;
  ClientTlsSettings tls_settings;
  std::string tls_server_name;
};

struct Config {
  std::string path;                              // the file it was loaded from ("" for a string)
  std::string content_hash;                      // hex FNV-1a 64 of the file bytes, for state_file
  std::vector<ListenSpec> listen;                // at least one
  std::vector<CidrRange> trusted_proxies;        // peers whose X-Forwarded-* are kept; [] = none
  unsigned workers = 0;                          // resolved: "auto" -> hardware_concurrency()
  AdminSpec admin;
  std::string state_file;                        // "" = no persistence
  std::optional<EtcdSourceSpec> etcd;            // table_source.etcd; none: the table is this file's
  std::map<std::string, AppSpec> apps;           // app name -> servers
  std::map<std::string, std::vector<RouteTarget>> routes;  // lower-cased host or "*.suffix" -> apps
  std::optional<std::string> default_app;        // app for unrouted hosts; none = 404
  TlsSpec tls;                                   // certificates and handshake settings
  Timeouts timeouts;
  Limits limits;
  std::string access_log = "stdout";             // "stdout" | "off" | file path
  std::string access_log_format = "text";        // "text" | "json"
  std::string log_level = "info";                // "debug" | "info" | "warn" | "error"
};

}  // namespace turnout
