"""Truncated backpropagation through time: no gradient reaches an input more
than k steps before the loss, however well the network carries it.

The LSTM of lstm_gradient_vs_length.py whose gradient carries over 100 steps
(forget-gate bias 3; 32 hidden units, 4 inputs, float64) reads 32 random
sequences of T = 100 steps, and L = v . h_100. Full backpropagation through
time gives dL/dx_t for every t. Truncated, the sequence is fed in chunks of k
steps and the state (h, c) is detached between chunks, as in a training loop
that carries the state from one chunk to the next: the forward pass is the
same, but dL/dx_t is exactly zero for every t <= T - k.

Run: python snippets/08-recurrent-networks/truncated_bptt.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

TRUNCATIONS = (10, 25)


def lstm(b_f, g, n_in=4, H=32):
    """nn.LSTM, PyTorch's init drawn from g, forget-gate bias b_f in total."""
    m = nn.LSTM(n_in, H, batch_first=True, dtype=torch.float64)
    for p in m.parameters():
        nn.init.uniform_(p, -1 / math.sqrt(H), 1 / math.sqrt(H), generator=g)
    with torch.no_grad():
        m.bias_ih_l0[H : 2 * H] = b_f
        m.bias_hh_l0[H : 2 * H] = 0.0
    return m


# --8<-- [start:core]
def run(lstm, x, k=None):
    """All states h_1..h_T; with k, in chunks of k steps, the state detached
    between chunks: carried forward, cut from the graph."""
    outputs, state = [], None
    for chunk in x.split(k or x.shape[1], dim=1):
        out, state = lstm(chunk, state)
        outputs.append(out)
        state = tuple(s.detach() for s in state)  # h and c: no gradient back
    return torch.cat(outputs, dim=1)


def input_gradients(lstm, x, v, k=None):
    """||dL/dx_t|| for every t (rms over the batch), L = v . h_T."""
    x = x.clone().requires_grad_()
    (run(lstm, x, k)[:, -1] @ v).sum().backward()
    return x.grad.norm(dim=2).pow(2).mean(dim=0).sqrt()


# --8<-- [end:core]


def experiment(T=100, batch=32, n_in=4, H=32, seed=0, truncations=TRUNCATIONS):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(H, generator=g, dtype=torch.float64)
    v = v / v.norm()
    x = torch.randn(batch, T, n_in, generator=g, dtype=torch.float64)
    m = lstm(3.0, torch.Generator().manual_seed(seed + 1), n_in, H)
    full = input_gradients(m, x, v)
    out = {"T": T, "full": full, "truncated": {}}
    with torch.no_grad():
        whole = run(m, x)
    for k in truncations:
        with torch.no_grad():
            same = (run(m, x, k) - whole).abs().max().item()
        out["truncated"][k] = {
            "grad": input_gradients(m, x, v, k),
            "max |h difference|": same,
            # what the full gradient has beyond k steps back: its share of sum_t ||.||^2
            "share beyond k": (
                full[: T - k].pow(2).sum() / full.pow(2).sum()
            ).item(),
        }
    return out


def plot(r):
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    T = r["T"]
    t = torch.arange(1, T + 1)
    ax.plot(t, r["full"], label="full", linewidth=4, color="lightgrey")
    styles = ({"linestyle": "-"}, {"linestyle": "--", "dashes": (3, 2)})
    for (k, s), style in zip(r["truncated"].items(), styles):
        ax.plot(t, s["grad"], label=f"k = {k}", linewidth=1.5, **style)
    ax.set_ylim(bottom=-0.006)  # the zeros above the axis line
    ax.set_xlabel("input step t (loss at T = 100)")
    ax.set_ylabel("\u2016\u2202L/\u2202x$_t$\u2016")
    ax.set_title("LSTM, b$_f$ = 3: truncated BPTT")
    ax.legend(loc="upper center", bbox_to_anchor=(0.45, -0.25), ncol=3)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    T, full = r["T"], r["full"]
    print(
        f"full BPTT: ||dL/dx_t|| at t = 1: {full[0]:.3g}, t = {T}: {full[-1]:.3g}"
    )
    for k, s in r["truncated"].items():
        zero = int((s["grad"] == 0).sum())
        print(
            f"k = {k}: dL/dx_t exactly zero for {zero} of {T} steps; forward "
            f"unchanged to {s['max |h difference|']:.1g}; the full gradient's share "
            f"beyond {k} steps back: {s['share beyond k']:.3f}"
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
