"""A chain of width-1 ReLU layers: explosion, and why He init cannot fix it.

The source's demo, with its bugs fixed: 20 nn.Linear(1, 1) layers with weights
N(1.5, 0.1) and tensor hooks on the pre-activations. Every unit is active, so
dL/dz^(l) is the product of the weights above layer l, about 1.5^(20 - l).
The source's proposed fix, kaiming_normal_(mode='fan_in', nonlinearity='relu')
with bias 0.01, draws each weight from N(0, 2) because fan_in = 1: half the
weights are negative, each negative one kills the chain below it, and the
first layer's gradient is exactly zero in all but about 2^-depth of chains.
The few surviving chains multiply factors |w| of very different sizes.

Run: python snippets/03-weight-initialization/relu_chain_explosion.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn


def init_(weight, bias, init, g):
    if init == "N(1.5, 0.1)":  # the source's "wrong" initialization
        nn.init.normal_(weight, mean=1.5, std=0.1, generator=g)
        nn.init.zeros_(bias)
    else:  # the source's "correct" one; on a width-1 layer fan_in = 1
        nn.init.kaiming_normal_(
            weight, mode="fan_in", nonlinearity="relu", generator=g
        )
        nn.init.constant_(bias, 0.01 if init == "He, bias 0.01" else 0.0)


# The source printed the weights in __init__ through `model`, a global that
# does not exist yet while the model is being built: a NameError. Dropped.
# --8<-- [start:core]
class DeepReLUChain(nn.Module):
    def __init__(self, depth, init, g):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(1, 1) for _ in range(depth))
        for layer in self.layers:
            init_(layer.weight, layer.bias, init, g)

    def forward(self, x):
        self.grads = [None] * len(self.layers)  # dL/dz^(l), filled by backward
        for l, layer in enumerate(self.layers):
            z = layer(x)  # the pre-activation z^(l)
            # l=l binds this index (a bare l would be read after the loop)
            z.register_hook(lambda grad, l=l: self.grads.__setitem__(l, grad))
            x = torch.relu(z)
        return x


# --8<-- [end:core]


def chains(init, depth, n=2**18, seed=0):
    """n independent width-1 chains at once, x = 1: z^(l) and dL/dz^(l)."""
    g = torch.Generator().manual_seed(seed)
    w, b = torch.empty(depth, n, 1), torch.empty(depth, n, 1)
    for l in range(depth):  # the same init calls; w[l] is (n, 1): fan_in 1
        init_(w[l], b[l], init, g)
    a, zs = torch.ones(n, 1), []
    for l in range(depth):
        zs.append((w[l] * a + b[l]).requires_grad_())
        a = torch.relu(zs[-1])
    grads = torch.autograd.grad(a.sum(), zs)  # loss = sum of the n outputs
    z = torch.stack(zs).detach().squeeze(-1)
    return z, torch.stack(grads).squeeze(-1), a.detach().squeeze(-1)


def experiment(depth=20, short=10):
    g = torch.Generator().manual_seed(0)
    model = DeepReLUChain(depth, "N(1.5, 0.1)", g)
    model(torch.ones(1, 1)).sum().backward()  # x = 1, loss = output
    w = torch.cat([layer.weight.detach().flatten() for layer in model.layers])
    results = {
        "N(1.5, 0.1)": {
            "hooks": [grad.item() for grad in model.grads],
            "weight products": [w[l + 1 :].prod().item() for l in range(depth)],
        }
    }
    for init in ("He, bias 0.01", "He, bias 0"):
        z, grads, out = chains(init, depth)
        # a chain of d layers passes a gradient to layer 1 iff its d units
        # are all active: the fraction of such chains, for d = 1..depth
        all_active = (z > 0).int().cumprod(dim=0).float()
        _, grads_short, _ = chains(init, short, seed=1)
        first = grads_short[0]  # dL/dz_1 of chains of `short` layers
        results[init] = {
            "alive": all_active.mean(dim=1).tolist(),
            "zero gradient at layer 1": (grads[0] == 0).float().mean().item(),
            "zero output": (out == 0).float().mean().item(),
            "consistent": bool(((grads[0] != 0) == (all_active[-1] > 0)).all()),
            "survivors": first[first != 0].abs(),
        }
    return results


def plot(results):
    fig, axes = plt.subplots(3, 1, figsize=(4.2, 9.0))
    src = results["N(1.5, 0.1)"]
    depth = len(src["hooks"])
    layers = range(1, depth + 1)
    axes[0].plot(layers, src["hooks"], "o", ms=6, mfc="none", label="hooks")
    axes[0].plot(layers, src["weight products"], "-", label="product of w")
    axes[0].plot(
        layers, [1.5 ** (depth - l) for l in layers], ":", label="$1.5^{20-l}$"
    )
    axes[0].set_yscale("log")
    axes[0].set_xlabel("layer l")
    axes[0].set_ylabel(r"$\partial \mathcal{L} / \partial z^{(l)}$")
    axes[0].set_title(r"Weights $\mathcal{N}(1.5, 0.1^2)$")
    axes[0].legend()

    for init, marker in (("He, bias 0.01", "o-"), ("He, bias 0", "s--")):
        alive = results[init]["alive"]
        axes[1].plot(layers, alive, marker, ms=4, label=init)
    axes[1].plot(layers, [2.0**-d for d in layers], "k:", label="$2^{-d}$")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("chain depth d")
    axes[1].set_ylabel("fraction alive")
    axes[1].set_title("He init: chains passing a gradient")
    axes[1].legend(loc="lower left")

    for init, ls in (("He, bias 0.01", "-"), ("He, bias 0", "--")):
        survivors = results[init]["survivors"]
        axes[2].hist(
            survivors.log10().tolist(),
            bins=40,
            histtype="step",
            lw=1.5,
            linestyle=ls,
            label=f"{init} ({len(survivors)})",
        )
    axes[2].axvline(
        math.log10(1.5**9), color="grey", linestyle=":", label="$1.5^9$"
    )
    axes[2].set_xlabel(r"$\log_{10} |\partial \mathcal{L} / \partial z^{(1)}|$")
    axes[2].set_ylabel("chains")
    axes[2].set_title("Survivors, chains of 10 layers")
    axes[2].legend(loc="upper left")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    src = results["N(1.5, 0.1)"]
    print(
        f"N(1.5, 0.1): dL/dz_1 = {src['hooks'][0]:.4g} (hooks), "
        f"{src['weight products'][0]:.4g} (product of weights), "
        f"1.5^{len(src['hooks']) - 1} = {1.5 ** (len(src['hooks']) - 1):.4g}"
    )
    for init in ("He, bias 0.01", "He, bias 0"):
        r = results[init]
        s = r["survivors"]
        print(
            f"{init}: zero dL/dz_1 in {r['zero gradient at layer 1']:.6f} of "
            f"depth-20 chains, zero output in {r['zero output']:.6f}; "
            f"alive at depth 10: {r['alive'][9]:.5f} (2^-10 = {2**-10:.5f}); "
            f"survivors of 10 layers: {len(s)}, |dL/dz_1| median "
            f"{s.median():.3g}, rms {s.pow(2).mean().sqrt():.3g}, "
            f"range {s.min():.2g} to {s.max():.2g}"
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
