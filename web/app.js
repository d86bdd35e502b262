// drover's console: one page, no build step. Every figure comes from droverd's own gRPC
// methods called over the Connect protocol (JSON over HTTP); live views read server streams
// (Services.Watch, Metrics.Watch, Services.Logs with follow), never a poll, and come back by
// themselves after droverd restarts. The token, when one is needed, lives in sessionStorage.
"use strict";

// ---- the API -------------------------------------------------------------------------------

class CallError extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.code = code;
    this.status = status;
  }
}

function headers(type) {
  const h = { "Content-Type": type, "Connect-Protocol-Version": "1" };
  const t = sessionStorage.getItem("drover-token");
  if (t) h.Authorization = "Bearer " + t;
  return h;
}

// A unary call: the answer's JSON, or a CallError with Connect's code.
async function call(method, msg = {}) {
  let r;
  try {
    r = await fetch("/" + method, {
      method: "POST", headers: headers("application/json"), body: JSON.stringify(msg),
    });
  } catch (e) {
    throw new CallError("unavailable", "droverd cannot be reached", 0);
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new CallError(body.code || "unknown", body.message, r.status);
  return body;
}

// A server stream: onMessage(msg) for each message until it ends or signal aborts. Resolves
// at the end (a CallError for an error in the end-of-stream envelope).
async function stream(method, msg, onMessage, signal) {
  const body = new TextEncoder().encode(JSON.stringify(msg));
  const env = new Uint8Array(5 + body.length);
  new DataView(env.buffer).setUint32(1, body.length);
  env.set(body, 5);
  let r;
  try {
    r = await fetch("/" + method, {
      method: "POST", headers: headers("application/connect+json"), body: env, signal,
    });
  } catch (e) {
    if (signal && signal.aborted) return;
    throw new CallError("unavailable", "droverd cannot be reached", 0);
  }
  if (!r.ok) {
    const e = await r.json().catch(() => ({}));
    throw new CallError(e.code || "unknown", e.message, r.status);
  }
  const reader = r.body.getReader();
  let buf = new Uint8Array(0);
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      if (signal && signal.aborted) return;
      throw new CallError("unavailable", "the stream broke", 0);
    }
    if (chunk.done) throw new CallError("unavailable", "the stream ended early", 0);
    const joined = new Uint8Array(buf.length + chunk.value.length);
    joined.set(buf);
    joined.set(chunk.value, buf.length);
    buf = joined;
    while (buf.length >= 5) {
      const dv = new DataView(buf.buffer, buf.byteOffset);
      const flags = dv.getUint8(0), n = dv.getUint32(1);
      if (buf.length < 5 + n) break;
      const m = JSON.parse(new TextDecoder().decode(buf.subarray(5, 5 + n)));
      buf = buf.subarray(5 + n);
      if (flags & 2) {
        if (m.error) throw new CallError(m.error.code, m.error.message, 200);
        return;
      }
      onMessage(m);
    }
  }
}

// A stream kept open: restarted after a pause when it breaks (droverd restarting, a network
// blip), until stopped. The header's badge says whether it is live.
function live(method, msg, onMessage, onReset) {
  const ctl = new AbortController();
  let delay = 500;
  (async () => {
    while (!ctl.signal.aborted) {
      try {
        if (onReset) onReset();
        await stream(method, msg, (m) => { delay = 500; link(true); onMessage(m); }, ctl.signal);
        if (ctl.signal.aborted) return;
      } catch (e) {
        if (ctl.signal.aborted) return;
        if (e.status === 401 || e.status === 403) { notice(e.message); return; }
        link(false, e.message);
      }
      await new Promise((ok) => setTimeout(ok, delay));
      delay = Math.min(delay * 2, 5000);
    }
  })();
  return () => ctl.abort();
}

// ---- page furniture ------------------------------------------------------------------------

const $ = (sel, root = document) => root.querySelector(sel);

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const k of kids.flat()) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function link(up, why) {
  const l = $("#link");
  l.textContent = up ? "live" : "reconnecting…";
  l.className = "link " + (up ? "up" : "down");
  l.title = why || "";
}

function notice(text) {
  const n = $("#notice");
  n.textContent = text || "";
  n.hidden = !text;
}

function bytes(n) {
  n = Number(n || 0);
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function duration(s) {
  s = Math.floor(s || 0);
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
}

const stateWord = (s) => (s.state || "SERVICE_STATE_STOPPED").replace("SERVICE_STATE_", "").toLowerCase();

// A time series chart (uPlot) of the last five minutes; y from 0 to `top` (or the largest
// value seen, when top is 0).
function chart(target, title, series, top = 0, keep = 300) {
  const data = [[], ...series.map(() => [])];
  const opts = {
    title, width: Math.max(300, target.clientWidth - 10), height: 180,
    scales: {
      x: { time: true, range: () => { const n = Date.now() / 1000; return [n - 300, n]; } },
      y: { range: (u, min, max) => [0, top || Math.max(1, max * 1.15)] },
    },
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5 }))],
    axes: [{}, { size: 60 }],
  };
  const plot = new uPlot(opts, data, target);
  return {
    push(t, ...vals) {
      data[0].push(t);
      vals.forEach((v, i) => data[i + 1].push(v));
      if (data[0].length > keep) data.forEach((d) => d.shift());
      plot.setData(data);
    },
  };
}

// ---- views ---------------------------------------------------------------------------------

let stopView = [];
const onLeave = (fn) => stopView.push(fn);

async function act(verb, name) {
  if (!confirm(`${verb} ${name}?`)) return;
  try {
    await call("drover.v1.Services/" + verb, { target: name });
    notice("");
  } catch (e) {
    notice(`${verb} ${name}: ${e.message}`);
  }
}

function serviceRow(s) {
  const word = stateWord(s);
  const running = word === "online" || word === "starting" || word === "backoff";
  return el("tr", { "data-name": s.name },
    el("td", {}, el("a", { href: "#/service/" + encodeURIComponent(s.name) }, s.name)),
    el("td", { class: "state " + word }, word),
    el("td", { class: "num" }, s.pid || "—"),
    el("td", { class: "num" }, running ? duration(s.uptimeSeconds) : "—"),
    el("td", { class: "num" }, s.restartsTotal || 0),
    el("td", { class: "num" }, (s.cpuSeconds || 0).toFixed(2) + " s"),
    el("td", { class: "num" }, bytes(s.rssBytes)),
    el("td", {}, s.probed ? (s.healthy ? "healthy" : "unhealthy") : "—"),
    el("td", {},
      running ? el("button", { onclick: () => act("Stop", s.name) }, "Stop")
              : el("button", { onclick: () => act("Start", s.name) }, "Start"),
      " ", el("button", { onclick: () => act("Restart", s.name) }, "Restart"),
      " ", el("button", { class: "danger", onclick: () => act("Delete", s.name) }, "Delete")));
}

function defineForm() {
  const f = el("form", { class: "define", id: "define" },
    el("label", { for: "d-name" }, "Name"), el("input", { id: "d-name", required: "" }),
    el("label", { for: "d-cmd" }, "Command"),
    el("input", { id: "d-cmd", required: "", placeholder: "program and arguments, or a JSON array" }),
    el("label", { for: "d-cwd" }, "Directory"), el("input", { id: "d-cwd", placeholder: "droverd's" }),
    el("label", { for: "d-env" }, "Environment"), el("input", { id: "d-env", placeholder: "NAME=value NAME2=value" }),
    el("label", { for: "d-restart" }, "Restart"),
    el("select", { id: "d-restart" },
      el("option", { value: "RESTART_POLICY_ALWAYS" }, "always"),
      el("option", { value: "RESTART_POLICY_ON_FAILURE" }, "on failure"),
      el("option", { value: "RESTART_POLICY_NEVER" }, "never")),
    el("label", { for: "d-auto" }, "Start with droverd"), el("input", { id: "d-auto", type: "checkbox", checked: "" }),
    el("div", { class: "actions" }, el("button", { type: "submit" }, "Define and start")));
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const raw = $("#d-cmd").value.trim();
    const cmd = raw.startsWith("[") ? JSON.parse(raw) : raw.split(/\s+/);
    const env = $("#d-env").value.trim().split(/\s+/).filter(Boolean).map((kv) => {
      const i = kv.indexOf("=");
      return { name: kv.slice(0, i), value: kv.slice(i + 1) };
    });
    const spec = {
      name: $("#d-name").value.trim(), cmd, cwd: $("#d-cwd").value.trim(), env,
      restart: $("#d-restart").value, autostart: $("#d-auto").checked,
    };
    try {
      await call("drover.v1.Services/Start", { spec });
      notice("");
      f.reset();
    } catch (e) {
      notice("Start: " + e.message);
    }
  });
  return f;
}

function overview(view) {
  const cards = el("div", { class: "cards" });
  const cpuBox = el("div"), memBox = el("div");
  const tbody = el("tbody", { id: "services" });
  view.append(
    el("section", {}, el("h2", {}, "Machine"), cards, cpuBox, memBox),
    el("section", {}, el("h2", {}, "Services"),
      el("table", {}, el("thead", {}, el("tr", {},
        ...["Name", "State", "PID", "Uptime", "Restarts", "CPU", "Memory", "Health", ""]
          .map((h, i) => el("th", { class: i >= 2 && i <= 6 ? "num" : "" }, h)))), tbody)),
    el("section", {}, el("h2", {}, "Define a service"), defineForm()));

  const cpu = chart(cpuBox, "CPU (%)", [{ label: "all CPUs", color: "#2b6cb0" }], 100);
  const mem = chart(memBox, "Memory (MiB)", [{ label: "used", color: "#1f8f4e" },
                                            { label: "cached", color: "#b7791f" }]);
  onLeave(live("drover.v1.Metrics/Watch", { interval: "2s" }, (m) => {
    const t = Date.parse(m.timestamp) / 1000;
    cpu.push(t, +(m.cpu && m.cpu.usagePercent || 0).toFixed(1));
    mem.push(t, Math.round(Number(m.memUsedBytes || 0) / 1048576),
             Math.round(Number(m.memCachedBytes || 0) / 1048576));
    $("#host").textContent = m.hostname || "";
    cards.replaceChildren(
      ...[["CPU", ((m.cpu && m.cpu.usagePercent) || 0).toFixed(1) + " %"],
          ["Memory", bytes(m.memUsedBytes) + " / " + bytes(m.memTotalBytes)],
          ["Load", [m.load1, m.load5, m.load15].map((x) => (x || 0).toFixed(2)).join(" ")],
          ["Processes", `${m.processCount || 0} (${m.running || 0} running)`],
          ["Up", duration(m.uptimeSeconds)], ["CPUs", m.numCpus || 0]]
        .map(([k, v]) => el("div", { class: "card" }, el("b", {}, v), el("span", {}, k))));
  }));

  const rows = new Map();
  onLeave(live("drover.v1.Services/Watch", {}, (s) => {
    const old = rows.get(s.id);
    if (s.deleted) {
      if (old) old.remove();
      rows.delete(s.id);
      return;
    }
    const row = serviceRow(s);
    if (old) old.replaceWith(row); else tbody.append(row);
    rows.set(s.id, row);
  }, () => { rows.clear(); tbody.replaceChildren(); }));
}

function servicePage(view, name) {
  const specBox = el("pre", { class: "spec" });
  const head = el("div", { class: "cards" });
  const usage = el("div");
  const log = el("pre", { class: "log", id: "log" });
  const search = el("input", { placeholder: "filter lines", id: "log-filter" });
  let paused = false, held = [];
  const pause = el("button", { onclick: () => {
    paused = !paused;
    pause.textContent = paused ? "Follow" : "Pause";
    if (!paused) { held.forEach(addLine); held = []; }
  } }, "Pause");
  view.append(
    el("section", {}, el("h2", {}, name), head, usage),
    el("section", {}, el("h2", {}, "Log"), el("div", { class: "toolbar" }, pause, search), log),
    el("section", {}, el("h2", {}, "Definition"), specBox));
  search.addEventListener("input", () => {
    const q = search.value;
    for (const l of log.children) l.hidden = q && !l.textContent.includes(q);
  });
  function addLine([text, err]) {
    const line = el("div", { class: err ? "err" : "" }, text);
    line.hidden = search.value && !text.includes(search.value);
    log.append(line);
    while (log.children.length > 2000) log.firstChild.remove();
    log.scrollTop = log.scrollHeight;
  }
  const chartBox = chart(usage, "Its tree", [{ label: "CPU %", color: "#2b6cb0" },
                                             { label: "memory MiB", color: "#1f8f4e" }]);
  let lastCpu = null;
  onLeave(live("drover.v1.Services/Watch", { target: name }, (s) => {
    const t = Date.now() / 1000;
    if (lastCpu) chartBox.push(t, Math.max(0, (s.cpuSeconds - lastCpu[1]) / (t - lastCpu[0]) * 100),
                               Number(s.rssBytes || 0) / 1048576);
    lastCpu = [t, s.cpuSeconds || 0];
    head.replaceChildren(...[["State", stateWord(s)], ["PID", s.pid || "—"],
      ["Restarts", s.restartsTotal || 0], ["Processes", s.processes || 0],
      ["Memory", bytes(s.rssBytes)], ["Last exit", s.lastExit || 0]]
      .map(([k, v]) => el("div", { class: "card" }, el("b", {}, v), el("span", {}, k))));
    specBox.textContent = JSON.stringify(s.spec || {}, null, 2);
  }));
  let partial = ["", ""];
  onLeave(live("drover.v1.Services/Logs", { target: name, lines: 200, follow: true }, (c) => {
    const err = c.stream === "STREAM_STDERR" ? 1 : 0;
    const text = partial[err] + new TextDecoder().decode(
      Uint8Array.from(atob(c.data || ""), (ch) => ch.charCodeAt(0)));
    const lines = text.split("\n");
    partial[err] = lines.pop();
    for (const l of lines) paused ? held.push([l, err]) : addLine([l, err]);
  }, () => { log.replaceChildren(); partial = ["", ""]; }));
}

function sessions(view) {
  const tbody = el("tbody", { id: "sessions" });
  const start = el("button", { id: "new-shell", onclick: async () => {
    try {
      const r = await call("drover.v1.Sessions/SpawnPty",
                           { argv: ["/bin/sh"], originator: "console", rows: 24, cols: 100 });
      location.hash = "#/session/" + encodeURIComponent(r.sessionId);
    } catch (e) {
      notice("New shell: " + e.message);
    }
  } }, "New shell");
  view.append(el("section", {}, el("h2", {}, "PTY sessions"), el("div", { class: "toolbar" }, start),
    el("table", {}, el("thead", {}, el("tr", {},
      ...["ID", "Command", "PID", "Size", "Attached", "State", ""].map((h) => el("th", {}, h)))), tbody)));
  const load = async () => {
    try {
      const r = await call("drover.v1.Sessions/ListPty", {});
      tbody.replaceChildren(...(r.sessions || []).map((s) => el("tr", { "data-id": s.sessionId },
        el("td", {}, s.sessionId), el("td", {}, s.command), el("td", { class: "num" }, s.pid),
        el("td", {}, `${s.cols || 80}×${s.rows || 24}`), el("td", {}, s.attached ? "yes" : "no"),
        el("td", {}, s.exited ? "exited " + (s.exitCode || 0) : "running"),
        el("td", {}, s.exited ? "" : el("a", { href: "#/session/" + encodeURIComponent(s.sessionId) },
                                        "Open")))));
    } catch (e) {
      notice("Sessions: " + e.message);
    }
  };
  load();
}

// A PTY session in xterm.js, over the same attachment the CLI uses (GET /attach, a WebSocket):
// the backlog first, then output as it comes; keys, resizes and a detach go back.
function terminal(view, id) {
  const box = el("div", { class: "term", id: "term" });
  const state = el("span", { class: "muted", id: "term-state" }, "attaching…");
  let ws = null;
  const detach = el("button", { onclick: () => ws && ws.send(JSON.stringify({ detach: true })) }, "Detach");
  const ctrlc = el("button", { onclick: () => ws && ws.send(JSON.stringify({ interrupt: true })) }, "Ctrl-C");
  view.append(el("section", {}, el("h2", {}, "Session " + id),
    el("div", { class: "toolbar" }, detach, ctrlc, state), box));
  const term = new Terminal({ cursorBlink: true, fontSize: 13, convertEol: false });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  const token = sessionStorage.getItem("drover-token") || "";
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    "/attach?steal=1&session=" + encodeURIComponent(id) + "&rows=" + term.rows +
    "&cols=" + term.cols + "&token=" + encodeURIComponent(token);
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (ev) => {
    if (typeof ev.data !== "string") { term.write(new Uint8Array(ev.data)); return; }
    const m = JSON.parse(ev.data);
    if (m.attached) { state.textContent = "attached"; term.focus(); }
    else if (m.missed) term.write(`\r\n[... ${m.missed} bytes missed]\r\n`);
    else if (m.end) state.textContent = m.end === "exit" ? `exited (${m.exitCode})` : m.end;
    else if (m.error) state.textContent = m.error;
  };
  ws.onclose = (ev) => {
    if (state.textContent === "attaching…" || state.textContent === "attached")
      state.textContent = "closed" + (ev.reason ? ": " + ev.reason : "");
  };
  const enc = new TextEncoder();
  term.onData((d) => ws.readyState === 1 && ws.send(enc.encode(d)));
  term.onResize(({ rows, cols }) => ws.readyState === 1 &&
    ws.send(JSON.stringify({ resize: { rows, cols } })));
  const onWin = () => fit.fit();
  window.addEventListener("resize", onWin);
  onLeave(() => { window.removeEventListener("resize", onWin); ws.close(); term.dispose(); });
}

function processes(view) {
  const filter = el("input", { placeholder: "filter by name or pid", id: "proc-filter" });
  const tbody = el("tbody", { id: "procs" });
  let sort = "PROCESS_SORT_CPU", last = [];
  const th = (label, key) => el("th", { class: "num sortable", onclick: () => { sort = key; restart(); } }, label);
  view.append(el("section", {}, el("h2", {}, "Processes"), el("div", { class: "toolbar" }, filter),
    el("table", {}, el("thead", {}, el("tr", {}, th("PID", "PROCESS_SORT_PID"), el("th", {}, "Name"),
      el("th", {}, "State"), th("CPU %", "PROCESS_SORT_CPU"), th("Memory", "PROCESS_SORT_MEMORY"),
      el("th", { class: "num" }, "Threads"), el("th", {}, ""))), tbody)));
  const render = () => {
    const q = filter.value.trim();
    tbody.replaceChildren(...last.filter((p) => !q || p.name.includes(q) || String(p.pid) === q)
      .slice(0, 300).map((p) => el("tr", {},
        el("td", { class: "num" }, p.pid), el("td", {}, p.name), el("td", {}, p.state),
        el("td", { class: "num" }, (p.cpuPercent || 0).toFixed(1)),
        el("td", { class: "num" }, bytes(p.rssBytes)), el("td", { class: "num" }, p.threads || 0),
        el("td", {}, el("button", { class: "danger", onclick: () => killTree(p) }, "Kill tree")))));
  };
  filter.addEventListener("input", render);
  let stop = null;
  const restart = () => {
    if (stop) stop();
    stop = live("drover.v1.Metrics/Watch", { interval: "2s", processes: true, sort },
                (m) => { last = m.processes || []; render(); });
  };
  restart();
  onLeave(() => stop && stop());
}

async function killTree(p) {
  if (!confirm(`Kill ${p.name} (${p.pid}) and every process below it?`)) return;
  try {
    const r = await call("drover.v1.Processes/KillTree", { pid: p.pid });
    notice(`killed ${r.processesKilled || 0} process(es)`);
  } catch (e) {
    notice("Kill tree: " + e.message);
  }
}

// ---- routing -------------------------------------------------------------------------------

function route() {
  stopView.forEach((f) => f());
  stopView = [];
  notice("");
  const view = $("#view");
  view.replaceChildren();
  const h = location.hash.replace(/^#/, "") || "/";
  const name = h.split("/")[1] || "overview";
  for (const a of document.querySelectorAll("header nav a"))
    a.classList.toggle("active", a.dataset.view ===
      (name === "service" ? "overview" : name === "session" ? "sessions" : name));
  if (name === "service") servicePage(view, decodeURIComponent(h.split("/")[2] || ""));
  else if (name === "sessions") sessions(view);
  else if (name === "session") terminal(view, decodeURIComponent(h.split("/")[2] || ""));
  else if (name === "processes") processes(view);
  else overview(view);
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  $("#token").value = sessionStorage.getItem("drover-token") || "";
  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("#token").value.trim();
    if (t) sessionStorage.setItem("drover-token", t); else sessionStorage.removeItem("drover-token");
    route();
  });
  route();
});
