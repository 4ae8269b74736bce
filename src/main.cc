// turnout's entry point: parse the command line, then run the proxy (`run`), validate a config
// (`check`) or act as a client of the admin API (`ctl`). Maps every outcome to an exit code:
// 0 ok, 1 failure, 2 bad usage.
#include <cstdio>
#include <cstring>
#include <vector>
#include <string>
#include <string_view>

#include <unistd.h>

#include "turnout/app/proxy_server.h"
#include "turnout/common/log.h"
#include "turnout/config/config_loader.h"
#include "turnout/ctl/ctl.h"

#ifndef TURNOUT_VERSION
#define TURNOUT_VERSION "0.1.0"
#endif

namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  turnout [run] [-c FILE]      serve (FILE defaults to conf/turnout.yaml)\n"
    "  turnout check [-c FILE]      validate a config; lists every error, exit 0/1\n"
    "  turnout ctl [-s SOCKET] VERB [ARGS] [--json]\n"
    "      routes | apps | status | history\n"
    "      map APP HOST... [--weight N]      unmap APP HOST... [--wait]\n"
    "      swap FROM_APP TO_APP HOST...\n"
    "      add-server APP ADDR [--weight N]  remove-server APP ADDR\n"
    "      app-create APP ADDR...            app-delete APP\n"
    "      rollback [VERSION]                reload\n"
    "  turnout upgrade [-s SOCKET]  start the new binary; it takes over sockets and table, the old one drains\n"
    "  turnout --version | --help\n"
    "\n"
    "signals: SIGHUP reloads the config file; SIGUSR2 upgrades (as `turnout upgrade`);\n"
    "         SIGTERM/SIGINT drain and exit.\n";

int usage_error(const std::string& why) {
  std::fprintf(stderr, "turnout: %s\n\n%s", why.c_str(), kUsage);
  return 2;
}

int cmd_check(const std::string& path) {
  auto loaded = turnout::load_config(path);
  if (!loaded.ok()) {
    for (auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "%s: %zu error%s\n", path.c_str(), loaded.errors.size(), loaded.errors.size() == 1 ? "" : "s");
    return 1;
  }
  const auto& c = *loaded.config;
  // `run` serves an expired certificate (a restart never takes a site down); `check`, the gate
  // before a deploy, fails on it so the operator replaces it.
  if (!loaded.warnings.empty()) {
    for (auto& w : loaded.warnings) std::fprintf(stderr, "%s\n", w.to_string().c_str());
    std::fprintf(stderr, "%s: %zu problem%s to fix (turnout run would start, with a warning)\n", path.c_str(),
                 loaded.warnings.size(), loaded.warnings.size() == 1 ? "" : "s");
    return 1;
  }
  std::printf("%s: ok (%zu apps, %zu routes, %zu listeners, %zu certificates, %u workers)\n", path.c_str(),
              c.apps.size(), c.routes.size(), c.listen.size(), c.tls.certificates.size(), c.workers);
  return 0;
}

int cmd_run(const std::string& path, const std::string& binary, bool takeover) {
  auto loaded = turnout::load_config(path);
  if (!loaded.ok()) {
    for (auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  }
  turnout::Config config = std::move(*loaded.config);
  turnout::LogLevel level;
  if (turnout::parse_log_level(config.log_level, &level)) turnout::set_log_level(level);
  for (auto& w : loaded.warnings) TLOG_WARN("config: to fix", "problem={}", turnout::log_quote(w.to_string()));
  std::string err;
  if (!turnout::access_log_open(config.access_log, &err)) {
    std::fprintf(stderr, "turnout: %s\n", err.c_str());
    return 1;
  }
  int rc;
  {
    turnout::ProxyServer server(std::move(config), binary, takeover);
    rc = server.run();
  }
  turnout::log_shutdown();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::string verb = "run";
  int i = 1;
  if (argc > 1) {
    std::string_view a = argv[1];
    if (a == "--version" || a == "-V") {
      std::printf("turnout %s\n", TURNOUT_VERSION);
      return 0;
    }
    if (a == "--help" || a == "-h" || a == "help") {
      std::printf("%s", kUsage);
      return 0;
    }
    if (a == "ctl") return turnout::run_ctl(argc - 1, argv + 1);
    if (a == "upgrade") {
      // `turnout upgrade [-s SOCKET]` is `turnout ctl [-s SOCKET] upgrade`.
      std::vector<char*> args(argv + 1, argv + argc);
      args.push_back(const_cast<char*>("upgrade"));
      args.push_back(nullptr);
      return turnout::run_ctl(static_cast<int>(args.size() - 1), args.data());
    }
    if (a == "run" || a == "check") {
      verb = std::string(a);
      i = 2;
    }
  }
  std::string path = "conf/turnout.yaml";
  bool takeover = false;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--takeover" && verb == "run") {
      takeover = true;
    } else if (a == "-c" || a == "--config") {
      if (i + 1 >= argc) return usage_error("-c needs a file");
      path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      path = std::string(a.substr(9));
    } else {
      return usage_error("unexpected argument '" + std::string(a) + "'");
    }
  }
  if (verb == "check") return cmd_check(path);
  // The binary an upgrade re-executes: this one's path now (a package upgrade replaces the file).
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  std::string binary = n > 0 ? std::string(exe, static_cast<size_t>(n)) : std::string(argv[0]);
  if (binary.size() > 10 && binary.compare(binary.size() - 10, 10, " (deleted)") == 0) binary.resize(binary.size() - 10);
  return cmd_run(path, binary, takeover);
}
