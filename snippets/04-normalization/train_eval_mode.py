"""A BatchNorm model in train mode makes each prediction depend on the batch.

A small MLP with two BatchNorm1d layers whose running statistics have been
collected. In train mode, one example's output changes with the other examples
in its batch; in eval mode it does not. The gap between train-mode and
eval-mode outputs grows as the batch shrinks (noisier batch statistics); the
same network with LayerNorm has no gap at all. Evaluating in train mode under
torch.no_grad() still updates the running statistics: a few batches from a
shifted test set change every later eval-mode prediction.

Run: python snippets/04-normalization/train_eval_mode.py [OUT_DIR]
"""

import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

BATCH_SIZES = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]


def make_model(norm, g, d=8, width=32):
    model = nn.Sequential(
        nn.Linear(d, width), norm(width), nn.ReLU(),
        nn.Linear(width, width), norm(width), nn.ReLU(),
        nn.Linear(width, 1),
    )  # fmt: skip
    for m in model:
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=g)
            nn.init.zeros_(m.bias)
    return model


def data(n, g, shift=0.0, d=8):
    """Features with means 1..8 and stds 1..8: the statistics matter."""
    scale = torch.arange(1.0, d + 1)
    return shift + scale + scale * torch.randn(n, d, generator=g)


@torch.no_grad()
def train_mode_outputs(model, batches):
    """Outputs in train mode, then undo its updates of the running stats."""
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    outputs = [model(x) for x in batches]
    model.load_state_dict(saved)
    model.eval()
    return outputs


# --8<-- [start:core]
@torch.no_grad()
def evaluate_in_train_mode(model, g, batches=20, batch=64, shift=2.0):
    """'Evaluate' shifted data but forget model.eval(): how far do the
    eval-mode predictions on the training distribution move?"""
    probe = data(512, g)
    before = model.eval()(probe)
    changes = [0.0]
    for _ in range(batches):
        model.train()  # the bug
        model(data(batch, g, shift=shift))  # no_grad does not stop the update
        after = model.eval()(probe)
        rms = (after - before).pow(2).mean().sqrt()
        changes.append((rms / before.std()).item())
    return changes


# --8<-- [end:core]


@torch.no_grad()
def collect_running_stats(model, g, batches=100, batch=512):
    model.train()  # running statistics are only updated in train mode
    for _ in range(batches):
        model(data(batch, g))


@torch.no_grad()
def batch_dependence(model, g, companions=200, batch=16):
    """One example's output, put in different batches (it comes first)."""
    x0 = data(1, g)
    batches = [torch.cat([x0, data(batch - 1, g)]) for _ in range(companions)]
    train = torch.stack([y[0, 0] for y in train_mode_outputs(model, batches)])
    model.eval()
    return {
        "train": train,
        "eval": torch.stack([model(x)[0, 0] for x in batches]),
    }


@torch.no_grad()
def train_eval_gap(model, g, batch_sizes=BATCH_SIZES, batches=64):
    """RMS of (train-mode output - eval-mode output) / std of the outputs."""
    gaps = []
    for b in batch_sizes:
        x = data(batches * b, g)
        train = torch.cat(train_mode_outputs(model, x.split(b)))
        reference = model.eval()(x)
        gap = (train - reference).pow(2).mean().sqrt() / reference.std()
        gaps.append(gap.item())
    return gaps


def experiment(seed=0):
    g = torch.Generator().manual_seed(seed)
    bn = make_model(nn.BatchNorm1d, g)
    ln = make_model(nn.LayerNorm, g)
    collect_running_stats(bn, g)
    outputs = batch_dependence(bn, g)
    output_std = bn.eval()(data(4096, g)).std().item()  # across examples
    x = data(64, g)
    ln_train, ln_eval = ln.train()(x), ln.eval()(x)
    return {
        "outputs": {k: v.tolist() for k, v in outputs.items()},
        "relative spread": outputs["train"].std().item() / output_std,
        "gap": train_eval_gap(bn, g),
        "LayerNorm train == eval": torch.equal(ln_train, ln_eval),
        "change after train-mode evaluation": evaluate_in_train_mode(bn, g),
        "num_batches_tracked": int(bn[1].num_batches_tracked),
    }


def plot(r):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 6.2))
    gap = r["gap"]
    top.plot(BATCH_SIZES, gap, "o-", label="BatchNorm", zorder=3)
    ref = [gap[-1] * (BATCH_SIZES[-1] / b) ** 0.5 for b in BATCH_SIZES]
    top.plot(BATCH_SIZES, ref, "k:", lw=1, label=r"$\propto 1/\sqrt{n}$")
    top.set_xscale("log", base=2)
    shown = [2, 8, 32, 128, 512]
    top.set_xticks(shown, [str(b) for b in shown])
    top.minorticks_off()
    top.set_yscale("log")
    top.set_xlabel("batch size $n$ in train mode")
    top.set_ylabel("train-eval gap")
    top.set_title("Train vs eval mode (LayerNorm: 0)")
    top.legend(loc="upper right")
    change = r["change after train-mode evaluation"]
    bottom.plot(range(len(change)), change, "o-", markersize=3, color="C3")
    bottom.set_xlabel("test batches run in train mode")
    bottom.set_ylabel("change / std")
    bottom.set_title("Eval predictions drift")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    train, ev = torch.tensor(r["outputs"]["train"]), r["outputs"]["eval"]
    print(f"one example in 200 batches, train mode: std {train.std():.3g}, "
          f"{r['relative spread']:.2f} of the outputs' std")  # fmt: skip
    print(f"  eval mode: {len(set(ev))} distinct value(s)")
    for b, gap in zip(BATCH_SIZES, r["gap"]):
        print(f"batch {b:3d}: train/eval gap {gap:.3f}")
    print(f"LayerNorm train == eval: {r['LayerNorm train == eval']}")
    change = r["change after train-mode evaluation"]
    print(f"after 1 / {len(change) - 1} train-mode test batches: "
          f"{change[1]:.3f} / {change[-1]:.3f}")  # fmt: skip
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
