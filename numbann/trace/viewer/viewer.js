// numbann trace viewer: the step controls, the keys, and drawing the page for the
// current step (the diagram, the details, the parameters, the curves).
"use strict";
(function (V) {
  const { doc, steps, state, $, get, escapeHtml } = V;

  function select(sel) {
    state.sel = sel;
    render();
  }

  function goToStep(step) {
    if (step === null) return;
    let best = 0;
    steps.forEach((s, p) => { if (Math.abs(s.step - step) < Math.abs(steps[best].step - step)) best = p; });
    state.pos = best;
    render();
  }

  function drawControls() {
    const s = steps[state.pos];
    $("slider").value = state.pos;
    const label = $("step-label");
    label.textContent = `step ${s.step} (epoch ${s.epoch}, t = ${s.t}, m = ${s.m}) \u00b7 ${state.pos + 1} of ${steps.length}`;
    label.setAttribute("data-step", s.step);
    const loss = $("loss-value");
    loss.textContent = s.loss === null ? "not finite" : NB.fmt(s.loss, 6);  // JSON writes NaN, inf as null
    loss.setAttribute("data-value", String(s.loss));
    $("lr-value").textContent = s.lr === null ? "none (no update)" : NB.fmt(s.lr, 6);
    for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b.dataset.view === state.view);
    const help = {
      forward: "Forward pass: each unit shows a = g(z) (z above it); lines are the weights W used in this step " +
        "(blue positive, red negative, thickness |W|).",
      backward: "Backward pass: each unit shows delta = dJ/dz; lines are the gradient dW = delta[l]\u1d40 a[l-1].",
      update: "Update: units show the bias after the update (db above it); lines are the weights after the update. " +
        "Click a weight for before, gradient, after and the optimizer's state.",
    }[state.view];
    const extras = Object.entries(s.extras || {}).map(([k, v]) => `${k} = ${NB.fmt(v, 4)}`).join(", ");
    $("view-help").textContent = help + (extras ? " Optimizer: " + extras + "." : "");
    $("diagram-title").textContent = { forward: "Forward", backward: "Backward", update: "Update" }[state.view] +
      " \u2014 " + (state.row === "mean" ? "mean over the batch's kept rows" : "batch row " + state.row);
  }

  let pending = false;
  function render() {
    drawControls();
    V.drawDiagram();
    V.drawDetails();
    V.drawParams();
    V.drawCharts();
    pending = false;
  }

  function step(by) {
    state.pos = Math.max(0, Math.min(steps.length - 1, state.pos + by));
    render();
  }

  function setup() {
    $("title").textContent = doc.title;
    $("summary").textContent = doc.summary;
    const notes = doc.missing.slice();
    notes.push(`Chain-rule explanations: ${doc.explain.rule}, at ${doc.explain.steps.length} of the ${steps.length} steps.`);
    $("notes").innerHTML = notes.map(n => `<p>${escapeHtml(n)}</p>`).join("");
    const slider = $("slider");
    slider.max = steps.length - 1;
    slider.addEventListener("input", () => {
      state.pos = Number(slider.value);
      if (!pending) { pending = true; requestAnimationFrame(render); }
    });
    $("first").onclick = () => step(-steps.length);
    $("prev").onclick = () => step(-1);
    $("next").onclick = () => step(1);
    $("last").onclick = () => step(steps.length);
    for (const b of document.querySelectorAll(".tabs button")) b.onclick = () => { state.view = b.dataset.view; render(); };
    const rows = get("samples", 0) ? Array.from(get("samples", 0).data) : [...Array(steps[0].m).keys()];
    const choice = $("sample");
    choice.innerHTML = `<option value="mean">batch mean</option>` + rows.map(r => `<option value="${r}">row ${r}</option>`).join("");
    choice.value = String(rows[0]);
    state.row = rows[0];
    choice.onchange = () => { state.row = choice.value === "mean" ? "mean" : Number(choice.value); render(); };
    document.addEventListener("keydown", ev => {
      if (ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT") return;
      const keys = { ArrowRight: () => step(1), ArrowLeft: () => step(-1), Home: () => step(-steps.length),
        End: () => step(steps.length), f: () => { state.view = "forward"; render(); },
        b: () => { state.view = "backward"; render(); }, u: () => { state.view = "update"; render(); } };
      if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
    });
    render();
  }

  V.select = select;
  V.goToStep = goToStep;
  setup();
})(V);
