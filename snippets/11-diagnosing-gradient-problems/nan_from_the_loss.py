"""A NaN that is not an explosion: log(0) in a hand-written loss.

nn.LSTM (32 units) reads sequences of 16 steps; a linear classifier on its last
output and nn.Sigmoid give p, and the loss is binary cross-entropy written by
hand, -(y log p + (1 - y) log(1 - p)). The classifier's bias starts at 20
(the injected fault): p rounds to exactly 1 in float32, and the loss is NaN at
step 0. gradient_monitor.GradientMonitor finds every module output finite and
the first non-finite gradient entering at the sigmoid's output: the NaN comes
from the loss. Clamping p, the usual patch, removes the NaN and the gradient
with it: the loss never moves. The fix is the logit: nn.BCEWithLogitsLoss on
the classifier's output, whose gradient is sigmoid(z) - y, trains.

Run: python snippets/11-diagnosing-gradient-problems/nan_from_the_loss.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from gradient_monitor import GradientMonitor
from torch import nn

SEEDS = (0, 1, 2)


class LastStep(nn.Module):
    """nn.LSTM returns (output, (h_n, c_n)): keep the output's last time step."""

    def forward(self, out):
        return out[0][:, -1]


def make_task(g, n=64, length=16, features=4):
    """Label 1 when the first feature's last four values sum above 0."""
    x = torch.randn(n, length, features, generator=g)
    return x, (x[:, -4:, 0].sum(1, keepdim=True) > 0).float()


def lstm(g, logit, features=4, hidden=32):
    """nn.LSTM, its last output, a linear classifier (and nn.Sigmoid)."""
    model = nn.Sequential()  # named layers, for the monitor's messages
    model.add_module("lstm", nn.LSTM(features, hidden, batch_first=True))
    model.add_module("last", LastStep())
    model.add_module("classifier", nn.Linear(hidden, 1))
    if not logit:
        model.add_module("sigmoid", nn.Sigmoid())
    bound = 1 / math.sqrt(hidden)  # PyTorch's defaults, drawn from g
    for p in model.lstm.parameters():
        nn.init.uniform_(p, -bound, bound, generator=g)
    nn.init.kaiming_uniform_(
        model.classifier.weight, a=math.sqrt(5), generator=g
    )
    nn.init.constant_(
        model.classifier.bias, 20.0
    )  # the fault: sigmoid(20) == 1
    return model


# --8<-- [start:core]
def bce_by_hand(p, y):  # log(0) as soon as p rounds to exactly 0 or 1
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def bce_clamped(p, y):  # the usual patch: no NaN, and no gradient either
    return bce_by_hand(p.clamp(1e-7, 1 - 1e-7), y)


LOSSES = {  # name: (loss function, whether the model ends at the logit)
    "by hand": (bce_by_hand, False),
    "clamped": (bce_clamped, False),
    "logit": (nn.BCEWithLogitsLoss(), True),
}
# --8<-- [end:core]


def train(name, seed, steps=100, lr=0.2):
    loss_fn, logit = LOSSES[name]
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    model = lstm(g, logit)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    with GradientMonitor(model, optimizer, every=10) as monitor:
        for _ in range(steps):
            loss = loss_fn(model(x), y)
            losses.append(loss.item())
            optimizer.zero_grad()
            loss.backward()
            if not torch.isfinite(loss):
                monitor.step(loss)
                break  # the guard: no update from a NaN
            optimizer.step()
            monitor.step(loss)
    first = monitor.history[0]
    return {
        "losses": losses,
        "first non-finite": first.nonfinite,
        "findings at step 0": monitor.findings(first),
        "gradient norms at step 0": first.grad_norm,
        "output statistics at step 0": first.activations,
    }


def experiment():
    return {(name, s): train(name, s) for name in LOSSES for s in SEEDS}


def plot(results):
    fig, ax = plt.subplots()
    for i, name in enumerate(LOSSES):
        for s in SEEDS:
            losses = results[name, s]["losses"]
            finite = [v for v in losses if math.isfinite(v)]
            label = name if s == SEEDS[0] and finite else None
            ax.plot(range(len(finite)), finite, color=f"C{i}", label=label)
            if len(finite) < len(losses):  # NaN: a cross on the top edge
                nan = dict(color=f"C{i}", ms=10, mew=2, clip_on=False)
                ax.plot(len(finite), 100, "x", **nan)
    ax.plot([], [], "x", color="C0", ms=10, mew=2, label="by hand: NaN")
    ax.set_yscale("log")
    ax.set_ylim(0.1, 100)
    ax.set_xlabel("SGD step")
    ax.set_ylabel("loss (log scale)")
    ax.legend(loc="upper right", ncol=2, columnspacing=0.8, handlelength=1.2)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for (name, s), r in results.items():
        losses = r["losses"]
        print(f"{name}, seed {s}: loss {losses[0]:.4g} -> {losses[-1]:.4g}")
        if r["first non-finite"]:
            print(f"  {r['first non-finite']}")
        for finding in r["findings at step 0"]:
            print(f"  finding: {finding}")
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
