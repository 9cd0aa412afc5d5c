"""Zero-initialized residual branches: identity at init, and still learning.

Three ways to start every residual block as the identity, on a 4-block MLP:
Fixup (last layer of each branch zero, first layer scaled by L^(-1/2), scalar
multipliers and biases, zero classifier), SkipInit/ReZero (x + alpha F(x) with
alpha = 0) and torchvision's zero_init_residual (the last BatchNorm's gamma
zero in each block). At step 0 the stack of blocks is exactly the identity,
and some parameters have a gradient of exactly zero; but not all of them, and
after one or two SGD steps every parameter has a non-zero gradient.

Run: python snippets/05-skip-connections/zero_init_first_steps.py [OUT_DIR]
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
    """Labels from a random two-layer teacher: learnable, but not linear."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1) @ w2 > 0).long()
    return x, y


def he(rows, cols, g, scale=1.0):
    return torch.randn(rows, cols, generator=g) * math.sqrt(2 / cols) * scale


def batch_norm(h, gamma, beta):
    mean, var = h.mean(0), h.var(0, unbiased=False)
    return gamma * (h - mean) / torch.sqrt(var + 1e-5) + beta


def fixup(g, L, n, dim):
    """Zhang et al. 2019, on a pre-activation block with m = 2 layers."""
    p = {"stem": he(n, dim, g), "head": torch.zeros(2, n)}  # classifier: 0
    for l in range(L):
        p[f"W1 {l}"] = he(n, n, g, scale=L ** (-1 / (2 * 2 - 2)))
        p[f"W2 {l}"] = torch.zeros(n, n)  # last layer of the branch: 0
        p[f"multiplier {l}"] = torch.ones(1)
        for k in "abcd":
            p[f"bias {k}{l}"] = torch.zeros(1)  # scalar biases

    def block(x, l):
        h = (torch.relu(x) + p[f"bias a{l}"]) @ p[f"W1 {l}"].T
        h = torch.relu(h + p[f"bias b{l}"]) + p[f"bias c{l}"]
        f = p[f"multiplier {l}"] * (h @ p[f"W2 {l}"].T) + p[f"bias d{l}"]
        return x + f

    return p, block


# --8<-- [start:core]
def rezero(g, L, n, dim):
    """SkipInit (De & Smith 2020) / ReZero (Bachlechner et al. 2020)."""
    p = {"stem": he(n, dim, g), "head": he(2, n, g)}
    for l in range(L):
        p[f"W1 {l}"], p[f"W2 {l}"] = he(n, n, g), he(n, n, g)
        p[f"alpha {l}"] = torch.zeros(1)  # x + alpha F(x), alpha = 0

    def block(x, l):
        f = torch.relu(torch.relu(x) @ p[f"W1 {l}"].T) @ p[f"W2 {l}"].T
        return x + p[f"alpha {l}"] * f

    return p, block


# --8<-- [end:core]


def zero_gamma(g, L, n, dim):
    """torchvision's ResNet(zero_init_residual=True), BasicBlock as an MLP."""
    p = {"stem": he(n, dim, g), "head": he(2, n, g)}
    for l in range(L):
        p[f"W1 {l}"], p[f"W2 {l}"] = he(n, n, g), he(n, n, g)
        p[f"BN1 gamma {l}"], p[f"BN1 beta {l}"] = torch.ones(n), torch.zeros(n)
        p[f"BN2 gamma {l}"] = torch.zeros(n)  # the zeroed gamma
        p[f"BN2 beta {l}"] = torch.zeros(n)

    def block(x, l):
        h = x @ p[f"W1 {l}"].T
        h = torch.relu(batch_norm(h, p[f"BN1 gamma {l}"], p[f"BN1 beta {l}"]))
        h = h @ p[f"W2 {l}"].T
        f = batch_norm(h, p[f"BN2 gamma {l}"], p[f"BN2 beta {l}"])
        return torch.relu(x + f)  # the ReLU after the addition

    return p, block


SCHEMES = {
    "Fixup": fixup,
    "SkipInit / ReZero": rezero,
    "torchvision zero_init_residual": zero_gamma,
}


def first_steps(scheme, L=4, n=32, steps=3, lr=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    p, block = scheme(g, L, n, x.shape[1])
    for t in p.values():
        t.requires_grad_()
    opt = torch.optim.SGD(p.values(), lr=lr)

    def body(h):  # the stack of residual blocks
        for l in range(L):
            h = block(h, l)
        return h

    with torch.no_grad():
        h0 = torch.relu(x @ p["stem"].T)  # the stem ends with a ReLU
        identity_error = (body(h0) - h0).abs().max().item()
    norms = []  # per step: the gradient norm of every parameter
    for _ in range(steps):
        out = body(torch.relu(x @ p["stem"].T)) @ p["head"].T
        loss = nn.functional.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        norms.append({k: t.grad.norm().item() for k, t in p.items()})
        opt.step()
    return {"identity error": identity_error, "gradient norms": norms}


def experiment():
    return {name: first_steps(scheme) for name, scheme in SCHEMES.items()}


def group(name):
    """'W1 3' -> 'W1', 'bias a2' -> 'bias': one row per kind of parameter."""
    head = name.rstrip("0123456789").rstrip()
    return "scalar biases" if head.startswith("bias") else head


def grouped(norms):
    """Root of the summed squares over the blocks, per kind and step."""
    rows = {group(name): [0.0] * len(norms) for name in norms[0]}
    for t, step in enumerate(norms):
        for name, value in step.items():
            rows[group(name)][t] += value**2
    return {k: [math.sqrt(v) for v in vs] for k, vs in rows.items()}


LABELS = {
    "W1": "W1 (first)",
    "W2": "W2 (last)",
    "alpha": "\u03b1",
    "BN1 gamma": "BN1 \u03b3",
    "BN1 beta": "BN1 \u03b2",
    "BN2 gamma": "BN2 \u03b3 (last)",
    "BN2 beta": "BN2 \u03b2",
}


def plot(results):
    heights = [len(grouped(r["gradient norms"])) for r in results.values()]
    fig, axes = plt.subplots(3, 1, figsize=(4.2, 10.5), height_ratios=heights)
    cmap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")
    for ax, (name, r) in zip(axes, results.items()):
        rows = grouped(r["gradient norms"])
        values = torch.tensor(list(rows.values()))
        shown = torch.where(values > 0, values.log10(), torch.nan)
        ax.imshow(shown.numpy(), cmap=cmap, vmin=-4, vmax=1, aspect="auto")
        for i, row in enumerate(values):
            for t, v in enumerate(row):
                text = "0" if v == 0 else f"{v:.0e}".replace("e-0", "e-")
                dark = 0 < v < 10**-2.5  # the dark end of viridis
                ax.text(
                    t,
                    i,
                    text,
                    ha="center",
                    va="center",
                    color="white" if dark else "black",
                )
        labels = [LABELS.get(k, k) for k in rows]
        ax.set_yticks(range(len(rows)), labels)
        ax.set_xticks(range(values.shape[1]))
        ax.set_title(name.replace(" zero_init_residual", ""))
    axes[-1].set_xlabel("SGD step")
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    for name, r in results.items():
        print(f"{name}: max |blocks(h) - h| at init = {r['identity error']}")
        for kind, values in grouped(r["gradient norms"]).items():
            print(f"  {kind:16s}" + "".join(f"{v:10.2g}" for v in values))
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
