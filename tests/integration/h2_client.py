#!/usr/bin/python3
"""Scripted HTTP/2 client for turnout's integration tests (python3-h2).

One connection; the JSON spec on stdin lists steps run in order:
  {"requests": [req, ...]}  send these streams at once, wait until each ended or was reset
  {"touch": PATH}           create a file (tells the test a step is done)
  {"wait_file": PATH}       wait (up to 20 s) until a file exists
  {"flood": KIND, "count": N}  N frames of KIND (ping, settings, window_update, empty_data,
                            rapid_reset, too_many_streams, stall_headers), then read until the connection
                            closes (10 s at most)
A req: {"authority", "path", "method" (GET), "headers": [[k, v]...] (sent as given, unchecked),
        "body_len": N (N bytes of a fixed pattern) or "body": "text",
        "trailers": [[k, v]...] (a trailer HEADERS block with END_STREAM after the body, unchecked)}.
Spec keys: "port", "tls" (bool), "ca", "sni".
Prints one JSON object: {"results": [{"status", "len", "sha256", "sent_sha256", "pattern_ok",
"body", "reset", "headers"}...],
"goaway": [error codes received], "closed": bool}.
"""
import hashlib
import json
import os
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack


def pattern(n):
    block = bytes((i * 7) % 251 for i in range(65536))
    out = bytearray()
    while len(out) < n:
        out += block
    return bytes(out[:n])


def check_pattern(offset, data):
    """The harness's offset pattern: each 8-byte aligned word holds its offset, little-endian."""
    for i, b in enumerate(data):
        at = offset + i
        word = at - at % 8
        if b != (word >> (8 * (at % 8))) & 0xFF:
            return False
    return True


def flood(conn, sock, kind, count):
    sent = 0
    try:
        for i in range(count):
            if kind == "ping":
                conn.ping(i.to_bytes(8, "big"))
            elif kind == "settings":
                conn.update_settings({h2.settings.SettingCodes.ENABLE_PUSH: 0})
            elif kind == "window_update":
                conn.increment_flow_control_window(1)
            elif kind == "empty_data":
                if i == 0:
                    conn.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/"),
                                          (":authority", "a.test")])
                conn.send_data(1, b"")
            elif kind == "too_many_streams":
                # Raw HEADERS (no END_STREAM) past the advertised limit, which python3-h2 would
                # refuse to send.
                if i == 0:
                    enc = hpack.Encoder()
                blk = enc.encode([(":method", "POST"), (":scheme", "http"), (":path", "/"), (":authority", "a.test")])
                sock.sendall(len(blk).to_bytes(3, "big") + bytes([1, 4]) + (1 + 2 * i).to_bytes(4, "big") + blk)
            elif kind == "stall_headers":
                # A HEADERS frame without END_HEADERS, and no CONTINUATION ever.
                blk = hpack.Encoder().encode([(":method", "GET"), (":scheme", "http")])
                sock.sendall(len(blk).to_bytes(3, "big") + bytes([1, 0]) + (1).to_bytes(4, "big") + blk)
                break
            elif kind == "rapid_reset":
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":path", "/"),
                                        (":authority", "a.test")])
                conn.reset_stream(sid)
            sent += 1
            if i % 100 == 99:
                sock.sendall(conn.data_to_send())
        sock.sendall(conn.data_to_send())
    except (OSError, h2.exceptions.ProtocolError):
        pass
    return sent


def main():
    spec = json.load(sys.stdin)
    sock = socket.create_connection(("127.0.0.1", spec["port"]), timeout=20)
    if spec.get("tls"):
        ctx = ssl.create_default_context(cafile=spec.get("ca"))
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_hostname=spec.get("sni", "a.test"))
        if sock.selected_alpn_protocol() != "h2":
            print(json.dumps({"error": "alpn", "alpn": sock.selected_alpn_protocol()}))
            return
    cfg = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                    normalize_outbound_headers=False, validate_inbound_headers=False)
    conn = h2.connection.H2Connection(config=cfg)
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
    conn.increment_flow_control_window(16 << 20)
    sock.sendall(conn.data_to_send())
    out = {"results": [], "goaway": [], "closed": False}
    state = {}

    def pump(deadline):
        try:
            sock.settimeout(max(0.05, min(1.0, deadline - time.time())))
            data = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return True
        except (ConnectionError, ssl.SSLError, OSError):
            out["closed"] = True
            return False
        if not data:
            out["closed"] = True
            return False
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            out["closed"] = True
            return False
        for ev in events:
            st = state.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived) and st is not None:
                hs = [(k.decode(), v.decode()) for k, v in ev.headers]
                st["headers"] = hs
                st["status"] = int(dict(hs)[":status"])
            elif isinstance(ev, h2.events.InformationalResponseReceived) and st is not None:
                st.setdefault("interim", []).append(int(dict((k.decode(), v.decode()) for k, v in ev.headers)[":status"]))
            elif isinstance(ev, h2.events.DataReceived):
                if st is not None:
                    st["data"].update(ev.data)
                    if st["pattern_ok"]:
                        st["pattern_ok"] = check_pattern(st["len"], ev.data)
                    st["len"] += len(ev.data)
                    if len(st["body"]) < 300:
                        st["body"] += ev.data[:300].decode("latin-1")
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived) and st is not None:
                st["trailers"] = [(k.decode(), v.decode()) for k, v in ev.headers]
            elif isinstance(ev, h2.events.StreamEnded) and st is not None:
                st["done"] = True
            elif isinstance(ev, h2.events.StreamReset) and st is not None:
                st["reset"] = int(ev.error_code)
                st["done"] = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                out["goaway"].append(int(ev.error_code))
        try:
            sock.sendall(conn.data_to_send())
        except OSError:
            pass
        return True

    def send_bodies():
        for sid, st in state.items():
            body = st["pending"]
            while body and not st["done"]:
                try:
                    window = conn.local_flow_control_window(sid)
                except (h2.exceptions.StreamClosedError, KeyError):
                    body = b""
                    break
                n = min(len(body), window, conn.max_outbound_frame_size)
                if n <= 0:
                    break
                try:
                    conn.send_data(sid, body[:n], end_stream=(n == len(body) and not st["trailers_out"]))
                except h2.exceptions.StreamClosedError:
                    body = b""
                    break
                body = body[n:]
            st["pending"] = body
            if not body and st["trailers_out"] and not st["done"]:
                try:
                    conn.send_headers(sid, st["trailers_out"], end_stream=True)
                except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                    pass
                st["trailers_out"] = None
        sock.sendall(conn.data_to_send())

    for step in spec["steps"]:
        if "touch" in step:
            open(step["touch"], "w").close()
            continue
        if "flood" in step:
            if step["flood"] in ("too_many_streams", "stall_headers"):
                # The server's SETTINGS acknowledged first: past the limit is then a violation.
                end = time.time() + 1
                while time.time() < end and pump(end):
                    pass
            out["flood_sent"] = flood(conn, sock, step["flood"], step["count"])
            end = time.time() + 10
            while time.time() < end and pump(end):
                pass
            continue
        if "wait_file" in step:
            end = time.time() + 20
            while not os.path.exists(step["wait_file"]) and time.time() < end:
                pump(time.time() + 0.05)
            continue
        ids = []
        for req in step["requests"]:
            sid = conn.get_next_available_stream_id()
            body = pattern(req["body_len"]) if "body_len" in req else req.get("body", "").encode()
            headers = [(":method", req.get("method", "GET")), (":scheme", "https" if spec.get("tls") else "http"),
                       (":path", req.get("path", "/")), (":authority", req.get("authority", "a.test"))]
            headers += [tuple(h) for h in req.get("headers", [])]
            state[sid] = {"status": None, "len": 0, "data": hashlib.sha256(), "body": "", "reset": None,
                          "headers": [], "done": False, "pending": body, "pattern_ok": True,
                          "sent_sha256": hashlib.sha256(body).hexdigest(),
                          "trailers_out": [tuple(h) for h in req.get("trailers", [])] or None}
            conn.send_headers(sid, headers, end_stream=not body and not state[sid]["trailers_out"])
            ids.append(sid)
        sock.sendall(conn.data_to_send())
        end = time.time() + 20
        while time.time() < end and not all(state[i]["done"] for i in ids):
            send_bodies()
            if not pump(end):
                break
        for i in ids:
            st = state[i]
            out["results"].append({"stream": i, "status": st["status"], "len": st["len"],
                                   "sha256": st["data"].hexdigest(), "sent_sha256": st["sent_sha256"],
                                   "pattern_ok": st["pattern_ok"], "body": st["body"], "reset": st["reset"],
                                   "headers": st["headers"], "interim": st.get("interim", []),
                                   "trailers": st.get("trailers", [])})
    if spec.get("wait_close"):
        end = time.time() + spec["wait_close"]
        while time.time() < end and pump(end):
            pass
    print(json.dumps(out))


if __name__ == "__main__":
    main()
