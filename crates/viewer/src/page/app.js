// The ronin viewer page: runs table, overlaid scalar curves (uPlot), run details, live updates.
"use strict";

const state = { runs: [], selected: new Set(), sort: { key: "started", desc: true }, scalars: new Map(), detail: null, charts: [] };
const $ = (id) => document.getElementById(id);
const key = (r) => `${r.pipeline}/${r.id}`;
const fmt = (v, d = 4) => (typeof v === "number" && isFinite(v) ? v.toFixed(d) : "–");
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];

const COLUMNS = [
  ["", null], ["run", (r) => key(r)], ["status", (r) => r.status], ["started", (r) => r.started],
  ["duration", (r) => r.duration_seconds], ["epochs", (r) => r.epochs_completed],
  ["optimizer", (r) => r.hparams && r.hparams.optimizer], ["lr", (r) => r.hparams && r.hparams.lr],
  ["batch", (r) => r.hparams && r.hparams.batch_size],
  ["best", (r) => r.best && r.best.value], ["final val_acc", (r) => r.final_metrics.val_accuracy],
  ["test acc", (r) => r.test_metrics.test_accuracy],
  ["sweep", (r) => (r.tags && r.tags.sweep ? `${r.tags.sweep}#${String(r.tags.trial).padStart(4, "0")}` : undefined)],
];

/// A sweep trial's swept values (its `hp.*` tags), for the table and the filter.
const swept = (r) => Object.entries(r.tags || {}).filter(([k]) => k.startsWith("hp.")).map(([k, v]) => `${k.slice(3)}=${v}`).join(" ");

async function getJSON(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

async function loadRuns() {
  const data = await getJSON("/api/runs");
  state.runs = data.runs;
  $("runs-note").textContent = data.errors.length ? `skipped: ${data.errors.join("; ")}` : `${data.runs.length} runs`;
  if (state.selected.size === 0 && state.runs.length) {
    const newest = [...state.runs].sort((a, b) => (a.started < b.started ? 1 : -1))[0];
    state.selected.add(key(newest));
  }
  renderRuns();
}

function renderRuns() {
  const head = $("runs").tHead;
  head.innerHTML = "<tr>" + COLUMNS.map(([name], i) => `<th data-col="${i}">${name}${state.sort.key === name ? (state.sort.desc ? " ▾" : " ▴") : ""}</th>`).join("") + "</tr>";
  const q = $("filter").value.toLowerCase();
  const col = COLUMNS.find(([n]) => n === state.sort.key);
  const rows = state.runs
    .filter((r) => !q || `${key(r)} ${r.status} ${r.hparams ? r.hparams.optimizer : ""} ${(r.tags && r.tags.sweep) || ""} ${swept(r)}`.toLowerCase().includes(q))
    .sort((a, b) => {
      const va = col && col[1] ? col[1](a) : 0, vb = col && col[1] ? col[1](b) : 0;
      const c = va === vb ? 0 : va === undefined || va === null ? 1 : vb === undefined || vb === null ? -1 : va < vb ? -1 : 1;
      return state.sort.desc ? -c : c;
    });
  $("runs").tBodies[0].innerHTML = rows.map((r) => {
    const k = key(r), sel = state.selected.has(k);
    const dur = r.duration_seconds == null ? "–" : `${Math.round(r.duration_seconds)} s`;
    const best = r.best ? `${r.best.metric} ${fmt(r.best.value)} @${r.best.epoch}` : "–";
    return `<tr class="${sel ? "selected" : ""}" data-run="${esc(k)}">
      <td><input type="checkbox" ${sel ? "checked" : ""}></td><td><a href="#" class="open">${esc(k)}</a></td>
      <td class="status-${r.status.toLowerCase()}">${r.status}</td><td>${esc(r.started.slice(0, 19).replace("T", " "))}</td>
      <td class="num">${dur}</td><td class="num">${r.epochs_completed}</td>
      <td>${r.hparams ? esc(r.hparams.optimizer) : "–"}</td><td class="num">${r.hparams ? r.hparams.lr.toExponential(1) : "–"}</td>
      <td class="num">${r.hparams ? r.hparams.batch_size : "–"}</td><td>${best}</td>
      <td class="num">${fmt(r.final_metrics.val_accuracy)}</td><td class="num">${fmt(r.test_metrics.test_accuracy)}</td>
      <td title="${esc(swept(r))}">${r.tags && r.tags.sweep ? `${esc(r.tags.sweep)} #${esc(r.tags.trial)}: ${esc(swept(r))}` : ""}</td></tr>`;
  }).join("");
}

async function loadScalars(k) {
  const [p, id] = k.split("/");
  const data = await getJSON(`/api/scalars/${encodeURIComponent(p)}/${encodeURIComponent(id)}?points=2000`);
  state.scalars.set(k, data.series);
}

function smooth(values, w) {
  // TensorBoard's debiased exponential moving average.
  let last = 0, n = 0;
  return values.map((v) => {
    if (!isFinite(v)) return v;
    last = last * w + (1 - w) * v; n++;
    return last / (1 - Math.pow(w, n));
  });
}

function renderCharts() {
  state.charts.forEach((c) => c.destroy());
  state.charts = [];
  const box = $("charts");
  box.innerHTML = "";
  const runs = [...state.selected].filter((k) => state.scalars.has(k));
  const tags = [...new Set(runs.flatMap((k) => Object.keys(state.scalars.get(k))))].sort();
  const tf = $("tagfilter").value.toLowerCase();
  const w = Number($("smoothing").value), axis = $("xaxis").value, wall = axis === "wall", log = $("logscale").checked;
  // Batch-level and test tags are logged at optimizer steps, epoch-level ones at their epoch.
  const stepsPerEpoch = (k) => {
    const r = state.runs.find((x) => key(x) === k);
    return r && r.epochs_completed > 0 && r.final_metrics.step ? r.final_metrics.step / r.epochs_completed : 1;
  };
  for (const tag of tags.filter((t) => !tf || t.toLowerCase().includes(tf))) {
    const perRun = runs.map((k) => state.scalars.get(k)[tag] || []);
    const t0 = perRun.map((rows) => (rows.length ? rows[0][1] : 0));
    const scale = runs.map((k) => (axis === "epoch" && (tag.startsWith("batch/") || tag.startsWith("test/")) ? stepsPerEpoch(k) : 1));
    const xOf = (r, i) => (wall ? r[1] - t0[i] : r[0] / scale[i]);
    const xs = [...new Set(perRun.flatMap((rows, i) => rows.map((r) => xOf(r, i))))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const data = [xs];
    perRun.forEach((rows, i) => {
      const ys = new Array(xs.length).fill(null);
      const sm = smooth(rows.map((r) => r[2]), tag.startsWith("batch/") || w > 0 ? w : 0);
      rows.forEach((r, j) => { ys[index.get(xOf(r, i))] = sm[j]; });
      data.push(ys);
    });
    const div = document.createElement("div");
    div.className = "chart";
    div.innerHTML = `<h3>${esc(tag)}</h3>`;
    box.appendChild(div);
    const opts = {
      width: 480, height: 240,
      scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
      series: [{ label: wall ? "seconds" : axis }, ...runs.map((k, i) => ({ label: k, stroke: COLORS[i % COLORS.length], spanGaps: true, points: { show: perRun[i].length < 60, size: 5 } }))],
      axes: [{}, { size: 60, values: (u, vals) => vals.map((v) => (v == null ? "" : Number(v.toPrecision(4)))) }],
      cursor: { drag: { x: true, y: false } },
    };
    state.charts.push(new uPlot(opts, data, div));
  }
  if (!tags.length) box.innerHTML = "<p>Select runs with scalars to see their curves.</p>";
}

function highlightRon(text) {
  return esc(text)
    .replace(/(\/\/[^\n]*)/g, '<span class="com">$1</span>')
    .replace(/\b([A-Z][A-Za-z0-9]*)(?=\()/g, '<span class="kw">$1</span>')
    .replace(/\b(-?\d+(?:\.\d+)?(?:e-?\d+)?)\b/g, '<span class="num-lit">$1</span>');
}

async function openRun(k) {
  const [p, id] = k.split("/");
  const d = await getJSON(`/api/run/${encodeURIComponent(p)}/${encodeURIComponent(id)}`);
  state.detail = k;
  const others = state.runs.map(key).filter((x) => x !== k);
  const report = d.files["test_report.json"];
  let confusion = "";
  if (report && report.confusion_matrix) {
    const m = report.confusion_matrix, classes = report.classes || [];
    const maxRow = m.map((row) => Math.max(1, row.reduce((a, b) => a + b, 0)));
    confusion = `<h3>confusion matrix (test, best weights; row = true class)</h3><table class="confusion"><tr><th></th>${classes.map((c) => `<th>${esc(c)}</th>`).join("")}</tr>` +
      m.map((row, i) => `<tr><th>${esc(classes[i] || i)}</th>${row.map((v) => `<td style="background: rgba(21,101,192,${(v / maxRow[i]).toFixed(2)})">${v}</td>`).join("")}</tr>`).join("") + "</table>";
    confusion += `<h3>per class (test)</h3><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>` +
      report.per_class.map((c) => `<tr><td>${esc(c.class)}</td><td class="num">${fmt(c.precision)}</td><td class="num">${fmt(c.recall)}</td><td class="num">${fmt(c.f1)}</td><td class="num">${c.support}</td></tr>`).join("") + "</table>";
  }
  $("detail").innerHTML = `<h2>${esc(k)}</h2>
    <p>status ${esc(d.record.status)}${d.record.message ? " — " + esc(d.record.message) : ""}; commit ${esc((d.record.git && d.record.git.commit) || "–")}${d.record.git && d.record.git.dirty ? " (dirty)" : ""}; seed ${d.record.seed}; device ${esc(d.record.device)}</p>
    <p>checkpoints: ${d.checkpoints.map((c) => `${esc(c.name)} (${(c.bytes / 1048576).toFixed(1)} MiB)`).join(", ") || "none"}</p>
    <p>exports: ${d.exports.map((e) => `${esc(e.manifest)} (parity ${e.parity && typeof e.parity.max_abs_diff === "number" ? e.parity.max_abs_diff.toExponential(2) : "–"})`).join(", ") || "none"}</p>
    <h3>pipeline.ron</h3><pre>${highlightRon(d.files["pipeline.ron"] || "")}</pre>
    <h3>model</h3><pre>${esc(d.summary || "(no model summary: the run has no data.json)")}</pre>
    <label>diff against <select id="diff-with"><option value="">(choose a run)</option>${others.map((o) => `<option>${esc(o)}</option>`).join("")}</select></label>
    <pre id="diff"></pre>${confusion}
    <h3>images</h3><div id="images">${d.images.map((im) => `<figure><img alt="${esc(im.tag)}" src="/api/image/${encodeURIComponent(p)}/${encodeURIComponent(id)}/${im.index}"><figcaption>${esc(im.tag)} (step ${im.step})</figcaption></figure>`).join("") || "none logged"}</div>`;
  $("diff-with").onchange = async (e) => {
    const o = e.target.value;
    if (!o) return;
    const [q, qid] = o.split("/");
    const r = await getJSON(`/api/diff/${encodeURIComponent(p)}/${encodeURIComponent(id)}/${encodeURIComponent(q)}/${encodeURIComponent(qid)}`);
    $("diff").innerHTML = r.identical ? "identical resolved pipelines" :
      esc(r.diff).split("\n").map((l) => (l.startsWith("+") ? `<span class="diff-add">${l}</span>` : l.startsWith("-") ? `<span class="diff-del">${l}</span>` : l)).join("\n");
  };
}

async function refreshSelected() {
  await Promise.all([...state.selected].map(loadScalars));
  renderCharts();
}

$("runs").addEventListener("click", async (e) => {
  const th = e.target.closest("th");
  if (th) {
    const name = COLUMNS[Number(th.dataset.col)][0];
    state.sort = { key: name, desc: state.sort.key === name ? !state.sort.desc : true };
    return renderRuns();
  }
  const tr = e.target.closest("tr[data-run]");
  if (!tr) return;
  const k = tr.dataset.run;
  if (e.target.classList.contains("open")) { e.preventDefault(); return openRun(k); }
  if (state.selected.has(k)) state.selected.delete(k); else state.selected.add(k);
  renderRuns();
  await refreshSelected();
});
$("filter").addEventListener("input", renderRuns);
$("tagfilter").addEventListener("input", renderCharts);
$("xaxis").addEventListener("change", renderCharts);
$("logscale").addEventListener("change", renderCharts);
$("smoothing").addEventListener("input", () => { $("smoothing-value").textContent = Number($("smoothing").value).toFixed(2); renderCharts(); });

// Live: the server says which run changed; refetch it (at most every 500 ms per run).
const pending = new Set();
let timer = null;
function live() {
  const es = new EventSource("/api/events");
  es.onopen = () => $("live").classList.remove("off");
  es.onerror = () => $("live").classList.add("off");
  es.onmessage = (m) => {
    pending.add(JSON.parse(m.data).run);
    if (timer) return;
    timer = setTimeout(async () => {
      timer = null;
      const changed = [...pending]; pending.clear();
      await loadRuns();
      const shown = changed.filter((k) => state.selected.has(k));
      if (shown.length) { await Promise.all(shown.map(loadScalars)); renderCharts(); }
    }, 500);
  };
}

loadRuns().then(refreshSelected).then(live).catch((e) => { $("runs-note").textContent = String(e); });
