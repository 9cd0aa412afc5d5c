"""The two textbook examples, computed by formula and by autograd.

Ten layers, every weight matrix a multiple of the identity: W = 0.5 I with a
sigmoid, and W = 2 I with no activation. The gradient reaching layer l is a
product of L - l per-layer factors W * sigma'(z). It shrinks as 0.125^(L-l)
only where every sigmoid sits at z = 0 (the one point where sigma' = 1/4);
anywhere else each factor is smaller. It grows as exactly 2^(L-l).

Run: python snippets/01-why-gradients-vanish-or-explode/scalar_examples.py [OUT_DIR]
"""

import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch


# --8<-- [start:core]
def gradients_to_each_layer(weight, bias, activation, depth=10, x0=0.5):
    """|d a_L / d a_l|, l = 0..L,
    for a_l = activation(weight * a_(l-1) + bias)."""
    acts = [torch.tensor(x0, dtype=torch.float64, requires_grad=True)]
    for _ in range(depth):
        acts[-1].retain_grad()
        acts.append(activation(weight * acts[-1] + bias))
    acts[-1].backward()
    return [a.grad.abs().item() for a in acts[:-1]] + [1.0]


# --8<-- [end:core]


def identity(z):
    return z


def examples(depth=10):
    return {
        # sigma'(0) = 1/4 is the bound. Bias -0.25 keeps every z at 0
        # (a = 0.5 in, 0.5 * 0.5 - 0.25 = 0), so the bound is attained in
        # every layer.
        "sigmoid, W=0.5, z=0 everywhere": gradients_to_each_layer(
            0.5, -0.25, torch.sigmoid, depth
        ),
        # Same chain, zero bias: z > 0 after the first layer, so sigma' < 1/4.
        "sigmoid, W=0.5, zero bias": gradients_to_each_layer(
            0.5, 0.0, torch.sigmoid, depth
        ),
        "linear, W=2": gradients_to_each_layer(2.0, 0.0, identity, depth),
    }


def formula(depth=10):
    """The per-layer factor to the power of the layers crossed, l = 0..L."""
    return {
        "(0.5 * 1/4)^(L-l)": [0.125 ** (depth - l) for l in range(depth + 1)],
        "2^(L-l)": [2.0 ** (depth - l) for l in range(depth + 1)],
    }


def plot(autograd, closed_form):
    """Layers 1..L, as the page's table: the leftmost point is layer 1."""
    fig, ax = plt.subplots(figsize=(3.9, 3.4))  # in a fold: narrower
    layers = range(1, len(next(iter(autograd.values()))))
    for values in closed_form.values():  # the formulas, under the points
        ax.plot(layers, values[1:], "-", color="grey", linewidth=3, zorder=1)
    ax.plot([], [], "-", color="grey", linewidth=3, label="formula")
    styles = {  # open and filled markers: the two sigmoid chains nearly touch
        "sigmoid, W=0.5, z=0 everywhere": ("o", "none", "sigmoid, z = 0"),
        "sigmoid, W=0.5, zero bias": ("x", None, "sigmoid, zero bias"),
        "linear, W=2": ("s", None, "linear, w = 2"),
    }
    for name, values in autograd.items():
        marker, face, label = styles[name]
        ax.plot(
            layers,
            values[1:],
            marker,
            markerfacecolor=face,
            markersize=7,
            label=label,
            zorder=2,
        )
    ax.set_yscale("log")
    ax.set_xticks([1, 4, 7, 10])
    ax.set_xlabel("layer l")
    ax.set_ylabel(r"$|\partial a^{(L)} / \partial a^{(l)}|$")
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.45, -0.25), ncol=1, frameon=False
    )
    ax.grid(True, which="major", alpha=0.3)
    return fig


def main(out_dir: Path) -> dict:
    autograd, closed_form = examples(), formula()
    for name, values in {**autograd, **closed_form}.items():
        print(f"{name:32s} gradient at layer 1: {values[1]:.6g}")
    save(plot(autograd, closed_form), out_dir / f"{Path(__file__).stem}.svg")
    return {"autograd": autograd, "formula": closed_form}


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
