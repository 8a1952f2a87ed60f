/// The page at `/`, embedded in the binary: plain HTML, CSS and JavaScript, nothing fetched from
/// elsewhere (works offline, no build step). One tile per input: the frame on a canvas, each
/// face's box, track, label and score drawn on an overlay canvas from the frame's own NDJSON
/// record; under it the last 60 s of labels per track and the input's `--stats` figures.
/// `window.ferLive` exposes what was painted (for the browser tests and the latency benchmark).
enum Page {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fer-stream live</title>
<style>
  :root { color-scheme: dark; --bg: #111; --tile: #1d1d1d; --fg: #eee; --dim: #9a9a9a; }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  header { display: flex; align-items: baseline; gap: 1em; padding: .5em .8em; }
  header h1 { font-size: 1.1em; margin: 0; font-weight: 600; }
  #conn { color: var(--dim); font-size: .9em; }
  #grid { --cols: 1; display: grid; gap: .6em; padding: 0 .6em .6em; grid-template-columns: repeat(var(--cols), minmax(0, 1fr)); }
  .tile { background: var(--tile); border-radius: 6px; overflow: hidden; cursor: zoom-in; min-width: 0; }
  .tile.big { grid-column: 1 / -1; cursor: zoom-out; }
  .title { display: flex; gap: .5em; align-items: baseline; padding: .35em .6em; white-space: nowrap; }
  .title .name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; }
  .badge { font-size: .8em; padding: 0 .4em; border-radius: 3px; background: #333; color: var(--dim); }
  .tile.ended .badge { background: #5a2a2a; color: #fbb; }
  .tile.live .badge { background: #1f4d2b; color: #bfb; }
  .view { position: relative; background: #000; aspect-ratio: 16 / 9; }
  .view canvas { position: absolute; left: 0; top: 0; width: 100%; height: 100%; object-fit: contain; }
  .strip { display: block; width: 100%; height: 44px; background: #151515; }
  .now, .stats { padding: .2em .6em; font-size: .85em; color: var(--dim); min-height: 1.4em; }
  .now span { margin-right: .8em; white-space: nowrap; }
  .now i { display: inline-block; width: .7em; height: .7em; border-radius: 2px; margin-right: .25em; }
  /* A phone: one column, whatever the number of inputs. */
  @media (max-width: 600px) { body { font-size: 13px; } #grid { --cols: 1 !important; padding: 0 .3em .3em; gap: .4em; } }
</style>
</head>
<body>
<header><h1>fer-stream live</h1><span id="conn">connecting…</span></header>
<main id="grid"></main>
<script>
"use strict";
const COLOURS = { angry: "#e53935", disgust: "#43a047", fear: "#8e24aa", happy: "#fdd835", sad: "#1e88e5",
                  surprise: "#fb8c00", neutral: "#b0b0b0", contempt: "#8d6e63" };
function colour(label) {
  if (COLOURS[label]) return COLOURS[label];
  let h = 0; for (const c of label) h = (h * 31 + c.charCodeAt(0)) % 360;
  return "hsl(" + h + ",70%,55%)";
}
const grid = document.getElementById("grid"), conn = document.getElementById("conn");
const tiles = new Map();
const live = window.ferLive = { tiles: tiles, painted: {}, frames: {}, overlays: {}, records: {}, latencies: [], messages: 0, sources: [] };
let ws = null, watching = "";

function tileFor(s) {
  let t = tiles.get(s.id);
  if (t) return t;
  const el = document.createElement("section");
  el.className = "tile"; el.dataset.source = s.id; el.dataset.name = s.name; el.dataset.painted = "0";
  el.innerHTML = '<div class="title"><span class="name"></span><span class="badge">waiting</span></div>' +
    '<div class="view"><canvas class="frame" width="320" height="180"></canvas><canvas class="overlay" width="320" height="180"></canvas></div>' +
    '<canvas class="strip" height="44"></canvas><div class="now"></div><div class="stats"></div>';
  el.querySelector(".name").textContent = s.name;
  el.querySelector(".name").title = s.input;
  el.addEventListener("click", () => { el.classList.toggle("big"); drawStrip(t); });
  grid.appendChild(el);
  t = { id: s.id, el: el, canvas: el.querySelector("canvas.frame"), overlay: el.querySelector("canvas.overlay"),
        strip: el.querySelector("canvas.strip"), now: el.querySelector(".now"), stats: el.querySelector(".stats"),
        badge: el.querySelector(".badge"), pending: null, busy: false, painted: 0, history: [], visible: true };
  t.ctx = t.canvas.getContext("2d"); t.octx = t.overlay.getContext("2d");
  tiles.set(s.id, t);
  observer.observe(el);
  return t;
}

function update(sources) {
  live.sources = sources;
  // A square-ish grid: 2×2 for 4 inputs, 3×3 for 8 or 9, 4×4 for 16 (one column on a phone).
  const cols = Math.max(1, Math.min(6, Math.ceil(Math.sqrt(sources.length)), Math.floor(window.innerWidth / 260)));
  grid.style.setProperty("--cols", cols);
  for (const s of sources) {
    const t = tileFor(s), st = s.stats || {};
    t.el.classList.toggle("ended", s.ended);
    t.el.classList.toggle("live", s.started && !s.ended);
    t.badge.textContent = s.error ? "failed" : s.skipped ? "skipped" : s.ended ? "ended" : (s.started ? "live" : "waiting");
    t.badge.title = s.error || "";
    const dropped = st.dropped ? Object.values(st.dropped).reduce((a, b) => a + b, 0) : 0;
    const p95 = st.latency_ms && st.latency_ms.p95 != null ? st.latency_ms.p95 : "–";
    const cpf = st.crops_per_face != null ? st.crops_per_face : "–";
    t.stats.textContent = (s.error ? s.error + " · " : "") + (st.frames_analysed || 0) + " analysed · " + (st.skipped || 0) + " skipped · p95 " + p95 +
      " ms · " + cpf + " crops/face · " + dropped + " dropped" + (s.viewers ? " · " + s.viewers + " watching" : "");
  }
  sendWatch();
}

const observer = new IntersectionObserver(entries => {
  for (const e of entries) { const t = tiles.get(+e.target.dataset.source); if (t) t.visible = e.isIntersecting; }
  sendWatch();
});
document.addEventListener("visibilitychange", sendWatch);

// Frames are encoded only for inputs someone sees: the tiles on screen, none while the page is hidden.
function sendWatch() {
  if (!ws || ws.readyState !== 1) return;
  const ids = document.hidden ? [] : [...tiles.values()].filter(t => t.visible).map(t => t.id);
  const msg = JSON.stringify({ watch: ids });
  if (msg !== watching) { watching = msg; ws.send(msg); }
}

function onFrame(buf) {
  const v = new DataView(buf);
  if (v.getUint8(0) !== 1) return;
  const id = v.getUint16(2), frame = v.getUint32(4), w = v.getUint16(8), h = v.getUint16(10), n = v.getUint32(12), wall = v.getFloat64(16);
  const t = tiles.get(id);
  if (!t) return;
  const record = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 24, n)));
  // Only the newest frame of each input waits to be painted: a slow page skips, it never queues.
  t.pending = { frame: frame, w: w, h: h, wall: wall, record: record, jpeg: new Blob([new Uint8Array(buf, 24 + n)], { type: "image/jpeg" }) };
  if (!t.busy) paint(t);
}

async function paint(t) {
  t.busy = true;
  while (t.pending) {
    const p = t.pending; t.pending = null;
    let bmp;
    try { bmp = await createImageBitmap(p.jpeg); } catch (e) { continue; }
    if (t.canvas.width !== bmp.width || t.canvas.height !== bmp.height) {
      t.canvas.width = t.overlay.width = bmp.width; t.canvas.height = t.overlay.height = bmp.height;
    }
    t.ctx.drawImage(bmp, 0, 0);
    bmp.close();
    drawOverlay(t, p);
    remember(t, p.record);
    t.painted++;
    t.el.dataset.painted = t.painted; t.el.dataset.frame = p.frame;
    live.painted[t.id] = t.painted; live.frames[t.id] = p.frame; live.records[t.id] = p.record;
    requestAnimationFrame(() => { live.latencies.push(Date.now() - p.wall); if (live.latencies.length > 10000) live.latencies.shift(); });
  }
  t.busy = false;
}

// The boxes, in the record's frame pixels scaled to the picture sent.
function drawOverlay(t, p) {
  const c = t.octx, W = t.overlay.width, H = t.overlay.height, sx = W / p.w, sy = H / p.h;
  c.clearRect(0, 0, W, H);
  const lw = Math.max(2, Math.round(W / 240)), fs = Math.max(11, Math.round(W / 32));
  c.font = "600 " + fs + "px system-ui, sans-serif"; c.textBaseline = "bottom";
  const drawn = [];
  for (const f of p.record.faces) {
    const x = f.box[0] * sx, y = f.box[1] * sy, w = f.box[2] * sx, h = f.box[3] * sy, col = colour(f.label);
    c.lineWidth = lw; c.strokeStyle = col; c.strokeRect(x, y, w, h);
    const text = "#" + f.track + " " + f.label + " " + (f.score == null ? "–" : f.score.toFixed(2));
    const tw = c.measureText(text).width + 8, ty = y - fs - 4 >= 0 ? y : y + h + fs + 4;
    c.fillStyle = col; c.fillRect(x - lw / 2, ty - fs - 4, tw, fs + 4);
    c.fillStyle = "#000"; c.fillText(text, x + 4 - lw / 2, ty - 2);
    drawn.push({ track: f.track, label: f.label, score: f.score, text: text, colour: col, rect: [x, y, w, h], lineWidth: lw });
  }
  live.overlays[t.id] = { frame: p.frame, width: W, height: H, frameWidth: p.w, frameHeight: p.h, faces: drawn };
  t.now.innerHTML = "";
  for (const d of drawn) {
    const s = document.createElement("span"), i = document.createElement("i");
    i.style.background = d.colour; s.appendChild(i); s.appendChild(document.createTextNode(d.text)); t.now.appendChild(s);
  }
}

function remember(t, record) {
  const now = Date.now();
  for (const f of record.faces) t.history.push({ at: now, track: f.track, label: f.label });
  while (t.history.length && t.history[0].at < now - 60000) t.history.shift();
}

// The last 60 s: one row per track, each moment in its label's colour.
function drawStrip(t) {
  const c = t.strip, dpr = window.devicePixelRatio || 1, W = Math.max(1, Math.round(c.clientWidth * dpr)), H = Math.round(44 * dpr);
  if (c.width !== W) c.width = W;
  if (c.height !== H) c.height = H;
  const x = c.getContext("2d"), now = Date.now();
  x.clearRect(0, 0, W, H);
  const tracks = [...new Set(t.history.map(e => e.track))].sort((a, b) => a - b).slice(-4);
  if (!tracks.length) return;
  const rh = H / tracks.length, last = {};
  for (const e of t.history) {
    const row = tracks.indexOf(e.track);
    if (row < 0) continue;
    const x0 = (e.at - (now - 60000)) / 60000 * W;
    x.fillStyle = colour(e.label);
    x.fillRect(x0, row * rh + 1, Math.max(1, W / 300), rh - 2);
    last[e.track] = e.label;
  }
  x.font = Math.round(10 * dpr) + "px system-ui, sans-serif"; x.textBaseline = "middle"; x.fillStyle = "#fff";
  tracks.forEach((k, i) => x.fillText("#" + k + " " + (last[k] || ""), 3 * dpr, i * rh + rh / 2));
}
setInterval(() => tiles.forEach(drawStrip), 500);

function connect() {
  ws = new WebSocket((location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/ws");
  ws.binaryType = "arraybuffer";
  watching = "";
  ws.onopen = () => { conn.textContent = "live"; sendWatch(); };
  ws.onmessage = e => {
    live.messages++;
    if (typeof e.data === "string") { const m = JSON.parse(e.data); if (m.type === "sources") update(m.sources); }
    else onFrame(e.data);
  };
  ws.onclose = () => { conn.textContent = "disconnected (the run may have ended); retrying…"; setTimeout(connect, 2000); };
}
connect();
</script>
</body>
</html>
"""#
}
