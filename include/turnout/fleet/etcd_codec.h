// The JSON of etcd 3.4's v3 gateway: request bodies built from etcd_types.h values, and answers
// decoded back (base64 keys and values, int64 as JSON strings). Plain functions, so the wire
// format is tested without an etcd; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "turnout/fleet/etcd_status.h"
#include "turnout/fleet/etcd_types.h"

namespace turnout::etcd_codec {

std::string range_body(std::string_view key, std::string_view range_end, int64_t limit = 0, int64_t revision = 0);
std::string put_body(std::string_view key, std::string_view value, int64_t lease = 0);
std::string delete_body(std::string_view key, std::string_view range_end);
std::string txn_body(const TxnRequest& txn);
std::string compaction_body(int64_t revision);
std::string lease_grant_body(int64_t ttl_seconds);
std::string lease_id_body(int64_t id);  // keep-alive and revoke
std::string watch_create_body(std::string_view key, std::string_view range_end, int64_t start_revision,
                              bool progress_notify);

// The error of a non-2xx answer: EtcdErrc::Etcd with etcd's message and gRPC code when the body
// is the gateway's JSON error, else EtcdErrc::HttpStatus.
EtcdStatus error_from_response(int http_status, std::string_view body);

// 2xx answers. A body that does not parse gives EtcdErrc::Malformed; a streaming endpoint's
// {"error": {...}} gives EtcdErrc::Etcd.
EtcdResult<RangeResult> decode_range(std::string_view body);
EtcdResult<PutResult> decode_put(std::string_view body);
EtcdResult<DeleteResult> decode_delete(std::string_view body);
EtcdResult<TxnResult> decode_txn(std::string_view body);
EtcdResult<PutResult> decode_compaction(std::string_view body);  // the header's revision
EtcdResult<LeaseGrant> decode_lease_grant(std::string_view body);
// A keep-alive answer (the gateway wraps it in {"result": ...}); ttl 0 means the lease is gone.
EtcdResult<LeaseGrant> decode_lease_keepalive(std::string_view body);
EtcdResult<PutResult> decode_lease_revoke(std::string_view body);

// One message of a watch stream.
struct WatchMessage {
  enum class Kind : uint8_t {
    Created,   // the watch is registered; revision = the store revision at that moment
    Events,    // one etcd response: the events of one or more transactions, in revision order
    Progress,  // no events: everything up to `revision` has been sent
    Canceled,  // etcd ended the watch (compact_revision > 0: the start revision was compacted)
  };
  Kind kind = Kind::Progress;
  int64_t revision = 0;          // the header's revision
  int64_t compact_revision = 0;  // Canceled: the oldest revision still kept
  std::string reason;            // Canceled: etcd's cancel_reason, if any
  std::vector<WatchEvent> events;
};
EtcdResult<WatchMessage> decode_watch_message(std::string_view json);

}  // namespace turnout::etcd_codec
