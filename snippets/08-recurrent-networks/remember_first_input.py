"""A tanh RNN learns to remember the sign of its first input over 10 steps,
and not over 50.

The task: x_1 = (+1 or -1, 0), then T - 1 steps of (0, noise from N(0, 1));
the network must say, from its last state h_T, whether x_1 was positive. An
nn.RNN (tanh, 32 hidden units, PyTorch's default initialization) with a linear
readout of h_T is trained with Adam (learning rate 3e-3) on fresh batches of 32
sequences, 100 steps, three seeds, at T = 10 and at T = 50. At T = 10 every
run learns the task; at T = 50 every run stays at the loss of a coin flip,
ln 2: the gradient that would teach the network to keep x_1 in its state is
too small to matter (gradient_vs_length.py measures it).

Run: python snippets/08-recurrent-networks/remember_first_input.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn


# --8<-- [start:core]
def remember_first_sign(g, batch, T):
    """x_1 = (+-1, 0), then T - 1 steps of (0, noise); label: was x_1 > 0?"""
    label = torch.randint(0, 2, (batch,), generator=g).float()
    x = torch.zeros(batch, T, 2)
    x[:, 0, 0] = 2 * label - 1
    x[:, 1:, 1] = torch.randn(batch, T - 1, generator=g)
    return x, label


class Classifier(nn.Module):
    def __init__(self, cell):  # nn.RNN, nn.LSTM or nn.GRU, batch_first=True
        super().__init__()
        self.cell, self.head = cell, nn.Linear(cell.hidden_size, 1)

    def forward(self, x):
        h, _ = self.cell(x)  # h_1 ... h_T
        return self.head(h[:, -1]).squeeze(-1)  # a logit, from h_T alone


# --8<-- [end:core]


def seeded(model, g):
    """PyTorch's default init, U(-1/sqrt(H), 1/sqrt(H)) for every parameter of
    the cell and of the readout (whose fan-in is H), drawn from g."""
    k = 1 / math.sqrt(model.cell.hidden_size)
    for p in model.parameters():
        nn.init.uniform_(p, -k, k, generator=g)
    return model


def train(T, seed, steps=100, batch=32, hidden=32, lr=3e-3):
    g = torch.Generator().manual_seed(seed)
    model = seeded(Classifier(nn.RNN(2, hidden, batch_first=True)), g)
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


def experiment(lengths=(10, 50), seeds=(0, 1, 2)):
    return {T: [train(T, seed) for seed in seeds] for T in lengths}


def plot(r):
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    for T, runs in r.items():
        color = None
        for i, losses in enumerate(runs):
            (line,) = ax.plot(
                losses,
                color=color,
                linewidth=1,
                label=None if i else f"T = {T}",
            )
            color = line.get_color()
    ax.axhline(
        math.log(2),
        color="grey",
        linestyle=":",
        zorder=0,
        label="ln 2 (coin flip)",
    )
    ax.set_yscale("log")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("loss (log scale)")
    ax.set_title("tanh RNN: remember the sign of x$_1$")
    ax.legend(loc="upper center", bbox_to_anchor=(0.45, -0.25), ncol=2)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for T, runs in r.items():
        ends = ", ".join(f"{sum(losses[-10:]) / 10:.3f}" for losses in runs)
        print(f"T = {T}: mean loss over the last 10 steps, per seed: {ends}")
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
