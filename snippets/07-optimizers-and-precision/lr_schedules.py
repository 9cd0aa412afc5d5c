"""Four learning-rate schedules, used the way PyTorch expects.

A linear model fitted by full-batch SGD (learning rate 0.1), 100 epochs,
under the three schedules of source post 5 with its settings
(ExponentialLR with gamma 0.95, CosineAnnealingLR with T_max 100 and eta_min
1e-6, ReduceLROnPlateau with factor 0.1 and patience 10) and a warmup
(LinearLR for 10 epochs, then cosine, chained by SequentialLR). Every epoch
calls optimizer.step() first and scheduler.step() after it;
ReduceLROnPlateau is given the validation loss it monitors. The figure is the
learning rate each epoch's optimizer step used: a schedule sets the step size
and nothing else.

Run: python snippets/07-optimizers-and-precision/lr_schedules.py [OUT_DIR]
"""

import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.optim import lr_scheduler

SCHEDULES = {
    "ExponentialLR": lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0.95),
    "CosineAnnealingLR": lambda opt: lr_scheduler.CosineAnnealingLR(
        opt, T_max=100, eta_min=1e-6
    ),
    "warmup + cosine": lambda opt: lr_scheduler.SequentialLR(
        opt,
        [
            lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=10),
            lr_scheduler.CosineAnnealingLR(opt, T_max=90),
        ],
        milestones=[10],
    ),
    "ReduceLROnPlateau": lambda opt: lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=0.1, patience=10
    ),
}


def make_data(g, n=128, n_val=64, dim=8, noise=0.5):
    x = torch.randn(n + n_val, dim, generator=g)
    w = torch.randn(dim, 1, generator=g)
    y = x @ w + noise * torch.randn(n + n_val, 1, generator=g)
    return (x[:n], y[:n]), (x[n:], y[n:])


@torch.no_grad()
def evaluate(model, x, y):
    return nn.functional.mse_loss(model(x), y).item()


# --8<-- [start:core]
def fit(model, data, optimizer, scheduler, epochs=100):
    (x, y), (x_val, y_val) = data
    lrs, val_losses = [], []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])  # the rate of this epoch
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()  # first the optimizer ...
        val_loss = evaluate(model, x_val, y_val)
        if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_loss)  # ... then the schedule, given its metric
        else:
            scheduler.step()
        val_losses.append(val_loss)
    return lrs, val_losses


# --8<-- [end:core]


def experiment(seed=0, lr=0.1, epochs=100):
    results = {}
    for name, make in SCHEDULES.items():
        g = torch.Generator().manual_seed(seed)  # same data and model for all
        data = make_data(g)
        model = nn.Linear(data[0][0].shape[1], 1)
        nn.init.normal_(model.weight, std=0.1, generator=g)
        nn.init.zeros_(model.bias)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        lrs, val_losses = fit(model, data, optimizer, make(optimizer), epochs)
        results[name] = {"lr": lrs, "validation loss": val_losses}
    return {"schedules": results, "lr": lr, "epochs": epochs}


def plot(r):
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    styles = ["-", "--", "-", ":"]
    for i, (name, s) in enumerate(r["schedules"].items()):
        ax.plot(s["lr"], styles[i], color=f"C{i}", lw=2, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.grid(True, alpha=0.3)
    fig.legend(
        *ax.get_legend_handles_labels(),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=1,
        handlelength=2,
    )
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for name, s in r["schedules"].items():
        lrs = s["lr"]
        print(
            f"{name:18s} lr at epochs 0, 1, 10, 50, 99: "
            + ", ".join(f"{lrs[e]:.3g}" for e in (0, 1, 10, 50, 99))
            + f"; final validation loss {s['validation loss'][-1]:.4f}"
        )
    plateau = r["schedules"]["ReduceLROnPlateau"]["lr"]
    drops = [e for e in range(1, len(plateau)) if plateau[e] < plateau[e - 1]]
    print(f"ReduceLROnPlateau lowered the rate from epochs {drops} on")
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
