// Central Hub dashboard: polls /api/v1/dashboard/data every 2 s and redraws in place.
// No third-party code; the dependency graph is drawn here as inline SVG.
"use strict";

const POLL_MS = 2000;
const SVG_NS = "http://www.w3.org/2000/svg";
const STATUS_COLORS = {
  healthy: "#1f9d55", passing: "#1f9d55", degraded: "#d69e2e", warning: "#d69e2e",
  critical: "#d64545", unhealthy: "#d64545", missing: "#d64545", draining: "#6b7bd6", unknown: "#9aa5b1",
};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") node.className = v; else node.setAttribute(k, v);
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
      el("span", { class: "inst", title: `${i.instance_id} ${i.status}` },
        el("span", { class: "dot", style: `background:${STATUS_COLORS[i.status] || STATUS_COLORS.unknown}` }),
        `${i.url.replace(/^https?:\/\//, "")}${i.version ? " " + i.version : ""}`)));
    return el("tr", { "data-service": svc.name, "data-tenant": svc.tenant_id },
      el("td", { class: "service-name" }, el("strong", {}, svc.name)),
      el("td", {}, svc.tenant_id), el("td", {}, badge(svc.status)), insts);
  }));
  document.getElementById("services-empty").hidden = services.length > 0;
}

// Layered layout: the server gives layers (dependencies first); columns left to right.
function renderGraph(graph) {
  const root = document.getElementById("graph");
  const layers = (graph && graph.layers) || [];
  const nodesByName = Object.fromEntries(((graph && graph.nodes) || []).map((n) => [n.name, n]));
  const boxW = 150, boxH = 30, gapX = 70, gapY = 18, pad = 12;
  const edges = (graph && graph.edges) || [];
  const colOf = {};
  layers.forEach((layer, col) => layer.forEach((name) => { colOf[name] = col; }));
  // edges that skip a layer arc over the boxes in between; leave room above for them
  const maxSpan = Math.max(1, ...edges.map((e) => (colOf[e.from] ?? 0) - (colOf[e.to] ?? 0)));
  const top = pad + Math.min(24 * (maxSpan - 1), 90);
  const pos = {};
  let rows = 0;
  layers.forEach((layer, col) => {
    rows = Math.max(rows, layer.length);
    layer.forEach((name, row) => {
      pos[name] = { x: pad + col * (boxW + gapX), y: top + row * (boxH + gapY) };
    });
  });
  const width = Math.max(pad * 2 + layers.length * (boxW + gapX) - gapX, 200);
  const height = Math.max(top + pad + rows * (boxH + gapY) - gapY, 60);
  root.setAttribute("width", width);
  root.setAttribute("height", height);
  root.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const defs = svg("defs");
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5",
    markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
  marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8a96a3" }));
  defs.append(marker);
  const parts = [defs];
  const cycle = new Set((graph && graph.cycle) || []);
  for (const e of edges) {
    const a = pos[e.from], b = pos[e.to];
    if (!a || !b) continue;
    const span = colOf[e.from] - colOf[e.to];
    let d;
    if (span > 1) {
      // from the dependent's top to the dependency's top, arcing above the layers between
      const x1 = a.x + 30, y1 = a.y, x2 = b.x + boxW - 30, y2 = b.y;
      const lift = Math.min(a.y, b.y) - 12 - 24 * (span - 1);
      d = `M ${x1} ${y1} C ${x1} ${lift}, ${x2} ${lift}, ${x2} ${y2}`;
    } else {
      // from the dependent's left edge to the dependency's right edge
      const x1 = a.x, y1 = a.y + boxH / 2, x2 = b.x + boxW, y2 = b.y + boxH / 2;
      const mid = (x1 + x2) / 2;
      d = x1 > x2 ? `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`
        : `M ${x1} ${y1} C ${x1 - 40} ${y1}, ${x2 + 40} ${y2}, ${x2} ${y2}`;
    }
    const cls = cycle.has(e.from) && cycle.has(e.to) ? "edge cycle" : "edge";
    parts.push(svg("path", { class: cls, d, "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to }));
  }
  for (const [name, p] of Object.entries(pos)) {
    const node = nodesByName[name] || { status: "unknown", kind: "service" };
    const g = svg("g", { class: "node", "data-name": name, "data-status": node.status, transform: `translate(${p.x},${p.y})` });
    const color = STATUS_COLORS[node.status] || STATUS_COLORS.unknown;
    g.append(svg("rect", { width: boxW, height: boxH, rx: node.kind === "infrastructure" ? 14 : 6, stroke: color }));
    g.append(svg("circle", { cx: 12, cy: boxH / 2, r: 5, fill: color }));
    const label = name.length > 19 ? name.slice(0, 18) + "…" : name;
    g.append(svg("text", { x: 24, y: boxH / 2 + 4 }, label));
    g.append(svg("title", {}, `${name} (${node.kind}, ${node.status})`));
    parts.push(g);
  }
  if (!layers.length) parts.push(svg("text", { x: pad, y: 34, class: "muted" }, "No services yet."));
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
  box.replaceChildren(...items.map((it) => it.error ? el("li", { class: "empty" }, it.error) : render(it)));
}

function renderAlert(a) {
  const what = [a.kind, a.target, a.event].filter(Boolean).join(" ") || a.title || a.name || "";
  const repeat = a.count > 1 ? ` ×${a.count}` : "";
  return el("li", { "data-alert": a.id || "" }, badge(a.severity || "info"), " ", el("strong", {}, what), " ",
    a.message || "", " ", el("span", { class: "muted small" },
      `${when(a.last_seen_at || a.created_at || a.timestamp)}${repeat}${a.acknowledged ? " · acknowledged" : ""}`));
}

function renderConfig(v) {
  return el("li", {}, el("strong", {}, v.service_name), " ", v.version || `r${v.revision}`, " ",
    el("span", { class: "muted small" }, `${v.updated_by || ""} ${when(v.updated_at)}${v.message ? " — " + v.message : ""}`));
}

function renderDeployment(d) {
  const p = d.progress || {};
  return el("li", { "data-deployment": d.id }, badge(d.state), " ", el("strong", {}, d.service), ` → ${d.version} `,
    el("span", { class: "muted small" }, `batch ${p.batches_done}/${p.batches_total}${d.error ? " — " + d.error : ""}`));
}

function render(data) {
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
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

let timer = null;
// the API key stays in this browser (localStorage) and goes to the hub only, as a Bearer token
const KEY_STORAGE = "centralhub.apiKey";
const keyInput = document.getElementById("apikey");
keyInput.value = localStorage.getItem(KEY_STORAGE) || "";

function showTenant(data) {
  // the hub shows the caller's own tenant; only an admin may pick another one (or "all")
  document.getElementById("tenant-label").hidden = !data.may_choose_tenant;
  document.getElementById("tenant").placeholder = data.tenant || "all";
}

async function hubError(resp) {
  let message = `hub answered ${resp.status}`;
  try {
    const body = await resp.json();
    if (body && body.error && body.error.message) message += `: ${body.error.message}`;
  } catch (_) { /* not JSON: the status says enough */ }
  if (resp.status === 401) message += " (paste an API key)";
  const err = new Error(message);
  err.status = resp.status;
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
