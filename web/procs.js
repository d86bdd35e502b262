// The console's Processes page (app.js has the API and the furniture): the machine's processes
// as a table or a tree, from Metrics.Watch; the processes other tools registered with droverd
// (Processes.ListActive, listed again on each process.* event of Admin.Events and when one of
// them leaves the machine's table); and zombies: the kernel's (state Z: their parent has not
// reaped them) and the registry's orphans and leftovers (Processes.KillZombies, a dry run
// first, then for real once confirmed).
"use strict";

// Rows of the tree: each process under its parent, depth first, children by pid. With a
// filter, the matching processes and the ancestors that lead to them.
function treeRows(procs, q) {
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const kids = new Map();
  for (const p of procs) {
    const up = byPid.has(p.ppid) ? p.ppid : 0;
    if (!kids.has(up)) kids.set(up, []);
    kids.get(up).push(p);
  }
  for (const k of kids.values()) k.sort((a, b) => a.pid - b.pid);
  let keep = null;
  if (q) {
    keep = new Set();
    for (const p of procs) {
      if (!p.name.includes(q) && String(p.pid) !== q) continue;
      for (let x = p; x && !keep.has(x.pid); x = byPid.get(x.ppid)) keep.add(x.pid);
    }
  }
  const rows = [];
  const walk = (pid, depth) => {
    for (const p of kids.get(pid) || []) {
      if (keep && !keep.has(p.pid)) continue;
      rows.push([p, depth]);
      if (p.pid !== pid) walk(p.pid, depth + 1);
    }
  };
  walk(0, 0);
  return rows;
}

function processRow(p, depth) {
  const name = depth === undefined ? p.name : "\u00a0\u00a0".repeat(depth) + (depth ? "└ " : "") + p.name;
  return el("tr", { "data-pid": p.pid },
    el("td", { class: "num" }, p.pid), el("td", { class: depth === undefined ? "" : "treename" }, name),
    el("td", {}, p.state), el("td", { class: "num" }, (p.cpuPercent || 0).toFixed(1)),
    el("td", { class: "num" }, bytes(p.rssBytes)), el("td", { class: "num" }, p.threads || 0),
    el("td", {}, el("button", { class: "danger", onclick: () => killTree(p.pid, p.name) }, "Kill tree")));
}

function processes(view) {
  const filter = el("input", { placeholder: "filter by name or pid", id: "proc-filter" });
  const mode = el("select", { id: "proc-mode" },
    el("option", { value: "table" }, "table"), el("option", { value: "tree" }, "tree"));
  const tbody = el("tbody", { id: "procs" });
  const tracked = el("tbody", { id: "tracked" });
  const zombies = el("tbody", { id: "zombies" });
  const orphans = el("tbody", { id: "orphans" });
  const cleanup = el("button", { class: "danger", id: "orphans-kill", hidden: "" }, "Clean up");
  let sort = "PROCESS_SORT_CPU", last = [], trackedRows = [];
  const th = (label, key) => el("th", { class: "num sortable", onclick: () => { sort = key; restart(); } }, label);
  const head = (...names) => el("thead", {}, el("tr", {}, ...names.map((h) => el("th", {}, h))));
  view.append(
    el("section", {}, el("h2", {}, "Processes"), el("div", { class: "toolbar" }, filter, mode),
      el("table", {}, el("thead", {}, el("tr", {}, th("PID", "PROCESS_SORT_PID"), el("th", {}, "Name"),
        el("th", {}, "State"), th("CPU %", "PROCESS_SORT_CPU"), th("Memory", "PROCESS_SORT_MEMORY"),
        el("th", { class: "num" }, "Threads"), el("th", {}, ""))), tbody)),
    el("section", {}, el("h2", {}, "Tracked processes"),
      el("p", { class: "muted" }, "Processes other tools registered with droverd (running-process's Register)."),
      el("table", {}, head("PID", "Command", "Originator", "Kind", "State", "Up", ""), tracked)),
    el("section", {}, el("h2", {}, "Zombies"),
      el("table", {}, head("PID", "Name", "Parent", "Parent's name"), zombies),
      el("h3", {}, "Tracked processes left behind"), el("div", { class: "toolbar" }, cleanup),
      el("table", {}, head("PID", "Command", "Why"), orphans)));

  const render = () => {
    const q = filter.value.trim();
    const rows = mode.value === "tree"
      ? treeRows(last, q).slice(0, 600).map(([p, depth]) => processRow(p, depth))
      : last.filter((p) => !q || p.name.includes(q) || String(p.pid) === q).slice(0, 300)
        .map((p) => processRow(p));
    tbody.replaceChildren(...rows);
    const byPid = new Map(last.map((p) => [p.pid, p]));
    zombies.replaceChildren(...last.filter((p) => p.state === "Z").map((p) => el("tr", {},
      el("td", { class: "num" }, p.pid), el("td", {}, p.name), el("td", { class: "num" }, p.ppid),
      el("td", {}, (byPid.get(p.ppid) || {}).name || "—"))));
    if (!zombies.children.length)
      zombies.append(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "none")));
  };
  filter.addEventListener("input", render);
  mode.addEventListener("change", render);

  let stop = null;
  const restart = () => {
    if (stop) stop();
    stop = live("drover.v1.Metrics/Watch", { interval: "2s", processes: true, sort }, (m) => {
      last = m.processes || [];
      render();
      // A tracked process that left the machine changes state: list again.
      const here = new Set(last.map((p) => p.pid));
      if (trackedRows.some((t) => t.state === "PROCESS_STATE_ALIVE" && !here.has(t.pid))) loadTracked();
    });
  };
  restart();
  onLeave(() => stop && stop());

  const loadTracked = coalesced(async () => {
    try {
      const [act, dry] = await Promise.all([call("drover.v1.Processes/ListActive", {}),
                                            call("drover.v1.Processes/KillZombies", { dryRun: true })]);
      trackedRows = act.processes || [];
      tracked.replaceChildren(...trackedRows.map((t) => el("tr", { "data-pid": t.pid },
        el("td", { class: "num" }, t.pid), el("td", {}, t.command), el("td", {}, t.originator || "—"),
        el("td", {}, t.kind || "—"), el("td", {}, (t.state || "").replace("PROCESS_STATE_", "").toLowerCase()),
        el("td", { class: "num" }, duration(t.uptimeSeconds)),
        el("td", {}, el("button", { onclick: () => unregister(t.pid) }, "Unregister"), " ",
          el("button", { class: "danger", onclick: () => killTree(t.pid, t.command) }, "Kill tree")))));
      if (!trackedRows.length) tracked.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "none")));
      const z = dry.zombies || [];
      orphans.replaceChildren(...z.map((r) => el("tr", {}, el("td", { class: "num" }, r.pid),
        el("td", {}, r.command), el("td", {}, r.reason))));
      if (!z.length) orphans.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "none")));
      cleanup.hidden = !z.length;
    } catch (e) {
      notice("Tracked processes: " + e.message);
    }
  });
  cleanup.addEventListener("click", async () => {
    const q = "Kill the orphaned tracked processes and forget those that are gone?";
    const r = await perform("Clean up", "drover.v1.Processes/KillZombies", { dryRun: false }, q);
    if (r) notice(`cleaned up ${(r.zombies || []).length} tracked process(es)`);
    loadTracked();
  });
  // Listed again whenever the registry changes, and after each (re)subscription.
  onLeave(live("drover.v1.Admin/Events", { types: ["process."] }, () => loadTracked(), () => loadTracked()));
}

const unregister = (pid) => perform("Unregister", "drover.v1.Processes/Unregister", { pid });

async function killTree(pid, name) {
  const r = await perform("Kill tree", "drover.v1.Processes/KillTree", { pid },
                          `Kill ${name} (${pid}) and every process below it?`);
  if (r) notice(`killed ${r.processesKilled || 0} process(es)`);
}
