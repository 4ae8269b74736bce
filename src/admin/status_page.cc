// The status page behind `GET /`. The document is a constant: all live data arrives through the
// JSON API, so this file never formats operator input into HTML (the script escapes by building
// DOM nodes with textContent).
#include "turnout/admin/status_page.h"

namespace turnout {

namespace {

constexpr std::string_view kCsp =
    "default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Sections: <style>, the static skeleton, then <script> which fills the skeleton every 2 s.
constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>turnout status</title>
<style>
:root {
  --bg: #f4f6f9; --panel: #ffffff; --text: #18212b; --muted: #667383; --faint: #98a3b0;
  --border: #e2e7ed; --row: #f8fafc; --head: #0f172a; --head-text: #e6ebf2;
  --up: #15803d; --up-bg: #dcfce7; --down: #b91c1c; --down-bg: #fee2e2; --warn: #a16207; --warn-bg: #fef3c7;
  --accent: #2563eb; --accent-bg: #e8efff;
  --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
  --c0: #2563eb; --c1: #16a34a; --c2: #d97706; --c3: #9333ea; --c4: #db2777; --c5: #0891b2; --c6: #65a30d; --c7: #64748b;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0b1017; --panel: #121923; --text: #e3e9f1; --muted: #93a0b1; --faint: #66738a;
    --border: #223043; --row: #16202c; --head: #070b11; --head-text: #e3e9f1;
    --up: #4ade80; --up-bg: #10301f; --down: #f87171; --down-bg: #3a1515; --warn: #fbbf24; --warn-bg: #3a2e0d;
    --accent: #7aa2ff; --accent-bg: #18264a;
  }
}
* { box-sizing: border-box; }
html, body { margin: 0; }
body { background: var(--bg); color: var(--text); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
.mono { font-family: var(--mono); font-size: 13px; }
.muted { color: var(--muted); }

header.top { background: var(--head); color: var(--head-text); display: flex; align-items: center; justify-content: space-between;
  padding: 12px 24px; gap: 16px; flex-wrap: wrap; }
.brand { display: flex; align-items: center; gap: 10px; min-width: 0; }
.brand svg { color: #60a5fa; flex: none; }
.brand .word { font-weight: 700; font-size: 18px; letter-spacing: .2px; }
.brand .sub { color: #94a3b8; font-size: 13px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.live { display: flex; align-items: center; gap: 8px; font-size: 13px; color: #cbd5e1; }
.live .pulse { width: 9px; height: 9px; border-radius: 50%; background: #64748b; }
.live[data-state="ok"] .pulse { background: #22c55e; box-shadow: 0 0 0 3px rgba(34, 197, 94, .25); }
.live[data-state="error"] .pulse { background: #ef4444; box-shadow: 0 0 0 3px rgba(239, 68, 68, .3); }
.live[data-state="error"] { color: #fca5a5; }

main { padding: 20px 24px 8px; max-width: 1500px; margin: 0 auto; }
body.stale main { opacity: .55; }

.cards { display: grid; grid-template-columns: repeat(8, minmax(0, 1fr)); gap: 12px; margin-bottom: 18px; }
@media (max-width: 1400px) { .cards { grid-template-columns: repeat(4, minmax(0, 1fr)); } }
@media (max-width: 1100px) { .cards { grid-template-columns: repeat(3, minmax(0, 1fr)); } }
#chart-panel { margin-bottom: 18px; }
@media (max-width: 600px) { .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
.card { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; padding: 12px 14px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .6px; }
.card .value { font-size: 24px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.card .hint { color: var(--muted); font-size: 12.5px; margin-top: 1px; font-variant-numeric: tabular-nums; }
.card.version .value { color: var(--accent); }
.card .value.bad { color: var(--down); }
.chart { padding: 10px 14px 12px; }
.chart svg { display: block; width: 100%; height: 120px; }
.chart .axis { stroke: var(--border); stroke-width: 1; }
.chart .req { fill: none; stroke: var(--accent); stroke-width: 1.6; }
.chart .err { fill: none; stroke: var(--down); stroke-width: 1.6; }
.chart .nor { fill: none; stroke: var(--warn); stroke-width: 1.2; stroke-dasharray: 3 2; }
.chart .lbl { fill: var(--muted); font-size: 11px; }
.chart .legend { display: flex; gap: 14px; color: var(--muted); font-size: 12px; margin-top: 4px; }
.chart .legend i { display: inline-block; width: 14px; height: 3px; margin-right: 5px; vertical-align: middle; }
.chart .legend i.req { background: var(--accent); } .chart .legend i.err { background: var(--down); } .chart .legend i.nor { background: var(--warn); }
.app-live { color: var(--muted); font-size: 12.5px; font-variant-numeric: tabular-nums; }
.app-live b { color: var(--text); font-weight: 600; }
.app-live b.bad { color: var(--down); }

.grid { display: grid; grid-template-columns: minmax(0, 2.2fr) minmax(260px, 1fr); gap: 18px; align-items: start; }
@media (max-width: 1180px) { .grid { grid-template-columns: 1fr; } }
.col { display: flex; flex-direction: column; gap: 18px; min-width: 0; }
.panel { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; overflow: hidden; }
.scroll { overflow-x: auto; }
.panel h2 { font-size: 14px; margin: 0; padding: 11px 14px; border-bottom: 1px solid var(--border); display: flex; align-items: center; gap: 8px; }
.panel h2 .count { background: var(--row); border: 1px solid var(--border); color: var(--muted); font-weight: 500;
  border-radius: 999px; padding: 0 8px; font-size: 12px; }

table.data { width: 100%; border-collapse: collapse; }
table.data th { text-align: left; font-size: 11.5px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .5px;
  padding: 8px 14px; background: var(--row); border-bottom: 1px solid var(--border); }
table.data td { padding: 8px 14px; border-bottom: 1px solid var(--border); vertical-align: middle; }
table.data tr:last-child td { border-bottom: none; }
table.data .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.data td.empty { color: var(--muted); text-align: center; padding: 18px; }
td.host-cell { min-width: 13em; }
.host { font-family: var(--mono); font-size: 13px; font-weight: 600; overflow-wrap: anywhere; }
.host.default { font-family: inherit; font-style: italic; font-weight: 500; color: var(--muted); }

.chips { display: flex; flex-wrap: wrap; gap: 6px; }
.chip { display: inline-flex; align-items: center; gap: 6px; border: 1px solid var(--border); border-radius: 999px; padding: 1px 9px 1px 7px;
  background: var(--panel); font-size: 13px; white-space: nowrap; }
.chip .meta { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
.dot { width: 8px; height: 8px; border-radius: 50%; flex: none; display: inline-block; }
.bar { display: flex; height: 4px; border-radius: 2px; overflow: hidden; margin-top: 6px; background: var(--border); max-width: 320px; }
.bar span { display: block; height: 100%; }
.c0 { background: var(--c0); } .c1 { background: var(--c1); } .c2 { background: var(--c2); } .c3 { background: var(--c3); }
.c4 { background: var(--c4); } .c5 { background: var(--c5); } .c6 { background: var(--c6); } .c7 { background: var(--c7); }

.codes { display: flex; gap: 10px; flex-wrap: wrap; font-variant-numeric: tabular-nums; font-size: 13px; }
.code-2xx, .code-1xx { color: var(--up); } .code-3xx { color: var(--accent); } .code-4xx { color: var(--warn); } .code-5xx { color: var(--down); }
.codes .k { font-size: 11px; font-weight: 600; margin-right: 3px; }

tbody.app tr.app-head td { background: var(--row); padding-top: 10px; padding-bottom: 10px; }
.app-title { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
.app-title .name { font-weight: 650; font-size: 14px; overflow-wrap: anywhere; }
.app-title .serves { color: var(--muted); font-size: 12.5px; display: flex; gap: 6px; flex-wrap: wrap; align-items: center; }
.app-title .serves .h { font-family: var(--mono); font-size: 12px; color: var(--text); background: var(--panel);
  border: 1px solid var(--border); border-radius: 4px; padding: 0 5px; }
tr.server td:first-child { padding-left: 32px; }
.pill { border-radius: 999px; padding: 0 8px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.pill.ok { color: var(--up); background: var(--up-bg); } .pill.bad { color: var(--down); background: var(--down-bg); }
.pill.warn { color: var(--warn); background: var(--warn-bg); } .pill.info { color: var(--accent); background: var(--accent-bg); }
.badge { display: inline-flex; align-items: center; gap: 5px; border-radius: 5px; padding: 1px 8px; font-size: 11.5px; font-weight: 700;
  letter-spacing: .5px; text-transform: uppercase; }
.badge::before { content: ""; width: 6px; height: 6px; border-radius: 50%; background: currentColor; }
.badge.up { color: var(--up); background: var(--up-bg); } .badge.down { color: var(--down); background: var(--down-bg); }
tr.server.is-down td { color: var(--muted); }
tr.server.is-down td .badge { color: var(--down); }
.fail { color: var(--down); font-weight: 600; }
.rate { font-weight: 600; }
.rate.idle { color: var(--faint); font-weight: 400; }

ol.history { list-style: none; margin: 0; padding: 4px 0; max-height: 720px; overflow-y: auto; }
ol.history li { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 10px; padding: 9px 14px; border-bottom: 1px solid var(--border); }
ol.history li:last-child { border-bottom: none; }
ol.history li.current { background: var(--accent-bg); }
ol.history .ver { font-family: var(--mono); font-size: 12px; font-weight: 700; color: var(--accent); border: 1px solid var(--border);
  background: var(--panel); border-radius: 5px; padding: 0 6px; height: fit-content; margin-top: 1px; }
ol.history .summary { font-family: var(--mono); font-size: 12.5px; word-break: break-word; }
ol.history .when { color: var(--muted); font-size: 12px; margin-top: 2px; display: flex; gap: 8px; align-items: center; }
ol.history .empty { display: block; color: var(--muted); text-align: center; }

footer { color: var(--faint); font-size: 12px; padding: 6px 24px 20px; max-width: 1500px; margin: 0 auto; display: flex;
  gap: 14px; flex-wrap: wrap; }
footer a { color: var(--muted); }
.error-box { background: var(--down-bg); color: var(--down); border-radius: 8px; padding: 8px 12px; margin-bottom: 14px; font-size: 13px; }
.error-box[hidden] { display: none; }
</style>
</head>
<body>
<header class="top">
  <div class="brand">
    <svg width="24" height="24" viewBox="0 0 24 24" aria-hidden="true"><path d="M2.5 17.5h7c5 0 5.5-11 12-11M9.5 17.5h12" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round"/></svg>
    <span class="word">turnout</span>
    <span class="sub" id="listeners"></span>
  </div>
  <div class="live" id="live" data-state="loading"><span class="pulse"></span><span id="live-text">connecting&hellip;</span></div>
</header>
<main>
  <noscript><div class="error-box">This page renders with JavaScript. The same data is at /v1/status, /v1/routes, /v1/apps and /v1/history.</div></noscript>
  <div class="error-box" id="error" hidden></div>
  <form class="error-box" id="token-form" hidden>
    <label>This admin listener needs its bearer token (the file named by admin.token_file, e.g. ./turnout.token):
      <input id="token-input" type="password" autocomplete="off" spellcheck="false"></label>
    <button type="submit">Use token</button>
  </form>
  <section class="cards">
    <div class="card version"><div class="label">Table version</div><div class="value" id="table-version">&mdash;</div><div class="hint" id="table-size">&nbsp;</div></div>
    <div class="card"><div class="label">Uptime</div><div class="value" id="uptime">&mdash;</div><div class="hint" id="process">&nbsp;</div></div>
    <div class="card"><div class="label">Connections</div><div class="value" id="connections">&mdash;</div><div class="hint" id="connections-idle">&nbsp;</div></div>
    <div class="card"><div class="label">Requests</div><div class="value" id="requests">&mdash;</div><div class="hint" id="requests-rate">&nbsp;</div></div>
    <div class="card"><div class="label">Bytes in / out</div><div class="value" id="bytes">&mdash;</div><div class="hint" id="bytes-rate">&nbsp;</div></div>
    <div class="card"><div class="label">Changes applied</div><div class="value" id="changes">&mdash;</div><div class="hint" id="reloads">&nbsp;</div></div>
    <div class="card"><div class="label">Errors (5xx), last 10 s</div><div class="value" id="error-rate">&mdash;</div><div class="hint" id="errors-total">&nbsp;</div></div>
    <div class="card"><div class="label">No route (404)</div><div class="value" id="no-route">&mdash;</div><div class="hint" id="no-route-rate">&nbsp;</div></div>
  </section>
  <section class="panel" id="chart-panel">
    <h2>Traffic <span class="count" id="chart-span">last 5 min</span></h2>
    <div class="chart">
      <svg id="chart" viewBox="0 0 600 120" preserveAspectRatio="none" role="img" aria-label="requests per second, error rate and no-route requests over the last minutes">
        <line class="axis" x1="0" y1="119.5" x2="600" y2="119.5"></line>
        <polyline class="req" id="chart-req" points=""></polyline>
        <polyline class="err" id="chart-err" points=""></polyline>
        <polyline class="nor" id="chart-nor" points=""></polyline>
        <text class="lbl" id="chart-max" x="4" y="12"></text>
      </svg>
      <div class="legend"><span><i class="req"></i>req/s</span><span><i class="err"></i>error rate (0&ndash;100%)</span><span><i class="nor"></i>no-route req/s</span></div>
    </div>
  </section>
  <div class="grid">
    <div class="col">
      <section class="panel">
        <h2>Routes <span class="count" id="routes-count">0</span></h2>
        <div class="scroll"><table class="data" id="routes-table">
          <thead><tr><th>Host</th><th>Apps &middot; weight &middot; share</th><th>Responses</th><th class="num">req/s</th></tr></thead>
          <tbody id="routes-body"><tr><td colspan="4" class="empty">loading&hellip;</td></tr></tbody>
        </table></div>
      </section>
      <section class="panel">
        <h2>Apps &amp; servers <span class="count" id="apps-count">0</span></h2>
        <div class="scroll"><table class="data" id="apps-table">
          <thead><tr><th>Server</th><th class="num">Weight</th><th>Health</th><th class="num">req/s</th><th class="num">In flight</th><th class="num">Requests</th><th class="num">Failures</th></tr></thead>
          <tbody id="apps-loading"><tr><td colspan="7" class="empty">loading&hellip;</td></tr></tbody>
        </table></div>
      </section>
    </div>
    <div class="col">
      <section class="panel">
        <h2>Recent changes <span class="count" id="history-count">0</span></h2>
        <ol class="history" id="history"><li><span class="empty">loading&hellip;</span></li></ol>
      </section>
    </div>
  </div>
</main>
<footer>
  <span>Refreshes every 2 s from the admin API:</span>
  <a href="/v1/status">/v1/status</a><a href="/v1/routes">/v1/routes</a><a href="/v1/apps">/v1/apps</a>
  <a href="/v1/history">/v1/history</a><a href="/metrics">/metrics</a>
</footer>
<script>
(() => {
  "use strict";
  // All data is operator input: it reaches the DOM only as textContent or attribute values.
  const REFRESH_MS = 2000;
  const FETCH_TIMEOUT_MS = 5000;
  const nf = new Intl.NumberFormat("en-US");
  // The bearer token for a TCP listener that wants one: typed into the form, or passed once as
  // "#token=..." (a fragment never reaches the server or its logs); kept for this tab only.
  const TOKEN_KEY = "turnout.token";
  if (location.hash.startsWith("#token=")) {
    try { sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(location.hash.slice(7))); } catch (e) {}
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = () => { try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; } };
  let refreshTimer = 0;
  let prev = null;  // counters of the last good refresh: {t, requests, bytesIn, bytesOut, servers: Map, hosts: Map}

  const byId = (id) => document.getElementById(id);
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function setText(id, text) { byId(id).textContent = String(text); }
  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  const sortedKeys = (o) => Object.keys(o || {}).sort();

  function fmtCount(v) { return nf.format(num(v)); }
  function fmtRate(r) {
    if (r === null || r === undefined) return "\u2014";
    if (r === 0) return "0";
    if (r < 10) return r.toFixed(1);
    return nf.format(Math.round(r));
  }
  function fmtBytes(b) {
    b = num(b);
    const units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i === 0 ? String(Math.round(b)) : b.toFixed(b < 10 ? 1 : 0)) + " " + units[i];
  }
  // "447K", "1.7M": fits a card at any width.
  function fmtBytesShort(b) {
    const full = fmtBytes(b);
    return full.endsWith(" B") ? full.replace(" ", "") : full.replace(/ ([KMGTP])B$/, "$1");
  }
  function fmtUptime(s) {
    s = Math.floor(num(s));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + two(m) + "m";
    if (m) return m + "m " + two(sec) + "s";
    return sec + "s";
  }
  function fmtAgo(ms) {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 5) return "just now";
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    if (s < 86400) return Math.floor(s / 3600) + "h ago";
    return Math.floor(s / 86400) + "d ago";
  }
  const pad2 = (n) => String(n).padStart(2, "0");
  function fmtClock(ms) { const d = new Date(ms); return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds()); }
  function fmtDate(ms) { const d = new Date(ms); return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " + fmtClock(ms); }

  // Per-second rate of a counter between two refreshes; null when unknown or the counter restarted.
  function rate(cur, before, dt) {
    if (before === undefined || before === null || !(dt > 0) || cur < before) return null;
    return (cur - before) / dt;
  }
  // A req/s cell; idle (0 or not yet known) ones are quiet so the busy ones stand out.
  function rateCell(r) { return el("td", "num rate" + (r ? "" : " idle"), fmtRate(r)); }
  // The same app gets the same colour in every table.
  function appColor(name) {
    let h = 0;
    for (const ch of name) h = (Math.imul(h, 31) + ch.codePointAt(0)) >>> 0;
    return "c" + (h % 8);
  }
  function appChip(app, meta, title) {
    const chip = el("span", "chip");
    chip.dataset.app = app;
    chip.append(el("span", "dot " + appColor(app)), el("span", "name", app));
    if (meta) chip.append(el("span", "meta", meta));
    if (title) chip.title = title;
    return chip;
  }

  function hostResponses(traffic) {
    const by = {};
    let total = 0;
    for (const app of Object.keys(traffic || {})) {
      for (const [cls, n] of Object.entries(traffic[app] || {})) {
        by[cls] = (by[cls] || 0) + num(n);
        total += num(n);
      }
    }
    return { by, total };
  }

  function renderSummary(st, dt) {
    setText("table-version", "v" + num(st.version));
    setText("table-size", fmtCount(st.routes) + (st.routes === 1 ? " route" : " routes") + " \u00b7 " +
            fmtCount(st.apps) + (st.apps === 1 ? " app" : " apps"));
    setText("uptime", fmtUptime(st.uptime_seconds));
    const workers = Array.isArray(st.workers) ? st.workers.length : 0;
    setText("process", "pid " + num(st.pid) + " \u00b7 " + workers + (workers === 1 ? " worker" : " workers"));
    const conns = st.connections || {};
    setText("connections", fmtCount(conns.active));
    setText("connections-idle", fmtCount(conns.idle) + " idle");
    setText("requests", fmtCount(st.requests));
    setText("requests-rate", fmtRate(prev && rate(num(st.requests), prev.requests, dt)) + " req/s");
    const bytes = st.bytes || {};
    setText("bytes", fmtBytesShort(bytes.in) + " / " + fmtBytesShort(bytes.out));
    byId("bytes").title = fmtBytes(bytes.in) + " in, " + fmtBytes(bytes.out) + " out";
    const rin = prev && rate(num(bytes.in), prev.bytesIn, dt), rout = prev && rate(num(bytes.out), prev.bytesOut, dt);
    setText("bytes-rate", rin === null || rout === null ? "\u00a0" : fmtBytes(rin) + "/s in \u00b7 " + fmtBytes(rout) + "/s out");
    setText("changes", fmtCount(st.changes_applied));
    const failed = num(st.reload_failures);
    setText("reloads", fmtCount(st.reloads) + (st.reloads === 1 ? " reload" : " reloads") + (failed ? " \u00b7 " + failed + " failed" : ""));
    const rates = st.rates || {};
    const er = num(rates.error_rate);
    setText("error-rate", fmtPercent(er));
    byId("error-rate").classList.toggle("bad", er > 0);
    setText("errors-total", fmtCount(st.errors) + " since start");
    setText("no-route", fmtCount(st.no_route));
    setText("no-route-rate", fmtRate(num(rates.no_route_per_second)) + " req/s now");
    pushChart(num(rates.requests_per_second), er, num(rates.no_route_per_second));
    const listeners = Array.isArray(st.listeners) ? st.listeners.map(String) : [];
    setText("listeners", listeners.length ? "proxy on " + listeners.join(", ") : "");
  }

  function fmtPercent(r) {
    const p = 100 * r;
    return p > 0 && p < 0.1 ? "<0.1%" : p.toFixed(1) + "%";
  }
  function fmtMs(ms) {
    if (ms === null || ms === undefined) return "\u2014";
    return ms >= 1000 ? (ms / 1000).toFixed(2) + " s" : ms >= 10 ? Math.round(ms) + " ms" : Number(ms).toFixed(1) + " ms";
  }

  // The live chart: one point per refresh, drawn by this script into the inline SVG (no
  // external resources). Requests and no-route requests share the req/s scale; the error rate
  // uses the full height as 100%.
  const CHART_POINTS = 150;
  const chart = [];
  function pushChart(reqRate, errRate, noRouteRate) {
    chart.push({ req: reqRate, err: errRate, nor: noRouteRate });
    while (chart.length > CHART_POINTS) chart.shift();
    const max = Math.max(1, ...chart.map((p) => Math.max(p.req, p.nor)));
    const step = 600 / (CHART_POINTS - 1);
    const x0 = 600 - step * (chart.length - 1);
    const pts = (f) => chart.map((p, i) => (x0 + step * i).toFixed(1) + "," + (118 - 110 * f(p)).toFixed(1)).join(" ");
    byId("chart-req").setAttribute("points", pts((p) => p.req / max));
    byId("chart-err").setAttribute("points", pts((p) => Math.min(1, p.err)));
    byId("chart-nor").setAttribute("points", pts((p) => p.nor / max));
    setText("chart-max", "max " + fmtRate(max) + " req/s");
    byId("chart").dataset.points = String(chart.length);
  }

  function renderRoutes(rt, st, dt, hostTotals) {
    const body = byId("routes-body");
    const rows = [];
    const routes = rt.routes || {};
    const traffic = st.traffic || {};
    const hosts = sortedKeys(routes);
    const entries = hosts.map((h) => [h, routes[h], h]);
    if (rt.default_app !== null && rt.default_app !== undefined) {
      entries.push(["", { [String(rt.default_app)]: 1 }, "(default)"]);
    }
    for (const [host, apps, trafficKey] of entries) {
      const tr = el("tr", "route");
      tr.dataset.host = host;
      const hostCell = el("td", "host-cell");
      hostCell.append(host ? el("span", "host", host) : el("span", "host default", "any other host (default app)"));
      const names = sortedKeys(apps);
      const sum = names.reduce((a, n) => a + num(apps[n]), 0) || 1;
      const chips = el("div", "chips");
      const bar = el("div", "bar");
      for (const app of names) {
        const w = num(apps[app]);
        const share = (100 * w) / sum;
        const shareText = (share >= 10 || share === 0 ? Math.round(share) : share.toFixed(1)) + "%";
        chips.append(appChip(app, "w" + w + " \u00b7 " + shareText, "weight " + w + " of " + sum));
        const seg = el("span", appColor(app));
        seg.style.width = share + "%";
        seg.title = app + " " + shareText;
        bar.append(seg);
      }
      const appsCell = el("td");
      appsCell.append(chips);
      if (names.length > 1) appsCell.append(bar);
      const resp = hostResponses(traffic[trafficKey]);
      hostTotals.set(trafficKey, resp.total);
      const codesCell = el("td");
      const codes = el("div", "codes");
      for (const cls of ["1xx", "2xx", "3xx", "4xx", "5xx", "none"]) {
        if (!resp.by[cls]) continue;
        const c = el("span", "code-" + cls);
        c.append(el("span", "k", cls === "none" ? "no answer" : cls), document.createTextNode(fmtCount(resp.by[cls])));
        codes.append(c);
      }
      if (!codes.childNodes.length) codes.append(el("span", "muted", "\u2014"));
      codesCell.append(codes);
      const r = prev ? rate(resp.total, prev.hosts.get(trafficKey), dt) : null;
      tr.append(hostCell, appsCell, codesCell, rateCell(r));
      rows.push(tr);
    }
    if (!rows.length) {
      const tr = el("tr");
      const td = el("td", "empty", "No routes: every request answers 404.");
      td.colSpan = 4;
      tr.append(td);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
    setText("routes-count", hosts.length);
  }

  function renderApps(ad, dt, serverTotals) {
    const table = byId("apps-table");
    for (const old of table.querySelectorAll("tbody")) old.remove();
    const apps = ad.apps || {};
    const names = sortedKeys(apps);
    for (const name of names) {
      const app = apps[name] || {};
      const servers = Array.isArray(app.servers) ? app.servers : [];
      const tbody = el("tbody", "app");
      tbody.dataset.app = name;
      const head = el("tr", "app-head");
      const headCell = el("td");
      headCell.colSpan = 7;
      const title = el("div", "app-title");
      const up = servers.filter((s) => s.up !== false).length;
      // The server's own verdict (the same word `ctl apps` prints), with the count beside it.
      const health = String(app.health || (servers.length === 0 ? "no servers" : up === servers.length ? "up" : up === 0 ? "down" : "degraded"));
      const pill = el("span", "pill " + (health === "up" ? "ok" : health === "down" ? "bad" : "warn"),
                      health + " \u00b7 " + up + "/" + servers.length + " up");
      pill.dataset.health = health;
      title.append(el("span", "dot " + appColor(name)), el("span", "name", name), pill);
      const live = app.live || {};
      const liveBox = el("span", "app-live");
      liveBox.dataset.live = name;
      const errRate = num(live.error_rate);
      liveBox.append(el("b", null, fmtRate(num(live.requests_per_second))), document.createTextNode(" req/s \u00b7 "),
                     el("b", errRate > 0 ? "bad" : null, fmtPercent(errRate)), document.createTextNode(" errors \u00b7 p50 "),
                     el("b", null, fmtMs(live.p50_ms)), document.createTextNode(" \u00b7 p99 "),
                     el("b", null, fmtMs(live.p99_ms)));
      title.append(liveBox);
      if (ad.default_app === name) title.append(el("span", "pill info", "default app"));
      const serves = el("span", "serves");
      const hosts = Array.isArray(app.hosts) ? app.hosts : [];
      if (hosts.length) {
        serves.append(el("span", null, "serves"));
        for (const h of hosts) serves.append(el("span", "h", h));
      } else {
        serves.append(el("span", null, "not routed"));
      }
      title.append(serves);
      headCell.append(title);
      head.append(headCell);
      tbody.append(head);
      for (const s of servers) {
        const addr = String(s.addr);
        const isUp = s.up !== false;
        const tr = el("tr", "server" + (isUp ? "" : " is-down"));
        tr.dataset.server = addr;
        tr.dataset.health = isUp ? "up" : "down";
        const badgeCell = el("td");
        badgeCell.append(el("span", "badge " + (isUp ? "up" : "down"), isUp ? "up" : "down"));
        const requests = num(s.requests);
        serverTotals.set(addr, requests);
        const r = prev ? rate(requests, prev.servers.get(addr), dt) : null;
        const failures = num(s.failures);
        tr.append(el("td", "mono", addr), el("td", "num", fmtCount(s.weight)), badgeCell, rateCell(r),
                  el("td", "num", fmtCount(s.in_flight)), el("td", "num", fmtCount(requests)),
                  el("td", "num" + (failures ? " fail" : ""), fmtCount(failures)));
        tbody.append(tr);
      }
      if (!servers.length) {
        const tr = el("tr");
        const td = el("td", "empty", "no servers");
        td.colSpan = 7;
        tr.append(td);
        tbody.append(tr);
      }
      table.append(tbody);
    }
    if (!names.length) {
      const tbody = el("tbody");
      const tr = el("tr");
      const td = el("td", "empty", "No apps.");
      td.colSpan = 7;
      tr.append(td);
      tbody.append(tr);
      table.append(tbody);
    }
    setText("apps-count", names.length);
  }

  function renderHistory(hd) {
    const list = byId("history");
    const entries = Array.isArray(hd.history) ? hd.history.slice().reverse() : [];
    const items = [];
    for (const h of entries) {
      const li = el("li");
      li.dataset.version = String(num(h.version));
      if (num(h.version) === num(hd.version)) li.className = "current";
      const main = el("div");
      main.append(el("div", "summary", h.summary || "(no summary)"));
      const when = el("div", "when");
      const ms = num(h.unix_ms);
      const time = el("span", null, ms ? fmtClock(ms) + " \u00b7 " + fmtAgo(ms) : "");
      if (ms) time.title = fmtDate(ms);
      when.append(time);
      if (li.className === "current") when.append(el("span", "pill info", "current"));
      main.append(when);
      li.append(el("span", "ver", "v" + num(h.version)), main);
      items.push(li);
    }
    if (!items.length) {
      const li = el("li");
      li.append(el("span", "empty", "No changes yet."));
      items.push(li);
    }
    list.replaceChildren(...items);
    setText("history-count", entries.length);
  }

  function setLive(ok, text) {
    byId("live").dataset.state = ok ? "ok" : "error";
    setText("live-text", text);
    document.body.classList.toggle("stale", !ok);
    const box = byId("error");
    box.hidden = ok;
    if (!ok) box.textContent = "Cannot reach the admin API (" + text + "); showing the last data, retrying every 2 s.";
  }

  async function getJSON(path) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    try {
      const headers = token() ? { Authorization: "Bearer " + token() } : {};
      const r = await fetch(path, { cache: "no-store", credentials: "same-origin", headers, signal: ctl.signal });
      byId("token-form").hidden = r.status !== 401;
      if (r.status === 401) throw new Error(token() ? "the token was refused" : "a token is required");
      if (!r.ok) throw new Error(path + " answered " + r.status);
      return await r.json();
    } finally {
      clearTimeout(timer);
    }
  }

  async function refresh() {
    try {
      const [st, rt, ad, hd] = await Promise.all(["/v1/status", "/v1/routes", "/v1/apps", "/v1/history"].map(getJSON));
      const t = performance.now();
      const dt = prev ? (t - prev.t) / 1000 : 0;
      const hostTotals = new Map(), serverTotals = new Map();
      renderSummary(st, dt);
      renderRoutes(rt, st, dt, hostTotals);
      renderApps(ad, dt, serverTotals);
      renderHistory(hd);
      const bytes = st.bytes || {};
      prev = { t, requests: num(st.requests), bytesIn: num(bytes.in), bytesOut: num(bytes.out), servers: serverTotals, hosts: hostTotals };
      document.title = "turnout \u00b7 v" + num(rt.version);
      setLive(true, "live \u00b7 updated " + fmtClock(Date.now()));
    } catch (e) {
      setLive(false, e && e.message ? e.message : String(e));
    } finally {
      clearTimeout(refreshTimer);  // one pending refresh at a time, also after a token was entered
      refreshTimer = setTimeout(refresh, REFRESH_MS);
    }
  }

  byId("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    try { sessionStorage.setItem(TOKEN_KEY, byId("token-input").value.trim()); } catch (e) {}
    byId("token-input").value = "";
    byId("token-form").hidden = true;
    refresh();
  });

  refresh();
})();
</script>
</body>
</html>
)html";

}  // namespace

std::string_view status_page_html() { return kPage; }

std::string_view status_page_csp() { return kCsp; }

AdminResponse status_page_response() {
  AdminResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::string(kPage);
  r.headers.emplace_back("Content-Security-Policy", std::string(kCsp));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  return r;
}

}  // namespace turnout
