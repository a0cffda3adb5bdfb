"""Lesson 14: a small convolutional network against a dense one.

A CNN (conv 3x3, pool, conv 3x3, pool, dense head) and an MLP with about
as many parameters learn the 8x8 digits shipped with numbann, seen as
1x8x8 images. The CNN's filters slide over the image and share their
weights across positions; the MLP gives every pixel its own weight in
every unit. Same data, same optimizer, same number of epochs: we compare
test accuracy and parameters, then look at the learned filters and at the
feature maps one digit produces.
"""
import numpy as np

import numbann as nb
from numbann.data import load_digits, train_test_split
from numbann.trace import plots

from _lesson import Lesson, check

L = Lesson("14_cnn", "Lesson 14: a small CNN against an MLP on the 8x8 digits")
X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X.reshape(-1, 1, 8, 8), y, test_size=0.25,
                                                    seed=14, stratify=True)
cnn = nb.Sequential((1, 8, 8), [nb.Conv2D(8, 3, padding=1), nb.MaxPool2D(2),
                                nb.Conv2D(16, 3, padding=1), nb.MaxPool2D(2), nb.Flatten(),
                                nb.Dense(10, "softmax")], seed=14)
hidden = 26
mlp = nb.MLP([64, hidden, 10], hidden="relu", output="softmax", seed=14)
L.say(cnn.summary())
L.say(mlp.summary())
L.value("cnn parameters", cnn.n_params)
L.value("mlp parameters", mlp.n_params)

epochs = 12 if L.quick else 30
histories = {}
for name, net, X_tr, X_te in (("cnn", cnn, X_train, X_test),
                              ("mlp", mlp, X_train.reshape(len(X_train), -1),
                               X_test.reshape(len(X_test), -1))):
    histories[name] = net.fit(X_tr, y_train, loss="ce", optimizer=nb.Adam(lr=3e-3),
                              epochs=epochs, batch_size=32, seed=14, verbose=0,
                              validation_data=(X_te, y_test))
    net.save(L.path(f"{name}.npz"))
np.savez(L.path("test_set.npz"), X=X_test, y=y_test)
L.section(f"After {epochs} epochs of Adam (lr 3e-3, batch 32)")
acc_cnn = L.value("cnn test accuracy", cnn.score(X_test, y_test))
acc_mlp = L.value("mlp test accuracy", mlp.score(X_test.reshape(len(X_test), -1), y_test))
for name, h in histories.items():
    L.value(f"{name} final test loss", h.val_loss[-1])
    L.value(f"{name} best test accuracy", max(h.val_metric),
            f"at epoch {int(np.argmax(h.val_metric))}")
better = "the CNN" if acc_cnn > acc_mlp else "the MLP" if acc_mlp > acc_cnn else "neither"
L.say(f"{better} is more accurate on the {len(y_test)} test digits "
      f"(CNN {acc_cnn:.3f} with {cnn.n_params} parameters, MLP {acc_mlp:.3f} with {mlp.n_params})")
check(acc_cnn > 0.9 and acc_mlp > 0.85, "a network did not learn the digits")

L.section("Weight sharing")
conv1 = cnn.W[1].size + cnn.b[1].size
outputs = int(np.prod(cnn.shapes[1]))
dense_same = 64 * outputs + outputs
L.value("conv layer 1 parameters", conv1, "8 filters of 3x3 plus 8 biases")
L.value("dense layer with the same 8x8x8 outputs, parameters", dense_same,
        "64 weights per output unit, 512 units")
L.say(f"the conv layer computes {outputs} numbers from {conv1} parameters: each 3x3 filter is "
      f"reused at all 64 positions, where a dense layer would need {dense_same / conv1:.0f} "
      "times as many weights")

L.section("What the first layer learned")
digit = X_test[:1]
step = cnn.backprop(digit, y_test[:1], "ce")
L.value("digit shown", y_test[0])
for o in range(cnn.W[1].shape[0]):
    L.value(f"filter {o} mean activation", step.a[1][0, o].mean())

fig, axes = plots.figure(11, 4.6, ncols=9, nrows=3)
limit = np.abs(cnn.W[1]).max()
axes[0, 0].imshow(digit[0, 0], cmap="gray_r")
axes[0, 0].set_title(f"input ({y_test[0]})", fontsize=9)
for o in range(8):
    axes[0, o + 1].imshow(cnn.W[1][o, 0], cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[0, o + 1].set_title(f"filter {o}", fontsize=9)
    axes[1, o + 1].imshow(step.a[1][0, o], cmap="gray_r")
    axes[1, o + 1].set_title(f"a[1] ch {o}", fontsize=9)
    axes[2, o + 1].imshow(step.a[2][0, o], cmap="gray_r")
    axes[2, o + 1].set_title(f"pooled ch {o}", fontsize=9)
axes[1, 0].text(0.5, 0.5, "8x8 feature\nmaps (relu)", ha="center", va="center", fontsize=9)
axes[2, 0].text(0.5, 0.5, "after 2x2\nmax pooling", ha="center", va="center", fontsize=9)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_frame_on(len(ax.images) > 0)
fig.suptitle("Layer 1: learned 3x3 filters (red +, blue -) and what they make of one test digit")
L.figure(fig, "filters_and_maps.png")

fig, axes = plots.figure(10, 3.6, ncols=2)
for i, (name, h) in enumerate(histories.items()):
    axes[0].plot(h.loss, color=plots.COLORS[i], label=f"{name} train")
    axes[0].plot(h.val_loss, "--", color=plots.COLORS[i], label=f"{name} test")
    axes[1].plot(h.val_metric, color=plots.COLORS[i], label=name)
axes[0].set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
axes[1].set(xlabel="epoch", ylabel="accuracy", title="Test accuracy")
for ax in axes:
    ax.legend(fontsize=8)
L.figure(fig, "training.png")
L.done()
