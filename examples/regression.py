"""Single-output regression: fit a noisy 1-D curve with a small tanh MLP.

    python examples/regression.py [--out DIR] [--quick]

Mean squared error, Adam, a validation split to watch for overfitting.
Prints the test R^2 and saves the fitted curve and the loss curves.
"""
import argparse
import os
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import numbann as nb
from numbann.data import make_regression, train_test_split


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("out", "examples"),
                        help="folder for the figure (default out/examples/)")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for CI)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    # a sine wave plus a parabola, with noise, on [-1, 1]
    X, Y = make_regression(n=400, n_features=1, noise=0.1, seed=args.seed)
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.25, seed=args.seed)
    X_train, X_val, Y_train, Y_val = train_test_split(X_train, Y_train, test_size=0.2,
                                                      seed=args.seed)

    net = nb.MLP([1, 32, 32, 1], hidden="tanh", output="identity", seed=args.seed)
    epochs = 100 if args.quick else 300
    started = time.perf_counter()
    history = net.fit(X_train, Y_train, loss="mse", optimizer=nb.optim.Adam(lr=0.01),
                      epochs=epochs, batch_size=32, validation_data=(X_val, Y_val),
                      seed=args.seed, verbose=0)
    seconds = time.perf_counter() - started

    r2 = net.score(X_test, Y_test)                 # R^2 for a regression head
    mse = net.evaluate(X_test, Y_test, "mse")
    print(f"{net!r}, {epochs} epochs in {seconds:.2f} s")
    print(f"final train loss = {history.loss[-1]:.5f}, val loss = {history.val_loss[-1]:.5f}")
    print(f"test MSE = {mse:.5f}")
    print(f"test R^2 = {r2:.4f}")

    grid = np.linspace(-1, 1, 200).reshape(-1, 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.scatter(X_train[:, 0], Y_train[:, 0], s=8, alpha=0.5, label="train")
    left.scatter(X_test[:, 0], Y_test[:, 0], s=8, alpha=0.7, label="test")
    left.plot(grid[:, 0], net.predict(grid)[:, 0], "k", lw=2, label="network")
    left.set(xlabel="x", ylabel="y", title=f"fit (test R$^2$ = {r2:.3f})")
    left.legend()
    right.semilogy(history.loss, label="train")
    right.semilogy(history.val_loss, label="validation")
    right.set(xlabel="epoch", ylabel="MSE", title="loss")
    right.legend()
    fig.tight_layout()
    path = os.path.join(args.out, "regression.png")
    fig.savefig(path, dpi=100)
    print(f"[figure] {os.path.abspath(path)}")
    return r2


if __name__ == "__main__":
    main()
