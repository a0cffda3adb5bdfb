"""Multiclass classification: the 8x8 handwritten digits, softmax and Adam.

    python examples/multiclass_digits.py [--out DIR] [--quick]

1797 images of 64 pixels (shipped with numbann, see numbann/datasets/), 10
classes. A 64-128-10 ReLU network with a softmax output is trained with
cross-entropy (labels given as class indices), Adam, a little L2 and a cosine
learning-rate schedule. Prints the test accuracy and the training time, and
saves the loss curves, the test accuracy per epoch and the confusion matrix.
"""
import argparse
import os
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import numbann as nb
from numbann.data import load_digits, standardize, train_test_split


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("out", "examples"),
                        help="folder for the figure (default out/examples/)")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for CI)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    X, y = load_digits()                                  # (1797, 64) in [0, 1], labels 0..9
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=args.seed,
                                                        stratify=True)
    X_train, X_test = standardize(X_train, X_test)

    epochs = 20 if args.quick else 60
    options = dict(loss="ce", batch_size=32, l2=3e-3, seed=args.seed, verbose=0,
                   schedule=nb.schedules.CosineAnnealing(T_max=epochs))
    net = nb.MLP([64, 128, 10], hidden="relu", output="softmax", seed=args.seed)
    # compile the kernels first (cached on disk after the first run), so the
    # timing below is training only
    net.copy().fit(X_train[:64], y_train[:64], optimizer="adam", epochs=1, **options)

    started = time.perf_counter()
    history = net.fit(X_train, y_train, optimizer=nb.optim.Adam(lr=2e-3), epochs=epochs,
                      validation_data=(X_test, y_test), **options)
    seconds = time.perf_counter() - started

    accuracy = net.score(X_test, y_test)
    pred = net.predict(X_test)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (y_test, pred), 1)
    print(f"{net!r}, {net.n_params} parameters")
    print(f"{epochs} epochs of {len(X_train)} images in {seconds:.2f} s "
          f"({epochs * len(X_train) / seconds:,.0f} samples/s)")
    print(f"training time = {seconds:.3f} s")
    print(f"final train loss = {history.loss[-1]:.4f}, test loss = {history.val_loss[-1]:.4f}")
    print(f"test accuracy = {accuracy:.4f}")
    worst = np.argsort(np.diag(confusion) / confusion.sum(axis=1))[:3]
    print("hardest digits:", ", ".join(
        f"{d} ({confusion[d, d]}/{confusion[d].sum()})" for d in worst))

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4.6))
    epochs_axis = np.arange(1, epochs + 1)
    left.plot(epochs_axis, history.loss, "o-", ms=3, label="training loss")
    left.plot(epochs_axis, history.val_loss, "s-", ms=3, label="test loss")
    left.set(xlabel="epoch", ylabel="cross-entropy J (log scale)", yscale="log",
             title=f"Loss: training {history.loss[0]:.4g} -> {history.loss[-1]:.4g}")
    left.legend()
    middle.plot(epochs_axis, 100 * np.asarray(history.val_metric), "o-", ms=3, color="tab:green",
                label="test accuracy")
    middle.set(xlabel="epoch", ylabel="test accuracy (%)",
               title=f"Test accuracy: {100 * accuracy:.4g}% after {epochs} epochs")
    middle.legend()
    image = right.imshow(confusion, cmap="Blues")
    for i in range(10):
        for j in range(10):
            if confusion[i, j]:
                right.text(j, i, confusion[i, j], ha="center", va="center", fontsize=8,
                           color="white" if confusion[i, j] > confusion.max() / 2 else "black")
    right.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true",
              title=f"Confusion matrix ({np.trace(confusion)} of {confusion.sum()} right)")
    fig.colorbar(image, ax=right, label="test images")
    fig.tight_layout()
    path = os.path.join(args.out, "multiclass_digits.png")
    fig.savefig(path, dpi=100)
    print(f"[figure] {os.path.abspath(path)}")
    return accuracy


if __name__ == "__main__":
    main()
