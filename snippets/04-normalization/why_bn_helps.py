"""Batch norm smooths the loss along the gradient; stable inputs don't matter.

A 10-layer ReLU MLP (width 64, He init) on a small two-class task, trained
with full-batch SGD at learning rate 1: without batch norm the loss blows up
within a few steps; with batch norm it trains. A third network adds noise
after every batch norm layer, a fresh random per-unit scale and shift at every
step, so that the distribution of every layer's input keeps moving (a
simplified version of the "noisy BatchNorm" of Santurkar et al. 2018). It
trains about as well as batch norm. The right panel walks from the
initialization along the negative gradient: the loss of the plain network
rises steeply past a short distance, the batch-normed one gently.

Run: python snippets/04-normalization/why_bn_helps.py [OUT_DIR]
"""

import math
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

F = nn.functional


def task(g, n=256, d=16):
    """Labels from a random teacher network."""
    x = torch.randn(n, d, generator=g)
    w1, w2 = torch.randn(d, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1 / math.sqrt(d)) @ w2 > 0).long()
    return x, y


def init_params(g, d=16, width=64, depth=10):
    dims = [d] + [width] * depth
    ws = [
        nn.init.kaiming_normal_(
            torch.empty(n_out, n_in), nonlinearity="relu", generator=g
        )
        for n_in, n_out in zip(dims, dims[1:])
    ]
    head = nn.init.xavier_normal_(torch.empty(2, width), generator=g)
    return [p.requires_grad_() for p in ws + [head]]


# --8<-- [start:core]
def forward(params, x, variant, noise=None, record=None):
    h = x
    for i, w in enumerate(params[:-1]):
        z = h @ w.T
        if variant != "plain":
            z = F.batch_norm(z, None, None, training=True)  # gamma 1, beta 0
        if variant == "noisy BN":  # move each unit's distribution
            scale, shift = noise[i]
            z = scale * z + shift
        if record is not None:
            record.append(torch.stack([z.mean(0), z.std(0)]).detach())
        h = torch.relu(z)
    return h @ params[-1].T


def train(variant, lr=1.0, steps=40, a=0.25):
    g = torch.Generator().manual_seed(0)  # same task, same init for all
    x, y = task(g)
    params = init_params(g)
    losses, moves, before = [], [], None
    for _ in range(steps):
        # noisy BN: per unit, a scale U(1-a, 1+a) and a shift U(-a, a),
        # redrawn at every step
        noise = [
            (1 + a * (2 * torch.rand(64, generator=g) - 1),
             a * (2 * torch.rand(64, generator=g) - 1))
            for _ in params[:-1]
        ]  # fmt: skip
        record = []
        loss = F.cross_entropy(forward(params, x, variant, noise, record), y)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            break
        after = torch.stack(record)  # each unit's mean and std, every layer
        if before is not None:  # how far the layer inputs moved this step
            moves.append((after - before).abs().mean().item())
        before = after
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, grad in zip(params, grads):
                p.sub_(lr * grad)
    return losses, moves


def loss_along_gradient(variant, distances):
    """Loss at theta - t * grad / ||grad|| at initialization."""
    g = torch.Generator().manual_seed(0)
    x, y = task(g)
    params = init_params(g)
    grads = torch.autograd.grad(F.cross_entropy(forward(params, x, variant), y),
                                params)  # fmt: skip
    norm = math.sqrt(sum(gr.pow(2).sum().item() for gr in grads))
    with torch.no_grad():
        return [
            F.cross_entropy(
                forward([p - t * gr / norm for p, gr in zip(params, grads)],
                        x, variant), y).item()
            for t in distances
        ]  # fmt: skip


# --8<-- [end:core]

VARIANTS = ["plain", "BN", "noisy BN"]


def experiment():
    distances = torch.logspace(-2, 1.5, 22).tolist()
    runs = {v: train(v) for v in VARIANTS}
    return {
        "losses": {v: r[0] for v, r in runs.items()},
        "median move": {
            v: sorted(r[1])[len(r[1]) // 2] if r[1] else math.nan
            for v, r in runs.items()
        },
        "distances": distances,
        "along gradient": {
            v: loss_along_gradient(v, distances) for v in ("plain", "BN")
        },
    }


def plot(r):
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for v in VARIANTS:
        losses = r["losses"][v]
        label = v if math.isfinite(losses[-1]) else f"{v} (NaN at step "
        if not math.isfinite(losses[-1]):
            label += f"{len(losses) - 1})"
        left.plot(range(len(losses)), losses, label=label)
    left.set_yscale("log")
    left.set_ylim(1e-3, 1e3)
    left.set_xlabel("SGD step (learning rate 1)")
    left.set_ylabel("training loss")
    left.set_title("Training")
    left.legend(fontsize=8)
    for v, losses in r["along gradient"].items():
        right.plot(r["distances"], losses, label=v)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel(r"distance $t$ moved along $-\nabla L / \|\nabla L\|$")
    right.set_ylabel("loss")
    right.set_title("Loss along the gradient, at initialization")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for v in VARIANTS:
        losses = r["losses"][v]
        print(
            f"{v:9s} loss {losses[0]:.3f} -> {losses[-1]:.3g} after "
            f"{len(losses) - 1} steps; median move of the layer inputs per "
            f"step {r['median move'][v]:.2g}"
        )
    for v, losses in r["along gradient"].items():
        print(f"{v:9s} along the gradient: min {min(losses):.3f}, "
              f"at t = {r['distances'][-1]:.1f}: {losses[-1]:.3g}")  # fmt: skip
    save(plot(r), out_dir / f"{Path(__file__).stem}.svg")
    return r


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
