"""Which deep residual MLPs train: an identity skip alone is not enough.

Six networks of 16 blocks (two weight layers each, width 32) learn the same
small task with plain SGD, three seeds each, the same learning rate for all.
Without skips the loss falls slowly. With identity skips and He-initialized
branches, but nothing that keeps the branches small, the first loss is huge
and training diverges to NaN within a few steps. Batch norm in the branch, a
1/sqrt(L) branch scale, Fixup and SkipInit/ReZero all train. All 18 networks
are trained at once: every tensor has a leading axis with one entry per
network.

Run: python snippets/05-skip-connections/trainability.py [OUT_DIR]
"""

import math
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn


def make_task(g, n=32, dim=16):
    """Labels from a random two-layer teacher: learnable, but not linear."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1) @ w2 > 0).long()
    return x, y


# --8<-- [start:core]
VARIANTS = {  # skip: 1 or 0; bn: batch norm in the branch; scale: a in x + aF
    "plain (no skip)": dict(skip=0.0, bn=False, scale="1"),
    "residual": dict(skip=1.0, bn=False, scale="1"),
    "residual + BN": dict(skip=1.0, bn=True, scale="1"),
    "residual, branch / sqrt(L)": dict(skip=1.0, bn=False, scale="1/sqrt(L)"),
    "Fixup": dict(skip=1.0, bn=False, scale="1", fixup=True),
    "SkipInit / ReZero": dict(skip=1.0, bn=False, scale="0, learned"),
}


def batch_norm(h):
    """h is (network, unit, example): normalize each unit over the batch."""
    return nn.functional.layer_norm(h, h.shape[-1:])  # i.e. the last axis


def init(L, n, dim, seeds):
    """One network per (seed, variant); the variants of a seed share W1, W2."""
    p = {k: [] for k in ("stem", "head", "W1", "W2", "scale")}
    p.update({f"b{i}": [] for i in range(1, 5)})  # Fixup's scalar biases
    xs, ys, cfg = [], [], []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        x, y = make_task(g, dim=dim)
        stem = torch.randn(n, dim, generator=g) * math.sqrt(2 / dim)
        head = torch.randn(2, n, generator=g) * math.sqrt(1 / n)
        W1 = torch.randn(L, n, n, generator=g) * math.sqrt(2 / n)  # He
        W2 = torch.randn(L, n, n, generator=g) * math.sqrt(2 / n)
        for v in VARIANTS.values():
            fixup = v.get("fixup", False)
            scale = {"1": 1.0, "1/sqrt(L)": L**-0.5, "0, learned": 0.0}
            p["stem"].append(stem)
            p["head"].append(head * (0 if fixup else 1))  # Fixup: head 0,
            p["W1"].append(W1 * (L**-0.5 if fixup else 1))  # L^(-1/(2m-2)),
            p["W2"].append(W2 * (0 if fixup else 1))  # last layer 0
            p["scale"].append(torch.full((L, 1, 1), scale[v["scale"]]))
            for i in range(1, 5):
                p[f"b{i}"].append(torch.zeros(L, 1, 1))
            xs.append(x.T)
            ys.append(y)
            cfg.append((v["skip"], v["bn"], fixup or "learned" in v["scale"]))
    p = {
        k: torch.stack(v, dim=1 if v[0].dim() == 3 else 0) for k, v in p.items()
    }
    p["stem"], p["head"] = p["stem"].squeeze(1), p["head"].squeeze(1)
    skip, bn, learned = (
        torch.tensor(c, dtype=torch.float32).view(-1, 1, 1) for c in zip(*cfg)
    )
    return p, torch.stack(xs), torch.stack(ys), skip, bn, learned


def forward(p, x, skip, bn):
    def norm(h):  # batch norm only in the networks that have it (bn = 1)
        return h + bn * (batch_norm(h) - h)

    h = p["stem"] @ x
    per_block = ("W1", "W2", "scale", "b1", "b2", "b3", "b4")
    for W1, W2, scale, b1, b2, b3, b4 in zip(*(p[k] for k in per_block)):
        a = W1 @ (torch.relu(norm(h)) + b1)
        a = torch.relu(norm(a) + b2) + b3
        f = scale * (W2 @ a) + b4  # the branch F(h)
        h = skip * h + f
    return p["head"] @ h  # logits: (network, class, example)


def train(L=16, n=32, dim=16, seeds=(0, 1, 2), steps=40, lr=0.1):
    p, x, y, skip, bn, learned = init(L, n, dim, seeds)
    for t in p.values():
        t.requires_grad_()
    alive = torch.ones(len(y), 1, 1, dtype=torch.bool)
    losses = []
    for _ in range(steps):
        logits = forward(p, x, skip, bn)
        loss = nn.functional.cross_entropy(logits, y, reduction="none")
        loss = loss.mean(-1)  # one loss per network
        losses.append(loss.detach())
        alive &= loss.isfinite().view(-1, 1, 1)  # stop updating a NaN
        grads = torch.autograd.grad(
            loss[alive.view(-1)].sum(), list(p.values())
        )
        with torch.no_grad():  # plain SGD
            for (name, t), grad in zip(p.items(), grads):
                mask = alive.float()
                if name == "scale" or name.startswith("b"):
                    mask = mask * learned  # fixed unless Fixup or ReZero
                t.sub_(lr * torch.nan_to_num(grad) * mask)
    losses = torch.stack(losses).view(steps, len(seeds), len(VARIANTS))
    return {name: losses[:, :, i].T.tolist() for i, name in enumerate(VARIANTS)}


# --8<-- [end:core]


def plot(results):
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    for i, (name, runs) in enumerate(results.items()):
        color = f"C{i}"
        losses = torch.tensor(runs)  # (seed, step)
        if losses.isfinite().all():  # median over the seeds, and the range
            steps = range(losses.shape[1])
            left.plot(steps, losses.median(0).values, color=color)
            lo, hi = losses.min(0).values, losses.max(0).values
            left.fill_between(steps, lo, hi, color=color, alpha=0.25)
        else:  # each run until its loss becomes NaN
            for run in runs:
                finite = [v for v in run if math.isfinite(v)]
                left.plot(finite, "-", color=color)
                left.plot(len(finite) - 1, finite[-1], "x", color=color)
        last = [r[-1] if math.isfinite(r[-1]) else 20.0 for r in runs]
        right.plot(last, [i] * len(last), "o", color=color, alpha=0.8)
    left.annotate(
        "x: the next loss is NaN",
        (0.97, 0.97),
        xycoords="axes fraction",
        ha="right",
        va="top",
        fontsize="small",
    )
    left.set_yscale("log")
    left.set_ylim(1e-4, 1e4)
    left.set_xlabel("SGD step")
    left.set_ylabel("training loss (median, range over seeds)")
    left.set_title("16 blocks of width 32, 3 seeds each")
    right.set_xscale("log")
    right.set_yticks(range(len(results)), list(results), fontsize="small")
    for i, label in enumerate(right.get_yticklabels()):
        label.set_color(f"C{i}")  # the colours of the left panel
    right.invert_yaxis()
    right.axvline(20.0, color="grey", linestyle=":")
    right.annotate(
        "NaN",
        (20.0, 1),
        xytext=(0, 8),
        textcoords="offset points",
        ha="center",
        fontsize="small",
        color="grey",
    )
    right.set_xlabel("loss after the last step")
    right.set_title("Final loss, one dot per seed")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = train()
    for name, runs in results.items():
        print(
            f"{name:28s} "
            + "  ".join(f"{r[0]:.3g} -> {r[-1]:.3g}" for r in runs)
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
