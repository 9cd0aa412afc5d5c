"""Where clipping goes: once, after backward, on unscaled gradients, over all.

One optimizer step of the chapter's 10-layer ReLU MLP, at initialization,
with max_norm = 1, written as a practitioner writes it with gradient
accumulation (four micro-batches of 32) and a GradScaler. The right order
(backward for every micro-batch, then scaler.unscale_, then clip_grad_norm_
over all the parameters, then scaler.step) gives the same update as clipping
the full-batch gradient. Each misplacement changes the update: clipping after
the step is too late, clipping every micro-batch clips partial sums, clipping
before unscale_ clips the gradient times the loss scale S = 65536, and
clipping two halves of the network separately allows a norm of up to
sqrt(2) max_norm and turns the direction.

Run: python snippets/06-gradient-clipping/where_clipping_goes.py [OUT_DIR]
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
def train_step(model, opt, scaler, micro_batches, max_norm=1.0):
    """One step: accumulate scaled gradients, unscale, clip once, step."""
    opt.zero_grad()
    for x, y in micro_batches:
        loss = nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss / len(micro_batches)).backward()  # grads add up
    scaler.unscale_(opt)  # divide by the loss scale S first,
    norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)  # clip,
    scaler.step(opt)  # skipped if a gradient is inf or NaN
    scaler.update()
    return norm  # the norm of the whole accumulated gradient


# --8<-- [end:core]


def misplaced_step(model, opt, scaler, micro_batches, mistake, max_norm=1.0):
    """train_step with one mistake."""
    params = list(model.parameters())
    opt.zero_grad()
    for x, y in micro_batches:
        loss = nn.functional.cross_entropy(model(x), y)
        if mistake == "before unscale_":
            scaler.scale(loss / len(micro_batches)).backward()
        else:  # no loss scaling: one mistake at a time
            (loss / len(micro_batches)).backward()
        if mistake == "every micro-batch":  # clips the partial sums
            nn.utils.clip_grad_norm_(params, max_norm)
    if mistake == "before unscale_":  # clips S times the gradient
        nn.utils.clip_grad_norm_(params, max_norm)
        scaler.step(opt)  # unscales what was clipped
        scaler.update()
        return
    if mistake == "each half alone":  # two norms, each clipped to max_norm
        nn.utils.clip_grad_norm_(params[:10], max_norm)  # layers 1-5
        nn.utils.clip_grad_norm_(params[10:], max_norm)  # layers 6-10, head
    opt.step()
    if mistake == "after the step":  # the step used the unclipped gradient
        nn.utils.clip_grad_norm_(params, max_norm)


MISTAKES = (
    "after the step",
    "every micro-batch",
    "before unscale_",
    "each half alone",
)


def used_gradient(seed, mistake=None):
    """The gradient the optimizer's step used (its .grad when step() is
    called), and the norm clip_grad_norm_ returned in train_step."""
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    model = make_net(g)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    used = []
    opt.register_step_pre_hook(
        lambda opt, args, kwargs: used.append(
            torch.cat([p.grad.flatten() for p in model.parameters()])
        )
    )
    scaler = torch.amp.GradScaler("cpu")  # loss scale S = 2^16 to start
    micro_batches = list(zip(x.split(32), y.split(32)))
    norm = None
    if mistake == "full batch, no scaler":
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    elif mistake == "one batch, scaler":
        norm = train_step(model, opt, scaler, [(x, y)])
    elif mistake is None:
        norm = train_step(model, opt, scaler, micro_batches)
    else:
        misplaced_step(model, opt, scaler, micro_batches, mistake)
    (grad,) = used
    return grad, norm


def half_norms(seed):
    """The gradient norms of layers 1-5 and of layers 6-10 with the head."""
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    model = make_net(g)
    nn.functional.cross_entropy(model(x), y).backward()
    grads = [p.grad for p in model.parameters()]
    return [
        torch.cat([t.flatten() for t in half]).norm().item()
        for half in (grads[:10], grads[10:])
    ]


def experiment(seed=0):
    right, norm = used_gradient(seed)
    full, full_norm = used_gradient(seed, "full batch, no scaler")
    one_batch, _ = used_gradient(seed, "one batch, scaler")
    results = {
        "norm": norm.item(),
        "full-batch norm": full_norm.item(),
        "loss scale": torch.amp.GradScaler("cpu").get_scale(),
        "right vs full batch": ((right - full).norm() / full.norm()).item(),
        "scaler changes nothing": torch.equal(one_batch, full),
        "right norm": right.norm().item(),
        "half norms": half_norms(seed),
        "mistakes": {},
    }
    for mistake in MISTAKES:
        used, _ = used_gradient(seed, mistake)
        results["mistakes"][mistake] = {
            "norm": used.norm().item(),
            "angle": angle(used, right),
        }
    return results


def plot(results):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 5.4), sharey=True)
    labels = ["right order", *MISTAKES]
    norms = [results["right norm"]] + [
        results["mistakes"][m]["norm"] for m in MISTAKES
    ]
    angles = [0.0] + [results["mistakes"][m]["angle"] for m in MISTAKES]
    rows = range(len(labels))
    for ax, values, text in (
        (top, norms, "{:.3g}"),
        (bottom, angles, "{:.1f}°"),
    ):
        for row, value in zip(rows, values):
            color = "C0" if row == 0 else "C1"
            ax.plot(value, row, "o", color=color, ms=8)
            shown = text.format(value)
            ax.annotate(
                shown,
                (value, row),
                xytext=(8, 0),
                va="center",
                textcoords="offset points",
                color=color,
            )
        ax.set_yticks(rows, labels)
        ax.grid(True, axis="x", alpha=0.3)
    top.set_xscale("log")
    top.set_xlim(3e-6, 1e3)
    top.axvline(1.0, color="grey", ls="--", lw=1)
    top.set_xlabel("norm of the gradient used")
    bottom.set_xlim(-1, 20)
    bottom.set_xlabel("angle to the right one (°)")
    top.set_ylim(len(labels) - 0.5, -0.5)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    results = experiment()
    print(
        f"gradient norm {results['norm']:.4g} (full batch "
        f"{results['full-batch norm']:.4g}); right order vs clipping the "
        f"full-batch gradient: relative difference "
        f"{results['right vs full batch']:.2g}"
    )
    print(
        f"the loss scale unscaled exactly: {results['scaler changes nothing']}"
    )
    print(
        f"right order: update norm {results['right norm']:.4g}; norms of "
        "the two halves: "
        + ", ".join(f"{v:.3g}" for v in results["half norms"])
    )
    for mistake, r in results["mistakes"].items():
        print(
            f"{mistake:18s}: update norm {r['norm']:.4g}, "
            f"angle {r['angle']:.3g}°"
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
