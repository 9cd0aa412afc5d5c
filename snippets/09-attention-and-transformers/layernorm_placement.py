"""Post-LN and Pre-LN Transformer stacks: the gradient of each layer at init.

Stacks of nn.TransformerEncoderLayer (d_model 32, 4 heads, feed-forward
width 128, no dropout), norm_first=False (Post-LN, PyTorch's default and the
original Transformer's) or True (Pre-LN, with a final LayerNorm), initialized
as nn.Transformer initializes its layers (Xavier-uniform for every matrix),
biases zero, in float64. Random unit-variance inputs, 4 sequences of 16
tokens, cross-entropy through a fixed random readout; three seeds. Measured:
the norm of the gradient of each layer's second feed-forward matrix W_2.
Post-LN gives every layer a gradient of about the same size, at every
depth. Pre-LN's gradients fall towards the output, and the last layer's
falls with the depth L about like 1/sqrt(L) (Xiong et al. 2020, Theorem 1):
at 48 layers Post-LN's last layer gets several times Pre-LN's.

Run: python snippets/09-attention-and-transformers/layernorm_placement.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

F64 = torch.float64


# --8<-- [start:core]
def encoder(norm_first, L, g, d=32, heads=4, ff=128):
    """L encoder layers, Post-LN or Pre-LN, initialized as nn.Transformer."""
    layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, dtype=F64,
                                       norm_first=norm_first, batch_first=True)  # fmt: skip
    final = nn.LayerNorm(d, dtype=F64) if norm_first else None  # Pre-LN's last
    enc = nn.TransformerEncoder(layer, L, final, enable_nested_tensor=False)
    for name, p in enc.named_parameters():
        if p.dim() > 1:  # what nn.Transformer._reset_parameters does
            nn.init.xavier_uniform_(p, generator=g)
        elif "norm" not in name:  # biases; LayerNorm keeps weight 1, bias 0
            nn.init.zeros_(p)
    return enc


# --8<-- [end:core]

PLACEMENTS = {"Post-LN": False, "Pre-LN": True}  # name: norm_first


def w2_gradients(norm_first, L, seed, d=32, batch=4, tokens=16, classes=10):
    """||dL/dW_2|| of every layer, for one seed."""
    g = torch.Generator().manual_seed(seed)
    enc = encoder(norm_first, L, g, d=d)
    x = torch.randn(batch, tokens, d, generator=g, dtype=F64)
    readout = torch.randn(classes, d, generator=g, dtype=F64) / math.sqrt(d)
    y = torch.randint(0, classes, (batch, tokens), generator=g)
    logits = enc(x) @ readout.T
    nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()).backward()
    return [layer.linear2.weight.grad.norm().item() for layer in enc.layers]


def geometric_mean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def experiment(depths=(3, 6, 12, 24, 48), profile_depth=12, seeds=(0, 1, 2)):
    r = {"depths": list(depths), "profile depth": profile_depth}
    for name, norm_first in PLACEMENTS.items():
        runs = {
            L: [w2_gradients(norm_first, L, s) for s in seeds] for L in depths
        }
        r[name] = {
            "per layer": [  # layer 1 .. profile_depth, over the seeds
                geometric_mean([run[i] for run in runs[profile_depth]])
                for i in range(profile_depth)
            ],
            "last layer": [
                geometric_mean([run[-1] for run in runs[L]]) for L in depths
            ],
            "last layer, per seed": {
                L: [run[-1] for run in runs[L]] for L in depths
            },
        }
    post, pre = r["Post-LN"]["last layer"], r["Pre-LN"]["last layer"]
    r["Post/Pre, last layer"] = [a / b for a, b in zip(post, pre)]
    r["settings"] = dict(seeds=seeds, d=32, heads=4, ff=128, batch=4, tokens=16)
    return r


def plot(r):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 5.8))
    layers = range(1, r["profile depth"] + 1)
    for name, style in zip(PLACEMENTS, ("o-", "s-")):
        top.plot(layers, r[name]["per layer"], style, label=name)
    depths, ratio = r["depths"], r["Post/Pre, last layer"]
    bottom.plot(depths, ratio, "o-", color="C2", label="measured")
    c = ratio[0] / math.sqrt(depths[0])
    bottom.plot(
        depths,
        [c * math.sqrt(L) for L in depths],
        "k:",
        label="∝ √L",  # plain text: mathtext draws the radical small,
    )
    top.set_xlabel(f"layer l (of {r['profile depth']})")
    top.set_ylabel(r"layer $l$'s $\|\partial \mathcal{L} / \partial W_2\|$")
    top.set_ylim(0, None)
    top.set_xticks([1, 4, 8, 12])
    top.legend(loc="lower left")
    bottom.set_xscale("log", base=2)
    bottom.set_yscale("log", base=2)
    bottom.set_xticks(depths, [str(L) for L in depths])
    bottom.set_yticks([1, 2, 4, 8], ["1", "2", "4", "8"])
    bottom.minorticks_off()
    bottom.set_xlabel("depth L")
    bottom.set_ylabel("last layer's gradient,\nPost-LN / Pre-LN")
    bottom.legend(loc="upper left")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for name in PLACEMENTS:
        per_layer = " ".join(f"{v:.2f}" for v in r[name]["per layer"])
        print(
            f"{name}, {r['profile depth']} layers, ||dL/dW_2|| by layer: {per_layer}"
        )
    for i, L in enumerate(r["depths"]):
        print(
            f"L = {L:2d}: last layer Post-LN {r['Post-LN']['last layer'][i]:.3f}, "
            f"Pre-LN {r['Pre-LN']['last layer'][i]:.3f}, "
            f"ratio {r['Post/Pre, last layer'][i]:.2f}"
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
