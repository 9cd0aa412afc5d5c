"""Choosing max_norm: log the norms first, then check how often it clips.

The chapter's 10-layer ReLU MLP at learning rate 1.5, trained with
clip_grad_norm_ at thresholds from 0.01 to infinity, three seeds each. Too
high a threshold lets the spikes through (the run collapses to a constant
prediction, or its loss becomes NaN); from 0.1 to 1 every run converges;
far below the typical norm, every step is clipped and SGD becomes normalized
gradient descent: each update has length lr * max_norm, whatever the
gradient, and training crawls. The norms logged in a stable warm-up window
(the first 30 steps at learning rate 0.15, no clipping) have a median in
the range that works.

Run: python snippets/06-gradient-clipping/choosing_the_threshold.py [OUT_DIR]
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


def flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def train(model, x, y, lr, max_norm, steps, measure_steps=False):
    """Full-batch SGD with clipping; the loss and the norm before clipping at
    every step, and if asked the length of every update."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses, norms, lengths = [], [], []
    for _ in range(steps):
        before = flat(model) if measure_steps else None
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        norms.append(nn.utils.clip_grad_norm_(model.parameters(), max_norm))
        opt.step()
        losses.append(loss.item())
        if measure_steps:
            lengths.append((flat(model) - before).norm().item())
        if not math.isfinite(loss.item()):
            break
    return losses, [n.item() for n in norms], lengths


# --8<-- [start:core]
def warm_up_norms(model, x, y, lr=0.15, steps=30):
    """Log the norms of a stable warm-up: clip_grad_norm_ with max_norm =
    inf measures without clipping. A quantile of them is a threshold."""
    _, norms, _ = train(model, x, y, lr, math.inf, steps)
    return torch.tensor(norms)


def clipped_fraction(norms, max_norm):
    """How often clipping acted: near 1, max_norm has become the step size
    (each update has length lr * max_norm), not a guard against spikes."""
    return sum(n > max_norm for n in norms) / len(norms)


# --8<-- [end:core]

THRESHOLDS = (0.01, 0.1, 1.0, 3.0, math.inf)


def alive_units(model, x):
    """Units of the last hidden layer that some input activates."""
    with torch.no_grad():
        h = model[:-1](x)  # everything but the head
    return int((h > 0).any(0).sum())


def experiment(seeds=range(3), lr=1.5, steps=100):
    runs = {t: [] for t in THRESHOLDS}
    warm_up, constant = [], []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        x, y = make_task(g)
        model = make_net(g)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        norms = warm_up_norms(model, x, y)  # from the same start
        warm_up.append({q: norms.quantile(q).item() for q in (0.5, 0.9)})
        p = y.float().mean().item()  # the loss of predicting p for every input
        constant.append(-p * math.log(p) - (1 - p) * math.log(1 - p))
        for max_norm in THRESHOLDS:
            model.load_state_dict(state)
            losses, norms, lengths = train(
                model, x, y, lr, max_norm, steps, max_norm == THRESHOLDS[0]
            )
            runs[max_norm].append(
                {
                    "losses": losses,
                    "clipped": clipped_fraction(norms, max_norm),
                    "lengths": lengths,
                    "norms": norms,
                    "alive units": alive_units(model, x),
                }
            )
    return {
        "runs": runs,
        "warm-up medians": [w[0.5] for w in warm_up],
        "warm-up 90th percentiles": [w[0.9] for w in warm_up],
        "lr": lr,
        "steps": steps,
        "seeds": list(seeds),
        "constant loss": constant,
    }


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 5.6), sharex=True)
    where = {t: (t if math.isfinite(t) else 30.0) for t in THRESHOLDS}
    nan = 3.0  # where a NaN loss is drawn
    for t, runs in results["runs"].items():
        for k, run in enumerate(runs):
            last = run["losses"][-1]
            x = where[t] * 1.12 ** (k - 1)  # the seeds side by side
            top.plot(
                x,
                last if math.isfinite(last) else nan,
                "o" if math.isfinite(last) else "x",
                color="C0",
                ms=7,
            )
            bottom.plot(x, run["clipped"], "o", color="C1", ms=7)
    medians = results["warm-up medians"]
    for ax in (top, bottom):
        ax.axvspan(min(medians), max(medians), color="C2", alpha=0.3, lw=0)
        ax.grid(True, alpha=0.3)
    bottom.annotate(
        "warm-up\nmedian",
        (max(medians), 0.62),
        xytext=(5, 0),
        textcoords="offset points",
        va="center",
        color="C2",
    )
    top.annotate(
        "NaN",
        (30.0 / 1.12, nan),
        xytext=(-8, 0),
        ha="right",
        textcoords="offset points",
        va="center",
        color="C0",
    )
    top.set_xscale("log")
    top.set_yscale("log")
    top.set_ylim(1e-5, 10)
    top.set_ylabel(f"loss after {results['steps']} steps")
    bottom.set_ylabel("fraction of steps clipped")
    bottom.set_ylim(-0.05, 1.05)
    ticks = [where[t] for t in THRESHOLDS]
    bottom.set_xticks(
        ticks, [f"{t:g}" if math.isfinite(t) else "∞" for t in THRESHOLDS]
    )
    bottom.minorticks_off()
    bottom.set_xlabel("max_norm")
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    medians = results["warm-up medians"]
    print(
        "warm-up median norm per seed: "
        + ", ".join(f"{m:.3g}" for m in medians)
        + "; 90th percentile: "
        + ", ".join(f"{m:.3g}" for m in results["warm-up 90th percentiles"])
    )
    print(f"learning rate {results['lr']}, {results['steps']} steps:")
    for t, runs in results["runs"].items():
        print(
            f"  max_norm {t:g}: last loss "
            + ", ".join(f"{r['losses'][-1]:.3g}" for r in runs)
            + "; clipped "
            + ", ".join(f"{r['clipped']:.0%}" for r in runs)
            + "; alive units in the last layer "
            + ", ".join(str(r["alive units"]) for r in runs)
        )
    every = results["runs"][THRESHOLDS[0]]
    step = results["lr"] * THRESHOLDS[0]
    worst = max(abs(v / step - 1) for r in every for v in r["lengths"])
    print(
        f"max_norm {THRESHOLDS[0]}: every update has length "
        f"lr * max_norm = {step:g} to within {worst:.1e}"
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
