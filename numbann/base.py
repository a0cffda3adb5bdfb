"""What every network shares (numbann.model.Network, numbann.sequential.Sequential):
per-layer views indexed like the course, the record of one pass, and the
task heads, fit, save, copy and pickling, written against ``forward``,
``_prepare``, ``_backprop``, ``split`` and ``_bind_views``."""
import json

import numpy as np

from . import _checks, scoring
from . import io as nbio

FORWARD_CHUNK = 4096  # rows per forward call when predicting on a large X
NO_SEED = np.uint64(0)  # dropout seed where no dropout is applied


class LayerList:
    """Per-layer values indexed like the course, ``x[1] .. x[L]``."""

    def __init__(self, items, name):
        self._items = list(items)
        self._name = name

    def _index(self, l):
        L = len(self._items)
        if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or not 1 <= l <= L:
            raise IndexError(f"{self._name}[l]: layers are numbered 1..{L} as in the course, got {l!r}")
        return int(l) - 1

    def __getitem__(self, l):
        return self._items[self._index(l)]

    def checked(self, l, value):
        """value as an array fit for x[l]: real, finite, of x[l]'s shape (no broadcasting)."""
        target, name = self._items[self._index(l)], f"{self._name}[{l}]"
        value = _checks.array(value, name)
        _checks.real_dtype(value, name)
        if value.shape != target.shape:
            raise ValueError(f"{name} has shape {target.shape}, got {value.shape}")
        return _checks.finite(value, name)

    def __setitem__(self, l, value):
        self._items[self._index(l)][...] = self.checked(l, value)

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def __repr__(self):
        shapes = ", ".join(f"{self._name}[{i}]: {x.shape}" for i, x in enumerate(self._items, 1))
        return f"<{shapes}>"


class Step:
    """Every number of one forward and backward pass (copies, safe to keep).

    ``a[0]`` is the input batch; ``z[l]``, ``a[l]``, ``delta[l]``, ``dW[l]``,
    ``db[l]`` for ``l = 1..L``; ``grad`` is the flat gradient.
    """

    def __init__(self, loss, X, z, a, delta, dW, db, grad):
        self.loss = loss
        self.X = X
        self.z = LayerList(z, "z")
        self.a = _Activations(X, a)
        self.delta = LayerList(delta, "delta")
        self.dW = LayerList(dW, "dW")
        self.db = LayerList(db, "db")
        self.grad = grad

    def __repr__(self):
        return f"Step(loss={self.loss:.6g}, L={len(self.z)})"


class _Activations(LayerList):
    """a[0] = X, then a[1..L]."""

    def __init__(self, X, a):
        super().__init__(a, "a")
        self._X = X

    def __getitem__(self, l):
        return self._X if isinstance(l, (int, np.integer)) and l == 0 else super().__getitem__(l)


class Model:
    """What every network shares: the task heads and ``fit``, written against
    ``forward`` and ``output_activation``."""

    def set_params(self, W, b):
        """Set every W[l], b[l] from sequences of arrays (checked shapes)."""
        W = _checks.sequence(W, "W", "a list of arrays")
        b = _checks.sequence(b, "b", "a list of arrays")
        if len(W) != self.L or len(b) != self.L:
            raise ValueError(f"expected {self.L} weight matrices W and {self.L} bias vectors b, "
                             f"got {len(W)} and {len(b)}")
        Ls = range(1, self.L + 1)  # every array checked before any is written
        W = [self.W.checked(l, W[l - 1]) for l in Ls]
        b = [self.b.checked(l, b[l - 1]) for l in Ls]
        for l in Ls:
            self.W[l][...], self.b[l][...] = W[l - 1], b[l - 1]
        return self

    @property
    def n_params(self):
        return self.theta.size

    @property
    def output_activation(self):
        return self.layers[-1].activation

    def gradient(self, X, Y, loss="mse"):
        """(J, dJ/dtheta): the loss on the batch and the flat gradient."""
        X, Y, loss = self._prepare(X, Y, loss)
        grad = np.zeros_like(self.theta)
        J = self._backprop(X, Y, loss, grad)
        return J, grad

    def loss(self, X, Y, loss="mse"):
        """J on the batch (X, Y)."""
        return self.gradient(X, Y, loss)[0]

    @property
    def is_classifier(self):
        return self.output_activation.name in ("sigmoid", "softmax", "step")

    def predict_proba(self, X):
        """Class probabilities: softmax rows, or sigmoid outputs (binary: P(y=1))."""
        if self.output_activation.name not in ("sigmoid", "softmax"):
            raise ValueError("predict_proba needs a sigmoid or softmax output layer")
        return self.forward(X)

    def predict(self, X):
        """Classifiers: labels (softmax: argmax; sigmoid: a > 0.5, one column ->
        shape (m,)); regression: the outputs a[L]."""
        a = self.forward(X)
        name = self.output_activation.name
        if name == "softmax":
            return a.argmax(axis=1)
        if name in ("sigmoid", "step"):
            labels = (a > 0.5).astype(np.int64)
            return labels[:, 0] if labels.shape[1] == 1 else labels
        return a

    def score(self, X, Y, metric=None):
        """How well the outputs match Y, by ``metric`` (see :mod:`numbann.scoring`
        and docs/training.md, "Scoring"): None picks from the output layer,
        argmax accuracy for softmax, 0/1 accuracy for one sigmoid output,
        exact-match multi-label accuracy for several, sign accuracy for -1/+1
        targets on other outputs (a hinge-loss classifier), R^2 otherwise;
        or "accuracy", "argmax", "multilabel_exact", "sign_accuracy", "r2"."""
        return scoring.score(self, X, Y, metric)

    def fit(self, X, Y, **kwargs):
        """Train the network: see :func:`numbann.training.fit`."""
        from .training import fit
        return fit(self, X, Y, **kwargs)

    def save(self, path):
        """Write the architecture, theta and BatchNorm's running statistics to
        ``path`` (.npz), atomically (see :mod:`numbann.io`); ``numbann.load``
        reads it back bit for bit."""
        nbio.write(path, network_arrays(self), nbio.NETWORK)

    # pickle and copy.deepcopy: W[l], b[l] are views into theta and the
    # workspace a cache, so both are rebuilt rather than copied
    def __getstate__(self):
        state = dict(self.__dict__)
        for key in ("W", "b", "_workspace"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._workspace = None
        self._bind_views()

    def copy(self, dtype=None):
        """An independent network with the same layers and (cast) parameters
        and running statistics."""
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.dtype = _checks.as_dtype(dtype or self.dtype)
        other.theta = self.theta.astype(other.dtype, copy=True)
        if hasattr(self, "running"):
            other.running = self.running.astype(other.dtype, copy=True)
        other._bind_views()
        other._workspace = None
        return other

    def workspace(self, m):
        """The reusable buffers for batches of up to m rows (grown on demand)."""
        ws = self._workspace
        if ws is None or ws.capacity < m or ws.z_buf.dtype != self.dtype:
            ws = self._workspace = self._new_workspace(m)
        return ws


def network_arrays(net):
    """What a network file holds: ``theta``, ``config`` (JSON) and a Sequential
    network's ``running``. Non-finite parameters are refused (they could not
    be loaded)."""
    arrays = {"theta": net.theta, "config": np.array(json.dumps(net.config()))}
    if hasattr(net, "running"):
        arrays["running"] = net.running
    for key in ("theta", "running"):
        if key in arrays and not np.all(np.isfinite(arrays[key])):
            raise ValueError(f"the network's {key} contains NaN or inf: not saved")
    return arrays
