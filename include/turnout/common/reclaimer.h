// Reclaimer: frees retired objects on its own thread. A route table version that leaves the
// rollback history can own the only copy of thousands of trie nodes (a version before a
// 10,000-route batch); destroying it on the main loop stalled the next change's acknowledgement
// by milliseconds. Tables are immutable and their reference counts atomic, so the last
// reference may be dropped on any thread.
//
// Owner: whoever creates it (app/Server); the destructor frees what is still queued and joins.
// retire() may be called from any thread.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace turnout {

class Reclaimer {
 public:
  Reclaimer();
  ~Reclaimer();
  Reclaimer(const Reclaimer&) = delete;
  Reclaimer& operator=(const Reclaimer&) = delete;

  // Drops `object`'s reference on the reclaimer thread (freeing it there if it was the last).
  void retire(std::shared_ptr<const void> object);
  // Objects retired so far whose reference has been dropped (for tests).
  size_t dropped() const;

 private:
  void run();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<const void>> queue_;  // guarded by mu_
  size_t dropped_ = 0;                              // guarded by mu_
  bool stop_ = false;                               // guarded by mu_
  std::thread thread_;                              // started last, joined in the destructor
};

}  // namespace turnout
