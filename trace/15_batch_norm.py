"""Lesson 15: batch normalization.

A BatchNorm layer normalizes each unit over the batch, xhat = (z - mu) /
sqrt(var + eps), then scales and shifts it with learned gamma and beta.
Every layer then sees inputs of a steady size, whatever the layers before
it did to theirs, and training tolerates higher learning rates (the
course: "normalize each layer's input, higher learning rates").

The same deep ReLU network (six hidden layers of 64 units) learns the 8x8
digits twice, without and with a BatchNorm before each ReLU, first at a
modest learning rate and then at one only the normalized network survives
(the plain one diverges or gets stuck at chance, its ReLUs dead).
A callback measures the spread of every hidden layer's pre-activations on
a fixed batch after each epoch.
"""
import numpy as np

import numbann as nb
from numbann.data import load_digits, train_test_split
from numbann.trace import plots

from _lesson import Lesson, check

L = Lesson("15_batch_norm", "Lesson 15: batch normalization")
X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=15, stratify=True)
X_train, y_train = X_train[:1344], y_train[:1344]   # 42 batches of 32: no tiny last batch
depth, width, batch = 6, 64, 32
probe = X_train[:256]
np.savez(L.path("data.npz"), probe=probe, X_test=X_test, y_test=y_test)


def build(normalized):
    layers = []
    for _ in range(depth):
        layers += [nb.Dense(width, "identity"), nb.BatchNorm("relu")] if normalized \
            else [nb.Dense(width, "relu")]
    return nb.Sequential(64, layers + [nb.Dense(10, "softmax")], seed=15)


def hidden_layers(net):
    """The layers whose z feeds a ReLU: the Dense layers, or the BatchNorm layers."""
    return [l for l, layer in enumerate(net.layers[:-1], 1) if layer.activation.name == "relu"]


def spreads(net):
    """Standard deviation of z[l] (the input of each ReLU) on the probe batch."""
    step = net.backprop(probe, y_train[:256], "ce")
    return [float(step.z[l].std()) for l in hidden_layers(net)]


def train(normalized, lr, epochs):
    net = build(normalized)
    stats = [spreads(net)]
    record = lambda net, epoch, logs: stats.append(spreads(net))  # noqa: E731
    try:
        history = net.fit(X_train, y_train, loss="ce", optimizer=nb.SGD(lr=lr), epochs=epochs,
                          batch_size=batch, seed=15, verbose=0, callbacks=[record])
    except nb.TrainingDiverged as e:
        return net, None, np.array(stats), str(e)
    return net, history, np.array(stats), None


epochs = 8 if L.quick else 20
names = {False: "plain", True: "batch norm"}
runs, nets = {}, {}
for lr in (0.1, 1.0):
    L.section(f"SGD, learning rate {lr}, {epochs} epochs, batch {batch}")
    for normalized in (False, True):
        net, history, stats, error = train(normalized, lr, epochs)
        runs[lr, normalized], nets[lr, normalized] = (history, stats), net
        name = names[normalized]
        if error:
            L.value(f"lr {lr}, {name}: diverged", 1, error.split(":")[0])
            continue
        L.value(f"lr {lr}, {name}: final train loss", history.loss[-1])
        L.value(f"lr {lr}, {name}: test accuracy", net.score(X_test, y_test))
        net.save(L.path(f"net_lr{lr}_{'bn' if normalized else 'plain'}.npz"))

plain_high, bn_high = runs[1.0, False][0], runs[1.0, True][0]
check(bn_high is not None and bn_high.loss[-1] < 0.5, "batch norm did not train at lr 1.0")
if plain_high is None:
    L.say("at lr 1.0 the plain network's loss became infinite (TrainingDiverged) while the "
          "normalized one trained")
else:
    check(plain_high.loss[-1] > 2.0, "the plain network learned at lr 1.0")
    dead = nets[1.0, False].backprop(probe, y_train[:256], "ce")
    shares = [100 * float(np.mean(np.all(dead.z[l] <= 0, axis=0)))
              for l in hidden_layers(nets[1.0, False])]
    for k, share in enumerate(shares, 1):
        L.value(f"lr 1.0, plain: dead ReLUs in hidden layer {k} (%)", share,
                "units never positive on 256 training digits")
    check(max(shares) > 50, "no layer of the plain network died")
    L.say(f"at lr 1.0 the plain network is stuck at chance: loss {plain_high.loss[-1]:.3f} "
          f"(ln 10 = {np.log(10):.3f}), and up to {max(shares):.0f}% of a layer's ReLUs are dead "
          "(never positive on 256 training digits, so no gradient reaches them); the normalized network "
          f"reaches loss {bn_high.loss[-1]:.3f}: each BatchNorm recentres and rescales its "
          "layer's input, so a large step on the weights before it cannot push every unit "
          "into the flat part of the ReLU")

L.section("Spread of each layer's pre-activations z (std on 256 training digits)")
for normalized in (False, True):
    stats = runs[0.1, normalized][1]
    for k, l in enumerate(hidden_layers(build(normalized))):
        L.value(f"lr 0.1, {names[normalized]}: std z[{l}] before training", stats[0, k])
        L.value(f"lr 0.1, {names[normalized]}: std z[{l}] after training", stats[-1, k])
plain_after, bn_after = runs[0.1, False][1][-1], runs[0.1, True][1][-1]
ratio_plain = plain_after.max() / plain_after.min()
ratio_bn = bn_after.max() / bn_after.min()
L.value("lr 0.1, plain: largest / smallest layer std after training", ratio_plain)
L.value("lr 0.1, batch norm: largest / smallest layer std after training", ratio_bn)
check(ratio_bn < ratio_plain, "batch norm did not even out the layers' spreads")
L.say(f"without normalization the layers' spreads differ by a factor {ratio_plain:.1f} after "
      f"training; with it, by {ratio_bn:.2f} (each BatchNorm output is gamma xhat + beta, "
      "xhat of variance 1 over the batch)")

fig, axes = plots.figure(11, 3.8, ncols=2)
for i, lr in enumerate((0.1, 1.0)):
    for normalized in (False, True):
        history = runs[lr, normalized][0]
        style = dict(color=plots.COLORS[2 * i + normalized], ls="-" if normalized else "--")
        label = f"{names[normalized]}, lr {lr}"
        if history is None:
            axes[0].plot([], [], label=label + " (diverged in epoch 0)", **style)
        else:
            axes[0].plot(history.loss, label=label, **style)
axes[0].set(xlabel="epoch", ylabel="training loss (cross-entropy)", yscale="log",
            title="Training curves")
axes[0].legend(fontsize=8)
for normalized in (False, True):
    stats = runs[0.1, normalized][1]
    for k in range(stats.shape[1]):
        axes[1].plot(stats[:, k], color=plots.COLORS[k], ls="-" if normalized else "--",
                     label=f"hidden layer {k + 1}" if normalized else None)
axes[1].set(xlabel="epoch", ylabel="std of z (input of the ReLU)",
            title="Pre-activation spread per layer, lr 0.1\n(dashed: plain, solid: batch norm)")
axes[1].legend(fontsize=7, ncol=2)
L.figure(fig, "batch_norm.png")
L.done()
