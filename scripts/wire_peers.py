#!/usr/bin/python3
"""Replays the HTTP/1.1 edge cases of README's "On the wire" against turnout, nginx and HAProxy.

    scripts/wire_peers.py [TURNOUT_BINARY]      (default build/turnout; needs nginx and haproxy)

Each proxy listens on loopback in front of one recording backend: nginx as its documentation
configures WebSocket proxying, HAProxy in mode http with defaults, turnout with a default_app.
The backend answers 200, or 101 to any request that still carries an Upgrade field (the first
protocol named), as a backend that speaks h2c or WebSocket would. Prints a Markdown table: the
status the client got, then what reached the backend ("fwd", the body, the method or version).
Everything runs in a temp dir; the proxies are stopped at the end.
"""
import os, socket, subprocess, sys, tempfile, threading, time

TURNOUT = sys.argv[1] if len(sys.argv) > 1 else "build/turnout"
TMP = tempfile.mkdtemp(prefix="peers-")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

# ---- recording backend
LOG = []
LOCK = threading.Lock()

def read_line(conn, buf):
    while b"\n" not in buf[0]:
        d = conn.recv(65536)
        if not d: raise EOFError
        buf[0] += d
    line, _, rest = buf[0].partition(b"\n")
    buf[0] = rest
    return line.rstrip(b"\r")

def read_n(conn, buf, n):
    while len(buf[0]) < n:
        d = conn.recv(65536)
        if not d: raise EOFError
        buf[0] += d
    out, buf[0] = buf[0][:n], buf[0][n:]
    return out

def serve(conn):
    buf = [b""]
    conn.settimeout(5)
    try:
        while True:
            while b"\r\n\r\n" not in buf[0]:
                d = conn.recv(65536)
                if not d: return
                buf[0] += d
            head, _, buf[0] = buf[0].partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            hdrs = {}
            for l in lines[1:]:
                k, _, v = l.partition(b":")
                hdrs.setdefault(k.strip().lower(), []).append(v.strip())
            body = b""
            te = b",".join(hdrs.get(b"transfer-encoding", [])).lower()
            if b"chunked" in te:
                while True:
                    sl = read_line(conn, buf)
                    size = int(sl.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while read_line(conn, buf): pass
                        break
                    body += read_n(conn, buf, size); read_line(conn, buf)
            elif b"content-length" in hdrs:
                body = read_n(conn, buf, int(hdrs[b"content-length"][0]))
            with LOCK: LOG.append((lines[0], hdrs, body))
            up = hdrs.get(b"upgrade")
            if up:
                proto = up[0].split(b",")[0].strip()
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + proto + b"\r\n\r\nTUNNEL")
                time.sleep(0.5); return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    except Exception:
        return
    finally:
        conn.close()

def backend(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()

# ---- proxies
BE = free_port()
threading.Thread(target=backend, args=(BE,), daemon=True).start()
PORTS = {"turnout": free_port(), "nginx": free_port(), "haproxy": free_port()}
procs = []

def start_turnout():
    d = os.path.join(TMP, "turnout"); os.makedirs(d)
    cfg = os.path.join(d, "t.yaml")
    open(cfg, "w").write(f'listen: ["127.0.0.1:{PORTS["turnout"]}"]\nworkers: 1\nadmin: {{socket: {d}/a.sock}}\n'
                         f'apps: {{b: {{servers: ["127.0.0.1:{BE}"]}}}}\nroutes: {{x.test: [b]}}\ndefault_app: b\n'
                         'access_log: "off"\nlimits: {max_header_bytes: 8192}\n')
    procs.append(subprocess.Popen([TURNOUT, "run", "-c", cfg], stderr=open(os.path.join(d, "err"), "w")))

def start_nginx():
    d = os.path.join(TMP, "nginx"); os.makedirs(d)
    user = "user root;\n" if os.geteuid() == 0 else ""
    # The usual WebSocket-capable reverse proxy configuration (nginx docs, "WebSocket proxying").
    open(os.path.join(d, "n.conf"), "w").write(f"""{user}daemon off; worker_processes 1; pid {d}/pid; error_log {d}/error.log;
events {{}}
http {{
  access_log off; client_body_temp_path {d}/cb; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  server {{ listen 127.0.0.1:{PORTS['nginx']} default_server; server_name _;
    location / {{ proxy_pass http://127.0.0.1:{BE}; proxy_http_version 1.1;
      proxy_set_header Host $http_host; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; }} }}
}}
""")
    procs.append(subprocess.Popen(["nginx", "-p", d, "-c", os.path.join(d, "n.conf"), "-e", os.path.join(d, "error.log")]))

def start_haproxy():
    d = os.path.join(TMP, "haproxy"); os.makedirs(d)
    open(os.path.join(d, "h.cfg"), "w").write(f"""global
  nbthread 1
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
  timeout http-request 5s
frontend fe
  bind 127.0.0.1:{PORTS['haproxy']}
  default_backend be
backend be
  server s1 127.0.0.1:{BE}
""")
    procs.append(subprocess.Popen(["haproxy", "-f", os.path.join(d, "h.cfg")]))

def status_of(port, raw, wait=3.0):
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(wait)
    try:
        s.sendall(raw)
    except OSError:
        pass
    data = b""
    end = time.time() + wait
    try:
        while b"\r\n" not in data and time.time() < end:
            d = s.recv(65536)
            if not d: break
            data += d
    except socket.timeout:
        pass
    s.close()
    if not data: return "no answer"
    return data.split(b"\r\n")[0].decode("latin1").split(" ", 2)[1]

def run_case(name, raw, check=None):
    out = []
    for proxy in ("turnout", "nginx", "haproxy"):
        with LOCK: LOG.clear()
        st = status_of(PORTS[proxy], raw)
        time.sleep(0.3)
        with LOCK: got = list(LOG)
        note = ""
        if check: note = check(got)
        elif got: note = "fwd"
        out.append(f"{st}{'/' + note if note else ''}")
    print(f"| {name} | " + " | ".join(out) + " |", flush=True)

def h2c_seen(got):
    return "h2c fwd" if any(b"h2c" in b",".join(h.get(b"upgrade", [])).lower() for _, h, _ in got) else ("fwd" if got else "")

def body_seen(got):
    return ("body " + got[0][2].decode("latin1")) if got and got[0][2] else ("head only" if got else "")

def method_seen(got):
    return got[0][0].split(b" ")[0].decode() if got else ""

def version_seen(got):
    return got[0][0].split(b" ")[-1].decode() if got else ""

start_turnout(); start_nginx(); start_haproxy()
time.sleep(1.5)
H = b"Host: x.test\r\n"
C = b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
print("| case | turnout | nginx | HAProxy |\n|---|---|---|---|")
run_case("Upgrade: foo + CL body", b"POST /up HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: foo\r\nContent-Length: 4\r\n\r\nabcd", body_seen)
run_case("Upgrade: websocket + CL body", b"POST /up HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 4\r\n\r\nabcd", body_seen)
run_case("Upgrade: websocket + chunked body", b"POST /up HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n", body_seen)
run_case("Upgrade: h2c + HTTP2-Settings in Connection", b"GET / HTTP/1.1\r\n" + H + b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n", h2c_seen)
run_case("Upgrade: h2c, Connection: Upgrade only", b"GET / HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n", h2c_seen)
run_case("Upgrade: h2c, websocket", b"GET / HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: h2c, websocket\r\n\r\n", h2c_seen)
for ext in [b"2;a=b;c=d", b"2 ;a=b", b"2; a=b", b"2;a = b", b'2;a="b\\"c"', b"2;" + b"x" * 300]:
    run_case("chunk line `" + ext.decode()[:20] + ("…" if len(ext) > 20 else "") + "`", C + ext + b"\r\nxy\r\n0\r\n\r\n", body_seen)
for bad in [b"2;a=\"b", b"2;a=b ", b"2 ", b"2;a=b\x00"]:
    run_case("chunk line `" + bad.decode().replace("\x00", "\\0") + "`", C + bad + b"\r\nxy\r\n0\r\n\r\n", body_seen)
for m in [b"QUERY", b"BREW", b"MKCOLA", b"PLAY", b"get", b"Head", b"PRI"]:
    run_case("method " + m.decode(), m + b" / HTTP/1.1\r\n" + H + b"\r\n", method_seen)
for v in [b"RTSP/1.0", b"ICE/1.0", b"HTTP/1.2", b"HTTP/1.9", b"HTTP/2.0", b"HTTP/3.0", b"HTTP/0.9"]:
    run_case("OPTIONS / " + v.decode(), b"OPTIONS / " + v + b"\r\n" + H + b"CSeq: 1\r\n\r\n", version_seen)
run_case("two spaces after the method", b"GET  / HTTP/1.1\r\n" + H + b"\r\n")
for host in [b"a=b", b"a!b", b"*.x.test", b"a,b", b"a%41b"]:
    run_case("Host " + host.decode(), b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
run_case("10 KiB URI", b"GET /" + b"u" * 10240 + b" HTTP/1.1\r\n" + H + b"\r\n")
run_case("CONNECT + CL body", b"CONNECT x.test:443 HTTP/1.1\r\nHost: x.test:443\r\nContent-Length: 4\r\n\r\nabcd", body_seen)
for p in procs: p.terminate()
