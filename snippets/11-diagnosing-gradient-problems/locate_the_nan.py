"""Where the NaN comes from: the monitor names the module, detect_anomaly the loss.

The transformer of nan_at_high_lr.py, at learning rate 2, three seeds. A guard
checks the loss and the gradient norm before every update and stops at the first
non-finite one; the weights are then still finite. Replaying that step with
gradient_monitor.GradientMonitor's hooks on names the module whose output is
the first non-finite value, in forward order (or, when the forward pass was
finite, where the first non-finite gradient appeared). The same replay under
torch.autograd.detect_anomaly() names the first backward function that
returned NaN: the loss's LogSoftmaxBackward0, far from where the NaN was born.
The figure is the monitor's per-layer profile at the steps it sampled.

Run: python snippets/11-diagnosing-gradient-problems/locate_the_nan.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from gradient_monitor import GradientMonitor
from torch import nn

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
def train_until_nonfinite(model, x, y, monitor, optimizer, steps=30):
    for step in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        norm = nn.utils.get_total_norm([p.grad for p in model.parameters()])
        if not (torch.isfinite(loss) and torch.isfinite(norm)):
            return step, "loss" if not torch.isfinite(loss) else "gradients"
        optimizer.step()  # only finite updates: the guard
        monitor.step(loss)


def replay(model, x, y, monitor, optimizer):
    monitor.sample_next()  # the same batch, the same weights, hooks on
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    return monitor.step().nonfinite


# --8<-- [end:core]


def anomaly(model, x, y):
    """The same step under detect_anomaly: the error names a backward function."""
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # its warning prints the forward traceback
        try:
            with torch.autograd.detect_anomaly():
                nn.functional.cross_entropy(model(x), y).backward()
        except RuntimeError as error:
            return str(error)
    return None


def run(seed, lr=2.0):
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    model = transformer(g)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    with GradientMonitor(model, optimizer, every=2) as monitor:
        step, where = train_until_nonfinite(model, x, y, monitor, optimizer)
        weights_finite = all(
            torch.isfinite(p).all() for p in model.parameters()
        )
        event = replay(model, x, y, monitor, optimizer)
    return {
        "first non-finite step": step,
        "seen first in": where,
        "weights finite": weights_finite,
        "monitor": event,
        "detect_anomaly": anomaly(model, x, y),
        "profiles": {r.step: r.activations for r in monitor.history},
    }


def experiment():
    return {seed: run(seed) for seed in SEEDS}


def short(name):
    """'1.layers.0.self_attn' -> 'L1 self_attn'; the input projection and head."""
    if name.startswith("1.layers."):
        _, _, i, rest = name.split(".", 3)
        return f"L{int(i) + 1} {rest}"
    return {"0": "input", "3": "classifier"}.get(name, name)


def plot(results):
    r = results[SEEDS[0]]
    kinds = (
        nn.Linear,
        nn.MultiheadAttention,
        nn.LayerNorm,
    )  # rows: these layers
    model = transformer(torch.Generator().manual_seed(0))
    names = [n for n, m in model.named_modules() if isinstance(m, kinds)]
    order = [n for n in r["profiles"][0] if n in names]
    fig, ax = plt.subplots(figsize=(4.2, 5.6))
    steps = sorted(r["profiles"])
    cmap = plt.get_cmap("viridis")
    for i, step in enumerate(steps):
        stats = r["profiles"][step]
        std = [stats[n]["std"] if n in stats else math.nan for n in order]
        shown = [v if 0 < v < math.inf else math.nan for v in std]
        label = f"step {step}" + (" (replayed)" if step == steps[-1] else "")
        color = cmap(i / max(1, len(steps) - 1))
        ax.plot(shown, range(len(order)), "o-", color=color, label=label, ms=4)
    bad = r["monitor"].where
    if bad in order:
        y = order.index(bad)
        ax.plot(1e20, y, "x", color="C3", ms=12, mew=3, clip_on=False)
        ax.annotate("NaN", (1e20, y), (6, -18), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlim(1e-2, 1e20)
    ax.set_yticks(range(len(order)), [short(n) for n in order])
    ax.invert_yaxis()
    ax.set_xlabel("output std (log scale)")
    fig.legend(loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for seed, r in results.items():
        print(
            f"seed {seed}: first non-finite {r['seen first in']} at step "
            f"{r['first non-finite step']}, weights finite: {r['weights finite']}"
        )
        print(f"  monitor: {r['monitor']}")
        print(f"  detect_anomaly: {r['detect_anomaly']}")
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
