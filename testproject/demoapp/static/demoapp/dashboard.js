// The demo's live cache dashboard: polls /dashboard.json every second and draws each
// alias's hit rate, calls/s, latency quantiles and errors on small canvas charts.
// No library: the snapshots are cumulative counters, so two consecutive ones give the
// rates and, from the latency histogram's bucket differences, the windowed p50/p99
// (the same interpolation as Prometheus' histogram_quantile and snapshot.quantile).
(() => {
  "use strict";
  const POLL_MS = 1000;
  // Seconds shown: demoapp/dashboard.py's WINDOW, or ?window=N (10-600) for a closer look.
  const asked = Number(new URLSearchParams(location.search).get("window"));
  const WINDOW = asked >= 10 && asked <= 600 ? asked : Number(document.body.dataset.window) || 120;
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  const C = {
    hit: color("--hit"), calls: color("--calls"), p50: color("--p50"), p99: color("--p99"),
    err: color("--err"), fb: color("--fb"), line: color("--line"), muted: color("--muted"),
  };
  const state = {}; // alias -> {prev, pts: [{t, hit, cps, p50, p99, err, fb, open}], els}
  let events = [];
  let polls = 0;

  // -- numbers ---------------------------------------------------------------------------
  function quantile(q, bounds, buckets) {
    const total = buckets.reduce((a, b) => a + b, 0);
    if (!total) return null;
    const rank = q * total;
    let seen = 0;
    for (let i = 0; i < buckets.length; i++) {
      const count = buckets[i];
      if (count && seen + count >= rank) {
        if (i >= bounds.length) return bounds[bounds.length - 1];
        const lower = i ? bounds[i - 1] : 0;
        return lower + (bounds[i] - lower) * (rank - seen) / count;
      }
      seen += count;
    }
    return bounds[bounds.length - 1];
  }
  const int = (n) => Math.round(n).toLocaleString("en-US");
  function seconds(s) {
    if (s === null || s === undefined) return "–";
    if (s < 0.001) return `${(s * 1e6).toFixed(s < 1e-5 ? 1 : 0)} µs`;
    if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : s < 0.1 ? 1 : 0)} ms`;
    return `${s.toFixed(2)} s`;
  }
  const pct = (r) => (r === null || r === undefined ? "–" : `${(r * 100).toFixed(1)}%`);
  function rate(n) {
    if (n === null || n === undefined) return "–";
    return n >= 100 ? int(n) : n.toFixed(1);
  }
  const axis = (v) => (v >= 1000 ? `${+(v / 1000).toFixed(1)}k` : `${+v.toFixed(v < 10 ? 1 : 0)}`);
  const clock = (t) => new Date(t * 1000).toLocaleTimeString("en-GB", { hour12: false });

  // -- DOM -------------------------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  }
  const shortBackend = (path) => path.replace(/^django_altcache\.backends\./, "").replace(/^django\.core\.cache\.backends\./, "django: ");

  function card(alias, backendPath) {
    const kpi = (cls, label, key) => el("div", { class: `kpi ${cls}` }, el("label", {}, label), el("b", { "data-kpi": key }, "–"));
    const chart = (key, caption) => el("figure", {}, caption, el("canvas", { "data-chart": key }));
    const legend = (...items) => el("figcaption", {}, ...items.map(([text, c]) => {
      const i = el("i", {}, text); i.style.color = c; return i;
    }));
    const totals = el("table", { class: "totals" },
      el("tr", {}, ...["", "calls", "hits", "misses", "hit rate", "errors", "fail-soft"].map((h) => el("th", {}, h))),
      el("tr", {}, el("td", { class: "muted" }, "since start"),
        ...["calls", "hits", "misses", "hit_rate", "errors", "fallbacks"].map((k) => el("td", { "data-total": k }, "–"))));
    const section = el("section", { class: "card", "data-alias": alias },
      el("header", {}, el("h2", {}, alias), el("span", { class: "backend" }, shortBackend(backendPath)),
        el("span", { class: "pill none", "data-breaker": "" }, "no breaker")),
      el("div", { class: "kpis" }, kpi("hit", "Hit rate", "hit_rate"), kpi("calls", "Calls/s", "calls"),
        kpi("p50", "p50", "p50"), kpi("p99", "p99", "p99"), kpi("err", "Errors/s", "errors")),
      el("div", { class: "charts" },
        chart("hit", legend(["hit rate %", C.hit])),
        chart("calls", legend(["calls/s", C.calls])),
        chart("latency", legend(["p50", C.p50], ["p99", C.p99])),
        chart("errors", legend(["errors/s", C.err], ["fail-soft/s", C.fb]))),
      totals);
    return section;
  }

  function offCard(alias, backendPath) {
    // A chip in the "not counted" row: a full card would only show empty charts.
    return el("span", { class: "chip", "data-alias": alias, "data-metrics": "off", title: backendPath },
      el("b", {}, alias), " ", shortBackend(backendPath));
  }

  // -- charts ----------------------------------------------------------------------------
  function drawChart(canvas, pts, t1, opts) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const L = 46, R = 6, T = 6, B = 16;
    const pw = w - L - R, ph = h - T - B, t0 = t1 - WINDOW;
    const x = (t) => L + (t - t0) / WINDOW * pw;

    // y range
    let lo = opts.min, hi = opts.max;
    const values = [];
    for (const p of pts) for (const s of opts.series) if (p[s.key] !== null && p[s.key] !== undefined) values.push(p[s.key]);
    if (opts.log) {
      const positive = values.filter((v) => v > 0);
      lo = Math.pow(10, Math.floor(Math.log10(positive.length ? Math.min(...positive) : 1e-4)));
      hi = Math.pow(10, Math.ceil(Math.log10(positive.length ? Math.max(...positive) : 1e-3)));
      if (hi <= lo) hi = lo * 10;
    } else if (hi === undefined) {
      hi = Math.max(1, ...values) * 1.15;
      const step = Math.pow(10, Math.floor(Math.log10(hi)));
      hi = Math.ceil(hi / step) * step;
    }
    const y = opts.log
      ? (v) => T + ph - (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * ph
      : (v) => T + ph - (v - lo) / (hi - lo) * ph;

    // breaker-open spans
    ctx.fillStyle = "rgba(255, 77, 109, 0.14)";
    for (let i = 0; i < pts.length; i++) {
      if (!pts[i].open) continue;
      const start = i ? pts[i - 1].t : pts[i].t - 1;
      ctx.fillRect(Math.max(L, x(start)), T, Math.max(1, x(pts[i].t) - Math.max(L, x(start))), ph);
    }
    // grid and y labels
    ctx.strokeStyle = C.line; ctx.fillStyle = C.muted; ctx.lineWidth = 1;
    ctx.font = "10.5px system-ui, sans-serif"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
    const ticks = [];
    if (opts.log) for (let v = lo; v <= hi * 1.0001; v *= 10) ticks.push(v);
    else for (let i = 0; i <= 4; i++) ticks.push(lo + (hi - lo) * i / 4);
    for (const v of ticks) {
      const yy = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(L, yy); ctx.lineTo(L + pw, yy); ctx.stroke();
      ctx.fillText(opts.fmt(v), L - 5, yy);
    }
    // x labels
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    const step = WINDOW / 4;
    for (let s = step; s <= WINDOW; s += step) ctx.fillText(s === WINDOW ? "now" : `-${Math.round(WINDOW - s)}s`, Math.min(L + pw - 10, x(t0 + s)), T + ph + 3);
    // events
    ctx.save();
    ctx.setLineDash([3, 3]);
    let shownEvents = 0;
    for (const e of events) {
      if (e.t < t0 || e.t > t1) continue;
      const row = shownEvents++ % 2;  // alternate heights so close events stay readable
      const xx = Math.round(x(e.t)) + 0.5;
      ctx.strokeStyle = e.kind === "outage" ? C.err : e.kind === "recovery" ? C.hit : C.muted;
      ctx.beginPath(); ctx.moveTo(xx, T); ctx.lineTo(xx, T + ph); ctx.stroke();
      if (opts.labels) {
        const label = e.short || e.text;
        const right = xx + 4 + ctx.measureText(label).width < L + pw;  // else left of the line
        ctx.fillStyle = ctx.strokeStyle; ctx.textAlign = right ? "left" : "right"; ctx.textBaseline = "top";
        ctx.fillText(label, right ? xx + 4 : xx - 4, T + 2 + row * 12);
      }
    }
    ctx.restore();
    // series
    ctx.save();
    ctx.beginPath(); ctx.rect(L, T, pw, ph); ctx.clip();
    let drawn = 0;
    for (const s of opts.series) {
      ctx.strokeStyle = s.color; ctx.lineWidth = 1.8; ctx.lineJoin = "round";
      ctx.setLineDash(s.dash || []);
      let path = [];
      const flush = () => {
        if (path.length === 0) return;
        ctx.beginPath(); path.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py))); ctx.stroke();
        if (s.fill && path.length > 1) {
          ctx.lineTo(path[path.length - 1][0], T + ph); ctx.lineTo(path[0][0], T + ph); ctx.closePath();
          ctx.globalAlpha = 0.14; ctx.fillStyle = s.color; ctx.fill(); ctx.globalAlpha = 1;
        }
        if (path.length === 1) { ctx.fillStyle = s.color; ctx.fillRect(path[0][0] - 1.5, path[0][1] - 1.5, 3, 3); }
        path = [];
      };
      for (const p of pts) {
        const v = p[s.key];
        if (v === null || v === undefined) { flush(); continue; } // a gap: nothing to show then
        path.push([x(p.t), y(v)]); drawn++;
      }
      flush();
    }
    ctx.restore();
    canvas.dataset.points = String(pts.length);
    canvas.dataset.drawn = String(drawn);
  }

  // -- polling ---------------------------------------------------------------------------
  function update(data) {
    const main = document.getElementById("cards");
    const off = document.getElementById("off");
    events = data.events.map((e) => ({ ...e, short: e.text.split(":")[0] }));
    for (const c of data.caches) {
      const m = c.metrics;
      let s = state[c.alias];
      if (!s || (m && !s.live) || (!m && s.live)) {
        const node = m ? card(c.alias, c.backend_path) : offCard(c.alias, c.backend_path);
        const old = document.querySelector(`[data-alias="${CSS.escape(c.alias)}"]`);
        if (old) old.remove();
        (m ? main : off).append(node);
        s = state[c.alias] = { prev: null, pts: [], live: !!m, node };
      }
      if (!m) continue;
      const open = Object.values(m.breakers).some((b) => b.state === "open");
      const prev = s.prev;
      if (prev && m.taken > prev.taken && m.calls >= prev.calls) {
        const dt = m.taken - prev.taken;
        const dh = m.hits - prev.hits, dm = m.misses - prev.misses;
        let p50 = null, p99 = null;
        if (m.latency_buckets && prev.latency_buckets) {
          const d = m.latency_buckets.map((v, i) => v - prev.latency_buckets[i]);
          p50 = quantile(0.5, m.bounds, d); p99 = quantile(0.99, m.bounds, d);
        }
        s.pts.push({
          t: m.taken, hit: dh + dm ? (dh / (dh + dm)) * 100 : null, cps: (m.calls - prev.calls) / dt,
          p50, p99, err: (m.errors - prev.errors) / dt, fb: (m.fallbacks - prev.fallbacks) / dt, open,
        });
        while (s.pts.length && s.pts[0].t < m.taken - WINDOW - 2) s.pts.shift();
      }
      s.prev = m;
      render(s, m, open, data.now);
    }
    off.parentElement.hidden = !off.children.length;
    renderEvents();
    polls++;
    document.body.dataset.polls = String(polls);
    document.body.dataset.taken = String(data.now);
    document.getElementById("dot").className = "dot live";
    document.getElementById("updated").textContent = `live · ${clock(data.now)}`;
  }

  function render(s, m, open, now) {
    const node = s.node;
    const last = s.pts.length ? s.pts[s.pts.length - 1] : null;
    const q = (sel) => node.querySelector(sel);
    q('[data-kpi="hit_rate"]').textContent = last && last.hit !== null ? `${last.hit.toFixed(1)}%` : pct(m.hit_rate);
    q('[data-kpi="calls"]').textContent = last ? rate(last.cps) : "–";
    q('[data-kpi="p50"]').textContent = seconds(last && last.p50 !== null ? last.p50 : m.p50);
    q('[data-kpi="p99"]').textContent = seconds(last && last.p99 !== null ? last.p99 : m.p99);
    q('[data-kpi="errors"]').textContent = last ? rate(last.err) : "–";
    const sides = Object.entries(m.breakers);
    const pill = q("[data-breaker]");
    pill.className = `pill ${sides.length ? (open ? "open" : "closed") : "none"}`;
    pill.textContent = sides.length ? (open ? "breaker open" : "breaker closed") : "no breaker";
    pill.dataset.breaker = sides.length ? (open ? "open" : "closed") : "none";
    node.classList.toggle("open", open);
    for (const key of ["calls", "hits", "misses", "errors", "fallbacks"]) q(`[data-total="${key}"]`).textContent = int(m[key]);
    q('[data-total="hit_rate"]').textContent = pct(m.hit_rate);
    node.dataset.taken = String(m.taken);
    const t1 = now;
    drawChart(q('[data-chart="hit"]'), s.pts, t1, { series: [{ key: "hit", color: C.hit, fill: true }], min: 0, max: 100, fmt: (v) => `${v}%`, labels: true });
    drawChart(q('[data-chart="calls"]'), s.pts, t1, { series: [{ key: "cps", color: C.calls, fill: true }], min: 0, fmt: axis });
    drawChart(q('[data-chart="latency"]'), s.pts, t1, { series: [{ key: "p50", color: C.p50 }, { key: "p99", color: C.p99 }], log: true, fmt: seconds });
    drawChart(q('[data-chart="errors"]'), s.pts, t1, { series: [{ key: "err", color: C.err, fill: true }, { key: "fb", color: C.fb, dash: [5, 3] }], min: 0, fmt: axis });
  }

  function renderEvents() {
    const list = document.getElementById("events");
    if (!events.length) return;
    list.replaceChildren(...events.slice(-12).reverse().map((e) =>
      el("li", { class: e.kind }, el("time", {}, clock(e.t)), e.text)));
  }

  function poll() {
    fetch("/dashboard.json", { cache: "no-store" })
      .then((r) => { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(update)
      .catch(() => {
        document.getElementById("dot").className = "dot down";
        document.getElementById("updated").textContent = "site unreachable, retrying…";
      })
      .finally(() => setTimeout(poll, POLL_MS));
  }
  window.addEventListener("resize", () => {
    for (const s of Object.values(state)) {
      if (!s.live || !s.prev) continue;
      render(s, s.prev, Object.values(s.prev.breakers).some((b) => b.state === "open"), s.prev.taken);
    }
  });
  poll();
})();
