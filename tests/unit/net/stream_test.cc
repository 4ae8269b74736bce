#include <doctest/doctest.h>

#include <string>
#include <thread>

#include "loop_fixture.h"
#include "turnout/common/address.h"
#include "turnout/net/event_queue.h"
#include "turnout/net/listener.h"
#include "turnout/net/stream.h"

using namespace turnout;

namespace {

// A Stream owner that records what happens to it.
struct Recorder : Stream::Owner {
  std::string received;
  int ends = 0;
  int drained = 0;
  int closed = 0;
  int write_errors = 0;
  Stream* stream = nullptr;
  size_t close_after = 0;  // close once this many bytes arrived
  void on_stream_read(const ChunkRef& chunk, size_t len) override {
    received.append(chunk.data(), len);
    if (close_after && received.size() >= close_after) stream->close();
  }
  void on_stream_end(int) override {
    ++ends;
    stream->close();
  }
  void on_stream_drained() override { ++drained; }
  void on_stream_write_error(int) override { ++write_errors; }
  void on_stream_closed() override { ++closed; }
};

}  // namespace

TEST_CASE("Stream: a large write crosses the watermarks, arrives intact, and the loop closes clean") {
  test::LoopFixture f;
  ChunkPool pool;
  auto addr = parse_address("127.0.0.1:0");
  REQUIRE(addr.ok());
  auto fd = open_listen_socket(*addr);
  REQUIRE(fd.ok());
  auto bound = local_address(*fd);
  REQUIRE(bound.ok());

  uv_tcp_t server;
  uv_tcp_init(&f.loop, &server);
  REQUIRE(uv_tcp_open(&server, *fd) == 0);

  Recorder srv_owner, cli_owner;
  Stream srv(&f.loop, pool, &srv_owner);
  Stream cli(&f.loop, pool, &cli_owner);
  srv_owner.stream = &srv;
  cli_owner.stream = &cli;

  std::string payload(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 23);

  server.data = &srv;
  REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&server), 16, [](uv_stream_t* s, int status) {
            REQUIRE(status == 0);
            auto* st = static_cast<Stream*>(s->data);
            REQUIRE(st->init_tcp() == 0);
            REQUIRE(uv_accept(s, st->handle()) == 0);
            st->start_read();
            uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
          }) == 0);

  REQUIRE(cli.init_tcp() == 0);
  struct Ctx {
    Stream* cli;
    std::string* payload;
  } ctx{&cli, &payload};
  REQUIRE(cli.connect(bound->sa(), [](Stream* s, int status, void* arg) {
            REQUIRE(status == 0);
            auto* c = static_cast<Ctx*>(arg);
            // Owned, copied and static segments mixed in one flush.
            s->write_owned(c->payload->substr(0, 1000));
            s->write_copy(c->payload->data() + 1000, 1000);
            s->write_owned(c->payload->substr(2000));
            CHECK(s->above_high_watermark());
            s->flush();
            s->shutdown_after_flush();
          }, &ctx) == 0);
  srv_owner.close_after = 0;
  f.run();
  // The client half-closed after its writes: the server saw everything, then EOF.
  CHECK(srv_owner.received.size() == payload.size());
  CHECK(srv_owner.received == payload);
  CHECK(srv_owner.ends == 1);
  CHECK(cli_owner.drained >= 1);
  CHECK(cli_owner.write_errors == 0);
  cli.close();
  cli.close();  // safe twice
  f.run();
  CHECK(cli_owner.closed == 1);
  CHECK(srv_owner.closed == 1);
  CHECK(pool.in_use() == 0);
}

TEST_CASE("EventQueue: posts from another thread run on the loop, then it closes clean") {
  test::LoopFixture f;
  EventQueue q;
  REQUIRE(q.init(&f.loop) == 0);
  int ran = 0;
  std::thread t([&] {
    for (int i = 0; i < 100; ++i) q.post([&] { ++ran; });
    q.post([&] { q.close(); });
  });
  f.run();
  t.join();
  CHECK(ran == 100);
}
