// `turnout ctl`: a command-line client of the admin API (DESIGN.md "Command line").
//
//   turnout ctl [-s SOCKET|http://HOST:PORT] [--token T] VERB [ARGS] [--json]
//
// Each verb becomes one HTTP request (ctl_client.h) whose JSON answer is printed as a table
// for people (ctl_format.h) or verbatim with --json. Runs in its own short-lived process:
// blocking sockets, no event loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "turnout/common/route_when.h"

#include "turnout/common/error.h"

namespace turnout {

// Entry point, called by main() when argv[1] == "ctl" (argv exactly as main received it; an
// argv shifted so that argv[0] == "ctl" works too). Returns the process exit code:
// 0 ok, 1 failure (cannot connect, API error), 2 usage error.
int run_ctl(int argc, char** argv);

// A parsed command line.
struct CtlOptions {
  std::string target;               // socket path, or "http://host:port" for the TCP listener
  std::string token;                // bearer token for the TCP listener ("" = none)
  bool target_given = false;        // -s or $TURNOUT_SOCKET chose the target
  bool token_given = false;         // --token or $TURNOUT_TOKEN chose the token
  std::string config_path;          // -c FILE: the target and token come from this config
  bool json = false;                // --json: print the API's JSON verbatim
  bool wait = false;                // --wait: unmap/swap return once drained (progress on stderr)
  std::optional<double> timeout_s;  // --timeout SECONDS for --wait (default 60)
  bool fleet = false;               // --fleet: a change answers once every fleet instance applied it
  bool force = false;               // --force: past the guard rails; reload dropping runtime changes
  std::optional<uint64_t> to;       // rollback --to N
  bool help = false;                // -h/--help: print usage, exit 0
  std::optional<uint32_t> weight;   // --weight N (map, add-server, app-create)
  RouteWhen when;                   // --when-header / --when-cookie NAME=VALUE (map, unmap)
  std::string verb;                 // "routes", "map", ...
  std::vector<std::string> args;    // the verb's positional arguments
  std::string cert_pem;             // cert-set: CERT_FILE's text, read by read_ctl_files
  std::string key_pem;              // cert-set: KEY_FILE's text, read by read_ctl_files
  std::string import_body;          // import: FILE's table as the API's JSON, by read_ctl_files
};

// Parses the arguments after "ctl". `env_socket`/`env_token` are $TURNOUT_SOCKET and
// $TURNOUT_TOKEN (nullptr when unset). Errors are usage errors, meant to be printed with
// ctl_usage() and exit code 2.
Result<CtlOptions> parse_ctl_args(const std::vector<std::string>& args, const char* env_socket = nullptr,
                                  const char* env_token = nullptr);

// Reads the files a verb names on this machine (cert-set: CERT_FILE and KEY_FILE) into
// `options`, so the request carries their PEM text: the server never opens the operator's files.
// Errors name the file (exit code 1). A no-op for other verbs.
Result<void> read_ctl_files(CtlOptions& options);

// The HTTP request a command becomes.
struct CtlRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // origin-form target, components percent-encoded
  std::string body;    // JSON, or "" for none
};
CtlRequest build_ctl_request(const CtlOptions& options);

// What `--wait` waits for after the change is made: requests routed by `host` to `app` (the
// unmapped app of unmap, the `from` app of swap). Empty without --wait.
struct CtlDrainTarget {
  std::string host;  // as typed
  std::string app;
};
std::vector<CtlDrainTarget> ctl_drain_targets(const CtlOptions& options);

// Default bound of `--wait`, in seconds.
inline constexpr double kDefaultWaitSeconds = 60;
// Exit code when --wait timed out: the change was made, requests are still in flight.
inline constexpr int kExitWaitTimedOut = 3;

// What the ctl prints for an answer: fills `out` (stdout) and `err` (stderr) and returns the
// exit code (0, or 1 for an API error: "turnout ctl: <error from API> (HTTP 409)").
struct CtlAnswer;
int render_ctl_answer(const CtlOptions& options, const CtlAnswer& answer, std::string* out, std::string* err);

// Percent-encodes everything outside RFC 3986 "unreserved" (so '/' and ':' too).
std::string url_encode_component(std::string_view text);

// The usage text (ends with a newline).
std::string ctl_usage();

}  // namespace turnout
