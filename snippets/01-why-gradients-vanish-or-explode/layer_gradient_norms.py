"""Which activations and inits keep a deep MLP's gradient norms level.

With PyTorch's default nn.Linear init, the gradient delta_l = dL/dz_l reaching
the first layer is orders of magnitude smaller than at the last, for sigmoid,
tanh and ReLU alike. With the init usually recommended for the activation
(Xavier for tanh, He for ReLU) tanh and ReLU stay within an order of magnitude;
sigmoid still vanishes: sigma' <= 1/4, and Xavier's weights only preserve the
size of the gradient on average, so each layer still divides it by about four.

Run: python snippets/01-why-gradients-vanish-or-explode/layer_gradient_norms.py [OUT_DIR]
"""

import math
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


# --8<-- [start:core]
def init_(layer, scheme, activation, generator):
    if scheme == "pytorch default":  # what nn.Linear.reset_parameters does
        nn.init.kaiming_uniform_(
            layer.weight, a=math.sqrt(5), generator=generator
        )
        bound = 1 / math.sqrt(layer.in_features)
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    else:  # "matched": He for ReLU, Xavier (Glorot) otherwise; zero biases
        if activation == "relu":
            nn.init.kaiming_normal_(
                layer.weight, nonlinearity="relu", generator=generator
            )
        else:
            nn.init.xavier_normal_(layer.weight, generator=generator)
        nn.init.zeros_(layer.bias)


def layer_gradient_norms(
    activation, scheme, depth=30, width=256, batch=256, seed=0
):
    """||delta_l|| = ||dL/dz_l|| of each hidden layer, one backward pass."""
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
    h, zs = x, []
    for layer in hidden:
        zs.append(layer(h))
        zs[-1].retain_grad()  # keep delta_l = dL/dz_l for inspection
        h = ACTIVATIONS[activation](zs[-1])
    nn.functional.cross_entropy(head(h), y).backward()
    return [z.grad.norm().item() for z in zs]


def experiment():
    return {
        scheme: {act: layer_gradient_norms(act, scheme) for act in ACTIVATIONS}
        for scheme in ("pytorch default", "matched")
    }


# --8<-- [end:core]


def plot(results):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    titles = {
        "pytorch default": "PyTorch default init",
        "matched": "Xavier (sigmoid, tanh) / He (ReLU)",
    }
    for ax, (scheme, by_act) in zip(axes, results.items()):
        for act, norms in by_act.items():
            ax.plot(
                range(1, len(norms) + 1), norms, "o-", markersize=3, label=act
            )
        ax.set_yscale("log")
        ax.set_title(titles[scheme])
        ax.set_xlabel("layer l (1 = next to the input)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel(
        r"$\|\delta^{(l)}\| = \|\partial L / \partial z^{(l)}\|$"
    )
    axes[1].legend()
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for scheme, by_act in results.items():
        for act, norms in by_act.items():
            print(
                f"{scheme:16s} {act:8s} first/last layer ||delta||: "
                f"{norms[0] / norms[-1]:.2g}"
            )
    save(plot(results), out_dir / f"{Path(__file__).stem}.svg")
    return results


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
