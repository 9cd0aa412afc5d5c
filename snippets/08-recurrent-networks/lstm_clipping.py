"""An LSTM's gradient norm spikes while it learns a long-range task; with plain
SGD the unclipped runs mostly fail, the clipped ones learn.

The task of remember_first_input.py at T = 25; nn.LSTM (32 hidden units,
PyTorch's default initialization, forget-gate bias 3) with a linear readout,
trained by plain SGD at learning rate 0.2 on fresh batches of 32 sequences,
100 steps, eight seeds, once without clipping and once with
torch.nn.utils.clip_grad_norm_(max_norm=1). The two runs of a seed start from
the same weights and see the same batches. The gradient norm before clipping
is recorded at every step.

Run: python snippets/08-recurrent-networks/lstm_clipping.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

MAX_NORMS = {"no clipping": None, "clipped at 1": 1.0}


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


def lstm_classifier(g, b_f=3.0, hidden=32):
    """nn.LSTM + readout, PyTorch's init drawn from g, forget-gate bias b_f."""
    model = Classifier(nn.LSTM(2, hidden, batch_first=True))
    for p in model.parameters():
        nn.init.uniform_(
            p, -1 / math.sqrt(hidden), 1 / math.sqrt(hidden), generator=g
        )
    with torch.no_grad():
        model.cell.bias_ih_l0[hidden : 2 * hidden].fill_(b_f)
        model.cell.bias_hh_l0[hidden : 2 * hidden].zero_()
    return model


# --8<-- [start:core]
def sgd_step(model, optimizer, x, label, max_norm):
    """One step, the gradient clipped to norm max_norm (None: not clipped);
    returns the loss and the gradient norm before clipping."""
    loss = nn.functional.binary_cross_entropy_with_logits(model(x), label)
    optimizer.zero_grad()
    loss.backward()
    if max_norm is None:
        norm = nn.utils.get_total_norm([p.grad for p in model.parameters()])
    else:  # g <- g * min(1, max_norm / ||g||), and ||g|| is returned
        norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return loss.item(), norm.item()


# --8<-- [end:core]


def train(max_norm, seed, T=25, steps=100, batch=32, lr=0.2):
    """Plain SGD from PyTorch's init (forget-gate bias 3), fresh batches."""
    g = torch.Generator().manual_seed(seed)
    model = lstm_classifier(g)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses, norms = [], []
    for _ in range(steps):
        x, label = remember_first_sign(g, batch, T)
        loss, norm = sgd_step(model, optimizer, x, label, max_norm)
        losses.append(loss)
        norms.append(norm)
    return losses, norms


def experiment(seeds=range(8)):
    runs = {}
    for name, max_norm in MAX_NORMS.items():
        runs[name] = [
            dict(zip(("losses", "norms"), train(max_norm, s))) for s in seeds
        ]
    return {"max norms": MAX_NORMS, "runs": runs}


def final(losses):
    """The mean loss over the last 10 steps: the end of a run, less noisy."""
    return sum(losses[-10:]) / 10


def trace_seed(r):
    """The seed whose unclipped run ends highest: its norms are plotted."""
    runs = r["runs"]["no clipping"]
    return max(range(len(runs)), key=lambda s: final(runs[s]["losses"]))


def plot(r):
    seed = trace_seed(r)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.4), sharex=True)
    for name, runs in r["runs"].items():
        color = None
        for i, run in enumerate(runs):
            label = None if i else name
            (line,) = top.plot(
                run["losses"], color=color, linewidth=0.8, label=label
            )
            color = line.get_color()
        bottom.plot(
            runs[seed]["norms"],
            color=color,
            linewidth=1,
            label=f"{name}, seed {seed}",
        )
    top.axhline(math.log(2), color="grey", linestyle=":", zorder=0)
    top.set_yscale("log")
    top.set_ylabel("loss (log scale)")
    top.set_title("LSTM, T = 25, SGD (8 seeds)")
    top.legend(loc="lower left")
    bottom.axhline(
        r["max norms"]["clipped at 1"],
        color="black",
        linestyle="--",
        linewidth=1,
    )
    bottom.set_yscale("log")
    bottom.set_xlabel("SGD step")
    bottom.set_ylabel("\u2016G\u2016 before clipping (log)")
    bottom.legend(loc="upper center", bbox_to_anchor=(0.45, -0.25))
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for name, runs in r["runs"].items():
        ends = " ".join(f"{final(run['losses']):.3f}" for run in runs)
        print(f"{name}: final loss per seed: {ends}")
        for run in runs:
            norms = sorted(run["norms"])
            clipped = sum(n > 1 for n in norms)
            print(
                f"  median ||g|| {norms[len(norms) // 2]:.3g}, largest {norms[-1]:.3g}, "
                f"steps above 1: {clipped}"
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
