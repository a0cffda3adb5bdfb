"""What a trace knows about the network's layers, from the network or from
a trace's metadata alone (so a loaded trace can be replayed, explained and
plotted without the network).

Every layer ``l = 1..L`` has a kind (``Dense``, ``Conv2D``, ``MaxPool2D``,
``AvgPool2D``, ``BatchNorm``, ``Flatten``, ``RNN``, ``LayerNorm``,
``SelfAttention``, ``PositionalEncoding``), an activation, the shapes
of one sample going in and out (``(n,)``, ``(T, n)`` or ``(C, H, W)``), and the shapes of its
``W[l]`` and ``b[l]`` (``(0,)`` for a layer without parameters); conv and
pooling layers add their window (``kernel``), ``stride`` and the zero rows
above / columns on the left (``pad``; conv: ``padding``, ((above, below), (left,
right))), BatchNorm its ``eps``, RNN whether it outputs every step
(``all_steps``), SelfAttention ``d_k``, ``d_v`` and ``causal``,
PositionalEncoding ``learned``, Skip (the end of a residual block) the
``source`` layer whose a it adds. Layer l's W[l] then b[l] follow layer l-1's in theta, for
both network classes.
"""
import numpy as np

from ..kernels.norm import EPS

def _layer_spec(layer, in_shape, out_shape, W_shape, b_shape):
    spec = {"kind": layer.name, "activation": layer.activation.name,
            "alpha": float(layer.activation.alpha), "in": list(in_shape), "out": list(out_shape),
            "W": list(W_shape), "b": list(b_shape)}
    if spec["kind"] == "Conv2D":
        (ph, _), (pw, _) = layer.pads()
        spec.update(kernel=list(layer.kernel_size), stride=int(layer.stride), pad=[ph, pw],
                    padding=[list(p) for p in layer.pads()])
    elif spec["kind"] in ("MaxPool2D", "AvgPool2D"):
        spec.update(kernel=list(layer.size), stride=int(layer.stride), pad=[0, 0])
    elif spec["kind"] == "BatchNorm":
        spec["eps"] = EPS
    elif spec["kind"] == "RNN":
        spec["all_steps"] = bool(layer.return_sequences)
    elif spec["kind"] == "SelfAttention":
        spec.update(d_k=int(layer.d_k), d_v=int(layer.d_v), causal=bool(layer.causal))
    elif spec["kind"] == "PositionalEncoding":
        spec["learned"] = bool(layer.learned)
    elif spec["kind"] == "Skip":
        spec["source"] = int(layer.source)
    return spec


class Arch:
    """The layers of a traced network (see the module notes); ``l = 1..L``."""

    def __init__(self, specs, network="Network"):
        self.specs = [dict(s) for s in specs]
        self.network = network
        self.L = len(self.specs)

    @classmethod
    def from_net(cls, net):
        shapes = getattr(net, "shapes", None) or [(int(n),) for n in net.sizes]
        W, b = net.split(net.theta)
        return cls([_layer_spec(ly, shapes[l], shapes[l + 1], W[l].shape, b[l].shape)
                    for l, ly in enumerate(net.layers)], type(net).__name__)

    @classmethod
    def from_meta(cls, meta):
        if "arch" in meta:
            return cls(meta["arch"], meta.get("network", "Network"))
        sizes, acts, alphas = meta["sizes"], meta["activations"], meta["alphas"]
        return cls([{"kind": "Dense", "activation": a, "alpha": al, "in": [sizes[l]],
                     "out": [sizes[l + 1]], "W": [sizes[l + 1], sizes[l]], "b": [sizes[l + 1]]}
                    for l, (a, al) in enumerate(zip(acts, alphas))])

    # ------------------------------------------------------------ per layer

    def __getitem__(self, l):
        if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or not 1 <= l <= self.L:
            raise IndexError(f"layer {l!r}: layers are numbered 1..{self.L} as in the course")
        return self.specs[int(l) - 1]

    def kind(self, l):
        return self[l]["kind"]

    def shape(self, l):
        """One sample's shape out of layer l (l = 0: the input)."""
        return tuple(self.specs[0]["in"]) if l == 0 else tuple(self[l]["out"])

    def units(self, l):
        return int(np.prod(self.shape(l)))

    def image(self, l):
        return len(self.shape(l)) == 3

    def n_W(self, l):
        return int(np.prod(self[l]["W"]))

    def n_b(self, l):
        return int(np.prod(self[l]["b"]))

    def has_params(self, l):
        return self.n_W(l) + self.n_b(l) > 0

    @property
    def dense(self):
        """Every layer is Dense: the dense replay and explain apply."""
        return all(s["kind"] == "Dense" for s in self.specs)

    def layers_of(self, kind):
        return [l for l in range(1, self.L + 1) if self.kind(l) == kind]

    def with_params(self):
        return [l for l in range(1, self.L + 1) if self.has_params(l)]

    def describe(self, l):
        """``Conv2D 3x3, stride 1, padding (1, 1), relu``."""
        s = self[l]
        text = s["kind"]
        if s["kind"] == "Dense":
            text += f" {s['out'][0]} units"
        if s["kind"] == "RNN":
            text += (f" {s['b'][0]} units over {s['in'][0]} steps, "
                     f"{'every h_t' if s['all_steps'] else 'h_T'} out")
        if s["kind"] == "SelfAttention":
            text += (f" d_k = {s['d_k']}, d_v = {s['d_v']} over {s['in'][0]} steps"
                     + (", causal" if s["causal"] else ""))
        if s["kind"] == "Skip":
            text += f" (adds a[{s['source']}]: the end of a residual block)"
        if s["kind"] == "PositionalEncoding":
            text += " (learned)" if s["learned"] else " (sinusoidal)"
        if "kernel" in s:
            text += f" {s['kernel'][0]}x{s['kernel'][1]}, stride {s['stride']}"
            if s["kind"] == "Conv2D":
                (top, bottom), (left, right) = s.get("padding", [[s["pad"][0]] * 2,
                                                                 [s["pad"][1]] * 2])
                text += (f", padding ({top}, {left})" if (top, left) == (bottom, right) else
                         f", padding {top} above, {bottom} below, {left} left, {right} right")
        if s["activation"] != "identity" or s["kind"] in ("Dense", "Conv2D"):
            text += f", {s['activation']}"
        return text

    def split(self, flat):
        """(W-list, b-list): views of a theta-shaped vector, W[l] at index l - 1."""
        W, b, at = [], [], 0
        for l in range(1, self.L + 1):
            nw, nb = self.n_W(l), self.n_b(l)
            W.append(flat[at:at + nw].reshape(self[l]["W"]))
            b.append(flat[at + nw:at + nw + nb].reshape(self[l]["b"]))
            at += nw + nb
        return W, b

    def signature(self):
        return [(s["kind"], s["in"], s["out"], s["activation"]) for s in self.specs]

    def __repr__(self):
        return "Arch(" + ", ".join(self.describe(l) for l in range(1, self.L + 1)) + ")"
