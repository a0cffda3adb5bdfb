"""XOR: what a single perceptron cannot learn and one hidden layer can.

    python examples/xor.py [--out DIR] [--quick]

The four points of the XOR truth table are not linearly separable, so the
perceptron rule never converges on them; a 2-4-1 network (tanh hidden units,
sigmoid output, binary cross-entropy, plain SGD) learns them exactly.
Prints both results and saves their outputs over the plane (colour bars) with
the four points (legend).
"""
import argparse
import os
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import numbann as nb
from numbann.data import make_xor
from numbann.trace.style import CLASS_COLORS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("out", "examples"),
                        help="folder for the figure (default out/examples/)")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for CI)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    X, y = make_xor()                   # X (4, 2), y (4, 1) = x1 xor x2

    perceptron = nb.Perceptron(2, lr=1.0).fit(X, y[:, 0], epochs=100)
    print(f"perceptron: converged = {perceptron.converged}, mistakes in its last epoch = "
          f"{perceptron.mistakes[-1]}")
    print(f"perceptron accuracy = {np.mean(perceptron.predict(X) == y[:, 0]):.2f}")

    net = nb.MLP([2, 4, 1], hidden="tanh", output="sigmoid", seed=args.seed)
    epochs = 1000 if args.quick else 2000       # one full-batch step per epoch
    started = time.perf_counter()
    history = net.fit(X, y, loss="bce", optimizer=nb.optim.SGD(lr=0.5), epochs=epochs,
                      batch_size=4, seed=args.seed, verbose=0)
    seconds = time.perf_counter() - started
    print(f"{net!r}: {epochs} steps in {seconds:.3f} s, final loss {history.loss[-1]:.5f}")
    for (x1, x2), p in zip(X.astype(int).tolist(), net.predict_proba(X)[:, 0]):
        print(f"  x = ({x1}, {x2})  target {x1 ^ x2}  P(y = 1) = {p:.4f}")
    accuracy = net.score(X, y)
    print(f"network accuracy = {accuracy:.2f}")

    g0, g1 = np.meshgrid(np.linspace(-0.5, 1.5, 200), np.linspace(-0.5, 1.5, 200))
    grid = np.column_stack([g0.ravel(), g1.ravel()])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    perceptron_accuracy = np.mean(perceptron.predict(X) == y[:, 0])
    panels = [(perceptron.predict(grid),
               f"perceptron: no line separates XOR\n(accuracy {perceptron_accuracy:.0%})",
               "perceptron output (0 or 1)"),
              (net.predict_proba(grid)[:, 0],
               f"2-4-1 network{' separates XOR' if accuracy == 1 else ''}\n(accuracy {accuracy:.0%})",
               "network output P(y = 1)")]
    for ax, (values, title, meaning) in zip(axes, panels):
        shading = ax.contourf(g0, g1, values.reshape(g0.shape), levels=np.linspace(0, 1, 21),
                              cmap="RdBu_r", alpha=0.7)
        fig.colorbar(shading, ax=ax, label=meaning)
        for label, marker in ((0, "o"), (1, "^")):
            pts = X[y[:, 0] == label]
            ax.scatter(pts[:, 0], pts[:, 1], color=CLASS_COLORS[label], marker=marker, s=150,
                       edgecolor="k", label=f"target {label} (x1 xor x2 = {label})")
        ax.set(xlabel="input $x_1$", ylabel="input $x_2$", title=title, aspect="equal")
        ax.legend(loc="upper center", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    path = os.path.join(args.out, "xor.png")
    fig.savefig(path, dpi=100)
    print(f"[figure] {os.path.abspath(path)}")
    return accuracy


if __name__ == "__main__":
    main()
