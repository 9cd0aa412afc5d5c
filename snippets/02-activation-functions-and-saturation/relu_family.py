"""The ReLU family: curves and derivatives from torch.nn and autograd.

ReLU passes a gradient of exactly 1 or exactly 0. LeakyReLU and PReLU keep a
small constant slope for z < 0; ELU and SELU an exponentially decaying one;
GELU, SiLU (Swish) and Mish are smooth, dip below zero, are not monotonic, and
have a derivative that exceeds 1 for moderate positive z.

Run: python snippets/02-activation-functions-and-saturation/relu_family.py [OUT_DIR]
"""

import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

# --8<-- [start:core]
ACTIVATIONS = {
    "ReLU": nn.ReLU(),
    "LeakyReLU(0.01)": nn.LeakyReLU(negative_slope=0.01),
    "PReLU (init 0.25)": nn.PReLU(init=0.25),  # the slope is learned
    "ELU": nn.ELU(alpha=1.0),
    "SELU": nn.SELU(),
    "GELU": nn.GELU(),
    "SiLU / Swish": nn.SiLU(),
    "Mish": nn.Mish(),
}


def curve_and_derivative(f, z):
    z = z.clone().requires_grad_()
    y = f(z)
    (dy,) = torch.autograd.grad(y.sum(), z)  # elementwise: f'(z_i)
    return y.detach(), dy


# --8<-- [end:core]


def measure(lo=-5.0, hi=3.0, step=0.001):
    n = round((hi - lo) / step)
    z = lo + step * torch.arange(n + 1, dtype=torch.float64)
    table = {}
    for name, f in ACTIVATIONS.items():
        f = f.double()
        y, dy = curve_and_derivative(f, z)
        _, d_at_minus_3 = curve_and_derivative(f, torch.tensor([-3.0]).double())
        table[name] = {
            "z": z,
            "f": y,
            "f'": dy,
            "f'(-3)": d_at_minus_3.item(),
            "min f": y.min().item(),
            "argmin f": z[y.argmin()].item(),
            "min f'": dy.min().item(),  # the range of D's entries
            "max f'": dy.max().item(),
        }
    return table


FAMILIES = {
    "piecewise linear": ("ReLU", "LeakyReLU(0.01)", "PReLU (init 0.25)"),
    "exponential for z < 0": ("ELU", "SELU"),
    "smooth, gated": ("GELU", "SiLU / Swish", "Mish"),
}


SHORT = {"LeakyReLU(0.01)": "Leaky 0.01", "PReLU (init 0.25)": "PReLU 0.25"}


def plot(table):
    fig, axes = plt.subplots(3, 1, figsize=(4.2, 8.4), sharex=True)
    for ax, (family, names) in zip(axes, FAMILIES.items()):
        for i, name in enumerate(names):
            r, color = table[name], f"C{i}"
            label = SHORT.get(name, name.split(" /")[0])
            wide = {"lw": 4, "alpha": 0.5} if i == 0 else {}  # not hidden
            ax.plot(r["z"], r["f"], "-", color=color, label=label, **wide)
            ax.plot(r["z"], r["f'"], "--", color=color, **(wide or {"lw": 1.2}))
        ax.set_title(family)
        ax.set_ylim(-1.9, 3.1)
        ax.grid(True, alpha=0.3)
        ax.axhline(0, color="grey", lw=0.6)
        ax.legend(loc="upper left")
        ax.set_ylabel("f solid, f' dashed")
    axes[-1].set_xlabel("z")
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    table = measure()
    columns = ("f'(-3)", "min f", "argmin f", "min f'", "max f'")
    print(" " * 18 + "".join(f"{c:>10s}" for c in columns))
    for name, r in table.items():
        print(f"{name:18s}" + "".join(f"{r[c]:10.4f}" for c in columns))
    save(plot(table), out_dir / f"{Path(__file__).stem}.svg")
    return {
        name: {k: v for k, v in r.items() if k not in ("z", "f", "f'")}
        for name, r in table.items()
    }


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
