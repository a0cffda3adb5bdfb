// numbann trace viewer: number formatting, colours, heatmaps and line charts on <canvas>.
"use strict";
const NB = {};

// A number with `digits` significant digits; "" for null.
NB.fmt = function (v, digits) {
  if (v === null || v === undefined) return "";
  if (!isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e5) return String(Number(v.toPrecision(digits || 4)));
  return v.toExponential(Math.max((digits || 4) - 1, 0)).replace("e+", "e");
};

// Diverging colour for v on a scale symmetric about 0: white at 0, blue for
// positive, orange-red for negative values (the same as the weight lines).
NB.POS = [33, 102, 172];
NB.NEG = [214, 96, 77];
NB.rgb = function (v, max) {
  if (v === null || !isFinite(v)) return [190, 190, 190];
  const t = max > 0 ? Math.min(Math.abs(v) / max, 1) : 0;
  const c = v >= 0 ? NB.POS : NB.NEG;
  return c.map(x => Math.round(255 + (x - 255) * t));
};
NB.color = function (v, max) { return "rgb(" + NB.rgb(v, max).join(",") + ")"; };
// Text colour that stays readable on NB.color(v, max).
NB.ink = function (v, max) { return max > 0 && Math.abs(v) / max > 0.6 ? "#fff" : "#222"; };

NB.absMax = function (values) {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > m && isFinite(a)) m = a;
  }
  return m;
};

// Draw a rows x cols grid of values (row-major) as coloured cells; a grid of
// tiles (e.g. conv kernels) with `tile = [rows per tile, cols per tile]` gets
// a gap between tiles; cells of `opts.cell` pixels, else as large as fit in
// opts.maxWidth. Returns cellAt(x, y) -> [row, col] or null for clicks, with
// cellAt.cell the cell size used.
NB.heatmap = function (canvas, values, rows, cols, opts) {
  opts = opts || {};
  const tile = opts.tile || [rows, cols];
  const gap = opts.tile ? 2 : 0;
  const maxWidth = opts.maxWidth || 420;
  const across = cols + gap * Math.floor((cols - 1) / tile[1]);
  const cell = opts.cell || Math.max(2, Math.min(46, Math.floor(maxWidth / across)));
  const xOf = c => c * cell + gap * Math.floor(c / tile[1]);
  const yOf = r => r * cell + gap * Math.floor(r / tile[0]);
  canvas.width = xOf(cols - 1) + cell;
  canvas.height = yOf(rows - 1) + cell;
  const ctx = canvas.getContext("2d");
  const max = opts.max !== undefined ? opts.max : NB.absMax(values);
  ctx.font = "10px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c];
      ctx.fillStyle = NB.color(v, max);
      ctx.fillRect(xOf(c), yOf(r), cell, cell);
      if (cell >= 44) {
        ctx.fillStyle = NB.ink(v, max);
        ctx.fillText(NB.fmt(v, 3), xOf(c) + cell / 2, yOf(r) + cell / 2);
      }
    }
  }
  if (opts.mark) {
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2;
    ctx.strokeRect(xOf(opts.mark[1]) + 1, yOf(opts.mark[0]) + 1, cell - 2, cell - 2);
  }
  const find = (p, n, t) => {
    for (let i = 0; i < n; i++) {
      const at = i * cell + gap * Math.floor(i / t);
      if (p >= at && p < at + cell) return i;
    }
    return -1;
  };
  const cellAt = function (x, y) {
    const r = find(y, rows, tile[0]), c = find(x, cols, tile[1]);
    return r < 0 || c < 0 ? null : [r, c];
  };
  cellAt.cell = cell;
  return cellAt;
};

// Line chart: series [{x, y, color, width, label}] on shared axes; a vertical
// marker at opts.marker; log y when opts.log. Returns px -> data x for clicks.
NB.lineChart = function (canvas, series, opts) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, left = 58, right = 10, top = 10, bottom = 28;
  ctx.clearRect(0, 0, W, H);
  const tf = v => (opts.log ? (v > 0 ? Math.log10(v) : null) : v);
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of series) {
    for (let i = 0; i < s.x.length; i++) {
      const y = s.y[i] === null ? null : tf(s.y[i]);
      if (y === null || !isFinite(y)) continue;
      x0 = Math.min(x0, s.x[i]); x1 = Math.max(x1, s.x[i]);
      y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#666";
  if (!isFinite(x0)) {
    ctx.fillText(opts.empty || "nothing to plot", left, H / 2);
    return () => null;
  }
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad; y1 += pad;
  const px = x => left + (x - x0) / (x1 - x0) * (W - left - right);
  const py = y => top + (1 - (y - y0) / (y1 - y0)) * (H - top - bottom);
  ctx.strokeStyle = "#ccc";
  ctx.strokeRect(left, top, W - left - right, H - top - bottom);
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const decades = opts.log && y1 - y0 >= 2;  // label powers of ten
  const yTicks = decades ? Array.from({ length: Math.floor(y1) - Math.ceil(y0) + 1 }, (_, k) => Math.ceil(y0) + k)
    : [0, 1, 2, 3, 4].map(k => y0 + (y1 - y0) * k / 4);
  for (const y of yTicks) ctx.fillText(decades ? "1e" + y : NB.fmt(opts.log ? Math.pow(10, y) : y, 3), left - 4, py(y));
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const tick = NB.niceStep((x1 - x0) / 5);
  for (let x = Math.ceil(x0 / tick) * tick; x <= x1; x += tick) ctx.fillText(String(x), px(x), H - bottom + 4);
  ctx.fillText(opts.xlabel || "step", (left + W - right) / 2, H - 13);
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = s.width || 1.5;
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < s.x.length; i++) {
      const y = s.y[i] === null ? null : tf(s.y[i]);
      if (y === null || !isFinite(y)) { pen = false; continue; }
      if (pen) ctx.lineTo(px(s.x[i]), py(y)); else ctx.moveTo(px(s.x[i]), py(y));
      pen = true;
    }
    ctx.stroke();
  }
  if (opts.marker !== undefined && opts.marker !== null) {
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 1;
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(px(opts.marker), top);
    ctx.lineTo(px(opts.marker), H - bottom);
    ctx.stroke();
    ctx.setLineDash([]);
    for (const s of series) {
      const i = s.x.indexOf(opts.marker);
      const y = i < 0 || s.y[i] === null ? null : tf(s.y[i]);
      if (y === null || !isFinite(y)) continue;
      ctx.fillStyle = s.color;
      ctx.beginPath();
      ctx.arc(px(opts.marker), py(y), 4, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  return p => (p < left || p > W - right ? null : x0 + (p - left) / (W - left - right) * (x1 - x0));
};

// A round step (1, 2 or 5 times a power of ten, at least 1) near `raw`.
NB.niceStep = function (raw) {
  if (!(raw > 1)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
};

// A legend line of coloured labels under a chart.
NB.legend = function (element, series) {
  element.innerHTML = series.map(s =>
    `<span><i style="background:${s.color}"></i>${s.label}</span>`).join("");
};

NB.PALETTE = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"];
