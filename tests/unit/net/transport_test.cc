// A Transport layered between a Stream and its socket, the way a TLS transport will sit: it
// transforms every byte both ways (here ROT13 instead of encryption), completes the Stream's
// writes when its own lower writes complete, and passes connect and close through. The Stream's
// buffering and the peer see only the transformed bytes; the loop closes clean.
#include <doctest/doctest.h>

#include <string>

#include "loop_fixture.h"
#include "turnout/common/address.h"
#include "turnout/net/listener.h"
#include "turnout/net/stream.h"

using namespace turnout;

namespace {

char rot13(char c) {
  if (c >= 'a' && c <= 'z') return static_cast<char>('a' + (c - 'a' + 13) % 26);
  if (c >= 'A' && c <= 'Z') return static_cast<char>('A' + (c - 'A' + 13) % 26);
  return c;
}

// Sits on a SocketTransport, under a Stream.
struct Rot13Transport final : Transport, Transport::Events {
  SocketTransport& lower;
  Transport::Events* upper;
  int writes = 0;       // writes taken from the Stream
  int reads = 0;        // reads handed up
  int connected = 0;    // connect outcomes passed up
  struct LowerWrite : TransportWrite {
    std::string bytes;         // the transformed copy the socket writes
    TransportWrite* upper_w;   // the Stream's write, completed with this one
  };

  Rot13Transport(SocketTransport& l, Transport::Events* u) : lower(l), upper(u) {}

  int connect(const sockaddr* addr) override { return lower.connect(addr); }
  int connect_pipe(const char* path) override { return lower.connect_pipe(path); }
  int start_read() override { return lower.start_read(); }
  void stop_read() override { lower.stop_read(); }
  // Like TLS, nothing goes out without a transformed copy: the Stream falls back to write().
  int try_write(const uv_buf_t*, unsigned) override { return UV_EAGAIN; }
  int write(TransportWrite* w, const uv_buf_t* bufs, unsigned count) override {
    ++writes;
    auto* lw = new LowerWrite;
    lw->upper_w = w;
    for (unsigned i = 0; i < count; ++i)
      for (size_t j = 0; j < bufs[i].len; ++j) lw->bytes += rot13(bufs[i].base[j]);
    uv_buf_t b = uv_buf_init(lw->bytes.data(), static_cast<unsigned>(lw->bytes.size()));
    int rc = lower.write(lw, &b, 1);
    if (rc != 0) delete lw;
    return rc;
  }
  void shutdown() override { lower.shutdown(); }
  void close() override { lower.close(); }

  void on_transport_read(const ChunkRef& chunk, ssize_t nread) override {
    if (nread > 0) {
      ++reads;
      for (ssize_t i = 0; i < nread; ++i) chunk.data()[i] = rot13(chunk.data()[i]);
    }
    upper->on_transport_read(chunk, nread);
  }
  void on_transport_connected(int status) override {
    ++connected;
    upper->on_transport_connected(status);
  }
  void on_transport_written(TransportWrite* w, int status) override {
    auto* lw = static_cast<LowerWrite*>(w);
    TransportWrite* up = lw->upper_w;
    delete lw;
    upper->on_transport_written(up, status);
  }
  void on_transport_closed() override { upper->on_transport_closed(); }
};

// Echoes what it reads, or (client) closes once `expect` bytes arrived.
struct Peer : Stream::Owner {
  Stream* stream = nullptr;
  std::string received;
  size_t expect = 0;  // client: close after this many bytes; 0: echo (server)
  int closed = 0;
  void on_stream_read(const ChunkRef& chunk, size_t len) override {
    received.append(chunk.data(), len);
    if (expect == 0) {
      stream->write_copy(chunk.data(), len);
      stream->flush();
    } else if (received.size() >= expect) {
      stream->close();
    }
  }
  void on_stream_end(int) override { stream->close(); }
  void on_stream_drained() override {}
  void on_stream_write_error(int) override { stream->close(); }
  void on_stream_closed() override { ++closed; }
};

}  // namespace

TEST_CASE("Transport: a layer between Stream and socket carries every byte both ways, transformed") {
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

  Peer srv_peer, cli_peer;
  Stream srv(&f.loop, pool, &srv_peer);
  Stream cli(&f.loop, pool, &cli_peer);
  srv_peer.stream = &srv;
  cli_peer.stream = &cli;
  const std::string message = "Hello, turnout";
  cli_peer.expect = message.size();

  server.data = &srv;
  REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&server), 4, [](uv_stream_t* s, int status) {
            REQUIRE(status == 0);
            auto* st = static_cast<Stream*>(s->data);
            REQUIRE(st->init_tcp() == 0);
            REQUIRE(uv_accept(s, st->handle()) == 0);
            st->start_read();
            uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
          }) == 0);

  REQUIRE(cli.init_tcp() == 0);
  Rot13Transport rot(cli.socket(), &cli);
  cli.socket().set_events(&rot);
  cli.set_transport(&rot);
  struct Ctx {
    const std::string* message;
  } ctx{&message};
  REQUIRE(cli.connect(bound->sa(), [](Stream* s, int status, void* arg) {
            REQUIRE(status == 0);
            s->write_copy(static_cast<Ctx*>(arg)->message->data(), static_cast<Ctx*>(arg)->message->size());
            s->start_read();
            s->flush();
          }, &ctx) == 0);
  f.run();

  // The server (plain) saw the transformed bytes and echoed them; the client's Stream read them
  // back through the layer, restored.
  CHECK(srv_peer.received == "Uryyb, gheabhg");
  CHECK(cli_peer.received == message);
  CHECK(rot.connected == 1);
  CHECK(rot.writes >= 1);
  CHECK(rot.reads >= 1);
  CHECK(cli_peer.closed == 1);
  CHECK(srv_peer.closed == 1);
  CHECK(pool.in_use() == 0);
}
