"""The dashboard's pages: one HTML document each, CSS and JS inline under the answer's CSP
nonce, nothing loaded from the network. The script builds every cell with textContent, never
innerHTML, so a command's text is shown as it is and never runs."""

from __future__ import annotations

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}
header{background:#1b1f24;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:center}
header h1{font-size:17px;margin:0}
#logout{margin-left:auto}
#chain{padding:2px 8px;border-radius:4px;background:#555}
#chain.ok{background:#1f7a3a}#chain.bad{background:#b3261e}
main{padding:12px 20px;max-width:1200px}
h2{font-size:15px;margin:18px 0 8px}
.card{background:#fff;border:1px solid #d0d4da;border-radius:6px;padding:10px 14px;margin:0 0 10px}
.cmd{font:13px/1.4 ui-monospace,monospace;background:#eef1f4;padding:6px 8px;border-radius:4px;
white-space:pre-wrap;word-break:break-all}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0}
dt{color:#57606a}dd{margin:0;word-break:break-all}
button{font:inherit;padding:4px 12px;border-radius:4px;border:1px solid #8c959f;background:#fff;
cursor:pointer}
button.approve{background:#1f7a3a;color:#fff;border-color:#1f7a3a}
button.deny{background:#b3261e;color:#fff;border-color:#b3261e}
.ask{margin-top:8px;padding:8px;background:#fff8e1;border-radius:4px}
.ask input{font:inherit;padding:3px 6px;width:24em}
details summary{cursor:pointer;color:#57606a}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border-bottom:1px solid #e1e4e8;padding:3px 6px;text-align:left;vertical-align:top}
td.c{font-family:ui-monospace,monospace;word-break:break-all}
form.filters{display:flex;gap:8px;flex-wrap:wrap;margin-bottom:8px}
form.filters input,form.filters select{font:inherit;padding:2px 6px}
#msg{min-height:1.4em;font-weight:600}#msg.err{color:#b3261e}
.none{color:#57606a}
"""

SCRIPT = r"""
"use strict";
const PROTECTED = document.body.dataset.protected === "1";
// the session's CSRF token: from the login redirect's fragment (never sent to a server) into
// this origin's sessionStorage (no other port's page can read it), and out of the address bar
const CSRF = (() => {
  const m = /^#csrf=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (m) { sessionStorage.setItem("agentgate-csrf", m[1]); history.replaceState(null, "", "/"); }
  return sessionStorage.getItem("agentgate-csrf") || "";
})();
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k) e.append(k);
  return e;
}
function say(text, bad) { const m = $("msg"); m.textContent = text; m.className = bad ? "err" : ""; }
function ago(s) { s = Math.max(0, Math.floor(s)); return s < 90 ? s + "s" : s < 5400 ? Math.floor(s / 60) + "m" : Math.floor(s / 3600) + "h"; }
async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json",
    "X-CSRF-Token": CSRF}, body: JSON.stringify(body), credentials: "same-origin"});
  let data = {}; try { data = await r.json(); } catch (e) { data = {error: await r.text()}; }
  if (!r.ok || !data.ok) throw new Error((data.error || r.status) + (data.hint ? " (" + data.hint + ")" : ""));
  return data;
}
const open = {};  // id -> "approve" | "deny": a question shown under a request
let lastPending = "";
function card(r, now) {
  const dl = el("dl");
  const row = (k, v) => { dl.append(el("dt", {text: k}), el("dd", {text: v})); };
  row("id", r.id); row("directory", r.cwd); row("rule", (r.rule || "-") + ": " + r.reason);
  row("agent", r.agent + " (pid " + r.pid + ", " + r.user + "@" + r.host + ")");
  row("requested", r.createdAt + " (" + ago(now - Date.parse(r.createdAt) / 1000) + " ago)");
  row("expires", r.expiresAt);
  const hist = el("details", {}, el("summary", {text: "history (" + r.history.length + ")"}),
    el("ul", {}, ...r.history.map((h) => el("li", {text: h.at + "  " + h.event}))));
  const c = el("div", {class: "card", "data-id": r.id},
    el("div", {class: "cmd", text: r.command}), dl, hist);
  const bar = el("div", {},
    el("button", {class: "approve", text: "Approve", onclick: () => { open[r.id] = "approve"; draw(); }}), " ",
    el("button", {class: "deny", text: "Deny", onclick: () => { open[r.id] = "deny"; draw(); }}));
  c.append(bar);
  if (open[r.id] === "approve") {
    const [secret, code] = proofInputs();
    // how much, as `approve` takes it: once, --uses N (within --ttl), or --for DURATION;
    // the service checks the bounds and says what it granted
    const how = el("select", {name: "how", "aria-label": "how much"},
      el("option", {value: "once", text: "once"}),
      el("option", {value: "uses", text: "a number of runs (--uses)"}),
      el("option", {value: "for", text: "any number of runs for a while (--for)"}));
    const uses = el("input", {name: "uses", inputmode: "numeric", placeholder: "runs, 1 to 1000", size: "12"});
    const ttl = el("input", {name: "ttl", placeholder: "within (default: the policy's)", size: "22"});
    const span = el("input", {name: "for", placeholder: "for how long, e.g. 30m", size: "18"});
    const question = el("span", {text: "Approve this command to run once? "});
    const shown = () => {
      uses.hidden = ttl.hidden = how.value !== "uses"; span.hidden = how.value !== "for";
      question.textContent = {once: "Approve this command to run once? ",
        uses: "Approve this command to run this many times: ",
        for: "Approve this command to run any number of times for: "}[how.value];
    };
    how.addEventListener("change", shown); shown();
    const asked = () => how.value === "uses" ? {uses: uses.value, ttl: ttl.value}
      : how.value === "for" ? {for: span.value} : {};
    c.append(el("div", {class: "ask"}, how, " ", question, uses, ttl, span, " ", secret, code,
      el("button", {class: "approve confirm-approve", text: "Confirm approve", onclick: async () => {
        try { const d = await post("/api/approve", Object.assign(proof(r.id, secret, code), asked()));
          delete open[r.id]; say(d.message); } catch (e) { say(e.message, true); }
        refresh(true); }}), " ",
      el("button", {text: "Cancel", onclick: () => { delete open[r.id]; draw(); }})));
  } else if (open[r.id] === "deny") {
    const reason = el("input", {name: "reason", placeholder: "reason, shown to the agent"});
    c.append(el("div", {class: "ask"}, el("span", {text: "Deny: "}), reason, " ",
      el("button", {class: "deny confirm-deny", text: "Confirm deny", onclick: async () => {
        try { const d = await post("/api/deny", {id: r.id, reason: reason.value});
          delete open[r.id]; say(d.message); } catch (e) { say(e.message, true); }
        refresh(true); }}), " ",
      el("button", {text: "Cancel", onclick: () => { delete open[r.id]; draw(); }})));
  }
  return c;
}
// protected mode: the approver secret (and the authenticator code) typed into this one
// confirmation and sent with this one request; the session holds no secret
function proofInputs() {
  if (!PROTECTED) return [null, null];
  return [el("input", {type: "password", name: "secret", placeholder: "approver secret", autocomplete: "off"}),
    el("input", {name: "code", placeholder: "code (if enrolled)", autocomplete: "one-time-code", size: "10"})];
}
function proof(id, secret, code) {
  const body = {id: id, secret: secret ? secret.value : null, code: code ? code.value : null};
  if (secret) secret.value = "";
  return body;
}
let state = {pending: [], history: [], now: 0};
function draw() {
  const p = $("pending"); p.replaceChildren();
  if (!state.pending.length) p.append(el("p", {class: "none", text: "No pending requests."}));
  for (const r of state.pending) p.append(card(r, state.now));
  $("count").textContent = String(state.pending.length);
}
let revoking = null;  // the id whose "Confirm revoke" is shown
function revokeCell(ev) {
  if (!ev.id || (ev.event !== "approved" && ev.event !== "human_denied")) return el("td");
  if (revoking !== ev.id) return el("td", {}, el("button", {class: "revoke", text: "Revoke",
    onclick: () => { revoking = ev.id; drawHistory(); }}));
  const [secret, code] = ev.event === "human_denied" ? proofInputs() : [null, null];
  return el("td", {}, secret, code, el("button", {class: "deny confirm-revoke", text: "Confirm revoke", onclick: async () => {
      try { const d = await post("/api/revoke", proof(ev.id, secret, code)); say(d.message); }
      catch (e) { say(e.message, true); }
      revoking = null; refresh(true); }}), " ",
    el("button", {text: "Cancel", onclick: () => { revoking = null; drawHistory(); }}));
}
function drawHistory() {
  const tb = $("history"); tb.replaceChildren();
  for (const ev of state.history) {
    const cmd = ev.command || "";
    tb.append(el("tr", {"data-event": ev.event || ""}, el("td", {text: ev.ts || ""}), el("td", {text: ev.event || ""}),
      el("td", {text: ev.id || ""}), el("td", {text: ev.rule || ""}), el("td", {text: ev.agent || ""}),
      el("td", {text: ev.reason || ev.by || (ev.exit_code !== undefined ? "exit " + ev.exit_code : "")}),
      el("td", {class: "c", text: cmd}), revokeCell(ev)));
  }
  if (!state.history.length) tb.append(el("tr", {}, el("td", {colspan: "8", class: "none", text: "Nothing matches."})));
}
async function refresh(force) {
  const q = new URLSearchParams(new FormData($("filters")));
  try {
    const r = await fetch("/api/state?" + q, {headers: {"X-CSRF-Token": CSRF}, credentials: "same-origin"});
    const data = await r.json();
    if (!r.ok) { say(data.error || ("error " + r.status), true); return; }
    state = data;
    const key = JSON.stringify(data.pending.map((x) => [x.id, x.status]));
    if (force || key !== lastPending) { lastPending = key; draw(); }
    if (force || revoking === null) drawHistory();
    const top = data.history.length ? data.history[0].ts + data.history[0].event : "";
    if (top !== lastTop) { lastTop = top; verify(); }
  } catch (e) { say("cannot reach the dashboard: " + e.message, true); }
}
let lastTop = null, verifiedAt = 0, verifyQueued = false;
async function verify() {  // the chain's check: after a change, at most every 3 s
  const wait = verifiedAt + 3000 - Date.now();
  if (wait > 0) { if (!verifyQueued) { verifyQueued = true; setTimeout(() => { verifyQueued = false; verify(); }, wait); } return; }
  verifiedAt = Date.now();
  const c = $("chain");
  try {
    const r = await fetch("/api/verify", {headers: {"X-CSRF-Token": CSRF}, credentials: "same-origin"}); const v = await r.json();
    if (!r.ok) { c.textContent = "audit chain: " + (v.error || r.status); c.className = "bad"; return; }
    c.textContent = v.ok ? "audit chain verified (" + v.verifiedLines + (v.verifiedLines === 1 ? " line)" : " lines)") : "audit chain BROKEN at " + v.firstBad + ": " + v.problem;
    c.className = v.ok ? "ok" : "bad";
  } catch (e) { c.textContent = "audit chain: unknown"; c.className = "bad"; }
}
$("logout").addEventListener("click", async () => {
  try { await post("/api/logout", {}); timers.forEach(clearInterval); document.body.replaceChildren(el("main", {}, el("p", {text:
    "Logged out. Open the URL that `agentgate dashboard` printed to log in again."}))); }
  catch (e) { say(e.message, true); }
});
$("filters").addEventListener("input", () => refresh(false));
$("filters").addEventListener("submit", (e) => { e.preventDefault(); refresh(false); });
refresh(true);
if (!CSRF) say("This tab cannot decide: open the URL that `agentgate dashboard` printed.", true);
const timers = [setInterval(() => refresh(false), 1000), setInterval(verify, 15000)];
"""

EVENTS = ["approval_requested", "approved", "human_denied", "revoked", "grant_consumed", "expired",
          "allowed", "denied", "exited", "blocked", "policy_trusted", "retracted"]


def index(nonce: str, protected: bool) -> str:
    options = "".join(f'<option value="{e}">{e}</option>' for e in EVENTS)
    mode = "protected mode" if protected else "personal mode"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>agentgate</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="{nonce}">{STYLE}</style></head>
<body data-protected="{1 if protected else 0}">
<header><h1>agentgate</h1><span>{mode}</span><span id="chain">audit chain: checking</span>
<button id="logout" type="button">Log out</button></header>
<main>
<div id="msg" role="status"></div>
<h2>Pending requests (<span id="count">0</span>)</h2>
<div id="pending"></div>
<h2>History</h2>
<form id="filters" class="filters">
<select name="event" aria-label="event"><option value="">every event</option>{options}</select>
<input name="agent" placeholder="agent" aria-label="agent">
<input name="id" placeholder="apr_... id" aria-label="id">
<input name="rule" placeholder="rule" aria-label="rule">
<input name="since" placeholder="since (2h, or an ISO time)" aria-label="since">
<input name="limit" placeholder="last 100" aria-label="limit" size="8">
</form>
<table><thead><tr><th>time</th><th>event</th><th>id</th><th>rule</th><th>agent</th><th>by / reason</th>
<th>command</th><th></th></tr></thead><tbody id="history"></tbody></table>
</main>
<script nonce="{nonce}">{SCRIPT}</script>
</body></html>
"""



def login(nonce: str, token: str) -> str:
    """The service's login form: the link's token (already checked) and the approver secret
    (and the authenticator code, when one is enrolled), posted to /login; no script."""
    from html import escape

    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>agentgate: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="{nonce}">{STYLE}</style></head>
<body>
<header><h1>agentgate</h1><span>protected mode</span></header>
<main>
<h2>Log in with the approver secret</h2>
<form method="post" action="/login" class="card">
<input type="hidden" name="token" value="{escape(token, quote=True)}">
<p><input type="password" name="secret" placeholder="approver secret" autocomplete="off"
aria-label="approver secret" required autofocus>
<input name="code" placeholder="code (if enrolled)" autocomplete="one-time-code" size="10"
aria-label="authenticator code">
<button type="submit" class="approve">Log in</button></p>
<p class="none">Each approval asks for the secret again.</p>
</form>
</main>
</body></html>
"""
