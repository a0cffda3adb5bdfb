// numbann trace viewer: the trace's numbers, decoded from the JSON of the page's
// "trace-data" script element (numbann/trace/view_data.py), the page's state, and
// what each view shows; the other scripts share them as V.
"use strict";
const V = (function () {
  const doc = JSON.parse(document.getElementById("trace-data").textContent);
  const steps = doc.steps;
  // the shown step (its position among doc.steps), the view, the batch row ("mean": all), the selection
  const state = { pos: 0, view: "forward", row: 0, sel: null };

  const decoded = {};
  const TYPES = { f8: Float64Array, f4: Float32Array, i4: Int32Array };

  function decode(name) {
    const spec = doc.arrays[name], text = atob(spec.data);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return new TYPES[spec.dtype](bytes.buffer);
  }

  // {data, shape} of array `name` at shown step `pos`, or null when not recorded
  function get(name, pos) {
    const spec = doc.arrays[name];
    if (!spec) return null;
    const every = !Array.isArray(spec.index);  // every step, one shape
    if (!every && !spec.index[pos]) return null;
    if (!decoded[name]) decoded[name] = decode(name);
    const shape = every ? spec.index.shape : spec.index[pos][1];
    const offset = every ? pos * size(shape) : spec.index[pos][0];
    return { data: decoded[name].subarray(offset, offset + size(shape)), shape };
  }

  const size = shape => shape.reduce((a, b) => a * b, 1);
  // an RNN layer is drawn with all its time steps when they were kept (keep "stats"):
  // z_t, h_t and delta_t, (T, units) per sample, rather than its output alone
  const STEP_KEYS = { z: "z_steps", a: "h_steps", delta: "delta_steps" };
  const stepped = l => l > 0 && doc.arch[l - 1].kind === "RNN" && ("h_steps/" + l) in doc.arrays;
  // the key of z, a or delta of layer l as drawn (l = 0: the input x)
  const rowKey = (q, l) => (l === 0 ? "x" : (stepped(l) ? STEP_KEYS[q] : q) + "/" + l);
  // one sample's shape out of layer l as drawn
  const shapeOf = l => (l === 0 ? doc.arch[0].in
    : stepped(l) ? [doc.arch[l - 1].in[0], doc.arch[l - 1].W[0]] : doc.arch[l - 1].out);
  const hasParams = l => size(doc.arch[l - 1].W) + size(doc.arch[l - 1].b) > 0;
  const describe = l => {
    const s = doc.arch[l - 1];
    let text = s.kind + (s.kind === "Dense" ? " " + s.out[0] : "");
    if (s.kernel) text += " " + s.kernel.join("\u00d7") + " /" + s.stride;
    if (s.activation !== "identity" || s.kind === "Dense" || s.kind === "Conv2D") text += ", " + s.activation;
    return text;
  };
  const stepOf = pos => steps[pos].step;

  // position of the selected batch row among the kept rows (-1: not kept at this step)
  function rowIndex(pos) {
    const kept = get("samples", pos);
    if (kept) return Array.prototype.indexOf.call(kept.data, state.row);
    return state.row < steps[pos].m ? state.row : -1;
  }

  // one sample's values of a per-row array (the selected row or the batch mean):
  // a Float64Array, null (not recorded) or "row" (the row is not in this batch)
  function perSample(name, pos) {
    const a = get(name, pos);
    if (!a) return null;
    const rows = a.shape[0], n = a.data.length / rows, out = new Float64Array(n);
    if (state.row === "mean") {
      for (let r = 0; r < rows; r++) for (let u = 0; u < n; u++) out[u] += a.data[r * n + u] / rows;
      return out;
    }
    const r = rowIndex(pos);
    if (r < 0) return "row";
    for (let u = 0; u < n; u++) out[u] = a.data[r * n + u];
    return out;
  }

  // what each view shows on the units: [main, secondary, label] per layer
  function unitQuantities(l) {
    if (l === 0) return ["x", null, "x = a[0]"];
    const a = stepped(l) ? "h_t, t = 1.." + shapeOf(l)[0] : "a[" + l + "]";
    if (state.view === "forward") return [rowKey("a", l), rowKey("z", l), a];
    if (state.view === "backward") return [rowKey("delta", l), null, stepped(l) ? "delta_t" : "delta[" + l + "]"];
    if (shapeOf(l).length === 1 && hasParams(l)) return ["b_after/" + l, "db/" + l, "b[" + l + "] after"];
    return [rowKey("a", l), null, a];
  }

  function unitValues(name, pos) {
    if (name === null) return null;
    return name.startsWith("b_after/") || name.startsWith("db/") ? (get(name, pos) || {}).data || null
      : perSample(name, pos);
  }

  const WEIGHT_OF_VIEW = { forward: "W_before", backward: "dW", update: "W_after" };
  const KEEP_OF = { x: "x", a: "a", z: "z", delta: "delta", dW: "dW", db: "db", W_before: "W",
    W_after: "W", b_after: "W", b_before: "W", state: "state", z_steps: "stats", h_steps: "stats",
    delta_steps: "stats" };
  const why = name => {
    const base = name.split("/")[0];
    const kept = doc.keep.indexOf(KEEP_OF[base]) >= 0;
    return kept ? "not recorded for this layer or step" : "not recorded (keep '" + KEEP_OF[base] + "')";
  };

  function isSelected(param, l, idx) {
    const s = state.sel;
    return !!s && s.type === "weight" && s.param === param && s.l === l && s.idx.join() === idx.join();
  }

  function flatIndex(shape, idx) {
    return idx.reduce((at, i, d) => at * shape[d] + i, 0);
  }

  // the optimizer's state buffers ("unused": SGD without momentum keeps none)
  function stateNames() {
    return ((doc.optimizer && doc.optimizer.state_names) || []).filter(n => n !== "unused");
  }

  const escapeHtml = t => String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;");

  return { doc, L: doc.arch.length, steps, state, $: id => document.getElementById(id), get, size,
    shapeOf, rowKey, stepped, hasParams, describe, stepOf, perSample, unitQuantities, unitValues, WEIGHT_OF_VIEW, why,
    isSelected, flatIndex, stateNames, escapeHtml };
})();
