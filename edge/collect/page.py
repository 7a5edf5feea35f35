"""The collect page (HTML + a little JavaScript), served by edge.collect.server at `/`.

    python -m edge.collect --source 0 --out data/mine --serve 127.0.0.1:8000

Phone-first: one column, buttons at least 64 px tall. The preview is one JPEG at a time
(the next is asked for when the last has loaded), so an idle page with no browser costs
nothing and a slow phone gets fewer frames instead of a growing backlog.
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edge collect</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
* { box-sizing: border-box; }
body { background: #111; color: #eee; font: 18px sans-serif; margin: 0 auto; padding: .5em;
       max-width: 900px; }
nav button { font-size: 1em; padding: .5em 1em; background: #333; color: #eee; border: 0; }
nav button.on { background: #2a6; }
#live { width: 100%; max-height: 55vh; object-fit: contain; background: #000; display: block; }
#classes { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
           gap: .5em; margin: .5em 0; }
.cls { background: #222; border-radius: 8px; padding: .3em; }
.cls .shoot { width: 100%; min-height: 72px; font-size: 1.2em; background: #2a6; color: #fff;
              border: 0; border-radius: 6px; }
.cls .burst { width: 100%; min-height: 44px; margin-top: .3em; background: #246; color: #fff;
              border: 0; border-radius: 6px; font-size: 1em; }
.count { font-weight: bold; }
.row { display: flex; gap: .5em; flex-wrap: wrap; align-items: center; margin: .5em 0; }
input { font-size: 1em; padding: .4em; width: 4.5em; }
#newname { width: 10em; }
.tool { min-height: 48px; font-size: 1em; padding: 0 1em; border: 0; border-radius: 6px; }
#hints { color: #fc6; } #msg { color: #9cf; min-height: 1.4em; }
#recent, #review { display: flex; flex-wrap: wrap; gap: .4em; }
.thumb { position: relative; } .thumb img { height: 90px; display: block; }
.thumb .del { position: absolute; top: 0; right: 0; width: 36px; height: 36px; border: 0;
              background: #a33c; color: #fff; font-size: 1.1em; }
.item { background: #222; padding: .3em; border-radius: 6px; width: 100%; }
.item img { max-width: 100%; height: 160px; }
.item button { min-height: 48px; min-width: 72px; margin: .2em; font-size: 1em; }
</style></head>
<body>
<nav><button id="tab-collect" class="on" onclick="tab('collect')">Collect</button>
<button id="tab-review" onclick="tab('review')">Review <span id="nreview"></span></button></nav>
<section id="collect">
<img id="live" alt="live camera preview">
<div id="classes"></div>
<div class="row">burst <input id="count" type="number" value="20" min="1" max="500"> frames, every
<input id="every" type="number" value="0.5" min="0" max="60" step="0.1"> s</div>
<div id="burst"></div>
<div class="row"><input id="newname" placeholder="new class">
<button class="tool" id="add" onclick="addClass()">add class</button>
<button class="tool" id="undo" onclick="post('undo', {})">undo last</button></div>
<div id="hints"></div><div id="msg"></div>
<div id="recent"></div>
</section>
<section id="review-tab" hidden><div id="review"></div></section>
<script>
let state = null;
const $ = id => document.getElementById(id);
function el(tag, props, ...kids) {
  const node = Object.assign(document.createElement(tag), props || {});
  node.append(...kids); return node;
}
function img(folder, file) {
  return "image/" + encodeURIComponent(folder) + "/" + encodeURIComponent(file);
}
async function post(action, body) {
  const r = await fetch(action, {method: "POST", headers: {"Content-Type": "application/json"},
                                 body: JSON.stringify(body)});
  const answer = await r.json().catch(() => ({error: r.statusText}));
  $("msg").textContent = answer.error ? answer.error
    : answer.skipped ? "skipped: too like the last one" : answer.saved ? "saved " + answer.saved
    : answer.undone ? "removed " + answer.undone : answer.undone === null ? "nothing to undo" : "";
  await refresh();
  return answer;
}
function capture(name) { return post("capture", {class: name}); }
function burst(name) {
  return post("burst", {class: name, count: +$("count").value, every: +$("every").value});
}
function addClass() {
  const name = $("newname").value.trim();
  if (name) post("class", {name}).then(() => { $("newname").value = ""; });
}
function renderClasses() {
  const box = $("classes"); box.replaceChildren();
  state.classes.forEach((c, i) => {
    const key = i < 9 ? (i + 1) + "  " : "";
    box.append(el("div", {className: "cls"},
      el("button", {className: "shoot", id: "shoot-" + c.name, onclick: () => capture(c.name)},
         key + c.name),
      el("div", {}, el("span", {className: "count", id: "count-" + c.name}, c.count),
         " images" + (c.skipped ? ", " + c.skipped + " skipped" : "")),
      el("button", {className: "burst", id: "burst-" + c.name, onclick: () => burst(c.name)},
         "burst")));
  });
}
function renderRecent() {
  $("recent").replaceChildren(...state.recent.map(r => el("div", {className: "thumb"},
    el("img", {src: img(r.class, r.file), title: r.class + "/" + r.file}),
    el("button", {className: "del", title: "delete", textContent: "\u00d7",
                  onclick: () => post("delete", {class: r.class, file: r.file})}))));
}
function renderReview() {
  const items = state.review || [];
  $("nreview").textContent = state.review ? "(" + items.length + ")" : "";
  $("review").replaceChildren(...items.map(it => el("div", {className: "item"},
    el("img", {src: img("_unlabeled", it.file)}),
    el("div", {}, "model: " + (it.label || "?") + " " + (it.probability ?? 0).toFixed(2)),
    el("div", {}, ...state.classes.map(c => el("button",
      {onclick: () => post("review/file", {file: it.file, class: c.name})}, c.name)),
      el("button", {onclick: () => post("review/delete", {file: it.file})}, "delete")))));
}
async function refresh() {
  try { state = await (await fetch("state.json", {cache: "no-store"})).json(); }
  catch (e) { $("msg").textContent = "no connection"; return; }
  renderClasses(); renderRecent(); renderReview();
  $("hints").replaceChildren(...state.hints.map(h => el("div", {}, h)));
  const b = state.burst;
  $("burst").textContent = b ? (b.active ? "bursting " : "last burst ") + b.cls + ": "
    + b.saved + " saved, " + b.skipped + " skipped of " + b.count : "";
}
function tab(name) {
  $("collect").hidden = name !== "collect"; $("review-tab").hidden = name !== "review";
  $("tab-collect").className = name === "collect" ? "on" : "";
  $("tab-review").className = name === "review" ? "on" : "";
}
document.addEventListener("keydown", e => {
  if (e.target.tagName === "INPUT" || !state) return;
  const i = "123456789".indexOf(e.key);
  if (i >= 0 && state.classes[i]) capture(state.classes[i].name);
  if (e.key === "u") post("undo", {});
});
const live = $("live");
function nextFrame() { live.src = "preview.jpg?t=" + Date.now(); }
live.onload = () => setTimeout(nextFrame, 100);
live.onerror = () => setTimeout(nextFrame, 1000);
nextFrame(); refresh(); setInterval(refresh, 1000);
</script>
</body></html>
"""
