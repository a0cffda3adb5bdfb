"""Generative adversarial networks from two numbann networks (Goodfellow et
al., 2014): a generator G turns noise z ~ N(0, I) into samples, a
discriminator D (one sigmoid output: the probability that its input is
real) learns to tell them from the data, and the two are trained in turn.

Each step, on a batch of m real rows x and m noise rows z:

- D: J_D = BCE(D(x), 1) and BCE(D(G(z)), 0), the mean over the 2m rows;
  D's gradient by its own backprop.
- G (the non-saturating loss): J_G = BCE(D(G(z)), 1), mean over m. Its
  gradient runs through D without changing it: backprop in D gives
  dJ_G/da[0] of D, i.e. dJ_G/dG(z) (``step.dX``), which G then backpropagates
  as its upstream gradient (``G.backward(z, dX)``).
"""
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from . import _checks
from ._typing import Array, ArrayLike
from .base import Model
from .optim import Adam, Optimizer


@dataclass
class GANHistory:
    """Per step: ``d_loss`` (J_D) and ``g_loss`` (J_G); ``snapshots``: epoch ->
    G's samples of a fixed noise batch at the end of that epoch (epoch 0:
    before training)."""
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    snapshots: dict[int, Array] = field(default_factory=dict)


class GAN:
    """``GAN(generator, discriminator)``: ``generator`` maps ``noise_dim``
    inputs to samples of the data's width, ``discriminator`` maps a sample
    to one sigmoid unit. ``fit(X)`` trains both; ``sample(n)`` draws from G."""

    def __init__(self, generator: Model, discriminator: Model) -> None:
        for name, net in (("generator", generator), ("discriminator", discriminator)):
            if not isinstance(net, Model):
                raise TypeError(f"{name} must be a numbann network, got {type(net).__name__}")
        if discriminator.n_outputs != 1 or discriminator.output_activation.name != "sigmoid":
            raise ValueError("the discriminator must end in one sigmoid unit (the probability "
                             f"that its input is real), got {discriminator.n_outputs} "
                             f"{discriminator.output_activation.name} output(s)")
        width = _inputs(discriminator)
        if generator.n_outputs != width:
            raise ValueError(f"the generator makes samples of {generator.n_outputs} values but "
                             f"the discriminator reads {width}")
        self.generator, self.discriminator = generator, discriminator
        self.noise_dim = _inputs(generator)

    def noise(self, n: int, rng: np.random.Generator) -> Array:
        return rng.normal(size=(n, self.noise_dim)).astype(self.generator.dtype)

    def sample(self, n: int, seed: int | None = None) -> Array:
        """n samples G(z), z ~ N(0, I)."""
        n = _checks.size(n, "n")
        return self.generator.forward(self.noise(n, np.random.default_rng(seed)))

    def discriminator_gradient(self, X: ArrayLike, fake: ArrayLike) -> tuple[float, Array]:
        """(J_D, dJ_D/dtheta_D): D's BCE on the real rows (label 1) and the fake
        ones (label 0), the mean over both."""
        real, fake = np.asarray(X), np.asarray(fake)
        rows = np.vstack([real, fake])
        labels = np.concatenate([np.ones(len(real)), np.zeros(len(fake))])[:, None]
        return self.discriminator.gradient(rows, labels, "bce")

    def generator_gradient(self, z: ArrayLike) -> tuple[float, Array]:
        """(J_G, dJ_G/dtheta_G) for J_G = BCE(D(G(z)), 1): D's input gradient
        backpropagated through G (the module notes)."""
        z = np.asarray(z, self.generator.dtype)
        fake = self.generator.forward(z)
        through_d = self.discriminator.backprop(fake, np.ones((len(z), 1)), "bce")
        assert through_d.dX is not None  # backprop always returns the input gradient
        return through_d.loss, self.generator.backward(z, through_d.dX).grad

    def fit(self, X: ArrayLike, epochs: int = 100, batch_size: int = 64,
            d_optimizer: Optimizer | None = None, g_optimizer: Optimizer | None = None,
            seed: int = 0, snapshot_every: int = 0, snapshot_size: int = 500,
            verbose: int = 1) -> GANHistory:
        """Alternate one D step and one G step per batch of real rows (shuffled
        each epoch) for ``epochs``; Adam(lr=1e-3, betas=(0.5, 0.999)) for both
        by default. ``snapshot_every=k`` keeps G's samples of one fixed noise
        batch every k epochs (and before training)."""
        X = np.asarray(_checks.inputs(X, _inputs(self.discriminator), self.generator.dtype, "X"))
        epochs = _checks.size(epochs, "epochs")
        batch_size = _checks.size(batch_size, "batch_size")
        rng = np.random.default_rng(_checks.seed(seed))
        nets = (self.discriminator, self.generator)
        opts = [d_optimizer or Adam(lr=1e-3, betas=(0.5, 0.999)),
                g_optimizer or Adam(lr=1e-3, betas=(0.5, 0.999))]
        states = [opt.init_state(net.n_params, net.dtype) for opt, net in zip(opts, nets)]
        history = GANHistory()
        fixed = self.noise(snapshot_size, np.random.default_rng(seed + 1))
        if snapshot_every:
            history.snapshots[0] = self.generator.forward(fixed)
        t = 0
        for epoch in tqdm(range(1, epochs + 1), disable=not verbose, desc="GAN", unit="epoch"):
            order = rng.permutation(len(X))
            for start in range(0, len(X) - batch_size + 1, batch_size):
                t += 1
                real = X[order[start:start + batch_size]]
                fake = self.generator.forward(self.noise(batch_size, rng))
                J_D, grad = self.discriminator_gradient(real, fake)
                opts[0].step(self.discriminator.theta, grad, states[0], t)
                J_G, grad = self.generator_gradient(self.noise(batch_size, rng))
                opts[1].step(self.generator.theta, grad, states[1], t)
                history.d_loss.append(float(J_D))
                history.g_loss.append(float(J_G))
            if snapshot_every and epoch % snapshot_every == 0:
                history.snapshots[epoch] = self.generator.forward(fixed)
        return history

    def __repr__(self) -> str:
        return f"GAN(generator={self.generator!r}, discriminator={self.discriminator!r})"


def _inputs(net: Any) -> int:
    """The width of a flat network input."""
    shape = getattr(net, "input_shape", None)
    if shape is not None:
        if len(shape) != 1:
            raise ValueError(f"GAN networks take flat samples, got input shape {shape}")
        return int(shape[0])
    return int(net.sizes[0])
