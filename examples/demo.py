"""numbann's demo: train a digit classifier fast, then look inside one step.

    python examples/demo.py [--out out/demo] [--epochs 30] [--quick]

Trains a 64-128-10 MLP (ReLU, softmax, Adam) on the 8x8 handwritten digits
shipped with numbann, prints accuracy and speed, then replays one training
step of the trained network: the loss, the gradient of one weight as a
chain-rule product, and a finite-difference check. Figures go to --out.
"""
import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import numbann as nb  # noqa: E402
from numbann.data import load_digits, train_test_split  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/demo", help="folder for the figures")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="3 epochs, for a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.epochs = 3
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0, stratify=True)
    net = nb.MLP([64, 128, 10], hidden="relu", output="softmax", seed=0, dtype="float32")
    print(f"{net}\n{net.summary()}\n")

    started = time.perf_counter()
    history = net.fit(X_train, y_train, loss="ce", optimizer=nb.optim.Adam(lr=2e-3),
                      epochs=args.epochs, batch_size=32, seed=0,
                      validation_data=(X_test, y_test))
    seconds = time.perf_counter() - started
    samples = args.epochs * len(X_train)
    print(f"trained {args.epochs} epochs in {seconds:.2f} s (first call includes compiling, "
          f"cached on disk afterwards): {samples / seconds:,.0f} samples/s")
    print(f"test accuracy = {net.score(X_test, y_test):.4f}")
    print(f"final train loss = {history.loss[-1]:.4f}")

    # one step, every number: the gradient of one output weight as a chain-rule product
    x, label = X_test[:1], y_test[:1]
    step = net.backprop(x, label, "ce")
    j, k = int(label[0]), int(np.argmax(step.a[1][0]))
    a_out, a_hidden = step.a[2][0, j], step.a[1][0, k]
    print(f"\none sample (label {label[0]}): J = {step.loss:.6f}")
    print(f"dJ/dW[2]_{j},{k} = delta[2]_{j} * a[1]_{k} = ({a_out:.6f} - 1) * {a_hidden:.6f} "
          f"= {(a_out - 1) * a_hidden:.6f}; backprop says {step.dW[2][j, k]:.6f}")
    report = nb.gradcheck(net, x, label, "ce")
    print(f"gradcheck max relative error = {report.max_error:.1e} (finite differences vs backprop)")

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(history.loss, label="train loss")
    left.plot(history.val_loss, label="test loss")
    left.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="Learning curves")
    left.legend()
    right.plot(history.val_metric, color="tab:green")
    right.set(xlabel="epoch", ylabel="accuracy", title="Test accuracy")
    fig.tight_layout()
    fig.savefig(out / "demo.png", dpi=100)
    print(f"\nfigure: {out / 'demo.png'}")


if __name__ == "__main__":
    main()
