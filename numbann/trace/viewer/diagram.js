// numbann trace viewer: the network as an SVG diagram. Units are circles (a layer
// of at most 16), coloured cells (wider layers) or feature maps (image layers);
// weights are lines between small dense layers, else a band (heatmaps under Parameters).
"use strict";
(function (V) {
  const { doc, L, state, $, get, size, shapeOf, hasParams, describe, unitQuantities, unitValues,
    WEIGHT_OF_VIEW, why, isSelected } = V;
  const select = sel => V.select(sel);
  const MAX_CIRCLES = 16, MAX_MAPS = 12, TOP = 58, BOTTOM = 16;
  let H = 470;  // the diagram's height, set by columns()

  function columns() {
    const cols = [];
    let x = 70;
    for (let l = 0; l <= L; l++) {
      const shape = shapeOf(l), n = size(shape);
      const type = shape.length > 1 ? "maps" : n <= MAX_CIRCLES ? "units" : "strip";
      const width = type === "maps" ? 64 : type === "units" ? 44 : 22;
      cols.push({ l, shape, n, type, x, width });
      x += width + (l < L ? (L > 3 ? 110 : 150) : 0);
    }
    const tallest = Math.max(...cols.map(c => (c.type === "units" ? 64 * c.n : c.type === "strip" ? 10 * c.n
      : c.shape.length === 2 ? 12 * c.shape[0] : 70 * Math.min(c.shape[0], MAX_MAPS))));
    H = TOP + BOTTOM + Math.max(180, Math.min(tallest, 560));
    return cols;
  }

  function unitY(col, u) {
    const span = H - TOP - BOTTOM;
    if (col.type === "units") {
      const gap = Math.min(64, span / col.n);
      return TOP + span / 2 + (u - (col.n - 1) / 2) * gap;
    }
    const cell = Math.min(14, span / col.n);
    return TOP + span / 2 + (u - (col.n - 1) / 2) * cell;
  }

  function svgEl(tag, attrs, text) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function drawLinks(svg, cols, pos) {
    for (let l = 1; l <= L; l++) {
      const a = cols[l - 1], b = cols[l], x0 = a.x + a.width / 2, x1 = b.x - b.width / 2;
      if (a.type === "units" && b.type === "units" && doc.arch[l - 1].kind === "Dense") {
        const name = WEIGHT_OF_VIEW[state.view] + "/" + l, W = get(name, pos);
        if (!W) {
          svg.appendChild(svgEl("text", { x: (x0 + x1) / 2, y: TOP - 6, class: "absent", "text-anchor": "middle" },
            name.replace("/", "[") + "] " + why(name)));
        }
        const max = W ? NB.absMax(W.data) : 0;
        for (let j = 0; j < b.n; j++) {
          for (let k = 0; k < a.n; k++) {
            const v = W ? W.data[j * a.n + k] : null;
            const sel = isSelected("W", l, [j, k]);
            const ends = { x1: x0, y1: unitY(a, k), x2: x1, y2: unitY(b, j) };
            svg.appendChild(svgEl("line", Object.assign({
              class: "weight" + (sel ? " selected" : ""),
              stroke: v === null ? "#bbb" : v >= 0 ? "var(--pos)" : "var(--neg)",
              "stroke-width": v === null ? 1 : 0.6 + 6 * Math.abs(v) / (max || 1),
              "stroke-opacity": 0.85 }, ends)));
            const hit = svgEl("line", Object.assign({ class: "weight-hit", "data-layer": l, "data-j": j, "data-k": k,
              "data-value": v === null ? "" : String(v) }, ends));
            hit.appendChild(svgEl("title", {}, `W[${l}][${j},${k}]` + (v === null ? "" : " " + WEIGHT_OF_VIEW[state.view] + " = " + NB.fmt(v, 6))));
            hit.addEventListener("click", () => select({ type: "weight", param: "W", l, idx: [j, k] }));
            svg.appendChild(hit);
          }
        }
      } else {
        const top = TOP + 4, bottom = H - BOTTOM - 4;
        const band = svgEl("polygon", { class: "band", points: `${x0},${top} ${x1},${top} ${x1},${bottom} ${x0},${bottom}`,
          "fill-opacity": hasParams(l) ? 0.9 : 0.4 });
        const label = hasParams(l) ? `W[${l}] ${doc.arch[l - 1].W.join("\u00d7")}` : doc.arch[l - 1].kind;
        band.appendChild(svgEl("title", {}, hasParams(l) ? "its weights are shown as heatmaps under Parameters" : "no parameters"));
        band.addEventListener("click", () => { if (hasParams(l)) $("param-" + l).scrollIntoView({ behavior: "smooth" }); });
        svg.appendChild(band);
        svg.appendChild(svgEl("text", { x: (x0 + x1) / 2, y: (top + bottom) / 2, "text-anchor": "middle", class: "layer-sub" }, label));
        if (hasParams(l)) svg.appendChild(svgEl("text", { x: (x0 + x1) / 2, y: (top + bottom) / 2 + 15,
          "text-anchor": "middle", class: "layer-sub" }, "(heatmaps below)"));
      }
    }
  }

  function drawColumn(svg, col, pos) {
    const [mainName, subName, label] = unitQuantities(col.l);
    const values = unitValues(mainName, pos), sub = unitValues(subName, pos);
    svg.appendChild(svgEl("text", { x: col.x, y: 16, "text-anchor": "middle", class: "layer-title" },
      col.l === 0 ? "input" : "layer " + col.l));
    svg.appendChild(svgEl("text", { x: col.x, y: 31, "text-anchor": "middle", class: "layer-sub" },
      col.l === 0 ? "(" + col.shape.join("\u00d7") + ")" : describe(col.l)));
    svg.appendChild(svgEl("text", { x: col.x, y: 46, "text-anchor": "middle", class: "layer-sub" }, label));
    if (values === null || values === "row") {
      const msg = values === "row" ? `row ${state.row} is not in this batch` :
        (col.l === 0 && state.view === "backward" ? "" : mainName.replace("/", "[") + (col.l ? "]" : "") + " " + why(mainName));
      svg.appendChild(svgEl("text", { x: col.x, y: H - 4, "text-anchor": "middle", class: "absent" }, msg));
    }
    const vals = values instanceof Float64Array || (values && values.length !== undefined) ? values : null;
    const max = vals ? NB.absMax(vals) : 0;
    if (col.type === "maps") return drawMaps(svg, col, vals, max);
    const radius = Math.min(21, (H - TOP - BOTTOM) / col.n * 0.4);
    for (let u = 0; u < col.n; u++) {
      const y = unitY(col, u), v = vals ? vals[u] : null;
      const sel = state.sel && state.sel.type === "unit" && state.sel.l === col.l && state.sel.u === u;
      const shape = col.type === "units"
        ? svgEl("circle", { class: "unit" + (sel ? " selected" : ""), cx: col.x, cy: y, r: radius, fill: NB.color(v, max) })
        : svgEl("rect", { class: "cell" + (sel ? " selected" : ""), x: col.x - col.width / 2, y: y - Math.min(14, (H - TOP - BOTTOM) / col.n) / 2,
          width: col.width, height: Math.min(14, (H - TOP - BOTTOM) / col.n), fill: NB.color(v, max) });
      shape.setAttribute("data-layer", col.l);
      shape.setAttribute("data-unit", u);
      shape.appendChild(svgEl("title", {}, `unit ${u}: ${label} = ${NB.fmt(v, 6)}` + (sub && sub !== "row" ? `, ${subName.split("/")[0]} = ${NB.fmt(sub[u], 6)}` : "")));
      shape.addEventListener("click", () => select({ type: "unit", l: col.l, u }));
      svg.appendChild(shape);
      if (col.type === "units") {
        const text = NB.fmt(v, Math.abs(v) < 1e-3 ? 3 : 4);
        svg.appendChild(svgEl("text", { class: "unit-value", x: col.x, y, "data-layer": col.l, "data-unit": u,
          style: `fill: ${NB.ink(v, max)}; font-size: ${text.length > 6 ? 8.5 : 10}px`,
          "data-value": v === null ? "" : String(v) }, text));
        if (sub && sub !== "row") svg.appendChild(svgEl("text", { class: "unit-z", x: col.x, y: y - radius - 3 },
          subName.split("/")[0] + " " + NB.fmt(sub[u], 4)));
      }
    }
  }

  // feature maps (C, H, W): one image per channel; a sequence (T, n): one image,
  // a row per time step t = 1..T
  function drawMaps(svg, col, vals, max) {
    const seq = col.shape.length === 2, [C, Hh, Ww] = seq ? [1, ...col.shape] : col.shape;
    const shown = Math.min(C, MAX_MAPS), side = Math.min(64, (H - TOP - BOTTOM) / shown - 6);
    const scale = Math.min(seq ? 12 : side / Math.max(Hh, Ww), 64 / Ww, (H - TOP - BOTTOM - 6) / Hh);
    const canvas = document.createElement("canvas");
    canvas.width = Ww; canvas.height = Hh;
    const ctx = canvas.getContext("2d");
    for (let c = 0; c < shown; c++) {
      const y = TOP + c * (side + 6), img = ctx.createImageData(Ww, Hh);
      for (let p = 0; p < Hh * Ww; p++) {
        const rgb = NB.rgb(vals ? vals[c * Hh * Ww + p] : null, max);
        img.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * p);
      }
      ctx.putImageData(img, 0, 0);
      const image = svgEl("image", { x: col.x - Ww * scale / 2, y, width: Ww * scale, height: Hh * scale,
        href: canvas.toDataURL(), "data-layer": col.l, "data-channel": c, style: "image-rendering: pixelated" });
      image.appendChild(svgEl("title", {}, (seq ? "rows: time steps t = 1.." + Hh + ", columns: units"
        : "channel " + c) + "; click a cell for its values over the training steps"));
      image.addEventListener("click", ev => {
        const box = image.getBoundingClientRect();
        const clamp = (v, n) => Math.max(0, Math.min(n - 1, Math.floor(v * n)));
        const w = clamp((ev.clientX - box.left) / box.width, Ww), h = clamp((ev.clientY - box.top) / box.height, Hh);
        select({ type: "unit", l: col.l, u: (c * Hh + h) * Ww + w });
      });
      svg.appendChild(image);
      svg.appendChild(svgEl("text", { x: col.x - Ww * scale / 2 - 4, y: y + 10, "text-anchor": "end", class: "layer-sub" },
        seq ? "t=1" : "c" + c));
    }
    if (C > shown) svg.appendChild(svgEl("text", { x: col.x, y: H - 20, "text-anchor": "middle", class: "layer-sub" },
      `+${C - shown} more channels`));
  }

  function drawDiagram() {
    const svg = $("diagram"), cols = columns(), pos = state.pos;
    svg.textContent = "";
    const last = cols[cols.length - 1];
    const width = last.x + last.width / 2 + 70;
    svg.setAttribute("width", width);
    svg.setAttribute("height", H);
    $("diagram-box").style.maxWidth = Math.max(width + 4, 520) + "px";  // the details take the rest
    drawLinks(svg, cols, pos);
    for (const col of cols) drawColumn(svg, col, pos);
  }

  V.drawDiagram = drawDiagram;
})(V);
