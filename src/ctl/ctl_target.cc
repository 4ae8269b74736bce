#include "turnout/ctl/ctl_target.h"

#include <fmt/format.h>

#include "turnout/config/config_loader.h"
#include "turnout/config/token_file.h"

namespace turnout {

Result<CtlTarget> resolve_ctl_target(const CtlOptions& o, const std::function<bool(const std::string&)>& exists) {
  CtlTarget t;
  t.target = o.target;
  t.token = o.token;
  if (!o.config_path.empty()) {
    LoadResult loaded = load_config(o.config_path);
    if (!loaded.ok()) {
      std::string first = loaded.errors.empty() ? "invalid config" : loaded.errors.front().to_string();
      return make_error(ErrorKind::Io, fmt::format("cannot use -c {}: {}", o.config_path, first));
    }
    const AdminSpec& admin = loaded.config->admin;
    if (!o.target_given) {
      if (!admin.socket.empty()) {
        t.target = admin.socket;
      } else if (!admin.http.empty()) {
        t.target = "http://" + admin.http;
      } else {
        return make_error(ErrorKind::Io, fmt::format("{} has no admin listener (admin.socket and admin.http are both off)",
                                         o.config_path));
      }
    }
    if (t.target.rfind("http://", 0) == 0) {
      t.token_file = admin.token.empty() ? admin.token_file : "";
      if (!o.token_given) {
        if (!admin.token.empty()) {
          t.token = admin.token;
        } else if (Result<std::string> token = read_token_file(admin.token_file); token) {
          t.token = *token;
        } else {
          t.token_note = token.error().message;
        }
      }
    }
    return t;
  }
  if (!o.target_given && !exists(o.target) && exists(kPackagedAdminSocket)) t.target = kPackagedAdminSocket;
  return t;
}

std::string ctl_unauthorized_hint(const CtlTarget& t) {
  std::string where = t.token_file.empty()
                          ? "the admin.token_file of its config (default: turnout.token beside the admin socket)"
                          : t.token_file;
  std::string out = fmt::format("turnout ctl: the token is in {}; pass it with --token, $TURNOUT_TOKEN, or -c CONFIG\n",
                                where);
  if (!t.token_note.empty()) out += fmt::format("turnout ctl: {}\n", t.token_note);
  return out;
}

}  // namespace turnout
