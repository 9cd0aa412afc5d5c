"""Batch norm smooths the loss along the gradient; stable inputs don't matter.

A 10-layer ReLU MLP (width 64, He init) learns a small two-class task with
full-batch SGD, from five random initializations, at learning rates 1 and
0.03; the ten networks of a variant train side by side as one batched
computation. At learning rate 1 the plain network blows up within a few steps
on every seed; with batch norm it trains. A third variant adds noise after
every batch norm layer, a fresh random per-unit scale and shift at every step,
so that the distribution of every layer's input keeps moving (simpler than the
"noisy BatchNorm" of Santurkar et al. 2018, whose noise is drawn per example).
At learning rate 1 it still trains, to a median loss of the same order as
batch norm's, a little higher; at 0.03, where the plain network trains, its
median ends above the plain one's. At learning rate 1 a single run's final
loss depends on rounding: retrained from initial weights changed by one part
in 10^7, the noisy network's final loss moves by more than 20% on some seed;
at 0.03 by less than 10% on every seed.
The right panel walks from the initialization along the negative gradient:
the loss of the plain network rises steeply past a short distance, the
batch-normalized one gently.

Run: python snippets/04-normalization/why_bn_helps.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

F = nn.functional
VARIANTS = ["plain", "BN", "noisy BN"]
SEEDS, LRS = 5, (1.0, 0.03)  # networks: every seed at every learning rate
JITTER, RERUNS = 1e-7, 3  # relative change of the initial weights, how often


def task(g, n=64, d=16):
    """Labels from a random teacher network."""
    x = torch.randn(n, d, generator=g)
    w1, w2 = torch.randn(d, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1 / math.sqrt(d)) @ w2 > 0).long()
    return x, y


def init_params(g, nets, d=16, width=64, depth=10):
    """Weights of `nets` independent networks, stacked: (nets, out, in)."""
    dims = [d] + [width] * depth
    ws = [  # He init, std sqrt(2 / fan_in), drawn for each network
        torch.randn(nets, n_out, n_in, generator=g) * math.sqrt(2 / n_in)
        for n_in, n_out in zip(dims, dims[1:])
    ]
    head = torch.randn(nets, 2, width, generator=g) * math.sqrt(2 / (width + 2))
    return ws + [head]  # the head: Xavier init


def draw_noise(g, a, width=64, depth=10):
    """Per unit a scale U(1-a, 1+a) and a shift U(-a, a), one draw per seed,
    shared by that seed's networks at the different learning rates."""
    noise = []
    for _ in range(depth):
        u = 2 * torch.rand(2, SEEDS, 1, width, generator=g) - 1
        u = u.repeat(1, len(LRS), 1, 1)
        noise.append((1 + a * u[0], a * u[1]))
    return noise


def cross_entropy(logits, y):
    """The loss of each network: logits (nets, n, 2) -> (nets,)."""
    y = y.expand(len(logits), -1)
    return F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)


def unit_stats(z):
    """Each unit's mean and standard deviation over the batch."""
    mean = z.mean(1)
    return torch.stack([mean, (z.pow(2).mean(1) - mean.pow(2)).sqrt()])


def batch_norm(z, eps=1e-5):
    """Over the examples (dim 1) of each network; gamma 1, beta 0."""
    mean = z.mean(1, keepdim=True)
    var = (z - mean).pow(2).mean(1, keepdim=True)  # biased
    return (z - mean) / torch.sqrt(var + eps)


# --8<-- [start:core]
def forward(params, x, variant, noise=None, record=None):
    h = x  # (n, d): the same inputs for every network
    for i, w in enumerate(params[:-1]):
        z = h @ w.mT  # (networks, n, width)
        if variant != "plain":
            z = batch_norm(z)
        if variant == "noisy BN":  # move each unit's distribution
            scale, shift = noise[i]
            z = scale * z + shift
        if record is not None:
            record.append(unit_stats(z.detach()))
        h = torch.relu(z)
    return h @ params[-1].mT


# --8<-- [end:core]


def train(variant, steps=25, a=0.25, jitter=0.0, jitter_seed=0):
    """Full-batch SGD of every seed at every learning rate at once.

    jitter: multiply each initial weight by 1 + jitter * N(0, 1), drawn from
    its own generator (the task, the inits and the noise stay the same)."""
    g = torch.Generator().manual_seed(0)  # same task, same inits for all
    x, y = task(g)
    params = [p.repeat(len(LRS), 1, 1) for p in init_params(g, SEEDS)]
    if jitter:
        gj = torch.Generator().manual_seed(jitter_seed)
        params = [
            p * (1 + jitter * torch.randn(p.shape, generator=gj))
            for p in params
        ]
    # one leaf per learning rate, so that each gets its own optimizer group
    fast, slow = zip(*(p.detach().split(SEEDS) for p in params))
    fast = [p.clone().requires_grad_() for p in fast]
    slow = [p.clone().requires_grad_() for p in slow]
    optimizer = torch.optim.SGD(
        [{"params": ps, "lr": lr} for ps, lr in zip((fast, slow), LRS)]
    )
    losses, moves, before = [], [], None
    for _ in range(steps):
        record = []
        params = [torch.cat(pair) for pair in zip(fast, slow)]
        logits = forward(params, x, variant, draw_noise(g, a), record)
        loss = cross_entropy(logits, y)  # one loss per network
        losses.append(loss.detach())
        after = torch.stack(record)  # layers, (mean, std), networks, units
        if before is not None:  # how far the layer inputs moved this step
            moves.append((after - before).abs().mean(dim=(0, 1, 3)))
        before = after
        optimizer.zero_grad()
        loss.sum().backward()  # the networks are independent: each its own
        optimizer.step()
    return torch.stack(losses, 1), torch.stack(moves, 1)


# --8<-- [start:landscape]
def loss_along_gradient(variant, distances):
    """Loss at theta - t * grad / ||grad||, from the first seed's init."""
    g = torch.Generator().manual_seed(0)
    x, y = task(g)
    params = [p[:1].clone().requires_grad_() for p in init_params(g, SEEDS)]
    loss = cross_entropy(forward(params, x, variant), y).sum()
    grads = torch.autograd.grad(loss, params)
    norm = math.sqrt(sum(gr.pow(2).sum().item() for gr in grads))
    t = torch.tensor(distances).view(-1, 1, 1)  # one network per distance
    with torch.no_grad():
        moved = [p - t * gr / norm for p, gr in zip(params, grads)]
        return cross_entropy(forward(moved, x, variant), y).tolist()


# --8<-- [end:landscape]


def final_losses(losses):
    """Mean over the last 10 steps: (learning rates, seeds)."""
    return losses.view(len(LRS), SEEDS, -1)[:, :, -10:].mean(2)


def rounding_sensitivity(base, variant="noisy BN"):
    """Retrain from initial weights changed at float32 rounding level: the
    largest factor by which a seed's final loss (base: learning rates,
    seeds) moves, per learning rate, and each rerun's median at rate 1."""
    factor, medians = torch.ones(len(LRS)), []
    for k in range(1, RERUNS + 1):
        rerun = final_losses(train(variant, jitter=JITTER, jitter_seed=k)[0])
        moved = torch.maximum(rerun / base, base / rerun).amax(1)
        factor = torch.maximum(factor, moved)
        medians.append(rerun[0].median().item())
    return dict(zip(LRS, factor.tolist())), medians


def experiment():
    distances = torch.logspace(-2, 1.5, 22).tolist()
    r = {"losses": {}, "final": {}, "median move": {}, "first NaN step": {}}
    for v in VARIANTS:
        losses, moves = train(v)
        per_lr = losses.view(len(LRS), SEEDS, -1)
        r["losses"][v] = {lr: per_lr[i].tolist() for i, lr in enumerate(LRS)}
        final = final_losses(losses)  # mean over the last 10 steps
        r["final"][v] = {lr: final[i].tolist() for i, lr in enumerate(LRS)}
        r["median move"][v] = moves[:SEEDS].median().item()  # learning rate 1
        r["first NaN step"][v] = [
            next((s for s, x in enumerate(run) if math.isnan(x)), None)
            for run in r["losses"][v][LRS[0]]
        ]
    r["median final"] = {
        v: {lr: torch.tensor(r["final"][v][lr]).median().item() for lr in LRS}
        for v in VARIANTS
    }
    base = torch.tensor([r["final"]["noisy BN"][lr] for lr in LRS])
    r["rounding factor"], r["rerun medians"] = rounding_sensitivity(base)
    r["distances"] = distances
    r["along gradient"] = {
        v: loss_along_gradient(v, distances) for v in ("plain", "BN")
    }
    r["loss at init"] = {
        v: loss_along_gradient(v, [0.0])[0] for v in ("plain", "BN")
    }
    return r


def plot(r):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.4))
    for c, v in enumerate(VARIANTS):
        for lr, ls in zip(LRS, ("-", "--")):
            median = torch.tensor(r["losses"][v][lr]).median(0).values
            label = v if lr == LRS[0] else None
            top.plot(median, ls, color=f"C{c}", label=label)
            finite = (~median.isnan()).nonzero().flatten()
            if len(finite) < len(median):  # drawn until it breaks
                k = finite[-1].item()
                top.plot(k, median[k], "x", color=f"C{c}", ms=10, mew=2)
                top.annotate(
                    f"NaN at step {k + 1}",
                    (k, median[k].item()),
                    xytext=(10, 0),
                    textcoords="offset points",
                    va="center",
                    color=f"C{c}",
                )
    top.set_yscale("log")
    top.set_ylim(1e-3, 1e8)
    top.set_xlabel("SGD step")
    top.set_ylabel("loss (median of 5)")
    top.set_title("lr 1 (solid), lr 0.03 (dashed)")
    top.legend(loc="upper right")
    for v, losses in r["along gradient"].items():
        bottom.plot(r["distances"], losses, label=v)
    bottom.set_xscale("log")
    bottom.set_yscale("log")
    bottom.set_xlabel(r"distance $t$ along $-\nabla \mathcal{L}$")
    bottom.set_ylabel("loss")
    bottom.set_title("Loss along the gradient, at init")
    bottom.legend(loc="upper left")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for v in VARIANTS:
        for lr in LRS:
            final = ", ".join(f"{x:.3g}" for x in r["final"][v][lr])
            print(f"{v:9s} lr {lr:<4g} loss (mean of last 10 steps): {final}")
        print(f"{v:9s} median move of the layer inputs per step at lr 1: "
              f"{r['median move'][v]:.2g}; first NaN step at lr 1: "
              f"{r['first NaN step'][v]}")  # fmt: skip
    for lr in LRS:
        medians = ", ".join(
            f"{v} {r['median final'][v][lr]:.3g}" for v in VARIANTS
        )
        print(f"lr {lr:<4g} median over the seeds: {medians}")
        print(f"lr {lr:<4g} initial weights changed by {JITTER:g} (relative): "
              f"a seed's final loss (noisy BN) moves by a factor up to "
              f"{r['rounding factor'][lr]:.3g}")  # fmt: skip
    print("noisy BN lr 1 median of each rerun: "
          + ", ".join(f"{m:.3g}" for m in r["rerun medians"]))  # fmt: skip
    for v, losses in r["along gradient"].items():
        print(f"{v:9s} along the gradient: min {min(losses):.3f}, "
              f"at t = {r['distances'][-1]:.1f}: {losses[-1]:.3g}")  # fmt: skip
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
