"""A recurrent network that must remember: the class of a sequence is the
sign of its first value, and every later step is noise.

    python examples/sequence_classification.py [--out DIR] [--quick]

An Elman RNN (numbann.RNN, tanh, h_0 = 0) reads T steps and a softmax layer
reads its last state h_T, so the first value must travel through T - 1
recurrent updates. Prints the test accuracy, records one training step,
replays how dJ/dz_t shrinks from t = T back to t = 1 (backpropagation
through time), explains one recurrent weight's gradient as a sum over time
steps, and saves the loss and ||delta_t|| against t.
"""
import argparse
import os

import numpy as np

import numbann as nb
from numbann.trace import Recorder, plots


def first_sign_task(n, T, rng, noise=0.5):
    """X (n, T, 1): x_1 = +-1, later steps N(0, noise^2); y = 1 if x_1 > 0."""
    X = rng.normal(0.0, noise, size=(n, T, 1))
    y = rng.integers(0, 2, n)
    X[:, 0, 0] = 2.0 * y - 1.0
    return X, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("out", "examples"),
                        help="folder for the figure (default out/examples/)")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for CI)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    T = 8
    X, y = first_sign_task(600, T, rng)
    X_test, y_test = first_sign_task(400, T, rng)

    net = nb.Sequential((T, 1), [nb.RNN(8), nb.Dense(2, "softmax")], seed=args.seed)
    print(net.summary())
    epochs = 15 if args.quick else 40
    rec = Recorder(steps=[0])                       # the first step: every number kept
    history = net.fit(X, y, loss="ce", optimizer=nb.Adam(lr=0.01), epochs=epochs,
                      batch_size=32, seed=args.seed, trace=rec, verbose=0)
    accuracy = net.score(X_test, y_test)
    print(f"test accuracy = {accuracy:.4f}")

    tr = rec.trace
    norms = np.linalg.norm(tr[0].delta_steps[1], axis=2).mean(axis=0)
    print("mean ||delta_t|| at the first step, t = 1..T: "
          + ", ".join(f"{v:.3g}" for v in norms))
    print(f"delta ratio ||delta_1|| / ||delta_T|| = {norms[0] / norms[-1]:.4g}")
    print(tr.explain(0, "W", 1, 0, 1 + 0))            # W_h[0, 0]: column n + 0 of [W_x | W_h]

    fig, (left, right) = plots.figure(10.0, 3.8, ncols=2)
    left.semilogy(np.arange(1, epochs + 1), history.loss, "o-", ms=3)
    left.set_xlabel("epoch")
    left.set_ylabel("training loss J (cross-entropy, log scale)")
    left.set_title(f"Loss; test accuracy {accuracy:.1%}", fontsize=10)
    right.semilogy(np.arange(1, T + 1), norms, "o-", color="#d62728")
    right.set_xlabel("time step t")
    right.set_ylabel("mean ||delta_t|| (log scale)")
    shrinks = bool(np.all(np.diff(norms) > 0))
    right.set_title(f"dJ/dz_t at the first step: ||delta_1|| = {norms[0] / norms[-1]:.3g} "
                    f"||delta_T||" + ("\nshrinking at every step back in time" if shrinks else ""),
                    fontsize=10)
    print(f"[figure] {plots.save(fig, os.path.join(args.out, 'sequence_classification.png'))}")


if __name__ == "__main__":
    main()
