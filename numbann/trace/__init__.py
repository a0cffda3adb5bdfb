"""Tracing: record every number of training, replay it in the course's
notation, explain a gradient as a chain-rule product, diagnose, plot.

    from numbann.trace import Recorder, load_trace

    rec = Recorder(keep=("z", "a", "delta", "dW", "db", "W", "state"),
                   steps=range(0, 100), layers="all", samples=[0, 3], budget_mb=256)
    print(rec.estimate(net, X, epochs=5, batch_size=32))   # memory, before training
    net.fit(X, Y, epochs=5, batch_size=32, trace=rec)
    tr = rec.trace
    tr[3].delta[1], tr[3, 2].dW, tr[3].state["m"].W[2], tr[3].loss, tr[3].lr
    print(tr.replay(3, sample=0))           # z[1] = W[1] a[0] + b[1] = ...
    print(tr.explain(3, "W", 2, 0, 1))      # dJ/dW[2][0,1] as a chain-rule product
    tr.save("run.npz"); tr2 = load_trace("run.npz"); tr.to_json("run.json")
    print(tr.diagnostics().report())
    from numbann.trace import plots; plots.grad_norms(tr, path="norms.png")
    from numbann.trace import view; view(tr, "run.html")   # step through it in a browser

A Sequential network (conv, pooling, batch norm, flatten, dense) is traced
the same way, every array in its layer's natural shape ((m, C, H, W) rows, a
conv dW like its W, BatchNorm statistics and max-pool winners with
``keep "stats"``); ``tr.replay(s, channel=, position=(p, q))`` shows one output
of each layer, ``tr.explain(s, "W", l, o, c, i, j)`` a conv weight's gradient
as the sum over the positions its filter visited; ``plots.filters``,
``feature_maps``, ``pooling_mask``, ``preactivation_hist``.

One step outside fit: ``record_step(net, X, Y, loss, optimizer=None)``.
Tracing off (``trace=None``, the default) leaves fit's compiled loop as it
is: nothing is recorded and nothing is paid.
"""
from .data import LayerRecord, StepRecord, Trace, load_trace
from .diagnostics import Diagnostics, diagnostics
from .explain import Explanation, explain
from .recorder import Recorder, record_step
from .selection import QUANTITIES, Estimate, TraceTooLarge
from .replay import replay
from .view import view

__all__ = ["Recorder", "Trace", "StepRecord", "LayerRecord", "load_trace", "record_step",
           "Estimate", "TraceTooLarge", "QUANTITIES", "diagnostics", "Diagnostics",
           "replay", "explain", "Explanation", "view", "plots"]


def __getattr__(name):
    # matplotlib is imported only when plots are asked for
    if name == "plots":
        import importlib
        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
