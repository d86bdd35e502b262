// The console's Containers page (app.js has the API and the furniture): the containers droverd
// runs from OCI images, listed again on each container.* event of Admin.Events, with their
// CPU and memory from Metrics.Watch; start, stop and remove (confirmed); the images. A
// container's page follows its log (Containers.Logs) and, for one with a terminal, links to
// its session.
"use strict";

const ctrState = (c) => (c.state || "CONTAINER_STATE_UNSPECIFIED").replace("CONTAINER_STATE_", "").toLowerCase();

function exitWord(c) {
  if (ctrState(c) !== "exited") return "";
  if (!c.exitKnown) return "ended (status unknown)";
  return c.oomKilled ? "out of memory" : c.exitSignal ? `signal ${c.exitSignal}` : `exit ${c.exitCode || 0}`;
}

const ctrAct = (verb, c) =>
  perform(`${verb} ${c.name}`, "drover.v1.Containers/" + verb,
          verb === "Remove" ? { container: c.id, force: true } : { container: c.id },
          verb === "Start" ? null : `${verb} container ${c.name}?`);

function containers(view) {
  const tbody = el("tbody", { id: "containers" });
  const images = el("tbody", { id: "images" });
  const head = (...h) => el("thead", {}, el("tr", {}, ...h.map((x) => el("th", {}, x))));
  view.append(
    el("section", {}, el("h2", {}, "Containers"),
      el("table", {}, head("Name", "Image", "State", "PID", "Up", "Restarts", "CPU %", "Memory", ""), tbody)),
    el("section", {}, el("h2", {}, "Images"),
      el("table", {}, head("Name", "ID", "Layers", "Size", "Imported", ""), images)));
  let list = [], usage = new Map();
  const render = () => {
    tbody.replaceChildren(...list.map((c) => {
      const word = ctrState(c), u = usage.get(c.name) || {};
      const running = word === "running" || word === "starting";
      return el("tr", { "data-name": c.name },
        el("td", {}, el("a", { href: "#/container/" + encodeURIComponent(c.id) }, c.name)),
        el("td", {}, c.image), el("td", { class: "state " + (running ? "online" : word === "exited" ? "stopped" : "starting") },
          word + (exitWord(c) ? ` (${exitWord(c)})` : "")),
        el("td", { class: "num" }, c.pid || "—"),
        el("td", { class: "num" }, running && u.uptimeSeconds ? duration(u.uptimeSeconds) : "—"),
        el("td", { class: "num" }, c.restarts || 0),
        el("td", { class: "num" }, running ? (u.cpuPercent || 0).toFixed(1) : "—"),
        el("td", { class: "num" }, running ? bytes(u.rssBytes) : "—"),
        el("td", {}, running ? el("button", { onclick: () => ctrAct("Stop", c) }, "Stop")
                             : el("button", { onclick: () => ctrAct("Start", c) }, "Start"),
          " ", el("button", { class: "danger", onclick: () => ctrAct("Remove", c) }, "Remove")));
    }));
    if (!list.length) tbody.append(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "none")));
  };
  const load = coalesced(async () => {
    try {
      const [c, i] = await Promise.all([call("drover.v1.Containers/List", { all: true }),
                                        call("drover.v1.Images/List", {})]);
      list = c.containers || [];
      render();
      images.replaceChildren(...(i.images || []).map((m) => el("tr", { "data-name": m.name },
        el("td", {}, m.name), el("td", {}, (m.id || "").replace("sha256:", "").slice(0, 12)),
        el("td", { class: "num" }, m.layers || 0), el("td", { class: "num" }, bytes(m.size)),
        el("td", {}, m.importedAt ? new Date(m.importedAt).toLocaleString() : "—"),
        el("td", {}, el("button", { class: "danger", onclick: async () => {
          if (await perform("Remove", "drover.v1.Images/Remove", { image: m.name }, `Remove image ${m.name}?`))
            load();
        } }, "Remove")))));
      if (!images.children.length) images.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "none")));
    } catch (e) {
      notice("Containers: " + e.message);
    }
  });
  onLeave(live("drover.v1.Admin/Events", { types: ["container."] }, () => load(), () => load()));
  onLeave(live("drover.v1.Metrics/Watch", { interval: "2s" }, (m) => {
    usage = new Map((m.containers || []).map((u) => [u.name, u]));
    render();
  }));
}

function containerPage(view, id) {
  const head = el("div", { class: "cards" });
  const actions = el("div", { class: "toolbar" });
  const log = el("pre", { class: "log", id: "ctr-log" });
  const specBox = el("pre", { class: "spec" });
  view.append(el("section", {}, el("h2", { id: "ctr-name" }, id), actions, head),
    el("section", {}, el("h2", {}, "Log"), log),
    el("section", {}, el("h2", {}, "Definition"), specBox));
  const show = async () => {
    try {
      const c = await call("drover.v1.Containers/Get", { container: id });
      $("#ctr-name").textContent = c.name;
      const word = ctrState(c), running = word === "running" || word === "starting";
      head.replaceChildren(...[["State", word], ["Exit", exitWord(c) || "—"], ["PID", c.pid || "—"],
        ["Image", c.image], ["Restarts", c.restarts || 0], ["Runtime", c.runtime || "—"]]
        .map(([k, v]) => el("div", { class: "card" }, el("b", {}, v), el("span", {}, k))));
      actions.replaceChildren(
        running ? el("button", { onclick: () => ctrAct("Stop", c) }, "Stop")
                : el("button", { onclick: () => ctrAct("Start", c) }, "Start"),
        c.sessionId ? el("a", { href: "#/session/" + encodeURIComponent(c.sessionId) }, "Terminal") : "");
      specBox.textContent = JSON.stringify(c.spec || {}, null, 2);
    } catch (e) {
      notice("Container: " + e.message);
    }
  };
  // The log follows until the container exits; it is followed again when it starts again.
  let text = "", stopLog = null;
  const follow = () => {
    if (stopLog) stopLog();
    stopLog = live("drover.v1.Containers/Logs", { container: id, tailBytes: 65536, follow: true }, (c) => {
      text += new TextDecoder().decode(Uint8Array.from(atob(c.data || ""), (ch) => ch.charCodeAt(0)));
      if (text.length > 262144) text = text.slice(-196608);
      log.textContent = text;
      log.scrollTop = log.scrollHeight;
    }, () => { text = ""; log.textContent = ""; }, true);
  };
  follow();
  onLeave(() => stopLog && stopLog());
  onLeave(live("drover.v1.Admin/Events", { types: ["container."] }, (e) => {
    if (e.subject !== id) return;
    show();
    if (e.type === "container.started") follow();
  }, show));
}
