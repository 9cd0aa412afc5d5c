"""The running network's gradient at every layer: by hand and by autograd.

Chapter 1's 20-layer MLP (the one training_symptoms.py trains, with the same
initial weights, here in float64) gets one backward pass. The recursion
delta^(l) = sigma'(z^(l)) * (W^(l+1)^T delta^(l+1)), written by hand, agrees
with torch.autograd to float64 rounding. With sigmoid and PyTorch's default
init, ||delta^(l)|| falls geometrically from the output to the input; ReLU with
the same init still vanishes; ReLU with He init stays level; 1.5 x He's std
makes it grow.

Run: python snippets/01-why-gradients-vanish-or-explode/backward_recursion.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

NETWORKS = {  # activation, and init as a multiple of He's std
    "sigmoid, default init": ("sigmoid", "pytorch default"),
    "ReLU, default init": ("relu", "pytorch default"),
    "ReLU, He init": ("relu", 1.0),
    "ReLU, 1.5 x He std": ("relu", 1.5),
}
SLOPES = {  # sigma'(z)
    "sigmoid": lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z)),
    "relu": lambda z: (z > 0).double(),
}


def make_task(g, n=512, dim=16):
    """As in training_symptoms.py: a random two-layer teacher's labels."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1) @ w2 > 0).long()
    return x, y


def make_mlp(activation, init, g, depth=20, width=64, dim=16):
    """As in training_symptoms.py: depth hidden layers and a readout."""
    sizes = [dim] + [width] * depth + [2]
    layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    for layer in layers:
        if init == "pytorch default":  # as nn.Linear.reset_parameters
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=g)
            bound = 1 / math.sqrt(layer.in_features)
            nn.init.uniform_(layer.bias, -bound, bound, generator=g)
        else:  # init is a multiple of He's std sqrt(2 / fan_in)
            std = init * math.sqrt(2 / layer.in_features)
            nn.init.normal_(layer.weight, 0.0, std, generator=g)
            nn.init.zeros_(layer.bias)
    act = {"relu": nn.ReLU(), "sigmoid": nn.Sigmoid()}[activation]
    blocks = [m for layer in layers[:-1] for m in (layer, act)]
    return nn.Sequential(*blocks, layers[-1])


def forward(model, x):
    """Keep W^(l), z^(l) and a^(l) (a^(0) = x) for the backward pass."""
    weights, zs, acts = [], [], [x]
    for m in model:
        if isinstance(m, nn.Linear):
            weights.append(m.weight)
            zs.append(m(acts[-1]))
            zs[-1].retain_grad()  # so that autograd keeps dL/dz^(l) too
        else:
            acts.append(m(zs[-1]))
    return weights, zs, acts


# --8<-- [start:core]
def backward_by_hand(weights, zs, acts, y, slope):
    """One row per input; the loss is the mean cross-entropy."""
    probs = torch.softmax(zs[-1], dim=1)
    delta = (probs - nn.functional.one_hot(y, 2)) / len(y)  # at the readout
    deltas = [delta]
    for l in range(len(weights) - 2, -1, -1):  # from the top down
        # delta^(l) = sigma'(z^(l)) * (W^(l+1)^T delta^(l+1)), row by row
        delta = slope(zs[l]) * (delta @ weights[l + 1])
        deltas.insert(0, delta)
    # dL/dW^(l) = delta^(l) a^(l-1)^T, summed over the inputs
    grads = [d.T @ a for d, a in zip(deltas, acts)]
    return deltas, grads


# --8<-- [end:core]


def measure(activation, init, seed=0):
    g = torch.Generator().manual_seed(seed)  # the same draws as in training
    x, y = make_task(g)
    model = make_mlp(activation, init, g).double()
    weights, zs, acts = forward(model, x.double())
    with torch.no_grad():
        deltas, grads = backward_by_hand(
            weights, zs, acts, y, SLOPES[activation]
        )
    nn.functional.cross_entropy(zs[-1], y).backward()
    error = max(  # relative to the size of each layer's gradient
        ((h - w.grad).norm() / w.grad.norm()).item()
        for h, w in zip(grads, weights)
    )
    hidden = slice(0, len(zs) - 1)  # layers 1..L; the readout is left out
    return {
        "delta_by_hand": [d.norm().item() for d in deltas[hidden]],
        "delta_by_autograd": [z.grad.norm().item() for z in zs[hidden]],
        "max_relative_difference": error,
    }


def compare():
    results = {name: measure(*args) for name, args in NETWORKS.items()}
    for r in results.values():
        r["ratio"] = r["delta_by_hand"][0] / r["delta_by_hand"][-1]
    return results


def plot(results):
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    for (name, r), marker in zip(results.items(), "osD^"):
        layers = range(1, len(r["delta_by_hand"]) + 1)
        (line,) = ax.plot(layers, r["delta_by_autograd"], "-", linewidth=1)
        ax.plot(
            layers,
            r["delta_by_hand"],
            marker,
            color=line.get_color(),
            markersize=4,
            label=name.replace(" init", "").replace(" x He std", " He"),
        )
    ax.set_yscale("log")
    ax.set_xticks([1, 5, 10, 15, 20])
    ax.set_xlabel("layer l (1 = next to the input)")
    ax.set_ylabel(r"$\|\delta^{(l)}\|$")
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.45, -0.25), ncol=2, frameon=False
    )
    ax.grid(True, alpha=0.3)
    return fig


def main(out_dir: Path) -> dict:
    results = compare()
    for name, r in results.items():
        print(
            f"{name:22s} ||delta^(1)|| / ||delta^(20)|| = {r['ratio']:.3g}; "
            "by hand vs autograd, largest relative difference "
            f"{r['max_relative_difference']:.2g}"
        )
    save(plot(results), out_dir / f"{Path(__file__).stem}.svg")
    return results


# Shared by every snippet, so that a copied file runs alone (tests/test_snippets.py keeps
# this part identical everywhere): the PyTorch it needs, the figure style, the command line.
MIN_TORCH = "2.13"  # the release the pages are built and tested with
# 4.2 inches wide and 12-point text: readable at a phone's width (shown 358 px wide, text of
# at least 9 px, super- and subscripts included) and on a desktop (at least 11 px).
STYLE = {
    "figure.figsize": (4.2, 3.0),
    "font.size": 12,
    "axes.titlesize": 12,
    "axes.labelsize": 12,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "figure.titlesize": 12,
    "svg.hashsalt": "vanishing-gradients",  # with Date=None: byte-identical SVGs
}
plt.rcParams.update(STYLE)


def save(fig, path):
    """Write a byte-reproducible SVG and say where, or exit with a one-line error."""
    try:
        fig.savefig(
            path, metadata={"Date": None}, transparent=True, bbox_inches="tight"
        )
    except OSError as err:
        sys.exit(f"error: cannot write {path}: {err.strerror}")
    finally:
        plt.close(fig)
    print(f"wrote {path}")


def command_line() -> Path:
    """OUT_DIR from the command line, checked before any work is done."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "out_dir",
        nargs="?",
        type=Path,
        default=Path("."),
        metavar="OUT_DIR",
        help="folder for the figure, created if needed (default: this folder)",
    )
    out_dir = parser.parse_args().out_dir
    if torch.__version__ < MIN_TORCH:
        parser.exit(
            1, f"error: needs PyTorch {MIN_TORCH}+, not {torch.__version__}\n"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        parser.exit(1, f"error: {out_dir} is a file, not a folder\n")
    except OSError as err:
        parser.exit(1, f"error: cannot create {out_dir}: {err.strerror}\n")
    if not os.access(out_dir, os.W_OK):
        parser.exit(1, f"error: cannot write to {out_dir}\n")
    return out_dir


if __name__ == "__main__":
    main(command_line())
