"""What every network shares (numbann.model.Network, numbann.sequential.Sequential):
per-layer views indexed like the course, the record of one pass, and the
task heads, fit, save, copy and pickling, written against ``forward``,
``_prepare``, ``_backprop``, ``split`` and ``_bind_views``."""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from . import _checks, scoring
from . import io as nbio
from ._typing import Array, ArrayLike, DTypeLike

if TYPE_CHECKING:
    from .activations import Activation
    from .device_eval import DeviceCopy
    from .history import History
    from .losses import Loss
    from .optim import Optimizer
    from .schedules import Schedule

ModelT = TypeVar("ModelT", bound="Model")

FORWARD_CHUNK = 4096  # rows per forward call when predicting on a large X
NO_SEED = np.uint64(0)  # dropout seed where no dropout is applied


class LayerList:
    """Per-layer values indexed like the course, ``x[1] .. x[L]``."""

    def __init__(self, items: Iterable[Array], name: str) -> None:
        self._items = list(items)
        self._name = name

    def _index(self, l: int) -> int:
        L = len(self._items)
        if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or not 1 <= l <= L:
            raise IndexError(f"{self._name}[l]: layers are numbered 1..{L} as in the course, got {l!r}")
        return int(l) - 1

    def __getitem__(self, l: int) -> Array:
        return self._items[self._index(l)]

    def checked(self, l: int, value: ArrayLike) -> Array:
        """value as an array fit for x[l]: real, finite, of x[l]'s shape (no broadcasting)."""
        target, name = self._items[self._index(l)], f"{self._name}[{l}]"
        value = _checks.array(value, name)
        _checks.real_dtype(value, name)
        if value.shape != target.shape:
            raise ValueError(f"{name} has shape {target.shape}, got {value.shape}")
        return _checks.finite(value, name)

    def __setitem__(self, l: int, value: ArrayLike) -> None:
        self._items[self._index(l)][...] = self.checked(l, value)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Array]:
        return iter(self._items)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{self._name}[{i}]: {x.shape}" for i, x in enumerate(self._items, 1))
        return f"<{shapes}>"


class Step:
    """Every number of one forward and backward pass (copies, safe to keep).

    ``a[0]`` is the input batch; ``z[l]``, ``a[l]``, ``delta[l]``, ``dW[l]``,
    ``db[l]`` for ``l = 1..L``; ``grad`` is the flat gradient; ``dX`` is
    dJ/da[0], the gradient with respect to the input, shaped like X.
    """

    def __init__(self, loss: float, X: Array, z: Iterable[Array], a: Iterable[Array],
                 delta: Iterable[Array], dW: Iterable[Array], db: Iterable[Array], grad: Array,
                 dX: Array | None = None) -> None:
        self.loss = loss
        self.X = X
        self.z = LayerList(z, "z")
        self.a = _Activations(X, a)
        self.delta = LayerList(delta, "delta")
        self.dW = LayerList(dW, "dW")
        self.db = LayerList(db, "db")
        self.grad = grad
        self.dX = dX

    def __repr__(self) -> str:
        return f"Step(loss={self.loss:.6g}, L={len(self.z)})"


class _Activations(LayerList):
    """a[0] = X, then a[1..L]."""

    def __init__(self, X: Array, a: Iterable[Array]) -> None:
        super().__init__(a, "a")
        self._X = X

    def __getitem__(self, l: int) -> Array:
        return self._X if isinstance(l, (int, np.integer)) and l == 0 else super().__getitem__(l)


class Model:
    """What every network shares: the task heads and ``fit``, written against
    ``forward`` and ``output_activation``."""

    device = "cpu"  # where forward, predict, score and evaluate run: see ``to``
    _gpu: DeviceCopy | None = None  # the GPU's copy of theta and the running statistics

    if TYPE_CHECKING:  # what numbann.model.Network and numbann.sequential.Sequential provide
        W: LayerList
        b: LayerList
        L: int
        theta: Array
        dtype: np.dtype[Any]
        layers: Sequence[Any]  # Layer objects (Dense, Conv2D, ...)
        running: Array  # Sequential networks' running statistics
        _workspace: Any
        _fit_state: Any  # where the last fit left its run (numbann.checkpoint.FitState)

        @property
        def n_outputs(self) -> int: ...
        def forward(self, X: ArrayLike) -> Array: ...
        def split(self, theta: Array) -> tuple[list[Array], list[Array]]: ...
        def config(self) -> dict[str, Any]: ...
        def evaluate(self, X: ArrayLike, Y: ArrayLike, loss: str | Loss = "mse") -> float: ...
        def _prepare(self, X: ArrayLike, Y: ArrayLike,
                     loss: str | Loss) -> tuple[Array, Array, Loss]: ...
        def _backprop(self, X: Array, Y: Array, loss: Loss, grad: Array) -> float: ...
        def _backward(self, X: Array, upstream: Array, grad: Array) -> float: ...
        def _inputs(self, X: ArrayLike) -> Array: ...
        def _input_gradient(self, X: Array) -> Array: ...
        def _bind_views(self) -> None: ...
        def _new_workspace(self, m: int) -> Any: ...

    def set_params(self: ModelT, W: Sequence[ArrayLike], b: Sequence[ArrayLike]) -> ModelT:
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
    def n_params(self) -> int:
        return self.theta.size

    def to(self: ModelT, device: str) -> ModelT:
        """Put the network on ``device`` ("cpu" or "cuda") and return it.

        On "cuda", ``forward``, ``predict``, ``predict_proba``, ``score`` and
        ``evaluate`` run on the GPU (only X, Y and the results cross), and
        ``fit`` trains there unless given ``device="cpu"``. ``theta`` (and the
        running statistics) on the host stay the source of truth: the GPU's
        copy is uploaded here and again whenever the host arrays have changed
        (a write to ``W[l]``, a CPU fit), so no update is lost; ``to("cpu")``
        drops it. See numbann.device_eval and docs/cuda.md."""
        from .device import check_device
        self.device = check_device(device)
        if device == "cpu":
            self._gpu = None
        else:
            self._on_gpu().params()  # uploaded now
        return self

    def _on_gpu(self) -> DeviceCopy:
        """The GPU's copy of the parameters (its passes upload them if the host changed)."""
        from .device_eval import DeviceCopy
        if self._gpu is None:
            self._gpu = DeviceCopy(self)
        return self._gpu

    @property
    def output_activation(self) -> Activation:
        last: Activation = self.layers[-1].activation
        return last

    def gradient(self, X: ArrayLike, Y: ArrayLike, loss: str | Loss = "mse") -> tuple[float, Array]:
        """(J, dJ/dtheta): the loss on the batch and the flat gradient."""
        X, Y, loss = self._prepare(X, Y, loss)
        grad = np.zeros_like(self.theta)
        J = self._backprop(X, Y, loss, grad)
        return J, grad

    def loss(self, X: ArrayLike, Y: ArrayLike, loss: str | Loss = "mse") -> float:
        """J on the batch (X, Y)."""
        return self.gradient(X, Y, loss)[0]

    def backprop(self, X: ArrayLike, Y: ArrayLike, loss: str | Loss = "mse") -> Step:
        """One forward and backward pass, returning every number as a
        :class:`Step`, the input gradient ``dX = dJ/da[0]`` included
        (Sequential networks: a training step, with batch statistics)."""
        X, Y, loss = self._prepare(X, Y, loss)
        grad = np.zeros_like(self.theta)
        J = self._backprop(X, Y, loss, grad)
        return self._step(J, X, grad)

    def backward(self, X: ArrayLike, upstream: ArrayLike) -> Step:
        """Backpropagate a given upstream gradient ``upstream`` = dJ/da[L]
        (shaped like the output, (m, n_L)) through the network, for chaining
        networks (GANs) or saliency maps: a :class:`Step` whose ``dW``,
        ``db``, ``grad`` and ``dX`` are those of any J with that dJ/da[L],
        and whose ``loss`` is J = sum(upstream * a[L]), the linear one.
        delta[L] = upstream * g'(z[L]) (softmax: its Jacobian-vector product)."""
        X = self._inputs(X)
        m = len(X)
        upstream = _checks.real_array(upstream, "upstream", shape=(m, self.n_outputs),
                                      dtype=self.dtype)
        grad = np.zeros_like(self.theta)
        J = self._backward(X, upstream, grad)
        return self._step(J, X, grad)

    def _step(self, J: float, X: Array, grad: Array) -> Step:
        """The Step of the pass just run on X (read from the workspace)."""
        ws, m, Ls = self._workspace, len(X), range(1, self.L + 1)
        dW, db = self.split(grad)
        return Step(J, X.copy(), z=[ws.z(l, m).copy() for l in Ls],
                    a=[ws.a(l, m).copy() for l in Ls], delta=[ws.delta(l, m).copy() for l in Ls],
                    dW=[w.copy() for w in dW], db=[b.copy() for b in db], grad=grad,
                    dX=self._input_gradient(X))

    @property
    def is_classifier(self) -> bool:
        return self.output_activation.name in ("sigmoid", "softmax", "step")

    def predict_proba(self, X: ArrayLike) -> Array:
        """Class probabilities: softmax rows, or sigmoid outputs (binary: P(y=1))."""
        if self.output_activation.name not in ("sigmoid", "softmax"):
            raise ValueError("predict_proba needs a sigmoid or softmax output layer")
        return self.forward(X)

    def predict(self, X: ArrayLike) -> Array:
        """Classifiers: labels (softmax: argmax; sigmoid: a > 0.5, one column ->
        shape (m,)); regression: the outputs a[L]."""
        a = self.forward(X)
        name = self.output_activation.name
        if name == "softmax":
            return np.asarray(a.argmax(axis=1))
        if name in ("sigmoid", "step"):
            labels = (a > 0.5).astype(np.int64)
            return labels[:, 0] if labels.shape[1] == 1 else labels
        return a

    def score(self, X: ArrayLike, Y: ArrayLike, metric: str | None = None) -> float:
        """How well the outputs match Y, by ``metric`` (see :mod:`numbann.scoring`
        and docs/training.md, "Scoring"): None picks from the output layer,
        argmax accuracy for softmax, 0/1 accuracy for one sigmoid output,
        exact-match multi-label accuracy for several, sign accuracy for -1/+1
        targets on other outputs (a hinge-loss classifier), R^2 otherwise;
        or "accuracy", "argmax", "multilabel_exact", "sign_accuracy", "r2"."""
        return scoring.score(self, X, Y, metric)

    def fit(self, X: ArrayLike, Y: ArrayLike, loss: str | Loss = "mse",
            optimizer: str | Optimizer = "sgd", epochs: int = 10, batch_size: int = 32,
            shuffle: bool = True, seed: int | None = 0,
            validation_data: tuple[ArrayLike, ArrayLike] | None = None,
            schedule: str | Schedule | None = None, patience: int | None = None,
            restore_best: bool = True, l1: float = 0.0, l2: float = 0.0,
            dropout: float | Sequence[float] = 0.0, clip_value: float | None = None,
            clip_norm: float | None = None, verbose: int = 1,
            callbacks: Callable[..., Any] | Iterable[Callable[..., Any]] = (),
            trace: Any = None, device: str | None = None,
            checkpoint: str | os.PathLike[str] | None = None,
            checkpoint_every: int | None = None, explode: float | None = 10.0) -> History:
        """Train the network on (X, Y) by mini-batch gradient descent; returns
        a :class:`numbann.History` (per-epoch ``loss``, ``val_loss``, ...).

        ``loss``: a loss name or object (``"mse"``, ``"ce"``, ``"bce"``, ...);
        ``optimizer``: a name or a ``numbann.optim`` object (pass the same
        object again to continue a run); ``schedule``: a learning-rate schedule
        (``numbann.schedules``); ``validation_data=(X_val, Y_val)``,
        ``patience`` and ``restore_best``: early stopping; ``l1``, ``l2``,
        ``dropout``, ``clip_value``, ``clip_norm``: regularization and
        clipping; ``callbacks``: ``f(net, epoch, logs)`` functions (True
        stops); ``trace``: a ``numbann.trace.Recorder``; ``device``: "cpu" or
        "cuda" (default: ``net.device``, see ``to``); ``checkpoint``/
        ``checkpoint_every``: save the training state for ``numbann.resume``;
        ``explode``: warn when the loss runs away.
        Every argument is described in :func:`numbann.training.fit`."""
        from .training import fit
        return fit(self, X, Y, loss=loss, optimizer=optimizer, epochs=epochs,
                   batch_size=batch_size, shuffle=shuffle, seed=seed,
                   validation_data=validation_data, schedule=schedule, patience=patience,
                   restore_best=restore_best, l1=l1, l2=l2, dropout=dropout,
                   clip_value=clip_value, clip_norm=clip_norm, verbose=verbose,
                   callbacks=callbacks, trace=trace, device=device, checkpoint=checkpoint,
                   checkpoint_every=checkpoint_every, explode=explode)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the architecture, theta and BatchNorm's running statistics to
        ``path`` (.npz), atomically (see :mod:`numbann.io`); ``numbann.load``
        reads it back bit for bit."""
        nbio.write(path, network_arrays(self), nbio.NETWORK)

    # pickle and copy.deepcopy: W[l], b[l] are views into theta and the
    # workspace a cache, so both are rebuilt rather than copied
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("W", "b", "_workspace", "_gpu"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._workspace = None
        self._bind_views()

    def copy(self: ModelT, dtype: DTypeLike | None = None) -> ModelT:
        """An independent network with the same layers and (cast) parameters
        and running statistics."""
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.dtype = _checks.as_dtype(dtype or self.dtype)
        other.theta = self.theta.astype(other.dtype, copy=True)
        if hasattr(self, "running"):
            other.running = self.running.astype(other.dtype, copy=True)
        other._bind_views()
        other._workspace = other._gpu = None  # on the same device, with a copy of its own
        return other

    def workspace(self, m: int) -> Any:
        """The reusable buffers for batches of up to m rows (grown on demand)."""
        ws = self._workspace
        if ws is None or ws.capacity < m or ws.z_buf.dtype != self.dtype:
            ws = self._workspace = self._new_workspace(m)
        return ws


def network_arrays(net: Model) -> dict[str, Array]:
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
