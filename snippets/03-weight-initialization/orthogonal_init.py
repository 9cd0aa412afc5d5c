"""Orthogonal init: what it guarantees, and what it takes to keep it.

nn.init.orthogonal_(W, gain) gives a matrix whose singular values all equal
the gain. In a linear network a product of such matrices has every singular
value equal to gain^L: no direction is favoured, and a gain of 1.1 grows
every direction by 1.1^L. Rows that are orthogonal but of unequal lengths
are not enough: the singular values are the row lengths, and the product
spreads them out. In a tanh network with orthogonal weights the Jacobian's
singular values shrink but stay within a small factor of each other; with
Gaussian weights of the same variance they spread over orders of magnitude.

Run: python snippets/03-weight-initialization/orthogonal_init.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn


def orthogonal(n, gain, g):
    W = torch.empty(n, n, dtype=torch.float64)
    return nn.init.orthogonal_(W, gain=gain, generator=g)


def unequal_rows(n, g):
    """Orthogonal rows (W W^T is diagonal) with lengths from 0.5 to 2."""
    lengths = torch.logspace(
        math.log10(0.5), math.log10(2), n, dtype=torch.float64
    )
    lengths /= lengths.pow(2).mean().sqrt()  # mean squared length 1
    return lengths[:, None] * orthogonal(n, 1.0, g)


def gaussian(n, g):
    W = torch.empty(n, n, dtype=torch.float64)
    return nn.init.normal_(W, 0.0, 1 / math.sqrt(n), generator=g)


# --8<-- [start:core]
def jacobian_spectra(make, activation=None, n=128, depth=64, seed=0):
    """Singular values of the Jacobian d a_L / d x, for L = 1..depth."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, generator=g, dtype=torch.float64)  # E[x^2] = 1
    J = torch.eye(n, dtype=torch.float64)
    spectra = []
    for _ in range(depth):
        W = make(n, g)
        if activation is None:  # linear network: J = W^(L) ... W^(1)
            h, J = W @ h, W @ J
        else:  # J <- D^(l) W^(l) J, D^(l) = diag(sigma'(z)) = diag(1 - tanh^2)
            h = torch.tanh(W @ h)
            J = (1 - h**2)[:, None] * (W @ J)
        spectra.append(torch.linalg.svdvals(J))
    return spectra


# --8<-- [end:core]


def experiment():
    linear = {
        f"orthogonal, gain {gain}": jacobian_spectra(
            lambda n, g, gain=gain: orthogonal(n, gain, g)
        )
        for gain in (1.1, 1.0, 0.5)
    }
    linear["orthogonal rows, lengths 0.5 to 2"] = jacobian_spectra(unequal_rows)
    tanh = {
        "orthogonal, gain 1": jacobian_spectra(
            lambda n, g: orthogonal(n, 1.0, g), torch.tanh
        ),
        "Gaussian, Var(w) = 1/n": jacobian_spectra(gaussian, torch.tanh),
    }
    return {"linear": linear, "tanh": tanh}


def check_orthogonal_(gains=(1.0, 5 / 3, 0.5), shapes=((128, 128), (64, 256))):
    """max |s_i - gain| over the singular values s_i of orthogonal_ results."""
    g = torch.Generator().manual_seed(1)
    worst = 0.0
    for shape in shapes:
        for gain in gains:
            W = nn.init.orthogonal_(
                torch.empty(shape, dtype=torch.float64), gain, generator=g
            )
            worst = max(
                worst, (torch.linalg.svdvals(W) - gain).abs().max().item()
            )
    return worst


def summarize(spectra):
    q = torch.stack(
        [
            s.quantile(torch.tensor([0.1, 0.5, 0.9], dtype=s.dtype))
            for s in spectra
        ]
    )
    return {
        "q10": q[:, 0].tolist(),
        "median": q[:, 1].tolist(),
        "q90": q[:, 2].tolist(),
        "max": [s.max().item() for s in spectra],
        "min": [s.min().item() for s in spectra],
        # svdvals is accurate to about n * eps * sigma_max: smaller values are rounding
        "resolution": [
            len(s) * torch.finfo(s.dtype).eps * s.max().item() for s in spectra
        ],
    }


def plot(results):
    fig, axes = plt.subplots(2, 1, figsize=(4.2, 6.4), sharex=True)
    short = {
        "orthogonal, gain 1.1": "orth., gain 1.1",
        "orthogonal, gain 1.0": "orth., gain 1",
        "orthogonal, gain 0.5": "orth., gain 0.5",
        "orthogonal rows, lengths 0.5 to 2": "orth. rows, unequal",
        "orthogonal, gain 1": "tanh, orth.",
        "Gaussian, Var(w) = 1/n": "tanh, Gaussian",
    }
    colors = iter(
        f"C{i}" for i in range(6)
    )  # one colour per series, both panels
    for ax, kind in zip(axes, ("linear", "tanh")):
        for name, r in results[kind].items():
            depths = range(1, len(r["median"]) + 1)
            (line,) = ax.plot(
                depths, r["median"], lw=2, color=next(colors), label=short[name]
            )
            ax.fill_between(
                depths, r["q10"], r["q90"], color=line.get_color(), alpha=0.2
            )
        ax.set_yscale("log")
        ax.set_ylim(1e-12, 1e4)
        ax.set_yticks([1e-12, 1e-8, 1e-4, 1])
        ax.grid(True, alpha=0.3)
        ax.set_ylabel("singular values")
    axes[0].set_title("Linear network, n = 128")
    axes[1].set_title("tanh network, n = 128")
    axes[1].set_xlabel("depth L")
    handles = [h for ax in axes for h in ax.get_legend_handles_labels()[0]]
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
        handlelength=1.2,
        columnspacing=0.8,
    )
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = {
        kind: {name: summarize(spectra) for name, spectra in runs.items()}
        for kind, runs in experiment().items()
    }
    worst = check_orthogonal_()
    results["orthogonal_ max |s - gain|"] = worst
    print(f"orthogonal_: max |s - gain| = {worst:.2g}")
    for kind in ("linear", "tanh"):
        for name, r in results[kind].items():
            print(
                f"{kind + ', ' + name:45s} L={len(r['median'])}: median "
                f"{r['median'][-1]:.3g}, max {r['max'][-1]:.3g}, min "
                f"{r['min'][-1]:.3g}, 90%/10% {r['q90'][-1] / r['q10'][-1]:.3g}, "
                f"float64 resolves down to {r['resolution'][-1]:.2g}"
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
