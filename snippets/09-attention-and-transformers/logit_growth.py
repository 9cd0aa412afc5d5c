"""The 1/sqrt(d_k) scale does not stop saturation when W_q and W_k grow.

One attention head (d_model = d_k = 64, 32 tokens, 8 sequences, float64)
with W_q and W_k Xavier-initialized, so that q and k start with unit
variance and the scaled logits with variance 1, then both multiplied by a
factor c, as if training had grown them. The logits grow like c^2 although
F.scaled_dot_product_attention divides them by sqrt(d_k): the softmax
saturates and the gradient that reaches W_q and W_k collapses. Normalizing q
and k first (QK-norm: a LayerNorm on each, Dehghani et al. 2023) makes the
logits independent of c; the gradient then shrinks only like 1/c.

Run: python snippets/09-attention-and-transformers/logit_growth.py [OUT_DIR]
"""

import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

F64 = torch.float64


# --8<-- [start:core]
class Head(nn.Module):
    """One attention head; qk_norm: LayerNorm on q and k before the logits."""

    def __init__(self, d, qk_norm=False):
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(d, d, bias=False) for _ in "qkv")
        self.q_norm = nn.LayerNorm(d) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(d) if qk_norm else nn.Identity()

    def forward(self, x):
        q, k = self.q_norm(self.q(x)), self.k_norm(self.k(x))
        return F.scaled_dot_product_attention(q, k, self.v(x))  # / sqrt(d)


# --8<-- [end:core]


def measure(head, x, u, c):
    """W_q and W_k multiplied by c: the logits' std, each query's largest
    attention weight, its softmax Jacobian and its gradient dL/dq_i (before
    any QK-norm) for L = sum(out * u); medians over the queries."""
    with torch.no_grad():
        for lin in (head.q, head.k):
            lin.weight.mul_(c)
    head.zero_grad()
    q_in = head.q(x)
    q_in.retain_grad()  # dL/dq_i, the gradient every row passes to W_q
    q, k = head.q_norm(q_in), head.k_norm(head.k(x))
    out = F.scaled_dot_product_attention(q, k, head.v(x))
    (out * u).sum().backward()
    with torch.no_grad():
        s = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # SDPA's logits
        p = s.softmax(dim=-1)
        J = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)
        for lin in (head.q, head.k):
            lin.weight.div_(c)  # back to the initial weights
    return {
        "logit std": s.std().item(),
        "median max p": p.max(dim=-1).values.median().item(),
        "median ||J||": torch.linalg.matrix_norm(J).median().item(),
        "median ||dL/dq_i||": q_in.grad.norm(dim=-1).median().item(),
        "||dL/dW_q||": head.q.weight.grad.norm().item(),  # all queries
        **few_queries(s, q_in.grad.norm(dim=-1).flatten()),
        "queries above 0.99": (p.max(dim=-1).values > 0.99)
        .double()
        .mean()
        .item(),
    }


def few_queries(s, grads, few=10):
    """The share of the squared gradient that the few queries with the largest
    gradient carry, and the gap between their two largest logits (median)
    against every query's."""
    top2 = s.topk(2, dim=-1).values
    gap = (top2[..., 0] - top2[..., 1]).flatten()
    largest = grads.argsort(descending=True)[:few]
    return {
        "share of the 10 largest": (
            grads[largest].square().sum() / grads.square().sum()
        ).item(),
        "their median logit gap": gap[largest].median().item(),
        "median logit gap": gap.median().item(),
    }


def experiment(d=64, tokens=32, batch=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    heads = {"standard": Head(d).double(), "QK-norm": Head(d, True).double()}
    weights = [torch.empty(d, d, dtype=F64) for _ in "qkv"]
    for w in weights:  # Var(w) = 1/d: q and k start with unit variance
        nn.init.xavier_uniform_(w, generator=g)
    for head in heads.values():  # the same initial weights for both heads
        for lin, w in zip((head.q, head.k, head.v), weights):
            lin.weight.data.copy_(w)
    x = torch.randn(batch, tokens, d, generator=g, dtype=F64)  # unit variance
    u = torch.randn(batch, tokens, d, generator=g, dtype=F64)
    factors = [2 ** (i / 2) for i in range(-2, 9)]  # 0.5 .. 16
    r = {"c": factors}
    for name, head in heads.items():
        rows = [measure(head, x, u, c) for c in factors]
        r[name] = {key: [row[key] for row in rows] for key in rows[0]}
    r["settings"] = dict(d=d, tokens=tokens, batch=batch, seed=seed)
    return r


def plot(r):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 5.6), sharex=True)
    for name, style in (("standard", "o-"), ("QK-norm", "s-")):
        label = r"$1/\sqrt{d_k}$ only" if name == "standard" else name
        top.plot(r["c"], r[name]["median max p"], style, label=label)
        bottom.plot(r["c"], r[name]["median ||J||"], style, label=label)
    top.set_ylabel("median largest\nattention weight")
    top.set_ylim(0, 1.05)
    bottom.set_ylabel(r"median $\|\mathrm{diag}(p) - pp^\top\|_F$")
    bottom.set_yscale("log")
    bottom.set_xlabel(r"factor $c$ on $W_q$ and $W_k$")
    bottom.legend(loc="lower left")
    for ax in (top, bottom):
        ax.set_xscale("log", base=2)
        ax.axvline(1, color="grey", linestyle=":", linewidth=1)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for i, c in enumerate(r["c"]):
        s, q = r["standard"], r["QK-norm"]
        print(
            f"c = {c:6.3f}  logit std {s['logit std'][i]:8.3g}  max p "
            f"{s['median max p'][i]:.3f}  |J| {s['median ||J||'][i]:.3g}  "
            f"|dq_i| {s['median ||dL/dq_i||'][i]:.3g}  | QK-norm: std "
            f"{q['logit std'][i]:.3g}  max p {q['median max p'][i]:.3f}  |J| "
            f"{q['median ||J||'][i]:.3g}  |dq_i| {q['median ||dL/dq_i||'][i]:.3g}"
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
