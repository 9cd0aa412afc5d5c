"""Clipping can hide a bug: an input left in raw units.

The chapter's 10-layer ReLU MLP at learning rate 0.15, the rate at which it
trains without clipping, on the same task, except that one input column is
100 times larger than the others (a quantity left in raw units next to
standardized ones). Without clipping, the loss is NaN within a few steps.
With clip_grad_norm_(max_norm=1.0) it no longer diverges, but it limps: the
loss stays close to that of a constant prediction, with clipping active on
most of the steps, and the gradient norm at the first step is tens of times
what it is with standardized inputs. Standardizing the inputs fixes it: the
same network trains, without clipping.

Run: python snippets/06-gradient-clipping/clipping_hides_a_bug.py [OUT_DIR]
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


def train(model, x, y, lr, max_norm=math.inf, steps=150):
    """Full-batch SGD; logs the loss and the gradient norm before clipping."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses, norms = [], []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        opt.step()
        losses.append(loss.item())
        norms.append(norm.item())
        if not math.isfinite(loss.item()):
            break
    return losses, norms


# --8<-- [start:core]
def raw_units(x, column=0, factor=100.0):
    """The bug: one input left in raw units, 100 times the others."""
    x = x.clone()
    x[:, column] *= factor
    return x


def standardize(x):
    """The fix: every input column to mean 0 and standard deviation 1."""
    return (x - x.mean(0)) / x.std(0)


RUNS = {  # label: (inputs, max_norm), all at the learning rate 0.15
    "bug, no clipping": (raw_units, math.inf),
    "bug, max_norm = 1": (raw_units, 1.0),
    "fixed, no clipping": (lambda x: standardize(raw_units(x)), math.inf),
}


# --8<-- [end:core]


def experiment(seeds=range(3), lr=0.15, steps=150):
    results = {label: {"losses": [], "norms": []} for label in RUNS}
    constant = []
    for seed in seeds:
        for label, (inputs, max_norm) in RUNS.items():
            g = torch.Generator().manual_seed(seed)
            x, y = make_task(g)
            model, x = make_net(g), inputs(x)
            losses, norms = train(model, x, y, lr, max_norm, steps)
            results[label]["losses"].append(losses)
            results[label]["norms"].append(norms)
        p = y.float().mean().item()  # the loss of predicting p for every input
        constant.append(-p * math.log(p) - (1 - p) * math.log(1 - p))
    results["constant loss"] = constant
    results["settings"] = dict(seeds=list(seeds), lr=lr, steps=steps)
    return results


def plot(results, ceiling=1e3):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.4), sharex=True)
    for i, label in enumerate(RUNS):
        color = f"C{i + 3}"
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
        (4, ceiling),
        xytext=(8, -4),
        ha="left",
        va="top",
        textcoords="offset points",
        color="C3",
    )
    bottom.axhline(1.0, color="grey", ls="--", lw=1)
    top.set_ylim(1e-4, ceiling)
    bottom.set_ylim(1e-3, ceiling)
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
    for label, (_, max_norm) in RUNS.items():
        print(f"{label}: loss at the first and the last step, steps clipped")
        for losses, norms in zip(
            results[label]["losses"], results[label]["norms"]
        ):
            clipped = sum(n > max_norm for n in norms)
            print(
                f"  {losses[0]:.3g} -> {losses[-1]:.3g} after "
                f"{len(losses)} steps, first norm {norms[0]:.3g}, "
                f"clipped {clipped}"
            )
    print(
        "loss of a constant prediction: "
        + ", ".join(f"{v:.3f}" for v in results["constant loss"])
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
