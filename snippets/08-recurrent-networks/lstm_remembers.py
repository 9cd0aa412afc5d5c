"""An LSTM remembers the sign of its first input over 50 steps once its
forget gate starts near 1 (bias 3), not with PyTorch's default initialization.

The task and training of remember_first_input.py, at T = 50, where the tanh
RNN stayed at ln 2: nn.LSTM (32 hidden units) with PyTorch's default
initialization, then the same weights with the forget-gate bias set to 3 (3 in
bias_ih_l0's forget slice, 0 in bias_hh_l0's: the two add up). Adam, learning
rate 3e-3, batches of 32, 100 steps, three seeds; the two variants of a seed
share their weights and their batches.

Run: python snippets/08-recurrent-networks/lstm_remembers.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

FORGET_BIASES = {"default": None, "b_f = 3": 3.0}


def remember_first_sign(g, batch, T):
    """x_1 = (+-1, 0), then T - 1 steps of (0, noise); label: was x_1 > 0?"""
    label = torch.randint(0, 2, (batch,), generator=g).float()
    x = torch.zeros(batch, T, 2)
    x[:, 0, 0] = 2 * label - 1
    x[:, 1:, 1] = torch.randn(batch, T - 1, generator=g)
    return x, label


class Classifier(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.cell, self.head = cell, nn.Linear(cell.hidden_size, 1)

    def forward(self, x):
        h, _ = self.cell(x)
        return self.head(h[:, -1]).squeeze(-1)


def seeded(model, g):
    """PyTorch's default init, U(-1/sqrt(H), 1/sqrt(H)) everywhere, from g."""
    k = 1 / math.sqrt(model.cell.hidden_size)
    for p in model.parameters():
        nn.init.uniform_(p, -k, k, generator=g)
    return model


# --8<-- [start:core]
def lstm_classifier(g, b_f=None, hidden=32):
    """nn.LSTM + readout, PyTorch's init; then the forget-gate bias b_f."""
    model = seeded(Classifier(nn.LSTM(2, hidden, batch_first=True)), g)
    if b_f is not None:
        H, cell = hidden, model.cell  # gates stacked i, f, g, o
        with torch.no_grad():
            cell.bias_ih_l0[H : 2 * H].fill_(b_f)  # b_ih + b_hh is the bias:
            cell.bias_hh_l0[H : 2 * H].zero_()  # b_f in total, not 2 b_f
    return model


# --8<-- [end:core]


def train(b_f, seed, T=50, steps=100, batch=32, lr=3e-3):
    g = torch.Generator().manual_seed(seed)
    model = lstm_classifier(g, b_f)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x, label = remember_first_sign(g, batch, T)
        loss = nn.functional.binary_cross_entropy_with_logits(model(x), label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def experiment(seeds=(0, 1, 2)):
    return {
        name: [train(b_f, s) for s in seeds]
        for name, b_f in FORGET_BIASES.items()
    }


def plot(r):
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    for name, runs in r.items():
        color = None
        for i, losses in enumerate(runs):
            label = None if i else name.replace("b_f", "b$_f$")
            (line,) = ax.plot(losses, color=color, linewidth=1, label=label)
            color = line.get_color()
    ax.axhline(math.log(2), color="grey", linestyle=":", zorder=0, label="ln 2")
    ax.set_yscale("log")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("loss (log scale)")
    ax.set_title("LSTM, T = 50: forget-gate bias")
    ax.legend(loc="upper center", bbox_to_anchor=(0.45, -0.25), ncol=3)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for name, runs in r.items():
        ends = ", ".join(f"{sum(losses[-10:]) / 10:.3f}" for losses in runs)
        print(
            f"LSTM, {name}: mean loss over the last 10 steps, per seed: {ends}"
        )
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
