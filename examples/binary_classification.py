"""Binary classification: the two moons, a sigmoid output and binary cross-entropy.

    python examples/binary_classification.py [--out DIR] [--quick]

predict_proba gives P(y = 1 | x), predict thresholds it at 0.5, score is the
accuracy. Prints the test accuracy and saves the decision boundary.
"""
import argparse
import os
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import numbann as nb
from numbann.data import make_moons, train_test_split


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("out", "examples"),
                        help="folder for the figure (default out/examples/)")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for CI)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    X, y = make_moons(n=500, noise=0.2, seed=args.seed)          # y: (500, 1) in {0, 1}
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, seed=args.seed)

    net = nb.MLP([2, 16, 16, 1], hidden="tanh", output="sigmoid", seed=args.seed)
    epochs = 50 if args.quick else 200
    started = time.perf_counter()
    history = net.fit(X_train, y_train, loss="bce", optimizer=nb.optim.Adam(lr=0.01),
                      epochs=epochs, batch_size=32, validation_data=(X_test, y_test),
                      seed=args.seed, verbose=0)
    seconds = time.perf_counter() - started

    accuracy = net.score(X_test, y_test)
    print(f"{net!r}, {epochs} epochs in {seconds:.2f} s")
    print(f"final train loss = {history.loss[-1]:.4f}, test loss = {history.val_loss[-1]:.4f}")
    print(f"train accuracy = {net.score(X_train, y_train):.4f}")
    print(f"test accuracy = {accuracy:.4f}")

    # the decision boundary: P(y = 1 | x) on a grid, and its 0.5 contour
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300))
    proba = net.predict_proba(np.column_stack([g0.ravel(), g1.ravel()]))[:, 0].reshape(g0.shape)
    fig, ax = plt.subplots(figsize=(6, 5))
    filled = ax.contourf(g0, g1, proba, levels=20, cmap="RdBu_r", alpha=0.6, vmin=0, vmax=1)
    ax.contour(g0, g1, proba, levels=[0.5], colors="k", linewidths=2)
    for label, marker in ((0, "o"), (1, "s")):
        rows = y_test[:, 0] == label
        ax.scatter(X_test[rows, 0], X_test[rows, 1], marker=marker, s=18, edgecolor="k",
                   c="tab:blue" if label == 0 else "tab:red", label=f"test, class {label}")
    fig.colorbar(filled, ax=ax, label="P(y = 1 | x)")
    ax.set(xlabel="$x_1$", ylabel="$x_2$",
           title=f"two moons: decision boundary (test accuracy {accuracy:.3f})")
    ax.legend(loc="lower left")
    fig.tight_layout()
    path = os.path.join(args.out, "binary_classification.png")
    fig.savefig(path, dpi=100)
    print(f"[figure] {os.path.abspath(path)}")
    return accuracy


if __name__ == "__main__":
    main()
