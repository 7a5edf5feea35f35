"""The live view's page (HTML + a little JavaScript), served by edge.web.webview at `/`.

    python -m edge.camera --source picamera2 --headless --serve 0.0.0.0:8080

It never shows a stale picture or label as live: every half second it reads
/prediction.json (edge.video.state's schema: the frame's age and the source's state travel
with the label), and when the frame is old, the source is lost or ended, or the device does
not answer, a banner says so in words and the picture and label are greyed. The picture
(MJPEG) reconnects by itself after an error or when the server comes back (a restart).
Top-k as bars; the unknown state in its own colour and words, never as a class. "Where it
looked" turns the Grad-CAM heat-map over the picture on and off for every viewer (POST /explain;
the state lives on the device, read back from /explain.json); on a model without the heat-map's
statistics it is shown disabled, with the reason beside it.
Colours: every text is at least 4.5:1 against its background (tests/test_pages.py).
"""

COLLECT_PORT = 8000  # edge.collect's default port, for the link to the collect page

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edge classifier</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
* { box-sizing: border-box; }
body { background: #111; color: #eee; font: 18px sans-serif; margin: 0 auto; padding: .5em;
       max-width: 900px; }
#banner { background: #7a1f00; color: #fff; padding: .5em .7em; border-radius: 6px;
          margin: 0 0 .5em; font-weight: bold; }
#picture { position: relative; }
img { width: 100%; max-height: 60vh; object-fit: contain; background: #000; display: block;
      border: 1px solid #444; }
.stale img { opacity: .45; }
.stale #label, .stale #bars, .stale #note { opacity: .65; }
#label { font-size: 2em; font-weight: bold; margin: .3em 0 .1em; color: #fff; }
#label.unknown { color: #ffb74d; font-style: italic; }
#note { color: #ffb74d; min-height: 1.2em; }
.bar { display: grid; grid-template-columns: 8em 1fr 3.2em; gap: .5em; align-items: center;
       margin: .25em 0; }
.bar .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.track { background: #333; height: 1em; border-radius: 4px; overflow: hidden; }
.fill { background: #4aa3ff; height: 100%; }
.bar .p { text-align: right; font-variant-numeric: tabular-nums; }
#meta { color: #bbb; margin-top: .5em; }
a { color: #8cf; }
#explainrow { display: flex; gap: .6em; align-items: center; flex-wrap: wrap; margin: .4em 0; }
#explain { font: inherit; min-height: 44px; padding: 0 1em; border: 0; border-radius: 6px;
           background: #24466e; color: #fff; cursor: pointer; }
#explain[aria-pressed="true"] { background: #17693a; outline: 2px solid #fff; }
#explain:disabled { background: #333; color: #bbb; cursor: not-allowed; }
#explain-why { color: #bbb; font-size: .9em; }
</style></head>
<body>
<div id="banner" role="status" hidden></div>
<div id="picture"><img id="stream" src="stream.mjpg" alt="live camera stream"></div>
<div id="explainrow"><button id="explain" aria-pressed="false" disabled
onclick="toggleExplain()">where it looked: off</button><span id="explain-why"></span></div>
<div id="label">waiting for the first frame…</div>
<div id="note"></div>
<div id="bars"></div>
<div id="meta"></div>
<p><a id="to-collect" href="#">collect photos</a> (the collect page, when
<code>edge.collect</code> runs on this device)</p>
<script>
const $ = id => document.getElementById(id);
let last = null, lastOk = Date.now(), failing = false, shown = 0;
$("to-collect").href = location.protocol + "//" + location.hostname + ":__COLLECT_PORT__/";
function reconnectPicture() { $("stream").src = "stream.mjpg?t=" + Date.now(); }
$("stream").onerror = () => setTimeout(reconnectPicture, 1000);
function bar(t) {
  const row = document.createElement("div"); row.className = "bar";
  const name = document.createElement("span"); name.className = "name"; name.textContent = t.label;
  const track = document.createElement("span"); track.className = "track";
  const fill = document.createElement("span"); fill.className = "fill";
  fill.style.display = "block"; fill.style.width = (100 * t.probability).toFixed(1) + "%";
  track.append(fill);
  const p = document.createElement("span"); p.className = "p";
  p.textContent = t.probability.toFixed(2);
  row.append(name, track, p); return row;
}
function render(p, offline) {
  const stale = offline > 0 || !p || p.stale;
  document.body.classList.toggle("stale", stale);
  let banner = "";
  if (offline > 0) {
    banner = "no answer from the camera for " + offline.toFixed(0)
      + " s: the picture and label are from then, not live";
  } else if (p && p.stale) {
    banner = p.says + (p.label !== null && p.label !== undefined
      ? ": the label below is from the last frame, not live" : "");
  }
  $("banner").hidden = !banner; $("banner").textContent = banner;
  if (!p || p.label === null || p.label === undefined) return;
  const unknown = p.unknown || p.label === "unknown";
  $("label").textContent = unknown ? "unknown" : p.label;
  $("label").className = unknown ? "unknown" : "";
  $("note").textContent = !unknown ? ""
    : p.unknown && p.unknown_score !== null
      ? "none of the classes (score " + p.unknown_score.toFixed(2) + ", threshold "
        + p.unknown_threshold.toFixed(2) + ")"
      : "not sure enough of any class";
  $("bars").replaceChildren(...p.top_k.map(bar));
  $("meta").textContent = "frame " + p.frame + "  ·  " + p.fps.toFixed(1) + " fps  ·  "
    + (p.inference_ms || 0).toFixed(2) + " ms inference"
    + (p.age_s !== null ? "  ·  " + p.age_s.toFixed(1) + " s old" : "");
}
async function refresh() {
  try {
    const r = await fetch("prediction.json", {cache: "no-store"});
    if (!r.ok) throw new Error(r.statusText);
    const p = await r.json();
    // The server came back, or restarted (its frame count went back): the old stream is gone.
    if (failing || (last && p.frame < last.frame)) reconnectPicture();
    failing = false; lastOk = Date.now(); last = p;
    render(p, 0);
  } catch (e) {
    failing = true;
    render(last, Math.max(0.5, (Date.now() - lastOk) / 1000));
  }
}
let explain = null;
function renderExplain(e) {
  if (!e) return;
  explain = e;
  const button = $("explain");
  button.disabled = !e.available;
  button.setAttribute("aria-pressed", String(!!e.on));
  button.textContent = "where it looked: " + (e.on ? "on" : "off");
  $("explain-why").textContent = e.error || e.why
    || (e.on ? "heat-map of the best class, renewed every few frames" : "");
}
async function loadExplain() {
  try {
    const r = await fetch("explain.json", {cache: "no-store"});
    if (r.ok) renderExplain(await r.json());
  } catch (e) { /* the banner already says the device does not answer */ }
}
async function toggleExplain() {
  if (!explain || !explain.available) return;
  try {
    const r = await fetch("explain", {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify({on: !explain.on})});
    renderExplain(await r.json().catch(() => ({...explain, error: r.status + " " + r.statusText})));
  } catch (e) { renderExplain({...explain, error: "no answer from the camera"}); }
}
refresh(); setInterval(refresh, 500);
loadExplain(); setInterval(loadExplain, 2000);  // another viewer may turn it on or off
</script>
</body></html>
""".replace("__COLLECT_PORT__", str(COLLECT_PORT))
