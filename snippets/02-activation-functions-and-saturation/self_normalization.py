"""SELU keeps activations near mean 0, variance 1, but only on its terms.

A 64-layer SELU MLP keeps the per-layer activation mean near 0 and variance
near 1 with LeCun-normal weights (std 1/sqrt(fan_in), kaiming_normal_ with
nonlinearity='linear'). With calculate_gain('selu') = 3/4, PyTorch's default
init or He init the variance drifts away. Ordinary dropout also breaks the
fixed point; alpha dropout (Klambauer et al. 2017) keeps it.

Run: python snippets/02-activation-functions-and-saturation/self_normalization.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

# SELU's constants, as in torch.nn.SELU
ALPHA = 1.6732632423543772848170429916717
SCALE = 1.0507009873554804934193349852946


def init_(w, scheme, g):
    if scheme == "LeCun normal":  # std 1/sqrt(fan_in): what SELU needs
        nn.init.kaiming_normal_(w, nonlinearity="linear", generator=g)
    elif scheme == "calculate_gain('selu') = 3/4":
        nn.init.kaiming_normal_(w, nonlinearity="selu", generator=g)
    elif scheme == "PyTorch default":  # nn.Linear.reset_parameters
        nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
    elif scheme == "He (ReLU) normal":
        nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g)


# nn.Dropout and nn.AlphaDropout draw from the global RNG; written out here
# so that they take our generator. Each is applied after the activation.
def dropout(x, p, g):
    keep = torch.rand(x.shape, generator=g) >= p
    return x * keep / (1 - p)


def alpha_dropout(x, p, g):
    """Dropped units are set to SELU's negative saturation value, -SCALE *
    ALPHA, then an affine map a x + b restores mean 0 and variance 1."""
    keep = torch.rand(x.shape, generator=g) >= p
    saturation = -SCALE * ALPHA
    a = ((1 - p) * (1 + p * saturation**2)) ** -0.5
    b = -a * p * saturation
    return a * torch.where(keep, x, saturation) + b


# --8<-- [start:core]
def layer_statistics(scheme, drop=None, p=0.1, depth=64, width=256, seed=0):
    """Mean and variance of each layer's SELU output over a batch."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(512, width, generator=g)  # standardized inputs
    means, variances = [], []
    for _ in range(depth):
        w = torch.empty(width, width)
        init_(w, scheme, g)
        h = torch.selu(h @ w.T)  # zero biases
        if drop is not None:
            h = drop(h, p, g)
        means.append(h.mean().item())
        variances.append(h.var().item())
    return {"mean": means, "variance": variances}


# --8<-- [end:core]


def experiment():
    inits = (
        "LeCun normal",
        "calculate_gain('selu') = 3/4",
        "PyTorch default",
        "He (ReLU) normal",
    )
    by_init = {s: layer_statistics(s) for s in inits}
    with_dropout = {
        "no dropout": by_init["LeCun normal"],
        "Dropout(0.1)": layer_statistics("LeCun normal", dropout),
        "AlphaDropout(0.1)": layer_statistics("LeCun normal", alpha_dropout),
    }
    return {"init": by_init, "dropout": with_dropout}


SHORT = {
    "LeCun normal": "LeCun",
    "calculate_gain('selu') = 3/4": "gain 3/4",
    "PyTorch default": "default",
    "He (ReLU) normal": "He",
    "no dropout": "none",
    "Dropout(0.1)": "Dropout",
    "AlphaDropout(0.1)": "Alpha",
}


def plot(results):
    fig, axes = plt.subplots(2, 1, figsize=(4.2, 5.8), sharex=True)
    styles = ("-", "--", "-.", ":")
    for (name, r), ls in zip(results["init"].items(), styles):
        layers = range(1, len(r["variance"]) + 1)
        axes[0].plot(layers, r["variance"], ls, label=SHORT[name])
    axes[0].set_yscale("log")
    axes[0].set_yticks([1e-10, 1e-5, 1, 1e4])
    axes[0].set_ylabel("variance")
    for i, (name, r) in enumerate(results["dropout"].items()):
        layers = range(1, len(r["variance"]) + 1)
        axes[1].plot(layers, r["variance"], color=f"C{i}", label=SHORT[name])
        axes[1].plot(layers, r["mean"], "--", color=f"C{i}")
    axes[1].set_ylabel("variance, mean (--)")
    axes[1].set_xlabel("layer l")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for group in results.values():
        for name, r in group.items():
            print(
                f"{name:30s} layer 64: mean {r['mean'][-1]:+.3g}, "
                f"variance {r['variance'][-1]:.4g}; variance over layers "
                f"{min(r['variance']):.3g} to {max(r['variance']):.3g}"
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
