"""Which deep residual MLPs train: an identity skip alone is not enough.

Seven networks of 16 blocks (two weight layers each, width 32) learn the same
small task with plain SGD, 40 full-batch steps, three seeds each. At learning
rate 0.1, the same for all: without skips the loss falls slowly, with batch
norm but no skips faster, yet far behind the residual networks with it; with
identity skips and He-initialized branches, but nothing that keeps the
branches small, the first loss is huge and training diverges to NaN within two
steps; batch norm in the branch, a 1/sqrt(L) branch scale, Fixup and
SkipInit/ReZero all train. The same runs at a 100 times smaller learning rate
show what a small step does instead. A third copy at learning rate 0.1, whose
initial weights are nudged by one part in 10^7 (about float32's rounding
error), shows which final losses rounding can move: the networks with skips
end where they did, those without skips do not. All 63 networks are trained
at once: every tensor has a leading axis with one entry per network.

Run: python snippets/05-skip-connections/trainability.py [OUT_DIR]
"""

import argparse
import math
import os
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


def batch_norm(h):
    """h is (network, unit, example): each unit normalized over the batch."""
    centred = h - h.mean(-1, keepdim=True)
    var = centred.pow(2).mean(-1, keepdim=True)
    return centred / torch.sqrt(var + 1e-5)


# --8<-- [start:core]
def block(h, W1, W2, scale, b, skip, norm):
    """skip * h + scale * F(h), F a pre-activation branch of two layers.
    norm: batch_norm or the identity; b: Fixup's four scalar biases."""
    a = W1 @ (torch.relu(norm(h)) + b[0])
    a = torch.relu(norm(a) + b[1]) + b[2]
    return skip * h + scale * (W2 @ a) + b[3]


# --8<-- [end:core]


def recipe(name, W1, W2, head, L):
    """What each variant changes in the same He-initialized weights."""
    net = dict(W1=W1, W2=W2, head=head, scale=1.0, skip=1.0, bn=False)
    net["learns"] = ()  # trained scalars, besides the weight matrices
    if name == "plain (no skip)":
        net["skip"] = 0.0
    elif name == "residual + BN":
        net["bn"] = True
    elif name == "plain + BN":
        net["skip"], net["bn"] = 0.0, True
    elif name == "residual, branch / sqrt(L)":
        net["scale"] = L**-0.5
    elif name == "Fixup":  # Zhang et al. 2019, m = 2 layers per branch
        net["head"] = torch.zeros_like(head)  # classifier: 0
        net["W2"] = torch.zeros_like(W2)  # last layer of each branch: 0
        net["W1"] = W1 * L ** (-1 / (2 * 2 - 2))  # the others: L^(-1/(2m-2))
        net["learns"] = ("scale", "b")  # multiplier 1, biases 0, learned
    elif name == "SkipInit / ReZero":
        net["scale"] = 0.0  # x + alpha F(x), alpha = 0, learned
        net["learns"] = ("scale",)
    return net


def nudge(net, size, g):
    """Multiply every initial weight by 1 + size * N(0, 1): for size 1e-7,
    a change as small as float32's rounding (another CPU's kernels round
    differently). Zeros stay zero, so every recipe keeps its structure."""
    for k in ("stem", "head", "W1", "W2"):
        t = net[k]
        net[k] = t * (1 + size * torch.randn(t.shape, generator=g))
    return net


VARIANTS = (
    "plain (no skip)",
    "residual",
    "residual + BN",
    "plain + BN",
    "residual, branch / sqrt(L)",
    "Fixup",
    "SkipInit / ReZero",
)


def init(L, n, dim, seeds, runs):
    """One network per (variant, run, seed), stacked on axis 0; a run is a
    (learning rate, nudge size) pair."""
    nets, xs, ys = [], [], []
    nudges = torch.Generator().manual_seed(1234)
    for name in VARIANTS:
        for lr, size in runs:
            for seed in seeds:  # the variants of a seed share their weights
                g = torch.Generator().manual_seed(seed)
                x, y = make_task(g, dim=dim)
                stem = torch.randn(n, dim, generator=g) * math.sqrt(2 / dim)
                head = torch.randn(2, n, generator=g) * math.sqrt(1 / n)
                W1 = torch.randn(L, n, n, generator=g) * math.sqrt(2 / n)  # He
                W2 = torch.randn(L, n, n, generator=g) * math.sqrt(2 / n)
                nets.append(recipe(name, W1, W2, head, L))
                nets[-1].update(stem=stem, lr=lr)
                if size:
                    nudge(nets[-1], size, nudges)
                xs.append(x.T)
                ys.append(y)

    def per_network(values):  # one number per network -> (network, 1, 1)
        return torch.tensor([float(v) for v in values]).view(-1, 1, 1)

    p = {k: torch.stack([net[k] for net in nets]) for k in ("stem", "head")}
    for k in ("W1", "W2"):  # block first: (block, network, unit, unit)
        p[k] = torch.stack([net[k] for net in nets], dim=1)
    p["scale"] = per_network(net["scale"] for net in nets).repeat(L, 1, 1, 1)
    p["b"] = torch.zeros(L, 4, len(nets), 1, 1)
    lr = per_network(net["lr"] for net in nets)
    step = {k: lr for k in p}  # the learning rate of each parameter tensor
    for k in ("scale", "b"):  # trained only where the recipe says so
        step[k] = lr * per_network(k in net["learns"] for net in nets)
    with_bn = [i for i, net in enumerate(nets) if net["bn"]]
    i, j = with_bn[0], with_bn[-1] + 1
    assert with_bn == list(range(i, j)), (
        "list the BN variants next to each other"
    )

    def norm(h):  # batch norm in networks i to j - 1 only
        return torch.cat((h[:i], batch_norm(h[i:j]), h[j:]))

    skip = per_network(net["skip"] for net in nets)
    return p, torch.stack(xs), torch.stack(ys), step, skip, norm


def train(
    L=16, n=32, dim=16, seeds=(0, 1, 2), steps=40, lrs=(0.1, 0.001), size=1e-7
):
    """Every variant at each learning rate, and once more at the first one
    from initial weights nudged by `size`."""
    runs = [(lr, 0.0) for lr in lrs] + [(lrs[0], size)]
    p, x, y, step, skip, norm = init(L, n, dim, seeds, runs)
    for t in p.values():
        t.requires_grad_()
    # One SGD for all the networks; each network's learning rate (0 for the
    # scalars its recipe keeps fixed) multiplies its gradient via a hook.
    for name, t in p.items():
        t.register_hook(lambda grad, rate=step[name]: rate * grad)
    opt = torch.optim.SGD(p.values(), lr=1.0)
    losses = []
    for _ in range(steps):
        h = p["stem"] @ x
        for W1, W2, scale, b in zip(p["W1"], p["W2"], p["scale"], p["b"]):
            h = block(h, W1, W2, scale, b, skip, norm)
        logits = p["head"] @ h  # (network, class, example)
        loss = nn.functional.cross_entropy(logits, y, reduction="none")
        loss = loss.mean(-1)  # one loss per network
        losses.append(loss.detach())
        # A network whose loss is NaN gets NaN gradients, but only in its own
        # parameters: every operation above acts on each network separately.
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    shape = (len(VARIANTS), len(runs), len(seeds), steps)
    losses = torch.stack(losses).T.reshape(shape)

    def per_variant(i):  # {variant: (seed, step)} of run i
        return {name: losses[v, i].tolist() for v, name in enumerate(VARIANTS)}

    return {
        "losses": {lr: per_variant(i) for i, lr in enumerate(lrs)},
        "nudged": {"lr": lrs[0], "size": size, "losses": per_variant(-1)},
        "settings": dict(blocks=L, width=n, points=x.shape[-1], seeds=seeds),
    }


SHORT = {  # the figure's row labels
    "plain (no skip)": "plain",
    "residual": "residual",
    "residual + BN": "residual + BN",
    "plain + BN": "plain + BN",
    "residual, branch / sqrt(L)": "branch / \u221aL",
    "Fixup": "Fixup",
    "SkipInit / ReZero": "SkipInit/ReZero",
}


def plot(results):
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(4.2, 7.4), height_ratios=(1, 1.15)
    )
    (lr, main), (small_lr, small) = results["losses"].items()
    ceiling, nan = 1e5, 20.0  # the top panel's ceiling; where NaN is drawn
    for i, (name, runs) in enumerate(main.items()):
        color = f"C{i}"
        losses = torch.tensor(runs)  # (seed, step)
        if losses.isfinite().all():  # median over the seeds, and the range
            steps = range(losses.shape[1])
            top.plot(steps, losses.median(0).values, color=color)
            lo, hi = losses.min(0).values, losses.max(0).values
            top.fill_between(steps, lo, hi, color=color, alpha=0.25)
        else:  # each run until its loss becomes NaN
            for run in runs:
                finite = [v for v in run if math.isfinite(v)]
                top.plot(finite, "-", color=color)
                last, above = finite[-1], finite[-1] > ceiling
                top.plot(
                    len(finite) - 1,
                    min(last, ceiling),
                    "^" if above else "x",
                    color=color,
                    markersize=9,
                    clip_on=False,
                )
        nudged = results["nudged"]["losses"]
        for runs_at, marker, fill, row in (
            (main, "o", color, i - 0.12),
            (small, "o", "none", i - 0.12),
            (nudged, "x", color, i + 0.25),  # just below the row's dots
        ):
            last = [
                r[-1] if math.isfinite(r[-1]) else nan for r in runs_at[name]
            ]
            bottom.plot(
                last,
                [row] * len(last),
                marker,
                color=color,
                markerfacecolor=fill,
                markersize=7,
                alpha=0.85,
                linestyle="none",
            )
    top.set_yscale("log")
    top.set_ylim(1e-4, ceiling)
    top.set_xlabel("SGD step")
    top.set_ylabel("training loss")
    top.set_title(f"Learning rate {lr}: median, range")
    bottom.set_xscale("log")
    bottom.set_yticks(range(len(main)), [SHORT[k] for k in main])
    for i, label in enumerate(bottom.get_yticklabels()):
        label.set_color(f"C{i}")  # the colours of the top panel
    bottom.set_ylim(len(main) - 0.5, -0.6)  # first row on top
    bottom.axvline(nan, color="grey", linestyle=":")
    bottom.annotate(
        "NaN",
        (nan, -0.6),
        xytext=(0, 2),
        textcoords="offset points",
        ha="center",
        va="bottom",
        color="grey",
    )
    bottom.set_xlabel("loss after the last step")
    bottom.set_title("Final loss: \u25cf 0.1, \u25cb 0.001, \u00d7 nudged")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = train()

    def first_to_last(run):
        finite = sum(math.isfinite(v) for v in run)
        updates = f"{finite} update" + "s" * (finite != 1)
        nan = f" (NaN after {updates})" if finite < len(run) else ""
        return f"{run[0]:.3g} -> {run[-1]:.3g}{nan}"

    for lr, variants in results["losses"].items():
        print(f"learning rate {lr}, loss at the first and the last step:")
        for name, runs in variants.items():
            print(f"  {name:28s} " + "  ".join(map(first_to_last, runs)))
    nudged = results["nudged"]
    print(
        f"learning rate {nudged['lr']}, initial weights nudged by "
        f"{nudged['size']:g}: last loss (change from the run above)"
    )
    for name, runs in nudged["losses"].items():
        before = results["losses"][nudged["lr"]][name]
        print(
            f"  {name:28s} "
            + "  ".join(
                f"{r[-1]:.3g} ({abs(r[-1] - b[-1]):.2g})"
                for r, b in zip(runs, before)
            )
        )
    save(plot(results), out_dir / f"{Path(__file__).stem}.svg")
    return results


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
