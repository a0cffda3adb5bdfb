"""The new process of tests/test_persistence.py: resume checkpoints and train on.

``python tests/persistence_child.py jobs.json``: each job names a checkpoint,
an .npz of the data (X, Y and optionally Xv, Yv), the epochs to train
(null: the epochs the checkpointed fit had left) and an .npz to write the
result to (theta, running, optimizer state, t, and the whole history).
"""
import json
import sys

import numpy as np

import numbann as nb


def main(jobs_path):
    with open(jobs_path) as f:
        jobs = json.load(f)
    for job in jobs:
        with np.load(job["data"]) as d:
            data = {k: d[k] for k in d.files}
        run = nb.resume(job["checkpoint"])
        validation = (data["Xv"], data["Yv"]) if "Xv" in data else None
        history = run.fit(data["X"], data["Y"], epochs=job["epochs"], validation_data=validation)
        np.savez(job["out"], theta=run.net.theta, running=getattr(run.net, "running", []),
                 state=run.optimizer.state, t=run.optimizer.t,
                 **{f"history_{k}": np.array(v, dtype=np.float64)
                    for k, v in vars(history).items() if isinstance(v, list) and k != "time"})


if __name__ == "__main__":
    main(sys.argv[1])
