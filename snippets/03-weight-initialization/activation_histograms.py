"""Activations and back-propagated gradients, layer by layer, for six inits.

A 20-layer, 128-wide MLP at initialization, in the style of Glorot & Bengio
(2010). tanh with small random weights (std 0.01): activations and gradients
shrink by the same factor every layer. tanh with PyTorch's default init:
activations shrink to a floor set by the biases, gradients vanish. tanh with
Xavier: both decay, slowly. Sigmoid with Xavier: activations sit around 0.5 and
gradients still vanish. ReLU with Xavier: everything halves in variance per
layer. ReLU with He: level.

Run: python snippets/03-weight-initialization/activation_histograms.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}


# --8<-- [start:core]
def init_(layer, scheme, g):
    if scheme == "std 0.01":  # "small random weights"
        nn.init.normal_(layer.weight, 0.0, 0.01, generator=g)
    elif scheme == "default":  # what nn.Linear.reset_parameters does
        nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=g)
    elif scheme == "Xavier":
        nn.init.xavier_uniform_(layer.weight, generator=g)
    elif scheme == "He":
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=g)
    if scheme == "default":  # bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        bound = 1 / math.sqrt(layer.in_features)
        nn.init.uniform_(layer.bias, -bound, bound, generator=g)
    else:
        nn.init.zeros_(layer.bias)


# --8<-- [end:core]


def probe(activation, scheme, depth=20, width=128, batch=256, seed=0):
    """Activations a^(l) and back-propagated gradients dL/dz^(l) of every layer."""
    g = torch.Generator().manual_seed(seed)
    layers = [
        nn.Linear(width, width, dtype=torch.float64) for _ in range(depth)
    ]
    head = nn.Linear(width, 10, dtype=torch.float64)
    for layer in layers + [head]:
        init_(layer, scheme, g)
    x = torch.randn(batch, width, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (batch,), generator=g)
    zs, activations, h = [], [], x
    for layer in layers:
        zs.append(layer(h))
        zs[-1].retain_grad()  # keep dL/dz^(l), a non-leaf tensor's gradient
        h = ACTIVATIONS[activation](zs[-1])
        activations.append(h.detach())
    nn.functional.cross_entropy(head(h), y).backward()
    return {
        "activations": activations,
        "activation std": [a.std().item() for a in activations],
        "activation mean": [a.mean().item() for a in activations],
        "gradient rms": [z.grad.pow(2).mean().sqrt().item() for z in zs],
        "weight gradient norm": [m.weight.grad.norm().item() for m in layers],
    }


CONFIGS = [
    ("tanh", "std 0.01"),
    ("tanh", "default"),
    ("tanh", "Xavier"),
    ("sigmoid", "Xavier"),
    ("relu", "Xavier"),
    ("relu", "He"),
]


def experiment():
    return {f"{act}, {scheme}": probe(act, scheme) for act, scheme in CONFIGS}


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.8), sharex=True)
    styles = ["-", "--", "-.", ":", (0, (5, 1)), (0, (1, 1))]
    markers = ["o", "s", "^", "v", "D", "x"]  # one style per init, both panels
    for i, (name, r) in enumerate(results.items()):
        layers = range(1, len(r["activation std"]) + 1)
        kw = {
            "color": f"C{i}",
            "ls": styles[i],
            "marker": markers[i],
            "ms": 4,
            "markevery": 4,
            "lw": 1.5,
        }
        top.plot(layers, r["activation std"], label=name, **kw)
        bottom.plot(layers, r["gradient rms"], **kw)
    top.set_title("std of activations $a^{(l)}$")
    bottom.set_title(
        r"rms of $\delta^{(l)} = \partial \mathcal{L}/\partial z^{(l)}$"
    )
    bottom.set_xlabel("layer l")
    bottom.set_xticks([1, 5, 10, 15, 20])
    for ax in (top, bottom):
        ax.set_yscale("log")
        ax.set_yticks([10.0**k for k in range(-20, 1, 5)])
        ax.minorticks_off()
        ax.grid(True, alpha=0.3)
    fig.legend(
        *top.get_legend_handles_labels(),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
        handlelength=1.8,
        columnspacing=0.8,
    )
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for name, r in results.items():
        print(
            f"{name:18s} std(a): layer 1 {r['activation std'][0]:.3g}, "
            f"layer 20 {r['activation std'][-1]:.3g}; rms dL/dz: layer 1 "
            f"{r['gradient rms'][0]:.3g}, "
            f"layer 20 {r['gradient rms'][-1]:.3g}; "
            f"|dL/dW|: layer 1 {r['weight gradient norm'][0]:.3g}, "
            f"layer 20 {r['weight gradient norm'][-1]:.3g}"
        )
    save(plot(results), out_dir / f"{Path(__file__).stem}.svg")
    for r in results.values():
        del r["activations"]  # every activation: too big to return
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
