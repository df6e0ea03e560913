// doq's admin UI (docs/observability.md §12): a single-page app over the HTTP API, in plain JavaScript
// with no dependencies, compiled into the doq binary. Pages: the queue list (`/`), one queue
// (`/queues/{name}`), the members (`/servers`) and the Raft status (`/cluster`). Every value that comes
// from the server is put into the page as text (never as HTML), so queue names and message contents
// cannot inject markup.
"use strict";

(function () {
  const TOKEN_KEY = "doq.token";
  const HISTORY = 60; // samples kept per sparkline (one a second)
  const main = document.getElementById("main");
  let timers = [];
  let generation = 0; // bumped on every navigation; stale async work checks it and stops

  // Unexpected failures are shown, not swallowed: a visible banner (the browser test checks it too).
  function fatal(message) {
    const el = document.getElementById("fatal");
    el.hidden = false;
    el.textContent = "Something went wrong in the UI: " + message;
  }
  window.addEventListener("error", (e) => fatal(e.message || String(e)));
  window.addEventListener("unhandledrejection", (e) => fatal(String(e.reason && e.reason.message || e.reason)));

  // ---- DOM helpers -------------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const SVG = "http://www.w3.org/2000/svg";

  function toast(message, kind) {
    const el = document.getElementById("toast");
    el.textContent = message;
    el.className = kind || "ok";
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
  }

  function rate(v) {
    return (Math.round(v * 10) / 10).toString();
  }

  // ---- API --------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, problem) {
      const cause = problem && problem.errors && problem.errors[0] && problem.errors[0].message;
      const where = problem && problem.errors && problem.errors[0] && problem.errors[0].location;
      super((problem && problem.detail || "HTTP " + status) + (cause ? ": " + cause : "") + (where ? " (" + where + ")" : ""));
      this.status = status;
      this.problem = problem;
    }
  }

  // Calls the API with the tab's token, if any. A 401 shows the token prompt and rejects.
  async function api(method, path, body) {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers["Authorization"] = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = text; }
    }
    if (res.status === 401) {
      askToken(token ? "The token was refused." : "This server needs a token.");
      throw new ApiError(401, data);
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  // Runs an action; reports its outcome as a toast. Authentication failures are already on screen.
  async function act(work, done) {
    try {
      const result = await work();
      if (done) toast(typeof done === "function" ? done(result) : done, "ok");
      return result;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return undefined;
      toast(e.message, "error");
      return undefined;
    }
  }

  const Q = (name) => "/API/v1/queues/" + encodeURIComponent(name);

  // ---- Token prompt (auth.token set): kept in sessionStorage, i.e. for this tab's lifetime ----------
  function askToken(why) {
    stopTimers();
    generation++;
    const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true, placeholder: "auth.token" });
    const form = h("form", { id: "token-form", class: "card narrow" },
      h("h1", { text: "Token" }),
      h("p", { text: why + " Enter the value of auth.token; it is kept for this browser tab only." }),
      input,
      h("button", { type: "submit", text: "Continue" }));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value);
      route();
    });
    main.replaceChildren(form);
    input.focus();
  }

  function showTokenButton() {
    document.getElementById("forget-token").hidden = !sessionStorage.getItem(TOKEN_KEY);
  }
  document.getElementById("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    route();
  });

  // ---- Routing ----------------------------------------------------------------------------------
  function stopTimers() {
    timers.forEach(clearInterval);
    timers = [];
  }

  // Polls `fn` now and then every `ms` while the page is shown.
  function every(ms, fn) {
    const gen = generation;
    const tick = () => { if (gen === generation) fn(); };
    tick();
    timers.push(setInterval(tick, ms));
  }

  function navigate(path) {
    history.pushState(null, "", path);
    route();
  }

  document.addEventListener("click", (e) => {
    const a = e.target.closest && e.target.closest("a[data-link]");
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(a.getAttribute("href"));
  });
  window.addEventListener("popstate", route);

  function route() {
    stopTimers();
    generation++;
    showTokenButton();
    const path = location.pathname.replace(/\/$/, "") || "/";
    for (const id of ["nav-queues", "nav-servers", "nav-cluster"]) document.getElementById(id).classList.remove("active");
    let m;
    if (path === "/") {
      document.getElementById("nav-queues").classList.add("active");
      queuesPage();
    } else if ((m = path.match(/^\/queues\/(.+)$/))) {
      document.getElementById("nav-queues").classList.add("active");
      queuePage(decodeURIComponent(m[1]));
    } else if (path.toLowerCase() === "/servers") {
      document.getElementById("nav-servers").classList.add("active");
      serversPage();
    } else if (path.toLowerCase() === "/cluster") {
      document.getElementById("nav-cluster").classList.add("active");
      clusterPage();
    } else {
      document.title = "doq";
      main.replaceChildren(h("div", { class: "card" }, h("h1", { text: "Not found" }),
        h("p", {}, "No page at ", h("code", { text: path }), ". ", h("a", { href: "/", "data-link": true, text: "Back to the queues" }))));
    }
  }

  // ---- Queue list ---------------------------------------------------------------------------------
  function settingsFields(prefix, current) {
    const c = current || {};
    const num = (name, label, hint) => h("label", {}, label,
      h("input", { id: prefix + "-" + name, name, type: "number", min: 0, step: 1, value: c[name] === undefined ? "" : c[name], placeholder: hint }));
    return [
      num("max_unacked", "Max unacked", "0 = unlimited"),
      num("ack_timeout", "Ack timeout (s)", "default"),
      num("max_deliveries", "Max deliveries", "0 = unlimited"),
      h("label", {}, "Dead-letter queue",
        h("input", { id: prefix + "-dead_letter_queue", name: "dead_letter_queue", value: c.dead_letter_queue || "", placeholder: "none" })),
    ];
  }

  function readSettings(form) {
    const s = {};
    for (const name of ["max_unacked", "ack_timeout", "max_deliveries"]) {
      const v = form.elements[name].value.trim();
      if (v !== "") s[name] = Number(v);
    }
    const dlq = form.elements["dead_letter_queue"].value.trim();
    if (dlq !== "") s.dead_letter_queue = dlq;
    return s;
  }

  function queuesPage() {
    document.title = "Queues · doq";
    const strategy = h("select", { id: "create-strategy", name: "strategy", disabled: true },
      h("option", { value: "round_robin", text: "round_robin" }),
      h("option", { value: "weighted", text: "weighted" }));
    const kind = h("select", { id: "create-type", name: "type" },
      h("option", { value: "delayed", text: "delayed" }),
      h("option", { value: "fair", text: "fair" }));
    kind.addEventListener("change", () => { strategy.disabled = kind.value !== "fair"; });
    const form = h("form", { id: "create-form", class: "card" },
      h("h2", { text: "Create a queue" }),
      h("div", { class: "fields" },
        h("label", {}, "Name", h("input", { id: "create-name", name: "name", required: true, maxlength: 1024 })),
        h("label", {}, "Type", kind),
        h("label", {}, "Strategy", strategy),
        settingsFields("create")),
      h("button", { id: "create-submit", type: "submit", text: "Create" }));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { name: form.elements["name"].value, type: kind.value, settings: readSettings(form) };
      if (kind.value === "fair") body.settings.strategy = strategy.value;
      const ok = await act(() => api("POST", "/API/v1/queues", body), "Created " + body.name);
      if (ok) { form.reset(); strategy.disabled = true; refresh(); }
    });

    const tbody = h("tbody", { id: "queue-rows" });
    const empty = h("p", { id: "no-queues", class: "muted", text: "No queues yet.", hidden: true });
    const table = h("table", { id: "queues" },
      h("thead", {}, h("tr", {}, ["Name", "Type", "Ready", "Unacked", "Delayed", "Total", "Enq/s", "Deq/s", "Ack/s", "Nack/s", ""]
        .map((t) => h("th", { text: t })))),
      tbody);
    main.replaceChildren(h("h1", { text: "Queues" }), h("div", { class: "card" }, table, empty), form);

    tbody.addEventListener("click", async (e) => {
      const b = e.target.closest("button[data-action]");
      if (!b) return;
      const name = b.dataset.queue;
      if (b.dataset.action === "purge") {
        if (!confirm("Delete every message of " + name + "? The queue stays.")) return;
        await act(() => api("POST", Q(name) + "/purge"), (r) => "Purged " + r.purged + " messages from " + name);
      } else if (b.dataset.action === "delete") {
        if (!confirm("Delete queue " + name + " and all its messages?")) return;
        await act(() => api("DELETE", Q(name)), "Deleted " + name);
      }
      refresh();
    });

    const rows = new Map();
    const CELLS = ["type", "ready", "unacked", "delayed", "total", "enqueue_rps", "dequeue_rps", "ack_rps", "nack_rps"];
    async function refresh() {
      const gen = generation;
      let data;
      try { data = await api("GET", "/API/v1/queues"); } catch (e) { if (e.status !== 401) toast(e.message, "error"); return; }
      if (gen !== generation) return;
      const seen = new Set();
      data.queues.forEach((q, i) => {
        seen.add(q.name);
        let row = rows.get(q.name);
        if (!row) {
          row = h("tr", { "data-queue": q.name },
            h("td", {}, h("a", { href: "/queues/" + encodeURIComponent(q.name), "data-link": true, text: q.name })),
            CELLS.map((c) => h("td", { "data-field": c, class: c === "type" ? "" : "num" })),
            h("td", { class: "actions" },
              h("button", { type: "button", class: "secondary", "data-action": "purge", "data-queue": q.name, text: "Purge" }),
              h("button", { type: "button", class: "danger", "data-action": "delete", "data-queue": q.name, text: "Delete" })));
          rows.set(q.name, row);
        }
        for (const c of CELLS) {
          const v = c.endsWith("_rps") ? rate(q[c]) : String(q[c]);
          const td = row.querySelector('[data-field="' + c + '"]');
          if (td.textContent !== v) td.textContent = v;
        }
        // Keep the server's (name) order; move a row only when it is out of place.
        if (tbody.children[i] !== row) tbody.insertBefore(row, tbody.children[i] || null);
      });
      for (const [name, row] of rows) if (!seen.has(name)) { row.remove(); rows.delete(name); }
      empty.hidden = data.queues.length > 0;
    }
    every(1000, refresh);
  }

  // ---- One queue ---------------------------------------------------------------------------------
  function sparkline(label, field) {
    const line = document.createElementNS(SVG, "polyline");
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + (HISTORY - 1) + " 30");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("class", "spark");
    svg.append(line);
    const value = h("span", { class: "value", text: "0" });
    const card = h("div", { class: "spark-card", id: "spark-" + field }, h("div", { class: "label" }, label, value), svg);
    const points = [];
    return {
      card,
      push(v) {
        points.push(v);
        if (points.length > HISTORY) points.shift();
        const max = Math.max(1, ...points);
        const offset = HISTORY - points.length;
        line.setAttribute("points", points.map((p, i) => (offset + i) + "," + (29 - (p / max) * 28).toFixed(2)).join(" "));
        value.textContent = rate(v) + "/s";
      },
    };
  }

  function queuePage(name) {
    document.title = name + " · doq";
    const stats = {};
    const statCard = (field, label) => {
      stats[field] = h("div", { class: "stat-value", id: "stat-" + field, text: "–" });
      return h("div", { class: "stat" }, stats[field], h("div", { class: "label", text: label }));
    };
    const sparks = [
      sparkline("Enqueue", "enqueue_rps"), sparkline("Dequeue", "dequeue_rps"),
      sparkline("Ack", "ack_rps"), sparkline("Nack", "nack_rps"),
    ];
    const meta = h("p", { class: "muted", id: "queue-meta" });

    // Enqueue form.
    const enqueue = h("form", { id: "enqueue-form", class: "card" },
      h("h2", { text: "Enqueue" }),
      h("label", { class: "wide" }, "Content", h("textarea", { id: "enqueue-content", name: "content", rows: 3, required: true })),
      h("div", { class: "fields" },
        h("label", {}, "Priority", h("input", { id: "enqueue-priority", name: "priority", type: "number", min: 0, step: 1, value: 0 })),
        h("label", {}, "Group", h("input", { id: "enqueue-group", name: "group", placeholder: "default" })),
        h("label", {}, "Id", h("input", { id: "enqueue-id", name: "id", placeholder: "assigned", pattern: "[0-9]*" })),
        h("label", {}, "Metadata (JSON)", h("input", { id: "enqueue-metadata", name: "metadata", placeholder: '{"key":"value"}' }))),
      h("button", { id: "enqueue-submit", type: "submit", text: "Enqueue" }));
    enqueue.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = enqueue.elements;
      const body = { content: f["content"].value, priority: Number(f["priority"].value || 0) };
      if (f["group"].value.trim()) body.group = f["group"].value.trim();
      if (f["id"].value.trim()) body.id = f["id"].value.trim();
      if (f["metadata"].value.trim()) {
        try { body.metadata = JSON.parse(f["metadata"].value); } catch (err) { toast("Metadata is not JSON: " + err.message, "error"); return; }
      }
      const r = await act(() => api("POST", Q(name) + "/messages", body), (r) => "Enqueued message " + r.id);
      if (r) { f["content"].value = ""; f["id"].value = ""; peek(true); }
    });

    // Settings form (update).
    const settings = h("form", { id: "settings-form", class: "card" }, h("h2", { text: "Settings" }), h("p", { class: "muted", text: "Loading…" }));
    let stored = null;
    function fillSettings(info) {
      stored = info;
      settings.replaceChildren(h("h2", { text: "Settings" }),
        h("p", { class: "muted" }, "Type ", h("strong", { text: info.type }),
          info.type === "fair" ? ", strategy " + info.settings.strategy.toLowerCase() : ""),
        h("div", { class: "fields" }, settingsFields("settings", info.settings)),
        h("button", { id: "settings-submit", type: "submit", text: "Update" }));
    }
    settings.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!stored) return;
      const s = readSettings(settings);
      // The stored strategy must be repeated for fair queues and left out for delayed ones.
      if (stored.type === "fair") s.strategy = stored.settings.strategy.toLowerCase();
      // An absent dead-letter queue keeps the stored one: send "" to clear it.
      if (s.dead_letter_queue === undefined) s.dead_letter_queue = "";
      await act(() => api("PUT", Q(name), { settings: s }), "Updated " + name);
    });

    // Peek.
    const peekRows = h("tbody", { id: "peek-rows" });
    const state = h("select", { id: "peek-state" }, ["all", "ready", "delayed", "leased"].map((s) => h("option", { value: s, text: s })));
    const more = h("button", { id: "peek-more", type: "button", class: "secondary", text: "More", hidden: true });
    const peekEmpty = h("p", { id: "peek-empty", class: "muted", text: "No messages.", hidden: true });
    let after = null;
    let peekSeq = 0; // only the latest peek renders, so overlapping refreshes never duplicate rows
    async function peek(reset) {
      const mine = ++peekSeq;
      const gen = generation;
      const q = new URLSearchParams({ limit: "20", state: state.value });
      if (!reset && after) q.set("after", after);
      const r = await act(() => api("GET", Q(name) + "/peek?" + q));
      if (!r || gen !== generation || mine !== peekSeq) return;
      if (reset) peekRows.replaceChildren();
      for (const m of r.messages) {
        peekRows.append(h("tr", { "data-id": m.id },
          h("td", { class: "mono", text: m.id }), h("td", { text: m.group }), h("td", { class: "num", text: m.priority }),
          h("td", {}, h("span", { class: "badge " + m.state, text: m.state })), h("td", { class: "num", text: m.deliveries }),
          h("td", { class: "content", text: m.content, title: m.content }),
          h("td", { class: "mono", text: m.metadata ? JSON.stringify(m.metadata) : "" })));
      }
      after = r.next_after;
      more.hidden = !after;
      peekEmpty.hidden = peekRows.children.length > 0;
    }
    state.addEventListener("change", () => peek(true));
    more.addEventListener("click", () => peek(false));
    const peekCard = h("div", { class: "card", id: "peek" },
      h("div", { class: "row" }, h("h2", { text: "Peek" }), h("span", { class: "muted", text: "browses without dequeuing" }),
        h("label", { class: "inline" }, "State ", state),
        h("button", { id: "peek-refresh", type: "button", class: "secondary", text: "Refresh", onclick: () => peek(true) })),
      h("table", {}, h("thead", {}, h("tr", {}, ["Id", "Group", "Priority", "State", "Deliveries", "Content", "Metadata"].map((t) => h("th", { text: t })))), peekRows),
      peekEmpty, more);

    const purge = h("button", { id: "queue-purge", type: "button", class: "secondary", text: "Purge" });
    purge.addEventListener("click", async () => {
      if (!confirm("Delete every message of " + name + "? The queue stays.")) return;
      const r = await act(() => api("POST", Q(name) + "/purge"), (r) => "Purged " + r.purged + " messages");
      if (r) peek(true);
    });
    const del = h("button", { id: "queue-delete", type: "button", class: "danger", text: "Delete queue" });
    del.addEventListener("click", async () => {
      if (!confirm("Delete queue " + name + " and all its messages?")) return;
      if (await act(() => api("DELETE", Q(name)), "Deleted " + name)) navigate("/");
    });

    main.replaceChildren(
      h("p", { class: "crumbs" }, h("a", { href: "/", "data-link": true, text: "Queues" }), " / "),
      h("div", { class: "row" }, h("h1", { id: "queue-name", text: name }), h("span", { class: "spacer" }), purge, del),
      meta,
      h("div", { class: "stats" }, statCard("ready", "ready"), statCard("unacked", "unacked"), statCard("delayed", "delayed"),
        statCard("total", "total"), statCard("dead_lettered", "dead-lettered")),
      h("div", { class: "sparks" }, sparks.map((s) => s.card)),
      peekCard,
      h("div", { class: "columns" }, enqueue, settings));

    let first = true;
    every(1000, async () => {
      const gen = generation;
      let info;
      try { info = await api("GET", Q(name)); } catch (e) {
        if (e.status === 400 && e.problem && e.problem.code === "queue_not_found") {
          main.replaceChildren(h("div", { class: "card" }, h("h1", { text: "No queue " + name }),
            h("p", {}, h("a", { href: "/", "data-link": true, text: "Back to the queues" }))));
          stopTimers();
        } else if (e.status !== 401) toast(e.message, "error");
        return;
      }
      if (gen !== generation) return;
      for (const f of Object.keys(stats)) stats[f].textContent = String(info[f]);
      for (const s of sparks) s.push(info[s.card.id.slice("spark-".length)]);
      meta.textContent = info.type + " queue · ack timeout " + info.settings.ack_timeout + " s" +
        (info.settings.max_unacked ? " · max unacked " + info.settings.max_unacked : "") +
        (info.settings.dead_letter_queue ? " · dead letters to " + info.settings.dead_letter_queue : "");
      if (first) { first = false; fillSettings(info); peek(true); }
    });
  }

  // ---- Servers ------------------------------------------------------------------------------------
  function serversPage() {
    document.title = "Servers · doq";
    const tbody = h("tbody", { id: "server-rows" });
    main.replaceChildren(h("h1", { text: "Servers" }),
      h("div", { class: "card" }, h("table", { id: "servers" },
        h("thead", {}, h("tr", {}, ["Id", "Raft address", "Suffrage", "Leader", ""].map((t) => h("th", { text: t })))), tbody)),
      h("p", { class: "muted", text: "Leave removes a member from the cluster (a leader that leaves steps down). In single mode there is nothing to leave." }));
    tbody.addEventListener("click", async (e) => {
      const b = e.target.closest("button[data-leave]");
      if (!b) return;
      const id = b.dataset.leave;
      if (!confirm("Remove " + id + " from the cluster?")) return;
      await act(() => api("POST", "/API/v1/cluster/leave", { id }), id + " left the cluster");
      refresh();
    });
    async function refresh() {
      const gen = generation;
      let data;
      try { data = await api("GET", "/API/v1/cluster/servers"); } catch (e) { if (e.status !== 401) toast(e.message, "error"); return; }
      if (gen !== generation) return;
      tbody.replaceChildren(...data.servers.map((s) => h("tr", { "data-server": s.id },
        h("td", { class: "mono", text: s.id }), h("td", { class: "mono", text: s.addr }), h("td", { text: s.suffrage }),
        h("td", { text: s.is_leader ? "leader" : "" }),
        h("td", { class: "actions" }, h("button", { type: "button", class: "danger", "data-leave": s.id, text: "Leave" })))));
    }
    every(2000, refresh);
  }

  // ---- Cluster status -----------------------------------------------------------------------------
  function clusterPage() {
    document.title = "Cluster · doq";
    const dl = h("dl", { id: "cluster-status" });
    const members = h("tbody", { id: "member-rows" });
    main.replaceChildren(h("h1", { text: "Cluster" }),
      h("div", { class: "columns" },
        h("div", { class: "card" }, h("h2", { text: "This node" }), dl),
        h("div", { class: "card" }, h("h2", { text: "Members" }),
          h("table", {}, h("thead", {}, h("tr", {}, ["Id", "Raft address", "Suffrage"].map((t) => h("th", { text: t })))), members))));
    const FIELDS = [["node_id", "Node"], ["state", "State"], ["leader_id", "Leader"], ["leader_addr", "Leader address"],
      ["term", "Term"], ["last_log_index", "Last log index"], ["commit_index", "Commit index"],
      ["last_applied", "Last applied"], ["storage_backend", "Storage backend"]];
    every(1000, async () => {
      const gen = generation;
      let s;
      try { s = await api("GET", "/API/v1/cluster/status"); } catch (e) { if (e.status !== 401) toast(e.message, "error"); return; }
      if (gen !== generation) return;
      dl.replaceChildren(...FIELDS.flatMap(([k, label]) => [h("dt", { text: label }),
        h("dd", { "data-field": k, class: k === "state" ? "badge " + String(s[k]).toLowerCase() : "mono", text: s[k] === null ? "none" : String(s[k]) })]));
      members.replaceChildren(...s.members.map((m) => h("tr", {},
        h("td", { class: "mono", text: m.id }), h("td", { class: "mono", text: m.addr }), h("td", { text: m.suffrage }))));
      document.getElementById("node").textContent = s.node_id + " · " + s.state;
    });
  }

  route();
})();
