"""Why attention divides by sqrt(d_k): the logits' variance, and the softmax.

Queries and keys with independent components of mean 0 and variance 1 (the
assumption of Vaswani et al. 2017, footnote 4), d_k = 16 to 1024, 64 keys
per query, in float64, through F.scaled_dot_product_attention with its
default scale (1/sqrt(d_k)) and with scale=1.0 (no scaling). Unscaled, the
logits q.k have variance d_k, the softmax puts almost all its weight on one
key, and its Jacobian diag(p) - p p^T, the factor every gradient through
the softmax crosses, vanishes. Scaled, the logits have variance 1 at every
d_k and the Jacobian stays the same size. The same factor 1/sqrt(d_k)
multiplies the gradient that reaches q and k.

Run: python snippets/09-attention-and-transformers/softmax_saturation.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

F64 = torch.float64


# --8<-- [start:core]
def attention_stats(q, k, v, scale):
    """Logits, weights, softmax Jacobians and dL/dq for L = sum(out * u)."""
    q = q.clone().requires_grad_()
    out = F.scaled_dot_product_attention(q, k, v, scale=scale)
    u = torch.randn(out.shape, generator=G, dtype=F64) / math.sqrt(q.shape[-1])
    (out * u).sum().backward()
    factor = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q.detach() @ k.transpose(-2, -1) * factor  # the logits SDPA uses
    p = s.softmax(dim=-1)
    J = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)
    return s, p, J, q.grad


# --8<-- [end:core]

G = torch.Generator()  # seeded in experiment()


def experiment(dims=(16, 32, 64, 128, 256, 512, 1024), keys=64, seed=0):
    G.manual_seed(seed)
    sets, queries = 8, 64  # 8 independent sets of 64 keys, 64 queries each
    r = {"d_k": list(dims), "scaled": {}, "unscaled": {}}
    for name in ("scaled", "unscaled"):
        r[name] = {
            key: []
            for key in (
                "logit variance",
                "mean max p",
                "rows above 0.99",
                "median ||J||",
                "median ||dL/dq||",
            )  # fmt: skip
        }
    for d_k in dims:
        q = torch.randn(sets, queries, d_k, generator=G, dtype=F64)
        k = torch.randn(sets, keys, d_k, generator=G, dtype=F64)
        v = torch.randn(sets, keys, d_k, generator=G, dtype=F64)
        for name, scale in (("scaled", None), ("unscaled", 1.0)):
            s, p, J, dq = attention_stats(q, k, v, scale)
            top = p.max(dim=-1).values
            m = r[name]
            m["logit variance"].append(s.var().item())
            m["mean max p"].append(top.mean().item())
            m["rows above 0.99"].append((top > 0.99).double().mean().item())
            m["median ||J||"].append(
                torch.linalg.matrix_norm(J).median().item()
            )
            m["median ||dL/dq||"].append(dq.norm(dim=-1).median().item())
    # SDPA's default scale is 1/sqrt(E), E = query.size(-1): check it
    q, k, v = (torch.randn(2, 5, 64, generator=G, dtype=F64) for _ in "qkv")
    by_hand = (q @ k.transpose(-2, -1) / 8).softmax(-1) @ v
    r["max |SDPA - by hand|"] = (
        (F.scaled_dot_product_attention(q, k, v) - by_hand).abs().max().item()
    )
    # the scale multiplies dL/dq by 1/sqrt(d_k): same logits, two ways
    q1 = q.clone().requires_grad_()
    q2 = (q / 8).requires_grad_()  # pre-scaled query, no scale in SDPA
    F.scaled_dot_product_attention(q1, k, v).sum().backward()
    F.scaled_dot_product_attention(q2, k, v, scale=1.0).sum().backward()
    r["dL/dq scaled / dL/dq of the pre-scaled query"] = (
        (q1.grad / q2.grad).flatten().tolist()
    )
    r["settings"] = dict(keys=keys, sets=sets, queries=queries, seed=seed)
    return r


def plot(r):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 5.6), sharex=True)
    d = r["d_k"]
    for name, style, label in (
        ("unscaled", "o-", "no scaling"),
        ("scaled", "s-", r"$1/\sqrt{d_k}$"),
    ):
        top.plot(d, r[name]["logit variance"], style, label=label)
        bottom.plot(d, r[name]["median ||J||"], style, label=label)
    top.set_ylabel("logit variance")
    bottom.set_ylabel(r"median $\|\mathrm{diag}(p) - pp^\top\|_F$")
    bottom.set_xlabel(r"$d_k$")
    top.legend(loc="upper left")
    for ax in (top, bottom):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for i, d_k in enumerate(r["d_k"]):
        row = []
        for name in ("unscaled", "scaled"):
            m = r[name]
            row.append(
                f"{name}: var {m['logit variance'][i]:7.3g}, max p "
                f"{m['mean max p'][i]:.3f}, >0.99 {m['rows above 0.99'][i]:.0%},"
                f" |J| {m['median ||J||'][i]:.3g}, |dL/dq| "
                f"{m['median ||dL/dq||'][i]:.3g}"
            )
        print(f"d_k = {d_k:4d}  " + "\n             ".join(row))
    print(
        f"max |SDPA - softmax(q k^T / sqrt(d_k)) v| = {r['max |SDPA - by hand|']:.2g}"
    )
    ratios = r["dL/dq scaled / dL/dq of the pre-scaled query"]
    print(f"dL/dq ratio: from {min(ratios):.6f} to {max(ratios):.6f} (1/8)")
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
