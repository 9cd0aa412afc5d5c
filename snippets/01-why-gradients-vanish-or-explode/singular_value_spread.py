"""Products of Gaussian vs orthogonal matrices: sigma_max is not the story.

A Gaussian matrix with entries N(0, 1/n) preserves squared norms on average,
yet its largest singular value is close to 2. Multiplying L of them does not
grow vectors like 2^L: a typical vector keeps roughly its length while the
spectrum of the product spreads out, a few directions stretched and most
crushed. A product of orthogonal matrices keeps every singular value at 1.

Run: python snippets/01-why-gradients-vanish-or-explode/singular_value_spread.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch


# --8<-- [start:core]
def gaussian(n, g):
    """Entries N(0, 1/n): E ||W x||^2 = ||x||^2 for every x."""
    return torch.randn(n, n, generator=g, dtype=torch.float64) / math.sqrt(n)


def orthogonal(n, g):
    """Haar-random orthogonal matrix: QR of a Gaussian, signs from diag(R)."""
    q, r = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


def product_spectra(make, n=128, depth=32, vectors=1000, seed=0):
    """For L = 1..depth: singular values of P = W_L ... W_1, typical |P x|."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, vectors, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=0)  # unit vectors in random directions
    product = torch.eye(n, dtype=torch.float64)
    rows = []
    for _ in range(depth):
        W = make(n, g)
        product, x = W @ product, W @ x
        rows.append(
            {
                "sigma_max_of_layer": torch.linalg.matrix_norm(W, ord=2).item(),
                "singular_values": torch.linalg.svdvals(product),
                "typical_length": x.norm(dim=0)
                .log()
                .mean()
                .exp()
                .item(),  # geometric mean
            }
        )
    return rows


def experiment():
    return {
        "gaussian": product_spectra(gaussian),
        "orthogonal": product_spectra(orthogonal),
    }


# --8<-- [end:core]


def plot(results, shown=(1, 4, 16)):
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    for depth in shown:
        s = results["gaussian"][depth - 1]["singular_values"]
        left.plot(range(1, len(s) + 1), s, label=f"Gaussian, L = {depth}")
    s = results["orthogonal"][shown[-1] - 1]["singular_values"]
    left.plot(range(1, len(s) + 1), s, "k--", label="orthogonal, any L")
    left.set_yscale("log")
    left.set_ylim(1e-12, 1e2)
    left.set_xlabel("index i (sorted)")
    left.set_ylabel(r"singular value $s_i$ of $W_L \cdots W_1$")
    left.set_title("Spectrum of the product")
    left.legend(fontsize="small")

    rows = results["gaussian"]
    depths = range(1, len(rows) + 1)
    predicted = [
        math.prod(r["sigma_max_of_layer"] for r in rows[:d]) for d in depths
    ]
    right.plot(
        depths,
        predicted,
        ":",
        label=r"$\prod_l \sigma_{\max}(W_l)$ (the naive bound)",
    )
    right.plot(
        depths,
        [r["singular_values"][0].item() for r in rows],
        label=r"$\sigma_{\max}$ of product",
    )
    right.plot(
        depths,
        [r["typical_length"] for r in rows],
        label=r"typical $\|W_L \cdots W_1 x\|$",
    )
    right.plot(
        depths,
        [r["singular_values"].median().item() for r in rows],
        label="median singular value",
    )
    right.set_yscale("log")
    right.set_xlabel("depth L")
    right.set_title("Gaussian layers, n = 128")
    right.legend(fontsize="small")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for name, rows in results.items():
        for depth in (1, 4, 16, 32):
            r = rows[depth - 1]
            s = r["singular_values"]
            print(
                f"{name:10s} L={depth:2d}  sigma_max={s[0]:.3g}  "
                f"median={s.median():.3g}  "
                f"typical |Px|={r['typical_length']:.3g}"
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
