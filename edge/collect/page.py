"""The collect page (HTML + a little JavaScript), served by edge.collect.server at `/`.

    python -m edge.collect --source 0 --out data/mine --serve 127.0.0.1:8000

Phone-first: one column, buttons at least 64 px tall. The preview is one JPEG at a time
(the next is asked for when the last has loaded), so an idle page with no browser costs
nothing and a slow phone gets fewer frames instead of a growing backlog. The page updates in
place (a button keeps its keyboard focus across updates); the status line at the top is
seen from both tabs; a banner says when the newest frame is old, the camera is lost, the
source ended or the page gets no answer (edge.video.state). Tap a class to take a photo,
hold it (or its key) to record while held. Every text is at least 4.5:1 against its
background (tests/test_pages.py). "None of these" (key 0) saves into `_unknown/` and, like
the unknown state on the live view, has its own colour (orange), on the buttons and in Review.
"""

WEBVIEW_PORT = 8080  # the boot service's web view (make deploy SERVE=0.0.0.0:8080)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edge collect</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
* { box-sizing: border-box; }
body { background: #111; color: #eee; font: 18px sans-serif; margin: 0 auto; padding: 0 .5em .5em;
       max-width: 900px; }
#top { position: sticky; top: 0; background: #111; padding: .3em 0; z-index: 2; }
#banner { background: #7a1f00; color: #fff; padding: .4em .6em; border-radius: 6px;
          font-weight: bold; margin-bottom: .3em; }
#msgrow { display: flex; gap: .5em; align-items: center; min-height: 2.2em; }
#msg { color: #9cf; flex: 1; }
#burstrow { display: flex; gap: .5em; align-items: center; flex-wrap: wrap; }
nav button { font-size: 1em; padding: .5em 1em; background: #333; color: #eee; border: 0;
             border-radius: 6px; min-height: 44px; }
nav button.on { background: #17693a; color: #fff; }
#live { width: 100%; max-height: 50vh; object-fit: contain; background: #000; display: block; }
.stale #live { opacity: .45; }
.help { color: #bbb; font-size: .85em; margin: .3em 0; }
#classes { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
           gap: .5em; margin: .5em 0; }
.cls { background: #222; border-radius: 8px; padding: .3em; }
button { font: inherit; cursor: pointer; }
.shoot { width: 100%; min-height: 72px; font-size: 1.2em; background: #17693a; color: #fff;
         border: 0; border-radius: 6px; user-select: none; -webkit-user-select: none;
         -webkit-touch-callout: none; touch-action: manipulation; }
.shoot.holding { background: #0b4a26; outline: 3px solid #fff; }
.cls.none { outline: 2px solid #ffb74d; }
.shoot.none { background: #7a4b00; }
.shoot.none.holding { background: #4d2f00; }
.unknown { color: #ffb74d; font-style: italic; }
.burst { width: 100%; min-height: 44px; margin-top: .3em; background: #24466e; color: #fff;
         border: 0; border-radius: 6px; }
.count { font-weight: bold; }
.row { display: flex; gap: .5em; flex-wrap: wrap; align-items: center; margin: .5em 0; }
input { font-size: 1em; padding: .4em; width: 4.5em; background: #fff; color: #111;
        border: 1px solid #888; border-radius: 4px; }
input::placeholder { color: #555; }
#newname { width: 10em; }
.tool { min-height: 48px; padding: 0 1em; border: 0; border-radius: 6px; background: #333;
        color: #fff; }
#stop { background: #a32020; color: #fff; }
#hints { color: #fc6; }
#next { background: #0f2a1a; border: 1px solid #17693a; border-radius: 8px; padding: .5em;
        margin: .5em 0; }
#next h2 { font-size: 1em; margin: 0 0 .3em; color: #fff; }
pre { white-space: pre-wrap; word-break: break-all; background: #000; color: #eee;
      padding: .5em; border-radius: 4px; margin: .3em 0; font-size: .85em; }
#recent, #rest { display: flex; flex-wrap: wrap; gap: .4em; }
.thumb { position: relative; background: #222; border-radius: 4px; }
.thumb img { height: 90px; display: block; }
.thumb .cap { font-size: .8em; padding: 0 .3em; color: #eee; max-width: 120px;
              overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.thumb .del { position: absolute; top: 0; right: 0; width: 36px; height: 36px; border: 0;
              background: #a32020; color: #fff; font-size: 1.1em; }
#current img { max-width: 100%; max-height: 40vh; display: block; }
#current .choices button { min-height: 56px; min-width: 80px; margin: .2em; border: 0;
                           border-radius: 6px; background: #333; color: #fff; }
#current .choices button.guess { background: #17693a; outline: 3px solid #fff; }
#current .choices button.drop { background: #a32020; }
#current .choices button.none { background: #7a4b00; }
#rest img { height: 60px; display: block; }
footer { margin-top: 1em; color: #bbb; }
a { color: #8cf; }
#join { background: #fff; color: #111; padding: .5em; border-radius: 8px; margin-top: .5em; }
#join img { width: 220px; max-width: 100%; display: block; }
#join-url { word-break: break-all; font-size: .85em; }
</style></head>
<body>
<div id="top">
<div id="banner" role="status" hidden></div>
<nav><button id="tab-collect" class="on" onclick="tab('collect')">Collect</button>
<button id="tab-review" onclick="tab('review')" hidden>Review <span id="nreview"></span></button></nav>
<div id="msgrow"><span id="msg" role="status"></span>
<button class="tool" id="msg-undo" hidden onclick="undo()">undo</button></div>
<div id="burstrow"><span id="burst"></span>
<button class="tool" id="stop" hidden onclick="stopBurst()">Stop (Esc)</button></div>
</div>
<section id="collect">
<img id="live" alt="live camera preview">
<p class="help">Tap a class to take a photo; hold it (or its key 1-9) to record while held.
"None of these" (key 0) keeps what is none of the classes (the empty scene, hands, the room):
never a class; training measures how well the model says unknown on it.</p>
<div id="classes"></div>
<div class="row"><label>burst <input id="count" type="number" value="20" min="1" max="500">
photos,</label> <label>at least <input id="every" type="number" value="0.5" min="0" max="60"
step="0.1"> s apart</label></div>
<div class="row"><input id="newname" placeholder="new class" aria-label="new class name">
<button class="tool" id="add" onclick="addClass()">add class</button>
<button class="tool" id="undo" onclick="undo()">undo (u)</button></div>
<div id="hints"></div>
<div id="next" hidden><h2>Ready to train</h2><div id="next-says"></div><pre id="commands"></pre></div>
<div id="recent"></div>
</section>
<section id="review-tab" hidden>
<p class="help">Keys 1-9 file the photo into a class, 0 into "none of these"; Enter files it
into the model's guess (highlighted); x deletes it.</p>
<div id="current"></div><div id="rest"></div>
</section>
<footer><a id="to-view" href="#">live view with the model</a> (when
<code>edge.camera --serve</code> runs on this device)
<span id="join-box" hidden> · <button class="tool" id="join-btn"
onclick="$('join').hidden = !$('join').hidden">join from a phone</button>
<div id="join" hidden><img id="qr" alt="QR code of this page's address">
<div id="join-url"></div></div></span></footer>
<script>
const UNKNOWN = "_unknown";  // the "none of these" folder (edge.model_folder.UNKNOWN_FOLDER)
let state = null, lastOk = Date.now(), failing = false, current = "", view = "collect";
const $ = id => document.getElementById(id);
const client = sessionStorage.getItem("client")
  || Math.random().toString(36).slice(2) + Date.now().toString(36);
sessionStorage.setItem("client", client);
$("to-view").href = location.protocol + "//" + location.hostname + ":__WEBVIEW_PORT__/";
function el(tag, props, ...kids) {
  const node = Object.assign(document.createElement(tag), props || {});
  node.append(...kids); return node;
}
function img(folder, file) {
  return "image/" + encodeURIComponent(folder) + "/" + encodeURIComponent(file);
}
function say(text, canUndo) { $("msg").textContent = text; $("msg-undo").hidden = !canUndo; }
async function post(action, body) {
  let answer;
  try {
    const r = await fetch(action, {method: "POST", headers: {"Content-Type": "application/json"},
                                   body: JSON.stringify(Object.assign({client}, body))});
    answer = await r.json().catch(() => ({error: r.status + " " + r.statusText}));
  } catch (e) { answer = {error: "no answer from the device"}; }
  if (answer.error) say(answer.error, false);
  else say(answer.says || "", !!answer.undoable);  // a burst speaks in its own line
  await refresh();
  return answer;
}
function capture(name) { return post("capture", {class: name}); }
function burst(name) {
  return post("burst", {class: name, count: +$("count").value, every: +$("every").value});
}
function undo() { return post("undo", {}); }
function stopBurst() { return post("stop", {}); }
function addClass() {
  const name = $("newname").value.trim();
  if (name) post("class", {name}).then(a => { if (!a.error) $("newname").value = ""; });
}
$("newname").addEventListener("keydown", e => { if (e.key === "Enter") addClass(); });
// Tap: one photo. Hold (HOLD_MS or longer): record while held, as long as the press lasts.
const HOLD_MS = 350;
let press = null;
function pressStart(name, button) {
  if (press) return;
  press = {name, button, holding: false};
  press.timer = setTimeout(() => {
    press.holding = true; button.classList.add("holding");
    post("burst", {class: name, hold: true, every: +$("every").value});
  }, HOLD_MS);
}
function pressEnd(cancelled) {
  if (!press) return false;
  const p = press; press = null;
  clearTimeout(p.timer); p.button.classList.remove("holding");
  if (p.holding) stopBurst(); else if (!cancelled) capture(p.name);
  return true;
}
const classNodes = new Map();
function classNode(c) {
  let node = classNodes.get(c.name);
  if (node) return node;
  const none = c.name === UNKNOWN;
  const shoot = el("button", {className: none ? "shoot none" : "shoot", id: "shoot-" + c.name});
  shoot.addEventListener("pointerdown", e => { e.preventDefault(); pressStart(c.name, shoot); });
  shoot.addEventListener("pointerup", () => pressEnd(false));
  shoot.addEventListener("pointerleave", () => pressEnd(true));
  shoot.addEventListener("pointercancel", () => pressEnd(true));
  shoot.addEventListener("contextmenu", e => e.preventDefault());
  // A click from the keyboard (Enter, Space) or a script has no pointer: one photo.
  shoot.addEventListener("click", e => { if (e.detail === 0) capture(c.name); });
  const count = el("span", {className: "count", id: "count-" + c.name});
  const info = el("span", {id: "info-" + c.name});
  node = el("div", {className: none ? "cls none" : "cls"}, shoot, el("div", {}, count, info),
    el("button", {className: "burst", id: "burst-" + c.name, onclick: () => burst(c.name)},
       "burst"));
  node.parts = {shoot, count, info};
  classNodes.set(c.name, node);
  return node;
}
function setText(node, text) { if (node.textContent !== text) node.textContent = text; }
function renderClasses() {
  const box = $("classes");
  const nodes = [...state.classes, state.unknown].map(c => {
    const node = classNode(c);
    setText(node.parts.shoot, (c.key !== null ? c.key + "  " : "") + (c.label || c.name));
    setText(node.parts.count, String(c.count));
    setText(node.parts.info, " photos" + (c.skipped ? ", " + c.skipped + " too alike" : ""));
    return node;
  });
  const same = nodes.length === box.children.length && nodes.every((n, i) => box.children[i] === n);
  if (!same) box.replaceChildren(...nodes);  // only when classes come or go
}
let recentKey = "";
function renderRecent() {
  const key = state.recent.map(r => r.class + "/" + r.file).join("|");
  if (key === recentKey) return;
  recentKey = key;
  $("recent").replaceChildren(...state.recent.map(r => el("div", {className: "thumb"},
    el("img", {src: img(r.class, r.file), alt: r.class + " photo " + r.file}),
    el("div", {className: "cap"}, r.class === UNKNOWN ? state.unknown.label : r.class),
    el("button", {className: "del", title: "delete " + r.class + "/" + r.file,
                  ariaLabel: "delete", textContent: "\\u00d7",
                  onclick: () => post("delete", {class: r.class, file: r.file})}))));
}
function fileInto(name) { return post("review/file", {file: current, class: name}); }
// The model's guess for a frame to review: "none of these" when its rule said unknown.
function guessOf(it) {
  if (it.unknown) return UNKNOWN;
  return state.classes.some(k => k.name === it.label) ? it.label : null;
}
function renderReview() {
  const items = state.review;
  $("tab-review").hidden = items.length === 0 && view !== "review";
  setText($("nreview"), "(" + items.length + ")");
  const it = items[0];
  if (!it) {
    if (current !== null) { current = null; $("current").replaceChildren(
      el("p", {}, "Nothing to review: frames the model was unsure of land here.")); }
    $("rest").replaceChildren();
    return;
  }
  if (it.file === current) return;
  current = it.file;
  const guess = guessOf(it), u = state.unknown;
  const choices = [...state.classes, u].map(c => el("button",
    {className: (c.name === UNKNOWN ? "none " : "") + (c.name === guess ? "guess" : ""),
     onclick: () => fileInto(c.name), id: "file-" + c.name},
    (c.key !== null ? c.key + " " : "") + (c.label || c.name)));
  choices.push(el("button", {className: "drop", onclick: () =>
    post("review/delete", {file: it.file})}, "x delete"));
  $("current").replaceChildren(
    el("img", {src: img("_unlabeled", it.file), alt: "frame to review"}),
    it.unknown
      ? el("div", {id: "guess"}, el("span", {className: "unknown"}, "model said: unknown"),
           " (score " + (it.unknown_score ?? 0).toFixed(2) + ", threshold "
           + (it.unknown_threshold ?? 0).toFixed(2) + ") · " + items.length + " to review")
      : el("div", {id: "guess"}, "model's guess: " + (it.label || "?") + " "
           + (it.probability ?? 0).toFixed(2) + " · " + items.length + " to review"),
    el("div", {className: "choices"}, ...choices));
  $("rest").replaceChildren(...items.slice(1, 13).map(r =>
    el("img", {src: img("_unlabeled", r.file), alt: "waiting: " + (r.label || "?")})));
}
function renderFrame(offline) {
  const f = state && state.frame;
  let banner = "";
  if (offline > 0) banner = "no answer from the device for " + offline.toFixed(0)
    + " s: the preview and counts are from then";
  else if (f && f.stale && f.source !== "starting") banner = f.says + ": the preview is not live";
  else if (f && f.source === "starting" && state.source) banner = f.says;
  document.body.classList.toggle("stale", !!banner);
  $("banner").hidden = !banner; setText($("banner"), banner);
}
function renderBurst() {
  const b = state.burst;
  setText($("burst"), b ? b.says : "");
  $("stop").hidden = !(b && b.active);
}
function renderNext() {
  const n = state.next;
  $("next").hidden = !n.ready;
  setText($("next-says"), n.says);
  setText($("commands"), n.commands.join("\\n"));
}
function renderJoin() {
  const j = state.join;
  $("join-box").hidden = !j;
  if (j && !$("qr").src) { $("qr").src = j.qr; setText($("join-url"), j.url); }
}
async function refresh() {
  try {
    const r = await fetch("state.json", {cache: "no-store"});
    if (!r.ok) throw new Error(r.statusText);
    state = await r.json();
    failing = false; lastOk = Date.now();
  } catch (e) {
    failing = true; renderFrame(Math.max(1, (Date.now() - lastOk) / 1000)); return;
  }
  renderFrame(0); renderClasses(); renderRecent(); renderReview(); renderBurst();
  renderNext(); renderJoin();
  const hints = state.hints.join("\\n");
  if ($("hints").dataset.text !== hints) {
    $("hints").dataset.text = hints;
    $("hints").replaceChildren(...state.hints.map(h => el("div", {}, h)));
  }
}
function tab(name) {
  view = name;
  $("collect").hidden = name !== "collect"; $("review-tab").hidden = name !== "review";
  $("tab-collect").className = name === "collect" ? "on" : "";
  $("tab-review").className = name === "review" ? "on" : "";
}
document.addEventListener("keydown", e => {
  if (e.target.tagName === "INPUT" || !state || e.ctrlKey || e.metaKey || e.altKey) return;
  const i = "0123456789".indexOf(e.key);
  const c = i === 0 ? state.unknown : i > 0 ? state.classes.find(c => c.key === i) : null;
  if (e.key === "Escape") {
    pressEnd(true);
    if (state.burst && state.burst.active) stopBurst();
    return;
  }
  if (view === "review") {
    if (c && current) fileInto(c.name);
    else if (e.key === "Enter" && e.target.tagName !== "BUTTON"  // a focused button: its own
             && current && state.review[0] && guessOf(state.review[0])) {
      e.preventDefault(); fileInto(guessOf(state.review[0]));
    } else if (e.key === "x" && current) post("review/delete", {file: current});
    return;
  }
  if (c && !e.repeat) pressStart(c.name, classNode(c).parts.shoot);
  else if (e.key === "u") undo();
});
document.addEventListener("keyup", e => {
  if (press && "0123456789".includes(e.key)) pressEnd(false);
});
const live = $("live");
function nextFrame() { live.src = "preview.jpg?t=" + Date.now(); }
live.onload = () => setTimeout(nextFrame, 100);
live.onerror = () => setTimeout(nextFrame, 1000);
nextFrame(); refresh(); setInterval(refresh, 1000);
</script>
</body></html>
""".replace("__WEBVIEW_PORT__", str(WEBVIEW_PORT))
