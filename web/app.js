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
// blip), until stopped; with finite, a stream that ends by itself (a log of a program that
// exited) stays ended. The header's badge says whether it is live.
function live(method, msg, onMessage, onReset, finite = false) {
  const ctl = new AbortController();
  let delay = 500;
  (async () => {
    while (!ctl.signal.aborted) {
      try {
        if (onReset) onReset();
        await stream(method, msg, (m) => { delay = 500; link(true); onMessage(m); }, ctl.signal);
        if (ctl.signal.aborted || finite) return;
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

// fn (async) made safe to call on every event: one run at a time, and one more after it if it
// was asked for meanwhile, however often, so a burst of events costs two listings.
function coalesced(fn) {
  let running = false, again = false;
  const run = async () => {
    if (running) { again = true; return; }
    running = true;
    try {
      await fn();
    } finally {
      running = false;
      if (again) { again = false; run(); }
    }
  };
  return run;
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
    axes: [{ space: 90 }, { size: 60 }],
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

// A button's call: asked first when there is a question, the notice line cleared when it
// succeeds and saying what went wrong when it fails. The answer, or null.
async function perform(what, method, body, question) {
  if (question && !confirm(question)) return null;
  try {
    const r = await call(method, body);
    notice("");
    return r;
  } catch (e) {
    notice(`${what}: ${e.message}`);
    return null;
  }
}

const act = (verb, name) =>
  perform(`${verb} ${name}`, "drover.v1.Services/" + verb, { target: name }, `${verb} ${name}?`);

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
    if (await perform("Start", "drover.v1.Services/Start", { spec })) f.reset();
  });
  return f;
}

// Sums of the counters that matter for rates: interfaces but loopback; whole disks, not the
// loop, RAM and device-mapper devices that sit on top of them.
function ioTotals(m) {
  const t = { rx: 0, tx: 0, rd: 0, wr: 0 };
  for (const n of m.network || []) {
    if (n.name === "lo") continue;
    t.rx += Number(n.rxBytes || 0);
    t.tx += Number(n.txBytes || 0);
  }
  for (const d of m.diskIo || []) {
    if (/^(loop|ram|zram|dm-|md)/.test(d.name)) continue;
    t.rd += Number(d.readBytes || 0);
    t.wr += Number(d.writtenBytes || 0);
  }
  return t;
}

function overview(view) {
  const cards = el("div", { class: "cards" });
  const cpuBox = el("div"), memBox = el("div"), netBox = el("div"), diskBox = el("div");
  const fsBody = el("tbody", { id: "filesystems" });
  const tbody = el("tbody", { id: "services" });
  view.append(
    el("section", {}, el("h2", {}, "Machine"), cards, el("div", { class: "charts" }, cpuBox, memBox, netBox, diskBox)),
    el("section", {}, el("h2", {}, "Services"),
      el("table", {}, el("thead", {}, el("tr", {},
        ...["Name", "State", "PID", "Uptime", "Restarts", "CPU", "Memory", "Health", ""]
          .map((h, i) => el("th", { class: i >= 2 && i <= 6 ? "num" : "" }, h)))), tbody)),
    el("section", {}, el("h2", {}, "File systems"),
      el("table", {}, el("thead", {}, el("tr", {},
        ...["Mounted on", "Device", "Type", "Size", "Used", "Free", ""].map((h, i) =>
          el("th", { class: i >= 3 && i <= 5 ? "num" : "" }, h)))), fsBody)),
    el("section", {}, el("h2", {}, "Define a service"), defineForm()));

  const cpu = chart(cpuBox, "CPU (%)", [{ label: "all CPUs", color: "#2b6cb0" }], 100);
  const mem = chart(memBox, "Memory (MiB)", [{ label: "used", color: "#1f8f4e" },
                                            { label: "cached", color: "#b7791f" }]);
  const net = chart(netBox, "Network (KiB/s)", [{ label: "received", color: "#2b6cb0" },
                                               { label: "sent", color: "#c53030" }]);
  const disk = chart(diskBox, "Disks (KiB/s)", [{ label: "read", color: "#1f8f4e" },
                                               { label: "written", color: "#b7791f" }]);
  let prev = null;
  onLeave(live("drover.v1.Metrics/Watch", { interval: "2s", disks: true, network: true }, (m) => {
    const t = Date.parse(m.timestamp) / 1000;
    const io = ioTotals(m);
    let rate = null;
    if (prev && t > prev.t) {
      const k = (a, b) => Math.max(0, (a - b) / (t - prev.t) / 1024);
      rate = { rx: k(io.rx, prev.io.rx), tx: k(io.tx, prev.io.tx), rd: k(io.rd, prev.io.rd), wr: k(io.wr, prev.io.wr) };
      net.push(t, +rate.rx.toFixed(1), +rate.tx.toFixed(1));
      disk.push(t, +rate.rd.toFixed(1), +rate.wr.toFixed(1));
    }
    prev = { t, io };
    cpu.push(t, +(m.cpu && m.cpu.usagePercent || 0).toFixed(1));
    mem.push(t, Math.round(Number(m.memUsedBytes || 0) / 1048576),
             Math.round(Number(m.memCachedBytes || 0) / 1048576));
    $("#host").textContent = m.hostname || "";
    const kib = (x) => bytes(x * 1024) + "/s";
    cards.replaceChildren(
      ...[["CPU", ((m.cpu && m.cpu.usagePercent) || 0).toFixed(1) + " %"],
          ["Memory", bytes(m.memUsedBytes) + " / " + bytes(m.memTotalBytes)],
          ["Load", [m.load1, m.load5, m.load15].map((x) => (x || 0).toFixed(2)).join(" ")],
          ["Processes", `${m.processCount || 0} (${m.running || 0} running)`],
          ["Network in / out", rate ? kib(rate.rx) + " / " + kib(rate.tx) : "…"],
          ["Disk read / write", rate ? kib(rate.rd) + " / " + kib(rate.wr) : "…"],
          ["Up", duration(m.uptimeSeconds)], ["CPUs", m.numCpus || 0]]
        .map(([k, v]) => el("div", { class: "card" }, el("b", {}, v), el("span", {}, k))));
    fsBody.replaceChildren(...(m.filesystems || []).map((f) => {
      const size = Number(f.sizeBytes || 0), used = Number(f.usedBytes || 0);
      const pct = size ? Math.round(used / size * 100) : 0;
      return el("tr", {}, el("td", {}, f.mountpoint), el("td", {}, f.device),
        el("td", {}, f.fstype + (f.readonly ? " (ro)" : "")), el("td", { class: "num" }, bytes(size)),
        el("td", { class: "num" }, bytes(used)), el("td", { class: "num" }, bytes(f.availBytes)),
        el("td", {}, el("meter", { min: 0, max: 100, low: 80, high: 90, optimum: 0, value: pct }), " " + pct + " %"));
    }));
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

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : word.endsWith("s") ? "es" : "s"}`;

// What a probe checks, in a line: "http GET localhost:8088/ → 200".
function probeWhat(p) {
  const kind = (p.kind || "KIND_EXEC").replace("KIND_", "").toLowerCase();
  const at = `${p.host || "localhost"}:${p.port || 0}`;
  if (kind === "exec") return "exec " + (p.cmd || []).join(" ");
  if (kind === "tcp") return "tcp " + at;
  return `http ${p.method || "GET"} ${at}${p.path || "/"}` + (p.status ? ` → ${p.status}` : " → 2xx/3xx");
}

function servicePage(view, name) {
  const specBox = el("pre", { class: "spec" });
  const head = el("div", { class: "cards" });
  const actions = el("div", { class: "toolbar" });
  const usage = el("div");
  const probes = el("tbody", { id: "probes" });
  const deps = el("tbody", { id: "deps" });
  const log = el("pre", { class: "log", id: "log" });
  const search = el("input", { placeholder: "filter lines", id: "log-filter" });
  let paused = false, held = [];
  const pause = el("button", { onclick: () => {
    paused = !paused;
    pause.textContent = paused ? "Follow" : "Pause";
    if (!paused) { held.forEach(addLine); held = []; }
  } }, "Pause");
  const thead = (...h) => el("thead", {}, el("tr", {}, ...h.map((x) => el("th", {}, x))));
  view.append(
    el("section", {}, el("h2", {}, name), actions, head, usage),
    el("section", {}, el("h2", {}, "Health and dependencies"),
      el("table", {}, thead("Probe", "Checks", "Every", "Timeout", "Fails after", "Healthy after"), probes),
      el("h3", {}, "Dependencies"), el("table", {}, thead("Service", "Relation", "State", "Health"), deps)),
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
  const ms = (v, d) => ((v || d) / 1000) + " s";
  const health = (s) => (s.probed ? (s.healthy ? "healthy" : "unhealthy") : "—");
  // Every service, for the states of those it depends on and of those depending on it.
  const all = new Map();
  let lastCpu = null;
  const render = () => {
    const s = all.get(name);
    if (!s) return;
    const spec = s.spec || {};
    probes.replaceChildren(...(spec.probes || []).map((p, i) => el("tr", {},
      el("td", {}, p.name || "#" + (i + 1)), el("td", {}, probeWhat(p)), el("td", {}, ms(p.intervalMs, 10000)),
      el("td", {}, ms(p.timeoutMs, 5000)), el("td", {}, plural(p.failureThreshold || 3, "failure")),
      el("td", {}, plural(p.successThreshold || 1, "success")))));
    if (!probes.children.length) probes.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "no probes: healthy while it runs")));
    const rel = [...(spec.dependsOn || []).map((d) => [d, "it depends on"]),
      ...[...all.values()].filter((o) => (o.spec && o.spec.dependsOn || []).includes(name)).map((o) => [o.name, "depends on it"])];
    deps.replaceChildren(...rel.map(([d, how]) => {
      const o = all.get(d);
      return el("tr", { "data-name": d }, el("td", {}, el("a", { href: "#/service/" + encodeURIComponent(d) }, d)),
        el("td", {}, how), el("td", { class: "state " + (o ? stateWord(o) : "") }, o ? stateWord(o) : "not defined"),
        el("td", {}, o ? health(o) : "—"));
    }));
    if (!rel.length) deps.append(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "none")));
  };
  onLeave(live("drover.v1.Services/Watch", {}, (s) => {
    if (s.deleted) all.delete(s.name); else all.set(s.name, s);
    if (s.name !== name) return render();
    const t = Date.now() / 1000;
    if (lastCpu) chartBox.push(t, Math.max(0, (s.cpuSeconds - lastCpu[1]) / (t - lastCpu[0]) * 100),
                               Number(s.rssBytes || 0) / 1048576);
    lastCpu = [t, s.cpuSeconds || 0];
    const word = stateWord(s);
    head.replaceChildren(...[["State", s.deleted ? "deleted" : word], ["Health", health(s)], ["PID", s.pid || "—"],
      ["Restarts", s.restartsTotal || 0], ["Processes", s.processes || 0],
      ["Memory", bytes(s.rssBytes)], ["Last exit", s.lastExit || 0]]
      .map(([k, v]) => el("div", { class: "card" }, el("b", {}, v), el("span", {}, k))));
    if (s.lastError) head.append(el("div", { class: "card" }, el("b", { class: "state errored" }, s.lastError), el("span", {}, "Last error")));
    const running = word === "online" || word === "starting" || word === "backoff";
    actions.replaceChildren(...(s.deleted ? [] : [
      running ? el("button", { onclick: () => act("Stop", name) }, "Stop")
              : el("button", { onclick: () => act("Start", name) }, "Start"),
      el("button", { onclick: () => act("Restart", name) }, "Restart")]));
    specBox.textContent = JSON.stringify(s.spec || {}, null, 2);
    render();
  }, () => all.clear()));
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

// Sessions: PTY and pipe sessions, listed again on each pty.* and pipe.* event of Admin.Events
// (started, attached, detached, exited, removed) and after each (re)subscription.
function sessions(view) {
  const tbody = el("tbody", { id: "sessions" });
  const start = el("button", { id: "new-shell", onclick: async () => {
    const r = await perform("New shell", "drover.v1.Sessions/SpawnPty",
                            { argv: ["/bin/sh"], originator: "console", rows: 24, cols: 100 });
    if (r) location.hash = "#/session/" + encodeURIComponent(r.sessionId);
  } }, "New shell");
  const purge = el("button", { onclick: () => perform("Purge", "drover.v1.Sessions/PurgeExited", {}) },
                   "Forget exited");
  view.append(el("section", {}, el("h2", {}, "Sessions"), el("div", { class: "toolbar" }, start, purge),
    el("table", {}, el("thead", {}, el("tr", {},
      ...["ID", "Kind", "Command", "Originator", "PID", "Size", "Attached", "State", ""]
        .map((h) => el("th", {}, h)))), tbody)));
  const terminate = (kind, id) =>
    perform("Terminate", `drover.v1.Sessions/Terminate${kind === "pty" ? "Pty" : "Pipe"}`,
            { sessionId: id }, `Terminate ${id} and its processes?`);
  const row = (kind, s, attached, size) => el("tr", { "data-id": s.sessionId },
    el("td", {}, s.sessionId), el("td", {}, kind), el("td", {}, s.command), el("td", {}, s.originator || "—"),
    el("td", { class: "num" }, s.pid), el("td", {}, size), el("td", {}, attached ? "yes" : "no"),
    el("td", {}, s.exited ? "exited " + (s.exitCode || 0) : "running"),
    el("td", {}, kind === "pty" && !s.exited
      ? el("a", { href: "#/session/" + encodeURIComponent(s.sessionId) }, "Open") : "",
    " ", s.exited ? "" : el("button", { class: "danger", onclick: () => terminate(kind, s.sessionId) }, "Terminate")));
  const load = coalesced(async () => {
    try {
      const [pty, pipe] = await Promise.all([call("drover.v1.Sessions/ListPty", {}),
                                             call("drover.v1.Sessions/ListPipe", {})]);
      tbody.replaceChildren(
        ...(pty.sessions || []).map((s) => row("pty", s, s.attached, `${s.cols || 80}×${s.rows || 24}`)),
        ...(pipe.sessions || []).map((s) => row("pipe", s, s.stdoutAttached || s.stderrAttached, "—")));
    } catch (e) {
      notice("Sessions: " + e.message);
    }
  });
  onLeave(live("drover.v1.Admin/Events", { types: ["pty.", "pipe."] }, () => load(), () => load()));
}

// A PTY session in xterm.js, over the same attachment the CLI uses (GET /attach, a WebSocket):
// the backlog first, then output as it comes; keys, resizes and a detach go back.
function terminal(view, id, steal = false) {
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
    "/attach?steal=" + (steal ? 1 : 0) + "&session=" + encodeURIComponent(id) + "&rows=" + term.rows +
    "&cols=" + term.cols + "&token=" + encodeURIComponent(token);
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (ev) => {
    if (typeof ev.data !== "string") { term.write(new Uint8Array(ev.data)); return; }
    const m = JSON.parse(ev.data);
    if (m.attached) { state.textContent = "attached"; term.focus(); }
    else if (m.missed) term.write(`\r\n[... ${m.missed} bytes missed]\r\n`);
    else if (m.end) {
      state.textContent = m.end === "exit" ? `exited (${m.exitCode})` : m.end;
      if (m.end === "stolen" || m.end === "detached")
        offerSteal(m.end === "stolen" ? "take it back" : "attach again");
    } else if (m.error) {
      state.textContent = m.error;
      if (/another client is attached/.test(m.error)) offerSteal("steal it");
    }
  };
  // Attached elsewhere (a CLI's `drover attach`, another tab): attach again, taking it over.
  const offerSteal = (label) => {
    if ($("#term-steal")) return;
    state.after(" ", el("button", { id: "term-steal", onclick: () => {
      stopView.forEach((f) => f());
      stopView = [];
      view.replaceChildren();
      terminal(view, id, true);
    } }, label));
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
      (name === "service" ? "overview" : name === "session" ? "sessions" : name === "container" ? "containers" : name));
  if (name === "service") servicePage(view, decodeURIComponent(h.split("/")[2] || ""));
  else if (name === "sessions") sessions(view);
  else if (name === "session") terminal(view, decodeURIComponent(h.split("/")[2] || ""));
  else if (name === "processes") processes(view);
  else if (name === "containers") containers(view);
  else if (name === "container") containerPage(view, decodeURIComponent(h.split("/")[2] || ""));
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
