// Backpressure: a slow reader slows its writer, so turnout's memory stays bounded while huge
// bodies stream through in either direction, and a reader that leaves releases the upstream.
#include <doctest/doctest.h>

#include <atomic>

#include "integration/harness.h"

using namespace turnout::test;

namespace {

constexpr long kRssBoundKib = 64 * 1024;

// The bound on turnout's VmRSS: 64 MiB in the normal build. Under ASan/TSan the runtime's shadow
// memory makes the baseline itself large (~40 MiB), so there the bound is 64 MiB of growth over
// the RSS right after start.
long rss_limit_kib(const TurnoutProcess& t) { return kSanitizedBuild ? t.rss_kib() + kRssBoundKib : kRssBoundKib; }
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kMiB = uint64_t{1} << 20;

std::string config_for(const Backend& b) {
  return "apps:\n"
         "  bp: {servers: " + yaml_list({b.addr()}) + "}\n"
         "routes:\n"
         "  bp.test: [bp]\n"
         "access_log: off\n";
}

// Samples turnout's VmRSS every 20 ms on its own thread while alive.
class RssSampler {
 public:
  explicit RssSampler(const TurnoutProcess& t) : t_(t), thread_([this] { run(); }) {}
  ~RssSampler() { stop(); }
  void stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  long max_kib() const { return max_.load(); }
  int samples() const { return samples_.load(); }

 private:
  void run() {
    while (!done_) {
      long v = t_.rss_kib();
      if (v > 0) {
        ++samples_;
        long cur = max_.load();
        while (v > cur && !max_.compare_exchange_weak(cur, v)) {
        }
      }
      std::this_thread::sleep_for(Ms(20));
    }
  }
  const TurnoutProcess& t_;          // the process observed
  std::atomic<bool> done_{false};    // set by stop()
  std::atomic<long> max_{0};         // highest VmRSS seen, KiB
  std::atomic<int> samples_{0};      // readings taken
  std::thread thread_;               // the sampling loop (declared last: starts after the rest)
};

// Downloads a pattern body of `size` bytes: nothing read for `pause`, then 256 KiB per 10 ms for
// `slow_for`, then as fast as possible. Returns bytes received; `check` verifies the pattern.
uint64_t slow_download(Client& cl, Ms pause, Ms slow_for, PatternChecker& check, bool& complete) {
  REQUIRE(cl.send_request("GET", "/huge", "bp.test"));
  std::this_thread::sleep_for(pause);
  auto head = cl.read_head(Ms(10000));
  REQUIRE(head);
  CHECK(head->status == 200);
  auto slow_until = Clock::now() + slow_for;
  complete = cl.read_body(
      *head, false,
      [&](std::string_view d) {
        check.update(d);
        if (Clock::now() < slow_until) std::this_thread::sleep_for(Ms(10));
      },
      Ms(50000), 256 * 1024);
  return check.offset;
}

}  // namespace

TEST_CASE("1 GiB response to a slow reader: memory bounded, body intact") {
  Backend b("bp", huge_response(kGiB));
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);
  const long rss_limit = rss_limit_kib(t);
  long baseline = t.rss_kib();
  MESSAGE("turnout RSS at start: " << baseline << " KiB");

  RssSampler rss(t);
  Client cl(t.port());
  PatternChecker check;
  bool complete = false;
  auto t0 = Clock::now();
  uint64_t got = slow_download(cl, Ms(1500), Ms(2000), check, complete);
  rss.stop();
  MESSAGE("1 GiB through turnout in " << std::chrono::duration_cast<Ms>(Clock::now() - t0).count()
                                      << " ms; max RSS " << rss.max_kib() << " KiB over " << rss.samples()
                                      << " samples");
  CHECK(complete);
  CHECK(got == kGiB);
  CHECK(check.ok());
  if (check.first_bad) MESSAGE("first wrong byte at offset " << *check.first_bad);
  CHECK(rss.samples() > 50);
  CHECK(rss.max_kib() < rss_limit);
}

TEST_CASE("256 MiB chunked response, reader paused then slow: memory bounded, body intact") {
  Backend b("bp", huge_response(256 * kMiB, true));
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);
  const long rss_limit = rss_limit_kib(t);

  RssSampler rss(t);
  Client cl(t.port());
  PatternChecker check;
  bool complete = false;
  uint64_t got = slow_download(cl, Ms(2000), Ms(1000), check, complete);
  rss.stop();
  MESSAGE("max RSS " << rss.max_kib() << " KiB");
  CHECK(complete);
  CHECK(got == 256 * kMiB);
  CHECK(check.ok());
  CHECK(rss.max_kib() < rss_limit);
}

TEST_CASE("256 MiB upload to a slow-reading backend: memory bounded, body intact") {
  Backend::Behavior beh;
  beh.slow_read_bytes = 64 * 1024;
  beh.slow_read_tick = Ms(10);
  beh.slow_read_for = Ms(2500);
  beh.record_body_limit = 0;
  Backend b("bp", beh);
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);
  const long rss_limit = rss_limit_kib(t);

  const uint64_t size = 256 * kMiB;
  RssSampler rss(t);
  Client cl(t.port());
  std::atomic<bool> sent_ok{false};
  std::thread sender([&] {
    std::string head = "PUT /upload HTTP/1.1\r\nHost: bp.test\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n";
    if (!cl.conn().send_all(head, Ms(5000))) return;
    std::string block(kMiB, '\0');
    for (uint64_t off = 0; off < size; off += kMiB) {
      fill_pattern(off, block.data(), block.size());
      if (!cl.conn().send_all(block, Ms(30000))) return;
    }
    sent_ok = true;
  });
  // Read the answer on this thread (the sender and reader share the socket, one direction each).
  std::optional<Response> r;
  {
    auto deadline = Clock::now() + Ms(50000);
    while (!r && Clock::now() < deadline) r = cl.read_response(Ms(1000));
  }
  sender.join();
  rss.stop();
  MESSAGE("max RSS " << rss.max_kib() << " KiB");
  CHECK(sent_ok);
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(b.request_count() == 1);
  auto req = b.requests()[0];
  CHECK(req.body_size == size);
  CHECK(req.body_pattern_ok);
  CHECK(rss.max_kib() < rss_limit);
}

TEST_CASE("a reader that stops and leaves releases the upstream, and memory stays bounded") {
  Backend b("bp", huge_response(kGiB));
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);
  const long rss_limit = rss_limit_kib(t);

  RssSampler rss(t);
  {
    Client cl(t.port());
    REQUIRE(cl.send_request("GET", "/huge", "bp.test"));
    auto head = cl.read_head(Ms(10000));
    REQUIRE(head);
    CHECK(head->status == 200);
    std::this_thread::sleep_for(Ms(1500));  // never reads the body
  }  // closes
  // The upstream connection cannot be pooled mid-body: turnout closes it, the backend sees that.
  CHECK(wait_until([&] { return b.open_connections() == 0; }, Ms(5000)));
  rss.stop();
  CHECK(rss.max_kib() < rss_limit);
  // And turnout still serves.
  b.set_behavior({});
  auto r = http_get(t.port(), "bp.test", "/after");
  REQUIRE(r);
  CHECK(r->status == 200);
}
