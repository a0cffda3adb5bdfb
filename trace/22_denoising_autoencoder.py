"""Lesson 22: a denoising autoencoder with a two-number code.

The input is a digit with noise added (Gaussian, standard deviation 0.4,
pixels clipped to [0, 1]); the target is the clean digit. To rebuild it,
the network must squeeze each 64-pixel image through a code of two
numbers, z = (code_1, code_2), so the code can be drawn: each test digit
is a point, coloured by its class, which the network never saw.

How well the code separates the classes, as a number: the share of test
digits whose 5 nearest training codes (Euclidean distance in the 2-D
code plane) mostly carry their own label (5-nearest-neighbour accuracy,
a tie between labels going to the smaller one; chance is 10%).
"""
import numpy as np

import numbann as nb
from numbann.data import load_digits, train_test_split
from numbann.trace import plots

from _lesson import Lesson, check

L = Lesson("22_denoising_autoencoder", "Lesson 22: a denoising autoencoder with a 2-D code")
X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=22, stratify=True)
rng = np.random.default_rng(22)
noise = 0.4
noisy_train = np.clip(X_train + rng.normal(0, noise, X_train.shape), 0, 1)
noisy_test = np.clip(X_test + rng.normal(0, noise, X_test.shape), 0, 1)
np.savez(L.path("data.npz"), X_train=X_train, X_test=X_test, y_train=y_train, y_test=y_test,
         noisy_train=noisy_train, noisy_test=noisy_test)
L.say(f"data: the 8x8 digits, {len(X_train)} for training, {len(X_test)} for testing; "
      f"noise N(0, {noise}^2) per pixel, clipped to [0, 1]")

net = nb.Sequential(64, [nb.Dense(32, "relu"), nb.Dense(2, "identity"), nb.Dense(32, "relu"),
                         nb.Dense(64, "sigmoid")], seed=22)
epochs = 30 if L.quick else 100
history = net.fit(noisy_train, X_train, loss="mse", optimizer=nb.Adam(lr=3e-3), epochs=epochs,
                  batch_size=32, seed=22, verbose=0, validation_data=(noisy_test, X_test))
net.save(L.path("autoencoder.npz"))
L.say(f"autoencoder 64-32-2-32-64 (ReLU, a linear 2-D code, sigmoid output), MSE between "
      f"the output and the clean digit, Adam(lr=3e-3), {epochs} epochs of batches of 32")
L.value("training loss, last epoch", history.loss[-1])

L.section("Denoising")
rebuilt = net.forward(noisy_test)
noisy_error = L.value("test MSE, noisy input against clean", np.mean((noisy_test - X_test) ** 2))
rebuilt_error = L.value("test MSE, reconstruction against clean", np.mean((rebuilt - X_test) ** 2))
L.value("error removed (%)", 100 * (1 - rebuilt_error / noisy_error))
check(rebuilt_error < noisy_error, "the reconstruction is not closer to the clean digit")
L.say(f"the reconstruction is closer to the clean digit than the noisy input was: "
      f"{100 * (1 - rebuilt_error / noisy_error):.4g}% of the squared error removed, through "
      "two numbers per image")


def code(images):
    """The 2-D code a[2] of each image."""
    return net.backprop(images, images, "mse").a[2]


L.section("The 2-D code")
code_train, code_test = code(noisy_train), code(noisy_test)
np.savez(L.path("codes.npz"), train=code_train, test=code_test)
dist = ((code_test[:, None, :] - code_train[None, :, :]) ** 2).sum(axis=2)
nearest = y_train[np.argsort(dist, axis=1, kind="stable")[:, :5]]
predicted = np.array([np.bincount(votes, minlength=10).argmax() for votes in nearest])
accuracy = L.value("5-nearest-neighbour accuracy in the code plane (%)",
                   100 * np.mean(predicted == y_test), "chance: 10%")
recall = {d: 100 * np.mean(predicted[y_test == d] == d) for d in range(10)}
for d in range(10):
    L.value(f"digit {d}: recognized from its code (%)", recall[d])
check(accuracy > 30, "the code does not separate the digit classes")
best, worst = max(recall, key=recall.get), min(recall, key=recall.get)
L.say(f"the code, learned without labels, separates the classes: {accuracy:.4g}% of test "
      f"digits are recognized from their 5 nearest training codes (chance 10%); digit {best} "
      f"most often ({recall[best]:.4g}%), digit {worst} least often ({recall[worst]:.4g}%)")

fig, ax = plots.figure(6.4, 5)
for d in range(10):
    points = code_test[y_test == d]
    ax.scatter(points[:, 0], points[:, 1], s=9, color=plots.COLORS[d], alpha=0.8,
               label=f"{d} ({recall[d]:.4g}%)")
ax.set(xlabel="code_1 = a[2]_1 (no unit)", ylabel="code_2 = a[2]_2 (no unit)",
       title=f"Test digits in the 2-D code: classes cluster ({accuracy:.4g}% 5-NN accuracy)")
ax.legend(title="digit (recognized)", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
L.figure(fig, "code.png")

n = 8
fig, axes = plots.figure(8, 3.4, ncols=n, nrows=3)
for row, (images, label) in enumerate(((X_test, "clean"), (noisy_test, "noisy input"),
                                       (rebuilt, "rebuilt"))):
    for col in range(n):
        ax = axes[row, col]
        ax.imshow(images[col].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if col == 0:
            ax.set_ylabel(label, fontsize=8)
fig.suptitle(f"Test digits: noise removed through a 2-number code "
             f"(MSE {noisy_error:.4g} -> {rebuilt_error:.4g})", fontsize=10)
L.figure(fig, "reconstructions.png")
L.figure(plots.loss_curves(history, title="Denoising autoencoder: MSE against the clean digit"),
         "loss.png")
L.done()
