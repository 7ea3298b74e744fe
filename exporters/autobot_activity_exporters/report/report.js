"use strict";
// The session report: a time axis with a lane per activity type (idle gaps collapsed),
// a virtual list with search and filters, a detail panel and #activity=<id> deep links.
// Every stored text is put into the page as text (textContent), never as markup, with its
// controls and invisible characters written as escapes (showable()).
(function () {
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const TYPES = ["terminal", "file", "browser", "desktop"];
  const COLORS = { terminal: "#2f6fdb", file: "#2e9a5b", browser: "#c0732a", desktop: "#8b4fc4" };
  const LANE_H = 30, AXIS_H = 24, GAP_PX = 26, PAD_PX = 16, ROW_H = 30, MIN_SEGMENT_PX = 60;
  const MARKER = new RegExp(DATA.marker, "g");
  const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
  const FORMAT = /\p{Cf}/gu;
  const $ = (id) => document.getElementById(id);

  // --- the data, indexed -------------------------------------------------------------
  const acts = DATA.activities.slice().sort((a, b) => a.t - b.t || (a.id < b.id ? -1 : 1));
  const byId = new Map();
  const usesByActivity = new Map();
  for (const use of DATA.secrets) {
    if (!usesByActivity.has(use.activity)) usesByActivity.set(use.activity, []);
    usesByActivity.get(use.activity).push(use);
  }
  const traceMembers = new Map();
  acts.forEach((a, i) => {
    a.i = i;
    byId.set(a.id, a);
    a.uses = usesByActivity.get(a.id) || [];
    a.usedSecret = a.uses.length > 0 || a.secrets_used.length > 0;
    a.search = searchable(DATA.searched[a.type].map((c) => a.fields[c]).filter(Boolean).join("\n"));
    a.end = a.t + (a.d || 0);
    if (a.trace) {
      if (!traceMembers.has(a.trace)) traceMembers.set(a.trace, []);
      traceMembers.get(a.trace).push(a);
    }
  });
  const grouped = new Set([...traceMembers].filter(([, m]) => m.length > 1).map(([trace]) => trace));
  const counts = Object.fromEntries(TYPES.map((t) => [t, 0]));
  for (const a of acts) counts[a.type] += 1;

  // --- stored text, shown as it is ---------------------------------------------------------
  // Controls, format characters (bidi overrides, zero-width) and line separators become
  // escapes (\x1b, \u202e, \n), so stored text cannot reorder what surrounds it, hide part
  // of itself, or pass two lines for one in a one-line row; the detail (multiline) keeps
  // its line breaks. The search looks past format characters, so "cu\u200brl" is found by
  // "curl".
  function showable(text, multiline) {
    return String(text).replace(INVISIBLE, (c) => {
      if (c === "\t" || (multiline && c === "\n")) return c;
      if (c === "\n") return "\\n";
      if (c === "\r") return "\\r";
      const code = c.codePointAt(0);
      return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
    });
  }
  function searchable(text) {
    return text.replace(FORMAT, "").toLowerCase();
  }

  // --- text with redaction badges -----------------------------------------------------
  function withBadges(parent, text, multiline) {
    const value = text == null ? "" : showable(text, multiline);
    MARKER.lastIndex = 0;
    let last = 0, match;
    while ((match = MARKER.exec(value)) !== null) {
      if (match.index > last) parent.append(value.slice(last, match.index));
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = match[0].replace(/^\[|\]$/g, "");
      badge.title = "redacted: the value was never stored";
      parent.append(badge);
      last = match.index + match[0].length;
      if (match[0].length === 0) MARKER.lastIndex += 1;
    }
    if (last < value.length) parent.append(value.slice(last));
    return parent;
  }
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = showable(text, false);
    return node;
  }
  const pad = (n, w) => String(n).padStart(w, "0");
  function clock(ms, withMs) {
    const d = new Date(ms);
    const s = `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
    return withMs ? `${s}.${pad(d.getUTCMilliseconds(), 3)}` : s;
  }
  function span(ms) {
    const s = Math.round(ms / 1000);
    if (s < 90) return `${s} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  }

  // --- the time axis: segments of activity, idle gaps collapsed ------------------------
  const segments = [];
  const gaps = [];
  for (const a of acts) {
    const current = segments[segments.length - 1];
    if (!current || a.t - current.end > DATA.idle_gap_ms) {
      if (current) gaps.push({ from: current.end, to: a.t });
      segments.push({ start: a.t, end: a.end });
    } else current.end = Math.max(current.end, a.end);
  }
  const activeMs = segments.reduce((sum, s) => sum + Math.max(s.end - s.start, 1), 0);
  let pxPerMs = 1;
  let totalWidth = 0;
  const xs = new Float64Array(acts.length);
  const scroller = $("axis-scroll"), spacer = $("axis-spacer"), canvas = $("axis-canvas");
  const ctx = canvas.getContext("2d");
  const laneIndex = Object.fromEntries(TYPES.map((t, i) => [t, i]));
  const laneMembers = Object.fromEntries(TYPES.map((t) => [t, []]));
  for (const a of acts) laneMembers[a.type].push(a);

  function layout() {
    let x = PAD_PX;
    segments.forEach((s, i) => {
      if (i > 0) x += GAP_PX;
      // a short burst keeps a readable width: its own scale, never below the axis's
      s.scale = Math.max(pxPerMs, MIN_SEGMENT_PX / Math.max(s.end - s.start, 1));
      s.x0 = x;
      x += Math.max((s.end - s.start) * s.scale, 4);
      s.x1 = x;
    });
    totalWidth = x + PAD_PX;
    for (const a of acts) xs[a.i] = timeX(a.t);
    spacer.style.width = `${Math.max(totalWidth, scroller.clientWidth)}px`;
    spacer.style.height = `${AXIS_H + LANE_H * TYPES.length}px`;
    placeMarkers();
  }
  function segmentAt(t) {
    let lo = 0, hi = segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (segments[mid].start <= t) lo = mid; else hi = mid - 1;
    }
    return segments[lo];
  }
  function timeX(t) {
    const s = segmentAt(t);
    return s.x0 + Math.max(0, t - s.start) * s.scale;
  }
  function xTime(x) {
    let s = segments[0];
    for (const candidate of segments) if (candidate.x0 <= x) s = candidate;
    return s.start + Math.max(0, Math.min(x, s.x1) - s.x0) / s.scale;
  }
  function fit() {
    const room = Math.max(scroller.clientWidth - 2 * PAD_PX - GAP_PX * gaps.length, 50);
    pxPerMs = room / Math.max(activeMs, 1);
    for (let pass = 0; pass < 3; pass++) {  // short bursts take MIN_SEGMENT_PX; the rest share
      const short = segments.filter((s) => (s.end - s.start) * pxPerMs < MIN_SEGMENT_PX);
      const longMs = activeMs - short.reduce((sum, s) => sum + Math.max(s.end - s.start, 1), 0);
      pxPerMs = Math.max(room - short.length * MIN_SEGMENT_PX, 50) / Math.max(longMs, 1);
    }
    layout();
    scroller.scrollLeft = 0;
    draw();
  }
  function zoom(factor, anchorX) {
    const viewX = anchorX == null ? scroller.clientWidth / 2 : anchorX;
    const t = xTime(scroller.scrollLeft + viewX);
    pxPerMs = Math.min(Math.max(pxPerMs * factor, 1e-9), 50);
    layout();
    scroller.scrollLeft = timeX(t) - viewX;
    draw();
  }

  const markerNodes = [];
  const gapNodes = [];
  function buildMarkers() {
    for (const gap of gaps) {
      const node = el("div", "gap-marker");
      node.title = `idle ${span(gap.to - gap.from)} (${clock(gap.from)} to ${clock(gap.to)} UTC), collapsed`;
      node.append(el("span", null, `idle ${span(gap.to - gap.from)}`));
      node.style.height = `${AXIS_H + LANE_H * TYPES.length}px`;
      spacer.append(node);
      gapNodes.push(node);
    }
    for (const use of DATA.secrets) {
      const activity = byId.get(use.activity);
      if (!activity) continue;
      const node = el("button", use.granted ? "secret-marker" : "secret-marker denied");
      node.type = "button";
      node.dataset.secretUse = use.id;
      node.dataset.activity = use.activity;
      const secret = use.secret_id ? `secret ${use.secret_id}` : "an unregistered secret";
      node.title = showable(`${secret} · rule ${use.rule || "declared"}${use.in ? ` · in ${use.in}` : ""}` +
        (use.granted ? "" : ` · DENIED${use.denial ? `: ${use.denial}` : ""}`), false);
      node.setAttribute("aria-label", node.title);
      node.addEventListener("click", () => select(activity.id, true));
      spacer.append(node);
      markerNodes.push({ node, activity, use });
    }
  }
  function placeMarkers() {
    gaps.forEach((gap, i) => {
      const before = segments[i], after = segments[i + 1];
      gapNodes[i].style.left = `${(before.x1 + after.x0) / 2}px`;
    });
    const stack = new Map();
    for (const m of markerNodes) {
      const key = `${m.activity.id}`;
      const n = stack.get(key) || 0;
      stack.set(key, n + 1);
      m.node.style.left = `${xs[m.activity.i] + n * 5}px`;
      m.node.style.top = `${AXIS_H + laneIndex[m.activity.type] * LANE_H + 2}px`;
    }
  }

  function tickStep(scale) {
    const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4,
      12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 144e5];
    for (const step of steps) if (step * scale >= 90) return step;
    return steps[steps.length - 1];
  }
  function draw() {
    const ratio = window.devicePixelRatio || 1;
    const width = scroller.clientWidth, height = AXIS_H + LANE_H * TYPES.length;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const left = scroller.scrollLeft, right = left + width;
    TYPES.forEach((_, i) => {
      ctx.fillStyle = i % 2 ? "#fbfbfc" : "#ffffff";
      ctx.fillRect(0, AXIS_H + i * LANE_H, width, LANE_H);
    });
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#66707c";
    ctx.strokeStyle = "#e3e6ea";
    for (const s of segments) {
      if (s.x1 < left || s.x0 > right) continue;
      const step = tickStep(s.scale);
      let t = Math.ceil(s.start / step) * step;
      for (; t <= s.end; t += step) {
        const x = timeX(t) - left;
        if (x < -60 || x > width + 60) continue;
        ctx.fillText(clock(t, step < 1000), x + 2, 14);
        ctx.beginPath();
        ctx.moveTo(x + 0.5, 18);
        ctx.lineTo(x + 0.5, height);
        ctx.stroke();
      }
    }
    for (const type of TYPES) {
      const members = laneMembers[type];
      const y = AXIS_H + laneIndex[type] * LANE_H + 7;
      let lo = 0, hi = members.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (xs[members[mid].i] < left - 200) lo = mid + 1; else hi = mid;
      }
      for (let k = lo; k < members.length; k++) {
        const a = members[k];
        const x = xs[a.i] - left;
        if (x > width) break;
        const w = Math.max((a.d || 0) * segmentAt(a.t).scale, 3);
        ctx.globalAlpha = visible[a.i] ? 1 : 0.15;
        ctx.fillStyle = a.failed ? "#d23c3c" : COLORS[type];
        ctx.fillRect(x, y, w, LANE_H - 14);
        if (a.i === selectedIndex) {
          ctx.globalAlpha = 1;
          ctx.strokeStyle = "#111";
          ctx.lineWidth = 2;
          ctx.strokeRect(x - 2, y - 3, w + 4, LANE_H - 8);
          ctx.lineWidth = 1;
          ctx.strokeStyle = "#e3e6ea";
        }
      }
      ctx.globalAlpha = 1;
    }
  }
  function laneHit(event) {
    const rect = canvas.getBoundingClientRect();
    const y = event.clientY - rect.top - AXIS_H;
    const type = TYPES[Math.floor(y / LANE_H)];
    if (!type) return null;
    const x = event.clientX - rect.left + scroller.scrollLeft;
    let best = null, distance = 6;
    for (const a of laneMembers[type]) {
      const from = xs[a.i], to = from + Math.max((a.d || 0) * segmentAt(a.t).scale, 3);
      const d = x < from ? from - x : x > to ? x - to : 0;
      if (d < distance || (d === distance && best && visible[a.i] && !visible[best.i])) {
        best = a;
        distance = d;
      }
    }
    return best;
  }

  // --- filters and the list -------------------------------------------------------------
  const visible = new Uint8Array(acts.length).fill(1);
  const collapsed = new Set();
  let entries = [];
  let selectedIndex = -1;
  const state = { query: "", types: new Set(TYPES), failed: false, secret: false, group: grouped.size > 0 };
  const list = $("list"), listSpacer = $("list-spacer");

  function buildFilters() {
    const box = $("type-filters");
    for (const type of TYPES) {
      const label = el("label");
      const input = el("input");
      input.type = "checkbox";
      input.checked = true;
      input.dataset.type = type;
      input.addEventListener("change", () => {
        if (input.checked) state.types.add(type); else state.types.delete(type);
        refresh();
      });
      label.append(input, ` ${type} `, el("span", "n", counts[type].toLocaleString("en")));
      box.append(label);
    }
    $("search").addEventListener("input", (event) => {
      state.query = searchable(event.target.value.trim());
      scheduleRefresh();
    });
    $("only-failed").addEventListener("change", (e) => { state.failed = e.target.checked; refresh(); });
    $("only-secret").addEventListener("change", (e) => { state.secret = e.target.checked; refresh(); });
    const group = $("group-trace");
    group.checked = state.group;
    group.disabled = grouped.size === 0;
    $("group-label").title = grouped.size
      ? `${grouped.size} traces hold more than one activity`
      : "every activity is its own trace in this session";
    group.addEventListener("change", (e) => { state.group = e.target.checked; refresh(); });
  }

  let pending = 0;
  function scheduleRefresh() {
    if (!pending) pending = requestAnimationFrame(() => { pending = 0; refresh(); });
  }
  function refresh() {
    performance.mark("report-filter-start");
    let shown = 0;
    for (const a of acts) {
      const ok = state.types.has(a.type) && (!state.failed || a.failed) &&
        (!state.secret || a.usedSecret) && (!state.query || a.search.includes(state.query));
      visible[a.i] = ok ? 1 : 0;
      shown += ok;
    }
    entries = [];
    const placed = new Set();
    for (const a of acts) {
      if (!visible[a.i]) continue;
      if (state.group && a.trace && grouped.has(a.trace)) {
        if (placed.has(a.trace)) continue;
        placed.add(a.trace);
        const members = traceMembers.get(a.trace).filter((m) => visible[m.i]);
        entries.push({ group: a.trace, size: members.length });
        if (!collapsed.has(a.trace)) for (const m of members) entries.push({ activity: m, member: true });
      } else entries.push({ activity: a });
    }
    $("shown-count").textContent = `${shown.toLocaleString("en")} of ${acts.length.toLocaleString("en")} activities shown`;
    for (const m of markerNodes) m.node.classList.toggle("dim", !visible[m.activity.i]);
    listSpacer.style.height = `${entries.length * ROW_H}px`;
    renderRows(true);
    draw();
    performance.measure("report-filter", "report-filter-start");
    document.body.dataset.shown = String(shown);
  }

  const rowPool = [];
  let renderedFrom = -1, renderedTo = -1;
  function renderRows(force) {
    const from = Math.max(0, Math.floor(list.scrollTop / ROW_H) - 5);
    const to = Math.min(entries.length, from + Math.ceil(list.clientHeight / ROW_H) + 10);
    if (!force && from === renderedFrom && to === renderedTo) return;
    renderedFrom = from;
    renderedTo = to;
    while (rowPool.length < to - from) {
      const node = el("div", "row");
      node.setAttribute("role", "option");
      node.addEventListener("click", () => {
        if (node.dataset.group) {
          const trace = node.dataset.group;
          if (collapsed.has(trace)) collapsed.delete(trace); else collapsed.add(trace);
          refresh();
        } else select(node.dataset.id, false);
      });
      listSpacer.append(node);
      rowPool.push(node);
    }
    rowPool.forEach((node, k) => {
      const entry = entries[from + k];
      if (!entry) { node.hidden = true; return; }
      node.hidden = false;
      node.style.top = `${(from + k) * ROW_H}px`;
      node.replaceChildren();
      if (entry.group) {
        node.className = "row group";
        node.dataset.group = entry.group;
        delete node.dataset.id;
        node.textContent = showable(`${collapsed.has(entry.group) ? "▸" : "▾"} trace ${entry.group.slice(0, 12)}… · ${entry.size} activities`, false);
        return;
      }
      const a = entry.activity;
      delete node.dataset.group;
      node.dataset.id = a.id;
      node.dataset.type = a.type;
      node.className = `row${entry.member ? " member" : ""}${a.failed ? " failed" : ""}${a.i === selectedIndex ? " selected" : ""}`;
      node.setAttribute("aria-selected", String(a.i === selectedIndex));
      node.append(el("span", "time", clock(a.t, true)), el("span", `type ${a.type}`, a.type));
      node.append(withBadges(el("span", "what"), a.summary.replace(/^[a-z]+:? /, "")));
      if (a.usedSecret) node.append(el("span", "flag secret", `secret ×${Math.max(a.uses.length, a.secrets_used.length)}`));
      if (a.failed) node.append(el("span", "flag failed", "failed"));
      if (a.status && a.status.delivery === DATA.waiting) node.append(el("span", "flag waiting", "waiting"));
    });
  }

  // --- the detail panel and deep links ----------------------------------------------------
  function select(id, fromTimeline) {
    const a = byId.get(id);
    if (!a) return;
    selectedIndex = a.i;
    if (location.hash !== `#activity=${id}`) history.replaceState(null, "", `#activity=${id}`);
    showDetail(a);
    const at = entries.findIndex((e) => e.activity === a);
    if (at >= 0 && (fromTimeline || at * ROW_H < list.scrollTop || (at + 1) * ROW_H > list.scrollTop + list.clientHeight)) {
      list.scrollTop = Math.max(0, at * ROW_H - list.clientHeight / 2);
    }
    const x = xs[a.i];
    if (x < scroller.scrollLeft || x > scroller.scrollLeft + scroller.clientWidth) {
      scroller.scrollLeft = x - scroller.clientWidth / 2;
    }
    renderRows(true);
    draw();
  }
  function field(table, name, value, badges) {
    const row = el("tr");
    row.append(el("th", null, name));
    const cell = el("td");
    if (badges) withBadges(cell, value == null ? "—" : value, true); else cell.textContent = value == null ? "—" : showable(value, true);
    row.append(cell);
    table.append(row);
  }
  function showDetail(a) {
    const panel = $("detail");
    panel.replaceChildren();
    const title = el("h2");
    title.append(el("span", `type ${a.type}`, a.type), el("span", null, a.action || ""));
    const link = el("a", null, "link");
    link.href = `#activity=${a.id}`;
    link.title = "a link to this activity in this report";
    title.append(link);
    panel.append(title, withBadges(el("p", "mono"), a.summary));
    const table = el("table");
    table.id = "detail-fields";
    field(table, "id", a.id);
    field(table, "time (UTC)", a.time);
    field(table, "duration", a.d == null ? null : `${a.d.toFixed(1)} ms`);
    field(table, "user", a.user);
    field(table, "org", a.org);
    field(table, "team", a.team);
    field(table, "session", DATA.session);
    for (const [name, value] of Object.entries(a.fields)) {
      field(table, name, value == null || typeof value !== "object" ? value : JSON.stringify(value), true);
    }
    field(table, "secrets used", a.secrets_used.join(", ") || null);
    field(table, "trace id", a.trace);
    field(table, "span id", a.span);
    field(table, "delivery", a.status && a.status.delivery);
    field(table, "chain", a.status && a.status.chain);
    panel.append(table);
    if (a.uses.length) {
      panel.append(el("h3", null, `Secret uses (${a.uses.length})`));
      const uses = el("table");
      uses.id = "detail-secrets";
      for (const use of a.uses) {
        const text = [`rule ${use.rule || "declared"}`, use.in && `in ${use.in}`,
          use.granted ? "granted" : `DENIED${use.denial ? `: ${use.denial}` : ""}`,
          use.fingerprint && `fingerprint ${use.fingerprint.slice(0, 16)}`,
          use.detected_by && `found by the ${use.detected_by}`].filter(Boolean).join(" · ");
        field(uses, use.secret_id || "unregistered", text, false);
      }
      panel.append(uses);
    }
    panel.append(el("h3", null, "metadata"));
    panel.append(withBadges(el("pre"), JSON.stringify(a.metadata, null, 2), true));
    panel.dataset.activity = a.id;
  }
  function followHash() {
    const match = /^#activity=([0-9a-fA-F-]{36})$/.exec(location.hash);
    if (match && byId.has(match[1].toLowerCase())) select(match[1].toLowerCase(), true);
  }

  // --- start ---------------------------------------------------------------------------
  function start() {
    const labels = $("lane-labels");
    for (const type of TYPES) {
      const lane = el("div", "lane");
      lane.dataset.type = type;
      const swatch = el("span", "swatch");
      swatch.style.background = COLORS[type];
      lane.append(swatch, el("span", null, type), el("span", "count", String(counts[type])));
      labels.append(lane);
    }
    if (acts.length) {
      $("range").textContent = `${acts[0].time.slice(0, 10)} ${clock(acts[0].t)} to ${clock(acts[acts.length - 1].end)} UTC`;
    }
    $("idle-hint").textContent = gaps.length
      ? `${gaps.length} idle gap${gaps.length > 1 ? "s" : ""} over ${span(DATA.idle_gap_ms)} collapsed`
      : "";
    buildFilters();
    if (segments.length) {
      buildMarkers();
      fit();
    }
    refresh();
    scroller.addEventListener("scroll", () => requestAnimationFrame(draw), { passive: true });
    scroller.addEventListener("wheel", (event) => {
      if (!event.ctrlKey && !event.metaKey) return;
      event.preventDefault();
      zoom(event.deltaY < 0 ? 1.25 : 0.8, event.clientX - scroller.getBoundingClientRect().left);
    }, { passive: false });
    canvas.addEventListener("click", (event) => {
      const hit = laneHit(event);
      if (hit) select(hit.id, true);
    });
    $("zoom-in").addEventListener("click", () => zoom(2));
    $("zoom-out").addEventListener("click", () => zoom(0.5));
    $("zoom-fit").addEventListener("click", fit);
    list.addEventListener("scroll", () => renderRows(false), { passive: true });
    list.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
      event.preventDefault();
      const at = entries.findIndex((e) => e.activity && e.activity.i === selectedIndex);
      const step = event.key === "ArrowDown" ? 1 : -1;
      for (let k = at + step; k >= 0 && k < entries.length; k += step) {
        if (entries[k].activity) { select(entries[k].activity.id, false); break; }
      }
    });
    window.addEventListener("resize", () => { if (segments.length) layout(); renderRows(true); draw(); });
    window.addEventListener("hashchange", followHash);
    followHash();
    performance.mark("report-ready");
    document.body.dataset.ready = "true";
  }
  start();
})();
