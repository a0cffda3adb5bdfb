"""The "learner script": what a newcomer writes to train XOR.  Timed from outside
by run.py (interpreter start, imports, compilation, training, exit).

    python benchmarks/learner.py numbann|torch [steps]
"""
import sys

import numpy as np

lib = sys.argv[1]
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
Y = np.array([[0], [1], [1], [0]], np.float32)

if lib == "numbann":
    import numbann

    net = numbann.MLP([2, 8, 1], hidden="tanh", output="sigmoid", dtype="float32")
    SGD = getattr(numbann, "SGD", None) or numbann.optim.SGD
    net.fit(X, Y, loss="bce", optimizer=SGD(lr=0.5), epochs=steps, batch_size=4,
            shuffle=False, verbose=0)
    p = net.predict(X) if hasattr(net, "predict") else []
else:
    import torch
    from torch import nn

    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1), nn.Sigmoid())
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss_fn = nn.BCELoss()
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(Xt), Yt)
        loss.backward()
        opt.step()
    with torch.no_grad():
        p = model(Xt).numpy()

print("predictions", np.round(np.asarray(p).ravel(), 3).tolist())
