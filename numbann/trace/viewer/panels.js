// numbann trace viewer: the panels beside and under the diagram: the details of the
// selected weight (its numbers, its chain-rule text) or unit (its values over the
// steps), the parameter heatmaps, the loss and gradient-norm curves.
"use strict";
(function (V) {
  const { doc, L, steps, state, $, get, shapeOf, rowKey, stepped, hasParams, describe, stepOf, perSample, why, flatIndex,
    stateNames, escapeHtml } = V;
  const select = sel => V.select(sel);
  const goToStep = step => V.goToStep(step);

  // ------------------------------------------------------------ details
  function valueAt(name, pos, flat) {
    const a = get(name, pos);
    return a ? a.data[flat] : null;
  }

  function weightDetails(sel, pos) {
    const { param, l, idx } = sel, shape = doc.arch[l - 1][param], flat = flatIndex(shape, idx);
    const target = `${param}[${l}][${idx.join(",")}]`, step = stepOf(pos);
    $("details-title").textContent = `${target} at step ${step}`;
    const rows = [[`${param} before the update`, param + "_before/" + l], [`d${param} (the gradient used)`, "d" + param + "/" + l],
      [`${param} after the update`, param + "_after/" + l]];
    for (const name of stateNames()) rows.push([`optimizer state ${name} (after)`, `state/${name}/${param}/${l}`]);
    let html = `<p class="hint">layer ${l}: ${describe(l)}; lr = ${NB.fmt(steps[pos].lr, 6)}</p><table>`;
    for (const [label, name] of rows) {
      const v = valueAt(name, pos, flat);
      html += `<tr><th>${label}</th><td>${v === null ? `<span class="missing">${why(name)}</span>` : NB.fmt(v, 8)}</td></tr>`;
    }
    const before = valueAt(param + "_before/" + l, pos, flat), after = valueAt(param + "_after/" + l, pos, flat);
    if (before !== null && after !== null) html += `<tr><th>change (after - before)</th><td>${NB.fmt(after - before, 8)}</td></tr>`;
    html += "</table><h3>Chain rule</h3>";
    const text = doc.explain.texts[`${step}/${param}/${l}/${idx.join(",")}`];
    if (text !== undefined) {
      html += `<pre id="explain-text"></pre>`;
    } else if (doc.explain.failed[l]) {
      html += `<p class="missing">Not explained: ${escapeHtml(doc.explain.failed[l])}</p>`;
    } else {
      const near = nearestExplained(step);
      html += `<p class="missing">No explanation of ${target} at this step in this page (it carries ${doc.explain.rule},` +
        ` at ${doc.explain.steps.length} of the ${steps.length} steps).</p>` +
        (near.length ? "<p>Explained steps nearby: " + near.map(s => `<button data-goto="${s}">step ${s}</button>`).join(" ") + "</p>" : "") +
        `<p class="hint">At a Python prompt: <code>tr.explain(${step}, "${param}", ${l}, ${idx.join(", ")})</code></p>`;
    }
    $("details-body").innerHTML = html;
    if (text !== undefined) $("explain-text").textContent = text;
  }

  function nearestExplained(step) {
    const s = doc.explain.steps;
    const below = s.filter(v => v < step).pop(), above = s.find(v => v > step);
    return [below, above].filter(v => v !== undefined);
  }

  function unitDetails(sel, pos) {
    const { l, u } = sel, shape = shapeOf(l);
    let where = "unit " + u;
    if (shape.length === 3) {
      const Ww = shape[2], Hh = shape[1];
      where = `channel ${Math.floor(u / (Hh * Ww))}, (h, w) = (${Math.floor(u / Ww) % Hh}, ${u % Ww})`;
    } else if (shape.length === 2) {
      where = `time step t = ${Math.floor(u / shape[1]) + 1}, unit ${u % shape[1]}`;
    }
    $("details-title").textContent = `${where} of ${l === 0 ? "the input" : "layer " + l} at step ${stepOf(pos)}`;
    const names = l === 0 ? [["x", "x"]] : stepped(l)
      ? [["z_t", rowKey("z", l)], ["h_t", rowKey("a", l)], ["delta_t", rowKey("delta", l)]]
      : [["z", rowKey("z", l)], ["a", rowKey("a", l)], ["delta", rowKey("delta", l)]];
    let html = `<p class="hint">${state.row === "mean" ? "mean over the batch's kept rows" : "batch row " + state.row}` +
      (l ? "; " + describe(l) : "") + "</p><table>";
    for (const [label, name] of names) {
      const v = perSample(name, pos);
      html += `<tr><th>${label}</th><td>${v === null ? `<span class="missing">${why(name)}</span>` :
        v === "row" ? "row not in this batch" : NB.fmt(v[u], 8)}</td></tr>`;
    }
    html += "</table><p class='hint'>Over the steps (click to jump):</p>";
    names.forEach((_, i) => { html += `<canvas id="unit-chart-${i}" height="120"></canvas>`; });
    $("details-body").innerHTML = html;
    const width = Math.max(240, Math.min(520, $("details-body").clientWidth - 4));
    names.forEach(([label, name], i) => {
      const xs = [], ys = [];
      for (let p = 0; p < steps.length; p++) {
        const v = perSample(name, p);
        xs.push(stepOf(p));
        ys.push(v && v !== "row" ? v[u] : null);
      }
      const canvas = $("unit-chart-" + i);
      canvas.width = width;
      const toX = NB.lineChart(canvas, [{ x: xs, y: ys, color: NB.PALETTE[i], label }],
        { marker: stepOf(pos), xlabel: label + " over the steps", empty: label + " " + why(name) });
      canvas.addEventListener("click", ev => goToStep(toX(ev.offsetX)));
    });
  }

  function drawDetails() {
    const s = state.sel;
    if (!s) {
      $("details-title").textContent = "Details";
      $("details-body").innerHTML = "<p class='hint'>Click a weight (a line, or a cell of a heatmap under " +
        "Parameters) to see its numbers and its gradient as a chain-rule product; click a unit (a circle, " +
        "a cell or a feature map) to follow its z, a and delta over the steps.</p>";
    } else if (s.type === "weight") {
      weightDetails(s, state.pos);
    } else {
      unitDetails(s, state.pos);
    }
  }

  // ------------------------------------------------------------ parameters
  function grid(name, pos) {
    const a = get(name, pos);
    if (!a) return null;
    const s = a.shape;
    if (s.length === 4) {  // (O, C, kh, kw) as O rows and C columns of kh x kw tiles
      const [O, C, kh, kw] = s, out = new Float64Array(a.data.length);
      for (let o = 0; o < O; o++) for (let c = 0; c < C; c++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
        out[(o * kh + i) * C * kw + c * kw + j] = a.data[((o * C + c) * kh + i) * kw + j];
      }
      return { values: out, rows: O * kh, cols: C * kw, tile: [kh, kw], shape: s };
    }
    return { values: a.data, rows: s[0], cols: s.length === 2 ? s[1] : 1, shape: s };
  }

  function gridIndex(g, r, c) {
    if (!g.tile) return g.shape.length === 2 ? [r, c] : [r];
    const [kh, kw] = g.tile;
    return [Math.floor(r / kh), Math.floor(c / kw), r % kh, c % kw];
  }

  function gridMark(g, idx) {
    if (!g.tile) return g.shape.length === 2 ? idx : [idx[0], 0];
    const [kh, kw] = g.tile;
    return [idx[0] * kh + idx[2], idx[1] * kw + idx[3]];
  }

  function paramFigure(row, l, param, name, caption, pos, cell) {
    const fig = document.createElement("figure"), g = grid(name, pos);
    const cap = document.createElement("figcaption");
    cap.textContent = caption;
    fig.appendChild(cap);
    if (!g) {
      const p = document.createElement("p");
      p.className = "missing";
      p.textContent = why(name);
      fig.appendChild(p);
      row.appendChild(fig);
      return undefined;
    }
    const canvas = document.createElement("canvas");
    const sel = state.sel;
    const mark = sel && sel.type === "weight" && sel.l === l && sel.param === param ? gridMark(g, sel.idx) : null;
    const cellAt = NB.heatmap(canvas, g.values, g.rows, g.cols, { tile: g.tile, mark, maxWidth: 420, cell });
    canvas.setAttribute("data-name", name);
    canvas.addEventListener("click", ev => {
      const rc = cellAt(ev.offsetX, ev.offsetY);
      if (rc) select({ type: "weight", param, l, idx: gridIndex(g, rc[0], rc[1]) });
    });
    fig.appendChild(canvas);
    row.appendChild(fig);
    return cellAt.cell;
  }

  function drawParams() {
    const box = $("param-grid"), pos = state.pos;
    box.textContent = "";
    const names = stateNames();
    for (let l = 1; l <= L; l++) {
      if (!hasParams(l)) continue;
      const card = document.createElement("div");
      card.className = "param-card";
      card.id = "param-" + l;
      card.innerHTML = `<h3>layer ${l}: ${describe(l)} \u2014 W[${l}] ${doc.arch[l - 1].W.join("\u00d7")}, b[${l}] ${doc.arch[l - 1].b.join("\u00d7")}</h3>`;
      const before = [["W_before", "b_before", `W[${l}] before`, `b[${l}] before`]];
      const gradient = [["dW", "db", `dW[${l}]`, `db[${l}]`]];
      const sets = state.view === "forward" ? before : state.view === "backward" ? gradient
        : before.concat(gradient, [["W_after", "b_after", `W[${l}] after`, `b[${l}] after`]],
          names.map(n => [`state/${n}/W`, `state/${n}/b`, `${n}: W[${l}]`, `${n}: b[${l}]`]));
      const row = document.createElement("div");
      row.className = "param-row";
      for (const [wName, bName, wCaption, bCaption] of sets) {
        const pair = document.createElement("div");
        pair.className = "param-pair";
        const cell = paramFigure(pair, l, "W", `${wName}/${l}`, wCaption, pos);
        paramFigure(pair, l, "b", `${bName}/${l}`, bCaption, pos, cell);
        row.appendChild(pair);
      }
      card.appendChild(row);
      box.appendChild(card);
    }
    if (!box.children.length) box.innerHTML = "<p class='hint'>This network has no parameters.</p>";
  }

  // ------------------------------------------------------------ curves
  let lossX = () => null, normX = () => null;

  function drawCharts() {
    const c = doc.curves, marker = stepOf(state.pos), series = [];
    if (c.fit_loss && c.fit_loss.length > c.steps.length) series.push({ x: c.fit_loss.map((_, i) => i), y: c.fit_loss, color: "#bbb", width: 1, label: "every step of the fit" });
    series.push({ x: c.steps, y: c.loss, color: NB.PALETTE[2], label: "recorded steps" });
    const positive = c.loss.filter(v => v !== null);
    const log = positive.length > 0 && Math.min(...positive) > 0 && Math.max(...positive) / Math.min(...positive) > 30;
    lossX = NB.lineChart($("loss-chart"), series, { marker, log });
    const norms = [];
    if (c.grad_norms) {
      for (let l = 1; l <= L; l++) {
        if (!hasParams(l)) continue;
        norms.push({ x: c.steps, y: c.grad_norms.map(r => r[l - 1]), color: NB.PALETTE[(l - 1) % NB.PALETTE.length], label: `||dW[${l}]||` });
      }
    }
    normX = NB.lineChart($("norm-chart"), norms, { marker, log: true, empty: "dW was not recorded (keep 'dW' or 'norms')" });
    NB.legend($("norm-legend"), norms);
    NB.legend($("loss-legend"), series);
  }

  for (const id of ["loss", "norm"]) {
    const legend = document.createElement("div");
    legend.className = "legend";
    legend.id = id + "-legend";
    $(id + "-chart").after(legend);
  }
  $("loss-chart").addEventListener("click", ev => goToStep(lossX(ev.offsetX)));
  $("norm-chart").addEventListener("click", ev => goToStep(normX(ev.offsetX)));
  $("details-body").addEventListener("click", ev => {
    const to = ev.target.getAttribute && ev.target.getAttribute("data-goto");
    if (to !== null && to !== undefined) goToStep(Number(to));
  });

  V.drawDetails = drawDetails;
  V.drawParams = drawParams;
  V.drawCharts = drawCharts;
})(V);
