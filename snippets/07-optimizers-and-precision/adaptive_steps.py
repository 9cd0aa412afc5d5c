"""Adaptive optimizers divide the step by the gradient's size, down to eps.

One step of torch.optim.Adam, AdamW, RMSprop and Adagrad (PyTorch's defaults,
one learning rate for all) on parameters whose gradients range from 1e-12 to
1e4, in float64. For gradients well above eps, Adam, AdamW and Adagrad move
every parameter by the learning rate, whatever the gradient's size; RMSprop,
which has no bias correction, by 10 times it. Near eps the division stops:
Adam's first step is lr |g| / (|g| + eps), half the learning rate at
|g| = eps and proportional to the gradient below it, as SGD's is. AdamW adds
its decoupled weight decay, lr * weight_decay * w, which does not depend on
the gradient. The update rules are checked against the formulas of
torch/optim/adam.py, rmsprop.py and adagrad.py.

Run: python snippets/07-optimizers-and-precision/adaptive_steps.py [OUT_DIR]
"""

import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch

LR = 1e-3

# --8<-- [start:core]
OPTIMIZERS = {  # PyTorch's defaults, except one learning rate for all
    "Adam": lambda params: torch.optim.Adam(params, lr=LR),
    "AdamW": lambda params: torch.optim.AdamW(params, lr=LR),
    "RMSprop": lambda params: torch.optim.RMSprop(params, lr=LR),
    "Adagrad": lambda params: torch.optim.Adagrad(params, lr=LR),
}


def first_steps(make_optimizer, grad, steps=1):
    """How far `steps` steps with this gradient move each weight, in lr."""
    w = torch.ones_like(grad, requires_grad=True)  # every weight starts at 1
    optimizer = make_optimizer([w])
    for _ in range(steps):
        w.grad = grad.clone()
        optimizer.step()
    return (1 - w.detach()) / LR


# --8<-- [end:core]


def by_formula(name, g, eps):
    """One step from zero state, as the source files compute it."""
    if name in (
        "Adam",
        "AdamW",
    ):  # m_hat = g, v_hat = g^2 after bias correction
        step = g / (g.abs() + eps)
        return step + (0.01 if name == "AdamW" else 0.0)  # decay lr * 0.01 * w
    if (
        name == "RMSprop"
    ):  # v = (1 - alpha) g^2, alpha = 0.99, no bias correction
        return g / ((0.01 * g * g).sqrt() + eps)
    return g / (g.abs() + eps)  # Adagrad: sum = g^2


def experiment():
    grads = torch.logspace(-12, 4, 161, dtype=torch.float64)
    results = {"grads": grads, "first step": {}, "eps": {}, "max error": {}}
    for name, make in OPTIMIZERS.items():
        step = first_steps(make, grads)
        eps = make([torch.zeros(1)]).defaults["eps"]
        results["first step"][name] = step
        results["eps"][name] = eps
        expected = by_formula(name, grads, eps)
        results["max error"][name] = (
            ((step - expected).abs() / expected).max().item()
        )
    # Adam with |g| = eps and 9 eps: half and 90 % of the learning rate
    at = torch.tensor([1e-8, 9e-8], dtype=torch.float64)
    results["Adam at eps, 9 eps"] = first_steps(OPTIMIZERS["Adam"], at).tolist()
    # a constant gradient for 100 steps: Adam keeps its step, Adagrad's shrinks
    g = torch.tensor([1e-3], dtype=torch.float64)
    results["step 100, constant gradient"] = {
        name: (
            first_steps(OPTIMIZERS[name], g, 100)
            - first_steps(OPTIMIZERS[name], g, 99)
        ).item()
        for name in ("Adam", "Adagrad")
    }
    return results


def plot(r):
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    grads = r["grads"]
    styles = {  # Adam drawn wide: below eps, RMSprop runs on top of it
        "Adam": dict(lw=4, alpha=0.6),
        "AdamW": dict(lw=2, linestyle=":"),
        "RMSprop": dict(lw=1.5),
        "Adagrad": dict(lw=2, linestyle="--"),
    }
    for i, (name, step) in enumerate(r["first step"].items()):
        ax.plot(grads, step, color=f"C{i}", label=name, **styles[name])
    ax.plot(grads, grads, color="grey", lw=1, label="SGD")
    eps = r["eps"]["Adam"]
    ax.axvline(eps, color="black", lw=0.8, linestyle=":")
    ax.annotate(
        "Adam's eps",
        (eps, 3e-3),
        xytext=(4, -4),
        textcoords="offset points",
        va="top",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 50)
    ax.set_xlabel("gradient |g|")
    ax.set_ylabel("first step / lr")
    ax.grid(True, alpha=0.3)
    fig.legend(
        *ax.get_legend_handles_labels(),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=3,
        handlelength=1.5,
        columnspacing=0.8,
    )
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    for name, step in r["first step"].items():
        big = step[r["grads"] > 1e-4]
        print(
            f"{name:8s} eps {r['eps'][name]:.0e}: first step for |g| > 1e-4 "
            f"between {big.min():.4f} and {big.max():.4f} lr; "
            f"max deviation from the formula {r['max error'][name]:.1e}"
        )
    half, ninety = r["Adam at eps, 9 eps"]
    print(f"Adam at |g| = eps: {half:.4f} lr; at 9 eps: {ninety:.4f} lr")
    for name, v in r["step 100, constant gradient"].items():
        print(f"{name}: step 100 of a constant gradient moves {v:.4f} lr")
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
