"""The trace viewer: one self-contained HTML page to step through a trace in
a browser (no server, no network; it works opened from ``file://``).

    from numbann.trace import view
    view(rec.trace, "run.html")                 # or view("run.npz", "run.html")
    python -m numbann.trace view run.npz -o run.html

The page is ``viewer/page.html`` with ``viewer.css`` and the scripts
(``charts.js``: numbers, colours, heatmaps, line charts; ``data.js``: the
embedded trace and the page's state; ``diagram.js``: the network;
``panels.js``: details, parameters, curves; ``viewer.js``: the controls)
written into it and the trace's numbers embedded as JSON (``view_data.py``).
"""
import json
import os
import re
from importlib import resources

from .view_data import as_trace, payload

_SCRIPTS = ("charts.js", "data.js", "diagram.js", "panels.js", "viewer.js")  # in this order


def _part(name):
    return resources.files(__package__).joinpath("viewer", name).read_text(encoding="utf-8")


def _json_in_script(doc):
    """JSON that cannot end the <script> element it sits in: ``</`` is
    written ``<\\/``, the same string to a JSON parser."""
    return json.dumps(doc, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")


def page(trace, max_mb=64, explain_steps=100, title=None):
    """The viewer page of ``trace`` as HTML text (see :func:`view`)."""
    trace = as_trace(trace)
    doc = payload(trace, max_mb=max_mb, explain_steps=explain_steps, title=title)
    html = _part("page.html")
    parts = {"/*@CSS@*/": _part("viewer.css"),
             "/*@SCRIPTS@*/": "\n".join(_part(name) for name in _SCRIPTS),
             "@DATA@": _json_in_script(doc),
             "@TITLE@": doc["title"].replace("&", "&amp;").replace("<", "&lt;")}
    found = re.findall("|".join(map(re.escape, parts)), html)
    if sorted(found) != sorted(parts):
        raise RuntimeError(f"viewer/page.html must hold each of {list(parts)} once")
    # one pass, so that nothing inserted is searched for markers
    return re.sub("|".join(map(re.escape, parts)), lambda m: parts[m.group()], html)


def view(trace, path, max_mb=64, explain_steps=100, title=None):
    """Write the trace viewer page of ``trace`` (a Trace or the path of a
    saved ``.npz``) to ``path`` and return the path.

    - ``max_mb``: when the arrays of all recorded steps exceed this many MiB,
      the page keeps those of every k-th recorded step (and the last); the
      loss and gradient-norm curves keep every recorded step. ``None``: no
      limit.
    - ``explain_steps``: how many recorded steps carry the text of
      ``Trace.explain`` for their weights: all steps when there are at most
      this many, else the first half of them and the rest spread evenly
      (``"all"``: every step). Per step: every weight and bias of a layer
      with at most 64 weights, the 4 weights and 2 biases with the largest
      gradient in a larger one.
    - ``title``: the page's title.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file name, got {type(path).__name__}")
    html = page(trace, max_mb=max_mb, explain_steps=explain_steps, title=title)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    with open(path, "w", encoding="utf-8") as f:
        f.write(html)
    return path
