"""GradScaler moves the loss scale: halved on overflow, doubled after clean runs.

The chapter's badly initialized network (14 hidden layers, nn.Linear's init),
trained with Adam under torch.autocast("cpu", dtype=torch.float16) and
torch.amp.GradScaler("cpu"), which works on the CPU in PyTorch 2.13. The
scale starts at 2^24, too large: the scaled gradients overflow float16,
scaler.step() finds the infs and skips optimizer.step(), leaving the weights
and Adam's state untouched, and scaler.update() halves the scale
(backoff_factor 0.5), until the gradients fit. After growth_interval steps
without an overflow it doubles the scale (growth_factor 2); PyTorch's default
interval is 2000 steps, shortened here to 10 so that a 100-step run shows it.
The same network trained in float32 for comparison.

Run: python snippets/07-optimizers-and-precision/grad_scaler.py [OUT_DIR]
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
    """Targets from a random two-layer teacher, scaled to unit variance."""
    x = torch.randn(n, dim, generator=g)
    w1, w2 = torch.randn(dim, 32, generator=g), torch.randn(32, 1, generator=g)
    t = torch.tanh(x @ w1) @ w2
    return x, (t - t.mean()) / t.std()


def make_mlp(g, depth=14, width=64, dim=16):
    """nn.Linear layers with the init nn.Linear gives them, drawn from g."""
    sizes = [dim] + [width] * depth + [1]
    layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    for layer in layers:  # what nn.Linear.reset_parameters() draws
        nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=g)
        bound = 1 / math.sqrt(layer.in_features)
        nn.init.uniform_(layer.bias, -bound, bound, generator=g)
    blocks = [m for layer in layers[:-1] for m in (layer, nn.ReLU())]
    return nn.Sequential(*blocks, layers[-1])


# --8<-- [start:core]
def train(model, x, y, optimizer, scaler, steps=100):
    losses, scales, skipped = [], [], []
    for _ in range(steps):
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.float16):
            loss = nn.functional.mse_loss(model(x), y)
        scaler.scale(loss).backward()  # the gradients of loss * scale
        scales.append(scaler.get_scale())
        scaler.step(optimizer)  # unscales; skips optimizer.step() on inf/NaN
        scaler.update()  # x 0.5 after a skip, x 2 after a run of clean steps
        skipped.append(scaler.get_scale() < scales[-1])
        losses.append(loss.item())
    return losses, scales, skipped


# --8<-- [end:core]


def one_overflowing_step(seed=0):
    """A scale of 2^40 overflows for sure: what does the skipped step touch?"""
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    model = make_mlp(g)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**40)
    before = [p.detach().clone() for p in model.parameters()]
    train(model, x, y, optimizer, scaler, steps=1)
    unchanged = all(
        torch.equal(b, p) for b, p in zip(before, model.parameters())
    )
    return {
        "weights unchanged": unchanged,
        "Adam state empty": len(optimizer.state) == 0,
        "scale after": scaler.get_scale(),
    }


def experiment(seed=0, steps=100, growth_interval=10, init_scale=2.0**24):
    g = torch.Generator().manual_seed(seed)
    x, y = make_task(g)
    model = make_mlp(g)
    float32 = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    scaler = torch.amp.GradScaler(
        "cpu", init_scale=init_scale, growth_interval=growth_interval
    )
    losses, scales, skipped = train(model, x, y, optimizer, scaler, steps)
    adam_steps = {int(s["step"]) for s in optimizer.state.values()}
    # the same weights and steps in float32, no scaler
    with torch.no_grad():
        for p, p0 in zip(model.parameters(), float32):
            p.copy_(p0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    reference = torch.amp.GradScaler("cpu", enabled=False)  # a no-op
    float32_losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        reference.scale(loss).backward()
        reference.step(optimizer)
        reference.update()
        float32_losses.append(loss.item())
    return {
        "losses": losses,
        "scales": scales,
        "skipped": skipped,
        "Adam's step counts": adam_steps,
        "float32 losses": float32_losses,
        "settings": dict(
            steps=steps, growth_interval=growth_interval, init_scale=init_scale
        ),
        "one overflowing step": one_overflowing_step(seed),
    }


def plot(r):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.4), sharex=True)
    steps = range(len(r["scales"]))
    top.step(
        steps, [math.log2(s) for s in r["scales"]], where="post", color="C0"
    )
    skips = [t for t in steps if r["skipped"][t]]
    top.plot(
        skips,
        [math.log2(r["scales"][t]) for t in skips],
        "x",
        color="C3",
        ms=8,
        mew=2,
        label="step skipped",
    )
    top.set_ylabel("log2(loss scale)")
    top.set_title("GradScaler, growth_interval 10")
    top.legend(loc="upper right")
    bottom.plot(r["float32 losses"], color="grey", lw=1.5, label="float32")
    bottom.plot(r["losses"], color="C0", lw=1.5, label="float16 + GradScaler")
    bottom.set_yscale("log")
    bottom.set_xlabel("step")
    bottom.set_ylabel("training loss (MSE)")
    bottom.legend(loc="lower left")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    print(
        "log2(scale) per step:",
        " ".join(str(int(math.log2(s))) for s in r["scales"]),
    )
    print(f"skipped steps: {[t for t, s in enumerate(r['skipped']) if s]}")
    print("Adam's step count:", r["Adam's step counts"])
    print(
        f"final loss: float16 + GradScaler {r['losses'][-1]:.3g}, "
        f"float32 {r['float32 losses'][-1]:.3g}"
    )
    print(f"one overflowing step: {r['one overflowing step']}")
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
