"""scikit-learn estimators over numbann networks: ``MLPClassifier``,
``MLPRegressor`` and ``CNNClassifier`` (see docs/sklearn.md).

They follow scikit-learn's estimator contract (``get_params``/``clone``,
``fit`` returning ``self``, ``classes_`` of any label type, ``partial_fit``,
``n_features_in_``/``feature_names_in_``, ``__sklearn_tags__``), so they work
in ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``. Training is
``numbann``'s ``fit``: the hyperparameters map onto its arguments as listed
in docs/sklearn.md. ``import numbann`` does not import this module nor
scikit-learn; ``import numbann.sklearn`` does (scikit-learn >= 1.6).
"""
import copy
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _checks, optim
from ._typing import Array, ArrayLike
from .base import Model
from .layers import Conv2D, Flatten, Layer, MaxPool2D
from .model import MLP, Dense
from .sequential import Sequential

__all__ = ["MLPClassifier", "MLPRegressor", "CNNClassifier"]

_ACTIVATIONS = {"logistic": "sigmoid"}  # scikit-learn's names numbann spells otherwise


def _activation(name: Any) -> Any:
    return _ACTIVATIONS.get(name, name) if isinstance(name, str) else name


def _sizes(hidden: int | Sequence[int] | None) -> list[int]:
    """hidden_layer_sizes as a list (an int is one layer, as in scikit-learn)."""
    if hidden is None:
        return []
    return list(hidden) if hasattr(hidden, "__iter__") else [hidden]


def _writable(a: Array) -> Array:
    # numba compiles a separate (slow to build) specialization for read-only
    # arrays (a memmap from joblib): hand the kernels a writable copy instead
    return a if a.flags.writeable and a.flags.c_contiguous else np.array(a, order="C")


class _Monitor:
    """fit's callback: scikit-learn's stopping rule. Training stops when the
    training loss (or, with ``early_stopping``, the validation score) has not
    improved by ``tol`` for more than ``n_iter_no_change`` epochs; with
    early stopping the weights of the best validation score are put back."""

    def __init__(self, tol: float, n_iter_no_change: int, on_score: bool) -> None:
        self.tol, self.patience, self.on_score = tol, n_iter_no_change, on_score
        self.best, self.count, self.stopped = np.inf, 0, False
        self.theta: Array | None = None
        self.scores: list[float] = []

    def __call__(self, net: Model, epoch: int, logs: dict[str, float]) -> bool:
        value = logs["loss"]
        if self.on_score:
            self.scores.append(logs["val_metric"])
            value = -logs["val_metric"]
        self.count = self.count + 1 if value > self.best - self.tol else 0
        if value < self.best:
            self.best = value
            if self.on_score:
                self.theta = net.theta.copy()
        self.stopped = self.count > self.patience
        return self.stopped


class _Base(BaseEstimator):
    """What the three estimators share: validation, the network's fit, history."""
    _loss = "mse"
    _y_kwargs: dict[str, Any] = {}

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "network_")

    def __setstate__(self, state: dict[str, Any]) -> None:
        # an estimator loaded by joblib with mmap_mode holds read-only arrays,
        # which the kernels cannot take: give the network and optimizer copies
        super().__setstate__(state)
        for obj in (state.get("network_"), state.get("_optimizer")):
            if obj is not None:
                for key, value in vars(obj).items():
                    if isinstance(value, np.ndarray) and not value.flags.writeable:
                        setattr(obj, key, np.array(value))
        if state.get("network_") is not None:
            self.network_._bind_views()

    def _dtype(self) -> np.dtype[Any]:
        return _checks.as_dtype(self.dtype)

    def _reshape(self, X: Array) -> Array:
        return X

    def _new_optimizer(self) -> optim.Optimizer:
        if isinstance(self.solver, optim.Optimizer):
            return copy.deepcopy(self.solver)  # the parameter stays as given
        return optim.get_optimizer(self.solver, lr=self.learning_rate_init)

    def _batch(self, n: int) -> int:
        if isinstance(self.batch_size, str) and self.batch_size == "auto":
            return min(200, n)
        return min(_checks.positive_int(self.batch_size, "batch_size"), n)

    def _fit(self, X: Any, y: Any, incremental: bool,
             classes: ArrayLike | None = None) -> Any:
        reset = not hasattr(self, "network_") or not (incremental or self.warm_start)
        X, y = validate_data(self, X, y, reset=reset, dtype=self._dtype(), **self._y_kwargs)
        Y = self._targets(y, reset, incremental, classes)
        if reset:
            rng = check_random_state(self.random_state)
            net_seed, self._seed = (int(s) for s in rng.randint(0, 2**31 - 1, size=2))
            self.network_ = self._build(X.shape[1], self._n_outputs(Y), net_seed)
            self.loss_curve_: list[float] = []
            self.n_iter_, self._optimizer = 0, None
            self.best_loss_ = self.validation_scores_ = self.best_validation_score_ = None
        if self._optimizer is None or not incremental:  # as scikit-learn: partial_fit keeps it
            self._optimizer = self._new_optimizer()
        X, Y = _writable(self._reshape(X)), _writable(Y)
        bs = self._batch(len(X))
        kw = dict(loss=self._loss, optimizer=self._optimizer, batch_size=bs,
                  shuffle=self.shuffle, seed=self._seed, l2=self.alpha / bs,
                  verbose=int(self.verbose), explode=None)
        monitor, epochs = None, 1
        if not incremental:
            epochs = self.max_iter
            if self.n_iter_no_change is not None:
                monitor = _Monitor(self.tol, self.n_iter_no_change, bool(self.early_stopping))
                kw["callbacks"] = monitor
            if self.early_stopping:
                stratify = Y if self._loss == "ce" else None
                X, Xv, Y, Yv = train_test_split(X, Y, test_size=self.validation_fraction,
                                                random_state=self._seed, stratify=stratify)
                kw["validation_data"] = (Xv, Yv)
        history = self.network_.fit(X, Y, epochs=epochs, **kw)
        self.history_ = history
        self.loss_curve_ = self.loss_curve_ + list(history.loss)
        self.n_iter_ += len(history.loss)
        self.loss_ = history.loss[-1]
        if monitor is not None:
            if monitor.on_score:
                self.validation_scores_ = monitor.scores
                self.best_validation_score_ = -monitor.best
                if monitor.theta is not None:
                    self.network_.theta[...] = monitor.theta
            else:
                self.best_loss_ = monitor.best
            if not monitor.stopped:
                warnings.warn(ConvergenceWarning(
                    f"{type(self).__name__}: max_iter={self.max_iter} epochs reached and the "
                    "optimization has not converged yet."))
        return self

    def _forward(self, X: Any) -> Array:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self._dtype())
        return np.asarray(self.network_.forward(_writable(self._reshape(X))))


class _Classifier(ClassifierMixin, _Base):
    """Softmax head (n_classes units, also for two classes), cross-entropy on
    the class indices of ``np.unique(y)``; predictions in the original labels."""
    _loss = "ce"

    def _n_outputs(self, Y: Array) -> int:
        return len(self.classes_)

    def _targets(self, y: Array, reset: bool, incremental: bool,
                 classes: ArrayLike | None) -> Array:
        check_classification_targets(y)
        if reset:
            if incremental and classes is None:
                raise ValueError("classes must be given on the first call to partial_fit "
                                 "(every label y can take, e.g. classes=np.unique(y_all))")
            self.classes_ = np.unique(np.asarray(classes) if incremental else y)
            if len(self.classes_) < 2:
                raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes, "
                                 f"but the data holds {len(self.classes_)} class")
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={classes!r} differ from classes_={self.classes_!r} "
                             "of the first partial_fit call")
        index = np.clip(np.searchsorted(self.classes_, y), 0, len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if np.any(unknown):
            raise ValueError(f"y holds labels not in classes_ {self.classes_!r}: "
                             f"{np.unique(y[unknown])[:5]!r}")
        return index.astype(np.int64)

    def fit(self, X: ArrayLike, y: ArrayLike) -> Any:
        """Train for up to ``max_iter`` epochs (a new network unless ``warm_start``)."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None) -> Any:
        """One epoch on (X, y), continuing the network and the optimizer's state;
        ``classes`` (every possible label) is required on the first call."""
        return self._fit(X, y, incremental=True, classes=classes)

    def predict_proba(self, X: ArrayLike) -> Array:
        """Class probabilities, shape (m, n_classes), columns in ``classes_`` order."""
        return self._forward(X)

    def predict_log_proba(self, X: ArrayLike) -> Array:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: ArrayLike) -> Array:
        check_is_fitted(self)
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])


def _mlp_build(est: Any, n_in: int, n_out: int, seed: int, output: str) -> Model:
    return MLP([n_in, *_sizes(est.hidden_layer_sizes), n_out],
               hidden=_activation(est.activation), output=output, seed=seed, dtype=est.dtype)


class MLPClassifier(_Classifier):
    """A multilayer perceptron classifier trained by numbann (scikit-learn's
    ``MLPClassifier`` parameters; see docs/sklearn.md).

    ``hidden_layer_sizes``, ``activation`` ("relu", "tanh", "logistic",
    "identity" or any numbann activation) build ``numbann.MLP([n_features,
    *hidden_layer_sizes, n_classes], output="softmax")``; ``solver`` is a
    numbann optimizer name ("adam", "sgd", "adamw", "rmsprop", "momentum",
    "nesterov", "adagrad") built with ``lr=learning_rate_init``, or an
    optimizer object (copied); ``max_iter`` is the number of epochs,
    ``alpha`` the L2 penalty (numbann's ``l2 = alpha / batch_size``, the
    penalty scikit-learn's MLP applies per step); ``tol`` and
    ``n_iter_no_change`` stop training as scikit-learn does (None: never),
    on the validation accuracy of a ``validation_fraction`` split when
    ``early_stopping``. Fitted: ``network_``, ``classes_``, ``loss_curve_``,
    ``history_`` (numbann ``History`` of the last call), ``n_iter_``,
    ``loss_``, ``n_features_in_``, ``feature_names_in_``.
    """

    def __init__(self, hidden_layer_sizes: int | Sequence[int] = (100,),
                 activation: str = "relu", solver: str | optim.Optimizer = "adam",
                 alpha: float = 1e-4, batch_size: int | str = "auto",
                 learning_rate_init: float = 1e-3, max_iter: int = 200, shuffle: bool = True,
                 random_state: Any = None, tol: float = 1e-4, verbose: int = 0,
                 warm_start: bool = False, early_stopping: bool = False,
                 validation_fraction: float = 0.1, n_iter_no_change: int | None = 10,
                 dtype: str = "float64") -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype

    def _build(self, n_in: int, n_out: int, seed: int) -> Model:
        return _mlp_build(self, n_in, n_out, seed, "softmax")


class MLPRegressor(RegressorMixin, _Base):
    """A multilayer perceptron regressor trained by numbann with the mean
    squared error (identity output; one or several targets). Parameters and
    fitted attributes as :class:`MLPClassifier` (no ``classes_``; early
    stopping monitors the validation R^2); ``predict`` returns (m,) when
    ``y`` was 1-D, (m, n_outputs) otherwise."""
    _y_kwargs = {"multi_output": True, "y_numeric": True}
    __init__ = MLPClassifier.__init__

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _n_outputs(self, Y: Array) -> int:
        return int(Y.shape[1])

    def _targets(self, y: Array, reset: bool, incremental: bool,
                 classes: ArrayLike | None) -> Array:
        Y = y.reshape(len(y), -1).astype(self._dtype())
        if reset:
            self._y_1d, self.n_outputs_ = y.ndim == 1, Y.shape[1]
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} targets but the network was fitted on "
                             f"{self.n_outputs_}")
        return Y

    def _build(self, n_in: int, n_out: int, seed: int) -> Model:
        return _mlp_build(self, n_in, n_out, seed, "identity")

    def fit(self, X: ArrayLike, y: ArrayLike) -> Any:
        """Train for up to ``max_iter`` epochs (a new network unless ``warm_start``)."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X: ArrayLike, y: ArrayLike) -> Any:
        """One epoch on (X, y), continuing the network and the optimizer's state."""
        return self._fit(X, y, incremental=True)

    def predict(self, X: ArrayLike) -> Array:
        out = self._forward(X)
        return out.ravel() if self._y_1d else out


class CNNClassifier(_Classifier):
    """A convolutional classifier on flat rows, so it fits pipelines of flat data.

    Each row of X is reshaped to an image ``input_shape`` = (C, H, W) (None: a
    square grey image when n_features is a square, 64 -> (1, 8, 8), else one
    row (1, 1, n_features)). The network is ``numbann.Sequential``: for each
    ``(filters, kernel_size)`` of ``conv_layers`` a ``Conv2D(filters,
    kernel_size, padding="same", activation)`` followed by ``MaxPool2D(pool_size)``
    while the feature map is at least ``pool_size`` high and wide, then
    ``Flatten``, ``Dense`` layers of ``hidden_layer_sizes`` and a softmax
    ``Dense(n_classes)``. The other parameters and the fitted attributes are
    :class:`MLPClassifier`'s, plus ``input_shape_``.
    """

    def __init__(self, input_shape: Sequence[int] | None = None,
                 conv_layers: Sequence[tuple[int, int]] = ((8, 3),), pool_size: int = 2,
                 hidden_layer_sizes: int | Sequence[int] = (), activation: str = "relu",
                 solver: str | optim.Optimizer = "adam", alpha: float = 1e-4,
                 batch_size: int | str = "auto", learning_rate_init: float = 1e-3,
                 max_iter: int = 200, shuffle: bool = True, random_state: Any = None,
                 tol: float = 1e-4, verbose: int = 0, warm_start: bool = False,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 n_iter_no_change: int | None = 10, dtype: str = "float64") -> None:
        self.input_shape = input_shape
        self.conv_layers = conv_layers
        self.pool_size = pool_size
        MLPClassifier.__init__(
            self, hidden_layer_sizes, activation, solver, alpha, batch_size,
            learning_rate_init, max_iter, shuffle, random_state, tol, verbose, warm_start,
            early_stopping, validation_fraction, n_iter_no_change, dtype)

    def _image_shape(self, n: int) -> tuple[int, ...]:
        if self.input_shape is None:
            s = math.isqrt(n)
            return (1, s, s) if s * s == n else (1, 1, n)
        shape = tuple(int(d) for d in self.input_shape)
        if len(shape) != 3 or math.prod(shape) != n:
            raise ValueError(f"input_shape={self.input_shape!r} must be (C, H, W) with "
                             f"C * H * W = n_features = {n}")
        return shape

    def _build(self, n_in: int, n_out: int, seed: int) -> Model:
        self.input_shape_ = shape = self._image_shape(n_in)
        _, H, W = shape
        act, pool = _activation(self.activation), self.pool_size
        layers: list[Layer] = []
        for filters, kernel_size in self.conv_layers:
            layers.append(Conv2D(filters, kernel_size, padding="same", activation=act))
            if pool and pool > 1 and H >= pool and W >= pool:
                layers.append(MaxPool2D(pool))
                H, W = H // pool, W // pool
        layers.append(Flatten())
        layers += [Dense(units, act) for units in _sizes(self.hidden_layer_sizes)]
        layers.append(Dense(n_out, "softmax"))
        return Sequential(shape, layers, seed=seed, dtype=self.dtype)

    def _reshape(self, X: Array) -> Array:
        return X.reshape((len(X),) + self.input_shape_)
