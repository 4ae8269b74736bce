#include "turnout/app/table_publisher.h"

#include <algorithm>
#include <chrono>

#include "turnout/common/log.h"

namespace turnout {

namespace {
int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

TablePublisher::TablePublisher(TableSubscribers& subscribers) : subscribers_(subscribers) {}

void TablePublisher::start(RouteTablePtr current, std::deque<KeptVersion> kept, std::unique_ptr<StateStore> store) {
  current_ = std::move(current);
  kept_ = std::move(kept);
  store_ = std::move(store);
  acked_.assign(subscribers_.subscriber_count(), current_->version());
}

void TablePublisher::commit(std::optional<uint64_t> if_match, Build build, Done done) {
  // The checks every source shares, in the order the API has always answered them.
  if (std::optional<Error> closed = refusal()) return done(*closed);
  if (if_match && *if_match != current_->version())
    return done(make_error(ErrorKind::Conflict, fmt::format("table is at version {}, not {}", current_->version(), *if_match)));
  const uint64_t v = current_->version() + 1;
  Result<TableProposal> proposal = build(*current_, v);
  if (!proposal) return done(proposal.error());
  HistoryEntry entry{v, unix_ms(), std::move(proposal->summary), proposal->back, proposal->restores};
  publish(std::move(*proposal), std::move(entry), std::move(done));
}

void TablePublisher::publish(TableProposal proposal, HistoryEntry entry, Done done) {
  const uint64_t v = entry.version;
  if (store_ && proposal.durable) {
    if (auto r = proposal.durable(*store_, entry); !r) return done(make_error(ErrorKind::Internal, "state file: " + r.error().message));
  }
  if (proposal.on_durable) proposal.on_durable();

  RouteTablePtr next = std::move(proposal.table);
  current_ = next;
  ++changes_applied_;
  TLOG_INFO("table published", "version={} change={}", entry.version, log_quote(entry.summary));
  kept_.push_back(KeptVersion{next, std::move(entry)});
  while (kept_.size() > kKeep) {
    // Possibly the last reference to a large unique part of the trie: freed off the main loop.
    reclaimer_.retire(std::move(kept_.front().table));
    kept_.pop_front();
  }
  pending_.push_back(PendingAck{v, std::move(done)});
  subscribers_.deliver(next);
  if (acked_.empty()) on_ack(0, v);
}

void TablePublisher::replace(RouteTablePtr table, HistoryEntry entry, const std::string& config_hash, Done done) {
  if (store_) {
    if (auto r = store_->reset(table, config_hash, entry); !r) return done(make_error(ErrorKind::Internal, "state file: " + r.error().message));
  }
  // Earlier versions may be numbered above this one: their history and their waiters go.
  while (!kept_.empty()) {
    reclaimer_.retire(std::move(kept_.front().table));
    kept_.pop_front();
  }
  for (PendingAck& p : pending_)
    if (p.done) p.done(make_error(ErrorKind::Unavailable, "the table was replaced by the table source's"));
  pending_.clear();
  std::fill(acked_.begin(), acked_.end(), 0);
  current_ = table;
  ++changes_applied_;
  TLOG_INFO("table replaced", "version={} change={}", entry.version, log_quote(entry.summary));
  const uint64_t v = entry.version;
  kept_.push_back(KeptVersion{table, std::move(entry)});
  pending_.push_back(PendingAck{v, std::move(done)});
  subscribers_.deliver(table);
  if (acked_.empty()) on_ack(0, v);
}

void TablePublisher::on_ack(unsigned subscriber, uint64_t version) {
  if (subscriber < acked_.size()) acked_[subscriber] = std::max(acked_[subscriber], version);
  uint64_t all = acked_.empty() ? version : *std::min_element(acked_.begin(), acked_.end());
  while (!pending_.empty() && pending_.front().version <= all) {
    Done done = std::move(pending_.front().done);
    uint64_t v = pending_.front().version;
    pending_.pop_front();
    if (done) done(v);
  }
}

}  // namespace turnout
