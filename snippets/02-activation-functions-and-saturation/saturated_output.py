"""A saturated sigmoid output stalls under MSE, not under cross-entropy.

At a confidently wrong logit (z = -10, target 1) the gradient of MSE on
sigmoid(z) with respect to z is (sigma(z) - y) sigma'(z) ~ -4.5e-5, while the
gradient of binary cross-entropy on the logit is sigma(z) - y ~ -1. Gradient
descent on z escapes in about ten steps with cross-entropy and in about e^10
steps with MSE. Computing sigmoid first and then BCELoss loses this in float32:
BCELoss clamps log to >= -100 and its backward divides by max(p(1-p), 1e-12).

Run: python snippets/02-activation-functions-and-saturation/saturated_output.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

F = nn.functional

# --8<-- [start:core]
LOSSES = {  # each takes the logit z and the target y
    "MSE on sigmoid": lambda z, y: 0.5 * (torch.sigmoid(z) - y) ** 2,
    "sigmoid + BCELoss": lambda z, y: F.binary_cross_entropy(
        torch.sigmoid(z), y
    ),
    "BCEWithLogitsLoss": F.binary_cross_entropy_with_logits,
}


def loss_and_gradient(name, z, y, dtype=torch.float64):
    z = torch.tensor(z, dtype=dtype, requires_grad=True)
    loss = LOSSES[name](z, torch.tensor(y, dtype=dtype))
    loss.backward()
    return loss.item(), z.grad.item()


# --8<-- [end:core]


def closed_form(z, y):
    s = 1 / (1 + math.exp(-z))
    return {
        "MSE on sigmoid": (s - y) * s * (1 - s),  # (sigma - y) sigma'
        "BCEWithLogitsLoss": s - y,  # the sigma' cancels
    }


def steps_to_escape(name, z=-10.0, y=1.0, lr=1.0, max_steps=10**5):
    """Gradient descent on the logit itself until sigmoid(z) > 0.5."""
    path = [z]
    while z <= 0 and len(path) <= max_steps:
        z -= lr * closed_form(z, y)[name]
        path.append(z)
    return path


def gradient_curves(zs, y=1.0):
    return {
        name: [abs(loss_and_gradient(name, z, y, torch.float32)[1]) for z in zs]
        for name in LOSSES
    }


def plot(zs, curves, paths):
    fig, axes = plt.subplots(2, 1, figsize=(4.2, 6.6))
    short = {"MSE on sigmoid": "MSE", "sigmoid + BCELoss": "BCELoss"}
    for name, grads in curves.items():
        dashed = name == "sigmoid + BCELoss"
        axes[0].plot(
            zs,
            grads,
            "--" if dashed else "-",
            zorder=3 if dashed else 2,
            label=short.get(name, "BCEWithLogits"),
        )
    axes[0].set_yscale("log")
    axes[0].set_yticks([1e-16, 1e-8, 1])
    axes[0].set_xlabel("logit z (target y = 1)")
    axes[0].set_ylabel(r"$|\partial \mathcal{L} / \partial z|$")
    axes[0].legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False
    )
    for name in ("MSE on sigmoid", "BCEWithLogitsLoss"):
        path = paths[name]
        color = "C0" if name == "MSE on sigmoid" else "C2"
        axes[1].plot(range(1, len(path) + 1), path, color=color)
    axes[1].text(14, -1.5, "BCEWithLogits", color="C2")
    axes[1].text(300, -9.3, "MSE", color="C0")
    axes[1].axhline(0, color="grey", lw=0.8, ls=":")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("gradient-descent step + 1")
    axes[1].set_ylabel("logit z")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    at = {  # z = -10, y = 1: saturated and wrong
        name: loss_and_gradient(name, -10.0, 1.0) for name in LOSSES
    }
    float32_at_20 = {  # z = 20, y = 0: sigmoid(20) rounds to 1 in float32
        name: loss_and_gradient(name, 20.0, 0.0, torch.float32)
        for name in LOSSES
    }
    paths = {
        n: steps_to_escape(n) for n in ("MSE on sigmoid", "BCEWithLogitsLoss")
    }
    zs = [k / 10 for k in range(-400, 1)]
    curves = gradient_curves(zs)
    results = {
        "autograd at z=-10, y=1 (loss, dL/dz)": at,
        "closed form at z=-10, y=1": closed_form(-10.0, 1.0),
        "float32 at z=20, y=0 (loss, dL/dz)": float32_at_20,
        "steps to escape": {n: len(p) - 1 for n, p in paths.items()},
        "BCELoss float32 |dL/dz| by z": dict(
            zip(zs, curves["sigmoid + BCELoss"])
        ),
    }
    for key, value in list(results.items())[:4]:
        print(key)
        for name, v in value.items():
            print(f"  {name:20s} {v}")
    save(plot(zs, curves, paths), out_dir / f"{Path(__file__).stem}.svg")
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
