"""Lesson 24: self-attention learning where to look.

Each sequence has T = 6 tokens (one-hot over 4 symbols, plus noise); its
class is the symbol of the FIRST token. The network reads only the last
step's output of a causal self-attention layer,
    A = softmax(Q K^T / sqrt(d_k)),   z = A V W_o^T,   output = z[T],
so it can answer only if row T of A puts its weight on step 1. A learned
positional encoding tells the steps apart. The lesson records the first and
the last training step and compares where step T attends, then explains one
attention weight's gradient as a sum over samples and time steps.
"""
import numpy as np

import numbann as nb
from numbann.trace import Recorder, plots
from numbann.trace.style import label, legend, palette

from _lesson import Lesson, check

L = Lesson("24_attention", "Lesson 24: attention learns where to look")
T, V = 6, 4
rng = np.random.default_rng(24)


def sequences(n):
    tokens = rng.integers(0, V, size=(n, T))
    X = np.eye(V)[tokens] + rng.normal(0, 0.1, size=(n, T, V))
    return X, tokens[:, 0]


X, y = sequences(600)
X_test, y_test = sequences(300)
net = nb.Sequential((T, V), [nb.PositionalEncoding(learned=True),
                             nb.SelfAttention(4, causal=True), nb.LastStep(),
                             nb.Dense(V, "softmax")], seed=2)
epochs = 40 if L.quick else 80
steps_per_epoch = -(-len(X) // 50)
last = epochs * steps_per_epoch - 1
rec = Recorder(steps=[0, last], keep="all")
history = net.fit(X, y, loss="ce", optimizer=nb.Adam(lr=0.02), epochs=epochs, batch_size=50,
                  seed=0, trace=rec, verbose=0)
tr = rec.trace
accuracy = net.score(X_test, y_test)
L.value("test accuracy (%)", 100 * accuracy)
L.value("chance (%)", 100 / V)
check(accuracy > 0.9, "the network did not learn to read the first token")

np.savez(L.path("steps.npz"), **{f"{key}_{s}": value for s in (0, last) for key, value in (
    ("x", tr[s].x), ("table", tr[s].b_before[1]), ("W", tr[s].W_before[2]))})
L.section("Where the last step looks: row T of A, the mean over the batch")
before, after = tr[0].attention[2][:, -1].mean(axis=0), tr[last].attention[2][:, -1].mean(axis=0)
for t in range(T):
    L.value(f"A[T, {t + 1}] at the first step", before[t])
for t in range(T):
    L.value(f"A[T, {t + 1}] at the last step", after[t])
check(after[0] > 0.5 and after[0] > before[0] and np.argmax(after) == 0,
      "attention did not move to step 1")
L.say(f"Step T's attention on step 1 rose from {before[0]:.4g} (about 1/T = {1 / T:.4g} at "
      f"the start) to {after[0]:.4g}: the largest weight of its row, as the task needs.")

L.section("One attention weight's gradient, at the first step")
ex = tr.explain(0, "W", 2, 0, 0)
L.say(ex)
check(ex.ok, "the sum over samples and steps does not give the recorded gradient")

colors = palette(["first step", "last step"])
fig, ax = plots.figure(6.0, 3.6)
width = 0.38
ax.bar(np.arange(1, T + 1) - width / 2, before, width, color=colors["first step"],
       label=f"step 0 of training")
ax.bar(np.arange(1, T + 1) + width / 2, after, width, color=colors["last step"],
       label=f"step {last} of training")
ax.set_xticks(np.arange(1, T + 1))
label(ax, "step u attended to", "A[T, u] (mean over the batch)",
      f"Step T's attention moves to step 1: {before[0]:.2f} -> {after[0]:.2f}")
legend(ax)
L.figure(fig, "attention_row.png")
L.figure(plots.attention_map(tr, 2, sample=0, step=last,
                             title=f"A of one sequence after training (row T: {after[0]:.2f} "
                                   f"on step 1 on average)"), "attention_map.png")
L.done()
