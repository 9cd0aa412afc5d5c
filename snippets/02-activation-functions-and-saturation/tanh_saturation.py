"""Saturated tanh units, and what they do to the gradient of a deep MLP.

A 10-layer tanh MLP at initialization, weights N(0, gain^2 / fan_in). Where
|tanh| > 0.97 (the threshold of Karpathy's makemore part 3) the derivative
1 - tanh^2 is below 0.06, so a saturated unit passes almost no gradient. The
gradient through a layer is scaled by about gain * sqrt(E[tanh'(z)^2]): larger
weights saturate more units, but also multiply the gradient back up: with
gain 5/3 or 3 the gradient grows towards the input instead of vanishing.

Run: python snippets/02-activation-functions-and-saturation/tanh_saturation.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

GAINS = {"0.5": 0.5, "1": 1.0, "5/3": 5 / 3, "3": 3.0}


# A tanh MLP with N(0, gain^2 / n) weights and no biases: the activations
# a^(l) and the gradients dL/dz^(l) of every layer, at initialization.
# --8<-- [start:core]
def forward_backward(gain, depth=10, width=256, batch=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, width, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    model = [nn.Linear(width, width, bias=False) for _ in range(depth)]
    head = nn.Linear(width, 10, bias=False)
    for layer in [*model, head]:
        nn.init.normal_(layer.weight, 0, gain / math.sqrt(width), generator=g)
    h, zs, hs = x, [], []
    for layer in model:
        zs.append(layer(h))
        h = torch.tanh(zs[-1])
        hs.append(h.detach())
    loss = nn.functional.cross_entropy(head(h), y)
    return hs, torch.autograd.grad(loss, zs)  # dL/dz for every layer


# --8<-- [end:core]


def saturation_and_gradients(gain, **kwargs):
    hs, dz = forward_backward(gain, **kwargs)
    r = {"saturated": [], "mean slope": [], "gain x rms slope": []}
    r.update({"|dL/dz|": [], "dL/dz saturated / unsaturated": []})
    for h, d in zip(hs, dz):
        slope, saturated = 1 - h**2, h.abs() > 0.97  # slope = tanh'(z)
        r["saturated"].append(saturated.double().mean().item())
        r["mean slope"].append(slope.mean().item())
        r["gain x rms slope"].append(gain * slope.pow(2).mean().sqrt().item())
        r["|dL/dz|"].append(d.norm().item())
        ratio = d[saturated].abs().mean() / d[~saturated].abs().mean()
        r["dL/dz saturated / unsaturated"].append(ratio.item())  # nan if none
    return r


def plot(results):
    fig, axes = plt.subplots(2, 1, figsize=(4.2, 6.4), sharex=True)
    markers = ("o", "s", "^", "D")
    for (name, r), m in zip(results.items(), markers):
        layers = range(1, len(r["saturated"]) + 1)
        pct = [100 * s for s in r["saturated"]]
        hollow = (
            dict(mfc="none", markersize=9, zorder=3) if name == "0.5" else {}
        )
        style = {
            "markersize": 4,
            **hollow,
        }  # gain 0.5: rings around gain 1's 0%
        axes[0].plot(layers, pct, m + "-", label=f"gain {name}", **style)
        axes[1].plot(layers, r["|dL/dz|"], m + "-", markersize=4)
    axes[0].set_ylabel(r"% with $|\tanh| > 0.97$")
    axes[1].legend(
        *axes[0].get_legend_handles_labels(),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.3),
        ncol=2,
        frameon=False,
    )
    axes[1].set_yscale("log")
    axes[1].set_ylabel(r"$\|\delta^{(l)}\|$")
    axes[1].set_xlabel("layer l")
    axes[1].set_xticks(range(1, 11))
    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = {name: saturation_and_gradients(g) for name, g in GAINS.items()}
    for name, r in results.items():
        first, last = r["|dL/dz|"][0], r["|dL/dz|"][-1]
        print(
            f"gain {name:4s} saturated: layer 1 {r['saturated'][0]:6.1%}, "
            f"layer 10 {r['saturated'][-1]:6.1%}; "
            f"gain x rms tanh' (layer 10) {r['gain x rms slope'][-1]:.2f}; "
            f"|dL/dz| layer 1 / layer 10 = {first / last:.3g}"
        )
    three = results["3"]
    ratios = three["dL/dz saturated / unsaturated"]
    print(
        f"gain 3: |dL/dz| on saturated / unsaturated entries {min(ratios):.2g}"
        f" to {max(ratios):.2g}; mean tanh' (layer 10) "
        f"{three['mean slope'][-1]:.2f}"
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
