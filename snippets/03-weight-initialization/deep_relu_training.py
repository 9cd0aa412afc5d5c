"""A 30-layer ReLU MLP trains with He init and stalls with Xavier init.

He et al. (2015) trained a 30-layer ReLU network from scratch with their
init and showed that Xavier's stalls. The same experiment at small scale:
width 64, 64 training points from a random teacher, SGD with momentum, three
seeds per init. With Xavier init every layer halves the signal's variance,
so the first layer's gradient is about 2^-15 times smaller than with He
init; the loss sits near ln 2 for the whole run. He init fits the data.

Run: python snippets/03-weight-initialization/deep_relu_training.py [OUT_DIR]
"""

import math
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn


def make_task(g, n=64, dim=16):
    """Labels from a random two-layer teacher: learnable, but not linear."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1) @ w2 > 0).long()
    return x, y


# --8<-- [start:core]
def make_mlp(init, g, depth=30, width=64, dim=16):
    sizes = [dim] + [width] * depth + [2]
    layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    for layer in layers:
        if init == "He":
            nn.init.kaiming_normal_(
                layer.weight, nonlinearity="relu", generator=g
            )
        else:
            nn.init.xavier_normal_(layer.weight, generator=g)
        nn.init.zeros_(layer.bias)
    blocks = [m for layer in layers[:-1] for m in (layer, nn.ReLU())]
    return nn.Sequential(*blocks, layers[-1])


def train(init, seed, steps=50, lr=0.002, momentum=0.9):
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    model = make_mlp(init, g)
    params = list(model.parameters())
    velocity = [torch.zeros_like(p) for p in params]
    losses, first_layer_gradients = [], []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        model.zero_grad()
        loss.backward()
        losses.append(loss.item())
        first_layer_gradients.append(model[0].weight.grad.norm().item())
        with torch.no_grad():  # SGD with momentum, as torch.optim.SGD does it
            for p, v in zip(params, velocity):
                v.mul_(momentum).add_(p.grad)
                p.sub_(lr * v)
    return {"losses": losses, "first layer gradient": first_layer_gradients}


def experiment(seeds=(0, 1, 2)):
    return {
        init: [train(init, seed) for seed in seeds] for init in ("Xavier", "He")
    }


# --8<-- [end:core]


def plot(results):
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    for i, (init, runs) in enumerate(results.items()):
        color = f"C{i}"
        for k, r in enumerate(runs):
            label = f"{init} ({len(runs)} seeds)" if k == 0 else None
            left.plot(r["losses"], color=color, label=label)
            right.plot(r["first layer gradient"], color=color, label=label)
    left.axhline(math.log(2), color="grey", linestyle=":", label="ln 2")
    left.set_ylabel("training loss")
    left.set_title("30-layer ReLU MLP, SGD with momentum")
    right.set_yscale("log")
    right.set_ylabel(r"$\|\partial L / \partial W^{(1)}\|$")
    right.set_title("Gradient of the first layer")
    for ax in (left, right):
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for init, runs in results.items():
        for seed, r in enumerate(runs):
            print(
                f"{init:6s} seed {seed}: loss {r['losses'][0]:.3f} -> "
                f"{r['losses'][-1]:.3g}; first-layer gradient "
                f"{r['first layer gradient'][0]:.2g} at step 0"
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
