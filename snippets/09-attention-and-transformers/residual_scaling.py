"""Pre-LN's residual stream grows with depth; GPT-2's init scaling stops it.

A 48-layer Pre-LN stack of nn.TransformerEncoderLayer (d_model 32, 4 heads,
feed-forward width 128, no dropout, final LayerNorm), initialized as
nn.Transformer initializes its layers (Xavier-uniform matrices), biases
zero, float64, random unit-variance inputs (4 sequences of 16 tokens), three
seeds. In Pre-LN nothing normalizes the residual stream x_l: every block adds
its branch, and the stream's mean square grows linearly with l. GPT-2
(Radford et al. 2019) scales "the weights of residual layers at
initialization by a factor of 1/sqrt(N) where N is the number of residual
layers": here the 2L projections that write into the stream (attention's
output projection and the second feed-forward matrix). The stream then
grows by a bounded amount whatever the depth, and every layer's W_2 gets
about the same gradient.

Run: python snippets/09-attention-and-transformers/residual_scaling.py [OUT_DIR]
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


def encoder(L, g, d=32, heads=4, ff=128):
    """L Pre-LN encoder layers, initialized as nn.Transformer initializes."""
    layer = nn.TransformerEncoderLayer(
        d, heads, ff, dropout=0.0, batch_first=True, norm_first=True,
        dtype=F64,
    )  # fmt: skip
    final = nn.LayerNorm(d, dtype=F64)
    enc = nn.TransformerEncoder(
        layer, L, norm=final, enable_nested_tensor=False
    )
    for name, p in enc.named_parameters():
        if p.dim() > 1:  # what nn.Transformer._reset_parameters does
            nn.init.xavier_uniform_(p, generator=g)
        elif "norm" not in name:
            nn.init.zeros_(p)
    return enc


# --8<-- [start:core]
def scale_residual_projections(enc):
    """GPT-2: the weights that write into the residual stream (attention's
    output projection, the feed-forward's W_2) times 1/sqrt(N), N = 2L."""
    N = 2 * len(enc.layers)
    with torch.no_grad():
        for layer in enc.layers:
            layer.self_attn.out_proj.weight.mul_(N**-0.5)
            layer.linear2.weight.mul_(N**-0.5)


def residual_stream(enc, x):
    """x_0 .. x_L: the stream before and after every layer."""
    xs = [x]
    for layer in enc.layers:
        xs.append(layer(xs[-1]))
    return xs


# --8<-- [end:core]

VARIANTS = ("Pre-LN", "Pre-LN, GPT-2 scaling")


def measure(L, scaled, seed, d=32, batch=4, tokens=16, classes=10):
    """Mean square of x_0 .. x_L, and ||dL/dW_2|| of every layer."""
    g = torch.Generator().manual_seed(seed)
    enc = encoder(L, g, d=d)
    if scaled:
        scale_residual_projections(enc)
    x = torch.randn(batch, tokens, d, generator=g, dtype=F64)
    readout = torch.randn(classes, d, generator=g, dtype=F64) / math.sqrt(d)
    y = torch.randint(0, classes, (batch, tokens), generator=g)
    xs = residual_stream(enc, x)
    logits = enc.norm(xs[-1]) @ readout.T  # the final LayerNorm, then readout
    nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()).backward()
    return (
        [h.detach().pow(2).mean().item() for h in xs],
        [layer.linear2.weight.grad.norm().item() for layer in enc.layers],
    )


def experiment(L=48, seeds=(0, 1, 2)):
    r = {"L": L}
    for name in VARIANTS:
        runs = [measure(L, name != "Pre-LN", s) for s in seeds]
        r[name] = {
            "mean square": [
                sum(run[0][l] for run in runs) / len(runs) for l in range(L + 1)
            ],
            "||dL/dW_2||": [
                sum(run[1][l] for run in runs) / len(runs) for l in range(L)
            ],
        }
    q, w2 = r["Pre-LN"]["mean square"], r["Pre-LN"]["||dL/dW_2||"]
    r["Pre-LN growth per layer"] = (q[-1] - q[0]) / L
    # the gradient of layer l times the size of the stream it writes into
    r["Pre-LN ||dL/dW_2|| sqrt(q_l)"] = [
        w2[l] * math.sqrt(q[l + 1]) for l in range(L)
    ]
    r["settings"] = dict(seeds=seeds, d=32, heads=4, ff=128, batch=4, tokens=16)
    return r


def plot(r):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 5.8), sharex=True)
    L = r["L"]
    for name, style in zip(VARIANTS, ("-", "--")):
        label = "Pre-LN" if name == "Pre-LN" else "Pre-LN, × 1/√(2L)"
        top.plot(range(L + 1), r[name]["mean square"], style, label=label)
        bottom.plot(range(1, L + 1), r[name]["||dL/dW_2||"], style, label=label)
    top.set_ylabel(r"mean square of $x_l$")
    top.set_ylim(0, None)
    top.legend(loc="upper left")
    bottom.set_ylabel(r"layer $l$'s $\|\partial \mathcal{L} / \partial W_2\|$")
    bottom.set_ylim(0, None)
    bottom.set_xlabel(f"layer l (of {L})")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for name in VARIANTS:
        q, w2 = r[name]["mean square"], r[name]["||dL/dW_2||"]
        print(
            f"{name:22s} mean square x_0 {q[0]:.3f}, x_L {q[-1]:.3f}; "
            f"||dL/dW_2|| layer 1 {w2[0]:.3f}, layer L {w2[-1]:.3f}"
        )
    print(
        f"Pre-LN: the mean square grows by {r['Pre-LN growth per layer']:.3f} per layer"
    )
    product = r["Pre-LN ||dL/dW_2|| sqrt(q_l)"]
    print(
        f"Pre-LN: ||dL/dW_2|| sqrt(q_l) from {min(product):.2f} to {max(product):.2f}"
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
