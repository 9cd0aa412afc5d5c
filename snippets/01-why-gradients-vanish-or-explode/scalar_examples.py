"""The two textbook examples, computed by formula and by autograd.

Ten layers, every weight matrix a multiple of the identity: W = 0.5 I with a
sigmoid, and W = 2 I with no activation. The gradient reaching layer l is a
product of L - l per-layer factors W * sigma'(z). It shrinks as 0.125^(L-l)
only where every sigmoid sits at z = 0 (the one point where sigma' = 1/4);
anywhere else each factor is smaller. It grows as exactly 2^(L-l).

Run: python snippets/01-why-gradients-vanish-or-explode/scalar_examples.py [OUT_DIR]
"""

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch


# --8<-- [start:core]
def gradients_to_each_layer(weight, bias, activation, depth=10, x0=0.5):
    """|d a_L / d a_l|, l = 0..L,
    for a_l = activation(weight * a_(l-1) + bias)."""
    acts = [torch.tensor(x0, dtype=torch.float64, requires_grad=True)]
    for _ in range(depth):
        acts[-1].retain_grad()
        acts.append(activation(weight * acts[-1] + bias))
    acts[-1].backward()
    return [a.grad.abs().item() for a in acts[:-1]] + [1.0]


def identity(z):
    return z


def examples(depth=10):
    return {
        # sigma'(0) = 1/4 is the bound. Bias -0.25 keeps every z at 0
        # (a = 0.5 in, 0.5 * 0.5 - 0.25 = 0), so the bound is attained in
        # every layer.
        "sigmoid, W=0.5, z=0 everywhere": gradients_to_each_layer(
            0.5, -0.25, torch.sigmoid, depth
        ),
        # Same chain, zero bias: z > 0 after the first layer, so sigma' < 1/4.
        "sigmoid, W=0.5, zero bias": gradients_to_each_layer(
            0.5, 0.0, torch.sigmoid, depth
        ),
        "linear, W=2": gradients_to_each_layer(2.0, 0.0, identity, depth),
    }


def formula(depth=10):
    """The per-layer factor to the power of the layers crossed, l = 0..L."""
    return {
        "(0.5 * 1/4)^(L-l)": [0.125 ** (depth - l) for l in range(depth + 1)],
        "2^(L-l)": [2.0 ** (depth - l) for l in range(depth + 1)],
    }


# --8<-- [end:core]


def plot(autograd, closed_form):
    fig, ax = plt.subplots(figsize=(7, 3.6))
    layers = range(len(next(iter(autograd.values()))))
    for (name, values), marker in zip(autograd.items(), "os^"):
        ax.plot(layers, values, marker, label=f"autograd: {name}", markersize=7)
    for name, values in closed_form.items():
        ax.plot(layers, values, "-", color="grey", linewidth=1)
        ax.annotate(
            name,
            (4, values[4]),
            xytext=(6, 6),
            textcoords="offset points",
            color="grey",
        )
    ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel(r"$|\partial a^{(L)} / \partial a^{(l)}|$")
    ax.set_title(
        "Gradient reaching layer l of a 10-layer chain (grey: formula)"
    )
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(True, which="major", alpha=0.3)
    return fig


def main(out_dir: Path) -> dict:
    autograd, closed_form = examples(), formula()
    for name, values in {**autograd, **closed_form}.items():
        print(f"{name:32s} gradient at layer 1: {values[1]:.6g}")
    save(plot(autograd, closed_form), out_dir / f"{Path(__file__).stem}.svg")
    return {"autograd": autograd, "formula": closed_form}


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
