"""Dead ReLUs: units that are off for every input, and what brings them back.

Top: when a whole hidden layer is pushed off (every pre-activation below -1,
as a large negative bias or a too-large step can do), a ReLU network trained
with torch.optim.SGD stops learning at ln 2. A leak of 0.01 barely helps; a
leak of 0.1 and ELU do; GELU, whose slope is tiny far left of zero, does not.
Rerun from weights perturbed by one part in a million, the loss curves of the
runs that train come apart; those of the stuck runs do not. Bottom: in a
50-layer ReLU MLP at initialization, the fraction of units that are inactive
on every example of a batch grows with depth (He init), and is about half of
every layer after the first few with PyTorch's default init; batch
normalization before the ReLU keeps it at zero.

Run: python snippets/02-activation-functions-and-saturation/dead_relus.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn


def make_task(g, n=256, dim=16):
    """Labels from a random two-layer teacher: learnable, but not linear."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1) @ w2 > 0).long()
    return x, y


def never_active(z):
    """Fraction of units whose pre-activation is <= 0 on every example."""
    return (z > 0).sum(dim=0).eq(0).double().mean().item()


def dead_at_init(
    init, depth=50, width=256, batch=256, seed=0, dtype=torch.float32
):
    """dtype=torch.float64 redoes the arithmetic on the same random draws."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(batch, width, generator=g).to(dtype)
    fractions = []
    for _ in range(depth):
        layer = nn.Linear(width, width)
        if init == "PyTorch default":  # what nn.Linear.reset_parameters does
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=g)
            bound = 1 / math.sqrt(width)
            nn.init.uniform_(layer.bias, -bound, bound, generator=g)
        else:  # He normal, zero bias
            nn.init.kaiming_normal_(
                layer.weight, nonlinearity="relu", generator=g
            )
            nn.init.zeros_(layer.bias)
        with torch.no_grad():
            z = layer.to(dtype)(h)
            if init == "He + batch norm":  # normalize over the batch
                z = (z - z.mean(0)) / z.std(0)
        fractions.append(never_active(z))
        h = torch.relu(z)
    return fractions


ACTIVATIONS = {
    "ReLU": nn.ReLU(),
    "LeakyReLU(0.01)": nn.LeakyReLU(0.01),
    "LeakyReLU(0.1)": nn.LeakyReLU(0.1),
    "ELU": nn.ELU(),
    "GELU": nn.GELU(),
}


class MLP(nn.Module):
    """Linear layers with an activation between them; returns the output
    and every hidden pre-activation z^(l)."""

    def __init__(self, sizes, act):
        super().__init__()
        pairs = zip(sizes[:-1], sizes[1:])
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
        self.act = act

    def forward(self, h):
        zs = []
        for layer in self.layers[:-1]:
            zs.append(layer(h))
            h = self.act(zs[-1])
        return self.layers[-1](h), zs


def push_off(model, x, layer):
    """The accident: lower the biases until every z < -1 on every example."""
    with torch.no_grad():
        z = model(x)[1][layer]
        model.layers[layer].bias -= z.max(dim=0).values + 1.0


# --8<-- [start:core]
def train(model, x, y, layer, steps=200, lr=0.1):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses, off = [], []
    for step in range(steps + 1):
        out, zs = model(x)
        loss = nn.functional.cross_entropy(out, y)
        losses.append(loss.item())
        off.append(never_active(zs[layer].detach()))  # layer still dead?
        if step < steps:
            opt.zero_grad()
            loss.backward()
            opt.step()
    return losses, off


# --8<-- [end:core]


def train_after_killing_a_layer(
    act, steps=200, lr=0.1, depth=4, width=64, killed=1, seed=0, jitter=0
):
    """Push every unit of one hidden layer below -1 on every example, then
    train with SGD. Same weights for every activation; jitter=k multiplies
    each by 1 + 1e-6 N(0, 1) (noise seed k), some ten float32 ulps."""
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    model = MLP([x.shape[1]] + [width] * depth + [2], ACTIVATIONS[act])
    noise = torch.Generator().manual_seed(jitter)
    for layer in model.layers:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=g)
        nn.init.zeros_(layer.bias)
        if jitter:
            eps = torch.randn(layer.weight.shape, generator=noise)
            with torch.no_grad():
                layer.weight.mul_(1 + 1e-6 * eps)
    push_off(model, x, killed)
    z = model(x)[1][killed].detach().requires_grad_()
    (slope,) = torch.autograd.grad(ACTIVATIONS[act](z).sum(), z)  # f'(z)
    losses, off = train(model, x, y, killed, steps, lr)
    return {
        "loss": losses,
        "never active": off,
        "mean |slope|": slope.abs().mean().item(),
    }


def experiment():
    inits = ("He", "PyTorch default", "He + batch norm")
    return {
        "at init": {i: dead_at_init(i) for i in inits},
        "killed layer": {
            a: train_after_killing_a_layer(a) for a in ACTIVATIONS
        },
        "perturbed": {  # the same runs, from weights perturbed twice
            a: [train_after_killing_a_layer(a, jitter=k) for k in (1, 2)]
            for a in ("LeakyReLU(0.01)", "LeakyReLU(0.1)", "ELU")
        },
    }


def plot(results):
    fig, axes = plt.subplots(2, 1, figsize=(4.2, 7.2))
    styles = {  # ReLU wide and underneath, so that GELU's flat line shows
        "ReLU": dict(ls="-", lw=5, alpha=0.5, zorder=1),
        "LeakyReLU(0.01)": dict(ls="--"),
        "LeakyReLU(0.1)": dict(ls="-."),
        "ELU": dict(ls=":"),
        "GELU": dict(ls="-", marker="o", markevery=25, ms=4),
    }
    for name, r in results["killed layer"].items():
        label = name.replace("LeakyReLU", "Leaky")
        axes[0].plot(r["loss"], label=label, **styles[name])
    axes[0].axhline(math.log(2), color="grey", lw=0.8, ls=":")
    axes[0].set_ylim(0.0, 1.2)
    axes[0].set_xlabel("SGD step")
    axes[0].set_ylabel("training loss")
    axes[0].set_title("layer 2 of 4 pushed off")
    axes[0].legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False
    )
    places = {
        "He": (32, 0.18),
        "PyTorch default": (22, 0.62),
        "He + batch norm": (30, 0.04),
    }
    labels = {"He": "He", "PyTorch default": "default", "He + batch norm": "BN"}
    for i, (name, fractions) in enumerate(results["at init"].items()):
        layers = range(1, len(fractions) + 1)
        axes[1].plot(layers, fractions, color=f"C{i}")
        axes[1].text(*places[name], labels[name], color=f"C{i}")
    axes[1].set_xlabel("layer l")
    axes[1].set_ylabel("never active")
    axes[1].set_title("50-layer ReLU MLP at init")
    axes[1].set_ylim(-0.02, 0.85)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for name, fractions in results["at init"].items():
        print(
            f"{name:16s} never active: layer 1 {fractions[0]:.1%}, "
            f"layer 10 {fractions[9]:.1%}, layer 50 {fractions[-1]:.1%}"
        )
    for name, r in results["killed layer"].items():
        print(
            f"{name:16s} loss {r['loss'][0]:.3f} -> {r['loss'][-1]:.3f}, "
            f"never active {r['never active'][0]:.2f} -> "
            f"{r['never active'][-1]:.2f}, mean |f'| at start "
            f"{r['mean |slope|']:.3f}"
        )
    for name, runs in results["perturbed"].items():
        r = results["killed layer"][name]
        apart = max(
            abs(a - b) for p in runs for a, b in zip(p["loss"], r["loss"])
        )
        same = all(p["never active"][-1] == r["never active"][-1] for p in runs)
        print(
            f"{name:16s} perturbed: loss curves up to {apart:.1e} apart, "
            f"final never active {'unchanged' if same else 'CHANGED'}"
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
