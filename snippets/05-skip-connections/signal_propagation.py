"""How 32 residual blocks scale the signal and the gradient at initialization.

32 blocks of width 128, He init, one batch of 128 random inputs. Without
normalization each block adds a branch as large as its input,
Var(x_(l+1)) = Var(x_l) + Var(F(x_l)) = 2 Var(x_l): the forward variance grows
as 2^l and the gradient as 2^(l/2). Branches scaled by 1/sqrt(L) multiply the
variance by (1 + 1/L) per block, at most e over the stack in expectation;
batch norm inside the branch makes the variance grow linearly (l + 1), and so
does dividing the whole layer by one scalar, whose gradient then grows by
sqrt(1 + L) in all, less than batch norm's; a branch whose last layer is zero
is exactly the identity. The plain stack (no skip) stays level on
average. In the original block, relu(x + F(x)), the identity path crosses a
ReLU in every block and passes a coordinate only while it stays positive.

Run: python snippets/05-skip-connections/signal_propagation.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch


def batch_norm(h):
    """Each unit normalized over the batch (rows), no learned scale/shift."""
    return (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + 1e-5)


def layer_scale(h):
    """The whole layer divided by one number: its root mean square."""
    return h / h.pow(2).mean().sqrt()


def centred_layer_scale(h):
    """Batch norm's centring per unit, but one scale for the whole layer."""
    return layer_scale(h - h.mean(0))


def no_norm(h):
    return h


# --8<-- [start:core]
def branch(x, W1, W2, norm=no_norm):
    """Pre-activation branch F(x) = W2 relu(norm(W1 relu(norm(x))))."""
    return torch.relu(norm(torch.relu(norm(x)) @ W1.T)) @ W2.T


def original_block(x, W1, W2):
    """He et al. 2016a: relu(x + BN(W2 relu(BN(W1 x)))), ReLU after the sum."""
    return torch.relu(x + batch_norm(torch.relu(batch_norm(x @ W1.T)) @ W2.T))


# --8<-- [end:core]

BLOCKS = {  # x_(l+1) as a function of x_l, the block's weights and depth L
    "plain (no skip)": lambda x, W1, W2, L: branch(x, W1, W2),
    "plain + BN (no skip)": lambda x, W1, W2, L: branch(x, W1, W2, batch_norm),
    "residual": lambda x, W1, W2, L: x + branch(x, W1, W2),
    "residual, branch / sqrt(L)": lambda x, W1, W2, L: (
        x + branch(x, W1, W2) / math.sqrt(L)
    ),
    "residual + BN (pre-activation)": lambda x, W1, W2, L: (
        x + branch(x, W1, W2, batch_norm)
    ),
    "residual + one scale per layer": lambda x, W1, W2, L: (
        x + branch(x, W1, W2, layer_scale)
    ),
    "residual + centring, one scale": lambda x, W1, W2, L: (
        x + branch(x, W1, W2, centred_layer_scale)
    ),
    "original block + BN": lambda x, W1, W2, L: original_block(x, W1, W2),
    "residual, last layer zero": lambda x, W1, W2, L: (
        x + branch(x, W1, torch.zeros_like(W2))
    ),
}


def propagate(name, depth=32, width=128, batch=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    he = math.sqrt(2 / width)  # He init for every weight matrix

    def draw():
        shape = (width, width)
        return torch.randn(*shape, generator=g, dtype=torch.float64) * he

    x = torch.randn(batch, width, generator=g, dtype=torch.float64)
    xs, alive = [x.requires_grad_()], torch.ones_like(x)
    for _ in range(depth):
        W1, W2 = draw(), draw()
        nxt = BLOCKS[name](xs[-1], W1, W2, depth)
        if name == "original block + BN":  # where the ReLU after the sum
            alive = alive * (nxt > 0)  # passed, in every block so far
        nxt.retain_grad()
        xs.append(nxt)
    r = torch.randn(batch, width, generator=g, dtype=torch.float64)
    (xs[-1] * r).sum().backward()  # a loss whose gradient at x_L is r
    top, x_L = xs[-1].grad.norm(), xs[-1].detach()
    spread = x_L.var(0, unbiased=False).mean()  # over the batch, per unit
    return {
        "second moment": [v.detach().pow(2).mean().item() for v in xs],
        "gradient": [(v.grad.norm() / top).item() for v in xs],
        "identity path open": alive.mean().item(),
        # the part of E[x_L^2] that is a per-unit offset, equal for all inputs
        "offset share": 1 - (spread / x_L.pow(2).mean()).item(),
    }


def experiment():
    return {name: propagate(name) for name in BLOCKS}


def predictions(depth=32):
    """The variance argument, block by block (None: no closed form here)."""
    blocks = range(depth + 1)
    return {
        "plain (no skip)": ([1.0] * (depth + 1), [1.0] * (depth + 1)),
        "plain + BN (no skip)": (None, None),
        "residual": (
            [2.0**l for l in blocks],
            [2.0 ** ((depth - l) / 2) for l in blocks],
        ),
        "residual, branch / sqrt(L)": (
            [(1 + 1 / depth) ** l for l in blocks],
            [(1 + 1 / depth) ** ((depth - l) / 2) for l in blocks],
        ),
        "residual + BN (pre-activation)": ([1.0 + l for l in blocks], None),
        "residual + one scale per layer": (
            [1.0 + l for l in blocks],
            [math.sqrt((1 + depth) / (1 + l)) for l in blocks],
        ),
        "residual + centring, one scale": ([1.0 + l for l in blocks], None),
        "original block + BN": (None, None),
        "residual, last layer zero": ([1.0] * (depth + 1), [1.0] * (depth + 1)),
    }


# A control for the text, left out of the figure: how much of batch norm's
# gradient gain comes from centring each unit
CONTROLS = ("residual + centring, one scale",)


SHORT = {  # the figure's labels
    "plain (no skip)": "plain",
    "plain + BN (no skip)": "plain + BN",
    "residual": "residual",
    "residual, branch / sqrt(L)": "branch / \u221aL",
    "residual + BN (pre-activation)": "residual + BN",
    "residual + one scale per layer": "one scale",
    "original block + BN": "original + BN",
    "residual, last layer zero": "zero branch",
}


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 7.6), sharex=True)
    predicted = predictions()
    shown = [name for name in results if name not in CONTROLS]
    for i, name in enumerate(shown):
        r, color = results[name], f"C{i}"
        blocks = range(len(r["second moment"]))
        style = dict(color=color, label=SHORT[name], linewidth=2)
        if name == "residual, last layer zero":  # on the grey line 1
            style.update(linestyle="--", zorder=4)
        top.plot(blocks, r["second moment"], **style)
        bottom.plot(blocks, r["gradient"], **style)
        forward, backward = predicted[name]
        for ax, values in ((top, forward), (bottom, backward)):
            if values is not None and max(values) > 1:  # level 1: in grey
                ax.plot(blocks, values, ":", color=color, linewidth=2.5)
    for ax in (top, bottom):  # the prediction 1: plain (on average), zero
        ax.axhline(1, color="grey", linestyle=":", linewidth=2.5, zorder=3)
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    top.set_ylabel("E[x\u2097\u00b2]")
    top.set_title("Forward: signal size")
    bottom.set_ylabel("gradient at x\u2097 / at x\u2083\u2082")
    bottom.set_title("Backward: gradient reaching block l")
    bottom.set_xlabel("block l (0 = input of the stack)")
    handles, labels = top.get_legend_handles_labels()
    handles.append(
        plt.Line2D([], [], color="grey", linestyle=":", linewidth=2.5)
    )
    labels.append("predicted")
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=2,
        handlelength=1.2,
        columnspacing=0.8,
    )
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for name, r in results.items():
        print(
            f"{name:31s} E[x_L^2]/E[x_0^2] = "
            f"{r['second moment'][-1] / r['second moment'][0]:.3g}  "
            f"|g_0|/|g_L| = {r['gradient'][0]:.3g}"
        )
    print(
        "original block: identity path open for "
        f"{results['original block + BN']['identity path open']:.2%} "
        "of the coordinates"
    )
    save(plot(results), out_dir / f"{Path(__file__).stem}.svg")
    return {"measured": results, "predicted": predictions()}


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
