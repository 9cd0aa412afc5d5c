"""Backprop through an MLP by hand: a product of per-layer Jacobians.

The backward recursion delta_l = sigma'(z_l) * (W_(l+1)^T delta_(l+1)) and the
weight gradient dL/dW_l = delta_l a_(l-1)^T, written by hand for a deep sigmoid
MLP, agree with torch.autograd to float64 rounding. The norm of delta_l falls
geometrically with depth.

Run: python snippets/01-why-gradients-vanish-or-explode/backward_recursion.py [OUT_DIR]
"""

import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch


def make_mlp(depth=12, width=32, seed=0):
    """Weights W_1..W_L, each width x width from N(0, 1/width); zero biases."""
    g = torch.Generator().manual_seed(seed)
    weights = [
        torch.randn(width, width, generator=g, dtype=torch.float64) / width**0.5
        for _ in range(depth)
    ]
    biases = [torch.zeros(width, dtype=torch.float64) for _ in range(depth)]
    x = torch.randn(width, generator=g, dtype=torch.float64)
    target = torch.randn(width, generator=g, dtype=torch.float64)
    return weights, biases, x, target


# --8<-- [start:core]
def backprop_by_hand(weights, biases, x, target):
    """Gradients of L = 0.5 ||a_L - target||^2,
    a_l = sigmoid(W_l a_(l-1) + b_l)."""
    acts, zs = [x], []
    for W, b in zip(
        weights, biases
    ):  # forward: keep z_l and a_l for the backward pass
        zs.append(W @ acts[-1] + b)
        acts.append(torch.sigmoid(zs[-1]))

    def sigmoid_prime(z):
        return torch.sigmoid(z) * (1 - torch.sigmoid(z))

    delta = sigmoid_prime(zs[-1]) * (acts[-1] - target)  # delta_L = dL/dz_L
    deltas = [delta]
    for l in range(
        len(weights) - 2, -1, -1
    ):  # delta_l = sigma'(z_l) * W_(l+1)^T delta_(l+1)
        delta = sigmoid_prime(zs[l]) * (weights[l + 1].T @ delta)
        deltas.insert(0, delta)
    grad_W = [
        torch.outer(d, a) for d, a in zip(deltas, acts[:-1])
    ]  # dL/dW_l = delta_l a_(l-1)^T
    return deltas, grad_W


def backprop_by_autograd(weights, biases, x, target):
    weights = [W.clone().requires_grad_() for W in weights]
    a = x
    for W, b in zip(weights, biases):
        a = torch.sigmoid(W @ a + b)
    (0.5 * (a - target).pow(2).sum()).backward()
    return [W.grad for W in weights]


def compare(depth=12):
    weights, biases, x, target = make_mlp(depth)
    deltas, by_hand = backprop_by_hand(weights, biases, x, target)
    by_autograd = backprop_by_autograd(weights, biases, x, target)
    return {
        "max_abs_difference": max(
            (h - a).abs().max().item() for h, a in zip(by_hand, by_autograd)
        ),
        "delta_norms": [d.norm().item() for d in deltas],
        "grad_norms_by_hand": [g.norm().item() for g in by_hand],
        "grad_norms_by_autograd": [g.norm().item() for g in by_autograd],
    }


# --8<-- [end:core]


def plot(results):
    fig, ax = plt.subplots(figsize=(7, 3.4))
    layers = range(1, len(results["delta_norms"]) + 1)
    ax.plot(
        layers,
        results["grad_norms_by_autograd"],
        "-",
        color="grey",
        linewidth=3,
        label=r"autograd: $\|\partial L/\partial W^{(l)}\|$",
    )
    ax.plot(
        layers,
        results["grad_norms_by_hand"],
        "o",
        label=r"by hand: $\|\delta^{(l)} a^{(l-1)\top}\|$",
    )
    ax.plot(
        layers,
        results["delta_norms"],
        "s",
        label=r"by hand: $\|\delta^{(l)}\|$",
    )
    ax.set_yscale("log")
    ax.set_xlabel("layer l (1 = next to the input)")
    ax.set_ylabel("gradient norm")
    ax.set_title(
        "A 12-layer sigmoid MLP: the backward recursion by hand and by autograd"
    )
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    return fig


def main(out_dir: Path) -> dict:
    results = compare()
    print(
        "largest |by hand - autograd| over all weight gradients: "
        f"{results['max_abs_difference']:.3g}"
    )
    for l, norm in enumerate(results["delta_norms"], start=1):
        print(f"layer {l:2d}  ||delta|| = {norm:.3g}")
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
