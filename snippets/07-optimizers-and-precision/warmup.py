"""Without warmup, Adam's first step blows this network up; with it, it trains.

A 10-hidden-layer ReLU MLP with He init (a good init), Adam at learning rate
0.05 with cosine decay, five seeds, the same regression task as the chapter's
other snippets. Adam's first step has no history: its bias-corrected moments
are m = g and v = g^2, so it moves every weight by lr * g / (|g| + eps), the
full learning rate for every gradient well above eps, all at once. Here that
first step multiplies the loss by more than a thousand in every seed and the
runs end near the loss of a constant prediction. A linear warmup
(LinearLR, then the cosine, chained with SequentialLR) makes the first step
100 times smaller, and every seed trains. The three schedules of source
post 5 (ExponentialLR, CosineAnnealingLR, ReduceLROnPlateau) all start at the
full rate: their first step, and the loss after it, are those of the run
without warmup, bit for bit.

Run: python snippets/07-optimizers-and-precision/warmup.py [OUT_DIR]
"""

import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.optim import lr_scheduler


def make_task(g, n=64, dim=16):
    """Targets from a random two-layer teacher, scaled to unit variance."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, 1, generator=g)
    t = torch.tanh(x @ w1) @ w2
    return x, (t - t.mean()) / t.std()


def make_mlp(g, depth=10, width=64, dim=16):
    """He init (chapter 3), zero biases."""
    sizes = [dim] + [width] * depth + [1]
    layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    for layer in layers:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=g)
        nn.init.zeros_(layer.bias)
    blocks = [m for layer in layers[:-1] for m in (layer, nn.ReLU())]
    return nn.Sequential(*blocks, layers[-1])


# --8<-- [start:core]
def schedule(optimizer, steps, warmup=0):
    """Cosine decay to zero, after `warmup` steps of linear warmup."""
    if not warmup:
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    ramp = lr_scheduler.LinearLR(
        optimizer, start_factor=0.01, total_iters=warmup
    )  # lr/100, rising linearly to lr at step `warmup`
    decay = lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps - warmup)
    return lr_scheduler.SequentialLR(
        optimizer, [ramp, decay], milestones=[warmup]
    )


# --8<-- [end:core]

POST_5 = {  # the three schedules of source post 5, with its settings
    "ExponentialLR": lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0.95),
    "CosineAnnealingLR": lambda opt: lr_scheduler.CosineAnnealingLR(
        opt, T_max=100, eta_min=1e-6
    ),
    "ReduceLROnPlateau": lambda opt: lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=0.1, patience=10
    ),
}


def train(seed, make_scheduler, steps, lr=0.05):
    """The usual loop, recording the loss and the mean |change| per weight."""
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    model = make_mlp(g)
    params = list(model.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    scheduler = make_scheduler(optimizer)
    losses, moved, lrs = [], [], []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        before = torch.cat([p.detach().flatten() for p in params])
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # first the optimizer ...
        if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
            scheduler.step(loss.item())  # ... then the schedule
        else:
            scheduler.step()
        after = torch.cat([p.detach().flatten() for p in params])
        losses.append(loss.item())
        moved.append((after - before).abs().mean().item())
    return {"losses": losses, "mean |step|": moved, "lr": lrs}


def experiment(seeds=range(5), steps=100, warmup=40):
    runs = {
        "no warmup": [
            train(s, lambda opt: schedule(opt, steps), steps) for s in seeds
        ],
        f"warmup {warmup}": [
            train(s, lambda opt: schedule(opt, steps, warmup), steps)
            for s in seeds
        ],
    }
    # the post's schedules: two steps are enough to compare the first one
    post_5 = {
        name: [train(s, make, 2)["losses"] for s in seeds]
        for name, make in POST_5.items()
    }
    constant = []
    for seed in seeds:
        _, y = make_task(torch.Generator().manual_seed(seed))
        constant.append(((y - y.mean()) ** 2).mean().item())
    return {
        "runs": runs,
        "post 5": post_5,
        "constant prediction": constant,
        "settings": dict(steps=steps, warmup=warmup, lr=0.05),
    }


def plot(r):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.6), sharex=True)
    for i, (name, runs) in enumerate(r["runs"].items()):
        for k, run in enumerate(runs):
            label = name if k == 0 else None
            top.plot(run["losses"], color=f"C{i}", lw=1.2, label=label)
        steps = len(runs[0]["mean |step|"])
        median = [
            sorted(run["mean |step|"][t] for run in runs)[len(runs) // 2]
            for t in range(steps)
        ]
        bottom.plot(median, color=f"C{i}", lw=1.5, label=name)
    top.set_yscale("log")
    top.set_ylabel("training loss (MSE)")
    top.set_title("Adam, lr 0.05, cosine decay")
    top.legend(loc="lower left")
    bottom.set_yscale("log")
    bottom.set_xlabel("step")
    bottom.set_ylabel("mean |step| per weight")
    bottom.set_title("How far each step moves (median)")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for name, runs in r["runs"].items():
        for seed, run in enumerate(runs):
            losses = run["losses"]
            print(
                f"{name:10s} seed {seed}: loss {losses[0]:.3g}, after the "
                f"first step {losses[1]:.3g}, max {max(losses):.3g}, "
                f"end {losses[-1]:.3g}; first step {run['mean |step|'][0]:.2g}"
            )
    base = [run["losses"][1] for run in r["runs"]["no warmup"]]
    for name, runs in r["post 5"].items():
        same = all(run[1] == b for run, b in zip(runs, base))
        print(f"{name}: loss after the first step as without warmup: {same}")
    save(plot(r), out_dir / f"{Path(__file__).stem}.svg")
    return r


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
