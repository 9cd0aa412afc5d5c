"""One network, three ways to set it up: what vanishing and exploding look like.

The same 20-layer MLP (20 hidden layers of 64 units, then a linear readout)
learns a small two-class task with torch.optim.SGD. With ReLU and He init it
trains, unsteadily: moving its initial weights by one float32 step, a
rounding-level change, sends its final loss elsewhere. With sigmoid and
PyTorch's default init it sits at the loss of a coin flip, ln 2, and its first
layers do not move at all. With ReLU and weights 1.5x too large
(std 1.5 * sqrt(2/fan_in)) the first loss is huge and the next one is NaN.

Run: python snippets/01-why-gradients-vanish-or-explode/training_symptoms.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

RUNS = {  # the same network; activation, and init as a multiple of He's std
    "ReLU, He init": ("relu", 1.0),
    "sigmoid, PyTorch default init": ("sigmoid", "pytorch default"),
    "ReLU, 1.5 x He std": ("relu", 1.5),
}


def make_task(g, n=512, dim=16):
    """Labels from a random two-layer teacher: learnable, but not linear."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1) @ w2 > 0).long()
    return x, y


def make_mlp(activation, init, g, depth=20, width=64, dim=16):
    """depth hidden layers (Linear, then the activation) and a linear readout."""
    sizes = [dim] + [width] * depth + [2]
    layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    for layer in layers:
        if init == "pytorch default":  # as nn.Linear.reset_parameters
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=g)
            bound = 1 / math.sqrt(layer.in_features)
            nn.init.uniform_(layer.bias, -bound, bound, generator=g)
        else:  # init is a multiple of He's std sqrt(2 / fan_in)
            std = init * math.sqrt(2 / layer.in_features)
            nn.init.normal_(layer.weight, 0.0, std, generator=g)
            nn.init.zeros_(layer.bias)
    act = {"relu": nn.ReLU(), "sigmoid": nn.Sigmoid()}[activation]
    blocks = [m for layer in layers[:-1] for m in (layer, act)]
    return nn.Sequential(*blocks, layers[-1])


@torch.no_grad()
def nudge_(model, g):
    """Move every weight to a neighbouring float32 number, up or down."""
    for m in model:
        if isinstance(m, nn.Linear):
            up = torch.rand(m.weight.shape, generator=g) < 0.5
            away = torch.where(up, math.inf, -math.inf)
            m.weight.copy_(torch.nextafter(m.weight, away))


@torch.no_grad()
def input_spread(model, x):
    """How much each hidden layer's activations differ across the inputs.
    In float64: deep in the sigmoid net, float32 cannot resolve it."""
    spreads, h = [], x.double()
    for module in model:
        if isinstance(module, nn.Linear):
            w, b = module.weight.double(), module.bias.double()
            h = nn.functional.linear(h, w, b)
        else:  # after each activation
            h = module(h)
            spreads.append(h.std(dim=0).mean().item())  # std over inputs
    return spreads


def update_to_spacing(linears, lr):
    """Per layer, the largest |lr * grad| over half the float32 spacing at
    its weight: below 1, the SGD update leaves every weight of the layer as
    it was."""
    ratios = []
    for m in linears:
        w = m.weight.detach()
        spacing = (torch.nextafter(w, torch.full_like(w, math.inf)) - w).abs()
        ratios.append((lr * m.weight.grad.abs() / (spacing / 2)).max().item())
    return ratios


class Log:
    """What the page reports: losses, the first gradients, how far each
    layer's weights moved."""

    def __init__(self, model, x, lr):
        self.linears = [m for m in model if isinstance(m, nn.Linear)]
        self.start = [m.weight.detach().clone() for m in self.linears]
        self.lr, self.losses, self.first = lr, [], None
        self.spread = input_spread(model, x)

    def loss(self, loss):
        self.losses.append(loss.item())
        return math.isfinite(self.losses[-1])

    def gradients(self):
        if self.first is None:  # the first backward pass, at initialization
            self.first = [m.weight.grad.norm().item() for m in self.linears]
            self.ratios = update_to_spacing(self.linears, self.lr)

    def results(self):
        moved = [  # relative to where the weights started
            ((m.weight.detach() - w0).norm() / w0.norm()).item()
            for m, w0 in zip(self.linears, self.start)
        ]
        return {
            "losses": self.losses,
            "relative_change": moved,
            "first_gradients": self.first,
            "input_spread": self.spread,
            "update_to_spacing": self.ratios,
        }


def train(activation, init, steps=150, lr=0.1, seed=0, nudge=None):
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    model = make_mlp(activation, init, g)
    if nudge is not None:  # a rounding-level change of the initial weights
        nudge_(model, torch.Generator().manual_seed(nudge))
    log = Log(model, x, lr)
    # --8<-- [start:core]
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):  # full batch: all 512 points at every step
        loss = nn.functional.cross_entropy(model(x), y)
        if not log.loss(loss):
            break  # NaN or inf: the run is over
        optimizer.zero_grad()
        loss.backward()
        log.gradients()  # at step 0: the gradient of every layer
        optimizer.step()
    # --8<-- [end:core]
    return log.results()


def experiment(nudges=4):
    results = {name: train(*args) for name, args in RUNS.items()}
    # the He run again, from initial weights one float32 step away
    results["ReLU, He init, nudged"] = [
        train("relu", 1.0, nudge=k) for k in range(1, nudges + 1)
    ]
    return results


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.2))
    colors = dict(zip(RUNS, ("C0", "C1", "C3")))
    for r in results["ReLU, He init, nudged"]:  # thin lines, under the rest
        top.plot(r["losses"], color=colors["ReLU, He init"], linewidth=0.6)
    labels = {
        "ReLU, He init": "ReLU, He",
        "sigmoid, PyTorch default init": "sigmoid",
        "ReLU, 1.5 x He std": "ReLU, 1.5 He",
    }
    for name in RUNS:
        losses, c = results[name]["losses"], colors[name]
        finite = [v for v in losses if math.isfinite(v)]
        top.plot(
            range(len(finite)),
            finite,
            "-o" if len(finite) == 1 else "-",
            color=c,
            markersize=5,
            label=labels[name],
        )
        if len(finite) < len(losses):  # broke: draw it off the top of the axes
            k = len(finite)
            top.annotate(
                "",
                xy=(k, 4e3),
                xytext=(k - 1, finite[-1]),
                arrowprops={"arrowstyle": "->", "color": c},
            )
            top.annotate(
                f"NaN at step {k}",
                (k, 1.2e3),
                xytext=(8, 0),
                textcoords="offset points",
                va="center",
                color=c,
            )
    top.axhline(math.log(2), color="grey", linestyle=":", zorder=0)
    top.annotate(
        "ln 2",
        (1, math.log(2)),
        xycoords=("axes fraction", "data"),
        xytext=(4, 0),
        textcoords="offset points",
        va="center",
        color="grey",
    )
    top.set_yscale("log")
    top.set_ylim(1e-4, 4e3)
    top.set_xlabel("SGD step")
    top.set_ylabel("training loss")
    top.legend(loc="lower left")
    for name, marker in zip(list(RUNS)[:2], "os"):
        change = results[name]["relative_change"][:-1]  # the 20 hidden layers
        bottom.plot(
            range(1, len(change) + 1),
            change,
            marker + "-",
            markersize=4,
            color=colors[name],
            label=labels[name],
        )
    frozen = results["sigmoid, PyTorch default init"]["relative_change"]
    frozen = frozen.index(next(c for c in frozen if c))
    bottom.text(
        1,
        1e-6,
        f"sigmoid, layers\n1-{frozen}: unchanged",
        color=colors["sigmoid, PyTorch default init"],
    )
    bottom.set_yscale("log")
    bottom.set_ylim(1e-12, 1e4)
    bottom.set_xticks([1, 5, 10, 15, 20])
    bottom.set_xlabel("layer l (1 = next to the input)")
    bottom.set_ylabel("weights moved\n(relative)")
    bottom.legend(loc="upper right")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for name in RUNS:
        r = results[name]
        first, last = r["relative_change"][0], r["relative_change"][-2]
        print(
            f"{name:30s} loss {r['losses'][0]:.3g} -> {r['losses'][-1]:.3g} after "
            f"{len(r['losses']) - 1} steps; layer 1 moved {first:.2g}, "
            f"layer 20 moved {last:.2g}; "
            f"first gradient norm, layer 1: {r['first_gradients'][0]:.2g}"
        )
    sigmoid = results["sigmoid, PyTorch default init"]
    print(
        "sigmoid: std over inputs at layer 10 (float64) "
        f"{sigmoid['input_spread'][9]:.2g}; first update / half spacing, "
        "layers 10-13: "
        + ", ".join(f"{c:.2g}" for c in sigmoid["update_to_spacing"][9:13])
    )
    runs = [results["ReLU, He init"], *results["ReLU, He init, nudged"]]
    finals = [r["losses"][-1] for r in runs]
    print(
        "ReLU, He init, as is and nudged: final losses "
        + ", ".join(f"{f:.3g}" for f in finals)
        + f" (largest / smallest {max(finals) / min(finals):.2g}); "
        f"every lowest loss below {max(min(r['losses']) for r in runs):.2g}"
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
