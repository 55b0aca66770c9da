"""`GET /`: one page where a person picks a user or an item and sees its list, with titles,
scores and, for a model of several fits (an ensemble's members, bpmf's draws), the share of the
fits whose own list holds each item. ``/?user=U`` or ``/?item=I`` opens on that list. The page
reads the JSON endpoints like any client; it writes text with ``textContent`` only."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>recfactor</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 52rem;
         padding: 0 1rem; color: #1b1b1b; }
  h1 { font-size: 1.3rem; margin-bottom: 0.2rem; }
  #model { color: #555; margin-top: 0; }
  form { display: inline-flex; gap: 0.4rem; margin: 0.6rem 1.2rem 0.6rem 0; }
  input { font: inherit; padding: 0.25rem 0.4rem; width: 7rem; }
  button { font: inherit; padding: 0.25rem 0.8rem; }
  table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
  th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid #ddd; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .bar { display: inline-block; height: 0.7rem; background: #3a7bd5; vertical-align: middle; }
  #status { color: #555; min-height: 1.4rem; }
  #status.error { color: #b00020; }
</style>
</head>
<body>
<h1>recfactor</h1>
<p id="model">loading the model&hellip;</p>
<form id="by-user"><label>User <input name="user" id="user" required></label>
  <button>Recommend</button></form>
<form id="by-item"><label>Item <input name="item" id="item" required></label>
  <button>Similar items</button></form>
<p id="status"></p>
<table id="list" hidden>
  <thead><tr id="head"></tr></thead>
  <tbody id="rows"></tbody>
</table>
<script>
"use strict";
let info = null;
const $ = (id) => document.getElementById(id);

function say(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (text instanceof Node) td.appendChild(text); else td.textContent = text;
  row.appendChild(td);
}

function show(answer, what) {
  const stable = answer.items.some((x) => x.stability !== undefined);
  const columns = ["#", "item"];
  if (info && info.titles) columns.push("title");
  columns.push("score");
  if (stable) columns.push("stability");
  $("head").replaceChildren(...columns.map((c) => {
    const th = document.createElement("th"); th.textContent = c; return th;
  }));
  $("rows").replaceChildren(...answer.items.map((x) => {
    const tr = document.createElement("tr");
    tr.className = "listed";
    cell(tr, String(x.rank), "num");
    cell(tr, x.item);
    if (info && info.titles) cell(tr, x.title || "");
    cell(tr, x.score === null ? "" : x.score.toFixed(3), "num");
    if (stable) {
      const span = document.createElement("span");
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = (4 * (x.stability || 0)) + "rem";
      span.append(bar, " " + Math.round(100 * (x.stability || 0)) + "%");
      cell(tr, span);
    }
    return tr;
  }));
  $("list").hidden = answer.items.length === 0;
  const cold = answer.cold && answer.cold !== "false" ? " (" + answer.cold + ")" : "";
  const notes = (answer.notes || []).join(" ");
  say(what + cold + ": " + answer.items.length + " items. " + notes, false);
}

async function ask(path, what) {
  say("asking\\u2026", false);
  try {
    const reply = await fetch(path);
    const answer = await reply.json();
    if (!reply.ok) { $("list").hidden = true; say(answer.error, true); return; }
    show(answer, what);
  } catch (e) {
    say("no answer from the server: " + e, true);
  }
}

function several() { return info && info.fits > 1 ? "&stability=true" : ""; }

function byUser(user) {
  $("user").value = user;
  ask("/recommend?user=" + encodeURIComponent(user) + "&n=10" + several(),
      "top 10 for user " + user);
}

function byItem(item) {
  $("item").value = item;
  ask("/similar?item=" + encodeURIComponent(item) + "&n=10" + several(),
      "nearest to item " + item);
}

$("by-user").addEventListener("submit", (e) => { e.preventDefault(); byUser($("user").value); });
$("by-item").addEventListener("submit", (e) => { e.preventDefault(); byItem($("item").value); });

(async () => {
  try {
    info = (await (await fetch("/healthz")).json()).model;
    $("model").textContent = info.algorithm + " model, " + info.users + " users, " +
      info.items + " items" + (info.fits > 1 ? ", " + info.fits + " fits" : "");
  } catch (e) {
    say("no answer from the server: " + e, true);
  }
  const asked = new URLSearchParams(location.search);
  if (asked.get("user")) byUser(asked.get("user"));
  else if (asked.get("item")) byItem(asked.get("item"));
})();
</script>
</body>
</html>
"""
