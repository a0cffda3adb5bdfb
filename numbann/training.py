"""The training loop: epochs of shuffled mini-batches, validation, early
stopping, regularization, clipping, schedules, progress bar.

Without a trace, each epoch is one call into compiled code
(``kernels.cpu_train.train_epoch``). With a trace (or Newton's method) the
same step kernel runs batch by batch from Python, so the recorder can copy
what it keeps between the gradient and the update.
"""
import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from . import _checks, interrupt, losses, optim, schedules, scoring
from ._typing import Array, ArrayLike
from . import checkpoint as _checkpoint
from .history import History, check_explosion, diverged, record
from .kernels import codes, cpu_train

if TYPE_CHECKING:
    from .base import Model


BLOCK_STEPS = 1024  # without per-epoch work, epochs run in compiled blocks of about this many steps
BLOCK_ROWS = 1 << 20  # and of at most this many row indices


SPLIT_MIN_WORK = 1 << 20  # a batch's work (rows x interrupt.work_per_row) from which it splits
SPLIT_MIN_ROWS = 8  # rows per part, at least
SPLIT_MAX_BYTES = 1 << 28  # the parts' extra gradients, at most
_BLAS: Any = None  # threadpoolctl's controller, made on the first split fit


class _Run:
    """Everything one fit call needs, validated once (``net``: a Network here,
    a Sequential in plan_run.PlanRun)."""

    def __init__(self, net: Any, X: ArrayLike, Y: ArrayLike, loss: losses.Loss,
                 optimizer: str | optim.Optimizer, batch_size: int,
                 dropout: float | Sequence[float], l1: float, l2: float,
                 clip_value: float | None, clip_norm: float | None, seed: int | None) -> None:
        self.net = net
        self.X, self.Y, self.loss = net._prepare(X, Y, loss)
        self.batch_size = min(_checks.positive_int(batch_size, "batch_size"), len(self.X))
        self.optimizer = optim.get_optimizer(optimizer)
        self.keep = self._keep_probabilities(dropout)
        self.l1, self.l2 = _checks.real(l1, "l1", 0), _checks.real(l2, "l2", 0)
        self.clip_value, self.clip_norm = (
            _checks.real(value, name, 0, low_open=True, none=True) or 0.0
            for name, value in (("clip_value", clip_value), ("clip_norm", clip_norm)))
        self.seed = np.uint64(_checks.seed(seed) or 0)
        self.grad = np.zeros_like(net.theta)
        self.stop = np.zeros(1, np.int64)  # set by a Ctrl-C during fit: stop between steps
        opt = self.optimizer
        state = getattr(opt, "state", None)
        if state is None or state.shape[1] != net.n_params or state.dtype != net.dtype:
            opt.state = opt.init_state(net.n_params, net.dtype)
            opt.t = 0
        # A workspace of exactly batch_size rows, not the net's cached one: dropout
        # masks are indexed by workspace offsets, so a bigger workspace left by an
        # earlier predict() would change the masks for the same seed.
        self.ws = self._workspace()
        # the caller's numba threads, for a step that may split (numba counts them per
        # thread, and fit may run in a worker); not asked otherwise: it starts numba's pool
        self.threads = numba.get_num_threads() if self._may_split() else 1

    def _splits(self) -> int:
        """Parts a step's batch splits into over numba's threads (kernels/plan_step.py):
        when the network may split and a batch is at least SPLIT_MIN_WORK, one
        per thread, each of at least SPLIT_MIN_ROWS rows, their extra gradients
        within SPLIT_MAX_BYTES; else 1."""
        if not self._may_split() \
                or self.batch_size * interrupt.work_per_row(self.net) < SPLIT_MIN_WORK:
            return 1
        return max(1, min(self.threads, self.batch_size // SPLIT_MIN_ROWS,
                          1 + SPLIT_MAX_BYTES // int(self.grad.nbytes)))

    def _may_split(self) -> bool:
        """Whether a step may split: not for dense networks, whose products
        already run on BLAS's threads (mnist 784-128-10 at two threads measured
        0.235 s an epoch split, 0.228 s not; kernels/plan_step.py)."""
        return False

    @contextlib.contextmanager
    def _threads(self, split: bool) -> Iterator[None]:
        """For a split step: numba's threads as the caller's; the parts take them,
        so BLAS runs on one meanwhile (two parts calling a multi-threaded
        OpenBLAS at once measured ten times slower than one pass, LeNet)."""
        if not split:
            yield
            return
        numba.set_num_threads(self.threads)
        global _BLAS
        if _BLAS is None:  # after numba's BLAS (SciPy's) is loaded, so that it is found
            import scipy.linalg.cython_blas  # noqa: F401
            from threadpoolctl import ThreadpoolController
            _BLAS = ThreadpoolController()
        with _BLAS.limit(limits=1, user_api="blas"):
            yield

    def validate(self, Xv: Array, Yv: Array, metric: str) -> tuple[float, float]:
        """(val_loss, val_metric) of the network as it is now, on prepared (Xv, Yv)."""
        return self.net.evaluate(Xv, Yv, self.loss), self.net.score(Xv, Yv, metric=metric)

    def sync_host(self) -> None:
        """Make net.theta and the optimizer state current on the host (they
        are, on the CPU; device_eval.GpuRun copies them back from the GPU)."""

    def _workspace(self) -> Any:
        from .model import Workspace
        return Workspace(self.net.sizes, self.batch_size, self.net.dtype)

    def _keep_probabilities(self, dropout: float | Sequence[float]) -> Array:
        """Per-layer keep probabilities from a dropout rate (hidden layers only)."""
        return _keep_probabilities(dropout, self.net.L)

    def compiled(self, orders: Array, lrs: Array, step_losses: Array) -> tuple[int, int]:
        """Train whole epochs in one compiled call; returns (status, steps done)."""
        net, ws, opt, loss = self.net, self.ws, self.optimizer, self.loss
        c, per_row, per_output = loss.scale_parts()
        status, done = cpu_train.train_epochs(
            net.theta, self.grad, opt.state, opt.hyper, opt.code, opt.t, lrs,
            net.sizes, net.acts, net.alphas, net.p_off, ws.a_buf, ws.a_off, ws.z_buf,
            ws.z_off, ws.delta_buf, ws.y_buf, self.X, self.Y, orders, self.batch_size,
            loss.code, c, per_row, per_output, self.keep, self.seed, self.l1, self.l2,
            self.clip_value, self.clip_norm, step_losses, self.stop)
        opt.t += done
        return status, done

    def stepwise(self, order: Array, lrs: Array, step_losses: Array, recorder: Any,
                 epoch: int) -> tuple[int, int]:
        """One epoch batch by batch from Python (same kernels), so a recorder
        sees each step between its gradient and its update."""
        net, ws, opt = self.net, self.ws, self.optimizer
        for s in range(len(step_losses)):
            start = s * self.batch_size
            m = min(self.batch_size, len(order) - start)
            t = opt.t + 1
            J, status = self._batch_gradient(order, start, m, t)
            step_losses[s] = J
            if status != cpu_train.OK:
                return status, s
            opt.hyper[codes.H_LR] = lrs[s]  # as the compiled path: a schedule may reach 0
            info = StepInfo(epoch, t, order[start:start + m], J, lrs[s], self.grad, ws, m)
            if recorder is not None:
                recorder.before_update(net, opt, info)
            if isinstance(opt, optim.Newton):
                opt.step_newton(net.theta, self.grad, self._batch_grad_fn(order[start:start + m]))
            else:
                opt.step(net.theta, self.grad, opt.state, t)
            opt.t = t
            if recorder is not None:
                recorder.after_update(net, opt, info)
            if self.stop[0]:  # Ctrl-C (numbann.interrupt): stop after this step
                return cpu_train.INTERRUPTED, s + 1
        return cpu_train.OK, len(step_losses)

    def _batch_gradient(self, order: Array, start: int, m: int, t: int) -> tuple[float, int]:
        """The gradient of step t on rows order[start:start+m] into self.grad,
        the batch in the workspace: returns (J, status)."""
        net, ws, loss = self.net, self.ws, self.loss
        J, status = cpu_train.batch_gradient(
            net.theta, self.grad, net.sizes, net.acts, net.alphas, net.p_off, ws.a_buf,
            ws.a_off, ws.z_buf, ws.z_off, ws.delta_buf, ws.y_buf, self.X, self.Y, order,
            start, m, loss.code, loss.scale(m, net.n_outputs), self.keep, self.seed, t,
            self.l1, self.l2, self.clip_value, self.clip_norm)
        return float(J), int(status)

    def _batch_grad_fn(self, rows: Array) -> Callable[[Array], Array]:
        """theta -> dJ/dtheta on this batch (for Newton's finite-difference Hessian)."""
        X, Y = self.X[rows], self.Y[rows]

        def grad_fn(theta: Array) -> Array:
            saved = self.net.theta.copy()
            self.net.theta[...] = theta
            grad = np.zeros_like(theta)
            self.net._backprop(X, Y, self.loss, grad)
            self.net.theta[...] = saved
            return grad
        return grad_fn


class StepInfo:
    """What a recorder sees at one step: epoch, t (1-based step count),
    rows (indices of the batch), loss, lr, grad (flat), ws (the workspace:
    ``ws.z(l, m)``, ``ws.a(l, m)``, ``ws.delta(l, m)``) and m (batch rows)."""
    __slots__ = ("epoch", "t", "rows", "loss", "lr", "grad", "ws", "m")

    def __init__(self, epoch: int, t: int, rows: Array, loss: float, lr: float, grad: Array,
                 ws: Any, m: int) -> None:
        self.epoch, self.t, self.rows, self.loss = epoch, t, rows, loss
        self.lr, self.grad, self.ws, self.m = lr, grad, ws, m


def _keep_probabilities(dropout: float | Sequence[float], L: int,
                        hidden: Array | None = None) -> Array:
    """Per-layer keep probabilities from a dropout rate: one rate for the
    ``hidden`` layers (a boolean mask; default every layer but the last), or
    one rate per layer but the last."""
    rates = np.zeros(L)
    if not isinstance(dropout, (list, tuple, np.ndarray)):
        rates[:-1] = _checks.real(dropout, "dropout rate")
        if hidden is not None:
            rates[~hidden] = 0.0
    else:
        given = _checks.real_array(dropout, "dropout rates", ndim=1)
        if given.shape != (L - 1,):
            raise ValueError(f"dropout must be one rate or one per hidden layer ({L - 1}), "
                             f"got {given.shape[0]} rates")
        rates[:-1] = given
    if np.any(rates < 0) or np.any(rates >= 1):
        raise ValueError(f"dropout rates must be in [0, 1), got {dropout}")
    return 1.0 - rates


def _check_recorder(trace: Any) -> None:
    """A trace must be a recorder (numbann.trace.Recorder or the same methods)."""
    if trace is None:
        return
    missing = [m for m in ("start", "before_update", "after_update", "finish")
               if not callable(getattr(trace, m, None))]
    if missing:
        raise TypeError(f"trace must be a recorder such as numbann.trace.Recorder(), got "
                        f"{type(trace).__name__} (no {', '.join(missing)} method)")


class _NoBar:
    """The progress bar's interface, doing nothing (verbose=0)."""

    def update(self, n: int) -> None:
        pass

    def set_postfix(self, values: dict[str, str], refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def _block_rates(schedule: schedules.Schedule, base_lr: float, epoch: int, E: int, steps: int,
                 first_step: int | None = None) -> Array:
    """lrs[e, s]: the rate in force at step s of epoch ``epoch + e`` (epochs of
    the run; ``first_step``: the run's step count at ``epoch``, default
    ``epoch * steps``). Vectorized where it can be (a tiny network's epoch is
    one ~1 us step, so one Python call per epoch or step would cost more than
    the training itself)."""
    if type(schedule) is schedules.Constant:
        return np.full((E, steps), schedule.lr_at(epoch, base_lr))
    if schedule.per == "step":
        first = epoch * steps if first_step is None else first_step
        return np.array([[schedule.lr_at(first + e * steps + s, base_lr) for s in range(steps)]
                         for e in range(E)])
    rates = np.array([schedule.lr_at(epoch + e, base_lr) for e in range(E)])
    return np.repeat(rates[:, None], steps, axis=1)


def fit(net: "Model", X: ArrayLike, Y: ArrayLike, loss: str | losses.Loss = "mse",
        optimizer: str | optim.Optimizer = "sgd", epochs: int = 10, batch_size: int = 32,
        shuffle: bool = True, seed: int | None = 0,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        schedule: str | schedules.Schedule | None = None, patience: int | None = None,
        restore_best: bool = True, l1: float = 0.0, l2: float = 0.0,
        dropout: float | Sequence[float] = 0.0, clip_value: float | None = None,
        clip_norm: float | None = None, verbose: int = 1,
        callbacks: Callable[..., Any] | Iterable[Callable[..., Any]] = (), trace: Any = None,
        device: str | None = None, checkpoint: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None, explode: float | None = 10.0,
        _resume: Any = None) -> History:
    """Train ``net`` on (X, Y) by mini-batch gradient descent; returns a :class:`History`.

    Steps per epoch = ceil(n / batch_size), the last batch smaller; with
    ``shuffle`` the rows are permuted at the start of every epoch by a
    generator seeded with ``seed`` (same seed, same weights, bit for bit).
    ``optimizer``: a name or an object from ``numbann.optim``; ``schedule``:
    a name or object from ``numbann.schedules`` (rate per epoch by default).
    ``validation_data=(Xv, Yv)`` adds val_loss and val_metric; ``patience``
    stops after that many epochs without improvement of val_loss (or of the
    training loss without validation data) and, with ``restore_best``, puts
    the best weights back. ``l1``/``l2`` penalize the weights, ``dropout``
    (one rate, or one per hidden layer) drops hidden units in training only,
    ``clip_value``/``clip_norm`` clip the gradient. ``verbose=0`` silences the
    progress bar. ``callbacks``: a function ``f(net, epoch, logs)`` or a list
    of them; one that returns True stops training. ``trace``: a recorder from
    ``numbann.trace``.
    ``device``: "cpu" or "cuda" (parameters, optimizer state and data stay on
    the GPU and validation runs there; see docs/cuda.md); default
    ``net.device`` (see ``net.to``). Every argument is checked before anything
    changes; a bad one raises a ValueError or TypeError naming it.

    A fit given the optimizer object (and seed) of the network's previous fit
    continues that run: the shuffles and the schedule go on where it
    stopped, so ``fit(epochs=5); fit(epochs=5)`` equals ``fit(epochs=10)``.
    ``checkpoint=path`` writes the whole training state there (atomically)
    every ``checkpoint_every`` epochs of the run and at the end;
    ``numbann.resume(path).fit(X, Y)`` continues it, in any process, bit for
    bit (see numbann.checkpoint and docs/training.md).
    ``explode``: warn (numbann.LossExplosionWarning, once) when the epoch loss
    stays above ``explode`` times the loss at the fit's starting weights for 3
    epochs, a divergence that never reaches inf/NaN; None switches it off.
    Ctrl-C stops training between two steps (within about one step's time,
    even inside a long compiled block) and raises
    :class:`numbann.TrainingInterrupted`, whose ``history`` holds every
    completed step; the network and the optimizer are left as after the last
    completed step (numbann.interrupt). A second Ctrl-C raises at once.
    """
    from . import device as _device
    _checks.network(net)
    device = net.device if device is None else device
    run_class = _device.run_class(device, trace, net)
    # every argument is checked before anything changes (weights, optimizer state)
    epochs = _checks.positive_int(epochs, "epochs")
    patience = _checks.positive_int(patience, "patience", none=True)
    shuffle = _checks.flag(shuffle, "shuffle")
    restore_best = _checks.flag(restore_best, "restore_best")
    verbose = _checks.integer(verbose, "verbose", 0, bools=True)
    _checks.seed(seed)
    explode = _checks.real(explode, "explode", low=1, low_open=True, none=True)
    callbacks = _checks.callables(callbacks, "callbacks")
    _check_recorder(trace)
    schedule = schedules.get_schedule(schedule)
    loss = losses.get(loss)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, Y_val)")
        try:
            Xv, Yv, _ = net._prepare(validation_data[0], validation_data[1], loss)
        except (ValueError, TypeError) as e:  # say which data set is wrong
            raise type(e)(f"validation_data (X_val, Y_val): {e}") from None
        val_metric = scoring.validation_metric(net, Yv, loss)
    saver = _checkpoint.saver(checkpoint, checkpoint_every, optimizer, schedule, loss)
    run = run_class(net, X, Y, loss, optimizer, batch_size, dropout, l1, l2, clip_value,
                    clip_norm, seed)
    n = len(run.X)
    steps = (n + run.batch_size - 1) // run.batch_size
    sizes = np.minimum(run.batch_size, n - run.batch_size * np.arange(steps))
    # where this fit starts in its run: the shuffle generator, epochs and steps done
    session = _checkpoint.Session(net, run.optimizer, seed, epochs, saver, _resume, settings=dict(
        loss=loss, batch_size=batch_size, shuffle=shuffle, seed=seed, schedule=schedule,
        patience=patience, restore_best=restore_best, l1=l1, l2=l2, dropout=dropout,
        clip_value=clip_value, clip_norm=clip_norm, device=device, verbose=verbose,
        checkpoint_every=checkpoint_every, validation=validation_data is not None))
    rng = session.rng
    base_lr = run.optimizer.lr
    stepwise = trace is not None or isinstance(run.optimizer, optim.Newton)
    per_epoch = stepwise or validation_data is not None or patience is not None or callbacks
    block = 1 if per_epoch else max(1, min(BLOCK_STEPS // steps, BLOCK_ROWS // n))
    # a resumed fit goes on with its history and early-stopping state; e0 epochs are in it
    history, best, best_theta, waited = session.start(History())
    e0 = len(history.loss)
    if trace is not None:
        if hasattr(trace, "plan"):  # lets the recorder refuse a trace over its memory budget
            trace.plan(net, run.optimizer, n=n, epochs=epochs, batch_size=run.batch_size)
        trace.start(net, run.optimizer, run.loss)
    if verbose:
        from tqdm.auto import tqdm  # imported when shown: 17 ms of a silent script's start
        bar = tqdm(total=epochs, disable=None, unit="epoch", leave=verbose > 0)
    else:
        bar = _NoBar()
    epoch, first_step, first_epoch, exploded = 0, len(history.step_loss), len(history.loss), False
    ctrl_c = interrupt.StopOnCtrlC(run.stop).__enter__()
    try:
        while epoch < epochs:
            if saver is not None and saver.every:  # a checkpoint may be due: host values
                run.sync_host()
            session.checkpoint(epoch, steps, history, best, waited, best_theta)  # if one is due
            started = time.perf_counter()
            E = session.block(epoch, min(block, epochs - epoch))
            orders = (np.stack([rng.permutation(n) for _ in range(E)]) if shuffle
                      else np.tile(np.arange(n), (E, 1)))
            run_epoch, run_step = session.position(epoch, steps)  # what schedules count
            lrs = _block_rates(schedule, base_lr, run_epoch, E, steps, run_step)
            step_losses = np.zeros((E, steps))
            if stepwise:
                status, done = run.stepwise(orders[0], lrs[0], step_losses[0], trace, e0 + epoch)
            else:
                status, done = interrupt.call(run.compiled, (orders, lrs, step_losses),
                                              E * n * interrupt.work_per_row(net))
            seconds = (time.perf_counter() - started) / E
            if status == cpu_train.INTERRUPTED:  # keep every completed step, then stop
                record(history, step_losses, lrs, sizes, n, seconds, done)
                raise interrupt.TrainingInterrupted(history, epoch * steps + done)
            if status != cpu_train.OK:
                raise diverged(net, run, status, e0 + epoch + done // steps, done % steps, steps)
            record(history, step_losses, lrs, sizes, n, seconds)
            exploded = exploded or check_explosion(history, first_step, first_epoch, explode)
            epoch += E
            bar.update(E)
            logs = {"loss": history.loss[-1]}
            if validation_data is not None:
                val_loss, val_score = run.validate(Xv, Yv, val_metric)
                history.val_loss.append(val_loss)
                history.val_metric.append(val_score)
                logs.update(val_loss=history.val_loss[-1], val_metric=history.val_metric[-1])
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
            if not per_epoch:
                continue
            monitored = logs.get("val_loss", logs["loss"])
            if monitored < best:
                best, waited, history.best_epoch = monitored, 0, e0 + epoch - 1
                if patience is not None and restore_best:
                    run.sync_host()
                    best_theta = net.theta.copy()
            else:
                waited += 1
            if callbacks:
                run.sync_host()
            stop = any([cb(net, e0 + epoch - 1, logs) for cb in callbacks])
            if stop or (patience is not None and waited >= patience):
                history.stopped_epoch = e0 + epoch - 1
                break
    finally:
        run.sync_host()  # the host network is current whenever fit returns or raises
        ctrl_c.__exit__()
        bar.close()
        run.optimizer.lr = base_lr
    session.end(epoch, steps, history, best, waited, best_theta)  # before the best weights return
    if best_theta is not None:
        net.theta[...] = best_theta
    if trace is not None:
        trace.finish(net, history)
    return history
