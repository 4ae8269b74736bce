#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Run from anywhere: python3 tests/fuzz/make_seeds.py. The seeds are committed; this script is how
they were made (and how to remake them when an input format changes). HTTP seeds carry the
three-byte prefix of fuzz_http.h (flags, extra, number of piece sizes) plus the piece sizes.
"""
import os
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

# llhttp_method_t values
DELETE, GET, HEAD, POST, PUT, CONNECT, OPTIONS = 0, 1, 2, 3, 4, 5, 6


def prefix(flags=0, extra=0, pieces=()):
    """fuzz_http.h input header: pieces are sizes 1..256."""
    return bytes([flags, extra, len(pieces)] + [p - 1 for p in pieces])


def write(target, name, data):
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def crlf(text):
    return text.replace("\n", "\r\n").encode()


def request_seeds():
    for f in sorted((FIXTURES / "http").glob("*.http")):
        write("request", f.stem, prefix() + f.read_bytes())
    # The fixtures once more, cut into small pieces (a split-dependent parser shows here).
    for f in ["ok_chunked.http", "ok_content_length.http", "400_bare_cr.http", "400_chunked_end_bare_lf.http"]:
        write("request", "split_" + f[:-5], prefix(0, 0, (1, 3, 7)) + (FIXTURES / "http" / f).read_bytes())
    write("request", "pipelined", prefix(0, 0, (5, 40)) + crlf(
        "GET /a HTTP/1.1\nHost: example.com\n\n"
        "POST /b HTTP/1.1\nHost: example.com\nContent-Length: 5\n\nhello"
        "PUT /c HTTP/1.1\nHost: example.com\nTransfer-Encoding: chunked\n\n5;ext=1\nhello\n0\nTrailer-X: y\n\n"
        "GET /d HTTP/1.1\nHost: example.com\nConnection: close\n\n"))
    write("request", "websocket_upgrade", prefix() + crlf(
        "GET /chat HTTP/1.1\nHost: example.com\nUpgrade: websocket\nConnection: Upgrade\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n\n") + b"\x81\x05hello")
    write("request", "expect_continue", prefix() + crlf(
        "PUT /big HTTP/1.1\nHost: example.com\nExpect: 100-continue\nContent-Length: 10\n\n0123456789"))
    write("request", "absolute_form", prefix() + crlf(
        "GET http://Example.COM:8080/path?q=1#frag HTTP/1.1\nHost: example.com:8080\nAccept: */*\n\n"))
    write("request", "absolute_form_no_host_http10", prefix() + crlf("GET http://example.com HTTP/1.0\n\n"))
    write("request", "connect", prefix() + crlf("CONNECT example.com:443 HTTP/1.1\nHost: example.com:443\n\n"))
    write("request", "options_asterisk", prefix() + crlf("OPTIONS * HTTP/1.1\nHost: example.com\n\n"))
    write("request", "hop_by_hop", prefix(4) + crlf(
        "GET / HTTP/1.1\nHost: example.com\nConnection: keep-alive, X-Secret, , Via\nX-Secret: 1\n"
        "Keep-Alive: timeout=5\nProxy-Connection: keep-alive\nTE: trailers\nTrailer: X\n"
        "X-Forwarded-For: 10.0.0.1\nX-Forwarded-For: 10.0.0.2\nX-Forwarded-Proto: https\n"
        "X-Forwarded-Host: evil\nVia: 1.0 other\nCookie: a=b\nProxy-Authenticate: Basic\n\n"))
    write("request", "http10_keepalive", prefix(8) + crlf(
        "GET / HTTP/1.0\nHost: example.com\nConnection: keep-alive\n\nGET /2 HTTP/1.0\n\n"))
    write("request", "tiny_limits", prefix(1) + crlf(
        "POST / HTTP/1.1\nHost: example.com\nA: 1\nB: 2\nC: 3\nD: 4\nContent-Length: 17\n\n01234567890123456"))
    write("request", "chunked_trailers_limits", prefix(3, 0, (2,)) + crlf(
        "POST / HTTP/1.1\nHost: a.example.org\nTransfer-Encoding: Chunked\n\n"
        "a\n0123456789\n10\n0123456789abcdef\n0\nX-Checksum: 1\nY: 2\n\n"))
    # Finding close-header-over-16: a Close header with more than 16 names in Connection.
    write("request", "close_header_17_names", prefix() + crlf(
        "GET / HTTP/1.1\nHost: a.example\nConnection: close, " + ", ".join(f"x{i}" for i in range(17)) +
        "\nClose: 1\n\n"))
    write("request", "ipv6_host", prefix() + crlf("GET / HTTP/1.1\nHost: [::1]:8080\n\n"))
    # The request-line scanner: extension methods, case variants, protocols, versions, limits.
    write("request", "extension_methods", prefix(0, 0, (4, 9)) + crlf(
        "QUERY /s HTTP/1.1\nHost: a.example\nContent-Length: 3\n\nq=1"
        "BREW /pot HTTP/1.1\nHost: a.example\nTransfer-Encoding: chunked\n\n3\ntea\n0\n\n"
        "MKCOLA /x HTTP/1.1\nHost: a.example\n\nPLAY /m HTTP/1.1\nHost: a.example\n\n"
        "GET_PARAMETER * HTTP/1.1\nHost: a.example\n\n"))
    write("request", "case_variant_method", prefix() + crlf("head / HTTP/1.1\nHost: a.example\n\n"))
    write("request", "pri_http11", prefix() + crlf("PRI / HTTP/1.1\nHost: a.example\n\n"))
    write("request", "pri_preface", prefix() + crlf("PRI * HTTP/2.0\n\nSM\n\n"))
    write("request", "rtsp", prefix() + crlf("OPTIONS * RTSP/1.0\nCSeq: 1\n\n"))
    write("request", "ice", prefix() + crlf("SOURCE /mount ICE/1.0\nHost: a.example\n\n"))
    write("request", "http12_http19", prefix(0, 0, (3,)) + crlf(
        "GET / HTTP/1.2\nHost: a.example\n\nPOST / HTTP/1.9\nHost: a.example\nContent-Length: 1\n\nx"))
    write("request", "http20_request_line", prefix() + crlf("GET / HTTP/2.0\nHost: a.example\n\n"))
    write("request", "http30_request_line", prefix() + crlf("GET / HTTP/3.0\nHost: a.example\n\n"))
    write("request", "double_space", prefix() + crlf("GET  / HTTP/1.1\nHost: a.example\n\n"))
    write("request", "empty_lines_first", prefix(0, 0, (1,)) + crlf("\n\nGET / HTTP/1.1\nHost: a.example\n\n"))
    write("request", "long_target_tiny_limits", prefix(1) + crlf("GET /" + "a" * 200 + " HTTP/1.1\nHost: a.example\n\n"))
    write("request", "long_method", prefix(3, 0, (5,)) + crlf("M" * 40 + " / HTTP/1.1\nHost: a.example\n\n"))
    write("request", "tls_client_hello", prefix() + b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    # Chunk-size lines (RFC 9112 7.1.1): every valid form, split, and invalid ones.
    write("request", "chunk_extensions", prefix(0, 0, (1, 2, 3)) + crlf(
        "POST / HTTP/1.1\nHost: a.example\nTransfer-Encoding: chunked\n\n"
        "2;a=b;c=d\nab\n2 ;a=b\ncd\n2; a=b\nef\n2;a = b\ngh\n2;a=\"b\\\"c\"\nij\n"
        "2\t;\tn\nkl\n2;q=\"x;y=\\\\z\"\nmn\n0;last=\"1\"\nT: 1\n\n"))
    write("request", "chunk_extension_unterminated", prefix() + crlf(
        "POST / HTTP/1.1\nHost: a.example\nTransfer-Encoding: chunked\n\n2;a=\"b\nab\n0\n\n"))
    write("request", "chunk_extension_trailing_ws", prefix() + crlf(
        "POST / HTTP/1.1\nHost: a.example\nTransfer-Encoding: chunked\n\n2;a=b \nab\n0\n\n"))
    write("request", "chunk_extension_too_long", prefix() + crlf(
        "POST / HTTP/1.1\nHost: a.example\nTransfer-Encoding: chunked\n\n2;" + "x" * 300 + "\nab\n0\n\n"))
    # Upgrade policy: bodies on upgrade requests, h2c never offered, CONNECT bodies.
    write("request", "upgrade_with_body", prefix() + crlf(
        "POST /up HTTP/1.1\nHost: a.example\nConnection: Upgrade\nUpgrade: websocket\nContent-Length: 4\n\n")
          + b"abcdping")
    write("request", "upgrade_chunked_body", prefix(0, 0, (7,)) + crlf(
        "POST /up HTTP/1.1\nHost: a.example\nConnection: Upgrade\nUpgrade: foo, websocket\n"
        "Transfer-Encoding: chunked\n\n4;x=y\nabcd\n0\n\n") + b"\x81\x00")
    write("request", "h2c_upgrade", prefix() + crlf(
        "GET / HTTP/1.1\nHost: a.example\nConnection: Upgrade, HTTP2-Settings\nUpgrade: h2c\n"
        "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\n\nGET /next HTTP/1.1\nHost: a.example\n\n"))
    write("request", "h2c_websocket_list", prefix() + crlf(
        "GET /ws HTTP/1.1\nHost: a.example\nConnection: Upgrade, HTTP2-Settings\nUpgrade: h2c, WebSocket/13\n"
        "upgrade: websocket\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\n\n"))
    write("request", "connect_with_body", prefix() + crlf(
        "CONNECT a.example:443 HTTP/1.1\nHost: a.example:443\nContent-Length: 4\n\nabcd"))
    # Host reg-names that are not hostnames: legal, routed to no route.
    write("request", "host_sub_delims", prefix() + crlf(
        "GET / HTTP/1.1\nHost: a=b\n\nGET http://A=B:80/x HTTP/1.1\nHost: a=b\n\n"
        "GET / HTTP/1.1\nHost: *.a.example\n\nGET / HTTP/1.1\nHost: a,b\n\n"))


def response_seeds():
    write("response", "cl", prefix(0, GET) + crlf(
        "HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\nSet-Cookie: a=b\n\nhello"))
    write("response", "chunked_trailers", prefix(0, GET, (3, 9)) + crlf(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nTrailer: X-Sum\n\n5\nhello\n6;x=y\n world\n0\nX-Sum: 1\n\n"))
    write("response", "until_close", prefix(32, GET) + crlf("HTTP/1.1 200 OK\nContent-Type: text/html\n\n") + b"<p>body")
    write("response", "until_close_http10_client", prefix(32 | 4, GET) + crlf("HTTP/1.0 200 OK\n\n") + b"data")
    write("response", "chunked_to_http10", prefix(4, GET) + crlf(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n"))
    write("response", "no_content", prefix(0, DELETE) + crlf("HTTP/1.1 204 No Content\nX-A: 1\n\n"))
    write("response", "not_modified", prefix(0, GET) + crlf("HTTP/1.1 304 Not Modified\nContent-Length: 1234\nETag: \"x\"\n\n"))
    write("response", "head", prefix(0, HEAD) + crlf("HTTP/1.1 200 OK\nContent-Length: 99\n\nHTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"))
    write("response", "switching", prefix(8, GET) + crlf(
        "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n\n") + b"\x81\x02hi")
    write("response", "interim", prefix(0, PUT, (7,)) + crlf(
        "HTTP/1.1 100 Continue\n\nHTTP/1.1 103 Early Hints\nLink: </s.css>\n\nHTTP/1.1 201 Created\nContent-Length: 0\n\n"))
    write("response", "connect_tunnel", prefix(0, CONNECT) + crlf("HTTP/1.1 200 Connection established\n\n") + b"tunnel")
    write("response", "keepalive_pipeline", prefix(16, GET) + crlf(
        "HTTP/1.1 200 OK\nContent-Length: 2\nConnection: keep-alive, X-Hop\nX-Hop: 1\nKeep-Alive: timeout=5\n\nok"
        "HTTP/1.1 404 Not Found\nContent-Length: 0\nVia: 1.1 upstream\n\n"
        "HTTP/1.1 200 OK\nConnection: close\n\nrest"))
    write("response", "bad_cl_te", prefix(0, GET) + crlf("HTTP/1.1 200 OK\nContent-Length: 3\nTransfer-Encoding: chunked\n\n0\n\n"))
    # Finding te-to-http10 (tests/unit/http/fuzz_regressions_test.cc).
    write("response", "head_te_to_http10_client", prefix(4, HEAD) + crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"))
    # Finding status-range: a status line without a three-digit status.
    write("response", "status_missing", prefix(0, GET) + crlf("HTTP/1.1 \nContent-Length: 0\n\n"))
    write("response", "garbage_status", prefix(0, GET) + b"HTTP/1.1 2OO OK\r\n\r\n")
    write("response", "empty_reason", prefix(0, POST) + crlf("HTTP/1.1 599 \nContent-Length: 1\n\nx"))
    write("response", "chunk_extensions", prefix(0, GET, (1, 4)) + crlf(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
        "2;a=b;c=d\nab\n2 ;a=b\ncd\n2; a = \"b\\\"c\"\nef\n0\n\n"))
    write("response", "chunk_extension_bad", prefix(0, GET) + crlf(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2;a=\"b\nab\n0\n\n"))
    write("response", "switching_h2c", prefix(8, GET) + crlf(
        "HTTP/1.1 101 Switching Protocols\nUpgrade: h2c\nConnection: Upgrade\n\n") + b"\x00\x00\x00\x04\x00")
    write("response", "switching_before_body_end", prefix(8 | 64, POST) + crlf(
        "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n\n") + b"\x81\x00")
    write("response", "switching_unasked", prefix(0, GET) + crlf(
        "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n\n"))


def config_seeds():
    write("config", "turnout_yaml", (ROOT / "conf" / "turnout.yaml").read_bytes())
    for f in sorted((FIXTURES / "config").glob("*.yaml")):
        write("config", f.stem, f.read_bytes())
    write("config", "minimal", 'listen: "127.0.0.1:8080"\napps: {a: {servers: ["127.0.0.1:9000"]}}\nroutes: {a.com: [a]}\n')
    write("config", "weights_wildcards", """listen: ["127.0.0.1:0", "[::1]:0"]
workers: 1
apps:
  a: { servers: [{addr: "localhost:9000", weight: 5}, "unix:/tmp/a.sock"] }
  b: { servers: [] , health: { path: /h, interval: 100ms, timeout: 1s, rise: 1, fall: 1 } }
routes:
  "*.a.com": [a, {app: b, weight: 7}]
  "x.a.com.": [b]
default_app: b
""")
    write("config", "admin_remote", """listen: 0.0.0.0:80
admin: { socket: null, http: "0.0.0.0:9901", allow_remote: true, token: secret }
apps: {a: {servers: ["10.0.0.1:80"]}}
routes: {a.com: [a]}
timeouts: {connect: 1ms, request_header: 1m, upstream_response: 0s, client_idle: 10s, upstream_idle: 5s, drain: 1s}
limits: {max_header_bytes: 1, max_headers: 1, max_body_bytes: 18446744073709551615, max_connections: 1}
""")
    write("config", "anchors_merge", """base: &b { servers: ["127.0.0.1:1"] }
listen: ["127.0.0.1:8080"]
apps: { a: *b, c: { <<: *b } }
routes: { a.com: [a, a] }
""")
    # Finding state-utf8 (tests/unit/state/fuzz_regressions_test.cc): non-UTF-8 bytes that YAML
    # lets through reach the state file.
    write("config", "state_utf8_health_path",
          b'listen:\n"1.0.0.1:1"\napps:\n web:\n    servers:\n    - "unix:c"\n    health: {path: /\xff}\nroutes:\n o: [web]\n')
    write("config", "state_utf8_server_addr",
          b'listen: ["[::]:0"]\napps:\n  a: { servers: [unix:\xd0]}\n  b: { servers: []}\nroutes:\n "m": [{app: b}]')
    write("config", "path_routes", """listen: ["127.0.0.1:0"]
apps: {a: {servers: ["127.0.0.1:1"]}, b: {servers: ["127.0.0.1:2"]}}
routes:
  a.com: [a]
  a.com/api: [b]
  A.COM./api/v2/: [a, {app: b, weight: 2}]
  "*.a.org/static/%7Ecss": [b]
  "[::1]/x%2Fy": [a]
  a.net/a/../b: [a]
  a.net//x: [a]
  a.net/x?y: [a]
  a.net/%zz: [a]
default_app: a
""")
    write("config", "canary_rules", """listen: "127.0.0.1:8080"
apps: {a: {servers: ["127.0.0.1:9000"]}, b: {servers: ["127.0.0.1:9001"]}}
routes:
  beta.a.com:
    - { app: b, when: { header: "X-Canary", value: "1" } }
    - { app: b, weight: 3, when: { cookie: "canary", value: "always" } }
    - a
  testers.a.com: [{ app: b, when: { header: X-Tester, value: "yes please" } }]
  bad.a.com: [{ app: b, when: { header: "X A", cookie: c, value: "" } }, { app: a, when: 7 }]
""")
    write("config", "syntax_error", "listen: [\"127.0.0.1:8080\"\napps: {\n")
    write("config", "wrong_types", "listen: {a: 1}\nworkers: [1]\napps: [a]\nroutes: 7\ndefault_app: {}\ntimeouts: []\nlimits: x\n")
    write("config", "tagged_scalars", "listen: !!str 127.0.0.1:8080\nworkers: !!int 2\napps: {a: {servers: [!!binary aGk=]}}\nroutes: {? [complex] : [a]}\n")


def admin_seeds():
    seeds = {
        "get_routes": "GET /v1/routes\n\n",
        "get_apps": "GET /v1/apps\n\n",
        "get_status": "GET /v1/status\n\n",
        "get_history": "GET /v1/history\n\n",
        "get_metrics": "GET /metrics\n\n",
        "get_index": "GET /\n\n",
        "put_route": "PUT /v1/routes/new.example.com/example2\nif-match: 1\n\n{\"weight\": 3}",
        "put_route_wildcard": "PUT /v1/routes/%2A.example.net/example\n\n",
        "put_route_path": "PUT /v1/routes/example.com%2Fapi%2F%2561/example2\n\n{\"weight\": 2}",
        "put_route_path_bad": "PUT /v1/routes/example.com%2Fa%2F..%2Fb/example2\n\n",
        "delete_route_path": "DELETE /v1/routes/%2A.example.org%2Fstatic/example\n\n",
        "batch_path": "POST /v1/batch\n\n[{\"op\": \"map\", \"app\": \"example2\", \"host\": \"Example.com/API/\"},"
                      " {\"op\": \"swap\", \"from\": \"example2\", \"to\": \"example\", \"host\": \"example.com/API\"},"
                      " {\"op\": \"unmap\", \"app\": \"example\", \"host\": \"example.com/x?y\"}]",
        "delete_route_wait": "DELETE /v1/routes/example.com/example?wait=1\n\n",
        "put_app": "PUT /v1/apps/newapp\n\n{\"servers\": [\"127.0.0.1:9300\", {\"addr\": \"[::1]:9301\", \"weight\": 2}, \"unix:/tmp/x.sock\"]}",
        "delete_app": "DELETE /v1/apps/spare\nIf-Match: \"1\"\n\n",
        "post_server": "POST /v1/apps/example2/servers\n\n{\"addr\": \"localhost:9102\", \"weight\": 1}",
        "delete_server": "DELETE /v1/apps/example/servers/127.0.0.1%3A9001\n\n",
        "batch": "POST /v1/batch?wait=1\n\n[{\"op\": \"map\", \"app\": \"example2\", \"host\": \"example.com\", \"weight\": 2},"
                 " {\"op\": \"unmap\", \"app\": \"example\", \"host\": \"example.com\"},"
                 " {\"op\": \"swap\", \"from\": \"example\", \"to\": \"example2\", \"host\": \"www.example.com\"},"
                 " {\"op\": \"app-create\", \"app\": \"c\", \"servers\": [\"127.0.0.1:1\"]},"
                 " {\"op\": \"add-server\", \"app\": \"c\", \"addr\": \"127.0.0.1:2\"},"
                 " {\"op\": \"remove-server\", \"app\": \"c\", \"addr\": \"127.0.0.1:1\"},"
                 " {\"op\": \"set-default\", \"app\": null}, {\"op\": \"app-delete\", \"app\": \"spare\"}]",
        "put_route_when": "PUT /v1/routes/beta.example.com/example2\n\n{\"weight\": 2, \"when\": {\"header\": \"X-Canary\", \"value\": \"1\"}}",
        "put_route_when_bad": "PUT /v1/routes/beta.example.com/example2\n\n{\"when\": {\"header\": \"X A\", \"cookie\": \"c\", \"value\": \"\"}}",
        "delete_route_when": "DELETE /v1/routes/beta.example.com/example2\n\n{\"when\": {\"cookie\": \"canary\", \"value\": \"always\"}}",
        "batch_when": "POST /v1/batch\n\n[{\"op\": \"map\", \"app\": \"example2\", \"host\": \"example.com\", \"when\": {\"cookie\": \"c\", \"value\": \"1\"}},"
                      " {\"op\": \"map\", \"app\": \"example\", \"host\": \"example.com\", \"when\": {\"header\": \"x-a\", \"value\": \"b c\"}},"
                      " {\"op\": \"unmap\", \"app\": \"example2\", \"host\": \"example.com\", \"when\": {\"cookie\": \"c\", \"value\": \"1\"}}]",
        "swap": "POST /v1/swap\n\n{\"from\": \"example\", \"to\": \"example2\", \"hosts\": [\"Example.COM.\", \"*.example.org\"]}",
        "rollback": "POST /v1/rollback\n\n{\"version\": 1}",
        "reload": "POST /v1/reload\nif-match: 1\n\n",
        "method_not_allowed": "PATCH /v1/routes\n\n",
        "upgrade": "POST /v1/upgrade\n\n",
        "bad_json": "POST /v1/batch\n\n[{\"op\": \"map\", \"app\": 1e400, \"host\": \"\\ud800\"}",
        "state_snapshot": "POST /v1/batch\n\n{\"config_hash\": \"00\", \"version\": 3, \"table\": {\"apps\": {\"a\": {\"servers\": "
                          "[{\"addr\": \"127.0.0.1:1\", \"weight\": 1}], \"health\": {\"path\": \"/\", \"interval_ms\": 5000, "
                          "\"timeout_ms\": 1000, \"rise\": 2, \"fall\": 3}}}, \"routes\": {\"a.com\": {\"a\": 1}}, \"default_app\": \"a\"}}",
        "state_journal_line": "POST /v1/batch\n\n{\"version\": 4, \"changes\": [{\"op\": \"map\", \"host\": \"a.com\", \"app\": \"a\", \"weight\": 2},"
                              " {\"op\": \"unmap\", \"host\": \"b.com\", \"app\": \"a\", \"if_present\": true},"
                              " {\"op\": \"put-app\", \"app\": \"b\", \"servers\": []}]}",
    }
    for name, text in seeds.items():
        write("admin", name, text)


def admin_http_seeds():
    def req(method, target, body="", headers=()):
        h = "".join(f"{k}: {v}\r\n" for k, v in headers)
        if body:
            h += f"Content-Length: {len(body)}\r\n"
        return f"{method} {target} HTTP/1.1\r\nHost: x\r\n{h}\r\n{body}"
    write("admin_http", "get_routes", req("GET", "/v1/routes"))
    write("admin_http", "pipelined", req("GET", "/v1/status") + req("PUT", "/v1/routes/a.com/example", '{"weight": 2}')
          + req("DELETE", "/v1/routes/a.com/example", "", [("If-Match", "2")]) + req("GET", "/metrics"))
    write("admin_http", "batch_expect", req("POST", "/v1/batch?wait=1",
          '[{"op": "swap", "from": "example", "to": "example2", "host": "example.com"}]', [("Expect", "100-continue")]))
    write("admin_http", "chunked_body", "POST /v1/apps/n HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5\r\n{\"ser\r\n19\r\nvers\": [\"127.0.0.1:1\"]}\r\n0\r\n\r\n")
    write("admin_http", "too_large", req("PUT", "/v1/apps/big", '{"servers": [' + '"127.0.0.1:1",' * 100 + ']}'))
    write("admin_http", "http10_close", "GET /v1/apps HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    write("admin_http", "connection_close", req("POST", "/v1/reload", "", [("Connection", "close")]) + req("GET", "/"))
    write("admin_http", "takeover", req("POST", "/v1/takeover") + "handoff bytes")
    write("admin_http", "upgrade_header", req("GET", "/v1/routes", "", [("Connection", "upgrade"), ("Upgrade", "websocket")])
          + req("GET", "/v1/routes"))
    write("admin_http", "malformed", "GET /v1/routes HTTP/1.1\r\nHost x\r\n\r\n")
    write("admin_http", "incomplete", "POST /v1/batch HTTP/1.1\r\nContent-Length: 10\r\n\r\n[{")
    write("admin_http", "method_not_allowed", req("PATCH", "/v1/apps/example/servers/127.0.0.1%3A9001"))


def state_seeds():
    m = '{"op":"map","host":"a.example","app":"example","weight":2}'
    u = '{"op":"unmap","host":"example.com","app":"example","if_present":true}'
    p = '{"op":"put-app","app":"n","servers":[{"addr":"127.0.0.1:7","weight":1},{"addr":"localhost:8","weight":3}]}'
    a = '{"op":"add-server","app":"n","addr":"unix:/tmp/n.sock","weight":1}'
    r = '{"op":"remove-server","app":"n","addr":"127.0.0.1:7"}'
    d = '{"op":"set-default","app":null}'
    x = '{"op":"delete-app","app":"spare"}'
    table = ('{"apps":{"example":{"servers":[{"addr":"127.0.0.1:9001","weight":1}],"health":{"path":"/h",'
             '"interval_ms":5000,"timeout_ms":1000,"rise":2,"fall":3}},"b":{"servers":[]}},'
             '"routes":{"example.com":{"example":1,"b":4},"*.example.org":{"example":1}},"default_app":"b"}')
    write("state", "changes", f'{{"version":2,"changes":[{m}]}}\n{{"version":3,"changes":[{u},{p},{a}]}}\n'
                              f'{{"version":4,"changes":[{r},{d},{x}]}}\n')
    write("state", "table_entry", f'{{"version":2,"changes":[{m}]}}\n{{"version":5,"table":{table}}}\n')
    write("state", "torn_tail", f'{{"version":2,"changes":[{m}]}}\n{{"version":3,"chan')
    write("state", "no_newline", f'{{"version":2,"changes":[{m}]}}')
    write("state", "bad_middle", f'{{"version":2,"changes":[{m}]}}\nnot json\n{{"version":3,"changes":[{u}]}}\n')
    write("state", "old_versions", f'{{"version":1,"changes":[{x}]}}\n{{"version":0,"changes":[]}}\n{{"version":2,"changes":[{m}]}}\n')
    write("state", "does_not_apply", f'{{"version":2,"changes":[{{"op":"unmap","host":"nowhere.example","app":"example"}}]}}\n')
    write("state", "snapshot_doc", f'{{"config_hash":"cafe","version":9,"table":{table}}}')
    write("state", "huge_version", f'{{"version":18446744073709551615,"changes":[{m}]}}\n')
    write("state", "both_kinds", f'{{"version":2,"changes":[{m}],"table":{table}}}\n')
    write("state", "nested_apps", '{"version":2,"table":{"apps":{"a":{"servers":[],"x":[[[[{"y":[1,{"z":null}]}]]]]}},'
                                  '"routes":{},"default_app":null}}\n')
    rules = ('{"apps":{"a":{"servers":[]},"b":{"servers":[]}},"routes":{"beta.example":[{"app":"a","weight":1},'
             '{"app":"b","weight":2,"when":{"header":"x-canary","value":"1"}},{"app":"b","weight":1,"when":{"cookie":"c","value":"on"}}],'
             '"plain.example":{"a":1}},"default_app":null}')
    w = '{"op":"map","host":"plain.example","app":"b","weight":1,"when":{"cookie":"c","value":"on"}}'
    write("state", "rules_snapshot", f'{{"config_hash":"cafe","version":9,"table":{rules}}}\n{{"version":10,"changes":[{w}]}}\n')
    write("state", "duplicate_keys", '{"version":2,"version":3,"table":{"apps":{"a":{"servers":[]},"a":{"servers":[]}},'
                                     '"routes":{"h.example":{"a":1},"h.example":{"a":2}}}}\n')


def client_hello(server_name, tls12=False):
    """The first flight of a real TLS client (Python's ssl over memory BIOs), as a raw seed."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def tls_seeds():
    # flags: & 3 SNI (none, a.test, x.wild.test, nowhere.test), & 4 raw ciphertext,
    # & 8 TLS 1.2 client, & 16 RSA-only client. Over TLS, the stream is the request plaintext.
    get = crlf("GET / HTTP/1.1\nHost: a.test\n\n")
    for flags in range(32):
        if flags & 4:
            continue
        write("tls", f"get_flags_{flags}", prefix(flags) + get)
    for f in ["ok_chunked.http", "ok_content_length.http", "400_bare_cr.http"]:
        write("tls", "split_" + f[:-5], prefix(1, 0, (1, 3, 7, 200)) + (FIXTURES / "http" / f).read_bytes())
    write("tls", "pipelined", prefix(2, 0, (5, 40)) + crlf(
        "GET /1 HTTP/1.1\nHost: x.wild.test\n\nPOST /2 HTTP/1.1\nHost: x.wild.test\nContent-Length: 3\n\nabc"
        "GET /3 HTTP/1.1\nHost: x.wild.test\n\n"))
    # Raw mode: what reaches a TLS port that is not a well-behaved client.
    write("tls", "raw_plain_http", prefix(4) + get)
    write("tls", "raw_record_header_garbage", prefix(4) + b"\x16\x03\x01\x00\x05garbage-after-a-record-header")
    write("tls", "raw_sslv2_hello", prefix(4) + b"\x80\x2e\x01\x00\x02\x00\x15" + bytes(0x15 + 0x10))
    write("tls", "raw_client_hello_13", prefix(4) + client_hello("a.test"))
    write("tls", "raw_client_hello_12_split", prefix(12, 0, (1, 5, 64)) + client_hello("x.wild.test", tls12=True))
    hello = client_hello("nowhere.test")
    write("tls", "raw_client_hello_truncated", prefix(4) + hello[: len(hello) // 2])


def h2_frame(ftype, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + stream.to_bytes(4, "big") + payload


def h2_literal(name, value):
    """HPACK literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    n, v = name.encode(), value.encode()
    assert len(n) < 127 and len(v) < 127
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def h2_block(fields):
    return b"".join(h2_literal(k, v) for k, v in fields)


def h2_seeds():
    """fuzz_h2.cc input: one flags byte (limits), then client frames after the preface."""
    settings = h2_frame(4, 0, 0)
    get = [(":method", "GET"), (":scheme", "https"), (":path", "/x"), (":authority", "a.test")]
    write("h2", "get", b"\x00" + settings + h2_frame(1, 5, 1, h2_block(get)))
    post = [(":method", "POST"), (":scheme", "http"), (":path", "/up"), (":authority", "a.test"),
            ("content-length", "5"), ("cookie", "a=1"), ("cookie", "b=2")]
    write("h2", "post_body", b"\x00" + settings + h2_frame(1, 4, 1, h2_block(post)) + h2_frame(0, 1, 1, b"hello"))
    block = h2_block(get + [("x-pad", "v" * 100)] * 6)
    write("h2", "continuation", b"\x01" + settings + h2_frame(1, 0, 3, block[:200]) + h2_frame(9, 4, 3, block[200:]))
    bad = get + [("connection", "close"), ("te", "gzip"), ("Upper", "x")]
    write("h2", "connection_specific", b"\x00" + settings + h2_frame(1, 5, 1, h2_block(bad)))
    write("h2", "host_differs", b"\x00" + settings + h2_frame(1, 5, 1, h2_block(get + [("host", "b.test")])))
    write("h2", "connect", b"\x00" + settings + h2_frame(1, 5, 1, h2_block([(":method", "CONNECT"), (":authority", "a.test:443")])))
    rst = b"".join(h2_frame(1, 5, 2 * i + 1, h2_block(get)) + h2_frame(3, 0, 2 * i + 1, (8).to_bytes(4, "big"))
                   for i in range(20))
    write("h2", "rapid_reset", b"\x02" + settings + rst)
    write("h2", "ping_window_priority", b"\x00" + settings + h2_frame(6, 0, 0, bytes(8)) +
          h2_frame(8, 0, 0, (1).to_bytes(4, "big")) + h2_frame(2, 0, 1, bytes(5)) + h2_frame(0, 0, 1))


if __name__ == "__main__":
    request_seeds()
    response_seeds()
    config_seeds()
    admin_seeds()
    admin_http_seeds()
    state_seeds()
    tls_seeds()
    h2_seeds()
    for t in ["request", "response", "config", "admin", "admin_http", "state", "tls"]:
        print(t, len(os.listdir(HERE / "corpus" / t)), "seeds")
