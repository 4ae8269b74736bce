#include "turnout/fleet/etcd_types.h"

namespace turnout {

Compare Compare::version(std::string key, Op op, int64_t v) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::Version;
  c.op = op;
  c.number = v;
  return c;
}

Compare Compare::mod_revision(std::string key, Op op, int64_t rev) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::ModRevision;
  c.op = op;
  c.number = rev;
  return c;
}

Compare Compare::value_is(std::string key, Op op, std::string value) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::Value;
  c.op = op;
  c.value = std::move(value);
  return c;
}

TxnOp TxnOp::put(std::string key, std::string value, int64_t lease) {
  TxnOp op;
  op.kind = Kind::Put;
  op.key = std::move(key);
  op.value = std::move(value);
  op.lease = lease;
  return op;
}

TxnOp TxnOp::del(std::string key, std::string range_end) {
  TxnOp op;
  op.kind = Kind::Delete;
  op.key = std::move(key);
  op.range_end = std::move(range_end);
  return op;
}

TxnOp TxnOp::range(std::string key, std::string range_end) {
  TxnOp op;
  op.kind = Kind::Range;
  op.key = std::move(key);
  op.range_end = std::move(range_end);
  return op;
}

std::string prefix_range_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

}  // namespace turnout
