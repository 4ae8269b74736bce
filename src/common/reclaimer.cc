#include "turnout/common/reclaimer.h"

#include <pthread.h>
#include <sched.h>

#include "turnout/common/log.h"

namespace turnout {

Reclaimer::Reclaimer() : thread_([this] { run(); }) {}

Reclaimer::~Reclaimer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void Reclaimer::retire(std::shared_ptr<const void> object) {
  if (!object) return;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(object));
  }
  cv_.notify_one();
}

size_t Reclaimer::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void Reclaimer::run() {
  set_log_thread_name("reclaim");
  // SCHED_IDLE: freeing is never urgent. When turnout shares one CPU (taskset, a small
  // container) the frees wait for idle moments instead of delaying the next change's answer.
  sched_param idle{};
  pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
  std::vector<std::shared_ptr<const void>> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty() && stop_) return;
      batch.swap(queue_);
    }
    size_t n = batch.size();
    batch.clear();  // the frees happen here, off every loop
    std::lock_guard lock(mu_);
    dropped_ += n;
  }
}

}  // namespace turnout
