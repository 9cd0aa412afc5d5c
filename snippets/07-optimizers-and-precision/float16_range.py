"""float16 has a window of magnitudes; gradients outside it vanish or explode.

torch.finfo gives each format's range: float16's largest finite number is
65504, its smallest normal 2^-14 and its smallest subnormal 2^-24; anything
smaller rounds to zero, anything from 65520 up to infinity. bfloat16 keeps
float32's range with 8 bits of precision. The chapter's badly initialized
network (14 hidden layers, nn.Linear's init) run under
torch.autocast("cpu", dtype=torch.float16): the gradients of its first
layers are so small that float16 flushes many of their entries to exactly
zero, vanishing made exact. Multiplying the loss by 2^16 before backward
(what GradScaler does) moves them into the window, and dividing the
gradients by 2^16 afterwards, in float32, gives them back.

Run: python snippets/07-optimizers-and-precision/float16_range.py [OUT_DIR]
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


def formats():
    """Range and resolution of three formats, from torch.finfo."""
    rows = {}
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        info = torch.finfo(dtype)
        rows[str(dtype).removeprefix("torch.")] = {
            "largest": info.max,
            "smallest normal": info.smallest_normal,
            "smallest subnormal": info.smallest_normal * info.eps,
            "eps": info.eps,  # the spacing of numbers just above 1
            "bits of precision": 1 - round(math.log2(info.eps)),
        }
    return rows


def round_trip(values, dtype):
    """Each float64 value stored in dtype and read back."""
    return torch.tensor(values, dtype=torch.float64).to(dtype).double().tolist()


# --8<-- [start:core]
def weight_gradients(model, x, y, dtype=None, loss_scale=1.0):
    """Each layer's dL/dW in float32, computed under autocast to `dtype`."""
    model.zero_grad()
    with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        loss = nn.functional.mse_loss(model(x), y)  # autocast: float32
    (loss * loss_scale).backward()  # gradients cross float16 layers
    return [
        m.weight.grad / loss_scale for m in model if isinstance(m, nn.Linear)
    ]


def lost(reference, grads):
    """Per layer: the share of non-zero entries that became exactly zero."""
    return [
        ((g == 0) & (r != 0)).sum().item() / (r != 0).sum().item()
        for r, g in zip(reference, grads)
    ]


# --8<-- [end:core]


def experiment(seeds=range(3), scale=2.0**16):
    runs = []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        x, y = make_task(g)
        model = make_mlp(g)
        exact = weight_gradients(model, x, y)
        half = weight_gradients(model, x, y, torch.float16)
        scaled = weight_gradients(model, x, y, torch.float16, scale)
        brain = weight_gradients(model, x, y, torch.bfloat16)
        nonzero = [r[r != 0].abs() for r in exact]
        runs.append(
            {
                "median |g|": [v.median().item() for v in nonzero],
                "max |g|": [v.max().item() for v in nonzero],
                "lost in float16": lost(exact, half),
                f"lost in float16, loss x {scale:g}": lost(exact, scaled),
                "lost in bfloat16": lost(exact, brain),
                "largest scaled entry": max(
                    (r * scale).abs().max().item() for r in exact
                ),
            }
        )
    return {
        "formats": formats(),
        "round trips": {
            "float16": round_trip(
                [65504, 65519, 65520, 2**-24, 2**-25, 1 + 2**-11], torch.float16
            ),
            "bfloat16": round_trip([1 + 2**-9, 1e-30, 3e38], torch.bfloat16),
        },
        "runs": runs,
        "scale": scale,
    }


def plot(r):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.4), sharex=True)
    scale, f16 = r["scale"], r["formats"]["float16"]
    key = f"lost in float16, loss x {scale:g}"
    layers = range(1, len(r["runs"][0]["median |g|"]) + 1)
    for k, run in enumerate(r["runs"]):
        med = run["median |g|"]
        for i, (factor, lost_) in enumerate(
            ((1, run["lost in float16"]), (scale, run[key]))
        ):
            style = dict(color=f"C{i}", ms=3, linestyle="-" if i == 0 else "--")
            label = None if k else ("loss x 1" if i == 0 else "loss x 2^16")
            top.plot(
                layers, [v * factor for v in med], "o", label=label, **style
            )
            bottom.plot(layers, [100 * v for v in lost_], "o", **style)
    for value, text, x, ha, va in (
        (f16["largest"], "largest, 65504", 1, "left", "bottom"),
        (f16["smallest normal"], "smallest normal", 1, "left", "top"),
        (f16["smallest subnormal"], "smallest subnormal", 15, "right", "top"),
    ):
        top.axhline(value, color="grey", lw=1, linestyle=":")
        top.annotate(text, (x, value), ha=ha, va=va, color="dimgrey")
    top.set_yscale("log", base=2)
    top.set_ylim(2**-30, 2**22)
    top.set_ylabel("median |dL/dW(l)|")
    top.set_title("Gradients and float16's range")
    bottom.set_ylabel("entries lost (%)")
    bottom.set_xlabel("layer l")
    bottom.set_title("Gradient entries flushed to zero")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.legend(
        *top.get_legend_handles_labels(),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
    )
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for name, row in r["formats"].items():
        print(
            f"{name:9s} largest {row['largest']:.4g}, smallest normal "
            f"{row['smallest normal']:.4g}, smallest subnormal "
            f"{row['smallest subnormal']:.4g}, eps {row['eps']:.4g} "
            f"({row['bits of precision']} bits)"
        )
    for name, values in r["round trips"].items():
        print(f"{name} round trips: {values}")
    key = f"lost in float16, loss x {r['scale']:g}"
    for seed, run in enumerate(r["runs"]):
        print(
            f"seed {seed}: layer 1 median |g| {run['median |g|'][0]:.2g}; "
            f"lost in float16 {run['lost in float16'][0]:.0%}, with the loss "
            f"scaled {run[key][0]:.0%}; largest scaled entry "
            f"{run['largest scaled entry']:.3g}"
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
