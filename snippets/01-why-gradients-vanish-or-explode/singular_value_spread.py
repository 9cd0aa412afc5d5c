"""Products of Gaussian vs orthogonal matrices: s_max is not the story.

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


def gaussian(n, g):
    """Entries N(0, 1/n): E ||W x||^2 = ||x||^2 for every x."""
    return torch.randn(n, n, generator=g, dtype=torch.float64) / math.sqrt(n)


def orthogonal(n, g):
    """Haar-random orthogonal matrix: QR of a Gaussian, signs from diag(R)."""
    q, r = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


def unit_vectors(n, count, g):
    """count unit vectors in random directions, as the columns of x."""
    x = torch.randn(n, count, generator=g, dtype=torch.float64)
    return x / x.norm(dim=0)


# For L = 1..depth: singular values of P = W_L ... W_1, typical |P x|.
# --8<-- [start:core]
def product_spectra(make, n=128, depth=32, vectors=1000, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = unit_vectors(n, vectors, g)
    product, rows = torch.eye(n, dtype=torch.float64), []
    for _ in range(depth):
        W = make(n, g)
        product, x = W @ product, W @ x
        rows.append(
            {
                "s_max_of_layer": torch.linalg.matrix_norm(W, ord=2).item(),
                "singular_values": torch.linalg.svdvals(product),
                "typical_length": x.norm(dim=0).log().mean().exp().item(),
            }
        )
    return rows


# --8<-- [end:core]


def experiment():
    return {
        "gaussian": product_spectra(gaussian),
        "orthogonal": product_spectra(orthogonal),
    }


def plot(results, shown=(1, 4, 16)):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(3.9, 6.8))  # in a fold
    for depth, style in zip(shown, ("-", "-.", "-")):
        s = results["gaussian"][depth - 1]["singular_values"]
        top.plot(range(1, len(s) + 1), s, style, label=f"L = {depth}")
    s = results["orthogonal"][shown[-1] - 1]["singular_values"]
    top.plot(range(1, len(s) + 1), s, "k--", label="orthogonal")
    top.set_yscale("log")
    top.set_ylim(1e-12, 1e2)
    top.set_xlabel("index i (sorted)")
    top.set_ylabel(r"$s_i$ of $W^{(L)} \cdots W^{(1)}$")
    top.legend(loc="lower left")

    rows = results["gaussian"]
    depths = range(1, len(rows) + 1)
    curves = {
        r"product of the $s_{\max}$": [
            math.prod(r["s_max_of_layer"] for r in rows[:d]) for d in depths
        ],
        r"$s_{\max}$ of product": [
            r["singular_values"][0].item() for r in rows
        ],
        "typical length": [r["typical_length"] for r in rows],
        r"median $s_i$": [r["singular_values"].median().item() for r in rows],
    }
    for (label, values), style in zip(curves.items(), (":", "-", "--", "-.")):
        bottom.plot(depths, values, style, label=label)
    bottom.set_yscale("log")
    bottom.set_ylim(1e-9, 1e11)
    bottom.set_xlabel("depth L (Gaussian layers, n = 128)")
    bottom.legend(
        loc="upper center", bbox_to_anchor=(0.45, -0.3), ncol=1, frameon=False
    )
    for ax in (top, bottom):
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
                f"{name:10s} L={depth:2d}  s_max={s[0]:.3g}  "
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
