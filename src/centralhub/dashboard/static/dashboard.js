// Central Hub dashboard: polls /api/v1/dashboard/data every 2 s and redraws in place, and acts
// through the hub's own API with the pasted key. The dependency graph is laid out by dagre
// (vendor/dagre.min.js, served by the hub: no request leaves it) and drawn as inline SVG.
"use strict";

const POLL_MS = 2000;
// the last dashboard document (the caller's scopes decide which buttons show)
let LAST = null;
const SVG_NS = "http://www.w3.org/2000/svg";
const STATUS_COLORS = {
  healthy: "#1f9d55", passing: "#1f9d55", degraded: "#d69e2e", warning: "#d69e2e",
  critical: "#d64545", unhealthy: "#d64545", missing: "#d64545", draining: "#6b7bd6", unknown: "#9aa5b1",
};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else if (typeof v === "function") node.addEventListener(k.replace(/^on/, ""), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function badge(status) {
  return el("span", { class: `badge s-${status}` }, status);
}

// every time in the dashboard document is RFC 3339 UTC ("2026-12-01T21:22:42.123Z")
function when(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  return isNaN(d) ? String(ts) : d.toLocaleTimeString();
}

function renderFigures(data) {
  const f = data.figures || {};
  const by = f.instances_by_status || {};
  const items = [
    ["services", f.services], ["instances", f.instances], ["passing", by.passing],
    ["warning", by.warning], ["critical", by.critical], ["draining", by.draining],
  ];
  document.getElementById("figures").replaceChildren(
    ...items.map(([label, n]) =>
      el("div", { class: "figure", "data-figure": label }, el("div", { class: "n" }, n ?? 0), el("div", { class: "l" }, label)))
  );
}

function renderServices(services) {
  const body = document.querySelector("#services tbody");
  body.replaceChildren(...services.map((svc) => {
    const insts = el("td", {}, ...svc.instances.map((i) =>
      el("span", { class: "inst", title: `${i.instance_id} ${i.status}`, "data-instance": i.instance_id,
        onclick: () => openInstance(svc.tenant_id, svc.name, i.instance_id) },
        el("span", { class: "dot", style: `background:${STATUS_COLORS[i.status] || STATUS_COLORS.unknown}` }),
        `${i.url.replace(/^https?:\/\//, "")}${i.version ? " " + i.version : ""}`)));
    return el("tr", { "data-service": svc.name, "data-tenant": svc.tenant_id },
      el("td", { class: "service-name" }, el("strong", {}, svc.name)),
      el("td", {}, svc.tenant_id), el("td", {}, badge(svc.status)), insts);
  }));
  document.getElementById("services-empty").hidden = services.length > 0;
}

// dagre lays the graph out in ranks (dependencies left) and routes each edge through the gaps
// between ranks, so an edge never runs through a box that is not one of its two ends. Edges are
// drawn as the straight segments dagre gives, which keeps that promise exactly.
function renderGraph(graph) {
  const root = document.getElementById("graph");
  const nodes = (graph && graph.nodes) || [];
  const edges = (graph && graph.edges) || [];
  const boxW = 150, boxH = 30;
  if (!nodes.length) {
    root.setAttribute("width", 200); root.setAttribute("height", 60);
    root.replaceChildren(svg("text", { x: 12, y: 34, class: "muted" }, "No services yet."));
    return;
  }
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "RL", nodesep: 18, ranksep: 70, edgesep: 12, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.name, { width: boxW, height: boxH });
  for (const e of edges) if (e.from !== e.to) g.setEdge(e.from, e.to);
  dagre.layout(g);
  const { width, height } = g.graph();
  root.setAttribute("width", Math.max(width, 200));
  root.setAttribute("height", Math.max(height, 60));
  root.setAttribute("viewBox", `0 0 ${Math.max(width, 200)} ${Math.max(height, 60)}`);
  const defs = svg("defs");
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5",
    markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
  marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8a96a3" }));
  defs.append(marker);
  const parts = [defs];
  const cycle = new Set((graph && graph.cycle) || []);
  for (const e of edges) {
    const laid = g.edge(e.from, e.to);
    if (!laid || !laid.points || !laid.points.length) continue;
    const d = laid.points.map((p, i) => `${i ? "L" : "M"} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" ");
    const cls = cycle.has(e.from) && cycle.has(e.to) ? "edge cycle" : "edge";
    parts.push(svg("path", { class: cls, d, "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to }));
  }
  for (const node of nodes) {
    const p = g.node(node.name);
    const x = p.x - boxW / 2, y = p.y - boxH / 2;
    const gEl = svg("g", { class: "node", "data-name": node.name, "data-status": node.status,
      "data-kind": node.kind, transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` });
    const color = STATUS_COLORS[node.status] || STATUS_COLORS.unknown;
    gEl.append(svg("rect", { width: boxW, height: boxH, rx: node.kind === "infrastructure" ? 14 : 6, stroke: color }));
    gEl.append(svg("circle", { cx: 12, cy: boxH / 2, r: 5, fill: color }));
    const label = node.name.length > 19 ? node.name.slice(0, 18) + "…" : node.name;
    gEl.append(svg("text", { x: 24, y: boxH / 2 + 4 }, label));
    gEl.append(svg("title", {}, `${node.name} (${node.kind}, ${node.status})`));
    parts.push(gEl);
  }
  root.replaceChildren(...parts);
}

function renderInfrastructure(infra) {
  const box = document.getElementById("infrastructure");
  if (infra === null || infra === undefined) {
    box.replaceChildren(el("p", { class: "empty" }, "Infrastructure monitoring is not configured."));
    return;
  }
  if (infra.error) { box.replaceChildren(el("p", { class: "empty" }, infra.error)); return; }
  const comps = infra.components || infra;
  const rows = Array.isArray(comps)
    ? comps.map((c) => [c.name, c])
    : Object.entries(comps).filter(([, v]) => v && typeof v === "object");
  if (!rows.length) { box.replaceChildren(el("p", { class: "empty" }, "No component is monitored.")); return; }
  box.replaceChildren(el("table", {}, el("tbody", {}, ...rows.map(([name, c]) =>
    el("tr", { "data-component": name }, el("td", {}, name), el("td", {}, badge(c.status || "unknown")),
      el("td", { class: "muted small" },
        c.response_time_ms !== undefined && c.response_time_ms !== null ? `${Number(c.response_time_ms).toFixed(1)} ms` : "",
        c.error ? ` ${c.error}` : ""))))));
}

function renderList(id, items, emptyText, render) {
  const box = document.getElementById(id);
  if (items === null || items === undefined) { box.replaceChildren(el("li", { class: "empty" }, emptyText)); return; }
  if (!Array.isArray(items)) items = items.alerts || items.items || (items.error ? [items] : []);
  if (!items.length) { box.replaceChildren(el("li", { class: "empty" }, "None yet.")); return; }
  // a capability that failed sends {"error": ...} alone; a record may carry an error of its own
  // (a failed deployment), and is still drawn as the record it is
  const failed = (it) => it.error && Object.keys(it).length === 1;
  box.replaceChildren(...items.map((it) => failed(it) ? el("li", { class: "empty" }, it.error) : render(it)));
}

function renderAlert(a) {
  const what = [a.kind, a.target, a.event].filter(Boolean).join(" ") || a.title || a.name || "";
  const repeat = a.count > 1 ? ` ×${a.count}` : "";
  const actions = [];
  if (can("ops") && a.id && !a.acknowledged) {
    actions.push(button("Acknowledge", "ack", () => act(
      () => hubCall("POST", `/api/v1/alerts/${encodeURIComponent(a.id)}/acknowledge`, { tenant: a.tenant_id, body: {} }))));
  }
  if (can("ops") && a.target) {
    const body = { target: a.target, duration_seconds: 3600, reason: "silenced from the dashboard" };
    if (a.tenant_id === null || a.tenant_id === undefined) body.global = true;
    actions.push(button("Silence 1 h", "silence", () => act(
      () => hubCall("POST", "/api/v1/alerts/silences", { tenant: a.tenant_id, body }))));
  }
  return el("li", { "data-alert": a.id || "" }, badge(a.severity || "info"), " ", el("strong", {}, what), " ",
    a.message || "", " ", el("span", { class: "muted small" },
      `${when(a.last_seen_at || a.created_at || a.timestamp)}${repeat}${a.acknowledged ? " · acknowledged" : ""}` +
      `${a.silenced ? " · silenced" : ""}`), ...actions);
}

function renderConfig(v) {
  return el("li", { "data-config": v.service_name },
    el("strong", { onclick: () => openConfig(v.tenant_id || "default", v.service_name) }, v.service_name),
    " ", v.version || `r${v.revision}`, " ",
    el("span", { class: "muted small" }, `${v.updated_by || ""} ${when(v.updated_at)}${v.message ? " — " + v.message : ""}`));
}

// instances still on an older revision, or failing to apply the current one, past the drift time
function renderDrift(rows) {
  document.getElementById("drift").replaceChildren(...rows.map((d) => el("li", { "data-drift": d.instance_id },
    badge("drifted"), " ", el("strong", { onclick: () => openConfig(d.tenant_id, d.service) }, d.service), " ",
    el("span", { class: "muted small" }, `${d.url} runs r${d.applied_revision ?? "?"}` +
      (d.outcome === "failed" ? ` — failed: ${d.error || "no reason given"}` : "")))));
}

// a configuration rollout: how far the bake is, what each canary reports, promote/abort buttons
function renderRollout(r) {
  const baking = r.state === "baking";
  const done = r.bake_seconds ? Math.round(100 * (1 - r.remaining_seconds / r.bake_seconds)) : 100;
  const path = `/api/v1/config/${encodeURIComponent(r.service)}/rollout`;
  const actions = baking && can("config:write") ? [
    button("Promote", "rollout-promote", () => act(() => hubCall("POST", `${path}/promote`, { tenant: r.tenant_id }))),
    button("Abort", "rollout-abort", () => act(() => hubCall("POST", `${path}/abort`, { tenant: r.tenant_id }))),
  ] : [];
  const canaries = (r.canaries || []).map((c) => el("li", { "data-canary": c.instance_id }, badge(c.status),
    " ", c.url || c.instance_id, " ", el("span", { class: "muted small" },
      c.applied_revision === null || c.applied_revision === undefined ? "no report yet"
        : `runs r${c.applied_revision} (${c.outcome})${c.error ? " — " + c.error : ""}`)));
  return el("li", { "data-rollout": r.rollout_id, "data-state": r.state }, badge(r.state), " ",
    el("strong", { onclick: () => openConfig(r.tenant_id, r.service) }, r.service), ` → ${r.version} `,
    el("span", { class: "muted small" }, baking
      ? `baking ${done}% · ${Math.ceil(r.remaining_seconds)} s left · ${r.canary.length} canar${r.canary.length === 1 ? "y" : "ies"}`
      : `${when(r.finished_at)}`),
    ...actions,
    r.reason ? el("div", { class: "small reason" }, r.reason) : null,
    r.held_reason ? el("div", { class: "small reason" }, `held: ${r.held_reason}`) : null,
    baking ? el("ul", { class: "list small" }, ...canaries) : null);
}

// a deployment that did not succeed says why, and what became of the instances it had drained
function deploymentReason(d) {
  if (d.state !== "failed" && d.state !== "cancelled") return d.error || "";
  const onRequest = d.state === "cancelled" && (!d.error || d.error === "cancelled");
  const why = onRequest
    ? `cancelled on request${d.cancel_requested_at ? " at " + when(d.cancel_requested_at) : ""}`
    : d.error || "failed";
  const touched = (d.batches || []).flatMap((b) => b.instances || []);
  const restored = touched.filter((i) => i.status && i.status !== "gone" && i.status !== "draining").length;
  return `${why}; ${restored} drained instance${restored === 1 ? "" : "s"} back in service`;
}

function renderDeployment(d) {
  const p = d.progress || {};
  const reason = deploymentReason(d);
  return el("li", { "data-deployment": d.id }, badge(d.state), " ", el("strong", {}, d.service), ` → ${d.version} `,
    el("span", { class: "muted small" }, `batch ${p.batches_done}/${p.batches_total}`),
    reason ? el("div", { class: "small reason" }, reason) : null);
}

function render(data) {
  LAST = data;
  const health = (data.hub && data.hub.health) || {};
  const status = health.status || "unknown";
  const hubStatus = document.getElementById("hub-status");
  hubStatus.className = `badge s-${status}`;
  hubStatus.textContent = `hub ${status}`;
  document.getElementById("hub-meta").textContent =
    `v${data.hub.version} · ${data.hub.storage} · bus ${data.hub.event_bus} · up ${Math.round(data.hub.uptime_seconds)} s`;
  renderFigures(data);
  renderServices(data.services || []);
  renderGraph(data.graph);
  renderInfrastructure(data.infrastructure);
  renderList("alerts", data.alerts, "Alerting is not configured.", renderAlert);
  renderList("config", data.config, "Configuration service is not configured.", renderConfig);
  renderList("deployments", data.deployments, "Deployments are not available.", renderDeployment);
  renderDrift(data.drift || []);
  renderList("rollouts", data.rollouts, "Configuration rollouts are not available.", renderRollout);
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

let timer = null;
// the API key stays in this browser (localStorage) and goes to the hub only, as a Bearer token
const KEY_STORAGE = "centralhub.apiKey";
const keyInput = document.getElementById("apikey");
keyInput.value = localStorage.getItem(KEY_STORAGE) || "";

function showTenant(data) {
  // the hub shows the caller's own tenant; only an admin may pick another one, or all of them
  // (an explicit choice: tenants are never mixed by default)
  document.getElementById("tenant-label").hidden = !data.may_choose_tenant;
  const select = document.getElementById("tenant");
  const wanted = ["", ...(data.tenants || []), "all"];
  const have = [...select.options].map((o) => o.value);
  if (wanted.join("\n") !== have.join("\n")) {
    const chosen = select.value;
    select.replaceChildren(...wanted.map((t) => el("option", { value: t },
      t === "" ? `yours (${data.tenant || "default"})` : t === "all" ? "all tenants" : t)));
    select.value = wanted.includes(chosen) ? chosen : "";
  }
}

async function hubError(resp) {
  let message = `hub answered ${resp.status}`;
  let details = null;
  try {
    const body = await resp.json();
    if (body && body.error && body.error.message) message += `: ${body.error.message}`;
    details = body && body.error ? body.error.details || null : null;
  } catch (_) { /* not JSON: the status says enough */ }
  if (resp.status === 401) message += " (paste an API key)";
  const err = new Error(message);
  err.status = resp.status;
  err.details = details;
  return err;
}

async function refresh() {
  clearTimeout(timer);
  const tenant = document.getElementById("tenant").value.trim();
  const url = "/api/v1/dashboard/data" + (tenant ? `?tenant=${encodeURIComponent(tenant)}` : "");
  const key = keyInput.value.trim();
  const headers = key ? { Authorization: `Bearer ${key}` } : {};
  try {
    const resp = await fetch(url, { cache: "no-store", headers, signal: AbortSignal.timeout(5000) });
    if (!resp.ok) throw await hubError(resp);
    const data = await resp.json();
    showTenant(data);
    render(data);
  } catch (err) {
    document.getElementById("updated").textContent = `update failed: ${err.message}`;
    document.getElementById("hub-status").className = "badge s-critical";
    document.getElementById("hub-status").textContent =
      err.status === 401 ? "API key needed" : err.status === 403 ? "not allowed" : "hub unreachable";
  } finally {
    timer = setTimeout(refresh, POLL_MS);
  }
}

document.getElementById("tenant").addEventListener("change", () => refresh());
keyInput.addEventListener("change", () => {
  const key = keyInput.value.trim();
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
  refresh();
});
refresh();

// ------------------------------------------------------------------ acting through the hub's API

function can(scope) {
  const scopes = (LAST && LAST.caller && LAST.caller.scopes) || [];
  return scopes.includes(scope) || scopes.includes("admin");
}

function button(label, action, onclick) {
  return el("button", { class: "act", type: "button", "data-action": action, onclick }, label);
}

async function hubCall(method, path, options = {}) {
  const key = keyInput.value.trim();
  const headers = key ? { Authorization: `Bearer ${key}` } : {};
  if (options.tenant) headers["X-Tenant-ID"] = options.tenant;
  let body;
  if (options.raw !== undefined) { body = options.raw; headers["Content-Type"] = "application/json"; }
  else if (options.body !== undefined) { body = JSON.stringify(options.body); headers["Content-Type"] = "application/json"; }
  const resp = await fetch(path, { method, headers, body, cache: "no-store", signal: AbortSignal.timeout(10000) });
  if (!resp.ok) throw await hubError(resp);
  return resp.status === 204 ? null : resp.json();
}

function showDetailError(err) {
  const box = document.getElementById("detail-error");
  box.hidden = !err;
  box.textContent = err ? err.message : "";
}

// an action: run it, show its error in the detail panel, refresh what is shown
async function act(run, after) {
  try {
    await run();
    showDetailError(null);
    if (after) await after();
  } catch (err) {
    showDetailError(err);
    document.getElementById("detail").hidden = false;
    return;
  }
  refresh();
}

function openDetail(title, ...body) {
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-title").textContent = title;
  document.getElementById("detail-body").replaceChildren(...body);
}

function kv(pairs) {
  return el("dl", { class: "kv" }, ...pairs.flatMap(([k, v]) => [el("dt", {}, k),
    el("dd", { "data-field": k }, typeof v === "string" ? v : JSON.stringify(v))]));
}

async function openInstance(tenant, service, id) {
  location.hash = `#/instances/${encodeURIComponent(tenant)}/${encodeURIComponent(service)}/${encodeURIComponent(id)}`;
  const path = `/api/v1/services/${encodeURIComponent(service)}`;
  let inst, health;
  try {
    const doc = await hubCall("GET", path, { tenant });
    inst = (doc.instances || []).find((i) => i.instance_id === id);
    const checks = await hubCall("GET", `${path}/health`, { tenant }).catch(() => null);
    health = checks && (checks.instances || []).find((i) => i.instance_id === id);
  } catch (err) {
    if (err.status !== 404) { openDetail(`instance ${id}`); showDetailError(err); return; }
    inst = null;  // the service has no instance left
  }
  if (!inst) {
    showDetailError(null); openDetail(`instance ${id}`, el("p", { class: "empty" }, "This instance is no longer registered.")); return; }
  showDetailError(null);
  const pairs = [
    ["service", service], ["tenant", tenant], ["instance id", inst.instance_id], ["address", inst.url],
    ["status", inst.status], ["version", inst.version || ""], ["tags", inst.tags || []],
    ["metadata", inst.metadata || {}], ["check", inst.check || (health && health.check) || {}],
    ["last seen", inst.last_seen], ["registered", inst.registered_at],
  ];
  if (health) {
    for (const k of ["last_check", "last_result", "last_error", "output", "consecutive_failures", "checked_by"]) {
      if (health[k] !== undefined && health[k] !== null) pairs.push([k.replace(/_/g, " "), health[k]]);
    }
  }
  const actions = [];
  if (can("registry:write")) {
    const base = `${path}/instances/${encodeURIComponent(id)}`;
    const again = () => openInstance(tenant, service, id);
    if (inst.status === "draining") {
      actions.push(button("Undrain", "undrain", () => act(() => hubCall("POST", `${base}/undrain`, { tenant }), again)));
    } else {
      actions.push(button("Drain", "drain", () => act(() => hubCall("POST", `${base}/drain`, { tenant }), again)));
    }
    actions.push(button("Deregister", "deregister", () => {
      if (!confirm(`Deregister ${service} ${id}?`)) return;
      act(() => hubCall("DELETE", base, { tenant }), again);
    }));
  }
  openDetail(`${service} · ${inst.url}`, kv(pairs), el("p", {}, ...actions));
}

async function openConfig(tenant, service, diffWith) {
  location.hash = `#/config/${encodeURIComponent(tenant)}/${encodeURIComponent(service)}`;
  const path = `/api/v1/config/${encodeURIComponent(service)}`;
  let current, history, diff = null;
  try {
    current = await hubCall("GET", path, { tenant });
    history = await hubCall("GET", `/api/v1/config/history/${encodeURIComponent(service)}`, { tenant });
    if (diffWith) diff = await hubCall("GET", `${path}/diff?from=${encodeURIComponent(diffWith)}`, { tenant });
  } catch (err) {
    openDetail(`configuration of ${service}`); showDetailError(err); return;
  }
  showDetailError(null);
  const again = () => openConfig(tenant, service);
  const rows = (history.history || []).map((h) => el("li", { "data-version": h.version },
    el("strong", {}, h.version), ` r${h.revision} `,
    el("span", { class: "muted small" }, `${h.updated_by || ""} ${when(h.updated_at)}${h.message ? " — " + h.message : ""}`),
    h.revision !== current.revision ? button("Diff with current", "diff", () => openConfig(tenant, service, h.version)) : " (current)",
    h.revision !== current.revision && can("config:write")
      ? button("Roll back to this", "rollback", () => act(
        () => hubCall("POST", `${path}/rollback`, { tenant, body: { version: h.version } }), again))
      : null));
  const parts = [
    kv([["service", service], ["tenant", tenant], ["version", `${current.version} (revision ${current.revision})`],
      ["updated", `${current.updated_by} ${when(current.updated_at)}`]]),
    el("pre", { class: "json", id: "config-current" }, JSON.stringify(current.config, null, 2)),
  ];
  if (diff) {
    parts.push(el("h3", {}, `Changes from ${diff.from.version} to ${diff.to.version}`),
      el("ul", { class: "list", id: "config-diff" }, ...(diff.changes.length ? diff.changes.map((c) =>
        el("li", {}, JSON.stringify(c))) : [el("li", { class: "empty" }, "No change.")])));
  }
  parts.push(el("h3", {}, "History"), el("ul", { class: "list", id: "config-history" }, ...rows));
  if (can("config:write")) {
    const editor = el("textarea", { id: "config-editor", spellcheck: "false" });
    editor.value = JSON.stringify(current.config, null, 2);
    const errors = el("ul", { class: "list", id: "config-errors" });
    const save = button("Save as new version", "save", async () => {
      errors.replaceChildren();
      let doc;
      try { doc = JSON.parse(editor.value); } catch (err) {
        errors.replaceChildren(el("li", { class: "field-error" }, `not valid JSON: ${err.message}`));
        return;
      }
      try {
        await hubCall("POST", path, { tenant, body: doc });
      } catch (err) {
        // the hub names each field its schema refuses: shown next to the editor
        const details = Array.isArray(err.details) ? err.details : [];
        errors.replaceChildren(...(details.length ? details.map((d) =>
          el("li", { class: "field-error", "data-field": d.field || d.path || "" },
            `${d.field || d.path || "document"}: ${d.message || JSON.stringify(d)}`))
          : [el("li", { class: "field-error" }, err.message)]));
        return;
      }
      await again();
      refresh();
    });
    parts.push(el("h3", {}, "Edit"), editor, errors, el("p", {}, save));
  }
  openDetail(`configuration of ${service}`, ...parts);
}

function openFromHash() {
  const parts = location.hash.replace(/^#\//, "").split("/").map(decodeURIComponent);
  if (parts[0] === "instances" && parts.length === 4) openInstance(parts[1], parts[2], parts[3]);
  else if (parts[0] === "config" && parts.length === 3) openConfig(parts[1], parts[2]);
}

document.getElementById("detail-close").addEventListener("click", (ev) => {
  ev.preventDefault();
  document.getElementById("detail").hidden = true;
  history.replaceState(null, "", location.pathname);
});
openFromHash();
