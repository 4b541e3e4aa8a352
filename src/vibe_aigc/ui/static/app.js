/* The page: a hash router over the JSON API. Every value from a run goes into the page as
   text (textContent); the only HTML inserted is a node's Markdown, rendered by the server
   with raw HTML disabled. State-changing calls carry the CSRF token of /api/session. */
"use strict";
(function () {
  const view = document.getElementById("view");
  const resultBox = document.getElementById("result");
  let csrf = "";
  let stream = null;
  let timer = null;

  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) {
      if (k === "on") for (const ev in attrs.on) e.addEventListener(ev, attrs.on[ev]);
      else if (k === "text") e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }
  const enc = encodeURIComponent;
  function put(target, ...kids) { target.replaceChildren(...kids.filter(k => k !== null && k !== undefined)); }

  async function get(url) {
    const r = await fetch(url, { credentials: "same-origin" });
    const data = await r.json().catch(() => ({ error: r.statusText }));
    if (!r.ok) throw new Error(data.error || r.statusText);
    return data;
  }
  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
    const data = await r.json().catch(() => ({ error: r.statusText }));
    if (!r.ok) throw new Error(data.error || r.statusText);
    return data;
  }

  function show(kind, title, text) {
    resultBox.hidden = false;
    resultBox.className = "result " + kind;
    resultBox.replaceChildren(h("b", { text: title }), text ? h("pre", { text: text }) : "");
    resultBox.id = "result";
  }

  function confirmAction(title, text, extra) {
    const dlg = document.getElementById("confirm");
    document.getElementById("confirm-title").textContent = title;
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-extra").replaceChildren(...(extra ? [extra] : []));
    return new Promise(resolve => {
      dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
      dlg.showModal();
    });
  }

  async function followJob(job, after) {
    show("", `${job.action}: running…`, job.command);
    resultBox.dataset.job = job.id;
    for (;;) {
      const j = await get(`/api/jobs/${job.id}`);
      if (!j.running) {
        const kind = j.ok ? "good" : "bad";
        show(kind, `${j.action} ${j.ok ? "finished" : "failed"} (exit ${j.returncode})`, j.output);
        resultBox.dataset.state = j.ok ? "ok" : "failed";
        if (j.download) resultBox.append(h("a", { href: j.download, id: "download", text: "Download the export" }));
        if (after) after(j);
        return j;
      }
      await new Promise(r => setTimeout(r, 1000));
    }
  }

  async function act(title, text, url, body, extra, after) {
    if (!(await confirmAction(title, text, extra))) return;
    try {
      const out = await post(url, typeof body === "function" ? body() : body);
      if (out.id !== undefined && out.action) return followJob(out, after);
      show("good", out.message || "done", "");
      resultBox.dataset.state = "ok";
      if (after) after(out);
    } catch (e) {
      show("bad", `${title} refused`, e.message);
      resultBox.dataset.state = "failed";
    }
  }

  function fmtTime(s) { return s ? s.replace("T", " ").replace(/\.\d+Z$/, "Z") : "—"; }
  function fmtSecs(x) { return x === null || x === undefined ? "—" : (x < 60 ? x.toFixed(1) + " s" : (x / 60).toFixed(1) + " min"); }
  function fmtCost(x) { return x ? "$" + Number(x).toFixed(4) : "$0"; }
  function badge(state) { return h("span", { class: "badge " + state, text: state || "?" }); }

  // ------------------------------------------------------------------ runs list
  async function runsPage(params) {
    const state = h("select", { id: "f-state" }, ...["", "running", "completed", "failed", "interrupted"].map(s => h("option", { value: s, text: s || "any state" })));
    const plan = h("input", { id: "f-plan", placeholder: "plan id" });
    const text = h("input", { id: "f-text", placeholder: "search text" });
    state.value = params.get("state") || ""; plan.value = params.get("plan") || ""; text.value = params.get("q") || "";
    const body = h("tbody", { id: "runs" });
    const table = h("table", {}, h("thead", {}, h("tr", {}, ...["run", "plan", "vibe", "state", "done", "cost", "started", "updated"].map(t => h("th", { text: t })))), body);
    async function load() {
      const q = `state=${enc(state.value)}&plan=${enc(plan.value)}&q=${enc(text.value)}`;
      const data = await get(`/api/runs?${q}`);
      body.replaceChildren(...data.runs.map(r => {
        const tr = h("tr", { class: "run", "data-plan": r.plan_id, "data-run": r.run_id, "data-state": r.state || "" },
          h("td", { text: r.run_id }), h("td", {}, h("a", { href: `#/run/${enc(r.plan_id)}`, text: r.plan_id })),
          h("td", { text: (r.description || "").slice(0, 80) }), h("td", {}, badge(r.state)),
          h("td", { text: `${r.done}/${r.total}` }), h("td", { text: r.cost_usd === null ? "—" : fmtCost(r.cost_usd) }),
          h("td", { text: fmtTime(r.started) }), h("td", { text: fmtTime(r.updated) }));
        tr.addEventListener("click", () => { location.hash = `#/run/${enc(r.plan_id)}`; });
        return tr;
      }));
      if (!data.runs.length) body.append(h("tr", {}, h("td", { colspan: 8, class: "muted", text: "No runs in this store yet." })));
    }
    for (const input of [state, plan, text]) input.addEventListener("input", load);
    put(view, h("h2", { text: "Runs" }), h("div", { class: "filters" }, state, plan, text, h("button", { text: "Refresh", on: { click: load } })), table);
    await load();
    timer = setInterval(load, 5000);
  }

  // ------------------------------------------------------------------ a run
  async function runPage(planId, params) {
    const cp = params.get("checkpoint") || "";
    const data = await get(`/api/plans/${enc(planId)}` + (cp ? `?checkpoint=${enc(cp)}` : ""));
    const nodes = data.nodes;
    const t = data.totals;
    const stateEl = h("span", { id: "run-state" }, badge(data.state));
    const fill = h("div", { id: "bar-fill" });
    const doneEl = h("b", { id: "done" }), elapsedEl = h("b", { id: "elapsed" }), costEl = h("b", { id: "cost" }), retriesEl = h("b", { id: "retries", text: String(t.retries) });
    let done = t.done, cost = t.cost_usd;
    let started = t.started_at ? Date.parse(t.started_at) : null;
    let finished = t.finished_at ? Date.parse(t.finished_at) : null;
    function paint() {
      doneEl.textContent = `${done}/${t.total}`;
      fill.style.width = (t.total ? (100 * done / t.total) : 100).toFixed(1) + "%";
      costEl.textContent = fmtCost(cost);
      const end = data.state === "running" ? Date.now() : finished;
      elapsedEl.textContent = started && end ? fmtSecs((end - started) / 1000) : "—";
    }
    const panel = h("div", { class: "panel", id: "panel" }, h("p", { class: "muted", text: "Click a node to see its output." }));
    const dagBox = h("div", { class: "dag", id: "dag" });
    const legend = h("div", { class: "legend" }, ...["completed", "failed", "skipped", "ready", "pending"].map(s => h("span", {}, h("i", { class: "l-" + s }), s)));
    const actions = h("div", { class: "actions" },
      h("button", { id: "act-resume", class: "primary", text: "Resume", on: { click: () => act("Resume", `Resume plan ${planId} from its latest checkpoint?`, `/api/plans/${enc(planId)}/resume`, {}) } }),
      h("button", { id: "act-retry", text: "Retry failed", on: { click: () => act("Retry failed", `Re-run only the failed and skipped nodes of ${planId}?`, `/api/plans/${enc(planId)}/resume`, { retry_failed: true }) } }),
      h("button", { id: "act-cancel", class: "danger", text: "Cancel run", on: { click: () => act("Cancel", `Stop the running run of ${planId}? It is checkpointed as interrupted.`, `/api/plans/${enc(planId)}/cancel`, {}) } }),
      h("button", { id: "act-export", text: "Export", on: { click: () => act("Export", `Write an archive of ${planId}?`, `/api/plans/${enc(planId)}/export`, {}) } }),
      h("a", { href: `#/plan/${enc(planId)}/checkpoints`, id: "to-checkpoints" }, h("button", { text: "Checkpoints" })));
    put(view, 
      h("h2", {}, h("span", { id: "run-title", text: data.description || planId })),
      h("div", { class: "stats" }, h("span", {}, "plan ", h("code", { text: data.plan_id })), h("span", {}, "run ", h("code", { id: "run-id", text: data.run_id || "" })), stateEl,
        h("span", {}, "checkpoint ", h("code", { text: data.checkpoint_id }), data.pinned ? " (pinned)" : "")),
      h("div", { class: "bar" }, fill),
      h("div", { class: "stats" }, h("span", {}, "done ", doneEl), h("span", {}, "elapsed ", elapsedEl), h("span", {}, "cost ", costEl), h("span", {}, "retries ", retriesEl)),
      actions, legend, h("div", { class: "layout" }, dagBox, panel));
    const dag = window.VibeDag.render(dagBox, nodes, id => openNode(planId, id, cp, data, dag, panel));
    paint();
    window.__dagRenderedAt = performance.now();
    view.dataset.nodes = String(nodes.length);
    if (data.state === "running") timer = setInterval(paint, 1000);
    if (cp) return;
    stream = new EventSource(`/api/plans/${enc(planId)}/events`);
    stream.addEventListener("node", ev => {
      const msg = JSON.parse(ev.data);
      if (window.__firstEventAt === undefined) { window.__firstEventAt = performance.now(); window.__firstEventWall = Date.now(); }
      const n = dag.nodes.get(msg.node.id);
      if (n && !["completed", "failed", "skipped"].includes(n.state)) done += 1;
      cost += msg.node.cost_usd || 0;
      dag.setState(msg.node.id, msg.node.state);
      if (msg.node.completed_at) finished = Date.parse(msg.node.completed_at);
      if (!started && msg.node.started_at) started = Date.parse(msg.node.started_at);
      if (msg.node.state === "completed") {
        for (const m of dag.nodes.values()) {
          if (m.state === "pending" && m.dependencies.every(d => (dag.nodes.get(d) || {}).state === "completed")) dag.setState(m.id, "ready");
        }
      }
      view.dataset.events = String(Number(view.dataset.events || 0) + 1);
      paint();
    });
    stream.addEventListener("checkpoint", async () => {
      const fresh = await get(`/api/plans/${enc(planId)}`);
      data.state = fresh.state;
      stateEl.replaceChildren(badge(fresh.state));
      document.getElementById("run-id").textContent = fresh.run_id || "";
      done = fresh.totals.done; cost = fresh.totals.cost_usd;
      finished = fresh.totals.finished_at ? Date.parse(fresh.totals.finished_at) : finished;
      if (fresh.totals.started_at) started = Date.parse(fresh.totals.started_at);
      for (const n of fresh.nodes) dag.setState(n.id, n.state);
      if (fresh.state === "running" && !timer) timer = setInterval(paint, 1000);
      paint();
    });
  }

  async function openNode(planId, nodeId, cp, run, dag, panel) {
    dag.select(nodeId);
    const n = await get(`/api/plans/${enc(planId)}/nodes/${enc(nodeId)}` + (cp ? `?checkpoint=${enc(cp)}` : ""));
    const md = h("div", { class: "md", id: "node-md" });
    md.innerHTML = n.output.html; // rendered by the server with raw HTML disabled
    const images = h("div", { id: "node-images" }, ...n.output.images.map(i => h("figure", {}, h("img", { src: i.url, alt: `artifact ${i.sha256.slice(0, 12)}` }), h("figcaption", { class: "muted", text: `${i.media_type} · ${i.bytes} bytes` }))));
    const rows = [["state", n.state], ["type", n.type], ["attempts", String(n.attempts)], ["duration", fmtSecs(n.duration)], ["cost", fmtCost(n.cost_usd)], ["started", fmtTime(n.started_at)], ["completed", fmtTime(n.completed_at)], ["reused", n.resumed ? "from a checkpoint" : "no"]];
    const sets = h("textarea", { id: "fork-sets", placeholder: "one PARAM=VALUE per line" });
    const forkBtn = h("button", { id: "act-fork", text: "Fork from this node", on: { click: () => act("Fork", `Fork ${run.checkpoint_id} and re-run ${nodeId} and everything downstream?`, `/api/plans/${enc(planId)}/fork`,
      () => ({ checkpoint_id: run.checkpoint_id, from: [nodeId], set: sets.value.split("\n").map(s => s.trim()).filter(Boolean).map(s => `${nodeId}.${s}`) }), h("label", {}, "Parameter edits", sets)) } });
    put(panel, 
      h("h3", { id: "node-title", text: n.id }), h("p", { class: "muted", text: n.description }),
      h("table", {}, h("tbody", {}, ...rows.map(([k, v]) => h("tr", {}, h("th", { text: k }), h("td", { text: v }))))),
      n.error ? h("div", {}, h("h4", { text: "Error" }), h("pre", { id: "node-error", text: n.error })) : null,
      md, images,
      n.output.json ? h("details", {}, h("summary", { text: "Output (JSON)" }), h("pre", { id: "node-json", text: n.output.json })) : null,
      Object.keys(n.memos || {}).length ? h("div", {}, h("h4", { text: "Memos" }), h("pre", { id: "node-memos", text: JSON.stringify(n.memos, null, 2) })) : null,
      Object.keys(n.parameters || {}).length ? h("details", {}, h("summary", { text: "Parameters" }), h("pre", { text: JSON.stringify(n.parameters, null, 2) })) : null,
      cp ? null : forkBtn);
  }

  // ------------------------------------------------------------------ checkpoints
  async function checkpointsPage(planId) {
    const data = await get(`/api/plans/${enc(planId)}/checkpoints`);
    const lanes = new Map();
    for (const c of data.checkpoints) { const k = c.run_id || "?"; (lanes.get(k) || lanes.set(k, []).get(k)).push(c); }
    const picked = [];
    const diffBtn = h("button", { id: "diff", text: "Diff the two selected", disabled: "" });
    diffBtn.addEventListener("click", () => { picked.sort(); location.hash = `#/diff/${enc(planId)}/${enc(picked[0])}/${enc(picked[1])}`; });
    const timeline = h("div", { class: "timeline", id: "timeline" });
    for (const [runId, cps] of [...lanes].reverse()) {
      const lin = (cps[0].lineage || {});
      const lane = h("div", { class: "lane" + (lin.parent_run_id ? " fork" : ""), "data-run": runId },
        h("b", { text: `run ${runId}` }), lin.parent_run_id ? h("span", { class: "muted", text: ` ← from run ${lin.parent_run_id}` }) : null,
        lin.source_checkpoint_id ? h("span", { class: "muted", text: ` (forked from ${lin.source_plan_id || ""} ${lin.source_checkpoint_id})` }) : null);
      for (const c of cps) {
        const box = h("input", { type: "checkbox", value: c.checkpoint_id });
        box.addEventListener("change", () => {
          if (box.checked) picked.push(c.checkpoint_id); else picked.splice(picked.indexOf(c.checkpoint_id), 1);
          if (picked.length === 2) diffBtn.removeAttribute("disabled"); else diffBtn.setAttribute("disabled", "");
        });
        lane.append(h("div", { class: "cp", "data-cp": c.checkpoint_id }, box, " ", h("a", { href: `#/run/${enc(planId)}?checkpoint=${enc(c.checkpoint_id)}`, text: c.checkpoint_id }), " ",
          c.corrupt ? h("span", { class: "badge failed", text: "corrupt" }) : badge(c.state), ` ${c.completed_nodes ?? "?"}/${c.total_nodes ?? "?"} · ${fmtTime(c.created_at)} `,
          h("button", { class: "danger", text: "Delete", "data-delete": c.checkpoint_id, on: { click: () => act("Delete checkpoint", `Delete ${c.checkpoint_id}? This cannot be undone.`, `/api/plans/${enc(planId)}/checkpoints/${enc(c.checkpoint_id)}/delete`, {}, null, () => checkpointsPage(planId)) } })));
      }
      timeline.append(lane);
    }
    const forks = data.forks.map(r => h("div", { class: "lane fork", "data-fork": r.plan_id }, "fork ", h("a", { href: `#/run/${enc(r.plan_id)}`, text: r.plan_id }), ` run ${r.run_id} `, badge(r.state)));
    put(view, h("h2", {}, "Checkpoints of ", h("a", { href: `#/run/${enc(planId)}`, text: planId })), diffBtn, timeline, forks.length ? h("h3", { text: "Forks" }) : "", ...forks);
  }

  async function diffPage(planId, a, b) {
    const d = await get(`/api/plans/${enc(planId)}/diff?a=${enc(a)}&b=${enc(b)}`);
    put(view, h("h2", { text: `Diff ${a} → ${b}` }),
      h("p", { text: `completed: ${d.completed[0]} → ${d.completed[1]}` }),
      h("table", { class: "diff" }, h("tbody", {}, ...d.fields.map(f => h("tr", {}, h("th", { text: f.field }), h("td", { text: String(f.from) }), h("td", { text: String(f.to) }))))),
      h("h3", { text: `${d.nodes.length} node(s) changed` }),
      h("table", { class: "diff", id: "diff-nodes" }, h("tbody", {}, ...d.nodes.map(n => h("tr", {}, h("td", { text: n.node_id }), h("td", { class: "changes", text: n.changes.join(", ") }))))));
  }

  // ------------------------------------------------------------------ router
  async function route() {
    if (stream) { stream.close(); stream = null; }
    if (timer) { clearInterval(timer); timer = null; }
    const raw = location.hash.replace(/^#/, "") || "/";
    const [path, query] = raw.split("?");
    const params = new URLSearchParams(query || "");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    try {
      if (parts[0] === "run" && parts[1]) await runPage(parts[1], params);
      else if (parts[0] === "plan" && parts[2] === "checkpoints") await checkpointsPage(parts[1]);
      else if (parts[0] === "diff" && parts[3]) await diffPage(parts[1], parts[2], parts[3]);
      else await runsPage(params);
      view.dataset.ready = raw;
    } catch (e) {
      put(view, h("p", { class: "bad", id: "error", text: e.message }));
    }
  }

  window.addEventListener("hashchange", route);
  get("/api/session").then(s => { csrf = s.csrf; document.getElementById("store").textContent = s.store; route(); })
    .catch(e => { put(view, h("p", { id: "error", text: e.message })); });
})();
