"""Multi-output regression: one network predicts three targets from two inputs.

    python examples/multi_output_regression.py [--out DIR] [--quick]

The output layer has one identity unit per target; MSE averages over all of
them. Inputs and targets are standardized with the training set's
statistics. Prints R^2 overall and per output, and plots predicted against
true values for each output.
"""
import argparse
import os
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

import numbann as nb
from numbann.data import make_regression, standardize, train_test_split


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("out", "examples"),
                        help="folder for the figure (default out/examples/)")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for CI)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    n_outputs = 3
    X, Y = make_regression(n=1000, n_features=2, n_outputs=n_outputs, noise=0.05,
                           seed=args.seed)
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.25, seed=args.seed)
    X_train, X_test = standardize(X_train, X_test)
    mean, std = Y_train.mean(axis=0), Y_train.std(axis=0)
    Y_train_s, Y_test_s = (Y_train - mean) / std, (Y_test - mean) / std

    net = nb.MLP([2, 64, 64, n_outputs], hidden="tanh", output="identity", seed=args.seed)
    epochs = 60 if args.quick else 200
    started = time.perf_counter()
    history = net.fit(X_train, Y_train_s, loss="mse", optimizer=nb.optim.Adam(lr=3e-3),
                      epochs=epochs, batch_size=32, seed=args.seed,
                      schedule=nb.schedules.CosineAnnealing(T_max=epochs), verbose=0)
    seconds = time.perf_counter() - started

    pred = net.predict(X_test) * std + mean            # back to the targets' units
    per_output = 1 - ((Y_test - pred) ** 2).sum(0) / ((Y_test - Y_test.mean(0)) ** 2).sum(0)
    print(f"{net!r}, {epochs} epochs in {seconds:.2f} s, final train loss "
          f"{history.loss[-1]:.5f}")
    for k, r2 in enumerate(per_output):
        print(f"test R^2 output {k} = {r2:.4f}")
    print(f"test R^2 = {net.score(X_test, Y_test_s):.4f}")

    fig, axes = plt.subplots(1, n_outputs, figsize=(4 * n_outputs, 4))
    for k, ax in enumerate(axes):
        ax.scatter(Y_test[:, k], pred[:, k], s=6, alpha=0.6)
        lo, hi = Y_test[:, k].min(), Y_test[:, k].max()
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set(xlabel="true", ylabel="predicted", title=f"output {k}: R$^2$ = {per_output[k]:.3f}")
    fig.tight_layout()
    path = os.path.join(args.out, "multi_output_regression.png")
    fig.savefig(path, dpi=100)
    print(f"[figure] {os.path.abspath(path)}")
    return per_output


if __name__ == "__main__":
    main()
