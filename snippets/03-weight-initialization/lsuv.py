"""LSUV: orthonormal init, then rescale layer by layer to unit variance.

Mishkin & Matas (2015), "All you need is a good init": pre-initialize every
weight matrix with an orthonormal one, then, from the first layer to the last,
forward a batch of data, measure the variance of the layer's output and divide
its weights by the square root of that variance, until the variance is within
a tolerance of 1. Applied to a 30-layer ReLU MLP whose PyTorch default init
makes the signal vanish and training stall, it brings every layer's output to
unit variance and the network trains.

Run: python snippets/03-weight-initialization/lsuv.py [OUT_DIR]
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


def make_mlp(g, depth=30, width=64, dim=16):
    """ReLU MLP with PyTorch's default init, drawn from the generator g."""
    sizes = [dim] + [width] * depth + [2]
    layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    for layer in layers:  # as nn.Linear.reset_parameters
        nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=g)
        bound = 1 / math.sqrt(layer.in_features)
        nn.init.uniform_(layer.bias, -bound, bound, generator=g)
    blocks = [m for layer in layers[:-1] for m in (layer, nn.ReLU())]
    return nn.Sequential(*blocks, layers[-1])


LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@torch.no_grad()
def lsuv_(model, x, tol=0.1, max_iter=10, generator=None):
    """Layer-sequential unit-variance init (Mishkin & Matas, 2015), in place.

    Rescales the weights of every nn.Linear and nn.Conv1d/2d/3d layer, first to
    last, so that its output on the batch x has variance 1 (within tol); biases
    are left as they are. The forward passes run in the mode the model is in,
    and every buffer (BatchNorm's running statistics) is restored afterwards:
    only the weights change. Refuses, before changing anything, a model with no
    such layer, a layer the forward pass on x never reaches, and a layer called
    more than once per pass (its one scale cannot set two output variances).
    Returns, per layer, the output variance after LSUV and how many times the
    weights were rescaled.
    """
    layers = checked_layers(model, x)
    buffers = [b.clone() for b in model.buffers()]
    modes = [m.training for m in model.modules()]
    try:
        for layer in layers:  # 1. orthonormal pre-initialization
            nn.init.orthogonal_(layer.weight, generator=generator)
        # 2. first to last: scale to unit output variance
        return [rescale_(model, x, layer, tol, max_iter) for layer in layers]
    finally:  # leave the model's buffers and modes as they were
        for b, saved in zip(model.buffers(), buffers):
            b.copy_(saved)
        for m, mode in zip(model.modules(), modes):
            m.training = mode


def checked_layers(model, x):
    """The layers LSUV rescales, in order; a clear error for what it cannot."""
    names = {
        m: name or "the model"
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.conv._ConvNd) or isinstance(m, LAYERS)
    }
    for m, name in names.items():
        if not isinstance(m, LAYERS):
            raise TypeError(
                f"lsuv_: {name} is a {type(m).__name__}; only nn.Linear and "
                "nn.Conv1d/2d/3d are supported"
            )
    if not names:
        raise ValueError("lsuv_: the model has no nn.Linear or nn.Conv1d/2d/3d")
    calls = dict.fromkeys(names, 0)

    def count(module, inputs, output):
        calls[module] += 1

    hooks = [m.register_forward_hook(count) for m in names]
    buffers = [b.clone() for b in model.buffers()]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
        for b, saved in zip(model.buffers(), buffers):
            b.copy_(saved)
    for m, name in names.items():
        if calls[m] == 0:
            raise ValueError(
                f"lsuv_: layer {name} ({m}) is never reached by the forward "
                "pass on x, so its output variance cannot be measured"
            )
        if calls[m] > 1:
            raise ValueError(
                f"lsuv_: layer {name} ({m}) is called {calls[m]} times per "
                "forward pass; one scale cannot give each call unit variance"
            )
    return list(names)


# --8<-- [start:core]
@torch.no_grad()
def rescale_(model, x, layer, tol=0.1, max_iter=10):
    """Divide the layer's weights by its output std until the variance is 1."""
    seen = {}
    hook = layer.register_forward_hook(lambda m, i, out: seen.update(out=out))
    try:
        for rescales in range(max_iter + 1):
            model(x)  # the hook records this layer's output
            var = seen["out"].var().item()
            if abs(var - 1) < tol or rescales == max_iter:
                break
            layer.weight /= math.sqrt(var)
    finally:
        hook.remove()
    return {"variance": var, "rescales": rescales}


# --8<-- [end:core]


def layer_stds(model, x):
    """Per Linear layer output z^(l): its std over the batch and the units (what
    LSUV sets), and its std across inputs, per unit, averaged over units (how
    much z^(l) still depends on the input)."""
    overall, across_inputs, h = [], [], x.double()
    with torch.no_grad():
        for m in model:  # in float64: the spread across inputs gets tiny
            if isinstance(m, nn.Linear):
                h = nn.functional.linear(h, m.weight.double(), m.bias.double())
                overall.append(h.std().item())
                across_inputs.append(h.std(dim=0).mean().item())
            else:
                h = m(h)
    return {"overall": overall, "across inputs": across_inputs}


def train(model, x, y, steps=50, lr=0.002, momentum=0.9):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def experiment(seeds=(0, 1, 2)):
    results = {"default": [], "LSUV": []}
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        x, y = make_task(g)
        for name in results:
            model = make_mlp(torch.Generator().manual_seed(seed))
            report = lsuv_(model, x, generator=g) if name == "LSUV" else None
            results[name].append(
                {
                    "stds": layer_stds(model, x),
                    "lsuv": report,
                    "losses": train(model, x, y),
                }
            )
    return results


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.2))
    for i, (name, runs) in enumerate(results.items()):
        stds = runs[0]["stds"]
        layers = range(1, len(stds["overall"]) + 1)
        top.plot(layers, stds["overall"], "o-", ms=3, color=f"C{i}", label=name)
        top.plot(layers, stds["across inputs"], "--", color=f"C{i}")
        for k, r in enumerate(runs):
            label = name if k == 0 else None
            bottom.plot(r["losses"], color=f"C{i}", label=label)
    top.plot([], [], "k--", label="across inputs")
    top.set_yscale("log")
    top.set_xlabel("layer l (31 = output)")
    top.set_ylabel("std of $z^{(l)}$")
    top.set_title("At initialization (seed 0)")
    top.legend(loc="lower left")
    bottom.axhline(math.log(2), color="grey", linestyle=":", label="ln 2")
    bottom.set_xlabel("step")
    bottom.set_ylabel("training loss")
    bottom.set_title("SGD with momentum, 3 seeds")
    bottom.legend(loc="upper right")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for name, runs in results.items():
        for seed, r in enumerate(runs):
            stds = r["stds"]
            print(
                f"{name:7s} seed {seed}: std of z_1 {stds['overall'][0]:.3g}, "
                f"z_30 {stds['overall'][-2]:.3g} (across inputs "
                f"{stds['across inputs'][-2]:.3g}); "
                f"loss {r['losses'][0]:.3f} -> "
                f"{r['losses'][-1]:.3g}"
            )
    report = results["LSUV"][0]["lsuv"]
    print(
        "LSUV, seed 0: rescales per layer "
        f"{[row['rescales'] for row in report]}, output variances in "
        f"[{min(row['variance'] for row in report):.3f}, "
        f"{max(row['variance'] for row in report):.3f}]"
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
