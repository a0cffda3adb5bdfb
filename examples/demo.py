"""numbann's demo: train a digit classifier fast, then look inside one step.

    python examples/demo.py [--out out/demo] [--epochs 30] [--quick]

Trains a 64-128-10 MLP (ReLU, softmax, Adam) on the 8x8 handwritten digits
shipped with numbann and prints accuracy and speed (the kernels are compiled
by a short warm-up fit first, so the speed is training only). Then it records
a trace of one training step of the trained network on 8 test images and
prints numbann's explanation of one weight's gradient (``Trace.explain``: the
chain-rule product per image, checked against the recorded gradient), and a
finite-difference check. The figure and a page to step through that recorded
step in a browser (demo.html) go to --out.
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
from numbann.trace import record_step, view  # noqa: E402


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

    options = dict(loss="ce", batch_size=32, seed=0, verbose=1)
    # compile the kernels on a copy (cached on disk after the first run), so that
    # the timing below measures training only
    started = time.perf_counter()
    net.copy().fit(X_train[:64], y_train[:64], optimizer=nb.optim.Adam(lr=2e-3), epochs=1,
                   validation_data=(X_test[:32], y_test[:32]), **dict(options, verbose=0))
    print(f"warm-up fit on 64 images (compiling or loading the kernels): "
          f"{time.perf_counter() - started:.2f} s")

    started = time.perf_counter()
    history = net.fit(X_train, y_train, optimizer=nb.optim.Adam(lr=2e-3), epochs=args.epochs,
                      validation_data=(X_test, y_test), **options)
    seconds = time.perf_counter() - started
    samples = args.epochs * len(X_train)
    print(f"trained {args.epochs} epochs in {seconds:.2f} s: {samples / seconds:,.0f} samples/s")
    print(f"test accuracy = {net.score(X_test, y_test):.4f}")
    print(f"final train loss = {history.loss[-1]:.4f}")

    # one training step of the trained network on 8 test images, every number recorded
    X_step, y_step = X_test[:8], y_test[:8]
    trace = record_step(net, X_step, y_step, "ce")
    step = trace[0]
    j, k = int(y_step[0]), int(np.argmax(step.a[1][0]))   # image 0's class, its most active unit
    print(f"\none step on {len(X_step)} test images: J = {step.loss:.6f}; the gradient of the "
          f"weight from hidden unit {k} to output {j} (class of image 0), explained:")
    explanation = trace.explain(0, "W", 2, j, k)
    print(explanation)
    report = nb.gradcheck(net, X_step, y_step, "ce")
    print(f"gradcheck max relative error = {report.max_error:.1e} (finite differences vs backprop)")

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(14, 4))
    epochs = np.arange(1, len(history.loss) + 1)
    left.plot(epochs, history.loss, "o-", ms=3, label="training loss")
    left.plot(epochs, history.val_loss, "s-", ms=3, label="test loss")
    left.set(xlabel="epoch", ylabel="cross-entropy J (log scale)", yscale="log",
             title=f"Loss: {history.loss[0]:.4g} -> {history.loss[-1]:.4g} (training)")
    left.legend()
    middle.plot(epochs, 100 * np.asarray(history.val_metric), "o-", ms=3, color="tab:green")
    middle.set(xlabel="epoch", ylabel="test accuracy (%)",
               title=f"Test accuracy: {100 * net.score(X_test, y_test):.4g}% at the end")
    terms = step.delta[2][:, j] * step.a[1][:, k]    # one chain-rule term per image
    right.bar(np.arange(len(terms)), terms, color="tab:purple", label="term of image r")
    right.axhline(step.dW[2][j, k], color="k", ls="--",
                  label=f"their sum = recorded dW[2][{j},{k}] = {step.dW[2][j, k]:.4g}")
    right.set(xlabel="image r of the recorded step", ylabel=f"delta[2]_r{j} * a[1]_r{k}",
              title=f"dJ/dW[2][{j},{k}]: one term per image")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "demo.png", dpi=100)
    print(f"\nfigure: {out / 'demo.png'}")
    if not explanation.ok:
        raise SystemExit("explain's sum differs from the recorded gradient")
    # the recorded step as a page to step through in a browser
    page = view(trace, out / "demo.html", title="numbann demo: one step of the digit classifier")
    print(f"page: {page} (open it in a browser)")


if __name__ == "__main__":
    main()
