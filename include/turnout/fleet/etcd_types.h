// The etcd v3 values the client sends and receives, decoded: keys and values are raw bytes here
// (base64 only on the wire) and int64 fields are numbers (strings only on the wire).
// Plain value types, main loop.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace turnout {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;   // the revision of the transaction that last wrote the key
  int64_t version = 0;        // writes since creation; 0 means the key does not exist
  int64_t lease = 0;          // attached lease ID, 0 for none
};

struct RangeResult {
  int64_t revision = 0;       // the store revision the read saw
  std::vector<KeyValue> kvs;  // in key order
  int64_t count = 0;          // keys in the range (may exceed kvs.size() with a limit)
  bool more = false;          // a limit cut the answer short
};

struct PutResult {
  int64_t revision = 0;
};

struct DeleteResult {
  int64_t revision = 0;
  int64_t deleted = 0;        // keys removed
};

// One condition of a transaction.
struct Compare {
  enum class Target : uint8_t { Version, CreateRevision, ModRevision, Value, Lease };
  enum class Op : uint8_t { Equal, Greater, Less, NotEqual };
  std::string key;
  std::string range_end;      // empty: just `key`
  Target target = Target::Version;
  Op op = Op::Equal;
  int64_t number = 0;         // for every target but Value
  std::string value;          // for Target::Value

  // version(key) == 0 means "key absent": the create-if-absent condition.
  static Compare version(std::string key, Op op, int64_t v);
  static Compare mod_revision(std::string key, Op op, int64_t rev);
  static Compare value_is(std::string key, Op op, std::string value);
};

// One operation of a transaction branch.
struct TxnOp {
  enum class Kind : uint8_t { Put, Delete, Range };
  Kind kind = Kind::Put;
  std::string key;
  std::string value;          // Put
  std::string range_end;      // Delete / Range: empty for one key
  int64_t lease = 0;          // Put

  static TxnOp put(std::string key, std::string value, int64_t lease = 0);
  static TxnOp del(std::string key, std::string range_end = {});
  static TxnOp range(std::string key, std::string range_end = {});
};

// All compares hold -> `success` runs, else `failure`; atomically, at one new revision if
// anything was written.
struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};

struct TxnOpResult {
  TxnOp::Kind kind = TxnOp::Kind::Put;
  RangeResult range;          // Range
  int64_t deleted = 0;        // Delete
};

struct TxnResult {
  int64_t revision = 0;       // the store revision after the transaction
  bool succeeded = false;     // which branch ran
  std::vector<TxnOpResult> responses;  // one per operation of the branch that ran
};

struct LeaseGrant {
  int64_t id = 0;
  int64_t ttl = 0;            // seconds, as granted
};

struct WatchEvent {
  enum class Type : uint8_t { Put, Delete };
  Type type = Type::Put;
  KeyValue kv;                // for a Delete only key and mod_revision are set
};

// The end of the range that holds every key starting with `prefix` (etcd's "prefix" range_end):
// the prefix with its last byte below 0xff incremented; "\0" (all keys) for an empty prefix.
std::string prefix_range_end(std::string_view prefix);

}  // namespace turnout
