"""Lesson 12: an autoencoder with a bottleneck, and anomaly scores.

The encoder squeezes each 8x8 digit (64 numbers) into a code of 8, the
decoder rebuilds the image from the code, and training minimizes the MSE
between xhat and x. What the network learned to rebuild is "what digits
look like": an image that is not a digit (here: a digit with its pixels
shuffled) is rebuilt badly, so its reconstruction error is an anomaly score.
"""
import numpy as np

import numbann as nb
from numbann.trace import Recorder, plots

from _lesson import Lesson, check

L = Lesson("12_autoencoder", "Lesson 12: autoencoder, reconstructions and anomaly scores")
images, _ = nb.data.load_digits()      # the UCI 8x8 digits shipped with numbann, in [0, 1]
source = "the 8x8 digits (numbann.data.load_digits)"
rng = np.random.default_rng(12)
order = rng.permutation(len(images))
n_train = 1200 if not L.quick else 800
train, test = images[order[:n_train]], images[order[n_train:n_train + 300]]
anomalies = np.array([rng.permutation(x) for x in test[:100]])  # same pixels, no structure
np.savez(L.path("data.npz"), train=train, test=test, anomalies=anomalies)
L.say(f"data: {source}; {len(train)} training images, {len(test)} test images, "
      f"{len(anomalies)} anomalies (test digits with their pixels shuffled)")

sizes = [64, 32, 8, 32, 64]
net = nb.MLP(sizes, hidden="relu", output="sigmoid", seed=12)
epochs = 25 if L.quick else 80
rec = Recorder(keep=("z", "a", "norms"), layers=[2], steps=slice(0, None, 20))
hist = net.fit(train, train, loss="mse", optimizer=nb.optim.Adam(lr=3e-3), epochs=epochs,
               batch_size=64, validation_data=(test, test), trace=rec, verbose=0)
net.save(L.path("autoencoder.npz"))
L.say(f"autoencoder {'-'.join(map(str, sizes))} (ReLU, sigmoid output), Adam(lr=3e-3), "
      f"{epochs} epochs of batches of 64, MSE")
L.value("training loss, first epoch", hist.loss[0])
L.value("training loss, last epoch", hist.loss[-1])
L.value("validation loss, last epoch", hist.val_loss[-1])

L.section("The bottleneck, as the trace recorded it")
tr = rec.trace
last = tr[-1]
L.say(f"step {last.step}: code a[2] of the batch's first image = "
      f"{np.round(last.a[2][0], 3).tolist()}")
dead = tr.diagnostics().dead.get(2)
L.value("dead code units at the last recorded step (%)", 100 * dead[-1],
        f"(z[2] <= 0 for every image of that batch of {len(last.z[2])})")
z_code = np.maximum(test @ net.W[1].T + net.b[1], 0) @ net.W[2].T + net.b[2]
dead_units = np.flatnonzero(np.all(z_code <= 0, axis=0))
n_dead = int(L.value("code units dead on every test image", len(dead_units), f"(of {sizes[2]})"))
if n_dead:
    L.say(f"{n_dead} of the {sizes[2]} code units (units {dead_units.tolist()}) are dead: z[2] <= 0 "
          f"for all {len(test)} test images, so they output 0 for each of them (and pass no "
          f"gradient where z <= 0); a test image's code has at most {sizes[2] - n_dead} non-zero "
          f"numbers, not {sizes[2]}.")
else:
    L.say(f"All {sizes[2]} code units are alive: each is positive for some test image.")


def scores(x):
    """Reconstruction error per image: mean over its 64 pixels of (xhat - x)^2."""
    return ((net.forward(x) - x) ** 2).mean(axis=1)


L.section("Anomaly scores = reconstruction error per image")
s_train, s_test, s_anom = scores(train), scores(test), scores(anomalies)
threshold = np.quantile(s_train, 0.95)
L.value("mean score, test digits", s_test.mean())
L.value("mean score, anomalies", s_anom.mean())
L.value("threshold (95th percentile of training scores)", threshold)
flagged_anom = L.value("anomalies flagged (%)", 100 * np.mean(s_anom > threshold),
                       "(above the threshold)")
flagged_test = L.value("test digits flagged (%)", 100 * np.mean(s_test > threshold),
                       "(false alarms)")
worse = L.value("mean score, anomalies / test digits", s_anom.mean() / s_test.mean())
L.say(f"Shuffled digits are rebuilt {worse:.4g} times worse on average "
      f"(mean score {s_anom.mean():.4g} against {s_test.mean():.4g}); {flagged_anom:.4g}% of them "
      f"land above the threshold, against {flagged_test:.4g}% of the test digits.")
L.say(f"the first 3 of the {len(test)} test images and of the {len(anomalies)} anomalies:")
for i in range(3):
    L.value(f"score of test image {i}", s_test[i])
    L.value(f"score of anomaly {i}", s_anom[i])
check(s_anom.mean() > 2 * s_test.mean(), "anomalies are not rebuilt worse than digits")
check(flagged_anom > 90, "fewer than 90% of anomalies flagged")

n = 8
rebuilt = net.forward(np.vstack([test[:n], anomalies[:n]]))
fig, axes = plots.figure(8, 4.4, ncols=n, nrows=4)
for row, (imgs, label) in enumerate(((test[:n], "digit"), (rebuilt[:n], "rebuilt"),
                                     (anomalies[:n], "anomaly"), (rebuilt[n:], "rebuilt"))):
    for col in range(n):
        ax = axes[row, col]
        ax.imshow(imgs[col].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if col == 0:
            ax.set_ylabel(label, fontsize=8)
fig.suptitle(f"Digits are rebuilt well (mean score {s_test.mean():.4g}), shuffled-pixel anomalies "
             f"badly ({s_anom.mean():.4g})\ngrey level: pixel value, 0 white to 1 black", fontsize=10)
L.figure(fig, "reconstructions.png")
fig, ax = plots.figure(6, 3.6)
bins = np.linspace(0, max(s_anom.max(), s_test.max()), 40)
ax.hist(s_test, bins=bins, alpha=0.6, color=plots.COLORS[0], label="test digits")
ax.hist(s_anom, bins=bins, alpha=0.6, color=plots.COLORS[1], label="anomalies")
ax.axvline(threshold, color="k", ls="--",
           label=f"threshold {threshold:.4g} (95th percentile of training scores)")
ax.set_xlabel("reconstruction error: mean over the 64 pixels of (xhat - x)^2")
ax.set_ylabel("images")
ax.set_title(f"Above the threshold: {flagged_anom:.4g}% of anomalies, {flagged_test:.4g}% of "
             "test digits", fontsize=10)
ax.legend(fontsize=8)
L.figure(fig, "scores.png")
L.figure(plots.loss_curves(hist, title=f"Autoencoder: the reconstruction loss (MSE) falls from "
                                      f"{hist.loss[0]:.4g} to {hist.loss[-1]:.4g}"), "loss.png")
L.done()
