"""Sigmoid and tanh: bounded derivatives, saturation, and zero-centred output.

sigma'(z) <= 1/4 and tanh'(z) <= 1, both reached only at z = 0, both measured
here by autograd; tanh(x) = 2 sigma(2x) - 1 holds to float64 rounding. Where
|tanh| > 0.97 the derivative is below 0.06. Because sigmoid outputs are all
positive, every row of a layer's per-example weight gradient delta a^T has a
single sign (LeCun et al. 1998); with tanh inputs the signs mix.

Run: python snippets/02-activation-functions-and-saturation/sigmoid_and_tanh.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch

SATURATED = 0.97  # |tanh| above this counts as saturated (makemore part 3)


# --8<-- [start:core]
def curves(half_width=600, step=0.01):
    """Values and autograd derivatives of sigmoid and tanh on a grid."""
    z = torch.arange(-half_width, half_width + 1, dtype=torch.float64) * step
    z.requires_grad_()  # the grid contains z = 0 exactly
    out = {"z": z.detach()}
    for name, f in {"sigmoid": torch.sigmoid, "tanh": torch.tanh}.items():
        y = f(z)
        (dy,) = torch.autograd.grad(y.sum(), z)  # elementwise: dy_i / dz_i
        out[name], out[name + "'"] = y.detach(), dy
    return out


# --8<-- [end:core]


def saturation_thresholds():
    """|z| beyond which |tanh| > 0.97, and the derivatives there."""
    z_tanh = math.atanh(SATURATED)  # tanh(z) = 0.97
    z_sigmoid = 2 * z_tanh  # sigma(z) = (1 + tanh(z/2)) / 2
    s = 1 / (1 + math.exp(-z_sigmoid))
    return {
        "z tanh": z_tanh,
        "tanh' there": 1 - SATURATED**2,
        "z sigmoid": z_sigmoid,
        "sigmoid' there": s * (1 - s),
    }


def one_signed_rows(activation, width=64, seed=0):
    """Fraction of units whose per-example weight gradient has one sign.

    The gradient of unit i's incoming weights is delta_i * a (a = the layer's
    input). If every a_j > 0, all of its entries have the sign of delta_i.
    """
    g = torch.Generator().manual_seed(seed)
    a = activation(torch.randn(width, generator=g))  # previous layer's output
    W = torch.randn(width, width, generator=g).div(width**0.5)
    W.requires_grad_()
    target = torch.randn(width, generator=g)
    (W @ a - target).pow(2).sum().backward()  # one example, as in SGD
    rows = W.grad
    one_sign = (rows > 0).all(dim=1) | (rows < 0).all(dim=1)
    return one_sign.double().mean().item()


def plot(c, t):
    fig, axes = plt.subplots(2, 1, figsize=(4.2, 5.6), sharex=True)
    z = c["z"]
    for name in ("sigmoid", "tanh"):
        axes[0].plot(z, c[name])
        axes[1].plot(z, c[name + "'"])
    axes[0].plot(z[::60], 2 * torch.sigmoid(2 * z[::60]) - 1, "k.", ms=4)
    axes[0].text(2.2, 1.05, "sigmoid", color="C0", va="bottom")
    axes[0].text(-5.8, -0.75, "tanh", color="C1")
    axes[0].text(-5.8, 0.45, r"dots: $2\sigma(2z) - 1$")
    axes[1].text(0.9, 0.85, r"$\tanh'$", color="C1")
    axes[1].text(2.0, 0.25, r"$\sigma'$", color="C0")
    for ax in axes:
        for name, color in (("tanh", "C1"), ("sigmoid", "C0")):
            zt = t[f"z {name}"]
            for side in (-1, 1):
                ax.axvspan(side * zt, side * 6.0, color=color, alpha=0.1, lw=0)
        ax.set_xlim(-6, 6)
        ax.grid(True, alpha=0.3)
    axes[1].set_xlabel("z (shaded: saturated)")
    axes[0].set_ylabel("activation")
    axes[1].set_ylabel("derivative")
    axes[0].set_ylim(-1.1, 1.4)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    c = curves()
    z = c["z"]
    results = {
        "max sigmoid'": c["sigmoid'"].max().item(),
        "argmax sigmoid'": z[c["sigmoid'"].argmax()].item(),
        "max tanh'": c["tanh'"].max().item(),
        "argmax tanh'": z[c["tanh'"].argmax()].item(),
        "identity error": (c["tanh"] - (2 * torch.sigmoid(2 * z) - 1))
        .abs()
        .max()
        .item(),
        **saturation_thresholds(),
        "one-signed rows, sigmoid input": one_signed_rows(torch.sigmoid),
        "one-signed rows, tanh input": one_signed_rows(torch.tanh),
    }
    for name, value in results.items():
        print(f"{name:32s} {value:.4g}")
    save(plot(c, results), out_dir / f"{Path(__file__).stem}.svg")
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
