"""Dense networks whose parameters live in one flat buffer.

``net.theta`` is the flat parameter vector; ``net.W[l]`` and ``net.b[l]``
(``l = 1..L``, the course's numbering) are views into it, so writing
``net.W[1][...] = ...`` or ``net.W[1] = ...`` changes the network.
"""
import json

import numpy as np

from . import _checks, activations, initializers, losses, scoring
from . import io as nbio
from .kernels import codes, cpu
from .layers import Layer, activation_config

FORWARD_CHUNK = 4096  # rows per forward call when predicting on a large X
NO_SEED = np.uint64(0)  # dropout seed where no dropout is applied


class Dense(Layer):
    """One dense layer: ``units`` neurons, an activation and an initializer.
    ``W[l]`` is (units, n_{l-1}), ``b[l]`` (units,): PyTorch's ``nn.Linear``."""
    kind = codes.DENSE

    def __init__(self, units, activation="relu", init=None, bias_init="zeros", alpha=None):
        self.units = _checks.size(units, "units")
        self.activation = activations.get(activation, alpha)
        self.init = initializers.get(init, argument="init") if init is not None else \
            initializers.default_for(self.activation.name)
        self.bias_init = initializers.get(bias_init, argument="bias_init")

    def output_shape(self, in_shape):
        if len(in_shape) != 1:
            raise ValueError(f"Dense takes flat input, but its input is {tuple(in_shape)} per "
                             "sample: put Flatten() before it")
        return (self.units,)

    def param_shapes(self, in_shape):
        return (self.units, in_shape[0]), (self.units,)

    def init_params(self, W, b, rng):
        W[...] = self.init(W.shape, rng)
        b[...] = self.bias_init(b.shape, rng)

    def config(self):
        return {"kind": "Dense", "units": self.units, **activation_config(self.activation)}

    def __repr__(self):
        return f"Dense({self.units}, {self.activation!r}, init={self.init!r})"


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


class Workspace:
    """Buffers for z, a, delta of every layer for batches of up to ``capacity`` rows."""

    def __init__(self, sizes, capacity, dtype):
        self.capacity = capacity
        self.sizes = sizes
        self.a_off = capacity * np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        self.z_off = capacity * np.concatenate(([0], np.cumsum(sizes[1:]))).astype(np.int64)
        self.a_buf = np.zeros(self.a_off[-1], dtype)
        self.z_buf = np.zeros(self.z_off[-1], dtype)
        self.delta_buf = np.zeros(self.z_off[-1], dtype)
        self.y_buf = np.zeros(capacity * sizes[-1], dtype)

    def a(self, l, m):
        return self.a_buf[self.a_off[l]:self.a_off[l] + m * self.sizes[l]].reshape(m, -1)

    def z(self, l, m):
        return self.z_buf[self.z_off[l - 1]:self.z_off[l - 1] + m * self.sizes[l]].reshape(m, -1)

    def delta(self, l, m):
        return self.delta_buf[self.z_off[l - 1]:self.z_off[l - 1] + m * self.sizes[l]].reshape(m, -1)


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



class Network(Model):
    """A dense feed-forward network: ``Network(n_inputs, [Dense(...), ...])``."""

    def __init__(self, n_inputs, layers, seed=0, dtype="float64"):
        self.dtype = _checks.as_dtype(dtype)
        n_inputs = _checks.size(n_inputs, "n_inputs")
        _checks.seed(seed)
        layers = _checks.sequence(layers, "layers", "a list of Dense layers")
        if not layers:
            raise ValueError("a network needs at least one layer (layers is empty)")
        for layer in layers:
            if not isinstance(layer, Dense):
                raise TypeError(f"Network takes Dense layers, got {type(layer).__name__}: "
                                "build networks of other layers with numbann.Sequential")
        for layer in layers[:-1]:
            if layer.activation.name == "softmax":
                raise ValueError("layers: softmax is an output activation: use it on the last "
                                 "layer only")
        self.layers = layers
        self.sizes = np.array([n_inputs] + [ly.units for ly in layers], dtype=np.int64)
        self.L = len(layers)
        counts = self.sizes[1:] * (self.sizes[:-1] + 1)
        self.p_off = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self.acts = np.array([ly.activation.code for ly in layers], dtype=np.int64)
        self.alphas = np.array([ly.activation.alpha for ly in layers], dtype=np.float64)
        self.no_dropout = np.ones(self.L, dtype=np.float64)
        self.theta = np.zeros(int(self.p_off[-1]), self.dtype)
        self._bind_views()
        self._workspace = None
        self.initialize(seed)

    # ------------------------------------------------------------ parameters

    def _bind_views(self):
        # numpy views, as cpu.layer_W / layer_b: building a network compiles
        # (or, cached, loads) no kernel
        W, b = [], []
        for l in range(1, self.L + 1):
            n, n_in, start = int(self.sizes[l]), int(self.sizes[l - 1]), int(self.p_off[l - 1])
            W.append(self.theta[start:start + n * n_in].reshape(n, n_in))
            b.append(self.theta[start + n * n_in:start + n * n_in + n])
        self.W = LayerList(W, "W")
        self.b = LayerList(b, "b")

    def initialize(self, seed=0):
        """Draw every W[l] and b[l] from the layers' initializers, seeded."""
        rng = np.random.default_rng(_checks.seed(seed))
        for l, layer in enumerate(self.layers, 1):
            self.W[l][...] = layer.init(self.W[l].shape, rng)
            self.b[l][...] = layer.bias_init(self.b[l].shape, rng)
        self._fit_state = None  # a new run: the next fit shuffles from its seed
        return self

    @property
    def n_inputs(self):
        return int(self.sizes[0])

    @property
    def n_outputs(self):
        return int(self.sizes[-1])

    def split(self, flat):
        """(W-list, b-list): views of a vector laid out as theta (a gradient)."""
        Ls = range(1, self.L + 1)
        return ([cpu.layer_W(flat, self.sizes, self.p_off, l) for l in Ls],
                [cpu.layer_b(flat, self.sizes, self.p_off, l) for l in Ls])

    def copy(self, dtype=None):
        """An independent network with the same layers and (cast) parameters."""
        other = Network.__new__(Network)
        other.__dict__.update(self.__dict__)
        other.dtype = _checks.as_dtype(dtype or self.dtype)
        other.theta = self.theta.astype(other.dtype, copy=True)
        other._bind_views()
        other._workspace = None
        return other

    # ------------------------------------------------------------ passes

    def workspace(self, m):
        """The reusable buffers for batches of up to m rows (grown on demand)."""
        ws = self._workspace
        if ws is None or ws.capacity < m or ws.z_buf.dtype != self.dtype:
            ws = self._workspace = Workspace(self.sizes, m, self.dtype)
        return ws

    def _forward_rows(self, X):
        m = len(X)
        ws = self.workspace(min(max(m, 1), FORWARD_CHUNK))
        out = np.empty((m, self.n_outputs), self.dtype)
        for start in range(0, m, ws.capacity):
            rows = X[start:start + ws.capacity]
            k = len(rows)
            ws.a(0, k)[...] = rows
            cpu.forward(self.theta, self.sizes, self.acts, self.alphas, self.p_off,
                        ws.a_buf, ws.a_off, ws.z_buf, ws.z_off, k, self.no_dropout, NO_SEED)
            out[start:start + k] = ws.a(self.L, k)
        return out

    def forward(self, X):
        """a[L] for every row of X (shape (m, n_0)): the network's output."""
        return self._forward_rows(_checks.inputs(X, self.n_inputs, self.dtype))

    def _prepare(self, X, Y, loss):
        loss = losses.get(loss)
        loss.check_output(self.output_activation)
        X = _checks.inputs(X, self.n_inputs, self.dtype)
        Y = loss.targets(Y, self.n_outputs, self.dtype)
        _checks.same_rows(X, Y)
        return X, Y, loss

    def _backprop(self, X, Y, loss, grad):
        m = len(X)
        ws = self.workspace(m)
        ws.a(0, m)[...] = X
        return cpu.loss_and_gradient(
            self.theta, grad, self.sizes, self.acts, self.alphas, self.p_off,
            ws.a_buf, ws.a_off, ws.z_buf, ws.z_off, ws.delta_buf, m, Y,
            loss.code, loss.scale(m, self.n_outputs), self.no_dropout, NO_SEED)

    def backprop(self, X, Y, loss="mse"):
        """One forward and backward pass, returning every number as a :class:`Step`."""
        X, Y, loss = self._prepare(X, Y, loss)
        grad = np.zeros_like(self.theta)
        J = self._backprop(X, Y, loss, grad)
        ws, m, Ls = self._workspace, len(X), range(1, self.L + 1)
        return Step(
            J, X.copy(),
            z=[ws.z(l, m).copy() for l in Ls], a=[ws.a(l, m).copy() for l in Ls],
            delta=[ws.delta(l, m).copy() for l in Ls],
            dW=[cpu.layer_W(grad, self.sizes, self.p_off, l).copy() for l in Ls],
            db=[cpu.layer_b(grad, self.sizes, self.p_off, l).copy() for l in Ls],
            grad=grad)

    def evaluate(self, X, Y, loss="mse"):
        """J on the whole set (X, Y), computed in chunks (no gradient)."""
        X, Y, loss = self._prepare(X, Y, loss)
        m_total = len(X)
        ws = self.workspace(min(m_total, FORWARD_CHUNK))
        scale = loss.scale(m_total, self.n_outputs)
        L, J = self.L, 0.0
        for start in range(0, m_total, ws.capacity):
            k = min(ws.capacity, m_total - start)
            ws.a(0, k)[...] = X[start:start + k]
            cpu.forward(self.theta, self.sizes, self.acts, self.alphas, self.p_off,
                        ws.a_buf, ws.a_off, ws.z_buf, ws.z_off, k, self.no_dropout, NO_SEED)
            J += cpu.loss_delta(loss.code, scale, self.acts[-1], self.alphas[-1], ws.z(L, k),
                                ws.a(L, k), Y[start:start + k], ws.delta(L, k))
        return J

    # ------------------------------------------------------------ files

    def config(self):
        """The architecture as plain data (what ``save`` writes beside theta)."""
        return {"n_inputs": self.n_inputs, "dtype": self.dtype.name,
                "layers": [{"units": ly.units, "activation": ly.activation.name,
                            "alpha": ly.activation.alpha if ly.activation.name in ("leaky_relu", "elu")
                            else None} for ly in self.layers]}

    def summary(self):
        rows = [f"{'layer':>5}  {'shape of W[l]':>14}  {'activation':<12} params"]
        for l, layer in enumerate(self.layers, 1):
            rows.append(f"{l:>5}  {str(self.W[l].shape):>14}  {layer.activation.name:<12} "
                        f"{self.W[l].size + self.b[l].size}")
        rows.append(f"total {self.n_params} parameters, {self.dtype.name}")
        return "\n".join(rows)

    def __repr__(self):
        acts = ", ".join(ly.activation.name for ly in self.layers)
        return f"Network(sizes={self.sizes.tolist()}, activations=[{acts}], dtype={self.dtype.name})"


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


def load(path):
    """Read a network written by ``save`` (bit-exact parameters and running
    statistics), or the network of a checkpoint written by ``fit(...,
    checkpoint=path)``: a :class:`Network` or a
    :class:`~numbann.sequential.Sequential`. A truncated, corrupted, foreign
    or newer file raises :class:`numbann.NumbannFileError` naming the file."""
    _, _, arrays = nbio.read(path, (nbio.NETWORK, nbio.CHECKPOINT), legacy=("theta", "config"))
    return network_from_arrays(path, arrays)


def network_from_arrays(path, arrays):
    """The network held by a file's arrays (see ``network_arrays``)."""
    config = nbio.json_entry(path, arrays, "config")
    nbio.require(path, arrays, "theta")
    return from_config(config, arrays["theta"], arrays.get("running"), path)


def from_config(config, theta, running=None, source="the file"):
    """A network rebuilt from its ``config()`` with these parameters (and a
    Sequential network's running statistics), checked: errors are
    :class:`numbann.NumbannFileError` naming ``source``."""
    try:
        if config.get("kind") == "Sequential":
            from .layers import from_config as layer_from_config
            from .sequential import Sequential
            layers = [_dense(spec) if spec["kind"] == "Dense" else layer_from_config(spec)
                      for spec in config["layers"]]
            net = Sequential(config["input_shape"], layers, dtype=config["dtype"])
        else:
            net = Network(config["n_inputs"], [_dense(spec) for spec in config["layers"]],
                          dtype=config["dtype"])
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as e:
        raise nbio.NumbannFileError(f"{source}: its config does not describe a network "
                                    f"({type(e).__name__}: {e})") from None
    arrays = {k: v for k, v in (("theta", theta), ("running", running)) if v is not None}
    net.theta[...] = nbio.params(source, arrays, "theta", net.dtype, net.theta.size)
    if getattr(net, "running", None) is not None and (running is not None or net.running.size):
        net.running[...] = nbio.params(source, arrays, "running", net.dtype, net.running.size)
    return net


def _dense(spec):
    return Dense(spec["units"], activations.get(spec["activation"], spec["alpha"]), init="zeros")


def MLP(sizes, hidden="relu", output="identity", init=None, seed=0, dtype="float64", alpha=None):
    """A multilayer perceptron with layer sizes ``[n_0, n_1, ..., n_L]``.

    Hidden layers use ``hidden`` (with ``alpha`` for leaky_relu/elu), the last
    layer ``output``; ``init`` names one initializer for every layer (default:
    He for the ReLU family, Xavier otherwise; biases zero).
    """
    sizes = _checks.sequence(sizes, "sizes", "a list of layer sizes [n_0, n_1, ..., n_L]")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least [n_inputs, n_outputs], got {sizes}")
    sizes = [_checks.size(n, f"sizes[{i}]") for i, n in enumerate(sizes)]
    hidden_act = activations.get(hidden, alpha, argument="hidden")
    output_act = activations.get(output, argument="output")
    if hidden_act.name == "softmax" and len(sizes) > 2:
        raise ValueError("hidden='softmax': softmax is an output activation (output='softmax')")
    layers = [Dense(n, hidden_act, init) for n in sizes[1:-1]]
    layers.append(Dense(sizes[-1], output_act, init))
    return Network(sizes[0], layers, seed=seed, dtype=dtype)
