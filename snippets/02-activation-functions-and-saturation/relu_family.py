"""The ReLU family: curves and derivatives from torch.nn and autograd.

ReLU passes a gradient of exactly 1 or exactly 0. LeakyReLU and PReLU keep a
small constant slope for z < 0; ELU and SELU an exponentially decaying one;
GELU, SiLU (Swish) and Mish are smooth, dip below zero, are not monotonic, and
have a derivative that exceeds 1 for moderate positive z.

Run: python snippets/02-activation-functions-and-saturation/relu_family.py [OUT_DIR]
"""

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

# --8<-- [start:core]
ACTIVATIONS = {
    "ReLU": nn.ReLU(),
    "LeakyReLU(0.01)": nn.LeakyReLU(negative_slope=0.01),
    "PReLU (init 0.25)": nn.PReLU(init=0.25),  # the slope is learned
    "ELU": nn.ELU(alpha=1.0),
    "SELU": nn.SELU(),
    "GELU": nn.GELU(),
    "SiLU / Swish": nn.SiLU(),
    "Mish": nn.Mish(),
}


def curve_and_derivative(f, z):
    z = z.clone().requires_grad_()
    y = f(z)
    (dy,) = torch.autograd.grad(y.sum(), z)  # elementwise: f'(z_i)
    return y.detach(), dy


def measure(lo=-5.0, hi=3.0, step=0.001):
    n = round((hi - lo) / step)
    z = lo + step * torch.arange(n + 1, dtype=torch.float64)
    table = {}
    for name, f in ACTIVATIONS.items():
        f = f.double()
        y, dy = curve_and_derivative(f, z)
        _, d_at_minus_3 = curve_and_derivative(f, torch.tensor([-3.0]).double())
        table[name] = {
            "z": z,
            "f": y,
            "f'": dy,
            "f'(-3)": d_at_minus_3.item(),
            "min f": y.min().item(),
            "argmin f": z[y.argmin()].item(),
            "min f'": dy.min().item(),  # the range of D's entries
            "max f'": dy.max().item(),
        }
    return table


# --8<-- [end:core]

FAMILIES = {
    "piecewise linear": ("ReLU", "LeakyReLU(0.01)", "PReLU (init 0.25)"),
    "exponential for z < 0": ("ELU", "SELU"),
    "smooth, gated": ("GELU", "SiLU / Swish", "Mish"),
}


def plot(table):
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), sharey=True)
    for ax, (family, names) in zip(axes, FAMILIES.items()):
        for i, name in enumerate(names):
            r, color = table[name], f"C{i}"
            ax.plot(r["z"], r["f"], "-", color=color, label=f"{name}")
            ax.plot(r["z"], r["f'"], "--", color=color, lw=1.2)
        ax.plot([], [], "k--", lw=1.2, label="derivative (dashed)")
        ax.set_title(family)
        ax.set_xlabel("z")
        ax.set_ylim(-1.9, 3.1)
        ax.grid(True, alpha=0.3)
        ax.axhline(0, color="grey", lw=0.6)
        ax.legend(fontsize="x-small", loc="upper left")
    axes[0].set_ylabel("f(z) solid, f'(z) dashed")
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    table = measure()
    columns = ("f'(-3)", "min f", "argmin f", "min f'", "max f'")
    print(" " * 18 + "".join(f"{c:>10s}" for c in columns))
    for name, r in table.items():
        print(f"{name:18s}" + "".join(f"{r[c]:10.4f}" for c in columns))
    save(plot(table), out_dir / f"{Path(__file__).stem}.svg")
    return {
        name: {k: v for k, v in r.items() if k not in ("z", "f", "f'")}
        for name, r in table.items()
    }


def save(fig, path):
    """Write a byte-reproducible SVG, or exit with a one-line error."""
    plt.rcParams["svg.hashsalt"] = "vanishing-gradients"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(
            path, metadata={"Date": None}, transparent=True, bbox_inches="tight"
        )
    except OSError as err:
        sys.exit(f"error: cannot write {path}: {err.strerror}")
    finally:
        plt.close(fig)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
