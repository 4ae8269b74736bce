// TablePublisher: the one place the live route table changes. Owns the current table, the kept
// versions (rollback history, kKeep of them), the state file (durable write), the changes
// waiting for acknowledgements and each worker's acknowledged version. Every table source
// (admin API, config reload, rollback) submits through TableCommitter::commit().
//
// Owner: app/ProxyServer, on the main loop. The workers are reached through TableSubscribers
// (a unit test passes fakes); they acknowledge by calling on_ack() on the main loop.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "turnout/app/table_committer.h"
#include "turnout/common/reclaimer.h"

namespace turnout {

// Who adopts each published table: the workers.
class TableSubscribers {
 public:
  virtual ~TableSubscribers() = default;
  // How many acknowledge each table (fixed after TablePublisher::start()).
  virtual size_t subscriber_count() const = 0;
  // Hands `table` to every subscriber; subscriber i calls TablePublisher::on_ack(i, version) on
  // the main loop once it adopted it.
  virtual void deliver(const RouteTablePtr& table) = 0;
};

class TablePublisher final : public TableCommitter {
 public:
  static constexpr size_t kKeep = 32;  // versions kept for rollback (>= 16)
  // Why changes are refused right now (shutting down, handing over), or nullopt.
  using Gate = std::function<std::optional<Error>()>;

  explicit TablePublisher(TableSubscribers& subscribers);

  // The first table, the history it comes with (oldest first, ending with it) and the state
  // file it is durable in (null: none). Every subscriber starts acknowledged at its version.
  void start(RouteTablePtr current, std::deque<KeptVersion> kept, std::unique_ptr<StateStore> store);
  void set_gate(Gate gate) { gate_ = std::move(gate); }

  RouteTablePtr current() const override { return current_; }
  const std::deque<KeptVersion>& kept() const override { return kept_; }
  void commit(std::optional<uint64_t> if_match, Build build, Done done) override;
  // Why a change is refused right now (the gate), or nullopt.
  std::optional<Error> refusal() const { return gate_ ? gate_() : std::nullopt; }

  // A version a source has already decided (a shared store's transaction, fleet/): no gate, no
  // If-Match, and `entry.version` may be any number above the current one. Durable, published
  // and answered like a commit.
  void publish(TableProposal proposal, HistoryEntry entry, Done done);
  // A whole table that replaces the current one and its history (a shared store read afresh, whose
  // version may even be lower): the state file is reset to it, kept versions and unanswered
  // changes are dropped (the latter answered 503).
  void replace(RouteTablePtr table, HistoryEntry entry, const std::string& config_hash, Done done);

  // Subscriber `subscriber` adopted `version` (and every one before it).
  void on_ack(unsigned subscriber, uint64_t version);
  // Shutdown: the workers are gone; unanswered changes are dropped.
  void drop_pending() { pending_.clear(); }
  uint64_t changes_applied() const { return changes_applied_; }

 private:
  struct PendingAck {
    uint64_t version;  // answered once every subscriber adopted at least this
    Done done;
  };

  TableSubscribers& subscribers_;
  Gate gate_;
  RouteTablePtr current_;
  std::deque<KeptVersion> kept_;        // last kKeep versions, oldest first
  std::unique_ptr<StateStore> store_;   // null without state_file
  std::vector<uint64_t> acked_;         // per subscriber: highest version adopted
  std::deque<PendingAck> pending_;      // ordered by version
  uint64_t changes_applied_ = 0;        // versions published since start
  Reclaimer reclaimer_;                 // frees versions that leave kept_, off the main loop
};

}  // namespace turnout
