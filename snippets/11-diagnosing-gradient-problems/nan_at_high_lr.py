"""A learning rate too high: the loss is NaN after a few steps, and the
update-to-data ratio said so from the first one.

nn.TransformerEncoder (two layers of width 64) between an input projection and
a linear classifier learns a small four-class task with torch.optim.SGD, three
seeds, at learning rate 2 and at 0.02. At 2 the loss turns NaN within ten
steps. gradient_monitor.GradientMonitor, sampling every other step, records
||update|| / ||weight|| for every weight: at learning rate 2 its median is about
a hundred times Karpathy's reference of 1e-3 from step 0 on; at 0.02 it is
about 1e-3, and the loss falls.

Run: python snippets/11-diagnosing-gradient-problems/nan_at_high_lr.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from gradient_monitor import UPDATE_RATIO_REFERENCE, GradientMonitor
from torch import nn

LEARNING_RATES = (2.0, 0.02)
SEEDS = (0, 1, 2)


def make_task(g, n=32, length=16, features=16, classes=4):
    """Sequences labelled by a random linear teacher: learnable."""
    x = torch.randn(n, length, features, generator=g)
    w = torch.randn(length * features, classes, generator=g)
    return x, (x.flatten(1) @ w).argmax(1)


def reset(model, g):
    """PyTorch's default initialization, drawn from the generator g."""
    for m in model.modules():
        if isinstance(m, nn.Linear):  # nn.Linear.reset_parameters
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
            bound = 1 / math.sqrt(m.weight.shape[1])
            nn.init.uniform_(m.bias, -bound, bound, generator=g)
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):  # its _reset_parameters
            nn.init.xavier_uniform_(m.in_proj_weight, generator=g)
            nn.init.zeros_(m.in_proj_bias)
            nn.init.zeros_(m.out_proj.bias)


def transformer(g, d=64, length=16, features=16, classes=4, layers=2):
    """nn.TransformerEncoder between an input projection and a classifier."""
    layer = nn.TransformerEncoderLayer(
        d, nhead=4, dim_feedforward=2 * d, dropout=0.0, batch_first=True
    )
    encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
    model = nn.Sequential(
        nn.Linear(features, d),
        encoder,
        nn.Flatten(),
        nn.Linear(length * d, classes),
    )
    reset(model, g)
    return model


# --8<-- [start:core]
def fit(model, x, y, optimizer, steps=30):
    losses = []
    with GradientMonitor(model, optimizer, every=2) as monitor:
        for _ in range(steps):
            loss = nn.functional.cross_entropy(model(x), y)
            losses.append(loss.item())
            if not torch.isfinite(loss):  # the guard: no update from a NaN
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            monitor.step(loss)  # after the update; samples every other step
    return losses, monitor.history


# --8<-- [end:core]


def median(values):
    return sorted(values)[len(values) // 2]


def train(lr, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    model = transformer(g)
    losses, history = fit(
        model, x, y, torch.optim.SGD(model.parameters(), lr=lr)
    )
    ratios = {r.step: median(r.update_ratio.values()) for r in history}
    return {"losses": losses, "median update ratio": ratios}


def experiment():
    return {(lr, s): train(lr, s) for lr in LEARNING_RATES for s in SEEDS}


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 5.6), sharex=True)
    for i, lr in enumerate(LEARNING_RATES):
        color = f"C{i}"
        for s in SEEDS:
            losses = results[lr, s]["losses"]
            finite = [v for v in losses if math.isfinite(v)]
            label = f"lr {lr:g}" if s == SEEDS[0] else None
            top.plot(range(len(finite)), finite, color=color, label=label)
            if len(finite) < len(
                losses
            ):  # the first NaN: a cross on the top edge
                top.plot(
                    len(finite),
                    100,
                    "x",
                    color=color,
                    ms=9,
                    mew=2,
                    clip_on=False,
                )
            steps, ratios = zip(*results[lr, s]["median update ratio"].items())
            shown = [v if 0 < v < math.inf else math.nan for v in ratios]
            bottom.plot(steps, shown, "o-", color=color, ms=3)
    top.plot([], [], "x", color="C0", ms=9, mew=2, label="NaN")
    top.set_yscale("log")
    top.set_ylim(1e-2, 100)
    top.set_ylabel("loss (log scale)")
    top.legend(loc="upper right")
    bottom.axhline(UPDATE_RATIO_REFERENCE, color="grey", ls="--")
    bottom.text(
        29, UPDATE_RATIO_REFERENCE * 1.5, "1e-3", ha="right", color="grey"
    )
    bottom.set_yscale("log")
    bottom.set_ylabel("update / weight\n(median, log scale)")
    bottom.set_xlabel("SGD step")
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for (lr, s), r in results.items():
        losses, ratios = r["losses"], r["median update ratio"]
        print(
            f"lr {lr:g} seed {s}: {len(losses)} losses, first {losses[0]:.3f}, "
            f"last {losses[-1]:.4g}; median update ratio at step 0 {ratios[0]:.2e}"
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
