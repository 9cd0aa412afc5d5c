"""Adam trains a badly initialized deep network that SGD cannot move.

A 14-hidden-layer ReLU MLP built from nn.Linear with PyTorch's own
initialization (weight variance 1/(3 n_in): the signal shrinks at every
layer), fitting a random teacher, full batch, five seeds. SGD with momentum
stays at the loss of a constant prediction; Adam fits the data. Both get the
same gradients at step 0: the first layer's is about 10^-4.5 times the last
layer's. SGD's step is the learning rate times that gradient, so the first
layers do not move. Adam's first step moves every weight by about its
learning rate, whatever the gradient's size: it normalizes the step, not the
gradient.

Run: python snippets/07-optimizers-and-precision/sgd_vs_adam.py [OUT_DIR]
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
    """Targets from a random two-layer teacher, scaled to unit variance."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, 1, generator=g)
    t = torch.tanh(x @ w1) @ w2
    return x, (t - t.mean()) / t.std()


def make_mlp(g, depth=14, width=64, dim=16):
    """nn.Linear layers with the init nn.Linear gives them, drawn from g."""
    sizes = [dim] + [width] * depth + [1]
    layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    for layer in layers:  # what nn.Linear.reset_parameters() draws
        nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=g)
        bound = 1 / math.sqrt(layer.in_features)
        nn.init.uniform_(layer.bias, -bound, bound, generator=g)
    blocks = [m for layer in layers[:-1] for m in (layer, nn.ReLU())]
    return nn.Sequential(*blocks, layers[-1])


# --8<-- [start:core]
OPTIMIZERS = {
    "SGD": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
    "Adam": lambda params: torch.optim.Adam(params, lr=3e-3),
}


def first_step(model, x, y, optimizer):
    """Each layer's mean |gradient|, and how far one step moves its weights."""
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()  # the optimizer plays no part in the gradient
    before = [w.detach().clone() for w in weights]
    optimizer.step()
    grads = [w.grad.abs().mean().item() for w in weights]
    moved = [(w - b).abs().mean().item() for w, b in zip(weights, before)]
    return loss.item(), grads, moved


# --8<-- [end:core]


def train(model, x, y, optimizer, steps):
    """The usual loop; also mean |dL/dW(1)| / mean |dL/dW(L)| at every step."""
    first, last = model[0].weight, model[-1].weight
    losses, ratios = [], []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        ratios.append((first.grad.abs().mean() / last.grad.abs().mean()).item())
    return losses, ratios


def experiment(seeds=range(5), steps=100):
    runs = {name: [] for name in OPTIMIZERS}
    for name, make_optimizer in OPTIMIZERS.items():
        for seed in seeds:
            g = torch.Generator().manual_seed(seed)  # same data, same weights
            x, y = make_task(g)
            model = make_mlp(g)
            opt = make_optimizer(model.parameters())
            loss, grads, moved = first_step(model, x, y, opt)
            losses, ratios = train(model, x, y, opt, steps - 1)
            runs[name].append(
                {
                    "mean |gradient| at step 0": grads,  # per layer
                    "mean |step| at step 0": moved,  # per layer
                    "losses": [loss, *losses],  # one per step
                    "gradient ratio": ratios,  # from step 1 on
                }
            )
    lr = {
        name: OPTIMIZERS[name]([torch.zeros(1)]).defaults["lr"] for name in runs
    }
    # the loss of the best constant prediction: the targets' mean square
    constant = []
    for seed in seeds:
        _, y = make_task(torch.Generator().manual_seed(seed))
        constant.append(((y - y.mean()) ** 2).mean().item())
    return {"runs": runs, "lr": lr, "constant prediction": constant}


def geometric_mean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def plot(r):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.6))
    for i, (name, runs) in enumerate(r["runs"].items()):
        lr = r["lr"][name]
        for k, run in enumerate(runs):
            top.plot(
                run["losses"],
                color=f"C{i}",
                lw=1.2,
                label=f"{name}, lr {lr:g}" if k == 0 else None,
            )
        per_layer = zip(*(run["mean |step| at step 0"] for run in runs))
        steps = [geometric_mean(layer) for layer in per_layer]
        layers = range(1, len(steps) + 1)
        bottom.plot(
            layers, steps, "o-", color=f"C{i}", markersize=4, label=name
        )
    top.set_yscale("log")
    top.set_xlabel("step")
    top.set_ylabel("training loss (MSE)")
    top.set_title("14 hidden layers, nn.Linear's init")
    top.legend(loc="lower left")
    bottom.set_yscale("log")
    bottom.set_xlabel("layer l")
    bottom.set_ylabel("mean |step| of W(l)")
    bottom.set_title("First step, per weight")
    bottom.legend(loc="center left")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for name, runs in r["runs"].items():
        for seed, run in enumerate(runs):
            g = run["mean |gradient| at step 0"]
            print(
                f"{name:4s} seed {seed}: loss {run['losses'][0]:.3f} -> "
                f"{run['losses'][-1]:.3g}; mean |dL/dW| in layer 1 / layer "
                f"{len(g)}: {g[0] / g[-1]:.2g} at step 0"
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
