"""A 30-layer ReLU MLP trains with He init and stalls with Xavier init.

He et al. (2015) trained a 30-layer ReLU network from scratch with their
init and showed that Xavier's stalls. The same experiment at small scale:
width 64, 64 training points from a random teacher, SGD with momentum, three
seeds per init. With Xavier init every layer halves the signal's variance,
so the first layer's gradient is about 2^-15 times smaller than with He
init; the loss sits near ln 2 for the whole run. He init fits the data.
That verdict belongs to SGD: Adam divides each gradient by a running
estimate of its size, and the same Xavier network trained with Adam leaves
ln 2 in most of ten seeds.

Run: python snippets/03-weight-initialization/deep_relu_training.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn


def make_task(g, n=64, dim=16):
    """Labels from a random two-layer teacher: learnable, but not linear."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1) @ w2 > 0).long()
    return x, y


# --8<-- [start:core]
def make_mlp(init, g, depth=30, width=64, dim=16):
    sizes = [dim] + [width] * depth + [2]
    layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    for layer in layers:
        if init == "He":
            nn.init.kaiming_normal_(
                layer.weight, nonlinearity="relu", generator=g
            )
        else:
            nn.init.xavier_normal_(layer.weight, generator=g)
        nn.init.zeros_(layer.bias)
    blocks = [m for layer in layers[:-1] for m in (layer, nn.ReLU())]
    return nn.Sequential(*blocks, layers[-1])


# --8<-- [end:core]


def train(init, seed, optimizer="SGD", steps=50):
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    model = make_mlp(init, g)
    if optimizer == "Adam":  # its defaults: lr 1e-3, betas (0.9, 0.999)
        opt = torch.optim.Adam(model.parameters())
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9)
    losses, first_layer_gradients = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        losses.append(loss.item())
        first_layer_gradients.append(model[0].weight.grad.norm().item())
        opt.step()
    return {"losses": losses, "first layer gradient": first_layer_gradients}


def experiment(seeds=(0, 1, 2), adam_seeds=range(10)):
    results = {
        init: [train(init, seed) for seed in seeds] for init in ("Xavier", "He")
    }
    results["Xavier, Adam"] = [train("Xavier", s, "Adam") for s in adam_seeds]
    return results


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.2), sharex=True)
    styles = {"Xavier": "C0", "He": "C1", "Xavier, Adam": "C2"}
    for name, runs in results.items():
        adam = name.endswith("Adam")
        label = name if adam else f"{name}, SGD"
        for k, r in enumerate(runs):
            lw = 0.8 if adam else 2  # Adam: thin lines, and the loss only
            kw = {
                "color": styles[name],
                "lw": lw,
                "label": label if k == 0 else None,
            }
            top.plot(r["losses"], **kw)
            if not adam:
                bottom.plot(r["first layer gradient"], **kw)
    top.axhline(math.log(2), color="grey", linestyle=":", label="ln 2")
    top.set_ylim(0, 2)  # an Adam run that jumps higher leaves the plot
    top.set_ylabel("training loss")
    top.set_title("30-layer ReLU MLP")
    fig.legend(
        *top.get_legend_handles_labels(),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
        handlelength=1.5,
        columnspacing=0.8,
    )
    bottom.set_yscale("log")
    bottom.set_ylabel(r"$\|\partial \mathcal{L} / \partial W^{(1)}\|$")
    bottom.set_xlabel("step")
    bottom.set_title("First layer's gradient (SGD)")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for init, runs in results.items():
        for seed, r in enumerate(runs):
            print(
                f"{init:12s} seed {seed}: loss {r['losses'][0]:.3f} -> "
                f"{r['losses'][-1]:.3g}; first-layer gradient "
                f"{r['first layer gradient'][0]:.2g} at step 0"
            )
    ln2 = math.log(2)
    worst = max(abs(v - ln2) for r in results["Xavier"] for v in r["losses"])
    print(f"Xavier, SGD: every step's loss within {worst:.3f} of ln 2")
    adam = [r["losses"][-1] for r in results["Xavier, Adam"]]
    below = sum(loss < 0.5 for loss in adam)
    print(f"Xavier, Adam: {below} of {len(adam)} seeds end below 0.5")
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
