"""In a tanh RNN the gradient reaching the first input shrinks or grows
exponentially with the sequence length T.

One nn.RNN (tanh, 32 hidden units, 4 inputs) with PyTorch's default
initialization, in float64, and the same network with its recurrent matrix
W_hh multiplied by 0.5, 2 and 4. For every length T from 1 to 100 it runs 32
random sequences and backpropagates L = v . h_T (a fixed random readout of the
last state) to the inputs. The norm of dL/dx_1, the gradient that reaches the
first input, falls exponentially with T at scales 0.5, 1 and 2 and grows
exponentially at scale 4. Pascanu, Mikolov & Bengio (2013): a largest
singular value s_max(W_hh) < 1 (1/gamma, gamma = 1 for tanh) is sufficient for
vanishing, and the snippet checks their bound s_max(W_ih) s_max(W_hh)^(T-1) at
scale 0.5; s_max(W_hh) > 1 is only necessary for exploding: the default
network and scale 2 have s_max(W_hh) > 1 and still vanish.

Run: python snippets/08-recurrent-networks/gradient_vs_length.py [OUT_DIR]
"""

import argparse
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

LENGTHS = (
    1,
    2,
    3,
    4,
    5,
    6,
    8,
    10,
    12,
    15,
    20,
    25,
    30,
    40,
    50,
    60,
    70,
    80,
    90,
    100,
)
SCALES = (0.5, 1.0, 2.0, 4.0)  # multiplies PyTorch's default W_hh


def scaled_rnn(scale, g, n_in=4, hidden=32):
    """nn.RNN (tanh) with PyTorch's default init, drawn from g; W_hh * scale."""
    rnn = nn.RNN(n_in, hidden, batch_first=True, dtype=torch.float64)
    k = 1 / math.sqrt(hidden)  # PyTorch's default: every parameter U(-k, k)
    for p in rnn.parameters():
        nn.init.uniform_(p, -k, k, generator=g)
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(scale)
    return rnn


# --8<-- [start:core]
def gradient_at_first_input(rnn, x, v):
    """||dL/dx_1|| for each sequence of the batch x, L = v . h_T."""
    x = x.clone().requires_grad_()
    h, _ = rnn(x)  # (batch, T, hidden): h_1 ... h_T
    (h[:, -1] @ v).sum().backward()  # one L per sequence, summed
    return x.grad[:, 0].norm(dim=1)  # dL/dx_1 of each sequence


def over_lengths(rnn, xs, v, lengths):
    """The same for the first T inputs of xs, for every T in lengths."""
    return torch.stack(
        [gradient_at_first_input(rnn, xs[:, :T], v) for T in lengths]
    )


# --8<-- [end:core]


def rms(norms):
    """Root mean square over the sequences of the batch (last axis)."""
    return norms.pow(2).mean(-1).sqrt()


def experiment(scales=SCALES, lengths=LENGTHS, batch=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = scaled_rnn(1.0, g)
    v = torch.randn(base.hidden_size, generator=g, dtype=torch.float64)
    v = v / v.norm()  # a unit readout: L = v . h_T
    xs = torch.randn(
        batch, max(lengths), base.input_size, generator=g, dtype=torch.float64
    )
    out = {"lengths": list(lengths), "scales": {}}
    for scale in scales:
        rnn = scaled_rnn(
            1.0, torch.Generator().manual_seed(seed)
        )  # the same draw
        with torch.no_grad():
            rnn.weight_hh_l0.mul_(scale)
        W_hh, W_ih = rnn.weight_hh_l0.detach(), rnn.weight_ih_l0.detach()
        norms = over_lengths(rnn, xs, v, lengths)  # (len(lengths), batch)
        s_max = torch.linalg.matrix_norm(W_hh, 2).item()
        T = torch.tensor(lengths, dtype=torch.float64)
        # Pascanu et al.: ||dh_T/dh_1|| <= (gamma s_max)^(T-1), gamma = 1 for tanh,
        # and dh_1/dx_1 = D_1 W_ih: ||dL/dx_1|| <= ||v|| ||W_ih|| s_max^(T-1)
        bound = torch.linalg.matrix_norm(W_ih, 2) * s_max ** (T - 1)
        out["scales"][scale] = {
            "s_max(W_hh)": s_max,
            "spectral radius": torch.linalg.eigvals(W_hh).abs().max().item(),
            "rms": rms(norms),
            "largest over the batch": norms.max(dim=1).values,
            "bound": bound,
        }
    return out


def plot(r):
    fig, ax = plt.subplots(figsize=(4.2, 4.6))
    T = r["lengths"]
    for scale, s in r["scales"].items():
        name = "default" if scale == 1 else f"\u00d7{scale:g}"
        label = f"{name}: {s['s_max(W_hh)']:.2f}"
        (line,) = ax.plot(T, s["rms"], ".-", markersize=4, label=label)
        if s["s_max(W_hh)"] < 1:  # Pascanu et al.'s bound applies
            ax.plot(T, s["bound"], "--", color=line.get_color(), label="bound")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("\u2016\u2202L/\u2202x$_1$\u2016 (log scale)")
    ax.set_title("tanh RNN, W$_{hh}$ scaled")
    ax.legend(
        title="scale: $s_{max}$(W$_{hh}$)",
        loc="upper center",
        bbox_to_anchor=(0.45, -0.22),
        ncol=2,
        handlelength=1.5,
    )
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def main(out_dir: Path) -> dict:
    r = experiment()
    T = r["lengths"]
    for scale, s in r["scales"].items():
        print(
            f"W_hh x {scale:g}: s_max {s['s_max(W_hh)']:.3f}, spectral radius "
            f"{s['spectral radius']:.3f}; ||dL/dx_1|| at T = {T[0]}: {s['rms'][0]:.3g}, "
            f"T = 50: {s['rms'][T.index(50)]:.3g}, T = 100: {s['rms'][-1]:.3g}"
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
