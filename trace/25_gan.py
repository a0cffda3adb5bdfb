"""Lesson 25: a generative adversarial network on a ring of eight Gaussians.

A generator G turns noise z ~ N(0, I) into points in the plane; a
discriminator D outputs the probability that a point is real. They train in
turn: D on BCE(D(x), 1) + BCE(D(G(z)), 0), G on BCE(D(G(z)), 1), whose
gradient is D's input gradient backpropagated through G (numbann.GAN). The
lesson measures which of the eight modes the generator covers as it trains,
and says whether it collapsed onto some of them (mode collapse).
"""
import numpy as np

import numbann as nb
from numbann.data import make_ring
from numbann.trace import plots
from numbann.trace.style import label, legend, palette

from _lesson import Lesson, check

L = Lesson("25_gan", "Lesson 25: a GAN on a ring of eight Gaussians")
MODES, RADIUS, STD = 8, 2.0, 0.05
NEAR = 0.25  # a sample within this distance of a centre belongs to that mode (5 std)
X, _ = make_ring(2000, modes=MODES, radius=RADIUS, std=STD, seed=0)
centres = RADIUS * np.column_stack([np.cos(2 * np.pi * np.arange(MODES) / MODES),
                                    np.sin(2 * np.pi * np.arange(MODES) / MODES)])

gan = nb.GAN(nb.MLP([4, 64, 64, 2], hidden="relu", output="identity", seed=0),
             nb.MLP([2, 64, 64, 1], hidden="relu", output="sigmoid", seed=1))
epochs = 100 if L.quick else 300
every = epochs // 4
history = gan.fit(X, epochs=epochs, batch_size=100, seed=0, snapshot_every=every, verbose=0)
steps = len(history.d_loss)
L.say(f"{len(X)} real points, {MODES} modes of std {STD} on a circle of radius {RADIUS}; "
      f"{epochs} epochs of {len(X) // 100} steps (batch 100), Adam(1e-3, betas (0.5, 0.999))")


def coverage(samples):
    """(share of samples within NEAR of some centre, samples per mode)."""
    distance = np.linalg.norm(samples[:, None] - centres[None], axis=2)
    near = distance.min(axis=1) < NEAR
    return near.mean(), np.bincount(distance.argmin(axis=1)[near], minlength=MODES)


L.section("Which modes the generator covers (a mode counts if it holds >= 2% of 500 samples)")
covered = {}
for epoch, samples in history.snapshots.items():
    share, counts = coverage(samples)
    covered[epoch] = np.flatnonzero(counts >= 0.02 * len(samples))
    L.value(f"epoch {epoch}: samples near a mode (%)", 100 * share)
    L.value(f"epoch {epoch}: modes covered", len(covered[epoch]))
np.savez(L.path("samples.npz"), **{f"epoch_{e}": s for e, s in history.snapshots.items()})
last = max(history.snapshots)
check(len(covered[last]) > len(covered[0]), "training did not cover more modes")
missed = sorted(set(range(MODES)) - set(covered[last].tolist()))
previous = sorted(covered)[-2]
if not missed:
    L.say(f"After {last} epochs the generator covers all {MODES} modes: no mode collapse.")
elif len(covered[last]) <= len(covered[previous]):
    L.say(f"Mode collapse: from epoch {previous} to {last} the generator covered no new mode; "
          f"it covers {len(covered[last])} of {MODES} and misses modes {missed}: D cannot push "
          f"G towards modes G never samples.")
else:
    L.say(f"After {last} epochs the generator covers {len(covered[last])} of {MODES} modes "
          f"(misses {missed}), {len(covered[last]) - len(covered[previous])} more than at "
          f"epoch {previous}: still spreading, not (yet) collapsed.")

L.section("The two losses")
d_end, g_end = np.mean(history.d_loss[-100:]), np.mean(history.g_loss[-100:])
L.value("J_D, mean of the last 100 steps", d_end)
L.value("J_G, mean of the last 100 steps", g_end)
L.say(f"At the equilibrium D says 1/2 everywhere and J_D = ln 2 = {np.log(2):.4g}; here J_D "
      f"ends at {d_end:.4g}, {'below' if d_end < np.log(2) else 'above'} it "
      f"(D still tells {'some' if d_end < np.log(2) else 'few'} fakes apart).")

colors = palette(["real", "generated"])
shown = sorted(history.snapshots)
fig, axes = plots.figure(3.2 * len(shown), 3.4, ncols=len(shown))
for ax, epoch in zip(axes, shown):
    ax.scatter(X[:500, 0], X[:500, 1], s=3, color=colors["real"], label="real")
    g = history.snapshots[epoch]
    ax.scatter(g[:, 0], g[:, 1], s=3, color=colors["generated"], label="generated")
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
    label(ax, "x_1", "x_2", f"epoch {epoch}: {len(covered[epoch])} of {MODES} modes")
legend(axes[0], loc="lower left")
L.figure(fig, "samples.png")
fig, ax = plots.figure(6.0, 3.6)
ax.plot(np.arange(1, steps + 1), history.d_loss, lw=0.6, color=colors["real"], label="J_D")
ax.plot(np.arange(1, steps + 1), history.g_loss, lw=0.6, color=colors["generated"], label="J_G")
ax.axhline(np.log(2), color="k", ls=":", lw=1, label="ln 2 (equilibrium J_D)")
label(ax, "step (one D and one G update)", "loss (BCE)", "The two losses over training")
legend(ax)
L.figure(fig, "losses.png")
L.done()
