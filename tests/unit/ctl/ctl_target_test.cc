#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "turnout/ctl/ctl.h"
#include "turnout/ctl/ctl_target.h"

using namespace turnout;

namespace {

CtlOptions parsed(std::vector<std::string> args, const char* env_socket = nullptr, const char* env_token = nullptr) {
  Result<CtlOptions> o = parse_ctl_args(args, env_socket, env_token);
  REQUIRE_MESSAGE(o.ok(), o.error().message);
  return *o;
}

// Paths that "exist" for a test, instead of the real file system.
auto existing(std::set<std::string> paths) {
  return [paths = std::move(paths)](const std::string& p) { return paths.count(p) > 0; };
}

struct Dir {
  std::string path;
  Dir() {
    char tmpl[] = "/tmp/turnout-ctl-target-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~Dir() {
    for (const char* f : {"/turnout.yaml", "/turnout.token"}) ::unlink((path + f).c_str());
    ::rmdir(path.c_str());
  }
  std::string write(const std::string& name, const std::string& content, mode_t mode = 0644) const {
    std::string p = path + "/" + name;
    std::ofstream(p) << content;
    ::chmod(p.c_str(), mode);
    return p;
  }
};

const std::string kBase = "listen: 127.0.0.1:8080\napps: {a: {servers: [\"127.0.0.1:9\"]}}\nroutes: {a.test: [a]}\n";

}  // namespace

TEST_CASE("ctl target without -c: ./turnout.sock, else the packaged socket") {
  CHECK(resolve_ctl_target(parsed({"routes"}), existing({"./turnout.sock", kPackagedAdminSocket}))->target ==
        "./turnout.sock");
  CHECK(resolve_ctl_target(parsed({"routes"}), existing({kPackagedAdminSocket}))->target == kPackagedAdminSocket);
  // Nothing exists: the default stays, so the error names it.
  CHECK(resolve_ctl_target(parsed({"routes"}), existing({}))->target == "./turnout.sock");
  // What the operator said is never second-guessed.
  CHECK(resolve_ctl_target(parsed({"-s", "/x.sock", "routes"}), existing({kPackagedAdminSocket}))->target == "/x.sock");
  CHECK(resolve_ctl_target(parsed({"routes"}, "/env.sock"), existing({kPackagedAdminSocket}))->target == "/env.sock");
}

TEST_CASE("ctl target with -c: the config's socket, else its http listener with the token file") {
  Dir d;
  std::string sock_cfg = d.write("turnout.yaml", kBase + "admin: {socket: " + d.path + "/admin.sock}\n");
  CtlTarget t = *resolve_ctl_target(parsed({"-c", sock_cfg, "routes"}), existing({"./turnout.sock"}));
  CHECK(t.target == d.path + "/admin.sock");
  CHECK(t.token.empty());

  d.write("turnout.token", "tok-from-file\n", 0600);
  std::string http_cfg = d.write("turnout.yaml", kBase + "admin: {socket: \"\", http: 127.0.0.1:9901, token_file: " +
                                                  d.path + "/turnout.token}\n");
  t = *resolve_ctl_target(parsed({"-c", http_cfg, "routes"}), existing({}));
  CHECK(t.target == "http://127.0.0.1:9901");
  CHECK(t.token == "tok-from-file");
  CHECK(t.token_file == d.path + "/turnout.token");
  // --token and $TURNOUT_TOKEN win over the file.
  CHECK(resolve_ctl_target(parsed({"-c", http_cfg, "--token", "flag", "routes"}), existing({}))->token == "flag");
  CHECK(resolve_ctl_target(parsed({"-c", http_cfg, "routes"}, nullptr, "env"), existing({}))->token == "env");
  // A token file others can read is not used, and the hint says why.
  ::chmod((d.path + "/turnout.token").c_str(), 0644);
  t = *resolve_ctl_target(parsed({"-c", http_cfg, "routes"}), existing({}));
  CHECK(t.token.empty());
  std::string hint = ctl_unauthorized_hint(t);
  CHECK(hint.find(d.path + "/turnout.token") != std::string::npos);
  CHECK(hint.find("chmod 600") != std::string::npos);

  // admin.token in the config is used as is.
  std::string inline_cfg = d.write("turnout.yaml", kBase + "admin: {socket: \"\", http: 127.0.0.1:9901, token: abc}\n");
  CHECK(resolve_ctl_target(parsed({"-c", inline_cfg, "routes"}), existing({}))->token == "abc");

  // Errors: no such file; no admin listener at all.
  Result<CtlTarget> missing = resolve_ctl_target(parsed({"-c", d.path + "/nope.yaml", "routes"}), existing({}));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("nope.yaml") != std::string::npos);
  std::string none_cfg = d.write("turnout.yaml", kBase + "admin: {socket: \"\"}\n");
  CHECK_FALSE(resolve_ctl_target(parsed({"-c", none_cfg, "routes"}), existing({})).ok());
}

TEST_CASE("ctl -c needs a file name") {
  CHECK_FALSE(parse_ctl_args({"-c"}, nullptr, nullptr).ok());
  CHECK(parse_ctl_args({"--config=x.yaml", "routes"}, nullptr, nullptr)->config_path == "x.yaml");
}
