#include <doctest/doctest.h>

#include "turnout/fleet/etcd_codec.h"
#include "turnout/fleet/json_stream_splitter.h"

using namespace turnout;
using namespace turnout::etcd_codec;

TEST_CASE("prefix_range_end covers exactly the keys that start with the prefix") {
  CHECK(prefix_range_end("/turnout/") == "/turnout0");
  CHECK(prefix_range_end("a\xff") == "b");
  CHECK(prefix_range_end("\xff\xff") == std::string(1, '\0'));
  CHECK(prefix_range_end("") == std::string(1, '\0'));
}

TEST_CASE("request bodies carry base64 keys and int64 strings") {
  CHECK(range_body("foo", "fop") == R"({"key":"Zm9v","range_end":"Zm9w"})");
  CHECK(put_body("foo", "bar", 42) == R"({"key":"Zm9v","lease":"42","value":"YmFy"})");
  TxnRequest t;
  t.compare.push_back(Compare::version("v", Compare::Op::Equal, 0));
  t.success.push_back(TxnOp::put("v", "1"));
  t.failure.push_back(TxnOp::range("v"));
  CHECK(txn_body(t) ==
        R"({"compare":[{"key":"dg==","result":"EQUAL","target":"VERSION","version":"0"}],)"
        R"("failure":[{"request_range":{"key":"dg=="}}],"success":[{"request_put":{"key":"dg==","value":"MQ=="}}]})");
}

TEST_CASE("answers decode: defaults left out by the gateway read as zero") {
  auto r = decode_range(R"({"header":{"revision":"7"},"kvs":[{"key":"Zm9v","mod_revision":"5","version":"1","value":"YmFy"},)"
                        R"({"key":"Zm9w","mod_revision":"6","version":"2"}],"count":"2"})");
  REQUIRE(r.ok());
  CHECK(r.value.revision == 7);
  REQUIRE(r.value.kvs.size() == 2);
  CHECK(r.value.kvs[0].key == "foo");
  CHECK(r.value.kvs[0].value == "bar");
  CHECK(r.value.kvs[1].value == "");
  CHECK(r.value.kvs[1].version == 2);
  CHECK(r.value.count == 2);
  CHECK_FALSE(r.value.more);

  auto empty = decode_range(R"({"header":{"revision":"3"}})");
  REQUIRE(empty.ok());
  CHECK(empty.value.kvs.empty());

  auto t = decode_txn(R"({"header":{"revision":"9"},"responses":[{"response_put":{"header":{"revision":"9"}}},)"
                      R"({"response_delete_range":{"header":{},"deleted":"3"}}]})");
  REQUIRE(t.ok());
  CHECK_FALSE(t.value.succeeded);
  REQUIRE(t.value.responses.size() == 2);
  CHECK(t.value.responses[1].kind == TxnOp::Kind::Delete);
  CHECK(t.value.responses[1].deleted == 3);
}

TEST_CASE("malformed answers and gateway errors are told apart") {
  CHECK(decode_range("not json").status.code == EtcdErrc::Malformed);
  CHECK(decode_range(R"({"kvs":[{"key":"!!"}]})").status.code == EtcdErrc::Malformed);
  CHECK(decode_range(R"({"header":{"revision":"x7"}})").status.code == EtcdErrc::Malformed);

  EtcdStatus e = error_from_response(400, R"({"error":"unexpected EOF","message":"unexpected EOF","code":3})");
  CHECK(e.code == EtcdErrc::Etcd);
  CHECK(e.grpc_code == 3);
  CHECK(e.http_status == 400);
  CHECK(e.message == "unexpected EOF");

  EtcdStatus h = error_from_response(502, "<html>bad gateway</html>");
  CHECK(h.code == EtcdErrc::HttpStatus);
  CHECK(h.http_status == 502);

  // A streaming endpoint reports its error inside the 200 body.
  auto s = decode_lease_keepalive(R"({"error":{"grpc_code":5,"http_code":404,"message":"lease not found"}})");
  CHECK(s.status.code == EtcdErrc::Etcd);
  CHECK(s.status.grpc_code == 5);
  CHECK(s.status.message == "lease not found");
}

TEST_CASE("watch messages: created, events, progress, canceled") {
  auto c = decode_watch_message(R"({"result":{"header":{"revision":"3"},"created":true}})");
  REQUIRE(c.ok());
  CHECK(c.value.kind == WatchMessage::Kind::Created);
  CHECK(c.value.revision == 3);

  auto e = decode_watch_message(
      R"({"result":{"header":{"revision":"4"},"events":[{"kv":{"key":"YQ==","mod_revision":"4","value":"MQ=="}},)"
      R"({"type":"DELETE","kv":{"key":"Yg==","mod_revision":"4"}}]}})");
  REQUIRE(e.ok());
  CHECK(e.value.kind == WatchMessage::Kind::Events);
  REQUIRE(e.value.events.size() == 2);
  CHECK(e.value.events[0].type == WatchEvent::Type::Put);
  CHECK(e.value.events[0].kv.value == "1");
  CHECK(e.value.events[1].type == WatchEvent::Type::Delete);
  CHECK(e.value.events[1].kv.key == "b");

  auto p = decode_watch_message(R"({"result":{"header":{"revision":"9"}}})");
  REQUIRE(p.ok());
  CHECK(p.value.kind == WatchMessage::Kind::Progress);
  CHECK(p.value.revision == 9);

  auto x = decode_watch_message(R"({"result":{"header":{},"canceled":true,"compact_revision":"3"}})");
  REQUIRE(x.ok());
  CHECK(x.value.kind == WatchMessage::Kind::Canceled);
  CHECK(x.value.compact_revision == 3);

  CHECK(decode_watch_message(R"({"result":{"events":[{"type":"BOGUS","kv":{}}]}})").status.code == EtcdErrc::Malformed);
}

TEST_CASE("the splitter finds whole objects however the stream is cut") {
  std::string stream = "{\"a\":{\"b\":\"}{\\\"\"}}\n{\"c\":[1,{\"d\":2}]}\n\n{}";
  std::vector<std::string> want = {"{\"a\":{\"b\":\"}{\\\"\"}}", "{\"c\":[1,{\"d\":2}]}", "{}"};
  for (size_t cut = 1; cut <= stream.size(); ++cut) {
    JsonStreamSplitter s;
    std::vector<std::string> got;
    for (size_t i = 0; i < stream.size(); i += cut)
      CHECK(s.feed(std::string_view(stream).substr(i, cut), [&](std::string_view o) { got.emplace_back(o); }));
    CHECK(got == want);
    CHECK_FALSE(s.in_object());
  }
  JsonStreamSplitter bad;
  CHECK_FALSE(bad.feed("{} x", [](std::string_view) {}));
  JsonStreamSplitter small(8);
  CHECK_FALSE(small.feed("{\"long\":\"object\"}", [](std::string_view) {}));
}
