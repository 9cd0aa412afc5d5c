"""A deep plain network with batch norm has exploding gradients at init.

Fifty fully connected layers, no skip connections, at initialization: ReLU
with He init and tanh with Xavier init, each without and with batch norm
(training mode, gamma = 1, beta = 0) between the linear layer and the
activation. Batch norm fixes the forward statistics of every layer exactly,
yet the gradient dL/dz^(l) grows by a constant factor per layer on its way back
to the input (Yang et al. 2019); the plain networks with matched init do not
explode. Close to the linear regime the growth nearly disappears: a linear
network with batch norm is the fifth curve.

Run: python snippets/04-normalization/deep_bn_gradients.py [OUT_DIR]
"""

import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

F64 = torch.float64
NETWORKS = {  # name: (activation, weight init, batch norm?)
    "ReLU, He": ("relu", "he", False),
    "ReLU, He, BN": ("relu", "he", True),
    "tanh, Xavier": ("tanh", "xavier", False),
    "tanh, Xavier, BN": ("tanh", "xavier", True),
    "linear, BN": ("linear", "he linear", True),
}
ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "linear": lambda z: z}


def init_weight(width, scheme, g):
    w = torch.empty(width, width, dtype=F64)
    if scheme == "he":
        return nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g)
    if scheme == "xavier":
        return nn.init.xavier_normal_(w, generator=g)
    return nn.init.kaiming_normal_(w, nonlinearity="linear", generator=g)


# --8<-- [start:core]
def forward_backward(x, y, weights, head, activation, batch_norm):
    """Std of each layer's output a^(l); ||dL/dz^(l)|| for l = 1..L."""
    a, zs, stds = x, [], []
    for w in weights:
        zs.append(a @ w.T)  # z^(l), no bias
        zs[-1].retain_grad()
        u = zs[-1]
        if batch_norm:  # training mode: batch statistics, gamma 1, beta 0
            u = nn.functional.batch_norm(u, None, None, training=True)
        a = ACTIVATIONS[activation](u)
        stds.append(a.std().item())
    nn.functional.cross_entropy(a @ head.T, y).backward()
    return stds, [z.grad.norm().item() for z in zs]


# --8<-- [end:core]


def measure(activation, scheme, batch_norm, depth=50, width=128, batch=64):
    """Forward std of every layer's output; ||dL/dz^(l)|| and ||dL/dW^(l)||."""
    g = torch.Generator().manual_seed(0)  # same data for every network
    x = torch.randn(batch, width, generator=g, dtype=F64)
    y = torch.randint(0, 10, (batch,), generator=g)
    weights = [
        init_weight(width, scheme, g).requires_grad_() for _ in range(depth)
    ]
    head = nn.init.xavier_normal_(
        torch.empty(10, width, dtype=F64), generator=g
    )
    stds, deltas = forward_backward(x, y, weights, head, activation, batch_norm)
    return {
        "activation std": stds,
        "delta": deltas,
        "weight gradient": [w.grad.norm().item() for w in weights],
    }


def experiment():
    results = {name: measure(*spec) for name, spec in NETWORKS.items()}
    for r in results.values():  # geometric mean factor per layer, going back
        d = r["delta"]
        r["growth per layer"] = (d[0] / d[-1]) ** (1 / (len(d) - 1))
    return results


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.4), sharex=True)
    for name, r in results.items():
        act = name.split(",")[0]
        kw = {
            "ls": "-" if "BN" in name else "--",
            "color": {"ReLU": "C0", "tanh": "C2", "linear": "C4"}[act],
            "label": act + (" + BN" if "BN" in name else ""),
        }
        layers = range(1, len(r["delta"]) + 1)
        top.plot(layers, r["activation std"], **kw)
        bottom.plot(layers, [d / r["delta"][-1] for d in r["delta"]], **kw)
    top.set_ylabel("std of $a^{(l)}$")
    top.set_title("Forward: activations")
    top.set_ylim(0, 1.4)
    bottom.set_yscale("log")
    bottom.set_ylabel(r"$\|\delta^{(l)}\| \,/\, \|\delta^{(L)}\|$")
    bottom.set_title("Backward: gradients")
    bottom.set_xlabel("layer $l$")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    handles, labels = top.get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="upper center", ncol=2, bbox_to_anchor=(0.5, 0.0)
    )
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for name, r in results.items():
        d, w = r["delta"], r["weight gradient"]
        print(
            f"{name:18s} ||delta^(1)||/||delta^(L)|| {d[0] / d[-1]:9.3g}  "
            f"per layer {r['growth per layer']:.3f}  "
            f"||dW_1||/||dW_L|| {w[0] / w[-1]:9.3g}"
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
