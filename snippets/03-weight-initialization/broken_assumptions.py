"""What breaks when the assumptions behind He init fail.

Narrow layers: He init keeps E[z^2] level on average over random draws, but
the typical (median) network at width 16 has lost almost all of its signal
after 30 layers, and at width 4 most networks have a layer where every unit
is dead. Non-zero-mean weights: a mean of 0.5/n per weight, 23 times smaller
than the standard deviation, makes E[z^2] of a ReLU net grow geometrically
and maps every input to the same direction.

Run: python snippets/03-weight-initialization/broken_assumptions.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch


# --8<-- [start:core]
def narrow_nets(width, depth=30, nets=600, seed=0):
    """He-init ReLU nets of one width, one input each; z^2 relative to E."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(nets, width, 1, generator=g)  # one input per net
    expected = 2 * a.pow(2).mean(dim=(1, 2))  # E[(z^(l))^2] for every layer l
    ratios = []
    for _ in range(depth):  # nets x (width x width) weights, N(0, 2/width)
        W = torch.randn(nets, width, width, generator=g) * math.sqrt(2 / width)
        z = W @ a
        a = torch.relu(z)
        ratios.append(z.pow(2).mean(dim=(1, 2)) / expected)
    return torch.stack(ratios, dim=1)  # nets x depth


# --8<-- [end:core]


def mean_shifted_net(c, width=64, depth=30, batch=64, seed=0):
    """ReLU net with weights N(c / width, 2 / width): E[z^2] per layer."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, width, generator=g, dtype=torch.float64)
    second_moments = []
    for _ in range(depth):
        W = torch.randn(width, width, generator=g, dtype=torch.float64)
        W = W * math.sqrt(2 / width) + c / width
        z = a @ W.T
        a = torch.relu(z)
        second_moments.append(z.pow(2).mean().item())
    # how alike the batch's representations have become: mean cosine
    unit = torch.nn.functional.normalize(z, dim=1)
    return second_moments, (unit @ unit.T).mean().item()


def experiment():
    narrow = {}
    for width in (4, 16, 64):
        r = narrow_nets(width)
        alive = r[:, -1] > 0
        narrow[width] = {
            "mean": r.mean(dim=0).tolist(),
            "median": r.median(dim=0).values.tolist(),
            "q10": r.quantile(0.1, dim=0).tolist(),
            "q90": r.quantile(0.9, dim=0).tolist(),
            "dead": 1 - alive.float().mean().item(),
            "var log": r[alive, -1].log().var().item(),
            "var log predicted": 5 * r.shape[1] / width,
        }
    shifted = {c: mean_shifted_net(c) for c in (0, 0.25, 0.5, 1)}
    return {"narrow": narrow, "mean shifted": shifted}


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.4))
    for width, r in results["narrow"].items():
        layers = range(1, len(r["median"]) + 1)
        (line,) = top.plot(layers, r["median"], label=f"n = {width}")
        top.fill_between(
            layers, r["q10"], r["q90"], color=line.get_color(), alpha=0.15
        )
        top.plot(layers, r["mean"], ":", color=line.get_color())
    top.plot([], [], "k-", label="median")
    top.plot([], [], "k:", label="mean")
    top.set_yscale("log")
    top.set_ylim(1e-6, 1e4)
    top.set_xlabel("layer l")
    top.set_ylabel("measured / He's")
    top.set_title("Narrow layers, 600 nets (10-90%)")
    top.legend(loc="upper right", ncol=2, handlelength=1.2, columnspacing=0.8)

    styles = ["-", "--", "-.", ":"]
    for (c, (moments, _)), ls in zip(results["mean shifted"].items(), styles):
        layers = range(1, len(moments) + 1)
        bottom.plot(layers, moments, ls, lw=2, label=f"mean {c}/n")
    bottom.set_yscale("log")
    bottom.set_xlabel("layer l")
    bottom.set_ylabel(r"$\mathbb{E}[(z^{(l)})^2]$")
    bottom.set_title(r"Weights $\mathcal{N}$(mean, 2/n), n = 64")
    bottom.legend(loc="upper left")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for width, r in results["narrow"].items():
        print(
            f"width {width:3d}: after {len(r['median'])} layers, mean "
            f"{r['mean'][-1]:.3g}, median {r['median'][-1]:.3g}, 10%-90% "
            f"{r['q10'][-1]:.3g}-{r['q90'][-1]:.3g}, all units dead in "
            f"{r['dead']:.1%} of nets; Var(log) {r['var log']:.3g} "
            f"(5L/n = {r['var log predicted']:.3g})"
        )
    for c, (moments, cosine) in results["mean shifted"].items():
        print(
            f"weight mean {c}/n: E[z^2] layer 1 {moments[0]:.3g}, "
            f"layer {len(moments)} {moments[-1]:.3g}; mean cosine {cosine:.3f}"
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
