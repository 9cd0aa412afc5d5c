"""A residual block's Jacobian I + J is not lossless.

One pre-activation block x + F(x), F(x) = W2 relu(W1 relu(x)), with He init,
at one input. Its Jacobian is I + J, with J = W2 D2 W1 D1. The singular values
of I + J range from far below 1 to far above 1: the skip adds the identity to
J, it does not turn the block into an isometry. With the branch scaled by a,
every singular value of I + aJ lies in [1 - a||J||, 1 + a||J||] (Weyl's
inequality): a branch that is small enough can neither cancel a gradient nor
blow it up, and an unscaled He branch is not small.

Run: python snippets/05-skip-connections/block_jacobian.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch


# --8<-- [start:core]
def residual_block(x, W1, W2):
    """Pre-activation block, no normalization: x + W2 relu(W1 relu(x))."""
    return x + W2 @ torch.relu(W1 @ torch.relu(x))


def branch_jacobian(x, W1, W2):
    """J = dF/dx = W2 D2 W1 D1, with D = diag(relu') at each ReLU's input."""
    d1 = (x > 0).double()
    d2 = (W1 @ torch.relu(x) > 0).double()
    return W2 @ torch.diag(d2) @ W1 @ torch.diag(d1)


# --8<-- [end:core]


def experiment(n=64, depth=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    he = math.sqrt(2 / n)  # He init: Var(w) = 2 / fan_in
    W1 = torch.randn(n, n, generator=g, dtype=torch.float64) * he
    W2 = torch.randn(n, n, generator=g, dtype=torch.float64) * he
    x = torch.randn(n, generator=g, dtype=torch.float64)
    I, J = torch.eye(n, dtype=torch.float64), branch_jacobian(x, W1, W2)
    by_autograd = torch.autograd.functional.jacobian(
        lambda v: residual_block(v, W1, W2), x
    )
    a = 1 / math.sqrt(depth)  # the branch scale 1/sqrt(L)
    spectra = {
        "J (branch)": torch.linalg.svdvals(J),
        "I + J (block)": torch.linalg.svdvals(I + J),
        f"I + J/sqrt({depth})": torch.linalg.svdvals(I + a * J),
    }
    # float64 rounds a singular value of exactly 1 to 1 +- 1e-16
    rounding = 1e-9
    block = spectra["I + J (block)"]
    eigenvalues = torch.linalg.eigvals(J)  # complex in general
    scales = torch.linspace(0, 1.2, 121, dtype=torch.float64)
    sweep = torch.stack([torch.linalg.svdvals(I + s * J) for s in scales])
    return {
        "max |I + J - autograd|": (I + J - by_autograd).abs().max().item(),
        "spectra": spectra,
        "||J||": spectra["J (branch)"][0].item(),
        "rank of J": (spectra["J (branch)"] > rounding).sum().item(),
        "I + J: below, equal to, above 1": [
            (block < 1 - rounding).sum().item(),
            ((block - 1).abs() <= rounding).sum().item(),
            (block > 1 + rounding).sum().item(),
        ],
        "leftmost eigenvalue of J": eigenvalues[eigenvalues.real.argmin()],
        "a = 1/sqrt(L)": a,
        "scales": scales,
        "sigma_min": sweep.min(dim=1).values,
        "sigma_max": sweep.max(dim=1).values,
    }


def plot(r):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.4))
    for name, s in r["spectra"].items():
        label = name.split(" (")[0].replace("/sqrt(32)", "/\u221a32")
        top.plot(range(1, len(s) + 1), s, ".-", markersize=3, label=label)
    top.axhline(1, color="grey", linestyle=":", linewidth=1)
    top.set_xlabel("index i (sorted)")
    top.set_ylabel("singular value")
    top.set_title("One block, n = 64")
    top.legend(loc="upper right")

    scales, norm = r["scales"], r["||J||"]
    bottom.plot(scales, r["sigma_max"], label="largest")
    bottom.plot(scales, r["sigma_min"], label="smallest")
    bottom.plot(scales, 1 + scales * norm, "k--", linewidth=1)
    bottom.plot(
        scales,
        (1 - scales * norm).clamp(min=0),
        "k--",
        linewidth=1,
        label="Weyl bounds",
    )
    for a, text in ((r["a = 1/sqrt(L)"], "1/\u221a32"), (1.0, "1")):
        bottom.axvline(a, color="grey", linestyle=":", linewidth=1)
        bottom.annotate(
            f"a = {text}",
            (a, 3.55),
            xytext=(3, 0),
            textcoords="offset points",
            color="grey",
        )
    bottom.set_ylim(0, 4)
    bottom.set_xlabel("branch scale a")
    bottom.set_ylabel("singular value of I + aJ")
    bottom.legend(loc="center right", bbox_to_anchor=(1, 0.3))
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    print(f"max |I + J - autograd| = {r['max |I + J - autograd|']:.2g}")
    for name, s in r["spectra"].items():
        print(f"{name:16s} sigma_max {s[0]:.3f}  sigma_min {s[-1]:.3g}")
    below, equal, above = r["I + J: below, equal to, above 1"]
    print(
        f"rank of J {r['rank of J']}; singular values of I + J: {below} below 1, "
        f"{equal} equal to 1, {above} above"
    )
    print(
        f"||J|| = {r['||J||']:.3f}, eigenvalue of J with the most negative "
        f"real part: {r['leftmost eigenvalue of J'].item():.4f}"
    )
    save(plot(r), out_dir / f"{Path(__file__).stem}.svg")
    return r


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
