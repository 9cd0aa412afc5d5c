"""Batch norm by hand matches nn.BatchNorm1d, running statistics included.

The training-time formula (Ioffe & Szegedy 2015, Algorithm 1) divides by
sqrt(var + eps), with var the biased batch variance (divide by n) and eps
inside the square root; the running variance that eval mode uses is updated
with the unbiased batch variance (divide by n - 1), as PyTorch documents.
The hand-written version matches nn.BatchNorm1d in train mode, in its running
statistics after several steps and in eval mode, to float64 rounding.
Putting the standard deviation under the root instead of the variance leaves
outputs whose std is sqrt(sigma), not 1. The right panel shows what PyTorch's
momentum means: running = (1 - momentum) * running + momentum * batch.

Run: python snippets/04-normalization/batch_norm_by_hand.py [OUT_DIR]
"""

import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

F64 = torch.float64


# --8<-- [start:core]
def batch_norm_train(z, gamma, beta, running_mean, running_var, momentum, eps):
    """Training mode: normalize with the batch's own statistics."""
    n = z.shape[0]
    mu_b = z.mean(dim=0)
    v_b = z.var(dim=0, correction=0)  # biased: divides by n
    z_hat = (z - mu_b) / torch.sqrt(v_b + eps)  # eps inside the root
    with torch.no_grad():  # the running variance is the unbiased one
        running_mean.mul_(1 - momentum).add_(momentum * mu_b)
        running_var.mul_(1 - momentum).add_(momentum * v_b * n / (n - 1))
    return gamma * z_hat + beta


# --8<-- [end:core]


def batch_norm_eval(x, gamma, beta, running_mean, running_var, eps):
    """Eval mode: the stored running statistics, nothing from the batch."""
    return gamma * (x - running_mean) / torch.sqrt(running_var + eps) + beta


def compare_with_pytorch(steps=5, batch=16, features=4, seed=0):
    """Largest differences from nn.BatchNorm1d over a few batches."""
    g = torch.Generator().manual_seed(seed)
    bn = nn.BatchNorm1d(features, dtype=F64)  # eps=1e-5, momentum=0.1
    with torch.no_grad():  # a gamma and beta other than 1 and 0
        bn.weight.normal_(1, 0.5, generator=g)
        bn.bias.normal_(0, 0.5, generator=g)
    gamma, beta = bn.weight.detach(), bn.bias.detach()
    mean, var = (
        torch.zeros(features, dtype=F64),
        torch.ones(features, dtype=F64),
    )
    worst = {"train output": 0.0, "gradients": 0.0}
    for _ in range(steps):  # features with means 3 and spreads 2
        x = 3 + 2 * torch.randn(batch, features, generator=g, dtype=F64)
        w = torch.randn(batch, features, generator=g, dtype=F64)  # any loss
        leaves = [t.detach().requires_grad_() for t in (x, gamma, beta)]
        ours = batch_norm_train(*leaves, mean, var, 0.1, 1e-5)
        x_pt = x.detach().requires_grad_()
        theirs = bn(x_pt)
        diff = (ours - theirs).abs().max().item()
        worst["train output"] = max(worst["train output"], diff)
        # the backward pass too: d(loss)/dx, d/dgamma, d/dbeta by autograd
        ours_grads = torch.autograd.grad((ours * w).sum(), leaves)
        bn.zero_grad()
        (theirs * w).sum().backward()
        theirs_grads = (x_pt.grad, bn.weight.grad, bn.bias.grad)
        for a, b in zip(ours_grads, theirs_grads):
            worst["gradients"] = max(
                worst["gradients"], (a - b).abs().max().item()
            )
    worst["running_mean"] = (mean - bn.running_mean).abs().max().item()
    worst["running_var"] = (var - bn.running_var).abs().max().item()
    bn.eval()
    x = 3 + 2 * torch.randn(batch, features, generator=g, dtype=F64)
    ours = batch_norm_eval(x, gamma, beta, mean, var, 1e-5)
    worst["eval output"] = (ours - bn(x)).abs().max().item()
    return worst


def output_std(input_std, eps=1e-5, seed=1):
    """Std of the normalized output: correct formula vs sigma under the root."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(4096, generator=g, dtype=F64)
    z = (z - z.mean()) / z.std(correction=0)  # exactly mean 0, std 1
    correct, std_under_root = [], []
    for s in input_std:
        x = s * z
        mu, var = x.mean(), x.var(correction=0)
        y = (x - mu) / torch.sqrt(var + eps)
        correct.append(y.std(correction=0).item())
        sigma = var.sqrt()  # the standard deviation under the root
        y = (x - mu) / torch.sqrt(sigma + eps)
        std_under_root.append(y.std(correction=0).item())
    return correct, std_under_root


def running_var_paths(momenta, steps=300, batch=8, var=4.0, seed=2):
    """Running variance of one feature, batches from N(3, var)."""
    g = torch.Generator().manual_seed(seed)
    batches = [
        3 + var**0.5 * torch.randn(batch, 1, generator=g, dtype=F64)
        for _ in range(steps)
    ]
    paths = {}
    for m in momenta:
        bn = nn.BatchNorm1d(1, momentum=m, dtype=F64)
        paths[m] = []
        for x in batches:
            bn(x)
            paths[m].append(bn.running_var.item())
    unbiased = torch.stack([x.var(correction=1) for x in batches])
    biased = torch.stack([x.var(correction=0) for x in batches])
    return paths, unbiased, biased


def experiment():
    stds = torch.logspace(-4, 2, 49, dtype=F64).tolist()
    correct, std_under_root = output_std(stds)
    paths, unbiased, biased = running_var_paths([0.1, 0.9, None])
    # spread of running_var once the start has been forgotten (last 200)
    spread = {m: torch.tensor(p[100:]).std().item() for m, p in paths.items()}
    c, w = output_std([10.0, 0.1])
    return {
        "max abs difference": compare_with_pytorch(),
        "input std": stds,
        "output std, correct": correct,
        "output std, std under root": std_under_root,
        "examples": {"std 10": (c[0], w[0]), "std 0.1": (c[1], w[1])},
        "running_var": paths,
        "mean of unbiased batch variances": unbiased.mean().item(),
        "mean of biased batch variances": biased.mean().item(),
        "std of unbiased batch variances": unbiased.std().item(),
        "running_var spread (last 200)": spread,
    }


def plot(r):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.0))
    s = r["input std"]
    top.plot(s, r["output std, correct"], label="variance (right)")
    top.plot(
        s,
        r["output std, std under root"],
        "--",
        label="std (wrong)",
    )
    top.axvline(1e-5**0.5, color="gray", lw=0.8, ls=":")
    top.text(4e-3, 0.2, r"$v_B = \epsilon$", color="gray")
    top.set_xscale("log")
    top.set_yscale("log")
    top.set_xlabel("input std of a feature")
    top.set_ylabel("output std")
    top.set_title("Under the square root")
    top.legend(loc="upper left")
    styles = {
        0.9: ("C1", 0.8, 0.6, 1),
        0.1: ("C0", 1.2, 1, 3),
        None: ("C2", 1.6, 1, 2),
    }
    for m, path in r["running_var"].items():
        color, lw, alpha, zorder = styles[m]
        steps = range(1, len(path) + 1)
        right_label = "None" if m is None else f"{m}"
        bottom.plot(
            steps,
            path,
            color=color,
            lw=lw,
            alpha=alpha,
            zorder=zorder,
            label=right_label,
        )
    bottom.axhline(4.0, color="black", lw=1, ls="--")
    bottom.axhline(3.5, color="gray", lw=1, ls=":")
    bottom.text(305, 4.3, "4", va="bottom")
    bottom.text(305, 3.2, "3.5", va="top", color="gray")
    bottom.set_ylim(0, 21)
    bottom.set_xlabel("forward passes (batch of 8)")
    bottom.set_ylabel("running_var")
    bottom.set_title("running_var by momentum")
    bottom.legend(loc="upper center", ncol=3, title="momentum")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for what, diff in r["max abs difference"].items():
        print(f"hand-written vs nn.BatchNorm1d, {what}: {diff:.1e}")
    for what, (correct, wrong) in r["examples"].items():
        print(f"input {what}: output std {correct:.4f} (correct), {wrong:.4f}")
    print(
        f"mean unbiased batch variance {r['mean of unbiased batch variances']:.3f}"
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
