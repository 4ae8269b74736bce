#include "state_doc.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "table_codec_internal.h"
#include "turnout/state/table_codec.h"

namespace turnout {

using nlohmann::json;

namespace {

// Builds a json value from SAX events, for the small subtrees ("apps", "changes").
class DomBuilder {
 public:
  bool active() const { return active_; }
  json take() { return std::move(root_); }

  void begin() {
    root_ = json();
    stack_.clear();
    active_ = true;
  }
  void key(std::string& k) { key_ = std::move(k); }
  void value(json v) {
    *slot() = std::move(v);
    if (stack_.empty()) active_ = false;
  }
  void open(json::value_t type) {
    json* s = slot();
    *s = json(type);
    stack_.push_back(s);  // only the top container grows, so outer pointers stay valid
  }
  void close() {
    stack_.pop_back();
    if (stack_.empty()) active_ = false;
  }

 private:
  json* slot() {
    if (stack_.empty()) return &root_;
    json* top = stack_.back();
    if (top->is_array()) {
      top->push_back(nullptr);
      return &top->back();
    }
    return &(*top)[key_];
  }
  json root_;
  std::vector<json*> stack_;  // open containers, outermost first
  std::string key_;           // key for the next value in the top object
  bool active_ = false;
};

// SAX handler: the document's own keys by hand, "apps"/"changes" through DomBuilder, and
// "table.routes" streamed into cfg.routes without an intermediate tree.
class StateSax {
 public:
  Result<StateDoc> finish(bool parsed) {
    if (!parsed) return make_error(ErrorKind::Invalid, error_.empty() ? "invalid JSON" : error_);
    if (saw_table_) {
      if (!saw_apps_) return make_error(ErrorKind::Invalid, "table.apps must be an object");
      if (!saw_routes_) return make_error(ErrorKind::Invalid, "table.routes must be an object");
      // Sorted first, then appended at the end: a million random-order std::map inserts
      // would cost more than the whole parse.
      std::sort(routes_.begin(), routes_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& [host, targets] : routes_) cfg_.routes.emplace_hint(cfg_.routes.end(), std::move(host), std::move(targets));
      routes_ = {};
      doc_.table = std::move(cfg_);
    }
    return std::move(doc_);
  }

  bool null() { return scalar(json(nullptr)); }
  bool boolean(bool v) { return scalar(json(v)); }
  bool number_integer(json::number_integer_t v) { return scalar(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return scalar(json(v)); }
  bool number_float(json::number_float_t v, const std::string&) { return scalar(json(v)); }
  bool string(json::string_t& v) { return scalar(json(std::move(v))); }
  bool binary(json::binary_t&) { return fail("unexpected binary value"); }

  bool key(json::string_t& k) {
    if (dom_.active()) {
      dom_.key(k);
      return true;
    }
    key_ = std::move(k);
    return true;
  }

  bool start_object(std::size_t) {
    if (dom_.active()) {
      dom_.open(json::value_t::object);
      return true;
    }
    if (stack_.empty()) return push(Ctx::Root);
    switch (stack_.back()) {
      case Ctx::Root:
        if (key_ == "meta" && !doc_.meta) {
          dom_.begin();
          dom_target_ = Target::Meta;
          dom_.open(json::value_t::object);
          return true;
        }
        if (key_ != "table" || saw_table_) return fail("unexpected object '" + key_ + "'");
        saw_table_ = true;
        return push(Ctx::Table);
      case Ctx::Table:
        if (key_ == "apps" && !saw_apps_) {
          saw_apps_ = true;
          dom_.begin();
          dom_target_ = Target::Apps;
          dom_.open(json::value_t::object);
          return true;
        }
        if (key_ == "routes" && !saw_routes_) {
          saw_routes_ = true;
          return push(Ctx::Routes);
        }
        if (key_ == "certificates" && !saw_certificates_) {
          saw_certificates_ = true;
          dom_.begin();
          dom_target_ = Target::Certificates;
          dom_.open(json::value_t::object);
          return true;
        }
        return fail("unexpected object table." + key_);
      case Ctx::Routes:
        host_ = key_;
        targets_.clear();
        return push(Ctx::RouteApps);
      case Ctx::RouteApps:
        return fail("route '" + host_ + "': weight of '" + key_ + "' must be an integer >= 1");
    }
    return fail("unexpected object");
  }

  bool end_object() {
    if (dom_.active()) {
      dom_.close();
      return dom_.active() || deliver();
    }
    if (stack_.back() == Ctx::RouteApps) {
      if (targets_.empty()) return fail("route '" + host_ + "' must be a non-empty object of app -> weight");
      routes_.emplace_back(std::move(host_), std::move(targets_));
      targets_ = {};
    }
    stack_.pop_back();
    return true;
  }

  bool start_array(std::size_t) {
    if (dom_.active()) {
      dom_.open(json::value_t::array);
      return true;
    }
    if (!stack_.empty() && stack_.back() == Ctx::Routes) {
      // A route with rules, [{"app", "weight", "when"?}]: rare, read as a tree.
      host_ = key_;
      dom_.begin();
      dom_target_ = Target::RouteList;
      dom_.open(json::value_t::array);
      return true;
    }
    if (stack_.size() == 1 && key_ == "changes" && !doc_.changes) {
      dom_.begin();
      dom_target_ = Target::Changes;
      dom_.open(json::value_t::array);
      return true;
    }
    return fail("unexpected array '" + key_ + "'");
  }

  bool end_array() {
    if (!dom_.active()) return fail("unbalanced array");
    dom_.close();
    return dom_.active() || deliver();
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    error_ = "invalid JSON at byte " + std::to_string(position) + ": " + e.what();
    return false;
  }

 private:
  enum class Ctx { Root, Table, Routes, RouteApps };
  enum class Target { Apps, Changes, Meta, Certificates, RouteList };

  bool push(Ctx c) {
    stack_.push_back(c);
    return true;
  }
  bool fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  bool scalar(json v) {
    if (dom_.active()) {
      dom_.value(std::move(v));
      return true;
    }
    if (stack_.empty()) return fail("a state document must be an object");
    switch (stack_.back()) {
      case Ctx::Root:
        if (key_ == "config_hash" && v.is_string()) {
          doc_.config_hash = v.get<std::string>();
          return true;
        }
        if (key_ == "version" && v.is_number_unsigned()) {
          doc_.version = v.get<uint64_t>();
          return true;
        }
        return fail("unexpected value for '" + key_ + "'");
      case Ctx::Table:
        if (key_ == "default_app" && (v.is_null() || v.is_string())) {
          if (v.is_string()) cfg_.default_app = v.get<std::string>();
          return true;
        }
        if (key_ == "default_certificate" && (v.is_null() || v.is_string())) {
          if (v.is_string()) cfg_.tls.default_certificate = v.get<std::string>();
          return true;
        }
        return fail("unexpected value for table." + key_);
      case Ctx::Routes:
        return fail("route '" + key_ + "' must be a non-empty object of app -> weight");
      case Ctx::RouteApps: {
        if (!v.is_number_unsigned() || v.get<uint64_t>() < 1 || v.get<uint64_t>() > UINT32_MAX)
          return fail("route '" + host_ + "': weight of '" + key_ + "' must be an integer >= 1");
        targets_.push_back(RouteTarget{key_, static_cast<uint32_t>(v.get<uint64_t>()), {}});
        return true;
      }
    }
    return fail("unexpected value");
  }

  // A DomBuilder subtree is complete.
  bool deliver() {
    if (dom_target_ == Target::Changes) {
      doc_.changes = dom_.take();
      return true;
    }
    if (dom_target_ == Target::Meta) {
      doc_.meta = dom_.take();
      return true;
    }
    if (dom_target_ == Target::RouteList) {
      auto targets = route_targets_from_json(host_, dom_.take());
      if (!targets) return fail(targets.error().message);
      routes_.emplace_back(std::move(host_), std::move(*targets));
      return true;
    }
    if (dom_target_ == Target::Certificates) {
      auto certs = certificates_from_json(dom_.take(), cfg_);
      return certs.ok() || fail(certs.error().message);
    }
    auto apps = apps_from_json(dom_.take(), cfg_);
    return apps.ok() || fail(apps.error().message);
  }

  StateDoc doc_;
  Config cfg_;                       // the table's specs, moved into doc_ at the end
  std::vector<Ctx> stack_;           // open objects outside DomBuilder subtrees
  std::string key_;                  // last key read at the current level
  std::string host_;                 // route being read
  std::vector<RouteTarget> targets_; // its apps so far
  std::vector<std::pair<std::string, std::vector<RouteTarget>>> routes_;  // into cfg_.routes at the end
  DomBuilder dom_;
  Target dom_target_ = Target::Apps;
  bool saw_table_ = false, saw_apps_ = false, saw_routes_ = false, saw_certificates_ = false;
  std::string error_;
};

}  // namespace

Result<StateDoc> parse_state_doc(std::string_view text) {
  StateSax sax;
  bool parsed = json::sax_parse(text.begin(), text.end(), &sax);
  return sax.finish(parsed);
}

}  // namespace turnout
