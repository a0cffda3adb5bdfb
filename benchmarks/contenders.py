"""Contenders: each `setup_<name>(w, X, Y, Ws, bs, threads)` builds a model from the
shared initial weights (untimed) and returns `train(on_epoch=None) -> (losses, kind)`,
the timed training run.  `kind` is "step" (one batch-mean loss per step) or
"epoch" (one sample-weighted mean per epoch).  A missing library raises
`Unavailable(reason)`; the harness records it and goes on.
"""
import math

import numpy as np


class Unavailable(Exception):
    pass


def _import(name):
    try:
        return __import__(name, fromlist=["_"])
    except Exception as e:  # ImportError, or a broken install
        raise Unavailable(f"`import {name}` failed: {type(e).__name__}: {e}") from None


def _batches(w):
    for i in range(0, w.n, w.batch):
        yield slice(i, i + w.batch)


# --- numbann ------------------------------------------------------------------------
def setup_numbann(w, X, Y, Ws, bs, threads):
    """The one place that knows numbann's API; adjust here when it changes."""
    nb = _import("numbann")
    if not callable(getattr(nb, "MLP", None)):
        raise Unavailable("numbann has no MLP yet")
    net = nb.MLP(list(w.sizes), hidden=w.hidden, output=w.output, dtype="float32")
    if not hasattr(net, "fit"):
        raise Unavailable("numbann's MLP has no fit yet")
    net.set_params([W.copy() for W in Ws], [b.copy() for b in bs])
    optim = nb if hasattr(nb, "SGD") else nb.optim
    opt = optim.SGD(lr=w.lr) if w.optimizer == "sgd" else optim.Adam(lr=w.lr)

    def fit(epochs):  # ce takes the int labels as they are
        hist = net.fit(X, Y, loss=w.loss, optimizer=opt, epochs=epochs, batch_size=w.batch,
                       shuffle=False, verbose=0)
        h = hist if isinstance(hist, dict) else vars(hist) if hist is not None else {}
        if len(h.get("step_loss", [])):
            return list(map(float, h["step_loss"])), "step"
        return list(map(float, h.get("loss", []))), "epoch"

    def train(on_epoch=None):
        if on_epoch is None:
            return fit(w.epochs)
        out = []
        for _ in range(w.epochs):  # one fit call per epoch, same optimizer object
            out += fit(1)[0]
            on_epoch()
        return out, "step"
    return train


# --- PyTorch ------------------------------------------------------------------------
def setup_torch(w, X, Y, Ws, bs, threads, fused=False):
    torch = _import("torch")
    from torch import nn
    torch.set_num_threads(threads)
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[w.hidden]
    layers = []
    for W, b in zip(Ws, bs):
        lin = nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, act()]
    model = nn.Sequential(*layers[:-1])  # logits out; the sigmoid/softmax is inside the loss
    loss_fn = nn.BCEWithLogitsLoss() if w.loss == "bce" else nn.CrossEntropyLoss()
    if w.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=w.lr)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=w.lr, **({"fused": True} if fused else {}))
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)

    def train(on_epoch=None):
        losses = []
        for _ in range(w.epochs):
            for s in _batches(w):
                opt.zero_grad()
                loss = loss_fn(model(Xt[s]), Yt[s])
                loss.backward()
                opt.step()
                losses.append(loss.item())
            if on_epoch:
                on_epoch()
        return losses, "step"
    return train


def setup_torch_fused(w, X, Y, Ws, bs, threads):
    if w.optimizer != "adam":
        raise Unavailable("n/a: fused applies to Adam workloads only")
    torch = _import("torch")
    try:  # probe: does this build have a fused Adam for CPU tensors?
        p = torch.nn.Parameter(torch.zeros(2))
        p.grad = torch.ones(2)
        torch.optim.Adam([p], fused=True).step()
    except Exception as e:
        raise Unavailable(f"Adam(fused=True) unsupported on CPU: {e}") from None
    return setup_torch(w, X, Y, Ws, bs, threads, fused=True)


# --- scikit-learn -------------------------------------------------------------------
def setup_sklearn(w, X, Y, Ws, bs, threads):
    """MLPClassifier with our initial weights: a one-batch partial_fit builds its
    internals, then coefs_/intercepts_ are overwritten and fit(warm_start=True)
    trains with a fresh optimizer.  Binary: one logistic output + log-loss (= BCE);
    multiclass: softmax + log-loss."""
    _import("sklearn")
    import warnings
    from sklearn.neural_network import MLPClassifier
    y = Y.ravel().astype(np.int64)
    clf = MLPClassifier(hidden_layer_sizes=w.sizes[1:-1], activation=w.hidden, solver=w.optimizer,
                        alpha=0.0, batch_size=w.batch, learning_rate="constant",
                        learning_rate_init=w.lr, max_iter=w.epochs, shuffle=False, tol=0.0,
                        n_iter_no_change=2**31 - 1, momentum=0.0, nesterovs_momentum=False,
                        early_stopping=False, warm_start=True)
    clf.partial_fit(X[:w.batch], y[:w.batch], classes=np.unique(y))
    for l, (W, b) in enumerate(zip(Ws, bs)):
        clf.coefs_[l][...] = W.T
        clf.intercepts_[l][...] = b
    clf.loss_curve_ = []

    def train(on_epoch=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
            clf.fit(X, y)
        return list(clf.loss_curve_), ("step" if w.steps_per_epoch == 1 else "epoch")
    return train


# --- plain NumPy --------------------------------------------------------------------
def setup_numpy(w, X, Y, Ws, bs, threads):
    """Forward, backward and update by hand, all float32 (BLAS matmuls)."""
    L = len(Ws)
    onehot = None if w.loss == "bce" else np.eye(w.sizes[-1], dtype=np.float32)[Y]
    b1, b2, eps = 0.9, 0.999, 1e-8

    def train(on_epoch=None):
        W = [a.copy() for a in Ws]
        b = [a.copy() for a in bs]
        m = [np.zeros_like(p) for p in W + b]
        v = [np.zeros_like(p) for p in W + b]
        losses, t = [], 0
        for _ in range(w.epochs):
            for s in _batches(w):
                acts = [X[s]]
                for l in range(L):
                    z = acts[-1] @ W[l].T
                    z += b[l]
                    if l < L - 1:
                        z = np.tanh(z, out=z) if w.hidden == "tanh" else np.maximum(z, 0, out=z)
                    acts.append(z)
                nb = z.shape[0]
                if w.loss == "bce":  # numerically stable BCE on logits
                    y = Y[s]
                    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
                    dz = (1 / (1 + np.exp(-z)) - y) / nb
                else:
                    z = z - z.max(1, keepdims=True)
                    e = np.exp(z)
                    se = e.sum(1, keepdims=True)
                    loss = np.mean(np.log(se[:, 0]) - z[np.arange(nb), Y[s]])
                    dz = (e / se - onehot[s]) / nb
                losses.append(float(loss))
                grads = [None] * (2 * L)
                for l in range(L - 1, -1, -1):
                    grads[l], grads[L + l] = dz.T @ acts[l], dz.sum(0)
                    if l:
                        h = acts[l]
                        dz = dz @ W[l]
                        dz *= (1 - h * h) if w.hidden == "tanh" else (h > 0)
                t += 1
                for i, (p, g) in enumerate(zip(W + b, grads)):
                    if w.optimizer == "sgd":
                        p -= w.lr * g
                    else:  # Adam as in torch.optim.Adam
                        m[i] *= b1
                        m[i] += (1 - b1) * g
                        v[i] *= b2
                        v[i] += (1 - b2) * g * g
                        denom = np.sqrt(v[i]) / math.sqrt(1 - b2 ** t) + eps
                        p -= (w.lr / (1 - b1 ** t)) * m[i] / denom
            if on_epoch:
                on_epoch()
        return losses, "step"
    return train


SETUP = {"numbann": setup_numbann, "torch": setup_torch, "torch_fused": setup_torch_fused,
         "sklearn": setup_sklearn, "numpy": setup_numpy}
NAMES = list(SETUP)


def versions():
    out = {}
    for mod in ["numpy", "scipy", "numba", "torch", "sklearn", "numbann"]:
        try:
            out[mod] = getattr(__import__(mod), "__version__", "?")
        except Exception as e:
            out[mod] = f"not importable ({type(e).__name__})"
    return out
