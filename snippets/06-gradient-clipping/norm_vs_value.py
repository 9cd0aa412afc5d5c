"""Clipping by norm keeps the gradient's direction; clipping by value turns it.

One gradient, that of the chapter's 10-layer ReLU MLP at initialization, is
clipped both ways at many thresholds. clip_grad_norm_ multiplies every entry
by the same factor min(1, max_norm / (norm + 1e-6)), with one norm over all
the parameters together, so the direction does not change; it returns that
norm, measured before clipping. clip_grad_value_ clamps every entry to
[-clip_value, clip_value] and returns None: the large entries shrink, the
small ones stay as they are, so the direction turns, by up to tens of
degrees, and the norm of the result can exceed clip_value by far. The
formula of source post 3, g = min(g, theta / ||g||), read entry by entry, is
checked too.

Run: python snippets/06-gradient-clipping/norm_vs_value.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn


def make_task(g, n=128, dim=16):
    """Labels from a random two-layer teacher: learnable, but not linear."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, generator=g)
    y = (torch.tanh(x @ w1) @ w2 > 0).long()
    return x, y


def make_net(g, depth=10, width=32, dim=16):
    """depth ReLU layers of `width` units (He init, zero biases), 2 logits."""
    layers, fan_in = [], dim
    for _ in range(depth):
        linear = nn.Linear(fan_in, width)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu", generator=g)
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.ReLU()]
        fan_in = width
    head = nn.Linear(width, 2)
    nn.init.kaiming_normal_(head.weight, nonlinearity="linear", generator=g)
    nn.init.zeros_(head.bias)
    return nn.Sequential(*layers, head)


def angle(a, b):
    """The angle between two vectors, in degrees (float64, Kahan's formula,
    accurate near 0 where acos of the cosine is not)."""
    a, b = a.double() / a.double().norm(), b.double() / b.double().norm()
    return math.degrees(2 * math.atan2((a - b).norm(), (a + b).norm()))


# --8<-- [start:core]
def clip_both_ways(model, threshold):
    """Clip a copy of the model's gradient by norm and by value."""
    original = [p.grad.clone() for p in model.parameters()]
    norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=threshold)
    by_norm = torch.cat([p.grad.flatten() for p in model.parameters()])
    for p, grad in zip(model.parameters(), original):
        p.grad = grad.clone()  # start again from the same gradient
    returned = nn.utils.clip_grad_value_(model.parameters(), threshold)
    by_value = torch.cat([p.grad.flatten() for p in model.parameters()])
    for p, grad in zip(model.parameters(), original):
        p.grad = grad  # leave the model as it was
    return norm, returned, by_norm, by_value


# --8<-- [end:core]


def experiment(seed=0, thresholds=torch.logspace(-6, 1, 57).tolist()):
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    model = make_net(g)
    nn.functional.cross_entropy(model(x), y).backward()
    grad = torch.cat([p.grad.flatten() for p in model.parameters()])
    rows = []
    for threshold in thresholds:
        norm, returned, by_norm, by_value = clip_both_ways(model, threshold)
        assert returned is None and torch.isclose(norm, grad.norm())
        small = grad.abs() <= threshold  # entries value clipping keeps
        rows.append(
            {
                "threshold": threshold,
                "norm clipping: angle": angle(by_norm, grad),
                "norm clipping: norm": by_norm.norm().item(),
                "value clipping: angle": angle(by_value, grad),
                "value clipping: norm": by_value.norm().item(),
                "value clipping: entries clamped": (~small)
                .float()
                .mean()
                .item(),
                "value clipping: small entries unchanged": torch.equal(
                    by_value[small], grad[small]
                ),
                "value clipping: cosine": (
                    by_value.double()
                    @ grad.double()
                    / (by_value.norm() * grad.norm())
                ).item(),
                "zeros before, after": (
                    int((grad == 0).sum()),
                    int((by_value == 0).sum()),
                ),
            }
        )
    # the limit of a tiny clip_value: the sign of every entry, scaled
    sign_angle = angle(torch.sign(grad), grad)
    # source post 3: g = min(g, theta / ||g||), entry by entry, theta = 1
    post = torch.minimum(grad, 1.0 / grad.norm())
    return {
        "parameters": grad.numel(),
        "norm": grad.norm().item(),
        "max entry": grad.abs().max().item(),
        "rows": rows,
        "sign angle": sign_angle,
        "post formula": {
            "norm": post.norm().item(),
            "angle": angle(post, grad),
            "negative entries unchanged": torch.equal(
                post[grad < 0], grad[grad < 0]
            ),
        },
    }


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.0), sharex=True)
    rows = results["rows"]
    t = [r["threshold"] for r in rows]
    for i, kind in enumerate(("norm clipping", "value clipping")):
        top.plot(
            t, [r[f"{kind}: angle"] for r in rows], color=f"C{i}", label=kind
        )
        bottom.plot(t, [r[f"{kind}: norm"] for r in rows], color=f"C{i}")
    bottom.annotate(
        "= threshold",
        (t[8], t[8]),
        xytext=(6, -4),
        textcoords="offset points",
        ha="left",
        va="top",
        color="C0",
    )
    top.axhline(results["sign angle"], color="C1", ls=":", lw=1)
    top.set_ylabel("angle to the gradient (°)")
    top.set_ylim(-3, 90)
    top.set_yticks(range(0, 91, 15))
    top.legend(loc="upper right", frameon=False)
    bottom.set_yscale("log")
    bottom.set_ylabel("norm after clipping")
    bottom.set_xscale("log")
    bottom.set_xlabel("threshold (max_norm or clip_value)")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    print(
        f"{results['parameters']} parameters, gradient norm "
        f"{results['norm']:.4g}, largest entry {results['max entry']:.3g}"
    )
    print(
        "threshold  norm clipping: angle, norm   value clipping: angle, "
        "norm, entries clamped"
    )
    for r in results["rows"][::8]:
        print(
            f"{r['threshold']:9.2g}  {r['norm clipping: angle']:8.2g}° "
            f"{r['norm clipping: norm']:9.3g}   "
            f"{r['value clipping: angle']:8.3g}° "
            f"{r['value clipping: norm']:9.3g} "
            f"{r['value clipping: entries clamped']:8.1%}"
        )
    print(f"sign of the gradient: {results['sign angle']:.3g}° from it")
    post = results["post formula"]
    print(
        f"post 3's min(g, 1/||g||): norm {post['norm']:.3g}, "
        f"angle {post['angle']:.3g}°"
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
