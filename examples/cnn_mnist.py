"""A convolutional network: LeNet-5 on MNIST, or a small CNN on the shipped digits.

    python examples/cnn_mnist.py [--out DIR] [--quick] [--data DIR] [--offline]

With the MNIST files in the data folder (``--data``, else ``$NUMBANN_DATA``,
else ``~/.numbann/data``; downloaded there when the network allows), a
LeNet-5-like network (Conv2D 6@5x5, MaxPool 2, Conv2D 16@5x5, MaxPool 2,
Dense 120, 84, 10) is trained on the 28x28 images with Adam. Without them,
the script says where to put them and trains a small CNN on the 8x8 digits
shipped with numbann instead. Prints the test accuracy and the speed, and
saves the learned first-layer filters and the loss curves.
"""
import argparse
import os
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import numbann as nb
from numbann.data import DatasetNotFoundError, load_digits, load_mnist, train_test_split


def lenet():
    return [nb.Conv2D(6, 5), nb.MaxPool2D(2), nb.Conv2D(16, 5), nb.MaxPool2D(2), nb.Flatten(),
            nb.Dense(120), nb.Dense(84), nb.Dense(10, "softmax")]


def small_cnn():
    return [nb.Conv2D(8, 3, padding=1), nb.MaxPool2D(2), nb.BatchNorm(),
            nb.Conv2D(16, 3, padding=1), nb.MaxPool2D(2), nb.Flatten(), nb.Dense(10, "softmax")]


def data(folder, quick, download):
    """(name, shape, layers, X_train, X_test, y_train, y_test)."""
    try:
        X_train, y_train = load_mnist("train", path=folder, download=download, dtype="float32")
        X_test, y_test = load_mnist("test", path=folder, download=download, dtype="float32")
        if quick:
            X_train, y_train, X_test, y_test = X_train[:6000], y_train[:6000], X_test[:2000], y_test[:2000]
        return "MNIST", (1, 28, 28), lenet(), X_train, X_test, y_train, y_test
    except DatasetNotFoundError as e:
        print(f"MNIST is not here, so this run uses the 8x8 digits shipped with numbann.\n{e}\n")
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X.reshape(-1, 1, 8, 8).astype(np.float32),
                                                        y, test_size=0.25, stratify=True)
    return "8x8 digits", (1, 8, 8), small_cnn(), X_train, X_test, y_train, y_test


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("out", "examples"),
                        help="folder for the figure (default out/examples/)")
    parser.add_argument("--data", default=None, help="folder holding mnist/ (default: numbann's)")
    parser.add_argument("--offline", action="store_true", help="do not try to download MNIST")
    parser.add_argument("--quick", action="store_true", help="less data and fewer epochs (for CI)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    name, shape, layers, X_train, X_test, y_train, y_test = data(args.data, args.quick, not args.offline)
    net = nb.Sequential(shape, layers, seed=args.seed, dtype="float32")
    print(net.summary())
    epochs = (2 if args.quick else 5) if name == "MNIST" else (8 if args.quick else 20)
    started = time.perf_counter()
    history = net.fit(X_train, y_train, loss="ce", optimizer=nb.Adam(lr=2e-3), epochs=epochs,
                      batch_size=64, validation_data=(X_test, y_test), seed=args.seed,
                      verbose=0)
    seconds = time.perf_counter() - started
    accuracy = net.score(X_test, y_test)
    print(f"{name}: {epochs} epochs of {len(X_train)} images in {seconds:.1f} s "
          f"({epochs * len(X_train) / seconds:,.0f} samples/s, the first epoch includes compiling "
          "unless the kernels are cached)")
    print(f"test accuracy = {accuracy:.4f}")

    filters = net.W[1]                                     # (C_out, 1, k, k)
    fig = plt.figure(figsize=(11, 4.2))
    grid = fig.add_gridspec(2, len(filters) + 4)
    curve = fig.add_subplot(grid[:, len(filters):])
    curve.plot(history.loss, label="train loss")
    curve.plot(history.val_loss, label="test loss")
    curve.plot(history.val_metric, label="test accuracy")
    curve.set(xlabel="epoch", title=f"{name}: test accuracy {accuracy:.3f}")
    curve.legend()
    limit = np.abs(filters).max()
    for o, kernel in enumerate(filters):
        ax = fig.add_subplot(grid[0, o])
        ax.imshow(kernel[0], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set(xticks=[], yticks=[], title=f"filter {o}")
        ax = fig.add_subplot(grid[1, o])
        ax.imshow(net.backprop(X_test[:1], y_test[:1], "ce").a[1][0, o], cmap="gray")
        ax.set(xticks=[], yticks=[], xlabel=f"a[1] ch {o}")
    k = filters.shape[-1]
    fig.suptitle(f"layer 1: the learned {k}x{k} filters (red +, blue -) and their feature maps "
                 "for one test image")
    fig.tight_layout()
    path = os.path.join(args.out, "cnn_mnist.png")
    fig.savefig(path, dpi=100)
    print(f"[figure] {os.path.abspath(path)}")
    return accuracy


if __name__ == "__main__":
    main()
