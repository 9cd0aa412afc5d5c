"""Which activations and inits keep a deep MLP's gradient norms level.

With PyTorch's default nn.Linear init, the gradient delta_l = dL/dz_l reaching
the first layer is orders of magnitude smaller than at the last, for sigmoid,
tanh and ReLU alike. With the init usually recommended for the activation
(Xavier for tanh, He for ReLU) ReLU stays level and tanh decays slowly; sigmoid
still vanishes: sigma' <= 1/4, and Xavier's weights only preserve the size of
the gradient on average, so each layer still divides it by about four.

Two more cases. ReLU with Xavier's variance: delta and the activations vanish
in opposite directions, so the weight gradients are level, and tiny in every
layer. Sigmoid with N(0, 1) weights: saturated units, yet in a wide network
the gradient grows towards the input; in a narrow one it vanishes.

Run: python snippets/01-why-gradients-vanish-or-explode/layer_gradient_norms.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}
SLOPES = {  # the derivatives sigma'(z)
    "sigmoid": lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z)),
    "tanh": lambda z: 1 - torch.tanh(z) ** 2,
    "relu": lambda z: (z > 0).double(),
}


def init_(layer, scheme, activation, generator):
    if scheme == "pytorch default":  # what nn.Linear.reset_parameters does
        nn.init.kaiming_uniform_(
            layer.weight, a=math.sqrt(5), generator=generator
        )
        bound = 1 / math.sqrt(layer.in_features)
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
        return
    if scheme == "N(0, 1)":  # large weights: std 1 whatever the width
        nn.init.normal_(layer.weight, 0.0, 1.0, generator=generator)
    elif scheme == "matched" and activation == "relu":  # He
        nn.init.kaiming_normal_(
            layer.weight, nonlinearity="relu", generator=generator
        )
    else:  # "matched" for sigmoid and tanh, or "xavier": Xavier (Glorot)
        nn.init.xavier_normal_(layer.weight, generator=generator)
    nn.init.zeros_(layer.bias)


def layer_gradient_norms(
    activation, scheme, depth=30, width=256, batch=256, seed=0
):
    """Per hidden layer, one backward pass: ||delta_l|| = ||dL/dz_l||,
    ||dL/dW_l||, ||a_l|| and the mean of sigma'(z_l)."""
    g = torch.Generator().manual_seed(seed)
    # float64 so that gradients of 1e-25 are measured, not rounded to zero
    hidden = [
        nn.Linear(width, width, dtype=torch.float64) for _ in range(depth)
    ]
    head = nn.Linear(width, 10, dtype=torch.float64)
    for layer in hidden + [head]:
        init_(layer, scheme, activation, g)
    x = torch.randn(batch, width, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (batch,), generator=g)
    h, zs, acts = x, [], []
    for layer in hidden:
        zs.append(layer(h))
        zs[-1].retain_grad()  # keep delta_l = dL/dz_l for inspection
        h = ACTIVATIONS[activation](zs[-1])
        acts.append(h)
    nn.functional.cross_entropy(head(h), y).backward()
    return {
        "delta": [z.grad.norm().item() for z in zs],
        "weight_grad": [layer.weight.grad.norm().item() for layer in hidden],
        "activation": [a.norm().item() for a in acts],
        "mean_slope": [SLOPES[activation](z).mean().item() for z in zs],
    }


# --8<-- [start:core]
def experiment():
    results = {
        scheme: {act: layer_gradient_norms(act, scheme) for act in ACTIVATIONS}
        for scheme in ("pytorch default", "matched")
    }
    # ReLU with Xavier's variance 1/n, half of He's
    results["relu, xavier"] = layer_gradient_norms("relu", "xavier")
    # large weights saturate sigmoid units: 20 layers, wide and narrow
    results["sigmoid, N(0, 1)"] = {
        width: layer_gradient_norms("sigmoid", "N(0, 1)", 20, width)
        for width in (256, 32)
    }
    return results


# --8<-- [end:core]


def plot(results):
    fig, axes = plt.subplots(2, 1, figsize=(4.2, 6.0), sharex=True)
    titles = {
        "pytorch default": "PyTorch default init",
        "matched": "Xavier / He",
    }
    for ax, (scheme, title) in zip(axes, titles.items()):
        for (act, stats), marker in zip(results[scheme].items(), "os^"):
            norms = stats["delta"]
            ax.plot(
                range(1, len(norms) + 1),
                norms,
                marker + "-",
                markersize=3,
                label=act,
            )
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_ylabel(r"$\|\delta^{(l)}\|$")
        ax.grid(True, alpha=0.3)
    axes[1].set_xlabel("layer l (1 = next to the input)")
    axes[1].set_xticks([1, 10, 20, 30])
    axes[1].legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, frameon=False
    )
    fig.tight_layout()
    return fig


def first_over_last(values):
    return values[0] / values[-1]


def main(out_dir: Path) -> dict:
    results = experiment()
    for scheme in ("pytorch default", "matched"):
        for act, stats in results[scheme].items():
            ratio, steps = (
                first_over_last(stats["delta"]),
                len(stats["delta"]) - 1,
            )
            print(
                f"{scheme:16s} {act:8s} first/last layer ||delta||: "
                f"{ratio:.2g} ({ratio ** (1 / steps):.2g} per layer)"
            )
    xavier, he = results["relu, xavier"], results["matched"]["relu"]
    to_he = [x / h for x, h in zip(xavier["weight_grad"], he["weight_grad"])]
    print(
        f"ReLU, Xavier: first/last ||delta|| "
        f"{first_over_last(xavier['delta']):.2g}, last/first ||a|| "
        f"{1 / first_over_last(xavier['activation']):.2g}, first/last "
        f"||dL/dW|| {first_over_last(xavier['weight_grad']):.2g}; "
        f"||dL/dW|| / He's: {min(to_he):.2g} to {max(to_he):.2g}"
    )
    for width, stats in results["sigmoid, N(0, 1)"].items():
        slope = sum(stats["mean_slope"]) / len(stats["mean_slope"])
        print(
            f"sigmoid, N(0, 1), width {width:3d}: first/last ||delta|| "
            f"{first_over_last(stats['delta']):.2g}, mean sigma' {slope:#.2g}"
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
