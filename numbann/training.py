"""The training loop: epochs of shuffled mini-batches, validation, early
stopping, regularization, clipping, schedules, progress bar.

Without a trace, each epoch is one call into compiled code
(``kernels.cpu_train.train_epoch``). With a trace (or Newton's method) the
same step kernel runs batch by batch from Python, so the recorder can copy
what it keeps between the gradient and the update.
"""
import math
import time

import numpy as np

from . import _checks, optim, schedules
from .kernels import codes, cpu_train


BLOCK_STEPS = 1024  # without per-epoch work, epochs run in compiled blocks of about this many steps
BLOCK_ROWS = 1 << 20  # and of at most this many row indices


class TrainingDiverged(FloatingPointError):
    """The loss or a gradient became NaN or infinite during fit."""


class History:
    """Per-epoch records of a fit: ``loss``, ``val_loss``, ``val_metric``,
    ``lr`` (the rate in force at the epoch's start), ``time`` (seconds), plus
    ``step_loss`` (every step's batch loss) and ``stopped_epoch``."""

    def __init__(self):
        self.loss, self.val_loss, self.val_metric, self.lr, self.time = [], [], [], [], []
        self.step_loss = []
        self.best_epoch = None
        self.stopped_epoch = None

    def as_dict(self):
        return {k: v for k, v in vars(self).items()}

    def __repr__(self):
        last = f", loss {self.loss[-1]:.4g}" if self.loss else ""
        return f"History({len(self.loss)} epochs{last})"


class _Run:
    """Everything one fit call needs, validated once."""

    def __init__(self, net, X, Y, loss, optimizer, batch_size, dropout, l1, l2,
                 clip_value, clip_norm, seed):
        self.net = net
        self.X, self.Y, self.loss = net._prepare(X, Y, loss)
        self.batch_size = min(_checks.positive_int(batch_size, "batch_size"), len(self.X))
        self.optimizer = optim.get_optimizer(optimizer)
        self.keep = self._keep_probabilities(dropout)
        for name, value in (("l1", l1), ("l2", l2)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                    or not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        for name, value in (("clip_value", clip_value), ("clip_norm", clip_norm)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 (or None), got {value}")
        self.l1, self.l2 = float(l1), float(l2)
        self.clip_value, self.clip_norm = float(clip_value or 0), float(clip_norm or 0)
        self.seed = np.uint64(seed if seed is not None else 0)
        self.grad = np.zeros_like(net.theta)
        opt = self.optimizer
        state = getattr(opt, "state", None)
        if state is None or state.shape[1] != net.n_params or state.dtype != net.dtype:
            opt.state = opt.init_state(net.n_params, net.dtype)
            opt.t = 0
        # A workspace of exactly batch_size rows, not the net's cached one: dropout
        # masks are indexed by workspace offsets, so a bigger workspace left by an
        # earlier predict() would change the masks for the same seed.
        self.ws = self._workspace()

    def _workspace(self):
        from .model import Workspace
        return Workspace(self.net.sizes, self.batch_size, self.net.dtype)

    def _keep_probabilities(self, dropout):
        """Per-layer keep probabilities from a dropout rate (hidden layers only)."""
        return _keep_probabilities(dropout, self.net.L)

    def compiled(self, orders, lrs, step_losses):
        """Train whole epochs in one compiled call; returns (status, steps done)."""
        net, ws, opt, loss = self.net, self.ws, self.optimizer, self.loss
        c, per_row, per_output = loss.scale_parts()
        status, done = cpu_train.train_epochs(
            net.theta, self.grad, opt.state, opt.hyper, opt.code, opt.t, lrs,
            net.sizes, net.acts, net.alphas, net.p_off, ws.a_buf, ws.a_off, ws.z_buf,
            ws.z_off, ws.delta_buf, ws.y_buf, self.X, self.Y, orders, self.batch_size,
            loss.code, c, per_row, per_output, self.keep, self.seed, self.l1, self.l2,
            self.clip_value, self.clip_norm, step_losses)
        opt.t += done
        return status, done

    def stepwise(self, order, lrs, step_losses, recorder, epoch):
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
        return cpu_train.OK, len(step_losses)

    def _batch_gradient(self, order, start, m, t):
        """The gradient of step t on rows order[start:start+m] into self.grad,
        the batch in the workspace: returns (J, status)."""
        net, ws, loss = self.net, self.ws, self.loss
        return cpu_train.batch_gradient(
            net.theta, self.grad, net.sizes, net.acts, net.alphas, net.p_off, ws.a_buf,
            ws.a_off, ws.z_buf, ws.z_off, ws.delta_buf, ws.y_buf, self.X, self.Y, order,
            start, m, loss.code, loss.scale(m, net.n_outputs), self.keep, self.seed, t,
            self.l1, self.l2, self.clip_value, self.clip_norm)

    def _batch_grad_fn(self, rows):
        """theta -> dJ/dtheta on this batch (for Newton's finite-difference Hessian)."""
        X, Y = self.X[rows], self.Y[rows]

        def grad_fn(theta):
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

    def __init__(self, epoch, t, rows, loss, lr, grad, ws, m):
        self.epoch, self.t, self.rows, self.loss = epoch, t, rows, loss
        self.lr, self.grad, self.ws, self.m = lr, grad, ws, m


def _keep_probabilities(dropout, L, hidden=None):
    """Per-layer keep probabilities from a dropout rate: one rate for the
    ``hidden`` layers (a boolean mask; default every layer but the last), or
    one rate per layer but the last."""
    rates = np.zeros(L)
    if np.ndim(dropout) == 0:
        rates[:-1] = dropout
        if hidden is not None:
            rates[~hidden] = 0.0
    else:
        given = np.asarray(dropout, dtype=np.float64)
        if given.shape != (L - 1,):
            raise ValueError(f"dropout must be one rate or one per hidden layer ({L - 1}), "
                             f"got {given.shape[0]} rates")
        rates[:-1] = given
    if np.any(rates < 0) or np.any(rates >= 1):
        raise ValueError(f"dropout rates must be in [0, 1), got {dropout}")
    return 1.0 - rates


class _NoBar:
    """The progress bar's interface, doing nothing (verbose=0)."""

    def update(self, n):
        pass

    def set_postfix(self, values, refresh=True):
        pass

    def close(self):
        pass


def _block_rates(schedule, base_lr, epoch, E, steps):
    """lrs[e, s]: the rate in force at step s of epoch ``epoch + e``. Vectorized
    where it can be (a tiny network's epoch is one ~1 us step, so one Python
    call per epoch or step would cost more than the training itself)."""
    if type(schedule) is schedules.Constant:
        return np.full((E, steps), schedule.lr_at(epoch, base_lr))
    if schedule.per == "step":
        return np.array([[schedule.lr_at((epoch + e) * steps + s, base_lr) for s in range(steps)]
                         for e in range(E)])
    rates = np.array([schedule.lr_at(epoch + e, base_lr) for e in range(E)])
    return np.repeat(rates[:, None], steps, axis=1)


def _diverged(net, run, status, epoch, step, steps_per_epoch):
    """The error naming the epoch, the step and the first non-finite layer."""
    ws, m = run.ws, min(run.batch_size, len(run.X) - step * run.batch_size)
    what = "loss" if status == cpu_train.LOSS_NOT_FINITE else "gradient"
    # weights first: a non-finite W[l] (an update that overflowed) explains
    # every non-finite z, a, delta after it
    blocks = [(f"W[{l}]", net.W[l]) for l in range(1, net.L + 1)]
    blocks += [(f"z[{l}]", ws.z(l, m)) for l in range(1, net.L + 1)]
    blocks += [(f"a[{l}]", ws.a(l, m)) for l in range(1, net.L + 1)]
    blocks += [(f"delta[{l}]", ws.delta(l, m)) for l in range(net.L, 0, -1)]
    dW = net.split(run.grad)[0]
    blocks += [(f"dW[{l}]", dW[l - 1]) for l in range(net.L, 0, -1)]

    def layer(name):
        return f"{name} (layer {name[name.index('[') + 1:-1]})"
    bad = [name for name, values in blocks if not np.all(np.isfinite(values))]
    if bad:
        where = f"first non-finite values: {layer(bad[0])}"
    else:
        # every entry is finite but a sum (of squares) overflowed: name the largest
        # (the forward pass's numbers for a loss, all of them for a gradient)
        big = {name: float(np.max(np.abs(values))) for name, values in blocks
               if values.size and (what == "gradient" or name[0] in "Wza")}
        name = max(big, key=big.get)
        where = (f"no single entry is inf or NaN (their sum overflowed); "
                 f"largest magnitude {big[name]:.3g} in {layer(name)}")
    return TrainingDiverged(
        f"training diverged at epoch {epoch}, step {step} of {steps_per_epoch}: the {what} "
        f"is not finite; {where}. Lower the learning rate, clip "
        "gradients (clip_norm=...), or check the data.")


def fit(net, X, Y, loss="mse", optimizer="sgd", epochs=10, batch_size=32, shuffle=True,
        seed=0, validation_data=None, schedule=None, patience=None, restore_best=True,
        l1=0.0, l2=0.0, dropout=0.0, clip_value=None, clip_norm=None, verbose=1,
        callbacks=(), trace=None, device="cpu"):
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
    progress bar. ``callbacks``: functions ``f(net, epoch, logs)``; one that
    returns True stops training. ``trace``: a recorder from ``numbann.trace``.
    ``device``: "cpu" or "cuda" (parameters, optimizer state and data stay on
    the GPU; see docs/cuda.md).
    """
    from . import device as _device
    run_class = _device.run_class(device, trace, net)
    epochs = _checks.positive_int(epochs, "epochs")
    if patience is not None:
        patience = _checks.positive_int(patience, "patience")
    run = run_class(net, X, Y, loss, optimizer, batch_size, dropout, l1, l2, clip_value,
                    clip_norm, seed)
    if validation_data is not None:
        if len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, Y_val)")
        try:
            Xv, Yv, _ = net._prepare(validation_data[0], validation_data[1], run.loss)
        except (ValueError, TypeError) as e:  # say which data set is wrong
            raise type(e)(f"validation_data (X_val, Y_val): {e}") from None
    schedule = schedules.get_schedule(schedule)
    n = len(run.X)
    steps = (n + run.batch_size - 1) // run.batch_size
    sizes = np.minimum(run.batch_size, n - run.batch_size * np.arange(steps))
    rng = np.random.default_rng(seed)
    base_lr = run.optimizer.lr
    stepwise = trace is not None or isinstance(run.optimizer, optim.Newton)
    per_epoch = stepwise or validation_data is not None or patience is not None or callbacks
    block = 1 if per_epoch else max(1, min(BLOCK_STEPS // steps, BLOCK_ROWS // n))
    history, best, best_theta, waited = History(), math.inf, None, 0
    if trace is not None:
        if hasattr(trace, "plan"):  # lets the recorder refuse a trace over its memory budget
            trace.plan(net, run.optimizer, n=n, epochs=epochs, batch_size=run.batch_size)
        trace.start(net, run.optimizer, run.loss)
    if verbose:
        from tqdm.auto import tqdm  # imported when shown: 17 ms of a silent script's start
        bar = tqdm(total=epochs, disable=None, unit="epoch", leave=verbose > 0)
    else:
        bar = _NoBar()
    epoch = 0
    try:
        while epoch < epochs:
            started = time.perf_counter()
            E = min(block, epochs - epoch)
            orders = (np.stack([rng.permutation(n) for _ in range(E)]) if shuffle
                      else np.tile(np.arange(n), (E, 1)))
            lrs = _block_rates(schedule, base_lr, epoch, E, steps)
            step_losses = np.zeros((E, steps))
            if stepwise:
                status, done = run.stepwise(orders[0], lrs[0], step_losses[0], trace, epoch)
            else:
                status, done = run.compiled(orders, lrs, step_losses)
            if status != cpu_train.OK:
                raise _diverged(net, run, status, epoch + done // steps, done % steps, steps)
            seconds = (time.perf_counter() - started) / E
            history.step_loss.extend(step_losses.ravel().tolist())
            # row by row (not a BLAS product): the same sums however epochs are blocked
            history.loss.extend(((step_losses * sizes).sum(axis=1) / n).tolist())
            history.lr.extend(lrs[:, 0].tolist())
            history.time.extend([seconds] * E)
            epoch += E
            bar.update(E)
            logs = {"loss": history.loss[-1]}
            if validation_data is not None:
                history.val_loss.append(net.evaluate(Xv, Yv, run.loss))
                history.val_metric.append(net.score(Xv, Yv))
                logs.update(val_loss=history.val_loss[-1], val_metric=history.val_metric[-1])
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
            if not per_epoch:
                continue
            monitored = logs.get("val_loss", logs["loss"])
            if monitored < best:
                best, waited, history.best_epoch = monitored, 0, epoch - 1
                if patience is not None and restore_best:
                    best_theta = net.theta.copy()
            else:
                waited += 1
            stop = any([cb(net, epoch - 1, logs) for cb in callbacks])
            if stop or (patience is not None and waited >= patience):
                history.stopped_epoch = epoch - 1
                break
    finally:
        bar.close()
        run.optimizer.lr = base_lr
    if best_theta is not None:
        net.theta[...] = best_theta
    if trace is not None:
        trace.finish(net, history)
    return history
