// FakeActions for the admin fuzz targets: AdminActions over a real RouteTable (build_table +
// apply_changes), answering every call at once, with checks on what the endpoint table asks.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "turnout/http/error_status.h"
#include "fuzz_check.h"
#include "turnout/admin/api.h"
#include "turnout/route/route_builder.h"

namespace turnout::fuzz {

using json = nlohmann::json;

inline Config base_config() {
  Config c;
  c.apps["example"].servers = {{"127.0.0.1:9001", 1}, {"127.0.0.1:9002", 1}};
  c.apps["example2"].servers = {{"127.0.0.1:9101", 3}};
  c.apps["spare"].servers = {};
  c.apps["local"].servers = {{"localhost:9200", 2}, {"unix:/tmp/turnout-fuzz.sock", 1}};
  c.routes["example.com"] = {{"example", 1}};
  c.routes["www.example.com"] = {{"example", 1}, {"example2", 9}};
  c.routes["*.example.org"] = {{"example", 1}};
  c.default_app = "spare";
  return c;
}

// AdminActions over a real RouteTable, answering every call at once.
class FakeActions : public AdminActions {
 public:
  FakeActions() {
    Result<RouteTablePtr> t = build_table(base_config(), 1);
    FUZZ_CHECK(t.ok(), "base table: %s", t.error().message.c_str());
    current_ = *t;
    kept_[1] = current_;
  }

  RouteTablePtr current_table() const override { return current_; }

  void apply(std::vector<Change> changes, std::optional<uint64_t> if_match, std::string summary, bool force,
             Done done) override {
    FUZZ_CHECK(!changes.empty(), "apply() with no changes (summary '%s')", summary.c_str());
    FUZZ_CHECK(!summary.empty(), "apply() without a summary");
    applied.insert(applied.end(), changes.begin(), changes.end());
    if (if_match && *if_match != current_->version()) return done(make_error(ErrorKind::Conflict, "stale"));
    Result<RouteTablePtr> next = apply_changes(*current_, changes, current_->version() + 1);
    if (!next) {
      int code = http_status(next.error().kind);
      FUZZ_CHECK(code == 400 || code == 404 || code == 409, "apply_changes error code %d: %s", code,
                 next.error().message.c_str());
      return done(next.error());
    }
    FUZZ_CHECK((*next)->version() == current_->version() + 1, "apply_changes built version %llu",
               static_cast<unsigned long long>((*next)->version()));
    accepted.insert(accepted.end(), changes.begin(), changes.end());
    publish(*next, std::move(done));
  }

  void rollback(std::optional<uint64_t> version, std::optional<uint64_t> if_match, Done done) override {
    if (if_match && *if_match != current_->version()) return done(make_error(ErrorKind::Conflict, "stale"));
    uint64_t v = version.value_or(current_->version() - 1);
    auto it = kept_.find(v);
    if (it == kept_.end()) return done(make_error(ErrorKind::NotFound, "not kept"));
    publish(it->second->with_version(current_->version() + 1), std::move(done));
  }

  void reload(bool force, Done done) override { publish(current_->with_version(current_->version() + 1), std::move(done)); }

  void wait_drained(std::string host, std::string app, uint64_t timeout_ms,
                    std::function<void(uint64_t)> done) override {
    FUZZ_CHECK(!app.empty(), "wait_drained without an app");
    done(0);
  }

  // A binary upgrade is out of scope here: it answers with the live version and changes nothing.
  void upgrade(Done done) override { done(current_->version()); }
  // Only AdminConnection hands over a connection (POST /v1/takeover on the unix socket).
  void takeover(int fd) override {
    FUZZ_CHECK(allow_takeover, "takeover(%d) reached from the endpoint table", fd);
    FUZZ_CHECK(fd >= 0, "takeover of fd %d", fd);
    ::close(fd);
    ++takeovers;
  }

  std::vector<HistoryEntry> history() const override { return {{1, 1700000000000, "start"}}; }
  std::map<std::string, ServerStats> server_stats() override { return {{"127.0.0.1:9001", ServerStats{}}}; }
  json status() override { return {{"version", current_->version()}}; }
  std::string metrics() override { return "turnout_table_version 1\n"; }

  std::vector<Change> applied;  // every change handed to apply(), accepted or not
  std::vector<Change> accepted; // the changes of accepted apply() calls (what the journal gets)
  int published = 0;            // new versions made current
  bool allow_takeover = false;  // takeover() is expected (socket-level target)
  int takeovers = 0;            // connections handed over

 private:
  void publish(RouteTablePtr next, Done done) {
    ++published;
    current_ = std::move(next);
    kept_[current_->version()] = current_;
    done(current_->version());
  }

  RouteTablePtr current_;
  std::map<uint64_t, RouteTablePtr> kept_;
};

}  // namespace turnout::fuzz
