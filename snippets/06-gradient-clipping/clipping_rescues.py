"""Clipping by global norm rescues a run whose learning rate is too large.

A 10-layer ReLU MLP (width 32, He init) learns a small two-class task with
full-batch SGD at learning rate 1.5. Without clipping, the gradient norm grows
by orders of magnitude within a few steps and the loss becomes NaN, in every
seed. With clip_grad_norm_(max_norm=1.0), the same runs converge: clipping
acts on a minority of the steps, the spikes of the gradient norm, and leaves
the others alone. A ten times smaller learning rate (0.15) trains without
clipping, and ends higher than the clipped runs at 1.5.

Run: python snippets/06-gradient-clipping/clipping_rescues.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn


def make_task(g, n=128, dim=16):
    """Labels from a random two-layer teacher: learnable, but not linear."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1) @ w2 > 0).long()
    return x, y


def make_net(g, depth=10, width=32, dim=16):
    """depth ReLU layers of `width` units (He init, zero biases), 2 logits."""
    layers, fan_in = [], dim
    for _ in range(depth):
        linear = nn.Linear(fan_in, width)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu", generator=g)
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.ReLU()]
        fan_in = width
    head = nn.Linear(width, 2)
    nn.init.kaiming_normal_(head.weight, nonlinearity="linear", generator=g)
    nn.init.zeros_(head.bias)
    return nn.Sequential(*layers, head)


# --8<-- [start:core]
def train(model, x, y, lr, max_norm=math.inf, steps=150):
    """Full-batch SGD; logs the loss and the gradient norm before clipping."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses, norms = [], []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()  # clip after backward, before the step:
        norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        opt.step()
        losses.append(loss.item())
        norms.append(norm.item())  # max_norm = inf: logs, never clips
        if not math.isfinite(loss.item()):
            break  # NaN or inf: nothing sensible can follow
    return losses, norms


# --8<-- [end:core]

RUNS = {  # label: (learning rate, max_norm)
    "lr 1.5, no clipping": (1.5, math.inf),
    "lr 1.5, max_norm = 1": (1.5, 1.0),
    "lr 0.15, no clipping": (0.15, math.inf),
}


def experiment(seeds=range(3), steps=150):
    """Every run of every seed starts from the same task and weights."""
    results = {label: {"losses": [], "norms": []} for label in RUNS}
    for seed in seeds:
        for label, (lr, max_norm) in RUNS.items():
            g = torch.Generator().manual_seed(seed)
            x, y = make_task(g)
            losses, norms = train(make_net(g), x, y, lr, max_norm, steps)
            results[label]["losses"].append(losses)
            results[label]["norms"].append(norms)
    results["settings"] = dict(seeds=list(seeds), steps=steps, points=len(y))
    return results


def plot(results, ceiling=1e3):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.4), sharex=True)
    for i, label in enumerate(RUNS):
        color = f"C{i}"
        runs = zip(results[label]["losses"], results[label]["norms"])
        for k, (losses, norms) in enumerate(runs):
            n = sum(map(math.isfinite, losses))  # steps before the NaN
            name = label if k == 0 else None
            top.plot(losses[:n], color=color, lw=1, label=name)
            bottom.plot(norms[:n], color=color, lw=1)
            if n < len(losses):  # off the scale, then NaN: a cross on top
                for ax in (top, bottom):
                    ax.plot(n, ceiling, "x", color=color, ms=8, clip_on=False)
    top.annotate(
        "NaN",
        (6, ceiling),
        xytext=(8, -4),
        ha="left",
        va="top",
        textcoords="offset points",
        color="C0",
    )
    bottom.axhline(1.0, color="grey", ls="--", lw=1)
    bottom.annotate(
        "max_norm",
        (results["settings"]["steps"], 1.0),
        xytext=(0, 3),
        textcoords="offset points",
        ha="right",
        va="bottom",
        color="grey",
    )
    top.set_ylim(1e-5, ceiling)
    bottom.set_ylim(1e-4, ceiling)
    for ax in (top, bottom):
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    top.set_ylabel("training loss")
    bottom.set_ylabel("gradient norm")
    bottom.set_xlabel("SGD step")
    fig.legend(loc="upper center", ncol=1, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.86))
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for label in RUNS:
        print(f"{label}: loss at the first and the last step, steps clipped")
        runs = zip(results[label]["losses"], results[label]["norms"])
        max_norm = RUNS[label][1]
        for losses, norms in runs:
            clipped = sum(n > max_norm for n in norms)
            nan = "" if math.isfinite(losses[-1]) else " (NaN)"
            print(
                f"  {losses[0]:.3g} -> {losses[-1]:.3g}{nan} after "
                f"{len(losses)} steps, max norm {max(norms):.3g}, "
                f"clipped {clipped}"
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
