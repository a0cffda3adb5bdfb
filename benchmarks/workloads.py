"""Benchmark workloads: hyper-parameters, synthetic data and initial weights.

Every contender gets its data and its initial weights from `make(w)`, so all of
them train the same network, from the same point, on the same batches.
Weights use the torch.nn.Linear layout: W[l] has shape (n_out, n_in).
"""
from dataclasses import dataclass, replace

import numpy as np

SEED = 1234


@dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple      # layer widths, input first
    hidden: str       # "tanh" | "relu"
    output: str       # "sigmoid" | "softmax"
    loss: str         # "bce" | "ce" (softmax cross-entropy)
    optimizer: str    # "sgd" | "adam"
    lr: float
    batch: int
    epochs: int
    n: int            # training samples
    curve: str        # loss-curve granularity compared across contenders: "step" | "epoch"

    @property
    def steps_per_epoch(self):
        return -(-self.n // self.batch)

    @property
    def steps(self):
        return self.steps_per_epoch * self.epochs

    @property
    def samples(self):
        """Samples processed by one training run."""
        return self.n * self.epochs

    @property
    def layer_params(self):
        return [o * i + o for i, o in zip(self.sizes[:-1], self.sizes[1:])]

    @property
    def params(self):
        return sum(self.layer_params)

    def flops(self):
        """(nominal, needed) training FLOPs of one run.

        nominal: 6 x parameters x samples (forward 2, backward 4 per weight).
        needed: the first layer needs no gradient w.r.t. its input, so 4 x its params.
        """
        p = self.layer_params
        return 6 * sum(p) * self.samples, (4 * p[0] + 6 * sum(p[1:])) * self.samples

    def describe(self):
        arch = "-".join(map(str, self.sizes))
        return (f"{arch} {self.hidden}/{self.output}, {self.loss}, {self.optimizer} lr {self.lr:g}, "
                f"batch {self.batch}, {self.epochs} epoch(s) x {self.n} samples = {self.steps} steps")


WORKLOADS = {
    "tiny": Workload("tiny", (2, 8, 1), "tanh", "sigmoid", "bce", "sgd", 0.5, 4, 10_000, 4, "step"),
    "small": Workload("small", (2, 16, 16, 1), "relu", "sigmoid", "bce", "sgd", 0.1, 32, 50, 1000, "epoch"),
    "mnist": Workload("mnist", (784, 128, 10), "relu", "softmax", "ce", "adam", 1e-3, 128, 1, 60_000, "step"),
    "wide": Workload("wide", (784, 1024, 1024, 10), "relu", "softmax", "ce", "adam", 1e-3, 512, 1, 20_000, "step"),
}
QUICK = {"tiny": dict(epochs=500), "small": dict(epochs=5), "mnist": dict(n=6000), "wide": dict(n=2080)}


def get(name, quick=False):
    w = WORKLOADS[name]
    return replace(w, **QUICK[name]) if quick else w


def warmup(w):
    """Warm-up variant (excludes JIT/compile/first-touch costs from the timing).

    tiny/small: the workload itself.  mnist/wide: two full batches plus the
    partial last batch, i.e. the first rows of the same data."""
    if w.name not in ("mnist", "wide"):
        return w
    return replace(w, n=2 * w.batch + w.n % w.batch, epochs=1)


def make_data(w):
    """X float32 (n, d).  Y: float32 (n, 1) 0/1 for bce; int64 (n,) labels for ce."""
    rng = np.random.default_rng(SEED)
    if w.name == "tiny":  # XOR
        X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
        return X, np.array([[0], [1], [1], [0]], np.float32)
    if w.name == "small":  # two interleaved half-moons, one fixed permutation
        half = w.n // 2
        t = rng.uniform(0, np.pi, w.n)
        X = np.empty((w.n, 2))
        X[:half] = np.c_[np.cos(t[:half]), np.sin(t[:half])]
        X[half:] = np.c_[1 - np.cos(t[half:]), 0.5 - np.sin(t[half:])]
        X += rng.normal(0, 0.1, X.shape)
        y = (np.arange(w.n) >= half).astype(np.float32)
        p = rng.permutation(w.n)
        return X[p].astype(np.float32), y[p, None]
    # MNIST-shaped: pixels in [0, 1], labels from a random linear teacher
    d, k = w.sizes[0], w.sizes[-1]
    X = rng.random((w.n, d), dtype=np.float32)
    X[X < 0.5] = 0  # about half the pixels are background (0), like MNIST
    teacher = rng.normal(0, 1, (d, k)).astype(np.float32)
    logits = X @ teacher - X.mean(0) @ teacher
    return X, np.argmax(logits, axis=1).astype(np.int64)


def init_params(w):
    """He-uniform weights, small uniform biases, float32, fixed seed."""
    rng = np.random.default_rng(SEED + 1)
    Ws, bs = [], []
    for n_in, n_out in zip(w.sizes[:-1], w.sizes[1:]):
        a = np.sqrt(6.0 / n_in)
        Ws.append(rng.uniform(-a, a, (n_out, n_in)).astype(np.float32))
        bs.append(rng.uniform(-0.1, 0.1, n_out).astype(np.float32))
    return Ws, bs


def perturbed(Ws, rel=1e-7):
    """Weights times (1 +- rel): about one float32 ulp, for the loss-curve noise floor."""
    rng = np.random.default_rng(SEED + 2)
    return [W * (1 + rel * rng.choice([-1, 1], W.shape)).astype(np.float32) for W in Ws]


def make(w):
    return make_data(w), init_params(w)


def epoch_losses(step_losses, w):
    """Per-step batch-mean losses -> per-epoch sample-weighted means."""
    sizes = np.minimum(w.batch, w.n - np.arange(w.steps_per_epoch) * w.batch)
    s = np.asarray(step_losses, np.float64).reshape(w.epochs, w.steps_per_epoch)
    return list(s @ sizes / w.n)
