"""Training throughput on one NVIDIA GPU: numbann ``device="cuda"`` against PyTorch.

    python benchmarks/cuda_bench.py            # the four workloads below

MNIST-shaped synthetic data (784 inputs, 10 classes, float32), softmax +
cross-entropy, ReLU hidden layers, Adam (lr 1e-3), for 784-128-10 and
784-1024-1024-10 at batch 128 and 512. Each contender first trains one
untimed epoch (numbann compiles its kernels there: that time is reported as
"first epoch"), then ``--epochs`` timed epochs; samples/s = samples trained /
seconds, the GPU synchronized at both ends. The data set lives on the GPU for
both; numbann's timed epochs are one ``fit`` call, which includes its input
checks and its one upload of the data set. PyTorch runs when it is importable
with CUDA. Prints a markdown table, with each contender's share of the GPU's
FP32 CUDA-core peak: a training step does 6 n_in n_out flops per sample and
dense layer (forward, delta and dW products, multiply and add counted
separately), and the peak is SMs x FP32 cores per SM x 2 x clock.

``--smoke`` runs a tiny workload only, to check the script itself (it also
runs under NUMBA_ENABLE_CUDASIM=1, where the timings mean nothing).
"""
import argparse
import time

import numpy as np

N_SAMPLES = 60_000
WORKLOADS = [((784, 128, 10), 128), ((784, 128, 10), 512),
             ((784, 1024, 1024, 10), 128), ((784, 1024, 1024, 10), 512)]
SMOKE = [((20, 8, 10), 16)]
LR = 1e-3


def synthetic_mnist(n, n_in, n_out, seed=0):
    """Inputs in [0, 1) and labels from a random linear teacher (learnable)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_in), dtype=np.float32)
    teacher = rng.normal(size=(n_in, n_out)).astype(np.float32)
    return X, (X @ teacher).argmax(axis=1)


def time_numbann(sizes, batch, X, labels, epochs):
    """(seconds of the first epoch, samples/s over the timed epochs)."""
    from numba import cuda

    from numbann import MLP, optim
    net = MLP(list(sizes), hidden="relu", output="softmax", dtype="float32", seed=0)
    opt = optim.Adam(lr=LR)

    def train(n_epochs):
        cuda.synchronize()
        started = time.perf_counter()
        net.fit(X, labels, loss="ce", optimizer=opt, epochs=n_epochs, batch_size=batch,
                seed=0, verbose=0, device="cuda")
        cuda.synchronize()
        return time.perf_counter() - started

    first = train(1)
    return first, len(X) * epochs / train(epochs)


def time_torch(sizes, batch, X, labels, epochs):
    """(seconds of the first epoch, samples/s), or None without PyTorch on CUDA."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    gpu = torch.device("cuda")
    layers = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-2], sizes[-1])).to(gpu)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_gpu = torch.from_numpy(X).to(gpu)
    y_gpu = torch.from_numpy(labels).to(gpu)
    generator = torch.Generator(device=gpu).manual_seed(0)

    def train(n_epochs):
        torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(n_epochs):
            order = torch.randperm(len(X_gpu), device=gpu, generator=generator)
            for start in range(0, len(X_gpu), batch):
                rows = order[start:start + batch]
                opt.zero_grad(set_to_none=True)
                loss_fn(model(X_gpu[rows]), y_gpu[rows]).backward()
                opt.step()
        torch.cuda.synchronize()
        return time.perf_counter() - started

    first = train(1)
    return first, len(X) * epochs / train(epochs)


FP32_CORES_PER_SM = {(6, 0): 64, (6, 1): 128, (7, 0): 64, (7, 5): 64, (8, 0): 64,
                     (8, 6): 128, (8, 7): 128, (8, 9): 128, (9, 0): 128}


def flops_per_sample(sizes):
    """Flops of one training sample's three products through the dense layers."""
    return 6 * sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def fp32_peak():
    """The GPU's FP32 CUDA-core peak in flop/s (None when unknown: simulator or
    an architecture missing from FP32_CORES_PER_SM)."""
    from numba import config, cuda
    if config.ENABLE_CUDASIM:
        return None
    device = cuda.get_current_device()
    cores = FP32_CORES_PER_SM.get(tuple(device.compute_capability))
    if cores is None:
        return None
    return device.MULTIPROCESSOR_COUNT * cores * 2 * device.CLOCK_RATE * 1e3


def peak_share(rate, sizes, peak):
    return "n/a" if peak is None else f"{100 * rate * flops_per_sample(sizes) / peak:.1f}%"


def gpu_name():
    from numba import cuda
    name = getattr(cuda.current_context().device, "name", "numba's CUDA simulator")
    return name.decode() if isinstance(name, bytes) else name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (default 3)")
    parser.add_argument("--smoke", action="store_true", help="a tiny workload, to test the script")
    args = parser.parse_args()

    from numbann import device
    from numbann.kernels import cuda_gemm
    device.check_device("cuda")
    workloads, n = (SMOKE, 64) if args.smoke else (WORKLOADS, N_SAMPLES)
    peak = fp32_peak()
    peak_text = "unknown" if peak is None else f"{peak / 1e12:.1f} TFLOP/s"
    print(f"{gpu_name()} (FP32 peak {peak_text}); {n} samples, float32, Adam, "
          f"{args.epochs} timed epochs, numbann products {cuda_gemm.MAIN}\n")
    print("| network | batch | numbann samples/s | numbann first epoch (s) | numbann % peak "
          "| PyTorch samples/s | PyTorch first epoch (s) | PyTorch % peak | numbann / PyTorch |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sizes, batch in workloads:
        X, labels = synthetic_mnist(n, sizes[0], sizes[-1])
        nb_first, nb_rate = time_numbann(sizes, batch, X, labels, args.epochs)
        torch_result = time_torch(sizes, batch, X, labels, args.epochs)
        if torch_result is None:
            torch_cells = "n/a | n/a | n/a | n/a"
        else:
            t_first, t_rate = torch_result
            torch_cells = (f"{t_rate:,.0f} | {t_first:.2f} | {peak_share(t_rate, sizes, peak)} "
                           f"| {nb_rate / t_rate:.2f}")
        arch = "-".join(map(str, sizes))
        print(f"| {arch} | {batch} | {nb_rate:,.0f} | {nb_first:.2f} "
              f"| {peak_share(nb_rate, sizes, peak)} | {torch_cells} |", flush=True)


if __name__ == "__main__":
    main()
