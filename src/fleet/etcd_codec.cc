// etcd's gateway is grpc-gateway over the v3 protobufs: field names as in rpc.proto, bytes as
// base64, int64 as decimal strings, enum values by name, and fields at their default value
// (false, 0, PUT, "") left out — so every field read here is optional.
#include "turnout/fleet/etcd_codec.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "turnout/common/base64.h"

namespace turnout::etcd_codec {
namespace {

using nlohmann::json;

// Raised by the readers below on a value of the wrong shape; caught at each decode_* boundary.
struct BadField : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int64_t int_field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
  }
  throw BadField(std::string("field \"") + name + "\" is not an int64");
}

bool bool_field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean()) throw BadField(std::string("field \"") + name + "\" is not a boolean");
  return it->get<bool>();
}

std::string bytes_field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_string()) throw BadField(std::string("field \"") + name + "\" is not a string");
  auto raw = base64_decode(it->get_ref<const std::string&>());
  if (!raw) throw BadField(std::string("field \"") + name + "\" is not base64");
  return std::move(*raw);
}

std::string string_field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

const json& object_field(const json& obj, const char* name) {
  static const json kEmpty = json::object();
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return kEmpty;
  if (!it->is_object()) throw BadField(std::string("field \"") + name + "\" is not an object");
  return *it;
}

const json& array_field(const json& obj, const char* name) {
  static const json kEmpty = json::array();
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return kEmpty;
  if (!it->is_array()) throw BadField(std::string("field \"") + name + "\" is not an array");
  return *it;
}

int64_t header_revision(const json& obj) { return int_field(object_field(obj, "header"), "revision"); }

KeyValue read_kv(const json& j) {
  if (!j.is_object()) throw BadField("a key-value is not an object");
  KeyValue kv;
  kv.key = bytes_field(j, "key");
  kv.value = bytes_field(j, "value");
  kv.create_revision = int_field(j, "create_revision");
  kv.mod_revision = int_field(j, "mod_revision");
  kv.version = int_field(j, "version");
  kv.lease = int_field(j, "lease");
  return kv;
}

RangeResult read_range(const json& j) {
  RangeResult r;
  r.revision = header_revision(j);
  for (const json& kv : array_field(j, "kvs")) r.kvs.push_back(read_kv(kv));
  r.count = int_field(j, "count");
  r.more = bool_field(j, "more");
  return r;
}

// An error object: the unary {"error": "...", "message": "...", "code": N} or a stream's
// {"error": {"grpc_code": N, "http_code": N, "message": "..."}}. Empty status if none.
EtcdStatus read_error(const json& j, int http_status) {
  EtcdStatus s;
  if (!j.is_object()) return s;
  auto it = j.find("error");
  if (it == j.end()) return s;
  s.code = EtcdErrc::Etcd;
  s.http_status = http_status;
  if (it->is_object()) {
    s.grpc_code = static_cast<int>(int_field(*it, "grpc_code"));
    s.message = string_field(*it, "message");
    if (s.http_status == 0) s.http_status = static_cast<int>(int_field(*it, "http_code"));
  } else {
    s.grpc_code = static_cast<int>(int_field(j, "code"));
    s.message = string_field(j, "message");
    if (s.message.empty()) s.message = string_field(j, "error");
  }
  if (s.message.empty()) s.message = "etcd error";
  return s;
}

// Parses a 2xx body and hands its object (unwrapped from {"result": ...}) to `read`.
template <class T, class Fn>
EtcdResult<T> decode(std::string_view body, Fn read) {
  EtcdResult<T> out;
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    out.status = EtcdStatus::error(EtcdErrc::Malformed, "etcd answered with invalid JSON");
    return out;
  }
  if (EtcdStatus err = read_error(j, 0); !err.ok()) {
    out.status = std::move(err);
    return out;
  }
  try {
    auto it = j.find("result");
    out.value = read(it != j.end() && it->is_object() ? *it : j);
  } catch (const std::exception& e) {  // BadField, and nlohmann's type errors
    out.status = EtcdStatus::error(EtcdErrc::Malformed, std::string("etcd answer: ") + e.what());
    out.value = T{};
  }
  return out;
}

const char* target_name(Compare::Target t) {
  switch (t) {
    case Compare::Target::Version: return "VERSION";
    case Compare::Target::CreateRevision: return "CREATE";
    case Compare::Target::ModRevision: return "MOD";
    case Compare::Target::Value: return "VALUE";
    case Compare::Target::Lease: return "LEASE";
  }
  return "VERSION";
}

const char* op_name(Compare::Op op) {
  switch (op) {
    case Compare::Op::Equal: return "EQUAL";
    case Compare::Op::Greater: return "GREATER";
    case Compare::Op::Less: return "LESS";
    case Compare::Op::NotEqual: return "NOT_EQUAL";
  }
  return "EQUAL";
}

json compare_json(const Compare& c) {
  json j = {{"key", base64_encode(c.key)}, {"target", target_name(c.target)}, {"result", op_name(c.op)}};
  if (!c.range_end.empty()) j["range_end"] = base64_encode(c.range_end);
  switch (c.target) {
    case Compare::Target::Version: j["version"] = std::to_string(c.number); break;
    case Compare::Target::CreateRevision: j["create_revision"] = std::to_string(c.number); break;
    case Compare::Target::ModRevision: j["mod_revision"] = std::to_string(c.number); break;
    case Compare::Target::Lease: j["lease"] = std::to_string(c.number); break;
    case Compare::Target::Value: j["value"] = base64_encode(c.value); break;
  }
  return j;
}

json op_json(const TxnOp& op) {
  json inner = {{"key", base64_encode(op.key)}};
  switch (op.kind) {
    case TxnOp::Kind::Put:
      inner["value"] = base64_encode(op.value);
      if (op.lease != 0) inner["lease"] = std::to_string(op.lease);
      return {{"request_put", inner}};
    case TxnOp::Kind::Delete:
      if (!op.range_end.empty()) inner["range_end"] = base64_encode(op.range_end);
      return {{"request_delete_range", inner}};
    case TxnOp::Kind::Range:
      if (!op.range_end.empty()) inner["range_end"] = base64_encode(op.range_end);
      return {{"request_range", inner}};
  }
  return inner;
}

json branch_json(const std::vector<TxnOp>& ops) {
  json a = json::array();
  for (const TxnOp& op : ops) a.push_back(op_json(op));
  return a;
}

}  // namespace

std::string range_body(std::string_view key, std::string_view range_end, int64_t limit, int64_t revision) {
  json j = {{"key", base64_encode(key)}};
  if (!range_end.empty()) j["range_end"] = base64_encode(range_end);
  if (limit > 0) j["limit"] = std::to_string(limit);
  if (revision > 0) j["revision"] = std::to_string(revision);
  return j.dump();
}

std::string put_body(std::string_view key, std::string_view value, int64_t lease) {
  json j = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) j["lease"] = std::to_string(lease);
  return j.dump();
}

std::string delete_body(std::string_view key, std::string_view range_end) {
  json j = {{"key", base64_encode(key)}};
  if (!range_end.empty()) j["range_end"] = base64_encode(range_end);
  return j.dump();
}

std::string txn_body(const TxnRequest& txn) {
  json c = json::array();
  for (const Compare& cmp : txn.compare) c.push_back(compare_json(cmp));
  json j = {{"compare", c}, {"success", branch_json(txn.success)}, {"failure", branch_json(txn.failure)}};
  return j.dump();
}

std::string compaction_body(int64_t revision) { return json{{"revision", std::to_string(revision)}}.dump(); }

std::string lease_grant_body(int64_t ttl_seconds) { return json{{"TTL", std::to_string(ttl_seconds)}}.dump(); }

std::string lease_id_body(int64_t id) { return json{{"ID", std::to_string(id)}}.dump(); }

std::string watch_create_body(std::string_view key, std::string_view range_end, int64_t start_revision,
                              bool progress_notify) {
  json c = {{"key", base64_encode(key)}};
  if (!range_end.empty()) c["range_end"] = base64_encode(range_end);
  if (start_revision > 0) c["start_revision"] = std::to_string(start_revision);
  if (progress_notify) c["progress_notify"] = true;
  return json{{"create_request", c}}.dump();
}

EtcdStatus error_from_response(int http_status, std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  EtcdStatus s;
  if (!j.is_discarded()) {
    try {
      s = read_error(j, http_status);
    } catch (const std::exception&) {
      s = EtcdStatus{};
    }
  }
  if (s.ok()) {
    s.code = EtcdErrc::HttpStatus;
    s.http_status = http_status;
    s.message = "etcd answered HTTP " + std::to_string(http_status);
  }
  return s;
}

EtcdResult<RangeResult> decode_range(std::string_view body) {
  return decode<RangeResult>(body, [](const json& j) { return read_range(j); });
}

EtcdResult<PutResult> decode_put(std::string_view body) {
  return decode<PutResult>(body, [](const json& j) { return PutResult{header_revision(j)}; });
}

EtcdResult<DeleteResult> decode_delete(std::string_view body) {
  return decode<DeleteResult>(body, [](const json& j) { return DeleteResult{header_revision(j), int_field(j, "deleted")}; });
}

EtcdResult<TxnResult> decode_txn(std::string_view body) {
  return decode<TxnResult>(body, [](const json& j) {
    TxnResult t;
    t.revision = header_revision(j);
    t.succeeded = bool_field(j, "succeeded");
    for (const json& r : array_field(j, "responses")) {
      TxnOpResult op;
      if (!r.is_object()) throw BadField("a transaction response is not an object");
      if (r.contains("response_range")) {
        op.kind = TxnOp::Kind::Range;
        op.range = read_range(object_field(r, "response_range"));
      } else if (r.contains("response_delete_range")) {
        op.kind = TxnOp::Kind::Delete;
        op.deleted = int_field(object_field(r, "response_delete_range"), "deleted");
      } else {
        op.kind = TxnOp::Kind::Put;
      }
      t.responses.push_back(std::move(op));
    }
    return t;
  });
}

EtcdResult<PutResult> decode_compaction(std::string_view body) { return decode_put(body); }

EtcdResult<LeaseGrant> decode_lease_grant(std::string_view body) {
  return decode<LeaseGrant>(body, [](const json& j) {
    if (std::string err = string_field(j, "error"); !err.empty()) throw BadField(err);
    return LeaseGrant{int_field(j, "ID"), int_field(j, "TTL")};
  });
}

EtcdResult<LeaseGrant> decode_lease_keepalive(std::string_view body) {
  return decode<LeaseGrant>(body, [](const json& j) { return LeaseGrant{int_field(j, "ID"), int_field(j, "TTL")}; });
}

EtcdResult<PutResult> decode_lease_revoke(std::string_view body) { return decode_put(body); }

EtcdResult<WatchMessage> decode_watch_message(std::string_view text) {
  return decode<WatchMessage>(text, [](const json& j) {
    WatchMessage m;
    m.revision = header_revision(j);
    if (bool_field(j, "canceled")) {
      m.kind = WatchMessage::Kind::Canceled;
      m.compact_revision = int_field(j, "compact_revision");
      m.reason = string_field(j, "cancel_reason");
      return m;
    }
    if (bool_field(j, "created")) {
      m.kind = WatchMessage::Kind::Created;
      return m;
    }
    const json& events = array_field(j, "events");
    if (events.empty()) {
      m.kind = WatchMessage::Kind::Progress;
      return m;
    }
    m.kind = WatchMessage::Kind::Events;
    for (const json& e : events) {
      if (!e.is_object()) throw BadField("a watch event is not an object");
      WatchEvent ev;
      std::string type = string_field(e, "type");
      if (type.empty() || type == "PUT") ev.type = WatchEvent::Type::Put;
      else if (type == "DELETE") ev.type = WatchEvent::Type::Delete;
      else throw BadField("unknown watch event type " + type);
      ev.kv = read_kv(object_field(e, "kv"));
      m.events.push_back(std::move(ev));
    }
    return m;
  });
}

}  // namespace turnout::etcd_codec
