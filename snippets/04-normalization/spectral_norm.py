"""Spectral normalization caps each layer's gain at about 1, so gradients vanish.

torch.nn.utils.parametrizations.spectral_norm divides a weight by an estimate
of its largest singular value, refined by one power iteration per
training-mode forward pass (after 16 at registration). The estimate u^T W v
can only fall short of the true s_max, and for a square random matrix,
whose top two singular values are close, it converges slowly: the normalized
weight's true s_max is then slightly above 1. In a deep stack of such
layers no layer can amplify, and a random matrix divided by its s_max has
most singular values well below 1: the gradient shrinks geometrically towards
the input, unless every singular value equals the largest (orthogonal
weights). Dividing by s_max shrinks a layer only where s_max > 1:
layers with small weights (std 0.01, s_max about 0.23) are scaled up, and
the gradient through them vanishes less with spectral normalization than
without; W / s_max(W) does not depend on the scale of W.

Run: python snippets/04-normalization/spectral_norm.py [OUT_DIR]
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
SHAPES = [(128, 128), (64, 256), (256, 64)]  # (out, in)
STACKS = {  # name: (weight init, activation, spectral norm?)
    "He init, ReLU": ("he", torch.relu, False),
    "SN, ReLU": ("he", torch.relu, True),
    "SN, linear": ("he", lambda z: z, True),
    "SN, orthogonal, linear": ("orthogonal", lambda z: z, True),
    "std 0.01, linear": ("small", lambda z: z, False),  # not plotted
    "SN, std 0.01, linear": ("small", lambda z: z, True),  # not plotted
}
PLOTTED = list(STACKS)[:4]


def make_layer(n_in, n_out, init, seed, sn=True):
    g = torch.Generator().manual_seed(seed)
    # nn.Linear's own init and spectral_norm's starting u, v use the global
    # generator: seed it here, and leave it as it was afterwards
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layer = nn.Linear(n_in, n_out, bias=False, dtype=F64)
        if init == "orthogonal":
            nn.init.orthogonal_(layer.weight, generator=g)
        elif init == "small":  # s_max about 2 sqrt(n) 0.01, below 1
            nn.init.normal_(layer.weight, std=0.01, generator=g)
        else:
            nn.init.kaiming_normal_(
                layer.weight, nonlinearity="relu", generator=g
            )
        if sn:
            nn.utils.parametrizations.spectral_norm(layer)
    return layer, g


# --8<-- [start:core]
def sigma_estimates(layer, x, passes):
    """Relative error of the s_max estimate the layer uses after k forward passes."""
    sn = layer.parametrizations.weight[0]  # the _SpectralNorm module
    w = layer.parametrizations.weight.original.detach()  # unnormalized W
    true = torch.linalg.matrix_norm(w, 2)  # largest singular value
    errors = []
    for _ in range(passes + 1):
        estimate = sn._u @ w @ sn._v  # what forward divides by
        errors.append((1 - estimate / true).item())
        layer(x)  # training mode: one more power iteration
    return errors


# --8<-- [end:core]


def gradient_through_stack(init, activation, sn, depth=30, width=128, seed=0):
    """||dL/dz^(l)|| per layer, and the s_max of each weight used."""
    layers = []
    for l in range(depth):
        layer, g = make_layer(width, width, init, seed + l, sn)
        layers.append(layer)
    x = torch.randn(64, width, generator=g, dtype=F64)
    target = torch.randn(64, width, generator=g, dtype=F64)
    h, zs = x, []
    for layer in layers:
        zs.append(layer(h))
        zs[-1].retain_grad()
        h = activation(zs[-1])
    (h * target).sum().backward()  # a random linear loss
    with torch.no_grad():  # eval mode: read the weight without an iteration
        sigmas = [torch.linalg.matrix_norm(m.eval().weight, 2) for m in layers]
    return [z.grad.norm().item() for z in zs], [s.item() for s in sigmas]


def experiment(passes=40):
    errors = {}
    for out, n_in in SHAPES:
        layer, g = make_layer(n_in, out, "he", seed=out + n_in)
        w = layer.parametrizations.weight.original.detach()
        s = torch.linalg.svdvals(w)
        x = torch.randn(8, n_in, generator=g, dtype=F64)
        errors[(out, n_in)] = {
            "s2/s1": (s[1] / s[0]).item(),
            "error": sigma_estimates(layer, x, passes),
        }
    stacks = {}
    for name, (init, activation, sn) in STACKS.items():
        deltas, sigmas = gradient_through_stack(init, activation, sn)
        stacks[name] = {
            "delta": deltas,
            "max s_max": max(sigmas),
            "min s_max": min(sigmas),
            "product of s_max": math.prod(sigmas),  # bounds the whole stack
            "per layer": (deltas[0] / deltas[-1]) ** (1 / (len(deltas) - 1)),
        }
    return {"sigma error": errors, "stacks": stacks}


def plot(r):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.4))
    for (out, n_in), e in r["sigma error"].items():
        label = rf"{out}$\times${n_in}"
        top.plot(range(len(e["error"])), e["error"], label=label)
    top.set_yscale("log")
    top.set_xlabel("forward passes after registration")
    top.set_ylabel(r"$1 - \hat s / s_{\max}$")
    top.set_title("Power-iteration estimate of $s_{\\max}$")
    top.legend(loc="lower left")
    labels = {
        "He init, ReLU": "He, ReLU",
        "SN, ReLU": "SN, ReLU",
        "SN, linear": "SN, linear",
        "SN, orthogonal, linear": "SN, orthogonal",
    }
    styles = {"SN, orthogonal, linear": ":"}  # level, like He init: keep both
    for name in PLOTTED:
        d = r["stacks"][name]["delta"]
        bottom.plot(
            range(1, len(d) + 1),
            [v / d[-1] for v in d],
            styles.get(name, "-"),
            lw=2.5 if name in styles else 1.5,
            label=labels[name],
        )
    bottom.set_yscale("log")
    bottom.set_xlabel("layer $l$")
    bottom.set_ylabel(r"$\|\delta^{(l)}\| \,/\, \|\delta^{(L)}\|$")
    bottom.set_title("Gradient through 30 layers")
    bottom.legend(loc="lower right")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for shape, e in r["sigma error"].items():
        err = e["error"]
        print(
            f"{shape}: s2/s1 {e['s2/s1']:.3f}; relative error of the s_max estimate after "
            f"0 / 1 / {len(err) - 1} passes: {err[0]:.2g} / {err[1]:.2g} / "
            f"{err[-1]:.2g}"
        )
    for name, s in r["stacks"].items():
        d = s["delta"]
        print(
            f"{name:24s} ||delta^(1)||/||delta^(L)|| {d[0] / d[-1]:9.3g}  per layer "
            f"{s['per layer']:.3f}  s_max {s['min s_max']:.4f} to "
            f"{s['max s_max']:.4f}"
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
