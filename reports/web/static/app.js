"use strict";
// The GridScout review page: a queue of reports, each with its evidence and box, reviewed from the keyboard,
// and a map of every placed report. Talks only to /ui/api on the server that sent it.

const PAGE = 50;
const COLOURS = {new: "#2e86c1", rejected: "#95a5a6", high: "#c0392b", medium: "#e67e22", low: "#f1c40f",
  confirmed: "#8e44ad"};
const FILTER_NAMES = {new: "unreviewed", confirmed: "confirmed", rejected: "rejected", all: "all"};

const ui = {session: null, filter: "new", offset: 0, total: 0, items: [], index: 0, pending: {}, map: null,
  markers: null, events: null, narrow: {}};
const $ = (id) => document.getElementById(id);

function say(text) { $("status").textContent = text; }

async function api(path, options = {}) {
  const headers = {...(options.headers || {})};
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["X-CSRF-Token"] = ui.session ? ui.session.csrf : "";
  }
  const response = await fetch(path, {...options, headers, body: options.body === undefined ? undefined :
    JSON.stringify(options.body)});
  if (response.status === 401) { window.location.reload(); throw new Error("logged out"); }
  if (!response.ok) {
    let detail = `HTTP ${response.status}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response.status === 204 ? null : response.json();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value; else if (key.startsWith("on")) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function colour(item) {
  const r = item.review || item;
  if (r.state === "confirmed") return COLOURS[r.severity] || COLOURS.confirmed;
  return COLOURS[r.state] || COLOURS.new;
}

function where(item) {
  if (item.lat !== null && item.lon !== null) {
    const within = item.error_m !== null ? ` ±${Math.round(item.error_m)} m` : "";
    return `${item.lat.toFixed(6)}, ${item.lon.toFixed(6)}${within}`;
  }
  return item.position_m !== null ? `${item.position_m.toFixed(1)} m along the line` : "no position";
}

function reviewText(r) {
  if (r.state === "new") return "not reviewed";
  const parts = [r.state, r.severity, r.class_name ? `as ${r.class_name}` : ""].filter(Boolean);
  return `${parts.join(", ")} (${r.source}, ${r.reviewed_at || ""})`;
}

function renderFilters() {
  const nav = $("filters");
  nav.replaceChildren(...ui.session.filters.map((f) => el("button", {
    "data-filter": f, class: f === ui.filter ? "active" : "",
    onclick: () => setFilter(f)}, `${FILTER_NAMES[f]} ${ui.session.counts[f]}`)));
}

function narrowQuery() {
  return Object.entries(ui.narrow).filter(([, v]) => v).map(([k, v]) => `&${k}=${encodeURIComponent(v)}`).join("");
}

function renderNarrow() {
  const choice = (name, label, values) => {
    const select = el("select", {id: `narrow-${name}`, "aria-label": label}, el("option", {value: ""}, `any ${label}`),
      ...values.map((v) => el("option", {value: v}, v)));
    select.value = ui.narrow[name] || "";
    select.onchange = () => { ui.narrow[name] = select.value || null; setFilter(ui.filter); };
    return select;
  };
  const facets = ui.session.facets;
  $("narrow").replaceChildren(...[
    choice("class_name", "class", ui.session.classes), choice("severity", "severity", ui.session.severities),
    facets.devices.length > 1 ? choice("device", "device", facets.devices) : null,
    facets.lines.length ? choice("line", "line", facets.lines) : null,
  ].filter(Boolean));
}

async function setFilter(filter) {
  ui.filter = filter; ui.offset = 0; ui.index = 0;
  await loadPage();
  if (ui.markers) await loadMap();
}

async function loadPage() {
  const page = await api(`/ui/api/reports?state=${ui.filter}&offset=${ui.offset}&limit=${PAGE}${narrowQuery()}`);
  ui.items = page.items; ui.total = page.total; ui.session.counts = page.counts;
  ui.index = Math.min(ui.index, Math.max(0, ui.items.length - 1));
  renderFilters();
  renderQueue();
  renderDetail();
}

function renderQueue() {
  const list = $("queue");
  list.replaceChildren(...ui.items.map((item, i) => el("li", {
    class: i === ui.index ? "selected" : "", "data-key": item.key, onclick: () => select(i)},
    el("span", {class: "dot", style: `background:${colour(item)}`}),
    el("span", {class: "cls"}, item.class_name), el("span", {class: "conf"}, item.confidence.toFixed(2)),
    el("span", {class: "when"}, item.first_seen.replace("T", " ").slice(0, 19)))));
  const last = Math.min(ui.offset + ui.items.length, ui.total);
  say(ui.total ? `${ui.offset + 1}-${last} of ${ui.total} ${FILTER_NAMES[ui.filter]}` :
    `no ${FILTER_NAMES[ui.filter]} reports`);
  const selected = list.children[ui.index];
  if (selected) selected.scrollIntoView({block: "nearest"});
}

function select(i) {
  ui.index = i; ui.pending = {};
  renderQueue();
  renderDetail();
}

function evidenceFigure(item) {
  if (!item.has_evidence) return el("p", {class: "empty"}, "No evidence image for this report.");
  const figure = el("figure", {class: "evidence"});
  const img = el("img", {src: `/ui/api/reports/${encodeURIComponent(item.key)}/evidence.jpg`,
    alt: `evidence of ${item.class_name}`});
  figure.append(img);
  img.onload = () => {
    if (!item.box) return;
    const [x1, y1, x2, y2] = item.box;
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("class", "box");
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    for (const [k, v] of Object.entries({x: x1, y: y1, width: x2 - x1, height: y2 - y1})) rect.setAttribute(k, v);
    rect.setAttribute("stroke", colour(item));
    svg.append(rect);
    figure.append(svg);
  };
  figure.append(el("figcaption", {}, `${item.class_name} ${item.confidence.toFixed(2)}`));
  return figure;
}

function renderDetail() {
  const detail = $("detail");
  const item = ui.items[ui.index];
  if (!item) { detail.replaceChildren(el("p", {class: "empty"}, "Nothing to review here.")); return; }
  const pending = {severity: item.review.severity, class_name: item.review.class_name || "",
    note: item.review.note || "", ...ui.pending};
  const classes = el("select", {id: "class", "aria-label": "class"},
    el("option", {value: ""}, `as found: ${item.detected_class}`),
    ...ui.session.classes.map((c) => el("option", {value: c}, c)));
  classes.value = pending.class_name || "";
  classes.onchange = () => { ui.pending.class_name = classes.value; };
  const severity = el("select", {id: "severity", "aria-label": "severity"}, el("option", {value: ""}, "no severity"),
    ...ui.session.severities.map((s) => el("option", {value: s}, s)));
  severity.value = pending.severity || "";
  severity.onchange = () => { ui.pending.severity = severity.value || null; };
  const note = el("textarea", {id: "note", rows: 2, placeholder: "note for the crew", "aria-label": "note"});
  note.value = pending.note;
  note.oninput = () => { ui.pending.note = note.value; };
  const asset = item.asset ? `${item.asset.asset_id} ${item.asset.name} (${item.asset.asset_type}` +
    `${item.asset.line_id ? ", line " + item.asset.line_id : ""}), ${item.asset.distance_m} m away` :
    (item.asset_why || "not linked");
  const rows = [["class", item.class_name === item.detected_class ? item.class_name :
    `${item.class_name} (found as ${item.detected_class})`], ["confidence", item.confidence.toFixed(3)],
  ["where", where(item)], ["first seen", item.first_seen], ["last seen", item.last_seen],
  ["device", item.device_id], ["asset", asset], ["model", item.model_name], ["model sha256", item.model_sha256],
  ["report", item.id], ["review", reviewText(item.review)]];
  detail.replaceChildren(
    evidenceFigure(item),
    el("dl", {class: "fields"}, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    el("div", {class: "controls"}, classes, severity, note,
      el("button", {id: "confirm", onclick: () => save("confirmed")}, "Confirm (c)"),
      el("button", {id: "reject", onclick: () => save("rejected")}, "Reject (x)")));
}

async function save(state) {
  const item = ui.items[ui.index];
  if (!item) return;
  const body = {state, severity: ui.pending.severity !== undefined ? ui.pending.severity : item.review.severity,
    class_name: (ui.pending.class_name !== undefined ? ui.pending.class_name : item.review.class_name) || null,
    note: (ui.pending.note !== undefined ? ui.pending.note : item.review.note) || null};
  try {
    const saved = await api(`/ui/api/reports/${encodeURIComponent(item.key)}/review`, {method: "POST", body});
    ui.pending = {};
    const stays = ui.filter === "all" || ui.filter === state;
    if (stays) { ui.items[ui.index] = saved; ui.index = Math.min(ui.index + 1, ui.items.length - 1); }
    await loadPage();
    say(`${saved.class_name} ${saved.id.slice(0, 8)}: ${reviewText(saved.review)}`);
    if (ui.markers) await loadMap();
  } catch (error) {
    say(`Not saved: ${error.message}`);
  }
}

async function loadMap() {
  const data = await api(`/ui/api/map?state=${ui.filter}${narrowQuery()}`);
  if (!ui.map) {
    ui.map = L.map("leaflet", {zoomSnap: 0.25});
    ui.map.attributionControl.setPrefix("Leaflet");
    ui.map.setView([0, 0], 2);
    L.control.scale({imperial: false}).addTo(ui.map);
    const tiles = ui.session.tiles;
    if (tiles) L.tileLayer(tiles.url, {maxZoom: tiles.max_zoom, attribution: tiles.attribution}).addTo(ui.map);
    const legend = L.control({position: "topright"});
    legend.onAdd = () => el("div", {class: "legend"}, ...[["new", "unreviewed"], ["high", "confirmed, high"],
      ["medium", "confirmed, medium"], ["low", "confirmed, low"], ["confirmed", "confirmed"],
      ["rejected", "rejected"]].map(([k, text]) => el("div", {},
      el("span", {class: "dot", style: `background:${COLOURS[k]}`}), text)));
    legend.addTo(ui.map);
  }
  if (ui.markers) ui.markers.remove();
  ui.markers = L.layerGroup().addTo(ui.map);
  const bounds = [];
  if (data.route) {
    const route = L.geoJSON(data.route, {style: {color: "#2c3e50", weight: 3}}).addTo(ui.markers);
    if (route.getBounds().isValid()) bounds.push(route.getBounds());
  }
  if (data.track) {
    const track = L.geoJSON(data.track, {style: {color: "#16a085", weight: 2, dashArray: "4 4"}}).addTo(ui.markers);
    bounds.push(track.getBounds());
  }
  for (const m of data.markers) {
    const marker = L.circleMarker([m.lat, m.lon], {radius: 7, color: "#222", weight: 1, fillColor: colour(m),
      fillOpacity: 0.9}).addTo(ui.markers);
    marker.bindTooltip(`${m.class_name}: ${m.state}${m.severity ? ", " + m.severity : ""}`);
    marker.on("click", () => openReport(m.key));
    bounds.push(L.latLngBounds([[m.lat, m.lon], [m.lat, m.lon]]));
  }
  // Not animated: once data-markers is set, every marker is where it will stay (a click during a zoom animation
  // lands where the marker was, and a test or a quick user misses it).
  if (bounds.length) {
    ui.map.fitBounds(bounds.reduce((a, b) => a.extend(b)), {padding: [30, 30], maxZoom: 18, animate: false});
  }
  $("leaflet").dataset.markers = String(data.markers.length);
  const placed = data.markers.length;
  const shown = ui.session.counts[ui.filter];
  $("unplaced").textContent = `${placed} of the ${shown} ${FILTER_NAMES[ui.filter]} reports shown have a position ` +
    "and are on the map.";
}

async function openReport(key) {
  const item = await api(`/ui/api/reports/${encodeURIComponent(key)}`);
  showView("review");
  const i = ui.items.findIndex((x) => x.key === key);
  if (i >= 0) { select(i); return; }
  ui.items = [item, ...ui.items]; select(0);
}

function views() {
  return [...document.querySelectorAll("#views button")].filter((b) => !b.hidden).map((b) => b.dataset.view);
}

function showView(name) {
  for (const b of document.querySelectorAll("#views button")) b.classList.toggle("active", b.dataset.view === name);
  for (const v of document.querySelectorAll(".view")) v.classList.toggle("active", v.id === name);
  if (name === "map") { loadMap().then(() => ui.map.invalidateSize()).catch((e) => say(e.message)); }
  watchLive(name === "live");
}

function watchLive(on) {
  const img = $("live-image");
  if (!on) {
    img.removeAttribute("src");
    if (ui.events) { ui.events.close(); ui.events = null; }
    return;
  }
  img.src = `/ui/live.mjpeg?t=${Date.now()}`;
  ui.events = new EventSource("/ui/api/live/events");
  ui.events.onmessage = (event) => renderLive(JSON.parse(event.data));
  ui.events.onerror = () => say("live view: the connection dropped; retrying");
}

function renderLive(s) {
  const number = (v, digits = 1, unit = "") => (v === null || v === undefined ? "-" : v.toFixed(digits) + unit);
  const v = s.vehicle || {}, c = s.control || {}, cam = s.camera || {}, d = s.detections || {};
  const rows = [
    ["run", s.run_state || "-"], ["frame", String(s.frame_id)],
    ["camera", cam.state ? `${cam.state}${cam.detail ? ": " + cam.detail : ""}` : "-"],
    ["detections", d.frame_id !== undefined ? `${d.boxes} boxes, ${d.defects} defects (${d.infer_ms} ms)` : "-"],
    ["vehicle", v.link ? `${v.uri}: ${v.link}${v.detail ? " (" + v.detail + ")" : ""}` : "-"],
    ["state", v.state || "-"], ["speed", number(v.speed_mps, 2, " m/s")],
    ["position", v.lat !== null && v.lat !== undefined ? `${v.lat.toFixed(6)}, ${v.lon.toFixed(6)}` :
      number(v.position_m, 1, " m along the line")],
    ["control", c.mode ? `${c.mode}, ${number(c.desired_speed_mps, 2, " m/s")}: ${c.reason}` : "-"],
    ["gate", c.gate && c.gate.length ? c.gate.join(", ") : "clear"],
    ["storage", s.storage ? `${s.storage.state}${s.storage.detail ? ": " + s.storage.detail : ""}` : "-"],
  ];
  const processes = el("table", {class: "processes"}, el("tr", {}, el("th", {}, "process"), el("th", {}, "state"),
    el("th", {}, "restarts")), ...s.processes.map((p) => el("tr", {class: p.alive ? "" : "down"},
    el("td", {}, p.name), el("td", {}, p.alive ? (p.ready ? "running" : "starting") : p.detail),
    el("td", {}, String(p.restarts)))));
  $("live-state").replaceChildren(
    el("dl", {class: "fields"}, ...rows.flatMap(([k, val]) => [el("dt", {}, k), el("dd", {}, val)])), processes);
  $("live-state").dataset.frame = String(s.frame_id);
  $("live-state").dataset.boxes = String(d.boxes || 0);
}

function onKey(event) {
  const typing = ["TEXTAREA", "INPUT", "SELECT"].includes(document.activeElement.tagName);
  if (typing) {
    if (event.key === "Escape") document.activeElement.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const reviewing = $("review").classList.contains("active");
  const go = {
    j: () => ui.index < ui.items.length - 1 && select(ui.index + 1),
    ArrowDown: () => ui.index < ui.items.length - 1 && select(ui.index + 1),
    k: () => ui.index > 0 && select(ui.index - 1),
    ArrowUp: () => ui.index > 0 && select(ui.index - 1),
    c: () => save("confirmed"),
    x: () => save("rejected"),
    h: () => setSeverity("high"), m: () => setSeverity("medium"), l: () => setSeverity("low"),
    0: () => setSeverity(null),
    t: () => $("class") && $("class").focus(),
    n: () => $("note") && $("note").focus(),
    f: () => setFilter(ui.session.filters[(ui.session.filters.indexOf(ui.filter) + 1) % ui.session.filters.length]),
    "]": () => ui.offset + PAGE < ui.total && (ui.offset += PAGE, ui.index = 0, loadPage()),
    "[": () => ui.offset > 0 && (ui.offset = Math.max(0, ui.offset - PAGE), ui.index = 0, loadPage()),
    g: () => showView(views()[(views().indexOf(document.querySelector(".view.active").id) + 1) % views().length]),
    "?": () => { $("help").hidden = !$("help").hidden; },
  };
  const action = go[event.key];
  if (!action || (!reviewing && !["g", "?", "f"].includes(event.key))) return;
  event.preventDefault();
  action();
}

function setSeverity(value) {
  ui.pending.severity = value;
  if ($("severity")) $("severity").value = value || "";
}

async function start() {
  ui.session = await api("/ui/api/session");
  $("title").textContent = ui.session.title;
  document.querySelector("#views button[data-view=live]").hidden = !ui.session.live;
  renderNarrow();
  document.title = `GridScout: ${ui.session.title}`;
  for (const b of document.querySelectorAll("#views button")) b.onclick = () => showView(b.dataset.view);
  $("keys").onclick = () => { $("help").hidden = !$("help").hidden; };
  $("logout").onclick = async () => { await api("/ui/logout", {method: "POST", body: {}}); window.location.reload(); };
  document.addEventListener("keydown", onKey);
  await loadPage();
}

start().catch((error) => say(`The page could not start: ${error.message}`));
