"""Lesson 16: overfitting, and three cures side by side.

Thirty noisy points of the two-moons problem and a network with over a
thousand weights (2-32-32-1, ReLU, sigmoid output, binary cross-entropy):
trained long enough it learns the thirty points by heart, its training loss
heads for zero while the loss on 250 fresh points (the validation set)
rises again after an early minimum. Then the same network and data with each cure of
the course: an L2 penalty (J + l2/2 sum W^2), dropout (each hidden unit
dropped with probability p during training) and early stopping (keep the
weights of the epoch with the lowest validation loss).
"""
import numpy as np

import numbann as nb
from numbann.trace import plots

from _lesson import Lesson, check

L = Lesson("16_overfitting", "Lesson 16: overfitting and its cures")
X_train, y_train = nb.data.make_moons(30, noise=0.3, seed=16)
X_val, y_val = nb.data.make_moons(250, noise=0.3, seed=116)
np.savez(L.path("data.npz"), X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val)
sizes, lr = [2, 32, 32, 1], 2e-3
epochs = 500 if L.quick else 1000
net = nb.MLP(sizes, hidden="relu", output="sigmoid", seed=16)
L.say(f"data: two moons with noise 0.3, {len(X_train)} training points, {len(X_val)} validation "
      f"points; network {'-'.join(map(str, sizes))} ({net.n_params} parameters, "
      f"{net.n_params / len(X_train):.0f} per training point)")
L.say(f"every run: Adam(lr={lr:g}), full batches, {epochs} epochs, the same initial weights")

cures = {"plain": {}, "L2": {"l2": 1e-2}, "dropout": {"dropout": 0.5},
         "early stopping": {"patience": 100}}
# one colour per run in every figure (blue and red are the two classes)
color = dict(zip(cures, plots.COLORS[4:8]))
nets, histories = {}, {}
for name, options in cures.items():
    L.section(f"{name} {options or '(no regularization)'}")
    net = nb.MLP(sizes, hidden="relu", output="sigmoid", seed=16)
    h = net.fit(X_train, y_train, loss="bce", optimizer=nb.Adam(lr=lr), epochs=epochs,
                batch_size=len(X_train), validation_data=(X_val, y_val), seed=16, verbose=0,
                **options)
    nets[name], histories[name] = net, h
    net.save(L.path(f"net_{name.replace(' ', '_')}.npz"))
    L.value(f"{name}: epochs run", len(h.loss))
    L.value(f"{name}: lowest validation loss", min(h.val_loss),
            f"at epoch {h.best_epoch + 1} (epochs counted from 1)")
    L.value(f"{name}: final training loss", net.evaluate(X_train, y_train, "bce"),
            "(the data term only, no penalty)")
    L.value(f"{name}: final validation loss", net.evaluate(X_val, y_val, "bce"))
    L.value(f"{name}: final validation accuracy (%)", 100 * net.score(X_val, y_val))
np.savez(L.path("val_loss.npz"), **{k.replace(" ", "_"): h.val_loss for k, h in histories.items()})

L.section("What the numbers say")
train = {k: n.evaluate(X_train, y_train, "bce") for k, n in nets.items()}
val = {k: n.evaluate(X_val, y_val, "bce") for k, n in nets.items()}
plain = histories["plain"]
rise = val["plain"] / min(plain.val_loss)
L.value("plain: final / lowest validation loss", rise)
check(rise > 2 and plain.best_epoch + 1 < epochs // 4
      and train["plain"] < min(plain.val_loss) / 5, "the plain network does not overfit")
L.say(f"the plain network overfits: its training loss falls to {train['plain']:.4g} while its "
      f"validation loss, lowest ({min(plain.val_loss):.4g}) at epoch {plain.best_epoch + 1}, ends "
      f"{rise:.4g} times higher ({val['plain']:.4g})")
for name in list(cures)[1:]:
    gap = val[name] - train[name]
    L.value(f"{name}: validation - training loss", gap)
    check(val[name] < val["plain"] and gap < val["plain"] - train["plain"],
          f"{name} does not reduce overfitting")
best = min(val, key=val.get)
L.say(f"each cure ends with a lower validation loss than the plain network's "
      f"{val['plain']:.4g} and a smaller gap to its training loss; the lowest here: {best} "
      f"({val[best]:.4g})")
stopped = histories["early stopping"]
waited = stopped.stopped_epoch - stopped.best_epoch
L.say(f"early stopping stopped after epoch {stopped.stopped_epoch + 1}, {waited} epochs without "
      f"a lower validation loss, and restored the weights of epoch {stopped.best_epoch + 1}")

fig, axes = plots.figure(11, 3.2, ncols=4, sharex=True, sharey=True)
for ax, (name, h) in zip(axes, histories.items()):
    x = np.arange(1, len(h.loss) + 1)
    ax.plot(x, h.loss, color=color[name], label="training (during fit)")
    ax.plot(x, h.val_loss, "--", color=color[name], label="validation")
    ax.axvline(h.best_epoch + 1, color="#888", lw=0.8, ls=":", label="lowest validation")
    ax.set(yscale="log", xlabel="epoch", title=f"{name}: final val {val[name]:.4g}")
    ax.legend(fontsize=7)
axes[0].set_ylabel("binary cross-entropy J")
fig.suptitle("Without regularization validation loss climbs after an early minimum; "
             "each cure holds it down")
L.figure(fig, "curves.png")

fig, axes = plots.figure(13, 3.4, ncols=4)
for ax, (name, net) in zip(axes, nets.items()):
    plots.decision_boundary(net, X_train, y_train, ax=ax, title=name, pad=0.6)
    ax.set_title(f"{name}: val loss {val[name]:.4g}", color=color[name])
fig.suptitle("The 30 training points and each network's output a[L] "
             "(black line: a[L] = 0.5)")
L.figure(fig, "boundaries.png")
L.done()
